#pragma once
// A raw client (nc, telnet, demo-client): its first line, collected by a coroutine when it did
// not come whole at once, and answered with the JSON view (demo-client's hello) or the text
// report. Silence gets the report at once.

#include "connection.hpp"

namespace portdemo::server {

struct server_context;

/// Serves the raw client from the bytes it sent so far (`c->extra`) until its answer is given;
/// `silent`: the first-bytes deadline passed. The line ends at a newline, at the client's FIN,
/// or when the client pauses for the first-bytes wait; it may not exceed --max-line bytes nor
/// take longer than --request-timeout from its first byte. demo-client --hold parks after.
void serve_report(connection_ptr c, server_context& ctx, bool silent);

}  // namespace portdemo::server
