#include "server.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <dirent.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <unistd.h>
#include <exception>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "listener.hpp"
#include "portdemo/activation.hpp"
#include "privilege.hpp"
#include "portdemo/asio_adapter.hpp"
#include "portdemo/deadline.hpp"
#include "portdemo/join.hpp"
#include "portdemo/qr.hpp"
#include "portdemo/protocol.hpp"
#include "portdemo/services.hpp"

namespace portdemo::server {

namespace {

using asio::ip::tcp;
using namespace std::chrono_literals;


// Reports a coroutine that ended with an exception instead of letting it vanish.
void report_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "demo-server: internal error: %s\n", ex.what());
  }
}

bool is_loopback(const asio::ip::address& a) { return a.is_loopback(); }

}  // namespace

bool is_tls_port(const options& opts, std::uint16_t asked, std::uint16_t bound) {
  if (bound == 443 || bound == 8443) return true;
  return std::find(opts.tls_ports.begin(), opts.tls_ports.end(), asked) != opts.tls_ports.end() ||
         std::find(opts.tls_ports.begin(), opts.tls_ports.end(), bound) != opts.tls_ports.end();
}

server::server(asio::io_context& io, reporter& out, options opts)
    : io_(io),
      out_(out),
      opts_(std::move(opts)),
      shared_(out, io.get_executor(), opts_.limits),
      signals_(io, SIGINT, SIGTERM),
      grace_(io) {
  shared_.quiet = opts_.quiet;
  out_.mask_remote_addresses(opts_.mask_addresses);
  shared_.ended = [this](std::exception_ptr e) {
    report_exception(e);
    session_done();
  };
}

void server::cap_connections() {
  // Every connection holds a descriptor: more connections than the open-file limit allows would
  // end in accept failing (EMFILE) for everyone. Raise the soft limit as far as the hard one
  // lets us if the cap needs it, then clamp the cap to what is left after a reserve.
  std::size_t in_use = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++in_use;
    ::closedir(d);
  }
  std::optional<std::size_t> limit;
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    const rlim_t wanted = static_cast<rlim_t>(shared_.limits.max_connections + in_use + descriptor_reserve);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < wanted) {
      rlimit raised = rl;
      raised.rlim_cur = rl.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, rl.rlim_max);
      if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
    }
    if (rl.rlim_cur != RLIM_INFINITY) limit = static_cast<std::size_t>(rl.rlim_cur);
  }
  connection_cap cap = portdemo::cap_connections(shared_.limits.max_connections, limit, in_use);
  if (cap.clamped) {
    out_.emit(note_event{"max_connections_clamped",
                         fmt::format("--max-connections {} lowered to {}: the open-file limit is {} "
                                     "(ulimit -n), {} are in use and {} kept in reserve",
                                     shared_.limits.max_connections, cap.value, *limit, in_use,
                                     descriptor_reserve)});
  }
  shared_.limits.max_connections = cap.value;
}

bool server::setup_tls() {
  tls_ = make_tls(opts_.cert_file, opts_.key_file);
  if (!tls_.context) {
    std::fprintf(stderr, "demo-server: TLS: %s\n", tls_.error.c_str());
    return false;
  }
  shared_.tls = &*tls_.context;
  std::string saved;
  if (!opts_.save_cert.empty()) {
    if (std::FILE* f = std::fopen(opts_.save_cert.c_str(), "w")) {
      std::fwrite(tls_.info.pem.data(), 1, tls_.info.pem.size(), f);
      if (std::fclose(f) == 0) saved = opts_.save_cert;
    }
    if (saved.empty()) {
      std::fprintf(stderr, "demo-server: cannot write the certificate to %s: %s\n", opts_.save_cert.c_str(),
                   std::strerror(errno));
      return false;
    }
  }
  out_.emit(tls_certificate_event{tls_.info.source, tls_.info.subject, tls_.info.names, tls_.info.sha256, saved});
  return true;
}

