#include "server.hpp"

#include <dirent.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>

#include "datagram.hpp"
#include "portdemo/asio_adapter.hpp"
#include "portdemo/join.hpp"
#include "portdemo/qr.hpp"
#include "privilege.hpp"
#include "socket_io.hpp"
#include "tls.hpp"

namespace portdemo::server {

bool named(const std::vector<std::uint16_t>& ports, std::uint16_t asked, std::uint16_t bound) {
  return std::find(ports.begin(), ports.end(), asked) != ports.end() ||
         std::find(ports.begin(), ports.end(), bound) != ports.end();
}

bool is_tls_port(const options& opts, std::uint16_t asked, std::uint16_t bound) {
  if (bound == 443 || bound == 8443) return true;
  return named(opts.tls_ports, asked, bound);
}

server::server(asio::io_context& io, reporter& out, const host_facts& facts, options opts)
    : io_(io),
      out_(out),
      host_(facts),
      opts_(std::move(opts)),
      events_(out, io.get_executor(), opts_.quiet),
      ctx_(events_, host_, io.get_executor(), opts_.limits),
      room_(ctx_),
      acceptor_(ctx_),
      signals_(io, SIGINT, SIGTERM),
      grace_(io) {
  out_.mask_remote_addresses(opts_.mask_addresses);
  ctx_.room = &room_;
  ctx_.table.on_closed([this] { connection_closed(); });
}

server::~server() { ctx_.table.on_closed(nullptr); }

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
    const rlim_t wanted = static_cast<rlim_t>(ctx_.limits.max_connections + in_use + descriptor_reserve);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < wanted) {
      rlimit raised = rl;
      raised.rlim_cur = rl.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, rl.rlim_max);
      if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
    }
    if (rl.rlim_cur != RLIM_INFINITY) limit = static_cast<std::size_t>(rl.rlim_cur);
  }
  connection_cap cap = portdemo::cap_connections(ctx_.limits.max_connections, limit, in_use);
  if (cap.clamped) {
    events_.emit(remark_event{max_connections_clamped{ctx_.limits.max_connections, cap.value, *limit, in_use,
                                                      descriptor_reserve}});
  }
  ctx_.limits.max_connections = cap.value;
}

bool server::setup_tls() {
  tls_ = make_tls(opts_.cert_file, opts_.key_file);
  if (!tls_.context) {
    std::fprintf(stderr, "demo-server: TLS: %s\n", tls_.error.c_str());
    return false;
  }
  ctx_.tls = &*tls_.context;
  offer_alpn(*ctx_.tls);
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
  events_.emit(tls_certificate_event{tls_.info.source, tls_.info.subject, tls_.info.names, tls_.info.sha256, saved});
  return true;
}

int server::start() {
  events_.emit(host_facts_event{role::server, host_});
  // TLS only matters to TCP ports; a UDP-only server needs no certificate.
  if (!opts_.ports.empty() && !setup_tls()) return exit_code::usage;

  cap_connections();
  listen_plan plan;
  plan.ports = opts_.ports;
  plan.udp_ports = opts_.udp_ports;
  plan.defaults = opts_.bind_addresses.empty();
  if (plan.defaults) {
    plan.addresses = {asio::ip::make_address("127.0.0.1"), asio::ip::make_address("::1")};
  } else {
    for (const auto& a : opts_.bind_addresses) plan.addresses.push_back(asio::ip::make_address(a));
  }
  plan.tls = [this](std::uint16_t asked, std::uint16_t bound) { return is_tls_port(opts_, asked, bound); };
  plan.proxy = [this](std::uint16_t asked, std::uint16_t bound) { return named(opts_.proxy_ports, asked, bound); };
  // --user is refused before anything is bound, not after.
  if (!opts_.user.empty()) {
    if (auto refused = check_can_switch(opts_.user)) {
      std::fprintf(stderr, "demo-server: %s\n", refused->message.c_str());
      return refused->exit_code;
    }
  }
  listeners_ = open_listeners(io_, events_, host_, plan);
  int listening = listeners_.listening;
  int failed = listeners_.failed;
  int first_failure_code = listeners_.first_failure_code;
  if (opts_.quic && !setup_quic(listening, failed, first_failure_code)) return exit_code::usage;

  if (!listeners_.proxy_ports.empty()) events_.emit(remark_event{proxy_protocol_required{listeners_.proxy_ports}});
  if (listeners_.beyond_loopback()) {
    events_.emit(remark_event{reachable_from_network{}});
  }
  if (opts_.strict && failed > 0) {
    events_.emit(remark_event{strict_refused{failed, failed + listening}});
    const int code = first_failure_code;
    listeners_ = listener_set{};
    quic_.reset();
    events_.emit(ready_event{0, failed, {}, {}, {}, {}, {}});
    return code;
  }
  // Bind, then drop: every port is bound, no client has been accepted yet.
  if (!opts_.user.empty() && listening > 0) {
    auto dropped = drop_privileges(opts_.user);
    if (auto* error = std::get_if<privilege_error>(&dropped)) {
      std::fprintf(stderr, "demo-server: %s\n", error->message.c_str());
      return error->exit_code;
    }
    events_.emit(std::get<privileges_dropped_event>(dropped));
  }
  setup_board();
  std::vector<std::uint16_t> all_ports = listeners_.tcp_ports;
  for (auto p : listeners_.udp_ports)
    if (std::find(all_ports.begin(), all_ports.end(), p) == all_ports.end()) all_ports.push_back(p);
  events_.emit(ready_event{listening, failed, all_ports, listeners_.tls_ports, listeners_.udp_ports,
                           listeners_.tcp_ports, quic_ ? quic_->ports() : std::vector<std::uint16_t>{}});
  if (listening == 0) return first_failure_code ? first_failure_code : exit_code::software;

  for (auto& l : listeners_.tcp) asio::co_spawn(io_, acceptor_.accept_loop(*l), report_coroutine_exception);
  for (auto& u : listeners_.udp) asio::co_spawn(io_, datagram_loop(*u, ctx_), report_coroutine_exception);
  if (quic_) quic_->start();
  wait_for_signal();
  return -1;
}

