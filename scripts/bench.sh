#!/usr/bin/env bash
# scripts/bench.sh: demo-server against nginx and a hand-written epoll server, on loopback.
#
#   scripts/bench.sh [--quick] [--json FILE] [--target 127.0.0.1|::1] [--only a,b,c,d,e,f,g,h]
#                    [--baseline PATH] [--no-syscalls]
#
# Workloads (each server pinned to core 0, the load generator to core 1):
#   a  HTTP keep-alive:            wrk -t1 -c50 -d$DUR
#   b  HTTP, new connection each:  wrk -t1 -c50 -d$DUR -H 'Connection: close'
#   c  raw TCP, new connection per report, 32 concurrent: bench/raw_load, each connection
#      sends "portdemo-hello 1\n" first (demo-server answers its one JSON line; the epoll
#      server its text line) and reads to EOF
#   d  idle connections ($IDLE_N, default 10000): RSS and Pss of the server from
#      /proc/PID/smaps_rollup before and after, bytes per connection
#   e  demo-client's own load mode: demo-client ADDRESS PORT --count $CLIENT_N --parallel 32
#   f  start-up: demo-server to its ready line, demo-client to its printed tuple (median of 20)
#   g  HTTP/2 cleartext (h2c by prior knowledge: the client opens with the connection preface),
#      many streams on few connections: h2load -c4 -m32 -t1 -D$DUR http://ADDRESS:PORT/
#   h  HTTP/2 over TLS (h2 in ALPN, nothing else offered: no fallback to HTTP/1.1):
#      h2load -c4 -m32 -t1 -D$DUR --npn-list=h2 https://ADDRESS:PORT/
#      g and h run against nginx (listen PORT http2 / listen PORT ssl http2, with a self-signed
#      P-256 certificate made in the temporary directory), demo-log and demo-quiet (each one
#      process with a plain port for g and a --tls port for h), not epoll (HTTP/1.1 only). A run
#      in which h2load reports failed, errored or timed-out requests, answers not 2xx, none that
#      succeeded, or no HTTP/2 (the server chose no h2 in ALPN), or whose server is gone, is
#      FAILED: it gives no figure, is not repeated, and the next runs go on.
#   s  system calls per request (with a or b, unless --no-syscalls): after the timed rounds,
#      $ROUNDS more rounds of untimed wrk runs of $SYSCALL_DUR s per server for a and for b; the
#      server's system calls (all its threads) counted by perf stat on the raw_syscalls:sys_enter
#      tracepoint, 20 common calls also one by one on their syscalls:sys_enter_* ones (strace -c -f
#      when perf cannot; strace slows the server a lot), divided by the requests wrk completed;
#      the median, with the most frequent calls
# a, b, c and e run in rounds, the servers alternating (A B C, A B C, ...), $ROUNDS rounds; g and h
# the same, after them, with servers of their own.
# Server CPU per request: utime+stime from /proc/PID/stat before and after each run.
# This machine may be shared: each run waits (up to 20 s) for both cores to be quiet, and a
# run in which other processes still took over 10% of a core is repeated (twice at most),
# then kept and counted in the table's "disturbed" column.
#
# Servers: nginx (one process: master_process off, access_log off, its own prefix and config
# in a temporary directory), epoll (bench/epoll_server.c), demo-log (demo-server --format json,
# every connection logged to a file), demo-quiet (demo-server --quiet, when it has that flag).
#
# --baseline PATH: another demo-server binary (one built from an older commit, say) runs beside
# this one as old-log and old-quiet (the same modes as demo-log and demo-quiet) in a, b, c, d,
# f, g and h, in the same rotation (demo-log old-log demo-quiet old-quiet within each round; in f
# the two binaries' start-ups alternate run by run), and a "new vs old" block after the table
# gives demo-* against old-*: req/s and CPU/request (a, b, c, g, h), syscalls/request (a, b),
# bytes per connection (d), start-up (f). e (demo-client's load mode) stays without them. A
# binary without --tls sits out h.
#
# Environment: ROUNDS (3), DUR (seconds per run, 5), IDLE_N (10000), CLIENT_N (5000),
# STARTUP_RUNS (20), SYSCALL_DUR (seconds of each system-call run, 2), SYSCALL_METHOD (perf or
# strace; default perf when it can), DEMO_SERVER, DEMO_CLIENT (binaries; default build/bench/,
# built there when missing), KEEP_TMP=1 keeps the temporary directory.
# --quick: DUR=1, IDLE_N=3000, CLIENT_N=2000, STARTUP_RUNS=10, SYSCALL_DUR=1 (a few minutes;
# more with --baseline, and much more on a busy machine).
# Installs nginx, wrk and gcc with apt when missing (and only then), h2load (nghttp2-client) and
# openssl for g and h; strace too when perf cannot count system calls here and strace is missing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
helper="$here/bench/bench_helper.py"

