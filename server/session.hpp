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
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <asio/awaitable.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>

#include "portdemo/limits.hpp"
#include "portdemo/reporter.hpp"
#include "timeouts.hpp"

namespace portdemo::server {

struct session;
struct parked;
class board_hub;
struct newcomer;
class waiting_room;
struct shared_state;

/// What every session shares with the server. Outlives the sessions (owned by the server).
struct shared_state {
  shared_state(reporter& r, const asio::any_io_executor& executor, const server_limits& l);

  reporter& out;
  asio::any_io_executor executor;  ///< the server's event loop
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
  /// New connections waiting for their first bytes.
  std::unique_ptr<waiting_room> room;
  /// How often, lately, a new connection's first bytes were there when it was accepted, out of
  /// 256 (a moving average over about the last 16 that tried): whether reading before the first
  /// wait pays.
  std::uint32_t first_read_hits = 256;

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

  /// HTTP requests logged one by one on each connection; later ones on the same connection (a
  /// load generator's kept-alive connections) are counted and summarised once a second, so that
  /// logging stays cheap and the log readable under load.
  static constexpr std::uint64_t requests_logged_per_connection = 100;
  std::uint64_t unlogged_requests = 0;  ///< since the last summary
  asio::steady_timer request_summary;
  /// Whether request `number` of its connection gets its own log line; if not, it is counted
  /// for the next summary.
  bool log_request(std::uint64_t number);
  /// Emits the summary of the requests not logged one by one (if any).
  void summarise_requests();

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

/// New connections whose first bytes have not come yet, waiting in an epoll set of their own on
/// which the server's event loop waits: a descriptor enters with one epoll_ctl and leaves with
/// its close, where Asio's own registration costs an ioctl, an EPOLL_CTL_ADD, an EPOLL_CTL_MOD
/// per wait and an EPOLL_CTL_DEL before the close. Each waits at most the first-bytes time (the
/// same for all: the list is in deadline order, under one timer); then, or when bytes come, it
/// is answered at once or handed to Asio.
class waiting_room {
 public:
  explicit waiting_room(shared_state& shared);
  ~waiting_room();
  waiting_room(const waiting_room&) = delete;
  waiting_room& operator=(const waiting_room&) = delete;

  /// Takes a new connection (and the bytes read so far, a prefix that said nothing yet); false,
  /// having done nothing, when the set cannot take it.
  bool enter(int fd, const asio::ip::tcp& protocol, connection_facts& facts, std::string_view initial);

  /// Closes every connection still waiting, each with a `shutdown` limit event; returns how many.
  std::uint64_t cut();

 private:
  void watch();
  void time(clock::time_point at);
  void ready();
  void came(newcomer* n);
  void rearm(newcomer* n);
  void out(newcomer* n, bool silent);
  void close(newcomer* n);
  void expired();
  void leave(newcomer* n);

  shared_state& shared_;
  asio::posix::stream_descriptor watch_;  ///< the epoll set, as the event loop sees it
  asio::steady_timer timer_;
  bool watching_ = false;
  bool timing_ = false;
  newcomer* first_ = nullptr;
  newcomer* last_ = nullptr;
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

/// Closes every idle parked connection (kept alive, --hold): the server is stopping.
void close_parked(shared_state& shared);

/// Closes the parked connections still waiting for their first bytes at the end of the shutdown
/// grace, each with a `shutdown` limit event; returns how many.
std::uint64_t cut_parked(shared_state& shared);

/// Serves a connection just accepted (`fd`: non-blocking, counted in shared.open). The common
/// cases (one simple HTTP request, one line such as demo-client's hello) are answered right here,
/// without a coroutine; the rest wait without one (parked) or get serve().
void serve_accepted(int fd, const asio::ip::tcp& protocol, connection_facts facts, shared_state& shared);

/// Serves one connection until it closes, from the bytes read so far (`initial`; `silent`: the
/// first-bytes deadline passed with nothing or too little to tell). Never throws for network errors.
asio::awaitable<void> serve(asio::ip::tcp::socket socket, connection_facts facts, shared_state& shared,
                            std::string initial, bool silent);

/// Answers a connection over --max-connections with the one "busy" line and closes it.
void turn_away(asio::ip::tcp::socket& socket, std::uint64_t open, std::uint64_t max);

}  // namespace portdemo::server
