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
  /// A port listens (or a UDP port is bound): it is in the summary even with no connection.
  void count(const listening_event& e) { per_port_.try_emplace({e.proto == "udp", e.local.port}, 0); }
  /// A TCP connection accepted.
  void count(const accepted_event& e) { seen(false, e.tuple); }
  /// A connection turned away over --max-connections: accepted first, so counted as one too.
  void count(const busy_event& e) {
    seen(false, e.tuple);
    ++busy_;
  }
  /// A UDP datagram.
  void count(const datagram_event& e) { seen(true, e.tuple); }
  /// A connection closed by a limit; those cut at shutdown are counted by the shutdown.
  void count(const limit_event& e) {
    if (e.kind != limit_kind::shutdown) ++limited_;
  }

  /// The summary so far; the caller adds what the event stream does not carry (peak_open, cut,
  /// log_dropped).
  server_summary_event summary() const {
    server_summary_event s;
    for (const auto& [key, n] : per_port_) {
      s.per_port.push_back({key.second, n, key.first ? "udp" : "tcp"});
      if (!key.first) s.connections += n;
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
  void seen(bool udp, const socket_tuple& tuple) {
    ++per_port_[{udp, tuple.local.port}];
    if (!client_ports_[tuple.remote.port]) {
      client_ports_[tuple.remote.port] = true;
      ++distinct_;
    }
  }

  std::map<std::pair<bool, std::uint16_t>, std::uint64_t> per_port_;  // (udp?, port) -> count
  std::bitset<65536> client_ports_;
  std::uint64_t distinct_ = 0;
  std::uint64_t busy_ = 0;
  std::uint64_t limited_ = 0;
};

}  // namespace portdemo
