"""demo-client --http3: HTTP/3 over QUIC, against real servers on loopback. First Debian's own
QUIC server, gtlsserver (package ngtcp2-server: the ngtcp2 example server, serving files), then
demo-server --quic, whose /json is its view of the QUIC connection. Checked: the printed UDP
tuple is the kernel's (the socket ss shows while the client holds it), the stream of each
request, --rebind's move to a new ephemeral port on the same connection (the server sees the
move), the certificate checks (-k, --cacert, the trust store by default, each failure's sentence
and exit code), a closed port, silence, a UDP service that is not QUIC, and the option
combinations refused with exit 64."""

import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

import harness as h

GTLSSERVER = shutil.which("gtlsserver") or ("/usr/sbin/gtlsserver" if os.access("/usr/sbin/gtlsserver", os.X_OK)
                                             else None)
BODY = '{"hello":"gtlsserver"}\n'


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def free_udp_port(address="127.0.0.1"):
    """A UDP port nothing is bound to: bind port 0, read the kernel's choice, close."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def udp_bound_ports():
    """The local ports of this namespace's UDP sockets (/proc/net/udp and udp6)."""
    ports = set()
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(path) as f:
                for line in f.read().splitlines()[1:]:
                    fields = line.split()
                    if len(fields) > 2:
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return ports


def make_certificate(directory, name, subject="/CN=localhost",
                     names="DNS:localhost,IP:127.0.0.1,IP:::1"):
    """A self-signed key and certificate made by openssl; returns (key, cert) paths."""
    key = os.path.join(directory, name + ".key")
    cert = os.path.join(directory, name + ".pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", subject,
                        "-addext", "subjectAltName=" + names],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=h.EXIT_WAIT)
    if r.returncode != 0:
        raise AssertionError(f"openssl req failed: {r.stderr}")
    return key, cert


def fingerprint_half(cert):
    """The first half of the SHA-256 fingerprint as both programs print it: "AB:CD:...:...",
    16 pairs then ":..."."""
    with open(cert) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    pairs = [f"{b:02X}" for b in hashlib.sha256(der).digest()]
    return ":".join(pairs[:16]) + ":..."


def paragraph(what, why, tries):
    """An explanation as the JSON `explanation` field carries it (explain.cpp to_paragraph)."""
    out = what + " " + why
    if tries:
        out += " Try: " + "; ".join(text + (" " + command if command else "") for text, command in tries) + "."
    return out


