#pragma once
// Setting up one listening socket, step by step as the lecture tells it:
// open, set options (v6-only, SO_REUSEADDR), bind, listen; then read the real port back.

#include <optional>
#include <string>
#include <variant>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>

#include "portdemo/failure.hpp"

namespace portdemo::server {

/// Opens a listening socket on `where`; on failure, the step that failed and its error.
/// Never sets SO_REUSEPORT: a second server on the same port must fail, not share it.
std::variant<asio::ip::tcp::acceptor, failure> open_listener(asio::io_context& io,
                                                             const asio::ip::tcp::endpoint& where);

/// Opens a UDP socket bound to `where`, step by step as for TCP (open, v6-only, SO_REUSEADDR,
/// bind); there is no listen step: a datagram socket receives from anyone once bound.
std::variant<asio::ip::udp::socket, failure> open_datagram(asio::io_context& io,
                                                           const asio::ip::udp::endpoint& where);

/// A socket a service manager passed (socket activation): a TCP listener or a UDP socket, or
/// why it cannot be used.
struct passed_socket {
  std::optional<asio::ip::tcp::acceptor> tcp;
  std::optional<asio::ip::udp::socket> udp;
  std::string problem;  ///< set when neither
};

/// Takes over descriptor `fd` from the parent: an IPv4 or IPv6 TCP socket (listening, or made
/// to listen) or UDP socket; anything else is refused with the reason.
passed_socket adopt_socket(asio::io_context& io, int fd);

}  // namespace portdemo::server
