#!/usr/bin/env bash
# The packets on the wire: captures one demo-client connection with tshark and prints its SYN,
# SYN-ACK and first data segment next to the tuple the programs reported from the kernel.
#
#   scripts/capture.sh                 start a demo-server of its own on a port the kernel
#                                      chooses, capture one connection to it, stop the server
#   scripts/capture.sh PORT [HOST]     capture a connection to the server on PORT (HOST:
#                                      default 127.0.0.1; loopback addresses only). If nothing
#                                      listens there, a demo-server of its own is started on it.
#   scripts/capture.sh --json ...      one JSON object instead of the text (for tests)
#
#   DEMO_SERVER, DEMO_CLIENT           the binaries (default: build/ci/... of this checkout)
#   NO_COLOR                           no bold text, even on a terminal
#
# Exit: 0 captured (the last line says whether wire and programs agree; --json: "agree"),
# 1 they disagree, 64 bad arguments, 69 the capture or the connection failed (the message
# says which), 70 a program's output made no sense, 77 tshark is missing or capturing is not
# permitted here.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
server_bin=${DEMO_SERVER:-$root/build/ci/server/demo-server}
client_bin=${DEMO_CLIENT:-$root/build/ci/client/demo-client}

# Bounds, in seconds: every wait below ends at the latest after these.
readonly CAPTURE_START_WAIT=15   # tshark: until it says "Capturing on ..."
readonly SERVER_START_WAIT=5     # our demo-server: until its `ready` event
readonly CLIENT_WAIT=20          # the whole demo-client run
readonly PACKETS_WAIT=5          # until the capture holds the first data segment
readonly STOP_WAIT=5             # a process we stop: until it has ended
readonly CAPTURE_DURATION=60     # tshark's own limit (-a duration:), should all else fail
readonly CAPTURE_PACKETS=500     # tshark's packet limit (-c)

usage() {
  cat <<'EOF'
usage: scripts/capture.sh [--json] [PORT [HOST]]
  Captures one demo-client connection with tshark on the loopback interface and shows its
  SYN, SYN-ACK and first data segment next to the tuple the programs reported.
  PORT  the server's port (1-65535); without it, or with 0, a demo-server of this script's
        own listens on a port the kernel chooses, and is stopped at the end
  HOST  the server's address: 127.0.0.1 (default), another 127.x.y.z, or ::1
EOF
}

json=0
args=()
for a in "$@"; do
  case $a in
    --json) json=1 ;;
    -h | --help) usage; exit 0 ;;
    -*) printf 'capture.sh: unknown option %q\n' "$a" >&2; usage >&2; exit 64 ;;
    *) args+=("$a") ;;
  esac
