"""A real browser against the server: Debian's chromium, headless, over HTTP and HTTPS on
loopback. The port the page shows as the browser's must be the port the server saw (its
`accepted` and `http_request` events), and a screenshot of each page is left in the build
directory (web-http.png, web-https.png) for a person to look at."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import harness as h

CHROMIUM = "/usr/bin/chromium"
BROWSER_WAIT = 60.0  # one whole chromium run
MIN_SCREENSHOT_BYTES = 10 * 1024


def build_dir():
    """Where the screenshots go: PORTDEMO_BUILD_DIR (set by CMake), else the build directory
    that holds DEMO_SERVER (<build>/server/demo-server)."""
    return os.environ.get("PORTDEMO_BUILD_DIR") or os.path.dirname(os.path.dirname(os.path.abspath(h.SERVER)))


def session_members(sid):
    """The pids of the processes in session `sid` (the chromium we started and its children,
    even those reparented after their parent ended)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 3 and int(fields[3]) == sid:
            pids.append(int(entry))
    return pids


def end_session(sid):
    """SIGKILLs, one pid at a time, every process left in the session we started; bounded."""
    deadline = time.monotonic() + h.EXIT_WAIT
    while time.monotonic() < deadline:
        left = [p for p in session_members(sid) if p != os.getpid()]
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def require_chromium(cls):
    """Skips a test class, saying why, where Debian's chromium is missing."""
    h.require_binaries(cls)
    if not os.access(CHROMIUM, os.X_OK):
        raise unittest.SkipTest(f"Debian's chromium is not installed at {CHROMIUM} "
                                f"(apt-get install chromium)")


