#include "event_sink.hpp"

#include <chrono>

#include "board_hub.hpp"
#include "portdemo/translation.hpp"

namespace portdemo::server {

event_sink::event_sink(reporter& out, const asio::any_io_executor& executor, bool quiet)
    : out_(out), quiet_(quiet), request_summary_(executor) {}

void event_sink::emit(accepted_event e) {
  tally_.count(e);
  if (board_) board_->connection(e.id, e.tuple, false, e.tls_port);
  per_connection(std::move(e));
}

void event_sink::emit(datagram_event e) {
  tally_.count(e);
  if (board_) board_->connection(e.id, e.tuple, true, false);
  per_connection(std::move(e));
}

void event_sink::emit(http_request_event e) {
  if (board_) board_->request(e.id, e.request_number, e.method, e.target, e.status, e.tls_version, e.version);
  if (quiet_) return;
  if (e.request_number > requests_logged_per_connection) {
    // A load generator's kept-alive connection: counted, and summarised once a second.
    if (unlogged_requests_++ == 0) {
      request_summary_.expires_after(std::chrono::seconds(1));
      request_summary_.async_wait([this](const std::error_code& ec) {
        if (!ec) summarise_requests();
      });
    }
    return;
  }
  out_.emit(event(std::move(e)));
}

void event_sink::emit(busy_event e) {
  tally_.count(e);
  per_connection(std::move(e));
}

void event_sink::emit(limit_event e) {
  tally_.count(e);
  per_connection(std::move(e));
}

void event_sink::emit(answered_event e) {
  if (board_ && e.both) {
    const std::string_view kind = compare_views(e.both->client, e.both->server).kind();
    if (kind == "source_nat") board_->mark(e.id, board_model::path::source_nat);
    else if (kind == "destination_nat") board_->mark(e.id, board_model::path::destination_nat);
    else if (kind == "source_and_destination_nat") board_->mark(e.id, board_model::path::source_and_destination_nat);
  }
  per_connection(std::move(e));
}

void event_sink::emit(proxied_event e) {
  if (board_ && !e.claim.local) board_->mark(e.id, board_model::path::via_proxy);
  per_connection(std::move(e));
}

void event_sink::emit(tls_failed_event e) { per_connection(std::move(e)); }
void event_sink::emit(http2_closed_event e) { per_connection(std::move(e)); }
void event_sink::emit(quic_connected_event e) {
  tally_.count(e);
  if (board_) board_->connection(e.id, e.tuple, true, true);
  per_connection(std::move(e));
}
void event_sink::emit(quic_migrated_event e) { per_connection(std::move(e)); }
void event_sink::emit(quic_closed_event e) { per_connection(std::move(e)); }

void event_sink::emit(listening_event e) {
  tally_.count(e);
  out_.emit(event(std::move(e)));
}

void event_sink::summarise_requests() {
  request_summary_.cancel();
  if (unlogged_requests_ == 0) return;
  out_.emit(requests_summarised_event{unlogged_requests_, requests_logged_per_connection});
  unlogged_requests_ = 0;
}

}  // namespace portdemo::server
