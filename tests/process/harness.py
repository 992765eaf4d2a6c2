"""Shared helpers for the process tests: start the real binaries, read their output line by
line with deadlines, and know this host's live port facts.

Rules the helpers enforce: servers always start on --ports 0 (or a port found free), tests wait
for the `ready` event instead of sleeping, every wait is bounded, and every process started here
is ended by its pid in the test's cleanup, even when the test fails.
"""

import ctypes
import functools
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import threading
import time
import unittest

SERVER = os.environ.get("DEMO_SERVER", "")
# The sanitizers in the build ("address,undefined", "thread"), or empty: memory and speed
# figures mean nothing under them.
SANITIZED = os.environ.get("PORTDEMO_SANITIZED", "")
CLIENT = os.environ.get("DEMO_CLIENT", "")

# Bounded waits, in seconds.
START_WAIT = 5.0    # for a server's `ready` event
EVENT_WAIT = 3.0    # for any later event
EXIT_WAIT = 5.0     # for a process to end
CLIENT_WAIT = 10.0  # for a whole demo-client run

EX_OK, EX_USAGE, EX_NOHOST, EX_UNAVAILABLE, EX_SOFTWARE, EX_TEMPFAIL, EX_NOPERM = (
    0, 64, 68, 69, 70, 75, 77)

TEXT_WIDTH_LIMIT = 100  # text lines must stay under 100 columns (render.hpp)

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def require_binaries(case):
    """Skips the whole test case when DEMO_SERVER / DEMO_CLIENT are not set."""
    if not SERVER or not CLIENT:
        raise unittest.SkipTest("DEMO_SERVER and DEMO_CLIENT must name the built binaries "
                                "(ctest sets them)")
    for path in (SERVER, CLIENT):
        if not os.access(path, os.X_OK):
            raise unittest.SkipTest(f"{path} is not an executable: build first")


# ---------------------------------------------------------------------------------------------
# This host's live facts
# ---------------------------------------------------------------------------------------------

def ephemeral_range():
    """net.ipv4.ip_local_port_range, read now: (low, high), or None if unreadable."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
        return low, high
    except (OSError, ValueError):
        return None


def range_text():
    r = ephemeral_range()
    return f"{r[0]}-{r[1]}" if r else "unknown"


def in_ephemeral_range(port):
    r = ephemeral_range()
    return None if r is None else r[0] <= port <= r[1]


def unprivileged_port_start():
    """net.ipv4.ip_unprivileged_port_start, read now, or None."""
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def port_class(port):
    """IANA's class (RFC 6335): well-known 0-1023, registered 1024-49151, dynamic 49152-65535."""
    if port <= 1023:
        return "well-known"
    if port <= 49151:
        return "registered"
    return "dynamic"


# The project's own service table (services.cpp), as the text output names the ports.
BUILTIN_SERVICES = {
    20: "FTP data", 21: "FTP", 22: "SSH", 23: "Telnet", 25: "SMTP (sending email)", 53: "DNS",
    80: "HTTP", 110: "POP3 (receiving email)", 123: "NTP (time)", 143: "IMAP (receiving email)",
    179: "BGP", 389: "LDAP", 443: "HTTPS", 465: "SMTP over TLS", 587: "SMTP submission (TLS)",
    636: "LDAP over TLS", 993: "IMAP over TLS", 995: "POP3 over TLS",
    1433: "Microsoft SQL Server", 1434: "Microsoft SQL Server browser", 3306: "MySQL",
    3389: "RDP (Windows remote desktop)", 5432: "PostgreSQL", 5900: "VNC (remote desktop)",
    6379: "Redis", 8080: "HTTP alternate", 8443: "HTTPS alternate", 27017: "MongoDB",
}


def describe_port(port):
    """What the programs call a port: the built-in description, else /etc/services' first tcp
    name, else ""."""
    if port in BUILTIN_SERVICES:
        return BUILTIN_SERVICES[port]
    try:
        with open("/etc/services") as f:
            for line in f:
                fields = line.split("#", 1)[0].split()
                if len(fields) >= 2 and fields[1] == f"{port}/tcp":
                    return fields[0]
    except OSError:
        pass
    return ""


