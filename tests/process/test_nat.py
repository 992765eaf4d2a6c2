"""scripts/nat.sh: three network namespaces, a client host 10.77.1.2, a router (10.77.1.1 towards
the client, 10.77.2.1 towards the server) and a server host 10.77.2.2, with real kernel NAT on
the router (nftables). The script runs demo-server and demo-client through it, TCP and UDP,
in four modes; the tests check the exact classification on both ends (source NAT with the
port kept, source NAT with the port rewritten into the router's range, a port forward, both),
that the router's own conntrack entry holds the same four facts before and after the rewrite,
and that the script leaves nothing behind, also when interrupted with SIGINT. Then the three
proxy modes, no NAT but a real proxy in the router: haproxy (send-proxy, send-proxy-v2) in front
of demo-server --proxy-protocol, whose PROXY header must name exactly the client's own end and
the end it dialled while the server's socket sees the router; nginx in front of GET /json,
whose X-Forwarded-For, X-Forwarded-Port and Host the server reports as claims.

The namespaces are the script's own, named after its pid (pd-nat-client-PID, pd-nat-router-PID,
pd-nat-server-PID); the addresses and the NAT rules exist only inside them. Skipped, with the
reason, when not root, where `ip netns add` is not permitted, where nft or conntrack is missing
(scripts/install-deps.sh installs them) or where the kernel refuses NAT in a namespace; the
proxy tests where haproxy, nginx or curl is missing. Should the script leave a namespace
behind, the test reports it and then deletes exactly that name."""

import os
import re
import shutil
import signal
import tempfile
import time
import unittest

import harness as h
import netns_helpers as nh

SCRIPT = nh.script("nat.sh")
CLIENT_ADDR, ROUTER_CLIENT_ADDR = "10.77.1.2", "10.77.1.1"
ROUTER_SERVER_ADDR, SERVER_ADDR = "10.77.2.1", "10.77.2.2"
SNAT_LOW, SNAT_HIGH = 61000, 61099   # snat-random's range (above the client's ephemeral range)
MODES = ["snat", "snat-random", "forward", "both"]
PROXY_MODES = ["haproxy-v1", "haproxy-v2", "nginx"]
RUN_WAIT = 45.0       # for a whole run of the script (all four modes take about 2 s)


def names(pid):
    """The namespaces and veth ends the script with this pid uses."""
    return {"ns": [f"pd-nat-client-{pid}", f"pd-nat-router-{pid}", f"pd-nat-server-{pid}"],
            "veth": [f"pd-nc-{pid}", f"pd-nrc-{pid}", f"pd-nrs-{pid}", f"pd-ns-{pid}"]}


def run_script(args, env=None, argv0=None):
    """Runs the script to its end (bounded); returns (CompletedProcess, pid, seconds). The
    namespaces of that pid are removed afterwards whatever happened (a safety net only)."""
    started = time.monotonic()
    pids = []
    try:
        result, pid = nh.run_script((argv0 or [SCRIPT]) + [str(a) for a in args], name="nat.sh",
                                    timeout=RUN_WAIT, env=env, started=pids.append)
    finally:
        left = [ns for ns in names(pids[0])["ns"] if ns in nh.netns_list()] if pids else []
        nh.remove_namespaces(left)
    result.left_behind = left
    return result, pid, time.monotonic() - started


def path_without(tools, tmp):
    """A PATH without these tools: the directories holding them are replaced by tmp, which
    links to everything else in them."""
    found = [shutil.which(t) for t in tools]
    hidden = {os.path.realpath(os.path.dirname(f)) for f in found if f}
    for d in hidden:
        for name in os.listdir(d):
            if name not in tools and not os.path.lexists(os.path.join(tmp, name)):
                os.symlink(os.path.join(d, name), os.path.join(tmp, name))
    return os.pathsep.join([tmp] + [d for d in os.environ.get("PATH", "").split(os.pathsep)
                                    if d and os.path.realpath(d) not in hidden])


