#pragma once
// HTTP/1.x requests, parsed from bytes with no socket in sight, and the first-bytes sniffing
// that tells a browser, a TLS handshake, demo-client and a raw client apart on one port.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portdemo {

/// Which HTTP a request came in: on TCP one request at a time per connection (1.1), or many
/// streams multiplexed on one connection (2); on QUIC over UDP (3).
enum class http_version : std::uint8_t { http1, h2, h3 };

/// "HTTP/1.1", "HTTP/2", "HTTP/3".
std::string_view protocol_name(http_version v) noexcept;

/// What the first bytes of a connection say about the client.
enum class first_bytes { nothing_yet, hello, http, h2, tls, other };

/// Classifies the first bytes received: demo-client's hello, an HTTP request line (a method in
/// capitals and a space), HTTP/2's connection preface (h2c by prior knowledge: "PRI *
/// HTTP/2.0\r\n\r\nSM\r\n\r\n", all 24 bytes), a TLS handshake record (0x16 0x03), or anything
/// else. nothing_yet while the bytes are still a prefix of more than one of these.
first_bytes sniff(std::string_view received) noexcept;

/// One request's head.
struct http_request {
  std::string method;   ///< "GET"
  std::string target;   ///< "/json"
  int minor_version = 1;  ///< HTTP/1.<minor>
  std::vector<std::pair<std::string, std::string>> headers;  ///< names as sent, values trimmed

  /// The first header of that name (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
  /// Whether the connection stays open after the answer (HTTP/1.1 unless "close"; HTTP/1.0
  /// only with "keep-alive").
  bool keep_alive() const;
  /// Whether the client prefers HTML: an Accept header naming text/html.
  bool wants_html() const;
  /// Whether the client asks for a stream of Server-Sent Events (Accept: text/event-stream, as
  /// a browser's EventSource sends it).
  bool wants_event_stream() const;
  /// Whether a body follows the head: Transfer-Encoding (any), or a Content-Length other than
  /// 0 (one that is not a number counts as a body: the connection must not read it as the next
  /// request). `Content-Length: 0` is no body.
  bool has_body() const;
};

/// Why a request head was refused, as an HTTP status.
enum class http_error {
  bad_request = 400,               ///< malformed
  uri_too_long = 414,              ///< request line over the limit
  headers_too_large = 431,         ///< header bytes or lines over the limit
  version_not_supported = 505,     ///< not HTTP/1.0 or HTTP/1.1
};

/// Limits on a request head, answered with 414 or 431 when exceeded.
struct http_limits {
  std::size_t request_line = 8192;  ///< bytes of the request line
  std::size_t header_bytes = 8192;  ///< bytes of all header lines together
  std::size_t header_lines = 100;   ///< number of header lines
};

/// Parses request heads incrementally: feed bytes as they come; once a whole head is there,
/// the request (or the error) is known and `consumed()` says where the next request begins.
class request_parser {
 public:
  enum class state { incomplete, complete, failed };

  explicit request_parser(http_limits limits = {}) : limits_(limits) {}

  /// Adds bytes. Returns complete or failed as soon as that is certain; bytes after a complete
  /// head are kept for the next request.
  state feed(std::string_view bytes);

  /// The state after the last feed() or next().
  state current() const noexcept { return state_; }

  /// The request, once complete.
  const http_request& request() const noexcept { return request_; }
  /// The error, once failed.
  http_error error() const noexcept { return error_; }

  /// Bytes received after a complete head (a body, or the next request already sent); 0 while
  /// incomplete or failed.
  std::size_t after_head() const noexcept { return state_ == state::complete ? buffer_.size() - head_size_ : 0; }

  /// Bytes held and not yet part of a complete head (after next(): the start of the next request).
  std::size_t buffered() const noexcept { return buffer_.size(); }

  /// Starts over for the next request on the same connection, keeping bytes already received
  /// after the last head. Returns the state of what is kept.
  state next();

 private:
  state parse_head(std::string_view head);
  state fail(http_error e) {
    error_ = e;
    state_ = state::failed;
    return state_;
  }

  http_limits limits_;
  std::string buffer_;
  std::size_t head_size_ = 0;  // bytes of the complete head, including its blank line
  std::size_t head_start_ = 0;  // after blank lines that came before the request line
  std::size_t scanned_ = 0;     // bytes of buffer_ looked at so far
  std::size_t line_len_ = 0;    // bytes of the current, unfinished line
  std::size_t lines_ = 0;       // finished lines: the request line, then header lines
  std::size_t header_bytes_ = 0;
  http_request request_;
  http_error error_ = http_error::bad_request;
  state state_ = state::incomplete;
};

/// The reason phrase of a status: 200 "OK", 404 "Not Found", ...
std::string_view reason_phrase(int status) noexcept;

}  // namespace portdemo