class Browser(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        require_chromium(cls)

    def chromium(self, url, *args):
        """Runs headless chromium on `url` with a fresh profile; returns its stdout. Its whole
        process tree is ended if it takes longer than BROWSER_WAIT, and whatever it leaves
        behind is ended when it returns."""
        profile = tempfile.mkdtemp(prefix="portdemo-chromium-")
        self.addCleanup(shutil.rmtree, profile, True)
        argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}"] + list(args) + [url]
        env = dict(os.environ)
        for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
            env.pop(proxy, None)
        with open(os.path.join(profile, "stderr.txt"), "w+b") as err:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                    env=env, start_new_session=True)
            try:
                out, _ = proc.communicate(timeout=BROWSER_WAIT)
            except subprocess.TimeoutExpired:
                end_session(proc.pid)
                proc.communicate(timeout=h.EXIT_WAIT)
                self.fail(f"chromium did not end within {BROWSER_WAIT} s: {argv!r}")
            finally:
                end_session(proc.pid)
            err.seek(0)
            errors = err.read().decode("utf-8", "replace")[-2000:]
        self.assertEqual(proc.returncode, 0, f"chromium failed ({proc.returncode}): {errors}")
        return out.decode("utf-8", "replace")

    def check_page(self, server, url, scheme, extra_args=()):
        port = server.port
        dom = self.chromium(url, "--dump-dom", *extra_args)
        client = re.search(r'id="client-port">(\d+)<', dom)
        shown_server = re.search(r'id="server-port">(\d+)<', dom)
        self.assertTrue(client and shown_server, f"the page lacks the ports: {dom[:2000]}")
        client_port = int(client.group(1))
        self.assertEqual(int(shown_server.group(1)), port)
        self.assertIn('id="client-address">127.0.0.1</code>', dom)
        self.assertIn('id="server-address">127.0.0.1</code>', dom)

        # The server saw the same port: the GET / it answered, and the connection it accepted.
        def pred(e):
            return e["path"] == "/" and e["remote"]["port"] == client_port
        line = server.wait_line(lambda l: '"event":"http_request"' in l and pred(json.loads(l)),
                                what=f"the http_request event for GET / from port {client_port}")
        request = json.loads(line)
        self.assertEqual((request["method"], request["status"]), ("GET", 200))
        self.assertEqual(request["local"], h.ep("127.0.0.1", port))
        self.assertEqual(request["remote"], h.ep("127.0.0.1", client_port))
        accepted = [e for e in h.of(server.events(), "accepted") if e["id"] == request["id"]]
        self.assertEqual(len(accepted), 1, server.events())
        self.assertEqual(accepted[0]["local"], h.ep("127.0.0.1", port))
        self.assertEqual(accepted[0]["remote"], h.ep("127.0.0.1", client_port))
        # The page's own script: the URL, the browser's claim, agrees with the socket here.
        self.assertIn(f'<td id="url-claim">127.0.0.1:{port} is the URL, your browser\'s claim, and the port this '
                      f'socket has</td>', dom)
        self.assertNotIn('id="host-claim"', dom)
        if scheme == "https":
            self.assertTrue(request["tls"] and request["tls"].startswith("TLS"), request)
            self.assertIn('<td id="tls">yes: TLS', dom)
            # Chromium chose h2 in ALPN: the server's word and the browser's own agree.
            self.assertEqual(request["protocol"], "HTTP/2", request)
            self.assertIn(f'<td id="protocol">HTTP/2, stream {request["stream"]}</td>', dom)
            self.assertIn('<td id="browser-protocol">fetched this page with h2</td>', dom)
        else:
            self.assertIsNone(request["tls"])
            self.assertIn('<td id="tls">none: plain HTTP</td>', dom)
            self.assertEqual((request["protocol"], request["stream"]), ("HTTP/1.1", None))
            self.assertIn('<td id="protocol">HTTP/1.1</td>', dom)
            self.assertIn('<td id="browser-protocol">fetched this page with http/1.1</td>', dom)

        # A screenshot for people, in the build directory.
        shot = os.path.join(build_dir(), f"web-{scheme}.png")
        if os.path.exists(shot):
            os.remove(shot)
        self.chromium(url, f"--screenshot={shot}", "--window-size=1280,900", *extra_args)
        self.assertTrue(os.path.exists(shot), f"chromium wrote no screenshot to {shot}")
        with open(shot, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", f"{shot} is not a PNG")
        self.assertGreater(os.path.getsize(shot), MIN_SCREENSHOT_BYTES, f"{shot} is nearly empty")

    def test_http(self):
        server = h.start_server(self, "--ports", "0")
        self.check_page(server, f"http://127.0.0.1:{server.port}/", "http")

    def test_through_a_port_forward_the_page_names_it(self):
        """A forwarder of our own on loopback (front port -> the server's port, bytes relayed both
        ways): the browser's URL and Host header name the front port, the socket has the
        server's, and the page says so twice (its script's URL claim, the Host row)."""
        import socket
        import threading
        server = h.start_server(self, "--ports", "0")
        front = socket.socket()
        self.addCleanup(front.close)
        front.bind(("127.0.0.1", 0))
        front.listen(16)
        front.settimeout(0.2)
        front_port = front.getsockname()[1]
        stop = threading.Event()
        self.addCleanup(stop.set)

        def pipe(a, b):
            try:
                while not stop.is_set():
                    data = a.recv(65536)
                    if not data:
                        break
                    b.sendall(data)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        def forward():
            deadline = time.monotonic() + BROWSER_WAIT
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    c, _ = front.accept()
                except OSError:
                    continue
                c.settimeout(BROWSER_WAIT)
                u = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                u.settimeout(BROWSER_WAIT)
                self.addCleanup(c.close)
                self.addCleanup(u.close)
                for a, b in ((c, u), (u, c)):
                    threading.Thread(target=pipe, args=(a, b), daemon=True).start()

        threading.Thread(target=forward, daemon=True).start()
        dom = self.chromium(f"http://127.0.0.1:{front_port}/", "--dump-dom")
        self.assertIn(f'<td id="url-claim">127.0.0.1:{front_port} is the URL, your browser\'s claim: not this '
                      f"socket's port {server.port}, so a port forward (destination NAT) or a proxy is in "
                      f"between</td>", dom)
        self.assertIn(f'<td id="host-claim"><code>127.0.0.1:{front_port}</code> (the Host header: your browser\'s '
                      f'claim), but this socket is <code>127.0.0.1:{server.port}</code>', dom)

    def test_https(self):
        server = h.start_server(self, "--ports", "0", "--tls", "0")
        self.assertEqual(server.ready["tls_ports"], [server.port])
        self.check_page(server, f"https://127.0.0.1:{server.port}/", "https",
                        ["--ignore-certificate-errors"])


if __name__ == "__main__":
    unittest.main()
