#pragma once
// The server's certificate for HTTPS ports, generated at start-up (self-signed, for localhost
// and the loopback addresses) or loaded from files, in an Asio SSL context; and the same
// certificate and key in PEM for HTTP/3 (--quic), whose TLS is GnuTLS's.

#include <optional>
#include <string>

#include <asio/ssl/context.hpp>

namespace portdemo::server {

/// What the certificate is, for the start-up report.
struct certificate_info {
  std::string source;       ///< "generated" or the certificate file's path
  std::string subject;      ///< "CN=localhost"
  std::string names;        ///< "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
  std::string sha256;       ///< fingerprint, hex with colons
  std::string pem;          ///< the certificate in PEM, to trust it as a CA (curl --cacert)
  std::string chain_pem;    ///< the certificate and the chain after it (--cert), in PEM, for QUIC
  std::string key_pem;      ///< the private key in PEM, for QUIC's GnuTLS: never printed, never saved
};

/// A TLS server context with its certificate, or the reason it could not be made.
struct tls_setup {
  std::optional<asio::ssl::context> context;
  certificate_info info;
  std::string error;  ///< set when context is empty
};

/// Generates a P-256 key and a self-signed certificate valid for 30 days for localhost,
/// 127.0.0.1 and ::1; or loads `cert_file` and `key_file` when both are given.
tls_setup make_tls(const std::string& cert_file, const std::string& key_file);

}  // namespace portdemo::server
