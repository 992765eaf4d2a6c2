"""Issue 6, the heavy cases: 10,000 concurrent connections, and 20,000 connect-read-close cycles.

Both run against a server logging every connection (JSON lines to a file), from separate
processes, on loopback, bounded in count and time. Figures are printed so a CI log shows them.
"""

import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

import harness as h
from test_limits import fd_count, rss_kib, wait_for

# The separate process that opens N connections at once and reads each report to its end.
MANY = textwrap.dedent(r"""
    import resource, selectors, socket, sys, time
    n, port, limit_s = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 100), hard))
    sel = selectors.DefaultSelector()
    started = time.monotonic()
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
        sel.register(s, selectors.EVENT_READ, [b""])
    done = ok = 0
    deadline = started + limit_s
    while done < n and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            try:
                chunk = key.fileobj.recv(4096)
            except OSError:
                chunk = b""
                key.data.append(None)
            if chunk:
                key.data[0] += chunk
                continue
            sel.unregister(key.fileobj)
            key.fileobj.close()
            done += 1
            if key.data[0].startswith(b"portdemo: your connection #") and None not in key.data:
                ok += 1
    print(ok, done, round(time.monotonic() - started, 2))
""")


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


class Heavy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def logging_server(self, *extra):
        """A server logging every connection to a file (not a pipe the test must drain)."""
        log = tempfile.NamedTemporaryFile(prefix="portdemo-heavy-", suffix=".jsonl", delete=False)
        self.addCleanup(os.unlink, log.name)
        script = f'exec "$0" "$@" > {log.name}'
        server = h.start_server(self, "--ports", "0", "--bind", "127.0.0.1", *extra,
                                wrapper=["sh", "-c", script], expect_ready=False)
        port = wait_for(lambda: self._ready_port(log.name), h.START_WAIT)
        self.assertTrue(port, "the server did not get ready")
        return server, port, log.name

    @staticmethod
    def _ready_port(path):
        import json
        with open(path) as f:
            for line in f:
                e = json.loads(line)
                if e["event"] == "ready":
                    return e["ports"][0]
        return None

    # 6. 10,000 concurrent connections: all reported within 30 s, peak RSS under 64 MiB.
    def test_ten_thousand_concurrent_connections(self):
        server, port, _ = self.logging_server("--max-connections", "12000")
        self.assertEqual(h.run_client("127.0.0.1", port).returncode, h.EX_OK)
        baseline = fd_count(server.pid)
        result = subprocess.run([sys.executable, "-c", MANY, "10000", str(port), "30"],
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        ok, done, seconds = result.stdout.split()
        peak = peak_rss_kib(server.pid)
        print(f"\n10,000 concurrent: {ok} reports of {done} in {seconds} s; server peak RSS {peak / 1024:.1f} MiB",
              file=sys.stderr)
        self.assertEqual((int(ok), int(done)), (10000, 10000))
        self.assertLess(float(seconds), 30)
        if not h.SANITIZED:  # the sanitizers' shadow memory is not the server's
            self.assertLess(peak, 64 * 1024)
        settled = wait_for(lambda: fd_count(server.pid) <= baseline, 3.0)
        self.assertTrue(settled, f"descriptors: {fd_count(server.pid)}, before: {baseline}")
        self.assertEqual(server.terminate(), h.EX_OK)

    # 7. 20,000 connect-read-close cycles: descriptors back, RSS at 20k within 10 % of 10k.
    def test_twenty_thousand_cycles(self):
        server, port, log = self.logging_server()
        baseline = fd_count(server.pid)
        rss = []
        for _ in range(2):
            started = time.monotonic()
            result = h.run([h.CLIENT, "127.0.0.1", str(port), "--count", "10000", "--parallel", "32",
                            "--format", "json"], timeout=120)
            self.assertEqual(result.returncode, h.EX_OK, result.stderr)
            self.assertEqual(result.stdout.count('"event":"connected"'), 10000)
            rss.append(rss_kib(server.pid))
            print(f"\n10,000 cycles in {time.monotonic() - started:.1f} s; server RSS {rss[-1]} KiB",
                  file=sys.stderr)
        settled = wait_for(lambda: fd_count(server.pid) <= baseline, 1.0)
        self.assertTrue(settled, f"descriptors: {fd_count(server.pid)}, before: {baseline}")
        if not h.SANITIZED:  # ASan holds freed memory in quarantine: RSS grows by design
            self.assertLess(abs(rss[1] - rss[0]) / rss[0], 0.10, f"RSS at 10k and 20k: {rss}")
        self.assertEqual(server.terminate(), h.EX_OK)
        with open(log) as f:
            lines = f.read().splitlines()
        self.assertEqual(sum('"event":"accepted"' in l for l in lines), 20000)
        self.assertIn('"log_dropped":0', lines[-1])


if __name__ == "__main__":
    unittest.main()