int server::start() {
  const host_facts& facts = out_.facts();
  out_.emit(host_facts_event{role::server, facts});
  // TLS only matters to TCP ports; a UDP-only server needs no certificate.
  if (!opts_.ports.empty() && !setup_tls()) return exit_code::usage;

  cap_connections();
  const bool defaults = opts_.bind_addresses.empty();
  std::vector<asio::ip::address> addresses;
  if (defaults) {
    addresses = {asio::ip::make_address("127.0.0.1"), asio::ip::make_address("::1")};
  } else {
    for (const auto& a : opts_.bind_addresses) addresses.push_back(asio::ip::make_address(a));
  }

  bind_tally t;
  t.defaults = defaults;
  std::vector<std::uint16_t> ready_ports;
  std::vector<std::uint16_t> tls_ports;
  std::vector<std::uint16_t> udp_ports;
  // --user is refused before anything is bound, not after.
  if (!opts_.user.empty()) {
    if (auto refused = check_can_switch(opts_.user)) {
      std::fprintf(stderr, "demo-server: %s\n", refused->message.c_str());
      return refused->exit_code;
    }
  }
  // Sockets passed by a service manager replace --ports and --bind.
  const bool adopted = adopt_passed_sockets(t, ready_ports, tls_ports, udp_ports);

  // TCP: a listening socket per (port, address).
  if (!adopted) bind_all(opts_.ports, addresses, t,
           [&](const asio::ip::address& address, std::uint16_t asked, std::uint16_t port)
               -> std::variant<listening_event, failure> {
             auto result = open_listener(io_, tcp::endpoint(address, port));
             if (auto* f = std::get_if<failure>(&result)) return *f;
             auto l = std::make_unique<listener>(listener{std::move(std::get<tcp::acceptor>(result)), false});
             // The kernel's answer, not the number we asked for: with port 0 they differ.
             endpoint local = to_endpoint(l->acceptor.local_endpoint());
             l->tls = is_tls_port(opts_, asked, local.port);
             if (std::find(ready_ports.begin(), ready_ports.end(), local.port) == ready_ports.end()) {
               ready_ports.push_back(local.port);
               if (l->tls) tls_ports.push_back(local.port);
             }
             per_port_.try_emplace({false, local.port}, 0);
             listening_event ev{local, asked, describe_port(local.port), bind_allowed_because(facts, local.port),
                                l->tls, "tcp"};
             listeners_.push_back(std::move(l));
             return ev;
           });
  // UDP: a bound datagram socket per (port, address).
  if (!adopted) bind_all(opts_.udp_ports, addresses, t,
           [&](const asio::ip::address& address, std::uint16_t asked, std::uint16_t port)
               -> std::variant<listening_event, failure> {
             auto result = open_datagram(io_, asio::ip::udp::endpoint(address, port));
             if (auto* f = std::get_if<failure>(&result)) return *f;
             auto u = std::make_unique<asio::ip::udp::socket>(std::move(std::get<asio::ip::udp::socket>(result)));
             endpoint local = to_endpoint(u->local_endpoint());
             if (std::find(udp_ports.begin(), udp_ports.end(), local.port) == udp_ports.end())
               udp_ports.push_back(local.port);
             per_port_.try_emplace({true, local.port}, 0);
             listening_event ev{local, asked, describe_port(local.port), bind_allowed_because(facts, local.port),
                                false, "udp"};
             udp_sockets_.push_back(std::move(u));
             return ev;
           });
  const int listening = t.listening;
  const int failed = t.failed;
  const int first_failure_code = t.first_failure_code;

  if (std::any_of(listeners_.begin(), listeners_.end(),
                  [](const auto& l) { return !is_loopback(l->acceptor.local_endpoint().address()); })) {
    out_.emit(note_event{"reachable_from_network",
                         "listening beyond loopback: other machines on the network can now "
                         "connect to these ports"});
  }
  if (opts_.strict && failed > 0) {
    out_.emit(note_event{"strict", fmt::format("--strict: {} of {} sockets failed, so none will serve",
                                               failed, failed + listening)});
    listeners_.clear();
    udp_sockets_.clear();
    out_.emit(ready_event{0, failed, {}, {}, {}});
    return first_failure_code;
  }
  // Bind, then drop: every port is bound, no client has been accepted yet.
  if (!opts_.user.empty() && listening > 0) {
    auto dropped = drop_privileges(opts_.user);
    if (auto* error = std::get_if<privilege_error>(&dropped)) {
      std::fprintf(stderr, "demo-server: %s\n", error->message.c_str());
      return error->exit_code;
    }
    out_.emit(std::get<privileges_dropped_event>(dropped));
  }
  setup_board();
  std::vector<std::uint16_t> all_ports = ready_ports;
  for (auto p : udp_ports)
    if (std::find(all_ports.begin(), all_ports.end(), p) == all_ports.end()) all_ports.push_back(p);
  out_.emit(ready_event{listening, failed, all_ports, tls_ports, udp_ports, ready_ports});
  if (listening == 0) return first_failure_code ? first_failure_code : exit_code::software;

  for (auto& l : listeners_) {
    asio::co_spawn(io_, accept_loop(*l), report_exception);
  }
  for (auto& u : udp_sockets_) {
    asio::co_spawn(io_, datagram_loop(*u), report_exception);
  }
  wait_for_signal();
  return -1;
}

