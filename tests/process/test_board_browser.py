"""The classroom board (GET /board) in a real browser: Debian's chromium, headless, driven over
the Chrome DevTools Protocol on a pipe, keeps the page open while clients connect from six
loopback addresses. Every connection must appear as a row whose ports are the ones the server
logged (`accepted`); the page must come back whole after a reload (from the snapshot), and say
"reconnecting" when the server stops. A screenshot is left in the build directory
(board-30.png) for a person to look at."""

import base64
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import harness as h
from test_browser import CHROMIUM, build_dir, end_session, require_chromium

# Bounded waits, in seconds.
BROWSER_START_WAIT = 30.0  # chromium's first answer on the pipe (it is slow to start on 2 cores)
CALL_WAIT = 10.0           # any later DevTools call
LIVE_WAIT = 10.0           # the page's first snapshot
ROWS_WAIT = 10.0           # all connections shown
CLIENT_IO_WAIT = 3.0       # one client connection's answer
RELOADS = 5                # reloads of / beside the board, each followed by an nc
NC_GAP = 1.0               # from a reload's end to the nc (chromium's spares come within 70 ms)

SOURCES = [f"127.0.0.{n}" for n in range(2, 8)]  # six client addresses, all loopback
CONNECTIONS = 30
MIN_SCREENSHOT_BYTES = 10 * 1024
WIDTH, HEIGHT = 1280, 800


class Chromium:
    """Headless chromium with --remote-debugging-pipe: DevTools messages are JSON, separated by
    NUL bytes, read by chromium from its fd 3 and written to its fd 4. One page target, attached
    with a flattened session. Ended by its session id in the test's cleanup."""

    def __init__(self, case, wrapper=(), flags=()):
        self.case = case
        self.profile = tempfile.mkdtemp(prefix="portdemo-board-chromium-")
        case.addCleanup(shutil.rmtree, self.profile, True)
        # Network prediction stays at chromium's default (on): chromium opens spare sockets to
        # a host it has seen and sends a later request on one of them. demo-server answers a
        # connection that stays silent for 200 ms with its plain-text report (for nc), except
        # from an address that spoke HTTP within 10 s; without that exception the reload below
        # read a report as its answer (ERR_INVALID_HTTP_RESPONSE) and showed chromium's error
        # page for seconds. This test is where that was found, so it keeps prediction on.
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()

        def child_fds():
            # os.pipe() descriptors are not inherited; copies made here at 3 and 4 are.
            r, w = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(r, 3)
            os.dup2(w, 4)
            h._die_with_parent()

        argv = list(wrapper) + [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--remote-debugging-pipe", f"--window-size={WIDTH},{HEIGHT}",
                f"--user-data-dir={self.profile}"] + list(flags) + ["about:blank"]
        env = dict(os.environ)
        for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
                      "ALL_PROXY"):
            env.pop(proxy, None)
        self.stderr = open(os.path.join(self.profile, "stderr.txt"), "w+b")
        case.addCleanup(self.stderr.close)
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=self.stderr, env=env, close_fds=False,
                                      preexec_fn=child_fds, start_new_session=True)
        case.addCleanup(self.end)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.buffer = b""
        self.next_id = 0
        self.events = []  # every event message received, in order
        self.session = None
        target = self.call("Target.createTarget", {"url": "about:blank"},
                           timeout=BROWSER_START_WAIT, session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
        self.call("Network.enable")
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Log.enable")

    def errors(self):
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")[-2000:]

    def _messages(self, deadline, what):
        """Yields messages from chromium until the caller stops; fails at the deadline."""
        while True:
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                yield json.loads(raw)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"chromium did not answer {what} in time; its stderr: "
                                     f"{self.errors()}")
            ready, _, _ = select.select([self.from_browser], [], [], remaining)
            if ready:
                chunk = os.read(self.from_browser, 1 << 20)
                if not chunk:
                    raise AssertionError(f"chromium closed its pipe (exit {self.popen.poll()}) "
                                         f"before answering {what}; its stderr: {self.errors()}")
                self.buffer += chunk

    def call(self, method, params=None, timeout=CALL_WAIT, session=True):
        """Sends one DevTools command and returns its result; fails on an error or timeout."""
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        for m in self._messages(time.monotonic() + timeout, method):
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise AssertionError(f"{method} failed: {m['error']}")
                return m["result"]
            if "method" in m:
                self.events.append(m)

    def evaluate(self, expression, timeout=CALL_WAIT):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, timeout=timeout)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression, timeout, what):
        """Polls `expression` every 100 ms until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except AssertionError as e:  # the page is between documents (a reload)
                value = e
            if value and not isinstance(value, AssertionError):
                return value
            time.sleep(0.1)
        raise AssertionError(f"{what} did not happen within {timeout} s (last: {value!r})")

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def end(self):
        """Cleanup: closes the browser politely, then ends whatever is left of its session."""
        if self.popen.poll() is None:
            try:
                self.next_id += 1
                os.write(self.to_browser, json.dumps({"id": self.next_id, "method": "Browser.close",
                                                      "params": {}}).encode() + b"\0")
                self.popen.wait(timeout=h.EXIT_WAIT)
            except (OSError, subprocess.TimeoutExpired):
                pass
        end_session(self.popen.pid)
        try:
            self.popen.wait(timeout=h.EXIT_WAIT)
        except subprocess.TimeoutExpired:
            pass
        for fd in (self.to_browser, self.from_browser):
            try:
                os.close(fd)
            except OSError:
                pass


# Every row of the board, as its data attributes say.
ROWS_JS = """JSON.stringify([...document.querySelectorAll('#rows tr[data-id]')].map((tr) => ({
  id: +tr.getAttribute('data-id'), address: tr.getAttribute('data-client-address'),
  port: +tr.getAttribute('data-client-port'), server_port: +tr.getAttribute('data-server-port'),
  proto: tr.getAttribute('data-proto'), requests: +tr.getAttribute('data-requests')})))"""


def connect_from(source, port):
    """One client connection from `source` (bound before connecting, port 0: the kernel's
    choice) to the server: sends a line and reads the answer to its end. Returns the socket,
    still open, so that its port cannot be handed out again during the test."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(CLIENT_IO_WAIT)
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b"hello\n")
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
        if not answer:
            raise AssertionError(f"the server answered nothing to {source}:{s.getsockname()[1]}")
        return s
    except BaseException:
        s.close()
        raise


