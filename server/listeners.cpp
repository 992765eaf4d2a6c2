#include "listeners.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <asio/ip/v6_only.hpp>
#include <fmt/format.h>

#include "event_sink.hpp"
#include "portdemo/activation.hpp"
#include "portdemo/asio_adapter.hpp"
#include "portdemo/services.hpp"

namespace portdemo::server {


std::variant<asio::ip::tcp::acceptor, failure> open_listener(asio::io_context& io,
                                                             const asio::ip::tcp::endpoint& where) {
  asio::ip::tcp::acceptor acceptor(io);
  std::error_code ec;
  const endpoint ep = to_endpoint(where);

  acceptor.open(where.protocol(), ec);
  if (ec) return make_failure(step::open, ec, ep);

  // An IPv6 socket that also took IPv4 would show IPv4 clients as ::ffff:a.b.c.d, which is not
  // the four facts the IPv4 client sees. IPv4 has its own socket.
  if (where.address().is_v6()) {
    acceptor.set_option(asio::ip::v6_only(true), ec);
    if (ec) return make_failure(step::set_option, ec, ep);
  }
  // Lets a restarted server bind a port whose old connections linger in TIME_WAIT; it does not
  // let two live listeners share a port (that would be SO_REUSEPORT, which we never set).
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return make_failure(step::set_option, ec, ep);

  acceptor.bind(where, ec);
  if (ec) return with_context(make_failure(step::bind, ec, ep));

  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return make_failure(step::listen, ec, ep);

  return acceptor;
}

std::variant<asio::ip::udp::socket, failure> open_datagram(asio::io_context& io,
                                                           const asio::ip::udp::endpoint& where) {
  asio::ip::udp::socket socket(io);
  std::error_code ec;
  endpoint ep{where.address().to_string(), where.port()};
  auto fail = [&](step s) {
    failure f = make_failure(s, ec, ep);
    f.proto = "udp";
    return s == step::bind ? with_context(std::move(f)) : f;
  };
  socket.open(where.protocol(), ec);
  if (ec) return fail(step::open);
  if (where.address().is_v6()) {
    socket.set_option(asio::ip::v6_only(true), ec);
    if (ec) return fail(step::set_option);
  }
  socket.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail(step::set_option);
  socket.bind(where, ec);
  if (ec) return fail(step::bind);
  return socket;
}

passed_socket adopt_socket(asio::io_context& io, int fd) {
  passed_socket out;
  int domain = 0;
  int type = 0;
  int listening = 0;
  socklen_t len = sizeof(int);
  if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) {
    out.problem = fmt::format("descriptor {} is not a socket ({})", fd, std::strerror(errno));
    return out;
  }
  len = sizeof(int);
  ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
  len = sizeof(int);
  ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
  if (domain != AF_INET && domain != AF_INET6) {
    out.problem = fmt::format("descriptor {} is not an IPv4 or IPv6 socket (family {}); ignored", fd, domain);
    return out;
  }
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);  // not for anything this process might start
  std::error_code ec;
  if (type == SOCK_STREAM) {
    if (!listening && ::listen(fd, SOMAXCONN) != 0) {
      out.problem = fmt::format("descriptor {} is a TCP socket that cannot listen ({})", fd, std::strerror(errno));
      return out;
    }
    asio::ip::tcp::acceptor acceptor(io);
    acceptor.assign(domain == AF_INET ? asio::ip::tcp::v4() : asio::ip::tcp::v6(), fd, ec);
    if (ec) {
      out.problem = fmt::format("descriptor {}: {}", fd, ec.message());
      return out;
    }
    out.tcp.emplace(std::move(acceptor));
  } else if (type == SOCK_DGRAM) {
    asio::ip::udp::socket socket(io);
    socket.assign(domain == AF_INET ? asio::ip::udp::v4() : asio::ip::udp::v6(), fd, ec);
    if (ec) {
      out.problem = fmt::format("descriptor {}: {}", fd, ec.message());
      return out;
    }
    out.udp.emplace(std::move(socket));
  } else {
    out.problem = fmt::format("descriptor {} is neither TCP nor UDP (type {}); ignored", fd, type);
  }
  return out;
}

bool listener_set::beyond_loopback() const {
  return std::any_of(tcp.begin(), tcp.end(), [](const auto& l) {
    std::error_code ec;
    return !l->acceptor.local_endpoint(ec).address().is_loopback();
  });
}

void listener_set::close() {
  std::error_code ignored;
  for (auto& l : tcp) l->acceptor.close(ignored);
  for (auto& u : udp) u->close(ignored);
}

