"""scripts/two-hosts.sh: two network namespaces joined by a veth pair, a server "host" 10.20.0.1
and a client "host" 10.20.0.2. The script runs demo-server in one and demo-client in the other;
the tests check that the two ends have different addresses and mirrored tuples, and that the
script leaves nothing behind (namespaces, veth, addresses), also when interrupted with SIGINT.

The namespaces are the script's own, named after its pid (pd-server-PID, pd-client-PID); the
addresses exist only inside them. Skipped, with the reason, when not root or where `ip netns add`
is not permitted. Should the script leave a namespace behind, the test reports it and then
deletes exactly that name in its cleanup."""

import os
import pty
import re
import select
import shutil
import signal
import subprocess
import time
import unittest

import harness as h
import netns_helpers as nh

SCRIPT = nh.script("two-hosts.sh")
SERVER_ADDR, CLIENT_ADDR = "10.20.0.1", "10.20.0.2"
RUN_WAIT = 60.0       # for a whole run of the script


def names(pid):
    """The namespaces and veth ends the script with this pid uses."""
    return {"ns": [f"pd-server-{pid}", f"pd-client-{pid}"],
            "veth": [f"pd-s-{pid}", f"pd-c-{pid}"]}


class TwoHosts(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)
        if not os.access(SCRIPT, os.X_OK):
            raise unittest.SkipTest(f"{SCRIPT} is not an executable script")
        if os.geteuid() != 0:
            raise unittest.SkipTest("two-hosts.sh needs root to create network namespaces")
        if shutil.which("ip") is None:
            raise unittest.SkipTest("iproute2's ip is not installed")
        reason = nh.probe_netns()
        if reason:
            raise unittest.SkipTest(reason)

    # -- helpers ---------------------------------------------------------------------------------

    def remove_leftovers(self, pid):
        """Cleanup safety net, should the script fail to clean up: ends the programs it left
        in this run's namespaces (by pid) and deletes exactly those namespaces."""
        self.addCleanup(nh.remove_namespaces, names(pid)["ns"])

    def run_script(self, *args, env=None):
        """Runs the script to its end (bounded); returns (CompletedProcess, pid)."""
        return nh.run_script([SCRIPT] + [str(a) for a in args], name="two-hosts.sh",
                             timeout=RUN_WAIT, env=env, started=self.remove_leftovers)

    def assert_nothing_left(self, pid):
        n = names(pid)
        left = [ns for ns in nh.netns_list() if ns in n["ns"]]
        self.assertEqual(left, [], f"namespaces of run {pid} left behind")
        nh.assert_host_untouched(self, n["veth"], (SERVER_ADDR, CLIENT_ADDR), n["ns"])

    def check_json_run(self, result, pid, port, count):
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)

        ready = h.one(self, events, "ready")
        self.assertEqual(ready["ports"], [port])
        listening = h.one(self, events, "listening")
        self.assertEqual(listening["local"], h.ep(SERVER_ADDR, port))

        connected = h.of(events, "connected")
        accepted = h.of(events, "accepted")
        self.assertEqual(len(connected), count, f"client's connected events: {connected}")
        self.assertEqual(len(accepted), count, f"server's accepted events: {accepted}")
        by_id = {a["id"]: a for a in accepted}
        client_ports = []
        for conn in connected:
            self.assertEqual(conn["local"]["address"], CLIENT_ADDR, conn)
            self.assertEqual(conn["remote"], h.ep(SERVER_ADDR, port), conn)
            self.assertIn(conn["server_view"]["id"], by_id, conn)
            acc = by_id[conn["server_view"]["id"]]
            self.assertEqual(acc["local"], h.ep(SERVER_ADDR, port), acc)
            self.assertEqual(acc["remote"]["address"], CLIENT_ADDR, acc)
            # The mirror: each end's local is the other end's remote.
            self.assertEqual(acc["remote"], conn["local"], (conn, acc))
            self.assertEqual(acc["local"], conn["remote"], (conn, acc))
            self.assertNotEqual(conn["local"]["port"], port)
            client_ports.append(conn["local"]["port"])
        self.assertEqual(sorted(a["remote"]["port"] for a in accepted), sorted(client_ports))

        roles = [e["role"] for e in h.of(events, "host_facts")]
        self.assertEqual(sorted(roles), ["client", "server"])
        final = events[-1]
        self.assertEqual(final, {"event": "two_hosts", "server_namespace": f"pd-server-{pid}",
                                 "client_namespace": f"pd-client-{pid}",
                                 "server_address": SERVER_ADDR, "client_address": CLIENT_ADDR,
                                 "port": port, "connections": count, "mirrored": count,
                                 "mirror": True})
        self.assert_nothing_left(pid)

    # -- runs to the end ---------------------------------------------------------------------

    def test_json_default_port_and_count(self):
        result, pid = self.run_script("--json")
        self.check_json_run(result, pid, 8080, 3)

    def test_json_port_and_count_given(self):
        result, pid = self.run_script("9123", "--count", "2", "--json")
        self.check_json_run(result, pid, 9123, 2)

    def test_text(self):
        result, pid = self.run_script()
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        out = result.stdout
        h.assert_text_lines(self, out, "two-hosts.sh's text")
        self.assertIn(SERVER_ADDR, out)
        self.assertIn(CLIENT_ADDR, out)
        self.assertIn(f"pd-server-{pid}", out)
        self.assertIn(f"pd-client-{pid}", out)
        self.assertRegex(out, rf"local {re.escape(CLIENT_ADDR)}:\d+ +remote "
                              rf"{re.escape(SERVER_ADDR)}:8080\n")
        self.assertRegex(out, rf"local {re.escape(SERVER_ADDR)}:8080 +remote "
                              rf"{re.escape(CLIENT_ADDR)}:\d+\n")
        self.assertIn("Mirror: yes", out)
        self.assertIn("Cleaned up", out)
        self.assert_nothing_left(pid)

    def read_pty(self, fd, deadline):
        chunks = []
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            try:
                data = os.read(fd, 4096)
            except OSError:  # EIO: the other side is closed
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks).decode("utf-8", "replace")

    def run_on_terminal(self, env):
        """Runs the script with its stdout on a pseudo-terminal; returns (rc, output, pid)."""
        master, slave = pty.openpty()
        merged = dict(os.environ)
        merged.pop("NO_COLOR", None)
        merged.update(env)
        p = subprocess.Popen([SCRIPT], stdin=subprocess.DEVNULL, stdout=slave,
                             stderr=subprocess.PIPE, env=merged)
        os.close(slave)
        self.remove_leftovers(p.pid)
        self.addCleanup(os.close, master)
        out = self.read_pty(master, time.monotonic() + RUN_WAIT)
        try:
            rc = p.wait(timeout=nh.SIGNAL_WAIT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=h.EXIT_WAIT)
            self.fail(f"two-hosts.sh did not end; output so far: {out!r}")
        p.stderr.close()
        return rc, out, p.pid

    def test_terminal_colour_and_no_color(self):
        rc, out, pid = self.run_on_terminal({})
        self.assertEqual(rc, h.EX_OK, out)
        self.assertIn("\x1b[1m", out, "on a terminal the headings are bold")
        self.assert_nothing_left(pid)
        rc, out, pid = self.run_on_terminal({"NO_COLOR": "1"})
        self.assertEqual(rc, h.EX_OK, out)
        self.assertNotIn("\x1b[", out, "NO_COLOR is set, yet the output has colour codes")
        self.assertIn("Mirror: yes", out)
        self.assert_nothing_left(pid)

    # -- interrupted -------------------------------------------------------------------------

    def interrupt(self, *args, after="ready", client_running=False):
        """Starts the script in JSON mode, waits for the event `after` and for the programs to
        run in the namespaces, sends SIGINT to the script (by its pid) and checks that it ends
        (bounded), with its programs ended and nothing left behind."""
        proc = h.Proc(self, [SCRIPT, "--json"] + [str(a) for a in args])
        self.remove_leftovers(proc.pid)
        proc.wait_event(after, timeout=RUN_WAIT)
        expected = ["demo-server"] + (["demo-client"] if client_running else [])
        deadline = time.monotonic() + h.START_WAIT
        while True:
            comms = nh.programs_in(names(proc.pid)["ns"])
            if all(name in comms.values() for name in expected):
                break
            self.assertLess(time.monotonic(), deadline,
                            f"{expected} not all running in the namespaces: {comms}")
            time.sleep(0.05)

        rc = proc.terminate(signal.SIGINT, timeout=nh.SIGNAL_WAIT)
        self.assertEqual(rc, 130, f"exit code after SIGINT; stderr: {proc.stderr()!r}")
        self.assertIn("interrupted", proc.stderr())
        nh.assert_ended(self, comms)
        self.assert_nothing_left(proc.pid)

    def test_sigint_while_the_client_runs(self):
        # 65535 connections take far longer than the test waits: the client is still running.
        self.interrupt("--count", "65535", after="ready", client_running=True)

    def test_sigint_while_holding(self):
        self.interrupt("--count", "1", "--hold", "600", after="two_hosts")

    # -- refusals ----------------------------------------------------------------------------

    def test_name_taken_fails_and_leaves_it(self):
        # The wrapper takes pd-server-$$ and then becomes the script with exec: same pid.
        wrapper = ('ip netns add "pd-server-$$" || exit 99; exec "$0" "$@"')
        p = subprocess.Popen(["sh", "-c", wrapper, SCRIPT, "--json"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ns = f"pd-server-{p.pid}"
        self.remove_leftovers(p.pid)
        out, err = p.communicate(timeout=RUN_WAIT)
        self.assertEqual(p.returncode, h.EX_UNAVAILABLE, out + err)
        self.assertEqual(out, "")
        self.assertIn(f"{ns} exists already", err)
        self.assertIn(ns, nh.netns_list(), "the script deleted a namespace that was not its own")
        self.assertNotIn(f"pd-client-{p.pid}", nh.netns_list())

    def test_not_root_exit_77(self):
        nh.assert_needs_root(self, SCRIPT, RUN_WAIT)

    def test_netns_not_permitted_exit_77(self):
        # Root inside a user namespace of its own may not add a namespace to /run/netns.
        nh.require_user_namespace(self)
        p = subprocess.Popen(["unshare", "-Ur", SCRIPT, "--json"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.remove_leftovers(p.pid)  # unshare execs the script: the same pid
        out, err = p.communicate(timeout=RUN_WAIT)
        if p.returncode == h.EX_OK:
            self.skipTest("ip netns add is permitted even inside a user namespace here")
        self.assertEqual(p.returncode, h.EX_NOPERM, out + err)
        self.assertEqual(out, "")
        self.assertIn("not permitted", err)
        self.assert_nothing_left(p.pid)

    def test_usage(self):
        for args in (["70000"], ["--count", "0"], ["--count"], ["--hold", "x"], ["--bogus"],
                     ["80", "81"]):
            with self.subTest(args=args):
                r = h.run([SCRIPT] + args, timeout=RUN_WAIT)
                self.assertEqual(r.returncode, h.EX_USAGE, r.stdout + r.stderr)
                self.assertEqual(r.stdout, "")
                self.assertIn("usage:", r.stderr)


if __name__ == "__main__":
    unittest.main()
