#pragma once
// Socket steps with a deadline. A step that misses its deadline is cancelled and reports
// asio::error::timed_out. The experimental awaitable operators stay inside deadline.cpp.

#include <chrono>
#include <cstddef>
#include <system_error>

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>

namespace portdemo {

using clock = std::chrono::steady_clock;

/// Connects `socket` to `peer`, giving up at `deadline` with timed_out.
asio::awaitable<void> connect_until(asio::ip::tcp::socket& socket,
                                    const asio::ip::tcp::endpoint& peer, clock::time_point deadline,
                                    std::error_code& ec);

/// Reads some bytes into `buffer`, giving up at `deadline` with timed_out.
asio::awaitable<std::size_t> read_some_until(asio::ip::tcp::socket& socket,
                                             asio::mutable_buffer buffer,
                                             clock::time_point deadline, std::error_code& ec);

/// Writes all of `buffer`, giving up at `deadline` with timed_out.
asio::awaitable<std::size_t> write_until(asio::ip::tcp::socket& socket, asio::const_buffer buffer,
                                         clock::time_point deadline, std::error_code& ec);

}  // namespace portdemo
