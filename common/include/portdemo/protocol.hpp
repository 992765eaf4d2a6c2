#pragma once
// What demo-client and demo-server say to each other on the wire.
// The client speaks first with the hello line; the server answers with one JSON line, its view
// of the connection, and closes. A client that sends nothing (nc, telnet) gets a text report.

#include <cstddef>
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

/// demo-client's own view of the connection, on a line after its hello and in the same write:
///   portdemo-view 1 10.0.1.2:51234 10.0.0.1:8081\n   (its local end, then the end it dialled)
/// A server from before the view reads both lines at once (one segment), answers the hello by
/// its first line and closes with nothing unread; this one compares the two views.
inline constexpr std::string_view client_view_tag = "portdemo-view 1 ";

/// The longest view line: the tag, two endpoints as long as "[" 45-character IPv6 "]:65535",
/// a space and the newline.
inline constexpr std::size_t client_view_max = 16 + 2 * 53 + 2;

/// The view line for `view` (local: the client, remote: the server it dialled).
std::string render_client_view(const socket_tuple& view);

/// The view from a whole view line (its newline included); nullopt unless it is exactly one:
/// the tag, two IP literals with ports, single spaces.
std::optional<socket_tuple> parse_client_view(std::string_view line);

/// Whether `after` (what came after a hello line) is a view line still arriving: a prefix of
/// the tag, or the tag and no newline yet, under client_view_max.
bool could_be_client_view(std::string_view after) noexcept;

/// A raw client's first line and what came after it, whole: what the answer depends on.
struct raw_message {
  std::string_view line;                   ///< up to and with the first newline
  std::optional<socket_tuple> client_view; ///< after a hello: demo-client's own view
};

/// Whether `line` (with its newline) is exactly one of the hello lines.
bool is_hello_line(std::string_view line) noexcept;

/// A first line and what came after it: the view, when the line is a hello and `rest` is one.
raw_message raw_message_of(std::string_view line, std::string_view rest);

/// Splits `bytes` (everything received) into the first line and, after a hello, the view.
raw_message split_raw_message(std::string_view bytes);

/// An endpoint as the JSON contract writes it: {"address":"127.0.0.1","port":8080}.
std::string endpoint_json(const endpoint& ep);

/// What a PROXY protocol header told the server (on a --proxy-protocol port): the client as
/// the proxy saw it. A claim beside the socket's tuple, never in its place.
struct proxy_claim {
  int version = 1;                       ///< 1 (text) or 2 (binary)
  bool local = false;                    ///< v2 LOCAL: the proxy's own connection (a health check)
  std::optional<endpoint> source;        ///< the client, as the proxy saw it
  std::optional<endpoint> destination;   ///< the address the client dialled, as the proxy saw it
  bool operator==(const proxy_claim&) const = default;
};

/// The server's view of one connection, as sent to the client.
struct server_view {
  std::uint64_t id = 0;  ///< the server's connection number (datagram number for UDP)
  socket_tuple tuple;    ///< local is the server's end
  std::string proto = "tcp";  ///< "tcp" or "udp"
  std::optional<proxy_claim> proxy;  ///< a PROXY header came first on this connection
};

/// {"version":1,"command":"proxy","source":EP|null,"destination":EP|null}
std::string proxy_claim_json(const proxy_claim& claim);

/// The JSON line the server sends: {"event":"server_view","proto":"tcp","id":..,"local":..,"remote":..}
std::string render_server_view(const server_view& view);

/// Parses the server's line; nullopt if it is not a server_view object.
std::optional<server_view> parse_server_view(std::string_view line);

/// Whether bytes received so far are (a prefix of) one of the hello lines.
bool could_be_hello(std::string_view received) noexcept;

/// The most bytes a raw client's first line may have (newline included) before the server
/// refuses it; --max-line changes it.
inline constexpr std::size_t default_text_line_limit = 4096;

/// Collects a raw client's first line from bytes as they come: up to the first newline, never
/// more than the limit. Knows nothing of sockets.
class line_collector {
 public:
  enum class state {
    incomplete,  ///< no newline yet, under the limit
    complete,    ///< a newline came: line() is the line with its newline
    too_long,    ///< the limit was reached without a newline
  };

  explicit line_collector(std::size_t limit = default_text_line_limit) : limit_(limit) {}

  /// Adds bytes and returns the state. Bytes after the newline, or past the limit, are counted
  /// but not kept.
  state feed(std::string_view bytes);

  /// The state after the last feed.
  state current() const noexcept { return state_; }

  /// What was kept: the line (with its newline once complete), at most `limit` bytes.
  std::string_view line() const noexcept { return line_; }

  /// The first bytes after the line's newline, at most client_view_max of them (demo-client's
  /// view line, when the line is its hello).
  std::string_view rest() const noexcept { return rest_; }

  /// Every byte fed so far.
  std::size_t received() const noexcept { return received_; }

  /// The limit given.
  std::size_t limit() const noexcept { return limit_; }

 private:
  std::size_t limit_;
  std::string line_;
  std::string rest_;
  std::size_t received_ = 0;
  state state_ = state::incomplete;
};

}  // namespace portdemo
