#pragma once
// When the two ends of one connection see different facts: what was rewritten between them.
// Pure: two tuples in (the client's from its own getsockname/getpeername, the server's from
// its), the differences out. The words are render.cpp's.

#include <optional>
#include <string_view>

#include "portdemo/endpoint.hpp"

namespace portdemo {

/// One end of the connection as its own host sees it (`before`) and as the other end sees it
/// (`after`), when the two differ.
struct endpoint_change {
  endpoint before;
  endpoint after;
  bool address = false;  ///< the address was rewritten
  bool port = false;     ///< the port was rewritten
  bool operator==(const endpoint_change&) const = default;
};

/// What lies between the two ends, as far as the four facts tell.
struct translation {
  /// The client's own end (its local) against what the server sees as its remote: source NAT
  /// (a home or campus router, a masquerade), or a proxy that connects on the client's behalf.
  std::optional<endpoint_change> source;
  /// The end the client dialled (its remote) against the server's own local end: destination
  /// NAT (a port forward, a published container port), or a proxy in front of the server.
  std::optional<endpoint_change> destination;
  /// The server's local address is a wildcard (a UDP socket bound to 0.0.0.0 or ::): only the
  /// destination port can be compared.
  bool destination_address_unknown = false;

  /// "none", "source_nat", "destination_nat" or "source_and_destination_nat".
  std::string_view kind() const noexcept;
  bool operator==(const translation&) const = default;
};

/// Compares the client's view (local: the client, remote: what it dialled) with the server's
/// (local: the server, remote: whom it sees). IPv4-mapped IPv6 addresses (::ffff:a.b.c.d)
/// count as the IPv4 address they carry.
translation compare_views(const socket_tuple& client, const socket_tuple& server);

}  // namespace portdemo
