"""HTTP/2 against demo-server with clients no one here wrote: curl (--http2 over TLS, where ALPN
picks h2, and --http2-prior-knowledge in the clear), nghttp (many concurrent streams), h2load
(load), headless Chromium (the page's own report of its protocol); and the limits, by hand-made
frames where no client misbehaves on purpose: a header block never finished, a client whose flow
control window is 0 (it never reads), an idle connection, a broken preface, shutdown's GOAWAY."""

import json
import os
import re
import shutil
import signal
import socket
import struct
import tempfile
import threading
import subprocess
import time
import unittest

import harness as h
from test_client_http3 import fingerprint_half, make_certificate, paragraph

CURL = shutil.which("curl")
NGHTTP = shutil.which("nghttp")
H2LOAD = shutil.which("h2load")

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, SETTINGS, GOAWAY, CONTINUATION = 0x0, 0x1, 0x4, 0x7, 0x9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def settings(**values):
    ids = {"initial_window_size": 0x4, "max_concurrent_streams": 0x3}
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", ids[k], v) for k, v in values.items()))


def literal(name, value):
    """An HPACK literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2)."""
    assert len(name) < 127 and len(value) < 127
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def get_block(path=b"/json", authority=b"127.0.0.1"):
    # :method GET (static 2), :scheme http (6), then :path and :authority as literals.
    return b"\x82\x86" + literal(b":path", path) + literal(b":authority", authority)


def read_frames(sock, until, timeout=h.EVENT_WAIT):
    """Reads frames until `until(kind, flags, stream, payload)` is true or the peer closes;
    returns the frames read and whether the connection was closed."""
    sock.settimeout(timeout)
    buf = b""
    frames = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        while len(buf) >= 9:
            length = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + length:
                break
            f = (buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF, buf[9:9 + length])
            buf = buf[9 + length:]
            frames.append(f)
            if until(*f):
                return frames, False
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            return frames, True
        if not chunk:
            return frames, True
        buf += chunk
    raise AssertionError(f"no matching frame within {timeout} s: {frames!r}")


def goaway_of(frames):
    for kind, _, _, payload in frames:
        if kind == GOAWAY:
            return int.from_bytes(payload[4:8], "big")  # the error code
    return None


def require_tools(cls, *tools):
    h.require_binaries(cls)
    for name, path in tools:
        if not path:
            raise unittest.SkipTest(f"{name} is not installed (scripts/install-deps.sh installs it)")


