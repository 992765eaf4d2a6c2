// demo-client --http3: a QUIC connection made by ngtcp2 (0.12, GnuTLS backend) over a connected
// UDP socket, HTTP/3 on it by nghttp3 (0.8). Shaped after ngtcp2's own example client at v0.12.1
// (examples/client.cc, tls_client_session_gnutls.cc), driven by Asio instead of libev: the
// socket's readiness and one timer (ngtcp2's expiry) call into the libraries; the run, a
// coroutine, waits on the state they leave and reports it, top to bottom.

#include "http3.hpp"

#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>

#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/ip/udp.hpp>

#include "http3_words.hpp"
#include "portdemo/asio_adapter.hpp"
#include "portdemo/deadline.hpp"
#include "portdemo/proc_net.hpp"
#include "portdemo/text.hpp"
#include "portdemo/version.hpp"

namespace portdemo::client {

namespace {

using asio::ip::udp;
using namespace std::chrono_literals;

// TLS 1.3 only, the ciphers and groups QUIC uses: ngtcp2's example client's defaults
// (util_gnutls.cc crypto_default_ciphers, crypto_default_groups). No compatibility mode: QUIC
// has no middleboxes to fool.
constexpr const char* tls_priority =
    "%DISABLE_TLS13_COMPAT_MODE:NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"
    "+CHACHA20-POLY1305:+AES-128-CCM:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:"
    "+GROUP-SECP521R1";

// 8 bytes: as short as QUIC v1 allows for the first destination ID, and 16 hex digits on the
// projector for this end's own ID.
constexpr std::size_t cid_length = 8;

// The most of a response body kept: /json is well under 2 KiB.
constexpr std::size_t max_body = 64 * 1024;

// Packets sent in one go before the loop yields to reading.
constexpr int max_packets_per_flush = 64;

ngtcp2_tstamp now_ns() {
  return static_cast<ngtcp2_tstamp>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch()).count());
}

ngtcp2_duration to_ns(std::chrono::milliseconds d) { return static_cast<ngtcp2_duration>(d.count()) * NGTCP2_MILLISECONDS; }

void random_bytes(std::uint8_t* dest, std::size_t length) {
  // GnuTLS's generator: connection IDs and path challenges must not be guessable.
  if (gnutls_rnd(GNUTLS_RND_RANDOM, dest, length) != 0) throw std::runtime_error("gnutls_rnd failed");
}

std::string cid_hex(const ngtcp2_cid& cid) { return to_hex(std::span<const std::uint8_t>(cid.data, cid.datalen)); }

// One UDP socket of this end: the first, and after --rebind the new one. Heap-allocated and kept
// until the session ends, so that ngtcp2's path user data and pending handlers stay valid.
struct path_socket {
  explicit path_socket(const asio::any_io_executor& ex) : socket(ex) {}
  udp::socket socket;
  udp::endpoint local;   // getsockname after connect(): the kernel's choice
  udp::endpoint remote;  // the server's end
};

// The view of a UDP socket for our events.
socket_tuple tuple_of(const path_socket& p) { return {to_endpoint(p.local), to_endpoint(p.remote)}; }

// One request's stream, as the response comes.
struct stream_state {
  int status = 0;
  std::string body;
  bool ended = false;   // the response's end (FIN) came
  bool closed = false;  // the stream is closed, ended or not
};

// TLS credentials, shared by the attempts at each address: the trust store or --cacert.
struct credentials {
  gnutls_certificate_credentials_t cred = nullptr;
  credentials() = default;
  credentials(const credentials&) = delete;
  credentials& operator=(const credentials&) = delete;
  ~credentials() {
    if (cred) gnutls_certificate_free_credentials(cred);
  }
};

// Loads the trust anchors; the reason for stderr when they cannot be.
std::optional<std::string> load_credentials(credentials& c, const options& opts) {
  if (int rv = gnutls_certificate_allocate_credentials(&c.cred); rv != 0)
    return std::string("demo-client: internal error: gnutls_certificate_allocate_credentials: ") + gnutls_strerror(rv);
  if (!opts.cacert.empty()) {
    if (!read_text_file(opts.cacert))
      return fmt::format("--cacert {}: cannot read it ({})", opts.cacert, std::strerror(errno));
    int n = gnutls_certificate_set_x509_trust_file(c.cred, opts.cacert.c_str(), GNUTLS_X509_FMT_PEM);
    if (n <= 0)
      return fmt::format("--cacert {}: no PEM certificate in it{} (save the server's with demo-server --save-cert FILE)",
                         opts.cacert, n < 0 ? fmt::format(" ({})", gnutls_strerror(n)) : std::string());
  } else if (!opts.insecure) {
    // The system store; a host without one verifies nothing, and says so on the first server.
    gnutls_certificate_set_x509_system_trust(c.cred);
  }
  return std::nullopt;
}

// The first certificate the server sent: subject, issuer, fingerprint, self-signed.
certificate_findings peer_certificate(gnutls_session_t session) {
  certificate_findings f;
  unsigned int count = 0;
  const gnutls_datum_t* list = gnutls_certificate_get_peers(session, &count);
  if (!list || count == 0) return f;
  gnutls_x509_crt_t crt = nullptr;
  if (gnutls_x509_crt_init(&crt) != 0) return f;
  if (gnutls_x509_crt_import(crt, &list[0], GNUTLS_X509_FMT_DER) == 0) {
    gnutls_datum_t dn{nullptr, 0};
    if (gnutls_x509_crt_get_dn3(crt, &dn, 0) == 0) {
      f.subject.assign(reinterpret_cast<const char*>(dn.data), dn.size);
      gnutls_free(dn.data);
    }
    gnutls_datum_t issuer{nullptr, 0};
    if (gnutls_x509_crt_get_issuer_dn3(crt, &issuer, 0) == 0) {
      f.issuer.assign(reinterpret_cast<const char*>(issuer.data), issuer.size);
      gnutls_free(issuer.data);
    }
    std::array<std::uint8_t, 32> digest{};
    std::size_t size = digest.size();
    if (gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, digest.data(), &size) == 0) {
      // As demo-server's start-up line writes it: upper-case pairs, colons between.
      for (std::size_t i = 0; i < size; ++i) f.sha256 += fmt::format("{}{:02X}", i ? ":" : "", digest[i]);
    }
    f.self_signed = gnutls_x509_crt_check_issuer(crt, crt) == 1;
    // Its subjectAltName's DNS names and addresses, as portdemo::x509_names() gives them.
    for (unsigned int seq = 0; seq < 64; ++seq) {
      std::array<char, 256> name{};
      std::size_t length = name.size();
      const int type = gnutls_x509_crt_get_subject_alt_name(crt, seq, name.data(), &length, nullptr);
      if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) break;
      if (type == GNUTLS_SAN_DNSNAME) {
        f.names.emplace_back(name.data(), length);
      } else if (type == GNUTLS_SAN_IPADDRESS && (length == 4 || length == 16)) {
        std::array<char, INET6_ADDRSTRLEN> text{};
        if (::inet_ntop(length == 4 ? AF_INET : AF_INET6, name.data(), text.data(), text.size()))
          f.names.emplace_back(text.data());
      }
    }
  }
  gnutls_x509_crt_deinit(crt);
  return f;
}

