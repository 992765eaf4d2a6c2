"""The server's web side over real sockets on loopback: curl for HTTP and HTTPS, raw sockets for
malformed and oversized requests. Every connection's four facts are checked against what the
client itself reports (curl's %{local_port}, getsockname) and the server's JSON events."""

import json
import os
import re
import shutil
import signal
import socket
import tempfile
import time
import unittest

import harness as h

CURL_WAIT = 10.0   # a whole curl run
FIN_WAIT = 1.0     # from the request to the server's FIN, for an answer that closes

# After each transfer curl writes this line (-w), so that several transfers can be told apart.
MARK = re.compile(r"\n@@@(\d+) (\d+) (\d+) ([^@]*)@@@\n")
WRITE_OUT = "\n@@@%{http_code} %{local_port} %{num_connects} %{content_type}@@@\n"


def require_curl(case):
    if shutil.which("curl") is None:
        raise unittest.SkipTest("curl is not installed")


class Transfer:
    def __init__(self, status, local_port, connects, content_type, body):
        self.status, self.local_port, self.connects = status, local_port, connects
        self.content_type, self.body = content_type, body

    def json(self):
        return json.loads(self.body)


def curl(case, *args):
    """Runs curl (bounded, loopback only, no proxy); returns one Transfer per URL."""
    argv = ["curl", "-sS", "--noproxy", "*", "--max-time", "5", "-w", WRITE_OUT] + list(args)
    result = h.run(argv, timeout=CURL_WAIT)
    case.assertEqual(result.returncode, 0, f"{argv!r} failed: {result.stderr}")
    transfers = []
    pos = 0
    for m in MARK.finditer(result.stdout):
        transfers.append(Transfer(int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4),
                                  result.stdout[pos:m.start()]))
        pos = m.end()
    case.assertTrue(transfers, f"no transfer in curl's output: {result.stdout!r}")
    return transfers


def find_event(server, name, pred=lambda e: True, timeout=h.EVENT_WAIT):
    """The first event `name` satisfying `pred`, among those read so far or those to come."""
    for e in server.events():
        if e.get("event") == name and pred(e):
            return e
    line = server.wait_line(lambda l: json.loads(l).get("event") == name and pred(json.loads(l)),
                            timeout, what=f"the {name!r} event")
    return json.loads(line)


def of_port(port):
    return lambda e: e["remote"]["port"] == port


