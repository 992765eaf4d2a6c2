#include "session.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/ssl/error.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "portdemo/http.hpp"
#include "portdemo/protocol.hpp"
#include "portdemo/render.hpp"
#include "portdemo/web.hpp"
#include "board.hpp"

namespace portdemo::server {

using asio::ip::tcp;

/// What a connection without a coroutine (struct parked) waits for, or does after an answer.
enum class waiting : std::uint8_t {
  nothing,      ///< after an answer: nothing more, close
  first_bytes,  ///< a new connection's first bytes
  request,      ///< the next HTTP request on a kept-alive connection
  hold,         ///< the end of a demo-client --hold connection
  spare,        ///< a browser's spare connection: first bytes, if any, within the keep-alive timeout
};
using namespace std::chrono_literals;

/// A TCP socket whose first reads return bytes the server took from it already (to tell a TLS
/// handshake from the rest), then the socket's own: OpenSSL sees the whole handshake although
/// the server read its start itself, and every connection is read once, not peeked and read.
class prefixed_socket {
 public:
  using executor_type = tcp::socket::executor_type;
  using lowest_layer_type = tcp::socket::lowest_layer_type;

  prefixed_socket(tcp::socket& socket, std::string prefix) : socket_(socket), prefix_(std::move(prefix)) {}

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  lowest_layer_type& lowest_layer() noexcept { return socket_.lowest_layer(); }
  const lowest_layer_type& lowest_layer() const noexcept { return socket_.lowest_layer(); }

  template <typename Buffers, typename Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
        [this](auto handler, const Buffers& into) {
          if (taken_ == prefix_.size()) {
            socket_.async_read_some(into, std::move(handler));
            return;
          }
          const std::size_t n = asio::buffer_copy(into, asio::buffer(prefix_) + taken_);
          taken_ += n;
          // Completed through the event loop, never inside the call, as Asio's own operations.
          asio::post(socket_.get_executor(), [h = std::move(handler), n]() mutable { h(std::error_code(), n); });
        },
        token, buffers);
  }

  template <typename Buffers, typename Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return socket_.async_write_some(buffers, std::forward<Token>(token));
  }

 private:
  tcp::socket& socket_;
  std::string prefix_;
  std::size_t taken_ = 0;
};

/// TLS over a TCP socket that the session owns.
using tls_stream = asio::ssl::stream<prefixed_socket&>;

shared_state::shared_state(reporter& r, const asio::any_io_executor& ex, const server_limits& l)
    : out(r),
      executor(ex),
      limits(l),
      deadlines(ex, {
                              std::chrono::milliseconds(200),  // first_bytes: under the 300 ms promised
                              l.request_timeout,               // request
                              l.write_timeout,                 // write
                              l.keep_alive_timeout,            // keep_alive
                              std::chrono::seconds(1),         // drain
                              std::chrono::seconds(10),        // handshake
                              std::chrono::hours(1),           // hold
                          }),
      request_summary(ex) {
  room = std::make_unique<waiting_room>(*this);
}

bool shared_state::log_request(std::uint64_t number) {
  if (quiet) return false;
  if (number <= requests_logged_per_connection) return true;
  if (unlogged_requests++ == 0) {
    request_summary.expires_after(std::chrono::seconds(1));
    request_summary.async_wait([this](const std::error_code& ec) {
      if (!ec) summarise_requests();
    });
  }
  return false;
}

void shared_state::summarise_requests() {
  if (unlogged_requests == 0) return;
  out.emit(note_event{"requests_summarised",
                      fmt::format("{} more HTTP request{} on kept-alive connections, not logged one by one: "
                                  "each connection's first {} are",
                                  unlogged_requests, unlogged_requests == 1 ? "" : "s",
                                  requests_logged_per_connection)});
  unlogged_requests = 0;
}

session::session(tcp::socket s, connection_facts f, shared_state& sh)
    : socket(std::move(s)), facts(std::move(f)), shared(sh) {
  // Asio's own reads and writes below must know that the socket is non-blocking (it is, from
  // accept4 on); connections answered without a coroutine never pay this system call.
  std::error_code ec;
  if (!socket.non_blocking()) socket.non_blocking(true, ec);
  // Into the server's list of open sessions, so that a shutdown can find it.
  next = shared.first;
  if (next) next->prev = this;
  shared.first = this;
}

session::~session() {
  if (counted) --shared.open;
  shared.deadlines.disarm(deadline);
  if (prev) prev->next = next;
  else shared.first = next;
  if (next) next->prev = prev;
}

