#pragma once
// Socket steps with a deadline. A step that misses its deadline is cancelled and reports
// asio::error::timed_out. The experimental awaitable operators stay inside deadline.cpp, which
// instantiates the stream functions for the two streams the programs use: a TCP socket, and
// TLS over a TCP socket.

#include <chrono>
#include <cstddef>
#include <system_error>

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/ssl/stream.hpp>

namespace portdemo {

using clock = std::chrono::steady_clock;

/// TLS over a TCP socket that the session owns.
using tls_stream = asio::ssl::stream<asio::ip::tcp::socket&>;

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

/// Waits until the socket has bytes to read (without reading them), or the deadline.
asio::awaitable<void> wait_readable_until(asio::ip::tcp::socket& socket, clock::time_point deadline,
                                          std::error_code& ec);

/// The server side of a TLS handshake, giving up at `deadline` with timed_out.
asio::awaitable<void> handshake_until(tls_stream& stream, clock::time_point deadline, std::error_code& ec);

/// Sends TLS close_notify and waits for the peer's, giving up at `deadline`.
asio::awaitable<void> tls_shutdown_until(tls_stream& stream, clock::time_point deadline, std::error_code& ec);

extern template asio::awaitable<std::size_t> read_some_until(asio::ip::tcp::socket&, asio::mutable_buffer,
                                                             clock::time_point, std::error_code&);
extern template asio::awaitable<std::size_t> read_some_until(tls_stream&, asio::mutable_buffer,
                                                             clock::time_point, std::error_code&);
extern template asio::awaitable<std::size_t> write_until(asio::ip::tcp::socket&, asio::const_buffer,
                                                         clock::time_point, std::error_code&);
extern template asio::awaitable<std::size_t> write_until(tls_stream&, asio::const_buffer, clock::time_point,
                                                         std::error_code&);

}  // namespace portdemo
