#pragma once
// HTTP/3 over QUIC, with no socket in sight: datagrams go in with their path (the server's
// address that received each one and the client's that sent it) and the time, datagrams come
// out through a hook with the path to send them on, each request is answered through a hook,
// and each connection's events (connected, moved, closed) are reported through another. QUIC
// itself (handshake, loss recovery, flow control, path validation, the anti-amplification
// limit) is libngtcp2's (Debian's 0.12) with GnuTLS; HTTP/3 and QPACK are libnghttp3's (0.8).
// The Asio side (quic.hpp) moves the datagrams and keeps one timer per connection; the unit
// tests and the fuzzer (tests/fuzz/fuzz_quic_datagrams.cpp) feed it datagrams of their own.

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>

#include "portdemo/endpoint.hpp"
#include "portdemo/events.hpp"
#include "portdemo/http.hpp"
#include "portdemo/web.hpp"

namespace portdemo::server {

/// An IPv4 or IPv6 address and port as the kernel gives it (recvmsg, getsockname), for
/// ngtcp2's paths.
struct udp_address {
  sockaddr_storage storage{};
  socklen_t length = 0;

  /// Copies `length` bytes of `address` (an AF_INET or AF_INET6 sockaddr).
  static udp_address from(const sockaddr* address, socklen_t length);
  /// From the text of an address and a port ("127.0.0.1", "::1"); empty (length 0) if invalid.
  static udp_address parse(const std::string& address, std::uint16_t port);
  const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr* get() noexcept { return reinterpret_cast<sockaddr*>(&storage); }
  /// Our endpoint type: the address as text (IPv6 without brackets) and the port.
  endpoint to_endpoint() const;
  bool operator==(const udp_address& other) const noexcept;
};

/// Where a datagram came in, or goes out.
struct quic_path {
  udp_address local;       ///< the server's address and port (IP_PKTINFO on a wildcard socket)
  udp_address remote;      ///< the client's
  std::size_t socket = 0;  ///< which of the server's UDP sockets (the Asio side's number)
};

/// Times on a monotonic clock (the Asio side uses steady_clock), in nanoseconds.
using quic_time = std::chrono::nanoseconds;

/// What one client may cost, as HTTP/1.1's limits have it.
struct quic_limits {
  http_limits head{};                                  ///< per request: :path as the request line, the rest as headers
  std::uint64_t max_streams = 100;                     ///< requests open at once (bidirectional streams)
  std::chrono::milliseconds idle_timeout{15'000};      ///< max_idle_timeout: --keep-alive-timeout
  std::chrono::milliseconds handshake_timeout{10'000};  ///< the handshake must be done within this
  std::size_t max_connections = 256;                   ///< QUIC connections at once (--max-connections)
  std::uint64_t stream_window = 64 * 1024;             ///< bytes a client may send on a stream before we read them
  std::uint64_t connection_window = 1024 * 1024;       ///< and on the whole connection
};

/// One HTTP/3 request whose stream the client has finished.
struct quic_request {
  std::uint64_t id = 0;         ///< the connection's number
  std::int64_t stream = 0;      ///< 0, 4, 8, ...: the client's bidirectional streams
  std::uint64_t number = 1;     ///< the request's number on this connection
  socket_tuple tuple;           ///< the connection's UDP tuple now (local is the server's end)
  http_request head;            ///< :method and :path; :authority as Host; the rest as sent
  std::optional<http_error> error;  ///< the head broke a limit (414, 431) or lacked :method/:path (400)
  const quic_details* quic = nullptr;  ///< the connection's IDs, and its first tuple once it moved
  tls_details tls;              ///< TLSv1.3 and the cipher suite GnuTLS negotiated
};

/// An answer from hooks.follow.
struct quic_answer {
  http_response response;
  bool goes_on = false;  ///< the body continues (send_body(), end_body())
};

/// What a connection reports.
using quic_event = std::variant<quic_connected_event, quic_migrated_event, quic_closed_event>;

/// Where the core's output goes.
struct quic_hooks {
  /// A datagram to send on `path` (from path.local, on socket path.socket, to path.remote).
  std::function<void(const quic_path& path, std::span<const std::uint8_t> bytes)> send;
  /// The answer to a request (a HEAD's body is not sent).
  std::function<http_response(const quic_request& request)> respond;
  /// An event of a connection.
  std::function<void(quic_event e)> report;
  /// Connection `id` wants to be woken at `at` (expire()); nullopt: never again (it is gone).
  std::function<void(std::uint64_t id, std::optional<quic_time> at)> timer;
  /// The next connection number (shared with TCP connections and datagrams).
  std::function<std::uint64_t()> next_id;
  /// Asked first, when set: nullopt to answer with respond(), or the answer itself; one that
  /// `goes_on` is the head and first bytes of a body that send_body() continues until
  /// end_body(): the board's event stream.
  std::function<std::optional<quic_answer>(const quic_request& request)> follow;
  /// A stream answered by follow() is gone: the client closed it, or its connection ended.
  /// Called from inside the core: no call back into it from here.
  std::function<void(std::uint64_t id, std::int64_t stream)> unfollowed;
};

/// Every QUIC connection of the server, found by the connection IDs in each datagram.
class quic_core {
 public:
  /// The bytes of a server connection ID the server chooses.
  static constexpr std::size_t cid_length = 18;

  /// `chain_pem` and `key_pem`: the certificate (and its chain) and its private key, the same
  /// the TCP ports present; error() says why they could not be used.
  quic_core(const std::string& chain_pem, const std::string& key_pem, quic_limits limits, quic_hooks hooks);
  ~quic_core();
  quic_core(const quic_core&) = delete;
  quic_core& operator=(const quic_core&) = delete;

  /// Empty when the core can serve; else GnuTLS's words about the certificate or key.
  const std::string& error() const noexcept { return error_; }

  /// A datagram arrived on `path` at `now`: an existing connection's, a new client's Initial,
  /// or something to answer with Version Negotiation or to drop.
  void receive(const quic_path& path, std::span<const std::uint8_t> datagram, quic_time now);
  /// Connection `id`'s timer (hooks.timer) expired: retransmissions, the idle timeout, the
  /// end of a closing period.
  void expire(std::uint64_t id, quic_time now);

  /// The server is stopping: no new connections; every connection gets HTTP/3's GOAWAY, and
  /// closes (CONNECTION_CLOSE) as soon as its requests are answered, those idle at once.
  void stop(quic_time now);
  /// More body on a stream answered by hooks.follow; false once that stream is gone or ended.
  bool send_body(std::uint64_t id, std::int64_t stream, std::string bytes, quic_time now);
  /// The end of that body (the stream's FIN once all is sent).
  void end_body(std::uint64_t id, std::int64_t stream, quic_time now);
  /// Bytes of that body not yet acknowledged by the client (0 when the stream is gone): what a
  /// client that stops reading costs, for the board's limit on it.
  std::uint64_t unacked(std::uint64_t id, std::int64_t stream) const;

  /// The shutdown grace is over: every connection still open is closed now; returns how many.
  std::uint64_t cut(quic_time now);

  /// Connections open (neither closing nor draining).
  std::size_t open() const noexcept;
  /// Connections held, open or in their closing or draining period.
  std::size_t held() const noexcept;
  /// Datagrams dropped since the start: not QUIC, not for a connection held, not acceptable as
  /// a new connection's first.
  std::uint64_t dropped() const noexcept;

  struct impl;  // the libraries' state (quic_core.cpp)

 private:
  std::unique_ptr<impl> impl_;
  std::string error_;
};

// to_hex() and quic_version_text(): portdemo/web.hpp, shared with demo-client.

}  // namespace portdemo::server
