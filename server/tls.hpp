#pragma once
// A TLS connection: HTTPS on a TLS port, or a clear answer inside TLS on a plain one. The
// certificate is certificate.hpp's.

#include <cstddef>
#include <optional>
#include <string>
#include <utility>

#include <asio/async_result.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/ssl/context.hpp>

#include "connection.hpp"

namespace portdemo::server {

/// A TCP socket whose first reads return bytes the server took from it already (to tell a TLS
/// handshake from the rest), then the socket's own: OpenSSL sees the whole handshake although
/// the server read its start itself, and every connection is read once, not peeked and read.
class prefixed_socket {
 public:
  using executor_type = asio::ip::tcp::socket::executor_type;
  using lowest_layer_type = asio::ip::tcp::socket::lowest_layer_type;

  prefixed_socket(asio::ip::tcp::socket& socket, std::string prefix) : socket_(socket), prefix_(std::move(prefix)) {}

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  lowest_layer_type& lowest_layer() noexcept { return socket_.lowest_layer(); }
  const lowest_layer_type& lowest_layer() const noexcept { return socket_.lowest_layer(); }

  template <typename Buffers, typename Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
        [this](auto handler, const Buffers& into) {
          if (taken_ == prefix_.size()) {
            socket_.async_read_some(into, std::move(handler));
            return;
          }
          const std::size_t n = asio::buffer_copy(into, asio::buffer(prefix_) + taken_);
          taken_ += n;
          // Completed through the event loop, never inside the call, as Asio's own operations.
          asio::post(socket_.get_executor(), [h = std::move(handler), n]() mutable { h(std::error_code(), n); });
        },
        token, buffers);
  }

  template <typename Buffers, typename Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return socket_.async_write_some(buffers, std::forward<Token>(token));
  }

 private:
  asio::ip::tcp::socket& socket_;
  std::string prefix_;
  std::size_t taken_ = 0;
};

struct server_context;

/// Offers h2 and http/1.1 in ALPN on the server's TLS context (the client's first choice of
/// the two wins, as RFC 7301 leaves it to the server; browsers list h2 first).
void offer_alpn(asio::ssl::context& tls);

/// A TLS handshake began (its first bytes are in `c->extra`): a coroutine serves HTTPS on a
/// TLS port, and on a plain port a page inside TLS naming the http:// address to use.
void serve_tls(connection_ptr c, server_context& ctx);

}  // namespace portdemo::server
