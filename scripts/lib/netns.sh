# shellcheck shell=bash
# What scripts/two-hosts.sh and scripts/nat.sh share: text for the screen, their preconditions,
# the programs they start (by pid, in a step a signal cannot split, each wait bounded), the
# network namespaces and veth pairs they make and delete, the python3 that reads the programs'
# JSON, and haproxy's configuration (which tests/process/netns_helpers.py reads from here too).
#
# Sourced, not run: it only defines functions and the state they keep (made, pending,
# interrupted, removed). The sourcing script sets what they use:
#   prog                      its name in messages ("two-hosts.sh")
#   root, json, bold          the repository, --json given, headings in bold (always or never)
#   server_bin, client_bin    the programs
#   server_pid, client_pid    the pids of those it runs (empty while none runs)
#   work                      its temporary directory, removed by teardown
#   py                        its Python program for every JSON question, run by pyjson
# Lint the scripts with `shellcheck -x` so that it follows them here (their source-path
# directives make that work from any directory).
# shellcheck disable=SC2154  # those are the sourcing script's

made=()        # the network namespaces this script created, in order
pending=       # a signal that came while signals were deferred (130 or 143)
interrupted=   # set once a signal ends the script
removed=()     # teardown: the namespaces it deleted

# ---- Text for the screen (nothing of it in JSON mode) -----------------------------------------
is_uint() { [[ $1 =~ ^[0-9]{1,6}$ ]]; }
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

# ---- Preconditions ----------------------------------------------------------------------------
require_ip_and_python() {
  command -v ip >/dev/null || { echo "$prog needs iproute2's ip (apt-get install iproute2)" >&2; exit 69; }
  command -v python3 >/dev/null || { echo "$prog needs python3 to read the programs' JSON" >&2; exit 69; }
}
require_binaries() {
  local bin
  for bin in "$server_bin" "$client_bin"; do
    if [[ ! -x $bin ]]; then
      echo "$prog: $bin is not an executable. Build first:" >&2
      echo "  cmake --preset ci && cmake --build --preset ci   (or set DEMO_SERVER, DEMO_CLIENT)" >&2
      exit 69
    fi
  done
}

# ---- Processes of this script's own, ended by pid ---------------------------------------------
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
    echo "$prog: pid $pid did not end even after SIGKILL; not waiting for it" >&2
    return 0
  fi
  wait "$pid" 2>/dev/null || true
}

on_signal() { interrupted=1; exit "$1"; }
# Between starting something and recording it, a signal only takes note; it acts just after.
defer_signals() { trap 'pending=130' INT; trap 'pending=143' TERM; }
allow_signals() {
  trap 'on_signal 130' INT
  trap 'on_signal 143' TERM
  if [[ -n $pending ]]; then on_signal "$pending"; fi
}

# spawn_in VAR NS OUT ERR COMMAND...: COMMAND in network namespace NS, in the background, stdin
# empty, stdout to OUT, stderr to ERR; its pid goes to variable VAR in the same step.
spawn_in() {
  local var=$1 ns=$2 out=$3 err=$4
  shift 4
  defer_signals
  ip netns exec "$ns" "$@" </dev/null >"$out" 2>"$err" &
  printf -v "$var" '%s' "$!"
  allow_signals
}

# wait_ready SERVER_JSON SERVER_ERR POLL: waits at most 5 s, looking every POLL seconds, for the
# `ready` event of demo-server ($server_pid) in SERVER_JSON, and sets ready to what
# `pyjson ready` makes of it. Exits 75 if the server stays silent, or with its exit code (69 for
# 0) and its explanation if it ends first.
wait_ready() {
  local sj=$1 se=$2 poll=$3 rc deadline
  ready=
  deadline=$(($(now_ms) + 5000))
  while (($(now_ms) < deadline)); do
    if grep -q '"event":"ready"' "$sj" && ready=$(pyjson ready "$sj"); then break; fi
    ready=
    alive "$server_pid" || break
    sleep "$poll"
  done
  if [[ -z $ready ]]; then
    rc=0
    if alive "$server_pid"; then
      echo "$prog: demo-server did not report ready within 5 s" >&2
      rc=75
    else
      wait "$server_pid" || rc=$?
      server_pid=
      echo "$prog: demo-server ended (exit $rc) without listening:" >&2
      { pyjson failure "$sj"; cat "$se"; } | sed 's/^/  /' >&2
      ((rc != 0)) || rc=69
    fi
    exit "$rc"
  fi
}

# finish_client LIMIT POLL WHAT: waits at most LIMIT s, looking every POLL seconds, for the
# client ($client_pid) to end, and leaves its exit code in client_rc. If it is still running
# then, ends it and exits 75 ("WHAT did not finish within LIMIT s").
# shellcheck disable=SC2034  # client_rc is the caller's to read
finish_client() {
  local limit=$1 poll=$2 what=$3 deadline
  deadline=$(($(now_ms) + limit * 1000))
  while alive "$client_pid" && (($(now_ms) < deadline)); do sleep "$poll"; done
  if alive "$client_pid"; then
    stop_pid "$client_pid"
    client_pid=
    echo "$prog: $what did not finish within $limit s" >&2
    exit 75
  fi
  client_rc=0
  wait "$client_pid" || client_rc=$?
  client_pid=
}

