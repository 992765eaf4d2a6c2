#pragma once
// For the QUIC core's tests and fuzzer: a self-signed certificate made with GnuTLS, and an
// HTTP/3 client of ngtcp2 0.12 and nghttp3 0.8 in memory (no socket), whose datagrams the test
// carries to the core and back with a clock of its own. Header-only: test code, not the server's.

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "quic_core.hpp"

namespace portdemo::test {

/// A self-signed certificate for localhost and its private key (P-256), both PEM.
inline std::pair<std::string, std::string> make_certificate() {
  gnutls_x509_privkey_t key = nullptr;
  gnutls_x509_crt_t crt = nullptr;
  gnutls_x509_privkey_init(&key);
  gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
  gnutls_x509_crt_init(&crt);
  gnutls_x509_crt_set_version(crt, 3);
  const unsigned char serial[] = {0x01, 0x02, 0x03, 0x04};
  gnutls_x509_crt_set_serial(crt, serial, sizeof serial);
  const std::time_t now = std::time(nullptr);
  gnutls_x509_crt_set_activation_time(crt, now - 3600);
  gnutls_x509_crt_set_expiration_time(crt, now + 24 * 3600);
  gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "localhost", 9);
  gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, "localhost", 9, GNUTLS_FSAN_SET);
  gnutls_x509_crt_set_key(crt, key);
  gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0);
  gnutls_datum_t out{};
  gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out);
  std::string cert(reinterpret_cast<const char*>(out.data), out.size);
  gnutls_free(out.data);
  gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, nullptr, GNUTLS_PKCS_PLAIN, &out);
  std::string pem_key(reinterpret_cast<const char*>(out.data), out.size);
  gnutls_free(out.data);
  gnutls_x509_crt_deinit(crt);
  gnutls_x509_privkey_deinit(key);
  return {cert, pem_key};
}

/// One HTTP/3 client connection, in memory.
class test_client {
 public:
  struct response {
    int status = 0;
    std::string body;
    bool done = false;
  };