namespace {

// What a wait on the socket came to: the deadline passing shows as timed_out, whatever the
// cancelled operation said.
std::error_code outcome(const session& s, std::error_code ec) {
  if (s.deadline.expired) return asio::error::timed_out;
  return ec;
}

// Waits until the socket is readable (or closed, or reset), within the armed deadline.
asio::awaitable<std::error_code> readable(session& s) {
  std::error_code ec;
  co_await s.socket.async_wait(tcp::socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
  co_return outcome(s, ec);
}

// Reads what is there into the shared scratch buffer, waiting (within the armed deadline) only
// when nothing is. The caller must use the bytes before its next co_await. 0 bytes and eof:
// the client closed its end.
// `wait_first`: the bytes are not expected yet (the next request on a kept-alive connection),
// so trying a read before waiting would only cost a system call.
asio::awaitable<std::size_t> receive(session& s, std::error_code& ec, bool wait_first = false) {
  if (wait_first) {
    ec = co_await readable(s);
    if (ec) co_return 0;
  }
  for (;;) {
    std::size_t n = s.socket.read_some(asio::buffer(s.shared.scratch), ec);
    if (ec != asio::error::would_block) co_return n;
    ec = co_await readable(s);
    if (ec) co_return 0;
  }
}

// Writes all of `bytes`: at once when the send buffer has room (the usual case: answers are
// small), else waiting for room within the write deadline.
asio::awaitable<void> send_all(session& s, std::string_view bytes, std::error_code& ec) {
  std::optional<armed_scope> armed;
  while (!bytes.empty()) {
    std::size_t n = s.socket.write_some(asio::buffer(bytes), ec);
    bytes.remove_prefix(n);
    if (!ec) continue;
    if (ec != asio::error::would_block) co_return;
    if (!armed) armed.emplace(s.shared.deadlines, s.deadline, wait_kind::write);
    co_await s.socket.async_wait(tcp::socket::wait_write, asio::redirect_error(asio::use_awaitable, ec));
    if ((ec = outcome(s, ec))) co_return;
  }
  ec.clear();
}

// Marks the session idle (no answer in flight) for the wait that follows; false when the
// server is stopping, in which case there is no waiting any more.
bool go_idle(session& s) {
  s.idle = true;
  return !s.shared.stopping;
}

// Half-closes our side (FIN after the answer) and closes. When the client has sent bytes we did
// not read, closing at once would turn the FIN into a reset and could destroy the answer in
// flight: then wait (briefly) for the client's FIN, reading and dropping what comes.
// `all_read`: the client's message ended exactly where our reading did (demo-client's hello):
// nothing can be waiting unread, so the look costs a system call for nothing.
asio::awaitable<void> finish(session& s, bool all_read = false) {
  std::error_code ec;
  if (all_read) {
    s.socket.close(ec);  // nothing unread: the close itself sends the FIN after the answer
    co_return;
  }
  s.socket.shutdown(tcp::socket::shutdown_send, ec);
  std::size_t n = s.socket.read_some(asio::buffer(s.shared.scratch), ec);
  if (!ec && n > 0 && go_idle(s)) {
    armed_scope armed(s.shared.deadlines, s.deadline, wait_kind::drain);
    while (!ec) co_await receive(s, ec);
  }
  s.socket.close(ec);
}

void log_limit(session& s, limit_kind kind, std::uint64_t limit, std::uint64_t received, bool answered) {
  ++s.shared.limited;
  s.shared.log(limit_event{s.facts.id, s.facts.tuple, kind, limit, received, answered});
}

std::uint64_t ms(clock::duration d) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

// A raw client: demo-client's hello gets the JSON view; silence or any other line the text
// report. The line ends at a newline, at the client's FIN, or when the client pauses for the
// first_bytes wait (nc users type slowly; the report must not wait for them); it may not exceed
// --max-line bytes nor take longer than --request-timeout from its first byte.
// `initial`: the bytes read already (to tell what the client speaks).
// Returns true for demo-client --hold: the caller keeps the connection open.
asio::awaitable<bool> report(session& s, std::string_view initial) {
  const server_limits& limits = s.shared.limits;
  line_collector line(limits.max_line);
  std::optional<clock::time_point> began;
  if (!initial.empty()) {
    line.feed(initial);
    began = clock::now();
  }
  bool timed_out = false;
  std::error_code ec;
  if (s.deadline.expired) {
    // Silent until the first_bytes deadline: answered now. Bytes that came at the last moment
    // are read without waiting.
    std::size_t n = s.socket.read_some(asio::buffer(s.shared.scratch), ec);
    if (!ec) line.feed(std::string_view(s.shared.scratch.data(), n));
    if (ec == asio::error::would_block) ec.clear();
  }
  while (!s.deadline.expired && !ec && line.current() == line_collector::state::incomplete) {
    std::size_t n = co_await receive(s, ec);
    if (ec || n == 0) break;
    const auto now = clock::now();
    if (!began) began = now;
    line.feed(std::string_view(s.shared.scratch.data(), n));
    if (now - *began >= limits.request_timeout) {
      timed_out = true;
      break;
    }
    s.shared.deadlines.arm(s.deadline, wait_kind::first_bytes);  // a pause of this long ends the line
  }
  s.shared.deadlines.disarm(s.deadline);
  if (ec && ec != asio::error::timed_out && ec != asio::error::eof) co_return false;  // reset: nothing to tell

  std::string answer;
  if (line.current() == line_collector::state::too_long) {
    answer = render_limit_answer(limit_kind::line_too_long, limits.max_line);
    log_limit(s, limit_kind::line_too_long, limits.max_line, line.received(), true);
  } else if (timed_out) {
    answer = render_limit_answer(limit_kind::request_timeout, ms(limits.request_timeout));
    log_limit(s, limit_kind::request_timeout, ms(limits.request_timeout), line.received(), true);
  } else {
    std::string_view got = line.line();
    server_view view{s.facts.id, s.facts.tuple};
    const bool hold = got == client_hello_hold;
    const bool hello = got == client_hello || hold;
    answer = hello ? render_server_view(view) : render_raw_client_report(view, s.shared.out.facts());
    if (!s.shared.quiet)
      s.shared.out.emit(answered_event{s.facts.id, hello, line.received(), std::string(got.substr(0, 512))});
    if (hold) {
      co_await send_all(s, answer, ec);
      co_return !ec;
    }
  }
  co_await send_all(s, answer, ec);
  if (ec == asio::error::timed_out) log_limit(s, limit_kind::write_timeout, ms(limits.write_timeout), 0, false);
  if (ec) co_return false;
  const bool all_read = line.current() == line_collector::state::complete && line.received() == line.line().size();
  co_await finish(s, all_read);
  co_return false;
}

// How a port and the client's choice of protocol fit together.
enum class mismatch { none, plain_on_tls_port, tls_on_plain_port };

// The two ways an HTTP session reads and writes: plain TCP through the shared scratch buffer,
// TLS through OpenSSL with a buffer of its own (OpenSSL reads ahead, so readiness of the socket
// says nothing about decrypted bytes).
struct plain_io {
  session& s;
  asio::awaitable<std::string_view> read(std::error_code& ec, bool wait_first = false) {
    std::size_t n = co_await receive(s, ec, wait_first);
    if (!ec && n == 0) ec = asio::error::eof;
    co_return std::string_view(s.shared.scratch.data(), n);
  }
  asio::awaitable<void> write(std::string_view bytes, std::error_code& ec) { co_await send_all(s, bytes, ec); }
};

struct tls_io {
  session& s;
  tls_stream& stream;
  std::unique_ptr<std::array<char, 4096>> buffer = std::make_unique<std::array<char, 4096>>();
  asio::awaitable<std::string_view> read(std::error_code& ec, bool = false) {
    std::size_t n = co_await stream.async_read_some(asio::buffer(*buffer), asio::redirect_error(asio::use_awaitable, ec));
    ec = outcome(s, ec);
    co_return std::string_view(buffer->data(), n);
  }
  asio::awaitable<void> write(std::string_view bytes, std::error_code& ec) {
    armed_scope armed(s.shared.deadlines, s.deadline, wait_kind::write);
    co_await asio::async_write(stream, asio::buffer(bytes), asio::redirect_error(asio::use_awaitable, ec));
    ec = outcome(s, ec);
  }
};

// Serves HTTP requests on one connection (plain or TLS) until it closes. The first request has
// --request-timeout from its first byte (already here: it was sniffed); later ones may idle
// --keep-alive-timeout before they begin, and then have --request-timeout to complete.
//
// Plain connections return `idle` instead of waiting between requests: the caller waits with
// nothing but its own small frame alive, so that an idle kept-alive connection costs a few
// hundred bytes, not this frame's kilobyte. Called again when bytes come.
enum class http_end {
  closed,           ///< the connection is done
  closed_all_read,  ///< done after an answer, with nothing left unread: close at once
  idle,             ///< answered; kept alive, nothing buffered: wait for the next request
};

// GET /events: the board's event stream, until the client goes, falls behind, or the server
// stops. The first write is the response head, the reconnection delay and a snapshot; then a
// batch whenever the board has news (board_hub), a comment line as a heartbeat otherwise.
// A subscriber that does not take its events within --write-timeout, or lets them pile up past
// board_hub::pending_limit, is dropped with a note: the others and accepting never wait for it.
template <typename Io>
asio::awaitable<void> stream_board(session& s, Io& io, const http_request& request, std::uint64_t number,
                                   std::string_view tls_version) {
  board_hub& hub = *s.shared.board;
  // Shared with the handler below, which may run after this coroutine has ended.
  auto owned = std::make_shared<board_subscriber>(s.socket.get_executor(), s.socket, s.facts.id, s.facts.tuple);
  board_subscriber& sub = *owned;
  const bool admitted = hub.subscribe(sub);
  // A browser's EventSource cannot read a 503: it is told in the stream instead.
  const std::string* accept = request.header("Accept");
  const bool event_source = accept && accept->find("text/event-stream") != std::string::npos;
  const int status = admitted || event_source ? 200 : 503;
  if (!s.shared.quiet)
    s.shared.out.emit(http_request_event{s.facts.id, s.facts.tuple, request.method, request.target, status, number,
                                         std::string(tls_version), admitted ? "board subscriber" : "board full"});
  hub.request(s.facts.id, number, request.method, request.target, status, tls_version);
  std::error_code ec;
  if (!admitted) {
    std::string bytes = event_source ? board_full_stream(hub.model().max_subscribers())
                                     : serialize(board_full_response(hub.model().max_subscribers()), false);
    co_await io.write(bytes, ec);
    co_return;
  }
  // A fixed send buffer: the kernel would otherwise let a subscriber that reads nothing take
  // megabytes of its memory (autotuning) before the write deadline or the pending limit notices.
  std::error_code ignored;
  s.socket.set_option(asio::socket_base::send_buffer_size(64 * 1024), ignored);
  // A closed tab: the client's FIN makes the socket readable (a subscriber sends nothing
  // else). Noticed at once, rather than at the next heartbeat, so that its place on the board
  // and its count in the open connections are given up when the page goes.
  s.socket.async_wait(tcp::socket::wait_read, [owned](const std::error_code& error) {
    if (error || owned->finished) return;  // cancelled: the socket is closing, or the stream ended
    char byte = 0;
    const ssize_t n = ::recv(owned->socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      owned->dropped = true;
      owned->wake.cancel();
    }
  });
  std::string out(event_stream_head());
  out += "retry: 2000\n\n";
  out += hub.model().snapshot();
  for (;;) {
    co_await io.write(out, ec);
    if (ec) break;
    out.clear();
    if (sub.pending.empty() && !sub.dropped && !sub.ended) {
      sub.wake.expires_after(board_hub::heartbeat);
      std::error_code woken;
      co_await sub.wake.async_wait(asio::redirect_error(asio::use_awaitable, woken));
    }
    if (sub.dropped) break;
    if (sub.ended) {
      out = "event: note\ndata: {\"code\":\"stopping\",\"message\":\"the server is stopping\"}\n\n";
      co_await io.write(out, ec);
      break;
    }
    if (sub.pending.empty()) out = ": heartbeat\n\n";
    else out.swap(sub.pending);
  }
  hub.unsubscribe(sub);
  sub.finished = true;
  if (ec == asio::error::timed_out && !sub.dropped) {
    endpoint remote = s.facts.tuple.remote;
    if (hub.model().masked()) remote.address = mask_address(remote.address);
    s.shared.out.emit(note_event{"board_subscriber_dropped",
                                 fmt::format("board subscriber #{} ({}) dropped: it took no events for {}",
                                             s.facts.id, to_string(remote),
                                             format_duration(s.shared.limits.write_timeout))});
  }
}

template <typename Io>
asio::awaitable<http_end> http(session& s, Io& io, std::optional<tls_details> tls, mismatch mode,
                               std::string_view initial = {}) {
  constexpr bool returns_when_idle = std::is_same_v<Io, plain_io>;
  const server_limits& limits = s.shared.limits;
  request_parser parser(limits.http);
  const connection_facts& c = s.facts;
  web_context context{c.id, s.requests, c.tuple, s.shared.out.facts(), tls, c.previous_port};
  // Bytes already read for this request by whoever called (a parked connection's handler).
  request_parser::state state = initial.empty() ? request_parser::state::incomplete : parser.feed(initial);
  std::size_t received = initial.size();
  bool answered_here = false;
  for (;;) {
    // Only with nothing buffered: a part of the next request would go with this frame.
    if (returns_when_idle && answered_here && state == request_parser::state::incomplete && parser.buffered() == 0)
      co_return http_end::idle;
    if (!returns_when_idle && context.request_number > 0 && state == request_parser::state::incomplete) {
      // Between requests: idle until the next one begins.
      if (!go_idle(s)) co_return http_end::closed;
      std::error_code ec;
      std::string_view got;
      {
        armed_scope armed(s.shared.deadlines, s.deadline, wait_kind::keep_alive);
        got = co_await io.read(ec, true);
      }
      s.idle = false;
      if (ec == asio::error::timed_out)
        log_limit(s, limit_kind::keep_alive_timeout, ms(limits.keep_alive_timeout), 0, false);
      if (ec) co_return http_end::closed;
      received = got.size();
      state = parser.feed(got);
    }
    if (state == request_parser::state::incomplete) {
      armed_scope armed(s.shared.deadlines, s.deadline, wait_kind::request);
      while (state == request_parser::state::incomplete) {
        std::error_code ec;
        std::string_view got = co_await io.read(ec);
        if (ec == asio::error::timed_out) {
          // Begun but not finished in time: say so, then close.
          std::string bytes = serialize(request_timeout_response(limits.request_timeout), false);
          s.shared.deadlines.disarm(s.deadline);
          std::error_code write_ec;
          co_await io.write(bytes, write_ec);
          log_limit(s, limit_kind::request_timeout, ms(limits.request_timeout), received, !write_ec);
          co_return http_end::closed;
        }
        if (ec) co_return http_end::closed;  // closed or reset: nothing more to answer
        received += got.size();
        state = parser.feed(got);
      }
    }
    ++context.request_number;
    s.requests = context.request_number;
    answered_here = true;
    s.shared.note_http(c.tuple.remote.address);
    http_response response;
    std::string method = "-";
    std::string target = "-";
    std::string note;
    bool head_only = false;
    if (state == request_parser::state::failed) {
      response = error_response(parser.error());
    } else {
      const http_request& request = parser.request();
      method = request.method;
      target = request.target;
      head_only = request.method == "HEAD";
      if (mode == mismatch::plain_on_tls_port) {
        response = plain_http_on_tls_port(request, context);
        note = "plain HTTP on a TLS port";
      } else if (mode == mismatch::tls_on_plain_port) {
        response = tls_on_plain_port(request, context);
        note = "TLS on a plain HTTP port";
      } else if (s.shared.board && is_event_stream(request)) {
        // Named, not temporaries in the co_await expression (GCC 12).
        const std::string_view version = tls ? std::string_view(tls->version) : std::string_view();
        co_await stream_board(s, io, request, context.request_number, version);
        co_return http_end::closed;
      } else {
        response = respond(request, context);
      }
      // A request with a body: this server reads none, so it answers and closes rather than
      // take the body for the next request.
      const std::string* length = request.header("Content-Length");
      if ((length && *length != "0") || request.header("Transfer-Encoding")) response.close = true;
      if (s.shared.stopping) response.close = true;  // the last answer on this connection
    }
    std::string bytes = serialize(response, head_only);
    std::error_code ec;
    co_await io.write(bytes, ec);
    if (s.shared.board)
      s.shared.board->request(c.id, context.request_number, method, target, response.status,
                              tls ? std::string_view(tls->version) : std::string_view());
    if (s.shared.log_request(context.request_number))
      s.shared.out.emit(http_request_event{c.id, c.tuple, std::move(method), std::move(target), response.status,
                                           context.request_number, tls ? tls->version : "", std::move(note)});
    if (ec == asio::error::timed_out) log_limit(s, limit_kind::write_timeout, ms(limits.write_timeout), 0, false);
    if (ec || state == request_parser::state::failed) co_return http_end::closed;
    if (response.close) {
      const http_request& request = parser.request();
      const bool body_sent = request.header("Content-Length") || request.header("Transfer-Encoding");
      co_return parser.after_head() == 0 && !body_sent ? http_end::closed_all_read : http_end::closed;
    }
    state = parser.next();
    received = 0;
  }
}

std::string tls_failure_explanation(const std::string& reason) {
  if (reason.find("unknown ca") != std::string::npos || reason.find("certificate unknown") != std::string::npos ||
      reason.find("bad certificate") != std::string::npos)
    return "The client does not trust this server's self-signed certificate: accept it in the "
           "browser, or give curl -k or --cacert.";
  if (reason.find("wrong version number") != std::string::npos || reason.find("http request") != std::string::npos)
    return "The client did not speak TLS.";
  return "The client and this server could not agree on a secure connection.";
}

// A TLS handshake: HTTPS on a TLS port; on a plain port, a clear answer inside TLS. `initial`:
// the start of the handshake, read already.
asio::awaitable<void> tls_session(session& s, std::string initial) {
  std::error_code ec;
  if (!s.shared.tls) {
    s.socket.close(ec);  // no certificate: the start-up report said why
    co_return;
  }
  prefixed_socket socket(s.socket, std::move(initial));
  tls_stream stream(socket, *s.shared.tls);
  {
    armed_scope armed(s.shared.deadlines, s.deadline, wait_kind::handshake);
    co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
    ec = outcome(s, ec);
  }
  if (ec) {
    std::string reason = ec == asio::error::timed_out ? "no handshake within 10 s" : ec.message();
    s.shared.log(tls_failed_event{s.facts.id, s.facts.tuple, reason, tls_failure_explanation(reason)});
    s.socket.close(ec);
    co_return;
  }
  SSL* ssl = stream.native_handle();
  tls_details details{SSL_get_version(ssl), SSL_get_cipher_name(ssl)};
  // Named, not a temporary in the co_await expression: GCC 12 can destroy such a temporary twice.
  tls_io io{s, stream};
  const mismatch mode = s.facts.tls_port ? mismatch::none : mismatch::tls_on_plain_port;
  co_await http(s, io, details, mode);
  if (!s.socket.is_open()) co_return;
  {
    armed_scope armed(s.shared.deadlines, s.deadline, wait_kind::drain);
    co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_await finish(s);
}

}  // namespace

void turn_away(tcp::socket& socket, std::uint64_t open, std::uint64_t max) {
  std::error_code ec;
  socket.non_blocking(true, ec);
  std::string line = render_busy_answer(open, max);
  socket.write_some(asio::buffer(line), ec);  // a fresh socket's send buffer takes one line
  socket.shutdown(tcp::socket::shutdown_send, ec);
  // What the client sent already is read and dropped, so that the close is a FIN after the
  // line, not a reset that could destroy it. Bounded: at most 64 KiB, without waiting.
  std::array<char, 4096> sink{};
  for (int i = 0; i < 16 && !ec; ++i) {
    if (socket.read_some(asio::buffer(sink), ec) == 0) break;
  }
  socket.close(ec);
}

// A connection with no coroutine, waiting for the socket to become readable with a plain
// completion handler: a new connection whose first bytes have not come yet, an idle one between
// HTTP requests, or one held open for demo-client --hold. It holds the socket, the connection's
// facts and its deadline, so that it costs a few hundred bytes rather than a coroutine frame, its
// awaitable thread and a pending operation's state. Simple requests are answered right in the
// handler; anything else gets a coroutine, with the bytes read so far.
struct parked {
  parked(tcp::socket so, connection_facts f, shared_state& sh, std::uint64_t req, waiting w)
      : socket(std::move(so)), facts(std::move(f)), shared(sh), requests(req), waits(w) {
    next = shared.first_parked;
    if (next) next->prev = this;
    shared.first_parked = this;
  }
  ~parked() {
    shared.deadlines.disarm(deadline);
    if (prev) prev->next = next;
    else shared.first_parked = next;
    if (next) next->prev = prev;
    if (!handed_over) {
      std::error_code ec;
      socket.close(ec);
      --shared.open;
      shared.ended(nullptr);
    }
  }
  parked(const parked&) = delete;
  parked& operator=(const parked&) = delete;

  tcp::socket socket;
  connection_facts facts;
  shared_state& shared;
  watched deadline{socket};
  std::uint64_t requests = 0;
  waiting waits = waiting::first_bytes;
  bool handed_over = false;  ///< a coroutine took the socket: closing is its business now
  std::string initial;       ///< first bytes that did not yet say what the client speaks ("GE")
  parked* prev = nullptr;
  parked* next = nullptr;
};

namespace {

// Reads what is there into the shared scratch buffer, without waiting (every socket is
// non-blocking from accept4 on): the byte count, 0 at the end of the stream, or -1 with errno
// (EAGAIN: nothing yet).
ssize_t receive_now(int fd, shared_state& shared) { return ::recv(fd, shared.scratch.data(), shared.scratch.size(), 0); }

// Sends what the socket takes at once; `unsent` gets the rest. False when the connection is
// reset (nothing more to say).
bool send_now(int fd, std::string_view answer, std::string& unsent) {
  const ssize_t n = ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
  unsent = answer.substr(n < 0 ? 0 : static_cast<std::size_t>(n));
  return true;
}

// Whether a request may be answered right where it was read, without a coroutine: one whole
// request with nothing after it and no body, on a plain HTTP port, the server not stopping.
// (Every path that answers at once asks this one function.)
bool may_answer_at_once(request_parser::state state, const request_parser& parser, const connection_facts& facts,
                        const shared_state& shared) {
  if (facts.tls_port || shared.stopping) return false;
  if (state != request_parser::state::complete || parser.after_head() != 0) return false;
  const http_request& request = parser.request();
  if (is_event_stream(request)) return false;  // a stream, not an answer: the coroutine's business
  return !request.header("Content-Length") && !request.header("Transfer-Encoding");
}

// The common case of an HTTP request, answered without a coroutine: one whole request came,
// nothing after it (may_answer_at_once). Returns false, having done nothing, when the request is
// not that simple; true when it answered (`unsent` then holds what the socket did not take at
// once, and `close_after` says whether the answer ends the connection).
bool answer_at_once(int fd, const connection_facts& facts, std::uint64_t& requests, shared_state& shared,
                    std::string_view bytes, std::string& unsent, bool& close_after) {
  if (facts.tls_port || shared.stopping) return false;
  request_parser parser(shared.limits.http);
  if (!may_answer_at_once(parser.feed(bytes), parser, facts, shared)) return false;
  const http_request& request = parser.request();
  web_context context{facts.id, requests + 1, facts.tuple, shared.out.facts(), std::nullopt, facts.previous_port};
  http_response response = respond(request, context);
  std::string answer = serialize(response, request.method == "HEAD");
  if (!send_now(fd, answer, unsent)) {
    close_after = true;  // reset: nothing more to say
    return true;
  }
  requests = context.request_number;
  shared.note_http(facts.tuple.remote.address);
  if (shared.board)
    shared.board->request(facts.id, context.request_number, request.method, request.target, response.status, "");
  if (shared.log_request(context.request_number))
    shared.out.emit(http_request_event{facts.id, facts.tuple, request.method, request.target, response.status,
                                       context.request_number, "", ""});
  close_after = response.close;
  return true;
}

// A raw client's line that came whole, with nothing after it (demo-client's hello above all),
// answered without a coroutine: the answer is one short line. Returns false, having done
// nothing, for anything else (report() then takes it).
bool answer_line_at_once(int fd, const connection_facts& facts, shared_state& shared, std::string_view bytes,
                         std::string& unsent, waiting& after) {
  if (bytes.size() > shared.limits.max_line || bytes.find('\n') != bytes.size() - 1) return false;
  server_view view{facts.id, facts.tuple};
  const bool hold = bytes == client_hello_hold;
  const bool hello = bytes == client_hello || hold;
  std::string answer = hello ? render_server_view(view) : render_raw_client_report(view, shared.out.facts());
  if (!shared.quiet) shared.out.emit(answered_event{facts.id, hello, bytes.size(), std::string(bytes.substr(0, 512))});
  if (!send_now(fd, answer, unsent)) {
    unsent.clear();
    after = waiting::nothing;
    return true;
  }
  // demo-client --hold: the connection stays open until the client closes it, so that both
  // ends show it in `ss -tn` (not when the server is stopping).
  after = hold && !shared.stopping ? waiting::hold : waiting::nothing;
  return true;
}

// A connection's first bytes, answered at once when they are simple: an HTTP request that
// answer_at_once() takes, or a raw line that answer_line_at_once() takes. Returns false, having
// done nothing, otherwise. `after`: what the connection waits for next (nothing: close it).
bool answer_first_at_once(int fd, const connection_facts& facts, std::uint64_t& requests, shared_state& shared,
                          std::string_view bytes, std::string& unsent, waiting& after) {
  switch (sniff(bytes)) {
    case first_bytes::http: {
      bool close_after = false;
      if (!answer_at_once(fd, facts, requests, shared, bytes, unsent, close_after)) return false;
      after = close_after ? waiting::nothing : waiting::request;
      return true;
    }
    case first_bytes::hello:
    case first_bytes::other: return answer_line_at_once(fd, facts, shared, bytes, unsent, after);
    default: return false;
  }
}

asio::awaitable<void> serve_kept(tcp::socket socket, connection_facts c, std::uint64_t requests,
                                 shared_state& shared, std::string initial, std::string unsent, waiting after);

void wait_parked(std::unique_ptr<parked> owned);

// Leaves the connection waiting without a coroutine, within the deadline of what it waits for.
void park(tcp::socket socket, connection_facts facts, shared_state& shared, std::uint64_t requests, waiting what) {
  auto p = std::make_unique<parked>(std::move(socket), std::move(facts), shared, requests, what);
  const wait_kind kind = what == waiting::hold                                ? wait_kind::hold
                         : what == waiting::request || what == waiting::spare ? wait_kind::keep_alive
                                                                              : wait_kind::first_bytes;
  shared.deadlines.arm(p->deadline, kind);
  wait_parked(std::move(p));
}

// A coroutine takes the parked connection over: `serve` for a new connection (`silent`: its
// first-bytes deadline passed), `serve_kept` for one that has been answered before.
void hand_over(parked& p, std::string initial, bool silent) {
  p.handed_over = true;
  p.shared.deadlines.disarm(p.deadline);
  const auto executor = p.socket.get_executor();
  asio::co_spawn(executor, serve(std::move(p.socket), std::move(p.facts), p.shared, std::move(initial), silent),
                 p.shared.ended);
}
void hand_over_kept(parked& p, std::string initial, std::string unsent, waiting after) {
  p.handed_over = true;
  p.shared.deadlines.disarm(p.deadline);
  const auto executor = p.socket.get_executor();
  asio::co_spawn(executor,
                 serve_kept(std::move(p.socket), std::move(p.facts), p.requests, p.shared, std::move(initial),
                            std::move(unsent), after),
                 p.shared.ended);
}

// After an answer given at once: close, wait for what comes next, or let a coroutine send the
// rest of the answer.
void after_answer(std::unique_ptr<parked> owner, std::string unsent, waiting after) {
  parked& p = *owner;
  if (!unsent.empty()) {
    hand_over_kept(p, {}, std::move(unsent), after);
    return;
  }
  if (after == waiting::nothing) return;  // all said and all read: the owner closes, the close sends the FIN
  p.waits = after;
  std::string().swap(p.initial);
  p.shared.deadlines.arm(p.deadline, after == waiting::hold ? wait_kind::hold : wait_kind::keep_alive);
  wait_parked(std::move(owner));
}

// Silent, from an address that spoke HTTP moments ago: most likely a browser's spare
// (preconnected) connection, which the browser may pick for its next request at any time and,
// seeing bytes waiting, would read a text report sent now as that request's answer
// (ERR_INVALID_HTTP_RESPONSE on a reload). So no report unasked: it waits for its first bytes
// like a kept-alive connection, and is closed quietly if none come. A raw client from that
// address gets its report as soon as it sends a line.
bool is_spare(const connection_facts& facts, const shared_state& shared, std::string_view initial) {
  return initial.empty() && shared.http_recently(facts.tuple.remote.address);
}

void first_bytes_came(std::unique_ptr<parked> owner, const std::error_code& error);

// A spare connection became readable, or the keep-alive timeout passed.
void spare_came(std::unique_ptr<parked> owner, const std::error_code& error) {
  parked& p = *owner;
  if (p.deadline.expired || error || p.shared.stopping) return;  // unused: the owner closes it quietly
  char byte = 0;
  const ssize_t n = ::recv(p.socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    wait_parked(std::move(owner));
    return;
  }
  if (n <= 0) return;  // closed by the browser unused, or reset: closed quietly
  // It speaks after all: a new connection's first bytes, with the first-bytes rules from here.
  p.waits = waiting::first_bytes;
  p.shared.deadlines.arm(p.deadline, wait_kind::first_bytes);
  first_bytes_came(std::move(owner), error);
}

// A new connection became readable, or its first-bytes deadline passed.
void first_bytes_came(std::unique_ptr<parked> owner, const std::error_code& error) {
  parked& p = *owner;
  if (p.deadline.expired) {
    if (is_spare(p.facts, p.shared, p.initial)) {
      p.waits = waiting::spare;
      p.shared.deadlines.arm(p.deadline, wait_kind::keep_alive);
      wait_parked(std::move(owner));
      return;
    }
    hand_over(p, std::move(p.initial), true);  // silence: report() answers at once
    return;
  }
  if (error) return;  // cut at shutdown, or the socket failed: the owner closes it
  const ssize_t n = receive_now(p.socket.native_handle(), p.shared);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    wait_parked(std::move(owner));  // the same deadline: silence is answered 200 ms after the accept
    return;
  }
  if (n < 0) return;  // reset before saying anything: nothing to tell
  std::string_view bytes(p.shared.scratch.data(), static_cast<std::size_t>(n));
  if (n == 0) {
    hand_over(p, std::move(p.initial), false);  // closed after saying this much: report() answers
    return;
  }
  if (!p.initial.empty()) {
    p.initial.append(bytes);
    bytes = p.initial;
  }
  if (sniff(bytes) == first_bytes::nothing_yet) {
    // A prefix such as "GE" and then a pause: keep it, wait for more within the same deadline.
    if (p.initial.empty()) p.initial.assign(bytes);
    wait_parked(std::move(owner));
    return;
  }
  std::string unsent;
  waiting after = waiting::nothing;
  if (answer_first_at_once(p.socket.native_handle(), p.facts, p.requests, p.shared, bytes, unsent, after)) {
    after_answer(std::move(owner), std::move(unsent), after);
    return;
  }
  hand_over(p, std::string(bytes), false);
}

void wait_parked(std::unique_ptr<parked> owned) {
  parked* p = owned.release();
  p->socket.async_wait(tcp::socket::wait_read, [p](const std::error_code& error) {
    std::unique_ptr<parked> owner(p);
    if (p->waits == waiting::first_bytes) {
      first_bytes_came(std::move(owner), error);
      return;
    }
    if (p->waits == waiting::spare) {
      spare_came(std::move(owner), error);
      return;
    }
    const bool hold = p->waits == waiting::hold;
    const std::error_code ec = p->deadline.expired ? std::error_code(asio::error::timed_out) : error;
    if (ec == asio::error::timed_out && !hold) {
      ++p->shared.limited;
      p->shared.log(limit_event{p->facts.id, p->facts.tuple, limit_kind::keep_alive_timeout,
                                ms(p->shared.limits.keep_alive_timeout), 0, false});
    }
    if (ec || p->shared.stopping) return;  // timed out, reset, or closed at shutdown
    const ssize_t n = receive_now(p->socket.native_handle(), p->shared);
    const bool nothing_yet = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    if (hold) {
      // --hold: whatever comes is dropped; the end of the stream ends the hold.
      if (nothing_yet || n > 0) wait_parked(std::move(owner));
      return;
    }
    // The next request is coming.
    if (nothing_yet) {
      p->shared.deadlines.arm(p->deadline, wait_kind::keep_alive);  // not yet: wait on
      wait_parked(std::move(owner));
      return;
    }
    if (n <= 0) return;  // closed or reset: the owner closes our end
    const std::string_view bytes(p->shared.scratch.data(), static_cast<std::size_t>(n));
    std::string unsent;
    bool close_after = false;
    if (answer_at_once(p->socket.native_handle(), p->facts, p->requests, p->shared, bytes, unsent, close_after)) {
      after_answer(std::move(owner), std::move(unsent), close_after ? waiting::nothing : waiting::request);
      return;
    }
    // Anything else (a request in pieces, pipelined, with a body): a coroutine takes over, with
    // the bytes read so far.
    hand_over_kept(*p, std::string(bytes), {}, waiting::request);
  });
}

// Leaves the session's connection waiting without a coroutine; the session's coroutine then ends.
void park(session& s, waiting what) {
  s.counted = false;  // the connection stays open: the parked object counts it now
  park(std::move(s.socket), std::move(s.facts), s.shared, s.requests, what);
}

// Plain HTTP on a connection whose bytes are there to read (or already read: `initial`):
// requests until the connection is done, or idle (then parked).
asio::awaitable<void> plain_http(session& s, std::string_view initial = {}) {
  plain_io io{s};
  const mismatch mode = s.facts.tls_port ? mismatch::plain_on_tls_port : mismatch::none;
  const http_end end = co_await http(s, io, std::nullopt, mode, initial);
  if (end == http_end::idle && go_idle(s)) {
    park(s, waiting::request);
    co_return;
  }
  if (s.socket.is_open()) co_await finish(s, end == http_end::closed_all_read);
}

asio::awaitable<void> serve_kept(tcp::socket socket, connection_facts c, std::uint64_t requests,
                                 shared_state& shared, std::string initial, std::string unsent, waiting after) {
  session s(std::move(socket), std::move(c), shared);
  s.requests = requests;
  if (!unsent.empty()) {
    // The rest of an answer the socket did not take at once.
    std::error_code ec;
    co_await send_all(s, unsent, ec);
    if (ec == asio::error::timed_out)
      log_limit(s, limit_kind::write_timeout, ms(shared.limits.write_timeout), 0, false);
    if (ec) co_return;
    if (after == waiting::nothing) {
      co_await finish(s, true);
    } else if (go_idle(s)) {
      park(s, after);
    }
    co_return;
  }
  co_await plain_http(s, initial);
}

// Gives a new connection to the event loop (Asio) with what is known of it so far: the rest of an
// answer to send (`unsent`), a kept-alive or held connection to park (`after`), first bytes
// still to wait for (after = first_bytes: the fallback when the waiting room is full), or else a
// coroutine to serve it from the bytes read so far (`initial`; `silent`: the first-bytes deadline
// passed). Counted out here when Asio cannot take the descriptor.
void hand_to_asio(int fd, const tcp& protocol, connection_facts facts, shared_state& shared, std::uint64_t requests,
                  std::string unsent, waiting after, std::string initial, bool silent) {
  std::error_code ec;
  tcp::socket socket(shared.executor);
  socket.assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    --shared.open;
    shared.ended(nullptr);
    return;
  }
  if (!unsent.empty()) {
    asio::co_spawn(shared.executor,
                   serve_kept(std::move(socket), std::move(facts), requests, shared, {}, std::move(unsent), after),
                   shared.ended);
  } else if (after == waiting::request || after == waiting::hold) {
    park(std::move(socket), std::move(facts), shared, requests, after);
  } else if (after == waiting::first_bytes) {
    auto p = std::make_unique<parked>(std::move(socket), std::move(facts), shared, 0, waiting::first_bytes);
    p->initial = std::move(initial);
    shared.deadlines.arm(p->deadline, wait_kind::first_bytes);
    wait_parked(std::move(p));
  } else if (silent && is_spare(facts, shared, initial)) {
    park(std::move(socket), std::move(facts), shared, 0, waiting::spare);
  } else {
    asio::co_spawn(shared.executor, serve(std::move(socket), std::move(facts), shared, std::move(initial), silent),
                   shared.ended);
  }
}

}  // namespace

