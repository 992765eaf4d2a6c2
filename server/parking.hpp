#pragma once
// A connection that waits without a coroutine: its socket waits to become readable with a plain
// completion handler that owns the connection, so that an idle connection costs the connection
// object (a few hundred bytes) rather than a coroutine frame. A new connection's first bytes
// (when the waiting room is full), a browser's spare, the next request on a kept-alive
// connection, or the end of a demo-client --hold connection.

#include "connection.hpp"

namespace portdemo::server {

struct server_context;

/// Parks the connection to wait for `what` (not phase::serving), within the deadline of that
/// wait (for phase::first_bytes, the deadline armed at its first wait goes on). Gives the
/// descriptor to the event loop if it has not got it; closes the connection if it cannot.
void park(connection_ptr c, server_context& ctx, phase what);

}  // namespace portdemo::server
