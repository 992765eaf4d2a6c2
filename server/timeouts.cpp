#include "timeouts.hpp"

#include <system_error>

namespace portdemo::server {

timeouts::timeouts(const asio::any_io_executor& executor, const std::array<clock::duration, wait_kinds>& durations)
    : timer_(executor), durations_(durations) {}

void timeouts::arm(watched& w, wait_kind kind) {
  disarm(w);
  w.expired = false;
  w.kind = kind;
  w.at = clock::now() + duration(kind);
  w.armed = true;
  // Every entry of a list lasts the same time, so the newest goes last and the list stays in
  // deadline order.
  list& l = lists_[static_cast<std::size_t>(kind)];
  w.prev = l.tail;
  w.next = nullptr;
  if (l.tail) l.tail->next = &w;
  else l.head = &w;
  l.tail = &w;
  schedule(w.at);
}

void timeouts::disarm(watched& w) noexcept {
  if (!w.armed) return;
  list& l = lists_[static_cast<std::size_t>(w.kind)];
  if (w.prev) w.prev->next = w.next;
  else l.head = w.next;
  if (w.next) w.next->prev = w.prev;
  else l.tail = w.prev;
  w.prev = w.next = nullptr;
  w.armed = false;
  // The timer may now fire with nothing due; it then re-arms for the earliest left.
}

void timeouts::schedule(clock::time_point at) {
  if (at >= scheduled_) return;  // the timer fires no later than this already
  scheduled_ = at;
  timer_.expires_at(at);
  timer_.async_wait([this](const std::error_code& ec) {
    if (!ec) fire();  // operation_aborted: replaced by an earlier deadline, or shutting down
  });
}

void timeouts::fire() {
  scheduled_ = clock::time_point::max();
  const auto now = clock::now();
  clock::time_point next = clock::time_point::max();
  for (list& l : lists_) {
    while (l.head && l.head->at <= now) {
      watched& w = *l.head;
      disarm(w);
      w.expired = true;
      if (w.hook) {
        w.hook->expired(w);  // may arm, disarm or destroy entries: the loop reads the head again
      } else {
        std::error_code ignored;
        w.socket->cancel(ignored);  // the connection's pending wait ends with operation_aborted
      }
    }
    if (l.head && l.head->at < next) next = l.head->at;
  }
  if (next != clock::time_point::max()) schedule(next);
}

}  // namespace portdemo::server
