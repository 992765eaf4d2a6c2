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
prog=two-hosts.sh
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$script_dir/lib/netns.sh"

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

# ---- Preconditions: root, ip netns, the binaries, python3 for reading the JSON --------------
if ((EUID != 0)); then
  echo "two-hosts.sh needs root: it creates network namespaces (run it with sudo)." >&2
  exit 77
fi
require_ip_and_python
require_binaries

ns_server=pd-server-$$
ns_client=pd-client-$$
veth_server=pd-s-$$   # the server's end, created inside ns_server
veth_client=pd-c-$$   # the client's end, created inside ns_client

# ---- Cleanup: always, also when interrupted ---------------------------------------------------
work=
server_pid=
client_pid=

# shellcheck disable=SC2317  # reached through the trap
cleanup() {
  local rc=$?
  teardown "$client_pid" "$server_pid" -- "$ns_client" "$ns_server"
  if ((${#removed[@]})) && [[ $json == 0 ]]; then
    local names=${removed[*]}
    printf '\nCleaned up: deleted %s (the veth pair went with them).\n' "${names/ / and }"
  fi
  exit "$rc"
}
trap cleanup EXIT
allow_signals

work=$(mktemp -d "${TMPDIR:-/tmp}/two-hosts.XXXXXX")

# ---- The two hosts ----------------------------------------------------------------------------
require_free "$ns_server" "$ns_client" -- "$veth_server" "$veth_client"
make_ns "$ns_server"
make_ns "$ns_client"
veth_pairs "$ns_server" "$veth_server" "$server_addr/$prefix" \
  "$ns_client" "$veth_client" "$client_addr/$prefix"

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
find_python

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

spawn_in server_pid "$ns_server" "$work/server.json" "$work/server.err" \
  "$server_bin" --bind "$server_addr" --ports "$port" --format json --color never
head_line "$(shown "\$ ip netns exec $ns_server" "$server_bin" "--bind $server_addr --ports $port")"

# Waits for the `ready` line: at most 5 s, polling the file every 50 ms.
wait_ready "$work/server.json" "$work/server.err" 0.05
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
spawn_in client_pid "$ns_client" "$work/client.json" "$work/client.err" \
  "$client_bin" "$server_addr" "$port" --count "$count" --timeout 5 --format json --color never
head_line "$(shown "\$ ip netns exec $ns_client" "$client_bin" "$server_addr $port --count $count")"
say ""

# At most 10 s plus 6 s a connection (each waits at most 5 s to be accepted).
finish_client $((10 + 6 * count)) 0.05 demo-client
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
