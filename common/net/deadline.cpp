#include "portdemo/deadline.hpp"

#include <variant>

#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <asio/experimental/awaitable_operators.hpp>

namespace portdemo {

using namespace asio::experimental::awaitable_operators;

namespace {

// Waits until the deadline. Its operation never reports an error to the `||` below, so the
// race is decided by which operation completes first, not by which one succeeds.
asio::awaitable<void> sleep_until(clock::time_point deadline) {
  asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
  std::error_code ignored;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
}

}  // namespace

asio::awaitable<void> connect_until(asio::ip::tcp::socket& socket,
                                    const asio::ip::tcp::endpoint& peer, clock::time_point deadline,
                                    std::error_code& ec) {
  ec.clear();
  auto result = co_await (socket.async_connect(peer, asio::redirect_error(asio::use_awaitable, ec)) ||
                          sleep_until(deadline));
  if (result.index() == 1) ec = asio::error::timed_out;
}

asio::awaitable<std::size_t> read_some_until(asio::ip::tcp::socket& socket,
                                             asio::mutable_buffer buffer,
                                             clock::time_point deadline, std::error_code& ec) {
  ec.clear();
  auto result = co_await (socket.async_read_some(buffer, asio::redirect_error(asio::use_awaitable, ec)) ||
                          sleep_until(deadline));
  if (result.index() == 1) {
    ec = asio::error::timed_out;
    co_return 0;
  }
  co_return std::get<0>(result);
}

asio::awaitable<std::size_t> write_until(asio::ip::tcp::socket& socket, asio::const_buffer buffer,
                                         clock::time_point deadline, std::error_code& ec) {
  ec.clear();
  auto result = co_await (asio::async_write(socket, buffer, asio::redirect_error(asio::use_awaitable, ec)) ||
                          sleep_until(deadline));
  if (result.index() == 1) {
    ec = asio::error::timed_out;
    co_return 0;
  }
  co_return std::get<0>(result);
}

}  // namespace portdemo
