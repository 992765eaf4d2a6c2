#include "client.hpp"

#include <sys/resource.h>

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <unordered_map>

#include <asio/co_spawn.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "http2.hpp"
#include "http3.hpp"
#include "portdemo/asio_adapter.hpp"
#include "portdemo/deadline.hpp"
#include "portdemo/limits.hpp"
#include "portdemo/proc_net.hpp"
#include "portdemo/protocol.hpp"
#include "portdemo/proxy_protocol.hpp"
#include "portdemo/text.hpp"

namespace portdemo::client {

namespace {

using asio::ip::tcp;
using namespace std::chrono_literals;

// A demo-server answers the hello at once; anything slower is not one. Bounded by --timeout.
constexpr auto report_wait = 3s;

// The outcome of one connection attempt over all resolved addresses.
struct attempt {
  int exit_code = exit_code::ok;
  std::optional<connected_event> connected;
  std::vector<failure> failures;  // one per address that did not accept
  std::optional<tcp::socket> socket;  // kept open for --hold / --verify
};

// Whether connections stay open until the end of the run.
bool keep_open(const options& opts) { return opts.hold.count() > 0 || opts.verify; }

// Per-connection text would scroll hundreds of lines past a projector: past this many, text
// shows a progress bar and the summary (JSON always has every event).
constexpr std::uint64_t max_connections_shown = 20;

// --source-port: open the socket and bind the chosen local port before connecting, as a server
// binds its port. No SO_REUSEADDR: a port still in TIME_WAIT from the last run must show.
std::optional<failure> bind_source_port(tcp::socket& socket, const tcp::endpoint& peer, std::uint16_t port) {
  std::error_code ec;
  const tcp::endpoint local(peer.address().is_v6() ? asio::ip::address(asio::ip::address_v6::any())
                                                   : asio::ip::address(asio::ip::address_v4::any()),
                            port);
  socket.open(peer.protocol(), ec);
  if (ec) return make_failure(step::open, ec, to_endpoint(local));
  socket.bind(local, ec);
  if (!ec) return std::nullopt;
  // The attempt is still toward the server: `ep` names it, `local` the end we could not take.
  failure f = make_failure(step::bind, ec, to_endpoint(peer));
  f.client_side = true;
  f.local = to_endpoint(local);
  f.local_pinned = true;
  if (f.error == "EADDRINUSE") f.holders = find_port_users(port);
  return f;
}

// Resolves the name; on failure reports it and returns nullopt with the exit code set.
asio::awaitable<std::optional<std::vector<tcp::endpoint>>> resolve(reporter& out, const options& opts,
                                                                   int& code) {
  tcp::resolver resolver(co_await asio::this_coro::executor);
  std::error_code ec;
  const std::string service = std::to_string(opts.port);
  // numeric_service: the port is already a number (service names were looked up in our own
  // table by main). No address_configured: loopback must resolve on a host without a network.
  const auto flags = tcp::resolver::numeric_service;
  tcp::resolver::results_type results;
  if (opts.only == family::any) {
    results = co_await resolver.async_resolve(opts.host, service, flags,
                                              asio::redirect_error(asio::use_awaitable, ec));
  } else {
    results = co_await resolver.async_resolve(opts.only == family::v4 ? tcp::v4() : tcp::v6(), opts.host,
                                              service, flags,
                                              asio::redirect_error(asio::use_awaitable, ec));
  }
  if (ec) {
    failure f = make_failure(step::resolve, ec);
    f.host = opts.host;
    if (opts.only != family::any) f.only_family = opts.only == family::v4 ? "IPv4" : "IPv6";
    out.emit(resolve_failed_event{f, explain(f, out.facts())});
    code = exit_code_for(f.error);
    co_return std::nullopt;
  }
  std::vector<tcp::endpoint> endpoints;
  resolved_event resolved{opts.host, opts.port, {}, opts.udp || opts.http3, opts.http3};
  for (const auto& entry : results) {
    tcp::endpoint ep = entry.endpoint();
    if (std::find(endpoints.begin(), endpoints.end(), ep) != endpoints.end()) continue;
    endpoints.push_back(ep);
    resolved.addresses.push_back(to_endpoint(ep).address);
  }
  out.emit(resolved);
  co_return endpoints;
}

// The event for a connection (or UDP exchange) whose four facts the kernel just gave us.
connected_event new_event(const reporter& out, const options& opts, std::uint64_t id, socket_tuple tuple,
                          std::string proto) {
  connected_event ev;
  ev.id = id;
  ev.proto = std::move(proto);
  ev.pinned = opts.source_port != 0;
  ev.tuple = std::move(tuple);
  if (out.facts().ephemeral) ev.in_ephemeral_range = out.facts().ephemeral->contains(ev.tuple.local.port);
  return ev;
}

// Reports a made connection (each one only up to max_connections_shown on screen) and keeps it.
void succeed(reporter& out, const options& opts, attempt& result, connected_event ev) {
  if (opts.count <= max_connections_shown || out.format() == output_format::json) out.emit(ev);
  result.exit_code = exit_code::ok;
  result.connected = std::move(ev);
}

// Asks the server for its view of this connection: says hello, reads one line.
asio::awaitable<void> ask_server(tcp::socket& socket, const options& opts, connected_event& ev) {
  std::error_code ec;
  const auto deadline = clock::now() + std::min<std::chrono::milliseconds>(opts.timeout, report_wait);
  // The hello and this end's own view, in one write: a server from before the view reads both
  // at once and answers the hello.
  // With --proxy-protocol, a PROXY header before all of it, naming this end as the client.
  std::string hello = opts.proxy_protocol == 2   ? encode_proxy_v2(ev.tuple)
                      : opts.proxy_protocol == 1 ? encode_proxy_v1(ev.tuple)
                                                 : std::string();
  hello += opts.hold.count() > 0 ? client_hello_hold : client_hello;
  hello += render_client_view(ev.tuple);
  co_await write_until(socket, asio::buffer(hello), deadline, ec);
  std::array<char, 4096> buffer{};
  std::size_t received = 0;
  while (!ec && received < buffer.size()) {
    received += co_await read_some_until(
        socket, asio::buffer(buffer.data() + received, buffer.size() - received), deadline, ec);
    if (std::string_view(buffer.data(), received).find('\n') != std::string_view::npos) break;
  }
  std::string_view got(buffer.data(), received);
  auto newline = got.find('\n');
  if (newline != std::string_view::npos) {
    if (auto view = parse_server_view(got.substr(0, newline))) {
      ev.server_view = view->tuple;
      ev.server_id = view->id;
      ev.server_told = view->proxy;
      if (keep_open(opts)) co_return;
      // Let the server close first (it already sent its FIN, or is about to): the TIME_WAIT
      // then stays on the server's side, and this port is free again at once (--source-port).
      std::array<char, 256> rest{};
      const auto eof_deadline = clock::now() + 1s;
      while (!ec) co_await read_some_until(socket, asio::buffer(rest), eof_deadline, ec);
      co_return;
    }
  }
  if (!got.empty()) {
    ev.server_view_problem = fmt::format("the server answered, but not as demo-server does: \"{}\"",
                                         printable(got, 60));
  } else if (ec == asio::error::timed_out) {
    ev.server_view_problem = fmt::format(
        "no report within {:.3g} s: whatever listens there is not a demo-server",
        std::chrono::duration<double>(std::min<std::chrono::milliseconds>(opts.timeout, report_wait)).count());
  } else if (ec == asio::error::eof) {
    ev.server_view_problem = "the server closed the connection without a report";
  } else {
    ev.server_view_problem = fmt::format("reading the report failed: {} ({})", ec.message(), error_name(ec));
  }
}

// One connection: try each address in turn until one accepts.
asio::awaitable<attempt> connect_once(reporter& out, const options& opts,
                                      const std::vector<tcp::endpoint>& endpoints, std::uint64_t id) {
  attempt result;
  for (const auto& peer : endpoints) {
    tcp::socket socket(co_await asio::this_coro::executor);
    std::error_code ec;
    if (opts.source_port != 0) {
      if (auto f = bind_source_port(socket, peer, opts.source_port)) {
        out.emit(connect_failed_event{*f, explain(*f, out.facts())});
        result.exit_code = exit_code_for(f->error);
        result.failures.push_back(std::move(*f));
        continue;
      }
    }
    co_await connect_until(socket, peer, clock::now() + opts.timeout, ec);
    // The four facts, from the kernel: getsockname and getpeername on the connected socket.
    tcp::endpoint local;
    tcp::endpoint remote;
    if (!ec) local = socket.local_endpoint(ec);
    if (!ec) remote = socket.remote_endpoint(ec);
    if (ec) {
      failure f = make_failure(step::connect, ec, to_endpoint(peer));
      f.timeout = opts.timeout;
      // The port this attempt used: chosen for it, and lost with it (the kernel's own record).
      std::error_code unknown;
      const tcp::endpoint attempted = socket.local_endpoint(unknown);
      if (!unknown && attempted.port() != 0) {
        f.local = to_endpoint(attempted);
        f.local_pinned = opts.source_port != 0;
      }
      out.emit(connect_failed_event{f, explain(f, out.facts())});
      result.exit_code = exit_code_for(f.error);
      result.failures.push_back(std::move(f));
      continue;
    }
    connected_event ev = new_event(out, opts, id, {to_endpoint(local), to_endpoint(remote)}, "tcp");
    http2_outcome h2;
    if (opts.http2) h2 = co_await ask_over_http2(socket, opts, ev);
    else co_await ask_server(socket, opts, ev);
    if (keep_open(opts)) result.socket.emplace(std::move(socket));
    else socket.close(ec);
    succeed(out, opts, result, std::move(ev));
    const bool shown = opts.count <= max_connections_shown || out.format() == output_format::json;
    if (h2.exchanged && shown) out.emit(std::move(*h2.exchanged));
    // --tls: the TCP connection stood (its tuple is shown) and TLS did not carry HTTP/2 on it.
    if (h2.failed) {
      result.exit_code = h2.failed->exit_code;
      if (shown) out.emit(std::move(*h2.failed));
    }
    co_return result;
  }
  co_return result;
}


// A progress bar on stderr for runs of many connections on a terminal: "[#####.....] 512/1000".
// Redrawn at most every 100 ms; nothing at all when off (JSON, or not a terminal).
class progress_bar {
 public:
  progress_bar(bool on, std::uint64_t total) : on_(on && total > max_connections_shown), total_(total) {}

