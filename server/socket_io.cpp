#include "socket_io.hpp"

#include <cstdio>
#include <optional>

#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include "context.hpp"

namespace portdemo::server {

using asio::ip::tcp;

std::error_code outcome(const connection& c, std::error_code ec) {
  if (c.deadline.expired) return asio::error::timed_out;
  return ec;
}

asio::awaitable<std::error_code> readable(connection& c) {
  std::error_code ec;
  co_await c.socket.async_wait(tcp::socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
  co_return outcome(c, ec);
}

asio::awaitable<std::size_t> receive(connection& c, server_context& ctx, std::error_code& ec, bool wait_first) {
  if (wait_first) {
    ec = co_await readable(c);
    if (ec) co_return 0;
  }
  for (;;) {
    std::size_t n = c.socket.read_some(asio::buffer(ctx.scratch), ec);
    if (ec != asio::error::would_block) co_return n;
    ec = co_await readable(c);
    if (ec) co_return 0;
  }
}

asio::awaitable<void> send_all(connection& c, server_context& ctx, std::string_view bytes, std::error_code& ec) {
  std::optional<armed_scope> armed;
  while (!bytes.empty()) {
    std::size_t n = c.socket.write_some(asio::buffer(bytes), ec);
    bytes.remove_prefix(n);
    if (!ec) continue;
    if (ec != asio::error::would_block) co_return;
    if (!armed) armed.emplace(ctx.deadlines, c.deadline, wait_kind::write);
    co_await c.socket.async_wait(tcp::socket::wait_write, asio::redirect_error(asio::use_awaitable, ec));
    if ((ec = outcome(c, ec))) co_return;
  }
  ec.clear();
}

bool start_serving(connection& c) {
  if (!c.adopt()) return false;
  c.state = phase::serving;
  c.idle = false;
  c.deadline.expired = false;
  c.non_blocking();
  return true;
}

bool go_idle(connection& c, const server_context& ctx) {
  c.idle = true;
  return !ctx.stopping;
}

asio::awaitable<void> finish(connection& c, server_context& ctx, bool all_read) {
  std::error_code ec;
  if (all_read) {
    c.close();  // nothing unread: the close itself sends the FIN after the answer
    co_return;
  }
  c.socket.shutdown(tcp::socket::shutdown_send, ec);
  std::size_t n = c.socket.read_some(asio::buffer(ctx.scratch), ec);
  if (!ec && n > 0 && go_idle(c, ctx)) {
    armed_scope armed(ctx.deadlines, c.deadline, wait_kind::drain);
    while (!ec) co_await receive(c, ctx, ec);
  }
  c.close();
}

void log_limit(const connection& c, server_context& ctx, limit_kind kind, std::uint64_t limit, std::uint64_t received,
               bool answered) {
  ctx.events.emit(limit_event{c.facts.id, c.facts.tuple, kind, limit, received, answered});
}

void report_coroutine_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "demo-server: internal error: %s\n", ex.what());
  }
}

std::uint64_t ms(clock::duration d) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

}  // namespace portdemo::server
