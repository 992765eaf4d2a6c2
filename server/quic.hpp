#pragma once
// HTTP/3 on UDP (--quic): one UDP socket per address and port beside each TCP listener of a TLS
// port that --quic names, bound to the same address and number; each datagram read with the
// server's own address that received it (IP_PKTINFO, IPV6_PKTINFO: a wildcard socket would
// otherwise not know it) and handed to the sans-IO core (quic_core.hpp) with the time; what the
// core sends goes out from that same address; one timer per connection. Requests are answered
// with the same pages as HTTP/1.1 (web.hpp) and logged like them.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>

#include "certificate.hpp"
#include "listeners.hpp"
#include "quic_core.hpp"

namespace portdemo::server {

struct server_context;

/// The server's HTTP/3 side: its UDP sockets, its connections, their timers.
class quic_service {
 public:
  quic_service(asio::io_context& io, server_context& ctx);
  ~quic_service();
  quic_service(const quic_service&) = delete;
  quic_service& operator=(const quic_service&) = delete;

  /// What binding came to.
  struct bound {
    int listening = 0;
    int failed = 0;
    int first_failure_code = 0;  ///< the exit code of the first failure
  };

  /// Binds a UDP socket on the address and port of each TCP listener in `tls` (the TLS ports
  /// --quic names), step by step as for --udp, and reports each (listening, or bind_failed).
  /// `requested`: the port as asked for each (0: the kernel chose the TCP port's number).
  bound open(const std::vector<const tcp_listener*>& tls, const std::function<std::uint16_t(std::uint16_t)>& requested);

  /// Sets up QUIC's TLS with the same certificate and key as the TCP ports; empty, or why not.
  std::string use_certificate(const certificate_info& cert);

  /// Starts reading every socket.
  void start();
  /// The server is stopping: GOAWAY, and each connection closes once its requests are answered.
  void stop();
  /// The grace is over: every connection still open is closed now; returns how many.
  std::uint64_t cut();
  /// Closes the sockets (after the last connection).
  void close();

  /// Connections open (handshaking or serving).
  std::size_t open_connections() const noexcept { return core_ ? core_->open() : 0; }
  /// The distinct port numbers with a socket bound, in order.
  const std::vector<std::uint16_t>& ports() const noexcept { return ports_; }
  /// Each socket's bound address and port (getsockname).
  std::vector<endpoint> locals() const;
  /// Called after a connection closes (the server's shutdown waits for the last).
  void on_closed(std::function<void()> f) { closed_ = std::move(f); }

 private:
  struct socket_state {
    asio::ip::udp::socket socket;
    udp_address bound;  ///< getsockname: the port, and the address unless a wildcard
  };

  void wait_read(std::size_t index);
  void read(std::size_t index);
  void send(const quic_path& path, std::span<const std::uint8_t> bytes);
  void set_timer(std::uint64_t id, std::optional<quic_time> at);
  http_response respond(const quic_request& request);
  std::optional<quic_answer> follow(const quic_request& request);
  struct board_feed;
  void arm_wake(const std::shared_ptr<board_feed>& f);
  void feed(const std::shared_ptr<board_feed>& f);
  void report(quic_event e);
  static quic_time now();

  asio::io_context& io_;
  server_context& ctx_;
  std::vector<std::unique_ptr<socket_state>> sockets_;
  std::vector<std::uint16_t> ports_;
  std::unique_ptr<quic_core> core_;
  std::unordered_map<std::uint64_t, std::unique_ptr<asio::steady_timer>> timers_;
  std::function<void()> closed_;
  /// GET /events streams over HTTP/3, by connection and stream.
  std::map<std::pair<std::uint64_t, std::int64_t>, std::shared_ptr<board_feed>> feeds_;
  std::uint64_t send_failures_ = 0;
  std::unordered_set<std::uint64_t> connected_;  ///< connections between quic_connected and quic_closed
};

}  // namespace portdemo::server
