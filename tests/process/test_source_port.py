"""demo-client --source-port N: the client's port pinned by the user instead of chosen by the
kernel. It works again and again against a demo-server (which closes first, so the client's end
never lingers in TIME_WAIT); it fails with EADDRINUSE, explained with who holds the port, when a
listener of ours holds it or when an old connection from it is in TIME_WAIT; and a privileged
port without CAP_NET_BIND_SERVICE is EACCES, exit 77."""

import os
import re
import socket
import time
import unittest

import harness as h


class SourcePort(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def server(self):
        return h.start_server(self, "--ports", "0", "--bind", "127.0.0.1")

    # ---- (a) success -----------------------------------------------------------------------

    def test_pinned_port_three_times(self):
        server = self.server()
        n = h.free_port()
        result = h.run_client("127.0.0.1", server.port, "--source-port", n, "--count", 3)
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)
        self.assertEqual([e["event"] for e in events],
                         ["host_facts", "resolved"] + ["connected"] * 3 + ["summary"])
        connected = h.of(events, "connected")
        for c in connected:
            self.assertEqual(c["local"], h.ep("127.0.0.1", n), c)
            self.assertEqual(c["remote"], h.ep("127.0.0.1", server.port), c)
            self.assertEqual(c["local_port_chosen_by"], "user", c)
            self.assertIs(c["mirror"], True, c)
            self.assertEqual(c["server_view"]["remote"], h.ep("127.0.0.1", n))
        summary = h.one(self, events, "summary")
        self.assertEqual(summary["client_ports"], [n, n, n])
        self.assertEqual(summary["distinct_client_ports"], 1)
        self.assertEqual(summary["local_port_chosen_by"], "user")
        self.assertEqual((summary["attempted"], summary["connected"], summary["mirrored"]),
                         (3, 3, 3))
        # The server saw the same pinned port three times.
        accepted = [server.wait_event("accepted") for _ in range(3)]
        self.assertEqual([a["remote"] for a in accepted], [h.ep("127.0.0.1", n)] * 3)

    def test_pinned_port_text(self):
        server = self.server()
        n = h.free_port()
        result = h.run_client("127.0.0.1", server.port, "--source-port", n, "--count", 3,
                              fmt="text")
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        text = result.stdout
        h.assert_text_lines(self, text, "client text")
        local_lines = re.findall(r"^  local   (\S+)\s+(\S+)\s+(.*)$", text, re.M)
        self.assertEqual(len(local_lines), 3, text)
        for endpoint, label, note in local_lines:
            self.assertEqual(endpoint, h.ep_text("127.0.0.1", n))
            self.assertEqual(label, "chosen", "a pinned port is chosen, not ephemeral")
            self.assertTrue(note.startswith("chosen with --source-port"), note)
        self.assertNotIn("ephemeral  chosen by this host's kernel", text)
        self.assertIn(f"  client ports: {n}, {n}, {n} - 1 distinct of 3, pinned with "
                      f"--source-port\n", text)

    def test_pinned_port_is_free_again_at_once(self):
        """demo-server closes first (FIN, then waits for the client's), so the client's pinned
        port never lingers in TIME_WAIT and can be used again at once, every time. Repeated, as
        a client that closes before the server's FIN arrives only loses the race sometimes."""
        server = self.server()
        failures = []
        for _ in range(8):
            n = h.free_port()
            result = h.run_client("127.0.0.1", server.port, "--source-port", n, "--count", 3)
            if result.returncode != h.EX_OK:
                failed = [e for e in h.json_events(self, result.stdout)
                          if e["event"] == "connect_failed"]
                failures.append((n, result.returncode,
                                 [(f["errno"], f["explanation"]) for f in failed]))
        self.assertEqual(failures, [], "--source-port N --count 3 failed to reuse N")

    # ---- (b) held by a listener -------------------------------------------------------------

    def held_by_listener(self):
        server = self.server()
        held = h.listen_on(self, "127.0.0.1")
        n = held.getsockname()[1]
        result = h.run_client("127.0.0.1", server.port, "--source-port", n)
        return server, n, result

    def test_port_held_by_a_listener(self):
        server, n, result = self.held_by_listener()
        self.assertEqual(result.returncode, h.EX_UNAVAILABLE, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)
        self.assertEqual([e["event"] for e in events],
                         ["host_facts", "resolved", "connect_failed", "gave_up"])
        failed = h.one(self, events, "connect_failed")
        self.assertEqual((failed["step"], failed["errno"]), ("bind", "EADDRINUSE"))
        mine = [u for u in failed.get("holders", []) if u.get("pid") == os.getpid()]
        self.assertEqual(len(mine), 1, f"holders must name pid {os.getpid()}: {failed!r}")
        self.assertEqual((mine[0]["state"], mine[0]["command"], mine[0]["local"]),
                         ("LISTEN", h.own_comm(), h.ep("127.0.0.1", n)))
        explanation = failed["explanation"]
        self.assertIn(f"local port {n} is already in use", explanation)
        self.assertIn(f"pid {os.getpid()} ({h.own_comm()}) on 127.0.0.1:{n}", explanation)
        self.assertIn(f"ss -tanp 'sport = :{n}'", explanation)
        self.assertIn("leave out --source-port", explanation)
        self.assertEqual(h.one(self, events, "gave_up")["exit_code"], h.EX_UNAVAILABLE)
        self.assertEqual(h.of(events, "connected"), [])
        # Nothing reached the server.
        self.assertTrue(server.running())
        with self.assertRaises(AssertionError):
            server.wait_event("accepted", timeout=0.3)

    def test_failed_bind_names_the_server_as_remote(self):
        """connect_failed's `remote` is the endpoint the client was connecting to, as for every
        other connect_failed, not the wildcard address its own bind used."""
        server, n, result = self.held_by_listener()
        events = h.json_events(self, result.stdout)
        failed = h.one(self, events, "connect_failed")
        self.assertEqual(failed["step"], "bind")
        self.assertEqual(failed["remote"], h.ep("127.0.0.1", server.port))
        self.assertEqual(h.one(self, events, "gave_up")["attempts"][0]["remote"],
                         h.ep("127.0.0.1", server.port))

    # ---- (c) in TIME_WAIT -------------------------------------------------------------------

    def test_port_in_time_wait(self):
        """A plain client binds N, connects to our listener on P, and closes FIRST: its end of
        the connection lingers in TIME_WAIT, so binding N again without SO_REUSEADDR fails."""
        listener = h.listen_on(self, "127.0.0.1")
        p = listener.getsockname()[1]
        client = socket.socket()
        self.addCleanup(client.close)
        client.bind(("127.0.0.1", 0))
        n = client.getsockname()[1]
        client.settimeout(h.EVENT_WAIT)
        client.connect(("127.0.0.1", p))
        listener.settimeout(h.EVENT_WAIT)
        accepted, _ = listener.accept()
        self.addCleanup(accepted.close)
        client.close()  # the client's FIN first
        accepted.settimeout(h.EVENT_WAIT)
        self.assertEqual(accepted.recv(1), b"", "the client's FIN should arrive")
        accepted.close()  # the server's FIN: the client's end goes to TIME_WAIT
        deadline = time.monotonic() + h.EVENT_WAIT
        while "TIME_WAIT" not in h.tcp_states(n):
            self.assertLess(time.monotonic(), deadline,
                            f"port {n} never reached TIME_WAIT: {h.tcp_states(n)}")
            time.sleep(0.02)

        result = h.run_client("127.0.0.1", p, "--source-port", n)
        self.assertEqual(result.returncode, h.EX_UNAVAILABLE, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)
        failed = h.one(self, events, "connect_failed")
        self.assertEqual((failed["step"], failed["errno"]), ("bind", "EADDRINUSE"))
        waiting = [u for u in failed.get("holders", []) if u.get("state") == "TIME_WAIT"]
        self.assertEqual(len(waiting), 1, f"one holder in TIME_WAIT expected: {failed!r}")
        self.assertEqual((waiting[0]["local"], waiting[0]["remote"]),
                         (h.ep("127.0.0.1", n), h.ep("127.0.0.1", p)))
        self.assertIsNone(waiting[0]["pid"], "no process owns a connection in TIME_WAIT")
        explanation = failed["explanation"]
        self.assertIn("TIME_WAIT", explanation)
        self.assertIn(f"127.0.0.1:{n} -> 127.0.0.1:{p}", explanation)
        self.assertIn(f"local port {n} is already in use", explanation)
        self.assertEqual(h.one(self, events, "gave_up")["exit_code"], h.EX_UNAVAILABLE)

    # ---- (d) privileged port without the capability -------------------------------------------

    def test_privileged_source_port_without_capability(self):
        cutoff = h.unprivileged_port_start()
        if cutoff is None or cutoff <= 80:
            self.skipTest(f"net.ipv4.ip_unprivileged_port_start is {cutoff}: port 80 is not "
                          f"privileged here, so no EACCES can be provoked")
        capsh = h.capsh_drop_wrapper(self)
        server = self.server()
        result = h.run_client("127.0.0.1", server.port, "--source-port", 80, wrapper=capsh)
        self.assertEqual(result.returncode, h.EX_NOPERM, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)
        self.assertIs(h.one(self, events, "host_facts")["cap_net_bind_service"], False)
        failed = h.one(self, events, "connect_failed")
        self.assertEqual((failed["step"], failed["errno"]), ("bind", "EACCES"))
        explanation = failed["explanation"]
        self.assertIn("port 80", explanation)
        self.assertIn("privileged", explanation)
        self.assertIn(str(cutoff), explanation)
        self.assertIn("CAP_NET_BIND_SERVICE", explanation)
        self.assertIn("--source-port", explanation)
        self.assertEqual(h.one(self, events, "gave_up")["exit_code"], h.EX_NOPERM)


if __name__ == "__main__":
    unittest.main()
