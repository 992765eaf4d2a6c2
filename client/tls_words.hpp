#pragma once
// demo-client's words for TLS, whichever library spoke it (GnuTLS inside QUIC for --http3,
// OpenSSL on TCP for --http2 --tls): why a certificate was not trusted and what to try, and the
// names of TLS alerts. Pure: tests/unit/http3_test.cpp and tls_client_test.cpp test it on values.

#include <cstdint>
#include <chrono>
#include <string>
#include <vector>
#include <string_view>

#include "portdemo/failure.hpp"

namespace portdemo::client {

/// Why the server's certificate was not trusted, from the verification's findings.
struct certificate_findings {
  std::string subject;       ///< "CN=localhost"
  std::string issuer;        ///< "CN=localhost"
  std::string sha256;        ///< "3F:9A:...": upper-case hex pairs, as demo-server prints it
  std::vector<std::string> names;  ///< its subjectAltName's DNS names and addresses: "localhost", "::1"
  bool self_signed = false;
  bool unknown_signer = false;  ///< no trusted certificate signed it
  bool wrong_name = false;      ///< it does not name the host dialled
  bool expired = false;
  bool not_yet_valid = false;
  std::string library_text;  ///< the TLS library's own sentence for the status
  std::string trusted;       ///< what it was checked against: "" (the system store) or the --cacert file
};

/// Which of demo-client's TLS uses met the certificate: the words and the flags to suggest.
enum class tls_use {
  http3,      ///< --http3: TLS 1.3 inside QUIC (GnuTLS)
  http2_tls,  ///< --http2 --tls: HTTP/2 inside TLS on TCP, as https:// (OpenSSL)
};

/// demo-client's own HOST PORT arguments for a server: "127.0.0.1 8443", "[::1] 8443",
/// "localhost 8443", as the suggestions of every explanation write them.
std::string host_port_arguments(const endpoint& server);

/// The flags that ask for `use`: "--http3" or "--http2 --tls".
std::string_view tls_use_flags(tls_use use) noexcept;

/// The certificate failure: which certificate, why, and --cacert with demo-server --save-cert,
/// or -k, to try.
explanation explain_certificate(const certificate_findings& c, std::string_view host, std::uint16_t port,
                                tls_use use);

/// The name of a TLS alert (RFC 8446 section 6), "alert 120" for ones without a name here.
std::string tls_alert_name(int alert);

/// The TLS handshake failed for a reason of its own (the library's words; `alert`: the TLS
/// alert the server sent, or -1): inside QUIC for --http3, on the TCP connection for --tls.
explanation explain_handshake(const endpoint& server, std::string_view library_text, int alert, tls_use use);

/// --http2 --tls: the server finished the TLS handshake without choosing "h2" in ALPN
/// (`chosen`: what it chose, empty for nothing): it serves HTTP/1.1 only over TLS.
explanation explain_no_h2(const endpoint& server, std::string_view chosen);

/// --http2 --tls: the TLS handshake on the TCP connection failed (OpenSSL's words; `alert`:
/// the server's TLS alert, or -1); `plain`: what came back did not look like TLS at all.
explanation explain_tls_on_tcp(const endpoint& server, std::string_view library_text, int alert, bool plain);

/// --http2 --tls: the TCP connection was accepted and nothing came back to the ClientHello
/// within `timeout`: a service that waits for plain bytes first, or one that is stuck.
explanation explain_tls_silent(const endpoint& server, std::chrono::milliseconds timeout);

/// --http2 --tls: the server closed the TCP connection (FIN or RST: `how`) before the TLS
/// handshake was over.
explanation explain_tls_closed(const endpoint& server, std::string_view how);

}  // namespace portdemo::client
