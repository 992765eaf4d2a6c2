#!/usr/bin/env bash
# The guided demonstration: installs what is missing, builds, then shows in nine chapters how
# ports work: the server's fixed port against the client's ephemeral ones, the two ends'
# mirrored views of one connection, several services on one host and a privileged port
# refused, many connections and the ephemeral range, UDP, two hosts, NAT (a router between
# them that rewrites addresses and ports), the packets on the wire, the classroom board, and
# one page over HTTP/1.1, HTTP/2 and HTTP/3. A lecturer runs one chapter at a time, or all.
#
#   scripts/demo.sh           every chapter, one after another
#   scripts/demo.sh 3         chapter 3 only (several numbers: those chapters, in that order)
#   scripts/demo.sh --list    the chapters
#
# On a terminal the demo waits for Enter after each chapter (q quits); otherwise it reads
# nothing from stdin and runs straight through.
#
#   DEMO_PACE=0               no pauses (for tests); DEMO_PACE=2 pauses twice as long
#   DEMO_PORTS=8080,8443      the ports the servers try first
#   DEMO_SKIP_BUILD=1 DEMO_BIN_DIR=build/ci   use binaries already built there
#   NO_COLOR=1                no colour, even on a terminal
#
# Exit: 0 done (a chapter that cannot run here says why and the demo goes on), 64 a bad
# argument, 130/143 interrupted. Every server the demo starts is stopped by its pid.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

