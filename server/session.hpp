#pragma once
// One accepted connection, start to finish. The first bytes decide what it gets: demo-client's
// hello the JSON view, an HTTP request the web page (over TLS on HTTPS ports), a TLS handshake
// TLS, and silence or anything else the text report. Every wait has a deadline (timeouts.hpp),
// every read a limit (limits.hpp).

#include <array>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>

#include "portdemo/limits.hpp"
#include "portdemo/reporter.hpp"
#include "timeouts.hpp"

namespace portdemo::server {

struct session;
struct parked;
class board_hub;

/// What every session shares with the server. Outlives the sessions (owned by the server).
struct shared_state {
  shared_state(reporter& r, const asio::any_io_executor& executor, const server_limits& l);

  reporter& out;
  server_limits limits;
  timeouts deadlines;
  asio::ssl::context* tls = nullptr;  ///< null when no certificate could be made
  bool quiet = false;                 ///< --quiet: no line per connection
  board_hub* board = nullptr;         ///< the classroom board (GET /board, /events)
  /// The last client port seen from each client address, to tell a reload on a new connection
  /// from one on a reused connection. Bounded: cleared when it grows past 4096 addresses.
  std::unordered_map<std::string, std::uint16_t> last_port;
  /// When each client address last sent an HTTP request (or a TLS handshake). Bounded like
  /// last_port.
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> http_seen;
  std::uint64_t open = 0;       ///< connections open right now: counted at accept, uncounted when closed
  std::uint64_t peak_open = 0;  ///< the most open at once
  std::uint64_t limited = 0;    ///< connections closed by a limit
  bool stopping = false;        ///< SIGINT/SIGTERM came: finish answers, start no new waits
  session* first = nullptr;     ///< every open session, to close them at shutdown
  parked* first_parked = nullptr;  ///< every idle connection waiting without a coroutine
  /// Called once for every connection that ends (a session's coroutine, or a parked connection
  /// closed), with the exception that ended it, if any. Set by the server.
  std::function<void(std::exception_ptr)> ended;
  /// Where plain TCP sessions read: the bytes are handed on (to a parser that keeps what it
  /// needs) before the next wait, so one buffer serves them all and an idle connection holds none.
  std::array<char, 16384> scratch{};

  /// A client address spoke HTTP: its browser may open spare connections that stay silent.
  void note_http(const std::string& address) {
    if (http_seen.size() > 4096) http_seen.clear();
    http_seen[address] = std::chrono::steady_clock::now();
  }
  /// Whether the address spoke HTTP within the last 10 s (a browser keeps an unused spare
  /// connection about that long before it closes it: Chromium's unused idle socket timeout).
  bool http_recently(const std::string& address) const {
    auto it = http_seen.find(address);
    return it != http_seen.end() && std::chrono::steady_clock::now() - it->second < std::chrono::seconds(10);
  }

  /// Emits a per-connection event unless --quiet.
  void log(const event& e) {
    if (!quiet) out.emit(e);
  }
};

/// The facts of one connection, known at accept.
struct connection_facts {
  std::uint64_t id = 0;
  socket_tuple tuple;        ///< local is the server's end
  bool tls_port = false;     ///< the port speaks HTTPS
  std::optional<std::uint16_t> previous_port;
};

/// A connection being served; lives in serve()'s coroutine frame.
struct session {
  session(asio::ip::tcp::socket s, connection_facts f, shared_state& sh);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  asio::ip::tcp::socket socket;
  connection_facts facts;
  shared_state& shared;
  watched deadline{socket};
  bool idle = false;  ///< waiting with no answer in flight: closed at once when the server stops
  std::uint64_t requests = 0;  ///< HTTP requests answered on this connection
  bool counted = true;  ///< this session counts in shared.open (until it parks the connection)
  session* prev = nullptr;
  session* next = nullptr;
};

/// Closes every parked (idle) connection: the server is stopping.
void close_parked(shared_state& shared);

/// Serves one connection until it closes. Never throws for network errors.
asio::awaitable<void> serve(asio::ip::tcp::socket socket, connection_facts facts, shared_state& shared);

/// Answers a connection over --max-connections with the one "busy" line and closes it.
void turn_away(asio::ip::tcp::socket& socket, std::uint64_t open, std::uint64_t max);

}  // namespace portdemo::server