ROUNDS=${ROUNDS:-3}
DUR=${DUR:-5}
IDLE_N=${IDLE_N:-10000}
CLIENT_N=${CLIENT_N:-5000}
STARTUP_RUNS=${STARTUP_RUNS:-20}
SYSCALL_DUR=${SYSCALL_DUR:-2}
target=127.0.0.1
json_out=""
only="a,b,c,d,e,f,g,h"
baseline=""
count_syscalls=1
H2_CONNS=4     # g, h: h2load's connections (-c) and streams at once on each (-m); bench_helper.py's
H2_STREAMS=32  # labels of g and h name them

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
# needs_value OPTION WHAT "$@": the option's value is there, not empty and not the next option.
needs_value() {
  local opt=$1 what=$2; shift 2
  [[ $# -ge 2 && -n $2 && $2 != --* ]] || { echo "bench.sh: $opt needs $what" >&2; exit 64; }
}
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) DUR=1; IDLE_N=3000; CLIENT_N=2000; STARTUP_RUNS=10; SYSCALL_DUR=1; shift ;;
    --json) needs_value --json "the name of the results file to write" "$@"; json_out=$2; shift 2 ;;
    --target) needs_value --target "an address: 127.0.0.1 (or another of 127.0.0.0/8) or ::1" "$@"; target=$2; shift 2 ;;
    --only) needs_value --only "a list of workloads, as a,b,g" "$@"; only=$2; shift 2 ;;
    --baseline) needs_value --baseline "the path of a demo-server binary" "$@"; baseline=$2; shift 2 ;;
    --no-syscalls) count_syscalls=""; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench.sh: unknown argument: $1 (see --help)" >&2; exit 64 ;;
  esac
done
for v in ROUNDS DUR IDLE_N CLIENT_N STARTUP_RUNS SYSCALL_DUR; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: $v must be a positive whole number, not '${!v}'" >&2; exit 64; }
done
(( IDLE_N <= 15000 )) || { echo "bench.sh: IDLE_N over 15000 does not fit the 20000 descriptors" >&2; exit 64; }
wants() { [[ ",$only," == *",$1,"* ]]; }
if [[ -n $baseline ]]; then
  [[ -f $baseline && -x $baseline ]] || { echo "bench.sh: --baseline: not an executable file: $baseline" >&2; exit 64; }
  baseline=$(realpath "$baseline")
  "$baseline" --version >/dev/null 2>&1 || { echo "bench.sh: --baseline: $baseline --version fails; not a demo-server?" >&2; exit 64; }
fi

# Loopback only: this script loads the machine it runs on and nothing else.
case $target in
  127.*) [[ $target =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || { echo "bench.sh: not an address: $target" >&2; exit 64; }
         url_host=$target ;;
  ::1) url_host="[::1]" ;;
  *) echo "bench.sh: refusing $target: only loopback targets (127.0.0.0/8, ::1)" >&2; exit 64 ;;
esac

