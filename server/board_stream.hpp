#pragma once
// GET /events: the classroom board's event stream on one connection, until the client goes,
// falls behind, or the server stops. The hub (board_hub.hpp) gathers and batches; this writes.

#include <cstdint>

#include <asio/awaitable.hpp>

#include "connection.hpp"
#include "portdemo/http.hpp"

namespace portdemo::server {

struct server_context;
class http_io;

/// Streams the board to the client of request `number` on `c` (the response head, the
/// reconnection delay and a snapshot, then a batch whenever the board has news and a heartbeat
/// otherwise). Over --max-board-subscribers: a 503, or for a browser's EventSource a stream that
/// says so. A subscriber that takes no events within --write-timeout, or lets them pile up past
/// board_hub::pending_limit, is dropped: the others and accepting never wait for it.
asio::awaitable<void> stream_board(connection& c, server_context& ctx, http_io& io, const http_request& request,
                                   std::uint64_t number);

}  // namespace portdemo::server
