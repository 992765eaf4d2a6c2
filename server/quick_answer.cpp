#include "quick_answer.hpp"

#include <sys/socket.h>

#include <cerrno>

#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>

#include "context.hpp"
#include "parking.hpp"
#include "portdemo/render.hpp"
#include "portdemo/web.hpp"
#include "socket_io.hpp"

namespace portdemo::server {

namespace {

// Sends what the socket takes at once; `unsent` gets the rest. False when the connection is
// reset (nothing more to say).
bool send_now(int fd, std::string_view answer, std::string& unsent) {
  const ssize_t n = ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
  unsent = answer.substr(n < 0 ? 0 : static_cast<std::size_t>(n));
  return true;
}

// The rest of an answer the socket did not take at once, then what was to follow it.
asio::awaitable<void> send_rest(connection_ptr c, server_context& ctx, quick_outcome outcome) {
  c->state = phase::serving;
  c->non_blocking();
  std::error_code ec;
  co_await send_all(*c, ctx, outcome.unsent, ec);
  if (ec == asio::error::timed_out) log_limit(*c, ctx, limit_kind::write_timeout, ms(ctx.limits.write_timeout), 0, false);
  if (ec) co_return;
  if (outcome.next == quick_outcome::then::close) {
    co_await finish(*c, ctx, true);
  } else if (go_idle(*c, ctx)) {
    park(std::move(c), ctx, outcome.next == quick_outcome::then::hold ? phase::hold : phase::request);
  }
}

}  // namespace

bool may_answer_at_once(const request_parser& parser, bool tls_port, bool stopping) {
  if (tls_port || stopping) return false;
  if (parser.current() != request_parser::state::complete || parser.after_head() != 0) return false;
  const http_request& request = parser.request();
  if (is_event_stream(request)) return false;  // a stream, not an answer: the coroutine's business
  return !request.has_body();
}

quick_outcome answer_http_at_once(connection& c, server_context& ctx, const request_parser& parser) {
  const http_request& request = parser.request();
  web_context context{c.facts.id,        c.requests + 1, c.facts.tuple, ctx.host, std::nullopt, c.facts.previous_port,
                      c.extra.claim(), http_version::http1, 0, nullptr, {}};
  http_response response = respond(request, context);
  quick_outcome out;
  if (!send_now(c.native(), serialize(response, request.method == "HEAD"), out.unsent)) {
    out.unsent.clear();
    return out;  // reset: nothing more to say
  }
  c.requests = context.request_number;
  ctx.http_seen.remember(c.facts.tuple.remote.address, clock::now());
  ctx.events.emit(http_request_event{c.facts.id, c.facts.tuple, request.method, request.target, response.status,
                                     context.request_number, "", "", http_version::http1, 0});
  out.next = response.close ? quick_outcome::then::close : quick_outcome::then::keep_alive;
  return out;
}

quick_outcome answer_line_at_once(connection& c, server_context& ctx, std::string_view line) {
  const raw_message message = split_raw_message(line);
  line_answer answer = answer_line(message, c.view(), ctx.host, line.size(), message.line);
  ctx.events.emit(std::move(answer.event));
  quick_outcome out;
  if (!send_now(c.native(), answer.bytes, out.unsent)) {
    out.unsent.clear();
    return out;
  }
  // demo-client --hold: the connection stays open until the client closes it, so that both
  // ends show it in `ss -tn` (not when the server is stopping).
  if (answer.hold && !ctx.stopping) out.next = quick_outcome::then::hold;
  return out;
}

void carry_on(connection_ptr c, server_context& ctx, quick_outcome outcome) {
  if (!outcome.unsent.empty()) {
    if (!c->adopt()) return;  // Asio cannot take it: closed
    asio::co_spawn(ctx.executor, send_rest(std::move(c), ctx, std::move(outcome)), report_coroutine_exception);
    return;
  }
  switch (outcome.next) {
    case quick_outcome::then::close: return;  // all said and all read: the close sends the FIN
    case quick_outcome::then::keep_alive: park(std::move(c), ctx, phase::request); return;
    case quick_outcome::then::hold: park(std::move(c), ctx, phase::hold); return;
  }
}

}  // namespace portdemo::server