// "TLS1.3" as OpenSSL and the server's log write it: "TLSv1.3".
std::string tls_version_name(gnutls_session_t session) {
  const char* name = gnutls_protocol_get_name(gnutls_protocol_get_version(session));
  std::string s = name ? name : "";
  if (s.rfind("TLS", 0) == 0 && s.size() > 3 && s[3] != 'v') s.insert(3, "v");
  return s;
}

nghttp3_nv header(std::string_view name, std::string_view value) {
  return nghttp3_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                    NGHTTP3_NV_FLAG_NONE};
}

// One QUIC connection: ngtcp2's state, nghttp3's on top, the TLS session, the sockets, and
// what happened, for the run to read. Callbacks of the libraries land in its members.
class quic_session : public std::enable_shared_from_this<quic_session> {
 public:
  quic_session(asio::any_io_executor ex, const options& opts, std::shared_ptr<credentials> creds)
      : ex_(std::move(ex)), opts_(opts), creds_(std::move(creds)), timer_(ex_), wake_(ex_) {}

  quic_session(const quic_session&) = delete;
  quic_session& operator=(const quic_session&) = delete;

  ~quic_session() {
    if (h3_) nghttp3_conn_del(h3_);
    if (conn_) ngtcp2_conn_del(conn_);
    if (tls_) gnutls_deinit(tls_);
  }

  // Opens the socket (bound to --source-port when given), connects it to `peer` (the kernel
  // picks the local port now, if not pinned), and sends the first handshake packets.
  std::optional<failure> start(const udp::endpoint& peer) {
    auto first = std::make_unique<path_socket>(ex_);
    std::error_code ec;
    first->socket.open(peer.protocol(), ec);
    if (ec) return with_proto(make_failure(step::open, ec, to_endpoint(peer)));
    if (opts_.source_port != 0) {
      const udp::endpoint local(peer.address().is_v6() ? asio::ip::address(asio::ip::address_v6::any())
                                                       : asio::ip::address(asio::ip::address_v4::any()),
                                opts_.source_port);
      first->socket.bind(local, ec);
      if (ec) {
        failure f = with_proto(make_failure(step::bind, ec, to_endpoint(peer)));
        f.client_side = true;
        f.local = to_endpoint(local);
        f.local_pinned = true;
        if (f.error == "EADDRINUSE") f.holders = find_port_users(opts_.source_port, 5, true);
        return f;
      }
    }
    first->socket.connect(peer, ec);
    if (!ec) first->local = first->socket.local_endpoint(ec);
    if (!ec) first->socket.non_blocking(true, ec);
    if (ec) return with_proto(make_failure(step::connect, ec, to_endpoint(peer)));
    first->remote = peer;
    current_ = first.get();
    sockets_.push_back(std::move(first));

    if (auto problem = make_connection()) {
      failure f = with_proto(make_failure(step::connect, asio::error::fault, to_endpoint(peer)));
      f.system_message = *problem;
      return f;
    }
    start_reading(*current_);
    flush();
    arm_timer();
    return std::nullopt;
  }

