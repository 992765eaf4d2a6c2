#!/usr/bin/env bash
# NAT: when the two views differ. Across a plain cable each end's view of a connection is the
# mirror of the other's (scripts/two-hosts.sh); a router that rewrites addresses breaks the
# mirror. This script (as root) makes three network namespaces, a client host, a router and a
# server host, gives the router real kernel NAT (nftables), runs demo-server on the server host
# and demo-client on the client host (TCP, then UDP), and shows side by side both ends' views,
# how both ends classify what differs, and the router's own record of the rewrite (conntrack).
# The proxy modes put a real proxy in the router instead of NAT (haproxy, nginx): it takes the
# client's connection and opens its own to the server, and tells the server about the client
# in a PROXY protocol header or in X-Forwarded-For.
#
#   scripts/nat.sh [--mode MODE] [--port PORT] [--public-port PORT] [--format text|json]
#
#   --mode MODE         one of these, or all (the default: the four NAT modes in this order),
#                       or proxies (the three proxy modes in this order)
#                         snat         source NAT (masquerade): the kernel keeps the client's
#                                      port where it can
#                         snat-random  source NAT to the router's ports 61000-61099: the port
#                                      changes too
#                         forward      a port forward (destination NAT): the client dials the
#                                      router's 10.77.1.1:PUBLIC, the router sends it on to
#                                      the server's 10.77.2.2:PORT; no source NAT
#                         both         the port forward and masquerade together
#                         haproxy-v1   no NAT: haproxy in the router takes the connection on
#                                      10.77.1.1:PUBLIC and opens its own to 10.77.2.2:PORT,
#                                      beginning it with a PROXY v1 header (send-proxy)
#                         haproxy-v2   the same with a PROXY v2 header (send-proxy-v2)
#                         nginx        no NAT: nginx in the router, a reverse proxy for HTTP,
#                                      with X-Forwarded-For; curl fetches /json through it
#   --port PORT         the server's port, TCP and UDP (default 8080)
#   --public-port PORT  the router's port that forward, both and the proxies use (default 8081)
#   --format FORMAT     text (default), or json: one JSON event per mode, one a line (--json
#                       is the same), for tests:
#                         {"event":"nat","mode":"snat","expected_kind":"source_nat",
#                          "tcp":{"client_view":...,"server_view":...,"client_translation":...,
#                          "server_translation":...,"conntrack":{"original":...,"reply":...}},
#                          "udp":{...},"as_expected":true,...}
#                         {"event":"proxy","mode":"haproxy-v1","client_view":...,
#                          "server_view":...,"proxied":...,"client_translation":...,...}
#   DEMO_SERVER, DEMO_CLIENT   the binaries (default: build/ci/... in this repository)
#   NO_COLOR        no colour even on a terminal
#
# The three hosts: the client 10.77.1.2/24 and the router's 10.77.1.1/24 share one veth pair,
# the router's 10.77.2.1/24 and the server 10.77.2.2/24 another; the client and the server
# route everything else through the router, and only the router forwards. Everything lives
# inside the namespaces pd-nat-client-PID, pd-nat-router-PID and pd-nat-server-PID (the veth
# pairs are created directly inside them, the nft rules and the conntrack table are the
# router namespace's own, never this host's). A trap on EXIT, INT and TERM ends the programs
# it started (by pid: demo-server, demo-client, curl, and haproxy or nginx, which run in the
# router namespace only, with their configuration in a temporary directory) and deletes the
# three namespaces, which deletes all of that with them.
#
# Exit codes: 0 done, every mode classified as expected; 64 usage; 69 a name it needs is
# taken, or a program could not serve or connect; 70 a classification, the two ends or the
# router's record (or what the proxy passed on) not what the mode should give, or output that
# could not be read; 75 a program did not answer in time; 77 not root, creating a network
# namespace not permitted, nft or conntrack missing (scripts/install-deps.sh installs them),
# haproxy, nginx or curl missing for a proxy mode (the packages haproxy, nginx, curl), or the
# kernel refusing NAT; 130/143 interrupted (after cleaning up).
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$script_dir/.." && pwd)
prog=nat.sh
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$script_dir/lib/netns.sh"

client_addr=10.77.1.2
router_client_addr=10.77.1.1
router_server_addr=10.77.2.1
server_addr=10.77.2.2
prefix=24
snat_low=61000    # snat-random's ports: above the client's ephemeral range (32768-60999 in
snat_high=61099   # a new namespace), so the client's own port is never one of them

usage() {
  sed -n '12,41p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}
die_usage() {
  printf 'nat.sh: %s\n' "$1" >&2
  printf 'usage: scripts/nat.sh [--mode MODE] [--port PORT] [--public-port PORT] [--format text|json]\n' >&2
  exit 64
}
port_arg() {  # port_arg OPTION VALUE: a port 1-65535, or a usage error
  if ! is_uint "$2" || ((10#$2 < 1 || 10#$2 > 65535)); then
    die_usage "$1: \"$2\" is not a port number 1-65535"
  fi
  printf '%d' "$((10#$2))"
}

all_modes=(snat snat-random forward both)
proxy_modes=(haproxy-v1 haproxy-v2 nginx)
mode=all
port=8080
public_port=8081
json=0
while (($#)); do
  opt=$1 val=
  case $opt in
    --*=*) val=${opt#*=}; opt=${opt%%=*} ;;
  esac
  case $opt in
    -h | --help) usage; exit 0 ;;
    --json) json=1 ;;
    --mode | --port | --public-port | --format)
      if [[ $1 != *=* ]]; then
        (($# >= 2)) || die_usage "$opt needs a value"
        val=$2; shift
      fi
      case $opt in
        --mode)
          case $val in
            snat | snat-random | forward | both | haproxy-v1 | haproxy-v2 | nginx | all | proxies)
              mode=$val ;;
            *) die_usage "--mode: \"$val\" is not snat, snat-random, forward, both, haproxy-v1, haproxy-v2, nginx, all or proxies" ;;
          esac ;;
        --port) port=$(port_arg --port "$val") ;;
        --public-port) public_port=$(port_arg --public-port "$val") ;;
        --format)
          case $val in
            text) json=0 ;;
            json) json=1 ;;
            *) die_usage "--format: \"$val\" is not text or json" ;;
          esac ;;
      esac ;;
    *) die_usage "unknown argument \"$1\"" ;;
  esac
  shift