def probe_nat():
    """None where a namespace of our own takes a NAT table and lists its conntrack table, else
    the reason it does not."""
    probe = f"pdtest-natprobe-{os.getpid()}"
    r = nh.quiet(["ip", "netns", "add", probe])
    if r.returncode != 0:
        return f"ip netns add is not permitted here: {r.stderr.strip()!r}"
    try:
        rules = ("table ip portdemo_probe { chain post { type nat hook postrouting priority "
                 "srcnat; policy accept; masquerade; }; }")
        r = nh.quiet(["ip", "netns", "exec", probe, "nft", rules])
        if r.returncode != 0:
            return f"the kernel refuses NAT rules in a network namespace: {r.stderr.strip()!r}"
        r = nh.quiet(["ip", "netns", "exec", probe, "conntrack", "-L"])
        if r.returncode != 0:
            return f"conntrack -L fails in a network namespace: {r.stderr.strip()!r}"
        return None
    finally:
        nh.quiet(["ip", "netns", "del", probe])


class Nat(unittest.TestCase):
    maxDiff = None
    runs = {}   # mode -> the script's JSON event, from one run of all four modes

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)
        if not os.access(SCRIPT, os.X_OK):
            raise unittest.SkipTest(f"{SCRIPT} is not an executable script")
        if os.geteuid() != 0:
            raise unittest.SkipTest("nat.sh needs root to create network namespaces")
        for tool, package in (("ip", "iproute2"), ("nft", "nftables"), ("conntrack", "conntrack")):
            if shutil.which(tool) is None:
                raise unittest.SkipTest(f"{tool} is not installed (package {package}; "
                                        "scripts/install-deps.sh installs it)")
        reason = probe_nat()
        if reason:
            raise unittest.SkipTest(reason)
        # The real script, all four modes, once: the per-mode tests read its events.
        result, pid, seconds = run_script(["--format", "json"])
        cls.all_result, cls.all_pid, cls.all_seconds = result, pid, seconds

    # -- helpers ---------------------------------------------------------------------------------

    def assert_nothing_left(self, result, pid):
        self.assertEqual(result.left_behind, [], f"namespaces of run {pid} left behind")
        nh.assert_host_untouched(self, names(pid)["veth"], (CLIENT_ADDR, ROUTER_CLIENT_ADDR,
                                                             ROUTER_SERVER_ADDR, SERVER_ADDR))

    def json_run(self, result, pid, modes):
        """The events of a JSON run: exactly one `nat` event per mode, in order, and nothing
        else; returns {mode: event}."""
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)
        self.assertEqual([e["event"] for e in events], ["nat"] * len(modes), events)
        self.assertEqual([e["mode"] for e in events], modes)
        for e in events:
            self.assertEqual(e["client_namespace"], f"pd-nat-client-{pid}")
            self.assertEqual(e["router_namespace"], f"pd-nat-router-{pid}")
            self.assertEqual(e["server_namespace"], f"pd-nat-server-{pid}")
            self.assertEqual(e["router_addresses"], [ROUTER_CLIENT_ADDR, ROUTER_SERVER_ADDR])
            self.assertTrue(e["as_expected"], e["problems"])
            self.assertEqual(e["problems"], [])
        self.assert_nothing_left(result, pid)
        return {e["mode"]: e for e in events}

    def event(self, mode):
        if not self.runs:
            Nat.runs = self.json_run(self.all_result, self.all_pid, MODES)
        return self.runs[mode]

    @staticmethod
    def side(before, after):
        return {"before": before, "after": after,
                "address_rewritten": before["address"] != after["address"],
                "port_rewritten": before["port"] != after["port"],
                "after_port_class": h.port_class(after["port"])}

    def check_proto(self, e, proto, *, dialled, server, source_after, kind):
        """One protocol's result in one mode: both views, both translations (exactly the
        expected one, on both ends) and the router's conntrack entry."""
        r = e[proto]
        c, s = r["client_view"], r["server_view"]
        # The client's view: its own address and a port its kernel chose, and what it dialled.
        self.assertEqual(c["local"]["address"], CLIENT_ADDR, r)
        self.assertIsInstance(c["local"]["port"], int, r)
        self.assertEqual(c["remote"], dialled, r)
        # The server's view: its own socket, and where the packets came from.
        self.assertEqual(s["local"], server, r)
        after = source_after(c["local"])
        self.assertEqual(s["remote"], after, r)
        expected = {"kind": kind,
                    "source": None if after == c["local"] else self.side(c["local"], after),
                    "destination": None if dialled == server else self.side(dialled, server),
                    "destination_address_known": True}
        self.assertEqual(r["client_translation"], expected, f"{proto}: the client's translation")
        self.assertEqual(r["server_translation"], expected, f"{proto}: the server's translation")
        self.assertTrue(r["agree"])
        # The kernel's own record of the rewrite: the original tuple is the client's view, the
        # reply tuple the server's view mirrored (from the server's end back to the router).
        ct = r["conntrack"]
        self.assertIsNotNone(ct, f"{proto}: no conntrack entry")
        self.assertEqual(ct["original"], {"source": c["local"], "destination": c["remote"]}, ct)
        self.assertEqual(ct["reply"], {"source": s["local"], "destination": s["remote"]}, ct)
        self.assertTrue(r["conntrack_matches"])
        self.assertTrue(ct["line"].startswith(f"{proto} {6 if proto == 'tcp' else 17} "), ct)
        if proto == "tcp":
            self.assertIsInstance(ct["state"], str, ct)
            self.assertIn("ASSURED", ct["flags"], ct)
        else:
            self.assertIsNone(ct["state"], ct)
            self.assertNotIn("UNREPLIED", ct["flags"], ct)
        return r

    # -- the four modes, both protocols, both ends, and the router ---------------------------

    def test_snat_keeps_the_port(self):
        e = self.event("snat")
        self.assertEqual(e["expected_kind"], "source_nat")
        self.assertEqual(e["dialled"], h.ep(SERVER_ADDR, 8080))
        self.assertEqual(e["rules"], [f'oifname "pd-nrs-{self.all_pid}" masquerade'])
        self.assertIsNone(e["snat_port_range"])
        for proto in ("tcp", "udp"):
            with self.subTest(proto=proto):
                r = self.check_proto(e, proto, dialled=h.ep(SERVER_ADDR, 8080),
                                     server=h.ep(SERVER_ADDR, 8080), kind="source_nat",
                                     source_after=lambda mine: h.ep(ROUTER_SERVER_ADDR, mine["port"]))
                src = r["client_translation"]["source"]
                self.assertTrue(src["address_rewritten"])
                self.assertFalse(src["port_rewritten"])
                self.assertEqual(src["after"], {"address": ROUTER_SERVER_ADDR,
                                                "port": r["client_view"]["local"]["port"]})

    def test_snat_random_rewrites_the_port_into_the_range(self):
        e = self.event("snat-random")
        self.assertEqual(e["expected_kind"], "source_nat")
        self.assertEqual(e["snat_port_range"], {"low": SNAT_LOW, "high": SNAT_HIGH})
        self.assertEqual(e["rules"], [f'oifname "pd-nrs-{self.all_pid}" meta l4proto {{ tcp, udp }} '
                                      f"snat to {ROUTER_SERVER_ADDR}:{SNAT_LOW}-{SNAT_HIGH}"])
        for proto in ("tcp", "udp"):
            with self.subTest(proto=proto):
                seen = e[proto]["server_view"]["remote"]
                r = self.check_proto(e, proto, dialled=h.ep(SERVER_ADDR, 8080),
                                     server=h.ep(SERVER_ADDR, 8080), kind="source_nat",
                                     source_after=lambda mine: seen)
                src = r["client_translation"]["source"]
                self.assertTrue(src["address_rewritten"])
                self.assertTrue(src["port_rewritten"])
                self.assertEqual(src["after"]["address"], ROUTER_SERVER_ADDR)
                self.assertGreaterEqual(src["after"]["port"], SNAT_LOW)
                self.assertLessEqual(src["after"]["port"], SNAT_HIGH)
                self.assertNotEqual(src["after"]["port"], src["before"]["port"])

    def test_forward_is_destination_nat_only(self):
        e = self.event("forward")
        self.assertEqual(e["expected_kind"], "destination_nat")
        self.assertEqual(e["dialled"], h.ep(ROUTER_CLIENT_ADDR, 8081))
        self.assertEqual(e["server"], h.ep(SERVER_ADDR, 8080))
        for proto in ("tcp", "udp"):
            with self.subTest(proto=proto):
                r = self.check_proto(e, proto, dialled=h.ep(ROUTER_CLIENT_ADDR, 8081),
                                     server=h.ep(SERVER_ADDR, 8080), kind="destination_nat",
                                     source_after=lambda mine: mine)
                t = r["server_translation"]
                self.assertIsNone(t["source"])
                self.assertEqual(t["destination"]["before"], h.ep(ROUTER_CLIENT_ADDR, 8081))
                self.assertEqual(t["destination"]["after"], h.ep(SERVER_ADDR, 8080))
                # No source NAT: the server sees the client's own address and port.
                self.assertEqual(r["server_view"]["remote"], r["client_view"]["local"])

    def test_both_is_source_and_destination_nat(self):
        e = self.event("both")
        self.assertEqual(e["expected_kind"], "source_and_destination_nat")
        self.assertEqual(len(e["rules"]), 2, e["rules"])
        for proto in ("tcp", "udp"):
            with self.subTest(proto=proto):
                r = self.check_proto(e, proto, dialled=h.ep(ROUTER_CLIENT_ADDR, 8081),
                                     server=h.ep(SERVER_ADDR, 8080),
                                     kind="source_and_destination_nat",
                                     source_after=lambda mine: h.ep(ROUTER_SERVER_ADDR, mine["port"]))
                self.assertFalse(r["client_translation"]["source"]["port_rewritten"])
                self.assertTrue(r["client_translation"]["destination"]["port_rewritten"])

    def test_all_modes_in_one_run_within_limits(self):
        for mode in MODES:
            self.assertLess(self.event(mode)["duration_ms"], 10000, mode)
        self.assertLess(self.all_seconds, 30.0)

    # -- options ------------------------------------------------------------------------------

    def test_forward_with_ports_given(self):
        result, pid, _ = run_script(["--mode", "forward", "--port", "9123", "--public-port=9124",
                                     "--json"])
        e = self.json_run(result, pid, ["forward"])["forward"]
        self.assertEqual(e["rules"], [f'iifname "pd-nrc-{pid}" meta l4proto {{ tcp, udp }} '
                                      f"th dport 9124 dnat to {SERVER_ADDR}:9123"])
        for proto in ("tcp", "udp"):
            with self.subTest(proto=proto):
                self.check_proto(e, proto, dialled=h.ep(ROUTER_CLIENT_ADDR, 9124),
                                 server=h.ep(SERVER_ADDR, 9123), kind="destination_nat",
                                 source_after=lambda mine: mine)

    def test_text(self):
        result, pid, _ = run_script([])
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        out = result.stdout
        h.assert_text_lines(self, out, "nat.sh's text")
        for n, mode in enumerate(MODES, 1):
            self.assertRegex(out, rf"\nMode {n} of 4: {re.escape(mode)}, ")
        self.assertEqual(out.count("What the router did: "), 4)
        self.assertEqual(out.count("= the client's view\n"), 8)
        self.assertEqual(out.count("= the server's, mirrored\n"), 8)
        self.assertNotIn("NOT the", out)
        self.assertNotIn("Not what mode", out)
        flat = h.flat(out)
        self.assertIn("(address rewritten, port kept)", flat)
        self.assertIn("(address and port rewritten)", flat)
        self.assertIn(f"from its range {SNAT_LOW}-{SNAT_HIGH}", flat)
        self.assertIn("destination NAT (a port forward): the client dialled "
                      f"{ROUTER_CLIENT_ADDR}:8081, the server listens on {SERVER_ADDR}:8080", flat)
        self.assertRegex(flat, rf"original src={CLIENT_ADDR} dst={SERVER_ADDR} sport=\d+ "
                               rf"dport=8080 = the client's view")
        self.assertRegex(flat, rf"reply src={SERVER_ADDR} dst={ROUTER_SERVER_ADDR} sport=8080 "
                               rf"dport={SNAT_LOW // 100}\d\d = the server's, mirrored")
        self.assertIn("conntrack -L -p tcp --dport 8081", out)
        self.assertIn(f"Cleaned up: deleted pd-nat-client-{pid}, pd-nat-router-{pid} and "
                      f"pd-nat-server-{pid}", out)
        self.assert_nothing_left(result, pid)

    def test_text_forward_to_the_same_port(self):
        result, pid, _ = run_script(["--mode=both", "--port", "9125", "--public-port", "9125"])
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        h.assert_text_lines(self, result.stdout, "nat.sh's text")
        flat = h.flat(result.stdout)
        self.assertIn("Mode both: a port forward and source NAT together", flat)
        self.assertIn(f"the client dialled {ROUTER_CLIENT_ADDR}:9125, the server listens on "
                      f"{SERVER_ADDR}:9125 (address rewritten, port kept)", flat)
        self.assertIn("the same port on the server's address", flat)
        self.assert_nothing_left(result, pid)

    # -- interrupted -------------------------------------------------------------------------

    def test_sigint_while_the_client_runs(self):
        # A "client" that never finishes (well inside the script's 15 s wait for it): the
        # signal comes while both a server and a client run in the namespaces.
        proc = h.Proc(self, nh.SIGINT_DEFAULT + [SCRIPT, "--json"],
                      env={"DEMO_CLIENT": nh.slow_client(self)})
        self.addCleanup(nh.remove_namespaces, names(proc.pid)["ns"])
        deadline = time.monotonic() + RUN_WAIT
        while True:
            comms = nh.programs_in(names(proc.pid)["ns"])
            if {"demo-server", "sleep"} <= set(comms.values()):
                break
            self.assertTrue(proc.running(), f"nat.sh ended early: {proc.stderr()!r}")
            self.assertLess(time.monotonic(), deadline, f"server and client not running: {comms}")
            time.sleep(0.05)
        rc = proc.terminate(signal.SIGINT, timeout=nh.SIGNAL_WAIT)
        self.assertEqual(rc, 130, f"exit code after SIGINT; stderr: {proc.stderr()!r}")
        self.assertIn("interrupted", proc.stderr())
        self.assertEqual(proc.read_rest(), [], "no mode finished, so no event")
        nh.assert_ended(self, comms)
        left = [ns for ns in names(proc.pid)["ns"] if ns in nh.netns_list()]
        self.assertEqual(left, [], "namespaces left behind after SIGINT")

    # -- refusals ----------------------------------------------------------------------------

    def test_name_taken_fails_and_leaves_it(self):
        # The wrapper takes pd-nat-router-$$ and then becomes the script with exec: same pid.
        wrapper = 'ip netns add "pd-nat-router-$$" || exit 99; exec "$0" "$@"'
        result, pid, _ = run_script(["--json"], argv0=["sh", "-c", wrapper, SCRIPT])
        self.assertEqual(result.returncode, h.EX_UNAVAILABLE, result.stdout + result.stderr)
        self.assertEqual(result.stdout, "")
        self.assertIn(f"pd-nat-router-{pid} exists already", result.stderr)
        # Its own namespace was left to the end of run_script, which then removed it.
        self.assertEqual(result.left_behind, [f"pd-nat-router-{pid}"],
                         "the script deleted a namespace that was not its own")

    def test_nft_and_conntrack_missing_exit_77(self):
        # PATH without nft and conntrack: everything else of /usr/sbin stays reachable.
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, True)
        path = path_without(("nft", "conntrack"), tmp)
        result, pid, _ = run_script(["--json"], env={"PATH": path})
        self.assertEqual(result.returncode, h.EX_NOPERM, result.stdout + result.stderr)
        self.assertEqual(result.stdout, "")
        self.assertIn("nft (the nftables package", result.stderr)
        self.assertIn("conntrack (the conntrack package", result.stderr)
        self.assertIn("scripts/install-deps.sh", result.stderr)
        self.assertEqual(result.left_behind, [])

    def test_not_root_exit_77(self):
        nh.assert_needs_root(self, SCRIPT, RUN_WAIT)

    def test_netns_not_permitted_exit_77(self):
        # Root inside a user namespace of its own may not add a namespace to /run/netns.
        nh.require_user_namespace(self)
        result, pid, _ = run_script(["--json"], argv0=["unshare", "-Ur", SCRIPT])
        if result.returncode == h.EX_OK:
            self.skipTest("ip netns add is permitted even inside a user namespace here")
        self.assertEqual(result.returncode, h.EX_NOPERM, result.stdout + result.stderr)
        self.assertEqual(result.stdout, "")
        self.assertIn("not permitted", result.stderr)
        self.assertEqual(result.left_behind, [])

    def test_usage(self):
        for args in (["--mode", "dnat"], ["--mode", "proxy"], ["--mode"], ["--port", "0"], ["--port", "70000"],
                     ["--public-port=x"], ["--format", "xml"], ["--bogus"], ["8080"]):
            with self.subTest(args=args):
                r = h.run([SCRIPT] + args, timeout=RUN_WAIT)
                self.assertEqual(r.returncode, h.EX_USAGE, r.stdout + r.stderr)
                self.assertEqual(r.stdout, "")
                self.assertIn("usage: scripts/nat.sh", r.stderr)
        r = h.run([SCRIPT, "--help"], timeout=RUN_WAIT)
        self.assertEqual(r.returncode, h.EX_OK)
        for word in ("--mode", "snat-random", "--public-port", "--format", "DEMO_SERVER",
                     "haproxy-v1", "haproxy-v2", "nginx", "proxies"):
            self.assertIn(word, r.stdout)