# --- what it needs ---------------------------------------------------------------------------
missing=()
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
command -v cc >/dev/null || missing+=(gcc)
command -v python3 >/dev/null || missing+=(python3)
command -v taskset >/dev/null && command -v prlimit >/dev/null || missing+=(util-linux)
if wants g || wants h; then command -v h2load >/dev/null || missing+=(nghttp2-client); fi
if wants g || wants h; then command -v openssl >/dev/null || missing+=(openssl); fi
if ((${#missing[@]})); then
  echo "bench.sh: installing ${missing[*]}"
  # Debian starts a newly installed nginx on port 80; a temporary policy-rc.d (the documented
  # way) keeps it from starting, since only the nginx this script configures is wanted.
  made_policy=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  rc=0
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } || rc=$?
  [[ -n $made_policy ]] && rm -f /usr/sbin/policy-rc.d
  (( rc == 0 )) || exit 69
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

# System calls per request: perf stat on the syscall tracepoints when it works here (root, a
# kernel with them, tracefs), else strace -c -f (installed when missing).
syscall_method=""
if [[ -n $count_syscalls ]] && { wants a || wants b; }; then
  if [[ -n ${SYSCALL_METHOD:-} ]]; then
    [[ $SYSCALL_METHOD == perf || $SYSCALL_METHOD == strace ]] || { echo "bench.sh: SYSCALL_METHOD is perf or strace" >&2; exit 64; }
    command -v "$SYSCALL_METHOD" >/dev/null || { echo "bench.sh: SYSCALL_METHOD=$SYSCALL_METHOD: not installed" >&2; exit 69; }
    syscall_method=$SYSCALL_METHOD
  elif command -v perf >/dev/null && perf stat -x, -e raw_syscalls:sys_enter -- true >/dev/null 2>&1; then
    syscall_method=perf
  else
    if ! command -v strace >/dev/null; then
      echo "bench.sh: installing strace (perf cannot count system calls here)"
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null; } || exit 69
    fi
    syscall_method=strace
  fi
fi

demo_server=${DEMO_SERVER:-$here/build/bench/server/demo-server}
demo_client=${DEMO_CLIENT:-$here/build/bench/client/demo-client}
if [[ ! -x $demo_server || ! -x $demo_client ]]; then
  echo "bench.sh: building demo-server and demo-client (Release) in build/bench"
  cmake -S "$here" -B "$here/build/bench" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPORTDEMO_BUILD_TESTS=OFF >/dev/null
  cmake --build "$here/build/bench" --target demo-server demo-client >/dev/null
fi

tmp=$(mktemp -d /tmp/portdemo-bench.XXXXXX)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  pids=()
  if [[ -n ${KEEP_TMP:-} ]]; then echo "bench.sh: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cc -O2 -o "$tmp/epoll_server" "$here/bench/epoll_server.c"
cc -O2 -o "$tmp/raw_load" "$here/bench/raw_load.c"

# --- starting and stopping servers, by pid ---------------------------------------------------
# start NAME CMD...: pinned to core 0, 20000 descriptors, stdout and stderr to files in $tmp.
start() {
  local name=$1; shift
  taskset -c 0 prlimit --nofile=20000 "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  started_pid=$!
  pids+=("$started_pid")
}
stop() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local kept=()
  for i in "${pids[@]}"; do [[ $i == "$pid" ]] || kept+=("$i"); done
  pids=("${kept[@]}")
}
kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/smaps_rollup"; }

has_quiet=""
"$demo_server" --help 2>&1 | grep -q -- --quiet && has_quiet=1
old_has_quiet=""
[[ -n $baseline ]] && "$baseline" --help 2>&1 | grep -q -- --quiet && old_has_quiet=1
has_tls=""  # h needs a --tls port
"$demo_server" --help 2>&1 | grep -q -- --tls && has_tls=1
old_has_tls=""
[[ -n $baseline ]] && "$baseline" --help 2>&1 | grep -q -- --tls && old_has_tls=1

