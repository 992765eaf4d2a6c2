#include "board_hub.hpp"

#include <sys/socket.h>

#include "event_sink.hpp"
#include "portdemo/sse.hpp"

namespace portdemo::server {

board_hub::board_hub(const asio::any_io_executor& executor, event_sink& events, board_model model)
    : events_(events), model_(std::move(model)), timer_(executor) {}

bool board_hub::subscribe(board_subscriber& s) {
  if (stopped_) return false;
  if (count_ >= model_.max_subscribers()) {
    // Full: a subscriber whose client has gone (closed the tab) holds its place until the next
    // heartbeat would find out. Look now: a peek that reads 0 bytes is the client's FIN.
    for (board_subscriber* p = first_; p;) {
      board_subscriber* next = p->next;  // unsubscribe() unlinks p
      char byte = 0;
      if (!p->dropped && p->socket && ::recv(p->socket->native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
        p->dropped = true;
        p->wake.cancel();
        unsubscribe(*p);
      }
      p = next;
    }
    if (count_ >= model_.max_subscribers()) return false;
  }
  s.next = first_;
  if (first_) first_->prev = &s;
  first_ = &s;
  ++count_;
  model_.set_subscribers(count_);
  return true;
}

board_answer board_hub::answer(board_subscriber& s, const http_request& request) {
  board_answer a;
  a.admitted = subscribe(s);
  // A browser's EventSource cannot read a 503: it is told in the stream instead.
  const bool event_source = request.wants_event_stream();
  a.status = a.admitted || event_source ? 200 : 503;
  a.note = a.admitted ? "board subscriber" : "board full";
  a.event_stream = a.admitted || event_source;
  if (!a.event_stream) {
    a.response = board_full_response(model_.max_subscribers());
    return a;
  }
  a.response.content_type = "text/event-stream; charset=utf-8";
  if (a.admitted) {
    sse::retry(a.response.body, 2000);
    a.response.body += model_.snapshot();
  } else {
    a.response.body = board_full_events(model_.max_subscribers());
  }
  return a;
}

void board_hub::unsubscribe(board_subscriber& s) {
  const bool linked = s.prev || s.next || first_ == &s;
  if (!linked) return;
  if (s.prev) s.prev->next = s.next;
  else first_ = s.next;
  if (s.next) s.next->prev = s.prev;
  s.prev = s.next = nullptr;
  --count_;
  model_.set_subscribers(count_);
}

void board_hub::stop() {
  stopped_ = true;
  timer_.cancel();
  for (board_subscriber* p = first_; p; p = p->next) {
    p->ended = true;
    p->wake.cancel();
  }
}

void board_hub::schedule() {
  if (scheduled_ || stopped_) return;
  scheduled_ = true;
  // The first event of a quiet spell waits at most one interval; a burst waits for the same
  // timer and goes out as one batch.
  timer_.expires_after(batch_interval);
  timer_.async_wait([this](const std::error_code& ec) {
    scheduled_ = false;
    if (!ec) flush();
  });
}

void board_hub::drop(board_subscriber& s) {
  s.dropped = true;
  s.pending.clear();
  s.pending.shrink_to_fit();
  // Its write may be blocked on a full socket: cancelling ends it now.
  std::error_code ignored;
  if (s.socket) s.socket->cancel(ignored);
  s.wake.cancel();
  events_.emit(board_subscriber_dropped_event{s.id, s.tuple, true, pending_limit});
}

void board_hub::flush() {
  if (!model_.pending() || !first_) return;
  const std::string batch = model_.take_batch();
  for (board_subscriber* p = first_; p;) {
    board_subscriber* next = p->next;
    if (!p->dropped) {
      if (p->pending.size() + batch.size() > pending_limit) {
        drop(*p);
        unsubscribe(*p);
      } else {
        p->pending += batch;
        p->wake.cancel();
      }
    }
    p = next;
  }
}

}  // namespace portdemo::server