titles=(
  ""
  "Fixed versus ephemeral"
  "Several services on one host"
  "Many connections and the ephemeral range"
  "UDP"
  "Two hosts"
  "NAT: when the two views differ"
  "The packets on the wire"
  "The classroom board"
  "HTTP/1.1, HTTP/2 and HTTP/3: one page, three ways"
)
last_chapter=$((${#titles[@]} - 1))

list_chapters() {
  echo "portdemo's guided demonstration, in $last_chapter chapters:"
  local i
  for ((i = 1; i <= last_chapter; i++)); do printf '  %d  %s\n' "$i" "${titles[$i]}"; done
  echo "scripts/demo.sh runs them all; scripts/demo.sh N runs chapter N."
}
usage() {
  echo "usage: scripts/demo.sh [--list] [CHAPTER...]"
  list_chapters
}
# A bad argument: one message naming it and the chapters there are, exit 64.
bad_argument() {
  local shown=${1:0:40}
  shown=$(printf '%q' "$shown")
  if [[ $1 == -* ]]; then
    echo "demo.sh: unknown option $shown (--list names the chapters, --help shows the usage)" >&2
  elif [[ $1 =~ ^[0-9]+$ ]]; then
    echo "demo.sh: there is no chapter $shown; the chapters are 1 to $last_chapter:" >&2
    list_chapters | sed -n "2,$((last_chapter + 1))p" >&2
  else
    echo "demo.sh: $shown is not a chapter number; the chapters are 1 to $last_chapter:" >&2
    list_chapters | sed -n "2,$((last_chapter + 1))p" >&2
  fi
  exit 64
}

chapters=()
for arg in "$@"; do
  case $arg in
    -h | --help) usage; exit 0 ;;
    -l | --list) list_chapters; exit 0 ;;
    *)
      if [[ $arg =~ ^[0-9]{1,3}$ ]] && ((10#$arg >= 1 && 10#$arg <= last_chapter)); then
        chapters+=("$((10#$arg))")
      else
        bad_argument "$arg"
      fi ;;
  esac
done
whole=0
if ((${#chapters[@]} == 0)); then
  whole=1
  for ((i = 1; i <= last_chapter; i++)); do chapters+=("$i"); done
fi

pace=${DEMO_PACE:-1}
[[ $pace =~ ^[0-9]+([.][0-9]+)?$ ]] || pace=1
ports=${DEMO_PORTS:-8080,8443}

if [[ ${DEMO_SKIP_BUILD:-0} != 1 ]]; then
  scripts/install-deps.sh >/dev/null
  cmake --preset ci >/dev/null
  cmake --build --preset ci >/dev/null
fi
bin=${DEMO_BIN_DIR:-$root/build/ci}
server_bin=$bin/server/demo-server
client_bin=$bin/client/demo-client
for b in "$server_bin" "$client_bin"; do
  if [[ ! -x $b ]]; then
    echo "demo.sh: $b is not an executable; build first (cmake --build --preset ci)" >&2
    exit 69
  fi
done

color=never
[[ -t 1 && -z ${NO_COLOR:-} ]] && color=always
# Waiting for Enter only when a person can press it.
interactive=0
[[ -t 0 ]] && interactive=1

bold() { if [[ $color == always ]]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
pause() { [[ $pace == 0 ]] || sleep "$(awk -v s="$1" -v p="$pace" 'BEGIN { print s * p }')"; }
say() { printf '%s\n' "$*"; }
cmd() { bold "\$ $*"; }

# prefixed PREFIX: every line of stdin behind PREFIX ("  client | "), wrapped at spaces so that
# no line reaches 100 columns. A line that must be wrapped loses its colour.
prefixed() {
  awk -v pre="$1" -v width=99 '
    function plain(s) { gsub(esc "\\[[0-9;]*m", "", s); return s }
    BEGIN { esc = sprintf("%c", 27) }
    {
      sub(/\r$/, ""); sub(/[ \t]+$/, "")
      if ($0 == "") { line = pre; sub(/ +$/, "", line); print line; next }
      if (length(pre plain($0)) <= width) { print pre $0; next }
      line = plain($0)
      match(line, /^ */)
      ind = substr(line, 1, RLENGTH) "  "
      room = width - length(pre)
      if (length(ind) > room / 2) ind = "    "
      while (length(line) > room) {
        cut = 0
        for (i = room + 1; i > length(ind) + 1; i--) if (substr(line, i, 1) == " ") { cut = i; break }
        if (cut) { head = substr(line, 1, cut - 1); rest = substr(line, cut + 1) }
        else { head = substr(line, 1, room); rest = substr(line, room + 1) }
        sub(/ +$/, "", head); sub(/^ +/, "", rest)
        print pre head
        line = ind rest
      }
      print pre line
    }'
}
# The text without colour, for reading it.
uncolored() { sed -E 's/\x1b\[[0-9;]*m//g' "$@"; }

# --- Processes of our own, ended by pid -----------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/portdemo-demo.XXXXXX")
declare -A server_pid=() server_shown=()
aux_pid=   # a client running beside the demo (chapter 3's held connections)

# True while pid $1 runs (a zombie, ended but not yet reaped, counts as ended).
alive() {
  local stat
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}
# Ends a process this script started, by its pid: signal $2 (INT: a server prints its summary),
# at most 5 s, then TERM and KILL; reaps it.
stop_pid() {
  local pid=$1 sig=${2:-TERM} i
  [[ -n $pid ]] || return 0
  if alive "$pid"; then
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.05; done
    for s in TERM KILL; do
      alive "$pid" || break
      kill "-$s" "$pid" 2>/dev/null || true
      for ((i = 0; i < 40; i++)); do alive "$pid" || break; sleep 0.05; done
    done
  fi
  alive "$pid" || wait "$pid" 2>/dev/null || true
}

stop_everything() {
  local name
  stop_pid "$aux_pid" TERM
  aux_pid=
  for name in "${!server_pid[@]}"; do
    stop_pid "${server_pid[$name]}" INT
    unset "server_pid[$name]"
  done
}
# shellcheck disable=SC2317  # reached through the trap
cleanup() {
  local rc=$?
  trap '' INT TERM
  set +e
  stop_everything
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo; exit 130' INT
trap 'exit 143' TERM

# --- Servers ---------------------------------------------------------------------------------

# start_server NAME ARGS...: demo-server ARGS, its text in $work/NAME.txt; waits (at most 5 s)
# for its "ready" line, or for it to end (nothing could listen).
start_server() {
  local name=$1 i
  shift
  "$server_bin" "$@" --color "$color" </dev/null >"$work/$name.txt" 2>&1 &
  server_pid[$name]=$!
  server_shown[$name]=0
  for ((i = 0; i < 100; i++)); do
    uncolored "$work/$name.txt" | grep -qE '^(ready|stopped)' && return 0
    alive "${server_pid[$name]}" || return 0
    sleep 0.05
  done
  say "  (the server has not said it is ready within 5 s; the demo goes on)"
}

# Shows what server NAME printed since the last call, each line marked as the server's.
server_says() {
  local name=$1 total
  total=$(wc -l <"$work/$name.txt")
  if ((total > server_shown[$name])); then
    tail -n "+$((server_shown[$name] + 1))" "$work/$name.txt" | head -n "$((total - server_shown[$name]))" |
      prefixed "  server | "
    server_shown[$name]=$total
  fi
}

# Marks what server NAME printed so far as shown, with one line instead: how many connections
# (or datagrams) it logged meanwhile.
server_skip() {
  local name=$1 total n
  total=$(wc -l <"$work/$name.txt")
  if ((total > server_shown[$name])); then
    n=$(tail -n "+$((server_shown[$name] + 1))" "$work/$name.txt" | head -n "$((total - server_shown[$name]))" |
      uncolored | grep -cE '^(connection|datagram) #' || true)
    if ((n == 1)); then
      say "  server | (1 connection logged, with its client's port: not shown)"
    else
      say "  server | ($n connections logged, one by one, each with its client's new port: not shown)"
    fi
    server_shown[$name]=$total
  fi
}

# Stops server NAME (SIGINT, as Ctrl-C) and shows what it printed last: its summary.
stop_server() {
  local name=$1
  [[ -n ${server_pid[$name]:-} ]] || return 0
  stop_pid "${server_pid[$name]}" INT
  unset "server_pid[$name]"
  server_says "$name"
}

# The ports server NAME reports on its ready line ("ready: 4 sockets listening on ports 8080,
# 8443"), less those that FAILED on one of its addresses: a client of localhost could reach
# another program's listener there.
listening_ports() {
  local -a failed
  read -r -a failed <<<"$(uncolored "$work/$1.txt" |
    sed -nE 's/^FAILED +(\[[^]]*\]|[^ ]*):([0-9]+) .*/\2/p' | tr '\n' ' ')"
  local p f
  for p in $(uncolored "$work/$1.txt" | sed -nE 's/^ready: .* listening on ports? ([0-9, ]+).*/\1/p' |
    tr -d ' ' | tr ',' ' '); do
    for f in "${failed[@]}"; do [[ $f != "$p" ]] || continue 2; done
    printf '%s ' "$p"
  done
}
# Whether server NAME's port $2 speaks HTTPS (its listening line says so).
is_tls_port() {
  uncolored "$work/$1.txt" | grep -qE "^listening +[^ ]*:$2 .*HTTPS \\(TLS\\)"
}

# start_fixed NAME SPEC [ARGS...]: "demo-server --ports SPEC ARGS", and if every port in SPEC is
# taken, --ports 0 instead. Sets live=(the ports that listen), empty if none, and fell_back=1
# if it took --ports 0.
fell_back=0
start_fixed() {
  local name=$1 spec=$2
  shift 2
  fell_back=0
  cmd "demo-server --ports $spec${*:+ $*}"
  start_server "$name" --ports "$spec" "$@"
  server_says "$name"
  read -r -a live <<<"$(listening_ports "$name")"
  if ((${#live[@]} == 0)); then
    stop_pid "${server_pid[$name]}" INT
    say ""
    say "Every port in $spec is taken on this machine (see above), so the demo asks the kernel"
    say "for a free port instead: --ports 0"
    cmd "demo-server --ports 0${*:+ $*}"
    fell_back=1
    start_server "$name" --ports 0 "$@"
    server_says "$name"
    read -r -a live <<<"$(listening_ports "$name")"
  fi
}

# run_tool PREFIX SECONDS COMMAND...: runs COMMAND (at most SECONDS), stdin empty, and shows its
# output (stdout and stderr) behind PREFIX. Its exit code is left in tool_rc.
tool_rc=0
run_tool() {
  local pre=$1 limit=$2
  shift 2
  tool_rc=0
  timeout --foreground -k 2 "$limit" "$@" </dev/null >"$work/tool.txt" 2>&1 || tool_rc=$?
  prefixed "$pre" <"$work/tool.txt"
}

# condensed: demo-client's text, with the blocks of connections after the first one left out
# (one line says how many), and without the histogram of the ports (shown once already).
condensed() {
  awk '
    function plain(s) { gsub(esc "\\[[0-9;]*m", "", s); return s }
    function flush() {
      if (skipped) {
        printf "(connections #%d to #%d: the same, each on a new local port)\n", from, upto
        skipped = 0
      }
    }
    BEGIN { esc = sprintf("%c", 27) }
    {
      p = plain($0)
      if (p ~ /^(connected|answered) #[0-9]+/) {
        n = p; sub(/^[a-z]+ #/, "", n); n += 0
        if (n > 1) { if (!skipped) from = n; skipped = 1; upto = n; inblock = 1; next }
        inblock = 0
      } else if (inblock && p ~ /^  /) {
        next
      } else {
        inblock = 0
      }
      if (p ~ /^  client ports over this host/) { hist = 1; next }
      if (hist && p ~ /^    /) next
      hist = 0
      flush()
      print
    }
    END { flush() }'
}

# --- Chapters --------------------------------------------------------------------------------

cutoff=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null || echo unknown)
read -r eph_low eph_high < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
eph_low=${eph_low:-32768} eph_high=${eph_high:-60999}

chapter_1() {
  bold "A server listens on ports it chose itself: they are fixed, and clients must know them."
  start_fixed ch1 "$ports"
  if ((${#live[@]} == 0)); then
    say "The server could not listen on any port; this chapter cannot go on."
    return 0
  fi
  local first=${live[0]} second=${live[1]:-${live[0]}}
  if ((!fell_back)) && [[ ,$ports, != *,$first,* ]]; then
    say "(Port ${ports%%,*} is taken here, as the server said; the demo goes on with port $first.)"
  fi
  pause 2

  say ""
  bold "Three clients connect to port $first. Watch the columns: the server's port stays $first,"
  bold "the client's port is new every time, chosen by the kernel from its ephemeral range."
  for _ in 1 2 3; do
    cmd "demo-client localhost $first"
    run_tool "  client | " 30 "$client_bin" localhost "$first" --color "$color"
    pause 1
  done
  say ""
  say "The server saw the same three connections, mirrored: its local is the client's remote."
  server_says ch1
  pause 2

  say ""
  bold "Any client works: nc sends nothing, and still gets the server's view of its connection."
  cmd "nc localhost $second"
  if command -v nc >/dev/null; then
    run_tool "  nc     | " 10 nc -w 3 localhost "$second"
  else
    say "  (nc is not installed here; scripts/install-deps.sh installs netcat-openbsd)"
  fi
  server_says ch1
  pause 2

  say ""
  bold "The lecturer stops the server (Ctrl-C): it sums up what it saw."
  stop_server ch1
}

chapter_2() {
  bold "One host, several services: each listens on a fixed port of its own, and the port"
  bold "names the service. One demo-server plays two: HTTP and HTTPS."
  local -a req extra=()
  IFS=, read -r -a req <<<"$ports"
  # 443 and 8443 speak HTTPS by themselves; another second port is asked to with --tls.
  if [[ -n ${req[1]:-} && ${req[1]} != 443 && ${req[1]} != 8443 ]]; then extra=(--tls "${req[1]}"); fi
  start_fixed ch2 "$ports" "${extra[@]}"
  local http_port='' https_port='' p
  for p in "${live[@]}"; do
    if is_tls_port ch2 "$p"; then
      [[ -n $https_port ]] || https_port=$p
    else
      [[ -n $http_port ]] || http_port=$p
    fi
  done
  if [[ -z $http_port ]]; then
    say "(The server has no plain HTTP port here; a second demo-server takes a port the kernel"
    say " chooses.)"
    start_fixed ch2http 0
    http_port=${live[0]:-}
  fi
  if [[ -z $https_port ]]; then
    say "(The server has no HTTPS port here; a second demo-server takes a port the kernel chooses"
    say " and speaks HTTPS on it.)"
    start_fixed ch2tls 0 --tls 0
    https_port=${live[0]:-}
  fi
  pause 2

  local -a client_ports=()
  if ! command -v curl >/dev/null; then
    say "(curl is not installed here, so no web client asks; scripts/install-deps.sh installs it)"
    http_port='' https_port=''
  fi
  if [[ -n $http_port ]]; then
    say ""
    bold "curl, a web client, asks the HTTP service on port $http_port:"
    cmd "curl http://localhost:$http_port/"
    run_tool "  curl   | " 15 curl -sS --max-time 10 "http://localhost:$http_port/"
    client_ports+=("$(uncolored "$work/tool.txt" | sed -nE 's/^ *your port[^:]*: +[^ ]*:([0-9]+).*/\1/p' | head -n 1)")
    server_says ch2
    [[ -z ${server_pid[ch2http]:-} ]] || server_says ch2http
    pause 2
  fi
  if [[ -n $https_port ]]; then
    say ""
    bold "And the HTTPS service on port $https_port (-k: the certificate is self-signed):"
    cmd "curl -k https://localhost:$https_port/"
    run_tool "  curl   | " 15 curl -sS -k --max-time 10 "https://localhost:$https_port/"
    client_ports+=("$(uncolored "$work/tool.txt" | sed -nE 's/^ *your port[^:]*: +[^ ]*:([0-9]+).*/\1/p' | head -n 1)")
    server_says ch2
    [[ -z ${server_pid[ch2tls]:-} ]] || server_says ch2tls
    pause 2
  fi
  if [[ -n $http_port && -n $https_port && -n ${client_ports[0]:-} && -n ${client_ports[1]:-} ]]; then
    say ""
    say "Two services on one host: server ports $http_port and $https_port, fixed, one for each"
    say "service; client ports ${client_ports[0]} and ${client_ports[1]}, new for each connection."
    pause 1
  fi

  say ""
  bold "A student tries port 80, the HTTP port, without the privilege to bind it."
  if [[ $cutoff == 0 ]]; then
    say "   (This host's cut-off is 0: no port is privileged here, as in most containers.)"
  else
    say "   (This host's cut-off: ports below $cutoff are privileged.)"
  fi
  if [[ $cutoff =~ ^[0-9]+$ ]] && ((cutoff <= 80)); then
    say "   Port 80 is not privileged on this host (net.ipv4.ip_unprivileged_port_start is"
    say "   $cutoff, not above 80), so nothing is refused: any process may bind it. Here it is:"
    cmd "demo-server --ports 80 --strict"
    run_tool "  student| " 10 timeout -s INT 1 "$server_bin" --ports 80 --strict --color "$color"
  elif (($(id -u) == 0)) && command -v capsh >/dev/null; then
    cmd "demo-server --ports 80      (run as root with CAP_NET_BIND_SERVICE dropped, like a student)"
    run_tool "  student| " 10 capsh --drop=cap_net_bind_service -- -c \
      "timeout -s INT 2 '$server_bin' --ports 80 --color $color"
  else
    cmd "demo-server --ports 80"
    run_tool "  student| " 10 timeout -s INT 2 "$server_bin" --ports 80 --color "$color"
  fi
  pause 2

  say ""
  if [[ -n ${server_pid[ch2http]:-}${server_pid[ch2tls]:-} ]]; then
    bold "The lecturer stops the servers: two services, each on its own fixed port."
  else
    bold "The lecturer stops the server: one process, two services, each on its own fixed port."
  fi
  stop_server ch2
  stop_server ch2http
  stop_server ch2tls
}

chapter_3() {
  bold "Every connection needs a client port of its own, and the kernel takes them from one"
  bold "range: this host's ephemeral range, $eph_low-$eph_high (net.ipv4.ip_local_port_range)."
  say "So at most $((eph_high - eph_low + 1)) connections at once from one client address to one server"
  say "address and port."
  start_fixed ch3 "${ports%%,*}"
  if ((${#live[@]} == 0)); then
    say "The server could not listen on any port; this chapter cannot go on."
    return 0
  fi
  local p=${live[0]}
  pause 2

  say ""
  bold "500 connections, 50 at a time. Where in the range did the kernel take their ports from?"
  cmd "demo-client localhost $p --count 500 --parallel 50"
  run_tool "  client | " 60 "$client_bin" localhost "$p" --count 500 --parallel 50 --color "$color"
  server_skip ch3
  say "One server port, $p, every time; a new client port for every connection, all from"
  say "the ephemeral range (the histogram shows where)."
  pause 3

  say ""
  bold "Now 20 connections held open for 3 s. Meanwhile ss lists them from the kernel's table."
  cmd "demo-client localhost $p --count 20 --hold 3"
  timeout -k 2 30 "$client_bin" localhost "$p" --count 20 --hold 3 --color "$color" \
    </dev/null >"$work/hold.txt" 2>&1 &
  aux_pid=$!
  # Until it holds the connections (at most 10 s).
  local i at=0
  for ((i = 0; i < 200; i++)); do
    at=$(uncolored "$work/hold.txt" | grep -nE '^(note: holding|summary:)' | head -n 1 | cut -d: -f1 || true)
    [[ -z $at ]] || break
    alive "$aux_pid" || break
    sleep 0.05
  done
  [[ -n $at ]] || at=$(wc -l <"$work/hold.txt")
  head -n "$at" "$work/hold.txt" | condensed | prefixed "  client | "
  local filter="( dport = :$p )"
  cmd "ss -tn state established '$filter'"
  if command -v ss >/dev/null; then
    ss -tn state established "$filter" >"$work/ss.txt" 2>&1 || true
    local rows n
    rows=$(($(wc -l <"$work/ss.txt") - 1))
    # (The empty Process column's title goes: "Peer Address:PortProcess" misleads.)
    head -n 7 "$work/ss.txt" | sed '1s/ *Process *$//' | prefixed "  ss     | "
    ((rows <= 6)) || say "  ss     | ... and $((rows - 6)) more like these"
    n=$(ss -Htn state established "$filter" 2>/dev/null | wc -l)
    bold "established connections to port $p: $n (the client holds them open)"
  else
    say "  (ss is not installed here; scripts/install-deps.sh installs iproute2)"
  fi
  # The client lets them go after 3 s (at most 20 s more).
  for ((i = 0; i < 400; i++)); do alive "$aux_pid" || break; sleep 0.05; done
  stop_pid "$aux_pid" TERM
  aux_pid=
  tail -n "+$((at + 1))" "$work/hold.txt" | condensed | prefixed "  client | "
  server_skip ch3
  pause 2

  say ""
  bold "Are the printed ports the kernel's own? --verify looks each socket up in /proc/net/tcp."
  cmd "demo-client localhost $p --verify"
  run_tool "  client | " 30 "$client_bin" localhost "$p" --verify --color "$color"
  server_skip ch3
  pause 2

  say ""
  bold "The lecturer stops the server: it counted every connection and every client port."
  stop_server ch3
}

# A UDP port on 127.0.0.1 that nothing listens on: the kernel picks a free one, and lets go.
closed_udp_port() {
  python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' 2>/dev/null || echo 9
}

chapter_4() {
  if ! "$client_bin" --help 2>&1 | grep -q -- '--udp' ||
    ! "$server_bin" --help 2>&1 | grep -q -- '--udp'; then
    say "UDP support is not built yet: demo-client --help does not mention --udp. This chapter"
    say "is left out; the demo goes on."
    return 0
  fi
  bold "UDP has ports too, fixed for the server and ephemeral for the client, but no connection:"
  bold "every datagram carries both ports, and the server answers the address:port it came from."
  cmd "demo-server --udp 0 --bind 127.0.0.1"
  start_server ch4 --udp 0 --bind 127.0.0.1
  server_says ch4
  local p
  p=$(uncolored "$work/ch4.txt" | sed -nE 's/^listening +127\.0\.0\.1:([0-9]+) .*UDP.*/\1/p' | head -n 1)
  [[ -n $p ]] || p=$(listening_ports ch4 | awk '{ print $1 }')
  if [[ -z $p ]]; then
    say "The server could not bind a UDP port (see above); this chapter cannot go on."
    stop_server ch4
    return 0
  fi
  pause 2

  say ""
  bold "Two clients send a datagram each to UDP port $p: the server's port stays, theirs change."
  for _ in 1 2; do
    cmd "demo-client --udp 127.0.0.1 $p"
    run_tool "  client | " 30 "$client_bin" --udp 127.0.0.1 "$p" --color "$color"
    pause 1
  done
  say ""
  say "The server's view of the same two datagrams:"
  server_says ch4
  pause 2

  local closed
  closed=$(closed_udp_port)
  say ""
  bold "Nothing listens on UDP port $closed. The kernel answers a datagram to it with an ICMP"
  bold "\"port unreachable\", and the client reports that the port refused it."
  cmd "demo-client --udp 127.0.0.1 $closed"
  run_tool "  client | " 30 "$client_bin" --udp 127.0.0.1 "$closed" --color "$color"
  say "  (demo-client ended with exit $tool_rc)"
  pause 2

  say ""
  bold "The lecturer stops the server: datagrams, not connections."
  stop_server ch4
}

chapter_5() {
  bold "On loopback both ends are 127.0.0.1. Two network namespaces play two hosts, with two"
  bold "addresses, joined by a virtual cable; the same programs run on them."
  cmd "scripts/two-hosts.sh"
  DEMO_SERVER=$server_bin DEMO_CLIENT=$client_bin run_tool "  " 90 scripts/two-hosts.sh
  case $tool_rc in
    0) ;;
    77)
      say ""
      say "This machine does not let the demo make two hosts: that needs root and permission to"
      say "create network namespaces (the message above says which is missing). On a lecture"
      say "machine, run sudo scripts/two-hosts.sh. The demo goes on." ;;
    124 | 137) say "" ; say "two-hosts.sh did not finish within 90 s; the demo goes on." ;;
    *) say "" ; say "two-hosts.sh ended with exit $tool_rc (its message is above); the demo goes on." ;;
  esac
}

chapter_6() {
  bold "A router between the two hosts rewrites addresses and ports (NAT): the client's view and"
  bold "the server's no longer mirror. Both ends name the rewrite; the router's conntrack has it."
  cmd "scripts/nat.sh"
  DEMO_SERVER=$server_bin DEMO_CLIENT=$client_bin run_tool "  " 90 scripts/nat.sh
  case $tool_rc in
    0) ;;
    77)
      say ""
      say "This machine does not let the demo build a router with NAT: that needs root, network"
      say "namespaces, and nft and conntrack (the message above says which is missing;"
      say "scripts/install-deps.sh installs nftables and conntrack). On a lecture machine, run"
      say "sudo scripts/nat.sh. The demo goes on." ;;
    124 | 137) say "" ; say "nat.sh did not finish within 90 s; the demo goes on." ;;
    *) say "" ; say "nat.sh ended with exit $tool_rc (its message is above); the demo goes on." ;;
  esac
}

chapter_7() {
  bold "tshark captures one connection on the loopback interface: its SYN, SYN-ACK and first"
  bold "data segment carry the same four facts the programs read from the kernel."
  cmd "scripts/capture.sh"
  DEMO_SERVER=$server_bin DEMO_CLIENT=$client_bin run_tool "  " 90 scripts/capture.sh
  case $tool_rc in
    0) ;;
    77)
      say ""
      say "No packets can be captured here: tshark is missing, or capturing is not permitted"
      say "(the message above says which). scripts/install-deps.sh installs tshark; run the"
      say "capture as root. The demo goes on." ;;
    124 | 137) say "" ; say "capture.sh did not finish within 90 s; the demo goes on." ;;
    *) say "" ; say "capture.sh ended with exit $tool_rc (its message is above); the demo goes on." ;;
  esac
}

chapter_8() {
  bold "The board: GET /board on any HTTP port shows every connection live, for the projector."
  bold "Its page follows GET /events; here curl reads that stream while clients connect."
  start_fixed ch8 "$ports"
  if ((${#live[@]} == 0)); then
    say "The server could not listen on any port; this chapter cannot go on."
    return 0
  fi
  local p=${live[0]} scheme=http
  is_tls_port ch8 "$p" && scheme=https
  say ""
  cmd "curl -N $scheme://localhost:$p/events      # what the board page reads"
  timeout -k 2 30 curl -sSkN "$scheme://localhost:$p/events" </dev/null >"$work/events.txt" 2>&1 &
  aux_pid=$!
  local i
  for ((i = 0; i < 100; i++)); do grep -q '^event: snapshot' "$work/events.txt" && break; sleep 0.05; done
  cmd "demo-client localhost $p --count 3      # and nc, as a second program"
  run_tool "  client | " 30 "$client_bin" localhost "$p" --count 3 --color "$color"
  pause 1
  echo | timeout 5 nc -q 1 localhost "$p" >/dev/null 2>&1 || true
  # A batch goes out at most 100 ms after its first connection.
  sleep 0.3
  server_skip ch8
  say ""
  bold "The stream, as the board shows it: each connection, its client's port, the server's port."
  sed -nE 's/^data: \{"id":([0-9]+),"proto":"([a-z]+)".*"local":\{"address":"[^"]*","port":([0-9]+)\},"remote":\{"address":"([^"]*)","port":([0-9]+)\}.*/connection #\1  \2  client \4:\5  ->  server port \3/p' \
    "$work/events.txt" | prefixed "  board  | "
  sed -nE 's/^data: \{"connections":([0-9]+),"distinct_clients":([0-9]+).*/totals: \1 connections from \2 distinct client address(es)/p' \
    "$work/events.txt" | tail -n 1 | prefixed "  board  | "
  stop_pid "$aux_pid" TERM
  aux_pid=
  pause 1
  say ""
  say "On the projector: chromium --kiosk $scheme://localhost:$p/board"
  say "In a classroom, demo-server --bind 0.0.0.0 --bind :: prints the URL the students open,"
  say "and a QR code of it for their phones; --mask-addresses hides their addresses."
  stop_server ch8
}

# "request N: client port P (protocol, stream S)" for each /json answer curl printed.
json_ports() {
  local line port req proto stream
  while IFS= read -r line; do
    [[ $line == '{"event":"server_view"'* ]] || continue
    port=$(sed -nE 's/.*"remote":\{"address":"[^"]*","port":([0-9]+)\}.*/\1/p' <<<"$line")
    req=$(sed -nE 's/.*"request":([0-9]+).*/\1/p' <<<"$line")
    proto=$(sed -nE 's/.*"protocol":"([^"]*)".*/\1/p' <<<"$line")
    stream=$(sed -nE 's/.*"stream":([0-9]+).*/\1/p' <<<"$line")
    say "  request $req on its connection: client port $port  ($proto${stream:+, stream $stream})"
  done <"$1"
}

chapter_9() {
  bold "A browser today rarely speaks HTTP/1.1 alone. HTTP/2 carries every request of a page on"
  bold "one connection, so one client port; HTTP/3 runs over QUIC, on UDP, and its connection"
  bold "is named by IDs, not by the four facts, so it survives the client's port changing."
  local -a extra=()
  local quic=0
  if "$server_bin" --help 2>/dev/null | grep -q -- '--quic'; then quic=1; extra=(--quic); fi
  start_fixed ch9 "$ports" "${extra[@]}"
  local plain='' tls='' p
  for p in "${live[@]}"; do
    if is_tls_port ch9 "$p"; then [[ -n $tls ]] || tls=$p; else [[ -n $plain ]] || plain=$p; fi
  done
  if [[ -z $plain ]]; then
    say "(No plain HTTP port here: a second demo-server takes one the kernel chooses.)"
    start_fixed ch9plain 0
    plain=${live[0]:-}
  fi
  if [[ -z $plain ]]; then
    say "The server could not listen on any port; this chapter cannot go on."
    return 0
  fi
  pause 1
  say ""
  bold "HTTP/1.1: one request at a time on a connection. Two curl runs, two connections, two ports:"
  cmd "curl http://localhost:$plain/json; curl http://localhost:$plain/json"
  local i
  for i in 1 2; do curl -sS --max-time 10 "http://localhost:$plain/json" </dev/null; done >"$work/h1.txt" 2>&1 || true
  json_ports "$work/h1.txt" | prefixed "  curl   | "
  say "Kept alive, one connection carries them one after another, on one port:"
  cmd "curl http://localhost:$plain/json http://localhost:$plain/json"
  curl -sS --max-time 10 "http://localhost:$plain/json" "http://localhost:$plain/json" </dev/null >"$work/h1k.txt" 2>&1 || true
  json_ports "$work/h1k.txt" | prefixed "  curl   | "
  server_skip ch9
  [[ -z ${server_pid[ch9plain]:-} ]] || server_skip ch9plain
  pause 2
  say ""
  bold "HTTP/2: many requests at once, each on a stream of its own, all on one connection:"
  cmd "demo-client localhost $plain --http2 --requests 5"
  run_tool "  client | " 30 "$client_bin" localhost "$plain" --http2 --requests 5 --color "$color"
  server_skip ch9
  [[ -z ${server_pid[ch9plain]:-} ]] || server_skip ch9plain
  if [[ -n $tls ]]; then
    say "A browser's way: h2 chosen inside TLS (ALPN), here by curl (-k: a self-signed certificate):"
    cmd "curl -k --http2 https://localhost:$tls/json (three times, in one run)"
    curl -sSk --http2 --max-time 10 "https://localhost:$tls/json" "https://localhost:$tls/json" \
      "https://localhost:$tls/json" </dev/null >"$work/h2.txt" 2>&1 || true
    json_ports "$work/h2.txt" | prefixed "  curl   | "
    server_skip ch9
    if "$client_bin" --help 2>/dev/null | grep -q -- '--tls'; then
      say "The same with demo-client, which shows both ends and what TLS chose:"
      cmd "demo-client localhost $tls --http2 --tls -k --requests 3"
      run_tool "  client | " 30 "$client_bin" localhost "$tls" --http2 --tls -k --requests 3 --color "$color"
      server_skip ch9
    fi
  fi
  pause 2
  say ""
  if ((quic == 0)); then
    say "HTTP/3: this demo-server was built without --quic, so the QUIC part is left out."
  elif [[ -z $tls ]]; then
    say "HTTP/3: no TLS port listens here, and QUIC needs one's number; left out."
  else
    bold "HTTP/3: QUIC on UDP port $tls. --rebind moves the client to a new port mid-connection:"
    cmd "demo-client localhost $tls --http3 -k --rebind"
    run_tool "  client | " 30 "$client_bin" localhost "$tls" --http3 -k --rebind --color "$color"
    server_says ch9
  fi
  pause 1
  say ""
  say "The server's port stayed fixed throughout; what changed was how many client ports the"
  say "page needed: one per connection (HTTP/1.1), one for all (HTTP/2), and on QUIC, a port"
  say "that may even change under a connection that goes on."
  stop_server ch9
  [[ -z ${server_pid[ch9plain]:-} ]] || stop_server ch9plain
}

# --- The run ---------------------------------------------------------------------------------

if ((whole)); then
  bold "portdemo: how ports work, in $last_chapter chapters"
else
  bold "portdemo: how ports work"
fi
for ((k = 0; k < ${#chapters[@]}; k++)); do
  c=${chapters[$k]}
  heading="Chapter $c of $last_chapter: ${titles[$c]}"
  say ""
  bold "$heading"
  bold "${heading//?/=}"
  "chapter_$c"
  stop_everything
  if ((k + 1 < ${#chapters[@]})); then
    next=${chapters[$((k + 1))]}
    if ((interactive)); then
      say ""
      answer=
      if ! read -r -p "Press Enter for chapter $next (or q to quit) " answer || [[ $answer == [qQ]* ]]; then
        say ""
        say "Stopped after chapter $c. scripts/demo.sh $next goes on from there."
        exit 0
      fi
    else
      pause 1.5
    fi
  fi
done

# After chapter 1, what to try by hand.
if [[ " ${chapters[*]} " == *" 1 "* ]]; then
  say ""
  bold "Your turn. In one terminal:"
  say "  $server_bin --ports 8080,8443"
  bold "In another, again and again:"
  say "  $client_bin localhost 8080"
  say "  nc localhost 8443"
fi
