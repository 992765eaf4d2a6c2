#include "first_bytes.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <algorithm>
#include <cerrno>
#include <string>

#include "context.hpp"
#include "portdemo/protocol.hpp"

#include <fmt/format.h>
#include "http2_session.hpp"
#include "http_session.hpp"
#include "parking.hpp"
#include "quick_answer.hpp"
#include "raw_report.hpp"
#include "tls.hpp"

namespace portdemo::server {

namespace {

// A --proxy-protocol port: the header first, before anything else is looked at.
first_bytes_decision decide_proxy_header(const first_bytes_input& in) {
  proxy_parse parsed = parse_proxy_header(in.bytes);
  if (auto* header = std::get_if<proxy_header>(&parsed)) return decision::proxy_header{std::move(*header)};
  if (auto* bad = std::get_if<proxy_malformed>(&parsed)) return decision::refuse_proxy{bad->code, bad->reason};
  if (in.what == arrival::bytes) return decision::wait_more{};
  if (in.bytes.empty())
    return decision::refuse_proxy{"missing", in.what == arrival::end
                                                 ? "the client closed the connection without sending a PROXY header"
                                                 : "nothing came within the first-bytes wait (a proxy sends its "
                                                   "header at once)"};
  return decision::refuse_proxy{
      "incomplete", fmt::format("the PROXY header stopped after {} byte{}, {}", in.bytes.size(),
                                in.bytes.size() == 1 ? "" : "s",
                                in.what == arrival::end ? "and the client closed" : "and nothing more came in time")};
}

}  // namespace

first_bytes_decision decide_first_bytes(const first_bytes_input& in) {
  if (in.proxy_header_due) return decide_proxy_header(in);
  if (in.what == arrival::silence) {
    // Silent until the deadline: the report at once, unless a browser may pick this connection
    // for its next request (it would read the report as that request's answer).
    if (in.bytes.empty() && in.spare) return decision::wait_as_spare{};
    return decision::report{true};
  }
  if (in.what == arrival::end) return decision::report{false};  // closed after saying this much
  switch (sniff(in.bytes)) {
    case first_bytes::nothing_yet: return decision::wait_more{};
    case first_bytes::tls: return decision::serve_tls{};
    case first_bytes::h2: return decision::serve_h2{};
    case first_bytes::http: {
      request_parser parser(in.http);
      parser.feed(in.bytes);
      if (may_answer_at_once(parser, in.tls_port, in.stopping)) return decision::answer_http{std::move(parser)};
      return decision::serve_http{std::move(parser)};
    }
    case first_bytes::hello:
    case first_bytes::other: {
      // One whole line and nothing after it (or, after demo-client's hello, its whole view line):
      // the answer is one short line.
      const auto newline = in.bytes.find('\n');
      if (newline == std::string_view::npos || newline >= in.max_line) return decision::report{false};
      const std::string_view line = in.bytes.substr(0, newline + 1);
      const std::string_view after = in.bytes.substr(newline + 1);
      if (after.empty()) return decision::answer_line{};
      if (!is_hello_line(line)) return decision::report{false};
      if (parse_client_view(after)) return decision::answer_line{};
      if (could_be_client_view(after)) return decision::wait_more{};
      return decision::report{false};
    }
  }
  return decision::report{false};
}

bool looks_like_spare(clock::time_point accepted_at, const clock::time_point* last_http) noexcept {
  return last_http && *last_http >= accepted_at - spare_window;
}

namespace {

// Does what a decision says. `bytes`: everything received so far (in c->extra when a prefix
// was kept before).
struct carry_out {
  connection_ptr& c;
  server_context& ctx;
  std::string_view bytes;

