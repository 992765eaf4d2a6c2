#pragma once
// The quick path: the common cases answered right where their bytes were read, with no
// coroutine and, for a new connection, without the event loop ever seeing the socket. One
// simple HTTP request (whole, nothing after it, no body, on a plain port), or one whole line
// with nothing after it (demo-client's hello). Then the connection closes, parks, or (when the
// socket did not take the whole answer at once) a coroutine sends the rest.

#include <string>
#include <string_view>

#include "connection.hpp"
#include "portdemo/http.hpp"

namespace portdemo::server {

struct server_context;

/// What follows an answer given at once.
struct quick_outcome {
  enum class then : std::uint8_t {
    close,       ///< all said, all read: the close sends the FIN after the answer
    keep_alive,  ///< wait for the next HTTP request
    hold,        ///< demo-client --hold: wait for the client to close
  };
  then next = then::close;
  std::string unsent;  ///< what the socket did not take at once
};

/// Whether a request may be answered where it was read: one whole request with nothing after
/// it and no body, not the board's event stream, on a plain port, the server not stopping.
bool may_answer_at_once(const request_parser& parser, bool tls_port, bool stopping);

/// Answers the request in `parser` (may_answer_at_once said yes) as request number
/// `c.requests + 1` of the connection.
quick_outcome answer_http_at_once(connection& c, server_context& ctx, const request_parser& parser);

/// Answers a raw client's whole line (demo-client's hello: the JSON view; anything else: the
/// text report).
quick_outcome answer_line_at_once(connection& c, server_context& ctx, std::string_view line);

/// After an answer given at once: close, park for what comes next, or let a coroutine send the
/// rest of the answer.
void carry_on(connection_ptr c, server_context& ctx, quick_outcome outcome);

}  // namespace portdemo::server