declare -A pid_of http_port_of raw_port_of tls_port_of
start_nginx() {  # start_nginx NAME [h2]: HTTP/1.1 on one port; with h2, h2c on one and h2 over TLS on another
  local name=$1 mode=${2:-} dir="$tmp/$1" port tls_port="" server_block
  [[ $mode == h2 ]] && dir="$tmp/$name-h2"
  mkdir -p "$dir/logs"
  port=$(python3 "$helper" free-port "$target")
  if [[ $mode == h2 ]]; then
    tls_port=$(python3 "$helper" free-port "$target")
    while [[ $tls_port == "$port" ]]; do tls_port=$(python3 "$helper" free-port "$target"); done
    # nginx 1.22 (Debian 12): http2 is a parameter of listen ("http2 on;" came with 1.25.1). A plain
    # http2 listener speaks h2c by prior knowledge only, no HTTP/1.1. keepalive_requests (below)
    # also bounds the streams of an HTTP/2 connection since 1.19.7 (it was 1000: h2load's clients
    # would get a GOAWAY after 1000 requests each and stop). 1.22's default ssl_protocols lack
    # TLSv1.3, which demo-server and h2load use.
    server_block="    listen $url_host:$port http2;
    listen $url_host:$tls_port ssl http2;
    ssl_certificate $tmp/cert.pem;
    ssl_certificate_key $tmp/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;"
  else
    server_block="    listen $url_host:$port;"
  fi
  cat >"$dir/nginx.conf" <<EOF
# One process serving (master_process off), as the issue's reference figures were taken.
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 20000; }
http {
  access_log off;                 # no per-request log: compared with demo-server logging and quiet
  default_type text/plain;
  keepalive_timeout 120s;
  keepalive_requests 1000000;     # keep-alive means one connection for the whole run
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
$server_block
    location / { return 200 "\$remote_addr:\$remote_port -> \$server_addr:\$server_port\n"; }
  }
}
EOF
  start "$name" "$nginx_bin" -p "$dir" -e "$dir/logs/error.log" -c "$dir/nginx.conf"
  pid_of[$name]=$started_pid
  if [[ $mode == h2 ]]; then
    local got want
    got=$(python3 "$helper" listen-port --pid "$started_pid" --count 2) || { cat "$tmp/$name.err" >&2; exit 70; }
    want=$(printf '%s\n' "$port" "$tls_port" | sort -n | paste -sd ' ')
    [[ $got == "$want" ]] || { echo "bench.sh: nginx (h2) listens on $got, not $want" >&2; exit 70; }
    http_port_of[$name]=$port
    tls_port_of[$name]=$tls_port
    return
  fi
  http_port_of[$name]=$(python3 "$helper" listen-port --pid "$started_pid") || { cat "$tmp/$name.err" >&2; exit 70; }
  [[ ${http_port_of[$name]} == "$port" ]] || { echo "bench.sh: nginx listens on ${http_port_of[$name]}, not $port" >&2; exit 70; }
}
start_epoll() {
  local name=$1
  start "$name" "$tmp/epoll_server" --bind "$target"
  pid_of[$name]=$started_pid
  http_port_of[$name]=$(python3 "$helper" listen-port --pid "$started_pid" --file "$tmp/$name.out" --key http_port)
  raw_port_of[$name]=$(python3 "$helper" listen-port --pid "$started_pid" --file "$tmp/$name.out" --key raw_port)
}
start_demo() {  # start_demo NAME BINARY [--ports PORTS] [more options: --quiet, --tls PORT]
  local name=$1 bin=$2 ports=0; shift 2
  if [[ ${1:-} == --ports ]]; then ports=$2; shift 2; fi
  # --max-connections: the idle workload holds $IDLE_N connections (the cap follows the open-file limit).
  start "$name" "$bin" --ports "$ports" --bind "$target" --format json --color never --max-connections 20000 "$@"
  pid_of[$name]=$started_pid
  local port
  port=$(python3 "$helper" listen-port --pid "$started_pid" --file "$tmp/$name.out" --key ports) || {
    cat "$tmp/$name.err" >&2; exit 70; }
  http_port_of[$name]=$port
  raw_port_of[$name]=$port
}
# start_demo_h2 NAME BINARY TLS [--quiet]: one process for g and h, a plain port (the kernel's
# choice) for h2c and, when TLS is 1 (the binary has --tls), a --tls port for h2 over TLS. A
# demo-server that does not start (one being worked on, say) is not the end of the script: it is
# stopped, said so, and its g and h runs are recorded as failed.
declare -A start_failure sits_out_h
start_demo_h2() {
  local name=$1 bin=$2 tls=$3; shift 3
  local tp="" ports=(--ports 0) port="" tport=""
  if [[ $tls == 1 ]]; then
    tp=$(python3 "$helper" free-port "$target")
    ports=(--ports "0,$tp" --tls "$tp")
  else
    sits_out_h[$name]=1
  fi
  start "$name" "$bin" "${ports[@]}" --bind "$target" --format json --color never --max-connections 20000 "$@"
  pid_of[$name]=$started_pid
  http_port_of[$name]=""
  tls_port_of[$name]=""
  if port=$(python3 "$helper" listen-port --pid "$started_pid" --file "$tmp/$name.out" --key ports \
              --exclude-key tls_ports 2>"$tmp/$name.listen-err") &&
     { [[ -z $tp ]] || tport=$(python3 "$helper" listen-port --pid "$started_pid" --file "$tmp/$name.out" \
                                 --key tls_ports 2>>"$tmp/$name.listen-err"); } &&
     [[ -z $tp || $tport == "$tp" ]]; then
    http_port_of[$name]=$port
    tls_port_of[$name]=$tport
    return
  fi
  stop "$started_pid"
  start_failure[$name]="$name did not start: $(tail -1 "$tmp/$name.listen-err" 2>/dev/null)${tport:+ (TLS port $tport, not $tp)}"
  echo "bench.sh: ${start_failure[$name]}; its g and h runs are reported as failed. Its stderr ends:" >&2
  tail -5 "$tmp/$name.err" | sed 's/^/  /' >&2
}
start_h2_variant() {  # g and h: the servers by the names in the table
  case $1 in
    nginx) start_nginx nginx h2 ;;
    demo-log) start_demo_h2 demo-log "$demo_server" "$has_tls" ;;
    demo-quiet) start_demo_h2 demo-quiet "$demo_server" "$has_tls" --quiet ;;
    old-log) start_demo_h2 old-log "$baseline" "$old_has_tls" ;;
    old-quiet) start_demo_h2 old-quiet "$baseline" "$old_has_tls" --quiet ;;
  esac
}
start_variant() {  # the servers by the names in the table
  case $1 in
    nginx) start_nginx nginx ;;
    epoll) start_epoll epoll ;;
    demo-log) start_demo demo-log "$demo_server" ;;
    demo-quiet) start_demo demo-quiet "$demo_server" --quiet ;;
    old-log) start_demo old-log "$baseline" ;;
    old-quiet) start_demo old-quiet "$baseline" --quiet ;;
  esac
}

