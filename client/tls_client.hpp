#pragma once
// demo-client --http2 --tls: TLS on the TCP connection, as a browser's https:// speaks it: ALPN
// offers "h2" (and "http/1.1"), SNI names the host, and the certificate is checked as curl
// checks it (this host's trust store, or --cacert FILE; -k: not at all). Sans-IO, as h2_client
// is: OpenSSL over two memory BIOs. Bytes from the socket go in with receive(), bytes for the
// socket come out of take_output(); client/http2.cpp moves them with its deadlines.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tls_words.hpp"

namespace portdemo::client {

struct tls_settings {
  std::string host;    ///< the name dialled: SNI (for a name) and the certificate's check
  std::string cacert;  ///< --cacert FILE, or empty for this host's trust store
  bool insecure = false;  ///< -k: do not verify
};

class tls_client {
 public:
  explicit tls_client(const tls_settings& settings);
  ~tls_client();
  tls_client(const tls_client&) = delete;
  tls_client& operator=(const tls_client&) = delete;

  /// Empty, or why no handshake can begin (OpenSSL could not load the --cacert file).
  const std::string& setup_error() const noexcept { return setup_error_; }

  /// Moves the handshake on with what has been received; true once it is over, done or failed.
  bool handshake();
  bool established() const noexcept { return established_; }

  /// After a failed handshake: the certificate was not trusted (what was found), or nullopt.
  const std::optional<certificate_findings>& certificate_failure() const noexcept { return cert_failure_; }
  /// After a failed handshake: OpenSSL's words, and the alert the server sent (-1: none).
  const std::string& library_text() const noexcept { return library_text_; }
  int alert() const noexcept { return alert_; }
  /// What came back was no TLS record at all (a plain-text service on the port).
  bool not_tls() const noexcept { return not_tls_; }

  /// Ciphertext from the socket.
  void receive(std::string_view ciphertext);
  /// Ciphertext for the socket, taken out.
  std::string take_output();
  /// Plaintext to send, encrypted into the output (after the handshake).
  void send(std::string_view plaintext);
  /// Plaintext decrypted from what was received; empty when nothing is whole yet. closed()
  /// once the server's close_notify came.
  std::string read();
  bool closed() const noexcept { return closed_; }
  /// Says close_notify into the output.
  void shutdown();

  /// After the handshake: "TLSv1.3", "TLS_AES_256_GCM_SHA384", the ALPN choice ("h2"; empty for
  /// none) and how the certificate was taken: "verified" or "not verified (-k)".
  std::string version() const;
  std::string cipher() const;
  std::string alpn() const;
  std::string verification() const;

 private:
  struct state;
  std::unique_ptr<state> s_;
  std::string setup_error_;
  std::string library_text_;
  std::optional<certificate_findings> cert_failure_;
  int alert_ = -1;
  bool established_ = false;
  bool failed_ = false;
  bool closed_ = false;
  bool not_tls_ = false;
  bool insecure_ = false;
  std::string cacert_;
  std::string host_;
};

}  // namespace portdemo::client