class BoardBrowser(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        require_chromium(cls)

    def setUp(self):
        self.started = time.monotonic()
        self.server = h.start_server(self, "--ports", "0")
        self.port = self.server.port
        self.board_url = f"http://127.0.0.1:{self.port}/board"

    def lap(self, what):
        """Says how long the test has taken so far (on stderr, beside unittest's -v lines)."""
        print(f"  {time.monotonic() - self.started:5.1f} s  {what}", file=sys.stderr)

    def open_board(self):
        browser = Chromium(self)
        self.lap("chromium started")
        browser.call("Page.navigate", {"url": self.board_url})
        browser.wait_for("document.body && document.body.dataset.state === 'live'", LIVE_WAIT,
                         "the board going live")
        self.lap("board live")
        return browser

    def rows(self, browser):
        return json.loads(browser.evaluate(ROWS_JS))

    def test_page_is_self_contained(self):
        """The page as served: HTML, nothing that loads from elsewhere, no innerHTML."""
        with urllib.request.urlopen(self.board_url, timeout=h.EVENT_WAIT) as r:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["Content-Type"], "text/html; charset=utf-8")
            page = r.read().decode("utf-8")
        self.assertLess(len(page.encode()), 24 * 1024)
        for needle in ("src=", "href=", "url(", "@import", "innerHTML", "outerHTML",
                       "insertAdjacentHTML", "document.write"):
            self.assertNotIn(needle, page)
        self.assertIn("new EventSource('/events')", page)

    def test_thirty_connections_then_reload(self):
        browser = self.open_board()

        # 30 connections, five from each of six loopback addresses, all kept open until the end
        # so that no (address, port) comes twice.
        sockets = []
        try:
            for i in range(CONNECTIONS):
                sockets.append(connect_from(SOURCES[i % len(SOURCES)], self.port))
            ours = [(s.getsockname()[0], s.getsockname()[1]) for s in sockets]
        finally:
            for s in sockets:
                s.close()
        self.assertEqual(len(set(ours)), CONNECTIONS, ours)
        self.lap(f"{CONNECTIONS} connections made")

        # The server's log: the accepted event of each of ours.
        accepted = {}

        def seen(line):
            e = json.loads(line)
            if e.get("event") == "accepted":
                key = (e["remote"]["address"], e["remote"]["port"])
                if key in ours:
                    accepted[key] = e
            return len(accepted) == CONNECTIONS
        self.server.wait_line(seen, what=f"the accepted events of our {CONNECTIONS} connections")

        # Every one shown (bounded), each row as the server logged it.
        want = json.dumps([[a, p] for a, p in ours])
        browser.wait_for(f"""(() => {{
            const shown = new Set([...document.querySelectorAll('#rows tr[data-id]')].map(
                (tr) => tr.getAttribute('data-client-address') + ' ' + tr.getAttribute('data-client-port')));
            return {want}.every(([a, p]) => shown.has(a + ' ' + p));
        }})()""", ROWS_WAIT, f"all {CONNECTIONS} connections appearing on the board")
        self.lap(f"all {CONNECTIONS} rows shown")
        self.check_rows(self.rows(browser), accepted)
        totals = browser.evaluate("[document.getElementById('t-connections').textContent,"
                                  " document.getElementById('t-clients').textContent]")
        self.assertGreaterEqual(int(totals[0].replace(",", "")), CONNECTIONS, totals)
        self.assertGreaterEqual(int(totals[1].replace(",", "")), len(SOURCES), totals)

        # No script error, no console error, no policy violation (a failed load is the network's
        # matter: /favicon.ico is a 404 here).
        problems = [e for e in browser.events
                    if e.get("method") == "Runtime.exceptionThrown"
                    or (e.get("method") == "Runtime.consoleAPICalled"
                        and e["params"]["type"] in ("error", "warning", "assert"))
                    or (e.get("method") == "Log.entryAdded"
                        and e["params"]["entry"]["level"] in ("error", "warning")
                        and e["params"]["entry"]["source"] != "network")]
        self.assertEqual(problems, [])

        # Nothing was fetched from anywhere but this server.
        urls = [e["params"]["request"]["url"] for e in browser.events
                if e.get("method") == "Network.requestWillBeSent"]
        self.assertIn(self.board_url, urls)
        for url in urls:
            self.assertTrue(url.startswith(f"http://127.0.0.1:{self.port}/"), urls)

        # A screenshot for people, in the build directory.
        shot = os.path.join(build_dir(), "board-30.png")
        if os.path.exists(shot):
            os.remove(shot)
        browser.screenshot(shot)
        with open(shot, "rb") as f:
            head = f.read(24)
        self.assertEqual(head[:8], b"\x89PNG\r\n\x1a\n", f"{shot} is not a PNG")
        self.assertEqual(struct.unpack(">II", head[16:24]), (WIDTH, HEIGHT), shot)
        self.assertGreater(os.path.getsize(shot), MIN_SCREENSHOT_BYTES, f"{shot} is nearly empty")
        self.lap(f"screenshot {shot}")

        # A reload: the new page follows /events afresh, and its snapshot brings the rows back.
        browser.evaluate("window.boardTestMark = 1; location.reload(); 1")
        browser.wait_for("window.boardTestMark === undefined && document.body &&"
                         " document.body.dataset.state === 'live'", LIVE_WAIT,
                         "the reloaded board going live")
        self.check_rows(self.rows(browser), accepted)
        self.lap("reloaded: live again, rows back from the snapshot")

    def test_reloads_beside_the_board_never_read_a_report_and_nc_between_them_gets_its_own(self):
        """The rule for browsers' spare connections, both halves: chromium keeps /board open in
        one tab and reloads / in another again and again (with its spare, preconnected sockets:
        network prediction is on), and never reads the server's text report as an answer
        (ERR_INVALID_HTTP_RESPONSE); nc from the same address, started between the reloads,
        gets its report within 300 ms every time."""
        browser = Chromium(self)
        self.lap("chromium started")
        board = browser.call("Target.createTarget", {"url": self.board_url}, session=False)["targetId"]
        self.addCleanup(lambda: browser.popen.poll() is None and
                        browser.call("Target.closeTarget", {"targetId": board}, session=False))
        page_url = f"http://127.0.0.1:{self.port}/"
        browser.call("Page.navigate", {"url": page_url})
        loaded = ("document.readyState === 'complete' && window.portdemoMark === undefined && "
                  "document.title.startsWith('Your port')")
        browser.wait_for(loaded, LIVE_WAIT, "the page loading")
        self.server.wait_event("http_request", path="/events")  # the board follows, from 127.0.0.1
        waits = []
        for round_ in range(RELOADS):
            browser.evaluate("window.portdemoMark = 1; location.reload(); 1")
            browser.wait_for(loaded, LIVE_WAIT, f"reload {round_ + 1}")
            href = browser.evaluate("location.href")
            self.assertEqual(href, page_url, f"reload {round_ + 1} ended on an error page")
            # Between the reloads: a terminal's nc on its own, a second after the browser's last.
            time.sleep(NC_GAP)
            started = time.monotonic()
            nc = subprocess.Popen(["nc", "127.0.0.1", str(self.port)], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            self.addCleanup(lambda p=nc: (p.poll() is None and p.kill(), p.wait(5)))
            ready, _, _ = select.select([nc.stdout], [], [], 3.0)
            first = os.read(nc.stdout.fileno(), 4096) if ready else b""
            waits.append(time.monotonic() - started)
            self.assertTrue(first.startswith(b"portdemo: your connection #"),
                            f"nc after reload {round_ + 1} got {first[:80]!r} in {waits[-1]:.2f} s")
            nc.wait(5)
        self.lap(f"{RELOADS} reloads; nc answered in {', '.join(f'{w * 1000:.0f}' for w in waits)} ms")
        self.assertLess(max(waits), 0.3)
        failed = [e for e in browser.events if e.get("method") == "Network.loadingFailed"]
        self.assertEqual([e["params"].get("errorText") for e in failed
                          if "INVALID_HTTP_RESPONSE" in e["params"].get("errorText", "")], [])

    def check_rows(self, rows, accepted):
        """Each of our connections has exactly one row, and its attributes are the server's
        log of that connection: id, remote address and port, local port."""
        by_id = {}
        for row in rows:
            self.assertNotIn(row["id"], by_id, f"two rows for connection #{row['id']}: {rows}")
            by_id[row["id"]] = row
        self.assertLessEqual(len(rows), 100)
        for (address, port), e in accepted.items():
            row = by_id.get(e["id"])
            self.assertIsNotNone(row, f"no row for connection #{e['id']} ({address}:{port})")
            self.assertEqual((row["address"], row["port"], row["server_port"], row["proto"]),
                             (e["remote"]["address"], e["remote"]["port"], e["local"]["port"],
                              "tcp"), f"row {row} against the server's {e}")
            self.assertEqual(e["local"], h.ep("127.0.0.1", self.port))

    def test_server_stopping_shows_reconnecting(self):
        browser = self.open_board()
        self.server.terminate(signal.SIGTERM)
        self.lap("server stopped")
        browser.wait_for("document.body.dataset.state === 'reconnecting'", LIVE_WAIT,
                         "the board saying 'reconnecting' after the server stopped")
        self.assertIn("stopping", browser.evaluate("document.getElementById('note').textContent"))
        self.assertEqual(browser.evaluate("document.getElementById('state').textContent"),
                         "reconnecting…")
        self.lap("board reconnecting")


class BoardQrCode(unittest.TestCase):
    """The board's QR code, as the browser draws it, decodes (zbarimg, from a screenshot) to the
    URL the server printed for students. In a network namespace of the test's own, with a veth
    pair, so that there is a non-loopback address to join by; chromium runs in it too."""

    @classmethod
    def setUpClass(cls):
        require_chromium(cls)

    def setUp(self):
        if shutil.which("zbarimg") is None:
            self.fail("zbarimg is missing: scripts/install-deps.sh installs zbar-tools")
        self.ns = h.NetNamespace(self)
        self.ns.ip("link", "set", "lo", "up")
        self.ns.ip("link", "add", "class0", "type", "veth", "peer", "name", "class1")
        self.ns.ip("addr", "add", "10.99.0.1/24", "dev", "class0")
        self.ns.ip("link", "set", "class0", "up")
        self.ns.ip("link", "set", "class1", "up")

    def test_the_board_code_decodes_to_the_printed_url(self):
        server = h.Server(self, ["--bind", "0.0.0.0", "--ports", "0"], wrapper=self.ns.wrapper())
        join = next(e for e in server.events() if e.get("event") == "join")
        url = join["urls"][0]
        self.assertEqual(url, f"http://10.99.0.1:{server.port}/")
        browser = Chromium(self, wrapper=self.ns.wrapper())
        browser.call("Page.navigate", {"url": join["board"]})
        browser.wait_for("document.body && document.body.dataset.state === 'live'", LIVE_WAIT,
                         "the board going live")
        self.assertIn(url, browser.evaluate("document.body.innerText"))
        path = os.path.join(build_dir(), "board-qr.png")
        browser.screenshot(path)
        r = subprocess.run(["zbarimg", "--raw", "-q", path], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.stdout, url + "\n", f"zbarimg: {r.stderr!r}")


if __name__ == "__main__":
    unittest.main()
