"""Many connections: --count with --parallel, the summary's spread of client ports and its
histogram, text without per-connection lines or a bar on a pipe, --hold (the connections really
are open at once, on both ends), --verify against the kernel's table, the refusals of values
that cannot work on this host, and the progress bar on a terminal."""

import os
import pty
import re
import select
import signal
import subprocess
import time
import unittest

import harness as h

RUN_WITH_HELP = "Run with --help for more information."
HOLD = 2            # seconds, for the --hold run
HOLD_SLACK = 4.0    # the client must end within HOLD + this, measured from its start
PTY_WAIT = h.CLIENT_WAIT


def buckets_of(ports, low, high):
    """Our own histogram: slices of ceil(span/16) ports from `low`, the last one cut at `high`
    (16 of them for any span of 16 ports or more)."""
    span = high - low + 1
    size = -(-span // 16)
    count = -(-span // size)
    buckets = [0] * count
    for p in ports:
        if low <= p <= high:
            buckets[(p - low) // size] += 1
    bounds = [(low + i * size, min(low + (i + 1) * size - 1, high)) for i in range(count)]
    return buckets, bounds


def established_client_ports(server_port):
    """The local ports of the ESTABLISHED sockets in /proc/net/tcp and tcp6 whose remote port
    is `server_port`: the client's side of each connection to that server."""
    found = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != "01":  # 01: ESTABLISHED
                continue
            local = int(fields[1].rsplit(":", 1)[1], 16)
            remote = int(fields[2].rsplit(":", 1)[1], 16)
            if remote == server_port and local != server_port:
                found.append(local)
    return found


class Many(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def server(self):
        return h.start_server(self, "--ports", "0", "--bind", "127.0.0.1")

    def accepted(self, server, n):
        """The server's next n `accepted` events (each bounded)."""
        return [server.wait_event("accepted") for _ in range(n)]

    # -- 1. --count 200 --parallel 20, JSON -------------------------------------------------

    def test_count_200_parallel_20_json(self):
        server = self.server()
        port = server.port
        r = h.run_client("127.0.0.1", port, "--count", 200, "--parallel", 20)
        self.assertEqual(r.returncode, h.EX_OK, r.stdout[-2000:] + r.stderr)
        self.assertEqual(r.stderr, "")
        events = h.json_events(self, r.stdout)

        connected = h.of(events, "connected")
        self.assertEqual(len(connected), 200)
        self.assertEqual(sorted(c["id"] for c in connected), list(range(1, 201)),
                         "each id 1..200 exactly once")
        by_id = sorted(connected, key=lambda c: c["id"])
        ports = [c["local"]["port"] for c in by_id]
        self.assertEqual(len(set(ports)), 200, f"client ports: {ports}")
        for c in connected:
            self.assertIs(c["mirror"], True, c)
            self.assertEqual(c["remote"], h.ep("127.0.0.1", port), c)
            self.assertEqual(c["local_port_chosen_by"], "kernel", c)

        low, high = h.ephemeral_range()  # read live, now
        summary = h.one(self, events, "summary")
        self.assertEqual(summary["role"], "client")
        self.assertEqual(summary["attempted"], 200)
        self.assertEqual(summary["connected"], 200)
        self.assertEqual(summary["parallel"], 20)
        self.assertEqual(summary["server_ports"], [port])
        self.assertEqual(summary["client_ports"], ports, "client_ports in connection order")
        self.assertEqual(summary["distinct_client_ports"], 200)
        self.assertEqual(summary["mirrored"], 200)
        self.assertEqual(summary["lowest_client_port"], min(ports))
        self.assertEqual(summary["highest_client_port"], max(ports))
        self.assertEqual(summary["in_ephemeral_range"], sum(1 for p in ports if low <= p <= high))
        self.assertEqual(summary["in_iana_dynamic_range"], sum(1 for p in ports if p >= 49152))
        self.assertEqual(summary["even"], sum(1 for p in ports if p % 2 == 0))
        self.assertEqual(summary["odd"], sum(1 for p in ports if p % 2 == 1))
        histogram = summary["histogram"]
        self.assertEqual((histogram["low"], histogram["high"]), (low, high))
        self.assertEqual(sum(histogram["buckets"]), 200, histogram)
        expected, _ = buckets_of(ports, low, high)
        self.assertEqual(histogram["buckets"], expected,
                         f"our own slices of {-(-(high - low + 1) // 16)} ports over {low}-{high}")

        # The server accepted the same 200 connections, from the same client ports.
        accepted = self.accepted(server, 200)
        self.assertEqual(sorted(a["remote"]["port"] for a in accepted), sorted(ports))
        self.assertEqual({a["local"]["port"] for a in accepted}, {port})

    # -- 2. text on a pipe ------------------------------------------------------------------

    def test_text_on_a_pipe_has_no_bar_and_no_per_connection_lines(self):
        server = self.server()
        port = server.port
        r = h.run_client("127.0.0.1", port, "--count", 200, "--parallel", 20, fmt=None)
        self.assertEqual(r.returncode, h.EX_OK, r.stdout + r.stderr)
        text = r.stdout
        self.assertEqual(r.stderr, "", "a piped run draws no progress bar on stderr")
        self.assertNotIn("\r", text, "a piped run has no carriage returns (no bar)")
        self.assertNotIn("connecting [", text)
        self.assertNotIn("connected #", text, "past 20 connections, no per-connection lines")
        h.assert_text_lines(self, text, "client text")

        # The server's view of the client ports, to check the text's figures against.
        ports = [a["remote"]["port"] for a in self.accepted(server, 200)]
        low, high = h.ephemeral_range()
        self.assertIn("summary: 200 of 200 connections made\n", text)
        self.assertIn(f"  server port: {port} every time (fixed)\n", text)
        self.assertIn(f"  client ports: {min(ports)}..{max(ports)} - 200 distinct of 200, "
                      f"a new one every time\n", text)
        self.assertIn("  made 20 at a time (--parallel 20)\n", text)
        self.assertIn(f"  lowest {min(ports)}, highest {max(ports)}; "
                      f"{sum(1 for p in ports if p >= 49152)} in IANA's dynamic range "
                      f"49152-65535\n", text)
        header = f"  client ports over this host's ephemeral range {low}-{high}:\n"
        self.assertIn(header, text)
        rows = text.split(header, 1)[1].splitlines()
        expected, bounds = buckets_of(ports, low, high)
        rows = rows[:len(bounds)]
        parsed = []
        for row in rows:
            m = re.fullmatch(r"    +(\d+)-(\d+) +(#*) +(\d+)", row)
            self.assertIsNotNone(m, f"not a histogram line: {row!r}\n{text}")
            parsed.append(((int(m.group(1)), int(m.group(2))), int(m.group(4))))
        self.assertEqual([b for b, _ in parsed], bounds, text)
        self.assertEqual([n for _, n in parsed], expected, text)
        self.assertEqual(sum(n for _, n in parsed), 200)

        # Five connections are few enough to show each one.
        r = h.run_client("127.0.0.1", port, "--count", 5, fmt=None)
        self.assertEqual(r.returncode, h.EX_OK, r.stdout + r.stderr)
        self.assertEqual(r.stderr, "")
        self.assertEqual(len(re.findall(r"^connected #\d+$", r.stdout, re.M)), 5, r.stdout)
        self.assertIn("summary: 5 of 5 connections made\n", r.stdout)
        h.assert_text_lines(self, r.stdout, "client text, --count 5")

    # -- 3. --hold: all open at once, on both ends ------------------------------------------

    def test_hold_keeps_30_connections_open(self):
        server = self.server()
        port = server.port
        started = time.monotonic()
        client = h.Proc(self, [h.CLIENT, "127.0.0.1", str(port), "--count", "30", "--parallel",
                               "10", "--hold", str(HOLD), "--format", "json"])
        client.wait_event("note", timeout=h.CLIENT_WAIT, code="holding")
        # The client now holds them: count them in the kernel's table, from the client's side.
        held = established_client_ports(port)
        self.assertTrue(client.running(), "the client must still be holding")
        self.assertEqual(len(held), 30, f"ESTABLISHED client sockets to port {port}: {held}")
        connected = h.of(client.events(), "connected")
        self.assertEqual(len(connected), 30)
        self.assertEqual(sorted(held), sorted(c["local"]["port"] for c in connected))

        accepted = self.accepted(server, 30)
        self.assertEqual(max(a["open"] for a in accepted), 30,
                         f"accepted.open: {[a['open'] for a in accepted]}")

        rc = client.wait(timeout=max(0.5, started + HOLD + HOLD_SLACK - time.monotonic()))
        self.assertEqual(rc, h.EX_OK, client.stderr())
        self.assertLessEqual(time.monotonic() - started, HOLD + HOLD_SLACK)
        client.read_rest()
        summary = h.one(self, client.events(), "summary")
        self.assertEqual((summary["attempted"], summary["connected"]), (30, 30))

        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())
        server.read_rest()
        server_summary = h.one(self, server.events(), "summary")
        self.assertGreaterEqual(server_summary["peak_open"], 30, server_summary)
        self.assertEqual(server_summary["connections"], 30, server_summary)

    # -- 4. --verify ------------------------------------------------------------------------

    def test_verify_50(self):
        server = self.server()
        port = server.port
        r = h.run_client("127.0.0.1", port, "--count", 50, "--parallel", 10, "--verify")
        self.assertEqual(r.returncode, h.EX_OK, r.stdout + r.stderr)
        events = h.json_events(self, r.stdout)
        verified = h.one(self, events, "verified")
        self.assertEqual(verified, {"event": "verified", "checked": 50, "matched": 50,
                                    "mismatches": []})
        self.assertEqual(len(h.of(events, "connected")), 50)

        r = h.run_client("127.0.0.1", port, "--count", 50, "--parallel", 10, "--verify",
                         fmt="text")
        self.assertEqual(r.returncode, h.EX_OK, r.stdout + r.stderr)
        self.assertIn("verified: all 50 tuples printed are the ones the kernel holds",
                      h.flat(r.stdout))
        h.assert_text_lines(self, r.stdout, "client text, --verify")

    # -- 5. refusals ------------------------------------------------------------------------

    def refused(self, argv, *names):
        r = h.run(argv, timeout=h.EXIT_WAIT)
        where = f"{argv!r}"
        self.assertEqual(r.returncode, h.EX_USAGE, f"{where}: exit {r.returncode}, stdout "
                                                   f"{r.stdout!r}, stderr {r.stderr!r}")
        self.assertEqual(r.stdout, "", f"{where}: a usage error must print nothing to stdout")
        messages = [line for line in r.stderr.splitlines()
                    if line.strip() and line.strip() != RUN_WITH_HELP]
        self.assertEqual(len(messages), 1, f"{where}: one message expected on stderr: "
                                           f"{r.stderr!r}")
        for name in names:
            self.assertIn(name, messages[0], f"{where}: the message must name {name!r}")
        return messages[0]

    def test_refusals(self):
        server = self.server()
        base = [h.CLIENT, "127.0.0.1", str(server.port)]
        for args, names in [(["--parallel", "0"], ["--parallel", "0"]),
                            (["--parallel", "1001"], ["--parallel", "1001"]),
                            (["--hold", "-1"], ["--hold", "-1"]),
                            (["--hold", "3601"], ["--hold", "3601"]),
                            (["--udp", "--hold", "1"], ["--udp", "--hold"]),
                            (["--udp", "--verify"], ["--udp", "--verify"])]:
            with self.subTest(args=args):
                self.refused(base + args, *names)

        low, high = h.ephemeral_range()
        size = high - low + 1
        with self.subTest(args="--count range+1 --hold 1"):
            if size + 1 > 65535:
                self.skipTest(f"this host's ephemeral range {low}-{high} has {size} ports: "
                              f"no --count can exceed it")
            message = self.refused(base + ["--count", str(size + 1), "--hold", "1"],
                                   str(size + 1), f"{low}-{high}", str(size))
            self.assertIn("ephemeral", message)
        self.assert_no_connections(server)

    def assert_no_connections(self, server):
        """Nothing reached the server: every refusal came before any socket."""
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())
        server.read_rest()
        self.assertEqual(h.of(server.events(), "accepted"), [])
        self.assertEqual(h.one(self, server.events(), "summary")["connections"], 0)

    def low_fd_limit(self, port, count, opts=("--hold", "1")):
        """demo-client under an open-file limit of 20, soft and hard. (`ulimit -Hn 20` alone
        fails where the soft limit is above 20, and the client would then run unlimited.)"""
        return ["sh", "-c", 'ulimit -n 20 && exec "$0" "$@"', h.CLIENT, "127.0.0.1", str(port),
                "--count", str(count)] + list(opts)

    def test_refused_under_a_low_hard_file_limit(self):
        server = self.server()
        for count, opts in [(50, ("--hold", "1")), (5, ("--hold", "1")), (5, ("--verify",))]:
            with self.subTest(count=count, opts=opts):
                message = self.refused(self.low_fd_limit(server.port, count, opts), str(count))
                self.assertIn("file descriptor", message)
                self.assertRegex(message, r"\b20\b", "the message must name the limit, 20")
                self.assertIn("ulimit -Hn", message)
        self.assert_no_connections(server)

    def test_fd_limit_refusal_suggests_a_valid_count(self):
        """The refusal says what would be valid; --count takes 1-65535, so a suggestion of
        `--count 0 or less` is no valid value (under a hard limit of 20 no count fits with the
        client's 32 spare descriptors: the message should say to raise the limit instead)."""
        server = self.server()
        message = self.refused(self.low_fd_limit(server.port, 5), "5")
        m = re.search(r"--count (-?\d+) or less", message)
        if m:
            self.assertGreaterEqual(int(m.group(1)), 1,
                                    f"the message suggests an invalid count: {message!r}")

    def test_low_soft_limit_is_raised_to_the_hard_one(self):
        """README: the open-file limit is raised to the hard limit when needed."""
        server = self.server()
        argv = ["sh", "-c", 'ulimit -Sn 20 && exec "$0" "$@"', h.CLIENT, "127.0.0.1",
                str(server.port), "--count", "50", "--parallel", "10", "--verify",
                "--format", "json"]
        r = h.run(argv)
        self.assertEqual(r.returncode, h.EX_OK, r.stdout + r.stderr)
        verified = h.one(self, h.json_events(self, r.stdout), "verified")
        self.assertEqual((verified["checked"], verified["matched"]), (50, 50), verified)

    # -- 6. the progress bar on a terminal --------------------------------------------------

    def read_pty(self, fd, deadline):
        chunks = []
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            try:
                data = os.read(fd, 4096)
            except OSError:  # EIO: the slave side is closed
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks).decode("utf-8", "replace")

    def test_progress_bar_on_a_terminal(self):
        server = self.server()
        master, slave = pty.openpty()
        self.addCleanup(os.close, master)
        env = dict(os.environ)
        env.pop("NO_COLOR", None)
        try:
            p = subprocess.Popen([h.CLIENT, "127.0.0.1", str(server.port), "--count", "200",
                                  "--parallel", "20"], stdin=subprocess.DEVNULL, stdout=slave,
                                 stderr=slave, env=env, preexec_fn=h._die_with_parent)
        finally:
            os.close(slave)

        def end():
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=h.EXIT_WAIT)
        self.addCleanup(end)

        out = self.read_pty(master, time.monotonic() + PTY_WAIT)
        try:
            rc = p.wait(timeout=h.EXIT_WAIT)
        except subprocess.TimeoutExpired:
            self.fail(f"the client did not end; output so far: {out!r}")
        self.assertEqual(rc, h.EX_OK, out)
        plain = h.ANSI.sub("", out)
        self.assertIn("connecting [", plain, f"no progress bar on the terminal: {out!r}")
        self.assertIn("] 200/200", plain, f"the bar must reach 200/200: {out!r}")
        self.assertNotIn("connected #", plain, "past 20 connections, no per-connection lines")
        self.assertIn("summary: 200 of 200 connections made", plain, out)
        summary_at = plain.index("summary: 200 of 200")
        clear_at = plain.rfind("\r\x1b[K", 0, summary_at)
        self.assertNotEqual(clear_at, -1, f"the bar is not cleared before the summary: {out!r}")
        self.assertGreater(clear_at, plain.rfind("connecting [", 0, summary_at),
                           f"the last bar must be cleared before the summary: {out!r}")
        self.assertEqual(plain.find("connecting [", summary_at), -1,
                         f"no bar after the summary: {out!r}")


if __name__ == "__main__":
    unittest.main()
