"""Issue 8, privilege done right: the two real answers to "port 80 needs root".

1. Socket activation: systemd-socket-activate (root) binds the ports and starts demo-server with
   CAP_NET_BIND_SERVICE dropped; the server serves the passed sockets and says the parent bound
   them. Several ports, both families, and UDP.
2. Bind, then drop: demo-server binds as root, then --user nobody; /proc says what the report
   says, and the privileged port still serves.

These need root, capsh and systemd-socket-activate; elsewhere they skip and say why.
"""

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import unittest

import harness as h


def free_privileged_port(case, families=("127.0.0.1", "::1"), proto=socket.SOCK_STREAM):
    """80 if it is free on every family given, else another free port below 1024."""
    start = h.unprivileged_port_start()
    if start is None or start == 0:
        case.skipTest(f"no port is privileged on this host (ip_unprivileged_port_start = {start})")
    for port in [80] + list(range(min(start, 1024) - 1, 600, -1)):
        ok = True
        for address in families:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            s = socket.socket(family, proto)
            try:
                if family == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((address, port))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return port
    case.skipTest("no free privileged port")


def status_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


class Preconditions:
    @staticmethod
    def check(case):
        h.require_binaries(case)
        if os.geteuid() != 0:
            raise unittest.SkipTest("binding a privileged port needs root here (these tests run as root in CI)")


class SocketActivation(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        Preconditions.check(cls)
        if shutil.which("systemd-socket-activate") is None:
            raise unittest.SkipTest("systemd-socket-activate is not installed (Debian package systemd)")

    def activated(self, listens, first_client, fmt="json", datagram=False):
        """demo-server started by systemd-socket-activate with CAP_NET_BIND_SERVICE dropped.
        systemd-socket-activate starts the program when the first client comes, so the first
        client (demo-client with `first_client` arguments) is what starts it; returns the server
        and that client's result."""
        drop = h.capsh_drop_wrapper(self)
        argv = ["systemd-socket-activate"] + (["--datagram"] if datagram else [])
        for l in listens:
            argv += ["-l", l]
        server = h.start_server(self, fmt=fmt, wrapper=argv + drop, expect_ready=False)
        deadline = time.monotonic() + h.START_WAIT
        while server.stderr().count("Listening on") < len(listens):
            self.assertLess(time.monotonic(), deadline, f"systemd-socket-activate did not listen: {server.stderr()}")
            self.assertTrue(server.running(), server.stderr())
            time.sleep(0.01)
        first = h.run_client(*first_client)
        if fmt == "json":
            server.ready = server.wait_event("ready", timeout=h.START_WAIT)
        else:
            server.wait_line(lambda l: l.startswith("ready:"), h.START_WAIT, what="the ready line")
        return server, first

    def test_privileged_port_on_both_families_without_the_privilege(self):
        h.require_ipv6(self)
        port = free_privileged_port(self)
        other = h.free_port()
        server, first = self.activated([f"127.0.0.1:{port}", f"[::1]:{port}", f"127.0.0.1:{other}"],
                                       ["127.0.0.1", port])
        self.assertEqual(first.returncode, h.EX_OK, first.stdout + first.stderr)
        events = server.events()
        facts = h.one(self, events, "host_facts")
        self.assertIs(facts["cap_net_bind_service"], False, "the server must run without the privilege")
        note = [e for e in events if e["event"] == "note" and e["code"] == "socket_activation"]
        self.assertEqual(len(note), 1, events)
        self.assertIn("3 sockets passed by the parent process", note[0]["message"])
        listening = h.of(events, "listening")
        self.assertEqual(
            sorted((e["local"]["address"], e["local"]["port"], e["bound_by"], e["privileged_allowed_by"])
                   for e in listening),
            sorted([("127.0.0.1", port, "parent", "parent"), ("::1", port, "parent", "parent"),
                    ("127.0.0.1", other, "parent", None)]))
        self.assertEqual(server.ready["listening"], 3)
        for address in ("127.0.0.1", "::1"):
            result = h.run_client(address, port)
            self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
            conn = h.one(self, h.json_events(self, result.stdout), "connected")
            self.assertIs(conn["mirror"], True, conn)
            self.assertEqual(conn["remote"], h.ep(address, port))
        self.assertEqual(h.run_client("127.0.0.1", other).returncode, h.EX_OK)
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())

    def test_the_same_server_cannot_bind_it_itself(self):
        """The control: without the parent, the same privilege-less server is refused."""
        port = free_privileged_port(self, families=("127.0.0.1",))
        drop = h.capsh_drop_wrapper(self)
        result = h.run(drop + [h.SERVER, "--ports", str(port), "--bind", "127.0.0.1", "--format", "json"])
        self.assertEqual(result.returncode, h.EX_NOPERM, result.stdout)
        failed = h.one(self, h.json_events(self, result.stdout), "bind_failed")
        self.assertEqual(failed["errno"], "EACCES")
        self.assertIn(f"sudo systemd-socket-activate -l {port} demo-server", failed["explanation"])

    def test_text_report_says_the_parent_bound_it(self):
        port = free_privileged_port(self, families=("127.0.0.1",))
        server, first = self.activated([f"127.0.0.1:{port}"], ["127.0.0.1", port], fmt="text")
        self.assertEqual(first.returncode, h.EX_OK, first.stdout + first.stderr)
        text = "".join(server.lines)
        self.assertIn("note: 1 socket passed by the parent process (LISTEN_FDS)", text)
        flat = " ".join(text.split())
        self.assertIn(f"listening 127.0.0.1:{port} well-known port; privileged: bound by the parent process, "
                      f"so this one needs no privilege (socket activation)", flat)
        self.assertEqual(server.terminate(), h.EX_OK)

    def test_udp_sockets_are_served_too(self):
        port = free_privileged_port(self, families=("127.0.0.1",), proto=socket.SOCK_DGRAM)
        server, first = self.activated([f"127.0.0.1:{port}"], ["--udp", "127.0.0.1", port], datagram=True)
        listening = h.one(self, server.events(), "listening")
        self.assertEqual((listening["proto"], listening["bound_by"], listening["local"]["port"]),
                         ("udp", "parent", port))
        # The first datagram started the server; it may have come before the server read it, or
        # not: a second exchange must work either way.
        result = h.run_client("--udp", "127.0.0.1", port)
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        self.assertEqual(server.terminate(), h.EX_OK)

    def test_variables_for_another_process_are_ignored(self):
        env = {"LISTEN_PID": "1", "LISTEN_FDS": "1"}
        server = h.start_server(self, "--ports", "0", "--bind", "127.0.0.1", env=env)
        note = [e for e in server.events() if e["event"] == "note" and e["code"] == "listen_fds_ignored"]
        self.assertEqual(len(note), 1)
        self.assertIn("LISTEN_PID=1 is not this process", note[0]["message"])
        self.assertEqual(h.one(self, server.events(), "listening")["bound_by"], "self")


