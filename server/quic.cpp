#include "quic.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>
#include <variant>

#include "board_hub.hpp"
#include "context.hpp"
#include "portdemo/asio_adapter.hpp"
#include "portdemo/services.hpp"
#include "portdemo/sse.hpp"

namespace portdemo::server {

namespace {

// The largest UDP payload (IPv4 and IPv6 alike); QUIC's datagrams are far smaller, but a
// truncated one would be misread.
constexpr std::size_t max_datagram = 65527;
// Datagrams read in one wake-up before others (the timers, the TCP side) get their turn.
constexpr int reads_per_wake = 64;

// Asks the kernel to say, with each datagram, which of this host's addresses it was sent to.
bool want_destination(int fd, bool v6) {
  const int on = 1;
  return v6 ? ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on) == 0
            : ::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) == 0;
}

std::vector<std::uint8_t>& datagram_buffer() {
  static std::vector<std::uint8_t> buffer(max_datagram);
  return buffer;
}

}  // namespace

quic_service::quic_service(asio::io_context& io, server_context& ctx) : io_(io), ctx_(ctx) {}

quic_service::~quic_service() = default;

quic_service::bound quic_service::open(const std::vector<const tcp_listener*>& tls,
                                       const std::function<std::uint16_t(std::uint16_t)>& requested) {
  bound out;
  for (const tcp_listener* l : tls) {
    // The TCP listener's own address and the number the kernel gave it: the same four facts'
    // local half, over UDP.
    std::error_code ec;
    const asio::ip::udp::endpoint where(l->acceptor.local_endpoint(ec).address(), l->local.port);
    auto result = open_datagram(io_, where);
    if (auto* socket = std::get_if<asio::ip::udp::socket>(&result)) {
      if (!want_destination(socket->native_handle(), where.address().is_v6())) {
        failure f = make_failure(step::set_option, std::error_code(errno, std::system_category()), to_endpoint(where));
        f.proto = "udp";
        result = f;
      }
    }
    if (auto* f = std::get_if<failure>(&result)) {
      ++out.failed;
      if (out.first_failure_code == 0) out.first_failure_code = exit_code_for(f->error);
      ctx_.events.emit(bind_failed_event{*f, explain(*f, ctx_.host)});
      continue;
    }
    auto state = std::make_unique<socket_state>(socket_state{std::move(std::get<asio::ip::udp::socket>(result)), {}});
    const asio::ip::udp::endpoint local = state->socket.local_endpoint(ec);
    state->bound = udp_address::from(local.data(), static_cast<socklen_t>(local.size()));
    const endpoint ep = to_endpoint(local);
    if (std::find(ports_.begin(), ports_.end(), ep.port) == ports_.end()) ports_.push_back(ep.port);
    std::string service = describe_port(ep.port);
    service += service.empty() ? "HTTP/3 over QUIC" : ", HTTP/3 over QUIC";
    // Tallied: the summary counts this port's QUIC connections (a UDP socket with TLS).
    ctx_.events.emit(listening_event{ep, requested(ep.port), std::move(service),
                                     bind_allowed_because(ctx_.host, ep.port), true, "udp", false});
    sockets_.push_back(std::move(state));
    ++out.listening;
  }
  return out;
}

// One GET /events stream over HTTP/3: the board's subscriber, fed into the stream by the core.
struct quic_service::board_feed {
  std::uint64_t id = 0;
  std::int64_t stream = 0;
  std::shared_ptr<board_subscriber> sub;
  bool waiting = false;   // a wait on the subscriber's timer is pending
  bool beat_due = false;  // the heartbeat interval passed with nothing sent
  bool gone = false;      // the stream or its connection ended (hooks.unfollowed)
};

std::string quic_service::use_certificate(const certificate_info& cert) {
  quic_limits limits;
  limits.head = ctx_.limits.http;
  limits.idle_timeout = ctx_.limits.keep_alive_timeout;
  limits.max_connections = ctx_.limits.max_connections;
  quic_hooks hooks{
      [this](const quic_path& path, std::span<const std::uint8_t> bytes) { send(path, bytes); },
      [this](const quic_request& request) { return respond(request); },
      [this](quic_event e) { report(std::move(e)); },
      [this](std::uint64_t id, std::optional<quic_time> at) { set_timer(id, at); },
      [this] { return ctx_.next_id++; },
      [this](const quic_request& request) { return follow(request); },
      [this](std::uint64_t id, std::int64_t stream) {
        // Inside the core: the feed only takes note, and ends on its next wake-up.
        if (auto it = feeds_.find({id, stream}); it != feeds_.end()) {
          it->second->gone = true;
          it->second->sub->wake.cancel();
        }
      },
  };
  core_ = std::make_unique<quic_core>(cert.chain_pem, cert.key_pem, limits, std::move(hooks));
  std::string error = core_->error();
  if (!error.empty()) core_.reset();
  return error;
}

