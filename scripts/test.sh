#!/usr/bin/env bash
# Installs what is missing, builds, runs the whole test suite with CTest, then fuzzes every
# parser of untrusted input for a short while. Exits non-zero on any failure. `.ci/run` calls this.
#
#   scripts/test.sh                    preset ci, tests labelled `heavy` left out, then
#                                      scripts/fuzz.sh 30 (every fuzz target 30 s, 2 at a time)
#   scripts/test.sh --sanitize         and the whole suite again under ASan + UBSan (preset asan)
#   scripts/test.sh --tsan             and the whole suite again under ThreadSanitizer (preset tsan)
#   scripts/test.sh --heavy            include the tests labelled `heavy`
#   scripts/test.sh --fuzz-seconds N   fuzz each target N seconds; 0 skips fuzzing (CTest still
#                                      replays every fuzz corpus, label `fuzz`)
#   PORTDEMO_ASAN=1 scripts/test.sh    the same as --sanitize
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,13s/^# \{0,1\}//p' "$0"; }

sanitize=${PORTDEMO_ASAN:-0}
tsan=0
heavy=0
fuzz_seconds=30
while (($# > 0)); do
  case $1 in
    --sanitize) sanitize=1 ;;
    --tsan) tsan=1 ;;
    --heavy) heavy=1 ;;
    --fuzz-seconds)
      [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "test.sh: --fuzz-seconds needs a number of seconds" >&2; exit 64; }
      fuzz_seconds=$2
      shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "test.sh: unknown argument $1" >&2; usage >&2; exit 64 ;;
  esac
  shift
done

scripts/install-deps.sh

labels=()
((heavy)) || labels=(-LE heavy)

run_preset() {
  local preset=$1
  local start
  start=$(date +%s)
  echo "== configure, build and test: preset $preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  ctest --preset "$preset" -j2 "${labels[@]}"
  echo "== preset $preset: $(($(date +%s) - start)) s"
}

run_preset ci
if [[ $sanitize == 1 ]]; then
  run_preset asan
fi
if ((tsan)); then
  run_preset tsan
fi
if ((fuzz_seconds > 0)); then
  scripts/fuzz.sh "$fuzz_seconds"
fi
