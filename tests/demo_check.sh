#!/usr/bin/env bash
# Runs the guided demonstration without pauses against the built binaries and checks that it
# tells the whole story: three clients mirrored, nc's text report, the privileged bind, and
# the server's summary. Usage: demo_check.sh SOURCE_DIR BINARY_DIR
set -euo pipefail
src=$1
bin=$2
out=$(mktemp)
trap 'rm -f "$out"' EXIT

DEMO_PACE=0 DEMO_SKIP_BUILD=1 DEMO_BIN_DIR=$bin NO_COLOR=1 timeout 60 "$src/scripts/demo.sh" >"$out" 2>&1 || {
  echo "demo.sh failed with $?"; cat "$out"; exit 1; }

fail=0
expect() {  # expect COUNT PATTERN
  local n
  n=$(grep -cE -- "$2" "$out" || true)
  if [[ $n != "$1" ]]; then
    echo "expected $1 line(s) matching '$2', found $n"; fail=1
  fi
}
expect 3 '^  client \|   mirror image: yes'
expect 1 '^  nc     \| portdemo: your connection #4'
expect 1 '^  server \| summary: 4 connections'
cutoff=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)
if ((cutoff > 80)) && command -v capsh >/dev/null && (($(id -u) == 0)); then
  expect 1 '^  student\| FAILED +127\.0\.0\.1:80 +bind: Permission denied \(EACCES\)'
  expect 1 "net.ipv4.ip_unprivileged_port_start = $cutoff"
fi
# Every line the demo prints fits a projector.
long=$(awk 'length($0) >= 100' "$out")
if [[ -n $long ]]; then echo "lines of 100 columns or more:"; echo "$long"; fail=1; fi
# The three clients got three different ports from the kernel.
ports=$(sed -nE 's/^  client \|   local +[0-9.]+:([0-9]+) .*/\1/p' "$out" | sort -u | wc -l)
[[ $ports == 3 ]] || { echo "expected 3 distinct client ports, found $ports"; fail=1; }

if ((fail)); then echo "--- demo output:"; cat "$out"; exit 1; fi
echo "demo told the whole story"
