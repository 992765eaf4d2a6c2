"""HTTP/3 over QUIC (--quic) over real UDP sockets on loopback: Debian's gtlsclient (ngtcp2's
example client, built with GnuTLS) and headless Chromium fetch the server's pages over QUIC on
the UDP port with the TLS port's number. Both ends' tuples are compared (gtlsclient prints its
own socket's address with each packet it sends), the QUIC connection's IDs in the page are the
ones the log named, a client that changes its port (NAT rebinding) keeps its connection, and the
failure paths (a --quic port that speaks no TLS, the UDP port taken, garbage, a silent client,
shutdown with a connection open, the connection cap) end as they should."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import harness as h

GTLSCLIENT = "/usr/bin/gtlsclient"
CHROMIUM = "/usr/bin/chromium"
QUIC_WAIT = 15.0     # a whole gtlsclient run
BROWSER_WAIT = 60.0  # a whole chromium run

# gtlsclient's own socket, as it prints it with every packet it sends (without -q).
SENT = re.compile(r"^Sent packet: local=\[([^\]]+)\]:(\d+) remote=\[([^\]]+)\]:(\d+)", re.M)
MOVED = re.compile(r"^Local address is now \[([^\]]+)\]:(\d+)", re.M)


def require_gtlsclient(case):
    h.require_binaries(case)
    if not os.access(GTLSCLIENT, os.X_OK):
        raise unittest.SkipTest(f"Debian's gtlsclient is not installed at {GTLSCLIENT} (apt-get install "
                                f"ngtcp2-client)")


def url(address, port, path):
    host = f"[{address}]" if ":" in address else address
    return f"https://{host}:{port}{path}"


class Http3Base(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        require_gtlsclient(cls)

    def quic_server(self, *extra, fmt="json"):
        """A server with one TLS port chosen by the kernel and HTTP/3 beside it."""
        server = h.start_server(self, "--ports", "0", "--tls", "0", "--quic", *extra, fmt=fmt)
        return server

    def download_dir(self):
        d = tempfile.mkdtemp(prefix="portdemo-h3-")
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def gtlsclient(self, address, port, paths, *options, quiet=False):
        """Runs gtlsclient to its end (bounded): the answers are saved in a directory of their own
        (--download, named for each path's last part). Returns (result, directory)."""
        d = self.download_dir()
        argv = [GTLSCLIENT, "--exit-on-all-streams-close", f"--download={d}"]
        argv += ["-q"] if quiet else ["--no-quic-dump", "--no-http-dump"]
        argv += list(options) + [address, str(port)] + [url(address, port, p) for p in paths]
        result = h.run(argv, timeout=QUIC_WAIT)
        self.assertEqual(result.returncode, 0, f"{argv!r}: {result.stderr[-3000:]}")
        return result, d

    def client_end(self, output):
        """gtlsclient's own socket, from the packets it says it sent: (address, port), and the
        server end it sent them to."""
        sent = SENT.findall(output)
        self.assertTrue(sent, f"gtlsclient printed no packet it sent: {output[-2000:]}")
        first = sent[0]
        return (first[0], int(first[1])), (first[2], int(first[3]))

    def read_json(self, directory, name="json"):
        with open(os.path.join(directory, name)) as f:
            return json.loads(f.read())


class Http3Requests(Http3Base):
    def check_one_connection(self, address):
        server = self.quic_server()
        port = server.port
        quic_listeners = [e for e in h.of(server.events(), "listening") if e["proto"] == "udp"]
        self.assertIn(h.ep(address, port), [e["local"] for e in quic_listeners])
        # The ready event names the QUIC ports apart from --udp's bare-datagram ones.
        self.assertEqual((server.ready["tls_ports"], server.ready["udp_ports"], server.ready["quic_ports"]),
                         ([port], [], [port]))
        for e in quic_listeners:
            self.assertEqual((e["requested_port"], e["tls"], e["service"]), (0, True, "HTTP/3 over QUIC"), e)
        # Three requests in one gtlsclient run: one QUIC connection, the client's streams 0, 4, 8.
        result, d = self.gtlsclient(address, port, ["/json", "/", "/missing"])
        client, server_end = self.client_end(result.stdout + result.stderr)
        self.assertEqual(server_end, (address, port))
        connected = server.wait_event("quic_connected")
        requests = [server.wait_event("http_request") for _ in range(3)]
        closed = server.wait_event("quic_closed")

        # The two ends' tuples, mirrored: the kernel's word on both sides.
        self.assertEqual(connected["local"], h.ep(address, port))
        self.assertEqual(connected["remote"], h.ep(*client))
        self.assertRegex(connected["server_cid"], r"^[0-9a-f]{36}$")
        self.assertRegex(connected["client_cid"], r"^([0-9a-f]{2}){8,20}$")
        self.assertEqual((connected["version"], connected["alpn"]), ("0x00000001", "h3"))
        self.assertEqual([(r["path"], r["status"], r["stream"], r["request"]) for r in requests],
                         [("/json", 200, 0, 1), ("/", 200, 4, 2), ("/missing", 404, 8, 3)])
        for r in requests:
            self.assertEqual((r["id"], r["local"], r["remote"], r["protocol"], r["tls"], r["method"]),
                             (connected["id"], h.ep(address, port), h.ep(*client), "HTTP/3", "TLSv1.3", "GET"), r)
        self.assertEqual((closed["id"], closed["requests"], closed["migrations"], closed["reason"]),
                         (connected["id"], 3, 0, "closed by the client"))
        self.assertEqual(closed["remote"], h.ep(*client))

        view = self.read_json(d)
        self.assertEqual(view["proto"], "udp")
        self.assertEqual(view["protocol"], "HTTP/3")
        self.assertEqual((view["id"], view["request"], view["reused"], view["stream"]), (connected["id"], 1, False, 0))
        self.assertEqual(view["local"], h.ep(address, port))
        self.assertEqual(view["remote"], h.ep(*client))
        self.assertEqual(view["in_ephemeral_range"], h.in_ephemeral_range(client[1]))
        self.assertEqual(view["tls"]["version"], "TLSv1.3")
        self.assertTrue(view["tls"]["cipher"].startswith("TLS_"), view["tls"])
        self.assertEqual(view["quic"], {"client_cid": connected["client_cid"], "server_cid": connected["server_cid"],
                                        "version": "0x00000001", "migrations": 0, "first_remote": None})
        # The page (plain text for a client that asks for no HTML) names the same connection.
        with open(os.path.join(d, "index.html")) as f:
            text = f.read()
        self.assertIn(f"portdemo: your connection #{connected['id']}, request 2 on it (HTTP/3, stream 4)", text)
        self.assertIn(f"QUIC connection IDs: yours {connected['client_cid']}, the server's {connected['server_cid']}",
                      text)
        self.assertTrue(os.path.exists(os.path.join(d, "missing")))
        self.assertEqual(server.terminate(), h.EX_OK)
        # The summary counts the QUIC connection on its UDP port, beside the TCP port's none.
        summary = json.loads(server.read_rest()[-1])
        self.assertEqual((summary["event"], summary["connections"], summary["distinct_client_ports"]),
                         ("summary", 1, 1))
        self.assertEqual(summary["per_port"], [{"port": port, "connections": 0},
                                               {"port": port, "proto": "quic", "connections": 1}])

    def test_three_requests_on_one_connection_ipv4(self):
        self.check_one_connection("127.0.0.1")

    def test_three_requests_on_one_connection_ipv6(self):
        h.require_ipv6(self)
        self.check_one_connection("::1")

    def test_each_run_is_a_new_connection_with_new_ids(self):
        server = self.quic_server()
        ids = []
        for _ in range(2):
            result, d = self.gtlsclient("127.0.0.1", server.port, ["/json"], quiet=True)
            ids.append(self.read_json(d)["quic"])
        first = server.wait_event("quic_connected")
        second = server.wait_event("quic_connected")
        self.assertNotEqual(first["id"], second["id"])
        self.assertNotEqual(ids[0]["server_cid"], ids[1]["server_cid"])
        self.assertEqual([ids[0]["server_cid"], ids[1]["server_cid"]], [first["server_cid"], second["server_cid"]])

    def test_text_log(self):
        server = self.quic_server(fmt="text")
        port = server.port
        result, _ = self.gtlsclient("127.0.0.1", port, ["/json"])
        client, _ = self.client_end(result.stdout + result.stderr)
        closed = server.wait_line(lambda l: "QUIC connection closed" in l, what="the closed line")
        text = "".join(server.lines)
        h.assert_text_lines(self, text)
        self.assertIn(f"#1 QUIC  127.0.0.1:{port} <- 127.0.0.1:{client[1]} (UDP)\n", text)
        self.assertIn(f"  #1 GET /json -> 200  127.0.0.1:{port} <- 127.0.0.1:{client[1]}\n"
                      f"    (request 1 on this QUIC connection, HTTP/3 stream 0, TLSv1.3)\n", text)
        self.assertEqual(closed, "  #1 QUIC connection closed (closed by the client): 1 request, 0 port changes\n")
        listening = [l for l in server.lines if l.startswith("listening  127.0.0.1:")]
        self.assertEqual(len(listening), 2, text)
        self.assertIn(f"  HTTP/3: demo-client --http3 -k localhost {port}  (QUIC on UDP port {port})\n", text)
        self.assertEqual(server.terminate(), h.EX_OK)
        rest = "".join(server.read_rest())
        self.assertIn(f"summary: 1 connection; port {port}: 0, UDP port {port} (QUIC): 1\n", rest)
        self.assertIn("UDP, registered port, HTTP/3 over QUIC, chosen by the kernel (port 0)", h.flat(text))

    def test_alt_svc_offers_http3_on_the_tls_port_only_with_quic(self):
        if shutil.which("curl") is None:
            self.skipTest("curl is not installed")
        server = self.quic_server()
        r = h.run(["curl", "-sS", "-k", "--noproxy", "*", "--max-time", "5", "-D", "-", "-o", "/dev/null",
                   f"https://127.0.0.1:{server.port}/json"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f'alt-svc: h3=":{server.port}"; ma=3600\n', r.stdout.lower())
        plain = h.start_server(self, "--ports", "0", "--tls", "0")
        r = h.run(["curl", "-sS", "-k", "--noproxy", "*", "--max-time", "5", "-D", "-", "-o", "/dev/null",
                   f"https://127.0.0.1:{plain.port}/json"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("alt-svc", r.stdout.lower())

    def test_a_certificate_from_files_serves_quic_too(self):
        """--cert and --key (an RSA key from openssl, as an administrator would bring): QUIC's
        GnuTLS presents the same certificate as the TCP port's OpenSSL."""
        if shutil.which("openssl") is None:
            self.skipTest("openssl is not installed")
        d = self.download_dir()
        cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
        r = h.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "1",
                   "-keyout", key, "-out", cert])
        self.assertEqual(r.returncode, 0, r.stderr)
        server = self.quic_server("--cert", cert, "--key", key, "--bind", "127.0.0.1")
        self.assertEqual(h.one(self, server.events(), "tls_certificate")["source"], cert)
        result, out = self.gtlsclient("127.0.0.1", server.port, ["/json"])
        self.assertEqual(self.read_json(out)["protocol"], "HTTP/3")

    def test_quic_on_the_default_https_port_number_only(self):
        """--quic PORT beside another TLS port: only that number gets a UDP socket."""
        server = h.start_server(self, "--ports", "0,0", "--tls", "0", "--quic", "0", "--bind", "127.0.0.1")
        udp = [e["local"]["port"] for e in h.of(server.events(), "listening") if e["proto"] == "udp"]
        tcp = [e["local"]["port"] for e in h.of(server.events(), "listening") if e["proto"] == "tcp"]
        self.assertEqual(len(tcp), 2)
        self.assertEqual(sorted(udp), sorted(tcp), "every TLS port asked as 0 gets its UDP twin")
        self.assertEqual(server.ready["listening"], 4)


class Http3Migration(Http3Base):
    def test_nat_rebinding_keeps_the_connection(self):
        """gtlsclient moves to a new local port 300 ms after the handshake, as a NAT rebinding
        would (no path validation of its own), and sends its request 800 ms after it: the server
        logs the move with both tuples, answers on the new path, and the answer says it moved."""
        server = self.quic_server()
        port = server.port
        result, d = self.gtlsclient("127.0.0.1", port, ["/json"], "--change-local-addr=300ms", "--nat-rebinding",
                                    "--delay-stream=800ms")
        output = result.stdout + result.stderr
        before, _ = self.client_end(output)
        moved = MOVED.findall(output)
        self.assertEqual(len(moved), 1, output[-2000:])
        after = (moved[0][0], int(moved[0][1]))
        self.assertNotEqual(before[1], after[1], "gtlsclient's port did not change")
        connected = server.wait_event("quic_connected")
        migrated = server.wait_event("quic_migrated")
        request = server.wait_event("http_request")
        closed = server.wait_event("quic_closed")
        here = h.ep("127.0.0.1", port)
        self.assertEqual(connected["remote"], h.ep(*before))
        self.assertEqual(migrated, {"event": "quic_migrated", "proto": "udp", "id": connected["id"],
                                    "from": {"local": here, "remote": h.ep(*before)},
                                    "to": {"local": here, "remote": h.ep(*after)},
                                    "server_cid": connected["server_cid"], "migrations": 1,
                                    "address_changed": False, "port_changed": True})
        self.assertEqual((request["id"], request["remote"], request["status"]), (connected["id"], h.ep(*after), 200))
        self.assertEqual((closed["migrations"], closed["remote"], closed["reason"]),
                         (1, h.ep(*after), "closed by the client"))
        view = self.read_json(d)
        self.assertEqual(view["remote"], h.ep(*after))
        self.assertEqual(view["quic"]["migrations"], 1)
        self.assertEqual(view["quic"]["first_remote"], h.ep(*before))
        self.assertEqual(view["quic"]["server_cid"], connected["server_cid"])

    def test_text_names_both_tuples(self):
        server = self.quic_server(fmt="text")
        result, _ = self.gtlsclient("127.0.0.1", server.port, ["/json"], "--change-local-addr=300ms",
                                    "--nat-rebinding", "--delay-stream=800ms")
        output = result.stdout + result.stderr
        before, _ = self.client_end(output)
        after = int(MOVED.findall(output)[0][1])
        server.wait_line(lambda l: "QUIC connection closed" in l, what="the closed line")
        text = h.flat("".join(server.lines))
        self.assertIn(f"#1 QUIC connection moved: the client's port changed, 127.0.0.1:{before[1]} -> "
                      f"127.0.0.1:{after} (change 1), and connection", text)
        self.assertIn("1 request, 1 port change", text)


class Http3Failures(Http3Base):
    def test_quic_port_that_is_not_a_tls_port_exits_64(self):
        r = h.run([h.SERVER, "--ports", "0,8443", "--quic", "0"])
        self.assertEqual(r.returncode, h.EX_USAGE, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr, "demo-server: --quic 0: not one of the TLS ports served (TLS ports: 8443); "
                                   "name ports that --ports serves and that speak HTTPS (443, 8443, or --tls)\n")

    def test_quic_without_any_tls_port_exits_64(self):
        r = h.run([h.SERVER, "--ports", "0", "--quic"])
        self.assertEqual(r.returncode, h.EX_USAGE, r.stderr)
        self.assertEqual(r.stderr, "demo-server: --quic: no TLS port is served (--ports 0); serve 443 or 8443, "
                                   "or name a port with --tls\n")

    def test_quic_port_not_served_at_all_exits_64(self):
        r = h.run([h.SERVER, "--ports", "0", "--tls", "0", "--quic", "8443"])
        self.assertEqual(r.returncode, h.EX_USAGE, r.stderr)
        self.assertEqual(r.stderr, "demo-server: --quic 8443: not one of the TLS ports served (TLS ports: 0); "
                                   "name ports that --ports serves and that speak HTTPS (443, 8443, or --tls)\n")

    def test_udp_port_taken_is_reported_and_tcp_serves_without_alt_svc(self):
        holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(holder.close)
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                self.skipTest(f"TCP port {port} is taken too")
        server = h.start_server(self, "--ports", str(port), "--tls", str(port), "--quic", "--bind", "127.0.0.1")
        self.assertEqual(server.ready, {"event": "ready", "listening": 1, "failed": 1, "ports": [port],
                                        "tls_ports": [port], "udp_ports": [], "quic_ports": []})
        failed = h.one(self, server.events(), "bind_failed")
        self.assertEqual((failed["proto"], failed["local"], failed["step"], failed["errno"]),
                         ("udp", h.ep("127.0.0.1", port), "bind", "EADDRINUSE"))
        self.assertEqual([e["proto"] for e in h.of(server.events(), "listening")], ["tcp"])
        if shutil.which("curl"):
            r = h.run(["curl", "-sS", "-k", "--noproxy", "*", "--max-time", "5", "-D", "-", "-o", "/dev/null",
                       f"https://127.0.0.1:{port}/json"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn("alt-svc", r.stdout.lower(), "HTTP/3 offered on a UDP port the server does not hold")

    def test_udp_port_taken_with_strict_exits(self):
        holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(holder.close)
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        server = h.start_server(self, "--ports", str(port), "--tls", str(port), "--quic", "--bind", "127.0.0.1",
                                "--strict")
        self.assertEqual(server.ready["listening"], 0)
        self.assertEqual(server.wait(), h.EX_UNAVAILABLE, server.stderr())

    def test_garbage_datagrams_do_not_stop_the_server(self):
        server = self.quic_server("--bind", "127.0.0.1")
        port = server.port
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.settimeout(h.EVENT_WAIT)
        junk = [b"", b"\x00", b"GET / HTTP/1.1\r\n\r\n", b"\x00" + os.urandom(1199), b"\x40" + os.urandom(40),
                # A long header claiming an Initial of QUIC v1, too short to be one (under 1200 bytes).
                b"\xc0\x00\x00\x00\x01\x08" + os.urandom(8) + b"\x00" + os.urandom(30),
                # Garbage behind a valid-looking Initial header of the full size.
                b"\xc0\x00\x00\x00\x01\x08" + os.urandom(8) + b"\x00\x00\x44\xd0" + os.urandom(1200)]
        for datagram in junk:
            s.sendto(datagram, ("127.0.0.1", port))
        # A version the server does not speak: Version Negotiation names QUIC v1.
        dcid, scid = os.urandom(8), os.urandom(8)
        s.sendto(b"\xc0\x0a\x0a\x0a\x0a\x08" + dcid + b"\x08" + scid + os.urandom(1200 - 23), ("127.0.0.1", port))
        reply, _ = s.recvfrom(2048)
        self.assertEqual(reply[0] & 0x80, 0x80, "not a long header")
        self.assertEqual(reply[1:5], b"\x00\x00\x00\x00", "not Version Negotiation")
        # Its destination is our source ID, its source our destination (RFC 9000 17.2.1).
        self.assertEqual(reply[5:6 + 8 + 1 + 8], b"\x08" + scid + b"\x08" + dcid)
        versions = [reply[i:i + 4] for i in range(6 + 8 + 1 + 8, len(reply), 4)]
        self.assertIn(b"\x00\x00\x00\x01", versions)
        # The next client is served as if nothing had happened.
        _, d = self.gtlsclient("127.0.0.1", port, ["/json"], quiet=True)
        self.assertEqual(self.read_json(d)["protocol"], "HTTP/3")
        self.assertTrue(server.running())
        self.assertEqual(h.of(server.events(), "quic_closed"), [], "garbage made a connection")

    def test_a_silent_client_is_closed_by_the_idle_timeout(self):
        server = self.quic_server("--keep-alive-timeout", "1s")
        d = self.download_dir()
        client = h.Proc(self, [GTLSCLIENT, "-q", "--timeout=60s", f"--download={d}", "127.0.0.1", str(server.port),
                               url("127.0.0.1", server.port, "/json")])
        connected = server.wait_event("quic_connected")
        server.wait_event("http_request")
        os.kill(client.pid, signal.SIGSTOP)  # silent: not one more datagram
        self.addCleanup(lambda: client.running() and os.kill(client.pid, signal.SIGCONT))
        start = time.monotonic()
        closed = server.wait_event("quic_closed", timeout=5.0)
        waited = time.monotonic() - start
        self.assertEqual((closed["id"], closed["reason"], closed["requests"]), (connected["id"], "idle", 1))
        self.assertLess(waited, 3.0)
        self.assertTrue(server.running())

    def test_shutdown_closes_an_open_connection(self):
        server = self.quic_server()
        client = h.Proc(self, [GTLSCLIENT, "-q", "--timeout=60s", "127.0.0.1", str(server.port),
                               url("127.0.0.1", server.port, "/json")])
        connected = server.wait_event("quic_connected")
        server.wait_event("http_request")
        start = time.monotonic()
        os.kill(server.pid, signal.SIGTERM)
        stopping = server.wait_event("stopping")
        self.assertEqual(stopping["open"], 1)
        closed = server.wait_event("quic_closed")
        self.assertEqual((closed["id"], closed["reason"], closed["requests"]), (connected["id"], "server stopping", 1))
        summary = server.wait_event("summary")
        self.assertEqual(summary["cut_at_shutdown"], 0)
        self.assertEqual(server.wait(), h.EX_OK, server.stderr())
        self.assertLess(time.monotonic() - start, 1.5, "the shutdown waited for an idle QUIC connection")
        # The client heard the CONNECTION_CLOSE and ended by itself.
        client.wait(timeout=5.0)

    def test_the_summary_peak_counts_quic_beside_tcp(self):
        # One TCP connection held open, two QUIC connections beside it: at most 3 at once.
        server = self.quic_server()
        held = h.Proc(self, [h.CLIENT, "--hold", "20", "127.0.0.1", str(server.port)])
        server.wait_event("accepted")
        quic = [h.Proc(self, [GTLSCLIENT, "-q", "--timeout=60s", "127.0.0.1", str(server.port),
                              url("127.0.0.1", server.port, "/json")]) for _ in range(2)]
        ids = {server.wait_event("quic_connected")["id"] for _ in quic}
        self.assertEqual(len(ids), 2)
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())
        summary = json.loads(server.read_rest()[-1])
        self.assertEqual((summary["event"], summary["peak_open"], summary["connections"]), ("summary", 3, 3))
        for p in quic:  # each heard the CONNECTION_CLOSE (the held TCP client sleeps on; cleanup ends it)
            p.wait(timeout=QUIC_WAIT)
        self.assertTrue(held.running())

    def test_a_connection_over_the_cap_is_refused(self):
        server = self.quic_server("--max-connections", "1")
        first = h.Proc(self, [GTLSCLIENT, "-q", "--timeout=60s", "127.0.0.1", str(server.port),
                              url("127.0.0.1", server.port, "/json")])
        server.wait_event("http_request")
        d = self.download_dir()
        r = h.run([GTLSCLIENT, "--no-http-dump", "--exit-on-all-streams-close", f"--download={d}", "127.0.0.1",
                   str(server.port), url("127.0.0.1", server.port, "/json")], timeout=QUIC_WAIT)
        # gtlsclient ends with 0 either way; what it received says why.
        self.assertIn("CONNECTION_CLOSE(0x1c) error_code=CONNECTION_REFUSED(0x2)", r.stdout + r.stderr)
        self.assertFalse(os.path.exists(os.path.join(d, "json")), "the second client was served over the cap")
        refused = server.wait_event("quic_closed")
        self.assertEqual((refused["requests"], refused["reason"]),
                         (0, "refused: 1 QUIC connections open (--max-connections)"))
        self.assertTrue(first.running())


class Http3Board(Http3Base):
    def wait_for_text(self, path, text, timeout=h.EVENT_WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(path):
                with open(path) as f:
                    got = f.read()
                if text in got:
                    return got
            time.sleep(0.02)
        raise AssertionError(f"{text!r} not in {path} within {timeout} s")

    def test_the_board_streams_over_http3_until_the_server_stops(self):
        # gtlsclient follows GET /events on stream 0 of its QUIC connection; what it downloads
        # is written as it comes, so the file shows the stream going on.
        server = self.quic_server()
        d = self.download_dir()
        events = os.path.join(d, "events")
        client = h.Proc(self, [GTLSCLIENT, "--no-quic-dump", "--no-http-dump", "--exit-on-all-streams-close",
                               "--timeout=60s", f"--download={d}", "127.0.0.1", str(server.port),
                               url("127.0.0.1", server.port, "/events")])
        own = server.wait_event("http_request", path="/events")
        self.assertEqual((own["protocol"], own["stream"], own["status"], own["note"]),
                         ("HTTP/3", 0, 200, "board subscriber"))
        first = self.wait_for_text(events, "event: snapshot\n")
        self.assertTrue(first.startswith("retry: 2000\n"), first[:200])
        # A TCP connection made now shows on the board, on the stream that stays open.
        r = h.run_client("127.0.0.1", server.port)
        self.assertEqual(r.returncode, h.EX_OK, r.stdout + r.stderr)
        mine = h.one(self, h.json_events(self, r.stdout), "connected")["local"]["port"]
        self.wait_for_text(events, f'"port":{mine}')
        self.assertTrue(client.running(), "the stream ended before the server stopped")
        # Stopping ends the stream with a note; the connection then closes, and gtlsclient ends.
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())
        rest = self.wait_for_text(events, 'event: note\ndata: {"code":"stopping","message":"the server is stopping"}')
        self.assertEqual(rest.count("event: snapshot"), 1)
        client.wait(timeout=QUIC_WAIT)
        server.read_rest()
        closed = [e for e in server.events() if e["event"] == "quic_closed"]
        # Whichever end closes first: the server once the stream is through, or gtlsclient once
        # its only stream has closed.
        self.assertEqual(len(closed), 1, closed)
        self.assertEqual(closed[0]["requests"], 1)
        self.assertIn(closed[0]["reason"], ("server stopping", "closed by the client"))
        summary = server.events()[-1]
        self.assertEqual((summary["event"], summary["cut_at_shutdown"]), ("summary", 0))


class Http3Browser(unittest.TestCase):
    """Headless Chromium forced onto QUIC for the server's origin (--origin-to-force-quic-on),
    trusting the server's certificate by its public key's SHA-256 (--ignore-certificate-errors-
    spki-list), as test_browser.py runs it otherwise."""
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)
        if not os.access(CHROMIUM, os.X_OK):
            raise unittest.SkipTest(f"Debian's chromium is not installed at {CHROMIUM}")
        if shutil.which("openssl") is None:
            raise unittest.SkipTest("openssl is not installed (to hash the certificate's public key)")

    def spki_hash(self, cert):
        key = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"], capture_output=True,
                             timeout=h.EXIT_WAIT, check=True).stdout
        der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=key, capture_output=True,
                             timeout=h.EXIT_WAIT, check=True).stdout
        import base64
        import hashlib
        return base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")

    def chromium(self, *args):
        import test_browser as tb
        profile = tempfile.mkdtemp(prefix="portdemo-chromium-")
        self.addCleanup(shutil.rmtree, profile, True)
        argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}"] + list(args)
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        with open(os.path.join(profile, "stderr.txt"), "w+b") as err:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, env=env,
                                    start_new_session=True)
            try:
                out, _ = proc.communicate(timeout=BROWSER_WAIT)
            except subprocess.TimeoutExpired:
                tb.end_session(proc.pid)
                proc.communicate(timeout=h.EXIT_WAIT)
                self.fail(f"chromium did not end within {BROWSER_WAIT} s: {argv!r}")
            finally:
                tb.end_session(proc.pid)
            err.seek(0)
            errors = err.read().decode("utf-8", "replace")[-2000:]
        self.assertEqual(proc.returncode, 0, f"chromium failed ({proc.returncode}): {errors}")
        return out.decode("utf-8", "replace")

    def quic_origin(self):
        """A server with a TLS port and QUIC beside it, and the flags that make Chromium use
        QUIC for its origin and trust its certificate: (server, origin, flags)."""
        tmp = tempfile.mkdtemp(prefix="portdemo-h3-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cert = os.path.join(tmp, "cert.pem")
        server = h.start_server(self, "--ports", "0", "--tls", "0", "--quic", "--save-cert", cert,
                                "--bind", "127.0.0.1")
        origin = f"127.0.0.1:{server.port}"
        return server, origin, ["--enable-quic", f"--origin-to-force-quic-on={origin}",
                                f"--ignore-certificate-errors-spki-list={self.spki_hash(cert)}"]

    def test_the_page_over_http3(self):
        server, origin, flags = self.quic_origin()
        dom = self.chromium(*flags, "--dump-dom", f"https://{origin}/")
        # The page's script asks the browser (performance navigation's nextHopProtocol).
        self.assertIn('id="browser-protocol">fetched this page with h3<', dom, dom[:3000])
        client = re.search(r'id="client-port">(\d+)<', dom)
        self.assertTrue(client, dom[:2000])
        connected = server.wait_event("quic_connected")
        self.assertEqual(connected["remote"], h.ep("127.0.0.1", int(client.group(1))))
        page = server.wait_line(lambda l: '"event":"http_request"' in l and json.loads(l)["path"] == "/",
                                what="the request for /")
        request = json.loads(page)
        self.assertEqual((request["protocol"], request["status"], request["id"], request["stream"]),
                         ("HTTP/3", 200, connected["id"], 0))
        self.assertIn(f'<code>{connected["server_cid"]}</code>', dom, "the page names the server's connection ID")
        self.assertEqual(h.of(server.events(), "accepted"), [], "the browser went over TCP")

    def test_the_board_over_http3(self):
        # The board's page and its event stream over QUIC, in a page Chromium keeps open
        # (DevTools on a pipe, as test_board_browser.py drives it): the board goes live, a TCP
        # connection made meanwhile appears as a row, and the server logs the stream as HTTP/3.
        import test_board_browser as tbb
        server, origin, flags = self.quic_origin()
        browser = tbb.Chromium(self, flags=flags)
        browser.call("Page.navigate", {"url": f"https://{origin}/board"})
        browser.wait_for("document.body && document.body.dataset.state === 'live'", tbb.LIVE_WAIT,
                         "the board going live over HTTP/3")
        stream = server.wait_line(lambda l: '"event":"http_request"' in l and json.loads(l)["path"] == "/events",
                                  what="the request for /events")
        request = json.loads(stream)
        self.assertEqual((request["protocol"], request["status"], request["note"]), ("HTTP/3", 200, "board subscriber"))
        r = h.run_client("127.0.0.1", server.port)
        self.assertEqual(r.returncode, h.EX_OK, r.stdout + r.stderr)
        mine = h.one(self, h.json_events(self, r.stdout), "connected")["local"]["port"]
        browser.wait_for(f"document.body.innerText.includes(':{mine}')", tbb.ROWS_WAIT,
                         f"the row of the connection from port {mine}")
        # The first TCP connection the server accepted is that one: the browser used none.
        self.assertEqual(server.wait_event("accepted")["remote"]["port"], mine)


if __name__ == "__main__":
    unittest.main()
