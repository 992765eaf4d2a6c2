"""Failures, each with its event, its explanation and its exit code: refused (69), unknown host
(68), resolver unreachable (75), connect timeout (75), address in use (69, or served on the
other ports; --strict makes any failure fatal)."""

import json
import os
import shutil
import socket
import subprocess
import time
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


def fill_accept_queue(case, port):
    """Connects to 127.0.0.1:port (a listener with backlog 0 that never accepts) until one
    attempt gets no answer, bounded: True when the queue is full and SYNs are dropped. The
    attempt that timed out is closed, so no SYN-SENT socket of ours is left."""
    for _ in range(8):
        s = socket.socket()
        case.addCleanup(s.close)
        s.settimeout(0.3)
        try:
            s.connect(("127.0.0.1", port))
        except socket.timeout:
            s.close()
            return True
    return False


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


def ip_addresses_up():
    """The addresses `ip -j addr` lists on interfaces that are up (empty without iproute2)."""
    if shutil.which("ip") is None:
        return []
    r = subprocess.run(["ip", "-j", "addr"], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=h.EXIT_WAIT)
    if r.returncode != 0:
        return []
    return [a["local"] for link in json.loads(r.stdout) if "UP" in link.get("flags", [])
            for a in link.get("addr_info", []) if "local" in a]


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
        # The service normally found on the port, when this host's tables know one.
        service = h.describe_port(port)
        self.assertIn(f"port {port} ({service})" if service else f"port {port}:",
                      failed["explanation"])
        self.assertIn("nothing is listening", failed["explanation"])
        self.assertIn(f"demo-server --ports {port}", failed["explanation"])
        # The attempt's own end: a port the kernel chose from its ephemeral range, then lost.
        self.assertEqual(failed["local"]["address"], "127.0.0.1")
        self.assertTrue(h.in_ephemeral_range(failed["local"]["port"]), failed["local"])
        self.assertEqual(failed["local_port_chosen_by"], "kernel")
        gave_up = h.one(self, events, "gave_up")
        self.assertEqual(gave_up["attempts"], [{"remote": h.ep("127.0.0.1", port),
                                                "step": "connect", "errno": "ECONNREFUSED"}])
        self.assertEqual(gave_up["exit_code"], h.EX_UNAVAILABLE)

    def test_refused_text(self):
        port = h.free_port()
        result = h.run_client("127.0.0.1", port, fmt="text")
        self.assertEqual(result.returncode, h.EX_UNAVAILABLE, result.stdout + result.stderr)
        h.assert_text_lines(self, result.stdout, "client text")
        self.assertIn(f"127.0.0.1:{port}", result.stdout)
        self.assertIn("ECONNREFUSED", result.stdout)
        self.assertIn(f"port {port}", result.stdout)
        self.assertRegex(h.flat(result.stdout),
                         r"this attempt's own end was 127\.0\.0\.1:(\d+) \(chosen by this host's kernel from "
                         r"its ephemeral range " + h.range_text() + r"; free again now\)")

    def test_timed_out_attempt_reports_the_port_the_kernel_shows(self):
        """While the SYN waits unanswered, the kernel lists the attempt (SYN-SENT) with its local
        port; the client's connect_failed names that same port."""
        listener = hold_port(self, backlog=0)
        port = listener.getsockname()[1]
        if not fill_accept_queue(self, port):
            self.skipTest("the listener's queue did not fill, so no SYN is dropped here")
        client = h.Proc(self, [h.CLIENT, "127.0.0.1", str(port), "--timeout", "1", "--format", "json"])
        seen = set()
        deadline = time.monotonic() + 3
        while client.running() and time.monotonic() < deadline:
            out = subprocess.run(["ss", "-Htn", "state", "syn-sent", f"dport = :{port}"],
                                 capture_output=True, text=True, timeout=5).stdout
            for line in out.splitlines():
                local = line.split()[-2]
                seen.add(int(local.rsplit(":", 1)[1]))
            time.sleep(0.02)
        client.read_rest()
        failed = h.one(self, client.events(), "connect_failed")
        self.assertEqual(failed["errno"], "ETIMEDOUT")
        self.assertEqual(seen, {failed["local"]["port"]}, failed)
        self.assertEqual(failed["local"]["address"], "127.0.0.1")

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
        self.assertIn("no port was tried at all", failed["explanation"])

        text = h.run_client("nonexistent.invalid", 80, fmt="text",
                            wrapper=private.wrapper(net=True))
        self.assertEqual(text.returncode, h.EX_NOHOST, text.stdout + text.stderr)
        h.assert_text_lines(self, text.stdout, "client text")
        self.assertIn("nonexistent.invalid", text.stdout)
        self.assertIn("EAI_NONAME", text.stdout)
        self.assertIn("no port was tried at all", h.flat(text.stdout))

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
        self.assertEqual((failed["host"], failed["step"], failed["errno"]),
                         ("nonexistent.invalid", "resolve", "EAI_AGAIN"))
        self.assertIn("resolv.conf", failed["explanation"])
        self.assertIn("nonexistent.invalid", failed["explanation"])
        self.assertIn("no port was tried", failed["explanation"])

    def test_connect_timeout(self):
        """A listener whose queue is full drops our SYN: no answer within --timeout, exit 75."""
        listener = hold_port(self, backlog=0)
        port = listener.getsockname()[1]
        if not fill_accept_queue(self, port):
            self.skipTest("the listener's queue did not fill, so no SYN is dropped here")
        started = time.monotonic()
        # Bounded: the client must give up after its 0.5 s, long before this limit.
        result = h.run_client("127.0.0.1", port, "--timeout", "0.5", timeout=5)
        took = time.monotonic() - started
        self.assertEqual(result.returncode, h.EX_TEMPFAIL, result.stdout + result.stderr)
        self.assertLess(took, 0.5 + 1.0, f"--timeout 0.5 took {took:.2f} s")
        events = h.json_events(self, result.stdout)
        failed = h.one(self, events, "connect_failed")
        self.assertEqual((failed["step"], failed["errno"]), ("connect", "ETIMEDOUT"))
        self.assertEqual(failed["remote"], h.ep("127.0.0.1", port))
        self.assertIn("0.5 s", failed["explanation"])
        self.assertIn(f"127.0.0.1:{port}", failed["explanation"])
        self.assertIn("queue", failed["explanation"])
        self.assertIn("full", failed["explanation"])
        self.assertEqual(h.one(self, events, "gave_up")["exit_code"], h.EX_TEMPFAIL)

    def test_dash_6_for_an_ipv4_address(self):
        """-6 127.0.0.1: the address has no IPv6 form, so no port is tried (68). Looked up with
        no network at all and files only, so nothing can leave the machine."""
        if not h.can_unshare_net_mount():
            self.skipTest("unshare -n -m is not available or not permitted here, so the lookup "
                          "could leave the machine")
        private = h.PrivateFiles(self, {"/etc/hosts": "127.0.0.1 localhost\n",
                                        "/etc/nsswitch.conf": "hosts: files\n",
                                        "/etc/resolv.conf": "nameserver 127.0.0.1\n"})
        result = h.run_client("-6", "127.0.0.1", 80, wrapper=private.wrapper(net=True))
        self.assertEqual(result.returncode, h.EX_NOHOST, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)
        self.assertEqual([e["event"] for e in events], ["host_facts", "resolve_failed"])
        failed = h.one(self, events, "resolve_failed")
        self.assertEqual((failed["host"], failed["step"], failed["errno"]),
                         ("127.0.0.1", "resolve", "EAI_NONAME"))
        self.assertIn('"127.0.0.1" has no IPv6 address', failed["explanation"])
        self.assertIn("no port was tried at all", failed["explanation"])
        self.assertIn("-6", failed["explanation"])

    def test_unknown_service_name(self):
        """A service name the program does not know is a usage error (64), refused before any
        lookup, and the message lists names it knows."""
        result = h.run_client("127.0.0.1", "nosuchservice", timeout=h.EXIT_WAIT)
        self.assertEqual(result.returncode, h.EX_USAGE, result.stdout + result.stderr)
        self.assertEqual(result.stdout, "")
        self.assertIn("nosuchservice", result.stderr)
        self.assertIn("http-alt", result.stderr)
        self.assertIn("https-alt", result.stderr)


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
        self.assertEqual([e["event"] for e in events], ["host_facts", "tls_certificate", "bind_failed", "ready"])
        failed = h.one(self, events, "bind_failed")
        self.assertEqual(failed["local"], h.ep("127.0.0.1", held))
        self.assertEqual((failed["proto"], failed["step"], failed["errno"]),
                         ("tcp", "bind", "EADDRINUSE"))
        self.assertIn(f"port {held}", failed["explanation"])
        self.assertEqual(h.one(self, events, "ready"),
                         {"event": "ready", "listening": 0, "failed": 1, "ports": [],
                          "tls_ports": [], "udp_ports": [], "quic_ports": []})
        # Who holds it: this test process's own listener, found in /proc.
        mine = [u for u in failed.get("holders", []) if u.get("pid") == os.getpid()]
        self.assertEqual(len(mine), 1, f"holders must name pid {os.getpid()}: {failed!r}")
        self.assertEqual(mine[0]["command"], h.own_comm())
        self.assertEqual(mine[0]["state"], "LISTEN")
        self.assertEqual(mine[0]["local"], h.ep("127.0.0.1", held))
        self.assertEqual(mine[0]["uid"], os.getuid())
        self.assertIn(f"pid {os.getpid()} ({h.own_comm()})", failed["explanation"])
        self.assertIn(f"ss -ltnp 'sport = :{held}'", failed["explanation"])

    def test_port_in_use_text_names_the_pid(self):
        held = hold_port(self).getsockname()[1]
        server = h.Server(self, ["--ports", str(held), "--bind", "127.0.0.1"], fmt="text",
                          expect_ready=False)
        self.assertEqual(server.wait(), h.EX_UNAVAILABLE, server.stderr())
        text = "".join(server.read_rest())
        h.assert_text_lines(self, text, "server text")
        flat = h.flat(text)
        self.assertIn(f"port {held} on 127.0.0.1 is already in use: pid {os.getpid()} "
                      f"({h.own_comm()}) is listening on 127.0.0.1:{held}.", flat)
        self.assertIn(f"ss -ltnp 'sport = :{held}'", text)
        self.assertTrue(text.endswith("stopped: not one socket is listening (1 failed)\n"), text)

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
                         ["host_facts", "tls_certificate", "bind_failed", "listening", "ready"])
        self.assertEqual(h.one(self, events, "bind_failed")["errno"], "EADDRINUSE")
        other = h.one(self, events, "listening")["local"]["port"]
        self.assertNotEqual(other, held)
        self.assertEqual(server.ready, {"event": "ready", "listening": 1, "failed": 1,
                                        "ports": [other], "tls_ports": [], "udp_ports": [], "quic_ports": []})
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
        addresses = failed.get("local_addresses")
        self.assertIsInstance(addresses, list, failed)
        self.assertIn("127.0.0.1", addresses)
        self.assertNotIn("192.0.2.1", addresses)
        if h.have_ipv6_loopback():
            self.assertIn("::1", addresses)
        self.assertIn(f"this host has {', '.join(addresses)}.", failed["explanation"])
        # The same addresses as iproute2 lists for the interfaces that are up.
        for address in ip_addresses_up():
            self.assertIn(address, [a.split("%")[0] for a in addresses])

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
