#include "http2_session.hpp"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <asio/co_spawn.hpp>

#include "board_hub.hpp"
#include "context.hpp"
#include "portdemo/h2.hpp"
#include "portdemo/sse.hpp"
#include "portdemo/web.hpp"
#include "socket_io.hpp"

namespace portdemo::server {

namespace {

// What a wake-up from outside the coroutine (the board has news) needs, shared with the
// handlers that may run after the coroutine has ended.
struct wake_state {
  explicit wake_state(asio::ip::tcp::socket& s) : socket(s) {}
  asio::ip::tcp::socket& socket;
  bool reading = false;  // the coroutine waits on the socket: a cancel wakes it
  bool news = false;     // something for a board stream came (or a heartbeat is due)
  bool done = false;     // the session has ended
  void poke() {
    if (done) return;
    news = true;
    std::error_code ignored;
    if (reading) socket.cancel(ignored);  // the read ends with operation_aborted, and the loop looks
  }
};

// A stream of GET /events on this connection: the board's subscriber, fed into the stream.
struct board_feed {
  struct timer_state {
    bool waiting = false;   // a wait on the subscriber's timer is pending
    bool beat_due = false;  // it expired: a heartbeat is due
  };
  std::int32_t stream = 0;
  std::shared_ptr<board_subscriber> sub;
  std::shared_ptr<timer_state> timer = std::make_shared<timer_state>();
};

class h2_session {
 public:
  h2_session(connection& c, server_context& ctx, http_io& io, mismatch mode)
      : c_(c),
        ctx_(ctx),
        io_(io),
        mode_(mode),
        h2_(h2_limits{ctx.limits.http, max_streams}),
        wake_(std::make_shared<wake_state>(c.socket)),
        alt_svc_(io.tls() ? ctx.alt_svc_for(c.facts.tuple.local.port) : std::string()) {}

  static constexpr std::uint32_t max_streams = 100;

  asio::awaitable<void> run(std::string_view first) {
    bool ok = h2_.receive(first);
    std::string reason = "client closed";
    for (;;) {
      answer_requests();
      if (ctx_.stopping && !goaway_) say_goaway();
      feed_board();
      const bool written = co_await flush();
      if (!written) {
        reason = write_failed_;
        break;
      }
      if (!ok) {
        reason = "protocol error: " + h2_.error();
        break;
      }
      if (!h2_.wants_read() && !h2_.wants_write()) {
        reason = !h2_.error().empty()   ? "protocol error: " + h2_.error()
                 : h2_.peer_went_away() ? "GOAWAY from the client"
                 : goaway_              ? goaway_reason_
                                        : "done";
        break;
      }
      if (wake_->news) {  // news came while writing: look again before waiting
        wake_->news = false;
        continue;
      }
      const std::optional<wait_kind> kind = next_wait();
      if (kind == wait_kind::keep_alive && !go_idle(c_, ctx_)) {
        say_goaway();  // stopping: nothing in flight, so say so and go
        continue;
      }
      std::error_code ec;
      std::string_view got;
      {
        std::optional<armed_scope> armed;
        if (kind) armed.emplace(ctx_.deadlines, c_.deadline, *kind);
        wake_->reading = true;
        got = co_await io_.read(ec, true);
        wake_->reading = false;
        c_.idle = false;
      }
      if (ec == asio::error::timed_out && kind) {
        // Told by GOAWAY, then closed.
        const limit_kind limit = *kind == wait_kind::request ? limit_kind::request_timeout
                                 : *kind == wait_kind::write ? limit_kind::write_timeout
                                                             : limit_kind::keep_alive_timeout;
        log_limit(c_, ctx_, limit, ms(ctx_.deadlines.duration(*kind)), 0, *kind != wait_kind::write);
        say_goaway();
        co_await flush();
        reason = *kind == wait_kind::keep_alive ? "idle" : "timed out";
        break;
      }
      if (ec == asio::error::operation_aborted) {
        if (wake_->news) {
          wake_->news = false;
          continue;
        }
        if (ctx_.stopping) continue;  // the loop says GOAWAY
        reason = "cancelled";
        break;
      }
      if (ec) {
        reason = ec == asio::error::eof ? "client closed" : ec.message();
        break;
      }
      ok = h2_.receive(got);
    }
    end_board();
    ctx_.events.emit(http2_closed_event{c_.facts.id, c_.facts.tuple, h2_.answered(), h2_.most_at_once(),
                                        std::move(reason), io_.tls().has_value()});
  }

  ~h2_session() {
    wake_->done = true;
    end_board();
  }
  h2_session(const h2_session&) = delete;
  h2_session& operator=(const h2_session&) = delete;

 private:
  void say_goaway() {
    if (goaway_) return;
    goaway_ = true;
    goaway_reason_ = ctx_.stopping ? "server stopping" : "GOAWAY sent";
    h2_.goaway();
  }

  // The deadline of the next wait for the client: a request begun and not finished; an answer
  // the client's flow control holds back (a client that never reads); idle between requests.
  // None while only board streams are open (they write heartbeats).
  std::optional<wait_kind> next_wait() const {
    if (h2_.incomplete_streams() > 0) return wait_kind::request;
    if (h2_.held_back()) return wait_kind::write;
    if (h2_.open_streams() == 0) return wait_kind::keep_alive;
    return std::nullopt;
  }

  void answer_requests() {
    for (h2_request& r : h2_.take_requests()) answer(r);
  }

