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

// Runs `op` (an awaitable that reports through `ec`) against the deadline.
template <typename T>
asio::awaitable<T> race(asio::awaitable<T> op, clock::time_point deadline, std::error_code& ec) {
  auto result = co_await (std::move(op) || sleep_until(deadline));
  if (result.index() == 1) {
    ec = asio::error::timed_out;
    if constexpr (!std::is_void_v<T>) co_return T{};
  } else {
    if constexpr (!std::is_void_v<T>) co_return std::get<0>(result);
  }
}

}  // namespace

asio::awaitable<void> connect_until(asio::ip::tcp::socket& socket,
                                    const asio::ip::tcp::endpoint& peer, clock::time_point deadline,
                                    std::error_code& ec) {
  ec.clear();
  co_await race(socket.async_connect(peer, asio::redirect_error(asio::use_awaitable, ec)), deadline, ec);
}

template <typename Stream>
asio::awaitable<std::size_t> read_some_until(Stream& stream, asio::mutable_buffer buffer,
                                             clock::time_point deadline, std::error_code& ec) {
  ec.clear();
  co_return co_await race(stream.async_read_some(buffer, asio::redirect_error(asio::use_awaitable, ec)),
                          deadline, ec);
}

template <typename Stream>
asio::awaitable<std::size_t> write_until(Stream& stream, asio::const_buffer buffer,
                                         clock::time_point deadline, std::error_code& ec) {
  ec.clear();
  co_return co_await race(asio::async_write(stream, buffer, asio::redirect_error(asio::use_awaitable, ec)),
                          deadline, ec);
}

asio::awaitable<std::size_t> receive_until(asio::ip::udp::socket& socket, asio::mutable_buffer buffer,
                                           clock::time_point deadline, std::error_code& ec) {
  ec.clear();
  co_return co_await race(socket.async_receive(buffer, asio::redirect_error(asio::use_awaitable, ec)), deadline, ec);
}

template asio::awaitable<std::size_t> read_some_until(asio::ip::tcp::socket&, asio::mutable_buffer,
                                                      clock::time_point, std::error_code&);
template asio::awaitable<std::size_t> write_until(asio::ip::tcp::socket&, asio::const_buffer, clock::time_point,
                                                  std::error_code&);

}  // namespace portdemo