// A new connection whose first bytes have not come yet.
struct newcomer {
  int fd = -1;
  tcp protocol = tcp::v4();
  connection_facts facts;
  clock::time_point deadline;
  std::string initial;  ///< first bytes that did not yet say what the client speaks ("GE")
  newcomer* prev = nullptr;
  newcomer* next = nullptr;
};

waiting_room::waiting_room(shared_state& shared)
    : shared_(shared), watch_(shared.executor), timer_(shared.executor) {
  const int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return;  // enter() then says no, and every newcomer waits through Asio
  std::error_code ec;
  watch_.assign(fd, ec);
  if (ec) ::close(fd);
}

waiting_room::~waiting_room() {
  while (first_) {
    ::close(first_->fd);
    leave(first_);
  }
}

bool waiting_room::enter(int fd, const tcp& protocol, connection_facts& facts, std::string_view initial) {
  if (!watch_.is_open()) return false;
  auto n = std::make_unique<newcomer>();
  epoll_event ev{};
  // One-shot: after its event the descriptor stays in the set, silent, until it is closed (which
  // removes it) or re-armed; a descriptor handed on to Asio needs no EPOLL_CTL_DEL.
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  ev.data.ptr = n.get();
  if (::epoll_ctl(watch_.native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0) return false;
  n->fd = fd;
  n->protocol = protocol;
  n->facts = std::move(facts);
  n->initial.assign(initial);
  // Every newcomer waits as long: the newest goes last, and the list is in deadline order.
  n->deadline = clock::now() + shared_.deadlines.duration(wait_kind::first_bytes);
  n->prev = last_;
  if (last_) last_->next = n.get();
  else first_ = n.get();
  last_ = n.release();
  if (!watching_) watch();
  if (!timing_) time(first_->deadline);
  return true;
}

void waiting_room::leave(newcomer* n) {
  if (n->prev) n->prev->next = n->next;
  else first_ = n->next;
  if (n->next) n->next->prev = n->prev;
  else last_ = n->prev;
  delete n;
}

void waiting_room::watch() {
  watching_ = true;
  watch_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const std::error_code& ec) {
    watching_ = false;
    if (ec) return;
    ready();
    if (first_) watch();
  });
}

