#include "session.hpp"

#include <sys/socket.h>

#include <openssl/ssl.h>

#include <memory>
#include <type_traits>

#include <asio/co_spawn.hpp>
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
using namespace std::chrono_literals;

/// TLS over a TCP socket that the session owns.
using tls_stream = asio::ssl::stream<tcp::socket&>;

shared_state::shared_state(reporter& r, const asio::any_io_executor& executor, const server_limits& l)
    : out(r),
      limits(l),
      deadlines(executor, {
                              std::chrono::milliseconds(200),  // first_bytes: under the 300 ms promised
                              l.request_timeout,               // request
                              l.write_timeout,                 // write
                              l.keep_alive_timeout,            // keep_alive
                              std::chrono::seconds(1),         // drain
                              std::chrono::seconds(10),        // handshake
                              std::chrono::hours(1),           // hold
                          }) {}

session::session(tcp::socket s, connection_facts f, shared_state& sh)
    : socket(std::move(s)), facts(std::move(f)), shared(sh) {
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

// What the first bytes say, read with MSG_PEEK so that they stay in the socket for whoever
// reads next (OpenSSL reads a TLS handshake itself). The first_bytes deadline is armed.
asio::awaitable<first_bytes> peek_first_bytes(session& s) {
  std::array<char, 16> peeked{};
  std::size_t seen = 0;
  for (;;) {
    ssize_t n = ::recv(s.socket.native_handle(), peeked.data(), peeked.size(), MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (co_await readable(s)) co_return first_bytes::nothing_yet;  // silence, or an error the report sees
      continue;
    }
    if (n <= 0) co_return first_bytes::other;  // closed or reset before saying anything
    const auto got = static_cast<std::size_t>(n);
    first_bytes kind = sniff(std::string_view(peeked.data(), got));
    if (kind != first_bytes::nothing_yet) co_return kind;
    if (got == peeked.size()) co_return first_bytes::other;
    if (got == seen) {
      // A prefix such as "GE" and then a pause: the socket stays readable, so wait a little
      // before peeking again instead of spinning.
      asio::steady_timer pause(s.socket.get_executor(), 10ms);
      std::error_code ec;
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (s.deadline.expired) co_return first_bytes::nothing_yet;
    }
    seen = got;
  }
}

// A raw client: demo-client's hello gets the JSON view; silence or any other line the text
// report. The line ends at a newline, at the client's FIN, or when the client pauses for the
// first_bytes wait (nc users type slowly; the report must not wait for them); it may not exceed
// --max-line bytes nor take longer than --request-timeout from its first byte.
// Returns true for demo-client --hold: the caller keeps the connection open.
asio::awaitable<bool> report(session& s) {
  const server_limits& limits = s.shared.limits;
  line_collector line(limits.max_line);
  std::optional<clock::time_point> began;
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
  const int status = admitted ? 200 : 503;
  if (!s.shared.quiet)
    s.shared.out.emit(http_request_event{s.facts.id, s.facts.tuple, request.method, request.target, status, number,
                                         std::string(tls_version), admitted ? "board subscriber" : "board full"});
  hub.request(s.facts.id, number, request.method, request.target, status, tls_version);
  std::error_code ec;
  if (!admitted) {
    std::string bytes = serialize(board_full_response(hub.model().max_subscribers()), false);
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
    if (!s.shared.quiet)
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

// A TLS handshake: HTTPS on a TLS port; on a plain port, a clear answer inside TLS.
asio::awaitable<void> tls_session(session& s) {
  std::error_code ec;
  if (!s.shared.tls) {
    s.socket.close(ec);  // no certificate: the start-up report said why
    co_return;
  }
  tls_stream stream(s.socket, *s.shared.tls);
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

// An idle connection with no coroutine: between HTTP requests on a kept-alive connection, or
// held open for demo-client --hold. It holds the socket, the connection's facts and its
// deadline, and waits for the socket to become readable with a plain completion handler, so an
// idle connection costs a few hundred bytes rather than a coroutine frame, its awaitable thread
// and a pending operation's state. When bytes come, a new coroutine takes over.
struct parked {
  parked(tcp::socket so, connection_facts f, shared_state& sh, std::uint64_t req, bool h)
      : socket(std::move(so)), facts(std::move(f)), shared(sh), requests(req), hold(h) {
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
  bool hold = false;
  bool handed_over = false;  ///< a coroutine took the socket: closing is its business now
  parked* prev = nullptr;
  parked* next = nullptr;
};

namespace {

asio::awaitable<void> serve_kept(tcp::socket socket, connection_facts c, std::uint64_t requests,
                                 shared_state& shared, std::string initial, std::string unsent, bool close_after);

// The common case of a kept-alive connection, answered without a coroutine: one whole request
// came, nothing after it, and the whole answer fits the socket at once. Returns false, having
// done nothing, when the request is not that simple; true when it answered (`unsent` then holds
// what the socket did not take, and `close_after` says whether the answer ends the connection).
bool answer_at_once(parked& p, std::string_view bytes, std::string& unsent, bool& close_after) {
  if (p.facts.tls_port || p.shared.stopping) return false;
  request_parser parser(p.shared.limits.http);
  if (parser.feed(bytes) != request_parser::state::complete || parser.after_head() != 0) return false;
  const http_request& request = parser.request();
  if (request.header("Content-Length") || request.header("Transfer-Encoding")) return false;
  if (is_event_stream(request)) return false;  // a stream, not an answer: the coroutine's business
  web_context context{p.facts.id, p.requests + 1, p.facts.tuple, p.shared.out.facts(), std::nullopt,
                      p.facts.previous_port};
  http_response response = respond(request, context);
  std::string answer = serialize(response, request.method == "HEAD");
  std::error_code ec;
  const std::size_t written = p.socket.write_some(asio::buffer(answer), ec);
  if (ec && ec != asio::error::would_block) {
    close_after = true;  // reset: nothing more to say
    return true;
  }
  p.requests = context.request_number;
  p.shared.note_http(p.facts.tuple.remote.address);
  if (p.shared.board)
    p.shared.board->request(p.facts.id, context.request_number, request.method, request.target, response.status, "");
  if (!p.shared.quiet)
    p.shared.out.emit(http_request_event{p.facts.id, p.facts.tuple, request.method, request.target, response.status,
                                         context.request_number, "", ""});
  unsent = answer.substr(written);
  close_after = response.close;
  return true;
}

void wait_parked(std::unique_ptr<parked> owned) {
  parked* p = owned.release();
  p->socket.async_wait(tcp::socket::wait_read, [p](const std::error_code& error) {
    std::unique_ptr<parked> owner(p);
    const std::error_code ec = p->deadline.expired ? std::error_code(asio::error::timed_out) : error;
    if (ec == asio::error::timed_out && !p->hold) {
      ++p->shared.limited;
      p->shared.log(limit_event{p->facts.id, p->facts.tuple, limit_kind::keep_alive_timeout,
                                ms(p->shared.limits.keep_alive_timeout), 0, false});
    }
    if (ec || p->shared.stopping) return;  // timed out, reset, or closed at shutdown
    if (p->hold) {
      // --hold: whatever comes is dropped; the end of the stream ends the hold.
      std::error_code read_ec;
      std::size_t n = p->socket.read_some(asio::buffer(p->shared.scratch), read_ec);
      if (read_ec == asio::error::would_block || (!read_ec && n > 0)) wait_parked(std::move(owner));
      return;
    }
    // The next request is coming.
    std::error_code read_ec;
    const std::size_t n = p->socket.read_some(asio::buffer(p->shared.scratch), read_ec);
    if (read_ec == asio::error::would_block) {
      p->shared.deadlines.arm(p->deadline, wait_kind::keep_alive);  // not yet: wait on
      wait_parked(std::move(owner));
      return;
    }
    if (read_ec || n == 0) return;  // closed or reset: the owner closes our end
    const std::string_view bytes(p->shared.scratch.data(), n);
    std::string unsent;
    bool close_after = false;
    if (answer_at_once(*p, bytes, unsent, close_after)) {
      if (unsent.empty() && close_after) return;  // all said and all read: the close sends the FIN
      if (unsent.empty()) {
        p->shared.deadlines.arm(p->deadline, wait_kind::keep_alive);
        wait_parked(std::move(owner));
        return;
      }
    }
    // Anything else (a request in pieces, pipelined, with a body, an answer the socket did not
    // take whole): a coroutine takes over, with the bytes read so far.
    p->handed_over = true;
    p->shared.deadlines.disarm(p->deadline);
    const auto executor = p->socket.get_executor();
    std::string initial = unsent.empty() && !close_after ? std::string(bytes) : std::string();
    asio::co_spawn(executor,
                   serve_kept(std::move(p->socket), std::move(p->facts), p->requests, p->shared, std::move(initial),
                              std::move(unsent), close_after),
                   p->shared.ended);
  });
}

// Leaves the connection idle without a coroutine; the session's coroutine then ends.
void park(session& s, bool hold) {
  auto p = std::make_unique<parked>(std::move(s.socket), std::move(s.facts), s.shared, s.requests, hold);
  s.counted = false;  // the connection stays open: the parked object counts it now
  s.shared.deadlines.arm(p->deadline, hold ? wait_kind::hold : wait_kind::keep_alive);
  wait_parked(std::move(p));
}

// Plain HTTP on a connection whose bytes are there to read (or already read: `initial`):
// requests until the connection is done, or idle (then parked).
asio::awaitable<void> plain_http(session& s, std::string_view initial = {}) {
  plain_io io{s};
  const mismatch mode = s.facts.tls_port ? mismatch::plain_on_tls_port : mismatch::none;
  const http_end end = co_await http(s, io, std::nullopt, mode, initial);
  if (end == http_end::idle && go_idle(s)) {
    park(s, false);
    co_return;
  }
  if (s.socket.is_open()) co_await finish(s, end == http_end::closed_all_read);
}

asio::awaitable<void> serve_kept(tcp::socket socket, connection_facts c, std::uint64_t requests,
                                 shared_state& shared, std::string initial, std::string unsent, bool close_after) {
  session s(std::move(socket), std::move(c), shared);
  s.requests = requests;
  if (!unsent.empty()) {
    // The rest of an answer the socket did not take at once.
    std::error_code ec;
    co_await send_all(s, unsent, ec);
    if (ec == asio::error::timed_out)
      log_limit(s, limit_kind::write_timeout, ms(shared.limits.write_timeout), 0, false);
    if (ec) co_return;
    if (close_after) {
      co_await finish(s, true);
    } else if (go_idle(s)) {
      park(s, false);
    }
    co_return;
  }
  co_await plain_http(s, initial);
}

}  // namespace

void close_parked(shared_state& shared) {
  for (parked* p = shared.first_parked; p; p = p->next) {
    std::error_code ignored;
    p->socket.cancel(ignored);  // its handler runs with operation_aborted and closes it
  }
}

asio::awaitable<void> serve(tcp::socket socket, connection_facts c, shared_state& shared) {
  session s(std::move(socket), std::move(c), shared);
  std::error_code ec;
  s.socket.non_blocking(true, ec);
  first_bytes kind;
  {
    // Armed from here until the report path disarms it: silence is answered 200 ms after the
    // accept, not 200 ms after the sniffing gave up.
    shared.deadlines.arm(s.deadline, wait_kind::first_bytes);
    kind = co_await peek_first_bytes(s);
  }
  if (kind == first_bytes::nothing_yet && s.deadline.expired && shared.http_recently(s.facts.tuple.remote.address)) {
    // Silent, from an address that spoke HTTP moments ago: most likely a browser's spare
    // (preconnected) connection, which the browser may pick for its next request at any time
    // and, seeing bytes waiting, would read a text report sent now as that request's answer
    // (ERR_INVALID_HTTP_RESPONSE on a reload). So no report unasked: it waits for its first
    // bytes like a kept-alive connection, and is closed quietly if none come. A raw client from
    // that address gets its report as soon as it sends a line.
    shared.deadlines.arm(s.deadline, wait_kind::keep_alive);
    s.idle = true;  // closed at once if the server stops
    std::error_code waited = co_await readable(s);
    s.idle = false;
    shared.deadlines.disarm(s.deadline);
    char byte = 0;
    if (waited || ::recv(s.socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0) {
      s.socket.close(ec);  // unused, closed by the browser, or the keep-alive wait passed
      co_return;
    }
    shared.deadlines.arm(s.deadline, wait_kind::first_bytes);
    kind = co_await peek_first_bytes(s);
  }
  if (kind == first_bytes::http) {
    shared.deadlines.disarm(s.deadline);
    co_await plain_http(s);
  } else if (kind == first_bytes::tls) {
    shared.deadlines.disarm(s.deadline);
    shared.note_http(s.facts.tuple.remote.address);
    co_await tls_session(s);
  } else {
    // Not `co_await` inside a condition: GCC 12 has miscompiled co_await in compound expressions.
    const bool hold = co_await report(s);
    if (hold && go_idle(s)) {
      // demo-client --hold: the connection stays open until the client closes it, so that both
      // ends show it in `ss -tn`. Bounded all the same (wait_kind::hold).
      park(s, true);
      co_return;
    }
    s.socket.close(ec);
  }
}

}  // namespace portdemo::server