bool server::setup_quic(int& listening, int& failed, int& first_failure_code) {
  quic_ = std::make_unique<quic_service>(io_, ctx_);
  // The same certificate as the TCP ports (the start-up report's SHA-256), for GnuTLS.
  if (std::string error = quic_->use_certificate(tls_.info); !error.empty()) {
    std::fprintf(stderr, "demo-server: QUIC: %s\n", error.c_str());
    return false;
  }
  // Beside each TLS listener --quic names: the number asked for, or the one the kernel gave a
  // port asked as 0.
  const auto asked = [this](std::uint16_t bound) {
    return std::find(opts_.ports.begin(), opts_.ports.end(), bound) != opts_.ports.end() ? bound : std::uint16_t{0};
  };
  std::vector<const tcp_listener*> chosen;
  for (const auto& l : listeners_.tcp) {
    if (!l->tls) continue;
    if (opts_.quic_ports.empty() || named(opts_.quic_ports, asked(l->local.port), l->local.port)) chosen.push_back(l.get());
  }
  const quic_service::bound b = quic_->open(chosen, asked);
  listening += b.listening;
  failed += b.failed;
  if (first_failure_code == 0) first_failure_code = b.first_failure_code;
  // From here on, answers on those TLS ports offer HTTP/3 (Alt-Svc).
  ctx_.quic_ports = quic_->ports();
  quic_->on_closed([this] { connection_closed(); });
  return true;
}

void server::setup_board() {
  if (listeners_.tcp.empty()) return;  // UDP only: no HTTP, so no board to show
  board_model model(host_.ephemeral, opts_.mask_addresses, opts_.max_board_subscribers);
  std::vector<bound_listener> bound;
  for (const auto& l : listeners_.tcp) {
    model.add_port({l->local, "tcp", l->tls});
    bound.push_back({l->local.address, l->local.port, l->tls});
  }
  for (const auto& u : listeners_.udp) {
    std::error_code ec;
    const endpoint local = to_endpoint(u->local_endpoint(ec));
    if (!ec) model.add_port({local, "udp", false});
  }
  if (quic_)
    for (const endpoint& local : quic_->locals()) model.add_port({local, "udp", true});
  // Beyond loopback, the room can join: the addresses students type (or scan).
  std::vector<std::string> urls = join_urls(host_interface_addresses(), bound);
  if (!urls.empty()) {
    join_event join{urls, "", make_qr(urls.front())};
    // The board on the first plain HTTP address (a projector's browser has no reason to trust
    // the self-signed certificate), else the first HTTPS one.
    auto plain = std::find_if(urls.begin(), urls.end(), [](const std::string& u) { return u.starts_with("http:"); });
    join.board = (plain != urls.end() ? *plain : urls.front()) + "board";
    model.set_join(urls, join.qr);
    events_.emit(join);
  }
  board_ = std::make_unique<board_hub>(io_.get_executor(), events_, std::move(model));
  ctx_.board = board_.get();
  events_.follow(board_.get());
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
    events_.emit(remark_event{second_signal{signal}});
    finish();
    out_.flush();
    std::_Exit(exit_code::ok);
  }
  stopped_ = true;
  ctx_.stopping = true;
  listeners_.close();  // new connections are refused from here on
  if (board_) board_->stop();  // the streams say so and end: they are not answers in flight
  const auto grace = ctx_.limits.shutdown_grace;
  events_.emit(stopping_event{signal, open(), static_cast<std::uint64_t>(grace.count())});
  // Idle connections (between HTTP requests, --hold, a browser's spare, waiting for a client's
  // FIN) have no answer in flight: their wait is cancelled now and they close.
  ctx_.table.close_idle();
  // QUIC connections get HTTP/3's GOAWAY; those with no request open close at once
  // (CONNECTION_CLOSE), the others once their answers are through.
  if (quic_) quic_->stop();
  if (open() == 0) {
    finish();
    return;
  }
  grace_.expires_after(grace);
  grace_.async_wait([this](const std::error_code& ec) {
    if (ec) return;
    // The rest are cut; each says so. Coroutines unwind on the next turns of the loop, and
    // finish() comes with the last of them, or here if none is left.
    const auto grace_ms = static_cast<std::uint64_t>(ctx_.limits.shutdown_grace.count());
    cut_ += ctx_.table.cut([&](const connection& c) {
      events_.emit(limit_event{c.facts.id, c.facts.tuple, limit_kind::shutdown, grace_ms, 0, false});
    });
    if (quic_) cut_ += quic_->cut();
    if (open() == 0) finish();
  });
}

void server::connection_closed() {
  // Posted: the connection that closed may still be unwinding (a coroutine's frame).
  if (stopped_ && open() == 0) asio::post(io_, [this] { finish(); });
}

void server::finish() {
  if (finished_) return;
  finished_ = true;
  grace_.cancel();
  events_.summarise_requests();  // the last second's, before the summary
  server_summary_event summary = events_.tally().summary();
  summary.peak_open = ctx_.table.peak();
  summary.cut = cut_;
  summary.log_dropped = out_.dropped();
  events_.emit(summary);
  out_.flush();
  if (quic_) quic_->close();
  io_.stop();
}

}  // namespace portdemo::server
