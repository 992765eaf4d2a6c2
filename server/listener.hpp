#pragma once
// Setting up one listening socket, step by step as the lecture tells it:
// open, set options (v6-only, SO_REUSEADDR), bind, listen; then read the real port back.

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

}  // namespace portdemo::server