# With --baseline the old-* servers follow their demo-* counterparts: A B A B within each round.
http_servers=(nginx epoll demo-log)
raw_servers=(epoll demo-log)
[[ -n $baseline ]] && { http_servers+=(old-log); raw_servers+=(old-log); }
if [[ -n $has_quiet ]]; then
  http_servers+=(demo-quiet)
  raw_servers+=(demo-quiet)
else
  echo "bench.sh: this demo-server has no --quiet; only the logging variant runs"
fi
if [[ -n $baseline ]]; then
  if [[ -n $old_has_quiet ]]; then
    http_servers+=(old-quiet)
    raw_servers+=(old-quiet)
  else
    echo "bench.sh: the baseline demo-server has no --quiet; only old-log runs"
  fi
fi
client_servers=()  # e: demo-client's load mode, against this build's servers only
for s in "${raw_servers[@]}"; do [[ $s == old-* ]] || client_servers+=("$s"); done
h2_servers=()  # g, h: HTTP/2; the epoll server speaks HTTP/1.1 only
for s in "${http_servers[@]}"; do [[ $s == epoll ]] || h2_servers+=("$s"); done
if wants h; then
  [[ -n $has_tls ]] || echo "bench.sh: this demo-server has no --tls; demo-log and demo-quiet sit out h"
  [[ -z $baseline || -n $old_has_tls ]] || echo "bench.sh: the baseline demo-server has no --tls; old-log and old-quiet sit out h"