def have_ipv6_loopback():
    """Whether ::1 can be bound here."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def require_ipv6(case):
    if not have_ipv6_loopback():
        case.skipTest("the IPv6 loopback address ::1 is not available on this host")


def free_port(host="127.0.0.1"):
    """A port nothing listens on: bind port 0, read the kernel's choice, close."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ep(address, port):
    """An endpoint as the JSON contract writes it."""
    return {"address": address, "port": port}


def ep_text(address, port):
    """An endpoint as the text output writes it: 127.0.0.1:8080 or [::1]:8080."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


# The programs wrap their paragraphs greedily at a width of their choosing under 100 columns
# (render.cpp); the tests accept any such width, so long as one width explains the whole text.
WRAP_WIDTHS = range(60, TEXT_WIDTH_LIMIT)
DEFAULT_WRAP = 88


def wrap(text, width=DEFAULT_WRAP, indent=0, first_indent=0):
    """The programs' greedy word wrap at `width` columns (render.cpp), as lines ending in \\n."""
    lines = textwrap.wrap(text, width=width, initial_indent=" " * first_indent,
                          subsequent_indent=" " * indent, break_long_words=False,
                          break_on_hyphens=False)
    return "".join(line + "\n" for line in lines)


class Wrapped:
    """A paragraph in an expected text: the programs' greedy wrap of `text` at some width."""

    def __init__(self, text, indent=0, first_indent=0):
        self.text, self.indent, self.first_indent = text, indent, first_indent

    def at(self, width):
        return wrap(self.text, width, self.indent, self.first_indent)


def assert_text(testcase, actual, parts, where="text"):
    """Compares `actual` exactly with the concatenation of `parts`: strings taken as they are,
    Wrapped paragraphs wrapped at one width under 100 columns (any width the programs chose)."""
    for width in WRAP_WIDTHS:
        if "".join(p.at(width) if isinstance(p, Wrapped) else p for p in parts) == actual:
            return
    # Show the difference against the wrap at the programs' usual width.
    expected = "".join(p.at(DEFAULT_WRAP) if isinstance(p, Wrapped) else p for p in parts)
    testcase.assertEqual(actual, expected, f"{where} differs from the expected text "
                                           f"(paragraphs may wrap at any width under 100)")


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------

_libc = None


