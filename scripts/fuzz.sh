#!/usr/bin/env bash
# Builds the libFuzzer targets (preset fuzz: clang, ASan + UBSan) and fuzzes each of them for
# SECONDS, starting from its seed corpus in tests/fuzz/corpus/.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   SECONDS defaults to 30; 0 only replays the corpus
#   FUZZ_JOBS=N scripts/fuzz.sh             targets at once (default: one per core)
#
# The corpus is copied to a temporary directory first, so what the fuzzer adds never lands in
# tests/. Exits non-zero when any target crashes, leaks, hangs or runs out of memory; the input
# that did it is kept in build/fuzz/findings/TARGET/ and named, with the command to replay it.
# Logs: build/fuzz/logs/TARGET.log.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=30
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
jobs=${FUZZ_JOBS:-$(nproc)}

# The longest input each target is given: past the limits it guards, no longer.
declare -A max_len=(
  [fuzz_port_spec]=256        # a spec names at most 1024 ports; long specs are all refused alike
  [fuzz_duration]=64          # durations over 16 characters are refused
  [fuzz_text_line]=4200       # past the default 4096-byte line limit
  [fuzz_http_request]=9000    # past the default 8 KiB request line and headers
  [fuzz_server_view]=2048     # a server_view line is about 150 bytes; room for nesting
  [fuzz_log_sanitiser]=512    # past the 200 bytes the JSON log keeps
  [fuzz_board]=4096           # dozens of connections and requests, several batches
  [fuzz_proxy_header]=2100    # past the 2048-byte v2 header limit (v1 lines stop at 107)
  [fuzz_h2_frames]=4096       # dozens of frames: streams, CONTINUATION, SETTINGS, flow control
  [fuzz_h2_client]=4096       # a server's SETTINGS, HEADERS, DATA, RST_STREAM, GOAWAY, PUSH_PROMISE
  [fuzz_quic_datagrams]=8192  # a few full-size Initials (1200+ bytes) and the records around them
)

scripts/install-deps.sh >/dev/null
echo "== fuzz: configure and build (preset fuzz)"
start=$(date +%s)
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
echo "fuzz: built in $(($(date +%s) - start)) s"

build=build/fuzz
bin=$build/tests/fuzz
targets=("$@")
if ((${#targets[@]} == 0)); then
  for dir in tests/fuzz/corpus/*/; do targets+=("$(basename "$dir")"); done
fi

work=$(mktemp -d /tmp/portdemo-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$build/logs"

# Fuzzes one target; its result (0 or libFuzzer's exit code) goes to $work/TARGET.rc.
fuzz_one() {
  local target=$1
  local corpus=$work/$target
  local findings=$build/findings/$target
  local log=$build/logs/$target.log
  cp -r "tests/fuzz/corpus/$target" "$corpus"
  mkdir -p "$findings"
  local args=(-max_len="${max_len[$target]:-4096}" -rss_limit_mb=2048 -timeout=10
              -print_final_stats=1 -artifact_prefix="$findings/")
  if ((seconds == 0)); then
    args+=(-runs=0)
  else
    args+=(-max_total_time="$seconds")
  fi
  [[ -f tests/fuzz/$target.dict ]] && args+=(-dict="tests/fuzz/$target.dict")
  local rc=0
  # The outer timeout only guards against a libFuzzer that does not stop by itself.
  timeout --signal=KILL $((seconds * 2 + 120)) "$bin/$target" "${args[@]}" "$corpus" >"$log" 2>&1 || rc=$?
  echo "$rc" >"$work/$target.rc"
}

echo "== fuzz: ${#targets[@]} targets, ${seconds} s each, $jobs at a time"
start=$(date +%s)
running=0
for target in "${targets[@]}"; do
  if [[ ! -x $bin/$target ]]; then
    echo "fuzz: no target $target in $bin" >&2
    exit 2
  fi
  if ((running >= jobs)); then
    wait -n || true
    running=$((running - 1))
  fi
  fuzz_one "$target" &
  running=$((running + 1))
done
wait
elapsed=$(($(date +%s) - start))

failed=0
printf '%-20s %10s %8s %6s %8s  %s\n' target runs exec/s cov corpus result
for target in "${targets[@]}"; do
  log=$build/logs/$target.log
  rc=$(cat "$work/$target.rc" 2>/dev/null || echo 1)
  # A target that crashed early has no statistics: the figures stay "-".
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2 || true)
  corpus=$(grep -oE 'corp: [0-9]+' "$log" | tail -1 | cut -d' ' -f2 || true)
  result=ok
  [[ $rc != 0 ]] && result="FAILED (exit $rc)"
  printf '%-20s %10s %8s %6s %8s  %s\n' "$target" "${runs:--}" "${rate:--}" "${cov:--}" "${corpus:--}" "$result"
  if [[ $rc != 0 ]]; then
    failed=1
    echo "---- $target: the end of $log"
    grep -vE '^(#[0-9]+|0x[0-9a-f]{2},)' "$log" | tail -40 || true
    grep -oE "Test unit written to .*" "$log" | while read -r _ _ _ _ file; do
      echo "---- $target: reproducer $file"
      echo "     replay: $bin/$target $file"
    done || true
  fi
done
echo "fuzz: ${#targets[@]} targets in ${elapsed} s"
exit $failed
