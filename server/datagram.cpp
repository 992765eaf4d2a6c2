#include "datagram.hpp"

#include <array>
#include <string>

#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include "context.hpp"
#include "portdemo/asio_adapter.hpp"
#include "portdemo/render.hpp"

namespace portdemo::server {

asio::awaitable<void> datagram_loop(asio::ip::udp::socket& socket, server_context& ctx) {
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
    const std::uint64_t id = ctx.next_id++;
    std::optional<bool> in_range;
    if (ctx.host.ephemeral) in_range = ctx.host.ephemeral->contains(tuple.remote.port);
    ctx.events.emit(datagram_event{id, tuple, n, in_range});
    std::string_view got(buffer.data(), n);
    line_answer answer = answer_line(split_raw_message(got), server_view{id, tuple, "udp", std::nullopt}, ctx.host, n, got);
    ctx.events.emit(std::move(answer.event));
    // A datagram needs no waiting: it goes out whole, or the kernel drops it.
    socket.send_to(asio::buffer(answer.bytes), sender, 0, ec);
  }
}

}  // namespace portdemo::server
