#!/usr/bin/env bash
# Two hosts, two addresses. Loopback hides the point that the two ends of a connection have
# different addresses: there both are 127.0.0.1. This script (as root) makes two network
# namespaces joined by a veth pair, a server "host" 10.20.0.1 and a client "host" 10.20.0.2,
# runs demo-server in one and demo-client in the other, shows both ends' views of the same
# connections, and says whether each end's tuple is the mirror of the other's.
#
#   scripts/two-hosts.sh [PORT] [--count N] [--hold SECONDS] [--json]
#
#   PORT            the server's port (default 8080; 0 lets the server's kernel choose)
#   --count N       connections the client makes, one after another (default 3)
#   --hold SECONDS  keep both hosts up this long afterwards, to try demo-client or nc by hand
#                   (Ctrl-C ends it sooner; at most 3600)
#   --json          print only JSON events, one per line (for tests): the server's events up
#                   to `ready` as soon as it is ready, then the client's events, the server's
#                   later events, and last one event of this script's own:
#                   {"event":"two_hosts","server_namespace":...,"client_namespace":...,
#                    "port":8080,"connections":3,"mirrored":3,"mirror":true}
#   DEMO_SERVER, DEMO_CLIENT   the binaries (default: build/ci/... in this repository)
#   NO_COLOR        no colour even on a terminal
#
# Everything it makes lives inside the two namespaces pd-server-PID and pd-client-PID: the
# addresses, the veth pair (created directly inside them, never in this host's namespace) and
# no route outside. A trap on EXIT, INT and TERM ends the programs it started (by pid) and
# deletes both namespaces, which deletes the veth pair with them.
#
# Exit codes: 0 done and mirrored; 64 usage; 69 a name it needs is taken, or a program could
# not serve; 70 the two ends' tuples do not mirror, or the output could not be read; 75 a
# program did not answer in time; 77 not root, or creating a network namespace is not
# permitted here; 130/143 interrupted (after cleaning up).
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$script_dir/.." && pwd)

server_addr=10.20.0.1
client_addr=10.20.0.2
prefix=24

