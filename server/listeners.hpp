#pragma once
// The listening sockets: each (address, port) set up step by step as the lecture tells it
// (open, set options, bind, listen; then the real port read back), or adopted from a service
// manager (socket activation). One listener set comes out, whichever way they came.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>

#include "portdemo/endpoint.hpp"
#include "portdemo/failure.hpp"
#include "portdemo/host_facts.hpp"

namespace portdemo::server {

class event_sink;

/// Opens a listening socket on `where`; on failure, the step that failed and its error.
/// Never sets SO_REUSEPORT: a second server on the same port must fail, not share it.
std::variant<asio::ip::tcp::acceptor, failure> open_listener(asio::io_context& io,
                                                             const asio::ip::tcp::endpoint& where);

/// Opens a UDP socket bound to `where`, step by step as for TCP (open, v6-only, SO_REUSEADDR,
/// bind); there is no listen step: a datagram socket receives from anyone once bound.
std::variant<asio::ip::udp::socket, failure> open_datagram(asio::io_context& io,
                                                           const asio::ip::udp::endpoint& where);

/// A socket a service manager passed (socket activation): a TCP listener or a UDP socket, or
/// why it cannot be used.
struct passed_socket {
  std::optional<asio::ip::tcp::acceptor> tcp;
  std::optional<asio::ip::udp::socket> udp;
  std::string problem;  ///< set when neither
};

/// Takes over descriptor `fd` from the parent: an IPv4 or IPv6 TCP socket (listening, or made
/// to listen) or UDP socket; anything else is refused with the reason.
passed_socket adopt_socket(asio::io_context& io, int fd);

/// A TCP listening socket and whether it speaks HTTPS.
struct tcp_listener {
  asio::ip::tcp::acceptor acceptor;
  endpoint local;  ///< the kernel's answer (getsockname), not the number asked for
  bool tls = false;
  bool proxy = false;  ///< --proxy-protocol: a PROXY header comes first
};

/// What to listen on.
struct listen_plan {
  std::vector<std::uint16_t> ports;      ///< TCP; 0 = let the kernel choose
  std::vector<std::uint16_t> udp_ports;  ///< --udp
  std::vector<asio::ip::address> addresses;
  bool defaults = false;  ///< the default loopback addresses: a missing ::1 is a note, not a failure
  /// Whether a TCP port speaks HTTPS, from the port asked for and the port bound.
  std::function<bool(std::uint16_t asked, std::uint16_t bound)> tls;
  /// Whether a TCP port takes a PROXY protocol header first (--proxy-protocol).
  std::function<bool(std::uint16_t asked, std::uint16_t bound)> proxy;
};

/// Every listening socket, and what setting them up came to.
struct listener_set {
  std::vector<std::unique_ptr<tcp_listener>> tcp;
  std::vector<std::unique_ptr<asio::ip::udp::socket>> udp;
  std::vector<std::uint16_t> tcp_ports;  ///< distinct TCP port numbers listening, in order
  std::vector<std::uint16_t> tls_ports;  ///< those of them that speak HTTPS
  std::vector<std::uint16_t> proxy_ports;  ///< those of them that take a PROXY header first
  std::vector<std::uint16_t> udp_ports;  ///< distinct UDP port numbers bound
  int listening = 0;
  int failed = 0;
  int first_failure_code = 0;  ///< the exit code of the first failure
  bool adopted = false;        ///< passed by a service manager: --ports and --bind not used

  /// Whether any socket listens beyond loopback.
  bool beyond_loopback() const;
  /// Closes every socket (new clients are refused from now on).
  void close();
};

/// Adopts the sockets a service manager passed (LISTEN_FDS), if any; else binds the plan's
/// ports on its addresses (port 0 chosen once and reused on the other addresses). Each socket
/// and each failure is reported through `events` as it comes.
listener_set open_listeners(asio::io_context& io, event_sink& events, const host_facts& facts,
                            const listen_plan& plan);

}  // namespace portdemo::server
