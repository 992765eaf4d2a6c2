#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite with CTest.
# Exits non-zero on any failure. `.ci/run` calls this.
#   PORTDEMO_ASAN=1 scripts/test.sh   also builds with AddressSanitizer + UBSan and runs the
#                                     suite again under them (about 10 more minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

run_preset() {
  local preset=$1
  echo "== configure, build and test: preset $preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  ctest --preset "$preset" -j2
}

run_preset ci
if [[ ${PORTDEMO_ASAN:-0} == 1 ]]; then
  run_preset asan
fi
