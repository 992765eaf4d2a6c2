#include "tls_client.hpp"

#include <array>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "portdemo/text.hpp"
#include "portdemo/x509.hpp"

namespace portdemo::client {

namespace {

// ALPN as the wire has it: length-prefixed names, h2 first, as browsers offer them.
constexpr std::array<unsigned char, 12> offered_alpn = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

// OpenSSL's queued errors, the newest reason first: "certificate verify failed".
std::string drain_errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    if (!out.empty()) continue;  // the first is the one that says what happened
    const char* reason = ERR_reason_error_string(e);
    out = reason ? reason : "error " + std::to_string(ERR_GET_REASON(e));
  }
  return out;
}

// What the callbacks find during the handshake: SSL's app data.
struct handshake_findings {
  X509* leaf = nullptr;  // the server's certificate, as the verification met it
  int alert = -1;        // the alert the server sent
};

}  // namespace

struct tls_client::state {
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  BIO* in = nullptr;   // ciphertext from the socket, read by OpenSSL
  BIO* out = nullptr;  // ciphertext OpenSSL wrote, for the socket
  handshake_findings found;

  ~state() {
    if (found.leaf) X509_free(found.leaf);
    if (ssl) SSL_free(ssl);  // frees both BIOs
    if (ctx) SSL_CTX_free(ctx);
  }
};

namespace {

// Keeps the leaf certificate the verification looked at, for the explanation of a failure;
// the verdict stays OpenSSL's.
int remember_leaf(int preverify_ok, X509_STORE_CTX* store) {
  auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  X509* leaf = X509_STORE_CTX_get0_cert(store);
  auto* found = ssl ? static_cast<handshake_findings*>(SSL_get_app_data(ssl)) : nullptr;
  if (found && leaf && !found->leaf && X509_up_ref(leaf) == 1) found->leaf = leaf;
  return preverify_ok;
}

void note_alert(const SSL* ssl, int where, int value) {
  if ((where & SSL_CB_READ_ALERT) == 0) return;
  auto* found = static_cast<handshake_findings*>(SSL_get_app_data(ssl));
  if (found && found->alert < 0) found->alert = value & 0xff;
}

}  // namespace

tls_client::tls_client(const tls_settings& settings)
    : s_(std::make_unique<state>()), insecure_(settings.insecure), cacert_(settings.cacert), host_(settings.host) {
  s_->ctx = SSL_CTX_new(TLS_client_method());
  if (!s_->ctx) {
    setup_error_ = "OpenSSL could not make a TLS context: " + drain_errors();
    return;
  }
  SSL_CTX_set_min_proto_version(s_->ctx, TLS1_2_VERSION);
  if (!insecure_) {
    const int loaded = cacert_.empty() ? SSL_CTX_set_default_verify_paths(s_->ctx)
                                       : SSL_CTX_load_verify_locations(s_->ctx, cacert_.c_str(), nullptr);
    if (loaded != 1) {
      setup_error_ = "--cacert " + cacert_ + ": OpenSSL could not load it: " + drain_errors();
      return;
    }
    SSL_CTX_set_verify(s_->ctx, SSL_VERIFY_PEER, remember_leaf);
  }
  s_->ssl = SSL_new(s_->ctx);
  s_->in = BIO_new(BIO_s_mem());
  s_->out = BIO_new(BIO_s_mem());
  if (!s_->ssl || !s_->in || !s_->out) {
    if (s_->in) BIO_free(s_->in);
    if (s_->out) BIO_free(s_->out);
    s_->in = s_->out = nullptr;
    setup_error_ = "OpenSSL could not make a TLS session: " + drain_errors();
    return;
  }
  // An empty input BIO means "more to come", not the end of the stream.
  BIO_set_mem_eof_return(s_->in, -1);
  SSL_set_bio(s_->ssl, s_->in, s_->out);
  SSL_set_app_data(s_->ssl, &s_->found);
  SSL_set_info_callback(s_->ssl, note_alert);
  SSL_set_alpn_protos(s_->ssl, offered_alpn.data(), static_cast<unsigned>(offered_alpn.size()));
  const bool literal = is_ip_address(host_);
  // SNI names hosts, not addresses (SSL_set_tlsext_host_name, without its macro's cast).
  if (!literal) SSL_ctrl(s_->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(host_.c_str()));
  if (!insecure_) {
    if (literal) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s_->ssl), host_.c_str());
    else SSL_set1_host(s_->ssl, host_.c_str());
  }
  SSL_set_connect_state(s_->ssl);
}

tls_client::~tls_client() = default;