fi
samples="$tmp/samples.jsonl"
idle_results="$tmp/idle.jsonl"
startup_results="$tmp/startup.jsonl"
syscall_results="$tmp/syscalls.jsonl"
: >"$samples"; : >"$idle_results"; : >"$startup_results"; : >"$syscall_results"

# A busy machine makes every figure wrong (the first thing to check when ratios look odd):
# wait up to 60 s for the other processes to leave both cores quiet, then say how busy it was.
busy_percent() {  # CPU busy over one second, all cores, in percent
  local a b
  read -ra a < /proc/stat; sleep 1; read -ra b < /proc/stat
  local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) total=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
  echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}
busy=$(busy_percent)
for _ in $(seq 59); do (( busy < 10 )) && break; busy=$(busy_percent); done
(( busy < 10 )) || echo "bench.sh: warning: the machine is ${busy}% busy with other work; the figures will be off"

{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), Linux $(uname -r)"
  h2v=""
  if wants g || wants h; then h2v=", $(h2load --version 2>&1 | head -1)"; fi
  echo "versions: $("$nginx_bin" -v 2>&1 | sed 's/.*: //'), $(wrk -v 2>&1 | head -1 | awk '{print "wrk " $2}')$h2v, $("$demo_server" --version 2>&1)"
  [[ -n $baseline ]] && echo "baseline (old-log, old-quiet): $baseline: $("$baseline" --version 2>&1 | head -1)"
  echo "runs: $ROUNDS rounds of ${DUR} s per server and workload; target $target; servers on core 0, load on core 1"
  if [[ -n $syscall_method ]]; then
    sw="a and b"
    if ! wants b; then sw=a; elif ! wants a; then sw=b; fi
    echo "system calls: $ROUNDS untimed wrk runs of ${SYSCALL_DUR} s per server for $sw, counted with $syscall_method"
  fi
  if wants g || wants h; then
    echo "HTTP/2 (g, h): h2load -c $H2_CONNS -m $H2_STREAMS -t 1 -D $DUR: $H2_CONNS connections, $H2_STREAMS streams each at once"
  fi
  echo "machine busy before the run: ${busy}% of all cores (other processes)"
} | tee "$tmp/meta.txt"
python3 - "$tmp/meta.txt" "$tmp/meta.json" "$demo_server" "$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)" "$baseline" <<'EOF'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
json.dump({"lines": lines, "demo_server": sys.argv[3], "git_head": sys.argv[4], "baseline": sys.argv[5] or None},
          open(sys.argv[2], "w"))
EOF

# --- a, b, c, e: rounds, the servers alternating --------------------------------------------
# Each run: the load pinned to core 1, the server's CPU read around it; a run in which other
# processes took over 10% of either core is repeated (twice at most), then kept and marked.
measure() {  # measure WORKLOAD SERVER ROUND KIND CMD...
  local w=$1 s=$2 r=$3 kind=$4; shift 4
  taskset -c 1 python3 "$helper" run --samples "$samples" --workload "$w" --server "$s" --round "$r" \
    --server-pid "${pid_of[$s]}" --kind "$kind" --out "$tmp/load.out" -- "$@"
}
run_http() {  # run_http WORKLOAD SERVER ROUND [wrk args]
  local w=$1 s=$2 r=$3; shift 3
  measure "$w" "$s" "$r" wrk wrk -t1 -c50 -d"${DUR}s" "$@" "http://$url_host:${http_port_of[$s]}/"
}
# g, h: h2load, HTTP/2 only (--npn-list=h2: no HTTP/1.1 to fall back to over TLS; http:// URIs
# are h2c by prior knowledge, h2load's --no-tls-proto default, given here all the same).
# :authority is given too: h2load 1.52 (Debian 12's) sends an IPv6 one without its brackets
# (::1:PORT), which nginx answers with 400 (nghttp2 issues 1999 and 2090, fixed later).
run_h2() {  # run_h2 WORKLOAD SERVER ROUND SCHEME PORT
  local fail=()
  [[ -z ${start_failure[$2]:-} ]] || fail=(--fail "${start_failure[$2]}")
  taskset -c 1 python3 "$helper" run --samples "$samples" --workload "$1" --server "$2" --round "$3" \
    --server-pid "${pid_of[$2]}" --kind h2load --out "$tmp/load.out" --timeout $((DUR + 30)) "${fail[@]}" -- \
    h2load -c "$H2_CONNS" -m "$H2_STREAMS" -t 1 -D "$DUR" --npn-list=h2 --no-tls-proto=h2c \
    -H ":authority: $url_host:$5" "$4://$url_host:$5/"
}
run_raw() {
  measure "$1" "$2" "$3" raw "$tmp/raw_load" --concurrency 32 --duration "$DUR" --line "portdemo-hello 1" \
    "$target" "${raw_port_of[$2]}"
}
run_client() {
  measure "$1" "$2" "$3" client "$demo_client" "$target" "${raw_port_of[$2]}" --count "$CLIENT_N" --parallel 32 \
    --format json
}

