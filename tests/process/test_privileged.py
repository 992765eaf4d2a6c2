"""Privileged ports: with CAP_NET_BIND_SERVICE dropped (capsh), binding port 80 fails with
EACCES, explained with this host's live cut-off, and the server goes on with its other port;
as root with the capability it binds, and says why it was allowed."""

import socket
import unittest

import harness as h


def require_privileged_80(case):
    cutoff = h.unprivileged_port_start()
    if cutoff is None:
        case.skipTest("net.ipv4.ip_unprivileged_port_start is unreadable here")
    if cutoff == 0 or cutoff <= 80:
        case.skipTest(f"net.ipv4.ip_unprivileged_port_start is {cutoff}: port 80 is not "
                      f"privileged on this host, so no EACCES can be provoked")
    return cutoff


class WithoutCapability(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def setUp(self):
        self.cutoff = require_privileged_80(self)
        self.capsh = h.capsh_drop_wrapper(self)

    def test_json(self):
        server = h.start_server(self, "--ports", "80,0", "--bind", "127.0.0.1",
                                wrapper=self.capsh)
        events = server.events()
        self.assertEqual([e["event"] for e in events],
                         ["host_facts", "tls_certificate", "bind_failed", "listening", "ready"])
        facts = h.one(self, events, "host_facts")
        self.assertIs(facts["cap_net_bind_service"], False, facts)
        self.assertEqual(facts["unprivileged_port_start"], self.cutoff)

        failed = h.one(self, events, "bind_failed")
        self.assertEqual(failed["local"], h.ep("127.0.0.1", 80))
        self.assertEqual((failed["step"], failed["errno"]), ("bind", "EACCES"))
        self.assertIn(str(self.cutoff), failed["explanation"])
        self.assertIn("CAP_NET_BIND_SERVICE", failed["explanation"])
        self.assertIn("port 80", failed["explanation"])

        other = h.one(self, events, "listening")["local"]["port"]
        self.assertEqual(server.ready, {"event": "ready", "listening": 1, "failed": 1,
                                        "ports": [other], "tls_ports": [], "udp_ports": [], "quic_ports": []})
        result = h.run_client("127.0.0.1", other)
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        conn = h.one(self, h.json_events(self, result.stdout), "connected")
        self.assertIs(conn["mirror"], True)
        accepted = server.wait_event("accepted")
        self.assertEqual(accepted["remote"], conn["local"])
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())

    def test_text(self):
        server = h.start_server(self, "--ports", "80,0", "--bind", "127.0.0.1", fmt="text",
                                wrapper=self.capsh)
        text = "".join(server.lines)
        h.assert_text_lines(self, text, "server text")
        self.assertIn("this process may not bind them: root, but without CAP_NET_BIND_SERVICE",
                      text)
        self.assertIn(f"FAILED     {'127.0.0.1:80':<17} bind: ", text)
        self.assertIn("(EACCES)", text)
        self.assertIn("CAP_NET_BIND_SERVICE", text.split("FAILED", 1)[1])
        self.assertIn(f"ip_unprivileged_port_start = {self.cutoff}", " ".join(text.split()))
        self.assertIn(f"ready: 1 socket listening on port {server.port}; 1 failed", text)
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())

    def test_only_privileged_port_exits_77(self):
        server = h.Server(self, ["--ports", "80", "--bind", "127.0.0.1"], wrapper=self.capsh,
                          expect_ready=False)
        self.assertEqual(server.wait(), h.EX_NOPERM, server.stderr())
        server.read_rest()
        self.assertEqual(h.one(self, server.events(), "bind_failed")["errno"], "EACCES")


class AsRoot(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def setUp(self):
        self.cutoff = require_privileged_80(self)
        try:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", 80))
        except PermissionError:
            self.skipTest("this test process may not bind port 80 (not root, or no "
                          "CAP_NET_BIND_SERVICE)")
        except OSError as e:
            self.skipTest(f"port 80 on 127.0.0.1 is taken here ({e.strerror})")

    def test_port_80_allowed_by_root(self):
        server = h.start_server(self, "--ports", "80", "--bind", "127.0.0.1")
        listening = h.one(self, server.events(), "listening")
        self.assertEqual(listening, {"event": "listening", "proto": "tcp",
                                     "local": h.ep("127.0.0.1", 80), "port_class": "well-known",
                                     "service": "HTTP", "requested_port": 80,
                                     "privileged_allowed_by": "root", "tls": False, "bound_by": "self"})
        self.assertEqual(server.ready, {"event": "ready", "listening": 1, "failed": 0,
                                        "ports": [80], "tls_ports": [], "udp_ports": [], "quic_ports": []})
        result = h.run_client("127.0.0.1", 80)
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())

    def test_port_80_text_fits_the_projector(self):
        server = h.start_server(self, "--ports", "80", "--bind", "127.0.0.1", fmt="text")
        text = "".join(server.lines)
        line = next((l for l in server.lines if l.startswith(f"listening  {'127.0.0.1:80':<17} ")),
                    None)
        self.assertIsNotNone(line, f"no listening line for 127.0.0.1:80 in:\n{text}")
        self.assertIn("well-known port, HTTP", line)
        self.assertIn("root", line, "the line must say why the privileged port was allowed")
        h.assert_text_lines(self, text, "server text")
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())


if __name__ == "__main__":
    unittest.main()