class Proxies(unittest.TestCase):
    """The three proxy modes, from one run of `--mode proxies` (or of the modes whose proxy is
    installed here), shared by the tests."""
    maxDiff = None
    runs = None     # mode -> the script's `proxy` event
    result = None   # that run: (CompletedProcess, pid)

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)
        if not os.access(SCRIPT, os.X_OK):
            raise unittest.SkipTest(f"{SCRIPT} is not an executable script")
        if os.geteuid() != 0:
            raise unittest.SkipTest("nat.sh needs root to create network namespaces")
        if shutil.which("ip") is None:
            raise unittest.SkipTest("ip is not installed (package iproute2)")
        reason = nh.probe_netns()
        if reason:
            raise unittest.SkipTest(reason)
        cls.missing = {}
        if shutil.which("haproxy") is None:
            for m in ("haproxy-v1", "haproxy-v2"):
                cls.missing[m] = ("haproxy is not installed (package haproxy; "
                                  "scripts/install-deps.sh installs it)")
        for tool in ("nginx", "curl"):
            if shutil.which(tool) is None:
                cls.missing.setdefault("nginx", f"{tool} is not installed (package {tool}: "
                                                "apt-get install " + tool + ")")
        cls.available = [m for m in PROXY_MODES if m not in cls.missing]

    # -- one shared run --------------------------------------------------------------------

    def event(self, mode):
        if mode in self.missing:
            self.skipTest(self.missing[mode])
        if Proxies.runs is None:
            Proxies.runs = {}
            # One run for all of them where all three proxies are here; else mode by mode.
            groups = [["--mode", "proxies"]] if not self.missing else \
                [["--mode", m] for m in self.available]
            for args in groups:
                result, pid, _ = run_script(args + ["--format", "json"])
                wanted = PROXY_MODES if args[1] == "proxies" else [args[1]]
                Proxies.runs.update(self.json_run(result, pid, wanted))
        return self.runs[mode]

    def json_run(self, result, pid, modes):
        """Exactly one `proxy` event per mode, in order, as expected, nothing left behind."""
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)
        self.assertEqual([e["event"] for e in events], ["proxy"] * len(modes), events)
        self.assertEqual([e["mode"] for e in events], modes)
        for e in events:
            self.assertEqual(e["client_namespace"], f"pd-nat-client-{pid}")
            self.assertEqual(e["router_namespace"], f"pd-nat-router-{pid}")
            self.assertEqual(e["server_namespace"], f"pd-nat-server-{pid}")
            self.assertEqual(e["router_addresses"], [ROUTER_CLIENT_ADDR, ROUTER_SERVER_ADDR])
            self.assertEqual(e["dialled"], h.ep(ROUTER_CLIENT_ADDR, 8081))
            self.assertEqual(e["server"], h.ep(SERVER_ADDR, 8080))
            self.assertTrue(e["as_expected"], e["problems"])
            self.assertEqual(e["problems"], [])
            self.assertLess(e["duration_ms"], 10000, e["mode"])
        Nat.assert_nothing_left(self, result, pid)
        return {e["mode"]: e for e in events}

    # -- haproxy: the PROXY header carries the client on --------------------------------------

    def check_haproxy(self, mode, version, send):
        e = self.event(mode)
        self.assertEqual(e["proxy"], "haproxy")
        self.assertEqual(e["send"], send)
        self.assertIn(f"server demo {SERVER_ADDR}:8080 {send}", e["config"])
        self.assertIn(f"bind {ROUTER_CLIENT_ADDR}:8081", e["config"])
        c, s = e["client_view"], e["server_view"]
        dialled = h.ep(ROUTER_CLIENT_ADDR, 8081)
        # The client: its own address, a port its kernel chose, and the proxy it dialled.
        self.assertEqual(c["local"]["address"], CLIENT_ADDR, c)
        self.assertIsInstance(c["local"]["port"], int, c)
        self.assertEqual(c["remote"], dialled, c)
        # The header: exactly the client's own end and the end it dialled.
        self.assertEqual(e["proxied"], {"version": version, "command": "proxy",
                                        "source": c["local"], "destination": dialled})
        # The server's socket: its own port, and the router's address with haproxy's own port.
        self.assertEqual(s["local"], h.ep(SERVER_ADDR, 8080), s)
        self.assertEqual(s["remote"]["address"], ROUTER_SERVER_ADDR, s)
        self.assertIsInstance(s["remote"]["port"], int, s)
        # Both ends: both sides changed, as a proxy gives (it took the connection, opened its own).
        expected = {"kind": "source_and_destination_nat",
                    "source": Nat.side(c["local"], s["remote"]),
                    "destination": Nat.side(dialled, s["local"]),
                    "destination_address_known": True}
        self.assertEqual(e["client_translation"], expected, "the client's translation")
        self.assertEqual(e["server_translation"], expected, "the server's translation")
        self.assertTrue(e["agree"])
        self.assertIsNone(e["claims"])

    def test_haproxy_v1(self):
        self.check_haproxy("haproxy-v1", 1, "send-proxy")

    def test_haproxy_v2(self):
        self.check_haproxy("haproxy-v2", 2, "send-proxy-v2")

    # -- nginx: X-Forwarded-For and a Host that names the public port ---------------------------

    def test_nginx(self):
        e = self.event("nginx")
        self.assertEqual(e["proxy"], "nginx")
        self.assertEqual(e["http_status"], 200)
        c, s = e["client_view"], e["server_view"]
        self.assertEqual(c["local"]["address"], CLIENT_ADDR, c)
        self.assertEqual(c["remote"], h.ep(ROUTER_CLIENT_ADDR, 8081), c)
        # /json's remote: the router, with nginx's own port; its local: the server's port.
        self.assertEqual(s["remote"]["address"], ROUTER_SERVER_ADDR, s)
        self.assertEqual(s["local"], h.ep(SERVER_ADDR, 8080), s)
        claims = e["claims"]
        forwarding = {f["header"]: f["value"] for f in claims["forwarding"]}
        self.assertEqual(forwarding.get("X-Forwarded-For"), CLIENT_ADDR, claims)
        self.assertEqual(forwarding.get("X-Forwarded-Port"), str(8081), claims)
        self.assertIs(claims["host_differs"], True, claims)
        self.assertEqual(claims["host"], f"{ROUTER_CLIENT_ADDR}:8081", claims)
        self.assertEqual(claims["host_port"], 8081, claims)
        self.assertIsNone(e["proxied"], "nginx sends no PROXY header")

    # -- text, interrupted, missing -----------------------------------------------------------

    def test_text(self):
        if self.missing:
            self.skipTest("; ".join(sorted(set(self.missing.values()))))
        result, pid, _ = run_script(["--mode", "proxies"])
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        out = result.stdout
        h.assert_text_lines(self, out, "nat.sh's text")
        for n, mode in enumerate(PROXY_MODES, 1):
            self.assertRegex(out, rf"\nMode {n} of 3: {re.escape(mode)}, ")
        self.assertEqual(out.count("What the proxy did: "), 3)
        self.assertEqual(out.count("= the client's view\n"), 2)
        self.assertNotIn("NOT the", out)
        self.assertNotIn("Not what mode", out)
        flat = h.flat(out)
        self.assertRegex(flat, rf"PROXY v1 header {CLIENT_ADDR}:\d+ {ROUTER_CLIENT_ADDR}:8081 "
                               r"= the client's view")
        self.assertIn("server demo 10.77.2.2:8080 send-proxy-v2", flat)
        self.assertIn(f"Host: {ROUTER_CLIENT_ADDR}:8081 (not the socket's port 8080)", flat)
        self.assertIn(f"X-Forwarded-For: {CLIENT_ADDR}", flat)
        self.assertIn("X-Forwarded-Port: 8081", flat)
        self.assertIn(f"Cleaned up: deleted pd-nat-client-{pid}, pd-nat-router-{pid} and "
                      f"pd-nat-server-{pid}", out)
        Nat.assert_nothing_left(self, result, pid)

    def test_sigint_while_haproxy_runs(self):
        if "haproxy-v1" in self.missing:
            self.skipTest(self.missing["haproxy-v1"])
        proc = h.Proc(self, nh.SIGINT_DEFAULT + [SCRIPT, "--mode", "haproxy-v1", "--json"],
                      env={"DEMO_CLIENT": nh.slow_client(self)})
        self.addCleanup(nh.remove_namespaces, names(proc.pid)["ns"])
        deadline = time.monotonic() + RUN_WAIT
        while True:
            comms = nh.programs_in(names(proc.pid)["ns"])
            if {"demo-server", "haproxy", "sleep"} <= set(comms.values()):
                break
            self.assertTrue(proc.running(), f"nat.sh ended early: {proc.stderr()!r}")
            self.assertLess(time.monotonic(), deadline, f"server, proxy, client not running: {comms}")
            time.sleep(0.05)
        rc = proc.terminate(signal.SIGINT, timeout=nh.SIGNAL_WAIT)
        self.assertEqual(rc, 130, f"exit code after SIGINT; stderr: {proc.stderr()!r}")
        self.assertEqual(proc.read_rest(), [], "no mode finished, so no event")
        nh.assert_ended(self, comms)
        left = [ns for ns in names(proc.pid)["ns"] if ns in nh.netns_list()]
        self.assertEqual(left, [], "namespaces left behind after SIGINT")

    def test_proxies_missing_exit_77(self):
        # PATH without haproxy and nginx (whether or not they are installed here).
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, True)
        path = path_without(("haproxy", "nginx"), tmp)
        result, pid, _ = run_script(["--mode", "proxies", "--json"], env={"PATH": path})
        self.assertEqual(result.returncode, h.EX_NOPERM, result.stdout + result.stderr)
        self.assertEqual(result.stdout, "")
        self.assertIn("haproxy (the haproxy package", result.stderr)
        self.assertIn("nginx (the nginx package", result.stderr)
        self.assertIn("apt-get install", result.stderr)
        self.assertEqual(result.left_behind, [])
        # One mode names only its own proxy.
        result, pid, _ = run_script(["--mode", "haproxy-v2"], env={"PATH": path})
        self.assertEqual(result.returncode, h.EX_NOPERM, result.stdout + result.stderr)
        self.assertIn("haproxy (the haproxy package", result.stderr)
        self.assertNotIn("nginx", result.stderr)


if __name__ == "__main__":
    unittest.main()
