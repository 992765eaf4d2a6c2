#pragma once
// One accepted connection, start to finish. The first bytes decide what it gets: demo-client's
// hello the JSON view, an HTTP request the web page (over TLS on HTTPS ports), a TLS handshake
// TLS, and silence or anything else the text report.

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>

#include "portdemo/reporter.hpp"

namespace portdemo::server {

/// What every session shares with the server. Outlives the sessions (owned by the server).
struct shared_state {
  reporter& out;
  asio::ssl::context* tls = nullptr;  ///< null when no certificate could be made
  /// The last client port seen from each client address, to tell a reload on a new connection
  /// from one on a reused connection. Bounded: cleared when it grows past 4096 addresses.
  std::unordered_map<std::string, std::uint16_t> last_port;
  std::uint64_t open = 0;       ///< connections open right now
  std::uint64_t peak_open = 0;  ///< the most open at once
};

/// The facts of one connection, known at accept.
struct connection_facts {
  std::uint64_t id = 0;
  socket_tuple tuple;        ///< local is the server's end
  bool tls_port = false;     ///< the port speaks HTTPS
  std::optional<std::uint16_t> previous_port;
};

/// Serves one connection until it closes. Never throws for network errors.
asio::awaitable<void> serve(asio::ip::tcp::socket socket, connection_facts facts, shared_state& shared);

}  // namespace portdemo::server
