"""UDP (--udp), over real sockets on loopback: no connection, no handshake. Each datagram the
server receives is answered with its view of the sender; demo-client's view of the exchange is
the mirror image. A closed UDP port shows only as an ICMP port-unreachable ("refused" on the next
receive), a datagram nobody answers as a timeout. The kernel's own socket tables confirm which
protocol each reported socket really is."""

import os
import re
import socket
import time
import unittest

import harness as h

HELLO = b"portdemo-hello 1\n"


def hello_with_view(local, remote):
    """What demo-client sends: its hello, then its own view (local, remote: h.ep dicts)."""
    def text(ep):
        return h.ep_text(ep["address"], ep["port"])
    return HELLO + f"portdemo-view 1 {text(local)} {text(remote)}\n".encode()


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def udp_socket(case, address="127.0.0.1", port=0):
    """A UDP socket of this test process, bound (closed in cleanup)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    case.addCleanup(sock.close)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind((address, port))
    sock.settimeout(h.EVENT_WAIT)
    return sock


def free_udp_port(address="127.0.0.1"):
    """A UDP port nothing is bound to: bind port 0, read the kernel's choice, close."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def port_free_for_both(case):
    """A port that TCP and UDP can both bind on 127.0.0.1 and ::1 right now."""
    for _ in range(50):
        socks = []
        try:
            first = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(first)
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            for family, kind, address in ((socket.AF_INET6, socket.SOCK_STREAM, "::1"),
                                          (socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1"),
                                          (socket.AF_INET6, socket.SOCK_DGRAM, "::1")):
                s = socket.socket(family, kind)
                socks.append(s)
                if family == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((address, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    case.fail("no port was free for both TCP and UDP on 127.0.0.1 and ::1 in 50 tries")


def kernel_sockets(pid):
    """The sockets process `pid` holds, as the kernel's tables list them: a sorted list of
    (proto, family, port, state) with proto "tcp" or "udp", family 4 or 6; None if /proc does
    not show them to this user."""
    try:
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            m = re.fullmatch(r"socket:\[(\d+)\]", target)
            if m:
                inodes.add(m.group(1))
    except OSError:
        return None
    found = []
    for name in ("tcp", "tcp6", "udp", "udp6"):
        try:
            with open(f"/proc/net/{name}") as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[9] in inodes:
                found.append((name[:3], 6 if name.endswith("6") else 4,
                              int(fields[1].rsplit(":", 1)[1], 16), int(fields[3], 16)))
    return sorted(found)


TCP_LISTEN, UDP_UNCONNECTED = 10, 7  # the state numbers /proc/net/tcp and udp give them


def expected_report(datagram_id, server_ep, client_ep):
    """The text a raw UDP sender gets back (render.cpp's wording for UDP)."""
    r = h.ephemeral_range()
    rng = f"{r[0]}-{r[1]}" if r else "its ephemeral range"
    return [f"portdemo: your UDP datagram #{datagram_id}, as this server sees it\n"
            f"  server (local here):  {server_ep:<22} fixed: the port this server listens on\n"
            f"  you (remote here):    {client_ep:<22} ephemeral: chosen by your kernel\n",
            h.Wrapped(f"Send again from a new socket and your port changes, the server's does "
                      f"not. (This host takes client ports from {rng}.)", 2, 2)]


def datagram_detail(nbytes, port):
    """The server's second line for a datagram from `port`."""
    inside = h.in_ephemeral_range(port)
    where = ("" if inside is None else "; remote port in this host's ephemeral range" if inside
             else "; remote port outside this host's ephemeral range")
    return h.Wrapped(f"UDP: no connection, one datagram of {nbytes} byte{'' if nbytes == 1 else 's'}"
                     f"{where}", 4, 2)


UDP_HINT = re.compile(r"^  UDP: demo-client --udp localhost (\d+)    or:  nc -u localhost \1$")


def start_text_server(case, *args):
    """A demo-server with --format text and UDP ports, read up to the ready block's UDP hint
    (its last line). Returns (server, UDP port from the hint, the ready block's lines)."""
    server = h.Server(case, list(args), fmt="text", expect_ready=False)
    ready = server.wait_line(lambda l: l.startswith(("ready:", "stopped:")), h.START_WAIT,
                             what="the ready line")
    case.assertTrue(ready.startswith("ready:"), ready)
    block = [ready]
    while True:
        line = server.next_line(h.EVENT_WAIT)
        case.assertIsNotNone(line, f"the server's output ended in its ready block: {block!r}")
        block.append(line)
        m = UDP_HINT.match(line.rstrip("\n"))
        if m:
            return server, int(m.group(1)), block


def udp_client(*args, fmt="json", timeout=h.CLIENT_WAIT, **kw):
    return h.run_client("--udp", *args, fmt=fmt, timeout=timeout, **kw)


# ---------------------------------------------------------------------------------------------
# The server's sockets: UDP only, both, one port number on both protocols
# ---------------------------------------------------------------------------------------------

class UdpServerSockets(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def setUp(self):
        h.require_ipv6(self)

    def test_udp_alone_means_udp_only(self):
        server = h.start_server(self, "--udp", "0")
        events = [e for e in server.events() if e["event"] != "tls_certificate"]
        self.assertEqual([e["event"] for e in events], ["host_facts", "listening", "listening", "ready"])
        port = server.ready["udp_ports"][0]
        self.assertEqual(server.ready, {"event": "ready", "listening": 2, "failed": 0, "ports": [port],
                                        "tls_ports": [], "udp_ports": [port], "quic_ports": []})
        for e, address in zip(h.of(events, "listening"), ("127.0.0.1", "::1")):
            self.assertEqual(e, {"event": "listening", "proto": "udp", "local": h.ep(address, port),
                                 "port_class": h.port_class(port), "service": h.describe_port(port) or None,
                                 "requested_port": 0, "privileged_allowed_by": None, "tls": False, "bound_by": "self"})
        # The kernel agrees: two UDP sockets on that port, not one TCP socket.
        table = kernel_sockets(server.pid)
        if table is not None:
            self.assertEqual(table, [("udp", 4, port, UDP_UNCONNECTED), ("udp", 6, port, UDP_UNCONNECTED)])

    def test_ports_and_udp_serve_both(self):
        server = h.start_server(self, "--ports", "0", "--udp", "0")
        events = [e for e in server.events() if e["event"] != "tls_certificate"]
        self.assertEqual([e["event"] for e in events], ["host_facts"] + ["listening"] * 4 + ["ready"])
        tcp_port, udp_port = server.ready["ports"][0], server.ready["udp_ports"][0]
        ports = [tcp_port] + ([udp_port] if udp_port != tcp_port else [])
        self.assertEqual(server.ready, {"event": "ready", "listening": 4, "failed": 0, "ports": ports,
                                        "tls_ports": [], "udp_ports": [udp_port], "quic_ports": []})
        self.assertEqual([(e["proto"], e["local"], e["requested_port"]) for e in h.of(events, "listening")],
                         [("tcp", h.ep("127.0.0.1", tcp_port), 0), ("tcp", h.ep("::1", tcp_port), 0),
                          ("udp", h.ep("127.0.0.1", udp_port), 0), ("udp", h.ep("::1", udp_port), 0)])
        table = kernel_sockets(server.pid)
        if table is not None:
            self.assertEqual(table, sorted([("tcp", 4, tcp_port, TCP_LISTEN), ("tcp", 6, tcp_port, TCP_LISTEN),
                                            ("udp", 4, udp_port, UDP_UNCONNECTED),
                                            ("udp", 6, udp_port, UDP_UNCONNECTED)]))

    def test_one_port_number_on_both_protocols(self):
        port = port_free_for_both(self)
        server = h.start_server(self, "--ports", str(port), "--udp", str(port))
        listening = h.of(server.events(), "listening")
        self.assertEqual([(e["proto"], e["local"]) for e in listening],
                         [("tcp", h.ep("127.0.0.1", port)), ("tcp", h.ep("::1", port)),
                          ("udp", h.ep("127.0.0.1", port)), ("udp", h.ep("::1", port))])
        for e in listening:
            self.assertEqual((e["requested_port"], e["port_class"], e["tls"]), (port, h.port_class(port), False))
        self.assertEqual(server.ready, {"event": "ready", "listening": 4, "failed": 0, "ports": [port],
                                        "tls_ports": [], "udp_ports": [port], "quic_ports": []})
        table = kernel_sockets(server.pid)
        if table is not None:
            self.assertEqual(table, [("tcp", 4, port, TCP_LISTEN), ("tcp", 6, port, TCP_LISTEN),
                                     ("udp", 4, port, UDP_UNCONNECTED), ("udp", 6, port, UDP_UNCONNECTED)])

        # Both protocols answer on the one number: a connection, then a datagram.
        tcp = h.run_client("127.0.0.1", port)
        self.assertEqual(tcp.returncode, h.EX_OK, tcp.stdout + tcp.stderr)
        connected = h.one(self, h.json_events(self, tcp.stdout), "connected")
        udp = udp_client("127.0.0.1", port)
        self.assertEqual(udp.returncode, h.EX_OK, udp.stdout + udp.stderr)
        exchanged = h.one(self, h.json_events(self, udp.stdout), "exchanged")
        accepted = server.wait_event("accepted")
        datagram = server.wait_event("datagram")
        self.assertEqual((accepted["proto"], accepted["remote"]), ("tcp", connected["local"]))
        self.assertEqual((datagram["proto"], datagram["remote"]), ("udp", exchanged["local"]))
        self.assertEqual(accepted["local"], datagram["local"])

        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())
        server.read_rest()
        summary = h.one(self, server.events(), "summary")
        ports = sorted([connected["local"]["port"], exchanged["local"]["port"]])
        self.assertEqual(summary, {"event": "summary", "role": "server", "connections": 1,
                                   "per_port": [{"port": port, "connections": 1},
                                                {"port": port, "proto": "udp", "datagrams": 1}],
                                   "distinct_client_ports": len(set(ports)),
                                   "lowest_client_port": ports[0], "highest_client_port": ports[-1],
                                   "peak_open": 1, "busy": 0, "limited": 0, "cut_at_shutdown": 0, "log_dropped": 0})

    def listening_line(self, proto, address, port, requested):
        detail = f"{h.port_class(port)} port"
        if h.describe_port(port):
            detail += ", " + h.describe_port(port)
        if requested == 0:
            detail += ", chosen by the kernel (port 0)"
        if proto == "udp":
            detail = "UDP, " + detail
        return f"listening  {h.ep_text(address, port):<17} {detail}\n"

    def test_one_port_number_on_both_protocols_text(self):
        port = port_free_for_both(self)
        server, udp_port, block = start_text_server(self, "--ports", str(port), "--udp", str(port))
        self.assertEqual(udp_port, port)
        text = "".join(server.lines)
        h.assert_text_lines(self, text, "server text")
        listing = [l for l in server.lines if l.startswith("listening")]
        self.assertEqual(listing, [self.listening_line("tcp", "127.0.0.1", port, port),
                                   self.listening_line("tcp", "::1", port, port),
                                   self.listening_line("udp", "127.0.0.1", port, port),
                                   self.listening_line("udp", "::1", port, port)])
        # The port speaks TCP (and so HTTP) as well as UDP: every hint applies to it.
        self.assertEqual("".join(block),
                         f"ready: 4 sockets listening on port {port}\n"
                         f"  try it: demo-client localhost {port}    or:  nc localhost {port}\n"
                         f"  in a browser: http://localhost:{port}/\n"
                         f"  the board:    http://localhost:{port}/board  (every connection, live)\n"
                         f"  UDP: demo-client --udp localhost {port}    or:  nc -u localhost {port}\n")

    def test_udp_only_text_gives_no_tcp_hint(self):
        server, port, block = start_text_server(self, "--udp", "0")
        h.assert_text_lines(self, "".join(server.lines), "server text")
        listing = [l for l in server.lines if l.startswith("listening")]
        self.assertEqual(listing, [self.listening_line("udp", "127.0.0.1", port, 0),
                                   self.listening_line("udp", "::1", port, 0)])
        ready = "".join(block)
        self.assertTrue(ready.startswith("ready: 2 sockets "), ready)
        self.assertTrue(ready.endswith(
            f"  UDP: demo-client --udp localhost {port}    or:  nc -u localhost {port}\n"), ready)
        # Nothing listens on TCP: a TCP client, nc without -u, or a browser would be refused.
        self.assertNotIn(f"demo-client localhost {port}", ready)
        self.assertNotIn(f"nc localhost {port}", ready)
        self.assertNotIn("http://", ready)


# ---------------------------------------------------------------------------------------------
# demo-client --udp against demo-server --udp: the two ends, mirrored
# ---------------------------------------------------------------------------------------------

class UdpMirror(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def check_json(self, address, flag):
        server = h.start_server(self, "--udp", "0")
        port = server.ready["udp_ports"][0]
        result = udp_client(address, port, flag)
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)
        self.assertEqual([e["event"] for e in events], ["host_facts", "resolved", "exchanged"])
        self.assertEqual(h.one(self, events, "resolved"),
                         {"event": "resolved", "host": address, "port": port, "addresses": [address]})
        ex = h.one(self, events, "exchanged")
        client_port = ex["local"]["port"]
        datagram = server.wait_event("datagram")
        answered = server.wait_event("answered")
        sent = hello_with_view(ex["local"], ex["remote"])
        self.assertEqual(datagram["remote"], ex["local"], "client local != server's remote")
        self.assertEqual(datagram["local"], ex["remote"], "client remote != server's local")
        self.assertEqual(datagram, {"event": "datagram", "proto": "udp", "id": 1,
                                    "local": h.ep(address, port), "remote": h.ep(address, client_port),
                                    "bytes": len(sent), "remote_port_class": h.port_class(client_port),
                                    "in_ephemeral_range": h.in_ephemeral_range(client_port)})
        self.assertEqual(answered, {"event": "answered", "id": 1, "report": "json",
                                    "received_bytes": len(sent),
                                    "received": sent.decode().replace("\n", "\\n"),
                                    "client_view": {"local": ex["local"], "remote": ex["remote"]},
                                    "translation": {"kind": "none", "source": None, "destination": None,
                                                    "destination_address_known": True}})
        self.assertEqual(ex, {"event": "exchanged", "proto": "udp", "id": 1,
                              "local": h.ep(address, client_port), "remote": h.ep(address, port),
                              "local_port_class": h.port_class(client_port),
                              "in_ephemeral_range": h.in_ephemeral_range(client_port),
                              "local_port_chosen_by": "kernel",
                              "server_view": {"id": 1, "local": datagram["local"],
                                              "remote": datagram["remote"]},
                              "mirror": True, "translation": {"kind": "none", "source": None, "destination": None,
                                                                  "destination_address_known": True}})
        # No connection was ever made.
        self.assertEqual(h.of(server.events(), "accepted"), [])

    def test_ipv4(self):
        self.check_json("127.0.0.1", "-4")

    def test_ipv6(self):
        h.require_ipv6(self)
        self.check_json("::1", "-6")

    def expected_client_text(self, address, port, client_port, server_id):
        local, remote = h.ep_text(address, client_port), h.ep_text(address, port)
        inside = h.in_ephemeral_range(client_port)
        service = h.describe_port(port)
        port_phrase = f"port {port} ({service})" if service else f"port {port}"
        local_class = f"{h.port_class(client_port)} port"
        local_note = (f"chosen by this host's kernel ({local_class})" if inside in (True, None)
                      else f"outside this host's ephemeral range ({local_class})")
        remote_note = f"chosen by the server ({h.port_class(port)}{', ' if service else ''}{service})"
        parts = [f"this host: {'ephemeral (client) ports ' + h.range_text():<38} "
                 f"(net.ipv4.ip_local_port_range)\n"
                 f"sending to {address}, UDP {port_phrase}\n"
                 f"answered #1 (UDP: one datagram each way, no connection)\n"
                 f"  local   {local:<17} ephemeral  {local_note}\n"
                 f"  remote  {remote:<17} fixed      {remote_note}\n"
                 f"  server's view (its datagram #{server_id}): local {remote}  remote {local}\n"
                 f"  mirror image: yes, the two ends see the same four facts\n"]
        if h.port_class(client_port) != "dynamic" and inside:
            parts.append(h.Wrapped(f"note: {client_port} lies outside IANA's dynamic range "
                                   f"49152-65535. That is normal on Linux: the kernel takes client "
                                   f"ports from net.ipv4.ip_local_port_range ({h.range_text()}), not "
                                   f"from IANA's range.", 8, 2))
        return parts

    def test_text(self):
        server, port, _ = start_text_server(self, "--udp", "0")
        result = udp_client("127.0.0.1", port, fmt="text")
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        text = result.stdout
        h.assert_text_lines(self, text, "client text")
        m_local = re.search(r"^  local   (\S+) ", text, re.M)
        m_remote = re.search(r"^  remote  (\S+) ", text, re.M)
        m_view = re.search(r"^  server's view \(its \w+ #(\d+)\): local (\S+)  remote (\S+)$", text, re.M)
        self.assertTrue(m_local and m_remote and m_view, f"client text lacks its lines:\n{text}")

        line = server.wait_line(lambda l: l.startswith("datagram #"), what="the datagram line")
        m_server = re.match(r"^datagram #(\d+)\s+local (\S+) \(fixed\)\s+remote (\S+) \(ephemeral\)$",
                            line.rstrip("\n"))
        self.assertIsNotNone(m_server, f"server's datagram line: {line!r}")
        server_id, server_local, server_remote = m_server.groups()
        self.assertEqual(m_local.group(1), server_remote)
        self.assertEqual(m_remote.group(1), server_local)
        self.assertEqual(server_local, h.ep_text("127.0.0.1", port))
        self.assertEqual(m_view.groups(), (server_id, server_local, server_remote))

        client_port = int(server_remote.rsplit(":", 1)[1])
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())
        rest = server.read_rest()
        h.assert_text(self, "".join(rest[rest.index(line):]), [
            line, datagram_detail(len(hello_with_view(h.ep("127.0.0.1", client_port), h.ep("127.0.0.1", port))),
                                  client_port),
            f"summary: 0 connections; UDP port {port}: 1 datagram\n"
            f"  client ports seen: 1 distinct, lowest {client_port}, highest {client_port}\n"
            f"  the server's ports stayed fixed; the clients' ports came and went\n"], "server text")
        h.assert_text_lines(self, "".join(rest), "server text")
        h.assert_text(self, text, self.expected_client_text("127.0.0.1", port, client_port,
                                                            int(server_id)), "client text")

    def test_count_three_sockets_three_ports(self):
        server = h.start_server(self, "--udp", "0")
        port = server.ready["udp_ports"][0]
        result = udp_client("127.0.0.1", port, "--count", "3")
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)
        self.assertEqual([e["event"] for e in events],
                         ["host_facts", "resolved", "exchanged", "exchanged", "exchanged", "summary"])
        exchanged = h.of(events, "exchanged")
        self.assertEqual([e["id"] for e in exchanged], [1, 2, 3])
        client_ports = [e["local"]["port"] for e in exchanged]
        self.assertEqual(len(set(client_ports)), 3, f"a new socket, a new port each time: {client_ports}")
        datagrams = [server.wait_event("datagram") for _ in range(3)]
        for e, d in zip(exchanged, datagrams):
            self.assertEqual((e["remote"], e["local"]), (d["local"], d["remote"]))
            self.assertEqual(e["server_view"], {"id": d["id"], "local": d["local"], "remote": d["remote"]})
            self.assertIs(e["mirror"], True)
        summary = h.one(self, events, "summary")
        inside = sum(1 for p in client_ports if h.in_ephemeral_range(p))
        self.assertEqual({k: summary[k] for k in ("attempted", "connected", "server_ports", "client_ports",
                                                  "distinct_client_ports", "in_ephemeral_range",
                                                  "mirrored", "local_port_chosen_by")},
                         {"attempted": 3, "connected": 3, "server_ports": [port],
                          "client_ports": client_ports, "distinct_client_ports": 3,
                          "in_ephemeral_range": inside, "mirrored": 3, "local_port_chosen_by": "kernel"})

        # The server's summary on SIGTERM: three datagrams on the one UDP port, no connection.
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())
        server.read_rest()
        self.assertEqual(h.one(self, server.events(), "summary"),
                         {"event": "summary", "role": "server", "connections": 0,
                          "per_port": [{"port": port, "proto": "udp", "datagrams": 3}],
                          "distinct_client_ports": 3, "lowest_client_port": min(client_ports),
                          "highest_client_port": max(client_ports), "peak_open": 0, "busy": 0, "limited": 0, "cut_at_shutdown": 0, "log_dropped": 0})

    def test_localhost_tries_each_address(self):
        """localhost is ::1 then 127.0.0.1; only 127.0.0.1 is bound: ::1 is refused (ICMP), the
        next address answers."""
        h.require_ipv6(self)
        if not h.can_unshare_mount():
            self.skipTest("unshare -m with a bind mount is not available here")
        hosts = h.PrivateFiles(self, {"/etc/hosts": h.LOCALHOST_BOTH})
        server = h.start_server(self, "--udp", "0", "--bind", "127.0.0.1")
        port = server.ready["udp_ports"][0]
        result = udp_client("localhost", port, wrapper=hosts.wrapper())
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)
        self.assertEqual([e["event"] for e in events],
                         ["host_facts", "resolved", "connect_failed", "exchanged"])
        failed = h.one(self, events, "connect_failed")
        self.assertEqual((failed["proto"], failed["remote"], failed["step"], failed["errno"]),
                         ("udp", h.ep("::1", port), "read", "ECONNREFUSED"))
        ex = h.one(self, events, "exchanged")
        self.assertEqual(ex["remote"], h.ep("127.0.0.1", port))
        self.assertEqual(server.wait_event("datagram")["remote"], ex["local"])