void waiting_room::time(clock::time_point at) {
  timing_ = true;
  timer_.expires_at(at);
  timer_.async_wait([this](const std::error_code& ec) {
    timing_ = false;
    if (ec) return;
    expired();
    if (first_) time(first_->deadline);
  });
}

void waiting_room::ready() {
  std::array<epoll_event, 64> events{};
  const int count = ::epoll_wait(watch_.native_handle(), events.data(), static_cast<int>(events.size()), 0);
  for (int i = 0; i < count; ++i) came(static_cast<newcomer*>(events[static_cast<std::size_t>(i)].data.ptr));
}

void waiting_room::rearm(newcomer* n) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  ev.data.ptr = n;
  if (::epoll_ctl(watch_.native_handle(), EPOLL_CTL_MOD, n->fd, &ev) != 0) out(n, false);
}

void waiting_room::out(newcomer* n, bool silent) {
  // Still in the set (armed): out of it before Asio takes the descriptor.
  ::epoll_ctl(watch_.native_handle(), EPOLL_CTL_DEL, n->fd, nullptr);
  const int fd = n->fd;
  const tcp protocol = n->protocol;
  connection_facts facts = std::move(n->facts);
  std::string initial = std::move(n->initial);
  leave(n);
  hand_to_asio(fd, protocol, std::move(facts), shared_, 0, {}, waiting::nothing, std::move(initial), silent);
}