done
case $mode in
  all) modes=("${all_modes[@]}") ;;
  proxies) modes=("${proxy_modes[@]}") ;;
  *) modes=("$mode") ;;
esac
# What this run needs: the NAT modes nft and conntrack, the proxy modes haproxy, nginx, curl.
need_nat=0 need_haproxy=0 need_nginx=0
for m in "${modes[@]}"; do
  case $m in
    haproxy-*) need_haproxy=1 ;;
    nginx) need_nginx=1 ;;
    *) need_nat=1 ;;
  esac
done

server_bin=${DEMO_SERVER:-$root/build/ci/server/demo-server}
client_bin=${DEMO_CLIENT:-$root/build/ci/client/demo-client}

bold=never
[[ $json == 0 && -t 1 && -z ${NO_COLOR:-} ]] && bold=always

# ---- Preconditions: root, ip netns, nft, conntrack (or the proxies), the binaries, python3 ---
if ((EUID != 0)); then
  echo "nat.sh needs root: it creates network namespaces and NAT rules in them (run it with sudo)." >&2
  exit 77
fi
require_ip_and_python
missing=() packages=()
if ((need_nat)); then
  command -v nft >/dev/null ||
    { missing+=("nft (the nftables package: the router's NAT rules)"); packages+=(nftables); }
  command -v conntrack >/dev/null ||
    { missing+=("conntrack (the conntrack package: the router's record of each rewrite)"); packages+=(conntrack); }
fi
if ((need_haproxy)) && ! command -v haproxy >/dev/null; then
  missing+=("haproxy (the haproxy package: the TCP proxy in the router for haproxy-v1 and haproxy-v2)")
  packages+=(haproxy)
fi
if ((need_nginx)); then
  command -v nginx >/dev/null ||
    { missing+=("nginx (the nginx package: the HTTP reverse proxy in the router for mode nginx)"); packages+=(nginx); }
  command -v curl >/dev/null ||
    { missing+=("curl (the curl package: the HTTP client on the client host for mode nginx)"); packages+=(curl); }
