"""Helpers shared by the tests of the scripts that build hosts out of network namespaces
(test_two_hosts: scripts/two-hosts.sh, test_nat: scripts/nat.sh), and haproxy as nat.sh
configures it, which test_proxy_protocol puts in front of demo-server on loopback.

The namespaces touched here are the scripts' own (named after the script's pid) or a probe made
and deleted here; what a script leaves behind is removed by name, and its programs by pid."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import harness as h

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts")
# The shell functions two-hosts.sh and nat.sh share; haproxy_config is read from there.
NETNS_LIB = os.path.join(SCRIPTS, "lib", "netns.sh")
SIGNAL_WAIT = 15.0    # for a script to clean up and end after a signal

# SIGINT back to its default first, then the program (exec keeps the pid, which names the
# namespaces): a test run started in the background of a shell inherits SIGINT ignored, and a
# shell script cannot trap a signal ignored on entry.
SIGINT_DEFAULT = [sys.executable, "-c",
                  "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                  "os.execv(sys.argv[1], sys.argv[1:])"]


def script(name):
    """The path of scripts/NAME in this repository."""
    return os.path.join(SCRIPTS, name)


def quiet(argv):
    """Runs argv (bounded), its output captured."""
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=h.EXIT_WAIT)


def netns_list():
    return [line.split()[0] for line in quiet(["ip", "netns", "list"]).stdout.splitlines()
            if line.strip()]


def remove_namespaces(namelist):
    """Ends the programs left in these namespaces (by pid) and deletes exactly those names."""
    for ns in namelist:
        if ns not in netns_list():
            continue
        for p in quiet(["ip", "netns", "pids", ns]).stdout.split():
            try:
                os.kill(int(p), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        quiet(["ip", "netns", "del", ns])


def probe_netns():
    """None where a network namespace of our own can be made, else the reason it cannot."""
    probe = f"pdtest-netnsprobe-{os.getpid()}"
    r = quiet(["ip", "netns", "add", probe])
    if r.returncode != 0:
        return f"ip netns add is not permitted here: {r.stderr.strip()!r}"
    quiet(["ip", "netns", "del", probe])
    return None


def run_script(argv, *, name, timeout, env=None, started=None):
    """Runs a script to its end (bounded: then SIGTERM, SIGKILL, and AssertionError with what it
    printed), NO_COLOR unset unless env sets it; started(pid) is called as soon as it runs.
    Returns (CompletedProcess, pid)."""
    merged = dict(os.environ)
    merged.pop("NO_COLOR", None)
    merged.update(env or {})
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=merged)
    if started:
        started(p.pid)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(p.pid, signal.SIGTERM)
        try:
            out, err = p.communicate(timeout=SIGNAL_WAIT)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            out, err = p.communicate(timeout=h.EXIT_WAIT)
        raise AssertionError(f"{name} did not end within {timeout} s; stdout: {out!r}; "
                             f"stderr: {err!r}")
    return subprocess.CompletedProcess(p.args, p.returncode, out, err), p.pid


def programs_in(namespaces):
    """{pid: command} of the processes in these namespaces."""
    comms = {}
    for ns in namespaces:
        for p in quiet(["ip", "netns", "pids", ns]).stdout.split():
            try:
                with open(f"/proc/{p}/comm") as f:
                    comms[int(p)] = f.read().strip()
            except OSError:
                pass
    return comms


def assert_ended(case, comms):
    """Every program of {pid: command} has ended (its pid gone, or another program's now)."""
    for pid, comm in comms.items():
        try:
            with open(f"/proc/{pid}/comm") as f:
                still = f.read().strip() == comm
        except OSError:
            still = False
        case.assertFalse(still, f"{comm} (pid {pid}) still runs after the script ended")


def assert_host_untouched(case, veths, addresses, namespaces=()):
    """This host's own namespace has none of the veth ends, no link that mentions one of the
    namespaces, and none of the addresses."""
    links = quiet(["ip", "-o", "link", "show"]).stdout
    for dev in veths:
        case.assertNotRegex(links, rf"\d+: {re.escape(dev)}[@:]",
                            f"veth {dev} left in this host's namespace")
    for ns in namespaces:
        case.assertNotIn(ns, links, f"a link mentions {ns} in this host's namespace")
    addrs = quiet(["ip", "-o", "addr", "show"]).stdout
    for address in addresses:
        case.assertNotIn(f"inet {address}/", addrs,
                         f"{address} appeared in this host's namespace")


def slow_client(case):
    """A "demo-client" that never finishes (sleep 30), in a directory the test removes."""
    tmp = tempfile.mkdtemp()
    case.addCleanup(shutil.rmtree, tmp, True)
    slow = os.path.join(tmp, "slow-client")
    with open(slow, "w") as f:
        f.write("#!/bin/sh\nexec sleep 30\n")
    os.chmod(slow, 0o755)
    return slow


def assert_needs_root(case, path, timeout):
    """The script run as nobody: exit 77, nothing on stdout, one line saying it needs root.
    Skips where it cannot be run as nobody here."""
    if shutil.which("setpriv") is None:
        case.skipTest("setpriv (util-linux) is not installed")
    r = h.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
               "--inh-caps=-all", "bash", path, "--json"], timeout=timeout)
    if r.returncode in (126, 127) or "needs root" not in r.stderr:
        case.skipTest(f"the script cannot be run as nobody here: {r.stderr.strip()!r}")
    case.assertEqual(r.returncode, h.EX_NOPERM, r.stdout + r.stderr)
    case.assertEqual(r.stdout, "")
    case.assertIn("needs root", r.stderr)
    case.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)