  // Waits until `done()` holds or `deadline` passes; false on the deadline. The handlers below
  // wake it after each change of state.
  asio::awaitable<bool> wait_for(std::function<bool()> done, clock::time_point deadline) {
    for (int rounds = 0; !done(); ++rounds) {
      if (clock::now() >= deadline || rounds > 1000000) co_return false;
      wake_.expires_at(deadline);
      std::error_code ec;
      co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    co_return true;
  }

  // Sends GET /json on a new bidirectional stream; nullopt while the server allows no new stream.
  std::optional<std::int64_t> submit_request() {
    if (!h3_ || closed_) return std::nullopt;
    std::int64_t id = -1;
    if (ngtcp2_conn_open_bidi_stream(conn_, &id, nullptr) != 0) return std::nullopt;
    const std::string authority = to_string(endpoint{opts_.host, opts_.port});  // "[::1]:8443" for IPv6
    const std::string agent = std::string("demo-client/") + std::string(project_version());
    std::array<nghttp3_nv, 5> nva{header(":method", "GET"), header(":scheme", "https"), header(":authority", authority),
                                  header(":path", "/json"), header("user-agent", agent)};
    // The names and values are copied by nghttp3 into its QPACK encoder at once.
    if (int rv = nghttp3_conn_submit_request(h3_, id, nva.data(), nva.size(), nullptr, nullptr); rv != 0) {
      internal_ = std::string("nghttp3_conn_submit_request: ") + nghttp3_strerror(rv);
      return std::nullopt;
    }
    streams_[id] = stream_state{};
    flush();
    arm_timer();
    return id;
  }

  // --rebind: a new UDP socket, connected to the same server, so the kernel gives it a new
  // ephemeral port; ngtcp2 is told (an immediate migration: a new path, validated, with a new
  // connection ID), or, where the server does not allow that, the socket is switched under it
  // as a NAT rebinding would. The old socket stays open until close_old_sockets().
  std::optional<failure> rebind(http3_rebound_event& ev) {
    auto next = std::make_unique<path_socket>(ex_);
    std::error_code ec;
    next->socket.open(current_->remote.protocol(), ec);
    if (!ec) next->socket.connect(current_->remote, ec);
    if (!ec) next->local = next->socket.local_endpoint(ec);
    if (!ec) next->socket.non_blocking(true, ec);
    if (ec) return with_proto(make_failure(step::connect, ec, to_endpoint(current_->remote)));
    next->remote = current_->remote;
    ev.from = tuple_of(*current_);
    ev.to = tuple_of(*next);
    ev.server_cid_before = cid_hex(*ngtcp2_conn_get_dcid(conn_));

    ngtcp2_path path{};
    path.local.addr = next->local.data();
    path.local.addrlen = static_cast<ngtcp2_socklen>(next->local.size());
    path.remote.addr = next->remote.data();
    path.remote.addrlen = static_cast<ngtcp2_socklen>(next->remote.size());
    path.user_data = next.get();
    ev.migration = ngtcp2_conn_initiate_immediate_migration(conn_, &path, now_ns()) == 0;
    if (!ev.migration) {
      ngtcp2_conn_set_local_addr(conn_, &path.local);
      ngtcp2_conn_set_path_user_data(conn_, next.get());
    }
    current_ = next.get();
    sockets_.push_back(std::move(next));
    start_reading(*current_);
    flush();
    arm_timer();
    ev.server_cid_after = cid_hex(*ngtcp2_conn_get_dcid(conn_));
    return std::nullopt;
  }

  // Closes every socket but the current one: the old port is free again.
  void close_old_sockets() {
    std::error_code ec;
    for (auto& p : sockets_)
      if (p.get() != current_ && p->socket.is_open()) p->socket.close(ec);
  }

  // --hold: PINGs keep the connection from going idle while it is held open.
  void keep_alive(std::chrono::milliseconds every) {
    if (conn_) ngtcp2_conn_set_keep_alive_timeout(conn_, to_ns(every));
    arm_timer();
  }

  // Ends the connection: CONNECTION_CLOSE (HTTP/3's H3_NO_ERROR, or the TLS alert after a
  // failed handshake) when the state allows one, then every socket and timer.
  void close() {
    if (conn_ && !ngtcp2_conn_is_in_closing_period(conn_) && !ngtcp2_conn_is_in_draining_period(conn_) &&
        !peer_closed_ && !socket_error_) {
      ngtcp2_connection_close_error ccerr;
      ngtcp2_connection_close_error_default(&ccerr);
      if (liberr_ == NGTCP2_ERR_CRYPTO)
        ngtcp2_connection_close_error_set_transport_error_tls_alert(&ccerr, ngtcp2_conn_get_tls_alert(conn_), nullptr, 0);
      else if (liberr_ != 0)
        ngtcp2_connection_close_error_set_transport_error_liberr(&ccerr, liberr_, nullptr, 0);
      else
        ngtcp2_connection_close_error_set_application_error(&ccerr, NGHTTP3_H3_NO_ERROR, nullptr, 0);
      std::array<std::uint8_t, NGTCP2_MAX_UDP_PAYLOAD_SIZE> buf{};
      ngtcp2_path_storage ps;
      ngtcp2_path_storage_zero(&ps);
      ngtcp2_pkt_info pi{};
      const auto n = ngtcp2_conn_write_connection_close(conn_, &ps.path, &pi, buf.data(), buf.size(), &ccerr, now_ns());
      if (n > 0 && ps.path.user_data) send(*static_cast<path_socket*>(ps.path.user_data), buf.data(), static_cast<std::size_t>(n));
    }
    finished_ = true;
    closed_ = true;
    std::error_code ec;
    timer_.cancel();
    wake_.cancel();
    for (auto& p : sockets_)
      if (p->socket.is_open()) p->socket.close(ec);
  }

  // What the run reads.
  bool handshake_done() const { return handshake_done_; }
  bool confirmed() const { return confirmed_; }
  bool closed() const { return closed_; }
  bool peer_closed() const { return peer_closed_; }
  bool idle_closed() const { return idle_closed_; }
  bool handshake_timed_out() const { return handshake_timeout_; }
  int liberr() const { return liberr_; }
  const std::error_code& socket_error() const { return socket_error_; }
  std::uint64_t peer_code() const { return peer_code_; }
  bool peer_code_application() const { return peer_application_; }
  const std::string& peer_reason() const { return peer_reason_; }
  std::size_t datagrams() const { return datagrams_; }
  bool quic_seen() const { return quic_seen_; }
  const std::string& first_datagram() const { return first_datagram_; }
  const std::optional<certificate_findings>& certificate_failure() const { return cert_failure_; }
  const std::string& internal() const { return internal_; }
  int tls_alert() const { return conn_ ? ngtcp2_conn_get_tls_alert(conn_) : 0; }
  const stream_state* stream(std::int64_t id) const {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : &it->second;
  }
  socket_tuple tuple() const { return tuple_of(*current_); }
  const path_socket& current() const { return *current_; }
  std::string client_cid() const { return cid_hex(scid_); }
  std::string server_cid() const { return conn_ ? cid_hex(*ngtcp2_conn_get_dcid(conn_)) : std::string(); }
  std::string version() const { return quic_version_text(ngtcp2_conn_get_negotiated_version(conn_)); }
  std::string alpn() const {
    gnutls_datum_t a{nullptr, 0};
    if (gnutls_alpn_get_selected_protocol(tls_, &a) != 0) return {};
    return std::string(reinterpret_cast<const char*>(a.data), a.size);
  }
  std::string tls_version() const { return tls_version_name(tls_); }
  std::string cipher() const {
    const char* name = gnutls_cipher_get_name(gnutls_cipher_get(tls_));
    return name ? name : "";
  }
  const std::string& certificate_subject() const { return peer_subject_; }

 private:
  // ---- set-up --------------------------------------------------------------------------------

  std::optional<std::string> make_connection() {
    conn_ref_.get_conn = [](ngtcp2_crypto_conn_ref* ref) { return static_cast<quic_session*>(ref->user_data)->conn_; };
    conn_ref_.user_data = this;
    random_bytes(static_secret_.data(), static_secret_.size());

    ngtcp2_callbacks cb{};
    cb.client_initial = ngtcp2_crypto_client_initial_cb;
    cb.recv_crypto_data = on_recv_crypto_data;
    cb.handshake_completed = on_handshake_completed;
    cb.recv_version_negotiation = on_version_negotiation;
    cb.encrypt = ngtcp2_crypto_encrypt_cb;
    cb.decrypt = ngtcp2_crypto_decrypt_cb;
    cb.hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb.recv_stream_data = on_recv_stream_data;
    cb.acked_stream_data_offset = on_acked_stream_data_offset;
    cb.stream_close = on_stream_close;
    cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
    cb.extend_max_local_streams_bidi = on_extend_max_streams;
    cb.rand = on_rand;
    cb.get_new_connection_id = on_new_connection_id;
    cb.update_key = ngtcp2_crypto_update_key_cb;
    cb.path_validation = on_path_validation;
    cb.stream_reset = on_stream_reset;
    cb.extend_max_stream_data = on_extend_max_stream_data;
    cb.handshake_confirmed = on_handshake_confirmed;
    cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb.stream_stop_sending = on_stream_stop_sending;
    cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    cb.recv_rx_key = on_recv_rx_key;

    scid_.datalen = cid_length;
    random_bytes(scid_.data, scid_.datalen);
    ngtcp2_cid dcid;
    dcid.datalen = cid_length;
    random_bytes(dcid.data, dcid.datalen);

    ngtcp2_settings settings;
    ngtcp2_settings_default(&settings);
    settings.initial_ts = now_ns();
    settings.handshake_timeout = to_ns(opts_.timeout);

    ngtcp2_transport_params params;
    ngtcp2_transport_params_default(&params);
    params.initial_max_stream_data_bidi_local = 256 * 1024;
    params.initial_max_stream_data_bidi_remote = 256 * 1024;
    params.initial_max_stream_data_uni = 256 * 1024;
    params.initial_max_data = 1024 * 1024;
    params.initial_max_streams_bidi = 0;  // the server opens no request streams
    params.initial_max_streams_uni = 100;  // its control and QPACK streams
    params.max_idle_timeout = 30 * NGTCP2_SECONDS;
    params.active_connection_id_limit = 7;  // spare IDs from the server: a migration takes one

    ngtcp2_path path{};
    path.local.addr = current_->local.data();
    path.local.addrlen = static_cast<ngtcp2_socklen>(current_->local.size());
    path.remote.addr = current_->remote.data();
    path.remote.addrlen = static_cast<ngtcp2_socklen>(current_->remote.size());
    path.user_data = current_;
    if (int rv = ngtcp2_conn_client_new(&conn_, &dcid, &scid_, &path, NGTCP2_PROTO_VER_V1, &cb, &settings, &params,
                                        nullptr, this);
        rv != 0)
      return std::string("ngtcp2_conn_client_new: ") + ngtcp2_strerror(rv);

    if (int rv = gnutls_init(&tls_, GNUTLS_CLIENT | GNUTLS_ENABLE_EARLY_DATA | GNUTLS_NO_END_OF_EARLY_DATA); rv != 0)
      return std::string("gnutls_init: ") + gnutls_strerror(rv);
    if (int rv = gnutls_priority_set_direct(tls_, tls_priority, nullptr); rv != 0)
      return std::string("gnutls_priority_set_direct: ") + gnutls_strerror(rv);
    if (ngtcp2_crypto_gnutls_configure_client_session(tls_) != 0)
      return std::string("ngtcp2_crypto_gnutls_configure_client_session failed");
    gnutls_session_set_ptr(tls_, &conn_ref_);
    if (int rv = gnutls_credentials_set(tls_, GNUTLS_CRD_CERTIFICATE, creds_->cred); rv != 0)
      return std::string("gnutls_credentials_set: ") + gnutls_strerror(rv);
    gnutls_session_set_verify_function(tls_, on_verify);
    static constexpr std::array<unsigned char, 2> h3{'h', '3'};
    const gnutls_datum_t alpn{const_cast<unsigned char*>(h3.data()), static_cast<unsigned int>(h3.size())};
    gnutls_alpn_set_protocols(tls_, &alpn, 1, GNUTLS_ALPN_MANDATORY);
    // SNI names a host, never an address (RFC 6066).
    if (!is_ip_address(opts_.host)) gnutls_server_name_set(tls_, GNUTLS_NAME_DNS, opts_.host.data(), opts_.host.size());
    ngtcp2_conn_set_tls_native_handle(conn_, tls_);
    return std::nullopt;
  }

  // nghttp3 on the QUIC connection, once 1-RTT keys are there: the control stream and QPACK's two.
  int setup_http3() {
    if (h3_) return 0;
    if (ngtcp2_conn_get_max_local_streams_uni(conn_) < 3) {
      internal_ = "the server allows fewer than 3 unidirectional streams: HTTP/3 needs 3";
      return -1;
    }
    nghttp3_callbacks cb{};
    cb.stream_close = on_http_stream_close;
    cb.recv_data = on_http_recv_data;
    cb.deferred_consume = on_http_deferred_consume;
    cb.recv_header = on_http_recv_header;
    cb.stop_sending = on_http_stop_sending;
    cb.end_stream = on_http_end_stream;
    cb.reset_stream = on_http_reset_stream;
    nghttp3_settings settings;
    nghttp3_settings_default(&settings);
    settings.qpack_max_dtable_capacity = 4096;
    settings.qpack_blocked_streams = 100;
    if (int rv = nghttp3_conn_client_new(&h3_, &cb, &settings, nghttp3_mem_default(), this); rv != 0) {
      internal_ = std::string("nghttp3_conn_client_new: ") + nghttp3_strerror(rv);
      return -1;
    }
    std::int64_t control = -1, encoder = -1, decoder = -1;
    if (ngtcp2_conn_open_uni_stream(conn_, &control, nullptr) != 0 ||
        nghttp3_conn_bind_control_stream(h3_, control) != 0 ||
        ngtcp2_conn_open_uni_stream(conn_, &encoder, nullptr) != 0 ||
        ngtcp2_conn_open_uni_stream(conn_, &decoder, nullptr) != 0 ||
        nghttp3_conn_bind_qpack_streams(h3_, encoder, decoder) != 0) {
      internal_ = "the HTTP/3 control and QPACK streams could not be opened";
      return -1;
    }
    return 0;
  }

  // ---- the socket and the timer ---------------------------------------------------------------

  void start_reading(path_socket& p) {
    p.socket.async_wait(udp::socket::wait_read,
                        [self = shared_from_this(), &p](std::error_code ec) { self->on_readable(p, ec); });
  }

  void on_readable(path_socket& p, std::error_code ec) {
    if (ec || finished_ || !p.socket.is_open()) return;
    std::array<std::uint8_t, 65536> buf{};
    for (int i = 0; i < 64 && !closed_; ++i) {
      udp::endpoint sender;
      const std::size_t n = p.socket.receive_from(asio::buffer(buf), sender, 0, ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) break;
      if (ec) {
        // ICMP port unreachable for an earlier datagram, reported on this connected socket. An
        // old socket's (after --rebind) no longer matters.
        if (&p == current_) {
          socket_error_ = ec;
          closed_ = true;
          notify();
        }
        return;
      }
      if (datagrams_++ == 0) first_datagram_.assign(reinterpret_cast<const char*>(buf.data()), std::min<std::size_t>(n, 200));
      feed(p, sender, buf.data(), n);
    }
    if (!closed_) {
      flush();
      arm_timer();
      start_reading(p);
    }
    notify();
  }

  void feed(path_socket& p, const udp::endpoint& sender, const std::uint8_t* data, std::size_t n) {
    ngtcp2_path path{};
    path.local.addr = p.local.data();
    path.local.addrlen = static_cast<ngtcp2_socklen>(p.local.size());
    path.remote.addr = const_cast<sockaddr*>(sender.data());
    path.remote.addrlen = static_cast<ngtcp2_socklen>(sender.size());
    path.user_data = &p;
    ngtcp2_pkt_info pi{};
    const int rv = ngtcp2_conn_read_pkt(conn_, &path, &pi, data, n, now_ns());
    if (rv == 0) return;
    // Before anything of QUIC came, a datagram that is not QUIC is dropped, as QUIC drops what
    // it cannot decrypt: it is counted, and named if the handshake times out.
    if (!quic_seen_ && rv != NGTCP2_ERR_DRAINING && rv != NGTCP2_ERR_CRYPTO) return;
    if (rv == NGTCP2_ERR_DRAINING) {
      // The server sent CONNECTION_CLOSE.
      ngtcp2_connection_close_error ccerr;
      ngtcp2_conn_get_connection_close_error(conn_, &ccerr);
      peer_closed_ = true;
      peer_code_ = ccerr.error_code;
      peer_application_ = ccerr.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION;
      if (ccerr.reason && ccerr.reasonlen) peer_reason_.assign(reinterpret_cast<const char*>(ccerr.reason), ccerr.reasonlen);
    } else {
      liberr_ = rv;  // NGTCP2_ERR_CRYPTO: the TLS handshake failed here (the certificate, ALPN)
      if (rv != NGTCP2_ERR_DROP_CONN) close();
    }
    closed_ = true;
    notify();
  }

  // Writes what ngtcp2 and nghttp3 have to send, packet by packet (ngtcp2's example's
  // write_streams); what is left after max_packets_per_flush goes on at the next turn.
  void flush() {
    if (!conn_ || closed_) return;
    std::array<std::uint8_t, 65536> buf{};
    const std::size_t max_size = ngtcp2_conn_get_max_tx_udp_payload_size(conn_);
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    const auto ts = now_ns();
    for (int packets = 0; packets < max_packets_per_flush;) {
      std::int64_t stream_id = -1;
      int fin = 0;
      std::array<nghttp3_vec, 16> vec{};
      nghttp3_ssize count = 0;
      if (h3_ && ngtcp2_conn_get_max_data_left(conn_)) {
        count = nghttp3_conn_writev_stream(h3_, &stream_id, &fin, vec.data(), vec.size());
        if (count < 0) {
          internal_ = std::string("nghttp3_conn_writev_stream: ") + nghttp3_strerror(static_cast<int>(count));
          closed_ = true;
          return;
        }
      }
      ngtcp2_ssize written = -1;
      std::uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
      if (fin) flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
      ngtcp2_pkt_info pi{};
      const ngtcp2_ssize n = ngtcp2_conn_writev_stream(conn_, &ps.path, &pi, buf.data(), max_size, &written, flags,
                                                       stream_id, reinterpret_cast<const ngtcp2_vec*>(vec.data()),
                                                       static_cast<std::size_t>(count), ts);
      if (n < 0) {
        if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
          nghttp3_conn_block_stream(h3_, stream_id);
          continue;
        }
        if (n == NGTCP2_ERR_STREAM_SHUT_WR) {
          nghttp3_conn_shutdown_stream_write(h3_, stream_id);
          continue;
        }
        if (n == NGTCP2_ERR_WRITE_MORE) {
          nghttp3_conn_add_write_offset(h3_, stream_id, static_cast<std::size_t>(written));
          continue;
        }
        liberr_ = static_cast<int>(n);
        closed_ = true;
        return;
      }
      if (written >= 0 && h3_) nghttp3_conn_add_write_offset(h3_, stream_id, static_cast<std::size_t>(written));
      if (n == 0) {
        ngtcp2_conn_update_pkt_tx_time(conn_, ts);
        return;
      }
      send(*static_cast<path_socket*>(ps.path.user_data), buf.data(), static_cast<std::size_t>(n));
      ++packets;
    }
    ngtcp2_conn_update_pkt_tx_time(conn_, ts);
    asio::post(ex_, [self = shared_from_this()] {
      self->flush();
      self->arm_timer();
    });
  }

