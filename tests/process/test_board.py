"""The classroom board's event stream (GET /events) and the joining URLs, against the real server
over real sockets: each connection's event arrives within a second and carries the tuple the
server's JSON log has; bursts are coalesced; the subscriber cap answers 503; a subscriber that
reads nothing is dropped with a note while accepting goes on at its normal rate; addresses are
masked on the board and in the log; beyond loopback the server prints the URLs to join by and
a QR code that decodes to the first one (zbarimg)."""

import json
import os
import queue
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

import harness as h

CONNECT_TO_EVENT = 1.0  # the promise: each connection on the board within 1 s


class EventStream:
    """GET /events on a socket of its own; a thread parses the Server-Sent Events into a queue
    of (arrival time, name, data). `head` is the response head."""

    def __init__(self, case, port, host="127.0.0.1", tls=False, rcvbuf=None, read=True,
                 accept="text/event-stream"):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(h.EVENT_WAIT)
        s.connect((host, port))
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s)
        self.sock = s
        self.local = s.getsockname()[:2]
        case.addCleanup(self.close)
        s.sendall(f"GET /events HTTP/1.1\r\nHost: {host}\r\nAccept: {accept}\r\n\r\n".encode())
        self.q = queue.Queue()
        self.head = None
        self.ended = threading.Event()
        self._buf = b""
        self._raw = ""
        if read:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _run(self):
        self.sock.settimeout(30.0)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self._buf += chunk
                self._raw += chunk.decode("utf-8", "replace")
                if self.head is None:
                    if b"\r\n\r\n" not in self._buf:
                        continue
                    head, self._buf = self._buf.split(b"\r\n\r\n", 1)
                    self.head = head.decode()
                while b"\n\n" in self._buf:
                    block, self._buf = self._buf.split(b"\n\n", 1)
                    name, data = "message", []
                    for line in block.decode().split("\n"):
                        if line.startswith("event: "):
                            name = line[7:]
                        elif line.startswith("data: "):
                            data.append(line[6:])
                        elif line.startswith(":"):
                            name = "comment"
                        elif line.startswith("retry: "):
                            name = "retry"
                    self.q.put((time.monotonic(), name, json.loads("\n".join(data)) if data else None))
        except OSError:
            pass
        self.ended.set()
        self.q.put((time.monotonic(), None, None))

    def next(self, name=None, timeout=h.EVENT_WAIT):
        """The next event (named `name` if given): (time, name, data); fails after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {name or 'event'} within {timeout} s")
            try:
                item = self.q.get(timeout=remaining)
            except queue.Empty:
                continue
            if item[1] is None:
                raise AssertionError(f"the event stream ended while waiting for {name or 'an event'}")
            if name is None or item[1] == name:
                return item

    def snapshot(self):
        return self.next("snapshot")[2]


def connect_line(port, source="127.0.0.1", line=b"portdemo-hello 1\n", host="127.0.0.1"):
    """One raw connection from `source`: sends `line`, reads the answer to EOF. Returns
    (connect time, client's (address, port))."""
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(h.EVENT_WAIT)
    if source:
        s.bind((source, 0))
    t = time.monotonic()
    s.connect((host, port))
    me = s.getsockname()[:2]
    s.sendall(line)
    while s.recv(65536):
        pass
    s.close()
    return t, me


def accepted_by_id(server, ids, timeout=h.EVENT_WAIT):
    """The server's JSON `accepted` events for `ids`, read from its log."""
    found = {e["id"]: e for e in server.events() if e.get("event") == "accepted"}
    deadline = time.monotonic() + timeout
    while not all(i in found for i in ids):
        line = server.next_line(max(0.0, deadline - time.monotonic()))
        if line is None:
            break
        e = json.loads(line)
        if e.get("event") == "accepted":
            found[e["id"]] = e
    return found


class Stream(unittest.TestCase):
    def setUp(self):
        h.require_binaries(self)

    def test_each_connection_arrives_within_a_second_with_the_logged_tuple(self):
        server = h.start_server(self)
        port = server.port
        events = EventStream(self, port)
        snap = events.snapshot()
        self.assertTrue(events.head.startswith("HTTP/1.1 200 OK\r\n"), events.head)
        self.assertIn("Content-Type: text/event-stream", events.head)
        self.assertEqual(snap["server"]["max_subscribers"], 64)
        self.assertFalse(snap["server"]["masked"])
        self.assertEqual(snap["server"]["join"], [])
        self.assertIsNone(snap["server"]["qr"])
        # The subscriber's own connection is the first on the board.
        self.assertEqual([c["remote"]["port"] for c in snap["recent"]], [events.local[1]])
        sources = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        for i in range(12):
            t, me = connect_line(port, sources[i % 3])
            _, _, c = events.next("connection", timeout=CONNECT_TO_EVENT + 2)
            arrived = time.monotonic()
            self.assertLess(arrived - t, CONNECT_TO_EVENT, f"connection {me} reached the board late")
            self.assertEqual((c["remote"]["address"], c["remote"]["port"]), me)
            self.assertEqual(c["proto"], "tcp")
            logged = accepted_by_id(server, [c["id"]])[c["id"]]
            self.assertEqual(c["local"], logged["local"])
            self.assertEqual(c["remote"], logged["remote"])
            self.assertEqual(c["in_ephemeral_range"], h.in_ephemeral_range(me[1]))
        totals = events.next("totals")[2]
        # 12 clients and the subscriber, from 4 addresses.
        self.assertEqual(totals["connections"], 13)
        self.assertEqual(totals["distinct_clients"], 4)
        self.assertEqual(totals["per_port"], [{"port": port, "proto": "tcp", "tls": False,
                                               "service": h.describe_port(port), "connections": 13}])
        hist = totals["histogram"]
        low, high = h.ephemeral_range()
        self.assertEqual((hist["low"], hist["high"], len(hist["buckets"])), (low, high, 32))
        self.assertEqual(sum(hist["buckets"]) + hist["below"] + hist["above"], 13)
        self.assertEqual(totals["subscribers"], 1)

    def test_curl_reads_each_connection_within_a_second(self):
        """The issue's own words: /events read with curl while clients connect."""
        if shutil.which("curl") is None:
            self.fail("curl is missing: scripts/install-deps.sh installs it")
        server = h.start_server(self)
        stream = h.Proc(self, ["curl", "-sN", "--max-time", "30", f"http://127.0.0.1:{server.port}/events"])
        stream.wait_line(lambda l: l.startswith("event: snapshot"), what="the snapshot")
        for source in ("127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.4", "127.0.0.5"):
            t, me = connect_line(server.port, source, line=b"hello\n")
            stream.wait_line(lambda l: l == "event: connection\n", timeout=CONNECT_TO_EVENT,
                             what=f"the connection event of {me}")
            c = json.loads(stream.next_line(CONNECT_TO_EVENT)[len("data: "):])
            self.assertLess(time.monotonic() - t, CONNECT_TO_EVENT)
            self.assertEqual((c["remote"]["address"], c["remote"]["port"]), me)
            logged = accepted_by_id(server, [c["id"]])[c["id"]]
            self.assertEqual((c["local"], c["remote"]), (logged["local"], logged["remote"]))

    def test_over_http2_the_board_streams_and_marks_the_protocol(self):
        """A browser on the TLS port follows the board over h2: the stream is one of many on its
        connection, and the board says HTTP/2 for the requests that came so."""
        server = h.start_server(self, "--ports", "0", "--tls", "0")
        base = f"https://127.0.0.1:{server.port}"
        stream = h.Proc(self, ["curl", "-skN", "--http2", "--max-time", "30", "-H", "Accept: text/event-stream",
                               f"{base}/events"])
        stream.wait_line(lambda l: l.startswith("event: snapshot"), what="the snapshot over h2")
        own = server.wait_event("http_request", path="/events")
        self.assertEqual((own["protocol"], own["stream"], own["note"]), ("HTTP/2", 1, "board subscriber"))
        r = h.run(["curl", "-sk", "--http2", f"{base}/json", f"{base}/json"])
        ids = {json.loads(l)["id"] for l in r.stdout.splitlines() if l.startswith("{")}
        self.assertEqual(len(ids), 1, r.stdout)
        seen = []
        while len(seen) < 2:
            stream.wait_line(lambda l: l == "event: request\n", timeout=CONNECT_TO_EVENT, what="a request event")
            req = json.loads(stream.next_line(CONNECT_TO_EVENT)[len("data: "):])
            if req["id"] in ids:
                seen.append(req)
        self.assertEqual([(q["request"], q["protocol"], q["target"]) for q in seen],
                         [(1, "HTTP/2", "/json"), (2, "HTTP/2", "/json")])
        # Stopping ends the stream with a note, inside HTTP/2.
        self.assertEqual(server.terminate(), 0)
        rest = "".join(stream.read_rest())
        self.assertIn('event: note\ndata: {"code":"stopping","message":"the server is stopping"}', rest)

    def test_http_requests_say_when_a_connection_is_reused(self):
        server = h.start_server(self)
        events = EventStream(self, server.port)
        events.snapshot()
        _, _, own = events.next("request")
        self.assertEqual((own["request"], own["target"], own["status"]), (1, "/events", 200))
        s = socket.create_connection(("127.0.0.1", server.port), timeout=h.EVENT_WAIT)
        self.addCleanup(s.close)
        me = s.getsockname()[1]
        for n in (1, 2, 3):
            s.sendall(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
            body = b""
            while b"\n" not in body.split(b"\r\n\r\n", 1)[-1] or b"\r\n\r\n" not in body:
                body += s.recv(65536)
            _, _, r = events.next("request")
            self.assertEqual((r["request"], r["method"], r["target"], r["status"], r["tls"]),
                             (n, "GET", "/json", 200, ""))
        # A new subscriber's snapshot has the count of requests on that connection.
        later = EventStream(self, server.port).snapshot()
        row = [c for c in later["recent"] if c["remote"]["port"] == me]
        self.assertEqual(len(row), 1)
        self.assertEqual(row[0]["requests"], 3)

    def test_snapshot_is_newest_first_and_bounded(self):
        server = h.start_server(self)
        for _ in range(130):
            connect_line(server.port)
        snap = EventStream(self, server.port).snapshot()
        ids = [c["id"] for c in snap["recent"]]
        self.assertEqual(len(ids), 100)
        self.assertEqual(ids, sorted(ids, reverse=True))
        self.assertEqual(ids[0], 131)  # the subscriber itself, the newest
        self.assertEqual(snap["totals"]["connections"], 131)

    def test_a_burst_is_coalesced_and_counted_whole(self):
        server = h.start_server(self, "--ports", "0", "--quiet")
        events = EventStream(self, server.port)
        events.snapshot()
        burst = 300
        threads = [threading.Thread(target=lambda: [connect_line(server.port) for _ in range(burst // 10)])
                   for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        sent, skipped, last_total = 0, 0, 0
        deadline = time.monotonic() + 5
        while last_total < burst + 1 and time.monotonic() < deadline:
            _, name, data = events.next(timeout=5)
            if name == "connection":
                sent += 1
            elif name == "coalesced":
                skipped += data["skipped"]
            elif name == "totals":
                last_total = data["connections"]
        self.assertEqual(last_total, burst + 1)
        self.assertEqual(sent + skipped, burst)
        self.assertGreater(skipped, 0, "300 connections at once went out one by one: not coalesced")

    def test_datagrams_and_tls_connections_are_on_the_board(self):
        udp_port = h.free_port()
        server = h.start_server(self, "--ports", "0", "--tls", "0", "--udp", str(udp_port))
        port = server.port
        events = EventStream(self, port, tls=True)
        snap = events.snapshot()
        protos = sorted((p["proto"], p["tls"]) for p in snap["totals"]["per_port"])
        self.assertEqual(protos, [("tcp", True), ("udp", False)])
        _, _, first = events.next("request")
        self.assertEqual(first["tls"][:4], "TLSv")  # the stream itself came over TLS
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(u.close)
        u.settimeout(h.EVENT_WAIT)
        u.sendto(b"hello", ("127.0.0.1", udp_port))
        u.recvfrom(65536)
        _, _, c = events.next("connection")
        self.assertEqual((c["proto"], c["local"]["port"], c["remote"]["port"]),
                         ("udp", udp_port, u.getsockname()[1]))

    def test_a_rewritten_connection_is_marked_and_one_address_counted(self):
        """demo-client's view differing from the server's (here a hand-made view line claiming
        another dialled port): the board marks the connection; a PROXY header marks it
        "via proxy"; the totals name the address most connections came from."""
        proxy_port = h.free_port()
        server = h.start_server(self, "--ports", f"0,{proxy_port}", "--proxy-protocol", str(proxy_port))
        plain = [p for p in server.ready["ports"] if p != proxy_port][0]
        events = EventStream(self, plain)
        events.snapshot()
        with socket.create_connection(("127.0.0.1", plain), timeout=5) as s:
            mine = s.getsockname()
            s.sendall(b"portdemo-hello 1\n" + f"portdemo-view 1 127.0.0.1:{mine[1]} 127.0.0.1:9\n".encode())
            s.recv(4096)
        c = events.next("connection")[2]
        while c["remote"]["port"] != mine[1]:
            c = events.next("connection")[2]
        mark = events.next("path")[2]
        self.assertEqual(mark, {"id": c["id"], "path": "destination_nat"})
        totals = events.next("totals")[2]
        self.assertEqual(totals["paths"]["destination_nat"], 1)
        self.assertEqual(totals["busiest_address"]["address"], "127.0.0.1")
        # Through a PROXY header (demo-client sends one, as a proxy would).
        result = h.run_client("127.0.0.1", proxy_port, "--proxy-protocol", "v1")
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        mark = events.next("path")[2]
        self.assertEqual(mark["path"], "via_proxy")
        snap = EventStream(self, plain).snapshot()
        marked = {c["id"]: c["path"] for c in snap["recent"]}
        self.assertEqual(marked[mark["id"]], "via_proxy")
        self.assertEqual(marked[c["id"]], "destination_nat")

    def test_stopping_ends_every_stream_and_the_server_at_once(self):
        server = h.start_server(self)
        streams = [EventStream(self, server.port) for _ in range(3)]
        for s in streams:
            s.snapshot()
        t = time.monotonic()
        server.terminate(signal.SIGTERM)
        self.assertLess(time.monotonic() - t, 2.0)
        for s in streams:
            _, _, note = s.next("note")
            self.assertEqual(note["code"], "stopping")
            self.assertTrue(s.ended.wait(2.0), "the stream did not end")


class Limits(unittest.TestCase):
    def setUp(self):
        h.require_binaries(self)

    def test_one_subscriber_over_the_cap_gets_503_and_a_gone_one_frees_its_place(self):
        server = h.start_server(self, "--ports", "0", "--max-board-subscribers", "3")
        streams = [EventStream(self, server.port) for _ in range(3)]
        for s in streams:
            s.snapshot()
        extra = EventStream(self, server.port, accept="*/*")  # curl's: a plain 503
        self.assertTrue(extra.ended.wait(h.EVENT_WAIT))
        self.assertTrue(extra.head.startswith("HTTP/1.1 503 Service Unavailable"), extra.head)
        body = extra._buf.decode()
        self.assertEqual(body, "503 Service Unavailable: the board has 3 subscribers already "
                               "(--max-board-subscribers 3). Close a board page, or start the server "
                               "with a higher --max-board-subscribers.\n")
        server.wait_event("http_request", status=503, path="/events")
        # A browser's EventSource cannot read a 503: it gets a stream with one note and a
        # retry delay of 15 s, then the end.
        browser = EventStream(self, server.port)
        _, _, retry = browser.next("retry")
        _, _, note = browser.next("note")
        self.assertEqual(note, {"code": "board_full",
                                "message": "the board is full: 3 pages follow it already "
                                           "(--max-board-subscribers 3); this page tries again every 15 s"})
        self.assertTrue(browser.ended.wait(h.EVENT_WAIT))
        self.assertIn("retry: 15000", browser._raw)
        # A page closed (FIN, no heartbeat yet): the next subscriber gets its place at once.
        streams[0].sock.shutdown(socket.SHUT_RDWR)
        streams[0].close()
        time.sleep(0.1)
        again = EventStream(self, server.port)
        self.assertEqual(again.snapshot()["totals"]["subscribers"], 3)

    def test_bad_subscriber_limit_is_refused(self):
        r = h.run([h.SERVER, "--max-board-subscribers", "0"])
        self.assertEqual(r.returncode, 64)
        self.assertIn("--max-board-subscribers", r.stderr)
        self.assertIn("0", r.stderr)

    def accept_rate(self, port, n=1000):
        """Connections per second of demo-client --count n --parallel 8 (a process of its own)."""
        t = time.monotonic()
        r = h.run_client("127.0.0.1", port, "--count", n, "--parallel", 8, fmt="json", timeout=60)
        elapsed = time.monotonic() - t
        self.assertEqual(r.returncode, 0, r.stderr)
        return n / elapsed

    def test_a_slow_subscriber_and_a_hundred_more_leave_accepting_at_its_rate(self):
        server = h.start_server(self, "--ports", "0", "--quiet", "--write-timeout", "1s",
                                "--max-connections", "1000")
        port = server.port
        baseline = max(self.accept_rate(port) for _ in range(2))
        # One that reads nothing (a tiny receive window), then 100 more at once, followed by a
        # process of their own that reads and discards (so that the test's own threads do not
        # compete with the load generator): 64 admitted in all.
        slow = EventStream(self, port, rcvbuf=2048, read=False)
        followers = h.Proc(self, ["python3", "-c", FOLLOWERS, str(port), "100"])
        line = followers.next_line(timeout=10)
        self.assertEqual(line, "admitted 63 refused 37\n")
        loaded = max(self.accept_rate(port) for _ in range(2))
        ratio = loaded / baseline
        print(f"\naccept rate: {baseline:.0f}/s alone, {loaded:.0f}/s with 64 subscribers (one slow): "
              f"{ratio:.2f}x", flush=True)
        self.assertGreater(ratio, 0.5, "subscribers slowed accepting down")
        # The slow one is dropped with a note once it has taken nothing for the write timeout
        # (its 64 KiB send buffer and small window full).
        for _ in range(20):
            if any(e.get("code") == "board_subscriber_dropped" for e in server.events()):
                break
            self.accept_rate(port, 500)
            try:
                server.wait_event("note", code="board_subscriber_dropped", timeout=0.5)
                break
            except AssertionError:
                pass
        note = next(e for e in server.events() if e.get("code") == "board_subscriber_dropped")
        self.assertIn(f"127.0.0.1:{slow.local[1]}", note["message"])
        self.assertIn("it took no events for 1s", note["message"])
        # The others are still following.
        os.kill(followers.pid, signal.SIGUSR1)
        self.assertEqual(followers.next_line(timeout=10), "open 63\n")


# The followers: N subscribers in one process, read with a selector and discarded. Prints
# "admitted A refused R" once every head has come, then on SIGUSR1 "open K" (streams not ended).
FOLLOWERS = r"""
import selectors, signal, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
sel = selectors.DefaultSelector()
state = {}
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    state[s] = [b"", True]
reported = False
def report(*_):
    print("open", sum(1 for v in state.values() if v[1]), flush=True)
signal.signal(signal.SIGUSR1, report)
while True:
    for key, _ in sel.select(timeout=1):
        s = key.fileobj
        try:
            chunk = s.recv(65536)
        except BlockingIOError:
            continue
        except OSError:
            chunk = b""
        st = state[s]
        if not chunk:
            st[1] = False
            sel.unregister(s)
            continue
        if len(st[0]) < 64:
            st[0] += chunk[:64]
    heads = [v[0] for v in state.values()]
    if not reported and all(b" " in h_ for h_ in heads):
        ok = sum(1 for h_ in heads if h_.startswith(b"HTTP/1.1 200"))
        print("admitted", ok, "refused", sum(1 for h_ in heads if h_.startswith(b"HTTP/1.1 503")), flush=True)
        reported = True
"""


class Masking(unittest.TestCase):
    def setUp(self):
        h.require_binaries(self)

    def test_addresses_are_masked_on_the_board_and_in_the_log_ports_whole(self):
        server = h.start_server(self, "--ports", "0", "--mask-addresses")
        events = EventStream(self, server.port)
        self.assertTrue(events.snapshot()["server"]["masked"])
        _, me = connect_line(server.port, "127.0.0.7")
        _, _, c = events.next("connection")
        self.assertEqual(c["remote"], {"address": "*.*.*.7", "port": me[1]})
        self.assertEqual(c["local"]["address"], "127.0.0.1")  # the server's own address stays
        logged = accepted_by_id(server, [c["id"]])[c["id"]]
        self.assertEqual(logged["remote"], {"address": "*.*.*.7", "port": me[1]})
        self.assertNotIn("127.0.0.7", "".join(server.lines))
        if h.have_ipv6_loopback():
            _, me6 = connect_line(server.port, "::1", host="::1")
            _, _, c6 = events.next("connection")
            self.assertEqual(c6["remote"], {"address": "*::1", "port": me6[1]})

    def test_text_log_masks_too(self):
        server = h.start_server(self, "--ports", "0", "--mask-addresses", fmt="text")
        _, me = connect_line(server.port, "127.0.0.9")
        line = server.wait_line(lambda l: l.startswith("connection #"))
        self.assertIn(f"remote *.*.*.9:{me[1]} (ephemeral)", h.ANSI.sub("", line))


def pbm_from_blocks(lines, path, scale=6, border=4):
    """The terminal's half-block drawing as a black-on-white image, surrounded by the dark
    terminal background: each character is one module wide and two tall."""
    rows = []
    for line in lines:
        top, bottom = [], []
        for ch in line:
            top.append(ch in "█▀")
            bottom.append(ch in "█▄")
        rows += [top, bottom]
    width = max(len(r) for r in rows)
    rows = [r + [False] * (width - len(r)) for r in rows]
    dark_row = [False] * (width + 2 * border)
    rows = [dark_row] * border + [[False] * border + r + [False] * border for r in rows] + [dark_row] * border
    out = [f"P1\n{len(rows[0]) * scale} {len(rows) * scale}\n"]
    for r in rows:
        line = " ".join("0" if light else "1" for light in r for _ in range(scale))
        out += [line + "\n"] * scale
    with open(path, "w") as f:
        f.write("".join(out))


class Joining(unittest.TestCase):
    """In a network namespace of the test's own, with a dummy interface: the server bound to
    the wildcards prints the URLs of that interface's addresses, and a QR code of the first."""

    def setUp(self):
        h.require_binaries(self)
        if shutil.which("zbarimg") is None:
            self.fail("zbarimg is missing: scripts/install-deps.sh installs zbar-tools")
        self.ns = h.NetNamespace(self)
        self.ns.ip("link", "set", "lo", "up")
        # A veth pair with both ends inside (dummy interfaces need a module not every kernel has).
        self.ns.ip("link", "add", "class0", "type", "veth", "peer", "name", "class1")
        self.ns.ip("link", "set", "class1", "up")
        self.ns.ip("addr", "add", "10.99.0.1/24", "dev", "class0")
        self.ns.ip("addr", "add", "2001:db8::5/64", "dev", "class0", "nodad")
        self.ns.ip("link", "set", "class0", "up")

    def test_urls_qr_and_board_agree(self):
        args = ["--bind", "0.0.0.0", "--bind", "::", "--ports", "8080,8443"]
        server = h.Server(self, args, wrapper=self.ns.wrapper())
        join = next(e for e in server.events() if e.get("event") == "join")
        self.assertEqual(join["urls"], ["http://10.99.0.1:8080/", "https://10.99.0.1:8443/",
                                        "http://[2001:db8::5]:8080/", "https://[2001:db8::5]:8443/"])
        self.assertEqual(join["board"], "http://10.99.0.1:8080/board")
        rows = join["qr"]["rows"]
        self.assertEqual(len(rows), join["qr"]["size"])
        # The board, over the namespace's own address, shows the same URLs and code.
        r = subprocess.run(self.ns.wrapper() + ["curl", "-sN", "--max-time", "1", "http://10.99.0.1:8080/events"],
                           capture_output=True, text=True, timeout=10)
        data = next(l[6:] for l in r.stdout.split("\n") if l.startswith("data: {\"server\""))
        snap = json.loads(data)
        self.assertEqual(snap["server"]["join"], join["urls"])
        self.assertEqual(snap["server"]["qr"], rows)
        self.assertEqual(snap["recent"][0]["remote"]["address"], "10.99.0.1")

    def test_the_terminal_code_decodes_to_the_first_url(self):
        args = ["--bind", "0.0.0.0", "--ports", "8080"]
        server = h.Server(self, args + ["--color", "never"], fmt="text", wrapper=self.ns.wrapper())
        text = "".join(server.lines)
        start = text.index("join: ")
        block = text[start:].split("\n")
        self.assertEqual(block[0], "join: students open this in a browser, or scan the code:")
        self.assertEqual(block[1], "  http://10.99.0.1:8080/")
        code = [l[2:] for l in block[2:] if l.startswith("  ") and set(l[2:]) <= set("█▀▄ ") and l.strip()]
        self.assertGreater(len(code), 10)
        board_line = next(l for l in block if "the board, for the projector" in l)
        self.assertEqual(board_line, "  the board, for the projector: http://10.99.0.1:8080/board")
        h.assert_text_lines(self, text, "server text with a QR code")
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "qr.pbm")
            pbm_from_blocks(code, path)
            r = subprocess.run(["zbarimg", "--raw", "-q", path], capture_output=True, text=True, timeout=30)
            self.assertEqual(r.stdout, "http://10.99.0.1:8080/\n", r.stderr)

    def test_loopback_only_prints_no_join(self):
        server = h.Server(self, ["--bind", "127.0.0.1", "--ports", "0"], wrapper=self.ns.wrapper())
        self.assertFalse([e for e in server.events() if e.get("event") == "join"])


if __name__ == "__main__":
    unittest.main()