class Http2Clients(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        require_tools(cls, ("curl", CURL), ("nghttp", NGHTTP), ("h2load", H2LOAD))

    def curl(self, *args):
        r = h.run([CURL, "-sS", "--max-time", "20"] + list(args))
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def views(self, out):
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    def closed(self, server, conn_id):
        return server.wait_event("http2_closed", id=conn_id)

    def test_prior_knowledge_in_the_clear(self):
        # One URL per call: Debian 12's curl 7.88.1 fails a second URL on a reused h2c
        # prior-knowledge connection ("Error in the HTTP2 framing layer"), against nginx too.
        server = h.start_server(self)
        out = self.curl("--http2-prior-knowledge", "-w", "%{http_version} %{local_port}\n",
                        f"http://127.0.0.1:{server.port}/json")
        view = self.views(out)[0]
        self.assertEqual((view["protocol"], view["stream"], view["request"], view["tls"]), ("HTTP/2", 1, 1, None))
        self.assertEqual(out.splitlines()[-1], f"2 {view['remote']['port']}")
        closed = self.closed(server, view["id"])
        self.assertEqual((closed["requests"], closed["tls"]), (1, False))
        self.assertIn(closed["reason"], ("client closed", "GOAWAY from the client"))
        e = [e for e in h.of(server.events(), "http_request") if e["id"] == view["id"]]
        self.assertEqual([(e["protocol"], e["stream"], e["path"], e["status"]) for e in e],
                         [("HTTP/2", 1, "/json", 200)])

    def test_several_urls_one_curl_call_one_port_exact_streams(self):
        server = h.start_server(self, "--ports", "0", "--tls", "0")
        base = f"https://127.0.0.1:{server.port}"
        out = self.curl("-k", "--http2", f"{base}/json", f"{base}/json", f"{base}/json")
        views = self.views(out)
        self.assertEqual([v["stream"] for v in views], [1, 3, 5])
        self.assertEqual([v["request"] for v in views], [1, 2, 3])
        self.assertEqual({v["protocol"] for v in views}, {"HTTP/2"})
        self.assertEqual({v["id"] for v in views}, {views[0]["id"]})
        ports = {v["remote"]["port"] for v in views}
        self.assertEqual(len(ports), 1, "three requests, one client port")
        client_port = ports.pop()
        self.assertTrue(h.in_ephemeral_range(client_port))
        self.assertEqual(views[0]["local"], h.ep("127.0.0.1", server.port))
        self.assertEqual(views[0]["tls"]["version"], "TLSv1.3")
        closed = self.closed(server, views[0]["id"])
        self.assertEqual(closed["requests"], 3)
        self.assertEqual(closed["remote"], h.ep("127.0.0.1", client_port))
        self.assertTrue(closed["tls"])
        logged = [e for e in h.of(server.events(), "http_request") if e["id"] == views[0]["id"]]
        self.assertEqual([(e["stream"], e["protocol"], e["request"], e["reused"]) for e in logged],
                         [(1, "HTTP/2", 1, False), (3, "HTTP/2", 2, True), (5, "HTTP/2", 3, True)])
        accepted = [e for e in h.of(server.events(), "accepted") if e["id"] == views[0]["id"]]
        self.assertEqual(accepted[0]["remote"], h.ep("127.0.0.1", client_port))

    def test_text_answer_says_one_port_for_all(self):
        server = h.start_server(self, "--ports", "0", "--tls", "0")
        base = f"https://127.0.0.1:{server.port}"
        out = self.curl("-k", "--http2", f"{base}/", f"{base}/")
        heads = re.findall(r"portdemo: your connection #(\d+), request (\d) on it \(HTTP/2, stream (\d+)\)", out)
        self.assertEqual([(r, s) for _, r, s in heads], [("1", "1"), ("2", "3")])
        port = re.findall(r"your port \(ephemeral\):  127\.0\.0\.1:(\d+) ", out)
        self.assertEqual(len(port), 2, out)
        self.assertEqual(len(set(port)), 1)
        self.assertIn(f"Request 2 on connection #{heads[0][0]}, stream 3, your port {port[0]}: HTTP/2 "
                      f"multiplexes, so your browser needed one port for all of them.", h.flat(out))

    def test_tls_alpn_chooses_h2_and_http1_still_works(self):
        server = h.start_server(self, "--ports", "0", "--tls", "0")
        base = f"https://127.0.0.1:{server.port}"
        out = self.curl("-k", "--http2", "-w", "%{http_version}\n", f"{base}/json", f"{base}/json")
        views = self.views(out)
        self.assertEqual([v["stream"] for v in views], [1, 3])
        self.assertEqual(views[0]["tls"]["version"], "TLSv1.3")
        self.assertEqual(out.splitlines().count("2"), 2, out)
        closed = self.closed(server, views[0]["id"])
        self.assertTrue(closed["tls"])
        # A client that offers only http/1.1 gets HTTP/1.1, as before.
        out = self.curl("-k", "--http1.1", "-w", "%{http_version}\n", f"{base}/json")
        view = self.views(out)[0]
        self.assertEqual(view["protocol"], "HTTP/1.1")
        self.assertNotIn("stream", view)
        self.assertIn("1.1", out.splitlines())

    def test_upgrade_h2c_is_answered_as_http1(self):
        # curl --http2 on http:// asks to upgrade; this server answers in HTTP/1.1 (as it may).
        server = h.start_server(self)
        out = self.curl("--http2", "-w", "%{http_version}\n", f"http://127.0.0.1:{server.port}/json")
        self.assertEqual(self.views(out)[0]["protocol"], "HTTP/1.1")
        self.assertEqual(out.splitlines()[-1], "1.1")

    def test_h2c_on_a_tls_port_is_told_to_use_https(self):
        server = h.start_server(self, "--ports", "0", "--tls", "0")
        r = h.run([CURL, "-sS", "--http2-prior-knowledge", "-w", "\n%{http_code}",
                   f"http://127.0.0.1:{server.port}/"])
        self.assertEqual(r.stdout.splitlines()[-1], "400", r.stdout)
        self.assertIn(f"port {server.port} speaks HTTPS (HTTP inside TLS), and this request came as plain HTTP. "
                      f"Use https://127.0.0.1:{server.port}/ instead.", r.stdout)
        e = server.wait_event("http_request", status=400)
        self.assertEqual((e["protocol"], e["stream"], e["note"]), ("HTTP/2", 1, "plain HTTP on a TLS port"))

    def test_nghttp_many_concurrent_streams_on_one_connection(self):
        server = h.start_server(self)
        r = h.run([NGHTTP, "-n", "-s", "-m", "40", f"http://127.0.0.1:{server.port}/json"])
        self.assertEqual(r.returncode, 0, r.stderr)
        requests = [e for e in h.of(server.events(), "http_request")]
        # Logged as they were answered: wait for the connection's end, then count.
        closed = server.wait_event("http2_closed")
        requests = [e for e in h.of(server.events(), "http_request") if e["id"] == closed["id"]]
        self.assertEqual(closed["requests"], 40)
        self.assertEqual(len(requests), 40)
        self.assertEqual(sorted(e["stream"] for e in requests), list(range(13, 13 + 80, 2)))
        self.assertEqual(len({e["remote"]["port"] for e in requests}), 1)
        self.assertGreater(closed["most_at_once"], 1, "nghttp sends its streams together")
        self.assertLessEqual(closed["most_at_once"], 100)

    def test_h2load_every_request_answered(self):
        server = h.start_server(self)
        r = h.run([H2LOAD, "-n", "2000", "-c", "2", "-m", "16", f"http://127.0.0.1:{server.port}/"], timeout=60)
        self.assertIn("2000 succeeded, 0 failed, 0 errored, 0 timeout", r.stdout, r.stdout)
        self.assertIn("status codes: 2000 2xx", r.stdout)
        self.assertEqual(server.terminate(), 0)
        server.read_rest()
        closed = h.of(server.events(), "http2_closed")
        self.assertEqual(sum(e["requests"] for e in closed), 2000)
        self.assertEqual(len(closed), 2, "h2load -c 2: two connections, two client ports")
        self.assertEqual(len({e["remote"]["port"] for e in closed}), 2)

    def test_header_limits_answer_431_and_the_connection_goes_on(self):
        server = h.start_server(self, "--ports", "0", "--max-header-bytes", "256", "--max-header-lines", "5")
        base = f"http://127.0.0.1:{server.port}"
        r = h.run([CURL, "-sS", "--http2-prior-knowledge", "-H", "X-Big: " + "a" * 300, "-w", "\n%{http_code}\n",
                   f"{base}/json"])
        self.assertEqual(r.stdout.splitlines()[-1], "431", r.stdout)
        self.assertIn("431 Request Header Fields Too Large", r.stdout)
        e = server.wait_event("http_request", status=431)
        self.assertEqual((e["protocol"], e["stream"], e["path"]), ("HTTP/2", 1, "/json"))
        many = ["-H", "A: 1", "-H", "B: 1", "-H", "C: 1", "-H", "D: 1", "-H", "E: 1", "-H", "F: 1"]
        r = h.run([CURL, "-sS", "--http2-prior-knowledge", "-w", "\n%{http_code}\n"] + many + [f"{base}/json"])
        self.assertEqual(r.stdout.splitlines()[-1], "431", r.stdout)
        r = h.run([CURL, "-sS", "--http2-prior-knowledge", "-w", "\n%{http_code}\n", f"{base}/json"])
        self.assertEqual(r.stdout.splitlines()[-1], "200", r.stdout)


class Http2Client(unittest.TestCase):
    """demo-client --http2: several requests on one connection, one local port, each answered
    with the server's view."""
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def test_requests_on_one_connection_one_port(self):
        server = h.start_server(self)
        r = h.run_client("127.0.0.1", server.port, "--http2", "--requests", "5")
        self.assertEqual(r.returncode, 0, r.stderr)
        events = h.json_events(self, r.stdout)
        connected = h.one(self, events, "connected")
        ex = h.one(self, events, "http2_exchanged")
        port = connected["local"]["port"]
        self.assertEqual(ex["local"], connected["local"])
        self.assertEqual([a["stream"] for a in ex["answers"]], [1, 3, 5, 7, 9])
        self.assertEqual([a["server_stream"] for a in ex["answers"]], [1, 3, 5, 7, 9])
        self.assertEqual(sorted(a["server_request"] for a in ex["answers"]), [1, 2, 3, 4, 5])
        for a in ex["answers"]:
            self.assertEqual(a["status"], 200)
            self.assertEqual(a["server_view"], {"local": connected["remote"], "remote": connected["local"]})
        self.assertTrue(ex["one_port"])
        self.assertIsNone(ex["problem"])
        self.assertTrue(connected["mirror"])
        closed = server.wait_event("http2_closed", id=ex["answers"][0]["server_id"])
        self.assertEqual((closed["requests"], closed["remote"]["port"]), (5, port))
        self.assertEqual(closed["reason"], "GOAWAY from the client")

    def test_text_names_the_one_port(self):
        server = h.start_server(self)
        r = h.run_client("127.0.0.1", server.port, "--http2", "--requests", "2", fmt="text")
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.search(r"HTTP/2 \(h2c\) on this one connection, from local port (\d+):", r.stdout)
        self.assertTrue(m, r.stdout)
        port = m.group(1)
        self.assertIn(f"    stream 1   the server saw 127.0.0.1:{server.port} <- 127.0.0.1:{port}  (its request 1 on #1)",
                      r.stdout)
        self.assertIn(f"    stream 3   the server saw 127.0.0.1:{server.port} <- 127.0.0.1:{port}  (its request 2 on #1)",
                      r.stdout)
        self.assertIn(f"2 requests, 2 streams, one client port ({port}): HTTP/2 multiplexes them on one connection, "
                      f"where HTTP/1.1 would take one at a time", h.flat(r.stdout))

    def test_a_server_that_does_not_speak_h2(self):
        # A plain TCP listener that answers a line: not HTTP/2.
        port = h.serve_once(self, b"hello there, this is not HTTP/2\n", read_first=True)
        r = h.run_client("127.0.0.1", port, "--http2")
        ex = h.one(self, h.json_events(self, r.stdout), "http2_exchanged")
        self.assertEqual(ex["answers"], [])
        self.assertTrue(ex["problem"].startswith("the answer was not HTTP/2 ("), ex)
        self.assertIn("does not speak HTTP/2 by prior knowledge (h2c); a TLS port needs --tls", ex["problem"])

    def test_bad_combinations_exit_64(self):
        for args, message in ((["--http2", "--udp"], "--http2: HTTP/2 runs on a TCP connection of its own; leave out --udp"),
                              (["--http2", "--proxy-protocol", "v1"],
                               "--http2: HTTP/2 runs on a TCP connection of its own; leave out --proxy-protocol"),
                              (["--requests", "4"], "--requests requires --http2"),
                              (["--http2", "--requests", "0"], "--requests: Value 0 not in range 1 to 100")):
            r = h.run_client("127.0.0.1", 9, *args, fmt=None)
            self.assertEqual(r.returncode, 64, (args, r.stderr))
            self.assertIn(message, r.stderr, args)


class Http2ClientTls(unittest.TestCase):
    """demo-client --http2 --tls: HTTP/2 inside TLS as https:// does it (ALPN h2), the server's
    certificate checked as curl checks it; each failure (an untrusted or misnamed certificate,
    a port that does not speak TLS, a TLS server without h2) named, with its exit code."""
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)
        if shutil.which("openssl") is None:
            raise unittest.SkipTest("the openssl command is not installed, so no certificate can be made")

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="portdemo-h2tls-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.cert = os.path.join(self.dir, "server.pem")

    def server(self, *extra):
        return h.start_server(self, "--ports", "0", "--tls", "0", "--save-cert", self.cert, *extra)

    def test_cacert_verifies_and_every_stream_rides_one_port(self):
        server = self.server()
        r = h.run_client("localhost", server.port, "--http2", "--tls", "--cacert", self.cert, "--requests", "4")
        self.assertEqual(r.returncode, h.EX_OK, r.stdout + r.stderr)
        events = h.json_events(self, r.stdout)
        connected = h.one(self, events, "connected")
        self.assertTrue(connected["mirror"], connected)
        ex = h.one(self, events, "http2_exchanged")
        self.assertEqual(h.of(events, "http2_failed"), [])
        self.assertEqual(ex["local"], connected["local"])
        self.assertEqual([a["stream"] for a in ex["answers"]], [1, 3, 5, 7])
        self.assertEqual(sorted(a["server_request"] for a in ex["answers"]), [1, 2, 3, 4])
        for a in ex["answers"]:
            self.assertEqual(a["status"], 200)
            self.assertEqual(a["server_view"], {"local": connected["remote"], "remote": connected["local"]})
        self.assertTrue(ex["one_port"])
        self.assertIsNone(ex["problem"])
        tls = ex["tls"]
        self.assertRegex(tls.pop("cipher"), r"^TLS_[A-Z0-9_]+$")
        self.assertEqual(tls, {"version": "TLSv1.3", "alpn": "h2", "verification": f"verified with --cacert {self.cert}"})
        # The server's side of the same connection: HTTP/2 inside TLS, from the client's port.
        port = connected["local"]["port"]
        requests = [server.wait_event("http_request", request=n) for n in (1, 2, 3, 4)]
        for req in requests:
            self.assertEqual((req["protocol"], req["tls"], req["remote"]["port"], req["status"]),
                             ("HTTP/2", "TLSv1.3", port, 200))
        self.assertEqual(sorted(req["stream"] for req in requests), [1, 3, 5, 7])
        closed = server.wait_event("http2_closed", id=ex["answers"][0]["server_id"])
        self.assertEqual((closed["requests"], closed["tls"], closed["reason"]), (4, True, "GOAWAY from the client"))

    def test_text_names_tls_alpn_and_the_check(self):
        server = self.server()
        r = h.run_client("localhost", server.port, "--http2", "--tls", "--cacert", self.cert, "--requests", "2",
                         fmt="text")
        self.assertEqual(r.returncode, h.EX_OK, r.stdout + r.stderr)
        h.assert_text_lines(self, r.stdout)
        m = re.search(r"HTTP/2 \(h2, chosen in TLS's ALPN\) on this one connection, from local port (\d+):",
                      r.stdout)
        self.assertTrue(m, r.stdout)
        port = m.group(1)
        self.assertIn(f"    stream 1   the server saw 127.0.0.1:{server.port} <- 127.0.0.1:{port}  (its request 1 on #1)",
                      r.stdout)
        text = h.flat(r.stdout)
        self.assertIn(f"2 requests, 2 streams, one client port ({port}): HTTP/2 multiplexes them", text)
        self.assertRegex(text, rf"TLS: TLSv1\.3, TLS_[A-Z0-9_]+, certificate verified with --cacert {re.escape(self.cert)}")

    def test_k_skips_the_check(self):
        server = self.server()
        for flag in ("-k", "--insecure"):
            r = h.run_client("localhost", server.port, "--http2", "--tls", flag, "--requests", "1")
            self.assertEqual(r.returncode, h.EX_OK, r.stdout + r.stderr)
            ex = h.one(self, h.json_events(self, r.stdout), "http2_exchanged")
            self.assertEqual((ex["tls"]["alpn"], ex["tls"]["verification"]), ("h2", "not verified (-k)"))
            self.assertEqual(ex["answers"][0]["status"], 200)

    def test_an_untrusted_certificate_stops_before_any_request(self):
        server = self.server()
        port = server.port
        r = h.run_client("localhost", port, "--http2", "--tls")
        self.assertEqual(r.returncode, h.EX_NOPERM, r.stdout + r.stderr)
        events = h.json_events(self, r.stdout)
        self.assertEqual(h.of(events, "http2_exchanged"), [])
        connected = h.one(self, events, "connected")
        self.assertEqual(connected["server_view_problem"], "TLS: self-signed certificate")
        failed = h.one(self, events, "http2_failed")
        self.assertEqual((failed["code"], failed["exit_code"], failed["proto"]), ("certificate", h.EX_NOPERM, "tcp"))
        self.assertEqual((failed["local"], failed["remote"]), (connected["local"], connected["remote"]))
        self.assertEqual(failed["detail"], "self-signed certificate")
        self.assertEqual(failed["explanation"], paragraph(
            "the server's certificate for localhost is not trusted: it is self-signed and not in this host's "
            "trust store; no request was sent.",
            "https:// is HTTP inside TLS, and demo-client checks the certificate as curl and browsers do. "
            f"This one is CN=localhost,O=portdemo (issued by itself, SHA-256 {fingerprint_half(self.cert)}).",
            [("trust that server's own certificate: save it with", "demo-server --save-cert FILE"),
             ("and give it here:", f"demo-client --http2 --tls --cacert FILE localhost {port}"),
             ("or skip the check, like curl -k:", f"demo-client --http2 --tls -k localhost {port}")]))
        # No stream reached the server: it saw a TLS handshake end in an alert, no request.
        r = h.run_client("localhost", port, "--http2", "--tls", fmt="text")
        self.assertEqual(r.returncode, h.EX_NOPERM)
        self.assertEqual(r.stderr, "")
        h.assert_text_lines(self, r.stdout)
        text = h.flat(r.stdout)
        self.assertIn(f"failed 127.0.0.1:{port} HTTP/2 over TLS: self-signed certificate", text)
        self.assertIn(f"or skip the check, like curl -k: demo-client --http2 --tls -k localhost {port}", text)
        server.terminate()
        server.read_rest()
        self.assertEqual([e for e in server.events() if e["event"] == "http_request"], [])

    def test_a_name_the_certificate_lacks_fails(self):
        key, cert = make_certificate(self.dir, "elsewhere", subject="/CN=elsewhere",
                                     names="DNS:elsewhere.example")
        server = h.start_server(self, "--ports", "0", "--tls", "0", "--cert", cert, "--key", key)
        r = h.run_client("localhost", server.port, "--http2", "--tls", "--cacert", cert)
        self.assertEqual(r.returncode, h.EX_NOPERM, r.stdout + r.stderr)
        failed = h.one(self, h.json_events(self, r.stdout), "http2_failed")
        self.assertEqual(failed["code"], "certificate")
        port = server.port
        self.assertEqual(failed["explanation"], paragraph(
            "the server's certificate for localhost is not trusted: it does not name localhost (it names "
            "elsewhere.example); no request was sent.",
            "https:// is HTTP inside TLS, and demo-client checks the certificate as curl and browsers do. "
            f"This one is CN=elsewhere (issued by itself, SHA-256 {fingerprint_half(cert)}).",
            [("dial it by a name the certificate holds:",
              f"demo-client --http2 --tls --cacert {cert} elsewhere.example {port}"),
             ("or skip the check, like curl -k:", f"demo-client --http2 --tls -k localhost {port}")]))

    def test_another_certificate_in_cacert_fails(self):
        _, other = make_certificate(self.dir, "other", subject="/CN=other")
        server = self.server()
        r = h.run_client("127.0.0.1", server.port, "--http2", "--tls", "--cacert", other)
        self.assertEqual(r.returncode, h.EX_NOPERM, r.stdout + r.stderr)
        failed = h.one(self, h.json_events(self, r.stdout), "http2_failed")
        self.assertTrue(failed["explanation"].startswith(
            f"the server's certificate for 127.0.0.1 is not trusted: it is self-signed and not in --cacert "
            f"{other}; no request was sent."), failed["explanation"])

    def test_a_port_that_does_not_speak_tls(self):
        # Something that talks first in plain bytes, as an SSH server does.
        port = h.serve_once(self, b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
        r = h.run_client("127.0.0.1", port, "--http2", "--tls")
        self.assertEqual(r.returncode, h.EX_UNAVAILABLE, r.stdout + r.stderr)
        failed = h.one(self, h.json_events(self, r.stdout), "http2_failed")
        self.assertEqual((failed["code"], failed["exit_code"]), ("not_tls", h.EX_UNAVAILABLE))
        self.assertEqual(failed["explanation"], paragraph(
            f"127.0.0.1:{port} does not speak TLS: its first answer was not a TLS record ({failed['detail']}).",
            "The TCP connection was made, so something listens on the port, but it expects plain bytes: a port "
            "serves TLS only where the server says so (demo-server: 443, 8443 or --tls).",
            [("ask it in the clear (h2c):", f"demo-client --http2 127.0.0.1 {port}")]))

    def silent_listener(self, close_at_once):
        """A listener that takes one connection and closes it at once, or says nothing to it."""
        listener = h.listen_on(self)
        stop = threading.Event()
        self.addCleanup(stop.set)
        def serve():
            c, _ = listener.accept()
            if not close_at_once:
                stop.wait(h.EVENT_WAIT)
            c.close()
        threading.Thread(target=serve, daemon=True).start()
        return listener.getsockname()[1]

    def test_a_server_that_closes_during_the_handshake(self):
        port = self.silent_listener(close_at_once=True)
        r = h.run_client("127.0.0.1", port, "--http2", "--tls")
        self.assertEqual(r.returncode, h.EX_UNAVAILABLE, r.stdout + r.stderr)
        failed = h.one(self, h.json_events(self, r.stdout), "http2_failed")
        self.assertEqual((failed["code"], failed["exit_code"]), ("closed", h.EX_UNAVAILABLE))
        self.assertIn(failed["detail"], ("the server closed the connection during the handshake (FIN)",
                                         "the server closed the connection during the handshake (RST)"))
        how = failed["detail"][-4:-1]
        self.assertTrue(failed["explanation"].startswith(
            f"127.0.0.1:{port} closed the connection during the TLS handshake ({how}), before any request."),
            failed["explanation"])

    def test_a_server_that_never_answers_the_client_hello(self):
        port = self.silent_listener(close_at_once=False)
        started = time.monotonic()
        r = h.run_client("127.0.0.1", port, "--http2", "--tls", "--timeout", "0.5")
        self.assertLess(time.monotonic() - started, h.CLIENT_WAIT)
        self.assertEqual(r.returncode, h.EX_TEMPFAIL, r.stdout + r.stderr)
        failed = h.one(self, h.json_events(self, r.stdout), "http2_failed")
        self.assertEqual((failed["code"], failed["detail"], failed["exit_code"]),
                         ("timeout", "no TLS answer within 0.5 s", h.EX_TEMPFAIL))
        self.assertEqual(failed["explanation"], paragraph(
            f"no TLS answer from 127.0.0.1:{port} within 0.5 s: the TCP connection was accepted, but nothing came "
            "back to our ClientHello.",
            "The port's listener took the connection, so something serves it; a TLS server answers a ClientHello "
            "at once, so this one waits for other bytes (a plain-text protocol whose client speaks first) or is "
            "stuck.",
            [("ask it in the clear (h2c):", f"demo-client --http2 127.0.0.1 {port}"),
             ("or wait longer:", "--timeout SECONDS")]))

    def test_a_tls_server_without_h2(self):
        # openssl's own test server, choosing http/1.1 in ALPN: TLS works, HTTP/2 is not offered.
        port = h.free_port()
        key, cert = make_certificate(self.dir, "s_server")
        proc = h.Proc(self, ["openssl", "s_server", "-quiet", "-www", "-accept", f"127.0.0.1:{port}",
                             "-cert", cert, "-key", key, "-alpn", "http/1.1"])
        deadline = time.monotonic() + h.START_WAIT
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                self.assertTrue(proc.running() and time.monotonic() < deadline, "openssl s_server did not listen")
                time.sleep(0.05)
        r = h.run_client("localhost", port, "--http2", "--tls", "--cacert", cert)
        self.assertEqual(r.returncode, h.EX_UNAVAILABLE, r.stdout + r.stderr)
        failed = h.one(self, h.json_events(self, r.stdout), "http2_failed")
        self.assertEqual((failed["code"], failed["detail"]), ("alpn", "the server chose http/1.1"))
        self.assertTrue(failed["explanation"].startswith(
            f'127.0.0.1:{port} speaks TLS but not HTTP/2: its ALPN answer was "http/1.1" (we offered "h2" and '
            f'"http/1.1").'), failed["explanation"])

    def test_nginx_over_tls_and_in_the_clear_sees_the_one_port_too(self):
        # A server no one here wrote: nginx (Debian's 1.22, `listen ... ssl http2` and h2c by
        # prior knowledge), answering each request with the client's address and port as it
        # sees them. It is not a demo-server, so the client says so, quoting nginx's first
        # answer: its words name this end's port, as the kernel gave it to the client.
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
        if nginx is None:
            self.skipTest("nginx is not installed (scripts/install-deps.sh installs it)")
        key, cert = make_certificate(self.dir, "nginx")
        tls_port, plain_port = h.free_port(), h.free_port()
        while plain_port == tls_port:
            plain_port = h.free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""daemon off;
master_process off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {self.dir}/body;
  proxy_temp_path {self.dir}/proxy;
  fastcgi_temp_path {self.dir}/fastcgi;
  uwsgi_temp_path {self.dir}/uwsgi;
  scgi_temp_path {self.dir}/scgi;
  server {{
    listen 127.0.0.1:{tls_port} ssl http2;
    listen 127.0.0.1:{plain_port} http2;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    default_type text/plain;
    location / {{ return 200 "$remote_addr:$remote_port -> $server_addr:$server_port $scheme\\n"; }}
  }}
}}
""")
        proc = h.Proc(self, [nginx, "-e", os.path.join(self.dir, "error.log"), "-p", self.dir, "-c", conf])
        deadline = time.monotonic() + h.START_WAIT
        for port in (tls_port, plain_port):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    self.assertTrue(proc.running() and time.monotonic() < deadline,
                                    f"nginx did not listen: {proc.stderr()!r}")
                    time.sleep(0.05)
        for port, args, scheme in ((tls_port, ["--tls", "--cacert", cert], "https"), (plain_port, [], "http")):
            r = h.run_client("localhost", port, "--http2", *args, "--requests", "3")
            self.assertEqual(r.returncode, h.EX_OK, r.stdout + r.stderr)
            events = h.json_events(self, r.stdout)
            connected = h.one(self, events, "connected")
            self.assertIsNone(connected["server_view"])
            ex = h.one(self, events, "http2_exchanged")
            self.assertEqual([a["stream"] for a in ex["answers"]], [1, 3, 5])
            self.assertEqual([a["status"] for a in ex["answers"]], [200, 200, 200])
            mine = connected["local"]["port"]
            self.assertEqual(ex["problem"],
                             f'the server answered over HTTP/2, but not as demo-server does (status 200: '
                             f'"127.0.0.1:{mine} -> 127.0.0.1:{port} {scheme}")')
            if args:
                self.assertEqual((ex["tls"]["alpn"], ex["tls"]["verification"]), ("h2", f"verified with --cacert {cert}"))
            else:
                self.assertIsNone(ex["tls"])

    def test_bad_combinations_exit_64(self):
        for args, message in (
                (["--tls"], "--tls puts HTTP/2 inside TLS, as https:// does: it needs --http2 "
                            "(demo-client --http2 --tls HOST PORT)"),
                (["--http3", "--tls"], "--tls is for --http2 (HTTP/2 inside TLS on TCP); HTTP/3 runs inside TLS "
                                       "already: leave out --tls"),
                (["--http2", "-k"], "--cacert and -k/--insecure concern the server's TLS certificate: they need "
                                    "--http3 or --http2 --tls"),
                (["--http2", "--tls", "-k", "--cacert", "/etc/hostname"],
                 "--cacert FILE verifies the server's certificate and -k/--insecure does not: give one of them")):
            r = h.run_client("127.0.0.1", 9, *args, fmt=None)
            self.assertEqual(r.returncode, h.EX_USAGE, (args, r.stderr))
            self.assertIn(message, r.stderr, args)
            self.assertEqual(r.stdout, "", args)


class Http2Limits(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def connect(self, server, *frames):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=h.EVENT_WAIT)
        self.addCleanup(s.close)
        s.sendall(PREFACE + settings() + b"".join(frames))
        return s

    def test_idle_connection_gets_goaway_then_close(self):
        server = h.start_server(self, "--ports", "0", "--keep-alive-timeout", "300ms")
        s = self.connect(server)
        frames, closed = read_frames(s, lambda k, *_: k == GOAWAY)
        self.assertEqual(goaway_of(frames), 0, "NO_ERROR")
        limit = server.wait_event("limit", limit="keep_alive_timeout")
        self.assertEqual(limit["limit_ms"], 300)
        done = server.wait_event("http2_closed", id=limit["id"])
        self.assertEqual((done["reason"], done["requests"]), ("idle", 0))
        _, closed = read_frames(s, lambda *_: False)
        self.assertTrue(closed)

    def test_header_block_never_finished_times_out(self):
        server = h.start_server(self, "--ports", "0", "--request-timeout", "300ms")
        # HEADERS without END_HEADERS: a CONTINUATION must follow, and never does.
        s = self.connect(server, frame(HEADERS, END_STREAM, 1, get_block()))
        frames, _ = read_frames(s, lambda k, *_: k == GOAWAY)
        self.assertIsNotNone(goaway_of(frames))
        limit = server.wait_event("limit", limit="request_timeout")
        self.assertEqual(limit["limit_ms"], 300)
        done = server.wait_event("http2_closed", id=limit["id"])
        self.assertEqual(done["reason"], "timed out")

    def test_client_that_never_opens_its_window_is_cut_by_the_write_timeout(self):
        server = h.start_server(self, "--ports", "0", "--write-timeout", "300ms")
        s = socket.create_connection(("127.0.0.1", server.port), timeout=h.EVENT_WAIT)
        self.addCleanup(s.close)
        s.sendall(PREFACE + settings(initial_window_size=0) + frame(SETTINGS, ACK, 0)
                  + frame(HEADERS, END_STREAM | END_HEADERS, 1, get_block()))
        frames, _ = read_frames(s, lambda k, *_: k == GOAWAY)
        self.assertFalse([f for f in frames if f[0] == DATA], "no DATA with a window of 0")
        self.assertIn(HEADERS, [f[0] for f in frames], "the response's head is not flow-controlled")
        limit = server.wait_event("limit", limit="write_timeout")
        self.assertEqual(limit["limit_ms"], 300)
        done = server.wait_event("http2_closed", id=limit["id"])
        self.assertEqual(done["reason"], "timed out")

    def test_broken_frames_after_the_preface(self):
        server = h.start_server(self)
        s = socket.create_connection(("127.0.0.1", server.port), timeout=h.EVENT_WAIT)
        self.addCleanup(s.close)
        s.sendall(PREFACE + b"\x00\x00\x04\x04\x00\x00\x00\x00\x01garbage garbage garbage")
        frames, _ = read_frames(s, lambda k, *_: k == GOAWAY)
        self.assertNotEqual(goaway_of(frames), 0, "an error code, not NO_ERROR")
        done = server.wait_event("http2_closed")
        self.assertTrue(done["reason"].startswith("protocol error: "), done)
        # The server goes on: the next client is answered.
        r = h.run([CURL, "-sS", "--http2-prior-knowledge", f"http://127.0.0.1:{server.port}/json"])
        self.assertEqual(json.loads(r.stdout)["protocol"], "HTTP/2")

    def test_the_preface_in_pieces(self):
        server = h.start_server(self)
        s = socket.create_connection(("127.0.0.1", server.port), timeout=h.EVENT_WAIT)
        self.addCleanup(s.close)
        for piece in (PREFACE[:3], PREFACE[3:17], PREFACE[17:]):
            s.sendall(piece)
            time.sleep(0.05)
        s.sendall(settings() + frame(HEADERS, END_STREAM | END_HEADERS, 1, get_block()))
        frames, _ = read_frames(s, lambda k, f, st, p: k == DATA and st == 1 and f & END_STREAM)
        body = b"".join(p for k, _, st, p in frames if k == DATA and st == 1)
        view = json.loads(body)
        self.assertEqual((view["protocol"], view["stream"]), ("HTTP/2", 1))
        self.assertEqual(view["remote"]["port"], s.getsockname()[1])

    def test_shutdown_says_goaway_to_an_idle_connection(self):
        server = h.start_server(self)
        s = self.connect(server, frame(HEADERS, END_STREAM | END_HEADERS, 1, get_block()))
        read_frames(s, lambda k, f, st, p: k == DATA and f & END_STREAM)
        server.popen.send_signal(signal.SIGTERM)
        frames, _ = read_frames(s, lambda k, *_: k == GOAWAY)
        self.assertEqual(goaway_of(frames), 0)
        self.assertEqual(server.wait(), 0)
        server.read_rest()
        done = h.one(self, server.events(), "http2_closed")
        self.assertEqual((done["reason"], done["requests"]), ("server stopping", 1))
        self.assertEqual(h.of(server.events(), "limit"), [], "closed at once, not cut at the grace's end")


if __name__ == "__main__":
    unittest.main()
