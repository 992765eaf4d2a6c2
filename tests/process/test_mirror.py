"""One connection seen from both ends: the client's tuple is the mirror image of the server's,
in JSON and in text, over IPv4 and IPv6."""

import re
import unittest

import harness as h


class JsonMirror(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def check_mirror(self, address, family_flag):
        server = h.start_server(self)
        port = server.port
        self.assertIsNotNone(port, f"ready event without a port: {server.ready}")
        self.assertTrue(server.running(), "the server must still run after its ready event")

        result = h.run_client(address, port, *family_flag)
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)
        self.assertEqual([e["event"] for e in events], ["host_facts", "resolved", "connected"])
        resolved = h.one(self, events, "resolved")
        self.assertEqual(resolved, {"event": "resolved", "host": address, "port": port,
                                    "addresses": [address]})
        conn = h.one(self, events, "connected")
        client_port = conn["local"]["port"]

        # The server's accepted event for this connection, matched by the client's port.
        accepted = server.wait_event("accepted")
        self.assertEqual(accepted["remote"]["port"], client_port,
                         f"the server accepted another connection: {accepted}")

        self.assertEqual(conn["proto"], "tcp")
        self.assertEqual(conn["id"], 1)
        self.assertEqual(conn["remote"], h.ep(address, port))
        self.assertEqual(conn["local"]["address"], address)
        self.assertEqual(conn["local"], accepted["remote"], "client local != server's remote")
        self.assertEqual(conn["remote"], accepted["local"], "client remote != server's local")
        self.assertEqual(conn["server_view"], {"id": accepted["id"], "local": accepted["local"],
                                               "remote": accepted["remote"]})
        self.assertIs(conn["mirror"], True)
        self.assertEqual(conn["local_port_class"], h.port_class(client_port))
        self.assertEqual(conn["in_ephemeral_range"], h.in_ephemeral_range(client_port))

        self.assertEqual(accepted["proto"], "tcp")
        self.assertEqual(accepted["id"], 1)
        self.assertEqual(accepted["remote_port_class"], h.port_class(client_port))
        self.assertEqual(accepted["in_ephemeral_range"], h.in_ephemeral_range(client_port))

        host_facts = h.one(self, events, "host_facts")
        low_high = h.ephemeral_range()
        self.assertEqual(host_facts["role"], "client")
        self.assertEqual(host_facts["ephemeral_range"],
                         {"low": low_high[0], "high": low_high[1]} if low_high else None)
        self.assertEqual(host_facts["iana_dynamic_range"], {"low": 49152, "high": 65535})
        self.assertEqual(host_facts["unprivileged_port_start"], h.unprivileged_port_start())

    def test_ipv4(self):
        self.check_mirror("127.0.0.1", [])

    def test_ipv6(self):
        h.require_ipv6(self)
        self.check_mirror("::1", ["-6"])

    def test_server_events_before_ready(self):
        """Default binds with --ports 0: both loopback addresses listen on one kernel-chosen
        port, each reported with the kernel's answer."""
        h.require_ipv6(self)
        server = h.start_server(self)
        events = server.events()
        self.assertEqual([e["event"] for e in events],
                         ["host_facts", "tls_certificate", "listening", "listening", "ready"])
        port = server.port
        listening = h.of(events, "listening")
        self.assertEqual([e["local"] for e in listening],
                         [h.ep("127.0.0.1", port), h.ep("::1", port)])
        for e in listening:
            self.assertEqual(e["proto"], "tcp")
            self.assertEqual(e["requested_port"], 0)
            self.assertEqual(e["port_class"], h.port_class(port))
            self.assertIsNone(e["privileged_allowed_by"])
            self.assertIs(e["tls"], False)
        self.assertEqual(server.ready, {"event": "ready", "listening": 2, "failed": 0,
                                        "ports": [port], "tls_ports": [], "udp_ports": [], "quic_ports": []})
        cert = h.one(self, events, "tls_certificate")
        self.assertEqual((cert["source"], cert["saved_to"]), ("generated", None))
        self.assertEqual(h.one(self, events, "host_facts")["role"], "server")


SERVER_LINE = re.compile(r"^connection #(\d+)\s+local (\S+) \(fixed\)\s+remote (\S+) \(ephemeral\)$")


