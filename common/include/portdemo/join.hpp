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
/// IPv6, each in the kernel's order.
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
std::vector<std::string> join_urls(const std::vector<interface_address>& host,
                                   const std::vector<bound_listener>& listeners);

}  // namespace portdemo
