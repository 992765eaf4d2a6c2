#include "certificate.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fmt/format.h>

#include "portdemo/x509.hpp"

#include <memory>

namespace portdemo::server {

namespace {

template <typename T, void (*Free)(T*)>
using owned = std::unique_ptr<T, decltype([](T* p) { Free(p); })>;

std::string to_pem(X509* cert) {
  owned<BIO, BIO_free_all> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string key_to_pem(EVP_PKEY* key) {
  if (!key) return {};
  owned<BIO, BIO_free_all> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

// The certificate and the intermediates --cert named after it, as SSL_CTX has them.
std::string chain_to_pem(SSL_CTX* ctx, X509* cert) {
  std::string out = to_pem(cert);
  STACK_OF(X509)* chain = nullptr;
  if (SSL_CTX_get0_chain_certs(ctx, &chain) == 1 && chain) {
    for (int i = 0; i < sk_X509_num(chain); ++i) out += to_pem(sk_X509_value(chain, i));
  }
  return out;
}

std::string names_of(X509* cert) {
  int at = X509_get_ext_by_NID(cert, NID_subject_alt_name, -1);
  if (at < 0) return "";
  owned<BIO, BIO_free_all> bio(BIO_new(BIO_s_mem()));
  X509V3_EXT_print(bio.get(), X509_get_ext(cert, at), 0, 0);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string openssl_error(const char* what) {
  unsigned long e = ERR_get_error();
  char buf[256] = {};
  ERR_error_string_n(e, buf, sizeof buf);
  return fmt::format("{}: {}", what, e ? buf : "unknown OpenSSL error");
}

asio::ssl::context base_context() {
  asio::ssl::context ctx(asio::ssl::context::tls_server);
  // TLS 1.2 and 1.3 only; no compression, no renegotiation surprises.
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                  asio::ssl::context::no_tlsv1_1 | asio::ssl::context::no_compression);
  SSL_CTX_set_options(ctx.native_handle(), SSL_OP_NO_RENEGOTIATION);
  return ctx;
}

}  // namespace

tls_setup make_tls(const std::string& cert_file, const std::string& key_file) {
  tls_setup out;
  asio::ssl::context ctx = base_context();
  SSL_CTX* native = ctx.native_handle();
  if (!cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(native, cert_file.c_str()) != 1) {
      out.error = openssl_error(("reading the certificate " + cert_file).c_str());
      return out;
    }
    if (SSL_CTX_use_PrivateKey_file(native, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      out.error = openssl_error(("reading the key " + key_file).c_str());
      return out;
    }
    if (SSL_CTX_check_private_key(native) != 1) {
      out.error = fmt::format("the key {} does not belong to the certificate {}", key_file, cert_file);
      return out;
    }
    X509* cert = SSL_CTX_get0_certificate(native);
    out.info = {cert_file,    x509_subject(cert),           names_of(cert),
                x509_sha256(cert), to_pem(cert), chain_to_pem(native, cert),
                key_to_pem(SSL_CTX_get0_privatekey(native))};
    out.context.emplace(std::move(ctx));
    return out;
  }

  owned<EVP_PKEY, EVP_PKEY_free> key(EVP_EC_gen("P-256"));
  owned<X509, X509_free> cert(X509_new());
  if (!key || !cert) {
    out.error = openssl_error("generating a key");
    return out;
  }
  X509_set_version(cert.get(), 2);  // v3, for the subjectAltName extension
  owned<BIGNUM, BN_free> serial(BN_new());
  BN_rand(serial.get(), 64, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 30L * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("portdemo"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);  // self-signed

  // The names a browser or curl checks, and CA:TRUE so that --cacert accepts it as its own root.
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
  const std::pair<int, const char*> extensions[] = {
      {NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1"},
      {NID_basic_constraints, "critical,CA:TRUE"},
      {NID_key_usage, "critical,digitalSignature,keyCertSign"},
      {NID_ext_key_usage, "serverAuth"},
  };
  for (const auto& [nid, value] : extensions) {
    owned<X509_EXTENSION, X509_EXTENSION_free> ext(X509V3_EXT_conf_nid(nullptr, &v3, nid, value));
    if (!ext || X509_add_ext(cert.get(), ext.get(), -1) != 1) {
      out.error = openssl_error("building the certificate");
      return out;
    }
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    out.error = openssl_error("signing the certificate");
    return out;
  }
  if (SSL_CTX_use_certificate(native, cert.get()) != 1 || SSL_CTX_use_PrivateKey(native, key.get()) != 1) {
    out.error = openssl_error("loading the certificate");
    return out;
  }
  out.info = {"generated",           x509_subject(cert.get()), names_of(cert.get()), x509_sha256(cert.get()),
              to_pem(cert.get()),    to_pem(cert.get()),     key_to_pem(key.get())};
  out.context.emplace(std::move(ctx));
  return out;
}

}  // namespace portdemo::server
