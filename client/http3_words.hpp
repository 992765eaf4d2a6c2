#pragma once
// demo-client --http3: the pure part. Which option combinations make sense, what a demo-server's
// /json says of a QUIC connection, and the words for each way an HTTP/3 attempt can fail, in
// terms of ports. No sockets, no QUIC or TLS library: tests/unit/http3_test.cpp tests it on values.

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "portdemo/events.hpp"
#include "portdemo/failure.hpp"
#include "portdemo/web.hpp"
#include "tls_words.hpp"

namespace portdemo::client {

/// The options --http3 meets, as main() collected them.
struct http3_flags {
  bool http3 = false;
  bool rebind = false;          ///< --rebind
  bool insecure = false;        ///< -k, --insecure
  bool cacert = false;          ///< --cacert FILE given
  bool udp = false;             ///< --udp
  bool proxy_protocol = false;  ///< --proxy-protocol v1|v2
  bool verify = false;          ///< --verify
  bool parallel = false;        ///< --parallel above 1
  bool tls = false;             ///< --tls (with --http2): a certificate to check there too
};

/// The one sentence for stderr when the combination makes no sense (exit 64), else nullopt.
std::optional<std::string> http3_options_problem(const http3_flags& flags);

/// How many requests a run makes on its one connection: --count, and with --rebind at least two
/// (one from each port).
std::uint64_t http3_requests(std::uint64_t count, bool rebind) noexcept;

/// A demo-server's answer to GET /json over HTTP/3: its view and what it says of the QUIC
/// connection. nullopt unless the body's first line is a server_view object.
struct http3_view {
  server_view view;
  std::optional<std::int64_t> stream;
  std::optional<http3_server_quic> quic;
};
std::optional<http3_view> parse_http3_view(std::string_view body);

// to_hex() and quic_version_text(), the words of connection IDs and versions: portdemo/web.hpp,
// shared with the server.

/// The QUIC attempt to `f.ep` got no QUIC answer: refused by ICMP (ECONNREFUSED), silence until
/// the handshake timeout (ETIMEDOUT), or a kernel error. `datagrams`: datagrams that did come
/// back, none of them QUIC (then `first_bytes` are the first of them, as received).
explanation explain_quic_unanswered(const failure& f, std::string_view host);

/// Datagrams came back from the port, none of them QUIC: another UDP service listens there.
explanation explain_not_quic(const endpoint& server, std::size_t datagrams, std::string_view first_bytes);

/// The handshake failed on ALPN: the QUIC server there does not offer HTTP/3 ("h3").
explanation explain_no_h3(const endpoint& server, std::string_view server_said);

/// The server closed the connection (CONNECTION_CLOSE) with `code` and its reason phrase.
explanation explain_closed(const endpoint& server, std::uint64_t code, bool application, std::string_view reason,
                           bool handshake_done);

/// The connection stopped answering after the handshake: a request got no answer within the
/// timeout, or the idle timeout passed.
explanation explain_stalled(const endpoint& server, std::chrono::milliseconds timeout, std::int64_t stream);

/// The name of a QUIC transport error code (RFC 9000 section 20, 0x100-0x1ff: a TLS alert),
/// or of an HTTP/3 one (RFC 9114 section 8.1) when `application`.
std::string quic_error_name(std::uint64_t code, bool application);

}  // namespace portdemo::client
