#!/usr/bin/env bash
# Install the Debian packages portdemo needs to build, test and demonstrate.
# Idempotent: asks apt only for the packages that are missing, and runs
# `apt-get update` only when there is something to install.
set -euo pipefail

# Build: compiler, CMake + Ninja, and the four libraries (all header-only or
# Debian-packaged; no FetchContent, no vendored copies).
packages=(
  g++              # C++20 compiler (GCC 12)
  cmake            # build system generator (3.25)
  ninja-build      # build tool
  pkg-config       # locating libraries
  libasio-dev      # standalone Asio 1.22 (header-only)
  libcli11-dev     # CLI11 2.1 (header-only)
  libfmt-dev       # fmt 9
  libgtest-dev     # GoogleTest
  libssl-dev       # OpenSSL, through Asio's SSL support: HTTPS on 8443 and --tls ports
  libqrencode-dev  # libqrencode: the QR code of the join URL (terminal and /board)
  libnghttp2-dev   # nghttp2 1.52: HTTP/2 framing, HPACK and flow control (h2 in ALPN, h2c)
  libngtcp2-dev    # ngtcp2 0.12: QUIC for --quic (HTTP/3 on UDP)
  libngtcp2-crypto-gnutls-dev  # ngtcp2's GnuTLS crypto backend (the only one Debian builds)
  libgnutls28-dev  # GnuTLS: the TLS 1.3 handshake inside QUIC
  libnghttp3-dev   # nghttp3 0.8: HTTP/3 and QPACK over ngtcp2's streams
  # Fuzzing (scripts/fuzz.sh, part of scripts/test.sh)
  clang            # clang 14: libFuzzer's -fsanitize=fuzzer
  libclang-rt-14-dev  # libFuzzer, ASan and UBSan runtimes for clang; only recommended by
                      # clang-14, so --no-install-recommends below would leave it out
  # Tests and the demo
  libcap2-bin      # capsh: drop CAP_NET_BIND_SERVICE to show the privileged-bind failure
  util-linux       # unshare, setpriv: private hosts file and unprivileged runs in tests
  netcat-openbsd   # nc: the "raw client that sends nothing" in tests and the demo
  python3          # test helpers
  iproute2         # ss, ip: shown in explanations, used by tests
  curl             # HTTP and HTTPS tests of the web page
  openssl          # the openssl command: test certificates (req), a TLS server without h2 (s_server)
  chromium         # a real browser for the web page tests (headless)
  fonts-dejavu-core  # a font for chromium's screenshots
  nghttp2-client   # nghttp and h2load: HTTP/2 clients no one here wrote (tests, bench.sh)
  ngtcp2-client    # ngtcp2's example HTTP/3 client (gtlsclient), against --quic in tests
  ngtcp2-server    # ngtcp2's example HTTP/3 server (gtlsserver): a peer no one here wrote for demo-client --http3
  tshark           # scripts/capture.sh: the SYN, SYN-ACK and first data on the wire
  nftables         # nft: scripts/nat.sh's source NAT and port forward (in its router namespace)
  conntrack        # conntrack -L: the router's record of each rewrite (original and reply tuples)
  haproxy          # a TCP proxy in front of demo-server: a third view, beside NAT's rewrite
  nginx            # an HTTP reverse proxy (X-Forwarded-For) in scripts/nat.sh; the reference in bench.sh
  zbar-tools       # zbarimg: tests decode the QR codes the server draws
  # Installing (tests/package): the .deb, the man pages, the shell completions
  dpkg-dev         # dpkg-shlibdeps: the .deb's Depends, computed from the binaries' libraries
  groff-base       # groff -man -Tutf8 (and man's own renderer): the man pages render without warnings;
                   # the full groff package adds only devices these tests do not use (PostScript, X11)
  bash-completion  # the completion library the completions/ script uses when it is there
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  sudo=sudo
else
  sudo=
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
