#pragma once
// A new connection's first bytes, and what they mean. Every way a new connection can wait (read
// at accept, the waiting room, a parked wait when the room is full, a browser's spare that
// speaks after all) ends in first_bytes_arrived(), which asks decide_first_bytes() (pure: bytes
// in, a decision out) and carries the decision out: answer now, keep waiting, park, or a
// coroutine (HTTP, TLS, the raw report).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>

#include "connection.hpp"
#include "portdemo/http.hpp"
#include "portdemo/proxy_protocol.hpp"

namespace portdemo::server {

struct server_context;

/// What happened on a connection waiting for its first bytes.
enum class arrival : std::uint8_t {
  bytes,    ///< bytes came (more of them, if a prefix was kept)
  end,      ///< the client closed its end (after saying this much, or nothing)
  silence,  ///< the first-bytes deadline passed
};

/// What decide_first_bytes() looks at.
struct first_bytes_input {
  std::string_view bytes;         ///< everything received so far
  arrival what = arrival::bytes;
  bool tls_port = false;          ///< the port speaks HTTPS
  bool stopping = false;          ///< the server is stopping: no quick answer that keeps a connection
  bool spare = false;             ///< looks_like_spare(): consulted on silence only
  bool proxy_header_due = false;  ///< a --proxy-protocol port whose header has not come yet
  std::size_t max_line = 4096;    ///< --max-line
  http_limits http{};             ///< --max-header-bytes and --max-header-lines
};

/// What the first bytes mean: one of these.
namespace decision {
struct wait_more {};  ///< nothing yet, or a prefix of several things ("GE"): wait on, same deadline
struct answer_http {  ///< one whole simple request: answered now, without a coroutine
  request_parser parser;
};
struct answer_line {};  ///< one whole line and nothing after it (demo-client's hello): answered now
struct serve_http {     ///< HTTP that needs a coroutine (in pieces, pipelined, a body, a stream, TLS port)
  request_parser parser;  ///< the bytes fed already: parsed once
};
struct serve_tls {};  ///< a TLS handshake: a coroutine
struct serve_h2 {};   ///< HTTP/2's preface (h2c by prior knowledge): a coroutine
struct report {       ///< the raw client's text report, by a coroutine (a line in pieces, or none)
  bool silent = false;  ///< the deadline passed: answered at once
};
struct wait_as_spare {};  ///< a browser's spare connection: no report unasked
struct proxy_header {     ///< a --proxy-protocol port's header, whole: believed, skipped, and the rest decided
  portdemo::proxy_header header;
};
struct refuse_proxy {  ///< a --proxy-protocol port without a valid header first: one logged reason, closed
  std::string code;
  std::string reason;
};
}  // namespace decision

using first_bytes_decision = std::variant<decision::wait_more, decision::answer_http, decision::answer_line,
                                          decision::serve_http, decision::serve_tls, decision::serve_h2,
                                          decision::report,
                                          decision::wait_as_spare, decision::proxy_header, decision::refuse_proxy>;

/// The one place that decides what a new connection's first bytes mean.
first_bytes_decision decide_first_bytes(const first_bytes_input& in);

/// How close to a navigation's HTTP a silent connection must come to be taken for a browser's
/// spare (see looks_like_spare).
inline constexpr std::chrono::milliseconds spare_window{500};

/// Whether a connection that stayed silent looks like a browser's spare (preconnected) socket:
/// its address spoke HTTP (a request, a TLS handshake) from `spare_window` before it was
/// accepted until now (its first-bytes deadline). Chromium opens its spare sockets together
/// with the requests of a navigation: measured on this project's machines, every spare came at
/// most 70 ms after a request from its address, or up to 165 ms before one; a terminal's nc
/// comes on its own, so it gets its report even from an address whose browser spoke HTTP a
/// second earlier. (Until 0.2.0 the rule was "HTTP within 10 s", which kept nc silent for up
/// to 15 s on a lecturer's laptop with a browser open.)
bool looks_like_spare(clock::time_point accepted_at, const clock::time_point* last_http) noexcept;

/// Carries out what the first bytes (`fresh`, appended to what the connection kept) mean. The
/// connection may be anywhere: just accepted, in the waiting room (taken out by the caller), or
/// parked.
void first_bytes_arrived(connection_ptr c, server_context& ctx, arrival what, std::string_view fresh);

/// Waits (on) for a new connection's first bytes: in the waiting room while its descriptor is
/// not the event loop's, else (or when the room cannot take it) parked. The deadline is armed
/// once, at the first wait: silence is answered 200 ms after the accept, however it waits.
void wait_for_first_bytes(connection_ptr c, server_context& ctx);

/// New connections waiting for their first bytes, in an epoll set of their own on which the
/// server's event loop waits: a descriptor enters with one epoll_ctl and leaves with its close,
/// where Asio's own registration costs an ioctl, an EPOLL_CTL_ADD, an EPOLL_CTL_MOD per wait and
/// an EPOLL_CTL_DEL before the close. Their deadlines are the server's (timeouts), like every
/// other wait's; then, or when bytes come, first_bytes_arrived() takes them.
class waiting_room final : private expiry_hook {
 public:
  explicit waiting_room(server_context& ctx);
  ~waiting_room();
  waiting_room(const waiting_room&) = delete;
  waiting_room& operator=(const waiting_room&) = delete;

  /// Takes the connection (the table owns it while it waits here); gives it back when the set
  /// cannot take it.
  connection_ptr enter(connection_ptr c);

  /// Connections waiting here now.
  std::size_t size() const noexcept { return members_; }

 private:
  void watch();
  void ready();
  void came(connection* c);
  connection_ptr leave(connection* c, bool armed);
  void expired(watched& w) override;

  server_context& ctx_;
  asio::posix::stream_descriptor watch_;  ///< the epoll set, as the event loop sees it
  bool watching_ = false;
  std::size_t members_ = 0;
};

}  // namespace portdemo::server
