#pragma once
// The classroom board's memory, with no socket in sight: the recent connections, the counts
// per server port, the histogram of client ports over this host's ephemeral range and the
// distinct clients, and the Server-Sent Events text that GET /events sends (a snapshot, then
// batches). The server feeds it at accept and per HTTP request; what reaches subscribers is
// coalesced into batches (board.cpp says how).

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "portdemo/endpoint.hpp"
#include "portdemo/host_facts.hpp"
#include "portdemo/http.hpp"
#include "portdemo/qr.hpp"

namespace portdemo {

/// An address partly hidden for a projector (--mask-addresses): IPv4 keeps its last octet
/// ("*.*.*.7"), IPv6 its last group ("*::1"; an IPv4-mapped one as IPv4). Anything else
/// (not an address) becomes "*".
std::string mask_address(std::string_view address);

/// A listening socket, as the board lists it.
struct board_port {
  endpoint local;
  std::string proto = "tcp";  ///< "tcp" or "udp"
  bool tls = false;
};

/// What the board knows and how it says it.
class board_model {
 public:
  static constexpr std::size_t recent_kept = 128;  ///< connections remembered (a power of two)
  static constexpr std::size_t recent_shown = 100; ///< of them, sent in a snapshot
  static constexpr std::size_t batch_limit = 50;   ///< connections sent one by one per batch
  static constexpr std::size_t bucket_count = 32;  ///< histogram buckets
  static constexpr std::size_t distinct_limit = 65536;  ///< client addresses counted at most

  /// `ephemeral`: this host's range, read live (the histogram's span; IANA's 49152-65535 when
  /// unknown). `mask`: remote addresses leave masked.
  board_model(std::optional<port_range> ephemeral, bool mask, std::size_t max_subscribers);

  /// A listening socket the board lists (call before the first connection).
  void add_port(board_port port);
  /// The join URLs and the QR code of the first (empty and nullopt when none).
  void set_join(std::vector<std::string> urls, std::optional<qr_code> qr);

  /// A TCP connection accepted (`tls_port`: its port speaks HTTPS) or a UDP datagram received,
  /// at `at_ms` (milliseconds since the Unix epoch: the page shows it in the browser's time).
  void connection(std::uint64_t id, const socket_tuple& tuple, bool udp, bool tls_port, std::int64_t at_ms = 0);
  /// An HTTP request answered on connection `id`; `number` 2 or more: the connection was reused
  /// (HTTP/1.1 keep-alive) or carried another stream (HTTP/2, HTTP/3).
  void request(std::uint64_t id, std::uint64_t number, std::string_view method, std::string_view target,
               int status, std::string_view tls_version, http_version http = http_version::http1);
  /// What lies between the two ends of connection `id`, when its views differ.
  enum class path : std::uint8_t { direct, source_nat, destination_nat, source_and_destination_nat, via_proxy };
  void mark(std::uint64_t id, path p);

  /// How many subscribers follow: with none, nothing is queued for a batch.
  void set_subscribers(std::size_t n) noexcept { subscribers_ = n; }
  std::size_t subscribers() const noexcept { return subscribers_; }
  std::size_t max_subscribers() const noexcept { return max_subscribers_; }
  /// Whether remote addresses are masked (--mask-addresses).
  bool masked() const noexcept { return mask_; }

  /// `event: snapshot` with everything a new page needs (SSE text, ends with a blank line).
  std::string snapshot() const;
  /// Whether something happened since the last batch.
  bool pending() const noexcept {
    return pending_count_ > 0 || !pending_requests_.empty() || !pending_marks_.empty();
  }
  /// The events since the last batch (SSE text): the newest `batch_limit` connections one by
  /// one, a `coalesced` count of the rest, the requests, and `totals`. Clears them.
  std::string take_batch();

  /// The totals as JSON (what `totals` events carry).
  std::string totals_json() const;
  std::uint64_t connections() const noexcept { return connections_; }
  std::uint64_t distinct_clients() const noexcept { return distinct_.size(); }

 private:
  struct entry {
    std::uint64_t id = 0;  ///< 0: empty
    socket_tuple tuple;
    bool udp = false;
    bool tls_port = false;
    std::uint64_t requests = 0;
    std::int64_t at_ms = 0;
    path between = path::direct;
    http_version http = http_version::http1;  ///< of its requests, once it has one
  };
  struct port_count {
    board_port port;
    std::uint64_t connections = 0;
  };
  struct pending_request {
    std::uint64_t id;
    std::uint64_t number;
    std::string method;
    std::string target;
    int status;
    std::string tls;
    http_version http;
  };

  void append_connection(std::string& out, const entry& e) const;

  port_range span_;
  std::vector<board_port> listening_;
  bool ephemeral_known_ = false;
  bool mask_ = false;
  std::size_t max_subscribers_;
  std::size_t subscribers_ = 0;
  std::vector<port_count> ports_;
  std::vector<std::string> join_;
  std::optional<qr_code> qr_;
  std::array<entry, recent_kept> recent_{};
  std::uint64_t newest_ = 0;  ///< the id of the newest connection
  std::uint64_t connections_ = 0;
  std::array<std::uint64_t, bucket_count> buckets_{};
  std::uint64_t below_ = 0;
  std::uint64_t above_ = 0;
  std::unordered_map<std::string, std::uint64_t> distinct_;  ///< connections per client address
  std::string busiest_;                                       ///< the address with the most
  std::uint64_t busiest_count_ = 0;
  std::array<std::uint64_t, 5> paths_{};                      ///< connections marked, by path
  std::vector<std::pair<std::uint64_t, path>> pending_marks_;
  // The batch being gathered: the ids of its newest connections (a ring of batch_limit), how
  // many came in all, and the requests (at most batch_limit; the rest only counted).
  std::array<std::uint64_t, batch_limit> pending_ids_{};
  std::size_t pending_count_ = 0;
  std::vector<pending_request> pending_requests_;
  std::uint64_t skipped_requests_ = 0;
};

}  // namespace portdemo