  // One datagram on a connected socket. A full send buffer loses it, as the network may: QUIC
  // sends it again.
  void send(path_socket& p, const std::uint8_t* data, std::size_t n) {
    if (!p.socket.is_open()) return;
    std::error_code ec;
    p.socket.send(asio::buffer(data, n), 0, ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again && &p == current_) {
      socket_error_ = ec;  // ECONNREFUSED: an ICMP port unreachable came back for the last one
      closed_ = true;
      notify();
    }
  }

  void arm_timer() {
    if (!conn_ || finished_) return;
    const ngtcp2_tstamp expiry = ngtcp2_conn_get_expiry(conn_);
    if (expiry == UINT64_MAX) return;
    const ngtcp2_tstamp now = now_ns();
    timer_.expires_after(std::chrono::nanoseconds(expiry > now ? expiry - now : 0));
    timer_.async_wait([self = shared_from_this()](std::error_code ec) {
      if (!ec) self->on_expiry();
    });
  }

  void on_expiry() {
    if (!conn_ || closed_) return;
    const int rv = ngtcp2_conn_handle_expiry(conn_, now_ns());
    if (rv == NGTCP2_ERR_IDLE_CLOSE) {
      idle_closed_ = true;
      closed_ = true;
    } else if (rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
      handshake_timeout_ = true;
      closed_ = true;
    } else if (rv != 0) {
      liberr_ = rv;
      close();
    } else {
      flush();
      arm_timer();
    }
    notify();
  }

