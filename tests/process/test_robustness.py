"""The server keeps serving whatever its clients and its own stdout do, and the client copes
with a port where something else than demo-server listens."""

import json
import os
import select
import selectors
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

import harness as h


class ServerRobustness(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def assert_serves(self, server):
        result = h.run_client("127.0.0.1", server.port)
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        self.assertIs(h.one(self, h.json_events(self, result.stdout), "connected")["mirror"], True)

    def test_concurrent_silent_clients_each_within_300ms(self):
        server = h.start_server(self)
        n = 20
        sel = selectors.DefaultSelector()
        self.addCleanup(sel.close)
        started = {}
        for _ in range(n):
            s = socket.socket()
            self.addCleanup(s.close)
            s.connect(("127.0.0.1", server.port))
            s.setblocking(False)
            started[s] = time.monotonic()
            sel.register(s, selectors.EVENT_READ, b"")
        took = {}
        data = {s: b"" for s in started}
        deadline = time.monotonic() + h.EVENT_WAIT
        while len(took) < n and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
                s = key.fileobj
                chunk = s.recv(4096)
                if chunk:
                    data[s] += chunk
                else:
                    took[s] = time.monotonic() - started[s]
                    sel.unregister(s)
        self.assertEqual(len(took), n, "some clients got no report and close within 3 s")
        slowest = max(took.values())
        self.assertLess(slowest, 0.3, f"the slowest of {n} simultaneous silent clients waited "
                                      f"{slowest * 1000:.0f} ms for its report")
        ids = set()
        for s, text in data.items():
            first = text.decode().splitlines()[0]
            self.assertRegex(first, r"^portdemo: your connection #\d+, as this server sees it$")
            ids.add(first.split("#")[1].split(",")[0])
            self.assertIn(f"127.0.0.1:{s.getsockname()[1]} ", text.decode())
        self.assertEqual(len(ids), n, "every connection gets its own number")

    def test_clients_that_reset_do_not_disturb(self):
        server = h.start_server(self)
        for _ in range(5):
            s = socket.socket()
            s.connect(("127.0.0.1", server.port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # RST instead of FIN
        self.assert_serves(server)
        self.assertTrue(server.running())
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())
        self.assertNotIn("internal error", server.stderr())

    def test_client_that_sends_much_first(self):
        server = h.start_server(self)
        s = socket.socket()
        self.addCleanup(s.close)
        s.settimeout(h.EVENT_WAIT)
        s.connect(("127.0.0.1", server.port))
        s.sendall(b"x" * 4000)
        s.shutdown(socket.SHUT_WR)
        data = b""
        deadline = time.monotonic() + h.EVENT_WAIT
        while time.monotonic() < deadline:
            chunk = s.recv(4096)  # a reset would raise here
            if not chunk:
                break
            data += chunk
        self.assertTrue(data.startswith(b"portdemo: your connection #1,"), data)
        self.assert_serves(server)

    def test_closed_stdout_is_not_fatal(self):
        """Whoever read the server's output went away: writes fail with EPIPE, the server goes
        on serving and still ends with 0 on SIGTERM."""
        read_end, write_end = os.pipe()
        err = tempfile.TemporaryFile()
        self.addCleanup(err.close)
        try:
            popen = subprocess.Popen([h.SERVER, "--ports", "0", "--format", "json"],
                                     stdin=subprocess.DEVNULL, stdout=write_end, stderr=err,
                                     preexec_fn=h._die_with_parent)
        finally:
            os.close(write_end)
        self.addCleanup(self.end, popen)
        # Read up to the ready event, bounded, then close our end of the pipe.
        buf = b""
        deadline = time.monotonic() + h.START_WAIT
        port = None
        with os.fdopen(read_end, "rb", buffering=0) as out:
            while port is None:
                remaining = deadline - time.monotonic()
                self.assertGreater(remaining, 0, f"no ready event within {h.START_WAIT} s: {buf!r}")
                readable, _, _ = select.select([out], [], [], remaining)
                if not readable:
                    continue
                chunk = out.read(4096)
                self.assertTrue(chunk, f"the server's output ended before ready: {buf!r}")
                buf += chunk
                for line in buf.decode().splitlines(keepends=True):
                    if line.endswith("\n") and json.loads(line)["event"] == "ready":
                        port = json.loads(line)["ports"][0]
        for _ in range(2):
            result = h.run_client("127.0.0.1", port)
            self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
            self.assertIs(h.one(self, h.json_events(self, result.stdout), "connected")["mirror"],
                          True)
        self.assertIsNone(popen.poll(), "a closed stdout must not end the server")
        os.kill(popen.pid, signal.SIGTERM)
        self.assertEqual(popen.wait(timeout=h.EXIT_WAIT), h.EX_OK)
        err.seek(0)
        self.assertNotIn(b"internal error", err.read())

    @staticmethod
    def end(popen):
        if popen.poll() is None:
            os.kill(popen.pid, signal.SIGKILL)
            try:
                popen.wait(timeout=h.EXIT_WAIT)
            except subprocess.TimeoutExpired:
                pass

    def test_two_kernel_chosen_ports(self):
        h.require_ipv6(self)
        server = h.start_server(self, "--ports", "0,0")
        listening = h.of(server.events(), "listening")
        ports = server.ready["ports"]
        self.assertEqual(len(ports), 2, server.ready)
        self.assertNotEqual(ports[0], ports[1])
        self.assertEqual(server.ready["listening"], 4)
        self.assertEqual(sorted((e["local"]["port"], e["local"]["address"]) for e in listening),
                         sorted((p, a) for p in ports for a in ("127.0.0.1", "::1")))
        for port in ports:
            result = h.run_client("127.0.0.1", port)
            self.assertEqual(result.returncode, h.EX_OK, result.stderr)
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())
        server.read_rest()
        self.assertEqual(server.events()[-1]["per_port"],
                         [{"port": p, "connections": 1} for p in sorted(ports)])


class NotADemoServer(unittest.TestCase):
    """demo-client against a port where something else listens."""

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def listener(self):
        sock = socket.socket()
        self.addCleanup(sock.close)
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.settimeout(h.EVENT_WAIT)
        return sock

    def test_silent_server(self):
        listener = self.listener()
        port = listener.getsockname()[1]
        started = time.monotonic()
        result = h.run_client("127.0.0.1", port, "--timeout", "0.5")
        took = time.monotonic() - started
        self.assertLess(took, 2.0, "the client must give up on a silent server within --timeout")
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        conn = h.one(self, h.json_events(self, result.stdout), "connected")
        self.assertIsNone(conn["server_view"])
        self.assertIsNone(conn["mirror"])
        accepted, peer = listener.accept()
        accepted.close()
        self.assertEqual(conn["local"], h.ep(*peer[:2]))
        self.assertEqual(conn["remote"], h.ep("127.0.0.1", port))

    def test_banner_server_text(self):
        port = h.serve_once(self, b"SSH-2.0-OpenSSH_9.6\r\n")
        result = h.run_client("127.0.0.1", port, "--timeout", "2", fmt="text")
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        h.assert_text_lines(self, result.stdout, "client text")
        flat = " ".join(result.stdout.split())
        self.assertIn("server's view: not reported (the server answered, but not as demo-server "
                      "does:", flat)
        self.assertIn("SSH-2.0-OpenSSH_9.6\\r\\n", flat)
        self.assertNotIn("mirror image", flat)


if __name__ == "__main__":
    unittest.main()
