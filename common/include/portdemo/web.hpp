#pragma once
// The web answers: from a request and the facts of its connection to a response, with no
// socket in sight. The page, its plain-text twin, /json, and every error page live here.

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "portdemo/endpoint.hpp"
#include "portdemo/host_facts.hpp"
#include "portdemo/http.hpp"
#include "portdemo/protocol.hpp"

namespace portdemo {

/// The TLS side of a connection, when it has one.
struct tls_details {
  std::string version;  ///< "TLSv1.3"
  std::string cipher;   ///< "TLS_AES_256_GCM_SHA384"
};

/// A QUIC connection's names: its connection IDs (hex), which name it instead of the four facts
/// of its UDP tuple, and the tuple it began on when the client's address or port has changed since.
struct quic_details {
  std::string client_cid;  ///< the ID the client chose for itself (the server sends to it)
  std::string server_cid;  ///< the ID the server chose (the client sends to it)
  std::string version;     ///< the QUIC version, e.g. "0x00000001"
  std::optional<socket_tuple> first_tuple;  ///< set once the path changed: the tuple it began on
  std::uint32_t migrations = 0;             ///< how many times the client's address or port changed
};

/// Bytes as lower-case hex ("5a0f..."), as QUIC connection IDs are written.
std::string to_hex(std::span<const std::uint8_t> bytes);

/// A QUIC version as the events write it: "0x00000001".
std::string quic_version_text(std::uint32_t version);

/// A connection ID as the text and the page show it: hex, or "(empty)" for a zero-length one
/// (Chromium asks for none of its own: the server then tells its packets apart by the path).
std::string shown_cid(std::string_view cid);

/// Everything the page tells about the connection a request came on.
struct web_context {
  std::uint64_t connection_id = 0;  ///< the server's connection number
  std::uint64_t request_number = 1;  ///< 1 for the first request on this connection
  socket_tuple tuple;               ///< the server's view: local is the server's end
  host_facts facts;
  std::optional<tls_details> tls;
  /// The client port of this client address's previous connection, if there was one.
  std::optional<std::uint16_t> previous_port;
  /// What a PROXY header said (a --proxy-protocol port): then the socket's peer is the proxy.
  const proxy_claim* proxy = nullptr;
  http_version version = http_version::http1;
  /// The request's stream on an HTTP/2 or HTTP/3 connection (0 for HTTP/1.1, where a
  /// connection carries one request at a time).
  std::int64_t stream = 0;
  /// Of an HTTP/3 request: the QUIC connection's names (then `tuple` is a UDP tuple).
  const quic_details* quic = nullptr;
  /// The Alt-Svc value respond() puts on its answers (HTTP/3 offered with --quic, on TLS
  /// connections); empty: none.
  std::string_view alt_svc;
};

/// One response, before it is written.
struct http_response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  bool close = false;              ///< Connection: close, then the server closes
  std::string location;            ///< for redirects; empty otherwise
  std::string allow;               ///< for 405: the methods allowed
  std::string policy;              ///< Content-Security-Policy, when the page sets one
  std::string alt_svc;             ///< Alt-Svc (HTTP/3 offered on a UDP port, with --quic); empty: none
};

/// A response's header fields for HTTP/2 and HTTP/3 (lower-case names, no Connection: those
/// protocols close by GOAWAY, not per response), in the order HTTP/1.1's head has them, after
/// `:status`.
std::vector<std::pair<std::string_view, std::string>> response_fields(const http_response& response);

/// The answer to a request: GET or HEAD of /, /json, /board (HEAD /events); 404 for other paths, 405 for other methods.
http_response respond(const http_request& request, const web_context& context);

/// Whether the request asks for the board's event stream (GET /events): the server answers it
/// by streaming, not with respond().
bool is_event_stream(const http_request& request);

/// GET /events when --max-board-subscribers follow already: 503, then close.
http_response board_full_response(std::size_t max_subscribers);

/// GET /events from a browser's EventSource (Accept: text/event-stream) when the board is full:
/// the events of a stream that says so in one `note` and sets a retry delay of 15 s, then ends,
/// so that the page can show why (EventSource cannot read a 503) and tries again by itself.
/// Without a head: over HTTP/1.1 event_stream_head() goes first, HTTP/2 and HTTP/3 frame it.
std::string board_full_events(std::size_t max_subscribers);

/// The last event of every board stream when the server stops: a `note` with code "stopping"
/// (the page then says "reconnecting"), for each HTTP version alike.
std::string board_stopping_events();

/// The response head of the board's event stream (GET /events); the events follow until the
/// server closes the connection.
std::string_view event_stream_head();

/// The answer to a request head that could not be parsed.
http_response error_response(http_error error);

/// A request begun but not complete within `limit` of its first byte: 408, then close.
http_response request_timeout_response(std::chrono::milliseconds limit);

/// A plain HTTP request arrived on a port that speaks TLS: 400 with the https:// address to use.
http_response plain_http_on_tls_port(const http_request& request, const web_context& context);

/// A TLS handshake arrived on a plain port and was answered in TLS: a page with the http://
/// address to use instead.
http_response tls_on_plain_port(const http_request& request, const web_context& context);

/// The response's bytes: status line, headers, blank line, and the body unless `head_only`.
std::string serialize(const http_response& response, bool head_only);

/// The JSON object GET /json returns: the server's view of the connection and the request.
std::string connection_json(const web_context& context);

}  // namespace portdemo
