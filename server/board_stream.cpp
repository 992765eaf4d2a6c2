#include "board_stream.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <string>

#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include "board_hub.hpp"
#include "context.hpp"
#include "http_session.hpp"
#include "portdemo/sse.hpp"
#include "portdemo/web.hpp"

namespace portdemo::server {

asio::awaitable<void> stream_board(connection& c, server_context& ctx, http_io& io, const http_request& request,
                                   std::uint64_t number) {
  board_hub& hub = *ctx.board;
  const std::string tls_version = io.tls() ? io.tls()->version : std::string();
  // Shared with the handler below, which may run after this coroutine has ended.
  auto owned = std::make_shared<board_subscriber>(c.socket.get_executor(), c.socket, c.facts.id, c.facts.tuple);
  board_subscriber& sub = *owned;
  board_answer answer = hub.answer(sub, request);
  ctx.events.emit(http_request_event{c.facts.id, c.facts.tuple, request.method, request.target, answer.status, number,
                                     tls_version, answer.note, http_version::http1, 0});
  std::error_code ec;
  if (!answer.admitted) {
    std::string bytes = answer.event_stream ? std::string(event_stream_head()) + answer.response.body
                                            : serialize(answer.response, false);
    co_await io.write(bytes, ec);
    co_return;
  }
  // A fixed send buffer: the kernel would otherwise let a subscriber that reads nothing take
  // megabytes of its memory (autotuning) before the write deadline or the pending limit notices.
  std::error_code ignored;
  c.socket.set_option(asio::socket_base::send_buffer_size(64 * 1024), ignored);
  // A closed tab: the client's FIN makes the socket readable (a subscriber sends nothing
  // else). Noticed at once, rather than at the next heartbeat, so that its place on the board
  // and its count in the open connections are given up when the page goes.
  c.socket.async_wait(asio::ip::tcp::socket::wait_read, [owned](const std::error_code& error) {
    if (error || owned->finished) return;  // cancelled: the socket is closing, or the stream ended
    char byte = 0;
    const ssize_t n = ::recv(owned->socket->native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      owned->dropped = true;
      owned->wake.cancel();
    }
  });
  std::string out(event_stream_head());
  out += answer.response.body;  // the retry delay and the snapshot
  for (;;) {
    co_await io.write(out, ec);
    if (ec) break;
    out.clear();
    if (sub.pending.empty() && !sub.dropped && !sub.ended) {
      sub.wake.expires_after(board_hub::heartbeat);
      std::error_code woken;
      co_await sub.wake.async_wait(asio::redirect_error(asio::use_awaitable, woken));
    }
    if (sub.dropped) break;
    if (sub.ended) {
      out = board_stopping_events();
      co_await io.write(out, ec);
      break;
    }
    if (sub.pending.empty()) sse::comment(out, "heartbeat");
    else out.swap(sub.pending);
  }
  hub.unsubscribe(sub);
  sub.finished = true;
  if (ec == asio::error::timed_out && !sub.dropped)
    ctx.events.emit(board_subscriber_dropped_event{c.facts.id, c.facts.tuple, false, static_cast<std::uint64_t>(ctx.limits.write_timeout.count())});
}

}  // namespace portdemo::server
