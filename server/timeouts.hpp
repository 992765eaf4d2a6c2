#pragma once
// Deadlines for every connection with one timer for the whole server. A connection waiting on
// its socket is put on the list of its kind of wait; since every wait of a kind lasts the same
// time, each list is in deadline order, and arming, re-arming and disarming are O(1) with no
// allocation. When a deadline passes, the socket's pending operation is cancelled and the
// session sees `expired`. (One asio::steady_timer per session, or a timer raced against every
// read, costs an allocation and a heap operation per wait; this costs neither.)

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include <asio/any_io_executor.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

namespace portdemo::server {

using clock = std::chrono::steady_clock;

/// The kinds of waits a connection makes; each has one duration for the whole server.
enum class wait_kind : std::uint8_t {
  first_bytes,  ///< from accept (and after each byte of a raw client's line): silence gets the report
  request,      ///< a request, from its first byte: trickling does not extend it
  write,        ///< one answer, when the socket's send buffer is full
  keep_alive,   ///< idle between HTTP requests on one connection
  drain,        ///< after our FIN, for the client's
  handshake,    ///< a TLS handshake
  hold,         ///< demo-client --hold
};
inline constexpr std::size_t wait_kinds = 7;

struct watched;

/// Who handles a deadline instead of the socket (the waiting room, whose descriptors the event
/// loop does not watch).
class expiry_hook {
 public:
  virtual void expired(watched& w) = 0;

 protected:
  ~expiry_hook() = default;
};

/// A socket with a deadline; embedded in each connection. When the deadline passes, the
/// socket's pending operation is cancelled, or, when `hook` is set, hook->expired() is called
/// instead. 56 bytes: one in every connection.
struct watched {
  explicit watched(asio::ip::tcp::socket& s) : socket(&s) {}
  watched(const watched&) = delete;
  watched& operator=(const watched&) = delete;

  asio::ip::tcp::socket* socket;
  expiry_hook* hook = nullptr;  ///< instead of cancelling the socket's operation
  void* owner = nullptr;        ///< the object this is embedded in, for the hook
  // Private to `timeouts` (but `expired`).
  watched* prev = nullptr;
  watched* next = nullptr;
  clock::time_point at{};
  wait_kind kind = wait_kind::first_bytes;
  bool armed = false;
  bool expired = false;  ///< the last armed deadline passed (and the pending operation was cancelled)
};

/// The server's deadlines.
class timeouts {
 public:
  timeouts(const asio::any_io_executor& executor, const std::array<clock::duration, wait_kinds>& durations);
  timeouts(const timeouts&) = delete;
  timeouts& operator=(const timeouts&) = delete;

  /// Sets `w`'s deadline to now plus the kind's duration (replacing any earlier one).
  void arm(watched& w, wait_kind kind);

  /// Sets `w`'s deadline unless it has one already (a wait that goes on where it was).
  void arm_if_unarmed(watched& w, wait_kind kind) {
    if (!w.armed) arm(w, kind);
  }

  /// Removes `w`'s deadline, if it has one. Must be called before `w` is destroyed.
  void disarm(watched& w) noexcept;

  /// The duration of a kind of wait.
  clock::duration duration(wait_kind kind) const noexcept { return durations_[static_cast<std::size_t>(kind)]; }

 private:
  struct list {
    watched* head = nullptr;
    watched* tail = nullptr;
  };
  void schedule(clock::time_point at);
  void fire();

  asio::steady_timer timer_;
  clock::time_point scheduled_ = clock::time_point::max();
  std::array<list, wait_kinds> lists_{};
  std::array<clock::duration, wait_kinds> durations_;
};

/// Keeps `w` armed for the scope of a wait and disarms it after, however the scope is left.
class armed_scope {
 public:
  armed_scope(timeouts& t, watched& w, wait_kind kind) : t_(t), w_(w) { t_.arm(w_, kind); }
  ~armed_scope() { t_.disarm(w_); }
  armed_scope(const armed_scope&) = delete;
  armed_scope& operator=(const armed_scope&) = delete;

 private:
  timeouts& t_;
  watched& w_;
};

}  // namespace portdemo::server
