#pragma once
// The server's closing summary, counted from its own event stream: what listened, what was
// accepted, turned away or closed by a limit, and which client ports were seen. Pure: the
// events go in, the summary comes out.

#include <bitset>
#include <cstdint>
#include <map>
#include <utility>

#include "portdemo/events.hpp"

namespace portdemo {

/// Counts what the summary reports.
class server_tally {
 public:
  /// A port listens (or a UDP port is bound): it is in the summary even with no connection. A
  /// UDP socket that speaks TLS is QUIC's (--quic): it counts connections, not datagrams.
  void count(const listening_event& e) {
    const kind k = e.proto != "udp" ? kind::tcp : e.tls ? kind::quic : kind::udp;
    per_port_.try_emplace({k, e.local.port}, 0);
  }
  /// A TCP connection accepted.
  void count(const accepted_event& e) { seen(kind::tcp, e.tuple); }
  /// A connection turned away over --max-connections: accepted first, so counted as one too.
  void count(const busy_event& e) {
    seen(kind::tcp, e.tuple);
    ++busy_;
  }
  /// A UDP datagram.
  void count(const datagram_event& e) { seen(kind::udp, e.tuple); }
  /// A QUIC connection (HTTP/3) made on a UDP port: a connection, with the client's first port.
  void count(const quic_connected_event& e) { seen(kind::quic, e.tuple); }
  /// A connection closed by a limit; those cut at shutdown are counted by the shutdown.
  void count(const limit_event& e) {
    if (e.kind != limit_kind::shutdown) ++limited_;
  }

  /// The summary so far; the caller adds what the event stream does not carry (peak_open, cut,
  /// log_dropped).
  server_summary_event summary() const {
    server_summary_event s;
    for (const auto& [key, n] : per_port_) {
      s.per_port.push_back({key.second, n, key.first == kind::udp ? "udp" : key.first == kind::quic ? "quic" : "tcp"});
      if (key.first != kind::udp) s.connections += n;
    }
    s.distinct_client_ports = distinct_;
    for (std::size_t p = 0; p < client_ports_.size(); ++p) {
      if (!client_ports_[p]) continue;
      if (!s.lowest_client_port) s.lowest_client_port = static_cast<std::uint16_t>(p);
      s.highest_client_port = static_cast<std::uint16_t>(p);
    }
    s.busy = busy_;
    s.limited = limited_;
    return s;
  }

 private:
  enum class kind : std::uint8_t { tcp, udp, quic };  // in the summary's order

  void seen(kind k, const socket_tuple& tuple) {
    ++per_port_[{k, tuple.local.port}];
    if (!client_ports_[tuple.remote.port]) {
      client_ports_[tuple.remote.port] = true;
      ++distinct_;
    }
  }

  std::map<std::pair<kind, std::uint16_t>, std::uint64_t> per_port_;  // (kind, port) -> count
  std::bitset<65536> client_ports_;
  std::uint64_t distinct_ = 0;
  std::uint64_t busy_ = 0;
  std::uint64_t limited_ = 0;
};

}  // namespace portdemo