def require_user_namespace(case):
    """Skips unless `unshare -Ur` (root in a user namespace of its own) works here."""
    if shutil.which("unshare") is None or h.run(["unshare", "-Ur", "true"]).returncode != 0:
        case.skipTest("unshare -Ur (a user namespace) is not available here")


# ---------------------------------------------------------------------------------------------
# haproxy, configured as scripts/nat.sh configures it
# ---------------------------------------------------------------------------------------------

def haproxy_config(front, backend, send):
    """haproxy's configuration (mode tcp) from haproxy_config in scripts/lib/netns.sh, the one
    nat.sh runs in its router: it takes connections on FRONT ("address:port") and opens its own
    to BACKEND, each beginning with a PROXY header (SEND: send-proxy or send-proxy-v2)."""
    r = subprocess.run(["bash", "-c", '. "$0" && haproxy_config "$@"', NETNS_LIB, front,
                        backend, send], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=h.EXIT_WAIT)
    if r.returncode != 0 or not r.stdout:
        raise AssertionError(f"haproxy_config from {NETNS_LIB} failed: {r.stderr.strip()!r}")
    return r.stdout


def wait_listening(port, timeout=5.0):
    """Until something accepts on 127.0.0.1:port (bounded); the connection is closed again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def start_haproxy(case, backend_port, send):
    """haproxy on a free port of 127.0.0.1 in front of 127.0.0.1:backend_port, ended by pid in
    the test's cleanup; returns its port once it accepts. Skips where haproxy is missing."""
    if not shutil.which("haproxy"):
        case.skipTest("haproxy is not installed (scripts/install-deps.sh installs it)")
    front = h.free_port()
    tmp = tempfile.mkdtemp(prefix="pd-haproxy-")
    case.addCleanup(shutil.rmtree, tmp, True)
    cfg = os.path.join(tmp, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(haproxy_config(f"127.0.0.1:{front}", f"127.0.0.1:{backend_port}", send))
    proc = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    case.addCleanup(lambda: (proc.kill(), proc.wait(5)))
    if not wait_listening(front):
        case.fail(f"haproxy did not listen on {front}: {proc.stderr.read1(4096) if proc.poll() is not None else ''}")
    return front
