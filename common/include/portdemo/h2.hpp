#pragma once
// HTTP/2 on one connection, with no socket in sight: bytes in, requests out, responses in,
// bytes out. Framing, HPACK, flow control, SETTINGS, PING and GOAWAY are libnghttp2's (Debian's
// 1.52); this wraps its server session in the terms the rest of portdemo uses (http_request,
// http_response). The server's http2 session (server/http2_session.hpp) moves the bytes; the
// fuzzer (tests/fuzz/fuzz_h2_frames.cpp) feeds it a frame stream.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "portdemo/http.hpp"
#include "portdemo/web.hpp"

namespace portdemo {

/// The client connection preface of HTTP/2 (RFC 9113, 3.4): how an h2c client by prior
/// knowledge opens, where an HTTP/1.1 client sends its request line.
inline constexpr std::string_view h2_preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Limits of an HTTP/2 connection.
struct h2_limits {
  http_limits head{};                 ///< per request: :path against request_line, the rest as HTTP/1.1's
  std::uint32_t max_streams = 100;    ///< SETTINGS_MAX_CONCURRENT_STREAMS: more are refused by the library
};

/// One request whose header block is complete.
struct h2_request {
  std::int32_t stream = 0;
  http_request head;              ///< :method, :path; :authority as Host; the rest as sent
  bool has_body = false;          ///< a DATA frame is still to come (the stream is not half-closed)
  std::optional<http_error> error;  ///< the head broke a limit (414, 431) or lacked :method/:path (400)
};

class h2_connection {
 public:
  explicit h2_connection(h2_limits limits = {});
  ~h2_connection();
  h2_connection(const h2_connection&) = delete;
  h2_connection& operator=(const h2_connection&) = delete;

  /// Takes bytes from the client. False on a connection error (a bad preface, a protocol
  /// violation): then output() holds the GOAWAY, error() says why, and nothing more is read.
  bool receive(std::string_view bytes);

  /// Requests whose header blocks completed since the last call, in order.
  std::vector<h2_request> take_requests();

  /// Answers a stream with a whole response (`head_only`: HEAD, no body).
  void respond(std::int32_t stream, const http_response& response, bool head_only);

  /// Answers a stream with a response head whose body follows by send() until end() (an event
  /// stream).
  void open(std::int32_t stream, const http_response& head);
  /// More body for an open() stream.
  void send(std::int32_t stream, std::string_view bytes);
  /// Ends an open() stream.
  void end(std::int32_t stream);
  /// Bytes of an open() stream given to send() and not yet framed (flow control holds them).
  std::size_t unsent(std::int32_t stream) const;
  /// Whether an answer's body waits for the client's flow control (its window is used up):
  /// the client must read before it can be sent.
  bool held_back() const;
  /// Whether the client has reset or closed this stream.
  bool closed(std::int32_t stream) const;

  /// A graceful GOAWAY (NO_ERROR): streams begun are answered, no new ones are accepted.
  void goaway();

  /// The bytes to write now (frames, up to about 64 KiB at a time): empty when there are none.
  /// Valid until the next call on this object.
  std::string_view output();

  /// Whether the library still reads (false after a GOAWAY both ways, or an error).
  bool wants_read() const;
  /// Whether there is something to write.
  bool wants_write() const;
  /// Streams open now (requests not yet answered, or being sent).
  std::size_t open_streams() const noexcept { return open_; }
  /// Streams opened whose header blocks are still incomplete.
  std::size_t incomplete_streams() const noexcept { return incomplete_; }
  /// The most streams open together so far.
  std::uint32_t most_at_once() const noexcept { return most_; }
  /// Requests answered.
  std::uint64_t answered() const noexcept { return answered_; }
  /// Why the connection failed ("" when it did not): nghttp2's words. Set also when the library
  /// answered a protocol violation with GOAWAY itself and receive() went on returning true.
  const std::string& error() const noexcept { return error_; }
  /// Whether the client sent a GOAWAY.
  bool peer_went_away() const noexcept { return peer_goaway_; }

  struct impl;  // the callbacks' state (h2.cpp)

 private:
  std::unique_ptr<impl> impl_;
  std::size_t open_ = 0;
  std::size_t incomplete_ = 0;
  std::uint32_t most_ = 0;
  std::uint64_t answered_ = 0;
  std::string error_;
  bool peer_goaway_ = false;
  friend struct h2_callbacks;
};

/// One answer an HTTP/2 client received.
struct h2_answer {
  std::int32_t stream = 0;
  int status = 0;
  std::string body;
  bool reset = false;  ///< the server reset the stream instead of answering
};

/// The client side (demo-client --http2): requests out on streams of one connection, answers in.
class h2_client {
 public:
  /// `over_tls`: the requests' :scheme is https (h2 inside TLS), else http (h2c).
  explicit h2_client(bool over_tls = false);
  ~h2_client();
  h2_client(const h2_client&) = delete;
  h2_client& operator=(const h2_client&) = delete;

  /// Sends GET `path` on a new stream (the preface and SETTINGS go first); its stream id.
  std::int32_t get(std::string_view authority, std::string_view path);
  /// Takes bytes from the server; false when the library cannot go on. Bytes that break the
  /// protocol are taken and answered with a GOAWAY of the library's own: error() names it once
  /// output() has taken it out.
  bool receive(std::string_view bytes);
  /// The bytes to write now; empty when there are none. Valid until the next call.
  std::string_view output();
  /// Answers complete so far, in the order they completed.
  const std::vector<h2_answer>& answers() const noexcept;
  /// A GOAWAY from the server: its error code's name ("NO_ERROR"), or "" if none came.
  const std::string& goaway() const noexcept { return goaway_; }
  const std::string& error() const noexcept { return error_; }
  /// Tells the server this client is done (GOAWAY, NO_ERROR).
  void finish();

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
  std::string goaway_;
  std::string error_;
  friend struct h2_client_callbacks;
};

}  // namespace portdemo