class TextMirror(unittest.TestCase):
    maxDiff = None
    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def expected_client_text(self, address, port, client_port, server_id):
        """The client's whole text report, from the issue's wording with the ports put in."""
        local = h.ep_text(address, client_port)
        remote = h.ep_text(address, port)
        rng = h.range_text()
        inside = h.in_ephemeral_range(client_port)
        service = h.describe_port(port)
        port_phrase = f"port {port} ({service})" if service else f"port {port}"
        local_class = f"{h.port_class(client_port)} port"
        local_note = (f"chosen by this host's kernel ({local_class})" if inside in (True, None)
                      else f"outside this host's ephemeral range ({local_class})")
        remote_note = f"chosen by the server ({h.port_class(port)}{', ' if service else ''}{service})"
        parts = [f"this host: {'ephemeral (client) ports ' + rng:<38} (net.ipv4.ip_local_port_range)\n"
                 f"connecting to {address}, {port_phrase}\n"
                 f"connected #1\n"
                 f"  local   {local:<17} ephemeral  {local_note}\n"
                 f"  remote  {remote:<17} fixed      {remote_note}\n"
                 f"  server's view (its connection #{server_id}): local {remote}  remote {local}\n"
                 f"  mirror image: yes, the two ends see the same four facts\n"]
        if h.port_class(client_port) != "dynamic" and inside:
            parts.append(h.Wrapped(f"note: {client_port} lies outside IANA's dynamic range "
                                   f"49152-65535. That is normal on Linux: the kernel takes client "
                                   f"ports from net.ipv4.ip_local_port_range ({rng}), not from "
                                   f"IANA's range.", 8, 2))
        return parts

    def check_text_mirror(self, address, family_flag):
        server = h.start_server(self, fmt="text")
        port = server.port
        self.assertIsNotNone(port, f"no port in the ready line: {server.ready!r}")

        result = h.run_client(address, port, *family_flag, fmt="text")
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        text = result.stdout
        h.assert_text_lines(self, text, "client text")

        m_local = re.search(r"^  local   (\S+) ", text, re.M)
        m_remote = re.search(r"^  remote  (\S+) ", text, re.M)
        m_view = re.search(r"^  server's view \(its connection #(\d+)\): local (\S+)  remote (\S+)$",
                           text, re.M)
        self.assertTrue(m_local and m_remote and m_view, f"client text lacks its lines:\n{text}")
        client_local, client_remote = m_local.group(1), m_remote.group(1)
        view_id, view_local, view_remote = m_view.groups()

        line = server.wait_line(lambda l: l.startswith("connection #"), what="the connection line")
        m_server = SERVER_LINE.match(line.rstrip("\n"))
        self.assertIsNotNone(m_server, f"server's connection line: {line!r}")
        server_id, server_local, server_remote = m_server.groups()

        self.assertEqual(client_local, server_remote)
        self.assertEqual(client_remote, server_local)
        self.assertEqual(server_local, h.ep_text(address, port))
        self.assertEqual((view_id, view_local, view_remote), (server_id, server_local, server_remote))

        client_port = int(client_local.rsplit(":", 1)[1])
        h.assert_text(self, text, self.expected_client_text(address, port, client_port,
                                                            int(server_id)), "client text")

        # The server's explanation of the remote port, then its summary on SIGTERM.
        inside = h.in_ephemeral_range(client_port)
        where = (f"in this host's ephemeral range {h.range_text()}" if inside else
                 "this host's ephemeral range is unknown" if inside is None else
                 f"outside this host's ephemeral range {h.range_text()}: chosen, or from another "
                 f"host")
        expected_detail = h.Wrapped(f"remote port {client_port}: {where} "
                                    f"(IANA: {h.port_class(client_port)})", 4, 2)
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())
        rest = server.read_rest()
        start = rest.index(line)
        h.assert_text(self, "".join(rest[start:]), [
            line, expected_detail,
            f"summary: 1 connection; port {port}: 1\n"
            f"  client ports seen: 1 distinct, lowest {client_port}, highest {client_port}\n"
            f"  the server's ports stayed fixed; the clients' ports came and went\n"],
            "server text")
        h.assert_text_lines(self, "".join(rest), "server text")

    def test_ipv4(self):
        self.check_text_mirror("127.0.0.1", [])

    def test_ipv6(self):
        h.require_ipv6(self)
        self.check_text_mirror("::1", ["-6"])

    def test_server_header(self):
        """The server's text before any connection: listening lines and the ready line."""
        h.require_ipv6(self)
        server = h.start_server(self, fmt="text")
        port = server.port
        text = "".join(server.lines)
        h.assert_text_lines(self, text, "server text")
        self.assertTrue(text.startswith(
            f"this host: {'ephemeral (client) ports ' + h.range_text():<38} "
            f"(net.ipv4.ip_local_port_range)\n"), text)
        detail = f"{h.port_class(port)} port"
        if h.describe_port(port):
            detail += ", " + h.describe_port(port)
        detail += ", chosen by the kernel (port 0)"
        tail = (f"listening  {h.ep_text('127.0.0.1', port):<17} {detail}\n"
                f"listening  {h.ep_text('::1', port):<17} {detail}\n"
                f"ready: 2 sockets listening on port {port}\n"
                f"  try it: demo-client localhost {port}    or:  nc localhost {port}\n"
                f"  in a browser: http://localhost:{port}/\n"
                f"  the board:    http://localhost:{port}/board  (every connection, live)\n")
        self.assertTrue(text.endswith(tail), f"expected the server text to end with:\n{tail}\n"
                                             f"got:\n{text}")


if __name__ == "__main__":
    unittest.main()