namespace {

void add_once(std::vector<std::uint16_t>& ports, std::uint16_t port) {
  if (std::find(ports.begin(), ports.end(), port) == ports.end()) ports.push_back(port);
}

// The one bookkeeping of a socket that listens, bound here or passed by the parent: its ports
// in the set, and its listening event. `allowed`: why a privileged port was open to us.
listening_event add_tcp(listener_set& set, asio::ip::tcp::acceptor acceptor, std::uint16_t asked, bool tls,
                        bool proxy, std::optional<std::string> allowed, bool inherited) {
  std::error_code ec;
  const endpoint local = to_endpoint(acceptor.local_endpoint(ec));
  if (std::find(set.tcp_ports.begin(), set.tcp_ports.end(), local.port) == set.tcp_ports.end()) {
    set.tcp_ports.push_back(local.port);
    if (tls) set.tls_ports.push_back(local.port);
    if (proxy) set.proxy_ports.push_back(local.port);
  }
  set.tcp.push_back(std::make_unique<tcp_listener>(tcp_listener{std::move(acceptor), local, tls, proxy}));
  ++set.listening;
  return listening_event{local, asked, describe_port(local.port), std::move(allowed), tls, "tcp", inherited};
}

listening_event add_udp(listener_set& set, asio::ip::udp::socket socket, std::uint16_t asked,
                        std::optional<std::string> allowed, bool inherited) {
  std::error_code ec;
  const endpoint local = to_endpoint(socket.local_endpoint(ec));
  add_once(set.udp_ports, local.port);
  set.udp.push_back(std::make_unique<asio::ip::udp::socket>(std::move(socket)));
  ++set.listening;
  return listening_event{local, asked, describe_port(local.port), std::move(allowed), false, "udp", inherited};
}

// Sockets passed by a service manager replace --ports and --bind; false when there are none.
bool adopt_passed(asio::io_context& io, event_sink& events, const host_facts& facts, const listen_plan& plan,
                  listener_set& set) {
  passed_sockets passed = parse_listen_fds(std::getenv("LISTEN_PID"), std::getenv("LISTEN_FDS"),
                                           std::getenv("LISTEN_FDNAMES"), static_cast<long>(::getpid()));
  // The sockets are this process's, not its children's (sd_listen_fds with unset_environment).
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (!passed.problem.empty()) events.emit(note_event{"listen_fds_ignored", passed.problem});
  if (passed.count == 0) return false;
  events.emit(remark_event{socket_activation{passed.count}});
  // Why a privileged port is open to us: the parent bound it.
  const auto allowed = [&](std::uint16_t port) -> std::optional<std::string> {
    if (port >= 1024 || port == 0) return std::nullopt;
    return is_privileged(facts, port).value_or(true) ? "parent" : "cutoff";
  };
  for (int i = 0; i < passed.count; ++i) {
    passed_socket p = adopt_socket(io, listen_fds_start + i);
    if (!p.problem.empty()) {
      ++set.failed;
      events.emit(note_event{"passed_socket_ignored", p.problem});
      continue;
    }
    std::error_code ec;
    if (p.tcp) {
      const std::uint16_t port = p.tcp->local_endpoint(ec).port();
      events.emit(add_tcp(set, std::move(*p.tcp), port, plan.tls(port, port), plan.proxy && plan.proxy(port, port),
                          allowed(port), true));
    } else {
      const std::uint16_t port = p.udp->local_endpoint(ec).port();
      events.emit(add_udp(set, std::move(*p.udp), port, allowed(port), true));
    }
  }
  return true;
}

// Binds every port on every address with `open` (which returns the listening event or the
// failure), reporting each; port 0 is chosen once and reused on the other addresses, so that
// one number reaches the server on both families.
template <typename Open>
void bind_all(event_sink& events, const host_facts& facts, const listen_plan& plan,
              const std::vector<std::uint16_t>& ports, listener_set& set, bool& v6_missing, Open open) {
  for (std::uint16_t port : ports) {
    std::uint16_t chosen = 0;
    for (const auto& address : plan.addresses) {
      if (plan.defaults && address.is_v6() && v6_missing) continue;
      std::uint16_t try_port = port == 0 ? chosen : port;
      auto result = open(address, port, try_port);
      if (port == 0 && try_port != 0 && std::holds_alternative<failure>(result) &&
          std::get<failure>(result).error == "EADDRINUSE") {
        result = open(address, port, 0);
      }
      if (auto* f = std::get_if<failure>(&result)) {
        if (plan.defaults && address.is_v6() && (f->error == "EADDRNOTAVAIL" || f->error == "EAFNOSUPPORT")) {
          v6_missing = true;
          events.emit(remark_event{ipv6_unavailable{f->error}});
          continue;
        }
        ++set.failed;
        if (set.first_failure_code == 0) set.first_failure_code = exit_code_for(f->error);
        events.emit(bind_failed_event{*f, explain(*f, facts)});
        continue;
      }
      auto& ev = std::get<listening_event>(result);
      if (chosen == 0) chosen = ev.local.port;
      events.emit(std::move(ev));
    }
  }
}

}  // namespace

listener_set open_listeners(asio::io_context& io, event_sink& events, const host_facts& facts,
                            const listen_plan& plan) {
  listener_set set;
  set.adopted = adopt_passed(io, events, facts, plan, set);
  if (set.adopted) return set;
  bool v6_missing = false;
  // TCP: a listening socket per (port, address).
  bind_all(events, facts, plan, plan.ports, set, v6_missing,
           [&](const asio::ip::address& address, std::uint16_t asked,
               std::uint16_t port) -> std::variant<listening_event, failure> {
             auto result = open_listener(io, asio::ip::tcp::endpoint(address, port));
             if (auto* f = std::get_if<failure>(&result)) return *f;
             auto& acceptor = std::get<asio::ip::tcp::acceptor>(result);
             std::error_code ec;
             const std::uint16_t bound = acceptor.local_endpoint(ec).port();
             return add_tcp(set, std::move(acceptor), asked, plan.tls(asked, bound),
                            plan.proxy && plan.proxy(asked, bound), bind_allowed_because(facts, bound), false);
           });
  // UDP: a bound datagram socket per (port, address).
  bind_all(events, facts, plan, plan.udp_ports, set, v6_missing,
           [&](const asio::ip::address& address, std::uint16_t asked,
               std::uint16_t port) -> std::variant<listening_event, failure> {
             auto result = open_datagram(io, asio::ip::udp::endpoint(address, port));
             if (auto* f = std::get_if<failure>(&result)) return *f;
             auto& socket = std::get<asio::ip::udp::socket>(result);
             std::error_code ec;
             const std::uint16_t bound = socket.local_endpoint(ec).port();
             return add_udp(set, std::move(socket), asked, bind_allowed_because(facts, bound), false);
           });
  return set;
}

}  // namespace portdemo::server