  void update(std::uint64_t done) {
    if (!on_) return;
    auto now = clock::now();
    if (done < total_ && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    constexpr std::uint64_t width = 40;
    std::uint64_t filled = done * width / total_;
    std::fprintf(stderr, "\r  connecting [%s%s] %llu/%llu", std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), static_cast<unsigned long long>(done),
                 static_cast<unsigned long long>(total_));
    std::fflush(stderr);
    drawn_ = true;
  }

  void clear() {
    if (!drawn_) return;
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    drawn_ = false;
  }

 private:
  bool on_;
  bool drawn_ = false;
  std::uint64_t total_;
  clock::time_point last_{};
};

// Reports one failed UDP exchange and records it for gave_up.
void udp_failure(reporter& out, const options& opts, attempt& result, step where, const std::error_code& ec,
                 const asio::ip::udp::endpoint& peer) {
  failure f = make_failure(where, ec, to_endpoint(peer));
  f.proto = "udp";
  f.timeout = opts.timeout;
  out.emit(connect_failed_event{f, explain(f, out.facts())});
  result.exit_code = exit_code_for(f.error);
  result.failures.push_back(std::move(f));
}

// UDP: a new socket per exchange, "connected" only in the sense that connect() fixes its default
// peer (no packet is sent); the kernel picks the ephemeral port at that moment.
asio::awaitable<attempt> exchange_once(reporter& out, const options& opts,
                                       const std::vector<tcp::endpoint>& endpoints, std::uint64_t id) {
  using asio::ip::udp;
  attempt result;
  for (const auto& resolved : endpoints) {
    const udp::endpoint peer(resolved.address(), resolved.port());
    udp::socket socket(co_await asio::this_coro::executor);
    std::error_code ec;
    socket.open(peer.protocol(), ec);
    if (!ec && opts.source_port != 0) {
      socket.bind(udp::endpoint(peer.address().is_v6() ? asio::ip::address(asio::ip::address_v6::any())
                                                       : asio::ip::address(asio::ip::address_v4::any()),
                                opts.source_port),
                  ec);
      if (ec) {
        udp_failure(out, opts, result, step::bind, ec, peer);
        continue;
      }
    }
    if (!ec) socket.connect(peer, ec);
    if (ec) {
      udp_failure(out, opts, result, step::connect, ec, peer);
      continue;
    }
    // The four facts, from the kernel: getsockname after connect() fixed the peer.
    udp::endpoint local = socket.local_endpoint(ec);
    connected_event ev = new_event(out, opts, id, {to_endpoint(local), to_endpoint(peer)}, "udp");
    // The hello and this end's own view in one datagram. A server from before the view answers
    // that with its text report: then once more with the hello alone.
    const std::string hello = std::string(client_hello) + render_client_view(ev.tuple);
    std::array<char, 2048> buffer{};
    std::string_view got;
    std::optional<server_view> view;
    bool failed = false;
    for (std::string_view message : {std::string_view(hello), client_hello}) {
      socket.send(asio::buffer(message), 0, ec);
      if (ec) {
        udp_failure(out, opts, result, step::write, ec, peer);
        failed = true;
        break;
      }
      std::size_t n = co_await receive_until(socket, asio::buffer(buffer), clock::now() + opts.timeout, ec);
      if (ec) {
        udp_failure(out, opts, result, step::read, ec, peer);  // ECONNREFUSED: ICMP; ETIMEDOUT: silence
        failed = true;
        break;
      }
      got = std::string_view(buffer.data(), n);
      view = parse_server_view(got.substr(0, got.find('\n')));
      if (view || got.substr(0, 10) != "portdemo: ") break;  // not a demo-server's text report either
    }
    if (failed) continue;
    if (view) {
      ev.server_view = view->tuple;
      ev.server_id = view->id;
    } else {
      ev.server_view_problem = fmt::format("the server answered, but not as demo-server does: \"{}\"",
                                           printable(got, 60));
    }
    succeed(out, opts, result, std::move(ev));
    co_return result;
  }
  co_return result;
}

// What the workers share while N connections are made, C at a time.
struct run_state {
  reporter& out;
  const options& opts;
  const std::vector<tcp::endpoint>& endpoints;
  std::uint64_t next_id = 1;
  bool stopped = false;
  int code = exit_code::ok;
  std::vector<connected_event> made;
  std::vector<tcp::socket> held;
  progress_bar bar;
};

// One of C workers: takes the next connection number until all are made or one fails.
asio::awaitable<void> worker(run_state& s) {
  while (!s.stopped && s.next_id <= s.opts.count) {
    std::uint64_t id = s.next_id++;
    // Not `cond ? co_await x : co_await y`: GCC 12 mishandles the temporaries of co_await
    // inside a conditional expression (the result pointed into a destroyed frame).
    attempt a;
    if (s.opts.udp) a = co_await exchange_once(s.out, s.opts, s.endpoints, id);
    else a = co_await connect_once(s.out, s.opts, s.endpoints, id);
    if (!a.connected) {
      if (!s.stopped) {
        s.stopped = true;
        s.code = a.exit_code;
        s.bar.clear();
        s.out.emit(gave_up_event{s.opts.host, s.opts.port, std::move(a.failures), s.code});
      }
      co_return;
    }
    s.made.push_back(std::move(*a.connected));
    if (a.socket) s.held.push_back(std::move(*a.socket));
    s.bar.update(s.made.size());
    // Connected, but what was to ride on it failed (--http2 --tls: a certificate, no h2): the
    // next connection would meet the same server, so the run stops with that failure's code.
    if (a.exit_code != exit_code::ok) {
      if (s.code == exit_code::ok) s.code = a.exit_code;
      s.stopped = true;
      co_return;
    }
  }
}

// --verify: each held socket's tuple, as printed, against the kernel's table (by the socket's
// inode, so it is this very socket, not one that happens to look the same).
verified_event verify(const std::vector<tcp::socket>& held, const std::vector<connected_event>& made) {
  std::unordered_map<std::uint64_t, socket_entry> by_inode;
  for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    for (auto& e : parse_proc_net_tcp(read_text_file(path).value_or(""))) by_inode.emplace(e.inode, e);
  }
  verified_event v;
  for (std::size_t i = 0; i < held.size() && i < made.size(); ++i) {
    ++v.checked;
    struct stat st {};
    std::optional<socket_tuple> kernel;
    if (::fstat(const_cast<tcp::socket&>(held[i]).native_handle(), &st) == 0) {
      if (auto it = by_inode.find(st.st_ino); it != by_inode.end()) kernel = socket_tuple{it->second.local, it->second.remote};
    }
    if (kernel && *kernel == made[i].tuple) ++v.matched;
    else v.mismatches.push_back({made[i].id, made[i].tuple, kernel});
  }
  return v;
}

}  // namespace

