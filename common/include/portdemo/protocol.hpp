#pragma once
// What demo-client and demo-server say to each other on the wire.
// The client speaks first with the hello line; the server answers with one JSON line, its view
// of the connection, and closes. A client that sends nothing (nc, telnet) gets a text report.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "portdemo/endpoint.hpp"

namespace portdemo {

/// The line demo-client sends first to ask for the machine-readable report.
inline constexpr std::string_view client_hello = "portdemo-hello 1\n";

/// The same, asking the server to keep the connection open until the client closes it
/// (demo-client --hold), so that `ss -tn` shows it.
inline constexpr std::string_view client_hello_hold = "portdemo-hello 1 hold\n";

/// An endpoint as the JSON contract writes it: {"address":"127.0.0.1","port":8080}.
std::string endpoint_json(const endpoint& ep);

/// The server's view of one connection, as sent to the client.
struct server_view {
  std::uint64_t id = 0;  ///< the server's connection number (datagram number for UDP)
  socket_tuple tuple;    ///< local is the server's end
  std::string proto = "tcp";  ///< "tcp" or "udp"
};

/// The JSON line the server sends: {"event":"server_view","proto":"tcp","id":..,"local":..,"remote":..}
std::string render_server_view(const server_view& view);

/// Parses the server's line; nullopt if it is not a server_view object.
std::optional<server_view> parse_server_view(std::string_view line);

/// Whether bytes received so far are (a prefix of) one of the hello lines.
bool could_be_hello(std::string_view received) noexcept;

}  // namespace portdemo
