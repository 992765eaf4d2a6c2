#include "tls.hpp"

#include <openssl/ssl.h>

#include <array>
#include <memory>

#include <asio/co_spawn.hpp>
#include <asio/redirect_error.hpp>
#include <asio/ssl/error.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "context.hpp"
#include "http2_session.hpp"
#include "http_session.hpp"
#include "portdemo/failure.hpp"
#include "socket_io.hpp"

namespace portdemo::server {

namespace {

/// TLS over a connection's socket, its first bytes given back by prefixed_socket.
using server_tls_stream = asio::ssl::stream<prefixed_socket&>;

// HTTP inside TLS, through OpenSSL with a buffer of its own.
class tls_io final : public http_io {
 public:
  tls_io(connection& c, server_context& ctx, server_tls_stream& stream, tls_details details)
      : c_(c), ctx_(ctx), stream_(stream), details_(std::move(details)) {}
  asio::awaitable<std::string_view> read(std::error_code& ec, bool) override {
    std::size_t n =
        co_await stream_.async_read_some(asio::buffer(*buffer_), asio::redirect_error(asio::use_awaitable, ec));
    ec = outcome(c_, ec);
    co_return std::string_view(buffer_->data(), n);
  }
  asio::awaitable<void> write(std::string_view bytes, std::error_code& ec) override {
    armed_scope armed(ctx_.deadlines, c_.deadline, wait_kind::write);
    co_await asio::async_write(stream_, asio::buffer(bytes), asio::redirect_error(asio::use_awaitable, ec));
    ec = outcome(c_, ec);
  }
  const std::optional<tls_details>& tls() const override { return details_; }
  bool parks_when_idle() const override { return false; }

 private:
  connection& c_;
  server_context& ctx_;
  server_tls_stream& stream_;
  std::optional<tls_details> details_;
  std::unique_ptr<std::array<char, 4096>> buffer_ = std::make_unique<std::array<char, 4096>>();
};

asio::awaitable<void> tls_connection(connection_ptr c, server_context& ctx) {
  std::error_code ec;
  if (!ctx.tls) {
    c->close();  // no certificate: the start-up report said why
    co_return;
  }
  prefixed_socket socket(c->socket, c->extra.take_bytes());
  server_tls_stream stream(socket, *ctx.tls);
  {
    armed_scope armed(ctx.deadlines, c->deadline, wait_kind::handshake);
    co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
    ec = outcome(*c, ec);
  }
  if (ec) {
    std::string reason = ec == asio::error::timed_out ? "no handshake within 10 s" : ec.message();
    std::string why = explain_tls_failure(reason);
    ctx.events.emit(tls_failed_event{c->facts.id, c->facts.tuple, std::move(reason), std::move(why)});
    c->close();
    co_return;
  }
  SSL* ssl = stream.native_handle();
  // Named, not a temporary in the co_await expression: GCC 12 can destroy such a temporary twice.
  tls_io io(*c, ctx, stream, tls_details{SSL_get_version(ssl), SSL_get_cipher_name(ssl)});
  const mismatch mode = c->facts.tls_port ? mismatch::none : mismatch::tls_on_plain_port;
  const unsigned char* alpn = nullptr;
  unsigned int alpn_size = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_size);
  if (std::string_view(reinterpret_cast<const char*>(alpn), alpn_size) == "h2") {
    co_await http2(*c, ctx, io, {}, mode);
  } else {
    request_parser parser(ctx.limits.http);
    co_await http(*c, ctx, io, std::move(parser), mode);
  }
  if (!c->socket.is_open()) co_return;
  {
    armed_scope armed(ctx.deadlines, c->deadline, wait_kind::drain);
    co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_await finish(*c, ctx);
}

// ALPN: h2 when the client offers it (every browser does), else http/1.1; a client that offers
// neither (curl --http1.0, openssl s_client) goes on without ALPN, as HTTP/1.1.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void*) {
  static constexpr unsigned char ours[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, ours, sizeof ours, in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

void offer_alpn(asio::ssl::context& tls) { SSL_CTX_set_alpn_select_cb(tls.native_handle(), &select_alpn, nullptr); }

void serve_tls(connection_ptr c, server_context& ctx) {
  if (!start_serving(*c)) return;
  // A handshake is HTTP to come: the address's browser may open spare connections.
  ctx.http_seen.remember(c->facts.tuple.remote.address, clock::now());
  asio::co_spawn(ctx.executor, tls_connection(std::move(c), ctx), report_coroutine_exception);
}

}  // namespace portdemo::server
