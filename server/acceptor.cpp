#include "acceptor.hpp"

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "context.hpp"
#include "first_bytes.hpp"
#include "portdemo/asio_adapter.hpp"
#include "portdemo/render.hpp"
#include "socket_io.hpp"

namespace portdemo::server {

using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

// A read before the first wait pays when, lately, more than about 40% of new connections had
// their first bytes there at once (first_read_hits_, out of 256).
constexpr std::uint32_t first_read_worth = 100;

}  // namespace

void turn_away(tcp::socket& socket, std::uint64_t open, std::uint64_t max) {
  std::error_code ec;
  socket.non_blocking(true, ec);
  std::string line = render_busy_answer(open, max);
  socket.write_some(asio::buffer(line), ec);  // a fresh socket's send buffer takes one line
  socket.shutdown(tcp::socket::shutdown_send, ec);
  // What the client sent already is read and dropped, so that the close is a FIN after the
  // line, not a reset that could destroy it. Bounded: at most 64 KiB, without waiting.
  std::array<char, 4096> sink{};
  for (int i = 0; i < 16 && !ec; ++i) {
    if (socket.read_some(asio::buffer(sink), ec) == 0) break;
  }
  socket.close(ec);
}

asio::awaitable<void> acceptor::accept_loop(tcp_listener& l) {
  tcp::acceptor& listening = l.acceptor;
  std::uint64_t failures = 0;  // accept errors in the current episode; reported once each way
  // Non-blocking once, for the accept4 calls below: the queue is emptied until it says EAGAIN.
  std::error_code ec;
  listening.non_blocking(true, ec);
  for (;;) {
    co_await listening.async_wait(tcp::acceptor::wait_read, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !listening.is_open()) co_return;
    // Every client queued now, without a round through the event loop for each (a bounded
    // batch, so that other listeners and connections get their turn). accept4 rather than
    // Asio's accept: the new socket is non-blocking from the start (no ioctl), and the client's
    // address comes with it (the kernel's own getpeername, without a second system call).
    for (int i = 0; i < 64; ++i) {
      sockaddr_storage peer{};
      socklen_t peer_size = sizeof peer;
      const int fd = ::accept4(listening.native_handle(), reinterpret_cast<sockaddr*>(&peer), &peer_size,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        if (failures > 0) {
          ctx_.events.emit(accept_resumed_event{l.local, failures});
          failures = 0;
        }
        try {
          admit(l, fd, peer, peer_size);
        } catch (...) {
          report_coroutine_exception(std::current_exception());  // the connection closed with its owner
        }
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;  // the queue is empty
      if (errno == EINTR) continue;
      ec = std::error_code(errno, asio::error::get_system_category());
      if (failures++ == 0) {
        failure f = make_failure(step::accept, ec, l.local);
        // The limit now, not at start-up: the server raised it, or someone lowered it since.
        host_facts now = ctx_.host;
        if (rlimit rl{}; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
          now.open_files_limit = rl.rlim_cur;
        ctx_.events.emit(accept_failed_event{f, explain(f, now)});
      }
      // Out of descriptors or memory: the pending connection stays queued, so accepting again
      // at once would spin. Pause, then resume (the Asio examples stop or spin here).
      if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space || ec == asio::error::no_memory ||
          ec.value() == ENFILE) {
        asio::steady_timer pause(listening.get_executor(), 100ms);
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        break;
      }
      // ECONNABORTED and the like concern one client only: on with the queue.
    }
  }
}

void acceptor::admit(tcp_listener& l, int fd, const sockaddr_storage& peer, socklen_t peer_size) {
  // The four facts, from the kernel: getsockname on the accepted socket, and the remote end as
  // accept4 returned it (the kernel fills it as it does for getpeername).
  tcp::endpoint local;
  socklen_t local_size = static_cast<socklen_t>(local.capacity());
  if (::getsockname(fd, local.data(), &local_size) != 0 || peer_size > sizeof(sockaddr_in6)) {
    ::close(fd);  // the client is already gone (reset before we looked)
    return;
  }
  local.resize(local_size);
  tcp::endpoint remote;
  std::memcpy(remote.data(), &peer, peer_size);
  remote.resize(peer_size);
  socket_tuple tuple{to_endpoint(local), to_endpoint(remote)};
  const std::uint64_t id = ctx_.next_id++;
  const std::uint64_t open = ctx_.table.open();
  if (open >= ctx_.limits.max_connections) {
    // Over the cap: one line and a close, at once, rather than a client left hanging.
    std::error_code ec;
    tcp::socket socket(l.acceptor.get_executor());
    socket.assign(local.protocol(), fd, ec);
    if (ec) {
      ::close(fd);
    } else {
      turn_away(socket, open, ctx_.limits.max_connections);
    }
    ctx_.events.emit(busy_event{id, std::move(tuple), open, ctx_.limits.max_connections});
    return;
  }
  std::optional<bool> in_range;
  if (ctx_.host.ephemeral) in_range = ctx_.host.ephemeral->contains(tuple.remote.port);
  connection_facts facts{id, std::move(tuple), l.tls, l.proxy, std::nullopt, clock::now()};
  // The previous port of this client address: a reload on a new connection, or the same one.
  facts.previous_port = last_port_.remember(facts.tuple.remote.address, facts.tuple.remote.port);
  auto c = std::make_unique<connection>(ctx_.table, fd, local.protocol(), std::move(facts), ctx_.executor);
  ctx_.events.emit(accepted_event{id, c->facts.tuple, in_range, ctx_.table.open(), l.tls});

  // When clients have sent their first bytes by the time they are accepted (a busy server), one
  // read, and for the common cases one answer and a close, without the event loop ever seeing
  // the socket. When they have not (a quick server: wrk's request follows its connect a moment
  // later), that read only costs a system call, and the connection goes to wait at once, as
  // nginx does. Which it is, is learnt from the last connections that tried (and from every
  // 16th, tried anyway, so that a change shows).
  const bool try_read = first_read_hits_ >= first_read_worth || id % 16 == 0;
  if (!try_read) {
    wait_for_first_bytes(std::move(c), ctx_);
    return;
  }
  const ssize_t n = ::recv(fd, ctx_.scratch.data(), ctx_.scratch.size(), 0);
  const bool nothing_yet = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  first_read_hits_ = first_read_hits_ - first_read_hits_ / 16 + (nothing_yet ? 0u : 16u);
  if (nothing_yet) {
    wait_for_first_bytes(std::move(c), ctx_);
    return;
  }
  if (n < 0) return;  // reset before saying anything: nothing to tell; closed
  first_bytes_arrived(std::move(c), ctx_, n == 0 ? arrival::end : arrival::bytes,
                      std::string_view(ctx_.scratch.data(), static_cast<std::size_t>(n)));
}

}  // namespace portdemo::server