# ---------------------------------------------------------------------------------------------
# A raw UDP sender (nc -u, a script) gets the text report
# ---------------------------------------------------------------------------------------------

class RawUdpSender(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def check(self, address):
        server = h.start_server(self, "--udp", "0")
        port = server.ready["udp_ports"][0]
        sock = udp_socket(self, address)
        mine = sock.getsockname()[:2]
        sock.sendto(b"hi\n", (address, port))
        data, sender = sock.recvfrom(4096)
        self.assertEqual(sender[:2], (address, port), "the answer comes from the port we sent to")
        text = data.decode()
        h.assert_text(self, text, expected_report(1, h.ep_text(address, port), h.ep_text(*mine)),
                      "raw sender's report")
        h.assert_text_lines(self, text, "raw sender's report")
        datagram = server.wait_event("datagram")
        self.assertEqual((datagram["id"], datagram["local"], datagram["remote"], datagram["bytes"]),
                         (1, h.ep(address, port), h.ep(*mine), 3))
        self.assertEqual(server.wait_event("answered"),
                         {"event": "answered", "id": 1, "report": "text", "received_bytes": 3,
                          "received": "hi\\n"})

    def test_ipv4(self):
        self.check("127.0.0.1")

    def test_ipv6(self):
        h.require_ipv6(self)
        self.check("::1")

    def test_bytes_are_logged_escaped(self):
        payload = b"hi\x1b[2J\xff\\\n"
        escaped = "hi\\x1b[2J\\xff\\x5c\\n"
        server, port, _ = start_text_server(self, "--udp", "0", "--bind", "127.0.0.1")
        sock = udp_socket(self)
        mine = sock.getsockname()[1]
        sock.sendto(payload, ("127.0.0.1", port))
        data, _ = sock.recvfrom(4096)
        self.assertIn(f"127.0.0.1:{mine}", data.decode())
        line = server.wait_line(lambda l: l.startswith("datagram #"), what="the datagram line")
        self.assertTrue(line.startswith("datagram #1 "), line)
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())
        rest = server.read_rest()
        log = "".join(rest[rest.index(line):])
        self.assertNotIn("\x1b", log, "a client's escape sequence reached the lecturer's terminal")
        h.assert_text(self, log, [
            f"datagram #1   local 127.0.0.1:{port} (fixed)   remote 127.0.0.1:{mine} (ephemeral)\n",
            datagram_detail(len(payload), mine),
            h.Wrapped(f'#1 sent {len(payload)} bytes first: "{escaped}"; it got the text report', 4, 2),
            f"summary: 0 connections; UDP port {port}: 1 datagram\n"
            f"  client ports seen: 1 distinct, lowest {mine}, highest {mine}\n"
            f"  the server's ports stayed fixed; the clients' ports came and went\n"], "server text")

    def test_bytes_are_logged_escaped_in_json(self):
        server = h.start_server(self, "--udp", "0", "--bind", "127.0.0.1")
        port = server.ready["udp_ports"][0]
        sock = udp_socket(self)
        sock.sendto(b"hi\x1b[2J\xff\\\n", ("127.0.0.1", port))
        sock.recvfrom(4096)
        answered = server.wait_event("answered")
        self.assertEqual((answered["report"], answered["received_bytes"], answered["received"]),
                         ("text", 9, "hi\\x1b[2J\\xff\\x5c\\n"))