def _die_with_parent():
    """In the child before exec: SIGKILL it if the test runner dies (a safety net only; the
    tests end their processes themselves)."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort
        pass


def _pump(stream, q):
    try:
        for raw in iter(stream.readline, b""):
            q.put(raw.decode("utf-8", "replace"))
    finally:
        q.put(None)


class Proc:
    """A running program whose stdout is read line by line with deadlines."""

    def __init__(self, case, argv, env=None):
        self.argv = argv
        merged = dict(os.environ)
        merged.pop("NO_COLOR", None)
        if env:
            merged.update(env)
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env=merged,
                                      preexec_fn=_die_with_parent)
        self.pid = self.popen.pid
        case.addCleanup(self.kill)
        self.lines = []          # every stdout line read so far, with its "\n"
        self._q = queue.Queue()
        self._eof = False
        self._err_q = queue.Queue()
        self._err = []
        self._err_eof = False
        self._err_drained = False  # waited once for the pipe's end after the program ended
        self._pumps = [
            threading.Thread(target=_pump, args=(self.popen.stdout, self._q), daemon=True),
            threading.Thread(target=_pump, args=(self.popen.stderr, self._err_q), daemon=True)]
        for t in self._pumps:
            t.start()

    def running(self):
        return self.popen.poll() is None

    def next_line(self, timeout=EVENT_WAIT):
        """The next stdout line, or None at end of output; raises AssertionError on timeout."""
        if self._eof:
            return None
        try:
            line = self._q.get(timeout=max(0.0, timeout))
        except queue.Empty:
            raise AssertionError(f"no output line within {timeout:.1f} s from {self.argv!r}; "
                                 f"so far: {''.join(self.lines)!r}; stderr: {self.stderr()!r}")
        if line is None:
            self._eof = True
            return None
        self.lines.append(line)
        return line

    def wait_line(self, predicate, timeout=EVENT_WAIT, what="a matching line"):
        """Reads lines until one satisfies `predicate`; returns it. Bounded by `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{what} did not come within {timeout:.1f} s from "
                                     f"{self.argv!r}; got: {''.join(self.lines)!r}; "
                                     f"stderr: {self.stderr()!r}")
            line = self.next_line(remaining)
            if line is None:
                raise AssertionError(f"{what} never came: the output of {self.argv!r} ended "
                                     f"(exit {self.popen.poll()}); got: {''.join(self.lines)!r}; "
                                     f"stderr: {self.stderr()!r}")
            if predicate(line):
                return line

    def wait_event(self, name, timeout=EVENT_WAIT, **match):
        """Reads JSON lines until an event `name` whose fields equal `match`; returns it."""
        def pred(line):
            obj = json.loads(line)
            return obj.get("event") == name and all(obj.get(k) == v for k, v in match.items())
        line = self.wait_line(pred, timeout, what=f"the {name!r} event {match or ''}")
        return json.loads(line)

    def read_rest(self, timeout=EXIT_WAIT):
        """Reads stdout to its end (bounded); returns all lines read over the whole run."""
        deadline = time.monotonic() + timeout
        while not self._eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"output of {self.argv!r} did not end within {timeout} s")
            self.next_line(remaining)
        return self.lines

    def events(self):
        return [json.loads(line) for line in self.lines]

    def stderr(self):
        """What the program wrote to stderr so far; all of it once the program has ended (the
        reader thread may still be draining the pipe then: waited for, at most 2 s once, in case
        a child of the program holds the pipe open)."""
        deadline = time.monotonic() + 2.0
        while not self._err_eof:
            ended = self.popen.poll() is not None and not self._err_drained
            try:
                item = self._err_q.get(timeout=max(0.0, deadline - time.monotonic())) if ended \
                    else self._err_q.get_nowait()
            except queue.Empty:
                self._err_drained = self._err_drained or self.popen.poll() is not None
                break
            if item is None:
                self._err_eof = True
            else:
                self._err.append(item)
        return "".join(self._err)

    def terminate(self, sig=signal.SIGTERM, timeout=EXIT_WAIT):
        """Sends `sig` to this process (by pid) and waits, bounded, for it to end; returns the
        exit code."""
        if self.running():
            os.kill(self.pid, sig)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.argv!r} did not end within {timeout} s of signal {sig}")

    def wait(self, timeout=EXIT_WAIT):
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.argv!r} did not end within {timeout} s")

    def kill(self):
        """Cleanup: ends the process by its pid if it still runs; always bounded."""
        if self.popen.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=EXIT_WAIT)
            except subprocess.TimeoutExpired:
                pass
        # Close the pipes once their readers have seen the end (closing a pipe that a thread is
        # still reading would block on the reader's lock).
        for thread, stream in zip(self._pumps, (self.popen.stdout, self.popen.stderr)):
            thread.join(timeout=1.0)
            if not thread.is_alive():
                stream.close()


class Server(Proc):
    """A demo-server started and waited for until its `ready` line."""

    def __init__(self, case, args, fmt="json", wrapper=(), env=None, expect_ready=True):
        argv = list(wrapper) + [SERVER] + list(args) + ["--format", fmt]
        super().__init__(case, argv, env)
        self.fmt = fmt
        self.ready = None
        self.port = None
        if not expect_ready:
            return
        if fmt == "json":
            self.ready = self.wait_event("ready", timeout=START_WAIT)
            if self.ready["ports"]:
                self.port = self.ready["ports"][0]
        else:
            line = self.wait_line(lambda l: l.startswith(("ready:", "stopped:")), START_WAIT,
                                  what="the ready line")
            self.ready = line
            m = re.search(r"listening on ports? (\d+)", line)
            if m:
                self.port = int(m.group(1))
                self.wait_line(lambda l: l.startswith("  try it:"), what="the try-it line")
                self.wait_line(lambda l: l.startswith("  in a browser:"),
                               what="the in-a-browser line")
                self.wait_line(lambda l: l.startswith("  the board:"), what="the board line")


def start_server(case, *args, fmt="json", **kw):
    """A server on the given arguments, default `--ports 0`, ready to accept."""
    args = list(args) or ["--ports", "0"]
    return Server(case, args, fmt=fmt, **kw)


def run(argv, timeout=CLIENT_WAIT, env=None):
    """Runs a program to its end (bounded); returns CompletedProcess with text output."""
    merged = dict(os.environ)
    merged.pop("NO_COLOR", None)
    if env:
        merged.update(env)
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, env=merged, preexec_fn=_die_with_parent)
    except subprocess.TimeoutExpired as e:  # subprocess.run has killed it by then
        raise AssertionError(f"{argv!r} did not end within {timeout} s; stdout: {e.stdout!r}")


def run_client(*args, fmt="json", wrapper=(), timeout=CLIENT_WAIT, env=None):
    argv = list(wrapper) + [CLIENT] + [str(a) for a in args]
    if fmt is not None:
        argv += ["--format", fmt]
    return run(argv, timeout=timeout, env=env)


def json_events(testcase, stdout):
    """Parses output that must be one JSON object per line; fails the test on anything else."""
    events = []
    testcase.assertTrue(stdout.endswith("\n"), f"JSON output must end in a newline: {stdout!r}")
    for line in stdout.splitlines():
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            testcase.fail(f"not one JSON object per line ({e}): {line!r}")
        testcase.assertIsInstance(obj, dict, f"each line must be an object: {line!r}")
        testcase.assertIn("event", obj, f"each line must name its event: {line!r}")
        events.append(obj)
    return events


def of(events, name):
    return [e for e in events if e.get("event") == name]


def one(testcase, events, name):
    found = of(events, name)
    testcase.assertEqual(len(found), 1, f"expected exactly one {name!r} event in {events!r}")
    return found[0]


def assert_text_lines(testcase, text, where="text output"):
    """Text for a projector: no line of 100 columns or more, no colour codes on a pipe."""
    testcase.assertNotIn("\x1b[", text, f"{where} has colour codes although stdout is a pipe")
    for line in text.splitlines():
        testcase.assertLess(len(ANSI.sub("", line)), TEXT_WIDTH_LIMIT,
                            f"{where}: line of {len(line)} columns (limit: under 100): {line!r}")


# ---------------------------------------------------------------------------------------------
# Private namespaces: our own /etc/hosts, our own resolver configuration, no network
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _can(argv):
    if shutil.which(argv[0]) is None:
        return False
    try:
        return subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=EXIT_WAIT).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def can_unshare_mount():
    return _can(("unshare", "-m", "sh", "-c", "mount --bind /etc/hosts /etc/hosts"))


def can_unshare_net_mount():
    return _can(("unshare", "-n", "-m", "sh", "-c", "mount --bind /etc/hosts /etc/hosts"))


class PrivateFiles:
    """Files in a temporary directory, bind-mounted over /etc files inside a private mount
    namespace, so a run sees them and the machine does not."""

    def __init__(self, case, files):
        self.dir = tempfile.mkdtemp(prefix="portdemo-test-")
        case.addCleanup(shutil.rmtree, self.dir, True)
        self.mounts = []
        for target, content in files.items():
            if not os.path.exists(target):
                case.skipTest(f"{target} does not exist, so it cannot be replaced privately")
            path = os.path.join(self.dir, os.path.basename(target))
            with open(path, "w") as f:
                f.write(content)
            self.mounts.append((path, target))

    def wrapper(self, net=False):
        """A command prefix: `unshare -m [-n] sh -c '<mounts> && exec "$@"' sh`."""
        script = " && ".join(f"mount --bind '{src}' '{dst}'" for src, dst in self.mounts)
        # nscd, if it runs, would answer from outside our namespace: hide its socket.
        script += " && if [ -d /var/run/nscd ]; then mount -t tmpfs none /var/run/nscd; fi"
        script += ' && exec "$@"'
        flags = ["-m"] + (["-n"] if net else [])
        return ["unshare"] + flags + ["sh", "-c", script, "sh"]


LOCALHOST_BOTH = "127.0.0.1 localhost\n::1 localhost\n"


# ---------------------------------------------------------------------------------------------
# Capabilities
# ---------------------------------------------------------------------------------------------

def capsh_drop_wrapper(case, cap="cap_net_bind_service"):
    """A command prefix that runs the program with `cap` dropped; skips the test when that is
    not possible here."""
    if shutil.which("capsh") is None:
        case.skipTest("capsh is not installed, so CAP_NET_BIND_SERVICE cannot be dropped")
    probe = ["capsh", f"--drop={cap}", "--", "-c", "exec cat /proc/self/status"]
    try:
        r = subprocess.run(probe, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=EXIT_WAIT)
    except subprocess.TimeoutExpired:
        case.skipTest("capsh did not end")
    m = re.search(r"^CapEff:\s*([0-9a-fA-F]+)", r.stdout, re.M)
    if r.returncode != 0 or not m:
        case.skipTest(f"capsh --drop={cap} failed here: {r.stderr.strip()!r}")
    if (int(m.group(1), 16) >> 10) & 1:
        case.skipTest(f"capsh --drop={cap} left CAP_NET_BIND_SERVICE in the effective set")
    return ["capsh", f"--drop={cap}", "--", "-c", 'exec "$0" "$@"']


# ---------------------------------------------------------------------------------------------
# Sockets of our own, and what the kernel says about this process
# ---------------------------------------------------------------------------------------------

def listen_on(case, address="127.0.0.1", port=0, backlog=8):
    """A plain listener of this test process (closed in cleanup); returns the socket."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    case.addCleanup(sock.close)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind((address, port))
    sock.listen(backlog)
    return sock


def serve_once(case, reply, read_first=False, address="127.0.0.1"):
    """A listener of this test process that answers one connection as a service that is not
    demo-server would: `reply` (after reading the client's first bytes with `read_first`, as a
    line protocol does; before, as an SSH server's banner is), then reads until the client
    closes, so that no unread bytes turn the close into a reset. Returns the port."""
    listener = listen_on(case, address)

    def serve():
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(EVENT_WAIT)
            try:
                if read_first:
                    conn.recv(65536)
                conn.sendall(reply)
                if read_first:
                    conn.shutdown(socket.SHUT_WR)
                while conn.recv(65536):
                    pass
            except OSError:
                pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    case.addCleanup(t.join, EVENT_WAIT + 1)
    return listener.getsockname()[1]


def own_comm():
    """This process's command name as the kernel has it (/proc/self/comm), e.g. python3."""
    with open("/proc/self/comm") as f:
        return f.read().rstrip("\n")


def flat(text):
    """Text with every run of whitespace (line breaks of the wrap included) made one space."""
    return " ".join(text.split())


def tcp_states(port):
    """The TCP states (names as /proc/net/tcp numbers them) of this namespace's sockets whose
    local port is `port`, read from /proc/net/tcp and tcp6."""
    names = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
             6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
             11: "CLOSING", 12: "NEW_SYN_RECV"}
    found = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4:
                continue
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.append(names.get(int(fields[3], 16), fields[3]))
    return found


# ---------------------------------------------------------------------------------------------
# A network namespace of our own, created and deleted by the test
# ---------------------------------------------------------------------------------------------

class NetNamespace:
    """`ip netns add pdtest-<pid>-<n>`, deleted in the test's cleanup whatever happens. Skips the
    test, with the reason, where creating one is not permitted. Nothing in it reaches the
    machine's network: it has only the interfaces the test gives it."""

    _count = 0

    def __init__(self, case):
        if shutil.which("ip") is None:
            case.skipTest("iproute2's ip is not installed, so no network namespace can be made")
        NetNamespace._count += 1
        self.name = f"pdtest-{os.getpid()}-{NetNamespace._count}"
        r = subprocess.run(["ip", "netns", "add", self.name], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=EXIT_WAIT)
        if r.returncode != 0:
            case.skipTest(f"ip netns add is not permitted here: {r.stderr.strip()!r}")
        case.addCleanup(self.delete)

    def ip(self, *args):
        """Runs `ip netns exec NS ip ARGS` (bounded); fails the test if it fails."""
        r = subprocess.run(["ip", "netns", "exec", self.name, "ip"] + list(args),
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=EXIT_WAIT)
        if r.returncode != 0:
            raise AssertionError(f"ip {' '.join(args)} in {self.name} failed: {r.stderr.strip()}")
        return r.stdout

    def wrapper(self):
        return ["ip", "netns", "exec", self.name]

    def delete(self):
        subprocess.run(["ip", "netns", "del", self.name], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=EXIT_WAIT)
