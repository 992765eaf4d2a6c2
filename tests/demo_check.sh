#!/usr/bin/env bash
# Runs the guided demonstration without pauses against the built binaries and checks that it
# tells the whole story, chapter by chapter: three clients mirrored, nc's text report and the
# server's summary (1); HTTP and HTTPS beside each other and the privileged bind (2); 500
# connections over the ephemeral range, 20 held open and seen by ss, --verify (3); UDP (4);
# two hosts (5); NAT, both ends naming the router's rewrite (6); the packets on the wire (7); the
# board's event stream (8), one page over HTTP/1.1, HTTP/2 and HTTP/3 (9). Then one chapter alone (`demo.sh 3`), `--list`,
# and bad chapter numbers (exit 64). stdin is /dev/null throughout: the demo must not wait.
# Usage: demo_check.sh SOURCE_DIR BINARY_DIR
set -euo pipefail
src=$1
bin=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=$work/all.txt
started=$SECONDS

demo() {  # demo SECONDS ARGS...: the demo as CTest runs it, stdout and stderr apart
  local limit=$1
  shift
  DEMO_PACE=0 DEMO_SKIP_BUILD=1 DEMO_BIN_DIR=$bin NO_COLOR=1 \
    timeout -k 5 "$limit" "$src/scripts/demo.sh" "$@" </dev/null
}

rc=0
demo 55 >"$out" 2>&1 || rc=$?
if ((rc != 0)); then echo "demo.sh failed with $rc"; cat "$out"; exit 1; fi

fail=0
file=$out
# The lines of chapter N of the whole run: from its heading to the next heading.
chapter() {
  awk -v n="$1" '/^Chapter [0-9]+ of [0-9]+: / { on = ($2 == n) } /^Your turn/ { on = 0 } on' "$out"
}
expect() {  # expect COUNT PATTERN: that many lines of $file match (COUNT "+": at least one)
  local n
  n=$(grep -cE -- "$2" "$file" || true)
  if [[ $1 == + ]]; then
    ((n >= 1)) && return 0
  elif [[ $n == "$1" ]]; then
    return 0
  fi
  echo "${label:-}: expected $1 line(s) matching '$2', found $n"; fail=1
}

# Every chapter, once, in order, and the closing lines.
label=headings
expect 1 '^portdemo: how ports work, in 9 chapters$'
for n in 1 2 3 4 5 6 7 8 9; do expect 1 "^Chapter $n of 9: "; done
headings=$(grep -oE '^Chapter [0-9]' "$out" | tr -dc '0-9')
[[ $headings == 123456789 ]] || { echo "chapters out of order: $headings"; fail=1; }
expect 1 '^Your turn'

label="chapter 1"
chapter 1 >"$work/1.txt"; file=$work/1.txt
expect 3 '^  client \|   mirror image: yes'
expect 1 '^  nc     \| portdemo: your connection #4'
expect 1 '^  server \| summary: 4 connections'
# The three clients got three different ports from the kernel.
ports=$(sed -nE 's/^  client \|   local +[0-9.]+:([0-9]+) .*/\1/p' "$file" | sort -u | wc -l)
[[ $ports == 3 ]] || { echo "chapter 1: expected 3 distinct client ports, found $ports"; fail=1; }

label="chapter 2"
chapter 2 >"$work/2.txt"; file=$work/2.txt
expect 1 '^  curl   \| portdemo: your connection #1, request 1'
expect 1 '^  curl   \| portdemo: your connection #2, request 1'
expect 1 '^  curl   \|   encrypted: TLS'
expect 1 '^Two services on one host: server ports [0-9]+ and [0-9]+, fixed'
expect 1 '^  server \| summary: 2 connections'
cutoff=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)
if ((cutoff > 80)) && command -v capsh >/dev/null && (($(id -u) == 0)); then
  expect 1 '^  student\| FAILED +127\.0\.0\.1:80 +bind: Permission denied \(EACCES\)'
  expect 1 "net.ipv4.ip_unprivileged_port_start = $cutoff"
