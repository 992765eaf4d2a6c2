"""Failures, each with its event, its explanation and its exit code: refused (69), unknown host
(68), resolver unreachable (75), connect timeout (75), address in use (69, or served on the
other ports; --strict makes any failure fatal)."""

import socket
import unittest

import harness as h


def hold_port(case, address="127.0.0.1", port=0, backlog=8):
    """A listener of our own holding a port (closed in cleanup); returns the socket."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    case.addCleanup(sock.close)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind((address, port))
    sock.listen(backlog)
    return sock


def hold_port_both_families(case):
    """One port held on 127.0.0.1 and ::1 alike; a few bounded tries, as ::1 may hold it."""
    for _ in range(10):
        v4 = hold_port(case, "127.0.0.1")
        port = v4.getsockname()[1]
        try:
            hold_port(case, "::1", port)
            return port
        except OSError:
            v4.close()
    case.fail("could not hold one port on both loopback addresses in 10 tries")


class ClientFailures(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def test_refused(self):
        port = h.free_port()
        result = h.run_client("127.0.0.1", port)
        self.assertEqual(result.returncode, h.EX_UNAVAILABLE, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)
        self.assertEqual([e["event"] for e in events],
                         ["host_facts", "resolved", "connect_failed", "gave_up"])
        failed = h.one(self, events, "connect_failed")
        self.assertEqual(failed["remote"], h.ep("127.0.0.1", port))
        self.assertEqual((failed["proto"], failed["step"], failed["errno"]),
                         ("tcp", "connect", "ECONNREFUSED"))
        self.assertTrue(failed["message"])
        self.assertIn(f"port {port}", failed["explanation"])
        self.assertIn("127.0.0.1", failed["explanation"])

    def test_refused_text(self):
        port = h.free_port()
        result = h.run_client("127.0.0.1", port, fmt="text")
        self.assertEqual(result.returncode, h.EX_UNAVAILABLE, result.stdout + result.stderr)
        h.assert_text_lines(self, result.stdout, "client text")
        self.assertIn(f"127.0.0.1:{port}", result.stdout)
        self.assertIn("ECONNREFUSED", result.stdout)
        self.assertIn(f"port {port}", result.stdout)

    def test_unknown_host(self):
        """nonexistent.invalid, looked up with no network at all (unshare -n) and a private
        nsswitch.conf and hosts file that allow files only: an authoritative "no such name"."""
        if not h.can_unshare_net_mount():
            self.skipTest("unshare -n -m is not available or not permitted here, so the lookup "
                          "could leave the machine")
        private = h.PrivateFiles(self, {"/etc/hosts": "127.0.0.1 localhost\n",
                                        "/etc/nsswitch.conf": "hosts: files\n"})
        result = h.run_client("nonexistent.invalid", 80, wrapper=private.wrapper(net=True))
        self.assertEqual(result.returncode, h.EX_NOHOST, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)
        self.assertEqual([e["event"] for e in events], ["host_facts", "resolve_failed"])
        failed = h.one(self, events, "resolve_failed")
        self.assertEqual((failed["host"], failed["step"], failed["errno"]),
                         ("nonexistent.invalid", "resolve", "EAI_NONAME"))
        self.assertIn("nonexistent.invalid", failed["explanation"])

        text = h.run_client("nonexistent.invalid", 80, fmt="text",
                            wrapper=private.wrapper(net=True))
        self.assertEqual(text.returncode, h.EX_NOHOST, text.stdout + text.stderr)
        h.assert_text_lines(self, text.stdout, "client text")
        self.assertIn("nonexistent.invalid", text.stdout)
        self.assertIn("EAI_NONAME", text.stdout)

    def test_resolver_unreachable(self):
        """No network namespace but our own, empty one, and a resolver on 127.0.0.1 that cannot
        be reached there: the lookup cannot be answered (EAI_AGAIN), exit 75."""
        if not h.can_unshare_net_mount():
            self.skipTest("unshare -n -m is not available or not permitted here, so the lookup "
                          "could leave the machine")
        private = h.PrivateFiles(self, {"/etc/hosts": "127.0.0.1 localhost\n",
                                        "/etc/nsswitch.conf": "hosts: files dns\n",
                                        "/etc/resolv.conf": "nameserver 127.0.0.1\n"
                                                            "options timeout:1 attempts:1\n"})
        result = h.run_client("nonexistent.invalid", 80, wrapper=private.wrapper(net=True))
        self.assertEqual(result.returncode, h.EX_TEMPFAIL, result.stdout + result.stderr)
        failed = h.one(self, h.json_events(self, result.stdout), "resolve_failed")
        self.assertEqual(failed["errno"], "EAI_AGAIN")
        self.assertIn("resolv.conf", failed["explanation"])

    def test_connect_timeout(self):
        """A listener whose queue is full drops our SYN: no answer within --timeout, exit 75."""
        listener = hold_port(self, backlog=0)
        port = listener.getsockname()[1]
        # Fill the accept queue: connect until one attempt gets no answer (bounded).
        full = False
        for _ in range(8):
            s = socket.socket()
            self.addCleanup(s.close)
            s.settimeout(0.3)
            try:
                s.connect(("127.0.0.1", port))
            except socket.timeout:
                full = True
                break
        if not full:
            self.skipTest("the listener's queue did not fill, so no SYN is dropped here")
        result = h.run_client("127.0.0.1", port, "--timeout", "0.5")
        self.assertEqual(result.returncode, h.EX_TEMPFAIL, result.stdout + result.stderr)
        failed = h.one(self, h.json_events(self, result.stdout), "connect_failed")
        self.assertEqual((failed["step"], failed["errno"]), ("connect", "ETIMEDOUT"))
        self.assertEqual(failed["remote"], h.ep("127.0.0.1", port))
        self.assertIn("0.5 s", failed["explanation"])


class ServerFailures(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def test_port_in_use_only_port_exits_69(self):
        held = hold_port(self).getsockname()[1]
        server = h.Server(self, ["--ports", str(held), "--bind", "127.0.0.1"], expect_ready=False)
        self.assertEqual(server.wait(), h.EX_UNAVAILABLE, server.stderr())
        server.read_rest()
        events = server.events()
        self.assertEqual([e["event"] for e in events], ["host_facts", "bind_failed", "ready"])
        failed = h.one(self, events, "bind_failed")
        self.assertEqual(failed["local"], h.ep("127.0.0.1", held))
        self.assertEqual((failed["proto"], failed["step"], failed["errno"]),
                         ("tcp", "bind", "EADDRINUSE"))
        self.assertIn(f"port {held}", failed["explanation"])
        self.assertEqual(h.one(self, events, "ready"),
                         {"event": "ready", "listening": 0, "failed": 1, "ports": []})

    def test_port_in_use_on_both_default_addresses_exits_69(self):
        h.require_ipv6(self)
        held = hold_port_both_families(self)
        server = h.Server(self, ["--ports", str(held)], expect_ready=False)
        self.assertEqual(server.wait(), h.EX_UNAVAILABLE, server.stderr())
        server.read_rest()
        failed = h.of(server.events(), "bind_failed")
        self.assertEqual([f["local"] for f in failed],
                         [h.ep("127.0.0.1", held), h.ep("::1", held)])
        self.assertEqual({f["errno"] for f in failed}, {"EADDRINUSE"})

    def test_port_in_use_text(self):
        h.require_ipv6(self)
        held = hold_port_both_families(self)
        server = h.Server(self, ["--ports", str(held)], fmt="text", expect_ready=False)
        self.assertEqual(server.wait(), h.EX_UNAVAILABLE, server.stderr())
        text = "".join(server.read_rest())
        h.assert_text_lines(self, text, "server text")
        self.assertIn(f"FAILED     {h.ep_text('127.0.0.1', held):<17} bind: ", text)
        self.assertIn("(EADDRINUSE)", text)
        self.assertIn(f"port {held} on 127.0.0.1 is already in use", text)
        self.assertTrue(text.endswith("stopped: not one socket is listening (2 failed)\n"), text)

    def test_port_in_use_other_port_still_served(self):
        held = hold_port(self).getsockname()[1]
        server = h.start_server(self, "--ports", f"{held},0", "--bind", "127.0.0.1")
        events = server.events()
        self.assertEqual([e["event"] for e in events],
                         ["host_facts", "bind_failed", "listening", "ready"])
        self.assertEqual(h.one(self, events, "bind_failed")["errno"], "EADDRINUSE")
        other = h.one(self, events, "listening")["local"]["port"]
        self.assertNotEqual(other, held)
        self.assertEqual(server.ready, {"event": "ready", "listening": 1, "failed": 1,
                                        "ports": [other]})
        result = h.run_client("127.0.0.1", other)
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        self.assertIs(h.one(self, h.json_events(self, result.stdout), "connected")["mirror"], True)
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())

    def test_address_not_of_this_host(self):
        """192.0.2.1 (TEST-NET-1) is no address of this host: EADDRNOTAVAIL, exit 69. Binding
        fails locally; no packet is sent."""
        server = h.Server(self, ["--ports", "0", "--bind", "192.0.2.1"], expect_ready=False)
        self.assertEqual(server.wait(), h.EX_UNAVAILABLE, server.stderr())
        server.read_rest()
        failed = h.one(self, server.events(), "bind_failed")
        self.assertEqual((failed["local"]["address"], failed["step"], failed["errno"]),
                         ("192.0.2.1", "bind", "EADDRNOTAVAIL"))
        self.assertIn("192.0.2.1", failed["explanation"])

    def test_strict_makes_failure_fatal(self):
        held = hold_port(self).getsockname()[1]
        server = h.Server(self, ["--ports", f"{held},0", "--bind", "127.0.0.1", "--strict"],
                          expect_ready=False)
        self.assertEqual(server.wait(), h.EX_UNAVAILABLE, server.stderr())
        server.read_rest()
        events = server.events()
        self.assertEqual(h.one(self, events, "bind_failed")["errno"], "EADDRINUSE")
        self.assertEqual(h.of(events, "accepted"), [])
        ready = h.of(events, "ready")
        self.assertEqual(len(ready), 1, events)
        self.assertEqual(ready[0]["ports"], [], "with --strict no port is served")


if __name__ == "__main__":
    unittest.main()
