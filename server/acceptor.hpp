#pragma once
// Accepting: the accept loop of one listening socket (every client queued taken in a bounded
// batch, accept errors paused and reported once per episode), admission (the four facts, the
// cap), and turning away over --max-connections. An admitted connection is read once at once
// when that has been paying, and handed to the first-bytes decision.

#include <cstdint>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "listeners.hpp"
#include "portdemo/address_memory.hpp"

namespace portdemo::server {

struct server_context;

/// Answers a connection over --max-connections with the one "busy" line and closes it.
void turn_away(asio::ip::tcp::socket& socket, std::uint64_t open, std::uint64_t max);

/// Accepts on every listening socket; one per server.
class acceptor {
 public:
  explicit acceptor(server_context& ctx) : ctx_(ctx) {}
  acceptor(const acceptor&) = delete;
  acceptor& operator=(const acceptor&) = delete;

  /// Accepts on `l` until it is closed.
  asio::awaitable<void> accept_loop(tcp_listener& l);

 private:
  /// Admits an accepted connection (a non-blocking descriptor and the client's address, as
  /// accept4 gave them): counted and served, or turned away over the cap.
  void admit(tcp_listener& l, int fd, const sockaddr_storage& peer, socklen_t peer_size);

  server_context& ctx_;
  /// The last client port of each client address: the web page tells a reload on a new
  /// connection (a new port) from one on a kept-alive connection (the same port).
  address_memory<std::uint16_t> last_port_;
  /// How often, lately, a new connection's first bytes were there when it was accepted, out of
  /// 256 (a moving average over about the last 16 that tried): whether reading before the first
  /// wait pays.
  std::uint32_t first_read_hits_ = 256;
};

}  // namespace portdemo::server