void server::setup_board() {
  if (listeners_.empty()) return;  // UDP only: no HTTP, so no board to show
  board_model model(out_.facts().ephemeral, opts_.mask_addresses, opts_.max_board_subscribers);
  std::vector<bound_listener> bound;
  for (const auto& l : listeners_) {
    std::error_code ec;
    const endpoint local = to_endpoint(l->acceptor.local_endpoint(ec));
    if (ec) continue;
    model.add_port({local, "tcp", l->tls});
    bound.push_back({local.address, local.port, l->tls});
  }
  for (const auto& u : udp_sockets_) {
    std::error_code ec;
    const endpoint local = to_endpoint(u->local_endpoint(ec));
    if (!ec) model.add_port({local, "udp", false});
  }
  // Beyond loopback, the room can join: the addresses students type (or scan).
  std::vector<std::string> urls = join_urls(host_interface_addresses(), bound);
  if (!urls.empty()) {
    join_event join{urls, "", make_qr(urls.front())};
    // The board on the first plain HTTP address (a projector's browser has no reason to trust
    // the self-signed certificate), else the first HTTPS one.
    auto plain = std::find_if(urls.begin(), urls.end(), [](const std::string& u) { return u.starts_with("http:"); });
    join.board = (plain != urls.end() ? *plain : urls.front()) + "board";
    model.set_join(urls, join.qr);
    out_.emit(join);
  }
  board_ = std::make_unique<board_hub>(io_.get_executor(), out_, std::move(model));
  shared_.board = board_.get();
}

bool server::adopt_passed_sockets(bind_tally& t, std::vector<std::uint16_t>& tcp_ports,
                                  std::vector<std::uint16_t>& tls_ports, std::vector<std::uint16_t>& udp_ports) {
  passed_sockets passed = parse_listen_fds(std::getenv("LISTEN_PID"), std::getenv("LISTEN_FDS"),
                                           std::getenv("LISTEN_FDNAMES"), static_cast<long>(::getpid()));
  // The sockets are this process's, not its children's (sd_listen_fds with unset_environment).
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (!passed.problem.empty()) out_.emit(note_event{"listen_fds_ignored", passed.problem});
  if (passed.count == 0) return false;
  out_.emit(note_event{"socket_activation",
                       fmt::format("{} socket{} passed by the parent process (LISTEN_FDS): the parent bound "
                                   "them, this process serves them; --ports and --bind are not used",
                                   passed.count, passed.count == 1 ? "" : "s")});
  const host_facts& facts = out_.facts();
  // Why a privileged port is open to us: the parent bound it.
  const auto allowed = [&](std::uint16_t port) -> std::optional<std::string> {
    if (port >= 1024 || port == 0) return std::nullopt;
    return is_privileged(facts, port).value_or(true) ? "parent" : "cutoff";
  };
  for (int i = 0; i < passed.count; ++i) {
    passed_socket p = adopt_socket(io_, listen_fds_start + i);
    if (!p.problem.empty()) {
      ++t.failed;
      out_.emit(note_event{"passed_socket_ignored", p.problem});
      continue;
    }
    if (p.tcp) {
      auto l = std::make_unique<listener>(listener{std::move(*p.tcp), false});
      std::error_code ec;
      endpoint local = to_endpoint(l->acceptor.local_endpoint(ec));
      l->tls = is_tls_port(opts_, local.port, local.port);
      if (std::find(tcp_ports.begin(), tcp_ports.end(), local.port) == tcp_ports.end()) {
        tcp_ports.push_back(local.port);
        if (l->tls) tls_ports.push_back(local.port);
      }
      per_port_.try_emplace({false, local.port}, 0);
      out_.emit(listening_event{local, local.port, describe_port(local.port), allowed(local.port), l->tls, "tcp",
                                true});
      listeners_.push_back(std::move(l));
    } else {
      auto u = std::make_unique<asio::ip::udp::socket>(std::move(*p.udp));
      std::error_code ec;
      endpoint local = to_endpoint(u->local_endpoint(ec));
      if (std::find(udp_ports.begin(), udp_ports.end(), local.port) == udp_ports.end()) udp_ports.push_back(local.port);
      per_port_.try_emplace({true, local.port}, 0);
      out_.emit(listening_event{local, local.port, describe_port(local.port), allowed(local.port), false, "udp", true});
      udp_sockets_.push_back(std::move(u));
    }
    ++t.listening;
  }
  return true;
}