# ---- Network namespaces of this script's own ----------------------------------------------------
ns_exists() { [[ -e /run/netns/$1 ]] || ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$1"; }
is_made() {
  local ns
  for ns in "${made[@]}"; do [[ $ns != "$1" ]] || return 0; done
  return 1
}

# require_free NS... -- DEV...: exits 69 if a network namespace NS exists already, or an
# interface DEV in this host's namespace: those names are not this script's to take.
require_free() {
  while [[ $1 != -- ]]; do
    if ns_exists "$1"; then
      echo "$prog: a network namespace named $1 exists already. It is not this" >&2
      echo "  script's, so it stays; if it is a leftover, remove it: ip netns del $1" >&2
      exit 69
    fi
    shift
  done
  shift
  local dev
  for dev in "$@"; do
    if ip link show dev "$dev" >/dev/null 2>&1; then
      echo "$prog: an interface named $dev exists already in this host's namespace;" >&2
      echo "  this script will not take its name." >&2
      exit 69
    fi
  done
}

# Creates namespace $1 and records it as ours in one step that a signal cannot split.
make_ns() {
  local err
  defer_signals
  made+=("$1")
  if ! err=$(ip netns add "$1" 2>&1); then
    unset 'made[${#made[@]}-1]'
    allow_signals
    if [[ $err == *"File exists"* ]]; then
      echo "$prog: a network namespace named $1 appeared meanwhile. It is not" >&2
      echo "  this script's, so it stays." >&2
      exit 69
    fi
    echo "$prog: creating a network namespace is not permitted here; it needs root" >&2
    echo "  with CAP_SYS_ADMIN, outside a restricted container. ip netns add said:" >&2
    printf '  %s\n' "${err:-(nothing)}" >&2
    exit 77
  fi
  allow_signals
}

# Runs ip inside the namespaces; any failure ends the script (and the trap cleans up).
nsip() {
  local err
  if ! err=$(ip "$@" 2>&1); then
    echo "$prog: ip $* failed: $err" >&2
    exit 69
  fi
}

# veth_pairs NS_A DEV_A ADDR_A NS_B DEV_B ADDR_B [...]: one veth pair per six arguments, its
# ends created directly inside namespaces NS_A and NS_B (never in this host's namespace), then
# lo up in each namespace named, each end's ADDRESS/PREFIX added and each end up, in the order
# given.
veth_pairs() {
  local ns=() dev=() addr=() lo_up=() i n
  while (($#)); do
    ns+=("$1" "$4") dev+=("$2" "$5") addr+=("$3" "$6")
    shift 6
  done
  for ((i = 0; i < ${#ns[@]}; i += 2)); do
    nsip link add "${dev[i]}" netns "${ns[i]}" \
      type veth peer name "${dev[i + 1]}" netns "${ns[i + 1]}"
  done
  for n in "${ns[@]}"; do
    [[ " ${lo_up[*]} " == *" $n "* ]] && continue
    lo_up+=("$n")
    nsip -n "$n" link set lo up
  done
  for i in "${!ns[@]}"; do nsip -n "${ns[i]}" addr add "${addr[i]}" dev "${dev[i]}"; done
  for i in "${!ns[@]}"; do nsip -n "${ns[i]}" link set "${dev[i]}" up; done
}

# teardown PID... -- NS...: the trap's common part, also when interrupted: ends the programs
# (by pid, in this order), deletes those of the namespaces NS this script created (in this
# order; their veth ends go with them), says which it could not delete, and removes $work. The
# namespaces deleted are left in removed, for the script's last words.
teardown() {
  trap '' INT TERM
  set +e
  if [[ -n $interrupted ]]; then
    [[ -t 2 ]] && echo >&2   # after the ^C the terminal echoed
    echo "$prog: interrupted, cleaning up" >&2
  fi
  while [[ $1 != -- ]]; do stop_pid "$1"; shift; done
  shift
  removed=()
  local ns
  for ns in "$@"; do is_made "$ns" && ip netns del "$ns" 2>/dev/null && removed+=("$ns"); done
  for ns in "$@"; do
    if is_made "$ns" && ns_exists "$ns"; then
      echo "$prog: could not delete namespace $ns: ip netns del $ns" >&2
    fi
  done
  [[ -n $work ]] && rm -rf "$work"
}

# ---- Reading the programs' JSON -----------------------------------------------------------------
# The interpreter itself, found once: python3 may be a wrapper (pyenv's shim) that costs half
# a second a start, and the scripts ask a few questions per connection or mode.
find_python() {
  py_bin=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || py_bin=
  [[ -n $py_bin && -x $py_bin ]] || py_bin=python3
}
pyjson() { "$py_bin" -c "$py" "$@"; }

# ---- haproxy -------------------------------------------------------------------------------------
# haproxy_config FRONT BACKEND SEND: haproxy's configuration in mode tcp: it takes connections on
# FRONT (ADDRESS:PORT) and opens its own to BACKEND, beginning each with a PROXY header (SEND:
# send-proxy for v1, send-proxy-v2). nat.sh's haproxy modes run it in the router namespace;
# tests/process/test_proxy_protocol.py on loopback.
haproxy_config() {
  cat <<EOF
global
    maxconn 100
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend front
    bind $1
    default_backend back
backend back
    server demo $2 $3
EOF
}
