#include "quic_core.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace portdemo::server {

// ---------------------------------------------------------------------------------------------
// Addresses and names
// ---------------------------------------------------------------------------------------------

udp_address udp_address::from(const sockaddr* address, socklen_t length) {
  udp_address out;
  if (address && length > 0 && static_cast<std::size_t>(length) <= sizeof out.storage) {
    std::memcpy(&out.storage, address, static_cast<std::size_t>(length));
    out.length = length;
  }
  return out;
}

udp_address udp_address::parse(const std::string& address, std::uint16_t port) {
  udp_address out;
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  if (::inet_pton(AF_INET, address.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    return from(reinterpret_cast<const sockaddr*>(&v4), sizeof v4);
  }
  if (::inet_pton(AF_INET6, address.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    return from(reinterpret_cast<const sockaddr*>(&v6), sizeof v6);
  }
  return out;
}

endpoint udp_address::to_endpoint() const {
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (storage.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
    ::inet_ntop(AF_INET, &in->sin_addr, text.data(), text.size());
    return {text.data(), ntohs(in->sin_port)};
  }
  if (storage.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text.data(), text.size());
    return {text.data(), ntohs(in6->sin6_port)};
  }
  return {};
}

bool udp_address::operator==(const udp_address& other) const noexcept {
  // Compared field by field: the padding of a sockaddr says nothing.
  if (storage.ss_family != other.storage.ss_family) return false;
  if (storage.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&storage);
    const auto* b = reinterpret_cast<const sockaddr_in*>(&other.storage);
    return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
  }
  if (storage.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&storage);
    const auto* b = reinterpret_cast<const sockaddr_in6*>(&other.storage);
    return a->sin6_port == b->sin6_port && a->sin6_scope_id == b->sin6_scope_id &&
           std::memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
  }
  return length == other.length;
}


namespace {

std::string hex(const ngtcp2_cid& cid) { return to_hex({cid.data, cid.datalen}); }
std::string key(const std::uint8_t* data, std::size_t length) {
  return std::string(reinterpret_cast<const char*>(data), length);
}
std::string key(const ngtcp2_cid& cid) { return key(cid.data, cid.datalen); }

std::uint64_t ns(std::chrono::milliseconds d) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}
ngtcp2_tstamp stamp(quic_time t) { return static_cast<ngtcp2_tstamp>(t.count()); }

void random_bytes(std::uint8_t* dest, std::size_t length) {
  // GnuTLS's generator: connection IDs and reset tokens must not be guessable.
  if (gnutls_rnd(GNUTLS_RND_RANDOM, dest, length) != 0) std::memset(dest, 0, length);
}

// What a socket index looks like in a path's user_data, and back.
void* socket_tag(std::size_t socket) { return reinterpret_cast<void*>(static_cast<std::uintptr_t>(socket)); }
std::size_t socket_of(const ngtcp2_path& path) {
  return static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(path.user_data));
}

ngtcp2_path to_ngtcp2(const quic_path& path) {
  return ngtcp2_path{{const_cast<sockaddr*>(path.local.get()), path.local.length},
                     {const_cast<sockaddr*>(path.remote.get()), path.remote.length},
                     socket_tag(path.socket)};
}

quic_path from_ngtcp2(const ngtcp2_path& path) {
  return quic_path{udp_address::from(path.local.addr, path.local.addrlen),
                   udp_address::from(path.remote.addr, path.remote.addrlen), socket_of(path)};
}

quic_time pto(ngtcp2_conn* conn) { return quic_time(static_cast<std::int64_t>(ngtcp2_conn_get_pto(conn))); }

socket_tuple tuple_of(const quic_path& path) { return {path.local.to_endpoint(), path.remote.to_endpoint()}; }

// The priority string of the upstream example server (GnuTLS): TLS 1.3 only, as QUIC requires,
// without the middlebox compatibility mode QUIC forbids.
constexpr const char* tls_priority =
    "%DISABLE_TLS13_COMPAT_MODE:NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"
    "+CHACHA20-POLY1305:+AES-128-CCM:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:"
    "+GROUP-SECP521R1";

constexpr std::string_view h3_alpn = "h3";

// The client's ALPN must have offered h3 (GNUTLS_ALPN_MANDATORY alone lets a client without the
// extension through).
int client_hello(gnutls_session_t session, unsigned int, unsigned int, unsigned int, const gnutls_datum_t*) {
  gnutls_datum_t alpn{};
  if (gnutls_alpn_get_selected_protocol(session, &alpn) != 0) return GNUTLS_E_NO_APPLICATION_PROTOCOL;
  if (std::string_view(reinterpret_cast<const char*>(alpn.data), alpn.size) != h3_alpn)
    return GNUTLS_E_NO_APPLICATION_PROTOCOL;
  return 0;
}

// One request stream: its head while it comes in, then the answer's body until the stream
// closes (nghttp3 reads it in place until the client has acknowledged it).
struct stream_state {
  std::int64_t id = 0;
  http_request head;
  std::optional<http_error> error;
  std::size_t header_bytes = 0;
  std::size_t header_lines = 0;
  bool have_method = false;
  bool have_path = false;
  bool answered = false;
  std::string body;
  // A body that goes on (hooks.follow: the board's event stream) until end_body(): pieces
  // handed to nghttp3 stay put until the client acknowledges them (a deque moves none of
  // them when it grows at its ends), then are let go.
  bool open_ended = false;
  bool eof = false;                 // end_body(): the last piece is in
  std::deque<std::string> pieces;   // given to nghttp3 (the first `given`) or waiting
  std::size_t given = 0;
  std::uint64_t acked_in_front = 0;  // bytes of pieces.front() acknowledged
  std::uint64_t unacked = 0;        // bytes in pieces, sent or not
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// One connection
// ---------------------------------------------------------------------------------------------

struct quic_connection {
  enum class state { open, closing, draining };

  explicit quic_connection(quic_core::impl& c) : core(c) {}
  ~quic_connection() {
    if (h3) nghttp3_conn_del(h3);
    if (conn) ngtcp2_conn_del(conn);
    if (session) gnutls_deinit(session);
  }
  quic_connection(const quic_connection&) = delete;
  quic_connection& operator=(const quic_connection&) = delete;