elif ((cutoff <= 80)); then
  expect 1 'so nothing is refused'
fi

label="chapter 3"
chapter 3 >"$work/3.txt"; file=$work/3.txt
expect 1 '^  client \| summary: 500 of 500 connections made'
expect 1 '^  client \|   made 50 at a time \(--parallel 50\)'
expect 16 '^  client \|     [0-9]+-[0-9]+ +#* +[0-9]+$'
expect 1 '^  client \| note: holding 20 connections open'
expect 1 '^\$ ss -tn state established'
expect 1 '^established connections to port [0-9]+: 20 '
expect 1 '^  client \| summary: 20 of 20 connections made'
expect 1 '^  client \| verified: the tuple printed is the one'
expect 1 '^  server \| summary: 521 connections'

label="chapter 4"
chapter 4 >"$work/4.txt"; file=$work/4.txt
if "$bin/client/demo-client" --help 2>&1 | grep -q -- '--udp' &&
  "$bin/server/demo-server" --help 2>&1 | grep -q -- '--udp'; then
  expect 1 '^  server \| listening +127\.0\.0\.1:[0-9]+ +UDP'
  expect 2 '^  client \| answered #1 \(UDP'
  expect 2 '^  client \|   mirror image: yes'
  expect 2 '^  server \| datagram #[12] '
  expect 1 '^  client \| .*ECONNREFUSED'
  expect 1 '^  \(demo-client ended with exit 69\)'
  expect 1 '^  server \| summary: .*UDP port [0-9]+: 2 datagrams'
else
  expect 1 '^UDP support is not built yet'
fi

label="chapter 5"
chapter 5 >"$work/5.txt"; file=$work/5.txt
if grep -q 'does not let the demo make two hosts' "$file"; then
  echo "chapter 5: two hosts not possible here (exit 77), said calmly"
else
  expect 1 '^  Mirror: yes, for each of the 3 connections'
  expect 1 '^  Cleaned up: deleted pd-client-[0-9]+ and pd-server-[0-9]+'
fi

label="chapter 6"
chapter 6 >"$work/6.txt"; file=$work/6.txt
if grep -q 'does not let the demo build a router with NAT' "$file"; then
  echo "chapter 6: no NAT possible here (exit 77), said calmly"
else
  for mode in snat snat-random forward both; do expect 1 "^  Mode [1-4] of 4: $mode, "; done
  expect 4 '^  What the router did: '
  expect 8 "= the client's view$"
  expect 8 "= the server's, mirrored$"
  expect 0 '(NOT the|Not what mode)'
  expect 1 '^  Cleaned up: deleted pd-nat-client-[0-9]+, pd-nat-router-[0-9]+ and pd-nat-server-[0-9]+'
fi

label="chapter 7"
chapter 7 >"$work/7.txt"; file=$work/7.txt
if grep -q '^No packets can be captured here' "$file"; then
  echo "chapter 7: no capture possible here (exit 77), said calmly"
else
  expect 1 '^  agree: yes, the wire carries the same four facts'
fi

label="chapter 8"
chapter 8 >"$work/8.txt"; file=$work/8.txt
# The three demo-client connections and nc's, each on the board with the port the client printed.
expect 4 '^  board  \| connection #[0-9]+  tcp  client 127\.0\.0\.1:[0-9]+  ->  server port [0-9]+$'
expect 1 '^  board  \| totals: 5 connections from 1 distinct client address\(es\)$'
for cp in $(sed -nE 's/^  client \|   local +127\.0\.0\.1:([0-9]+) .*/\1/p' "$file"); do
  expect 1 "^  board  \\| connection #[0-9]+  tcp  client 127\\.0\\.0\\.1:$cp  "
done

