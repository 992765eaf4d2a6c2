#pragma once
// HTTP/2 on one connection, by a coroutine: inside TLS when the client chose h2 in ALPN, or in
// the clear when its first bytes were HTTP/2's preface (h2c by prior knowledge). The framing,
// HPACK and flow control are libnghttp2's (portdemo/h2.hpp); this moves its bytes, answers each
// stream as HTTP/1.1 requests are answered (route()), keeps the deadlines, follows the board on
// a stream of GET /events, and says GOAWAY when the server stops.

#include <string_view>

#include <asio/awaitable.hpp>

#include "connection.hpp"
#include "http_session.hpp"

namespace portdemo::server {

struct server_context;

/// Serves HTTP/2 on `c` through `io` until the connection is done; `first`: bytes read already
/// (the preface and what came with it). The caller closes (or shuts TLS down) afterwards.
asio::awaitable<void> http2(connection& c, server_context& ctx, http_io& io, std::string_view first, mismatch mode);

/// A plain connection whose first bytes (kept in `c->extra`) are HTTP/2's preface: a coroutine
/// serves it.
void serve_h2c(connection_ptr c, server_context& ctx);

}  // namespace portdemo::server
