#pragma once
// demo-client's socket steps with a deadline. A step that misses its deadline is cancelled and
// reports asio::error::timed_out. The experimental awaitable operators stay inside deadline.cpp,
// which instantiates the stream functions for the TCP socket. (The server's waits have their
// own deadlines: server/timeouts.hpp.)

#include <chrono>
#include <cstddef>
#include <system_error>

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>

namespace portdemo {

using clock = std::chrono::steady_clock;

/// Connects `socket` to `peer`, giving up at `deadline` with timed_out.
asio::awaitable<void> connect_until(asio::ip::tcp::socket& socket,
                                    const asio::ip::tcp::endpoint& peer, clock::time_point deadline,
                                    std::error_code& ec);

/// Reads some bytes into `buffer`, giving up at `deadline` with timed_out.
template <typename Stream>
asio::awaitable<std::size_t> read_some_until(Stream& stream, asio::mutable_buffer buffer,
                                             clock::time_point deadline, std::error_code& ec);

/// Writes all of `buffer`, giving up at `deadline` with timed_out.
template <typename Stream>
asio::awaitable<std::size_t> write_until(Stream& stream, asio::const_buffer buffer,
                                         clock::time_point deadline, std::error_code& ec);

/// Receives one datagram on a connected UDP socket, giving up at `deadline` with timed_out.
/// An ICMP port-unreachable for an earlier datagram shows here as connection_refused.
asio::awaitable<std::size_t> receive_until(asio::ip::udp::socket& socket, asio::mutable_buffer buffer,
                                           clock::time_point deadline, std::error_code& ec);

extern template asio::awaitable<std::size_t> read_some_until(asio::ip::tcp::socket&, asio::mutable_buffer,
                                                             clock::time_point, std::error_code&);
extern template asio::awaitable<std::size_t> write_until(asio::ip::tcp::socket&, asio::const_buffer,
                                                         clock::time_point, std::error_code&);

}  // namespace portdemo