void server::wait_for_signal() {
  signals_.async_wait([this](const std::error_code& ec, int signo) {
    if (ec) return;
    stop(signo == SIGINT ? "SIGINT" : "SIGTERM");
    wait_for_signal();
  });
}

void server::stop(const std::string& signal) {
  if (stopped_) {
    // A second signal: whoever sent it does not want to wait.
    out_.emit(note_event{"second_signal", fmt::format("second {}: ending at once", signal)});
    finish();
    out_.flush();
    std::_Exit(exit_code::ok);
  }
  stopped_ = true;
  shared_.stopping = true;
  // New connections are refused from here on: the listening sockets are gone.
  for (auto& l : listeners_) {
    std::error_code ignored;
    l->acceptor.close(ignored);
  }
  for (auto& u : udp_sockets_) {
    std::error_code ignored;
    u->close(ignored);
  }
  if (board_) board_->stop();  // the streams say so and end: they are not answers in flight
  const auto grace = shared_.limits.shutdown_grace;
  out_.emit(stopping_event{signal, shared_.open, static_cast<std::uint64_t>(grace.count())});
  // Idle connections (between HTTP requests, --hold, waiting for a client's FIN) have no answer
  // in flight: their wait is cancelled now and they close.
  for (session* s = shared_.first; s; s = s->next) {
    std::error_code ignored;
    if (s->idle) s->socket.cancel(ignored);
  }
  close_parked(shared_);
  if (shared_.open == 0) {
    finish();
    return;
  }
  grace_.expires_after(grace);
  grace_.async_wait([this](const std::error_code& ec) {
    if (ec) return;
    // The rest are cut: closing the socket ends the session's pending wait.
    for (session* s = shared_.first; s; s = s->next) {
      ++cut_;
      shared_.out.emit(limit_event{s->facts.id, s->facts.tuple, limit_kind::shutdown,
                                   static_cast<std::uint64_t>(shared_.limits.shutdown_grace.count()), 0, false});
      std::error_code ignored;
      s->socket.close(ignored);
    }
    cut_ += cut_parked(shared_);
    // Sessions unwind on the next turns of the loop; finish() comes with the last of them, or
    // here if none is left.
    if (shared_.open == 0) finish();
  });
}

void server::session_done() {
  // The connection has already counted itself out (session and parked destructors).
  if (stopped_ && shared_.open == 0) finish();
}