usage() {
  sed -n '8,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}
die_usage() {
  printf 'two-hosts.sh: %s\n' "$1" >&2
  printf 'usage: scripts/two-hosts.sh [PORT] [--count N] [--hold SECONDS] [--json]\n' >&2
  exit 64
}
is_uint() { [[ $1 =~ ^[0-9]{1,6}$ ]]; }

port=8080
count=3
hold=0
json=0
port_given=0
while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --json) json=1 ;;
    -n | --count)
      (($# >= 2)) || die_usage "--count needs a number (1-65535)"
      if ! is_uint "$2" || ((10#$2 < 1 || 10#$2 > 65535)); then
        die_usage "--count: \"$2\" is not 1-65535"
      fi
      count=$((10#$2)); shift ;;
    --hold)
      (($# >= 2)) || die_usage "--hold needs a number of seconds (0-3600)"
      if ! is_uint "$2" || ((10#$2 > 3600)); then die_usage "--hold: \"$2\" is not 0-3600 seconds"; fi
      hold=$((10#$2)); shift ;;
    -*) die_usage "unknown option \"$1\"" ;;
    *)
      ((port_given == 0)) || die_usage "one PORT only (got \"$1\" after $port)"
      if ! is_uint "$1" || ((10#$1 > 65535)); then
        die_usage "PORT: \"$1\" is not a port number 0-65535"
      fi
      port=$((10#$1)); port_given=1 ;;
  esac
  shift
done

server_bin=${DEMO_SERVER:-$root/build/ci/server/demo-server}
client_bin=${DEMO_CLIENT:-$root/build/ci/client/demo-client}

bold=never
[[ $json == 0 && -t 1 && -z ${NO_COLOR:-} ]] && bold=always
say() { [[ $json == 1 ]] || printf '%s\n' "$*"; }
head_line() {
  [[ $json == 1 ]] && return 0
  if [[ $bold == always ]]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi
}
# A path as the lecturer would type it: relative to this repository when it lies inside it.
short() { case $1 in "$root"/*) printf '%s' "${1#"$root"/}" ;; *) printf '%s' "$1" ;; esac; }
# A command line for the screen: "$1 PROGRAM $3", with the program's bare name if the path
# would make the line 100 columns or more.
shown() {
  local line
  line="$1 $(short "$2")${3:+ $3}"
  ((${#line} < 100)) || line="$1 ${2##*/}${3:+ $3}"
  printf '%s' "$line"
}

# ---- Preconditions: root, ip netns, the binaries, python3 for reading the JSON --------------
if ((EUID != 0)); then
  echo "two-hosts.sh needs root: it creates network namespaces (run it with sudo)." >&2
  exit 77
fi
command -v ip >/dev/null || { echo "two-hosts.sh needs iproute2's ip (apt-get install iproute2)" >&2; exit 69; }
command -v python3 >/dev/null || { echo "two-hosts.sh needs python3 to read the programs' JSON" >&2; exit 69; }
for bin in "$server_bin" "$client_bin"; do
  if [[ ! -x $bin ]]; then
    echo "two-hosts.sh: $bin is not an executable. Build first:" >&2
    echo "  cmake --preset ci && cmake --build --preset ci   (or set DEMO_SERVER, DEMO_CLIENT)" >&2
    exit 69
  fi
done

ns_server=pd-server-$$
ns_client=pd-client-$$
veth_server=pd-s-$$   # the server's end, created inside ns_server
veth_client=pd-c-$$   # the client's end, created inside ns_client

# ---- Cleanup: always, also when interrupted ---------------------------------------------------
work=
server_pid=
client_pid=
made_server=0
made_client=0
pending=
interrupted=

ns_exists() { [[ -e /run/netns/$1 ]] || ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$1"; }

# Milliseconds on a monotonic-enough clock, for bounded waits.
now_ms() { local t=${EPOCHREALTIME//[!0-9]/}; echo $((10#$t / 1000)); }

# True while pid $1 runs (a zombie, ended but not yet reaped, counts as ended).
alive() {
  local stat
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# Ends a process this script started, by its pid: TERM, at most 3 s, then KILL; reaps it.
stop_pid() {
  local pid=$1 i
  [[ -n $pid ]] || return 0
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do alive "$pid" || break; sleep 0.05; done
    if alive "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 40; i++)); do alive "$pid" || break; sleep 0.05; done
    fi
  fi
  if alive "$pid"; then
    echo "two-hosts.sh: pid $pid did not end even after SIGKILL; not waiting for it" >&2
    return 0
  fi
  wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317  # reached through the trap
cleanup() {
  local rc=$?
  trap '' INT TERM
  set +e
  if [[ -n $interrupted ]]; then
    [[ -t 2 ]] && echo >&2   # after the ^C the terminal echoed
    echo "two-hosts.sh: interrupted, cleaning up" >&2
  fi
  stop_pid "$client_pid"
  stop_pid "$server_pid"
  local removed=()
  if ((made_client)); then ip netns del "$ns_client" 2>/dev/null && removed+=("$ns_client"); fi
  if ((made_server)); then ip netns del "$ns_server" 2>/dev/null && removed+=("$ns_server"); fi
  if ((made_client)) && ns_exists "$ns_client"; then
    echo "two-hosts.sh: could not delete namespace $ns_client: ip netns del $ns_client" >&2
  fi
  if ((made_server)) && ns_exists "$ns_server"; then
    echo "two-hosts.sh: could not delete namespace $ns_server: ip netns del $ns_server" >&2
  fi
  [[ -n $work ]] && rm -rf "$work"
  if ((${#removed[@]})) && [[ $json == 0 ]]; then
    local names=${removed[*]}
    printf '\nCleaned up: deleted %s (the veth pair went with them).\n' "${names/ / and }"
  fi
  exit "$rc"
}
on_signal() { interrupted=1; exit "$1"; }
# Between starting something and recording it, a signal only takes note; it acts just after.
defer_signals() { trap 'pending=130' INT; trap 'pending=143' TERM; }
allow_signals() {
  trap 'on_signal 130' INT
  trap 'on_signal 143' TERM
  if [[ -n $pending ]]; then on_signal "$pending"; fi
}
trap cleanup EXIT
allow_signals

work=$(mktemp -d "${TMPDIR:-/tmp}/two-hosts.XXXXXX")

# ---- The two hosts ----------------------------------------------------------------------------
for ns in "$ns_server" "$ns_client"; do
  if ns_exists "$ns"; then
    echo "two-hosts.sh: a network namespace named $ns exists already. It is not this" >&2
    echo "  script's, so it stays; if it is a leftover, remove it: ip netns del $ns" >&2
    exit 69
  fi
done
for dev in "$veth_server" "$veth_client"; do
  if ip link show dev "$dev" >/dev/null 2>&1; then
    echo "two-hosts.sh: an interface named $dev exists already in this host's namespace;" >&2
    echo "  this script will not take its name." >&2
    exit 69
  fi
done

# Creates namespace $1 and records it as ours (flag $2) in one step that a signal cannot split.
make_ns() {
  local err
  defer_signals
  printf -v "$2" 1
  if ! err=$(ip netns add "$1" 2>&1); then
    printf -v "$2" 0
    allow_signals
    if [[ $err == *"File exists"* ]]; then
      echo "two-hosts.sh: a network namespace named $1 appeared meanwhile. It is not" >&2
      echo "  this script's, so it stays." >&2
      exit 69
    fi
    echo "two-hosts.sh: creating a network namespace is not permitted here; it needs root" >&2
    echo "  with CAP_SYS_ADMIN, outside a restricted container. ip netns add said:" >&2
    printf '  %s\n' "${err:-(nothing)}" >&2
    exit 77
  fi
  allow_signals
}
make_ns "$ns_server" made_server
make_ns "$ns_client" made_client

# Runs ip inside the namespaces; any failure ends the script (and the trap cleans up).
nsip() {
  local err
  if ! err=$(ip "$@" 2>&1); then
    echo "two-hosts.sh: ip $* failed: $err" >&2
    exit 69
  fi
}
nsip link add "$veth_server" netns "$ns_server" type veth peer name "$veth_client" netns "$ns_client"
nsip -n "$ns_server" link set lo up
nsip -n "$ns_client" link set lo up
nsip -n "$ns_server" addr add "$server_addr/$prefix" dev "$veth_server"
nsip -n "$ns_client" addr add "$client_addr/$prefix" dev "$veth_client"
nsip -n "$ns_server" link set "$veth_server" up
nsip -n "$ns_client" link set "$veth_client" up

# ---- Reading the programs' JSON -------------------------------------------------------------
# One small program for every JSON question; it reads only whole lines (ending in a newline).
read -r -d '' py <<'PY' || true
import json, sys, textwrap

def events(path):
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        data = f.read()
    for line in data.split("\n")[:-1]:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append((line, obj))
    return out

def ep(e):
    if not isinstance(e, dict):
        return "?"
    a, p = e.get("address", "?"), e.get("port", "?")
    return f"[{a}]:{p}" if ":" in str(a) else f"{a}:{p}"

cmd = sys.argv[1]
if cmd == "ready":          # ready SERVER_JSON -> "LISTENING PORT" once ready
    for _, e in events(sys.argv[2]):
        if e.get("event") == "ready":
            ports = e.get("ports") or [0]
            print(e.get("listening", 0), ports[0])
            sys.exit(0)
    sys.exit(1)
if cmd == "count":          # count FILE EVENT -> how many
    print(sum(1 for _, e in events(sys.argv[2]) if e.get("event") == sys.argv[3]))
    sys.exit(0)
if cmd == "failure":        # failure FILE -> the explanations of failures, one a line
    for _, e in events(sys.argv[2]):
        if e.get("explanation"):
            print(e["explanation"])
    sys.exit(0)
if cmd == "upto_ready":     # upto_ready SERVER_JSON -> its lines up to and with `ready`
    for line, e in events(sys.argv[2]):
        print(line)
        if e.get("event") == "ready":
            break
    sys.exit(0)

# report MODE SERVER_JSON CLIENT_JSON NS_SERVER NS_CLIENT SERVER_ADDR CLIENT_ADDR PORT
mode, spath, cpath, ns_s, ns_c, s_addr, c_addr, port = sys.argv[2:10]
server, client = events(spath), events(cpath)
accepted = [e for _, e in server if e.get("event") == "accepted"]
by_id = {e.get("id"): e for e in accepted}
connected = [e for _, e in client if e.get("event") == "connected"]
pairs = []
for i, c in enumerate(connected):
    view = c.get("server_view") or {}
    s = by_id.get(view.get("id")) if view.get("id") is not None else None
    if s is None and i < len(accepted):
        s = accepted[i]
    pairs.append((c, s))
def mirrored(c, s):
    return s is not None and c.get("local") == s.get("remote") and c.get("remote") == s.get("local")
good = sum(1 for c, s in pairs if mirrored(c, s))
ok = bool(pairs) and good == len(pairs)

if mode == "json":
    seen_ready = False
    for line, e in server:
        if seen_ready:
            print(line)
        seen_ready = seen_ready or e.get("event") == "ready"
    for line, _ in client:
        print(line)
    print(json.dumps({"event": "two_hosts", "server_namespace": ns_s, "client_namespace": ns_c,
                      "server_address": s_addr, "client_address": c_addr, "port": int(port),
                      "connections": len(pairs), "mirrored": good, "mirror": ok},
                     separators=(",", ":")))
    sys.exit(0 if ok else 1)

print(f"The client's view ({ns_c}, address {c_addr}), from demo-client's JSON:")
for c, _ in pairs:
    print(f"  #{c.get('id', '?'):<3} local {ep(c.get('local')):<21} remote {ep(c.get('remote'))}")
cports = [c.get("local", {}).get("port") for c in connected]
sports = sorted({c.get("remote", {}).get("port") for c in connected}, key=str)
if len(connected) > 1:
    new = "a new one every time" if len(set(cports)) == len(cports) else \
        f"{len(set(cports))} distinct in {len(cports)} connections"
    print(f"  client port: {new}, chosen by the client's kernel (ephemeral)")
    print(f"  server port: {', '.join(map(str, sports))} every time, chosen by the server (fixed)")
print()
print(f"The server's view of the same connections ({ns_s}, address {s_addr}):")
for c, s in pairs:
    if s is None:
        print(f"  (no accepted event for the client's connection #{c.get('id', '?')})")
    else:
        print(f"  #{s.get('id', '?'):<3} local {ep(s.get('local')):<21} remote {ep(s.get('remote'))}")
print()
n = len(pairs)
if ok:
    each = "the connection" if n == 1 else f"each of the {n} connections"
    print(textwrap.fill(f"Mirror: yes, for {each}: the client's local address:port is the "
                        "server's remote, and the server's local is the client's remote. "
                        "Two hosts, two addresses, one connection.", width=88))
    sys.exit(0)
if not pairs:
    print("Mirror: cannot tell: the client reported no connection.")
    sys.exit(1)
for c, s in pairs:
    if not mirrored(c, s):
        theirs = "no server view" if s is None else \
            f"server local {ep(s.get('local'))}, remote {ep(s.get('remote'))}"
        print(textwrap.fill(f"Mirror: NO for the client's connection #{c.get('id', '?')}: "
                            f"client local {ep(c.get('local'))}, remote {ep(c.get('remote'))}; "
                            f"{theirs}.", width=88, subsequent_indent="  "))
sys.exit(1)
PY
pyjson() { python3 -c "$py" "$@"; }

# ---- The server -------------------------------------------------------------------------------
head_line 'portdemo: two hosts, two addresses'
say ""
say "On loopback both ends of a connection are 127.0.0.1, which hides the point: the two ends"
say "have different addresses. Here two network namespaces play two hosts, joined by a virtual"
say "cable (a veth pair):"
say ""
say "  server host   namespace $ns_server   address $server_addr/$prefix"
say "  client host   namespace $ns_client   address $client_addr/$prefix"
say ""

defer_signals
ip netns exec "$ns_server" "$server_bin" --bind "$server_addr" --ports "$port" \
  --format json --color never </dev/null >"$work/server.json" 2>"$work/server.err" &
server_pid=$!
allow_signals
head_line "$(shown "\$ ip netns exec $ns_server" "$server_bin" "--bind $server_addr --ports $port")"

# Waits for the `ready` line: at most 5 s, polling the file every 50 ms.
ready=
deadline=$(($(now_ms) + 5000))
while (($(now_ms) < deadline)); do
  if grep -q '"event":"ready"' "$work/server.json" && ready=$(pyjson ready "$work/server.json")
  then break; fi
  ready=
  alive "$server_pid" || break
  sleep 0.05
done
if [[ -z $ready ]]; then
  rc=0
  if alive "$server_pid"; then
    echo "two-hosts.sh: demo-server did not report ready within 5 s" >&2
    rc=75
  else
    wait "$server_pid" || rc=$?
    server_pid=
    echo "two-hosts.sh: demo-server ended (exit $rc) without listening:" >&2
    { pyjson failure "$work/server.json"; cat "$work/server.err"; } | sed 's/^/  /' >&2
    ((rc != 0)) || rc=69
  fi
  exit "$rc"
fi
read -r listening port <<<"$ready"
if ((listening < 1)); then
  echo "two-hosts.sh: demo-server listens on nothing:" >&2
  { pyjson failure "$work/server.json"; cat "$work/server.err"; } | sed 's/^/  /' >&2
  exit 69
fi
if [[ $json == 1 ]]; then pyjson upto_ready "$work/server.json"; fi
say "  listening on $server_addr:$port: ready"
say ""

# ---- The client -------------------------------------------------------------------------------
defer_signals
ip netns exec "$ns_client" "$client_bin" "$server_addr" "$port" --count "$count" --timeout 5 \
  --format json --color never </dev/null >"$work/client.json" 2>"$work/client.err" &
client_pid=$!
allow_signals
head_line "$(shown "\$ ip netns exec $ns_client" "$client_bin" "$server_addr $port --count $count")"
say ""

# At most 10 s plus 6 s a connection (each waits at most 5 s to be accepted).
limit=$((10 + 6 * count))
deadline=$(($(now_ms) + limit * 1000))
while alive "$client_pid" && (($(now_ms) < deadline)); do sleep 0.05; done
if alive "$client_pid"; then
  stop_pid "$client_pid"
  client_pid=
  echo "two-hosts.sh: demo-client did not finish within $limit s" >&2
  exit 75
fi
client_rc=0
wait "$client_pid" || client_rc=$?
client_pid=
if ((client_rc != 0)); then
  echo "two-hosts.sh: demo-client failed (exit $client_rc):" >&2
  { pyjson failure "$work/client.json"; cat "$work/client.err"; } | sed 's/^/  /' >&2
  exit "$client_rc"
fi

# The server logs each connection as it accepts it; give its log at most 2 s to catch up.
want=$(pyjson count "$work/client.json" connected)
deadline=$(($(now_ms) + 2000))
while (($(pyjson count "$work/server.json" accepted) < want && $(now_ms) < deadline)); do
  sleep 0.05
done

mirror_rc=0
pyjson report "$([[ $json == 1 ]] && echo json || echo text)" "$work/server.json" \
  "$work/client.json" "$ns_server" "$ns_client" "$server_addr" "$client_addr" "$port" ||
  mirror_rc=$?

# ---- Optionally, keep the two hosts up for a while ----------------------------------------
if ((hold > 0)); then
  say ""
  say "The two hosts stay up for $hold s (Ctrl-C ends it sooner). Try, in another terminal:"
  say "$(shown "  ip netns exec $ns_client" "$client_bin" "$server_addr $port")"
  say "  ip netns exec $ns_client nc $server_addr $port"
  deadline=$(($(now_ms) + hold * 1000))
  while alive "$server_pid" && (($(now_ms) < deadline)); do sleep 0.2; done
fi

if ((mirror_rc != 0)); then exit 70; fi
exit 0