done
if ((${#args[@]} > 2)); then
  echo "capture.sh: too many arguments (expected at most PORT and HOST)" >&2
  usage >&2
  exit 64
fi
port=${args[0]:-0}
host=${args[1]:-127.0.0.1}

if ! [[ $port =~ ^[0-9]{1,5}$ ]] || ((10#$port > 65535)); then
  printf 'capture.sh: PORT %q is not a port number 1-65535 (0 or none: a server of its own)\n' \
    "$port" >&2
  exit 64
fi
port=$((10#$port))

# Loopback only: the packets never leave this machine, and the interface is `lo`.
host=${host#[}
host=${host%]}
octet='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
if [[ $host =~ ^127\.$octet\.$octet\.$octet$ ]]; then
  family=4
elif [[ ${host,,} == ::1 || $host == 0:0:0:0:0:0:0:1 ]]; then
  family=6
  host=::1
else
  printf 'capture.sh: HOST %q is not a loopback address; use 127.0.0.1 (or 127.x.y.z) or ::1\n' \
    "$host" >&2
  exit 64
fi

# The interface follows from the target address: loopback traffic travels only on `lo`.
interface_for() {
  case $1 in
    127.* | ::1) echo lo ;;
    *) return 1 ;;
  esac
}
iface=$(interface_for "$host")

for bin in "$server_bin" "$client_bin"; do
  if [[ ! -x $bin ]]; then
    echo "capture.sh: $bin is not an executable: build first (cmake --build --preset ci)," \
      "or set DEMO_SERVER and DEMO_CLIENT" >&2
    exit 69
  fi
done
if ! command -v python3 >/dev/null; then
  echo "capture.sh: python3 is needed to read the programs' JSON (scripts/install-deps.sh)" >&2
  exit 69
fi
if ! command -v tshark >/dev/null; then
  echo "capture.sh: tshark is not installed, so no packets can be captured here." >&2
  echo "            Install it with scripts/install-deps.sh (Debian package tshark)." >&2
  exit 77
fi

# --- Output ------------------------------------------------------------------------------------

bold_on='' bold_off=''
if [[ $json == 0 && -t 1 && -z ${NO_COLOR:-} ]]; then
  bold_on=$'\033[1m' bold_off=$'\033[0m'
fi
say() { [[ $json == 1 ]] || printf '%s\n' "$*"; }
head_line() { [[ $json == 1 ]] || printf '%s%s%s\n' "$bold_on" "$*" "$bold_off"; }
fail() { # fail CODE MESSAGE...: a message on stderr, then exit (the trap cleans up)
  local code=$1
  shift
  printf 'capture.sh: %s\n' "$1" >&2
  shift
  (($# == 0)) || printf '  %s\n' "$@" >&2
  exit "$code"
}

# --- Processes of our own, ended by pid ----------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/portdemo-capture.XXXXXX")
chmod 755 "$work" # dumpcap may run as another user and must write the capture file here
server_pid='' tshark_pid=''

now() { # milliseconds since the epoch
  local t=${EPOCHREALTIME/[.,]/}
  echo $((t / 1000))
}

alive() { # alive PID: the process runs (a zombie no longer counts)
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

# stop_pid PID SIGNAL: sends SIGNAL to PID, waits (bounded) for it to end, then SIGKILL.
stop_pid() {
  local pid=$1 sig=$2 deadline
  if alive "$pid"; then
    kill "-$sig" "$pid" 2>/dev/null || true
    deadline=$(($(now) + STOP_WAIT * 1000))
    while alive "$pid" && (($(now) < deadline)); do sleep 0.05; done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  wait "$pid" 2>/dev/null || true
}

# group_members PGID: the pids of the live processes in process group PGID.
group_members() {
  local f line
  local -a st
  for f in /proc/[0-9]*/stat; do
    { read -r line <"$f"; } 2>/dev/null || continue
    read -r -a st <<<"${line##*) }" # state ppid pgrp ...
    [[ ${st[2]} == "$1" && ${st[0]} != Z ]] && echo "${f//[^0-9]/}"
  done
  return 0
}

# stop_tshark SIGNAL: stops our tshark, then by pid whatever of its process group it left behind
# (tshark runs in a session of its own: its pid is the group's id). SIGINT stops a running
# capture cleanly, the file written out, but tshark holds it back for seconds while it starts;
# SIGTERM ends it at once then, though it may leave its dumpcap running.
stop_tshark() {
  local pid=$tshark_pid member
  tshark_pid=''
  stop_pid "$pid" "$1"
  [[ $tshark_group == 1 ]] || return 0
  for member in $(group_members "$pid"); do
    stop_pid "$member" TERM
  done
}

# shellcheck disable=SC2317 # called by the trap
cleanup() {
  if [[ -n $tshark_pid ]]; then stop_tshark TERM; fi
  if [[ -n $server_pid ]]; then stop_pid "$server_pid" TERM; server_pid=''; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for FILE PATTERN SECONDS PID: true once FILE has a line matching PATTERN (ERE); false
# when SECONDS pass or PID (the process writing FILE) has ended without writing it.
wait_for() {
  local file=$1 pattern=$2 deadline=$(($(now) + $3 * 1000)) pid=$4
  while (($(now) < deadline)); do
    grep -qE -- "$pattern" "$file" 2>/dev/null && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      grep -qE -- "$pattern" "$file" 2>/dev/null && return 0
      return 1
    fi
    sleep 0.05
  done
  return 1
}

ep() { # ep ADDRESS PORT: 127.0.0.1:8080 or [::1]:8080
  if [[ $1 == *:* ]]; then echo "[$1]:$2"; else echo "$1:$2"; fi
}

# --- The server: the user's, or one of our own ------------------------------------------------

listening_here() { # whether a socket listens on HOST:PORT, or on the wildcard address, PORT
  command -v ss >/dev/null || return 0 # cannot tell: let the client find out
  local quoted=$host
  [[ $family == 4 ]] || quoted="[$host]"
  [[ -n $(ss -Hltn "( sport = :$port ) and ( src $quoted or src 0.0.0.0 or src [::] )" \
    2>/dev/null) ]]
}

server_note=''
if ((port == 0)) || ! listening_here; then
  if ((port == 0)); then
    server_note="demo-server of this script, on a port the kernel chose"
  else
    server_note="demo-server of this script on $(ep "$host" "$port") (nothing listened there)"
  fi
  "$server_bin" --ports "$port" --bind "$host" --format json >"$work/server.json" \
    2>"$work/server.err" </dev/null &
  server_pid=$!
  if ! wait_for "$work/server.json" '"event":"ready"' "$SERVER_START_WAIT" "$server_pid"; then
    cat "$work/server.err" >&2 || true
    fail 69 "demo-server did not become ready within ${SERVER_START_WAIT} s" \
      "(on $(ep "$host" "$port"))"
  fi
  ready=$(grep -m1 '"event":"ready"' "$work/server.json")
  if ! [[ $ready =~ \"ports\":\[([0-9]+) ]]; then
    cat "$work/server.err" >&2 || true
    fail 69 "demo-server could not listen on $(ep "$host" "$port"): $ready"
  fi
  port=${BASH_REMATCH[1]}
  server_note+=", pid $server_pid"
else
  server_note="the server already listening on $(ep "$host" "$port")"
fi

# --- The capture ---------------------------------------------------------------------------

fields=(-T fields -E occurrence=f -E 'separator=|'
  -e frame.number -e ip.src -e ipv6.src -e tcp.srcport -e ip.dst -e ipv6.dst -e tcp.dstport
  -e tcp.flags.syn -e tcp.flags.ack -e tcp.len)
filter="tcp port $port"
# tshark says "Capturing on ..." a little before packets really reach it (a connection made at
# once can be missing from the capture). So the filter also takes UDP datagrams to port 9
# (discard) on the loopback address, and the script sends such probes until tshark shows one.
probe_port=9
capture_filter="$filter or (udp dst port $probe_port and dst host $host)"

# Written to a file (-w) and, for the waits below, printed live as fields (-P -l).
tshark_group=0
setsid=()
if command -v setsid >/dev/null; then setsid=(setsid) tshark_group=1; fi
"${setsid[@]}" tshark -i "$iface" -f "$capture_filter" \
  -c "$CAPTURE_PACKETS" -a "duration:$CAPTURE_DURATION" -w "$work/capture.pcapng" \
  -P -l "${fields[@]}" >"$work/live.tsv" 2>"$work/tshark.err" </dev/null &
tshark_pid=$!

# tshark_failed: tshark has ended or not started; a message and exit 77 if it was not permitted
# to capture, else 69.
tshark_failed() {
  local said
  said=$(grep -iE "permission to capture|capture privileges|not permitted|couldn't run.*dumpcap" \
    "$work/tshark.err" | head -n 2 | cut -c1-90 || true)
  if [[ -n $said ]]; then
    local -a lines
    mapfile -t lines <<<"$said"
    fail 77 "capturing on $iface is not permitted here, so no packets can be shown. tshark said:" \
      "${lines[@]/#/  }" \
      "Run it as root, or let this user capture (Debian: dpkg-reconfigure wireshark-common," \
      "then add the user to the wireshark group)."
  fi
  said=$(grep -vE '^Running as user|^ \*\* \(tshark|^Capturing on|^tshark: $|packets captured$' \
    "$work/tshark.err" | tail -n 3 | cut -c1-90 || true)
  fail 69 "tshark $1 on $iface." "tshark said: ${said:-nothing}"
}

if ! wait_for "$work/tshark.err" '^Capturing on ' "$CAPTURE_START_WAIT" "$tshark_pid"; then
  kill -0 "$tshark_pid" 2>/dev/null || tshark_failed "could not capture"
  fail 69 "tshark did not start capturing on $iface within ${CAPTURE_START_WAIT} s"
fi

# A probe in the live output: a line without TCP ports.
probe_re='^[0-9]+\|[^|]*\|[^|]*\|\|'
deadline=$(($(now) + CAPTURE_START_WAIT * 1000))
until grep -qE -- "$probe_re" "$work/live.tsv"; do
  kill -0 "$tshark_pid" 2>/dev/null || tshark_failed "stopped before it captured anything"
  (($(now) < deadline)) ||
    fail 69 "tshark did not capture the probe on $iface within ${CAPTURE_START_WAIT} s"
  (printf 'portdemo capture.sh: probe\n' >"/dev/udp/$host/$probe_port") 2>/dev/null || true
  sleep 0.1
done

head_line "The packets on the wire, next to what the programs reported"
say "  server   $server_note"
say "  capture  tshark on $iface (loopback), filter \"$filter\", pid $tshark_pid"
say "  client   demo-client $host $port"
say ""

# --- The client ----------------------------------------------------------------------------

client_rc=0
timeout -k 2 "$CLIENT_WAIT" "$client_bin" "$host" "$port" "-$family" --timeout 5 \
  --format json >"$work/client.json" 2>"$work/client.err" </dev/null || client_rc=$?
connected=$(grep -m1 '"event":"connected"' "$work/client.json" || true)
if [[ -z $connected ]]; then
  why=$(python3 -c '
import json, sys
for line in sys.stdin:
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("explanation"):
        print(e["explanation"])
' <"$work/client.json" | head -n 1 || true)
  [[ -n $why ]] || why=$(head -c 400 "$work/client.err")
  fail 69 "demo-client did not connect to $(ep "$host" "$port") (exit $client_rc):" "${why:-}"
fi

# The client's tuple and the server's view, from the `connected` event.
read -r c_la c_lp c_ra c_rp s_la s_lp s_ra s_rp s_id < <(python3 -c '
import json, sys
e = json.loads(sys.stdin.read())
def ep(x):
    x = x or {}
    return [str(x.get("address") or "-"), str(x.get("port") or "-")]
sv = e.get("server_view") or {}
print(" ".join(ep(e.get("local")) + ep(e.get("remote")) + ep(sv.get("local"))
               + ep(sv.get("remote")) + [str(sv.get("id") or "-")]))
' <<<"$connected")
addr_re='^[0-9A-Fa-f.:]+$'
for v in "$c_la" "$c_ra"; do
  [[ $v =~ $addr_re ]] || fail 70 "demo-client reported an unexpected address:" "$connected"
done
for v in "$c_lp" "$c_rp"; do
  [[ $v =~ ^[0-9]+$ ]] || fail 70 "demo-client reported an unexpected port:" "$connected"
done
have_view=0
if [[ $s_la =~ $addr_re && $s_ra =~ $addr_re && $s_lp =~ ^[0-9]+$ && $s_rp =~ ^[0-9]+$ ]]; then
  have_view=1
fi

# --- Wait until the capture holds the connection's first data segment, then stop it -----------

# A live line, fields split by |: frame, ip.src, ipv6.src, srcport, ip.dst, ipv6.dst, dstport,
# syn, ack, len. This one has data, between the client's port and the server's.
ports_re="($c_lp\|[^|]*\|[^|]*\|$c_rp|$c_rp\|[^|]*\|[^|]*\|$c_lp)"
data_re="^[0-9]+\|[^|]*\|[^|]*\|$ports_re\|[01]\|[01]\|[1-9]"
packets_seen=1
wait_for "$work/live.tsv" "$data_re" "$PACKETS_WAIT" "$tshark_pid" || packets_seen=0
stop_tshark INT

# Read the file back: all the packets, as fields.
if ! tshark -r "$work/capture.pcapng" -Y "tcp.port == $port" "${fields[@]}" \
  >"$work/packets.tsv" 2>"$work/read.err"; then
  fail 69 "tshark could not read its capture back:" "$(grep -v '^Running as user' \
    "$work/read.err" | head -n 3)"
fi

# --- Find the three segments ---------------------------------------------------------------

# Each found segment: frame, src address, src port, dst address, dst port, length.
declare -A seg=()
packets=0
first_syn='' # the first SYN to the port at all, shown if the client's own is missing
while IFS='|' read -r num ip4s ip6s sport ip4d ip6d dport syn ack len; do
  [[ $num =~ ^[0-9]+$ && $sport =~ ^[0-9]+$ && $dport =~ ^[0-9]+$ ]] || continue
  packets=$((packets + 1))
  src=${ip4s:-$ip6s} dst=${ip4d:-$ip6d} len=${len:-0}
  syn=${syn/True/1} ack=${ack/True/1}
  rec="$num $src $sport $dst $dport $len"
  if [[ $syn == 1 && $ack != 1 ]]; then
    [[ -n $first_syn ]] || first_syn=$rec
    if [[ -z ${seg[syn]:-} && $src == "$c_la" && $sport == "$c_lp" && $dst == "$c_ra" &&
      $dport == "$c_rp" ]]; then
      seg[syn]=$rec
    fi
  elif [[ $syn == 1 && $ack == 1 ]]; then
    if [[ -z ${seg[syn_ack]:-} && $src == "$c_ra" && $sport == "$c_rp" && $dst == "$c_la" &&
      $dport == "$c_lp" ]]; then
      seg[syn_ack]=$rec
    fi
  elif [[ $len =~ ^[1-9][0-9]*$ && -z ${seg[data]:-} ]]; then
    # The first segment with data on this connection, in either direction.
    if [[ ($src == "$c_la" && $sport == "$c_lp" && $dst == "$c_ra" && $dport == "$c_rp") ||
      ($src == "$c_ra" && $sport == "$c_rp" && $dst == "$c_la" && $dport == "$c_lp") ]]; then
      seg[data]=$rec
    fi
  fi
done <"$work/packets.tsv"
[[ -n ${seg[syn]:-} || -z $first_syn ]] || seg[syn]=$first_syn

# --- Compare -------------------------------------------------------------------------------

problems=()
check() { # check KEY SRC_ADDR SRC_PORT DST_ADDR DST_PORT WHAT: the segment goes that way
  local rec=${seg[$1]:-}
  if [[ -z $rec ]]; then
    problems+=("no $6 in the capture")
    return 1
  fi
  local _n s sp d dp _l
  read -r _n s sp d dp _l <<<"$rec"
  if [[ $s != "$2" || $sp != "$3" || $d != "$4" || $dp != "$5" ]]; then
    problems+=("the $6 went $(ep "$s" "$sp") -> $(ep "$d" "$dp")")
    return 1
  fi
}
ok_syn=yes ok_syn_ack=yes ok_data=yes ok_view=yes
check syn "$c_la" "$c_lp" "$c_ra" "$c_rp" SYN || ok_syn=no
check syn_ack "$c_ra" "$c_rp" "$c_la" "$c_lp" SYN-ACK || ok_syn_ack=no
check data "$c_la" "$c_lp" "$c_ra" "$c_rp" "first data segment" || ok_data=no
if [[ $c_rp != "$port" ]]; then
  problems+=("the client reports remote port $c_rp, not the server's port $port")
fi
if [[ $have_view == 1 ]]; then
  if [[ $s_la != "$c_ra" || $s_lp != "$c_rp" || $s_ra != "$c_la" || $s_rp != "$c_lp" ]]; then
    ok_view=no
    problems+=("the server's view is not the client's mirror image")
  fi
else
  ok_view='unknown (not a demo-server)'
fi
((packets_seen == 1)) ||
  problems+=("the data segment did not reach the capture within ${PACKETS_WAIT} s")
agree=true
((${#problems[@]} == 0)) || agree=false

# --- Report --------------------------------------------------------------------------------

json_ep() { printf '{"address":"%s","port":%s}' "$1" "$2"; }
json_seg() {
  local rec=${seg[$1]:-}
  if [[ -z $rec ]]; then
    printf 'null'
    return
  fi
  local n s sp d dp l
  read -r n s sp d dp l <<<"$rec"
  printf '{"frame":%s,"src":%s,"dst":%s,"len":%s}' "$n" "$(json_ep "$s" "$sp")" \
    "$(json_ep "$d" "$dp")" "$l"
}

if [[ $json == 1 ]]; then
  view=null
  if [[ $have_view == 1 ]]; then
    view=$(printf '{"id":%s,"local":%s,"remote":%s}' "$s_id" "$(json_ep "$s_la" "$s_lp")" \
      "$(json_ep "$s_ra" "$s_rp")")
  fi
  problems_json=$(python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' \
    "${problems[@]+"${problems[@]}"}")
  printf '{"interface":"%s","filter":"%s","server_port":%s,"packets":%s,' "$iface" "$filter" \
    "$port" "$packets"
  printf '"syn":%s,"syn_ack":%s,"data":%s,' "$(json_seg syn)" "$(json_seg syn_ack)" \
    "$(json_seg data)"
  printf '"client":{"local":%s,"remote":%s},"server_view":%s,' \
    "$(json_ep "$c_la" "$c_lp")" "$(json_ep "$c_ra" "$c_rp")" "$view"
  printf '"agree":%s,"problems":%s}\n' "$agree" "$problems_json"
else
  head_line "What the programs reported (from the kernel: getsockname, getpeername)"
  printf '  client    local %-24s remote %s\n' "$(ep "$c_la" "$c_lp")" "$(ep "$c_ra" "$c_rp")"
  if [[ $have_view == 1 ]]; then
    printf '  server    local %-24s remote %s   (its connection #%s)\n' \
      "$(ep "$s_la" "$s_lp")" "$(ep "$s_ra" "$s_rp")" "$s_id"
  else
    say "  server    no view: the peer is not a demo-server"
  fi
  say ""
  head_line "What the wire carried ($packets packets on port $port, read back from the capture)"
  printf '  %5s  %-22s %-24s    %s\n' frame segment from to
  show() {
    local rec=${seg[$1]:-} n s sp d dp l label=$2
    if [[ -z $rec ]]; then
      printf '  %5s  %-22s %s\n' - "$label" "(not in the capture)"
      return
    fi
    read -r n s sp d dp l <<<"$rec"
    [[ $1 != data ]] || label="$label ($l bytes)"
    printf '  %5s  %-22s %-24s -> %s\n' "$n" "$label" "$(ep "$s" "$sp")" "$(ep "$d" "$dp")"
  }
  show syn SYN
  show syn_ack SYN-ACK
  show data "first data"
  say ""
  head_line "Side by side"
  say "  SYN         from the client's port $c_lp to the server's port $port:  $ok_syn"
  say "  SYN-ACK     back from $c_rp to $c_lp:  $ok_syn_ack"
  say "  first data  from the client, $c_lp -> $c_rp:  $ok_data"
  say "  server's view is the client's mirror image:  $ok_view"
  say ""
  if [[ $agree == true ]]; then
    head_line "agree: yes, the wire carries the same four facts the programs read from the kernel"
  else
    head_line "agree: NO, the wire and the programs differ:"
    for p in "${problems[@]}"; do say "  - $p"; done
    # The verdict stays the last line.
    head_line "agree: no"
  fi
fi

[[ $agree == true ]] || exit 1
exit 0