void server::finish() {
  if (finished_) return;
  finished_ = true;
  grace_.cancel();
  shared_.request_summary.cancel();
  shared_.summarise_requests();  // the last second's, before the summary
  server_summary_event summary;
  for (const auto& [key, n] : per_port_) {
    summary.per_port.push_back({key.second, n, key.first ? "udp" : "tcp"});
    if (!key.first) summary.connections += n;
  }
  summary.distinct_client_ports = distinct_client_ports_;
  summary.peak_open = shared_.peak_open;
  summary.busy = busy_;
  summary.limited = shared_.limited;
  summary.cut = cut_;
  summary.log_dropped = out_.dropped();
  for (std::size_t p = 0; p < client_port_seen_.size(); ++p) {
    if (!client_port_seen_[p]) continue;
    if (!summary.lowest_client_port) summary.lowest_client_port = static_cast<std::uint16_t>(p);
    summary.highest_client_port = static_cast<std::uint16_t>(p);
  }
  out_.emit(summary);
  out_.flush();
  io_.stop();
}

template <typename Open>
void server::bind_all(const std::vector<std::uint16_t>& ports, const std::vector<asio::ip::address>& addresses,
                      bind_tally& t, Open open) {
  const host_facts& facts = out_.facts();
  for (std::uint16_t port : ports) {
    // Port 0 asks the kernel for a free port; the other addresses then try that same port, so
    // that one number reaches the server on both families.
    std::uint16_t chosen = 0;
    for (const auto& address : addresses) {
      if (t.defaults && address.is_v6() && t.v6_missing) continue;
      std::uint16_t try_port = port == 0 ? chosen : port;
      auto result = open(address, port, try_port);
      if (port == 0 && try_port != 0 && std::holds_alternative<failure>(result) &&
          std::get<failure>(result).error == "EADDRINUSE") {
        result = open(address, port, 0);
      }
      if (auto* f = std::get_if<failure>(&result)) {
        if (t.defaults && address.is_v6() && (f->error == "EADDRNOTAVAIL" || f->error == "EAFNOSUPPORT")) {
          t.v6_missing = true;
          out_.emit(note_event{"ipv6_unavailable",
                               fmt::format("the IPv6 loopback address ::1 is not available on this "
                                           "host ({}); serving IPv4 only",
                                           f->error)});
          continue;
        }
        ++t.failed;
        if (t.first_failure_code == 0) t.first_failure_code = exit_code_for(f->error);
        out_.emit(bind_failed_event{*f, explain(*f, facts)});
        continue;
      }
      auto& ev = std::get<listening_event>(result);
      if (chosen == 0) chosen = ev.local.port;
      out_.emit(ev);
      ++t.listening;
    }
  }
}

asio::awaitable<void> server::datagram_loop(asio::ip::udp::socket& socket) {
  using asio::ip::udp;
  // The bound address: for a loopback or specific address it is the datagram's destination.
  // (Bound to 0.0.0.0 or ::, the destination would need IP_PKTINFO; the wildcard is reported.)
  const endpoint local = to_endpoint(socket.local_endpoint());
  std::array<char, 2048> buffer{};
  for (;;) {
    udp::endpoint sender;
    std::error_code ec;
    std::size_t n = co_await socket.async_receive_from(asio::buffer(buffer), sender,
                                                       asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !socket.is_open()) co_return;
    if (ec) continue;  // e.g. an ICMP error about an earlier answer: concerns one client only
    socket_tuple tuple{local, to_endpoint(sender)};
    std::uint64_t id = next_id_++;
    ++per_port_[{true, local.port}];
    if (!client_port_seen_[tuple.remote.port]) {
      client_port_seen_[tuple.remote.port] = true;
      ++distinct_client_ports_;
    }
    std::optional<bool> in_range;
    if (out_.facts().ephemeral) in_range = out_.facts().ephemeral->contains(tuple.remote.port);
    shared_.log(datagram_event{id, tuple, n, in_range});
    if (board_) board_->connection(id, tuple, true, false);
    std::string_view got(buffer.data(), n);
    server_view view{id, tuple, "udp"};
    const bool hello = got == client_hello || got == client_hello_hold;
    std::string answer = hello ? render_server_view(view) : render_raw_client_report(view, out_.facts());
    shared_.log(answered_event{id, hello, n, std::string(got.substr(0, 512))});
    // A datagram needs no waiting: it goes out whole, or the kernel drops it.
    socket.send_to(asio::buffer(answer), sender, 0, ec);
  }
}

