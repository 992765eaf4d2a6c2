#!/usr/bin/env bash
# Runs join_netns_test (host_interface_addresses) inside a network namespace made for it, with
# interfaces and addresses the test knows, and deletes the namespace whatever happens.
# Exit 77 (skipped, with the reason) where namespaces or virtual interfaces are not available.
# Usage: join_netns.sh JOIN_NETNS_TEST
set -uo pipefail
program=$1

skip() { echo "SKIPPED: $*"; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "not root: ip netns add needs CAP_SYS_ADMIN"
command -v ip >/dev/null || skip "ip (iproute2) is not installed"

ns=pd-join-$$
err=$(ip netns add "$ns" 2>&1) || skip "ip netns add is not permitted here: $err"
trap 'ip netns del "$ns"' EXIT

in_ns() { ip -n "$ns" "$@" || { echo "join_netns.sh: ip -n $ns $* failed" >&2; exit 1; }; }
# An interface to put addresses on: a dummy one, or where the dummy module is missing (as in
# containers that cannot load it) one end of a veth pair whose other end, NAMEp, is up and has
# only the kernel's link-local address.
add_link() {
  ip -n "$ns" link add "$1" type dummy 2>/dev/null && return
  if ! err=$(ip -n "$ns" link add "$1" type veth peer name "$1p" 2>&1); then
    skip "neither dummy nor veth interfaces can be made here: $err"
  fi
  in_ns link set "$1p" up
}
in_ns link set lo up
add_link d0
add_link d1
add_link d2
# d0: the classroom address of each family, plus a loopback and a link-local one to leave out.
in_ns addr add 10.99.0.1/24 dev d0
in_ns addr add 127.0.0.2/8 dev d0
in_ns addr add 2001:db8::5/64 dev d0 nodad
in_ns addr add fe80::99/64 dev d0 nodad
# d1: a second network, and d0's IPv4 address again (listed once, with d0).
in_ns addr add 10.99.1.1/24 dev d1
in_ns addr add 10.99.0.1/32 dev d1
in_ns addr add 2001:db8:1::7/64 dev d1 nodad
# d2: addresses on an interface that is down.
in_ns addr add 10.99.2.1/24 dev d2
in_ns addr add 2001:db8:2::1/64 dev d2 nodad
in_ns link set d0 up
in_ns link set d1 up

ip -n "$ns" -brief addr show
PORTDEMO_JOIN_NETNS=$ns ip netns exec "$ns" "$program"
