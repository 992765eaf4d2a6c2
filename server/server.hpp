#pragma once
// demo-server: listens on every (address, port) asked for, and tells every client the four
// facts of its connection as this end sees them. This file puts the pieces together: start-up
// (TLS, the connection cap, the listeners, bind-then-drop, the board), the accept and datagram
// loops, the shutdown and the summary. A connection's steps live in the files the README's
// Architecture section names.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include "acceptor.hpp"
#include "board_hub.hpp"
#include "certificate.hpp"
#include "context.hpp"
#include "event_sink.hpp"
#include "first_bytes.hpp"
#include "listeners.hpp"
#include "portdemo/reporter.hpp"
#include "quic.hpp"

namespace portdemo::server {

/// What main() collected from the command line.
struct options {
  std::vector<std::uint16_t> ports;          ///< 0 = let the kernel choose
  std::vector<std::string> bind_addresses;   ///< empty: the loopback addresses 127.0.0.1 and ::1
  bool strict = false;                       ///< any failed listener is fatal
  std::vector<std::uint16_t> udp_ports;      ///< --udp: UDP ports, beside (or instead of) TCP
  std::vector<std::uint16_t> tls_ports;      ///< --tls: ports (as asked) that speak HTTPS; 0 = every port asked as 0
  std::vector<std::uint16_t> proxy_ports;    ///< --proxy-protocol: ports (as asked) that take a PROXY header first
  bool quic = false;                         ///< --quic: HTTP/3 over UDP beside TLS ports
  std::vector<std::uint16_t> quic_ports;     ///< --quic PORTS (as asked; 0 = every TLS port asked as 0); empty: every TLS port
  std::string cert_file;                     ///< --cert, with --key: use these instead of generating
  std::string key_file;
  std::string save_cert;                     ///< --save-cert: write the certificate (PEM) here
  server_limits limits;                      ///< --max-connections, the timeouts, the size limits
  bool quiet = false;                        ///< --quiet: no line per connection
  std::string user;                          ///< --user: switch to this user after binding
  bool mask_addresses = false;               ///< --mask-addresses: client addresses partly hidden
  std::size_t max_board_subscribers = 64;    ///< --max-board-subscribers: GET /events at once
};

/// Whether a port speaks HTTPS: 443 and 8443 always, and those named with --tls.
bool is_tls_port(const options& opts, std::uint16_t asked, std::uint16_t bound);

/// The server: listeners, accept loops, connections, and the closing summary.
class server {
 public:
  /// `facts`: this host's, read once at start-up (the reporter has the same).
  server(asio::io_context& io, reporter& out, const host_facts& facts, options opts);
  ~server();

  /// Sets up every listener and reports each; returns the exit code to end with now, or -1 to
  /// go on serving.
  int start();

  /// Stops accepting at once; answers in flight get the shutdown grace, idle connections are
  /// closed; then the summary, and run() returns. `signal` names the cause ("SIGTERM").
  void stop(const std::string& signal = "SIGTERM");

  /// Connections open right now (for tests): TCP and QUIC.
  std::uint64_t open() const noexcept { return ctx_.table.open() + (quic_ ? quic_->open_connections() : 0); }

 private:
  /// Sets up the classroom board for the sockets now listening, and reports how to join when
  /// they reach beyond loopback.
  void setup_board();
  /// Sets up TLS and reports the certificate; false if --cert/--key could not be used.
  bool setup_tls();
  /// Sets the connection cap from --max-connections and the open-file limit.
  void cap_connections();
  /// --quic: binds the UDP sockets beside the chosen TLS listeners and reports each; false when
  /// QUIC's TLS cannot use the certificate.
  bool setup_quic(int& listening, int& failed, int& first_failure_code);
  /// A connection closed: the last one during a shutdown ends the server.
  void connection_closed();
  /// Prints the summary and stops the event loop.
  void finish();
  void wait_for_signal();

  asio::io_context& io_;
  reporter& out_;
  host_facts host_;
  options opts_;
  event_sink events_;
  server_context ctx_;
  waiting_room room_;
  acceptor acceptor_;
  listener_set listeners_;
  tls_setup tls_;
  std::unique_ptr<board_hub> board_;
  std::unique_ptr<quic_service> quic_;  ///< --quic only
  asio::signal_set signals_;
  asio::steady_timer grace_;
  bool stopped_ = false;
  bool finished_ = false;
  std::uint64_t cut_ = 0;
};

}  // namespace portdemo::server
