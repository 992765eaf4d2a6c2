#!/usr/bin/env python3
"""Helpers of scripts/bench.sh that are easier in Python than in bash.

    free-port ADDRESS                  a port the kernel calls free now (bind port 0, close)
    listen-port --pid PID [--file F --key K [--exclude-key K2]] [--count N] [--timeout S]
                                       the port a server listens on: from its JSON `ready`
                                       line in F when it prints one (K: ports, tls_ports,
                                       raw_port, http_port; the first of K not in K2), else
                                       from /proc (the pid's listening sockets; with --count N,
                                       once it has N of them, all N, sorted, on one line)
    run --samples F --workload W --server S --round R --server-pid PID
        --kind wrk|raw|client|h2load --out F -- CMD...
                                       one measured run: the server's CPU (utime+stime) around
                                       CMD, the load's own CPU, and how much of the two cores
                                       other processes took (over --max-other percent: repeated,
                                       at most --retries times, then kept and marked disturbed);
                                       appends one JSON sample line. A failed run (h2load:
                                       failed, errored or timed-out requests, an answer not 2xx,
                                       none succeeded, no HTTP/2; any kind: the server not
                                       running) is not repeated and gives no figure: its line
                                       has "failed" with the reason (--fail REASON: no run,
                                       only such a line)
    idle --address A --port P --count N --mode http|hold|silent [--hold-max S]
                                       opens N connections and holds them idle; prints one JSON
                                       line when all are open (and answered), then waits for
                                       SIGTERM or --hold-max seconds
    startup --name NAME [--id ID] [--name NAME2 [--id ID2] ...] --until ready|connected
            [--runs N] -- CMD... [--then CMD2...]
                                       start-up time: to a server's `ready` line, or to a
                                       client's `connected` line; median, min, max in ms;
                                       with several commands (one --name each, separated by
                                       --then) they alternate run by run (A B A B ...)
    syscalls --samples F --workload W --server S --server-pid PID [--round R]
             [--method perf|strace] --out F -- CMD...
                                       system calls the server (all its threads) makes while
                                       CMD (wrk) runs, per request wrk completed: perf stat
                                       on the raw_syscalls:sys_enter tracepoint (and the
                                       sys_enter_* ones of the calls a server makes most),
                                       or strace -c -f (slow: it stops the server
                                       at every call); appends one JSON line
    summarize --samples F [--idle F] [--startup F] [--syscalls F] [--json OUT] [--meta F]
                                       the table, the system calls per request, "new vs old"
                                       (demo-* against old-*) when there are old-* servers,
                                       and the JSON results file

Only loopback addresses are accepted anywhere a connection is made.
"""

import argparse
import ipaddress
import json
import os
import re
import resource
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import time


def loopback_only(address):
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        sys.exit(f"bench_helper: not an IP address: {address}")
    if not ip.is_loopback:
        sys.exit(f"bench_helper: {address} is not a loopback address; refusing")
    return ip


def family_of(address):
    return socket.AF_INET6 if loopback_only(address).version == 6 else socket.AF_INET


def cmd_free_port(args):
    with socket.socket(family_of(args.address), socket.SOCK_STREAM) as s:
        s.bind((args.address, 0))
        print(s.getsockname()[1])


