#pragma once
// demo-server: listens on every (address, port) asked for, and tells every client the four
// facts of its connection as this end sees them.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <sys/socket.h>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include "board.hpp"
#include "portdemo/reporter.hpp"
#include "session.hpp"
#include "tls.hpp"

namespace portdemo::server {

/// What main() collected from the command line.
struct options {
  std::vector<std::uint16_t> ports;          ///< 0 = let the kernel choose
  std::vector<std::string> bind_addresses;   ///< empty: the loopback addresses 127.0.0.1 and ::1
  bool strict = false;                       ///< any failed listener is fatal
  std::vector<std::uint16_t> udp_ports;      ///< --udp: UDP ports, beside (or instead of) TCP
  std::vector<std::uint16_t> tls_ports;      ///< --tls: ports (as asked) that speak HTTPS; 0 = every port asked as 0
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

/// The server: listeners, accept loops, sessions, and the closing summary.
class server {
 public:
  server(asio::io_context& io, reporter& out, options opts);

  /// Sets up every listener and reports each; returns the exit code to end with now, or -1 to
  /// go on serving.
  int start();

  /// Stops accepting at once; answers in flight get the shutdown grace, idle connections are
  /// closed; then the summary, and run() returns. `signal` names the cause ("SIGTERM").
  void stop(const std::string& signal = "SIGTERM");

 private:
  /// A listening socket and whether it speaks HTTPS.
  struct listener {
    asio::ip::tcp::acceptor acceptor;
    bool tls = false;
  };

  /// What binding all ports has come to so far.
  struct bind_tally {
    bool defaults = false;  ///< the default loopback addresses: a missing ::1 is a note, not a failure
    bool v6_missing = false;
    int listening = 0;
    int failed = 0;
    int first_failure_code = 0;
  };

  /// Binds every port on every address with `open`, reporting each; port 0 is chosen once and
  /// reused on the other addresses.
  template <typename Open>
  void bind_all(const std::vector<std::uint16_t>& ports, const std::vector<asio::ip::address>& addresses,
                bind_tally& t, Open open);

  asio::awaitable<void> accept_loop(listener& l);
  /// Counts an accepted connection (a non-blocking descriptor and the client's address, as
  /// accept4 gave them) and starts serving it (or turns it away over the cap).
  void admit(listener& l, int fd, const sockaddr_storage& peer, socklen_t peer_size);
  asio::awaitable<void> datagram_loop(asio::ip::udp::socket& socket);
  void count(const socket_tuple& tuple);
  /// Takes the sockets a service manager passed (LISTEN_FDS) instead of binding; false when
  /// there are none.
  bool adopt_passed_sockets(bind_tally& t, std::vector<std::uint16_t>& tcp_ports, std::vector<std::uint16_t>& tls_ports,
                            std::vector<std::uint16_t>& udp_ports);
  /// Sets up the classroom board for the sockets now listening, and reports how to join when
  /// they reach beyond loopback.
  void setup_board();
  /// Sets up TLS and reports the certificate; false if --cert/--key could not be used.
  bool setup_tls();
  /// Sets the connection cap from --max-connections and the open-file limit.
  void cap_connections();
  /// A session ended.
  void session_done();
  /// Prints the summary and stops the event loop.
  void finish();
  void wait_for_signal();

  asio::io_context& io_;
  reporter& out_;
  options opts_;
  std::vector<std::unique_ptr<listener>> listeners_;
  std::vector<std::unique_ptr<asio::ip::udp::socket>> udp_sockets_;
  tls_setup tls_;
  shared_state shared_;
  std::unique_ptr<board_hub> board_;
  asio::signal_set signals_;
  asio::steady_timer grace_;
  std::uint64_t next_id_ = 1;
  bool stopped_ = false;
  bool finished_ = false;
  std::uint64_t busy_ = 0;
  std::uint64_t cut_ = 0;

  // For the summary.
  std::map<std::pair<bool, std::uint16_t>, std::uint64_t> per_port_;  // (udp?, port) -> count
  std::vector<bool> client_port_seen_ = std::vector<bool>(65536, false);
  std::uint64_t distinct_client_ports_ = 0;
};

}  // namespace portdemo::server
