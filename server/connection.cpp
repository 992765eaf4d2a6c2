#include "connection.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <system_error>

namespace portdemo::server {

open_slot::open_slot(connection_table& table) noexcept : table_(table) {
  table_.peak_ = std::max(table_.peak_, ++table_.open_ + table_.others_);
}

open_slot::~open_slot() {
  --table_.open_;  // the one place the count of open connections goes down
  if (table_.closed_) table_.closed_();
}

connection::connection(connection_table& table, int fd, const asio::ip::tcp& protocol, connection_facts f,
                       const asio::any_io_executor& executor)
    : slot_(table), facts(std::move(f)), socket(executor), fd_(fd), v6_(protocol.family() == AF_INET6) {
  deadline.owner = this;
  table.link(*this);
}

connection::~connection() {
  connection_table& table = slot_.table();
  table.unlink(*this);
  table.deadlines_.disarm(deadline);  // the server's deadline lists must not point here any more
  close();
}

bool connection::adopt() {
  if (socket.is_open()) return true;
  std::error_code ec;
  socket.assign(v6_ ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), fd_, ec);
  return !ec;
}

void connection::non_blocking() {
  std::error_code ec;
  if (!socket.non_blocking()) socket.non_blocking(true, ec);
}

void connection::close() noexcept {
  std::error_code ignored;
  if (socket.is_open()) socket.close(ignored);
  else if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

connection_table::~connection_table() {
  // Connections still in the waiting room when the server goes: the table owns them.
  for (connection* c = first_; c;) {
    connection* next = c->next_;
    if (c->in_room) delete c;
    c = next;
  }
}

void connection_table::link(connection& c) noexcept {
  c.next_ = first_;
  if (first_) first_->prev_ = &c;
  first_ = &c;
}

void connection_table::unlink(connection& c) noexcept {
  if (c.prev_) c.prev_->next_ = c.next_;
  else first_ = c.next_;
  if (c.next_) c.next_->prev_ = c.prev_;
  c.prev_ = c.next_ = nullptr;
}

void connection_table::close_idle() {
  for (connection* c = first_; c; c = c->next_) {
    if (!c->idle || !c->adopted()) continue;
    std::error_code ignored;
    c->socket.cancel(ignored);  // its wait ends with operation_aborted, and it closes
  }
}

std::uint64_t connection_table::cut(const std::function<void(const connection&)>& each) {
  std::uint64_t n = 0;
  for (connection* c = first_; c;) {
    connection* next = c->next_;
    ++n;
    each(*c);
    if (c->in_room) {
      delete c;  // nobody else holds it: closing the descriptor takes it out of the epoll set
    } else {
      c->close();  // its pending wait ends with operation_aborted; its owner lets it go
    }
    c = next;
  }
  return n;
}

}  // namespace portdemo::server
