#include "parking.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <string_view>

#include "context.hpp"
#include "first_bytes.hpp"
#include "http_session.hpp"
#include "quick_answer.hpp"
#include "socket_io.hpp"

namespace portdemo::server {

namespace {

bool would_block(ssize_t n) { return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK); }

// Reads what is there into the shared buffer, without waiting (the socket is non-blocking from
// accept4 on): the byte count, 0 at the end of the stream, or -1 with errno (EAGAIN: nothing yet).
ssize_t receive_now(const connection& c, server_context& ctx) {
  return ::recv(c.native(), ctx.scratch.data(), ctx.scratch.size(), 0);
}

void woken(connection_ptr c, server_context& ctx, const std::error_code& error);

void wait(connection_ptr c, server_context& ctx) {
  connection* p = c.release();  // the handler owns it now
  p->socket.async_wait(asio::ip::tcp::socket::wait_read,
                       [p, &ctx](const std::error_code& error) { woken(connection_ptr(p), ctx, error); });
}

// A kept-alive connection's next request: answered here when simple, else by a coroutine that
// starts from the bytes parsed here (they are not parsed again).
void next_request(connection_ptr c, server_context& ctx, std::string_view bytes) {
  request_parser parser(ctx.limits.http);
  parser.feed(bytes);
  if (may_answer_at_once(parser, c->facts.tls_port, ctx.stopping)) {
    quick_outcome outcome = answer_http_at_once(*c, ctx, parser);
    carry_on(std::move(c), ctx, std::move(outcome));
    return;
  }
  serve_http(std::move(c), ctx, std::move(parser));
}

void first_bytes_woken(connection_ptr c, server_context& ctx, const std::error_code& error) {
  if (c->deadline.expired) {
    first_bytes_arrived(std::move(c), ctx, arrival::silence, {});
    return;
  }
  if (error) return;  // cut at shutdown, or the socket failed: closed
  const ssize_t n = receive_now(*c, ctx);
  if (would_block(n)) {
    wait(std::move(c), ctx);  // the same deadline: silence is answered 200 ms after the accept
    return;
  }
  if (n < 0) return;  // reset before saying anything: nothing to tell
  first_bytes_arrived(std::move(c), ctx, n == 0 ? arrival::end : arrival::bytes,
                      std::string_view(ctx.scratch.data(), static_cast<std::size_t>(n)));
}

void spare_woken(connection_ptr c, server_context& ctx, const std::error_code& error) {
  if (c->deadline.expired || error || ctx.stopping) return;  // unused: closed quietly
  char byte = 0;
  const ssize_t n = ::recv(c->native(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (would_block(n)) {
    wait(std::move(c), ctx);
    return;
  }
  if (n <= 0) return;  // closed by the browser unused, or reset: closed quietly
  // It speaks after all: a new connection's first bytes, with the first-bytes rules from here.
  c->state = phase::first_bytes;
  c->idle = false;
  ctx.deadlines.arm(c->deadline, wait_kind::first_bytes);
  first_bytes_woken(std::move(c), ctx, {});
}

void kept_woken(connection_ptr c, server_context& ctx, const std::error_code& error) {
  const bool hold = c->state == phase::hold;
  const std::error_code ec = c->deadline.expired ? std::error_code(asio::error::timed_out) : error;
  if (ec == asio::error::timed_out && !hold)
    log_limit(*c, ctx, limit_kind::keep_alive_timeout, ms(ctx.limits.keep_alive_timeout), 0, false);
  if (ec || ctx.stopping) return;  // timed out, reset, or closed at shutdown
  const ssize_t n = receive_now(*c, ctx);
  const bool nothing_yet = would_block(n);
  if (hold) {
    // --hold: whatever comes is dropped; the end of the stream ends the hold.
    if (nothing_yet || n > 0) wait(std::move(c), ctx);
    return;
  }
  if (nothing_yet) {
    ctx.deadlines.arm(c->deadline, wait_kind::keep_alive);  // not yet: wait on
    wait(std::move(c), ctx);
    return;
  }
  if (n <= 0) return;  // closed or reset
  next_request(std::move(c), ctx, std::string_view(ctx.scratch.data(), static_cast<std::size_t>(n)));
}

void woken(connection_ptr c, server_context& ctx, const std::error_code& error) {
  switch (c->state) {
    case phase::first_bytes: first_bytes_woken(std::move(c), ctx, error); return;
    case phase::spare: spare_woken(std::move(c), ctx, error); return;
    case phase::request:
    case phase::hold: kept_woken(std::move(c), ctx, error); return;
    case phase::serving: return;  // not a parked wait
  }
}

}  // namespace

void park(connection_ptr c, server_context& ctx, phase what) {
  if (what == phase::serving || !c->adopt()) return;  // Asio cannot take it: closed
  c->state = what;
  c->idle = what != phase::first_bytes;  // a new connection's first bytes are answered within the grace
  // Only a new connection's kept prefix ("GE") matters to what comes next.
  if (what != phase::first_bytes) c->extra.drop_bytes();
  switch (what) {
    case phase::first_bytes: ctx.deadlines.arm_if_unarmed(c->deadline, wait_kind::first_bytes); break;
    case phase::spare:
    case phase::request: ctx.deadlines.arm(c->deadline, wait_kind::keep_alive); break;
    case phase::hold: ctx.deadlines.arm(c->deadline, wait_kind::hold); break;
    case phase::serving: break;
  }
  wait(std::move(c), ctx);
}

}  // namespace portdemo::server