if wants a || wants b || wants c || wants e; then
  for s in "${http_servers[@]}"; do start_variant "$s"; done
  for r in $(seq "$ROUNDS"); do
    if wants a; then
      for s in "${http_servers[@]}"; do echo "round $r: a keep-alive, $s"; run_http a "$s" "$r"; sleep 0.3; done
    fi
    if wants b; then
      for s in "${http_servers[@]}"; do
        echo "round $r: b Connection: close, $s"; run_http b "$s" "$r" -H 'Connection: close'; sleep 0.3
      done
    fi
    if wants c; then
      for s in "${raw_servers[@]}"; do echo "round $r: c raw, $s"; run_raw c "$s" "$r"; sleep 0.3; done
    fi
    if wants e; then
      for s in "${client_servers[@]}"; do echo "round $r: e demo-client load, $s"; run_client e "$s" "$r"; sleep 0.3; done
    fi
  done
  # s: system calls per request, untimed wrk runs of their own, same servers, same rotation.
  if [[ -n $syscall_method ]]; then
    for r in $(seq "$ROUNDS"); do
      for w in a b; do
        wants $w || continue
        extra=(); [[ $w == b ]] && extra=(-H 'Connection: close')
        for s in "${http_servers[@]}"; do
          echo "round $r: system calls, $w, $s"
          taskset -c 1 python3 "$helper" syscalls --samples "$syscall_results" --workload "$w" --server "$s" \
            --round "$r" --server-pid "${pid_of[$s]}" --method "$syscall_method" --out "$tmp/syscalls.out" -- \
            wrk -t1 -c50 -d"${SYSCALL_DUR}s" "${extra[@]}" "http://$url_host:${http_port_of[$s]}/"
          sleep 0.3
        done
      done
    done
  fi
  for s in "${http_servers[@]}"; do stop "${pid_of[$s]}"; done
fi

# --- g, h: HTTP/2, rounds, the servers alternating -------------------------------------------
# Servers of their own: nginx with an h2c and an h2-over-TLS listener, each demo-server with a
# plain port and a --tls one. A failed run (see the header) gives no figure; the others go on.
if wants g || wants h; then
  # nginx's TLS certificate, self-signed, P-256 like the one demo-server generates for itself
  # (made for g alone too: nginx's configuration names it). h2load does not check it.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
    >"$tmp/openssl.out" 2>&1 || { cat "$tmp/openssl.out" >&2; exit 70; }
  for s in "${h2_servers[@]}"; do start_h2_variant "$s"; done
  for r in $(seq "$ROUNDS"); do
    if wants g; then
      for s in "${h2_servers[@]}"; do
        echo "round $r: g h2c (prior knowledge), $s"; run_h2 g "$s" "$r" http "${http_port_of[$s]}"; sleep 0.3
      done
    fi
    if wants h; then
      for s in "${h2_servers[@]}"; do
        [[ -z ${sits_out_h[$s]:-} ]] || continue
        echo "round $r: h h2 over TLS, $s"; run_h2 h "$s" "$r" https "${tls_port_of[$s]}"; sleep 0.3
      done
    fi
  done
  for s in "${h2_servers[@]}"; do [[ -n ${start_failure[$s]:-} ]] || stop "${pid_of[$s]}"; done
