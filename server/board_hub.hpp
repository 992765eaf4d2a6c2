#pragma once
// The board's subscribers: GET /events connections following the board. The model
// (portdemo/board.hpp) gathers what happens; a timer sends it to every subscriber in batches,
// at most one per batch_interval, so a burst of hundreds of connections costs each subscriber
// one write, and a subscriber that cannot keep up is dropped rather than waited for.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "portdemo/board.hpp"
#include "portdemo/http.hpp"
#include "portdemo/web.hpp"

namespace portdemo::server {
class event_sink;
}

namespace portdemo::server {

/// One GET /events stream. Owned by what feeds it (board_stream.hpp over HTTP/1.1, the HTTP/2
/// session, the QUIC service); the hub only links it.
struct board_subscriber {
  board_subscriber(const asio::any_io_executor& executor, asio::ip::tcp::socket& s, std::uint64_t connection,
                   socket_tuple t)
      : socket(&s), id(connection), tuple(std::move(t)), wake(executor) {}
  /// Over HTTP/3: no socket of its own (the QUIC connection's UDP socket is shared).
  board_subscriber(const asio::any_io_executor& executor, std::uint64_t connection, socket_tuple t)
      : id(connection), tuple(std::move(t)), wake(executor) {}
  asio::ip::tcp::socket* socket = nullptr;  ///< its TCP connection's; null over HTTP/3
  std::uint64_t id = 0;
  socket_tuple tuple;
  std::string pending;          ///< events not yet written
  asio::steady_timer wake;      ///< the session waits on it; cancelled when there is news
  bool dropped = false;         ///< fell behind (or went away): end the stream
  bool ended = false;           ///< the server is stopping: say so and end the stream
  bool finished = false;        ///< the stream has ended: its socket is no longer ours to look at
  board_subscriber* prev = nullptr;
  board_subscriber* next = nullptr;
};

/// How a GET /events is answered, decided in one place for every HTTP version (board_stream.cpp
/// writes it over HTTP/1.1, http2_session.cpp and quic.cpp on a stream).
struct board_answer {
  bool admitted = false;
  int status = 200;         ///< for the log: 503 when refused, except to an EventSource (told in its stream)
  const char* note = "";    ///< "board subscriber" or "board full"
  http_response response;   ///< admitted: the head and first bytes (retry, snapshot); refused: all of it
  bool event_stream = false;  ///< the body is Server-Sent Events (text/event-stream)
};

/// The board and its subscribers.
class board_hub {
 public:
  static constexpr auto batch_interval = std::chrono::milliseconds(100);
  static constexpr auto heartbeat = std::chrono::seconds(10);
  /// Bytes a subscriber may have waiting before it is dropped.
  static constexpr std::size_t pending_limit = 256 * 1024;

  board_hub(const asio::any_io_executor& executor, event_sink& events, board_model model);
  board_hub(const board_hub&) = delete;
  board_hub& operator=(const board_hub&) = delete;

  board_model& model() noexcept { return model_; }

  /// A connection accepted or a datagram received.
  void connection(std::uint64_t id, const socket_tuple& tuple, bool udp, bool tls_port) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    model_.connection(id, tuple, udp, tls_port, std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
    if (first_) schedule();
  }
  /// An HTTP request answered.
  void request(std::uint64_t id, std::uint64_t number, std::string_view method, std::string_view target, int status,
               std::string_view tls_version, http_version http) {
    model_.request(id, number, method, target, status, tls_version, http);
    if (first_) schedule();
  }

  /// What lies between the two ends of a connection (its views differ, or a proxy).
  void mark(std::uint64_t id, board_model::path p) {
    model_.mark(id, p);
    if (first_) schedule();
  }

  /// Adds a subscriber; false when --max-board-subscribers are following already (after
  /// dropping any whose client has gone).
  bool subscribe(board_subscriber& s);
  /// GET /events: subscribes `s` if there is room (subscribe()), and says what to answer.
  board_answer answer(board_subscriber& s, const http_request& request);
  /// Removes a subscriber (its stream ended).
  void unsubscribe(board_subscriber& s);
  /// Ends every stream: the server is stopping.
  void stop();

 private:
  void schedule();
  void flush();
  void drop(board_subscriber& s);

  event_sink& events_;
  board_model model_;
  asio::steady_timer timer_;
  bool scheduled_ = false;
  bool stopped_ = false;
  board_subscriber* first_ = nullptr;
  std::size_t count_ = 0;
};

}  // namespace portdemo::server