def listening_ports_of(pid):
    """Ports of the TCP sockets in LISTEN state that the process `pid` holds."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", target)
        if m:
            inodes.add(m.group(1))
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                        ports.append(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return sorted(set(ports))


def cmd_listen_port(args):
    t0 = time.monotonic()
    deadline = t0 + args.timeout
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{args.pid}"):
            sys.exit(f"bench_helper: process {args.pid} ended before it listened")
        if args.file and os.path.exists(args.file):
            with open(args.file, errors="replace") as f:
                for line in f:
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(ev, dict) and ev.get("event") == "ready" and args.key in ev:
                        v = ev[args.key]
                        if not isinstance(v, list):
                            print(v)
                            return
                        left = [p for p in v if p not in (ev.get(args.exclude_key) or [])]
                        if not left:
                            sys.exit(f"bench_helper: process {args.pid}'s ready line has no {args.key}"
                                     + (f" outside {args.exclude_key}" if args.exclude_key else "") + f": {line.strip()}")
                        print(left[0])
                        return
        if not args.file or time.monotonic() > t0 + args.proc_after:
            ports = listening_ports_of(args.pid)
            if len(ports) == args.count:
                print(" ".join(str(p) for p in ports))
                return
        time.sleep(0.01)
    sys.exit(f"bench_helper: process {args.pid} did not report a listening port within {args.timeout} s")


def parse_wrk(text):
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    if not m:
        sys.exit("bench_helper: no result in wrk's output:\n" + text)
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(3)]
    requests, seconds = int(m.group(1)), float(m.group(2)) * scale
    errors = 0
    e = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if e:
        # wrk counts a server's close after "Connection: close" as a read error on some
        # versions; connect, write and timeout errors are real ones.
        errors += int(e.group(1)) + int(e.group(3)) + int(e.group(4))
    n = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if n:
        errors += int(n.group(1))
    return {"requests": requests, "seconds": seconds, "errors": errors,
            "read_errors": int(e.group(2)) if e else 0}


def parse_h2load(text, rc):
    """h2load's summary ("finished in 5.00s, 81234.00 req/s, ...", "requests: N total, N started,
    N done, N succeeded, N failed, N errored, N timeout", "status codes: N 2xx, ..."). The figure is
    the succeeded requests over the measured time. A run is failed, with no figure, when h2load
    reports failed, errored or timed-out requests, an answer that is not 2xx, no succeeded request,
    a protocol other than h2/h2c (h2load prints "Application protocol: h2" once the server chose h2
    in ALPN, "h2c" for http:// URIs; with --npn-list=h2 it falls back to nothing), or exits non-zero;
    h2load itself exits 0 in all of these."""
    r = {"requests": 0, "seconds": 0.0, "errors": 0}
    reasons = []
    fin = re.search(r"^finished in ([\d.]+)(us|ms|s|m)?, ([\d.]+) req/s", text, re.M)
    req = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                    r"(\d+) errored, (\d+) timeout", text, re.M)
    st = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text, re.M)
    traffic = re.search(r"^traffic: \S+ \((\d+)\) total", text, re.M)
    protocols = sorted(set(re.findall(r"^Application protocol: (\S+)", text, re.M)))
    tls = re.search(r"^TLS Protocol: (\S+)", text, re.M)
    cipher = re.search(r"^Cipher: (\S+)", text, re.M)
    if protocols:
        r["protocol"] = ",".join(protocols)
    if tls:
        r["tls"] = tls.group(1) + (f" {cipher.group(1)}" if cipher else "")
    if rc == "killed":
        reasons.append("h2load did not end in time and was killed")
    elif rc != 0:
        reasons.append(f"h2load exited with {rc}")
    if not (fin and req):
        tail = " | ".join(line.strip() for line in text.strip().splitlines()[-4:])
        reasons.append(f"no result in h2load's output ({tail or 'empty'})")
        r["errors"] = 1
        r["failed"] = "; ".join(reasons)
        return r
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[fin.group(2) or "s"]
    total, started, done, succeeded, failed, errored, timeout = (int(x) for x in req.groups())
    non2xx = sum(int(x) for x in st.groups()[1:]) if st else 0
    r.update(requests=succeeded, seconds=float(fin.group(1)) * scale, started=started, done=done,
             failed_requests=failed, errored=errored, timeouts=timeout, non_2xx=non2xx)
    r["errors"] = failed + errored + timeout + non2xx
    if "No supported protocol was negotiated" in text:
        reasons.append("the server chose no h2 in ALPN (h2load: \"No supported protocol was negotiated\")")
    elif not protocols:
        reasons.append("h2load names no application protocol")
    elif any(p not in ("h2", "h2c") for p in protocols):
        reasons.append(f"protocol {r['protocol']}, not HTTP/2")
    if succeeded == 0:
        reasons.append(f"no request succeeded ({started} started, {done} done"
                       + (f", {traffic.group(1)} bytes received" if traffic else "") + ")")
    if failed or errored or timeout:
        reasons.append(f"{failed} failed, {errored} errored, {timeout} timed out of {total} requests")
    if non2xx:
        reasons.append(f"{non2xx} answers not 2xx")
    if reasons:
        r["failed"] = "; ".join(reasons)
    return r


def parse_raw(text):
    j = json.loads(text.strip().splitlines()[-1])
    return {"requests": j["completed"], "seconds": j["seconds"], "errors": j["errors"]}


def parse_client(text):
    """demo-client --count ... --format json: its summary event says how many connected."""
    summary = {}
    for line in text.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if isinstance(ev, dict) and ev.get("event") == "summary":
            summary = ev
    connected, attempted = int(summary.get("connected", 0)), int(summary.get("attempted", 0))
    return {"requests": connected, "errors": max(attempted - connected, 0) + (0 if summary else 1)}


def cpu_ticks_of(pid):
    """utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def core_busy_ticks(cpu):
    """Ticks core `cpu` spent doing anything (user, nice, system, irq, softirq, steal)."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                v = [int(x) for x in line.split()[1:9]]
                return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
    raise SystemExit(f"bench_helper: no cpu{cpu} in /proc/stat")


def wait_quiet(cpus, limit_pct, max_wait):
    """Waits (at most max_wait seconds) until the cores are quiet for half a second: nothing
    of ours runs between runs, so whatever keeps them busy belongs to someone else."""
    deadline = time.monotonic() + max_wait
    while True:
        before = [core_busy_ticks(c) for c in cpus]
        time.sleep(0.5)
        busy = [(core_busy_ticks(c) - b) / (0.5 * os.sysconf("SC_CLK_TCK")) * 100 for c, b in zip(cpus, before)]
        if max(busy) <= limit_pct or time.monotonic() >= deadline:
            return max(busy)


def cmd_run(args):
    """One measured run: the load command against a server, the server's CPU around it, and
    how much of the two cores went to other processes (a disturbed run is repeated)."""
    tck = os.sysconf("SC_CLK_TCK")
    if args.fail:  # the script knows already (the server did not start): no run, a failed line
        record_failed(args, args.fail, tck)
        return
    gone = f"the server (pid {args.server_pid}) is not running: it ended before this run"
    if server_ticks_or_none(args.server_pid) is None:  # a dead server is a failed run, not the end of the script
        record_failed(args, gone, tck)
        return
    for attempt in range(args.retries + 1):
        wait_quiet((args.server_cpu, args.load_cpu), args.max_other, args.wait_quiet)
        s0, c0, l0 = server_ticks_or_none(args.server_pid), core_busy_ticks(args.server_cpu), core_busy_ticks(args.load_cpu)
        if s0 is None:
            record_failed(args, gone, tck)
            return
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        try:
            with open(args.out, "w") as out:
                rc = subprocess.run(args.command, stdout=out, stderr=subprocess.STDOUT, timeout=args.timeout).returncode
        except subprocess.TimeoutExpired:
            if args.kind != "h2load":
                raise
            rc = "killed"  # subprocess.run has killed it
            with open(args.out, "a") as out:
                out.write(f"\nbench_helper: h2load killed after {args.timeout} s\n")
        wall = time.monotonic() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        s1, c1, l1 = server_ticks_or_none(args.server_pid), core_busy_ticks(args.server_cpu), core_busy_ticks(args.load_cpu)
        with open(args.out, errors="replace") as f:
            text = f.read()
        if args.kind == "wrk":
            r = parse_wrk(text)
        elif args.kind == "raw":
            r = parse_raw(text)
        elif args.kind == "h2load":
            r = parse_h2load(text, rc)
        else:
            r = parse_client(text)
            r["seconds"] = wall
        if s1 is None:
            r["failed"] = (r.get("failed", "") + "; " if r.get("failed") else "") + \
                f"the server (pid {args.server_pid}) ended during the run"
            s1 = s0
        if r.get("failed"):  # no figure from it, and nothing to gain from repeating it
            print(f"  FAILED (no figure): {args.workload}, {args.server}: {r['failed']}", flush=True)
        load_ticks = ((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) * tck
        server_ticks = s1 - s0
        # Busy time of each core not spent by the process pinned there: other processes
        # (or interrupts); above --max-other percent of the run the figures are not trusted.
        other_server_core = max(0.0, (c1 - c0) - server_ticks) / (wall * tck) * 100
        other_load_core = max(0.0, (l1 - l0) - load_ticks) / (wall * tck) * 100
        disturbed = max(other_server_core, other_load_core) > args.max_other
        if disturbed and attempt < args.retries and not r.get("failed"):
            print(f"  disturbed: {other_server_core:.0f}% of core {args.server_cpu} and {other_load_core:.0f}% "
                  f"of core {args.load_cpu} went to other processes; repeating", flush=True)
            continue
        break
    r.update(workload=args.workload, server=args.server, round=args.round, cpu_ticks=server_ticks, clk_tck=tck,
             load_cpu_seconds=load_ticks / tck, other_pct_server_core=round(other_server_core, 1),
             other_pct_load_core=round(other_load_core, 1), disturbed=disturbed, attempts=attempt + 1,
             exit_code=rc)
    r["rate"] = r["requests"] / r["seconds"] if r["seconds"] > 0 else 0.0
    if rc != 0 and args.kind not in ("wrk", "h2load"):  # h2load's exit code is in its "failed" reason
        r["errors"] += 1
    with open(args.samples, "a") as f:
        f.write(json.dumps(r) + "\n")


def server_ticks_or_none(pid):
    try:
        return cpu_ticks_of(pid)
    except (OSError, IndexError, ValueError):
        return None


def record_failed(args, reason, tck):
    """A run that could not take place (the server is gone): one sample line that says so."""
    print(f"  FAILED (no figure): {args.workload}, {args.server}: {reason}", flush=True)
    r = {"requests": 0, "seconds": 0.0, "errors": 1, "failed": reason, "workload": args.workload,
         "server": args.server, "round": args.round, "cpu_ticks": 0, "clk_tck": tck, "load_cpu_seconds": 0.0,
         "other_pct_server_core": 0.0, "other_pct_load_core": 0.0, "disturbed": False, "attempts": 0,
         "exit_code": None, "rate": 0.0}
    with open(args.samples, "a") as f:
        f.write(json.dumps(r) + "\n")


# --- idle connections --------------------------------------------------------------------

def cmd_idle(args):
    family = family_of(args.address)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.count + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.count + 64), hard))
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__("now", True))
    if args.mode == "http":
        host = f"[{args.address}]" if family == socket.AF_INET6 else args.address
        first = f"GET / HTTP/1.1\r\nHost: {host}:{args.port}\r\nAccept: */*\r\n\r\n".encode()
    elif args.mode == "hold":
        first = b"portdemo-hello 1 hold\n"  # demo-client --hold: the server keeps the connection
    else:
        first = b""
    sel = selectors.DefaultSelector()
    conns = []        # every socket, kept open until the end
    pending = {}      # socket -> bytes received so far, while its answer is incomplete
    failed = 0
    started = done = 0
    window = args.window
    t0 = time.monotonic()
    deadline = t0 + args.open_timeout

    def start_one():
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((args.address, args.port))
        sel.register(s, selectors.EVENT_WRITE)
        pending[s] = b""
        conns.append(s)

    def answered(buf):
        if args.mode == "hold":
            return b"\n" in buf
        head, sep, body = buf.partition(b"\r\n\r\n")
        if not sep:
            return False
        m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        return len(body) >= (int(m.group(1)) if m else 0)

    while (done + failed < args.count) and time.monotonic() < deadline and not stop["now"]:
        while started < args.count and len(pending) < window:
            start_one()
            started += 1
        for key, events in sel.select(timeout=0.2):
            s = key.fileobj
            if events & selectors.EVENT_WRITE:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    failed += 1
                    sel.unregister(s)
                    del pending[s]
                    continue
                if not first:  # silent: connected is all it does
                    sel.unregister(s)
                    del pending[s]
                    done += 1
                    continue
                s.send(first)
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                chunk = s.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:  # the server closed: this one is not idle
                failed += 1
                sel.unregister(s)
                del pending[s]
                continue
            pending[s] += chunk
            if answered(pending[s]):
                sel.unregister(s)
                del pending[s]
                done += 1
    print(json.dumps({"event": "idle_ready", "open": done, "failed": failed + len(pending),
                      "seconds": round(time.monotonic() - t0, 3), "mode": args.mode}), flush=True)
    hold_until = time.monotonic() + args.hold_max
    while not stop["now"] and time.monotonic() < hold_until:
        time.sleep(0.05)
    for s in conns:
        s.close()


# --- start-up times ------------------------------------------------------------------------

def time_to_line(command, event, timeout=10.0):
    """Milliseconds from starting `command` to the first JSON line with this event."""
    t0 = time.perf_counter()
    p = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    ms = None
    try:
        deadline = time.monotonic() + timeout
        for line in p.stdout:
            if f'"event":"{event}"'.encode() in line:
                ms = (time.perf_counter() - t0) * 1000
                break
            if time.monotonic() > deadline:
                break
    finally:
        if p.poll() is None:
            p.terminate()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        p.stdout.close()
    return ms


def split_commands(words, sep="--then"):
    commands, cur = [], []
    for w in words:
        if w == sep:
            commands.append(cur)
            cur = []
        else:
            cur.append(w)
    commands.append(cur)
    return commands


def cmd_startup(args):
    event = args.until
    commands = split_commands(args.command)
    if len(commands) != len(args.name) or any(not c for c in commands):
        sys.exit(f"bench_helper: startup: {len(args.name)} --name for {len(commands)} commands")
    ids = args.id or []
    if ids and len(ids) != len(commands):
        sys.exit("bench_helper: startup: one --id for each --name, or none")
    times = [[] for _ in commands]
    for _ in range(args.runs):
        for i, command in enumerate(commands):  # several commands: A B A B ..., one run each in turn
            wait_quiet((0, 1), 10, 5)  # start-up times are wall-clock: start each on quiet cores
            times[i].append(time_to_line(command, event))
    for i, name in enumerate(args.name):
        ok = [t for t in times[i] if t is not None]
        line = {"what": name, "event": event, "runs": args.runs, "ok": len(ok),
                "median_ms": round(statistics.median(ok), 2) if ok else None,
                "min_ms": round(min(ok), 2) if ok else None,
                "max_ms": round(max(ok), 2) if ok else None}
        if ids:
            line["id"] = ids[i]
        print(json.dumps(line), flush=True)


# --- system calls per request -----------------------------------------------------------------

# The calls counted one by one (raw_syscalls:sys_enter counts them all; the rest is "other").
# Not syscalls:sys_enter_*: perf takes about 10 s to set up and tear down its ~350 tracepoints.
LISTED_SYSCALLS = ("accept", "accept4", "read", "recvfrom", "recvmsg", "write", "writev", "sendto", "sendmsg",
                   "epoll_wait", "epoll_pwait", "epoll_ctl", "close", "shutdown", "getsockname", "getpeername",
                   "setsockopt", "ioctl", "fcntl", "futex")


def perf_syscall_counts(pid, command, out, statfile, timeout):
    """Runs `command` under perf stat counting the syscall tracepoints of process `pid` (every
    thread it has now). Returns (total, {name: count}, exit code)."""
    events = ["-e", "raw_syscalls:sys_enter"]
    # Only the tracepoints this kernel has (no epoll_wait on arm64, say): perf refuses the lot otherwise.
    tracing = next((d for d in ("/sys/kernel/tracing/events/syscalls", "/sys/kernel/debug/tracing/events/syscalls")
                    if os.path.isdir(d)), None)
    listed = [c for c in LISTED_SYSCALLS if tracing and os.path.isdir(f"{tracing}/sys_enter_{c}")]
    if listed:
        events += ["-e", ",".join(f"syscalls:sys_enter_{c}" for c in listed)]
    perf = ["perf", "stat", "-x", ",", "-o", statfile] + events + ["-p", str(pid), "--"]
    with open(out, "w") as f:
        rc = subprocess.run(perf + command, stdout=f, stderr=subprocess.STDOUT, timeout=timeout).returncode
    total, by_call = None, {}
    with open(statfile, errors="replace") as f:
        for line in f:
            fields = line.strip().split(",")
            if len(fields) < 3 or not fields[0].isdigit():
                continue  # comments, "<not counted>", "<not supported>"
            count, event = int(fields[0]), fields[2]
            if event == "raw_syscalls:sys_enter":
                total = count
            elif event.startswith("syscalls:sys_enter_") and count:
                by_call[event[len("syscalls:sys_enter_"):]] = count
    if total is None:
        sys.exit(f"bench_helper: perf stat counted no raw_syscalls:sys_enter (see {statfile})")
    rest = total - sum(by_call.values())
    if rest > 0:
        by_call["other"] = rest
    return total, by_call, rc


def tracer_pids(pid):
    tracers = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/status") as f:
                for line in f:
                    if line.startswith("TracerPid:"):
                        tracers.append(int(line.split()[1]))
        except OSError:
            pass
    return tracers


def strace_syscall_counts(pid, command, out, statfile, timeout):
    """The same with strace -c -f attached to every thread of `pid` (detached afterwards)."""
    tracer = subprocess.Popen(["strace", "-c", "-f", "-q", "-o", statfile, "-p", str(pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not all(tracer_pids(pid)):
            if tracer.poll() is not None:
                sys.exit(f"bench_helper: strace could not attach to {pid}")
            time.sleep(0.02)
        with open(out, "w") as f:
            rc = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT, timeout=timeout).returncode
    finally:
        if tracer.poll() is None:
            tracer.send_signal(signal.SIGINT)  # strace detaches and writes its table
        try:
            tracer.wait(timeout=30)
        except subprocess.TimeoutExpired:
            tracer.kill()
            tracer.wait()
    total, by_call = None, {}
    with open(statfile, errors="replace") as f:
        for line in f:
            fields = line.split()
            # % time, seconds, usecs/call, calls, [errors], syscall
            if len(fields) < 5 or not re.match(r"^[\d.]+$", fields[0]) or not fields[3].isdigit():
                continue
            if fields[-1] == "total":
                total = int(fields[3])
            else:
                by_call[fields[-1]] = int(fields[3])
    if total is None:
        total = sum(by_call.values())
    return total, by_call, rc


def cmd_syscalls(args):
    """System calls of the server per request of one wrk run (all the server's threads). They
    depend a little on the load (how many events one epoll_wait returns, how many accept4 calls
    find nothing), so the run's own req/s is kept, and a disturbed run is repeated as in `run`."""
    tck = os.sysconf("SC_CLK_TCK")
    count = perf_syscall_counts if args.method == "perf" else strace_syscall_counts
    for attempt in range(args.retries + 1):
        wait_quiet((args.server_cpu, args.load_cpu), args.max_other, args.wait_quiet)
        s0, c0 = cpu_ticks_of(args.server_pid), core_busy_ticks(args.server_cpu)
        t0 = time.monotonic()
        total, by_call, rc = count(args.server_pid, args.command, args.out, args.out + ".stat", args.timeout)
        wall = time.monotonic() - t0
        s1, c1 = cpu_ticks_of(args.server_pid), core_busy_ticks(args.server_cpu)
        other = max(0.0, (c1 - c0) - (s1 - s0)) / (wall * tck) * 100
        disturbed = other > args.max_other
        if disturbed and attempt < args.retries:
            print(f"  disturbed: {other:.0f}% of core {args.server_cpu} went to other processes; repeating", flush=True)
            continue
        break
    with open(args.out, errors="replace") as f:
        r = parse_wrk(f.read())
    n = r["requests"]
    with open(f"/proc/{args.server_pid}/status") as f:
        threads = int(next(line.split()[1] for line in f if line.startswith("Threads:")))
    line = {"workload": args.workload, "server": args.server, "round": args.round, "method": args.method, "requests": n,
            "seconds": r["seconds"], "rate": n / r["seconds"] if r["seconds"] else 0.0, "errors": r["errors"],
            "exit_code": rc, "server_threads": threads, "other_pct_server_core": round(other, 1),
            "disturbed": disturbed, "attempts": attempt + 1,
            "syscalls": total, "per_request": total / n if n else None,
            "by_call_per_request": {k: v / n for k, v in sorted(by_call.items(), key=lambda kv: -kv[1])} if n else {}}
    with open(args.samples, "a") as f:
        f.write(json.dumps(line) + "\n")


# --- the table --------------------------------------------------------------------------------

WORKLOADS = {
    "a": "HTTP keep-alive (wrk -c50)",
    "b": "HTTP new conn/request (wrk -c50, Connection: close)",
    "c": "raw TCP new conn/report (32 concurrent)",
    "e": "demo-client --count --parallel 32",
    "g": "HTTP/2 h2c, prior knowledge (h2load -c4 -m32)",
    "h": "HTTP/2 over TLS, h2 in ALPN (h2load -c4 -m32)",
}


def summarize_samples(samples):
    groups = {}
    for s in samples:
        groups.setdefault((s["workload"], s["server"]), []).append(s)
    rows = []
    for (w, srv), all_runs in groups.items():
        # A failed run (see `run`) gives no figure; a server whose every run failed gets a row
        # that says so, with no figures at all.
        failed = [r for r in all_runs if r.get("failed")]
        runs = [r for r in all_runs if not r.get("failed")]
        failures = sorted({r["failed"] for r in failed})
        if not runs:
            rows.append({"workload": w, "server": srv, "rounds": len(all_runs), "rate_median": None, "rate_min": None,
                         "rate_max": None, "cpu_us_per_request": None, "requests": 0,
                         "errors": sum(r["errors"] for r in all_runs), "disturbed_runs": 0,
                         "rate_from": "none: every run failed", "failed_runs": len(failed), "failures": failures})
            continue
        # Requests/s from the undisturbed runs when there are any (another process on a core
        # only ever lowers them); CPU per request from every run (it is the server's own time).
        clean = [r for r in runs if not r.get("disturbed")]
        rates = [r["rate"] for r in (clean or runs)]
        total_requests = sum(r["requests"] for r in runs)
        cpu_us = [r["cpu_ticks"] / r["clk_tck"] * 1e6 / r["requests"] for r in runs if r["requests"]]
        row = {"workload": w, "server": srv, "rounds": len(runs),
               "rate_median": statistics.median(rates), "rate_min": min(rates), "rate_max": max(rates),
               "cpu_us_per_request": statistics.median(cpu_us) if cpu_us else None,
               "requests": total_requests, "errors": sum(r["errors"] for r in runs)}
        row["disturbed_runs"] = len(runs) - len(clean)
        row["rate_from"] = "undisturbed runs" if clean else "all runs (every one disturbed)"
        row["rounds"] = len(all_runs)
        row["failed_runs"] = len(failed)
        row["failures"] = failures
        if failed:
            row["rate_from"] += f", {len(failed)} failed run(s) left out"
        protocols = sorted({r["protocol"] for r in runs if r.get("protocol")})
        if protocols:
            row["protocol"] = ",".join(protocols)
        tls = sorted({r["tls"] for r in runs if r.get("tls")})
        if tls:
            row["tls"] = ", ".join(tls)
        if w == "e":
            row["client_cpu_us_per_connection"] = statistics.median(
                r["load_cpu_seconds"] * 1e6 / r["requests"] for r in runs if r["requests"])
        rows.append(row)
    by_key = {(r["workload"], r["server"]): r for r in rows}
    for r in rows:
        if r["rate_median"] is None:
            continue
        for ref in ("nginx", "epoll"):
            base = by_key.get((r["workload"], ref))
            if base and base is not r and base["rate_median"]:
                r[f"rate_vs_{ref}"] = r["rate_median"] / base["rate_median"]
                if base["cpu_us_per_request"] and r["cpu_us_per_request"] is not None:
                    r[f"cpu_vs_{ref}"] = r["cpu_us_per_request"] / base["cpu_us_per_request"]
        old = OLD_OF.get(r["server"])  # demo-log against old-log, demo-quiet against old-quiet
        base = by_key.get((r["workload"], old)) if old else None
        if base and base["rate_median"]:
            r["rate_vs_old"] = r["rate_median"] / base["rate_median"]
            if base["cpu_us_per_request"] and r["cpu_us_per_request"] is not None:
                r["cpu_vs_old"] = r["cpu_us_per_request"] / base["cpu_us_per_request"]
    return rows


# --baseline: the other demo-server binary runs as old-log and old-quiet beside demo-log and demo-quiet.
OLD_OF = {"demo-log": "old-log", "demo-quiet": "old-quiet"}


def ratio(new, old):
    return new / old if new is not None and old else None


def fmt_x(x):
    return f"{x:.2f}x" if x is not None else "-"


def summarize_syscalls(runs):
    """One row per workload and server: the median over its rounds of system calls per request
    (and of each call's count per request), with min-max and the runs' req/s."""
    groups = {}
    for c in runs:
        if c.get("per_request") is not None:
            groups.setdefault((c["workload"], c["server"]), []).append(c)
    rows = []
    for (w, srv), cs in groups.items():
        per = [c["per_request"] for c in cs]
        calls = {}
        for c in cs:
            for k in c["by_call_per_request"]:
                calls[k] = statistics.median(x["by_call_per_request"].get(k, 0.0) for x in cs)
        rows.append({"workload": w, "server": srv, "method": cs[0]["method"], "rounds": len(cs),
                     "per_request": statistics.median(per), "per_request_min": min(per), "per_request_max": max(per),
                     "rate_median": statistics.median(c["rate"] for c in cs),
                     "disturbed_runs": sum(1 for c in cs if c.get("disturbed")),
                     "by_call_per_request": dict(sorted(calls.items(), key=lambda kv: -kv[1]))})
    return rows


def new_vs_old(rows, idle, startup, syscalls):
    """The "new vs old" comparisons (this build's demo-* against --baseline's old-*), as a list
    of dicts for the JSON file; empty when no old-* server ran."""
    out = []
    by_key = {(r["workload"], r["server"]): r for r in rows}
    calls = {(c["workload"], c["server"]): c for c in syscalls}
    for w in "abcegh":
        for new, old in OLD_OF.items():
            n, o = by_key.get((w, new)), by_key.get((w, old))
            if not (n and o):
                continue
            if n["rate_median"] is None or o["rate_median"] is None:  # every run of one of them failed
                out.append({"workload": w, "new": new, "old": old, "rate": [n["rate_median"], o["rate_median"]],
                            "failed_runs": [n["failed_runs"], o["failed_runs"]], "rounds": [n["rounds"], o["rounds"]]})
                continue
            cn, co = calls.get((w, new)), calls.get((w, old))
            out.append({"workload": w, "new": new, "old": old,
                        "rate": [n["rate_median"], o["rate_median"]], "rate_ratio": ratio(n["rate_median"], o["rate_median"]),
                        "cpu_us_per_request": [n["cpu_us_per_request"], o["cpu_us_per_request"]],
                        "cpu_ratio": ratio(n["cpu_us_per_request"], o["cpu_us_per_request"]),
                        "syscalls_per_request": [cn["per_request"], co["per_request"]] if cn and co else None,
                        "syscalls_ratio": ratio(cn["per_request"], co["per_request"]) if cn and co else None})
    by_idle = {(i["server"], i["mode"]): i for i in idle}
    for mode in ("http", "hold"):
        for new, old in OLD_OF.items():
            n, o = by_idle.get((new, mode)), by_idle.get((old, mode))
            if n and o:
                out.append({"workload": "d", "mode": mode, "new": new, "old": old,
                            "rss_bytes_per_conn": [n["rss_bytes_per_conn"], o["rss_bytes_per_conn"]],
                            "rss_ratio": ratio(n["rss_bytes_per_conn"], o["rss_bytes_per_conn"]),
                            "pss_bytes_per_conn": [n["pss_bytes_per_conn"], o["pss_bytes_per_conn"]],
                            "pss_ratio": ratio(n["pss_bytes_per_conn"], o["pss_bytes_per_conn"])})
    by_id = {s.get("id"): s for s in startup if s.get("id")}
    n, o = by_id.get("demo-server"), by_id.get("old-server")
    if n and o:
        out.append({"workload": "f", "new": n["what"], "old": o["what"],
                    "median_ms": [n["median_ms"], o["median_ms"]], "ratio": ratio(n["median_ms"], o["median_ms"])})
    return out


def print_new_vs_old(cmp):
    if not cmp:
        return
    print()
    print("new vs old (this build's demo-* against --baseline's old-*, medians; req/s: above 1.00x is better;"
          " CPU/request, syscalls/request, bytes/connection, ms: below 1.00x is better)")
    for c in cmp:
        w = c["workload"]
        if w == "d":
            label = f"(d) idle connections, {c['mode']}"
            print(f"  {label:<56} {c['new']:<10} vs {c['old']:<10}  bytes/conn RSS {fmt_x(c['rss_ratio'])} "
                  f"({c['rss_bytes_per_conn'][0]:.0f} / {c['rss_bytes_per_conn'][1]:.0f}), Pss {fmt_x(c['pss_ratio'])} "
                  f"({c['pss_bytes_per_conn'][0]:.0f} / {c['pss_bytes_per_conn'][1]:.0f})")
        elif w == "f":
            print(f"  {'(f) start-up to ready':<56} {'new':<10} vs {'old':<10}  {fmt_x(c['ratio'])} "
                  f"({c['median_ms'][0]} / {c['median_ms'][1]} ms)")
        elif "failed_runs" in c:
            text = "no comparison: " + ", ".join(
                f"{name} failed {f}/{n} runs" for name, f, n in zip((c["new"], c["old"]), c["failed_runs"], c["rounds"]))
            print(f"  {'(' + w + ') ' + WORKLOADS.get(w, w):<56} {c['new']:<10} vs {c['old']:<10}  {text}")
        else:
            cpu = c["cpu_us_per_request"]
            text = (f"req/s {fmt_x(c['rate_ratio'])} ({c['rate'][0]:.0f} / {c['rate'][1]:.0f}), CPU/req "
                    f"{fmt_x(c['cpu_ratio'])}" + (f" ({cpu[0]:.1f} / {cpu[1]:.1f} us)" if None not in cpu else ""))
            if c["syscalls_per_request"]:
                sc = c["syscalls_per_request"]
                text += f", syscalls/req {fmt_x(c['syscalls_ratio'])} ({sc[0]:.2f} / {sc[1]:.2f})"
            print(f"  {'(' + w + ') ' + WORKLOADS.get(w, w):<56} {c['new']:<10} vs {c['old']:<10}  {text}")


def print_syscalls(rows, server_order):
    if not rows:
        return
    methods = sorted({c["method"] for c in rows})
    print()
    print(f"(s) system calls per request, all the server's threads ({', '.join(methods)}; untimed wrk runs of their own,"
          " median of the rounds):")
    print(f"    {'workload':<52} {'server':<12} {'median (min-max)':<20} {'req/s':>7}  most frequent, per request")
    rank = {s: i for i, s in enumerate(server_order)}
    for c in sorted(rows, key=lambda c: (c["workload"], rank.get(c["server"], 99), c["server"])):
        top = ", ".join(f"{k} {v:.2f}" for k, v in list(c["by_call_per_request"].items())[:6])
        per = f"{c['per_request']:.2f} ({c['per_request_min']:.2f}-{c['per_request_max']:.2f})"
        mark = f"  [{c['disturbed_runs']} disturbed]" if c["disturbed_runs"] else ""
        print(f"    {WORKLOADS.get(c['workload'], c['workload']):<52} {c['server']:<12} {per:<20} "
              f"{c['rate_median']:>7.0f}  {top}{mark}")
    print("    (they move a little with the load: epoll_wait and accept4 calls per request fall as more"
          " connections wait at once, so read them beside those runs' req/s)")


def fmt_ratio(r, ref):
    if f"rate_vs_{ref}" not in r:
        return "-"
    cpu = r.get(f"cpu_vs_{ref}")
    return f"{r[f'rate_vs_{ref}']:.2f}x / {cpu:.2f}x" if cpu is not None else f"{r[f'rate_vs_{ref}']:.2f}x / -"


def read_lines(path):
    out = []
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    out.append(json.loads(line))
    return out


def cmd_summarize(args):
    samples = read_lines(args.samples)
    rows = summarize_samples(samples)
    order = {k: i for i, k in enumerate("abcegh")}
    rows.sort(key=lambda r: (order.get(r["workload"], 9), r["server"]))
    print()
    print(f"{'workload':<52} {'server':<12} {'median (min-max) req/s':<28} {'CPU us/req':>10}  "
          f"{'vs nginx req/s / CPU':>20}  {'vs epoll req/s / CPU':>20}  errors  disturbed")
    for r in rows:
        if r["rate_median"] is None:
            rate = f"FAILED ({r['failed_runs']}/{r['rounds']} runs)"
        else:
            rate = f"{r['rate_median']:.0f} ({r['rate_min']:.0f}-{r['rate_max']:.0f})"
        cpu = f"{r['cpu_us_per_request']:.1f}" if r["cpu_us_per_request"] is not None else "-"
        mark = f"  [{r['failed_runs']}/{r['rounds']} runs failed, left out]" if r["failed_runs"] and r["rate_median"] is not None else ""
        print(f"{WORKLOADS.get(r['workload'], r['workload']):<52} {r['server']:<12} {rate:<28} {cpu:>10}  "
              f"{fmt_ratio(r, 'nginx'):>20}  {fmt_ratio(r, 'epoll'):>20}  {r['errors']:>6}  {r['disturbed_runs']:>9}{mark}")
    if any(r["disturbed_runs"] for r in rows):
        print("  disturbed: runs in which other processes took over 10% of a core even after two repeats;"
              " req/s leaves them out (unless all were), CPU/req counts them (it is the server's own time)")
    if any(r["failed_runs"] for r in rows):
        print("  failed runs give no figure (h2load: failed, errored or timed-out requests, answers not 2xx, none"
              " succeeded, or no HTTP/2; or the server was not running):")
        for r in rows:
            if r["failed_runs"]:
                shown = r["failures"][:2] + ([f"(and {len(r['failures']) - 2} more)"] if len(r["failures"]) > 2 else [])
                print(f"    ({r['workload']}) {r['server']}: {r['failed_runs']} of {r['rounds']} runs: " + " / ".join(shown))
    tls = sorted({r["tls"] for r in rows if r.get("tls")})
    if tls:
        print("  (h) TLS as h2load reported it: " + ", ".join(
            f"{r['server']} {r['tls']}" for r in rows if r.get("tls")))
    if any("client_cpu_us_per_connection" in r for r in rows):
        print("  (e) demo-client's own CPU per connection (user+sys, us): " + ", ".join(
            f"{r['server']} {r['client_cpu_us_per_connection']:.0f}" for r in rows
            if "client_cpu_us_per_connection" in r))
    idle = read_lines(args.idle)
    if idle:
        print()
        print(f"(d) idle connections: {'server':<12} {'mode':<6} {'open':>6} {'RSS before':>11} {'RSS after':>11} "
              f"{'RSS B/conn':>10} {'Pss B/conn':>10}")
        for i in idle:
            print(f"{'':<22}{i['server']:<12} {i['mode']:<6} {i['open']:>6} {i['rss_before_kb']:>8} kB "
                  f"{i['rss_after_kb']:>8} kB {i['rss_bytes_per_conn']:>10.0f} {i['pss_bytes_per_conn']:>10.0f}")
    startup = read_lines(args.startup)
    if startup:
        print()
        for s in startup:
            print(f"(f) {s['what']:<44} median {s['median_ms']} ms (min {s['min_ms']}, max {s['max_ms']}; "
                  f"{s['ok']}/{s['runs']} runs)")
    syscall_runs = read_lines(args.syscalls)
    syscalls = summarize_syscalls(syscall_runs)
    print_syscalls(syscalls, ["nginx", "epoll", "demo-log", "old-log", "demo-quiet", "old-quiet"])
    cmp = new_vs_old(rows, idle, startup, syscalls)
    print_new_vs_old(cmp)
    if args.json:
        meta = {}
        if args.meta and os.path.exists(args.meta):
            with open(args.meta) as f:
                meta = json.load(f)
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "workloads": WORKLOADS, "summary": rows, "idle": idle,
                       "startup": startup, "syscalls": syscalls, "new_vs_old": cmp, "samples": samples,
                       "syscall_runs": syscall_runs}, f, indent=1)
            f.write("\n")
        print(f"\nresults: {args.json}")


