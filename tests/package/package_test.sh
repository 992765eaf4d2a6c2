#!/usr/bin/env bash
# The .deb, as a user gets it: build it with cpack from this build directory, unpack it with
# dpkg-deb -x into a temporary root (nothing is installed on this machine), check its files and
# control fields, and run the unpacked programs: --version, and a loopback round trip.
#
#   tests/package/package_test.sh BUILD_DIR PROJECT_VERSION
set -euo pipefail

build_dir=$1
version=$2
tmp=$(mktemp -d /tmp/portdemo-package.XXXXXX)
server_pid=""
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step_started=""
step() {  # names the next step, after saying how long the last one took
  local now
  now=$(date +%s%N)
  [[ -z $step_started ]] || echo "   took $(((now - step_started) / 1000000)) ms"
  step_started=$now
  echo "== $*"
}

for tool in cpack dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done

step "cpack -G DEB"
(cd "$build_dir" && cpack -G DEB -B "$tmp/out" >"$tmp/cpack.log" 2>&1) || { cat "$tmp/cpack.log"; fail "cpack"; }
shopt -s nullglob
debs=("$tmp"/out/portdemo_*.deb)
((${#debs[@]} == 1)) || fail "expected one portdemo_*.deb in $tmp/out, found: ${debs[*]-none}"
deb=${debs[0]}
arch=$(dpkg --print-architecture)
[[ $(basename "$deb") == "portdemo_${version}-1_${arch}.deb" ]] || fail "package file name $(basename "$deb")"
echo "$(basename "$deb"): $(stat -c %s "$deb") bytes"

step "control fields"
field() { dpkg-deb -f "$deb" "$1"; }
[[ $(field Package) == portdemo ]] || fail "Package: $(field Package)"
[[ $(field Version) == "${version}-1" ]] || fail "Version: $(field Version)"
[[ $(field Section) == net ]] || fail "Section: $(field Section)"
[[ -n $(field Maintainer) ]] || fail "no Maintainer"
description=$(field Description)
[[ -n $description && $description != *";"* ]] || fail "Description (no ';' from a CMake list): $description"
depends=$(field Depends)
echo "Depends: $depends"
for lib in libc6 libfmt9 libssl3 libstdc++6 libgcc-s1; do
  [[ ", $depends," == *", $lib "* || ", $depends," == *", $lib,"* ]] || fail "Depends does not name $lib: $depends"
done

step "file list"
# Every file the package holds, and nothing else (no tests, no headers, no build leftovers).
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $1, $2, $6}' | sort -k3 >"$tmp/files"
cat >"$tmp/expected" <<EOF
-rwxr-xr-x root/root ./usr/bin/demo-client
-rwxr-xr-x root/root ./usr/bin/demo-server
-rw-r--r-- root/root ./usr/share/bash-completion/completions/demo-client
-rw-r--r-- root/root ./usr/share/bash-completion/completions/demo-server
-rw-r--r-- root/root ./usr/share/doc/portdemo/examples/demo-server.service
-rw-r--r-- root/root ./usr/share/doc/portdemo/examples/demo-server.socket
-rw-r--r-- root/root ./usr/share/man/man1/demo-client.1.gz
-rw-r--r-- root/root ./usr/share/man/man1/demo-server.1.gz
EOF
diff -u "$tmp/expected" "$tmp/files" || fail "the package's files differ from the expected list (above)"

step "dpkg-deb -x"
root=$tmp/root
dpkg-deb -x "$deb" "$root"
for program in demo-server demo-client; do
  if readelf -S "$root/usr/bin/$program" 2>/dev/null | grep -q '\.debug_info'; then
    fail "$program is not stripped"
  fi
done
if command -v groff >/dev/null; then
  for page in demo-server demo-client; do
    warnings=$(zcat "$root/usr/share/man/man1/$page.1.gz" | groff -man -ww -Tutf8 -z 2>&1) || fail "groff $page.1.gz"
    [[ -z $warnings ]] || fail "groff warns about $page.1.gz: $warnings"
  done
fi

step "the unpacked programs: --version"
for program in demo-server demo-client; do
  out=$("$root/usr/bin/$program" --version) || fail "$program --version exited $?"
  first=${out%%$'\n'*}
  [[ $first =~ ^$program\ ${version//./\\.}\ \(commit\ [A-Za-z0-9._+-]+\)$ ]] || fail "$program --version: $first"
  [[ $out == *$'\nAsio '* && $out == *$'\nfmt '* && $out == *$'\nOpenSSL '* ]] || fail "$program --version: $out"
  echo "$first"
done

step "the unpacked programs: a round trip on loopback"
# A port the kernel chooses, on 127.0.0.1 only; the server is ended by its pid.
"$root/usr/bin/demo-server" --ports 0 --bind 127.0.0.1 --format json >"$tmp/server.jsonl" 2>"$tmp/server.err" &
server_pid=$!
port=""
for _ in $(seq 100); do  # up to 5 s for the ready event
  if ready=$(grep -m1 '"event":"ready"' "$tmp/server.jsonl"); then
    [[ $ready =~ \"ports\":\[([0-9]+)\] ]] && port=${BASH_REMATCH[1]}
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.05
done
[[ -n $port ]] || { cat "$tmp/server.jsonl" "$tmp/server.err" >&2; fail "no ready event from the unpacked demo-server"; }
client=$(timeout 10 "$root/usr/bin/demo-client" 127.0.0.1 "$port" --format json) || fail "demo-client exited $?: $client"
connected=$(grep '"event":"connected"' <<<"$client") || fail "no connected event: $client"
[[ $connected == *'"mirror":true'* ]] || fail "the two ends do not mirror: $connected"
[[ $connected == *"\"remote\":{\"address\":\"127.0.0.1\",\"port\":$port}"* ]] || fail "remote end: $connected"
kill -TERM "$server_pid"
wait "$server_pid" || fail "demo-server exited $? after SIGTERM"
server_pid=""
grep -q '"event":"summary","role":"server","connections":1,' "$tmp/server.jsonl" ||
  fail "server summary: $(tail -1 "$tmp/server.jsonl")"
echo "demo-client 127.0.0.1 $port: connected, mirrored"

if [[ -r /usr/share/bash-completion/bash_completion ]]; then
  step "bash-completion finds the installed completions"
  for program in demo-server demo-client; do
    # bash-completion looks for completions/COMMAND under each of XDG_DATA_DIRS.
    spec=$(XDG_DATA_DIRS=$root/usr/share bash --norc --noprofile -c \
      'source /usr/share/bash-completion/bash_completion && __load_completion "$1" && complete -p "$1"' \
      bash "$program") || fail "bash-completion did not load the completion of $program"
    [[ $spec == "complete -F _${program//-/_} $program" ]] || fail "$program: $spec"
  done
fi

step "done"
echo "PASS"
