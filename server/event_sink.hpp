#pragma once
// Where every event of the server goes: one call per event, and the sink hands it to each of
// its consumers: the summary's tally, the classroom board, and the log (the reporter). The
// filters are applied here, once: --quiet drops the log's line per connection (the tally and
// the board still see everything), and on a kept-alive connection past its first 100 requests
// the log counts requests instead of printing them, with a summary once a second.
// (Here rather than in common/: it owns an Asio timer and feeds the board's hub.)

#include <cstdint>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>

#include "portdemo/reporter.hpp"
#include "portdemo/tally.hpp"

namespace portdemo::server {

class board_hub;

/// The server's one event stream.
class event_sink {
 public:
  /// HTTP requests logged one by one on each connection; later ones are counted.
  static constexpr std::uint64_t requests_logged_per_connection = 100;

  event_sink(reporter& out, const asio::any_io_executor& executor, bool quiet);
  event_sink(const event_sink&) = delete;
  event_sink& operator=(const event_sink&) = delete;

  /// The board follows connections and requests from now on.
  void follow(board_hub* board) noexcept { board_ = board; }

  // Events about one connection: counted, shown on the board, logged unless --quiet.
  void emit(accepted_event e);
  void emit(datagram_event e);
  void emit(http_request_event e);
  void emit(busy_event e);
  void emit(limit_event e);
  void emit(answered_event e);
  void emit(proxied_event e);  ///< marked on the board: via a proxy
  void emit(tls_failed_event e);
  void emit(http2_closed_event e);
  void emit(quic_connected_event e);  ///< on the board: a UDP row
  void emit(quic_migrated_event e);
  void emit(quic_closed_event e);
  void emit(listening_event e);  ///< counted (a port in the summary), always logged

  /// Any other event (start-up, problems, notes, the summary): always logged.
  template <typename Event>
  void emit(Event e) {
    out_.emit(event(std::move(e)));
  }

  /// Emits the count of requests not logged one by one, if any (the summary comes after it).
  void summarise_requests();

  /// The tally of everything that went through.
  const server_tally& tally() const noexcept { return tally_; }

  /// The reporter behind the log: its host facts, its dropped lines, flushing.
  reporter& log() noexcept { return out_; }

  /// Whether --quiet is on.
  bool quiet() const noexcept { return quiet_; }

 private:
  // A line per connection for the log, unless --quiet (checked before the event is wrapped).
  template <typename Event>
  void per_connection(Event&& e) {
    if (!quiet_) out_.emit(event(std::forward<Event>(e)));
  }

  reporter& out_;
  bool quiet_;
  board_hub* board_ = nullptr;
  server_tally tally_;
  std::uint64_t unlogged_requests_ = 0;  ///< since the last summary
  asio::steady_timer request_summary_;
};

}  // namespace portdemo::server