fi
if ((${#missing[@]})); then
  echo "nat.sh needs what is not installed here:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  # Which of them scripts/install-deps.sh installs, read from its own list.
  listed=() unlisted=()
  for p in "${packages[@]}"; do
    if grep -Eq "^[[:space:]]+$p([[:space:]]|\$)" "$script_dir/install-deps.sh" 2>/dev/null; then
      listed+=("$p")
    else
      unlisted+=("$p")
    fi
  done
  if ((${#unlisted[@]} == 0)); then
    echo "  scripts/install-deps.sh installs them (or: apt-get install ${packages[*]})" >&2
  elif ((${#listed[@]} == 0)); then
    echo "  apt-get install ${packages[*]}   (scripts/install-deps.sh does not install them)" >&2
  else
    echo "  apt-get install ${packages[*]}   (scripts/install-deps.sh installs ${listed[*]}, not ${unlisted[*]})" >&2
  fi
  exit 77
fi
require_binaries

ns_client=pd-nat-client-$$
ns_router=pd-nat-router-$$
ns_server=pd-nat-server-$$
veth_client=pd-nc-$$      # the client's end, created inside ns_client
veth_router_c=pd-nrc-$$   # the router's end towards the client, inside ns_router
veth_router_s=pd-nrs-$$   # the router's end towards the server, inside ns_router
veth_server=pd-ns-$$      # the server's end, inside ns_server

# ---- Cleanup: always, also when interrupted ---------------------------------------------------
work=
server_pid=
client_pid=
proxy_pid=     # haproxy or nginx, in the router namespace

# shellcheck disable=SC2317  # reached through the trap
cleanup() {
  local rc=$?
  teardown "$client_pid" "$proxy_pid" "$server_pid" -- "$ns_client" "$ns_router" "$ns_server"
  if ((${#removed[@]})) && [[ $json == 0 ]]; then
    local names
    case ${#removed[@]} in
      1) names=${removed[0]} ;;
      2) names="${removed[0]} and ${removed[1]}" ;;
      *) names="${removed[0]}, ${removed[1]} and ${removed[2]}" ;;
    esac
    printf '\nCleaned up: deleted %s\n' "$names"
    if ((need_nat)); then
      printf '(the veth pairs, the NAT rules and the conntrack table went with them).\n'
    else
      printf '(the veth pairs went with them).\n'
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
allow_signals

work=$(mktemp -d "${TMPDIR:-/tmp}/nat.XXXXXX")

# ---- The three hosts --------------------------------------------------------------------------
require_free "$ns_client" "$ns_router" "$ns_server" -- \
  "$veth_client" "$veth_router_c" "$veth_router_s" "$veth_server"
make_ns "$ns_client"
make_ns "$ns_router"
make_ns "$ns_server"
veth_pairs "$ns_client" "$veth_client" "$client_addr/$prefix" \
  "$ns_router" "$veth_router_c" "$router_client_addr/$prefix" \
  "$ns_router" "$veth_router_s" "$router_server_addr/$prefix" \
  "$ns_server" "$veth_server" "$server_addr/$prefix"
nsip -n "$ns_client" route add default via "$router_client_addr"
nsip -n "$ns_server" route add default via "$router_server_addr"
# Forwarding in the router only: /proc/sys/net is the namespace's own.
if ! err=$(ip netns exec "$ns_router" sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward' 2>&1); then
  echo "nat.sh: could not turn on forwarding in the router ($ns_router): $err" >&2
  exit 69
fi

# ---- Reading the programs' JSON and the router's conntrack -------------------------------------
# One small program for every JSON question; it reads only whole lines (ending in a newline).
read -r -d '' py <<'PY' || true
import json, sys, textwrap, time

def events(path):
    out = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            data = f.read()
    except OSError:
        return out
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

def mk(address, port):
    return {"address": address, "port": int(port)}

cmd = sys.argv[1]
if cmd == "ready":          # ready SERVER_JSON -> "LISTENING TCP_PORT UDP_PORT" once ready
    for _, e in events(sys.argv[2]):
        if e.get("event") == "ready":
            ports = e.get("ports") or [0]
            udp = e.get("udp_ports") or [0]
            print(e.get("listening", 0), ports[0], udp[0])
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

W = 92
def wrapped(text, first, rest):
    return textwrap.fill(text, width=W, initial_indent=first, subsequent_indent=rest,
                         break_on_hyphens=False)

def rewritten(side):
    a, p = side.get("address_rewritten"), side.get("port_rewritten")
    return "address and port rewritten" if a and p else \
        "address rewritten, port kept" if a else "port rewritten, address kept"

def says(t):
    if t is None:
        return ["no view to compare (the other end is not a demo-server of this version)"]
    if t.get("kind") == "none":
        return ["nothing rewritten: the two views mirror each other"]
    out = []
    s, d = t.get("source"), t.get("destination")
    if d:
        out.append(f"destination NAT (a port forward): the client dialled {ep(d['before'])}, "
                   f"the server listens on {ep(d['after'])} ({rewritten(d)})")
    if s:
        out.append(f"source NAT: the client's {ep(s['before'])} arrives at the server as "
                   f"{ep(s['after'])} ({rewritten(s)})")
    return out

# ---- proxy PARAMS_JSON: one proxy mode's result (haproxy-v1, haproxy-v2, nginx) -------------
if cmd == "proxy":
    P = json.loads(sys.argv[2])
    mode = P["mode"]
    problems = []
    dialled = mk(P["dial_addr"], P["dial_port"])
    server = mk(P["server_addr"], P["port"])
    server_events = [e for _, e in events(P["server_json"])]
    with open(P["config_file"], encoding="utf-8") as f:
        config = [l.strip() for l in f.read().splitlines() if l.strip()]
    def by_id(name, i):
        return next((e for e in server_events if e.get("event") == name and e.get("id") == i), None)
    ev = {"event": "proxy", "mode": mode, "proxy": P["proxy"], "proxy_version": P["proxy_version"],
          "client_namespace": P["ns_client"], "router_namespace": P["ns_router"],
          "server_namespace": P["ns_server"],
          "client_address": P["client_addr"], "server_address": P["server_addr"],
          "router_addresses": [P["router_client_addr"], P["router_server_addr"]],
          "dialled": dialled, "server": server, "config": config}
    if mode.startswith("haproxy"):
        version = 2 if mode.endswith("v2") else 1
        client = next((e for _, e in events(P["client_json"]) if e.get("event") == "connected"), None)
        if client is None:
            problems.append("demo-client reported no connected event")
            client = {}
        sv = client.get("server_view") or {}
        sid = sv.get("id")
        accepted, proxied, answered = by_id("accepted", sid), by_id("proxied", sid), by_id("answered", sid)
        if proxied is None or answered is None:
            problems.append(f"demo-server's log has no proxied/answered event for its #{sid}")
        cview = {"local": client.get("local"), "remote": client.get("remote")}
        seen = proxied or accepted or sv
        sview = {"local": seen.get("local"), "remote": seen.get("remote")}
        header = (proxied or {}).get("proxy")
        ct, st = client.get("translation"), (answered or {}).get("translation")
        want = {"version": version, "command": "proxy", "source": cview["local"],
                "destination": dialled}
        if header != want:
            problems.append(f"the PROXY header said {header}, not the client's own view {want}")
        if sv.get("proxy") != header:
            problems.append(f"the client was told of another header: {sv.get('proxy')}")
        if cview["remote"] != dialled:
            problems.append(f"the client's remote is {ep(cview['remote'])}, not {ep(dialled)}")
        if sview["local"] != server:
            problems.append(f"the server's socket is {ep(sview['local'])}, not {ep(server)}")
        if (sview["remote"] or {}).get("address") != P["router_server_addr"]:
            problems.append(f"the server's peer is {ep(sview['remote'])}, not the router's "
                            f"{P['router_server_addr']}")
        for who, t in (("client", ct), ("server", st)):
            if (t or {}).get("kind") != "source_and_destination_nat":
                problems.append(f"the {who} says {(t or {}).get('kind')}, a proxy gives "
                                "source_and_destination_nat")
        agree = ct is not None and ct == st
        if not agree:
            problems.append(f"the two ends classify differently: client {ct}, server {st}")
        ev.update({"send": "send-proxy-v2" if version == 2 else "send-proxy",
                   "client_view": cview, "server_view": sview, "proxied": header,
                   "client_translation": ct, "server_translation": st, "agree": agree,
                   "http_status": None, "claims": None})
    else:
        try:
            with open(P["curl_out"], encoding="utf-8") as f:
                w = f.read().split()
            lip, lport, rip, rport, status = w[0], int(w[1]), w[2], int(w[3]), int(w[4])
        except (OSError, ValueError, IndexError):
            lip, lport, rip, rport, status = "?", 0, "?", 0, 0
            problems.append("curl's -w line could not be read")
        try:
            with open(P["body"], encoding="utf-8") as f:
                body = json.loads(f.read())
            if not isinstance(body, dict):
                raise ValueError
        except (OSError, ValueError):
            body = {}
            problems.append("the /json body could not be read as a JSON object")
        cview = {"local": mk(lip, lport), "remote": mk(rip, rport)}
        sview = {"local": body.get("local"), "remote": body.get("remote")}
        claims = body.get("claims") or {}
        fwd = {h.get("header"): h.get("value") for h in claims.get("forwarding") or []
               if isinstance(h, dict)}
        req = by_id("http_request", body.get("id"))
        if status != 200:
            problems.append(f"curl got HTTP status {status}, not 200")
        if cview["local"]["address"] != P["client_addr"] or cview["remote"] != dialled:
            problems.append(f"curl's end is {ep(cview['local'])} to {ep(cview['remote'])}")
        if sview["local"] != server:
            problems.append(f"the server's socket is {ep(sview['local'])}, not {ep(server)}")
        if (sview["remote"] or {}).get("address") != P["router_server_addr"]:
            problems.append(f"the server's peer is {ep(sview['remote'])}, not the router's "
                            f"{P['router_server_addr']}")
        if req is None or req.get("remote") != sview["remote"]:
            problems.append(f"demo-server's log has no http_request from {ep(sview['remote'])}")
        if fwd.get("X-Forwarded-For") != P["client_addr"]:
            problems.append(f"X-Forwarded-For is {fwd.get('X-Forwarded-For')!r}, not the client's "
                            f"{P['client_addr']}")
        if fwd.get("X-Forwarded-Port") != str(P["dial_port"]):
            problems.append(f"X-Forwarded-Port is {fwd.get('X-Forwarded-Port')!r}, not "
                            f"{P['dial_port']}")
        if claims.get("host") != ep(dialled) or claims.get("host_port") != P["dial_port"] \
                or claims.get("host_differs") is not True:
            problems.append(f"the Host claim is not the dialled {ep(dialled)}, differing: {claims}")
        if body.get("proxy") is not None:
            problems.append(f"a PROXY header where nginx sends none: {body.get('proxy')}")
        ev.update({"send": None, "client_view": cview, "server_view": sview, "proxied": None,
                   "client_translation": None, "server_translation": None, "agree": None,
                   "http_status": status, "claims": claims or None})
    ok = not problems
    ev.update({"duration_ms": P["duration_ms"], "as_expected": ok, "problems": problems})
    if P["format"] == "json":
        print(json.dumps(ev, separators=(",", ":")))
        sys.exit(0 if ok else 1)

    c, s = ev["client_view"], ev["server_view"]
    sock = s["remote"] or {}
    print()
    if ev["proxy"] == "haproxy":
        print(f"{'TCP':<21}{'local':<22}remote")
        print(f"  {'client' + chr(39) + 's view':<19}{ep(c['local']):<22}{ep(c['remote'])}")
        print(f"  {'server' + chr(39) + 's view':<19}{ep(s['local']):<22}{ep(s['remote'])}")
        h = ev["proxied"]
        if h:
            same = h["source"] == c["local"] and h["destination"] == c["remote"]
            print(f"  {'PROXY v%d header' % h['version']:<19}{ep(h['source']):<22}"
                  f"{ep(h['destination']):<22}"
                  f"{'= the client' + chr(39) + 's view' if same else 'NOT the client' + chr(39) + 's view'}")
        else:
            print(f"  {'PROXY header':<19}none reached the server")
        if ev["agree"]:
            for i, line in enumerate(says(ev["client_translation"])):
                print(wrapped(line, f"  {'both ends say' if i == 0 else '':<19}", " " * 23))
        else:
            for who, t in (("client says", ev["client_translation"]),
                           ("server says", ev["server_translation"])):
                for i, line in enumerate(says(t)):
                    print(wrapped(line, f"  {who if i == 0 else '':<19}", " " * 23))
        print()
        kind = "v2 header it sent first (binary)" if mode.endswith("v2") else \
            "v1 header it sent first (one line of text)"
        text = (f"What the proxy did: haproxy took the client's connection on the router's port "
                f"{P['dial_port']} and opened one of its own, from the router's port "
                f"{sock.get('port', '?')} to the server's port {P['port']}, so both ends see both "
                f"sides changed although no packet was rewritten. The PROXY {kind} "
                f"carried the client on: the server learned the client's own "
                f"{ep(c['local'])} and the {ep(c['remote'])} it dialled.")
    else:
        cl = ev["claims"] or {}
        fwd = {h.get("header"): h.get("value") for h in cl.get("forwarding") or []}
        print(f"{'HTTP (GET /json)':<21}{'local':<22}remote")
        print(f"  {'curl' + chr(39) + 's end':<19}{ep(c['local']):<22}{ep(c['remote'])}")
        print(f"  {'server' + chr(39) + 's view':<19}{ep(s['local']):<22}{ep(s['remote'])}")
        host, local = cl.get("host"), s["local"] or {}
        if cl.get("host_port") != local.get("port"):
            differs = f"(not the socket's port {local.get('port', '?')})"
        elif cl.get("host_differs"):
            differs = f"(the socket's port, but not its address {local.get('address', '?')})"
        else:
            differs = "(the socket's own)"
        lines = [f"Host: {host} {differs}"] + [f"{k}: {v}" for k, v in fwd.items()]
        for i, line in enumerate(lines):
            print(f"  {'the request says' if i == 0 else '':<19}{line}")
        print()
        text = (f"What the proxy did: nginx took curl's request on the router's port "
                f"{P['dial_port']} and sent a new one of its own, from the router's port "
                f"{sock.get('port', '?')} to the server's port {P['port']}, so the server's socket "
                f"sees only the router. Its headers carried the client on, as claims the server "
                f"can believe only from a proxy it trusts: X-Forwarded-For names the client's address "
                f"{fwd.get('X-Forwarded-For', '?')} (not its port {c['local']['port']}), "
                f"X-Forwarded-Port and Host the port it dialled, {fwd.get('X-Forwarded-Port', '?')}.")
    print(textwrap.fill(text, width=W))
    if problems:
        print()
        print(f"Not what mode {mode} should give:")
        for p in problems:
            print(wrapped(p, "  - ", "    "))
    sys.exit(0 if ok else 1)

# ---- report PARAMS_JSON: one mode's result, as text or as one JSON event -------------------
P = json.loads(sys.argv[2])
mode = P["mode"]
with open(P["rules_file"], encoding="utf-8") as f:
    rules = f.read().splitlines()
server_events = [e for _, e in events(P["server_json"])]

def conntrack(path):
    """conntrack -L's lines: 'tcp 6 119 TIME_WAIT src=A dst=B sport=C dport=D [ASSURED]
    src=.. dst=.. sport=.. dport=.. mark=0 use=1'; the first src..dport are the original
    tuple, the second the reply tuple."""
    found = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [l.strip() for l in f if "src=" in l]
    except OSError:
        return found
    for line in lines:
        words = line.split()
        tuples, cur, state, flags = [], {}, None, []
        for w in words[3:] if len(words) > 3 else []:
            if "=" in w:
                k, v = w.split("=", 1)
                if k in ("src", "dst", "sport", "dport"):
                    if k in cur:
                        tuples.append(cur)
                        cur = {}
                    cur[k] = v
            elif w.startswith("["):
                flags.append(w.strip("[]"))
            elif not tuples and not cur:
                state = w
        if cur:
            tuples.append(cur)
        if len(tuples) < 2 or not all(len(t) == 4 for t in tuples[:2]):
            continue
        o, r = tuples[0], tuples[1]
        found.append({
            "original": {"source": mk(o["src"], o["sport"]), "destination": mk(o["dst"], o["dport"])},
            "reply": {"source": mk(r["src"], r["sport"]), "destination": mk(r["dst"], r["dport"])},
            "state": state, "flags": flags,
            "timeout": int(words[2]) if len(words) > 2 and words[2].isdigit() else None,
            "line": " ".join(words)})
    return found

EXPECT = {"snat": "source_nat", "snat-random": "source_nat", "forward": "destination_nat",
          "both": "source_and_destination_nat"}
problems = []

def proto_result(proto):
    cev = "connected" if proto == "tcp" else "exchanged"
    sev = "accepted" if proto == "tcp" else "datagram"
    client = next((e for _, e in events(P[proto + "_json"]) if e.get("event") == cev), None)
    if client is None:
        problems.append(f"{proto.upper()}: demo-client reported no {cev} event")
        return None
    sv = client.get("server_view") or {}
    sid = sv.get("id")
    seen = next((e for e in server_events if e.get("event") == sev and e.get("id") == sid), None)
    answered = next((e for e in server_events if e.get("event") == "answered" and e.get("id") == sid), None)
    if seen is None or answered is None:
        problems.append(f"{proto.upper()}: demo-server's log has no {sev}/answered event for "
                        f"its #{sid}")
    cview = {"local": client.get("local"), "remote": client.get("remote")}
    sview = {"local": (seen or sv).get("local"), "remote": (seen or sv).get("remote")}
    ct = client.get("translation")
    st = (answered or {}).get("translation")
    entries = conntrack(P[proto + "_ct"])
    entry = next((c for c in entries if c["original"]["source"] == cview["local"]), None)
    r = {"client_view": cview, "server_view": sview, "client_translation": ct,
         "server_translation": st, "agree": ct is not None and ct == st,
         "conntrack": entry}
    r["conntrack_matches"] = entry is not None and \
        entry["original"] == {"source": cview["local"], "destination": cview["remote"]} and \
        entry["reply"] == {"source": sview["local"], "destination": sview["remote"]}
    want = EXPECT[mode]
    name = proto.upper()
    if ct is None:
        problems.append(f"{name}: demo-client's event has no translation")
    elif ct.get("kind") != want:
        problems.append(f"{name}: the client says {ct.get('kind')}, the mode gives {want}")
    if not r["agree"]:
        problems.append(f"{name}: the two ends classify differently: client {ct}, server {st}")
    if entry is None:
        problems.append(f"{name}: no conntrack entry on the router for {ep(cview['local'])}")
    elif not r["conntrack_matches"]:
        problems.append(f"{name}: the router's conntrack entry is not the two views: {entry['line']}")
    if mode == "snat-random" and ct:
        s = ct.get("source") or {}
        port = (s.get("after") or {}).get("port")
        if not s.get("port_rewritten") or not (P["snat_low"] <= (port or 0) <= P["snat_high"]):
            problems.append(f"{name}: the port was not rewritten into {P['snat_low']}-{P['snat_high']}: {s}")
    return r

tcp, udp = proto_result("tcp"), proto_result("udp")
ok = not problems

if P["format"] == "json":
    print(json.dumps({
        "event": "nat", "mode": mode, "expected_kind": EXPECT[mode],
        "client_namespace": P["ns_client"], "router_namespace": P["ns_router"],
        "server_namespace": P["ns_server"],
        "client_address": P["client_addr"], "server_address": P["server_addr"],
        "router_addresses": [P["router_client_addr"], P["router_server_addr"]],
        "dialled": mk(P["dial_addr"], P["dial_port"]), "server": mk(P["server_addr"], P["port"]),
        "rules": rules,
        "snat_port_range": {"low": P["snat_low"], "high": P["snat_high"]}
                           if mode == "snat-random" else None,
        "tcp": tcp, "udp": udp, "duration_ms": P["duration_ms"],
        "as_expected": ok, "problems": problems}, separators=(",", ":")))
    sys.exit(0 if ok else 1)

for name, r in (("TCP", tcp), ("UDP", udp)):
    print()
    if r is None:
        print(f"{name}: no result (see below)")
        continue
    c, s = r["client_view"], r["server_view"]
    print(f"{name:<21}{'local':<22}remote")
    print(f"  {'client' + chr(39) + 's view':<19}{ep(c['local']):<22}{ep(c['remote'])}")
    print(f"  {'server' + chr(39) + 's view':<19}{ep(s['local']):<22}{ep(s['remote'])}")
    if r["agree"]:
        for i, line in enumerate(says(r["client_translation"])):
            print(wrapped(line, f"  {'both ends say' if i == 0 else '':<19}", " " * 23))
    else:
        for who, t in (("client says", r["client_translation"]), ("server says", r["server_translation"])):
            for i, line in enumerate(says(t)):
                print(wrapped(line, f"  {who if i == 0 else '':<19}", " " * 23))
    e = r["conntrack"]
    cmdline = f"conntrack -L -p {name.lower()} --dport {P['dial_port']}"
    if e is None:
        print(f"  router's record   ({cmdline}): no entry for {ep(c['local'])}")
        continue
    state = f", {e['state']}" if e.get("state") else ""
    print(f"  the router's conntrack entry ({cmdline}{state}):")
    def tup(t):
        return (f"src={t['source']['address']} dst={t['destination']['address']} "
                f"sport={t['source']['port']} dport={t['destination']['port']}")
    o_ok = e["original"] == {"source": c["local"], "destination": c["remote"]}
    r_ok = e["reply"] == {"source": s["local"], "destination": s["remote"]}
    print(f"    original  {tup(e['original']):<56}"
          f"{'= the client' + chr(39) + 's view' if o_ok else 'NOT the client' + chr(39) + 's view'}")
    print(f"    reply     {tup(e['reply']):<56}"
          f"{'= the server' + chr(39) + 's, mirrored' if r_ok else 'NOT the server' + chr(39) + 's view'}")

# What the router did, in one or two sentences, from the facts both ends reported.
print()
ts = [(n, r["client_translation"]) for n, r in (("TCP", tcp), ("UDP", udp))
      if r and r["client_translation"]]
def ports_of(kind, which):
    return ", ".join(f"{n} {t[kind][which]['port']}" for n, t in ts if t.get(kind))
src = [t["source"] for _, t in ts if t.get("source")]
dst = [t["destination"] for _, t in ts if t.get("destination")]
parts = []
if dst:
    d = dst[0]
    b, a = d["before"], d["after"]
    if d.get("port_rewritten"):
        parts.append(f"it forwarded its own port {b['port']} to the server's port {a['port']}: "
                     f"the client dialled {ep(b)}, and the router rewrote the destination to "
                     f"{ep(a)}")
    else:
        parts.append(f"it forwarded the client's packets for {ep(b)} to {ep(a)}, the same port "
                     f"on the server's address")
if src:
    s0 = src[0]
    if all(not s.get("port_rewritten") for s in src):
        parts.append(f"it put its own address {s0['after']['address']} in place of the "
                     f"client's {s0['before']['address']} and kept the client's port "
                     f"({ports_of('source', 'before')}), since no other connection through it "
                     f"used that port")
    else:
        changes = "; ".join(f"{n} {ep(t['source']['before'])} became {ep(t['source']['after'])}"
                            for n, t in ts if t.get("source"))
        where = f" from its range {P['snat_low']}-{P['snat_high']}" if mode == "snat-random" else ""
        parts.append(f"it replaced the client's address and port with its own address and a "
                     f"port of its choosing{where} ({changes})")
if not parts:
    text = "What the router did: nothing that either end can see; the views mirror each other."
else:
    text = "What the router did: " + "; and ".join(parts) + "."
    if src and dst:
        text += " Neither end sees the other's real address."
    elif src:
        text += (" The server sees the router, not the client, as its client; the client's own "
                 "port never reaches it." if any(s.get("port_rewritten") for s in src) else
                 " The server sees the router, not the client, as its client.")
    else:
        own = ", ".join(f"{n} {ep(r['client_view']['local'])}" for n, r in (("TCP", tcp), ("UDP", udp)) if r)
        text += (f" The source stayed: the server sees the client's real address and port ({own}),"
                 " and answers through the router, which undoes the rewrite on the way back.")
print(textwrap.fill(text, width=W))
if problems:
    print()
    print(f"Not what mode {mode} should give:")
    for p in problems:
        print(wrapped(p, "  - ", "    "))
sys.exit(0 if ok else 1)
PY
find_python

# ---- Each mode --------------------------------------------------------------------------------
declare -A titles=(
  [snat]="source NAT (masquerade)"
  [snat-random]="source NAT with a new port (snat to a port range)"
  [forward]="a port forward (destination NAT)"
  [both]="a port forward and source NAT together"
  [haproxy-v1]="haproxy with a PROXY v1 header (send-proxy)"
  [haproxy-v2]="haproxy with a PROXY v2 header (send-proxy-v2)"
  [nginx]="an HTTP reverse proxy, with X-Forwarded-For"
)

# The router's rules for mode $1, one a line, as nft lists them.
rules_for() {
  local dnat="iifname \"$veth_router_c\" meta l4proto { tcp, udp } th dport $public_port dnat to $server_addr:$port"
  case $1 in
    snat) printf '%s\n' "oifname \"$veth_router_s\" masquerade" ;;
    snat-random)
      printf '%s\n' "oifname \"$veth_router_s\" meta l4proto { tcp, udp } snat to $router_server_addr:$snat_low-$snat_high" ;;
    forward) printf '%s\n' "$dnat" ;;
    both) printf '%s\n' "$dnat" "oifname \"$veth_router_s\" masquerade" ;;
  esac
}

# Loads mode $1's rules into the router (replacing the last mode's) and empties its conntrack
# table, so that the entries listed afterwards are this mode's only.
load_rules() {
  local m=$1 file=$work/$1.nft err line
  {
    echo "flush ruleset"
    echo "table ip portdemo_nat {"
    echo "  chain prerouting {"
    echo "    type nat hook prerouting priority dstnat; policy accept;"
    while IFS= read -r line; do [[ $line == *dnat* ]] && echo "    $line"; done < <(rules_for "$m")
    echo "  }"
    echo "  chain postrouting {"
    echo "    type nat hook postrouting priority srcnat; policy accept;"
    while IFS= read -r line; do [[ $line == *dnat* ]] || echo "    $line"; done < <(rules_for "$m")
    echo "  }"
    echo "}"
  } >"$file"
  if ! err=$(ip netns exec "$ns_router" nft -f "$file" 2>&1); then
    echo "nat.sh: the router's kernel refused the NAT rules (nf_tables and nf_nat are needed)." >&2
    echo "  nft -f said:" >&2
    printf '%s\n' "$err" | sed 's/^/    /' >&2
    exit 77
  fi
  if ! err=$(ip netns exec "$ns_router" conntrack -F 2>&1); then
    echo "nat.sh: the router's connection tracking table cannot be read (nf_conntrack_netlink" >&2
    echo "  is needed). conntrack -F said:" >&2
    printf '%s\n' "$err" | sed 's/^/    /' >&2
    exit 77
  fi
}

# Runs demo-client in the client host: run_client OUT ARGS...; bounded; exits on failure.
run_client() {
  local out=$1
  shift
  spawn_in client_pid "$ns_client" "$out" "$out.err" \
    "$client_bin" "$@" --timeout 5 --format json --color never
  finish_client 15 0.02 "demo-client $*"
  if ((client_rc != 0)); then
    echo "nat.sh: demo-client $* failed (exit $client_rc) through the router ($mode_now):" >&2
    { pyjson failure "$out"; cat "$out.err"; } | sed 's/^/  /' >&2
    exit "$client_rc"
  fi
}

# Starts demo-server in the server host with ARGS, shows the command and waits at most 5 s for
# its `ready` event: start_server FILE ARGS...; sets server_pid and ready ("LISTENING TCP_PORT
# UDP_PORT"); exits when it ends or stays silent.
start_server() {
  local sj=$1
  shift
  spawn_in server_pid "$ns_server" "$sj" "$sj.err" "$server_bin" "$@" --format json --color never
  head_line "$(shown "\$ ip netns exec $ns_server" "$server_bin" "$*")"
  wait_ready "$sj" "$sj.err" 0.02
}

# Starts a proxy in the router namespace (start_proxy NAME LOG ARGV...), shows the command, and
# waits at most 5 s until something listens on $router_client_addr:$public_port there. ss asks
# the kernel, so no probe connection reaches the proxy (nor, through it, the server).
start_proxy() {
  local name=$1 log=$2 rc deadline
  shift 2
  defer_signals
  ip netns exec "$ns_router" "$@" </dev/null >"$log" 2>&1 &
  proxy_pid=$!
  allow_signals
  head_line "$(shown "\$ ip netns exec $ns_router" "$1" "${*:2}")"
  deadline=$(($(now_ms) + 5000))
  while (($(now_ms) < deadline)); do
    if [[ -n $(ip netns exec "$ns_router" ss -Hltn "sport = :$public_port" 2>/dev/null) ]]; then
      say "  listening on $router_client_addr:$public_port: ready"
      return 0
    fi
    alive "$proxy_pid" || break
    sleep 0.02
  done
  if alive "$proxy_pid"; then
    echo "nat.sh: $name did not listen on $router_client_addr:$public_port within 5 s" >&2
    exit 75
  fi
  rc=0
  wait "$proxy_pid" || rc=$?
  proxy_pid=
  echo "nat.sh: $name ended (exit $rc) without listening on $router_client_addr:$public_port:" >&2
  sed 's/^/  /' "$log" >&2
  if [[ $name == nginx && -s $work/nginx/error.log ]]; then sed 's/^/  /' "$work/nginx/error.log" >&2; fi
  exit 69
}

# Runs curl in the client host: run_curl OUT BODY URL; OUT gets one line, curl's own end, the
# end it reached and the HTTP status; bounded; exits on failure.
run_curl() {
  local out=$1 body=$2 url=$3
  spawn_in client_pid "$ns_client" "$out" "$out.err" \
    curl -s -S --noproxy '*' --max-time 5 -o "$body" \
    -w '%{local_ip} %{local_port} %{remote_ip} %{remote_port} %{http_code}\n' "$url"
  finish_client 15 0.02 "curl $url"
  if ((client_rc != 0)); then
    echo "nat.sh: curl $url failed (exit $client_rc) through the router ($mode_now):" >&2
    sed 's/^/  /' "$out.err" >&2
    ((client_rc == 28)) && exit 75
    exit 69
  fi
}

# Waits at most 2 s for COUNT events named EVENT in a server's log: wait_logged FILE EVENT COUNT.
wait_logged() {
  local deadline=$(($(now_ms) + 2000))
  while (($(grep -c "\"event\":\"$2\"" "$1") < $3 && $(now_ms) < deadline)); do sleep 0.02; done
}

# One proxy mode (haproxy-v1, haproxy-v2, nginx): no NAT; demo-server in the server host, the
# proxy in the router, demo-client (or curl) in the client host dialling the proxy.
run_proxy_mode() {
  local m=$1 sj cfg d url send proxy version listening tcp_port udp_port
  dial_addr=$router_client_addr dial_port=$public_port
  if ((need_nat)) && ! ip netns exec "$ns_router" nft flush ruleset 2>/dev/null; then
    echo "nat.sh: could not empty the router's NAT rules before mode $m" >&2
    exit 77
  fi
  say "No NAT rules in the router: a proxy in $ns_router takes the connection instead."
  sj=$work/$m.server.json
  if [[ $m == nginx ]]; then
    proxy=nginx
    version=$(timeout 5 nginx -v 2>&1 | sed -n 's|^nginx version: nginx/||p') || version=
    start_server "$sj" --bind "$server_addr" --ports "$port"
  else
    proxy=haproxy
    version=$(timeout 5 haproxy -v 2>/dev/null | awk 'NR == 1 { print $3 }') || version=
    start_server "$sj" --bind "$server_addr" --ports "$port" --proxy-protocol "$port"
  fi
  read -r listening tcp_port udp_port <<<"$ready"
  if ((listening < 1 || tcp_port != port)); then
    echo "nat.sh: demo-server does not listen on TCP port $port:" >&2
    { pyjson failure "$sj"; cat "$sj.err"; } | sed 's/^/  /' >&2
    exit 69
  fi
  if [[ $m == nginx ]]; then
    say "  listening on $server_addr:$port, TCP: ready"
    # Its own prefix (-p), and in it its configuration, logs, pid file and temporary files,
    # all in this run's directory: nginx takes relative paths from the prefix.
    d=$work/nginx
    mkdir -p "$d/tmp"
    cfg=$d/nginx.conf
    cat >"$cfg" <<EOF
master_process off;
daemon off;
error_log error.log;
pid nginx.pid;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path tmp/body;
  proxy_temp_path tmp/proxy;
  fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi;
  scgi_temp_path tmp/scgi;
  server {
    listen $router_client_addr:$public_port;
    location / {
      proxy_pass http://$server_addr:$port;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Port \$server_port;
      proxy_set_header Host \$host:\$server_port;
    }
  }
}
EOF
    say "nginx's configuration, the part that matters (a reverse proxy for HTTP):"
    say "  listen $router_client_addr:$public_port;"
    say "  proxy_pass http://$server_addr:$port;"
    say "  proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;"
    say "  proxy_set_header X-Forwarded-Port \$server_port;"
    say "  proxy_set_header Host \$host:\$server_port;"
    start_proxy nginx "$d/stderr" nginx -p "$d/" -c nginx.conf -e error.log
    url=http://$router_client_addr:$public_port/json
    head_line "\$ ip netns exec $ns_client curl -s $url"
    run_curl "$work/$m.curl" "$work/$m.body" "$url"
    wait_logged "$sj" http_request 1
  else
    say "  listening on $server_addr:$port, TCP, each connection to begin with a PROXY header: ready"
    if [[ $m == haproxy-v2 ]]; then send="send-proxy-v2"; else send="send-proxy"; fi
    cfg=$work/$m.cfg
    haproxy_config "$router_client_addr:$public_port" "$server_addr:$port" "$send" >"$cfg"
    say "haproxy's configuration, the part that matters (mode tcp):"
    say "  frontend  bind $router_client_addr:$public_port"
    say "  backend   server demo $server_addr:$port $send"
    start_proxy haproxy "$work/$m.haproxy.log" haproxy -db -f "$cfg"
    head_line "$(shown "\$ ip netns exec $ns_client" "$client_bin" "$dial_addr $dial_port")"
    run_client "$work/$m.tcp.json" "$dial_addr" "$dial_port"
    wait_logged "$sj" answered 1
  fi
  stop_pid "$proxy_pid"
  proxy_pid=
  stop_pid "$server_pid"
  server_pid=

  params=$(printf '{"mode":"%s","format":"%s","server_json":"%s","client_json":"%s",' \
    "$m" "$([[ $json == 1 ]] && echo json || echo text)" "$sj" "$work/$m.tcp.json")
  params+=$(printf '"curl_out":"%s","body":"%s","config_file":"%s","proxy":"%s",' \
    "$work/$m.curl" "$work/$m.body" "$cfg" "$proxy")
  params+=$(printf '"proxy_version":"%s","ns_client":"%s","ns_router":"%s","ns_server":"%s",' \
    "$version" "$ns_client" "$ns_router" "$ns_server")
  params+=$(printf '"client_addr":"%s","server_addr":"%s","router_client_addr":"%s",' \
    "$client_addr" "$server_addr" "$router_client_addr")
  params+=$(printf '"router_server_addr":"%s","dial_addr":"%s","dial_port":%d,"port":%d,' \
    "$router_server_addr" "$dial_addr" "$dial_port" "$port")
  params+=$(printf '"duration_ms":%d}' "$(($(now_ms) - started))")
  pyjson proxy "$params" || failed=1
}

if ((need_nat)); then
  head_line 'portdemo: NAT, when the two views differ'
  say ""
  say "Across a plain cable each end's view of a connection mirrors the other's (two-hosts.sh)."
  say "A router that rewrites addresses breaks the mirror. Three network namespaces play three"
  say "machines; the router runs the kernel's own NAT (nftables), and its connection tracking"
  say "table (conntrack) records every rewrite:"
  say ""
  say "  client host   $ns_client   $client_addr/$prefix, everything else via the router"
  say "  router        $ns_router   $router_client_addr/$prefix to the client, $router_server_addr/$prefix to the server"
  say "  server host   $ns_server   $server_addr/$prefix, everything else via the router"
  say ""
  say "demo-client's hello carries its own view of each connection; both ends compare it with"
  say "the server's view and name what the router rewrote."
else
  head_line 'portdemo: proxies, when the two views differ'
  say ""
  say "A NAT router rewrites packets; a proxy takes the client's connection and opens its own"
  say "to the server, so the server's socket sees the proxy. Three network namespaces play three"
  say "machines; the router runs no NAT this time but a real proxy (haproxy or nginx):"
  say ""
  say "  client host   $ns_client   $client_addr/$prefix, everything else via the router"
  say "  router        $ns_router   $router_client_addr/$prefix to the client, $router_server_addr/$prefix to the server"
  say "  server host   $ns_server   $server_addr/$prefix, everything else via the router"
  say ""
  say "The proxy passes the client on in words of its own: a PROXY protocol header before the"
  say "first byte (haproxy), or X-Forwarded-For in the HTTP request (nginx)."
fi

failed=0
mode_now=
n=0
for m in "${modes[@]}"; do
  n=$((n + 1))
  mode_now=$m
  started=$(now_ms)
  say ""
  if ((${#modes[@]} > 1)); then heading="Mode $n of ${#modes[@]}: $m, ${titles[$m]}"
  else heading="Mode $m: ${titles[$m]}"; fi
  head_line "$heading"
  head_line "${heading//?/=}"
  if [[ $m == haproxy-* || $m == nginx ]]; then
    run_proxy_mode "$m"
    continue
  fi
  if [[ $m == forward || $m == both ]]; then
    dial_addr=$router_client_addr dial_port=$public_port
  else
    dial_addr=$server_addr dial_port=$port
  fi
  load_rules "$m"
  if (($(rules_for "$m" | wc -l) > 1)); then say "The router's rules (nft, in $ns_router):"
  else say "The router's rule (nft, in $ns_router):"; fi
  while IFS= read -r line; do say "  $line"; done < <(rules_for "$m")

  # The server, waited for until its `ready` line.
  sj=$work/$m.server.json
  start_server "$sj" --bind "$server_addr" --ports "$port" --udp "$port"
  read -r listening tcp_port udp_port <<<"$ready"
  if ((listening < 2 || tcp_port != port || udp_port != port)); then
    echo "nat.sh: demo-server does not listen on TCP and UDP port $port:" >&2
    { pyjson failure "$sj"; cat "$sj.err"; } | sed 's/^/  /' >&2
    exit 69
  fi
  say "  listening on $server_addr:$port, TCP and UDP: ready"

  # The client, TCP and then UDP, dialling the server or the router's forwarded port.
  head_line "$(shown "\$ ip netns exec $ns_client" "$client_bin" "$dial_addr $dial_port")"
  run_client "$work/$m.tcp.json" "$dial_addr" "$dial_port"
  head_line "$(shown "\$ ip netns exec $ns_client" "$client_bin" "--udp $dial_addr $dial_port")"
  run_client "$work/$m.udp.json" --udp "$dial_addr" "$dial_port"

  # The server logs each answer as it sends it; give its log at most 2 s to catch up.
  wait_logged "$sj" answered 2

  for proto in tcp udp; do
    if ! ip netns exec "$ns_router" conntrack -L -p "$proto" --dport "$dial_port" \
      >"$work/$m.$proto.ct" 2>"$work/$m.$proto.ct.err"; then
      echo "nat.sh: conntrack -L in the router failed:" >&2
      sed 's/^/  /' "$work/$m.$proto.ct.err" >&2
      exit 77
    fi
  done
  stop_pid "$server_pid"
  server_pid=

  rules_for "$m" >"$work/$m.rules"
  params=$(printf '{"mode":"%s","format":"%s","server_json":"%s","tcp_json":"%s","udp_json":"%s",' \
    "$m" "$([[ $json == 1 ]] && echo json || echo text)" "$sj" "$work/$m.tcp.json" "$work/$m.udp.json")
  params+=$(printf '"tcp_ct":"%s","udp_ct":"%s","ns_client":"%s","ns_router":"%s","ns_server":"%s",' \
    "$work/$m.tcp.ct" "$work/$m.udp.ct" "$ns_client" "$ns_router" "$ns_server")
  params+=$(printf '"client_addr":"%s","server_addr":"%s","router_client_addr":"%s",' \
    "$client_addr" "$server_addr" "$router_client_addr")
  params+=$(printf '"router_server_addr":"%s","dial_addr":"%s","dial_port":%d,"port":%d,' \
    "$router_server_addr" "$dial_addr" "$dial_port" "$port")
  params+=$(printf '"snat_low":%d,"snat_high":%d,"duration_ms":%d,"rules_file":"%s"}' \
    "$snat_low" "$snat_high" "$(($(now_ms) - started))" "$work/$m.rules")
  pyjson report "$params" || failed=1
done

if ((failed)); then exit 70; fi
exit 0
