#!/usr/bin/env bash
# The guided demonstration: installs what is missing, builds, then shows in about 30 seconds
# how TCP ports work: the server's fixed port against the client's ephemeral ones, the two
# ends' mirrored views of one connection, and a privileged port refused.
#
#   DEMO_PACE=0 scripts/demo.sh     no pauses (for tests)
#   DEMO_PORTS=8080,8443            the ports the server tries first
#   DEMO_SKIP_BUILD=1 DEMO_BIN_DIR=build/ci   use binaries already built there
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

pace=${DEMO_PACE:-1}
ports=${DEMO_PORTS:-8080,8443}

if [[ ${DEMO_SKIP_BUILD:-0} != 1 ]]; then
  scripts/install-deps.sh >/dev/null
  cmake --preset ci >/dev/null
  cmake --build --preset ci >/dev/null
fi
bin=${DEMO_BIN_DIR:-$root/build/ci}
server_bin=$bin/server/demo-server
client_bin=$bin/client/demo-client

color=never
[[ -t 1 && -z ${NO_COLOR:-} ]] && color=always
bold() { if [[ $color == always ]]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
pause() { [[ $pace == 0 ]] || sleep "$(awk "BEGIN{print $1 * $pace}")"; }
say() { printf '%s\n' "$*"; }
cmd() { bold "\$ $*"; }

work=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Shows what the server printed since the last call, each line marked as the server's.
shown=0
server_says() {
  local total
  total=$(wc -l <"$work/server.txt")
  if ((total > shown)); then
    tail -n +"$((shown + 1))" "$work/server.txt" | head -n "$((total - shown))" | sed 's/^/  server | /'
    shown=$total
  fi
}

# Waits (at most 5 s) for the server's "ready" or "stopped" line.
wait_ready() {
  for _ in $(seq 50); do
    grep -qE '^(.\[[0-9;]*m)?(ready|stopped)' "$work/server.txt" && return 0
    kill -0 "$server_pid" 2>/dev/null || return 0
    sleep 0.1
  done
}

start_server() {
  "$server_bin" --ports "$1" --color "$color" >"$work/server.txt" 2>&1 &
  server_pid=$!
  shown=0
  wait_ready
}

# The ports the server reports on its ready line, e.g. "ready: 4 sockets listening on ports 8080, 8443".
listening_ports() {
  sed -E 's/\x1b\[[0-9;]*m//g' "$work/server.txt" | sed -nE 's/^ready: .* listening on ports? ([0-9, ]+).*/\1/p' |
    tr -d ' ' | tr ',' ' '
}

bold "portdemo: how TCP ports work, in about 30 seconds"
say ""
bold "1. A server listens on ports it chose itself: they are fixed, and clients must know them."
cmd "demo-server --ports $ports"
start_server "$ports"
server_says
read -r -a live <<<"$(listening_ports)"
if ((${#live[@]} == 0)); then
  say ""
  say "Every port in $ports is taken on this machine (see above), so the demo asks the kernel"
  say "for a free port instead: --ports 0"
  cmd "demo-server --ports 0"
  start_server 0
  server_says
  read -r -a live <<<"$(listening_ports)"
fi
if ((${#live[@]} == 0)); then
  say "The server could not listen on any port; the demo cannot go on."
  exit 69
fi
first=${live[0]}
second=${live[1]:-${live[0]}}
if [[ ,$ports, != *,$first,* ]]; then
  say "(Port ${ports%%,*} is taken here, as the server said; the demo goes on with port $first.)"
fi
pause 3

say ""
bold "2. Three clients connect to port $first. Watch the columns: the server's port stays $first,"
bold "   the client's port is new every time, chosen by the kernel from its ephemeral range."
for i in 1 2 3; do
  cmd "demo-client localhost $first"
  "$client_bin" localhost "$first" --color "$color" | sed 's/^/  client | /'
  pause 1.5
done
say ""
say "The server saw the same three connections, mirrored: its local is the client's remote."
server_says
pause 4

say ""
bold "3. Any client works: nc sends nothing, and still gets the server's view of its connection."
cmd "nc localhost $second"
if command -v nc >/dev/null; then
  nc -w 3 localhost "$second" </dev/null | sed 's/^/  nc     | /' || true
else
  say "  (nc is not installed here; scripts/install-deps.sh installs netcat-openbsd)"
fi
server_says
pause 4

say ""
bold "4. A student tries port 80, the HTTP port, without the privilege to bind it."
cutoff=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null || echo unknown)
say "   (This host's cut-off: ports below $cutoff are privileged.)"
if [[ $cutoff =~ ^[0-9]+$ ]] && ((cutoff <= 80)); then
  say "   Port 80 is not privileged on this host, so there is nothing to refuse; here it is bound:"
  cmd "demo-server --ports 80 --strict"
  timeout -s INT 1 "$server_bin" --ports 80 --strict --color "$color" | sed 's/^/  student| /' || true
elif (($(id -u) == 0)) && command -v capsh >/dev/null; then
  cmd "demo-server --ports 80      (run as root with CAP_NET_BIND_SERVICE dropped, like a student)"
  capsh --drop=cap_net_bind_service -- -c "timeout -s INT 2 '$server_bin' --ports 80 --color $color" |
    sed 's/^/  student| /' || true
else
  cmd "demo-server --ports 80"
  timeout -s INT 2 "$server_bin" --ports 80 --color "$color" | sed 's/^/  student| /' || true
fi
pause 4

say ""
bold "5. The lecturer stops the server (Ctrl-C): it sums up what it saw."
kill -INT "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=
server_says
say ""
bold "Your turn. In one terminal:"
say "  $server_bin --ports 8080,8443"
bold "In another, again and again:"
say "  $client_bin localhost 8080"
say "  nc localhost 8443"
