#include "listener.hpp"

#include <asio/ip/v6_only.hpp>

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

}  // namespace portdemo::server