std::optional<std::string> make_room(const options& opts, const host_facts& facts) {
  // Held connections are open descriptors all at once, and each needs its own ephemeral port.
  // (--http3 holds one connection, whatever --count: its requests share it.)
  if ((opts.hold.count() == 0 && !opts.verify) || opts.http3) return std::nullopt;
  if (auto problem = held_ports_problem(opts.count, facts.ephemeral, opts.source_port)) return problem;
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0) return std::nullopt;
  const rlim_t needed = static_cast<rlim_t>(opts.count + client_descriptor_reserve);
  if (files.rlim_cur >= needed) return std::nullopt;
  if (auto problem = held_descriptors_problem(opts.count, static_cast<std::uint64_t>(files.rlim_max))) return problem;
  files.rlim_cur = needed;
  ::setrlimit(RLIMIT_NOFILE, &files);
  return std::nullopt;
}

asio::awaitable<int> run(reporter& out, options opts) {
  out.emit(host_facts_event{role::client, out.facts()});
  int code = exit_code::ok;
  auto endpoints = co_await resolve(out, opts, code);
  if (!endpoints) co_return code;
  if (opts.http3) {
    code = co_await run_http3(out, opts, *endpoints);
    co_return code;
  }

  auto ex = co_await asio::this_coro::executor;
  run_state s{out, opts, *endpoints, 1, false, exit_code::ok, {}, {}, progress_bar(opts.progress, opts.count)};
  // C workers at once; the run waits on a timer that the last worker to finish cancels.
  asio::steady_timer all_done(ex, clock::time_point::max());
  std::uint64_t running = std::min(opts.parallel, opts.count);
  const std::uint64_t workers = running;
  for (std::uint64_t i = 0; i < workers; ++i) {
    asio::co_spawn(ex, worker(s), [&](std::exception_ptr e) {
      if (--running == 0) all_done.cancel();
      if (e) std::rethrow_exception(e);
    });
  }
  std::error_code ec;
  if (running > 0) co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  s.bar.clear();
  // Completion order is not connection order when C > 1: sort both by connection number.
  std::vector<std::size_t> order(s.made.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return s.made[a].id < s.made[b].id; });

  if (opts.hold.count() > 0 && !s.held.empty()) {
    out.emit(remark_event{holding_connections{s.held.size(), std::chrono::duration<double>(opts.hold).count(),
                                              opts.port}});
    asio::steady_timer hold(ex, opts.hold);
    co_await hold.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (opts.verify && !s.held.empty()) {
    verified_event v = verify(s.held, s.made);
    if (!v.mismatches.empty() && s.code == exit_code::ok) s.code = exit_code::software;
    out.emit(v);
  }
  for (auto& socket : s.held) socket.close(ec);

  client_summary_event summary;
  summary.pinned = opts.source_port != 0;
  summary.parallel = workers;
  summary.udp = opts.udp;
  summary.attempted = std::min<std::uint64_t>(s.next_id - 1, opts.count);
  summary.ephemeral = out.facts().ephemeral;
  std::vector<bool> seen(65536, false);
  for (std::size_t i : order) {
    const connected_event& ev = s.made[i];
    ++summary.connected;
    if (std::find(summary.servers.begin(), summary.servers.end(), ev.tuple.remote) == summary.servers.end())
      summary.servers.push_back(ev.tuple.remote);
    summary.client_ports.push_back(ev.tuple.local.port);
    if (!seen[ev.tuple.local.port]) {
      seen[ev.tuple.local.port] = true;
      ++summary.distinct_client_ports;
    }
    if (ev.in_ephemeral_range.value_or(false)) ++summary.in_ephemeral_range;
    if (ev.server_view && is_mirror(ev.tuple, *ev.server_view)) ++summary.mirrored;
  }
  if (opts.count > 1) out.emit(summary);
  co_return s.code;
}

}  // namespace portdemo::client
