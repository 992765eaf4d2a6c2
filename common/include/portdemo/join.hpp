#pragma once
// Joining a classroom server: the URLs students open, one per non-loopback address of this
// host's interfaces that a listening socket covers, for every HTTP and HTTPS port.

#include <cstdint>
#include <string>
#include <vector>

namespace portdemo {

/// One address of one of this host's network interfaces.
struct interface_address {
  std::string interface;  ///< "eth0"
  std::string address;    ///< "192.168.1.20" or "2001:db8::5" (no brackets, no zone)
};

/// The addresses of this host's interfaces that are up (getifaddrs): loopback and IPv6
/// link-local (fe80::/10, which needs a zone no phone can type) left out; IPv4 first, then
/// IPv6, each in the kernel's order; an address on two interfaces once, with the first one.
/// Empty when getifaddrs fails.
std::vector<interface_address> host_interface_addresses();

/// A TCP listening socket, as bound.
struct bound_listener {
  std::string address;  ///< "0.0.0.0", "::", or a specific address
  std::uint16_t port = 0;
  bool tls = false;     ///< speaks HTTPS
};

/// The URLs to join by: for every host address (in the order given) that some listener covers
/// (a wildcard listener covers every address of its family; a specific one only itself;
/// loopback never), "http://A:P/" for each plain port, then "https://A:P/" for each TLS port,
/// IPv6 addresses in brackets. No duplicates. Empty when no listener is beyond loopback.
/// "::" covers IPv6 only (the server's "::" listeners are IPV6_V6ONLY). A specific listener
/// address that is not in `host` (the kernel accepted the bind, so it is this host's) comes
/// after the host addresses, in listener order, covered like one. Addresses are compared as
/// parsed (spelled as inet_ntop does, ::ffff:a.b.c.d as a.b.c.d); loopback and fe80::/10
/// addresses, on either side, and ones that do not parse yield nothing.
std::vector<std::string> join_urls(const std::vector<interface_address>& host,
                                   const std::vector<bound_listener>& listeners);

}  // namespace portdemo
