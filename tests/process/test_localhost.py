"""`localhost` on both families: a private /etc/hosts (inside a private mount namespace) maps it
to 127.0.0.1 and ::1; the server's default binds serve both on one kernel-chosen port."""

import unittest

import harness as h


class Localhost(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)
        if not h.can_unshare_mount():
            raise unittest.SkipTest("unshare -m with a bind mount is not available or not "
                                    "permitted here, so localhost cannot be given both "
                                    "families privately")

    def setUp(self):
        h.require_ipv6(self)
        self.hosts = h.PrivateFiles(self, {"/etc/hosts": h.LOCALHOST_BOTH})

    def client(self, port, *args, fmt="json"):
        return h.run_client("localhost", port, *args, fmt=fmt, wrapper=self.hosts.wrapper())

    def connected_over(self, server, port, events, address):
        conn = h.one(self, events, "connected")
        self.assertEqual(conn["remote"], h.ep(address, port))
        self.assertEqual(conn["local"]["address"], address)
        self.assertIs(conn["mirror"], True)
        accepted = server.wait_event("accepted")
        self.assertEqual(accepted["local"], h.ep(address, port))
        self.assertEqual(accepted["remote"], conn["local"])
        return conn

    def test_both_families_ipv6_first(self):
        server = h.start_server(self)
        port = server.port
        self.assertEqual(server.ready["listening"], 2, server.ready)
        result = self.client(port)
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)
        self.assertEqual(h.one(self, events, "resolved"),
                         {"event": "resolved", "host": "localhost", "port": port,
                          "addresses": ["::1", "127.0.0.1"]})
        self.assertEqual(h.of(events, "connect_failed"), [])
        self.connected_over(server, port, events, "::1")

    def test_dash_4(self):
        server = h.start_server(self)
        port = server.port
        result = self.client(port, "-4")
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)
        self.assertEqual(h.one(self, events, "resolved")["addresses"], ["127.0.0.1"])
        self.connected_over(server, port, events, "127.0.0.1")

    def test_dash_6(self):
        server = h.start_server(self)
        port = server.port
        result = self.client(port, "-6")
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)
        self.assertEqual(h.one(self, events, "resolved")["addresses"], ["::1"])
        self.connected_over(server, port, events, "::1")

    def test_falls_back_to_ipv4_when_ipv6_refuses(self):
        """The server listens on 127.0.0.1 only: ::1 refuses (connect_failed, with its
        explanation), the client goes on to 127.0.0.1 and succeeds."""
        server = h.start_server(self, "--ports", "0", "--bind", "127.0.0.1")
        port = server.port
        self.assertEqual(server.ready, {"event": "ready", "listening": 1, "failed": 0,
                                        "ports": [port], "tls_ports": [], "udp_ports": [], "quic_ports": []})
        result = self.client(port)
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)
        self.assertEqual([e["event"] for e in events],
                         ["host_facts", "resolved", "connect_failed", "connected"])
        failed = h.one(self, events, "connect_failed")
        self.assertEqual(failed["remote"], h.ep("::1", port))
        self.assertEqual((failed["step"], failed["errno"]), ("connect", "ECONNREFUSED"))
        self.assertIn(str(port), failed["explanation"])
        self.connected_over(server, port, events, "127.0.0.1")

    def test_every_address_refuses(self):
        """Nothing listens on either address: one connect_failed per address, in order, and
        exit 69."""
        port = h.free_port()
        result = self.client(port)
        self.assertEqual(result.returncode, h.EX_UNAVAILABLE, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)
        self.assertEqual([e["event"] for e in events],
                         ["host_facts", "resolved", "connect_failed", "connect_failed", "gave_up"])
        gave_up = h.one(self, events, "gave_up")
        self.assertEqual([(a["remote"], a["errno"]) for a in gave_up["attempts"]],
                         [(h.ep("::1", port), "ECONNREFUSED"), (h.ep("127.0.0.1", port), "ECONNREFUSED")])
        self.assertEqual(gave_up["exit_code"], h.EX_UNAVAILABLE)
        failed = h.of(events, "connect_failed")
        self.assertEqual([f["remote"] for f in failed],
                         [h.ep("::1", port), h.ep("127.0.0.1", port)])
        self.assertEqual({f["errno"] for f in failed}, {"ECONNREFUSED"})

    def test_every_address_refuses_text(self):
        """The text ends with one line naming each address tried and how it failed."""
        port = h.free_port()
        result = self.client(port, fmt="text")
        self.assertEqual(result.returncode, h.EX_UNAVAILABLE, result.stdout + result.stderr)
        h.assert_text_lines(self, result.stdout, "client text")
        start = result.stdout.find("gave up:")
        self.assertNotEqual(start, -1, f"no gave-up line in:\n{result.stdout}")
        self.assertEqual(h.flat(result.stdout[start:]),
                         f"gave up: no address of localhost accepted port {port}: "
                         f"[::1]:{port} refused, 127.0.0.1:{port} refused")
        # Each refusal was explained before, with the port; the second one points back.
        self.assertIn(f"refused    {h.ep_text('::1', port):<17} connect: ", result.stdout)
        self.assertIn(f"refused    {h.ep_text('127.0.0.1', port):<17} connect: ", result.stdout)
        self.assertIn(f"nothing is listening on ::1 port {port}", h.flat(result.stdout))

    def test_text_resolved_line(self):
        server = h.start_server(self)
        port = server.port
        result = self.client(port, fmt="text")
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        h.assert_text_lines(self, result.stdout, "client text")
        lines = result.stdout.splitlines(keepends=True)
        service = h.describe_port(port)
        port_phrase = f"port {port} ({service})" if service else f"port {port}"
        end = next(i for i, line in enumerate(lines) if line.startswith("connected #1"))
        h.assert_text(self, "".join(lines[1:end]), [h.Wrapped(
            f"resolved localhost -> ::1, 127.0.0.1; connecting to {port_phrase}, trying each "
            f"address in turn", 2)], "the resolved line")
        self.assertIn(f"  remote  {h.ep_text('::1', port)} ", result.stdout)


if __name__ == "__main__":
    unittest.main()
