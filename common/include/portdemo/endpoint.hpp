#pragma once
// Our own types for a socket's ends. Made from the kernel's answers (getsockname, getpeername)
// by the Asio adapter; never reconstructed from what the user typed.

#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace portdemo {

/// One end of a connection: an IP address (IPv6 without brackets) and a port.
struct endpoint {
  std::string address;     ///< "127.0.0.1" or "::1"
  std::uint16_t port = 0;  ///< host byte order
  bool operator==(const endpoint&) const = default;
  /// Whether the address is IPv6.
  bool is_v6() const noexcept { return address.find(':') != std::string::npos; }
};

/// "127.0.0.1:8080" or "[::1]:8080".
std::string to_string(const endpoint& ep);

/// A connection as one end sees it: the four facts of a TCP connection.
struct socket_tuple {
  endpoint local;   ///< this end (getsockname)
  endpoint remote;  ///< the other end (getpeername)
  bool operator==(const socket_tuple&) const = default;
};

/// Whether `theirs` is the mirror image of `mine`: their local is my remote and vice versa.
bool is_mirror(const socket_tuple& mine, const socket_tuple& theirs) noexcept;

}  // namespace portdemo

/// Formats an endpoint as to_string does; width and alignment come from string_view's formatter.
template <>
struct fmt::formatter<portdemo::endpoint> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(const portdemo::endpoint& ep, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(portdemo::to_string(ep), ctx);
  }
};