def ss_udp_ports_of(pid):
    """The local ports `ss -uanp` shows for the sockets of process `pid`."""
    r = subprocess.run(["ss", "-uanp"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=h.EXIT_WAIT)
    ports = []
    for line in r.stdout.splitlines():
        if f"pid={pid}," in line:
            local = line.split()[3]
            ports.append(int(local.rsplit(":", 1)[1]))
    return ports


def require_client(case):
    if not h.CLIENT or not os.access(h.CLIENT, os.X_OK):
        raise unittest.SkipTest("DEMO_CLIENT must name the built demo-client (ctest sets it)")


class GtlsServer:
    """Debian's gtlsserver on a free UDP port of 127.0.0.1, serving `BODY` as /json, with a
    self-signed certificate for localhost, 127.0.0.1 and ::1. Waited for until its socket is
    bound (the kernel's table, polled, bounded); ended by pid in the test's cleanup."""

    def __init__(self, case, directory):
        self.dir = directory
        self.key, self.cert = make_certificate(directory, "gtls")
        htdocs = os.path.join(directory, "htdocs")
        os.makedirs(htdocs, exist_ok=True)
        with open(os.path.join(htdocs, "json"), "w") as f:
            f.write(BODY)
        for _ in range(3):  # a port taken between our probe and its bind: another
            self.port = free_udp_port()
            self.proc = h.Proc(case, [GTLSSERVER, "-q", "-d", htdocs, "127.0.0.1", str(self.port),
                                      self.key, self.cert])
            deadline = time.monotonic() + h.START_WAIT
            while time.monotonic() < deadline and self.proc.running():
                if self.port in udp_bound_ports():
                    return
                time.sleep(0.02)
            self.proc.kill()
        raise AssertionError(f"gtlsserver did not bind a UDP port; stderr: {self.proc.stderr()!r}")


def client(*args, fmt="json", timeout=h.CLIENT_WAIT):
    return h.run_client(*args, fmt=fmt, timeout=timeout)


# ---------------------------------------------------------------------------------------------
# Against gtlsserver
# ---------------------------------------------------------------------------------------------

class AgainstGtlsServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_client(cls)
        if GTLSSERVER is None:
            raise unittest.SkipTest("gtlsserver is not installed (Debian package ngtcp2-server)")
        if shutil.which("openssl") is None:
            raise unittest.SkipTest("the openssl command is not installed, so no certificate can be made")

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="portdemo-h3-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.server = GtlsServer(self, self.dir)

    def check_local(self, event, chosen_by="kernel"):
        low, high = h.ephemeral_range()
        port = event["local"]["port"]
        self.assertEqual(event["local"]["address"], "127.0.0.1")
        self.assertEqual(event["remote"], h.ep("127.0.0.1", self.server.port))
        if chosen_by == "kernel":
            self.assertTrue(low <= port <= high, f"{port} outside the live ephemeral range {low}-{high}")
        self.assertEqual(event["local_port_chosen_by"], chosen_by)

    def test_cacert_verifies_and_the_request_rides_stream_0(self):
        r = client("--http3", "--cacert", self.server.cert, "127.0.0.1", self.server.port)
        self.assertEqual(r.returncode, h.EX_OK, r.stdout + r.stderr)
        events = h.json_events(self, r.stdout)
        self.assertEqual(h.one(self, events, "resolved")["addresses"], ["127.0.0.1"])
        up = h.one(self, events, "http3_connected")
        self.check_local(up)
        self.assertEqual(up["alpn"], "h3")
        self.assertEqual(up["version"], "0x00000001")
        self.assertEqual(up["tls_version"], "TLSv1.3")
        self.assertRegex(up["client_cid"], r"^[0-9a-f]{16}$")
        self.assertRegex(up["server_cid"], r"^[0-9a-f]{2,40}$")
        self.assertEqual(up["certificate"], {"subject": "CN=localhost", "verified_by": "cacert",
                                             "cacert": self.server.cert})
        answer = h.one(self, events, "http3_response")
        self.assertEqual((answer["request"], answer["stream"], answer["status"]), (1, 0, 200))
        self.assertEqual((answer["local"], answer["remote"]), (up["local"], up["remote"]))
        # gtlsserver serves a file: no demo-server view, and the client says why.
        self.assertIsNone(answer["server_view"])
        self.assertEqual(answer["server_view_problem"],
                         'the server answered, but not as demo-server does: "{"hello":"gtlsserver"}\\n"')

    def test_k_skips_the_check(self):
        r = client("--http3", "-k", "localhost", self.server.port)
        self.assertEqual(r.returncode, h.EX_OK, r.stdout + r.stderr)
        up = h.one(self, h.json_events(self, r.stdout), "http3_connected")
        self.assertEqual(up["certificate"], {"subject": "CN=localhost", "verified_by": "none", "cacert": None})
        r = client("--http3", "--insecure", "localhost", self.server.port)
        self.assertEqual(r.returncode, h.EX_OK, r.stdout + r.stderr)

    def test_default_verification_fails_against_the_trust_store(self):
        r = client("--http3", "localhost", self.server.port)
        self.assertEqual(r.returncode, h.EX_NOPERM, r.stdout + r.stderr)
        events = h.json_events(self, r.stdout)
        self.assertEqual(h.of(events, "http3_connected"), [])
        self.assertEqual(h.of(events, "http3_response"), [])
        failed = h.one(self, events, "http3_failed")
        self.assertEqual(failed["code"], "certificate")
        self.assertEqual(failed["exit_code"], h.EX_NOPERM)
        self.assertEqual(failed["remote"], h.ep("127.0.0.1", self.server.port))
        port = self.server.port
        self.assertEqual(failed["explanation"], paragraph(
            "the server's certificate for localhost is not trusted: it is self-signed and not in this host's "
            "trust store; no request was sent.",
            "HTTP/3 always runs inside TLS 1.3, and demo-client checks the certificate as curl and browsers do. "
            f"This one is CN=localhost (issued by itself, SHA-256 {fingerprint_half(self.server.cert)}).",
            [("trust that server's own certificate: save it with", "demo-server --save-cert FILE"),
             ("and give it here:", f"demo-client --http3 --cacert FILE localhost {port}"),
             ("or skip the check, like curl -k:", f"demo-client --http3 -k localhost {port}")]))
        # The same in text, for the room: one message naming the certificate and what to do.
        r = client("--http3", "localhost", self.server.port, fmt="text")
        self.assertEqual(r.returncode, h.EX_NOPERM)
        h.assert_text_lines(self, r.stdout)
        text = h.flat(r.stdout)
        self.assertIn(f"resolved localhost -> 127.0.0.1; connecting over QUIC to UDP port {port}", text)
        self.assertIn(f"failed 127.0.0.1:{port} HTTP/3: The certificate is NOT trusted.", text)
        self.assertIn("the server's certificate for localhost is not trusted: it is self-signed and not in this "
                      "host's trust store; no request was sent.", text)
        self.assertIn("try: trust that server's own certificate: save it with demo-server --save-cert FILE", text)
        self.assertIn(f"and give it here: demo-client --http3 --cacert FILE localhost {port}", text)
        self.assertIn(f"or skip the check, like curl -k: demo-client --http3 -k localhost {port}", text)
        self.assertEqual(r.stderr, "")

    def test_another_certificate_in_cacert_fails(self):
        _, other = make_certificate(self.dir, "other", subject="/CN=other")
        r = client("--http3", "--cacert", other, "127.0.0.1", self.server.port)
        self.assertEqual(r.returncode, h.EX_NOPERM, r.stdout + r.stderr)
        failed = h.one(self, h.json_events(self, r.stdout), "http3_failed")
        self.assertTrue(failed["explanation"].startswith(
            f"the server's certificate for 127.0.0.1 is not trusted: it is self-signed and not in --cacert "
            f"{other}; no request was sent."), failed["explanation"])

    def test_a_name_the_certificate_lacks_fails(self):
        # A second gtlsserver whose certificate names another host only, trusted with --cacert:
        # the signer is known, the name is not the one dialled.
        key, cert = make_certificate(self.dir, "elsewhere", subject="/CN=elsewhere", names="DNS:elsewhere.example")
        port = free_udp_port()
        other = h.Proc(self, [GTLSSERVER, "-q", "-d", self.dir, "127.0.0.1", str(port), key, cert])
        deadline = time.monotonic() + h.START_WAIT
        while time.monotonic() < deadline and other.running() and port not in udp_bound_ports():
            time.sleep(0.02)
        self.assertIn(port, udp_bound_ports(), other.stderr())
        r = client("--http3", "--cacert", cert, "127.0.0.1", port)
        self.assertEqual(r.returncode, h.EX_NOPERM, r.stdout + r.stderr)
        failed = h.one(self, h.json_events(self, r.stdout), "http3_failed")
        self.assertTrue(failed["explanation"].startswith(
            "the server's certificate for 127.0.0.1 is not trusted: it does not name 127.0.0.1 (it names "
            "elsewhere.example); no request was sent."), failed["explanation"])
        self.assertIn(f"Try: dial it by a name the certificate holds: demo-client --http3 --cacert {cert} "
                      f"elsewhere.example {port};", failed["explanation"])

    def test_the_printed_port_is_the_socket_ss_shows(self):
        if shutil.which("ss") is None:
            self.skipTest("ss (iproute2) is not installed")
        proc = h.Proc(self, [h.CLIENT, "--http3", "-k", "--hold", "3", "127.0.0.1", str(self.server.port),
                             "--format", "json"])
        up = proc.wait_event("http3_connected", timeout=h.CLIENT_WAIT)
        note = proc.wait_event("note", code="holding")
        self.assertEqual(note["message"], "holding the QUIC connection open for 3 s: see its UDP socket with "
                                          f"ss -uanp 'dport = :{self.server.port}'")
        # While it holds: the client process has exactly one UDP socket, the printed one.
        self.assertEqual(ss_udp_ports_of(proc.pid), [up["local"]["port"]])
        self.check_local(up)
        self.assertEqual(proc.wait(timeout=h.CLIENT_WAIT), h.EX_OK, proc.stderr())

    def test_count_rides_streams_0_4_8_on_one_port(self):
        r = client("--http3", "-k", "--count", "3", "127.0.0.1", self.server.port)
        self.assertEqual(r.returncode, h.EX_OK, r.stdout + r.stderr)
        events = h.json_events(self, r.stdout)
        up = h.one(self, events, "http3_connected")
        answers = h.of(events, "http3_response")
        self.assertEqual([(a["request"], a["stream"], a["status"]) for a in answers],
                         [(1, 0, 200), (2, 4, 200), (3, 8, 200)])
        self.assertEqual({a["local"]["port"] for a in answers}, {up["local"]["port"]})

    def test_rebind_moves_to_a_new_ephemeral_port_on_the_same_connection(self):
        r = client("--http3", "-k", "--rebind", "127.0.0.1", self.server.port)
        self.assertEqual(r.returncode, h.EX_OK, r.stdout + r.stderr)
        events = h.json_events(self, r.stdout)
        self.assertEqual([e["event"] for e in events],
                         ["host_facts", "resolved", "http3_connected", "http3_response", "http3_rebound",
                          "http3_response"])
        up, first, moved, second = events[2:]
        old, new = moved["from"]["local"]["port"], moved["to"]["local"]["port"]
        self.assertNotEqual(old, new)
        self.assertEqual(old, up["local"]["port"])
        self.assertEqual((first["local"]["port"], first["stream"]), (old, 0))
        self.assertEqual((second["local"]["port"], second["stream"]), (new, 4))
        self.assertEqual(moved["from"]["remote"], moved["to"]["remote"])
        low, high = h.ephemeral_range()
        self.assertTrue(low <= new <= high)
        self.assertEqual(moved["in_ephemeral_range"], True)
        # gtlsserver allows active migration: ngtcp2 moved with a new connection ID.
        self.assertEqual(moved["how"], "migration")
        self.assertEqual(moved["server_cid_before"], up["server_cid"])
        self.assertNotEqual(moved["server_cid_after"], moved["server_cid_before"])
        # The text says it for the room, under 100 columns.
        r = client("--http3", "-k", "--rebind", "127.0.0.1", self.server.port, fmt="text")
        self.assertEqual(r.returncode, h.EX_OK, r.stdout + r.stderr)
        h.assert_text_lines(self, r.stdout)
        ports = re.findall(r"\(request \d on this QUIC connection, from 127\.0\.0\.1:(\d+)\)", r.stdout)
        self.assertEqual(len(ports), 2)
        self.assertNotEqual(ports[0], ports[1])
        self.assertIn(f"moved: this end left 127.0.0.1:{ports[0]} for a new UDP socket, 127.0.0.1:{ports[1]}",
                      h.flat(r.stdout))

    def test_source_port_pins_the_udp_port(self):
        port = free_udp_port()
        r = client("--http3", "-k", "--source-port", port, "127.0.0.1", self.server.port)
        self.assertEqual(r.returncode, h.EX_OK, r.stdout + r.stderr)
        up = h.one(self, h.json_events(self, r.stdout), "http3_connected")
        self.assertEqual(up["local"]["port"], port)
        self.check_local(up, chosen_by="user")

    def test_text_reads_under_100_columns(self):
        r = client("--http3", "--cacert", self.server.cert, "localhost", self.server.port, fmt="text")
        self.assertEqual(r.returncode, h.EX_OK, r.stdout + r.stderr)
        h.assert_text_lines(self, r.stdout)
        m = re.search(r"^  local   127\.0\.0\.1:(\d+) +(\w+) ", r.stdout, re.M)
        self.assertTrue(m, r.stdout)
        self.assertEqual(m.group(2), "ephemeral")
        self.assertIn(f"  remote  127.0.0.1:{self.server.port}", r.stdout)
        self.assertIn(f"GET /json -> 200 on stream 0 (request 1 on this QUIC connection, from 127.0.0.1:{m.group(1)})",
                      r.stdout)
        self.assertIn(f"certificate CN=localhost: verified with --cacert {self.server.cert}", h.flat(r.stdout))


# ---------------------------------------------------------------------------------------------
# Without a QUIC server: nothing bound, silence, a UDP service that is not QUIC
# ---------------------------------------------------------------------------------------------

class WithoutQuic(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_client(cls)

    def test_nothing_bound_is_refused_by_icmp(self):
        port = free_udp_port()
        r = client("--http3", "127.0.0.1", port)
        self.assertEqual(r.returncode, h.EX_UNAVAILABLE, r.stdout + r.stderr)
        events = h.json_events(self, r.stdout)
        failed = h.one(self, events, "connect_failed")
        self.assertEqual((failed["proto"], failed["step"], failed["errno"]), ("udp", "connect", "ECONNREFUSED"))
        self.assertEqual(failed["remote"], h.ep("127.0.0.1", port))
        self.assertEqual(failed["local_port_chosen_by"], "kernel")
        self.assertEqual(failed["explanation"], paragraph(
            f"nothing is bound to UDP port {port}{service(port)} on 127.0.0.1: our QUIC handshake was refused.",
            "QUIC runs over UDP, which has no SYN and no RST: our first packet went out, and the host answered it "
            "with an ICMP port-unreachable message, which the kernel reports as \"connection refused\" on this "
            "connected UDP socket.",
            [("start an HTTP/3 server there:", f"demo-server --ports {port} --tls {port} --quic {port}"),
             ("on that host, list what is bound to the port:", f"ss -lun 'sport = :{port}'")]))
        self.assertEqual(h.one(self, events, "gave_up")["exit_code"], h.EX_UNAVAILABLE)
        r = client("--http3", "127.0.0.1", port, fmt="text")
        self.assertEqual(r.returncode, h.EX_UNAVAILABLE)
        self.assertIn(f"refused    127.0.0.1:{port}   connect: Connection refused (ECONNREFUSED)\n", r.stdout)
        self.assertIn(f"nothing is bound to UDP port {port}{service(port)} on 127.0.0.1: our QUIC handshake was "
                      "refused.", h.flat(r.stdout))

    def test_silence_is_a_handshake_timeout(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as quiet:
            quiet.bind(("127.0.0.1", 0))
            port = quiet.getsockname()[1]
            start = time.monotonic()
            r = client("--http3", "-t", "1", "127.0.0.1", port)
            took = time.monotonic() - start
        self.assertEqual(r.returncode, h.EX_TEMPFAIL, r.stdout + r.stderr)
        self.assertLess(took, 1.0 + 2.0)
        failed = h.one(self, h.json_events(self, r.stdout), "connect_failed")
        self.assertEqual((failed["step"], failed["errno"]), ("connect", "ETIMEDOUT"))
        self.assertTrue(failed["explanation"].startswith(
            f"no QUIC answer from 127.0.0.1:{port} within 1 s: the handshake timed out."), failed["explanation"])

    def test_a_udp_service_that_is_not_quic(self):
        if not h.SERVER or not os.access(h.SERVER, os.X_OK):
            self.skipTest("DEMO_SERVER must name the built demo-server")
        server = h.start_server(self, "--udp", "0")
        port = server.ready["udp_ports"][0]
        r = client("--http3", "-t", "1", "127.0.0.1", port)
        self.assertEqual(r.returncode, h.EX_UNAVAILABLE, r.stdout + r.stderr)
        failed = h.one(self, h.json_events(self, r.stdout), "http3_failed")
        self.assertEqual(failed["code"], "not_quic")
        self.assertRegex(failed["detail"], r"^\d+ datagrams?, none of them QUIC$")
        self.assertTrue(failed["explanation"].startswith(f"127.0.0.1:{port} answered with "), failed["explanation"])
        self.assertIn("none of them QUIC: it is a UDP service, but not HTTP/3.", failed["explanation"])
        self.assertIn(f"Try: ask it as plain UDP: demo-client --udp 127.0.0.1 {port};", failed["explanation"])


def service(port):
    name = h.describe_port(port)
    return f" ({name})" if name else ""


# ---------------------------------------------------------------------------------------------
# Option combinations
# ---------------------------------------------------------------------------------------------

class Options(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_client(cls)

    def refused(self, args, message):
        r = h.run([h.CLIENT] + [str(a) for a in args])
        self.assertEqual((r.returncode, r.stdout, r.stderr), (h.EX_USAGE, "", message + "\n"), args)

    def test_combinations_that_make_no_sense(self):
        self.refused(["--http3", "--udp", "localhost", "4433"],
                     "--http3 runs over UDP already (QUIC); leave out --udp")
        self.refused(["--http3", "--proxy-protocol", "v1", "localhost", "4433"],
                     "--http3: a PROXY header begins a TCP stream, and QUIC runs over UDP; leave out --proxy-protocol")
        self.refused(["--http3", "--verify", "localhost", "4433"],
                     "--http3: --verify checks TCP sockets against /proc/net/tcp; leave out --verify (with --hold, "
                     "ss -uanp shows the QUIC socket)")
        self.refused(["--http3", "--count", "4", "--parallel", "2", "localhost", "4433"],
                     "--http3: the --count requests share one QUIC connection, each on a stream of its own; leave "
                     "out --parallel")
        self.refused(["--http3", "-k", "--cacert", "/etc/hostname", "localhost", "4433"],
                     "--cacert FILE verifies the server's certificate and -k/--insecure does not: give one of them")

    def test_http3_options_need_http3(self):
        self.refused(["--rebind", "localhost", "4433"],
                     "--rebind moves a QUIC connection to a new port: it needs --http3")
        self.refused(["-k", "localhost", "4433"],
                     "--cacert and -k/--insecure concern the server's TLS certificate: they need --http3 or --http2 --tls")
        self.refused(["--cacert", "/etc/hostname", "localhost", "4433"],
                     "--cacert and -k/--insecure concern the server's TLS certificate: they need --http3 or --http2 --tls")

    def test_an_unreadable_cacert(self):
        missing = os.path.join(tempfile.gettempdir(), f"portdemo-missing-{os.getpid()}.pem")
        self.refused(["--http3", "--cacert", missing, "127.0.0.1", "4433"],
                     f"--cacert {missing}: cannot read it (No such file or directory)")
        with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:
            f.write("not a certificate\n")
            f.flush()
            self.refused(["--http3", "--cacert", f.name, "127.0.0.1", "4433"],
                         f"--cacert {f.name}: no PEM certificate in it (save the server's with demo-server "
                         "--save-cert FILE)")

    def test_help_lists_them(self):
        r = h.run([h.CLIENT, "--help"])
        for option in ("--http3", "--rebind", "--cacert FILE", "-k,--insecure"):
            self.assertRegex(r.stdout, rf"(?m)^  {re.escape(option)}\b")


# ---------------------------------------------------------------------------------------------
# Against demo-server --quic
# ---------------------------------------------------------------------------------------------

class AgainstDemoServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)
        r = h.run([h.SERVER, "--help"])
        if not re.search(r"(?m)^  --quic\b", r.stdout):
            raise unittest.SkipTest(f"{h.SERVER} has no --quic yet (HTTP/3 on the server is being written)")

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="portdemo-h3-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.cert = os.path.join(self.dir, "server.pem")
        self.server = h.start_server(self, "--ports", "0", "--tls", "0", "--quic", "--save-cert", self.cert)
        self.port = self.server.ready["tls_ports"][0]
        quic = [json.loads(l) for l in self.server.lines if '"listening"' in l]
        self.assertIn({"address": "127.0.0.1", "port": self.port},
                      [e["local"] for e in quic if e.get("proto") == "udp"], "no QUIC socket on the TLS port")

    def test_the_servers_view_is_the_mirror_image(self):
        r = client("--http3", "--cacert", self.cert, "127.0.0.1", self.port)
        self.assertEqual(r.returncode, h.EX_OK, r.stdout + r.stderr)
        events = h.json_events(self, r.stdout)
        up = h.one(self, events, "http3_connected")
        answer = h.one(self, events, "http3_response")
        view = answer["server_view"]
        self.assertIsNotNone(view, answer)
        self.assertEqual((view["local"], view["remote"]), (up["remote"], up["local"]))
        self.assertEqual(answer["mirror"], True)
        self.assertEqual(answer["translation"]["kind"], "none")
        self.assertEqual((answer["stream"], view["stream"]), (0, 0))
        self.assertEqual(answer["ids_match"], True)
        self.assertEqual((view["quic"]["client_cid"], view["quic"]["server_cid"]), (up["client_cid"], up["server_cid"]))
        self.assertEqual((view["quic"]["migrations"], view["quic"]["first_remote"]), (0, None))
        self.assertEqual(up["certificate"]["subject"], "CN=localhost,O=portdemo")
        # The server's own log: the same connection, by the same IDs and the same client port.
        connected = self.server.wait_event("quic_connected")
        self.assertEqual((connected["local"], connected["remote"]), (up["remote"], up["local"]))
        self.assertEqual((connected["client_cid"], connected["server_cid"]), (up["client_cid"], up["server_cid"]))
        request = self.server.wait_event("http_request", protocol="HTTP/3")
        self.assertEqual((request["remote"], request["stream"], request["path"]), (up["local"], 0, "/json"))

    def test_rebind_the_server_sees_the_move(self):
        r = client("--http3", "--cacert", self.cert, "--rebind", "127.0.0.1", self.port)
        self.assertEqual(r.returncode, h.EX_OK, r.stdout + r.stderr)
        events = h.json_events(self, r.stdout)
        up = h.one(self, events, "http3_connected")
        moved = h.one(self, events, "http3_rebound")
        first, second = h.of(events, "http3_response")
        old, new = moved["from"]["local"], moved["to"]["local"]
        self.assertNotEqual(old["port"], new["port"])
        self.assertEqual(first["server_view"]["remote"], old)
        self.assertEqual(second["server_view"]["remote"], new)
        self.assertEqual(second["mirror"], True)
        self.assertEqual(second["server_view"]["quic"]["migrations"], 1)
        self.assertEqual(second["server_view"]["quic"]["first_remote"], old)
        self.assertEqual(second["server_view"]["id"], first["server_view"]["id"])  # the same connection
        self.assertEqual(second["stream"], 4)
        migrated = self.server.wait_event("quic_migrated")
        self.assertEqual((migrated["from"]["remote"], migrated["to"]["remote"]), (old, new))
        self.assertEqual(migrated["migrations"], 1)
        self.assertEqual((migrated["port_changed"], migrated["address_changed"]), (True, False))
        self.assertEqual(migrated["id"], second["server_view"]["id"])
        closed = self.server.wait_event("quic_closed")
        self.assertEqual((closed["requests"], closed["migrations"], closed["reason"]), (2, 1, "closed by the client"))
        self.assertEqual(closed["remote"], new)
        self.assertNotEqual(up["local"]["port"], new["port"])

    def test_without_cacert_the_servers_own_certificate_fails(self):
        r = client("--http3", "127.0.0.1", self.port)
        self.assertEqual(r.returncode, h.EX_NOPERM, r.stdout + r.stderr)
        failed = h.one(self, h.json_events(self, r.stdout), "http3_failed")
        self.assertEqual(failed["code"], "certificate")
        self.assertIn(f"This one is CN=localhost,O=portdemo (issued by itself, SHA-256 {fingerprint_half(self.cert)}).",
                      failed["explanation"])


if __name__ == "__main__":
    unittest.main()