  void notify() { wake_.cancel(); }

  static failure with_proto(failure f) {
    f.proto = "udp";
    return f;
  }

  // ---- TLS -------------------------------------------------------------------------------------

  // The certificate check, during the handshake: as curl does, against the trust store (or
  // --cacert) and the host name dialled; not at all with -k.
  static int on_verify(gnutls_session_t session) {
    auto* ref = static_cast<ngtcp2_crypto_conn_ref*>(gnutls_session_get_ptr(session));
    return static_cast<quic_session*>(ref->user_data)->verify_certificate();
  }

  int verify_certificate() {
    certificate_findings found = peer_certificate(tls_);
    peer_subject_ = found.subject;
    if (opts_.insecure) return 0;
    unsigned int status = 0;
    const int rv = gnutls_certificate_verify_peers3(tls_, opts_.host.c_str(), &status);
    if (rv == 0 && status == 0) return 0;
    found.trusted = opts_.cacert;
    if (rv < 0) {
      found.library_text = gnutls_strerror(rv);
    } else {
      found.unknown_signer = (status & GNUTLS_CERT_SIGNER_NOT_FOUND) != 0;
      found.wrong_name = (status & GNUTLS_CERT_UNEXPECTED_OWNER) != 0;
      found.expired = (status & GNUTLS_CERT_EXPIRED) != 0;
      found.not_yet_valid = (status & GNUTLS_CERT_NOT_ACTIVATED) != 0;
      gnutls_datum_t text{nullptr, 0};
      if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == 0) {
        found.library_text.assign(reinterpret_cast<const char*>(text.data), text.size);
        gnutls_free(text.data);
      }
    }
    cert_failure_ = std::move(found);
    return GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
  }

  // ---- ngtcp2's callbacks ---------------------------------------------------------------------

  static quic_session& self(void* user_data) { return *static_cast<quic_session*>(user_data); }

  static int on_recv_crypto_data(ngtcp2_conn* conn, ngtcp2_crypto_level level, std::uint64_t offset,
                                 const std::uint8_t* data, std::size_t length, void* user_data) {
    self(user_data).quic_seen_ = true;  // a QUIC packet that decrypted: the port speaks QUIC
    return ngtcp2_crypto_recv_crypto_data_cb(conn, level, offset, data, length, user_data);
  }

  static int on_handshake_completed(ngtcp2_conn*, void* user_data) {
    self(user_data).handshake_done_ = true;
    return 0;
  }

  static int on_handshake_confirmed(ngtcp2_conn*, void* user_data) {
    self(user_data).confirmed_ = true;
    return 0;
  }

  static int on_version_negotiation(ngtcp2_conn*, const ngtcp2_pkt_hd*, const std::uint32_t*, std::size_t,
                                    void* user_data) {
    self(user_data).quic_seen_ = true;
    return 0;
  }

  static int on_recv_stream_data(ngtcp2_conn* conn, std::uint32_t flags, std::int64_t stream_id, std::uint64_t,
                                 const std::uint8_t* data, std::size_t length, void* user_data, void*) {
    quic_session& s = self(user_data);
    if (!s.h3_) return NGTCP2_ERR_CALLBACK_FAILURE;
    const nghttp3_ssize consumed =
        nghttp3_conn_read_stream(s.h3_, stream_id, data, length, (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0);
    if (consumed < 0) {
      s.internal_ = std::string("nghttp3_conn_read_stream: ") + nghttp3_strerror(static_cast<int>(consumed));
      return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    ngtcp2_conn_extend_max_stream_offset(conn, stream_id, static_cast<std::uint64_t>(consumed));
    ngtcp2_conn_extend_max_offset(conn, static_cast<std::uint64_t>(consumed));
    return 0;
  }

  static int on_acked_stream_data_offset(ngtcp2_conn*, std::int64_t stream_id, std::uint64_t, std::uint64_t length,
                                         void* user_data, void*) {
    quic_session& s = self(user_data);
    if (s.h3_ && nghttp3_conn_add_ack_offset(s.h3_, stream_id, length) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
  }

  static int on_stream_close(ngtcp2_conn* conn, std::uint32_t flags, std::int64_t stream_id, std::uint64_t code,
                             void* user_data, void*) {
    quic_session& s = self(user_data);
    if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET)) code = NGHTTP3_H3_NO_ERROR;
    if (!s.h3_) return 0;
    const int rv = nghttp3_conn_close_stream(s.h3_, stream_id, code);
    if (rv == NGHTTP3_ERR_STREAM_NOT_FOUND) {
      if (!ngtcp2_is_bidi_stream(stream_id)) ngtcp2_conn_extend_max_streams_uni(conn, 1);
    } else if (rv != 0) {
      return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
  }

  static int on_stream_reset(ngtcp2_conn*, std::int64_t stream_id, std::uint64_t, std::uint64_t, void* user_data,
                             void*) {
    quic_session& s = self(user_data);
    if (s.h3_ && nghttp3_conn_shutdown_stream_read(s.h3_, stream_id) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
  }

  static int on_stream_stop_sending(ngtcp2_conn*, std::int64_t stream_id, std::uint64_t, void* user_data, void*) {
    quic_session& s = self(user_data);
    if (s.h3_ && nghttp3_conn_shutdown_stream_read(s.h3_, stream_id) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
  }

  static int on_extend_max_streams(ngtcp2_conn*, std::uint64_t, void* user_data) {
    self(user_data).notify();  // a request waiting for a stream may go now
    return 0;
  }

  static int on_extend_max_stream_data(ngtcp2_conn*, std::int64_t stream_id, std::uint64_t, void* user_data, void*) {
    quic_session& s = self(user_data);
    if (s.h3_ && nghttp3_conn_unblock_stream(s.h3_, stream_id) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
  }

  static void on_rand(std::uint8_t* dest, std::size_t length, const ngtcp2_rand_ctx*) { random_bytes(dest, length); }

  static int on_new_connection_id(ngtcp2_conn*, ngtcp2_cid* cid, std::uint8_t* token, std::size_t length,
                                  void* user_data) {
    quic_session& s = self(user_data);
    random_bytes(cid->data, length);
    cid->datalen = length;
    if (ngtcp2_crypto_generate_stateless_reset_token(token, s.static_secret_.data(), s.static_secret_.size(), cid) != 0)
      return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
  }

  static int on_path_validation(ngtcp2_conn*, std::uint32_t, const ngtcp2_path*, ngtcp2_path_validation_result,
                                void* user_data) {
    self(user_data).notify();
    return 0;
  }

  static int on_recv_rx_key(ngtcp2_conn*, ngtcp2_crypto_level level, void* user_data) {
    if (level != NGTCP2_CRYPTO_LEVEL_APPLICATION) return 0;
    return self(user_data).setup_http3() == 0 ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
  }

  // ---- nghttp3's callbacks --------------------------------------------------------------------

  static int on_http_recv_header(nghttp3_conn*, std::int64_t stream_id, std::int32_t, nghttp3_rcbuf* name,
                                 nghttp3_rcbuf* value, std::uint8_t, void* user_data, void*) {
    quic_session& s = self(user_data);
    const nghttp3_vec n = nghttp3_rcbuf_get_buf(name);
    const nghttp3_vec v = nghttp3_rcbuf_get_buf(value);
    const std::string_view key(reinterpret_cast<const char*>(n.base), n.len);
    const std::string_view text(reinterpret_cast<const char*>(v.base), v.len);
    if (key == ":status") {
      int status = 0;
      for (char c : text) status = c >= '0' && c <= '9' && status < 1000 ? status * 10 + (c - '0') : 1000;
      if (auto it = s.streams_.find(stream_id); it != s.streams_.end()) it->second.status = status;
    }
    return 0;
  }

  static int on_http_recv_data(nghttp3_conn*, std::int64_t stream_id, const std::uint8_t* data, std::size_t length,
                               void* user_data, void*) {
    quic_session& s = self(user_data);
    ngtcp2_conn_extend_max_stream_offset(s.conn_, stream_id, length);
    ngtcp2_conn_extend_max_offset(s.conn_, length);
    if (auto it = s.streams_.find(stream_id); it != s.streams_.end() && it->second.body.size() < max_body)
      it->second.body.append(reinterpret_cast<const char*>(data), std::min(length, max_body - it->second.body.size()));
    return 0;
  }

  static int on_http_deferred_consume(nghttp3_conn*, std::int64_t stream_id, std::size_t consumed, void* user_data,
                                      void*) {
    quic_session& s = self(user_data);
    ngtcp2_conn_extend_max_stream_offset(s.conn_, stream_id, consumed);
    ngtcp2_conn_extend_max_offset(s.conn_, consumed);
    return 0;
  }

  static int on_http_end_stream(nghttp3_conn*, std::int64_t stream_id, void* user_data, void*) {
    quic_session& s = self(user_data);
    if (auto it = s.streams_.find(stream_id); it != s.streams_.end()) it->second.ended = true;
    s.notify();
    return 0;
  }

  static int on_http_stream_close(nghttp3_conn*, std::int64_t stream_id, std::uint64_t, void* user_data, void*) {
    quic_session& s = self(user_data);
    if (!ngtcp2_is_bidi_stream(stream_id)) ngtcp2_conn_extend_max_streams_uni(s.conn_, 1);
    if (auto it = s.streams_.find(stream_id); it != s.streams_.end()) it->second.closed = true;
    s.notify();
    return 0;
  }

  static int on_http_stop_sending(nghttp3_conn*, std::int64_t stream_id, std::uint64_t code, void* user_data, void*) {
    return ngtcp2_conn_shutdown_stream_read(self(user_data).conn_, stream_id, code) == 0 ? 0 : NGHTTP3_ERR_CALLBACK_FAILURE;
  }

  static int on_http_reset_stream(nghttp3_conn*, std::int64_t stream_id, std::uint64_t code, void* user_data, void*) {
    return ngtcp2_conn_shutdown_stream_write(self(user_data).conn_, stream_id, code) == 0 ? 0
                                                                                          : NGHTTP3_ERR_CALLBACK_FAILURE;
  }

  asio::any_io_executor ex_;
  const options& opts_;
  std::shared_ptr<credentials> creds_;
  asio::steady_timer timer_;  // ngtcp2's expiry: retransmission, idle, handshake timeout
  asio::steady_timer wake_;   // the run's wait, cancelled to wake it
  std::vector<std::unique_ptr<path_socket>> sockets_;
  path_socket* current_ = nullptr;
  ngtcp2_conn* conn_ = nullptr;
  nghttp3_conn* h3_ = nullptr;
  gnutls_session_t tls_ = nullptr;
  ngtcp2_crypto_conn_ref conn_ref_{nullptr, nullptr};
  ngtcp2_cid scid_{};
  std::array<std::uint8_t, 32> static_secret_{};
  std::map<std::int64_t, stream_state> streams_;

  bool handshake_done_ = false;
  bool confirmed_ = false;
  bool closed_ = false;    // nothing more will come: failed, closed by either end
  bool finished_ = false;  // close() ran: handlers still queued do nothing
  bool peer_closed_ = false;
  bool idle_closed_ = false;
  bool handshake_timeout_ = false;
  bool quic_seen_ = false;
  int liberr_ = 0;
  std::error_code socket_error_;
  std::uint64_t peer_code_ = 0;
  bool peer_application_ = false;
  std::string peer_reason_;
  std::size_t datagrams_ = 0;
  std::string first_datagram_;
  std::optional<certificate_findings> cert_failure_;
  std::string peer_subject_;
  std::string internal_;
};

// ---- the run: one address, then the requests --------------------------------------------------

// What became of one address.
struct attempt_result {
  bool connected = false;
  bool try_next = true;  // a port-level failure: the next address may answer
  int code = exit_code::ok;
  std::vector<failure> failures;
};

http3_failed_event failed(const quic_session& s, std::string code, std::string detail, explanation why, int exit) {
  return http3_failed_event{std::move(code), s.tuple(), std::move(detail), std::move(why), exit};
}

// The handshake did not complete: which of the ways, told in terms of ports.
void report_no_handshake(reporter& out, const options& opts, const quic_session& s, const udp::endpoint& peer,
                         attempt_result& r) {
  const endpoint server = to_endpoint(peer);
  auto port_failure = [&](const std::error_code& ec) {
    failure f = make_failure(step::connect, ec, server);
    f.proto = "udp";
    f.timeout = opts.timeout;
    f.local = to_endpoint(s.current().local);
    f.local_pinned = opts.source_port != 0;
    out.emit(connect_failed_event{f, explain_quic_unanswered(f, opts.host)});
    r.code = exit_code_for(f.error);
    r.failures.push_back(std::move(f));
  };
  if (s.certificate_failure()) {
    const certificate_findings& c = *s.certificate_failure();
    out.emit(failed(s, "certificate", c.library_text, explain_certificate(c, opts.host, opts.port, tls_use::http3), exit_code::no_perm));
    r.code = exit_code::no_perm;
    r.try_next = false;
  } else if (s.socket_error()) {
    port_failure(s.socket_error());
  } else if (s.peer_closed()) {
    const bool alpn = !s.peer_code_application() && s.peer_code() == 0x100 + 120;
    out.emit(failed(s, alpn ? "alpn" : "closed",
                    fmt::format("{} (0x{:x}){}", quic_error_name(s.peer_code(), s.peer_code_application()), s.peer_code(),
                                s.peer_reason().empty() ? "" : ": " + printable(s.peer_reason(), 60)),
                    alpn ? explain_no_h3(server, s.peer_reason())
                         : explain_closed(server, s.peer_code(), s.peer_code_application(), s.peer_reason(), false),
                    exit_code::unavailable));
    r.code = exit_code::unavailable;
    r.try_next = false;
  } else if (s.liberr() == NGTCP2_ERR_CRYPTO) {
    const int alert = s.tls_alert();
    const bool alpn = alert == 120;
    out.emit(failed(s, alpn ? "alpn" : "tls", fmt::format("TLS alert {} ({})", alert, tls_alert_name(alert)),
                    alpn ? explain_no_h3(server, "") : explain_handshake(server, ngtcp2_strerror(s.liberr()), alert, tls_use::http3),
                    exit_code::unavailable));
    r.code = exit_code::unavailable;
    r.try_next = false;
  } else if (s.liberr() != 0 || !s.internal().empty()) {
    const std::string why = s.internal().empty() ? ngtcp2_strerror(s.liberr()) : s.internal();
    out.emit(failed(s, "internal", why, explain_handshake(server, why, -1, tls_use::http3), exit_code::software));
    r.code = exit_code::software;
    r.try_next = false;
  } else if (s.datagrams() > 0 && !s.quic_seen()) {
    out.emit(failed(s, "not_quic", fmt::format("{} datagram{}, none of them QUIC", s.datagrams(), s.datagrams() == 1 ? "" : "s"),
                    explain_not_quic(server, s.datagrams(), s.first_datagram()), exit_code::unavailable));
    r.code = exit_code::unavailable;
    failure f = make_failure(step::connect, asio::error::timed_out, server);
    f.proto = "udp";
    r.failures.push_back(std::move(f));
  } else {
    port_failure(asio::error::timed_out);  // the handshake timeout, or ours just after it
  }
}

// The response on `stream`, as the event says it.
http3_response_event response_event(const quic_session& s, std::uint64_t number, std::int64_t stream,
                                    const std::string& client_cid, const std::string& server_cid) {
  http3_response_event ev;
  ev.request = number;
  ev.stream = stream;
  ev.tuple = s.tuple();
  const stream_state* st = s.stream(stream);
  ev.status = st ? st->status : 0;
  const std::string body = st ? st->body : std::string();
  if (auto v = parse_http3_view(body); v && ev.status == 200) {
    ev.server = std::move(v->view);
    ev.server_stream = v->stream;
    ev.quic = std::move(v->quic);
    if (ev.quic) ev.ids_match = ev.quic->client_cid == client_cid && ev.quic->server_cid == server_cid;
  } else if (ev.status != 200) {
    ev.server_view_problem = fmt::format("the server answered {}, not 200", ev.status);
  } else {
    ev.server_view_problem =
        body.empty() ? "the server answered 200 with an empty body"
                     : fmt::format("the server answered, but not as demo-server does: \"{}\"", printable(body, 60));
  }
  return ev;
}

// After the handshake, an ICMP port unreachable: the server's port closed mid-connection.
int lost_port(reporter& out, const options& opts, quic_session& s, const endpoint& server) {
  failure f = make_failure(step::read, s.socket_error(), server);
  f.proto = "udp";
  f.timeout = opts.timeout;
  out.emit(connect_failed_event{f, explain_quic_unanswered(f, opts.host)});
  s.close();
  return exit_code_for(f.error);
}

// After the handshake: the requests (with the move between the first and the second), --hold,
// and the close. Returns the exit code.
asio::awaitable<int> converse(reporter& out, const options& opts, std::shared_ptr<quic_session> s) {
  const std::string client_cid = s->client_cid();
  const std::string server_cid = s->server_cid();
  const endpoint server = to_endpoint(s->current().remote);
  http3_connected_event hello;
  hello.tuple = s->tuple();
  if (out.facts().ephemeral) hello.in_ephemeral_range = out.facts().ephemeral->contains(hello.tuple.local.port);
  hello.pinned = opts.source_port != 0;
  hello.client_cid = client_cid;
  hello.server_cid = server_cid;
  hello.version = s->version();
  hello.alpn = s->alpn();
  hello.tls_version = s->tls_version();
  hello.cipher = s->cipher();
  hello.certificate = s->certificate_subject();
  hello.verified_by = opts.insecure ? "none" : opts.cacert.empty() ? "system" : "cacert";
  hello.cacert = opts.cacert;
  out.emit(hello);

  const std::uint64_t total = http3_requests(opts.count, opts.rebind);
  bool moved = false;
  for (std::uint64_t number = 1; number <= total; ++number) {
    if (opts.rebind && number == 2) {
      // A migration needs the handshake confirmed (HANDSHAKE_DONE from the server).
      const auto confirmed = [&s] { return s->confirmed() || s->closed(); };
      co_await s->wait_for(confirmed, clock::now() + opts.timeout);
      http3_rebound_event ev;
      if (auto f = s->rebind(ev)) {
        out.emit(connect_failed_event{*f, explain_quic_unanswered(*f, opts.host)});
        s->close();
        co_return exit_code_for(f->error);
      }
      if (out.facts().ephemeral) ev.in_ephemeral_range = out.facts().ephemeral->contains(ev.to.local.port);
      out.emit(ev);
      moved = true;
    }
    const auto deadline = clock::now() + opts.timeout;
    std::optional<std::int64_t> stream;
    const auto can_send = [&s, &stream] {
      if (s->closed()) return true;
      stream = s->submit_request();
      return stream.has_value();
    };
    co_await s->wait_for(can_send, deadline);
    bool answered = false;
    if (stream) {
      const auto done = [&s, &stream] {
        const stream_state* st = s->stream(*stream);
        return s->closed() || (st && (st->ended || st->closed));
      };
      co_await s->wait_for(done, deadline);
      const stream_state* st = s->stream(*stream);
      answered = st && st->ended;
    }
    if (!answered) {
      const std::int64_t id = stream.value_or(-1);
      if (s->socket_error()) co_return lost_port(out, opts, *s, server);
      if (s->peer_closed()) {
        out.emit(failed(*s, "closed",
                        fmt::format("{} (0x{:x})", quic_error_name(s->peer_code(), s->peer_code_application()),
                                    s->peer_code()),
                        explain_closed(server, s->peer_code(), s->peer_code_application(), s->peer_reason(), true),
                        exit_code::unavailable));
        s->close();
        co_return exit_code::unavailable;
      }
      out.emit(failed(*s, "timeout", s->idle_closed() ? "idle timeout" : "",
                      explain_stalled(server, opts.timeout, id), exit_code::temp_fail));
      s->close();
      co_return exit_code::temp_fail;
    }
    out.emit(response_event(*s, number, *stream, client_cid, server_cid));
    if (moved) s->close_old_sockets();
  }

  if (opts.hold.count() > 0) {
    s->keep_alive(std::min<std::chrono::milliseconds>(opts.hold, 5s));
    out.emit(note_event{"holding", fmt::format("holding the QUIC connection open for {} s: see its UDP socket with "
                                               "ss -uanp 'dport = :{}'",
                                               std::chrono::duration<double>(opts.hold).count(), opts.port)});
    const auto gone = [&s] { return s->closed(); };
    // Not `if (co_await ...)`: GCC 12 mishandles co_await inside a condition.
    const bool ended = co_await s->wait_for(gone, clock::now() + opts.hold);
    if (ended) {
      if (s->socket_error()) co_return lost_port(out, opts, *s, server);
      out.emit(failed(*s, "closed", s->idle_closed() ? "idle timeout" : "",
                      explain_closed(server, s->peer_code(), s->peer_code_application(), s->peer_reason(), true),
                      exit_code::unavailable));
      s->close();
      co_return exit_code::unavailable;
    }
  }
  s->close();
  co_return exit_code::ok;
}

}  // namespace

std::optional<std::string> cacert_problem(const std::string& path) {
  options opts;
  opts.cacert = path;
  credentials c;
  return load_credentials(c, opts);
}

asio::awaitable<int> run_http3(reporter& out, const options& opts, const std::vector<asio::ip::tcp::endpoint>& endpoints) {
  auto creds = std::make_shared<credentials>();
  if (auto problem = load_credentials(*creds, opts)) {
    std::fprintf(stderr, "%s\n", problem->c_str());
    co_return exit_code::usage;
  }
  auto ex = co_await asio::this_coro::executor;
  attempt_result all;
  for (const auto& resolved : endpoints) {
    const udp::endpoint peer(resolved.address(), resolved.port());
    auto s = std::make_shared<quic_session>(ex, opts, creds);
    if (auto f = s->start(peer)) {
      out.emit(connect_failed_event{*f, f->where == step::bind ? explain(*f, out.facts())
                                                                : explain_quic_unanswered(*f, opts.host)});
      all.code = exit_code_for(f->error);
      all.failures.push_back(std::move(*f));
      s->close();
      continue;
    }
    // ngtcp2's handshake timeout is --timeout; this deadline only backs it up.
    const auto up = [&s] { return s->handshake_done() || s->closed(); };
    co_await s->wait_for(up, clock::now() + opts.timeout + 200ms);
    if (s->handshake_done() && !s->closed()) {
      const int code = co_await converse(out, opts, s);
      co_return code;
    }
    attempt_result r;
    report_no_handshake(out, opts, *s, peer, r);
    s->close();
    all.code = r.code;
    for (auto& f : r.failures) all.failures.push_back(std::move(f));
    if (!r.try_next) co_return r.code;
  }
  if (!all.failures.empty()) out.emit(gave_up_event{opts.host, opts.port, std::move(all.failures), all.code});
  co_return all.code;
}

}  // namespace portdemo::client
