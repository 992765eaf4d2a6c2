#pragma once
// UDP: no connection, no accept. Each datagram is answered on its own (the JSON view for
// demo-client's hello, the text report otherwise) with the sender's address and port.

#include <asio/awaitable.hpp>
#include <asio/ip/udp.hpp>

namespace portdemo::server {

struct server_context;

/// Receives and answers datagrams on `socket` until it is closed.
asio::awaitable<void> datagram_loop(asio::ip::udp::socket& socket, server_context& ctx);

}  // namespace portdemo::server