void server::count(const socket_tuple& tuple) {
  ++per_port_[{false, tuple.local.port}];
  if (!client_port_seen_[tuple.remote.port]) {
    client_port_seen_[tuple.remote.port] = true;
    ++distinct_client_ports_;
  }
}

asio::awaitable<void> server::accept_loop(listener& l) {
  tcp::acceptor& acceptor = l.acceptor;
  const endpoint listening_on = to_endpoint(acceptor.local_endpoint());
  std::uint64_t failures = 0;  // accept errors in the current episode; reported once each way
  // Non-blocking once, for the accept4 calls below: the queue is emptied until it says EAGAIN.
  std::error_code ec;
  acceptor.non_blocking(true, ec);
  for (;;) {
    co_await acceptor.async_wait(tcp::acceptor::wait_read, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    // Every client queued now, without a round through the event loop for each (a bounded
    // batch, so that other listeners and sessions get their turn). accept4 rather than Asio's
    // accept: the new socket is non-blocking from the start (no ioctl), and the client's address
    // comes with it (the kernel's own getpeername, without a second system call).
    for (int i = 0; i < 64; ++i) {
      sockaddr_storage peer{};
      socklen_t peer_size = sizeof peer;
      const int fd = ::accept4(acceptor.native_handle(), reinterpret_cast<sockaddr*>(&peer), &peer_size,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        if (failures > 0) {
          out_.emit(accept_resumed_event{listening_on, failures});
          failures = 0;
        }
        admit(l, fd, peer, peer_size);
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;  // the queue is empty
      if (errno == EINTR) continue;
      ec = std::error_code(errno, asio::error::get_system_category());
      if (failures++ == 0) {
        failure f = make_failure(step::accept, ec, listening_on);
        // The limit now, not at start-up: the server raised it, or someone lowered it since.
        host_facts now = out_.facts();
        if (rlimit rl{}; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
          now.open_files_limit = rl.rlim_cur;
        out_.emit(accept_failed_event{f, explain(f, now)});
      }
      // Out of descriptors or memory: the pending connection stays queued, so accepting again
      // at once would spin. Pause, then resume (the Asio examples stop or spin here).
      if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
          ec == asio::error::no_memory || ec.value() == ENFILE) {
        asio::steady_timer pause(acceptor.get_executor(), 100ms);
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        break;
      }
      // ECONNABORTED and the like concern one client only: on with the queue.
    }
  }
}

void server::admit(listener& l, int fd, const sockaddr_storage& peer, socklen_t peer_size) {
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
  std::uint64_t id = next_id_++;
  count(tuple);
  if (shared_.open >= shared_.limits.max_connections) {
    // Over the cap: one line and a close, at once, rather than a client left hanging.
    ++busy_;
    std::error_code ec;
    tcp::socket socket(l.acceptor.get_executor());
    socket.assign(local.protocol(), fd, ec);
    if (ec) {
      ::close(fd);
      return;
    }
    turn_away(socket, shared_.open, shared_.limits.max_connections);
    shared_.log(busy_event{id, tuple, shared_.open, shared_.limits.max_connections});
    return;
  }
  std::optional<bool> in_range;
  if (out_.facts().ephemeral) in_range = out_.facts().ephemeral->contains(tuple.remote.port);
  shared_.peak_open = std::max(shared_.peak_open, ++shared_.open);
  if (!shared_.quiet) out_.emit(accepted_event{id, tuple, in_range, shared_.open});
  if (board_) board_->connection(id, tuple, false, l.tls);
  // The previous port of this client address: the web page tells a reload on a new
  // connection (new port) from one on a kept-alive connection (same port).
  connection_facts facts{id, std::move(tuple), l.tls, std::nullopt};
  if (shared_.last_port.size() > 4096) shared_.last_port.clear();
  auto [it, fresh] = shared_.last_port.try_emplace(facts.tuple.remote.address, facts.tuple.remote.port);
  if (!fresh) {
    facts.previous_port = it->second;
    it->second = facts.tuple.remote.port;
  }
  serve_accepted(fd, local.protocol(), std::move(facts), shared_);
}

}  // namespace portdemo::server