std::vector<endpoint> quic_service::locals() const {
  std::vector<endpoint> out;
  for (const auto& s : sockets_) {
    std::error_code ec;
    const auto local = s->socket.local_endpoint(ec);
    if (!ec) out.push_back(to_endpoint(local));
  }
  return out;
}

void quic_service::start() {
  for (std::size_t i = 0; i < sockets_.size(); ++i) wait_read(i);
}

void quic_service::wait_read(std::size_t index) {
  sockets_[index]->socket.async_wait(asio::socket_base::wait_read, [this, index](const std::error_code& ec) {
    if (ec) return;  // closed
    read(index);
  });
}

void quic_service::read(std::size_t index) {
  socket_state& s = *sockets_[index];
  std::vector<std::uint8_t>& buffer = datagram_buffer();
  for (int n = 0; n < reads_per_wake && core_; ++n) {
    sockaddr_storage from{};
    iovec iov{buffer.data(), buffer.size()};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(in_pktinfo))> control{};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    const ssize_t got = ::recvmsg(s.socket.native_handle(), &msg, MSG_DONTWAIT);
    if (got < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      continue;  // an ICMP error about an earlier datagram: one client's, not the socket's
    }
    if ((msg.msg_flags & MSG_TRUNC) != 0) continue;
    // The server's end: the address the datagram was sent to (the kernel's word, from the
    // packet info), with the socket's port.
    quic_path path{s.bound, udp_address::from(reinterpret_cast<const sockaddr*>(&from), msg.msg_namelen), index};
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO && path.local.storage.ss_family == AF_INET) {
        in_pktinfo info{};
        std::memcpy(&info, CMSG_DATA(c), sizeof info);
        reinterpret_cast<sockaddr_in*>(&path.local.storage)->sin_addr = info.ipi_addr;
      } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
                 path.local.storage.ss_family == AF_INET6) {
        in6_pktinfo info{};
        std::memcpy(&info, CMSG_DATA(c), sizeof info);
        reinterpret_cast<sockaddr_in6*>(&path.local.storage)->sin6_addr = info.ipi6_addr;
      }
    }
    core_->receive(path, {buffer.data(), static_cast<std::size_t>(got)}, now());
  }
  if (s.socket.is_open()) wait_read(index);
}

void quic_service::send(const quic_path& path, std::span<const std::uint8_t> bytes) {
  if (path.socket >= sockets_.size()) return;
  socket_state& s = *sockets_[path.socket];
  if (!s.socket.is_open()) return;
  iovec iov{const_cast<std::uint8_t*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(in6_pktinfo))> control{};
  msghdr msg{};
  msg.msg_name = const_cast<sockaddr*>(path.remote.get());
  msg.msg_namelen = path.remote.length;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  // From the address the client sent to: on a wildcard socket the kernel would otherwise pick
  // one by its routing table, and the client would see a stranger answer.
  msg.msg_control = control.data();
  cmsghdr* c = reinterpret_cast<cmsghdr*>(control.data());
  if (path.local.storage.ss_family == AF_INET) {
    in_pktinfo info{};
    info.ipi_spec_dst = reinterpret_cast<const sockaddr_in*>(&path.local.storage)->sin_addr;
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof info);
    std::memcpy(CMSG_DATA(c), &info, sizeof info);
    msg.msg_controllen = CMSG_SPACE(sizeof info);
  } else {
    in6_pktinfo info{};
    info.ipi6_addr = reinterpret_cast<const sockaddr_in6*>(&path.local.storage)->sin6_addr;
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof info);
    std::memcpy(CMSG_DATA(c), &info, sizeof info);
    msg.msg_controllen = CMSG_SPACE(sizeof info);
  }
  // Non-blocking: a datagram the kernel cannot take now is lost, and QUIC's loss recovery sends
  // it again (as the network would have lost it).
  ssize_t n = -1;
  for (int attempt = 0; attempt < 3 && n < 0; ++attempt) {
    n = ::sendmsg(s.socket.native_handle(), &msg, MSG_DONTWAIT);
    if (n < 0 && errno != EINTR) break;
  }
  if (n < 0) ++send_failures_;
}

void quic_service::set_timer(std::uint64_t id, std::optional<quic_time> at) {
  if (!at) {
    timers_.erase(id);  // a pending wait ends with operation_aborted and does nothing
    return;
  }
  auto& timer = timers_[id];
  if (!timer) timer = std::make_unique<asio::steady_timer>(io_);
  timer->expires_at(std::chrono::steady_clock::time_point(std::chrono::duration_cast<std::chrono::steady_clock::duration>(*at)));
  timer->async_wait([this, id](const std::error_code& ec) {
    if (ec || !core_) return;
    core_->expire(id, now());
  });
}

