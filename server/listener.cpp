#include "listener.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <asio/ip/v6_only.hpp>
#include <fmt/format.h>

#include "portdemo/asio_adapter.hpp"

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

}  // namespace portdemo::server
