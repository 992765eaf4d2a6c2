#pragma once
// demo-client --http2: on a connection just made, HTTP/2 by prior knowledge (h2c), or inside TLS
// with ALPN h2 (--tls, as https://): --requests GET /json on streams of that one connection, and
// what the server saw of each. HTTP/2's framing is libnghttp2's (portdemo/h2.hpp: h2_client),
// TLS is OpenSSL's (tls_client.hpp).

#include <optional>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "client.hpp"
#include "portdemo/events.hpp"

namespace portdemo::client {

/// The exchange, or (--tls) why TLS did not carry HTTP/2.
struct http2_outcome {
  std::optional<http2_exchanged_event> exchanged;
  std::optional<http2_failed_event> failed;
};

/// Asks over HTTP/2 on `socket` (connected, its four facts in `ev`): fills ev's server view
/// from the first answer and returns the whole exchange.
asio::awaitable<http2_outcome> ask_over_http2(asio::ip::tcp::socket& socket, const options& opts,
                                              connected_event& ev);

}  // namespace portdemo::client