def exchange(case, port, data, address="127.0.0.1", fin_wait=FIN_WAIT):
    """Sends `data` on a new connection and reads until the server's FIN, which must come within
    `fin_wait` of the send: no reset, no hang. Returns (reply, client port)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    case.addCleanup(sock.close)
    sock.settimeout(h.EVENT_WAIT)
    sock.connect((address, port))
    client_port = sock.getsockname()[1]
    sock.sendall(data)
    deadline = time.monotonic() + fin_wait
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            case.fail(f"no FIN within {fin_wait} s of the request; got {b''.join(chunks)[:300]!r}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            case.fail(f"no FIN within {fin_wait} s of the request; got {b''.join(chunks)[:300]!r}")
        except ConnectionResetError:
            case.fail(f"the server reset the connection instead of closing it; got "
                      f"{b''.join(chunks)[:300]!r}")
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks), client_port


def split_response(case, reply):
    """(status, reason, headers as a dict of lower-case names, body) of one response."""
    head, sep, body = reply.partition(b"\r\n\r\n")
    case.assertEqual(sep, b"\r\n\r\n", f"no end of head in {reply[:300]!r}")
    lines = head.decode("ascii").split("\r\n")
    m = re.match(r"^HTTP/1\.1 (\d{3}) (.+)$", lines[0])
    case.assertIsNotNone(m, f"status line: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(m.group(1)), m.group(2), headers, body


class WebBase(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)
        require_curl(cls)

    def plain_server(self, fmt="json"):
        server = h.start_server(self, "--ports", "0", fmt=fmt)
        if fmt == "json":
            self.assertEqual(server.ready["tls_ports"], [])
        return server

    def tls_server(self):
        tmp = tempfile.mkdtemp(prefix="portdemo-web-")
        self.addCleanup(shutil.rmtree, tmp, True)
        self.cert = os.path.join(tmp, "cert.pem")
        server = h.start_server(self, "--ports", "0", "--tls", "0", "--save-cert", self.cert)
        self.assertEqual(server.ready["tls_ports"], [server.port])
        for e in h.of(server.events(), "listening"):
            self.assertIs(e["tls"], True, e)
        cert = h.one(self, server.events(), "tls_certificate")
        self.assertEqual(cert["saved_to"], self.cert)
        self.assertEqual(cert["source"], "generated")
        with open(self.cert) as f:
            self.assertTrue(f.read().startswith("-----BEGIN CERTIFICATE-----\n"))
        return server


class PlainHttp(WebBase):

    def test_text_for_curl(self):
        server = self.plain_server()
        port = server.port
        [t] = curl(self, f"http://127.0.0.1:{port}/")
        self.assertEqual(t.status, 200)
        self.assertEqual(t.content_type, "text/plain; charset=utf-8")
        self.assertIn(f"your port (ephemeral):  127.0.0.1:{t.local_port} ", t.body)
        self.assertIn(f"server port (fixed):    127.0.0.1:{port} ", t.body)
        event = find_event(server, "http_request", of_port(t.local_port))
        self.assertEqual(event, {
            "event": "http_request", "id": event["id"], "local": h.ep("127.0.0.1", port),
            "remote": h.ep("127.0.0.1", t.local_port), "method": "GET", "path": "/", "status": 200,
            "request": 1, "reused": False, "tls": None, "note": None,
            "protocol": "HTTP/1.1", "stream": None})
        accepted = find_event(server, "accepted", of_port(t.local_port))
        self.assertEqual(accepted["id"], event["id"])
        self.assertTrue(t.body.startswith(f"portdemo: your connection #{event['id']}, request 1 on it\n"),
                        t.body)

    def test_html_for_a_browser(self):
        server = self.plain_server()
        port = server.port
        [t] = curl(self, "-H", "Accept: text/html,application/xhtml+xml", f"http://127.0.0.1:{port}/")
        self.assertEqual(t.status, 200)
        self.assertEqual(t.content_type, "text/html; charset=utf-8")
        self.assertIn(f'id="client-port">{t.local_port}<', t.body)
        self.assertIn(f'id="server-port">{port}<', t.body)
        self.assertIn('<td id="tls">none: plain HTTP</td>', t.body)
        find_event(server, "http_request", of_port(t.local_port))

    def test_json_is_the_mirror_of_curls_view(self):
        server = self.plain_server()
        port = server.port
        [t] = curl(self, f"http://127.0.0.1:{port}/json")
        self.assertEqual(t.status, 200)
        self.assertEqual(t.content_type, "application/json")
        self.assertTrue(t.body.endswith("}\n") and t.body.count("\n") == 1, repr(t.body))
        view = t.json()
        self.assertEqual(view["event"], "server_view")
        self.assertEqual(view["local"], h.ep("127.0.0.1", port))
        self.assertEqual(view["remote"], h.ep("127.0.0.1", t.local_port))
        self.assertEqual(view["remote_port_class"], h.port_class(t.local_port))
        self.assertEqual(view["in_ephemeral_range"], h.in_ephemeral_range(t.local_port))
        self.assertEqual((view["request"], view["reused"], view["tls"]), (1, False, None))
        event = find_event(server, "http_request", of_port(t.local_port))
        self.assertEqual((event["local"], event["remote"]), (view["local"], view["remote"]))
        self.assertEqual((event["id"], event["method"], event["path"], event["status"]),
                         (view["id"], "GET", "/json", 200))
        accepted = find_event(server, "accepted", of_port(t.local_port))
        self.assertEqual((accepted["id"], accepted["local"]), (view["id"], view["local"]))

    def test_json_over_ipv6(self):
        h.require_ipv6(self)
        server = self.plain_server()
        [t] = curl(self, "-g", f"http://[::1]:{server.port}/json")
        view = t.json()
        self.assertEqual(view["local"], h.ep("::1", server.port))
        self.assertEqual(view["remote"], h.ep("::1", t.local_port))

    def test_keep_alive_reuses_the_connection_and_its_port(self):
        server = self.plain_server()
        url = f"http://127.0.0.1:{server.port}/json"
        first, second = curl(self, url, url)
        self.assertEqual((first.status, second.status), (200, 200))
        self.assertEqual((first.connects, second.connects), (1, 0), "curl opened a second connection")
        self.assertEqual(first.local_port, second.local_port)
        one, two = first.json(), second.json()
        self.assertEqual(one["id"], two["id"])
        self.assertEqual(one["remote"], two["remote"])
        self.assertEqual((one["request"], one["reused"]), (1, False))
        self.assertEqual((two["request"], two["reused"]), (2, True))
        e1 = find_event(server, "http_request", lambda e: e["request"] == 1)
        e2 = find_event(server, "http_request", lambda e: e["request"] == 2)
        self.assertEqual((e1["id"], e1["reused"]), (one["id"], False))
        self.assertEqual((e2["id"], e2["reused"]), (one["id"], True))
        self.assertEqual(e2["remote"], h.ep("127.0.0.1", first.local_port))
        # The text version says so too.
        a, b = curl(self, f"http://127.0.0.1:{server.port}/", f"http://127.0.0.1:{server.port}/")
        self.assertEqual(a.local_port, b.local_port)
        self.assertIn(f"request 2 on it", b.body)
        self.assertIn(f"Same connection as before (#", b.body)
        self.assertIn(f"so your port is still {b.local_port}", b.body)

    def test_a_new_connection_names_the_previous_port(self):
        server = self.plain_server()
        [first] = curl(self, f"http://127.0.0.1:{server.port}/")
        [second] = curl(self, f"http://127.0.0.1:{server.port}/")
        self.assertNotEqual(first.local_port, second.local_port)
        self.assertIn(f"New connection (#", second.body)
        self.assertIn(f"your computer chose a new port: {second.local_port} (your previous "
                      f"connection used {first.local_port}).", h.flat(second.body))

    def test_head_gets_headers_only(self):
        server = self.plain_server()
        reply, _ = exchange(self, server.port,
                            b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        status, _, headers, body = split_response(self, reply)
        self.assertEqual(status, 200)
        self.assertEqual(body, b"")
        self.assertGreater(int(headers["content-length"]), 0)
        self.assertEqual(headers["connection"], "close")

    def test_pipelined_requests_are_answered_in_order(self):
        server = self.plain_server()
        reply, client_port = exchange(self, server.port,
                                      b"GET /json HTTP/1.1\r\nHost: a\r\n\r\n"
                                      b"GET /json HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        first, sep, rest = reply.partition(b"}\n")
        one = json.loads(split_response(self, first + sep)[3])
        two = json.loads(split_response(self, rest)[3])
        self.assertEqual((one["request"], two["request"]), (1, 2))
        self.assertEqual(one["remote"], h.ep("127.0.0.1", client_port))
        self.assertEqual(two["remote"], h.ep("127.0.0.1", client_port))

    def test_tls_on_the_plain_port_names_the_http_url(self):
        server = self.plain_server()
        port = server.port
        [t] = curl(self, "-k", f"https://127.0.0.1:{port}/json")
        self.assertEqual(t.status, 400)
        self.assertIn(f"Use http://127.0.0.1:{port}/ instead.", t.body)
        event = find_event(server, "http_request", of_port(t.local_port))
        self.assertEqual((event["status"], event["note"]), (400, "TLS on a plain HTTP port"))
        self.assertTrue(event["tls"].startswith("TLS"), event)

    def test_text_log_of_requests(self):
        server = self.plain_server(fmt="text")
        port = server.port
        [t] = curl(self, f"http://127.0.0.1:{port}/json")
        line = server.wait_line(lambda l: " GET /json -> 200 " in l, what="the request's log line")
        m = re.match(r"^  #(\d+) GET /json -> 200  127\.0\.0\.1:(\d+) <- 127\.0\.0\.1:(\d+)\s+"
                     r"\(new connection\)\n$", line)
        self.assertIsNotNone(m, repr(line))
        self.assertEqual((int(m.group(2)), int(m.group(3))), (port, t.local_port))
        self.assertEqual(t.json()["id"], int(m.group(1)))
        h.assert_text_lines(self, "".join(server.lines), "server text")


class Https(WebBase):

    def test_insecure_curl(self):
        server = self.tls_server()
        port = server.port
        [t] = curl(self, "-k", f"https://127.0.0.1:{port}/json")
        self.assertEqual(t.status, 200)
        view = t.json()
        self.assertEqual(view["local"], h.ep("127.0.0.1", port))
        self.assertEqual(view["remote"], h.ep("127.0.0.1", t.local_port))
        self.assertTrue(view["tls"]["version"].startswith("TLS"), view)
        self.assertTrue(view["tls"]["cipher"], view)
        event = find_event(server, "http_request", of_port(t.local_port))
        self.assertEqual((event["method"], event["path"], event["status"], event["note"]),
                         ("GET", "/json", 200, None))
        self.assertEqual(event["tls"], view["tls"]["version"])

    def test_saved_certificate_verifies_for_localhost(self):
        server = self.tls_server()
        port = server.port
        [t] = curl(self, "--cacert", self.cert, f"https://localhost:{port}/json")
        self.assertEqual(t.status, 200)
        view = t.json()
        self.assertEqual(view["local"]["port"], port)
        self.assertEqual(view["remote"]["port"], t.local_port)
        self.assertTrue(view["tls"]["version"].startswith("TLS"), view)
        [v4] = curl(self, "--cacert", self.cert, f"https://127.0.0.1:{port}/")
        self.assertEqual(v4.status, 200)
        if h.have_ipv6_loopback():
            [v6] = curl(self, "-g", "--cacert", self.cert, f"https://[::1]:{port}/json")
            self.assertEqual(v6.json()["remote"], h.ep("::1", v6.local_port))

    def test_untrusted_certificate_is_reported(self):
        server = self.tls_server()
        result = h.run(["curl", "-sS", "--noproxy", "*", "--max-time", "5",
                        f"https://127.0.0.1:{server.port}/"], timeout=CURL_WAIT)
        self.assertEqual(result.returncode, 60, result.stderr)  # peer certificate not trusted
        failed = find_event(server, "tls_failed")
        self.assertEqual(failed["local"], h.ep("127.0.0.1", server.port))
        self.assertIn("does not trust", failed["explanation"])

    def test_html_over_https(self):
        server = self.tls_server()
        [t] = curl(self, "-k", "-H", "Accept: text/html", f"https://127.0.0.1:{server.port}/")
        self.assertEqual(t.content_type, "text/html; charset=utf-8")
        self.assertIn(f'id="client-port">{t.local_port}<', t.body)
        self.assertIn(f'id="server-port">{server.port}<', t.body)
        self.assertIn('<td id="tls">yes: TLS', t.body)

    def test_keep_alive_over_https(self):
        server = self.tls_server()
        url = f"https://127.0.0.1:{server.port}/json"
        first, second = curl(self, "-k", url, url)
        self.assertEqual((first.connects, second.connects), (1, 0))
        self.assertEqual(first.local_port, second.local_port)
        self.assertEqual((second.json()["request"], second.json()["reused"]), (2, True))

    def test_plain_http_on_the_tls_port(self):
        server = self.tls_server()
        port = server.port
        [t] = curl(self, f"http://127.0.0.1:{port}/")
        self.assertEqual(t.status, 400)
        self.assertIn(f"Use https://127.0.0.1:{port}/ instead.", t.body)
        event = find_event(server, "http_request", of_port(t.local_port))
        self.assertEqual((event["status"], event["tls"], event["note"]),
                         (400, None, "plain HTTP on a TLS port"))
        # Promptly closed, never a reset.
        reply, _ = exchange(self, port, b"GET / HTTP/1.1\r\nHost: localhost:%d\r\n\r\n" % port)
        status, _, headers, body = split_response(self, reply)
        self.assertEqual((status, headers["connection"]), (400, "close"))
        self.assertIn(b"https://localhost:%d/" % port, body)

    def test_silent_client_gets_the_text_report(self):
        server = self.tls_server()
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=h.EVENT_WAIT)
        self.addCleanup(sock.close)
        client_port = sock.getsockname()[1]
        chunks = []
        deadline = time.monotonic() + 2.0
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(4096)
            except socket.timeout:
                self.fail(f"the report did not end within 2 s: {b''.join(chunks)!r}")
            if not chunk:
                break
            chunks.append(chunk)
        text = b"".join(chunks).decode()
        self.assertTrue(text.startswith("portdemo: your connection #"), text)
        self.assertIn(f"127.0.0.1:{client_port}", text)
        self.assertIn(f"127.0.0.1:{server.port}", text)
        answered = find_event(server, "answered")
        self.assertEqual((answered["report"], answered["received_bytes"]), ("text", 0))

    def test_demo_client_still_gets_its_view(self):
        server = self.tls_server()
        result = h.run_client("127.0.0.1", server.port)
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        conn = h.one(self, h.json_events(self, result.stdout), "connected")
        self.assertIs(conn["mirror"], True)
        self.assertEqual(conn["server_view"]["local"], h.ep("127.0.0.1", server.port))
        self.assertEqual(find_event(server, "answered")["report"], "json")


# Requests the server refuses: each is answered with its status, and then the server closes
# (FIN within FIN_WAIT).
REFUSALS = [
    ("garbage request line", b"GET nonsense\r\n\r\n", 400),
    ("three spaces", b"GET / / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("HTTP/1.1 without Host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", 400),
    ("control character", b"GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[2J\r\n\r\n", 400),
    ("9000-byte target", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
    ("9000 bytes of headers",
     b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"h" * 290) for i in range(31))
     + b"\r\n", 431),
    ("one 9000-byte header", b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
    ("101 header lines",
     b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: %d\r\n" % (i, i) for i in range(100)) + b"\r\n",
     431),
    ("PUT", b"PUT / HTTP/1.1\r\nHost: a\r\n\r\n", 405),
    ("POST with a body", b"POST /json HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", 405),
    ("/nope", b"GET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 404),
    ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ("HTTP/1.2", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
]


class Refusals(WebBase):

    def test_each_refusal_is_answered_and_closed(self):
        server = self.plain_server()
        for what, request, expected in REFUSALS:
            with self.subTest(what):
                reply, client_port = exchange(self, server.port, request)
                status, reason, headers, body = split_response(self, reply)
                self.assertEqual(status, expected, f"{what}: {reply[:200]!r}")
                self.assertTrue(body.decode().startswith(f"{expected} {reason}: "), body)
                self.assertEqual(int(headers["content-length"]), len(body))
                self.assertEqual(headers["connection"], "close")
                if expected == 405:
                    self.assertEqual(headers["allow"], "GET, HEAD")
                event = find_event(server, "http_request", of_port(client_port))
                self.assertEqual(event["status"], expected, event)

    def test_refusals_over_ipv6(self):
        h.require_ipv6(self)
        server = self.plain_server()
        reply, client_port = exchange(self, server.port, b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", "::1")
        self.assertEqual(split_response(self, reply)[0], 505)
        event = find_event(server, "http_request", of_port(client_port))
        self.assertEqual(event["remote"], h.ep("::1", client_port))

    def test_a_refused_request_does_not_stop_the_server(self):
        server = self.plain_server()
        exchange(self, server.port, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n")
        [t] = curl(self, f"http://127.0.0.1:{server.port}/json")
        self.assertEqual(t.status, 200)
        self.assertTrue(server.running())
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())


if __name__ == "__main__":
    unittest.main()


class SpareConnections(unittest.TestCase):
    """A browser opens spare connections (preconnects) and may send its next request on one of
    them at any time: a text report sent into one unasked would be read as that request's
    answer. Chromium opens them together with a navigation's requests, so a silent connection
    accepted within 500 ms of HTTP from its address (or while it waits) gets no report until it
    speaks; a silent one from any other address, or from the same one a moment later (a
    terminal's nc on its own), still gets its report after 200 ms."""

    def setUp(self):
        h.require_binaries(self)
        self.server = h.start_server(self)
        self.port = self.server.port
        # A browser's first request, from 127.0.0.1.
        s = socket.create_connection(("127.0.0.1", self.port), timeout=h.EVENT_WAIT)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass
        s.close()

    def spare(self, source):
        s = socket.socket()
        self.addCleanup(s.close)
        s.bind((source, 0))
        s.settimeout(h.EVENT_WAIT)
        s.connect(("127.0.0.1", self.port))
        return s

    def test_a_spare_connection_used_late_gets_an_http_answer(self):
        s = self.spare("127.0.0.1")
        s.settimeout(0.6)
        with self.assertRaises(socket.timeout, msg="the spare connection got bytes unasked"):
            s.recv(1)
        s.settimeout(h.EVENT_WAIT)
        s.sendall(b"GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
        self.assertTrue(reply.startswith(b"HTTP/1.1 200 OK\r\n"), reply[:80])
        view = json.loads(reply.split(b"\r\n\r\n", 1)[1])
        self.assertEqual(view["remote"]["port"], s.getsockname()[1])

    def test_a_raw_client_from_that_address_is_answered_when_it_speaks(self):
        s = self.spare("127.0.0.1")
        time.sleep(0.4)
        s.sendall(b"hello\n")
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
        self.assertIn(f"portdemo: your connection #".encode(), reply)
        self.assertIn(f"127.0.0.1:{s.getsockname()[1]}".encode(), reply)

    def test_an_unused_spare_is_closed_quietly_when_the_browser_closes_it(self):
        s = self.spare("127.0.0.1")
        time.sleep(0.4)
        s.shutdown(socket.SHUT_WR)  # the browser gives up its unused spare
        self.assertEqual(s.recv(65536), b"", "the server answered a spare connection nobody used")

    def test_a_silent_client_a_second_after_the_browser_gets_its_report_at_once(self):
        time.sleep(1.0)  # the gap under test: well past the browser's last request
        s = self.spare("127.0.0.1")
        t = time.monotonic()
        first = s.recv(65536)
        self.assertLess(time.monotonic() - t, 0.3)
        self.assertTrue(first.startswith(b"portdemo: your connection #"), first[:80])

    def test_a_silent_connection_during_another_request_is_a_spare(self):
        # Accepted on its own (the setUp request is 0.6 s old by then), but the browser's next
        # request comes on another connection while it waits: it is that navigation's spare.
        time.sleep(0.6)
        late = self.spare("127.0.0.1")
        other = socket.create_connection(("127.0.0.1", self.port), timeout=h.EVENT_WAIT)
        self.addCleanup(other.close)
        other.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while other.recv(65536):
            pass
        late.settimeout(0.6)
        with self.assertRaises(socket.timeout, msg="a connection beside a request got a report"):
            late.recv(1)

    def test_a_silent_client_from_another_address_still_gets_its_report(self):
        s = self.spare("127.0.0.2")
        t = time.monotonic()
        first = s.recv(65536)
        self.assertLess(time.monotonic() - t, 1.0)
        self.assertTrue(first.startswith(b"portdemo: your connection #"), first[:80])


class ManyRequests(unittest.TestCase):
    """A kept-alive connection's first 100 requests are logged one by one; later ones are
    counted and summarised once a second (a load test would otherwise fill the log), and the
    count is exact."""

    def setUp(self):
        h.require_binaries(self)

    def requests_on_one_connection(self, port, n):
        s = socket.create_connection(("127.0.0.1", port), timeout=h.EVENT_WAIT)
        self.addCleanup(s.close)
        for _ in range(n):
            s.sendall(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = b""
            while not (b"\r\n\r\n" in reply and reply.endswith(b"}\n")):
                chunk = s.recv(65536)
                self.assertTrue(chunk, "the server closed a kept-alive connection")
                reply += chunk
        return s

    def test_the_first_hundred_are_logged_and_the_rest_summarised(self):
        server = h.start_server(self)
        self.requests_on_one_connection(server.port, 150)
        self.requests_on_one_connection(server.port, 120)
        note = server.wait_event("note", code="requests_summarised", timeout=3)
        self.assertEqual(note["message"], "70 more HTTP requests on kept-alive connections, not logged "
                                          "one by one: each connection's first 100 are")
        logged = [e for e in server.events() if e.get("event") == "http_request"]
        self.assertEqual(len(logged), 200)
        self.assertEqual(sorted({e["request"] for e in logged}), list(range(1, 101)))

    def test_the_last_count_comes_before_the_summary_at_shutdown(self):
        server = h.start_server(self)
        self.requests_on_one_connection(server.port, 103).close()
        server.terminate(signal.SIGTERM)
        events = [json.loads(l) for l in server.read_rest()]
        notes = [e for e in events if e.get("code") == "requests_summarised"]
        self.assertEqual(len(notes), 1)
        self.assertTrue(notes[0]["message"].startswith("3 more HTTP requests "), notes[0])
        names = [e["event"] for e in events]
        self.assertLess(events.index(notes[0]), names.index("summary"))
