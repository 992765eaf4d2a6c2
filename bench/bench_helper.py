#!/usr/bin/env python3
"""Helpers of scripts/bench.sh that are easier in Python than in bash.

    free-port ADDRESS                  a port the kernel calls free now (bind port 0, close)
    listen-port --pid PID [--file F --key K] [--timeout S]
                                       the port a server listens on: from its JSON `ready`
                                       line in F when it prints one (K: ports, raw_port,
                                       http_port), else from /proc (the pid's listening sockets)
    record --samples F --workload W --server S --round R --cpu-ticks T (--wrk F | --raw F | --timed F)
                                       appends one JSON sample line
    timed --out F -- CMD...            runs CMD, prints wall seconds and the child's CPU time
    idle --address A --port P --count N --mode http|hold|silent [--hold-max S]
                                       opens N connections and holds them idle; prints one JSON
                                       line when all are open (and answered), then waits for
                                       SIGTERM or --hold-max seconds
    startup --name NAME --until ready|connected [--runs N] -- CMD...
                                       start-up time: to a server's `ready` line, or to a
                                       client's `connected` line; median, min, max in ms
    summarize --samples F [--idle F] [--startup F] [--json OUT] [--meta F]
                                       the table, and the JSON results file

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
                        print(v[0] if isinstance(v, list) else v)
                        return
        if not args.file or time.monotonic() > t0 + args.proc_after:
            ports = listening_ports_of(args.pid)
            if len(ports) == 1:
                print(ports[0])
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


def cmd_record(args):
    if args.wrk:
        with open(args.wrk) as f:
            r = parse_wrk(f.read())
    elif args.raw:
        with open(args.raw) as f:
            j = json.loads(f.read().strip().splitlines()[-1])
        r = {"requests": j["completed"], "seconds": j["seconds"], "errors": j["errors"]}
    else:
        with open(args.timed) as f:
            j = json.load(f)
        r = {"requests": j["completed"], "seconds": j["seconds"], "errors": j["errors"],
             "client_cpu_seconds": j["cpu_seconds"]}
    r.update(workload=args.workload, server=args.server, round=args.round, cpu_ticks=args.cpu_ticks,
             clk_tck=os.sysconf("SC_CLK_TCK"))
    r["rate"] = r["requests"] / r["seconds"] if r["seconds"] > 0 else 0.0
    with open(args.samples, "a") as f:
        f.write(json.dumps(r) + "\n")


def cmd_timed(args):
    """Runs a demo-client load (JSON output to --out) and reports its time and outcome."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    with open(args.out, "w") as out:
        rc = subprocess.run(args.command, stdout=out, stderr=subprocess.STDOUT, timeout=args.timeout).returncode
    seconds = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = {}
    with open(args.out, errors="replace") as f:
        for line in f:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if isinstance(ev, dict) and ev.get("event") == "summary":
                summary = ev
    connected = int(summary.get("connected", 0))
    attempted = int(summary.get("attempted", 0))
    print(json.dumps({"completed": connected, "errors": max(attempted - connected, 0) + (rc != 0),
                      "seconds": seconds, "exit_code": rc,
                      "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)}))


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


def cmd_startup(args):
    event = args.until
    times = [time_to_line(args.command, event) for _ in range(args.runs)]
    ok = [t for t in times if t is not None]
    print(json.dumps({"what": args.name, "event": event, "runs": args.runs, "ok": len(ok),
                      "median_ms": round(statistics.median(ok), 2) if ok else None,
                      "min_ms": round(min(ok), 2) if ok else None,
                      "max_ms": round(max(ok), 2) if ok else None}))


# --- the table --------------------------------------------------------------------------------

WORKLOADS = {
    "a": "HTTP keep-alive (wrk -c50)",
    "b": "HTTP new conn/request (wrk -c50, Connection: close)",
    "c": "raw TCP new conn/report (32 concurrent)",
    "e": "demo-client --count --parallel 32",
}


def summarize_samples(samples):
    groups = {}
    for s in samples:
        groups.setdefault((s["workload"], s["server"]), []).append(s)
    rows = []
    for (w, srv), runs in groups.items():
        rates = [r["rate"] for r in runs]
        total_requests = sum(r["requests"] for r in runs)
        cpu_us = [r["cpu_ticks"] / r["clk_tck"] * 1e6 / r["requests"] for r in runs if r["requests"]]
        row = {"workload": w, "server": srv, "rounds": len(runs),
               "rate_median": statistics.median(rates), "rate_min": min(rates), "rate_max": max(rates),
               "cpu_us_per_request": statistics.median(cpu_us) if cpu_us else None,
               "requests": total_requests, "errors": sum(r["errors"] for r in runs)}
        if any("client_cpu_seconds" in r for r in runs):
            row["client_cpu_us_per_connection"] = statistics.median(
                r["client_cpu_seconds"] * 1e6 / r["requests"] for r in runs if r["requests"])
        rows.append(row)
    by_key = {(r["workload"], r["server"]): r for r in rows}
    for r in rows:
        for ref in ("nginx", "epoll"):
            base = by_key.get((r["workload"], ref))
            if base and base is not r and base["rate_median"]:
                r[f"rate_vs_{ref}"] = r["rate_median"] / base["rate_median"]
                if base["cpu_us_per_request"] and r["cpu_us_per_request"] is not None:
                    r[f"cpu_vs_{ref}"] = r["cpu_us_per_request"] / base["cpu_us_per_request"]
    return rows


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
    order = {k: i for i, k in enumerate("abce")}
    rows.sort(key=lambda r: (order.get(r["workload"], 9), r["server"]))
    print()
    print(f"{'workload':<52} {'server':<12} {'median (min-max) req/s':<28} {'CPU us/req':>10}  "
          f"{'vs nginx req/s / CPU':>20}  {'vs epoll req/s / CPU':>20}  errors")
    for r in rows:
        rate = f"{r['rate_median']:.0f} ({r['rate_min']:.0f}-{r['rate_max']:.0f})"
        cpu = f"{r['cpu_us_per_request']:.1f}" if r["cpu_us_per_request"] is not None else "-"
        print(f"{WORKLOADS.get(r['workload'], r['workload']):<52} {r['server']:<12} {rate:<28} {cpu:>10}  "
              f"{fmt_ratio(r, 'nginx'):>20}  {fmt_ratio(r, 'epoll'):>20}  {r['errors']}")
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
    if args.json:
        meta = {}
        if args.meta and os.path.exists(args.meta):
            with open(args.meta) as f:
                meta = json.load(f)
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "workloads": WORKLOADS, "summary": rows, "idle": idle,
                       "startup": startup, "samples": samples}, f, indent=1)
            f.write("\n")
        print(f"\nresults: {args.json}")


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
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("--proc-after", type=float, default=1.0,
                   help="with --file: look in /proc too after this many seconds without a ready line")
    p.set_defaults(fn=cmd_listen_port)
    p = sub.add_parser("record")
    for opt in ("--samples", "--workload", "--server"):
        p.add_argument(opt, required=True)
    p.add_argument("--round", type=int, required=True)
    p.add_argument("--cpu-ticks", type=int, required=True)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--wrk")
    g.add_argument("--raw")
    g.add_argument("--timed")
    p.set_defaults(fn=cmd_record)
    p = sub.add_parser("timed")
    p.add_argument("--out", required=True)
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_timed)
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
    p.add_argument("--name", required=True)
    p.add_argument("--until", choices=("ready", "connected"), required=True,
                   help="ready: a server's ready line; connected: a client's printed tuple")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_startup)
    p = sub.add_parser("summarize")
    p.add_argument("--samples", required=True)
    p.add_argument("--idle")
    p.add_argument("--startup")
    p.add_argument("--json")
    p.add_argument("--meta")
    p.set_defaults(fn=cmd_summarize)
    args = ap.parse_args()
    if getattr(args, "command", None) and args.command[:1] == ["--"]:
        args.command = args.command[1:]
    args.fn(args)


if __name__ == "__main__":
    main()