  /// `local`: the client's own address; `server`: the server's. The first datagram (the
  /// Initial) is written by the first write().
  test_client(server::udp_address local, server::udp_address server_address, server::quic_time now)
      : local_(local), server_(server_address), wire_(local) {
    ref_ = ngtcp2_crypto_conn_ref{&get_conn, this};
    gnutls_certificate_allocate_credentials(&credentials_);
    gnutls_init(&session_, GNUTLS_CLIENT | GNUTLS_NO_END_OF_EARLY_DATA);
    gnutls_priority_set_direct(session_,
                               "%DISABLE_TLS13_COMPAT_MODE:NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:"
                               "+AES-256-GCM:+CHACHA20-POLY1305:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1",
                               nullptr);
    ngtcp2_crypto_gnutls_configure_client_session(session_);
    gnutls_session_set_ptr(session_, &ref_);
    gnutls_credentials_set(session_, GNUTLS_CRD_CERTIFICATE, credentials_);
    gnutls_datum_t alpn{reinterpret_cast<unsigned char*>(const_cast<char*>("h3")), 2};
    gnutls_alpn_set_protocols(session_, &alpn, 1, GNUTLS_ALPN_MANDATORY);
    gnutls_server_name_set(session_, GNUTLS_NAME_DNS, "localhost", 9);

    scid_.datalen = 17;
    dcid_.datalen = 18;
    random(scid_.data, scid_.datalen, nullptr);
    random(dcid_.data, dcid_.datalen, nullptr);
    ngtcp2_callbacks callbacks{};
    callbacks.client_initial = ngtcp2_crypto_client_initial_cb;
    callbacks.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    callbacks.handshake_completed = [](ngtcp2_conn*, void* user) {
      static_cast<test_client*>(user)->connected_ = true;
      return 0;
    };
    callbacks.encrypt = ngtcp2_crypto_encrypt_cb;
    callbacks.decrypt = ngtcp2_crypto_decrypt_cb;
    callbacks.hp_mask = ngtcp2_crypto_hp_mask_cb;
    callbacks.recv_stream_data = &recv_stream_data;
    callbacks.acked_stream_data_offset = [](ngtcp2_conn*, std::int64_t id, std::uint64_t, std::uint64_t n,
                                            void* user, void*) {
      auto* c = static_cast<test_client*>(user);
      return c->h3_ && nghttp3_conn_add_ack_offset(c->h3_, id, n) != 0 ? NGTCP2_ERR_CALLBACK_FAILURE : 0;
    };
    callbacks.stream_close = [](ngtcp2_conn*, std::uint32_t flags, std::int64_t id, std::uint64_t code, void* user,
                                void*) {
      auto* c = static_cast<test_client*>(user);
      if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET)) code = NGHTTP3_H3_NO_ERROR;
      if (c->h3_) nghttp3_conn_close_stream(c->h3_, id, code);
      return 0;
    };
    callbacks.recv_retry = ngtcp2_crypto_recv_retry_cb;
    callbacks.rand = &random;
    callbacks.get_new_connection_id = [](ngtcp2_conn*, ngtcp2_cid* cid, std::uint8_t* token, std::size_t n,
                                         void*) {
      random(cid->data, n, nullptr);
      cid->datalen = n;
      random(token, NGTCP2_STATELESS_RESET_TOKENLEN, nullptr);
      return 0;
    };
    callbacks.update_key = ngtcp2_crypto_update_key_cb;
    callbacks.stream_reset = [](ngtcp2_conn*, std::int64_t id, std::uint64_t, std::uint64_t, void* user, void*) {
      auto* c = static_cast<test_client*>(user);
      if (c->h3_) nghttp3_conn_shutdown_stream_read(c->h3_, id);
      return 0;
    };
    callbacks.extend_max_stream_data = [](ngtcp2_conn*, std::int64_t id, std::uint64_t, void* user, void*) {
      auto* c = static_cast<test_client*>(user);
      if (c->h3_) nghttp3_conn_unblock_stream(c->h3_, id);
      return 0;
    };
    callbacks.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    callbacks.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    callbacks.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    callbacks.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    callbacks.recv_rx_key = [](ngtcp2_conn*, ngtcp2_crypto_level level, void* user) {
      if (level != NGTCP2_CRYPTO_LEVEL_APPLICATION) return 0;
      return static_cast<test_client*>(user)->setup_h3();
    };

    ngtcp2_settings settings;
    ngtcp2_settings_default(&settings);
    settings.initial_ts = stamp(now);
    ngtcp2_transport_params params;
    ngtcp2_transport_params_default(&params);
    params.initial_max_stream_data_bidi_local = 256 * 1024;
    params.initial_max_stream_data_bidi_remote = 256 * 1024;
    params.initial_max_stream_data_uni = 256 * 1024;
    params.initial_max_data = 1024 * 1024;
    params.initial_max_streams_uni = 100;
    params.max_idle_timeout = 30 * NGTCP2_SECONDS;
    params.active_connection_id_limit = 7;
    const ngtcp2_path path = own_path();
    ngtcp2_conn_client_new(&conn_, &dcid_, &scid_, &path, NGTCP2_PROTO_VER_V1, &callbacks, &settings, &params,
                           nullptr, this);
    ngtcp2_conn_set_tls_native_handle(conn_, session_);
  }

  ~test_client() {
    if (h3_) nghttp3_conn_del(h3_);
    if (conn_) ngtcp2_conn_del(conn_);
    if (session_) gnutls_deinit(session_);
    if (credentials_) gnutls_certificate_free_credentials(credentials_);
  }
  test_client(const test_client&) = delete;
  test_client& operator=(const test_client&) = delete;

  /// Writes what the client has to send now into outbox().
  void write(server::quic_time now) {
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    for (int pass = 0; pass < 512; ++pass) {
      std::int64_t stream_id = -1;
      int fin = 0;
      std::array<nghttp3_vec, 16> vec{};
      nghttp3_ssize count = 0;
      if (h3_ && ngtcp2_conn_get_max_data_left(conn_) > 0) {
        count = nghttp3_conn_writev_stream(h3_, &stream_id, &fin, vec.data(), vec.size());
        if (count < 0) return;
      }
      ngtcp2_ssize taken = -1;
      std::uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE | (fin ? NGTCP2_WRITE_STREAM_FLAG_FIN : 0u);
      ngtcp2_pkt_info info{};
      std::array<std::uint8_t, 1452> buffer{};
      const ngtcp2_ssize n = ngtcp2_conn_writev_stream(conn_, &ps.path, &info, buffer.data(), buffer.size(), &taken,
                                                       flags, stream_id, reinterpret_cast<const ngtcp2_vec*>(vec.data()),
                                                       static_cast<std::size_t>(count), stamp(now));
      if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
        nghttp3_conn_block_stream(h3_, stream_id);
        continue;
      }
      if (n == NGTCP2_ERR_STREAM_SHUT_WR) {
        nghttp3_conn_shutdown_stream_write(h3_, stream_id);
        continue;
      }
      if (n == NGTCP2_ERR_WRITE_MORE) {
        nghttp3_conn_add_write_offset(h3_, stream_id, static_cast<std::size_t>(taken));
        continue;
      }
      if (n < 0) return;
      if (taken >= 0 && h3_) nghttp3_conn_add_write_offset(h3_, stream_id, static_cast<std::size_t>(taken));
      if (n == 0) break;
      outbox_.emplace_back(buffer.data(), buffer.data() + n);
    }
    ngtcp2_conn_update_pkt_tx_time(conn_, stamp(now));
  }

  /// A datagram from the server; ngtcp2's answer (0, NGTCP2_ERR_DRAINING when the server closed).
  int read(std::span<const std::uint8_t> datagram, server::quic_time now) {
    const ngtcp2_path path = own_path();
    ngtcp2_pkt_info info{};
    const int rv = ngtcp2_conn_read_pkt(conn_, &path, &info, datagram.data(), datagram.size(), stamp(now));
    if (rv != 0) last_error_ = rv;
    return rv;
  }

  /// Retransmissions and the like, when due.
  void tick(server::quic_time now) {
    if (ngtcp2_conn_get_expiry(conn_) <= stamp(now)) ngtcp2_conn_handle_expiry(conn_, stamp(now));
  }

  /// Opens a request stream: GET `target`, with extra header fields; returns its stream ID.
  std::int64_t get(const std::string& target, const std::vector<std::pair<std::string, std::string>>& extra = {},
                   const std::string& method = "GET") {
    std::int64_t id = -1;
    if (!h3_ || ngtcp2_conn_open_bidi_stream(conn_, &id, nullptr) != 0) return -1;
    std::vector<std::pair<std::string, std::string>> fields = {
        {":method", method}, {":scheme", "https"}, {":authority", "localhost:4433"}, {":path", target}};
    fields.insert(fields.end(), extra.begin(), extra.end());
    std::vector<nghttp3_nv> nv;
    for (auto& [n, v] : fields)
      nv.push_back({reinterpret_cast<std::uint8_t*>(n.data()), reinterpret_cast<std::uint8_t*>(v.data()), n.size(),
                    v.size(), NGHTTP3_NV_FLAG_NONE});
    nghttp3_conn_submit_request(h3_, id, nv.data(), nv.size(), nullptr, &responses_[id]);
    return id;
  }

  std::vector<std::vector<std::uint8_t>>& outbox() noexcept { return outbox_; }
  std::map<std::int64_t, response>& responses() noexcept { return responses_; }
  bool connected() const noexcept { return connected_; }
  bool ready() const noexcept { return h3_ != nullptr && connected_; }
  int last_error() const noexcept { return last_error_; }
  /// The client's own source ID (hex), as the server names it (client_cid).
  std::string scid() const { return to_hex({scid_.data, scid_.datalen}); }
  /// Where its datagrams seem to come from on the way to the server (a NAT may change it).
  server::udp_address& wire() noexcept { return wire_; }
  ngtcp2_conn* conn() noexcept { return conn_; }

 private:
  static ngtcp2_conn* get_conn(ngtcp2_crypto_conn_ref* ref) { return static_cast<test_client*>(ref->user_data)->conn_; }
  static void random(std::uint8_t* dest, std::size_t n, const ngtcp2_rand_ctx*) {
    gnutls_rnd(GNUTLS_RND_RANDOM, dest, n);
  }
  static ngtcp2_tstamp stamp(server::quic_time t) { return static_cast<ngtcp2_tstamp>(t.count()); }

  ngtcp2_path own_path() {
    return ngtcp2_path{{local_.get(), local_.length}, {server_.get(), server_.length}, nullptr};
  }

  static int recv_stream_data(ngtcp2_conn* conn, std::uint32_t flags, std::int64_t id, std::uint64_t,
                              const std::uint8_t* data, std::size_t n, void* user, void*) {
    auto* c = static_cast<test_client*>(user);
    if (!c->h3_) return 0;
    const nghttp3_ssize used =
        nghttp3_conn_read_stream(c->h3_, id, data, n, (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0);
    if (used < 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    ngtcp2_conn_extend_max_stream_offset(conn, id, static_cast<std::uint64_t>(used));
    ngtcp2_conn_extend_max_offset(conn, static_cast<std::uint64_t>(used));
    return 0;
  }

  int setup_h3() {
    nghttp3_callbacks callbacks{};
    callbacks.recv_data = [](nghttp3_conn*, std::int64_t id, const std::uint8_t* data, std::size_t n, void* user,
                             void* stream) {
      auto* c = static_cast<test_client*>(user);
      if (auto* r = static_cast<response*>(stream)) r->body.append(reinterpret_cast<const char*>(data), n);
      ngtcp2_conn_extend_max_stream_offset(c->conn_, id, n);
      ngtcp2_conn_extend_max_offset(c->conn_, n);
      return 0;
    };
    callbacks.deferred_consume = [](nghttp3_conn*, std::int64_t id, std::size_t n, void* user, void*) {
      auto* c = static_cast<test_client*>(user);
      ngtcp2_conn_extend_max_stream_offset(c->conn_, id, n);
      ngtcp2_conn_extend_max_offset(c->conn_, n);
      return 0;
    };
    callbacks.recv_header = [](nghttp3_conn*, std::int64_t, std::int32_t token, nghttp3_rcbuf*, nghttp3_rcbuf* value,
                               std::uint8_t, void*, void* stream) {
      auto* r = static_cast<response*>(stream);
      if (r && token == NGHTTP3_QPACK_TOKEN__STATUS) {
        const nghttp3_vec v = nghttp3_rcbuf_get_buf(value);
        r->status = std::stoi(std::string(reinterpret_cast<const char*>(v.base), v.len));
      }
      return 0;
    };
    callbacks.end_stream = [](nghttp3_conn*, std::int64_t, void*, void* stream) {
      if (auto* r = static_cast<response*>(stream)) r->done = true;
      return 0;
    };
    nghttp3_settings settings;
    nghttp3_settings_default(&settings);
    if (nghttp3_conn_client_new(&h3_, &callbacks, &settings, nghttp3_mem_default(), this) != 0) return -1;
    std::int64_t control = 0, encoder = 0, decoder = 0;
    if (ngtcp2_conn_open_uni_stream(conn_, &control, nullptr) != 0 ||
        nghttp3_conn_bind_control_stream(h3_, control) != 0 ||
        ngtcp2_conn_open_uni_stream(conn_, &encoder, nullptr) != 0 ||
        ngtcp2_conn_open_uni_stream(conn_, &decoder, nullptr) != 0 ||
        nghttp3_conn_bind_qpack_streams(h3_, encoder, decoder) != 0)
      return -1;
    return 0;
  }

  server::udp_address local_;
  server::udp_address server_;
  server::udp_address wire_;
  ngtcp2_conn* conn_ = nullptr;
  nghttp3_conn* h3_ = nullptr;
  gnutls_session_t session_ = nullptr;
  gnutls_certificate_credentials_t credentials_ = nullptr;
  ngtcp2_crypto_conn_ref ref_{};
  ngtcp2_cid scid_{};
  ngtcp2_cid dcid_{};
  bool connected_ = false;
  int last_error_ = 0;
  std::vector<std::vector<std::uint8_t>> outbox_;
  std::map<std::int64_t, response> responses_;
};

}  // namespace portdemo::test
