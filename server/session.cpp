#include "session.hpp"

#include <openssl/ssl.h>

#include <array>

#include <asio/redirect_error.hpp>
#include <asio/ssl/error.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "portdemo/deadline.hpp"
#include "portdemo/http.hpp"
#include "portdemo/protocol.hpp"
#include "portdemo/web.hpp"

namespace portdemo::server {

namespace {

using asio::ip::tcp;
using namespace std::chrono_literals;

// How long a client may stay silent before it gets the text report: nc and telnet send nothing.
// Kept under the 300 ms the lecture promises, with room for the write.
constexpr auto first_bytes_wait = 200ms;
// After our answer, how long we wait for the client to close its end before closing ours.
constexpr auto drain_wait = 1s;
constexpr auto write_wait = 5s;
constexpr auto handshake_wait = 10s;
constexpr auto request_wait = 10s;     // a whole request head, from its first byte
constexpr auto keep_alive_wait = 15s;  // between requests on one connection
constexpr auto hold_limit = std::chrono::hours(1);  // demo-client --hold, at the longest

// What the first bytes say, read with MSG_PEEK so that they stay in the socket for whoever
// reads next (OpenSSL reads a TLS handshake itself).
asio::awaitable<first_bytes> peek_first_bytes(tcp::socket& socket, clock::time_point deadline) {
  std::array<char, 16> peeked{};
  std::size_t seen = 0;
  for (;;) {
    std::error_code ec;
    co_await wait_readable_until(socket, deadline, ec);
    if (ec) co_return first_bytes::nothing_yet;  // silence (or an error: the report path sees it)
    std::size_t n = socket.receive(asio::buffer(peeked), tcp::socket::message_peek, ec);
    if (ec || n == 0) co_return first_bytes::other;  // closed or reset before saying anything
    first_bytes kind = sniff(std::string_view(peeked.data(), n));
    if (kind != first_bytes::nothing_yet) co_return kind;
    if (n == peeked.size()) co_return first_bytes::other;
    if (n == seen) {
      // A prefix such as "GE" and then a pause: the socket stays readable, so wait a little
      // before peeking again instead of spinning.
      asio::steady_timer pause(socket.get_executor(), 10ms);
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (clock::now() >= deadline) co_return first_bytes::nothing_yet;
    }
    seen = n;
  }
}

// Half-closes our side (FIN) and waits briefly for the client's, so that unread bytes from the
// client never turn our close into a reset.
asio::awaitable<void> close_gracefully(tcp::socket& socket) {
  std::error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  std::array<char, 1024> sink{};
  const auto deadline = clock::now() + drain_wait;
  while (!ec) co_await read_some_until(socket, asio::buffer(sink), deadline, ec);
  socket.close(ec);
}

// demo-client's hello gets the JSON view; silence or anything else the text report.
// `deadline` is the one the first bytes had: silence is answered 200 ms after the accept, not
// 200 ms after the sniffing gave up.
asio::awaitable<void> report(tcp::socket& socket, const connection_facts& c, shared_state& shared,
                             clock::time_point deadline) {
  std::array<char, 512> buffer{};
  std::size_t received = 0;
  std::error_code ec;
  while (received < buffer.size()) {
    std::size_t n = co_await read_some_until(
        socket, asio::buffer(buffer.data() + received, buffer.size() - received), deadline, ec);
    received += n;
    if (ec) break;
    std::string_view got(buffer.data(), received);
    if (got.find('\n') != std::string_view::npos || !could_be_hello(got)) break;
  }
  std::string_view got(buffer.data(), received);
  server_view view{c.id, c.tuple};
  const bool hold = got == client_hello_hold;
  const bool hello = got == client_hello || hold;
  std::string answer = hello ? render_server_view(view) : render_raw_client_report(view, shared.out.facts());
  if (ec && ec != asio::error::timed_out && ec != asio::error::eof) co_return;  // reset: nothing to tell
  shared.out.emit(answered_event{c.id, hello, received, std::string(got)});
  co_await write_until(socket, asio::buffer(answer), clock::now() + write_wait, ec);
  if (ec) co_return;
  if (hold) {
    // demo-client --hold: the connection stays open until the client closes it, so that both
    // ends show it in `ss -tn`. Bounded all the same.
    std::array<char, 256> sink{};
    const auto hold_deadline = clock::now() + hold_limit;
    while (!ec) co_await read_some_until(socket, asio::buffer(sink), hold_deadline, ec);
  }
  co_await close_gracefully(socket);
}

// How a port and the client's choice of protocol fit together.
enum class mismatch { none, plain_on_tls_port, tls_on_plain_port };

// Serves HTTP requests on one connection (plain or TLS) until it closes.
template <typename Stream>
asio::awaitable<void> http(Stream& stream, const connection_facts& c, shared_state& shared,
                           std::optional<tls_details> tls, mismatch mode) {
  request_parser parser;
  std::array<char, 4096> buffer{};
  web_context context{c.id, 0, c.tuple, shared.out.facts(), tls, c.previous_port};
  request_parser::state state = request_parser::state::incomplete;
  for (;;) {
    // The first request must come within request_wait; later ones may idle keep_alive_wait
    // before they begin, and then have request_wait to complete.
    auto deadline = clock::now() + (context.request_number == 0 ? request_wait : keep_alive_wait);
    bool begun = false;
    while (state == request_parser::state::incomplete) {
      std::error_code ec;
      std::size_t n = co_await read_some_until(stream, asio::buffer(buffer), deadline, ec);
      if (ec) co_return;  // idle, closed or reset: nothing more to answer
      if (!begun) {
        begun = true;
        if (context.request_number > 0) deadline = clock::now() + request_wait;
      }
      state = parser.feed(std::string_view(buffer.data(), n));
    }
    ++context.request_number;
    http_response response;
    std::string method = "-";
    std::string target = "-";
    std::string note;
    bool head_only = false;
    if (state == request_parser::state::failed) {
      response = error_response(parser.error());
    } else {
      const http_request& request = parser.request();
      method = request.method;
      target = request.target;
      head_only = request.method == "HEAD";
      if (mode == mismatch::plain_on_tls_port) {
        response = plain_http_on_tls_port(request, context);
        note = "plain HTTP on a TLS port";
      } else if (mode == mismatch::tls_on_plain_port) {
        response = tls_on_plain_port(request, context);
        note = "TLS on a plain HTTP port";
      } else {
        response = respond(request, context);
      }
      // A request with a body: this server reads none, so it answers and closes rather than
      // take the body for the next request.
      const std::string* length = request.header("Content-Length");
      if ((length && *length != "0") || request.header("Transfer-Encoding")) response.close = true;
    }
    std::string bytes = serialize(response, head_only);
    std::error_code ec;
    co_await write_until(stream, asio::buffer(bytes), clock::now() + write_wait, ec);
    shared.out.emit(http_request_event{c.id, c.tuple, method, target, response.status, context.request_number,
                                       tls ? tls->version : "", note});
    if (ec || response.close || state == request_parser::state::failed) co_return;
    state = parser.next();
  }
}

std::string tls_failure_explanation(const std::string& reason) {
  if (reason.find("unknown ca") != std::string::npos || reason.find("certificate unknown") != std::string::npos ||
      reason.find("bad certificate") != std::string::npos)
    return "The client does not trust this server's self-signed certificate: accept it in the "
           "browser, or give curl -k or --cacert.";
  if (reason.find("wrong version number") != std::string::npos || reason.find("http request") != std::string::npos)
    return "The client did not speak TLS.";
  return "The client and this server could not agree on a secure connection.";
}

// A TLS handshake: HTTPS on a TLS port; on a plain port, a clear answer inside TLS.
asio::awaitable<void> tls_session(tcp::socket& socket, const connection_facts& c, shared_state& shared) {
  if (!shared.tls) {
    std::error_code ec;
    socket.close(ec);  // no certificate: the start-up report said why
    co_return;
  }
  tls_stream stream(socket, *shared.tls);
  std::error_code ec;
  co_await handshake_until(stream, clock::now() + handshake_wait, ec);
  if (ec) {
    std::string reason = ec == asio::error::timed_out ? "no handshake within 10 s" : ec.message();
    shared.out.emit(tls_failed_event{c.id, c.tuple, reason, tls_failure_explanation(reason)});
    socket.close(ec);
    co_return;
  }
  SSL* ssl = stream.native_handle();
  tls_details details{SSL_get_version(ssl), SSL_get_cipher_name(ssl)};
  co_await http(stream, c, shared, details, c.tls_port ? mismatch::none : mismatch::tls_on_plain_port);
  co_await tls_shutdown_until(stream, clock::now() + 1s, ec);
  co_await close_gracefully(socket);
}

}  // namespace

asio::awaitable<void> serve(tcp::socket socket, connection_facts c, shared_state& shared) {
  const auto first_deadline = clock::now() + first_bytes_wait;
  first_bytes kind = co_await peek_first_bytes(socket, first_deadline);
  if (kind == first_bytes::http) {
    co_await http(socket, c, shared, std::nullopt, c.tls_port ? mismatch::plain_on_tls_port : mismatch::none);
    co_await close_gracefully(socket);
  } else if (kind == first_bytes::tls) {
    co_await tls_session(socket, c, shared);
  } else {
    co_await report(socket, c, shared, first_deadline);
  }
}

}  // namespace portdemo::server
