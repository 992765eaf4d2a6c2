#include "http_session.hpp"

#include <string>

#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>

#include "board_stream.hpp"
#include "context.hpp"
#include "parking.hpp"
#include "socket_io.hpp"

namespace portdemo::server {

namespace {

// Between requests on a connection that does not park (TLS): idle until the next request
// begins, within --keep-alive-timeout. False when the connection is done.
asio::awaitable<bool> await_next_request(connection& c, server_context& ctx, http_io& io, request_parser& parser,
                                         std::size_t& received) {
  if (!go_idle(c, ctx)) co_return false;
  std::error_code ec;
  std::string_view got;
  {
    armed_scope armed(ctx.deadlines, c.deadline, wait_kind::keep_alive);
    got = co_await io.read(ec, true);
  }
  c.idle = false;
  if (ec == asio::error::timed_out)
    log_limit(c, ctx, limit_kind::keep_alive_timeout, ms(ctx.limits.keep_alive_timeout), 0, false);
  if (ec) co_return false;
  received = got.size();
  parser.feed(got);
  co_return true;
}

// Reads until the parser has a whole head (or has failed), within --request-timeout of the
// request's first byte; a request begun and not finished in time gets 408. False when the
// connection is done.
asio::awaitable<bool> read_request(connection& c, server_context& ctx, http_io& io, request_parser& parser,
                                   std::size_t& received) {
  armed_scope armed(ctx.deadlines, c.deadline, wait_kind::request);
  while (parser.current() == request_parser::state::incomplete) {
    std::error_code ec;
    std::string_view got = co_await io.read(ec, false);
    if (ec == asio::error::timed_out) {
      std::string bytes = serialize(request_timeout_response(ctx.limits.request_timeout), false);
      ctx.deadlines.disarm(c.deadline);
      std::error_code write_ec;
      co_await io.write(bytes, write_ec);
      log_limit(c, ctx, limit_kind::request_timeout, ms(ctx.limits.request_timeout), received, !write_ec);
      co_return false;
    }
    if (ec) co_return false;  // closed or reset: nothing more to answer
    received += got.size();
    parser.feed(got);
  }
  co_return true;
}

asio::awaitable<void> plain_http(connection_ptr c, server_context& ctx, request_parser parser) {
  plain_io io(*c, ctx);
  const mismatch mode = c->facts.tls_port ? mismatch::plain_on_tls_port : mismatch::none;
  const http_end end = co_await http(*c, ctx, io, std::move(parser), mode);
  if (end == http_end::idle && go_idle(*c, ctx)) {
    park(std::move(c), ctx, phase::request);
    co_return;
  }
  if (c->socket.is_open()) co_await finish(*c, ctx, end == http_end::closed_all_read);
}

}  // namespace

asio::awaitable<std::string_view> plain_io::read(std::error_code& ec, bool wait_first) {
  std::size_t n = co_await receive(c_, ctx_, ec, wait_first);
  if (!ec && n == 0) ec = asio::error::eof;
  co_return std::string_view(ctx_.scratch.data(), n);
}

asio::awaitable<void> plain_io::write(std::string_view bytes, std::error_code& ec) {
  co_await send_all(c_, ctx_, bytes, ec);
}

http_response route(const http_request& request, const web_context& context, mismatch mode, std::string& note) {
  switch (mode) {
    case mismatch::plain_on_tls_port: note = "plain HTTP on a TLS port"; return plain_http_on_tls_port(request, context);
    case mismatch::tls_on_plain_port: note = "TLS on a plain HTTP port"; return tls_on_plain_port(request, context);
    case mismatch::none: break;
  }
  return respond(request, context);
}

asio::awaitable<http_end> http(connection& c, server_context& ctx, http_io& io, request_parser parser, mismatch mode) {
  // HTTP/3 offered on the same port number over UDP (--quic): said on TLS connections only,
  // where a browser believes it.
  const std::string alt_svc = io.tls() ? ctx.alt_svc_for(c.facts.tuple.local.port) : std::string();
  web_context context{c.facts.id, c.requests,          c.facts.tuple, ctx.host, io.tls(), c.facts.previous_port,
                      c.extra.claim(), http_version::http1, 0,        nullptr,  alt_svc};
  const std::string tls_version = io.tls() ? io.tls()->version : std::string();
  std::size_t received = parser.buffered();
  bool answered_here = false;
  for (;;) {
    if (parser.current() == request_parser::state::incomplete) {
      // Only with nothing buffered: a part of the next request would go with this frame.
      if (io.parks_when_idle() && answered_here && parser.buffered() == 0) co_return http_end::idle;
      if (!io.parks_when_idle() && context.request_number > 0) {
        // Named, not `co_await` inside a condition: GCC 12 has miscompiled co_await in compound
        // expressions.
        const bool next = co_await await_next_request(c, ctx, io, parser, received);
        if (!next) co_return http_end::closed;
      }
    }
    if (parser.current() == request_parser::state::incomplete) {
      const bool whole = co_await read_request(c, ctx, io, parser, received);
      if (!whole) co_return http_end::closed;
    }
    c.requests = ++context.request_number;
    answered_here = true;
    ctx.http_seen.remember(c.facts.tuple.remote.address, clock::now());
    const bool failed = parser.current() == request_parser::state::failed;
    http_response response;
    std::string method = "-";
    std::string target = "-";
    std::string note;
    if (failed) {
      response = error_response(parser.error());
    } else {
      const http_request& request = parser.request();
      method = request.method;
      target = request.target;
      if (mode == mismatch::none && ctx.board && is_event_stream(request)) {
        co_await stream_board(c, ctx, io, request, context.request_number);
        co_return http_end::closed;
      }
      response = route(request, context, mode, note);
      // A body: this server reads none, so it answers and closes rather than take the body for
      // the next request.
      if (request.has_body()) response.close = true;
      if (ctx.stopping) response.close = true;  // the last answer on this connection
    }
    std::string bytes = serialize(response, !failed && parser.request().method == "HEAD");
    std::error_code ec;
    co_await io.write(bytes, ec);
    ctx.events.emit(http_request_event{c.facts.id, c.facts.tuple, std::move(method), std::move(target),
                                       response.status, context.request_number, tls_version, std::move(note),
                                       http_version::http1, 0});
    if (ec == asio::error::timed_out)
      log_limit(c, ctx, limit_kind::write_timeout, ms(ctx.limits.write_timeout), 0, false);
    if (ec || failed) co_return http_end::closed;
    if (response.close)
      co_return parser.after_head() == 0 && !parser.request().has_body() ? http_end::closed_all_read : http_end::closed;
    parser.next();
    received = 0;
  }
}

void serve_http(connection_ptr c, server_context& ctx, request_parser parser) {
  if (!start_serving(*c)) return;
  asio::co_spawn(ctx.executor, plain_http(std::move(c), ctx, std::move(parser)), report_coroutine_exception);
}

}  // namespace portdemo::server