bool tls_client::handshake() {
  if (!setup_error_.empty() || failed_) return true;
  if (established_) return true;
  ERR_clear_error();
  const int r = SSL_do_handshake(s_->ssl);
  if (r == 1) {
    established_ = true;
    return true;
  }
  const int error = SSL_get_error(s_->ssl, r);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return false;
  failed_ = true;
  const unsigned long first = ERR_peek_error();
  not_tls_ = ERR_GET_LIB(first) == ERR_LIB_SSL &&
             (ERR_GET_REASON(first) == SSL_R_WRONG_VERSION_NUMBER || ERR_GET_REASON(first) == SSL_R_PACKET_LENGTH_TOO_LONG ||
              ERR_GET_REASON(first) == SSL_R_RECORD_LENGTH_MISMATCH);
  library_text_ = drain_errors();
  if (library_text_.empty()) library_text_ = error == SSL_ERROR_ZERO_RETURN || error == SSL_ERROR_SYSCALL
                                                 ? "the connection ended during the handshake"
                                                 : "handshake failed";
  alert_ = s_->found.alert;
  const long verdict = SSL_get_verify_result(s_->ssl);
  if (verdict != X509_V_OK && s_->found.leaf) {
    // Every finding about the certificate, not only the first OpenSSL stopped at.
    certificate_findings c;
    c.subject = x509_subject(s_->found.leaf);
    c.issuer = x509_issuer(s_->found.leaf);
    c.sha256 = x509_sha256(s_->found.leaf);
    c.names = x509_names(s_->found.leaf);
    c.self_signed = X509_check_issued(s_->found.leaf, s_->found.leaf) == X509_V_OK;
    c.unknown_signer = verdict == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT || verdict == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
                       verdict == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
                       verdict == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT || verdict == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE;
    c.wrong_name = (is_ip_address(host_) ? X509_check_ip_asc(s_->found.leaf, host_.c_str(), 0)
                                         : X509_check_host(s_->found.leaf, host_.c_str(), host_.size(), 0, nullptr)) != 1;
    c.expired = X509_cmp_current_time(X509_get0_notAfter(s_->found.leaf)) < 0;
    c.not_yet_valid = X509_cmp_current_time(X509_get0_notBefore(s_->found.leaf)) > 0;
    c.library_text = X509_verify_cert_error_string(verdict);
    c.trusted = cacert_;
    cert_failure_ = std::move(c);
  }
  return true;
}

void tls_client::receive(std::string_view ciphertext) {
  if (!s_->in || ciphertext.empty()) return;
  BIO_write(s_->in, ciphertext.data(), static_cast<int>(ciphertext.size()));
}

std::string tls_client::take_output() {
  std::string out;
  if (!s_->out) return out;
  char* data = nullptr;
  const long n = BIO_get_mem_data(s_->out, &data);
  if (n > 0) out.assign(data, static_cast<std::size_t>(n));
  (void)BIO_reset(s_->out);
  return out;
}

void tls_client::send(std::string_view plaintext) {
  if (!established_ || plaintext.empty()) return;
  // Memory BIOs grow as needed: a write never waits for the socket.
  std::size_t written = 0;
  if (SSL_write_ex(s_->ssl, plaintext.data(), plaintext.size(), &written) != 1) ERR_clear_error();
}

std::string tls_client::read() {
  std::string out;
  if (!established_) return out;
  std::array<char, 16384> buffer{};
  for (;;) {
    std::size_t n = 0;
    if (SSL_read_ex(s_->ssl, buffer.data(), buffer.size(), &n) == 1) {
      out.append(buffer.data(), n);
      continue;
    }
    const int error = SSL_get_error(s_->ssl, 0);
    if (error == SSL_ERROR_ZERO_RETURN) closed_ = true;
    else if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) closed_ = true;
    ERR_clear_error();
    return out;
  }
}

void tls_client::shutdown() {
  if (established_) (void)SSL_shutdown(s_->ssl);
  ERR_clear_error();
}

std::string tls_client::version() const { return s_->ssl ? SSL_get_version(s_->ssl) : ""; }

std::string tls_client::cipher() const {
  const char* name = s_->ssl ? SSL_get_cipher_name(s_->ssl) : nullptr;
  return name ? name : "";
}

std::string tls_client::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int size = 0;
  if (s_->ssl) SSL_get0_alpn_selected(s_->ssl, &data, &size);
  return data ? std::string(reinterpret_cast<const char*>(data), size) : std::string();
}

std::string tls_client::verification() const {
  if (insecure_) return "not verified (-k)";
  return cacert_.empty() ? "verified (this host's trust store)" : "verified with --cacert " + cacert_;
}

}  // namespace portdemo::client
