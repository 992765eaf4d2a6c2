#pragma once
// One accepted connection, from accept to close, in one object that never changes form: it
// waits in the waiting room, parks without a coroutine, or is served by one, and its facts, its
// deadline and its count in the open connections go with it. The connection table knows every
// open connection, for the shutdown.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <asio/any_io_executor.hpp>
#include <asio/ip/tcp.hpp>

#include "portdemo/endpoint.hpp"
#include "portdemo/protocol.hpp"
#include "timeouts.hpp"

namespace portdemo::server {

class connection_table;

/// The facts of one connection, known at accept.
struct connection_facts {
  std::uint64_t id = 0;
  socket_tuple tuple;        ///< local is the server's end
  bool tls_port = false;     ///< the port speaks HTTPS
  bool proxy_port = false;   ///< the port takes a PROXY protocol header first (--proxy-protocol)
  std::optional<std::uint16_t> previous_port;  ///< this client address's port on its previous connection
  clock::time_point accepted_at{};
};

/// One connection's place in the count of open connections, for as long as it is open. Its
/// release (the destructor) is the only place where the count goes down.
class open_slot {
 public:
  explicit open_slot(connection_table& table) noexcept;
  ~open_slot();
  open_slot(const open_slot&) = delete;
  open_slot& operator=(const open_slot&) = delete;

  connection_table& table() const noexcept { return table_; }

 private:
  connection_table& table_;
};

/// What few connections need, behind one pointer (8 bytes in every connection, where a string
/// and a claim's pointer would be 40): first bytes kept while they do not yet say what the client
/// speaks ("GE"), and what a PROXY header said (--proxy-protocol ports).
class connection_extras {
 public:
  bool has_bytes() const noexcept { return parts_ && !parts_->bytes.empty(); }
  std::string_view bytes() const noexcept { return parts_ ? std::string_view(parts_->bytes) : std::string_view(); }
  void keep(std::string_view b) { ensure().bytes.assign(b); }
  void append(std::string_view b) { ensure().bytes.append(b); }
  /// The kept bytes, moved out; none kept afterwards.
  std::string take_bytes() {
    std::string out = parts_ ? std::move(parts_->bytes) : std::string();
    drop_bytes();
    return out;
  }
  void drop_bytes() noexcept {
    if (!parts_) return;
    if (parts_->claim) std::string().swap(parts_->bytes);
    else parts_.reset();
  }

  const proxy_claim* claim() const noexcept { return parts_ && parts_->claim ? &*parts_->claim : nullptr; }
  void set_claim(proxy_claim c) { ensure().claim = std::move(c); }

 private:
  struct parts {
    std::string bytes;
    std::optional<proxy_claim> claim;
  };
  parts& ensure() {
    if (!parts_) parts_ = std::make_unique<parts>();
    return *parts_;
  }
  std::unique_ptr<parts> parts_;
};

/// What a connection is doing; for the shutdown and for whoever wakes it.
enum class phase : std::uint8_t {
  first_bytes,  ///< waiting for what a new connection says (the waiting room, or parked)
  spare,        ///< a browser's spare connection: first bytes, if any, within the keep-alive timeout
  request,      ///< parked between HTTP requests on a kept-alive connection
  hold,         ///< parked for demo-client --hold until the client closes
  serving,      ///< a coroutine serves it
};

/// One accepted connection. Heap-allocated and owned by exactly one of: whoever handles it
/// right now (the accept path, a coroutine's frame, a parked wait's handler) or the waiting
/// room (through the table, while it is there).
class connection {
  // First, so that it is released last: the count goes down once the descriptor is closed.
  open_slot slot_;

 public:
  /// Takes `fd` (an accepted, non-blocking descriptor) and counts the connection open.
  connection(connection_table& table, int fd, const asio::ip::tcp& protocol, connection_facts facts,
             const asio::any_io_executor& executor);
  /// Closes the descriptor (the FIN after the answer) and counts the connection out.
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// The descriptor, whether or not the event loop has it yet.
  int native() const noexcept { return fd_; }
  /// Whether the event loop (Asio) has the descriptor.
  bool adopted() const noexcept { return socket.is_open(); }
  /// Gives the descriptor to the event loop, so that it can be waited on with Asio; false when
  /// Asio cannot take it (the connection must then close).
  bool adopt();
  /// Tells Asio the socket is non-blocking (it is, from accept4 on) before its own reads and
  /// writes; connections answered without a coroutine never pay this system call.
  void non_blocking();
  /// Closes the socket now (the connection object lives on until its owner lets it go).
  void close() noexcept;

  /// This connection as the server reports it: the kernel's tuple, and what a PROXY header said.
  server_view view() const {
    const proxy_claim* claim = extra.claim();
    return server_view{facts.id, facts.tuple, "tcp", claim ? std::optional<proxy_claim>(*claim) : std::nullopt};
  }

  connection_facts facts;
  asio::ip::tcp::socket socket;  ///< empty until adopt()
  watched deadline{socket};
  std::uint64_t requests = 0;    ///< HTTP requests answered on this connection
  connection_extras extra;       ///< kept first bytes ("GE"), a PROXY header's claim: rare, so behind a pointer

 private:
  friend class connection_table;
  int fd_ = -1;
  bool v6_ = false;  ///< the descriptor's family, for adopt()

 public:
  // Here, beside fd_ and v6_, so that the four share one 8-byte word (idle connections are
  // counted by the ten thousand).
  phase state = phase::first_bytes;
  bool idle = false;     ///< waiting with no answer in flight: closed at once at shutdown
  bool in_room = false;  ///< in the waiting room (the table owns it there)

 private:
  connection* prev_ = nullptr;
  connection* next_ = nullptr;
};

using connection_ptr = std::unique_ptr<connection>;

/// Every open connection: the count (and its peak), and what the shutdown does to them.
class connection_table {
 public:
  /// `deadlines`: the server's, which every connection's deadline joins while armed.
  explicit connection_table(timeouts& deadlines) noexcept : deadlines_(deadlines) {}
  ~connection_table();
  connection_table(const connection_table&) = delete;
  connection_table& operator=(const connection_table&) = delete;

  /// Connections open right now.
  std::uint64_t open() const noexcept { return open_; }
  /// The most open at once, QUIC connections (others_opened) included.
  std::uint64_t peak() const noexcept { return peak_; }
  /// A connection without a descriptor of its own (QUIC, on the shared UDP socket) was made or
  /// has ended: counted in the peak beside the TCP ones, not in open() (whose cap is TCP's).
  void others_opened() noexcept { peak_ = std::max(peak_, open_ + ++others_); }
  void others_closed() noexcept {
    if (others_ > 0) --others_;
  }

  /// Called after each connection closes (its count is already out).
  void on_closed(std::function<void()> f) { closed_ = std::move(f); }

  /// The server is stopping: every idle connection (between HTTP requests, --hold, a browser's
  /// spare, waiting for a client's FIN) is woken so that it closes; answers in flight go on.
  void close_idle();

  /// The end of the shutdown grace: every connection still open is closed, each with
  /// `cut(connection&)` called first; returns how many.
  std::uint64_t cut(const std::function<void(const connection&)>& each);

 private:
  friend class open_slot;
  friend class connection;
  void link(connection& c) noexcept;
  void unlink(connection& c) noexcept;

  timeouts& deadlines_;
  std::uint64_t open_ = 0;
  std::uint64_t others_ = 0;
  std::uint64_t peak_ = 0;
  connection* first_ = nullptr;
  std::function<void()> closed_;
};

}  // namespace portdemo::server