  quic_core::impl& core;
  std::uint64_t id = 0;
  ngtcp2_conn* conn = nullptr;
  nghttp3_conn* h3 = nullptr;
  gnutls_session_t session = nullptr;
  ngtcp2_crypto_conn_ref ref{};
  quic_path path;      // the current path, as ngtcp2 has it
  socket_tuple tuple;  // the same as our endpoints
  quic_details details;
  std::vector<std::string> cids;  // our keys in the core's table
  std::unordered_map<std::int64_t, std::unique_ptr<stream_state>> streams;
  std::uint64_t requests = 0;
  std::vector<std::int64_t> finished;  // streams whose request is complete, answered after the read
  state st = state::open;
  ngtcp2_connection_close_error last_error{};
  std::string reason;
  std::vector<std::uint8_t> close_packet;  // repeated in the closing period
  unsigned close_repeats = 0;
  quic_time close_until{};
  bool connected = false;
  bool goaway = false;
  bool reported = false;  // quic_closed is out
};

struct quic_core::impl {
  quic_limits limits;
  quic_hooks hooks;
  gnutls_certificate_credentials_t credentials = nullptr;
  gnutls_priority_t priority = nullptr;
  std::array<std::uint8_t, 32> secret{};  // for stateless reset tokens
  std::unordered_map<std::string, quic_connection*> by_cid;
  std::unordered_map<std::uint64_t, std::unique_ptr<quic_connection>> by_id;
  std::vector<std::unique_ptr<quic_connection>> gone;  // deleted once the call that removed them returns
  std::vector<std::uint8_t> buffer = std::vector<std::uint8_t>(64 * 1024);
  bool stopping = false;
  std::uint64_t dropped = 0;

  ~impl() {
    by_cid.clear();
    by_id.clear();
    gone.clear();
    if (priority) gnutls_priority_deinit(priority);
    if (credentials) gnutls_certificate_free_credentials(credentials);
  }

  std::string setup(const std::string& chain_pem, const std::string& key_pem);
  void receive(const quic_path& path, std::span<const std::uint8_t> datagram, quic_time now);
  quic_connection* accept(const quic_path& path, const ngtcp2_pkt_hd& hd, quic_time now);
  void feed(quic_connection& c, const quic_path& path, std::span<const std::uint8_t> datagram, quic_time now);
  void read_failed(quic_connection& c, int rv, quic_time now);
  void expire(quic_connection& c, quic_time now);
  void write(quic_connection& c, quic_time now);
  void arm(quic_connection& c);
  void note_path(quic_connection& c);
  void close(quic_connection& c, quic_time now);
  void report_closed(quic_connection& c);
  void remove(quic_connection& c);
  void after(quic_connection& c, quic_time now);
  int setup_h3(quic_connection& c);
  void answer(quic_connection& c, stream_state& s);
  void unfollow(quic_connection& c, std::int64_t stream);
  // A stream answered by hooks.follow whose body is still open, with its connection (open too).
  struct followed_stream {
    quic_connection* connection = nullptr;
    stream_state* stream = nullptr;
  };
  followed_stream followed(std::uint64_t id, std::int64_t stream) const;
  void send(const ngtcp2_path& path, const std::uint8_t* data, std::size_t length) {
    hooks.send(from_ngtcp2(path), {data, length});
  }
  void send(const quic_path& path, const std::uint8_t* data, std::size_t length) { hooks.send(path, {data, length}); }
  void version_negotiation(const quic_path& path, const ngtcp2_version_cid& vc);
  void refuse(const quic_path& path, const ngtcp2_pkt_hd& hd);
  std::size_t open_count() const {
    return static_cast<std::size_t>(std::count_if(by_id.begin(), by_id.end(), [](const auto& e) {
      return e.second->st == quic_connection::state::open;
    }));
  }
};

// The libraries' callbacks: each takes its connection from user_data.
struct quic_callbacks {
  static quic_connection& of(void* user_data) { return *static_cast<quic_connection*>(user_data); }

  static ngtcp2_conn* get_conn(ngtcp2_crypto_conn_ref* ref) { return of(ref->user_data).conn; }

  static void rand(std::uint8_t* dest, std::size_t length, const ngtcp2_rand_ctx*) { random_bytes(dest, length); }

  static int new_connection_id(ngtcp2_conn*, ngtcp2_cid* cid, std::uint8_t* token, std::size_t length,
                               void* user_data) {
    quic_connection& c = of(user_data);
    // A new ID must not name another connection already.
    for (int attempt = 0; attempt < 8; ++attempt) {
      random_bytes(cid->data, length);
      cid->datalen = length;
      if (!c.core.by_cid.contains(key(*cid))) break;
    }
    if (ngtcp2_crypto_generate_stateless_reset_token(token, c.core.secret.data(), c.core.secret.size(), cid) != 0)
      return NGTCP2_ERR_CALLBACK_FAILURE;
    c.cids.push_back(key(*cid));
    c.core.by_cid[c.cids.back()] = &c;
    return 0;
  }

  static int remove_connection_id(ngtcp2_conn*, const ngtcp2_cid* cid, void* user_data) {
    quic_connection& c = of(user_data);
    const std::string k = key(*cid);
    c.core.by_cid.erase(k);
    std::erase(c.cids, k);
    return 0;
  }

  static int handshake_completed(ngtcp2_conn*, void* user_data) {
    quic_connection& c = of(user_data);
    c.connected = true;
    c.core.hooks.report(quic_connected_event{c.id, c.tuple, c.details.client_cid, c.details.server_cid,
                                             c.details.version, std::string(h3_alpn)});
    return 0;
  }

  static int recv_tx_key(ngtcp2_conn*, ngtcp2_crypto_level level, void* user_data) {
    if (level != NGTCP2_CRYPTO_LEVEL_APPLICATION) return 0;
    quic_connection& c = of(user_data);
    return c.core.setup_h3(c) == 0 ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
  }

