"""The PROXY protocol, as proxies really pass the client on: demo-server --proxy-protocol PORTS
behind haproxy (send-proxy, send-proxy-v2), curl --haproxy-protocol and demo-client
--proxy-protocol against it; a header on a port not named is not believed; every malformed
header gets its reason and a close."""

import socket
import subprocess
import unittest

import harness as h
import netns_helpers as nh

HELLO = b"portdemo-hello 1\n"


class ProxyProtocol(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def proxy_server(self, *extra, fmt="json"):
        server = h.start_server(self, "--ports", "0", "--proxy-protocol", "0", *extra, fmt=fmt)
        return server

    def check_through_haproxy(self, send, version):
        server = self.proxy_server()
        # The server's ready event names the port; haproxy's own probe of its frontend above
        # reached haproxy only, not the server.
        front = nh.start_haproxy(self, server.port, send)
        result = h.run_client("127.0.0.1", front)
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        conn = h.one(self, h.json_events(self, result.stdout), "connected")
        # Skip the connection haproxy's readiness probe made (it sent nothing: closed as "missing").
        proxied = server.wait_event("proxied")
        while proxied["proxy"]["source"] != conn["local"]:
            proxied = server.wait_event("proxied")
        self.assertEqual(proxied["proxy"], {"version": version, "command": "proxy", "source": conn["local"],
                                            "destination": h.ep("127.0.0.1", front)})
        self.assertEqual(proxied["family"], "tcp4")
        # The socket's peer is haproxy's own connection, not the client.
        self.assertEqual(proxied["local"], h.ep("127.0.0.1", server.port))
        self.assertNotEqual(proxied["remote"], conn["local"])
        # The client sees what the server was told, and that its own view differs from the
        # server's socket on both sides (haproxy took the connection and opened its own).
        self.assertEqual(conn["server_view"]["proxy"], proxied["proxy"])
        self.assertEqual(conn["translation"]["kind"], "source_and_destination_nat")
        self.assertEqual(conn["translation"]["destination"]["after"], h.ep("127.0.0.1", server.port))
        text = h.run_client("127.0.0.1", front, fmt="text")
        self.assertIn(f"the server was told by a PROXY v{version} header: the proxy says the client is "
                      f"127.0.0.1:", h.flat(text.stdout))

    def test_haproxy_send_proxy(self):
        self.check_through_haproxy("send-proxy", 1)

    def test_haproxy_send_proxy_v2(self):
        self.check_through_haproxy("send-proxy-v2", 2)

    def test_curl_haproxy_protocol(self):
        server = self.proxy_server()
        out = subprocess.run(["curl", "-s", "--haproxy-protocol", "-w", "\n%{local_port}",
                              f"http://127.0.0.1:{server.port}/json"],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 0, out.stderr)
        body, local_port = out.stdout.rsplit("\n", 1)
        import json
        view = json.loads(body)
        self.assertEqual(view["remote"], h.ep("127.0.0.1", int(local_port)))
        self.assertEqual(view["proxy"], {"version": 1, "command": "proxy",
                                         "source": h.ep("127.0.0.1", int(local_port)),
                                         "destination": h.ep("127.0.0.1", server.port)})
        text = subprocess.run(["curl", "-s", "--haproxy-protocol", f"http://127.0.0.1:{server.port}/",
                               "-H", "Accept: text/plain"], capture_output=True, text=True, timeout=10).stdout
        self.assertIn(f"via a proxy: the socket's peer 127.0.0.1:", text)

    def test_demo_client_sends_v1_and_v2(self):
        server = self.proxy_server()
        for version in (1, 2):
            result = h.run_client("127.0.0.1", server.port, "--proxy-protocol", f"v{version}")
            self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
            conn = h.one(self, h.json_events(self, result.stdout), "connected")
            self.assertEqual(conn["server_view"]["proxy"], {"version": version, "command": "proxy",
                                                            "source": conn["local"], "destination": conn["remote"]})
            self.assertEqual(conn["translation"]["kind"], "none")
            proxied = server.wait_event("proxied")
            self.assertEqual(proxied["remote"], conn["local"])
            answered = server.wait_event("answered")
            self.assertEqual(answered["report"], "json")

    def test_a_header_on_a_port_not_named_is_not_believed(self):
        server = h.start_server(self)  # no --proxy-protocol
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            mine = s.getsockname()
            s.sendall(b"PROXY TCP4 10.1.2.3 10.0.0.1 40000 80\r\n")
            got = b""
            while True:
                data = s.recv(4096)
                if not data:
                    break
                got += data
        text = got.decode()
        self.assertIn(f"you (remote here):    127.0.0.1:{mine[1]}", text)
        self.assertNotIn("10.1.2.3", text)
        answered = server.wait_event("answered")
        self.assertEqual(answered["report"], "text")
        self.assertNotIn("proxied", [e["event"] for e in server.events()])

    def refused(self, server, payload, close_after=True):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            if payload:
                s.sendall(payload)
            if close_after and payload:
                s.shutdown(socket.SHUT_WR)
            try:
                got = s.recv(4096)
            except ConnectionResetError:
                got = b""
        return got, server.wait_event("proxy_refused")

    def test_every_malformed_header_gets_its_reason_and_a_close(self):
        server = self.proxy_server()
        v2 = b"\r\n\r\n\x00\r\nQUIT\n"
        cases = [
            (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "missing"),
            (HELLO, "missing"),
            (b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "v1_bad_family"),
            (b"PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n", "v1_bad_address"),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", "v1_bad_port"),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "v1_bad_syntax"),
            (b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n", "v1_too_long"),
            (v2 + b"\x11\x11\x00\x0c", "v2_bad_version"),
            (v2 + b"\x23\x11\x00\x0c", "v2_bad_command"),
            (v2 + b"\x21\x11\x00\x04" + b"\x00" * 4, "v2_short_addresses"),
        ]
        for payload, code in cases:
            with self.subTest(code=code, payload=payload[:20]):
                got, refused = self.refused(server, payload)
                self.assertEqual(got, b"", "a refused connection gets no answer")
                self.assertEqual(refused["code"], code, refused)
                self.assertTrue(refused["reason"])
                self.assertEqual(refused["received_bytes"], len(payload))
        self.assertNotIn("proxied", [e["event"] for e in server.events()])

    def test_silence_and_a_header_cut_short(self):
        server = self.proxy_server()
        got, refused = self.refused(server, b"")
        self.assertEqual((got, refused["code"]), (b"", "missing"))
        self.assertIn("nothing came within the first-bytes wait", refused["reason"])
        got, refused = self.refused(server, b"PROXY TCP4 1.2", close_after=False)
        self.assertEqual((got, refused["code"]), (b"", "incomplete"))
        self.assertIn("stopped after 14 bytes", refused["reason"])

    def test_demo_client_without_the_header_is_refused_in_the_log(self):
        server = self.proxy_server(fmt="text")
        result = h.run_client("127.0.0.1", server.port)
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        conn = h.one(self, h.json_events(self, result.stdout), "connected")
        self.assertIsNone(conn["server_view"])
        server.wait_line(lambda l: "closed: this port takes a PROXY header first" in l, what="the refusal")

    def test_the_options_are_checked(self):
        bad = h.run([h.SERVER, "--ports", "0", "--proxy-protocol", "9"])
        self.assertEqual(bad.returncode, h.EX_USAGE, bad.stdout + bad.stderr)
        self.assertEqual(bad.stderr, "demo-server: --proxy-protocol 9: not one of the TCP ports served "
                                     "(--ports 0); name ports that --ports serves\n")
        udp = h.run([h.CLIENT, "--udp", "127.0.0.1", "9", "--proxy-protocol", "v1"])
        self.assertEqual(udp.returncode, h.EX_USAGE)
        self.assertEqual(udp.stderr, "--udp: a PROXY header begins a TCP stream; leave out --proxy-protocol\n")
        v3 = h.run([h.CLIENT, "127.0.0.1", "9", "--proxy-protocol", "v3"])
        self.assertEqual(v3.returncode, h.EX_USAGE)
        self.assertIn("v3", v3.stderr)


if __name__ == "__main__":
    unittest.main()