void waiting_room::came(newcomer* n) {
  const ssize_t got = receive_now(n->fd, shared_);
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    rearm(n);
    return;
  }
  if (got < 0) {
    close(n);  // reset before saying anything: nothing to tell
    return;
  }
  if (got == 0) {
    out(n, false);  // closed after saying this much (or nothing): report() answers
    return;
  }
  std::string_view bytes(shared_.scratch.data(), static_cast<std::size_t>(got));
  if (!n->initial.empty()) {
    n->initial.append(bytes);
    bytes = n->initial;
  }
  if (sniff(bytes) == first_bytes::nothing_yet) {
    // A prefix such as "GE" and then a pause: keep it, wait for more within the same deadline.
    if (n->initial.empty()) n->initial.assign(bytes);
    rearm(n);
    return;
  }
  std::string unsent;
  waiting after = waiting::nothing;
  std::uint64_t requests = 0;
  if (answer_first_at_once(n->fd, n->facts, requests, shared_, bytes, unsent, after)) {
    if (unsent.empty() && after == waiting::nothing) {
      close(n);  // all said and all read: the close sends the FIN after the answer
      return;
    }
    // Kept alive, held, or the answer only partly sent: the event loop takes it from here (the
    // descriptor is silent in this set: one-shot).
    const int fd = n->fd;
    const tcp protocol = n->protocol;
    connection_facts facts = std::move(n->facts);
    leave(n);
    hand_to_asio(fd, protocol, std::move(facts), shared_, requests, std::move(unsent), after, {}, false);
    return;
  }
  const int fd = n->fd;
  const tcp protocol = n->protocol;
  connection_facts facts = std::move(n->facts);
  std::string initial(bytes);
  leave(n);
  hand_to_asio(fd, protocol, std::move(facts), shared_, 0, {}, waiting::nothing, std::move(initial), false);
}

