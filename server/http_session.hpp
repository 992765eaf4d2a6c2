#pragma once
// HTTP/1.1 on one connection, plain or inside TLS, by a coroutine: requests until the
// connection is done. The first request has --request-timeout from its first byte; later ones
// may idle --keep-alive-timeout before they begin. A plain connection idle between requests
// parks instead (parking.hpp), so an idle kept-alive connection costs no coroutine frame.

#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>

#include <asio/awaitable.hpp>

#include "connection.hpp"
#include "portdemo/http.hpp"
#include "portdemo/web.hpp"

namespace portdemo::server {

struct server_context;

/// How a session reads and writes: plain TCP through the shared buffer, or TLS through OpenSSL
/// (which reads ahead, so the socket's readiness says nothing about decrypted bytes).
class http_io {
 public:
  virtual ~http_io() = default;
  /// Reads some bytes (eof as an error); `wait_first`: none are expected yet.
  virtual asio::awaitable<std::string_view> read(std::error_code& ec, bool wait_first) = 0;
  /// Writes all of `bytes` within --write-timeout.
  virtual asio::awaitable<void> write(std::string_view bytes, std::error_code& ec) = 0;
  /// The TLS side, if any.
  virtual const std::optional<tls_details>& tls() const = 0;
  /// Whether the session returns when idle between requests (to park) instead of waiting.
  virtual bool parks_when_idle() const = 0;
};

/// Plain TCP: reads land in the shared buffer (ctx.scratch).
class plain_io final : public http_io {
 public:
  plain_io(connection& c, server_context& ctx) : c_(c), ctx_(ctx) {}
  asio::awaitable<std::string_view> read(std::error_code& ec, bool wait_first) override;
  asio::awaitable<void> write(std::string_view bytes, std::error_code& ec) override;
  const std::optional<tls_details>& tls() const override { return none_; }
  bool parks_when_idle() const override { return true; }

 private:
  connection& c_;
  server_context& ctx_;
  std::optional<tls_details> none_;
};

/// How the port and the client's choice of protocol fit together.
enum class mismatch { none, plain_on_tls_port, tls_on_plain_port };

/// The answer to a whole request head, on a port whose protocol the client did (or did not)
/// pick; `note` says which mismatch, if any. Every HTTP version asks here.
http_response route(const http_request& request, const web_context& context, mismatch mode, std::string& note);

/// How a session ended.
enum class http_end {
  closed,           ///< the connection is done
  closed_all_read,  ///< done after an answer, with nothing left unread: close at once
  idle,             ///< answered; kept alive, nothing buffered: park for the next request
};

/// Serves requests from `parser` (holding the bytes read so far) on; see http_end.
asio::awaitable<http_end> http(connection& c, server_context& ctx, http_io& io, request_parser parser, mismatch mode);

/// Plain HTTP on a connection whose first bytes (or next request's) were parsed into `parser`:
/// a coroutine serves it until it closes or parks.
void serve_http(connection_ptr c, server_context& ctx, request_parser parser);

}  // namespace portdemo::server