def add_measured_run_arguments(p):
    """The options of a measured run (run, syscalls): pinning, quiet cores, retries, the command."""
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--load-cpu", type=int, default=1)
    p.add_argument("--max-other", type=float, default=10, help="percent of a core")
    p.add_argument("--retries", type=int, default=2)
    p.add_argument("--wait-quiet", type=float, default=20,
                   help="before each attempt, wait up to this many seconds for quiet cores")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("command", nargs=argparse.REMAINDER)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("free-port")
    p.add_argument("address")
    p.set_defaults(fn=cmd_free_port)
    p = sub.add_parser("listen-port")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--file")
    p.add_argument("--key", default="ports")
    p.add_argument("--exclude-key", help="with --file: the first port of --key that is not in this key's list")
    p.add_argument("--count", type=int, default=1, help="from /proc: wait for this many listening ports")
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("--proc-after", type=float, default=1.0,
                   help="with --file: look in /proc too after this many seconds without a ready line")
    p.set_defaults(fn=cmd_listen_port)
    p = sub.add_parser("run")
    for opt in ("--samples", "--workload", "--server", "--out"):
        p.add_argument(opt, required=True)
    p.add_argument("--round", type=int, required=True)
    p.add_argument("--server-pid", type=int, required=True)
    p.add_argument("--kind", choices=("wrk", "raw", "client", "h2load"), required=True)
    p.add_argument("--fail", help="do not run: record a failed run with this reason")
    add_measured_run_arguments(p)
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("idle")
    p.add_argument("--address", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, default=10000)
    p.add_argument("--mode", choices=("http", "hold", "silent"), default="http")
    p.add_argument("--window", type=int, default=256, help="connections being opened at once")
    p.add_argument("--open-timeout", type=float, default=30)
    p.add_argument("--hold-max", type=float, default=60)
    p.set_defaults(fn=cmd_idle)
    p = sub.add_parser("startup")
    p.add_argument("--name", action="append", required=True,
                   help="one for each command; several commands are separated by --then")
    p.add_argument("--id", action="append", help="a key for the JSON line, one for each --name")
    p.add_argument("--until", choices=("ready", "connected"), required=True,
                   help="ready: a server's ready line; connected: a client's printed tuple")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_startup)
    p = sub.add_parser("syscalls")
    for opt in ("--samples", "--workload", "--server", "--out"):
        p.add_argument(opt, required=True)
    p.add_argument("--server-pid", type=int, required=True)
    p.add_argument("--round", type=int, default=1)
    p.add_argument("--method", choices=("perf", "strace"), default="perf")
    add_measured_run_arguments(p)
    p.set_defaults(fn=cmd_syscalls)
    p = sub.add_parser("summarize")
    p.add_argument("--samples", required=True)
    p.add_argument("--idle")
    p.add_argument("--startup")
    p.add_argument("--syscalls")
    p.add_argument("--json")
    p.add_argument("--meta")
    p.set_defaults(fn=cmd_summarize)
    args = ap.parse_args()
    if getattr(args, "command", None) and args.command[:1] == ["--"]:
        args.command = args.command[1:]
    args.fn(args)


if __name__ == "__main__":
    main()
