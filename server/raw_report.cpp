#include "raw_report.hpp"

#include <optional>
#include <string>

#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>

#include "context.hpp"
#include "parking.hpp"
#include "portdemo/protocol.hpp"
#include "portdemo/render.hpp"
#include "socket_io.hpp"

namespace portdemo::server {

namespace {

// Returns true for demo-client --hold: the caller keeps the connection open.
asio::awaitable<bool> report(connection& c, server_context& ctx) {
  const server_limits& limits = ctx.limits;
  line_collector line(limits.max_line);
  std::optional<clock::time_point> began;
  if (c.extra.has_bytes()) {
    line.feed(c.extra.bytes());
    began = clock::now();
    c.extra.drop_bytes();
  }
  bool timed_out = false;
  std::error_code ec;
  if (c.deadline.expired) {
    // Silent until the first_bytes deadline: answered now. Bytes that came at the last moment
    // are read without waiting.
    std::size_t n = c.socket.read_some(asio::buffer(ctx.scratch), ec);
    if (!ec) line.feed(std::string_view(ctx.scratch.data(), n));
    if (ec == asio::error::would_block) ec.clear();
  }
  // demo-client's view line comes in the same write as its hello: wait for the rest of it only
  // when part of it is here.
  const auto awaiting_view = [&line] {
    return line.current() == line_collector::state::complete && !line.rest().empty() &&
           is_hello_line(line.line()) && could_be_client_view(line.rest());
  };
  while (!c.deadline.expired && !ec && (line.current() == line_collector::state::incomplete || awaiting_view())) {
    std::size_t n = co_await receive(c, ctx, ec);
    if (ec || n == 0) break;
    const auto now = clock::now();
    if (!began) began = now;
    line.feed(std::string_view(ctx.scratch.data(), n));
    if (now - *began >= limits.request_timeout) {
      timed_out = true;
      break;
    }
    ctx.deadlines.arm(c.deadline, wait_kind::first_bytes);  // a pause of this long ends the line
  }
  ctx.deadlines.disarm(c.deadline);
  if (ec && ec != asio::error::timed_out && ec != asio::error::eof) co_return false;  // reset: nothing to tell

  std::string answer;
  bool viewed = false;
  if (line.current() == line_collector::state::too_long) {
    answer = render_limit_answer(limit_kind::line_too_long, limits.max_line);
    log_limit(c, ctx, limit_kind::line_too_long, limits.max_line, line.received(), true);
  } else if (timed_out) {
    answer = render_limit_answer(limit_kind::request_timeout, ms(limits.request_timeout));
    log_limit(c, ctx, limit_kind::request_timeout, ms(limits.request_timeout), line.received(), true);
  } else {
    std::string_view got = line.line();
    const raw_message message = raw_message_of(got, line.rest());
    viewed = message.client_view.has_value();
    line_answer a = answer_line(message, c.view(), ctx.host, line.received(), got);
    ctx.events.emit(std::move(a.event));
    if (a.hold) {
      co_await send_all(c, ctx, a.bytes, ec);
      co_return !ec;
    }
    answer = std::move(a.bytes);
  }
  co_await send_all(c, ctx, answer, ec);
  if (ec == asio::error::timed_out) log_limit(c, ctx, limit_kind::write_timeout, ms(limits.write_timeout), 0, false);
  if (ec) co_return false;
  const std::size_t whole = line.line().size() + (viewed ? line.rest().size() : 0);
  const bool all_read = line.current() == line_collector::state::complete && line.received() == whole;
  co_await finish(c, ctx, all_read);
  co_return false;
}

asio::awaitable<void> raw_client(connection_ptr c, server_context& ctx, bool silent) {
  // A pause of the first-bytes wait ends the line.
  if (silent) c->deadline.expired = true;
  else ctx.deadlines.arm(c->deadline, wait_kind::first_bytes);
  // Not `co_await` inside a condition: GCC 12 has miscompiled co_await in compound expressions.
  const bool hold = co_await report(*c, ctx);
  if (hold && go_idle(*c, ctx)) {
    // demo-client --hold: the connection stays open until the client closes it, so that both
    // ends show it in `ss -tn`. Bounded all the same (wait_kind::hold).
    park(std::move(c), ctx, phase::hold);
    co_return;
  }
  c->close();
}

}  // namespace

void serve_report(connection_ptr c, server_context& ctx, bool silent) {
  if (!c->adopt()) return;
  c->state = phase::serving;
  c->idle = false;
  c->non_blocking();
  asio::co_spawn(ctx.executor, raw_client(std::move(c), ctx, silent), report_coroutine_exception);
}

}  // namespace portdemo::server