fi

# --- d: idle connections, a fresh server each ------------------------------------------------
idle_case() {  # idle_case SERVER MODE
  local s=$1 mode=$2 pid port hpid
  start_variant "$s"
  pid=${pid_of[$s]}
  port=${http_port_of[$s]}
  [[ $mode == hold ]] && port=${raw_port_of[$s]}
  sleep 0.3
  local rss0 pss0 rss1 pss1
  rss0=$(kb "$pid" Rss); pss0=$(kb "$pid" Pss)
  local out="$tmp/idle-$s-$mode.out"
  rm -f "$out"
  taskset -c 1 prlimit --nofile=20000 python3 "$helper" idle --address "$target" --port "$port" \
    --count "$IDLE_N" --mode "$mode" --hold-max 60 >"$out" 2>"$out.err" &
  hpid=$!
  pids+=("$hpid")
  for _ in $(seq 600); do grep -qs idle_ready "$out" && break; kill -0 "$hpid" 2>/dev/null || break; sleep 0.05; done
  sleep 0.3  # let the server finish its bookkeeping for the last answers
  rss1=$(kb "$pid" Rss); pss1=$(kb "$pid" Pss)
  python3 - "$out" "$s" "$mode" "$rss0" "$pss0" "$rss1" "$pss1" >>"$idle_results" <<'EOF'
import json, sys
out, server, mode, rss0, pss0, rss1, pss1 = sys.argv[1:8]
ready = {}
for line in open(out):
    if "idle_ready" in line:
        ready = json.loads(line)
n = ready.get("open", 0)
rss0, pss0, rss1, pss1 = map(int, (rss0, pss0, rss1, pss1))
print(json.dumps({"server": server, "mode": mode, "open": n, "failed": ready.get("failed"),
                  "open_seconds": ready.get("seconds"),
                  "rss_before_kb": rss0, "rss_after_kb": rss1, "pss_before_kb": pss0, "pss_after_kb": pss1,
                  "rss_bytes_per_conn": (rss1 - rss0) * 1024 / n if n else 0,
                  "pss_bytes_per_conn": (pss1 - pss0) * 1024 / n if n else 0}))
EOF
  echo "d idle $mode, $s: $(tail -1 "$idle_results")"
  stop "$hpid"
  stop "$pid"
}
if wants d; then
  for s in "${http_servers[@]}"; do idle_case "$s" http; done
  idle_case demo-log hold
  [[ -n $baseline ]] && idle_case old-log hold
fi

# --- f: start-up -----------------------------------------------------------------------------
if wants f; then
  python3 "$helper" startup --name "epoll_server to ready (the floor: fork+exec)" --until ready \
    --runs "$STARTUP_RUNS" -- taskset -c 0 "$tmp/epoll_server" --bind "$target" >>"$startup_results"
  if [[ -n $baseline ]]; then  # the two binaries alternate run by run: new old new old ...
    python3 "$helper" startup --name "demo-server to ready" --id demo-server \
      --name "old demo-server (baseline) to ready" --id old-server --until ready --runs "$STARTUP_RUNS" -- \
      taskset -c 0 "$demo_server" --ports 0 --bind "$target" --format json --color never --then \
      taskset -c 0 "$baseline" --ports 0 --bind "$target" --format json --color never >>"$startup_results"
  else
    python3 "$helper" startup --name "demo-server to ready" --id demo-server --until ready --runs "$STARTUP_RUNS" -- \
      taskset -c 0 "$demo_server" --ports 0 --bind "$target" --format json --color never >>"$startup_results"
  fi
  start_variant demo-log
  python3 "$helper" startup --name "demo-client to printed tuple" --until connected --runs "$STARTUP_RUNS" -- \
    taskset -c 1 "$demo_client" "$target" "${raw_port_of[demo-log]}" --format json >>"$startup_results"
  stop "${pid_of[demo-log]}"
fi

python3 "$helper" summarize --samples "$samples" --idle "$idle_results" --startup "$startup_results" \
  --syscalls "$syscall_results" --meta "$tmp/meta.json" ${json_out:+--json "$json_out"}