void waiting_room::close(newcomer* n) {
  ::close(n->fd);  // also takes it out of the set
  leave(n);
  --shared_.open;
  shared_.ended(nullptr);
}

void waiting_room::expired() {
  const auto now = clock::now();
  while (first_ && first_->deadline <= now) out(first_, true);  // silence: report() answers at once
}

std::uint64_t waiting_room::cut() {
  std::uint64_t cut = 0;
  while (first_) {
    ++cut;
    shared_.out.emit(limit_event{first_->facts.id, first_->facts.tuple, limit_kind::shutdown,
                                 static_cast<std::uint64_t>(shared_.limits.shutdown_grace.count()), 0, false});
    close(first_);
  }
  return cut;
}

void close_parked(shared_state& shared) {
  for (parked* p = shared.first_parked; p; p = p->next) {
    if (p->waits == waiting::first_bytes) continue;  // a new connection: answered within the grace
    std::error_code ignored;
    p->socket.cancel(ignored);  // its handler runs with operation_aborted and closes it
  }
}

std::uint64_t cut_parked(shared_state& shared) {
  std::uint64_t cut = shared.room->cut();
  for (parked* p = shared.first_parked; p; p = p->next) {
    if (p->waits != waiting::first_bytes) continue;
    ++cut;
    shared.out.emit(limit_event{p->facts.id, p->facts.tuple, limit_kind::shutdown,
                                static_cast<std::uint64_t>(shared.limits.shutdown_grace.count()), 0, false});
    std::error_code ignored;
    p->socket.close(ignored);  // its handler runs with operation_aborted; the owner counts it out
  }
  return cut;
}

