#pragma once
// How portdemo names a certificate, from OpenSSL's X509: its subject and issuer (RFC 2253, as
// "CN=localhost,O=portdemo") and its SHA-256 fingerprint (upper-case pairs, colons between).
// One home for the server's start-up line and demo-client --http2 --tls, so that the room can
// compare the two by eye.

#include <string>
#include <vector>

#include <openssl/x509.h>

namespace portdemo {

std::string x509_subject(X509* cert);
std::string x509_issuer(X509* cert);
std::string x509_sha256(X509* cert);
/// The DNS names and IP addresses of its subjectAltName, as a client dials them
/// ("localhost", "127.0.0.1", "::1"): the names a certificate check accepts.
std::vector<std::string> x509_names(X509* cert);

}  // namespace portdemo
