"""Unreachable addresses, inside a network namespace the test creates (`ip netns add`) and
deletes in its cleanup: with only `lo` up and no route, ENETUNREACH; with an `unreachable` route,
EHOSTUNREACH. Both exit 69 and are explained as "no route". 198.51.100.1 (TEST-NET-2) is only
ever targeted inside that private namespace, which has no interface but lo: no packet can leave
the machine."""

import unittest

import harness as h

TARGET = "198.51.100.1"


class Unreachable(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def setUp(self):
        self.ns = h.NetNamespace(self)
        self.ns.ip("link", "set", "lo", "up")
        # The namespace must have nothing but lo, or the test could reach the network.
        links = self.ns.ip("-o", "link", "show").splitlines()
        self.assertEqual(len(links), 1, f"the private namespace has more than lo: {links}")

    def client(self, *args, fmt="json"):
        return h.run_client(TARGET, 80, *args, fmt=fmt, wrapper=self.ns.wrapper(),
                            timeout=h.EXIT_WAIT)

    def check(self, result, errno):
        self.assertEqual(result.returncode, h.EX_UNAVAILABLE, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)
        self.assertEqual([e["event"] for e in events],
                         ["host_facts", "resolved", "connect_failed", "gave_up"])
        failed = h.one(self, events, "connect_failed")
        self.assertEqual(failed["remote"], h.ep(TARGET, 80))
        self.assertEqual((failed["proto"], failed["step"], failed["errno"]),
                         ("tcp", "connect", errno))
        self.assertTrue(failed["message"])
        explanation = failed["explanation"]
        self.assertIn(f"{TARGET} port 80 cannot be reached", explanation)
        self.assertIn(f"({errno})", explanation)
        self.assertIn("No route", explanation)
        self.assertIn("no packet was sent", explanation)
        self.assertIn(f"ip route get {TARGET}", explanation)
        gave_up = h.one(self, events, "gave_up")
        self.assertEqual(gave_up["attempts"], [{"remote": h.ep(TARGET, 80), "step": "connect",
                                                "errno": errno}])
        self.assertEqual(gave_up["exit_code"], h.EX_UNAVAILABLE)

    def test_no_route_enetunreach(self):
        self.assertNotIn(TARGET.rsplit(".", 1)[0], self.ns.ip("route", "show"))
        self.check(self.client(), "ENETUNREACH")

    def test_unreachable_route_ehostunreach(self):
        self.ns.ip("route", "add", "unreachable", "198.51.100.0/24")
        self.check(self.client(), "EHOSTUNREACH")

    def test_text(self):
        result = self.client(fmt="text")
        self.assertEqual(result.returncode, h.EX_UNAVAILABLE, result.stdout + result.stderr)
        h.assert_text_lines(self, result.stdout, "client text")
        self.assertIn(f"failed     {TARGET}:80   connect: ", result.stdout)
        self.assertIn("(ENETUNREACH)", result.stdout)
        flat = h.flat(result.stdout)
        self.assertIn(f"{TARGET} port 80 cannot be reached", flat)
        self.assertIn("why: No route leads to that address", flat)
        self.assertIn(f"ip route get {TARGET}", result.stdout)


if __name__ == "__main__":
    unittest.main()