  static int recv_stream_data(ngtcp2_conn* conn, std::uint32_t flags, std::int64_t stream_id, std::uint64_t,
                              const std::uint8_t* data, std::size_t length, void* user_data, void*) {
    quic_connection& c = of(user_data);
    if (!c.h3) return 0;
    const nghttp3_ssize n =
        nghttp3_conn_read_stream(c.h3, stream_id, data, length, (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0);
    if (n < 0) {
      ngtcp2_connection_close_error_set_application_error(
          &c.last_error, nghttp3_err_infer_quic_app_error_code(static_cast<int>(n)), nullptr, 0);
      c.reason = fmt::format("HTTP/3 error: {}", nghttp3_strerror(static_cast<int>(n)));
      return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    // What nghttp3 has taken (the rest it consumes later, deferred_consume) the client may send again.
    ngtcp2_conn_extend_max_stream_offset(conn, stream_id, static_cast<std::uint64_t>(n));
    ngtcp2_conn_extend_max_offset(conn, static_cast<std::uint64_t>(n));
    return 0;
  }

  static int acked_stream_data_offset(ngtcp2_conn*, std::int64_t stream_id, std::uint64_t, std::uint64_t length,
                                      void* user_data, void*) {
    quic_connection& c = of(user_data);
    if (c.h3 && nghttp3_conn_add_ack_offset(c.h3, stream_id, length) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
  }

  static int stream_open(ngtcp2_conn*, std::int64_t stream_id, void* user_data) {
    // A request begun (its first bytes came): from here the shutdown waits for its answer.
    if (!ngtcp2_is_bidi_stream(stream_id)) return 0;
    auto& slot = of(user_data).streams[stream_id];
    if (!slot) {
      slot = std::make_unique<stream_state>();
      slot->id = stream_id;
    }
    return 0;
  }

  static int stream_close(ngtcp2_conn* conn, std::uint32_t flags, std::int64_t stream_id, std::uint64_t app_error,
                          void* user_data, void*) {
    quic_connection& c = of(user_data);
    if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET)) app_error = NGHTTP3_H3_NO_ERROR;
    int rv = 0;
    if (c.h3) {
      rv = nghttp3_conn_close_stream(c.h3, stream_id, app_error);
      if (rv == NGHTTP3_ERR_STREAM_NOT_FOUND) {
        // A stream nghttp3 never saw: its place among the streams allowed is given back here.
        if (ngtcp2_is_bidi_stream(stream_id)) ngtcp2_conn_extend_max_streams_bidi(conn, 1);
        rv = 0;
      } else if (rv != 0) {
        ngtcp2_connection_close_error_set_application_error(&c.last_error, nghttp3_err_infer_quic_app_error_code(rv),
                                                            nullptr, 0);
      }
    }
    // After nghttp3 is done with it (its own close may have erased it already).
    c.streams.erase(stream_id);
    return rv == 0 ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
  }

  static int stream_reset(ngtcp2_conn*, std::int64_t stream_id, std::uint64_t, std::uint64_t, void* user_data,
                          void*) {
    quic_connection& c = of(user_data);
    if (c.h3 && nghttp3_conn_shutdown_stream_read(c.h3, stream_id) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
  }

  static int stream_stop_sending(ngtcp2_conn*, std::int64_t stream_id, std::uint64_t, void* user_data, void*) {
    quic_connection& c = of(user_data);
    if (c.h3 && nghttp3_conn_shutdown_stream_read(c.h3, stream_id) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
  }

  static int extend_max_remote_streams_bidi(ngtcp2_conn*, std::uint64_t max_streams, void* user_data) {
    quic_connection& c = of(user_data);
    if (c.h3) nghttp3_conn_set_max_client_streams_bidi(c.h3, max_streams);
    return 0;
  }

  static int extend_max_stream_data(ngtcp2_conn*, std::int64_t stream_id, std::uint64_t, void* user_data, void*) {
    quic_connection& c = of(user_data);
    if (c.h3 && nghttp3_conn_unblock_stream(c.h3, stream_id) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
  }

  // nghttp3's, with the connection as conn_user_data and the stream as stream_user_data.

  static int begin_headers(nghttp3_conn* h3, std::int64_t stream_id, void* user_data, void*) {
    quic_connection& c = of(user_data);
    auto& slot = c.streams[stream_id];
    if (!slot) {
      slot = std::make_unique<stream_state>();
      slot->id = stream_id;
    }
    nghttp3_conn_set_stream_user_data(h3, stream_id, slot.get());
    return 0;
  }

  static int recv_header(nghttp3_conn*, std::int64_t, std::int32_t token, nghttp3_rcbuf* name, nghttp3_rcbuf* value,
                         std::uint8_t, void* user_data, void* stream_user_data) {
    quic_connection& c = of(user_data);
    auto* s = static_cast<stream_state*>(stream_user_data);
    if (!s || s->error) return 0;  // over a limit already: the rest is not kept
    const nghttp3_vec n = nghttp3_rcbuf_get_buf(name);
    const nghttp3_vec v = nghttp3_rcbuf_get_buf(value);
    const std::string_view nv(reinterpret_cast<const char*>(n.base), n.len);
    const std::string_view vv(reinterpret_cast<const char*>(v.base), v.len);
    const http_limits& limits = c.core.limits.head;
    http_request& r = s->head;
    switch (token) {
      case NGHTTP3_QPACK_TOKEN__METHOD:
        r.method.assign(vv);
        s->have_method = true;
        return 0;
      case NGHTTP3_QPACK_TOKEN__PATH:
        if (vv.size() > limits.request_line) {
          s->error = http_error::uri_too_long;
          return 0;
        }
        r.target.assign(vv);
        s->have_path = true;
        return 0;
      case NGHTTP3_QPACK_TOKEN__AUTHORITY:
        // HTTP/1.1's Host, as RFC 9114 4.3.1 says (and h2.cpp does for HTTP/2).
        r.headers.emplace_back("Host", std::string(vv));
        return 0;
      default:
        break;
    }
    if (!nv.empty() && nv.front() == ':') return 0;  // :scheme, :protocol: checked by nghttp3, not shown
    s->header_bytes += nv.size() + vv.size() + 4;     // as "Name: value\r\n" would count
    ++s->header_lines;
    if (s->header_bytes > limits.header_bytes || s->header_lines > limits.header_lines) {
      s->error = http_error::headers_too_large;
      return 0;
    }
    r.headers.emplace_back(std::string(nv), std::string(vv));
    return 0;
  }

  static int end_stream(nghttp3_conn*, std::int64_t stream_id, void* user_data, void*) {
    // Answered once the whole datagram is read: if it came on a new path, ngtcp2 moves the
    // connection at its end, and the answer (and the log) must name the path it goes out on.
    of(user_data).finished.push_back(stream_id);
    return 0;
  }

  static int h3_stream_close(nghttp3_conn*, std::int64_t stream_id, std::uint64_t, void* user_data, void*) {
    quic_connection& c = of(user_data);
    if (auto it = c.streams.find(stream_id); it != c.streams.end() && it->second->open_ended)
      c.core.unfollow(c, stream_id);
    c.streams.erase(stream_id);
    if (ngtcp2_is_bidi_stream(stream_id)) ngtcp2_conn_extend_max_streams_bidi(c.conn, 1);
    return 0;
  }

  static int recv_data(nghttp3_conn*, std::int64_t stream_id, const std::uint8_t*, std::size_t length,
                       void* user_data, void*) {
    // A request body (POST): not read, but taken, so the client is not blocked by flow control.
    return consume(of(user_data), stream_id, length);
  }

  static int deferred_consume(nghttp3_conn*, std::int64_t stream_id, std::size_t consumed, void* user_data,
                              void*) {
    return consume(of(user_data), stream_id, consumed);
  }

  static int consume(quic_connection& c, std::int64_t stream_id, std::size_t n) {
    ngtcp2_conn_extend_max_stream_offset(c.conn, stream_id, n);
    ngtcp2_conn_extend_max_offset(c.conn, n);
    return 0;
  }

  static int stop_sending(nghttp3_conn*, std::int64_t stream_id, std::uint64_t app_error, void* user_data, void*) {
    ngtcp2_conn_shutdown_stream_read(of(user_data).conn, stream_id, app_error);
    return 0;
  }

  static int reset_stream(nghttp3_conn*, std::int64_t stream_id, std::uint64_t app_error, void* user_data, void*) {
    ngtcp2_conn_shutdown_stream_write(of(user_data).conn, stream_id, app_error);
    return 0;
  }

  static nghttp3_ssize read_more(nghttp3_conn*, std::int64_t, nghttp3_vec* vec, std::size_t veccnt,
                                 std::uint32_t* flags, void*, void* stream_user_data) {
    auto* s = static_cast<stream_state*>(stream_user_data);
    if (!s) return NGHTTP3_ERR_CALLBACK_FAILURE;
    std::size_t n = 0;
    for (; n < veccnt && s->given < s->pieces.size(); ++n, ++s->given) {
      std::string& piece = s->pieces[s->given];
      vec[n].base = reinterpret_cast<std::uint8_t*>(piece.data());
      vec[n].len = piece.size();
    }
    if (s->eof && s->given == s->pieces.size()) *flags |= NGHTTP3_DATA_FLAG_EOF;
    else if (n == 0) return NGHTTP3_ERR_WOULDBLOCK;  // end_body() or send_body() resumes it
    return static_cast<nghttp3_ssize>(n);
  }

  // The client acknowledged `length` more bytes of a stream's body: pieces wholly acknowledged
  // are let go (those of an answer in one piece go with the stream).
  static int acked_body(nghttp3_conn*, std::int64_t, std::uint64_t length, void*, void* stream_user_data) {
    auto* s = static_cast<stream_state*>(stream_user_data);
    if (!s || !s->open_ended) return 0;
    s->unacked -= std::min(s->unacked, length);
    s->acked_in_front += length;
    while (!s->pieces.empty() && s->given > 0 && s->acked_in_front >= s->pieces.front().size()) {
      s->acked_in_front -= s->pieces.front().size();
      s->pieces.pop_front();
      --s->given;
    }
    return 0;
  }

  static nghttp3_ssize read_body(nghttp3_conn*, std::int64_t, nghttp3_vec* vec, std::size_t veccnt,
                                 std::uint32_t* flags, void*, void* stream_user_data) {
    auto* s = static_cast<stream_state*>(stream_user_data);
    if (!s || veccnt == 0) return NGHTTP3_ERR_CALLBACK_FAILURE;
    vec[0].base = reinterpret_cast<std::uint8_t*>(s->body.data());
    vec[0].len = s->body.size();
    *flags |= NGHTTP3_DATA_FLAG_EOF;
    return 1;
  }
};

// ---------------------------------------------------------------------------------------------
// The core
// ---------------------------------------------------------------------------------------------

std::string quic_core::impl::setup(const std::string& chain_pem, const std::string& key_pem) {
  random_bytes(secret.data(), secret.size());
  if (int rv = gnutls_certificate_allocate_credentials(&credentials); rv != 0)
    return fmt::format("GnuTLS credentials: {}", gnutls_strerror(rv));
  gnutls_datum_t cert{reinterpret_cast<unsigned char*>(const_cast<char*>(chain_pem.data())),
                      static_cast<unsigned int>(chain_pem.size())};
  gnutls_datum_t key_datum{reinterpret_cast<unsigned char*>(const_cast<char*>(key_pem.data())),
                           static_cast<unsigned int>(key_pem.size())};
  if (int rv = gnutls_certificate_set_x509_key_mem(credentials, &cert, &key_datum, GNUTLS_X509_FMT_PEM); rv < 0)
    return fmt::format("GnuTLS could not use the certificate and key: {}", gnutls_strerror(rv));
  const char* where = nullptr;
  if (int rv = gnutls_priority_init(&priority, tls_priority, &where); rv != 0)
    return fmt::format("GnuTLS priority string at \"{}\": {}", where ? where : "", gnutls_strerror(rv));
  return {};
}

int quic_core::impl::setup_h3(quic_connection& c) {
  if (c.h3) return 0;
  // The client's control stream and two QPACK streams need three unidirectional streams of ours.
  if (ngtcp2_conn_get_max_local_streams_uni(c.conn) < 3) {
    c.reason = "the client allows fewer than 3 unidirectional streams (HTTP/3 needs them)";
    return -1;
  }
  nghttp3_callbacks callbacks{};
  callbacks.stream_close = &quic_callbacks::h3_stream_close;
  callbacks.acked_stream_data = &quic_callbacks::acked_body;
  callbacks.recv_data = &quic_callbacks::recv_data;
  callbacks.deferred_consume = &quic_callbacks::deferred_consume;
  callbacks.begin_headers = &quic_callbacks::begin_headers;
  callbacks.recv_header = &quic_callbacks::recv_header;
  callbacks.stop_sending = &quic_callbacks::stop_sending;
  callbacks.end_stream = &quic_callbacks::end_stream;
  callbacks.reset_stream = &quic_callbacks::reset_stream;
  nghttp3_settings settings;
  nghttp3_settings_default(&settings);
  // What a client's header block may weigh, as HTTP/2's SETTINGS_MAX_HEADER_LIST_SIZE has it;
  // ours is counted per field (recv_header) and answered with 431.
  settings.max_field_section_size = limits.head.header_bytes + limits.head.request_line + 1024;
  settings.qpack_max_dtable_capacity = 4096;
  settings.qpack_blocked_streams = 100;
  if (int rv = nghttp3_conn_server_new(&c.h3, &callbacks, &settings, nghttp3_mem_default(), &c); rv != 0) {
    c.reason = fmt::format("HTTP/3: {}", nghttp3_strerror(rv));
    return -1;
  }
  const ngtcp2_transport_params* params = ngtcp2_conn_get_local_transport_params(c.conn);
  nghttp3_conn_set_max_client_streams_bidi(c.h3, params->initial_max_streams_bidi);
  std::int64_t control = 0;
  std::int64_t encoder = 0;
  std::int64_t decoder = 0;
  if (ngtcp2_conn_open_uni_stream(c.conn, &control, nullptr) != 0 ||
      nghttp3_conn_bind_control_stream(c.h3, control) != 0 ||
      ngtcp2_conn_open_uni_stream(c.conn, &encoder, nullptr) != 0 ||
      ngtcp2_conn_open_uni_stream(c.conn, &decoder, nullptr) != 0 ||
      nghttp3_conn_bind_qpack_streams(c.h3, encoder, decoder) != 0) {
    c.reason = "HTTP/3: could not open the control and QPACK streams";
    return -1;
  }
  if (stopping) {
    nghttp3_conn_submit_shutdown_notice(c.h3);
    nghttp3_conn_shutdown(c.h3);
    c.goaway = true;
  }
  return 0;
}

void quic_core::impl::answer(quic_connection& c, stream_state& s) {
  if (s.answered) return;
  s.answered = true;
  quic_request request{c.id, s.id, ++c.requests, c.tuple, s.head, s.error, &c.details, tls_details{}};
  if (!request.error && (!s.have_method || !s.have_path)) request.error = http_error::bad_request;
  request.tls.version = "TLSv1.3";
  if (const char* suite = gnutls_ciphersuite_get(c.session)) request.tls.cipher = suite;
  std::optional<quic_answer> followed;
  if (hooks.follow && !request.error) followed = hooks.follow(request);
  const http_response response = followed ? std::move(followed->response) : hooks.respond(request);
  const bool head_only = s.head.method == "HEAD";
  if (followed && followed->goes_on) {
    s.open_ended = true;
    if (!response.body.empty()) {
      s.unacked += response.body.size();
      s.pieces.push_back(response.body);
    }
  } else if (!head_only) {
    s.body = response.body;
  }
  auto fields = response_fields(response);
  // No content-length for a body that goes on: the body's end is the stream's.
  if (s.open_ended) std::erase_if(fields, [](const auto& f) { return f.first == "content-length"; });
  std::vector<nghttp3_nv> nv;
  nv.reserve(fields.size());
  for (const auto& [name, value] : fields)
    nv.push_back({const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(name.data())),
                  const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(value.data())), name.size(),
                  value.size(), NGHTTP3_NV_FLAG_NONE});
  nghttp3_data_reader reader{&quic_callbacks::read_body};
  nghttp3_data_reader more{&quic_callbacks::read_more};
  nghttp3_conn_submit_response(c.h3, s.id, nv.data(), nv.size(),
                               s.open_ended ? &more : s.body.empty() ? nullptr : &reader);
}

void quic_core::impl::unfollow(quic_connection& c, std::int64_t stream) {
  if (hooks.unfollowed) hooks.unfollowed(c.id, stream);
}

quic_core::impl::followed_stream quic_core::impl::followed(std::uint64_t id, std::int64_t stream) const {
  auto it = by_id.find(id);
  if (it == by_id.end() || it->second->st != quic_connection::state::open || !it->second->h3) return {};
  auto s = it->second->streams.find(stream);
  if (s == it->second->streams.end() || !s->second->open_ended || s->second->eof) return {};
  return {it->second.get(), s->second.get()};
}

void quic_core::impl::receive(const quic_path& path, std::span<const std::uint8_t> datagram, quic_time now) {
  // An empty datagram is legal UDP; ngtcp2 0.12 asserts on it (ngtcp2_pkt.c: `datalen`).
  if (datagram.empty()) {
    ++dropped;
    return;
  }
  ngtcp2_version_cid vc{};
  const int rv = ngtcp2_pkt_decode_version_cid(&vc, datagram.data(), datagram.size(), quic_core::cid_length);
  if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
    version_negotiation(path, vc);
    return;
  }
  if (rv != 0) {
    ++dropped;
    return;
  }
  if (auto it = by_cid.find(key(vc.dcid, vc.dcidlen)); it != by_cid.end()) {
    quic_connection& c = *it->second;
    feed(c, path, datagram, now);
    return;
  }
  // A new client's Initial, or nothing we know: a short-header packet for a connection gone
  // (a stateless reset would say so; optional, and not sent).
  ngtcp2_pkt_hd hd{};
  if (vc.version == 0 || ngtcp2_accept(&hd, datagram.data(), datagram.size()) != 0) {
    ++dropped;
    return;
  }
  if (stopping) {
    ++dropped;  // no new connections; the client times out or tries TCP
    return;
  }
  if (open_count() >= limits.max_connections) {
    refuse(path, hd);
    return;
  }
  quic_connection* c = accept(path, hd, now);
  if (!c) {
    ++dropped;
    return;
  }
  feed(*c, path, datagram, now);
}

void quic_core::impl::version_negotiation(const quic_path& path, const ngtcp2_version_cid& vc) {
  // A version we do not speak: tell the client which we do (RFC 9000 6), with a reserved
  // version first as RFC 9000 15 suggests, so clients do not come to depend on the list's end.
  const std::array<std::uint32_t, 2> versions{0x1a2a3a4au, NGTCP2_PROTO_VER_V1};
  std::uint8_t unused = 0;
  random_bytes(&unused, 1);
  const ngtcp2_ssize n = ngtcp2_pkt_write_version_negotiation(buffer.data(), NGTCP2_MAX_UDP_PAYLOAD_SIZE, unused,
                                                              vc.scid, vc.scidlen, vc.dcid, vc.dcidlen,
                                                              versions.data(), versions.size());
  if (n > 0) send(path, buffer.data(), static_cast<std::size_t>(n));
}

void quic_core::impl::refuse(const quic_path& path, const ngtcp2_pkt_hd& hd) {
  // Over the cap: CONNECTION_CLOSE with CONNECTION_REFUSED, sent without a connection (the
  // Initial keys come from the client's IDs), as TCP's "busy" answer.
  // Its source ID is the client's first destination ID, from which both ends derive the keys.
  const ngtcp2_ssize n = ngtcp2_crypto_write_connection_close(buffer.data(), NGTCP2_MAX_UDP_PAYLOAD_SIZE, hd.version,
                                                              &hd.scid, &hd.dcid, NGTCP2_CONNECTION_REFUSED,
                                                              nullptr, 0);
  if (n > 0) send(path, buffer.data(), static_cast<std::size_t>(n));
  const std::uint64_t id = hooks.next_id();
  hooks.report(quic_closed_event{id, tuple_of(path), 0, 0,
                                 fmt::format("refused: {} QUIC connections open (--max-connections)",
                                             limits.max_connections)});
}

quic_connection* quic_core::impl::accept(const quic_path& path, const ngtcp2_pkt_hd& hd, quic_time now) {
  auto owned = std::make_unique<quic_connection>(*this);
  quic_connection& c = *owned;
  c.id = hooks.next_id();
  c.path = path;
  c.tuple = tuple_of(path);
  ngtcp2_connection_close_error_default(&c.last_error);

  ngtcp2_cid scid{};
  scid.datalen = quic_core::cid_length;
  for (int attempt = 0; attempt < 8; ++attempt) {
    random_bytes(scid.data, scid.datalen);
    if (!by_cid.contains(key(scid))) break;
  }

  ngtcp2_callbacks callbacks{};
  callbacks.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
  callbacks.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
  callbacks.handshake_completed = &quic_callbacks::handshake_completed;
  callbacks.encrypt = ngtcp2_crypto_encrypt_cb;
  callbacks.decrypt = ngtcp2_crypto_decrypt_cb;
  callbacks.hp_mask = ngtcp2_crypto_hp_mask_cb;
  callbacks.recv_stream_data = &quic_callbacks::recv_stream_data;
  callbacks.acked_stream_data_offset = &quic_callbacks::acked_stream_data_offset;
  callbacks.stream_open = &quic_callbacks::stream_open;
  callbacks.stream_close = &quic_callbacks::stream_close;
  callbacks.rand = &quic_callbacks::rand;
  callbacks.get_new_connection_id = &quic_callbacks::new_connection_id;
  callbacks.remove_connection_id = &quic_callbacks::remove_connection_id;
  callbacks.update_key = ngtcp2_crypto_update_key_cb;
  callbacks.stream_reset = &quic_callbacks::stream_reset;
  callbacks.extend_max_remote_streams_bidi = &quic_callbacks::extend_max_remote_streams_bidi;
  callbacks.extend_max_stream_data = &quic_callbacks::extend_max_stream_data;
  callbacks.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
  callbacks.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
  callbacks.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
  callbacks.stream_stop_sending = &quic_callbacks::stream_stop_sending;
  callbacks.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
  callbacks.recv_tx_key = &quic_callbacks::recv_tx_key;

  ngtcp2_settings settings;
  ngtcp2_settings_default(&settings);
  settings.initial_ts = stamp(now);
  settings.handshake_timeout = ns(limits.handshake_timeout);
  // The windows the receive side may grow to: what one client can make us hold.
  settings.max_window = limits.connection_window;
  settings.max_stream_window = limits.stream_window;
  // No token: the client's address is validated by the handshake, and until then ngtcp2 sends
  // at most three times what it received (the anti-amplification limit of RFC 9000 8.1).

  ngtcp2_transport_params params;
  ngtcp2_transport_params_default(&params);
  params.initial_max_stream_data_bidi_local = limits.stream_window;
  params.initial_max_stream_data_bidi_remote = limits.stream_window;
  params.initial_max_stream_data_uni = limits.stream_window;
  params.initial_max_data = limits.connection_window;
  params.initial_max_streams_bidi = limits.max_streams;
  params.initial_max_streams_uni = 8;  // the client's control and QPACK streams, and a few to spare
  params.max_idle_timeout = ns(limits.idle_timeout);
  params.active_connection_id_limit = 7;
  params.original_dcid = hd.dcid;
  params.stateless_reset_token_present = 1;
  if (ngtcp2_crypto_generate_stateless_reset_token(params.stateless_reset_token, secret.data(), secret.size(),
                                                   &scid) != 0)
    return nullptr;

  const ngtcp2_path p = to_ngtcp2(path);
  if (ngtcp2_conn_server_new(&c.conn, &hd.scid, &scid, &p, hd.version, &callbacks, &settings, &params, nullptr,
                             &c) != 0)
    return nullptr;

  // The TLS side: GnuTLS as the upstream example server sets it up, without session tickets or
  // early data (0-RTT), which a demonstration does not need.
  if (gnutls_init(&c.session, GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET | GNUTLS_NO_END_OF_EARLY_DATA) != 0)
    return nullptr;
  gnutls_priority_set(c.session, priority);
  gnutls_handshake_set_hook_function(c.session, GNUTLS_HANDSHAKE_CLIENT_HELLO, GNUTLS_HOOK_POST, client_hello);
  if (ngtcp2_crypto_gnutls_configure_server_session(c.session) != 0) return nullptr;
  c.ref = ngtcp2_crypto_conn_ref{&quic_callbacks::get_conn, &c};
  gnutls_session_set_ptr(c.session, &c.ref);
  if (gnutls_credentials_set(c.session, GNUTLS_CRD_CERTIFICATE, credentials) != 0) return nullptr;
  gnutls_datum_t alpn{reinterpret_cast<unsigned char*>(const_cast<char*>(h3_alpn.data())),
                      static_cast<unsigned int>(h3_alpn.size())};
  gnutls_alpn_set_protocols(c.session, &alpn, 1, GNUTLS_ALPN_MANDATORY | GNUTLS_ALPN_SERVER_PRECEDENCE);
  ngtcp2_conn_set_tls_native_handle(c.conn, c.session);

  c.details.client_cid = hex(hd.scid);
  c.details.server_cid = hex(scid);
  c.details.version = quic_version_text(hd.version);
  // The client's first packets name the ID it made up (its Initial's destination); later ones
  // name ours.
  for (const ngtcp2_cid* cid : std::array<const ngtcp2_cid*, 2>{&scid, &hd.dcid}) {
    c.cids.push_back(key(*cid));
    by_cid[c.cids.back()] = &c;
  }
  by_id[c.id] = std::move(owned);
  return &c;
}

void quic_core::impl::feed(quic_connection& c, const quic_path& path, std::span<const std::uint8_t> datagram,
                           quic_time now) {
  if (c.st == quic_connection::state::closing) {
    // The client has not heard our CONNECTION_CLOSE: say it again, a few times at most.
    if (!c.close_packet.empty() && c.close_repeats++ < 8) send(c.path, c.close_packet.data(), c.close_packet.size());
    return;
  }
  if (c.st == quic_connection::state::draining) return;
  const ngtcp2_path p = to_ngtcp2(path);
  ngtcp2_pkt_info info{};
  const int rv = ngtcp2_conn_read_pkt(c.conn, &p, &info, datagram.data(), datagram.size(), stamp(now));
  if (rv != 0) {
    read_failed(c, rv, now);
    return;
  }
  note_path(c);
  std::vector<std::int64_t> finished;
  finished.swap(c.finished);
  for (std::int64_t id : finished) {
    auto it = c.streams.find(id);
    if (it != c.streams.end() && c.h3) answer(c, *it->second);
  }
  after(c, now);
}

void quic_core::impl::read_failed(quic_connection& c, int rv, quic_time now) {
  switch (rv) {
    case NGTCP2_ERR_DRAINING: {
      // The client sent CONNECTION_CLOSE: nothing more is sent; the IDs stay ours for a while so
      // that its last packets find this connection and are dropped quietly.
      ngtcp2_connection_close_error theirs{};
      ngtcp2_conn_get_connection_close_error(c.conn, &theirs);
      const bool clean = theirs.error_code == NGTCP2_NO_ERROR ||
                         (theirs.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION &&
                          theirs.error_code == NGHTTP3_H3_NO_ERROR);
      c.reason = clean ? "closed by the client" : fmt::format("closed by the client (error 0x{:x})", theirs.error_code);
      c.st = quic_connection::state::draining;
      c.close_until = now + 3 * pto(c.conn);
      report_closed(c);
      arm(c);
      return;
    }
    case NGTCP2_ERR_DROP_CONN:
    case NGTCP2_ERR_RETRY:
      // A first datagram that does not decrypt (garbage behind a valid header) ends here: it
      // was never a connection, and is counted as dropped, not logged.
      if (c.reason.empty()) c.reason = "dropped by ngtcp2";
      if (c.connected) report_closed(c);
      else ++dropped;
      remove(c);
      return;
    case NGTCP2_ERR_CRYPTO: {
      ngtcp2_connection_close_error_set_transport_error_tls_alert(&c.last_error, ngtcp2_conn_get_tls_alert(c.conn),
                                                                  nullptr, 0);
      const int tls_error = ngtcp2_conn_get_tls_error(c.conn);
      if (c.reason.empty())
        c.reason = fmt::format("handshake failed: {}",
                               tls_error ? gnutls_strerror(tls_error) : ngtcp2_strerror(rv));
      break;
    }
    default:
      if (c.last_error.error_code == 0 && c.last_error.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_TRANSPORT)
        ngtcp2_connection_close_error_set_transport_error_liberr(&c.last_error, rv, nullptr, 0);
      if (c.reason.empty())
        c.reason = fmt::format("{}: {}", c.connected ? "protocol error" : "handshake failed", ngtcp2_strerror(rv));
      break;
  }
  close(c, now);
}

void quic_core::impl::note_path(quic_connection& c) {
  // ngtcp2 moves a connection to a new path itself (and validates it): what it uses now is the
  // kernel's tuple of the last datagram that moved it.
  const ngtcp2_path* current = ngtcp2_conn_get_path(c.conn);
  quic_path now_path = from_ngtcp2(*current);
  if (now_path.remote == c.path.remote && now_path.local == c.path.local) return;
  const socket_tuple from = c.tuple;
  const bool moved = !(now_path.remote == c.path.remote);
  c.path = now_path;
  c.tuple = tuple_of(now_path);
  if (!moved) return;  // the client reached another address of ours: the same client
  if (!c.details.first_tuple) c.details.first_tuple = from;
  ++c.details.migrations;
  hooks.report(quic_migrated_event{c.id, from, c.tuple, c.details.server_cid, c.details.migrations});
}

void quic_core::impl::write(quic_connection& c, quic_time now) {
  if (c.st != quic_connection::state::open) return;
  const std::size_t max_payload = std::min<std::size_t>(ngtcp2_conn_get_max_tx_udp_payload_size(c.conn), buffer.size());
  // A burst at most as large as ngtcp2's send quantum; the timer brings the next.
  const std::size_t burst = std::clamp<std::size_t>(ngtcp2_conn_get_send_quantum(c.conn) / max_payload, 1, 64);
  std::size_t sent = 0;
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  // Every pass writes a packet, or hands stream data to ngtcp2: bounded however the loop goes.
  for (int pass = 0; pass < 4096 && sent < burst; ++pass) {
    std::int64_t stream_id = -1;
    int fin = 0;
    std::array<nghttp3_vec, 16> vec{};
    nghttp3_ssize count = 0;
    if (c.h3 && ngtcp2_conn_get_max_data_left(c.conn) > 0) {
      count = nghttp3_conn_writev_stream(c.h3, &stream_id, &fin, vec.data(), vec.size());
      if (count < 0) {
        ngtcp2_connection_close_error_set_application_error(
            &c.last_error, nghttp3_err_infer_quic_app_error_code(static_cast<int>(count)), nullptr, 0);
        c.reason = fmt::format("HTTP/3 error: {}", nghttp3_strerror(static_cast<int>(count)));
        close(c, now);
        return;
      }
    }
    ngtcp2_ssize taken = -1;
    std::uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
    if (fin) flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
    ngtcp2_pkt_info info{};
    const ngtcp2_ssize n = ngtcp2_conn_writev_stream(c.conn, &ps.path, &info, buffer.data(), max_payload, &taken,
                                                     flags, stream_id, reinterpret_cast<const ngtcp2_vec*>(vec.data()),
                                                     static_cast<std::size_t>(count), stamp(now));
    if (n < 0) {
      if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
        nghttp3_conn_block_stream(c.h3, stream_id);
        continue;
      }
      if (n == NGTCP2_ERR_STREAM_SHUT_WR) {
        nghttp3_conn_shutdown_stream_write(c.h3, stream_id);
        continue;
      }
      if (n == NGTCP2_ERR_WRITE_MORE) {
        nghttp3_conn_add_write_offset(c.h3, stream_id, static_cast<std::size_t>(taken));
        continue;
      }
      ngtcp2_connection_close_error_set_transport_error_liberr(&c.last_error, static_cast<int>(n), nullptr, 0);
      c.reason = fmt::format("protocol error: {}", ngtcp2_strerror(static_cast<int>(n)));
      close(c, now);
      return;
    }
    if (taken >= 0 && c.h3) nghttp3_conn_add_write_offset(c.h3, stream_id, static_cast<std::size_t>(taken));
    if (n == 0) break;  // nothing more to send now, or the congestion window is full
    send(ps.path, buffer.data(), static_cast<std::size_t>(n));
    ++sent;
  }
  ngtcp2_conn_update_pkt_tx_time(c.conn, stamp(now));
}

void quic_core::impl::arm(quic_connection& c) {
  if (c.st != quic_connection::state::open) {
    hooks.timer(c.id, c.close_until);
    return;
  }
  const ngtcp2_tstamp expiry = ngtcp2_conn_get_expiry(c.conn);
  if (expiry == std::numeric_limits<ngtcp2_tstamp>::max()) return;  // no timer: the last one stands
  hooks.timer(c.id, quic_time(static_cast<std::int64_t>(expiry)));
}

void quic_core::impl::after(quic_connection& c, quic_time now) {
  // Stopping: a connection closes once its requests are answered (their streams closed).
  if (stopping && c.st == quic_connection::state::open && c.streams.empty()) {
    write(c, now);  // the GOAWAY first
    if (c.st != quic_connection::state::open) return;
    if (c.h3) ngtcp2_connection_close_error_set_application_error(&c.last_error, NGHTTP3_H3_NO_ERROR, nullptr, 0);
    if (c.reason.empty()) c.reason = "server stopping";
    close(c, now);
    return;
  }
  write(c, now);
  if (c.st == quic_connection::state::open) arm(c);
}

void quic_core::impl::expire(quic_connection& c, quic_time now) {
  if (c.st != quic_connection::state::open) {
    if (now >= c.close_until) remove(c);
    else arm(c);
    return;
  }
  const int rv = ngtcp2_conn_handle_expiry(c.conn, stamp(now));
  if (rv == NGTCP2_ERR_IDLE_CLOSE) {
    // The idle timeout: nothing is sent (RFC 9000 10.1); both ends forget the connection.
    c.reason = c.connected ? "idle" : "handshake never completed (idle)";
    report_closed(c);
    remove(c);
    return;
  }
  if (rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
    c.reason = fmt::format("handshake timed out after {} ms", limits.handshake_timeout.count());
    report_closed(c);
    remove(c);
    return;
  }
  if (rv != 0) {
    ngtcp2_connection_close_error_set_transport_error_liberr(&c.last_error, rv, nullptr, 0);
    c.reason = fmt::format("protocol error: {}", ngtcp2_strerror(rv));
    close(c, now);
    return;
  }
  after(c, now);
}

void quic_core::impl::close(quic_connection& c, quic_time now) {
  if (c.st != quic_connection::state::open) return;
  if (!ngtcp2_conn_is_in_closing_period(c.conn) && !ngtcp2_conn_is_in_draining_period(c.conn)) {
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info info{};
    const ngtcp2_ssize n = ngtcp2_conn_write_connection_close(c.conn, &ps.path, &info, buffer.data(),
                                                              NGTCP2_MAX_UDP_PAYLOAD_SIZE, &c.last_error, stamp(now));
    if (n > 0) {
      c.close_packet.assign(buffer.data(), buffer.data() + n);
      send(ps.path, c.close_packet.data(), c.close_packet.size());
    }
  }
  // The closing period (RFC 9000 10.2): three probe timeouts, answering what still comes with
  // the same CONNECTION_CLOSE.
  c.st = quic_connection::state::closing;
  c.close_until = now + 3 * pto(c.conn);
  report_closed(c);
  arm(c);
}

void quic_core::impl::report_closed(quic_connection& c) {
  if (c.reported) return;
  c.reported = true;
  hooks.report(quic_closed_event{c.id, c.tuple, c.requests, c.details.migrations, c.reason});
}

void quic_core::impl::remove(quic_connection& c) {
  for (auto& [stream, state] : c.streams)
    if (state->open_ended) unfollow(c, stream);
  for (const std::string& k : c.cids) {
    auto it = by_cid.find(k);
    if (it != by_cid.end() && it->second == &c) by_cid.erase(it);
  }
  c.cids.clear();
  hooks.timer(c.id, std::nullopt);
  auto it = by_id.find(c.id);
  if (it == by_id.end()) return;
  gone.push_back(std::move(it->second));  // `c` stays valid until the call that got here returns
  by_id.erase(it);
}

// ---------------------------------------------------------------------------------------------
// The public face
// ---------------------------------------------------------------------------------------------

quic_core::quic_core(const std::string& chain_pem, const std::string& key_pem, quic_limits limits, quic_hooks hooks)
    : impl_(std::make_unique<impl>()) {
  impl_->limits = limits;
  impl_->hooks = std::move(hooks);
  error_ = impl_->setup(chain_pem, key_pem);
}

quic_core::~quic_core() = default;

void quic_core::receive(const quic_path& path, std::span<const std::uint8_t> datagram, quic_time now) {
  if (!error_.empty()) return;
  impl_->receive(path, datagram, now);
  impl_->gone.clear();
}

void quic_core::expire(std::uint64_t id, quic_time now) {
  auto it = impl_->by_id.find(id);
  if (it != impl_->by_id.end()) impl_->expire(*it->second, now);
  impl_->gone.clear();
}

void quic_core::stop(quic_time now) {
  impl_->stopping = true;
  std::vector<quic_connection*> all;
  for (auto& [id, c] : impl_->by_id) all.push_back(c.get());
  for (quic_connection* c : all) {
    if (c->st != quic_connection::state::open) continue;
    if (c->h3 && !c->goaway) {
      // GOAWAY: the streams begun are answered, no new ones are taken.
      nghttp3_conn_submit_shutdown_notice(c->h3);
      nghttp3_conn_shutdown(c->h3);
      c->goaway = true;
    }
    impl_->after(*c, now);
  }
  impl_->gone.clear();
}

bool quic_core::send_body(std::uint64_t id, std::int64_t stream, std::string bytes, quic_time now) {
  const auto f = impl_->followed(id, stream);
  if (!f.stream) return false;
  if (!bytes.empty()) {
    f.stream->unacked += bytes.size();
    f.stream->pieces.push_back(std::move(bytes));
  }
  nghttp3_conn_resume_stream(f.connection->h3, stream);
  impl_->after(*f.connection, now);
  impl_->gone.clear();
  return true;
}

void quic_core::end_body(std::uint64_t id, std::int64_t stream, quic_time now) {
  const auto f = impl_->followed(id, stream);
  if (!f.stream) return;
  f.stream->eof = true;
  nghttp3_conn_resume_stream(f.connection->h3, stream);
  impl_->after(*f.connection, now);
  impl_->gone.clear();
}

std::uint64_t quic_core::unacked(std::uint64_t id, std::int64_t stream) const {
  const auto f = impl_->followed(id, stream);
  return f.stream ? f.stream->unacked : 0;
}

std::uint64_t quic_core::cut(quic_time now) {
  std::uint64_t n = 0;
  std::vector<quic_connection*> all;
  for (auto& [id, c] : impl_->by_id) all.push_back(c.get());
  for (quic_connection* c : all) {
    if (c->st != quic_connection::state::open) continue;
    if (c->h3) ngtcp2_connection_close_error_set_application_error(&c->last_error, NGHTTP3_H3_NO_ERROR, nullptr, 0);
    c->reason = "server stopping: the shutdown grace ran out";
    impl_->close(*c, now);
    ++n;
  }
  impl_->gone.clear();
  return n;
}

std::size_t quic_core::open() const noexcept { return impl_->open_count(); }
std::size_t quic_core::held() const noexcept { return impl_->by_id.size(); }
std::uint64_t quic_core::dropped() const noexcept { return impl_->dropped; }

}  // namespace portdemo::server