  // The bytes go on with the connection (a prefix to wait on, a handshake's start, a line begun).
  void keep() {
    if (!c->extra.has_bytes()) c->extra.keep(bytes);
  }
  void operator()(decision::wait_more) {
    // A prefix such as "GE" and then a pause: kept, and the wait goes on within the same deadline.
    keep();
    wait_for_first_bytes(std::move(c), ctx);
  }
  void operator()(decision::answer_http& d) {
    quick_outcome outcome = answer_http_at_once(*c, ctx, d.parser);
    carry_on(std::move(c), ctx, std::move(outcome));
  }
  void operator()(decision::answer_line) {
    quick_outcome outcome = answer_line_at_once(*c, ctx, bytes);
    carry_on(std::move(c), ctx, std::move(outcome));
  }
  void operator()(decision::serve_http& d) {
    ctx.deadlines.disarm(c->deadline);
    c->extra.drop_bytes();  // the parser has them
    serve_http(std::move(c), ctx, std::move(d.parser));
  }
  void operator()(decision::serve_tls) {
    ctx.deadlines.disarm(c->deadline);
    keep();
    serve_tls(std::move(c), ctx);
  }
  void operator()(decision::serve_h2) {
    ctx.deadlines.disarm(c->deadline);
    keep();
    serve_h2c(std::move(c), ctx);
  }
  void operator()(decision::report d) {
    ctx.deadlines.disarm(c->deadline);
    keep();
    serve_report(std::move(c), ctx, d.silent);
  }
  void operator()(decision::wait_as_spare) { park(std::move(c), ctx, phase::spare); }
  void operator()(decision::proxy_header& d) {
    // Believed as a claim (the port was named), logged, and skipped: what follows it is the
    // client's own first bytes, decided like any connection's.
    c->extra.set_claim(proxy_claim{d.header.version, d.header.local, d.header.source, d.header.destination});
    ctx.events.emit(proxied_event{c->facts.id, c->facts.tuple, *c->extra.claim(), d.header.family});
    std::string rest(bytes.substr(std::min(d.header.length, bytes.size())));
    c->extra.drop_bytes();
    if (rest.empty()) {
      wait_for_first_bytes(std::move(c), ctx);
    } else {
      first_bytes_arrived(std::move(c), ctx, arrival::bytes, rest);
    }
  }
  void operator()(decision::refuse_proxy& d) {
    ctx.deadlines.disarm(c->deadline);
    ctx.events.emit(proxy_refused_event{c->facts.id, c->facts.tuple, d.code, d.reason, bytes.size()});
    c.reset();  // closed: nothing from this connection is believed
  }
};

}  // namespace

void first_bytes_arrived(connection_ptr c, server_context& ctx, arrival what, std::string_view fresh) {
  std::string_view bytes = fresh;
  if (c->extra.has_bytes()) {
    c->extra.append(fresh);
    bytes = c->extra.bytes();
  }
  first_bytes_input in{bytes,
                       what,
                       c->facts.tls_port,
                       ctx.stopping,
                       false,
                       false,
                       ctx.limits.max_line,
                       ctx.limits.http};
  in.proxy_header_due = c->facts.proxy_port && !c->extra.claim();
  if (what == arrival::silence && bytes.empty())
    in.spare = looks_like_spare(c->facts.accepted_at, ctx.http_seen.find(c->facts.tuple.remote.address));
  first_bytes_decision d = decide_first_bytes(in);
  std::visit(carry_out{c, ctx, bytes}, d);
}

void wait_for_first_bytes(connection_ptr c, server_context& ctx) {
  ctx.deadlines.arm_if_unarmed(c->deadline, wait_kind::first_bytes);
  if (!c->adopted() && ctx.room) {
    c = ctx.room->enter(std::move(c));
    if (!c) return;
  }
  park(std::move(c), ctx, phase::first_bytes);  // the room is full (or there is none)
}

waiting_room::waiting_room(server_context& ctx) : ctx_(ctx), watch_(ctx.executor) {
  const int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return;  // enter() then says no, and every newcomer waits through Asio
  std::error_code ec;
  watch_.assign(fd, ec);
  if (ec) ::close(fd);
}

waiting_room::~waiting_room() = default;  // the table deletes connections still in the room

connection_ptr waiting_room::enter(connection_ptr c) {
  if (!watch_.is_open()) return c;
  epoll_event ev{};
  // One-shot: after its event the descriptor stays in the set, silent, until it is closed (which
  // removes it) or re-armed; a descriptor handed on to Asio needs no EPOLL_CTL_DEL.
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  ev.data.ptr = c.get();
  // A connection that waits on after a prefix ("GE") is still in the set, disarmed.
  if (::epoll_ctl(watch_.native_handle(), EPOLL_CTL_ADD, c->native(), &ev) != 0 &&
      (errno != EEXIST || ::epoll_ctl(watch_.native_handle(), EPOLL_CTL_MOD, c->native(), &ev) != 0))
    return c;
  c->deadline.hook = this;
  ++members_;
  c->in_room = true;
  c->state = phase::first_bytes;
  c.release();  // the table owns it while it is here
  if (!watching_) watch();
  return nullptr;
}

connection_ptr waiting_room::leave(connection* c, bool armed) {
  // Still armed in the set (its deadline passed): out of it before Asio takes the descriptor.
  if (armed) ::epoll_ctl(watch_.native_handle(), EPOLL_CTL_DEL, c->native(), nullptr);
  c->deadline.hook = nullptr;
  c->in_room = false;
  --members_;
  return connection_ptr(c);
}

void waiting_room::watch() {
  watching_ = true;
  watch_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const std::error_code& ec) {
    watching_ = false;
    if (ec) return;
    ready();
    if (members_) watch();
  });
}

void waiting_room::ready() {
  std::array<epoll_event, 64> events{};
  const int count = ::epoll_wait(watch_.native_handle(), events.data(), static_cast<int>(events.size()), 0);
  for (int i = 0; i < count; ++i) came(static_cast<connection*>(events[static_cast<std::size_t>(i)].data.ptr));
}

void waiting_room::came(connection* c) {
  const ssize_t got = ::recv(c->native(), ctx_.scratch.data(), ctx_.scratch.size(), 0);
  connection_ptr owned = leave(c, false);
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    wait_for_first_bytes(std::move(owned), ctx_);  // woken for nothing: back in (armed again)
    return;
  }
  if (got < 0) return;  // reset before saying anything: nothing to tell; closed
  first_bytes_arrived(std::move(owned), ctx_, got == 0 ? arrival::end : arrival::bytes,
                      std::string_view(ctx_.scratch.data(), static_cast<std::size_t>(got)));
}

void waiting_room::expired(watched& w) {
  auto* c = static_cast<connection*>(w.owner);
  first_bytes_arrived(leave(c, true), ctx_, arrival::silence, {});
}

}  // namespace portdemo::server