// A read before the first wait pays when, lately, more than about 40% of new connections had
// their first bytes there at once (shared_state::first_read_hits, out of 256).
constexpr std::uint32_t first_read_worth = 100;

void serve_accepted(int fd, const tcp& protocol, connection_facts facts, shared_state& shared) {
  bool mine = true;  // the descriptor and its count in shared.open, until someone else has them
  try {
    // When clients have sent their first bytes by the time they are accepted (a busy server), one
    // read, and for the common cases one answer and a close, without the event loop ever seeing
    // the socket. When they have not (a quick server: wrk's request follows its connect a moment
    // later), that read only costs a system call, and the connection goes to wait at once, as
    // nginx does. Which it is, is learnt from the last connections that tried (and from every
    // 16th, tried anyway, so that a change shows).
    const bool try_read = shared.first_read_hits >= first_read_worth || facts.id % 16 == 0;
    const ssize_t n = try_read ? receive_now(fd, shared) : -1;
    const bool nothing_yet = !try_read || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    if (try_read) shared.first_read_hits = shared.first_read_hits - shared.first_read_hits / 16 + (nothing_yet ? 0u : 16u);
    const std::string_view bytes(shared.scratch.data(), n > 0 ? static_cast<std::size_t>(n) : 0);
    std::string unsent;
    waiting after = waiting::nothing;
    std::uint64_t requests = 0;
    const bool answered = n > 0 && answer_first_at_once(fd, facts, requests, shared, bytes, unsent, after);
    // Done here: answered with nothing left to do (the close sends the FIN after the answer), or
    // reset before saying anything (nothing to tell).
    const bool done = answered ? unsent.empty() && after == waiting::nothing : n < 0 && !nothing_yet;
    if (!done) {
      if (!answered && (nothing_yet || (n > 0 && sniff(bytes) == first_bytes::nothing_yet))) {
        // Nothing yet, or a prefix such as "GE": the waiting room, or (full) a parked wait.
        mine = false;
        if (!shared.room->enter(fd, protocol, facts, bytes))
          hand_to_asio(fd, protocol, std::move(facts), shared, 0, {}, waiting::first_bytes, std::string(bytes), false);
      } else {
        mine = false;
        hand_to_asio(fd, protocol, std::move(facts), shared, requests, std::move(unsent), after,
                     answered ? std::string() : std::string(bytes), false);
      }
    }
  } catch (...) {
    if (mine) {
      ::close(fd);
      --shared.open;
    }
    shared.ended(std::current_exception());
    return;
  }
  if (mine) {
    ::close(fd);
    --shared.open;
    shared.ended(nullptr);
  }
}

asio::awaitable<void> serve(tcp::socket socket, connection_facts c, shared_state& shared, std::string initial,
                            bool silent) {
  session s(std::move(socket), std::move(c), shared);
  const first_bytes kind = sniff(initial);
  if (kind == first_bytes::http) {
    co_await plain_http(s, initial);
  } else if (kind == first_bytes::tls) {
    shared.note_http(s.facts.tuple.remote.address);
    co_await tls_session(s, std::move(initial));
  } else {
    // The report: silence (`silent`: the first-bytes deadline passed), a line, or anything else.
    // A pause of the first-bytes wait ends the line.
    if (silent) s.deadline.expired = true;
    else shared.deadlines.arm(s.deadline, wait_kind::first_bytes);
    // Not `co_await` inside a condition: GCC 12 has miscompiled co_await in compound expressions.
    const bool hold = co_await report(s, initial);
    if (hold && go_idle(s)) {
      // demo-client --hold: the connection stays open until the client closes it, so that both
      // ends show it in `ss -tn`. Bounded all the same (wait_kind::hold).
      park(s, waiting::hold);
      co_return;
    }
    std::error_code ec;
    s.socket.close(ec);
  }
}

}  // namespace portdemo::server