class BindThenDrop(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        Preconditions.check(cls)

    def test_credentials_and_capabilities_after_the_switch(self):
        port = free_privileged_port(self, families=("127.0.0.1",))
        server = h.start_server(self, "--ports", f"{port},0", "--bind", "127.0.0.1", "--user", "nobody")
        dropped = h.one(self, server.events(), "privileges_dropped")
        events = [e["event"] for e in server.events()]
        self.assertLess(events.index("privileges_dropped"), events.index("ready"),
                        "the switch comes before the first client can be accepted")
        status = status_of(server.pid)
        uids = [int(x) for x in status["Uid"].split()]
        gids = [int(x) for x in status["Gid"].split()]
        import pwd
        nobody = pwd.getpwnam("nobody")
        self.assertEqual(uids, [nobody.pw_uid] * 4)
        self.assertEqual(gids, [nobody.pw_gid] * 4)
        self.assertEqual(status["Groups"].strip(), "")
        self.assertEqual(int(status["CapEff"], 16), 0)
        self.assertEqual(int(status["CapPrm"], 16), 0)
        self.assertEqual(status["NoNewPrivs"], "1")
        # The report says what /proc says.
        self.assertEqual(dropped, {
            "event": "privileges_dropped", "user": "nobody", "uid": nobody.pw_uid, "gid": nobody.pw_gid,
            "uids": uids, "gids": gids, "groups": [], "cap_effective": status["CapEff"],
            "cap_permitted": status["CapPrm"], "no_new_privs": True, "setuid_0": "EPERM"})
        # The privileged port still serves, now from an unprivileged process.
        result = h.run_client("127.0.0.1", port)
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        self.assertIs(h.one(self, h.json_events(self, result.stdout), "connected")["mirror"], True)
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())

    def test_text_report(self):
        server = h.start_server(self, "--ports", "0", "--bind", "127.0.0.1", "--user", "nobody", fmt="text")
        text = "".join(server.lines)
        self.assertIn("privileges dropped: the ports are bound; now running as nobody (uid ", text)
        self.assertIn("  supplementary groups: none; capabilities: none (CapEff 0000000000000000)\n"
                      "  no_new_privs set; setuid(0) now fails (EPERM): it cannot become root again\n", text)
        self.assertEqual(server.terminate(), h.EX_OK)

    def test_unknown_user_is_refused_before_serving(self):
        result = h.run([h.SERVER, "--ports", "0", "--bind", "127.0.0.1", "--user", "no-such-user-pd",
                        "--format", "json"])
        self.assertEqual(result.returncode, h.EX_USAGE, result.stdout)
        self.assertIn("--user no-such-user-pd: no such user on this host", result.stderr)
        self.assertNotIn('"event":"ready"', result.stdout)

    def test_refused_when_not_root(self):
        if shutil.which("setpriv") is None:
            self.skipTest("setpriv is not installed (util-linux)")
        # A copy nobody can execute, wherever the build tree lives.
        work = tempfile.mkdtemp(prefix="portdemo-user-")
        self.addCleanup(shutil.rmtree, work, True)
        os.chmod(work, 0o755)
        binary = os.path.join(work, "demo-server")
        shutil.copy(h.SERVER, binary)
        os.chmod(binary, 0o755)
        result = h.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                        binary, "--ports", "0", "--bind", "127.0.0.1", "--user", "nobody", "--format", "json"])
        self.assertEqual(result.returncode, h.EX_NOPERM, result.stdout + result.stderr)
        self.assertEqual(result.stderr,
                         "demo-server: --user nobody: switching to another user needs root, and this process "
                         "runs as uid 65534. Start it as root (sudo demo-server ... --user nobody), or leave "
                         "out --user.\n")
        self.assertNotIn('"event":"listening"', result.stdout)


if __name__ == "__main__":
    unittest.main()