  void answer(h2_request& r) {
    c_.requests = ++number_;
    ctx_.http_seen.remember(c_.facts.tuple.remote.address, clock::now());
    web_context context{c_.facts.id, number_,         c_.facts.tuple, ctx_.host, io_.tls(), c_.facts.previous_port,
                        c_.extra.claim(), http_version::h2, r.stream,   nullptr,   alt_svc_};
    const std::string tls_version = io_.tls() ? io_.tls()->version : std::string();
    std::string note;
    http_response response;
    if (r.error) {
      response = error_response(*r.error);
      r.head.method = r.head.method.empty() ? "-" : r.head.method;
      r.head.target = r.head.target.empty() ? "-" : r.head.target;
    } else if (mode_ == mismatch::none && ctx_.board && is_event_stream(r.head)) {
      follow_board(r, tls_version);
      return;
    } else {
      response = route(r.head, context, mode_, note);
    }
    h2_.respond(r.stream, response, r.head.method == "HEAD");
    ctx_.events.emit(http_request_event{c_.facts.id, c_.facts.tuple, std::move(r.head.method),
                                        std::move(r.head.target), response.status, number_, tls_version,
                                        std::move(note), http_version::h2, r.stream});
  }

  // GET /events on a stream: the board's snapshot, then its batches, until the stream or the
  // connection ends.
  void follow_board(h2_request& r, const std::string& tls_version) {
    board_hub& hub = *ctx_.board;
    auto sub = std::make_shared<board_subscriber>(c_.socket.get_executor(), c_.socket, c_.facts.id, c_.facts.tuple);
    const board_answer answer = hub.answer(*sub, r.head);
    ctx_.events.emit(http_request_event{c_.facts.id, c_.facts.tuple, r.head.method, r.head.target, answer.status,
                                        number_, tls_version, answer.note, http_version::h2, r.stream});
    if (!answer.admitted) {
      h2_.respond(r.stream, answer.response, false);
      return;
    }
    h2_.open(r.stream, answer.response);
    feeds_.push_back({r.stream, sub, std::make_shared<board_feed::timer_state>()});
    arm_wake(feeds_.back());
  }

  // The subscriber's timer wakes the session: news (the hub cancels it) or a heartbeat due.
  void arm_wake(board_feed& f) {
    if (f.timer->waiting) return;
    f.timer->waiting = true;
    f.sub->wake.expires_after(board_hub::heartbeat);
    f.sub->wake.async_wait([w = wake_, t = f.timer](const std::error_code& ec) {
      t->waiting = false;
      if (!ec) t->beat_due = true;
      w->poke();
    });
  }

  void feed_board() {
    for (auto it = feeds_.begin(); it != feeds_.end();) {
      board_subscriber& sub = *it->sub;
      const bool gone = h2_.closed(it->stream);
      if (gone || sub.dropped || sub.ended) {
        if (!gone) {
          if (sub.ended) h2_.send(it->stream, board_stopping_events());
          h2_.end(it->stream);
        }
        ctx_.board->unsubscribe(sub);
        sub.finished = true;
        sub.wake.cancel();
        it = feeds_.erase(it);
        continue;
      }
      // Handed to the stream only when it has taken the last: the hub's limit on a subscriber's
      // pending bytes then holds for one that does not read.
      if (h2_.unsent(it->stream) == 0) {
        if (!sub.pending.empty()) {
          h2_.send(it->stream, sub.pending);
          sub.pending.clear();
        } else if (it->timer->beat_due) {
          std::string beat;
          sse::comment(beat, "heartbeat");
          h2_.send(it->stream, beat);
        }
        it->timer->beat_due = false;
      }
      arm_wake(*it);
      ++it;
    }
  }

  void end_board() {
    for (board_feed& f : feeds_) {
      if (ctx_.board) ctx_.board->unsubscribe(*f.sub);
      f.sub->finished = true;
      f.sub->wake.cancel();
    }
    feeds_.clear();
  }

  // Writes what the library has to send. False when the connection failed (write_failed_ says how).
  asio::awaitable<bool> flush() {
    for (;;) {
      const std::string_view bytes = h2_.output();
      if (bytes.empty()) co_return true;
      std::error_code ec;
      co_await io_.write(bytes, ec);
      if (ec == asio::error::timed_out) {
        log_limit(c_, ctx_, limit_kind::write_timeout, ms(ctx_.limits.write_timeout), 0, false);
        write_failed_ = "write timed out";
        co_return false;
      }
      if (ec) {
        write_failed_ = ec == asio::error::operation_aborted ? "cancelled" : ec.message();
        co_return false;
      }
    }
  }

  connection& c_;
  server_context& ctx_;
  http_io& io_;
  mismatch mode_;
  h2_connection h2_;
  std::shared_ptr<wake_state> wake_;
  std::string alt_svc_;
  std::vector<board_feed> feeds_;
  std::uint64_t number_ = 0;
  bool goaway_ = false;
  std::string goaway_reason_;
  std::string write_failed_;
};

asio::awaitable<void> h2c_connection(connection_ptr c, server_context& ctx) {
  const std::string first = c->extra.take_bytes();
  plain_io io(*c, ctx);
  const mismatch mode = c->facts.tls_port ? mismatch::plain_on_tls_port : mismatch::none;
  co_await http2(*c, ctx, io, first, mode);
  if (c->socket.is_open()) co_await finish(*c, ctx);
}

}  // namespace

asio::awaitable<void> http2(connection& c, server_context& ctx, http_io& io, std::string_view first, mismatch mode) {
  // The session's state is larger than a coroutine frame should carry on the stack of every
  // HTTP/1.1 connection; HTTP/2 connections are few and long.
  auto session = std::make_unique<h2_session>(c, ctx, io, mode);
  co_await session->run(first);
}

void serve_h2c(connection_ptr c, server_context& ctx) {
  if (!start_serving(*c)) return;
  ctx.http_seen.remember(c->facts.tuple.remote.address, clock::now());
  asio::co_spawn(ctx.executor, h2c_connection(std::move(c), ctx), report_coroutine_exception);
}

}  // namespace portdemo::server