label="chapter 9"
chapter 9 >"$work/9.txt"; file=$work/9.txt
# HTTP/1.1: two runs, two ports; kept alive, one port for requests 1 and 2.
expect 4 '^  curl   \|   request [12] on its connection: client port [0-9]+  \(HTTP/1\.1\)$'
h1=$(sed -nE 's/^  curl   \|   request [12] on its connection: client port ([0-9]+)  \(HTTP\/1\.1\)$/\1/p' "$file" | tail -n 2 | sort -u | wc -l)
[[ $h1 == 1 ]] || { echo "chapter 9: the kept-alive requests came from $h1 ports"; fail=1; }
# HTTP/2: demo-client's five streams on one port, each seen so by the server; inside TLS,
# three more, with what TLS chose.
if grep -q 'h2 chosen inside TLS' "$file"; then
  expect 8 '^  client \|     stream (1|3|5|7|9) +the server saw '
  expect 3 '^  curl   \|   request [123] on its connection: client port [0-9]+  \(HTTP/2, stream [135]\)$'
  expect 1 "^  client \\|   HTTP/2 \\(h2, chosen in TLS's ALPN\\) on this one connection, from local port [0-9]+:$"
  expect 1 '^  client \|   3 requests, 3 streams, one client port \([0-9]+\): HTTP/2 multiplexes them on one$'
  expect 1 '^  client \|   TLS: TLSv1\.3, TLS_[A-Z0-9_]+, certificate not verified \(-k\)$'
else
  expect 5 '^  client \|     stream (1|3|5|7|9) +the server saw '
fi
expect 1 '^  client \|   5 requests, 5 streams, one client port \([0-9]+\): HTTP/2 multiplexes them on one$'
if grep -q -- '--http3 -k --rebind' "$file"; then
  expect + '^  client \|.*(moved|rebind|new local port)'
else
  expect 1 '^HTTP/3: (this demo-server was built without --quic|no TLS port listens here)'
fi

# Every line the demo prints fits a projector, and NO_COLOR means no colour.
long=$(awk 'length($0) >= 100' "$out")
if [[ -n $long ]]; then echo "lines of 100 columns or more:"; echo "$long"; fail=1; fi
if grep -q $'\033' "$out"; then echo "colour despite NO_COLOR"; fail=1; fi
if ((fail)); then echo "--- demo output:"; cat "$out"; exit 1; fi
echo "the whole demo told the whole story ($((SECONDS - started)) s)"

# One chapter alone.
one=$work/one.txt
rc=0
demo 25 3 >"$one" 2>&1 || rc=$?
file=$one label="demo.sh 3"
if ((rc != 0)); then echo "demo.sh 3 failed with $rc"; fail=1; fi
expect 1 '^Chapter 3 of 9: Many connections and the ephemeral range$'
expect 0 '^Chapter [124-9] of 9'
expect 1 '^  client \| summary: 500 of 500 connections made'
expect 1 '^established connections to port [0-9]+: 20 '
expect 1 '^  server \| summary: 521 connections'
if ((fail)); then echo "--- demo.sh 3 output:"; cat "$one"; exit 1; fi

# The list of chapters.
rc=0
demo 10 --list >"$work/list.txt" 2>&1 || rc=$?
file=$work/list.txt label="demo.sh --list"
((rc == 0)) || { echo "demo.sh --list failed with $rc"; fail=1; }
expect 9 '^  [1-9]  [A-Z]'
expect 1 '^  4  UDP$'
expect 1 '^  6  NAT: when the two views differ$'

# Bad chapter numbers: exit 64, a message naming the number and the chapters there are.
for bad in 10 0 abc; do
  rc=0
  demo 10 "$bad" >"$work/bad.out" 2>"$work/bad.err" || rc=$?
  file=$work/bad.err label="demo.sh $bad"
  ((rc == 64)) || { echo "demo.sh $bad: expected exit 64, got $rc"; fail=1; }
  [[ ! -s $work/bad.out ]] || { echo "demo.sh $bad: printed on stdout"; fail=1; }
  expect 1 "(chapter $bad;|^demo.sh: $bad is not a chapter).* chapters are 1 to 9"
  expect 9 '^  [1-9]  [A-Z]'
done

if ((fail)); then
  for f in list.txt bad.err; do echo "--- $f:"; cat "$work/$f"; done
  exit 1
fi
echo "demo.sh 3, --list and bad chapter numbers behave ($((SECONDS - started)) s in all)"
