#pragma once
// What every connection shares with the server: the configuration and this host's facts, the
// deadlines, the table of open connections, the read buffer, what is remembered per client
// address, and the event sink. Owned by the server; outlives every connection.

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/ssl/context.hpp>

#include "connection.hpp"
#include "event_sink.hpp"
#include "portdemo/address_memory.hpp"
#include "portdemo/host_facts.hpp"
#include "portdemo/limits.hpp"
#include "timeouts.hpp"

namespace portdemo::server {

class board_hub;
class waiting_room;

/// The server's shared state, by concern.
struct server_context {
  server_context(event_sink& sink, const host_facts& facts, const asio::any_io_executor& ex, const server_limits& l);
  server_context(const server_context&) = delete;
  server_context& operator=(const server_context&) = delete;

  // Configuration and host facts, fixed once serving begins.
  const host_facts& host;             ///< this host's facts, read at start-up
  server_limits limits;               ///< --max-connections, the timeouts, the size limits
  asio::ssl::context* tls = nullptr;  ///< null when no certificate could be made
  asio::any_io_executor executor;     ///< the server's event loop

  // Where things go and wait.
  event_sink& events;                 ///< every event, once (log, board, tally)
  timeouts deadlines;                 ///< every wait's deadline, under one timer
  connection_table table;             ///< every open connection
  waiting_room* room = nullptr;       ///< new connections waiting for their first bytes
  board_hub* board = nullptr;         ///< the classroom board (GET /board, /events), if any
  bool stopping = false;              ///< SIGINT/SIGTERM came: finish answers, start no new waits
  std::uint64_t next_id = 1;          ///< the next connection's (or datagram's) number
  /// The UDP ports serving HTTP/3 (--quic), each the number of a TLS port.
  std::vector<std::uint16_t> quic_ports;

  /// The Alt-Svc value for answers on a TLS connection to `local_port`: h3=":8443"; ma=3600 when
  /// --quic serves HTTP/3 on UDP with that number, else empty.
  std::string alt_svc_for(std::uint16_t local_port) const;

  /// When each client address last spoke HTTP (a request, a TLS handshake): a silent connection
  /// from it may be a browser's spare (first_bytes.hpp).
  address_memory<clock::time_point> http_seen;

  /// Where plain TCP reads land: the bytes are handed on (to a parser that keeps what it needs)
  /// before the next wait, so one buffer serves every connection and an idle one holds none.
  std::array<char, 16384> scratch{};
};

}  // namespace portdemo::server