http_response quic_service::respond(const quic_request& request) {
  ctx_.http_seen.remember(request.tuple.remote.address, clock::now());
  const std::string alt_svc = ctx_.alt_svc_for(request.tuple.local.port);
  web_context context{request.id,     request.number,     request.tuple, ctx_.host,     request.tls, std::nullopt,
                      nullptr,        http_version::h3,   request.stream, request.quic, alt_svc};
  http_response response;
  std::string note;
  if (request.error) {
    response = error_response(*request.error);
  } else {
    response = portdemo::respond(request.head, context);
  }
  ctx_.events.emit(http_request_event{request.id, request.tuple,
                                      request.head.method.empty() ? std::string("-") : request.head.method,
                                      request.head.target.empty() ? std::string("-") : request.head.target,
                                      response.status, request.number, request.tls.version, std::move(note),
                                      http_version::h3, request.stream});
  return response;
}

// GET /events: the board's snapshot, then its batches, as over HTTP/1.1 and HTTP/2
// (board_stream.cpp, http2_session.cpp), until the stream or its connection ends.
std::optional<quic_answer> quic_service::follow(const quic_request& request) {
  if (!ctx_.board || !is_event_stream(request.head)) return std::nullopt;
  ctx_.http_seen.remember(request.tuple.remote.address, clock::now());
  board_hub& hub = *ctx_.board;
  auto sub = std::make_shared<board_subscriber>(io_.get_executor(), request.id, request.tuple);
  board_answer board = hub.answer(*sub, request.head);
  ctx_.events.emit(http_request_event{request.id, request.tuple, request.head.method, request.head.target,
                                      board.status, request.number, request.tls.version, board.note,
                                      http_version::h3, request.stream});
  quic_answer answer{std::move(board.response), board.admitted};
  if (!board.admitted) return answer;
  auto f = std::make_shared<board_feed>(board_feed{request.id, request.stream, std::move(sub)});
  feeds_[{request.id, request.stream}] = f;
  arm_wake(f);
  return answer;
}

// The subscriber's timer wakes the feed: news (the hub cancels it), the stream gone, the
// server stopping, or a heartbeat due.
void quic_service::arm_wake(const std::shared_ptr<board_feed>& f) {
  if (f->waiting) return;
  f->waiting = true;
  f->sub->wake.expires_after(board_hub::heartbeat);
  f->sub->wake.async_wait([this, f](const std::error_code& ec) {
    f->waiting = false;
    if (!ec) f->beat_due = true;
    feed(f);
  });
}

void quic_service::feed(const std::shared_ptr<board_feed>& f) {
  board_subscriber& sub = *f->sub;
  if (f->gone || sub.dropped || sub.ended || !core_) {
    if (!f->gone && core_) {
      if (sub.ended) core_->send_body(f->id, f->stream, board_stopping_events(), now());
      core_->end_body(f->id, f->stream, now());
    }
    if (ctx_.board) ctx_.board->unsubscribe(sub);
    sub.finished = true;
    feeds_.erase({f->id, f->stream});
    return;
  }
  // Handed to the stream only when the client has acknowledged the last: the hub's limit on a
  // subscriber's pending bytes then holds for one that does not read.
  if (core_->unacked(f->id, f->stream) == 0) {
    std::string out;
    if (!sub.pending.empty()) out.swap(sub.pending);
    else if (f->beat_due) sse::comment(out, "heartbeat");
    f->beat_due = false;
    // Refused: the connection is closing (its streams go with it); the feed ends now.
    if (!out.empty() && !core_->send_body(f->id, f->stream, std::move(out), now())) {
      f->gone = true;
      feed(f);
      return;
    }
  }
  arm_wake(f);
}

void quic_service::report(quic_event e) {
  const bool closed = std::holds_alternative<quic_closed_event>(e);
  // The summary's most connections open at once counts QUIC's beside TCP's, from the handshake
  // done to the close.
  if (const auto* up = std::get_if<quic_connected_event>(&e)) {
    if (connected_.insert(up->id).second) ctx_.table.others_opened();
  } else if (const auto* down = std::get_if<quic_closed_event>(&e)) {
    if (connected_.erase(down->id) > 0) ctx_.table.others_closed();
  }
  std::visit([this](auto&& one) { ctx_.events.emit(std::move(one)); }, std::move(e));
  if (closed && closed_) closed_();
}

std::uint64_t quic_service::cut() { return core_ ? core_->cut(now()) : 0; }

void quic_service::stop() {
  if (core_) core_->stop(now());
}

void quic_service::close() {
  std::error_code ignored;
  for (auto& s : sockets_) s->socket.close(ignored);
  timers_.clear();
}

quic_time quic_service::now() {
  return std::chrono::duration_cast<quic_time>(std::chrono::steady_clock::now().time_since_epoch());
}

}  // namespace portdemo::server