# ---------------------------------------------------------------------------------------------
# Failures: refused (ICMP port-unreachable), timed out (silence), usage, a UDP port taken
# ---------------------------------------------------------------------------------------------

class UdpFailures(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def check_refused(self, address):
        port = free_udp_port(address)
        result = udp_client(address, port, "--timeout", "3")
        self.assertEqual(result.returncode, h.EX_UNAVAILABLE, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)
        self.assertEqual([e["event"] for e in events], ["host_facts", "resolved", "connect_failed", "gave_up"])
        failed = h.one(self, events, "connect_failed")
        self.assertEqual((failed["proto"], failed["remote"], failed["step"], failed["errno"], failed["message"]),
                         ("udp", h.ep(address, port), "read", "ECONNREFUSED", "Connection refused"))
        explanation = failed["explanation"]
        self.assertTrue(explanation.startswith(f"nothing is bound to UDP port {port}"), explanation)
        self.assertIn(f"on {address}: our datagram was refused", explanation)
        self.assertIn("no handshake", explanation)
        self.assertIn("ICMP port-unreachable", explanation)
        self.assertIn(f"demo-server --udp {port}", explanation)
        self.assertEqual(h.one(self, events, "gave_up"),
                         {"event": "gave_up", "host": address, "port": port,
                          "attempts": [{"remote": h.ep(address, port), "step": "read",
                                        "errno": "ECONNREFUSED"}],
                          "exit_code": h.EX_UNAVAILABLE})

    def test_refused_ipv4(self):
        self.check_refused("127.0.0.1")

    def test_refused_ipv6(self):
        h.require_ipv6(self)
        self.check_refused("::1")

    def test_refused_text(self):
        port = free_udp_port()
        result = udp_client("127.0.0.1", port, "--timeout", "3", fmt="text")
        self.assertEqual(result.returncode, h.EX_UNAVAILABLE, result.stdout + result.stderr)
        h.assert_text_lines(self, result.stdout, "client text")
        self.assertIn(f"refused    {h.ep_text('127.0.0.1', port):<17} read: Connection refused "
                      f"(ECONNREFUSED)\n", result.stdout)
        flat = h.flat(result.stdout)
        self.assertIn(f"nothing is bound to UDP port {port}", flat)
        self.assertIn("why: UDP has no handshake", flat)
        self.assertIn("ICMP port-unreachable message", flat)

    def silent_peer(self):
        """A UDP socket that receives and never answers: every answer is 'lost'."""
        sock = udp_socket(self)
        return sock, sock.getsockname()[1]

    def test_timeout(self):
        sock, port = self.silent_peer()
        started = time.monotonic()
        result = udp_client("127.0.0.1", port, "--timeout", "0.5")
        elapsed = time.monotonic() - started
        self.assertEqual(result.returncode, h.EX_TEMPFAIL, result.stdout + result.stderr)
        self.assertGreaterEqual(elapsed, 0.5, "the client gave up before its --timeout")
        self.assertLess(elapsed, 3.0, "the wait for an answer must be bounded by --timeout")
        # The datagram did go out: the silent peer has it.
        data, sender = sock.recvfrom(4096)
        self.assertEqual(data, hello_with_view(h.ep("127.0.0.1", sender[1]), h.ep("127.0.0.1", port)))
        self.assertEqual(sender[0], "127.0.0.1")
        events = h.json_events(self, result.stdout)
        self.assertEqual([e["event"] for e in events], ["host_facts", "resolved", "connect_failed", "gave_up"])
        failed = h.one(self, events, "connect_failed")
        self.assertEqual((failed["proto"], failed["remote"], failed["step"], failed["errno"]),
                         ("udp", h.ep("127.0.0.1", port), "read", "ETIMEDOUT"))
        explanation = failed["explanation"]
        self.assertTrue(explanation.startswith(f"no answer from UDP 127.0.0.1:{port} within 0.5 s."),
                        explanation)
        self.assertIn("our datagram or its answer was lost", explanation)
        self.assertIn("no retransmission", explanation)
        self.assertEqual(h.one(self, events, "gave_up")["exit_code"], h.EX_TEMPFAIL)

    def test_timeout_text(self):
        _, port = self.silent_peer()
        result = udp_client("127.0.0.1", port, "--timeout", "0.5", fmt="text")
        self.assertEqual(result.returncode, h.EX_TEMPFAIL, result.stdout + result.stderr)
        h.assert_text_lines(self, result.stdout, "client text")
        self.assertIn(f"timed out  {h.ep_text('127.0.0.1', port):<17} read: Connection timed out "
                      f"(ETIMEDOUT)\n", result.stdout)
        flat = h.flat(result.stdout)
        self.assertIn(f"no answer from UDP 127.0.0.1:{port} within 0.5 s.", flat)
        self.assertIn("our datagram or its answer was lost", flat)

    def check_usage(self, *args, word):
        peer, port = self.silent_peer()
        result = udp_client("127.0.0.1", port, *args)
        self.assertEqual(result.returncode, h.EX_USAGE, result.stdout + result.stderr)
        self.assertEqual(result.stdout, "", "a refused command line reports nothing on stdout")
        self.assertIn("--udp", result.stderr)
        self.assertIn(word, result.stderr)
        # Refused before anything was sent.
        peer.settimeout(0.05)
        with self.assertRaises(socket.timeout):
            peer.recvfrom(4096)

    def test_hold_is_refused(self):
        self.check_usage("--hold", "1", word="--hold")

    def test_verify_is_refused(self):
        self.check_usage("--verify", word="--verify")

    def udp_port_held(self):
        """A UDP socket of this test on 127.0.0.1, on a port number TCP can still bind there."""
        holder = udp_socket(self)
        port = holder.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                self.skipTest(f"TCP port {port} is taken too")
        return holder, port

    def test_udp_port_taken_json(self):
        """A UDP port held by another socket: the server's TCP socket on the same number binds,
        the UDP bind fails and is reported as UDP, without blaming the server's own TCP socket."""
        holder, port = self.udp_port_held()
        server = h.start_server(self, "--ports", str(port), "--udp", str(port), "--bind", "127.0.0.1")
        self.assertEqual(server.ready, {"event": "ready", "listening": 1, "failed": 1, "ports": [port],
                                        "tls_ports": [], "udp_ports": [], "quic_ports": []})
        self.assertEqual([e["proto"] for e in h.of(server.events(), "listening")], ["tcp"])
        failed = h.one(self, server.events(), "bind_failed")
        self.assertEqual((failed["proto"], failed["local"], failed["step"], failed["errno"]),
                         ("udp", h.ep("127.0.0.1", port), "bind", "EADDRINUSE"))
        for holder_entry in failed.get("holders", []):
            self.assertNotEqual(holder_entry["pid"], server.pid,
                                f"the server's own TCP listener is blamed for the UDP port: {failed}")

    def test_udp_port_taken_explanation(self):
        holder, port = self.udp_port_held()
        server = h.start_server(self, "--ports", str(port), "--udp", str(port), "--bind", "127.0.0.1")
        failed = h.one(self, server.events(), "bind_failed")
        explanation = failed["explanation"]
        self.assertTrue(explanation.startswith(f"port {port}"), explanation)
        self.assertNotIn(f"pid {server.pid} (demo-server)", explanation)
        self.assertNotIn("ss -ltnp", explanation, "a TCP command to find a UDP port's holder")
        self.assertIn(f"--udp ", explanation, "the other port to try is a UDP one")

    def test_only_udp_port_taken_exits_69(self):
        holder = udp_socket(self)
        port = holder.getsockname()[1]
        server = h.start_server(self, "--udp", str(port), "--bind", "127.0.0.1")
        self.assertEqual(server.ready, {"event": "ready", "listening": 0, "failed": 1, "ports": [],
                                        "tls_ports": [], "udp_ports": [], "quic_ports": []})
        self.assertEqual(server.wait(), h.EX_UNAVAILABLE, server.stderr())
        self.assertEqual(h.one(self, server.events(), "bind_failed")["errno"], "EADDRINUSE")


# ---------------------------------------------------------------------------------------------
# The server's summary on SIGTERM: datagrams per UDP port beside connections per TCP port
# ---------------------------------------------------------------------------------------------

class UdpSummary(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def test_datagrams_per_udp_port(self):
        h.require_ipv6(self)
        server = h.start_server(self, "--ports", "0", "--udp", "0")
        tcp_port, udp_port = server.ready["ports"][0], server.ready["udp_ports"][0]
        senders = []
        for address in ("127.0.0.1", "::1"):
            sock = udp_socket(self, address)
            sock.sendto(b"x", (address, udp_port))
            sock.recvfrom(4096)
            senders.append(sock.getsockname()[1])
        tcp = h.run_client("127.0.0.1", tcp_port)
        self.assertEqual(tcp.returncode, h.EX_OK, tcp.stdout + tcp.stderr)
        tcp_client_port = h.one(self, h.json_events(self, tcp.stdout), "connected")["local"]["port"]
        server.wait_event("accepted")
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())
        server.read_rest()
        ports = senders + [tcp_client_port]
        self.assertEqual(h.one(self, server.events(), "summary"),
                         {"event": "summary", "role": "server", "connections": 1,
                          "per_port": [{"port": tcp_port, "connections": 1},
                                       {"port": udp_port, "proto": "udp", "datagrams": 2}],
                          "distinct_client_ports": len(set(ports)), "lowest_client_port": min(ports),
                          "highest_client_port": max(ports), "peak_open": 1, "busy": 0, "limited": 0, "cut_at_shutdown": 0, "log_dropped": 0})


if __name__ == "__main__":
    unittest.main()
