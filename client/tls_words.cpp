// demo-client's words for TLS: a certificate not trusted, ALPN without h2, a handshake that
// failed, and the names of TLS alerts. Pure: no sockets, no TLS library.

#include "tls_words.hpp"

#include <vector>

#include <fmt/format.h>

#include "portdemo/render.hpp"

namespace portdemo::client {

std::string host_port_arguments(const endpoint& server) {
  return server.is_v6() ? fmt::format("[{}] {}", server.address, server.port)
                        : fmt::format("{} {}", server.address, server.port);
}

std::string_view tls_use_flags(tls_use use) noexcept { return use == tls_use::http3 ? "--http3" : "--http2 --tls"; }

explanation explain_certificate(const certificate_findings& c, std::string_view host, std::uint16_t port,
                                tls_use use) {
  explanation e;
  const std::string store = c.trusted.empty() ? "this host's trust store" : "--cacert " + c.trusted;
  std::vector<std::string> reasons;
  if (c.unknown_signer)
    reasons.push_back(c.self_signed ? fmt::format("it is self-signed and not in {}", store)
                                    : fmt::format("its signer is not in {}", store));
  if (c.wrong_name) {
    std::string held;
    for (std::size_t i = 0; i < c.names.size() && i < 4; ++i) held += (i ? ", " : "") + c.names[i];
    if (c.names.size() > 4) held += ", ...";
    reasons.push_back(held.empty() ? fmt::format("it does not name {} (it names no host at all)", host)
                                   : fmt::format("it does not name {} (it names {})", host, held));
  }
  if (c.expired) reasons.push_back("it has expired");
  if (c.not_yet_valid) reasons.push_back("it is not valid yet");
  if (reasons.empty()) reasons.push_back(c.library_text.empty() ? "it did not verify" : c.library_text);
  std::string why_not;
  for (std::size_t i = 0; i < reasons.size(); ++i) {
    if (i) why_not += i + 1 == reasons.size() ? " and " : ", ";
    why_not += reasons[i];
  }
  e.what = fmt::format("the server's certificate for {} is not trusted: {}; no request was sent.", host, why_not);
  e.why = fmt::format("{}, and demo-client checks the certificate as curl and browsers do. This one is {} (issued by "
                      "{}, SHA-256 {}).",
                      use == tls_use::http3 ? "HTTP/3 always runs inside TLS 1.3" : "https:// is HTTP inside TLS",
                      c.subject.empty() ? "without a subject" : c.subject,
                      c.self_signed ? "itself" : (c.issuer.empty() ? "an unnamed issuer" : c.issuer),
                      // The first half, as demo-server's start-up line shows it: a line's width.
                      c.sha256.size() > 47 ? c.sha256.substr(0, 47) + ":..." : c.sha256);
  const std::string target = host_port_arguments(endpoint{std::string(host), port});
  const std::string_view flags = tls_use_flags(use);
  if (c.wrong_name && !c.unknown_signer) {
    // The same command with a name the certificate holds, where it holds one.
    const std::string trust = c.trusted.empty() ? std::string() : " --cacert " + c.trusted;
    if (!c.names.empty()) {
      const std::string& name = c.names.front();
      e.tries.push_back({"dial it by a name the certificate holds:",
                         fmt::format("demo-client {}{} {}", flags, trust, host_port_arguments(endpoint{name, port}))});
    } else {
      e.tries.push_back({"give the server a certificate that names the host you dial (demo-server --cert, --key)", ""});
    }
    e.tries.push_back({"or skip the check, like curl -k:", fmt::format("demo-client {} -k {}", flags, target)});
  } else {
    e.tries = {{"trust that server's own certificate: save it with", "demo-server --save-cert FILE"},
               {"and give it here:", fmt::format("demo-client {} --cacert FILE {}", flags, target)},
               {"or skip the check, like curl -k:", fmt::format("demo-client {} -k {}", flags, target)}};
  }
  return e;
}

std::string tls_alert_name(int alert) {
  switch (alert) {
    case 0: return "close_notify";
    case 10: return "unexpected_message";
    case 20: return "bad_record_mac";
    case 40: return "handshake_failure";
    case 42: return "bad_certificate";
    case 43: return "unsupported_certificate";
    case 44: return "certificate_revoked";
    case 45: return "certificate_expired";
    case 46: return "certificate_unknown";
    case 47: return "illegal_parameter";
    case 48: return "unknown_ca";
    case 50: return "decode_error";
    case 51: return "decrypt_error";
    case 70: return "protocol_version";
    case 80: return "internal_error";
    case 109: return "missing_extension";
    case 110: return "unsupported_extension";
    case 112: return "unrecognized_name";
    case 116: return "certificate_required";
    case 120: return "no_application_protocol";
    default: return fmt::format("alert {}", alert);
  }
}

explanation explain_no_h2(const endpoint& server, std::string_view chosen) {
  explanation e;
  e.what = fmt::format("{} speaks TLS but not HTTP/2: its ALPN answer was {} (we offered \"h2\" and \"http/1.1\").",
                       to_string(server), chosen.empty() ? "none" : fmt::format("\"{}\"", chosen));
  e.why = "Over TLS, client and server agree on HTTP/2 in the handshake (ALPN), before any request; a server that "
          "does not choose \"h2\" speaks HTTP/1.1 there, one request at a time per connection.";
  e.tries = {{"ask it over HTTP/1.1 instead:", fmt::format("curl -k https://{}/", to_string(server))}};
  return e;
}

namespace {

// --http2 --tls met no TLS: the same requests in the clear (h2c), to the same server.
suggestion in_the_clear(const endpoint& server) {
  return {"ask it in the clear (h2c):", fmt::format("demo-client --http2 {}", host_port_arguments(server))};
}

}  // namespace

explanation explain_tls_on_tcp(const endpoint& server, std::string_view library_text, int alert, bool plain) {
  explanation e;
  if (plain) {
    e.what = fmt::format("{} does not speak TLS: its first answer was not a TLS record ({}).", to_string(server),
                         library_text.empty() ? "no reason given" : library_text);
    e.why = "The TCP connection was made, so something listens on the port, but it expects plain bytes: a port "
            "serves TLS only where the server says so (demo-server: 443, 8443 or --tls).";
    e.tries = {in_the_clear(server)};
    return e;
  }
  return explain_handshake(server, library_text, alert, tls_use::http2_tls);
}

explanation explain_handshake(const endpoint& server, std::string_view library_text, int alert, tls_use use) {
  explanation e;
  e.what = fmt::format("the TLS handshake {}with {} failed: {}{}.", use == tls_use::http3 ? "inside QUIC " : "",
                       to_string(server), library_text.empty() ? "no reason given" : library_text,
                       alert >= 0 ? fmt::format(" (TLS alert {}, {})", alert, tls_alert_name(alert)) : "");
  e.why = use == tls_use::http3
              ? "QUIC's handshake is a TLS 1.3 handshake: until it completes, no request can be sent."
              : "Over TLS nothing is sent until the handshake completes: the TCP connection stood, but no request "
                "rode it.";
  e.tries = {{"see the server's log for this connection's client port", ""}};
  return e;
}

explanation explain_tls_silent(const endpoint& server, std::chrono::milliseconds timeout) {
  explanation e;
  e.what = fmt::format("no TLS answer from {} within {:g} s: the TCP connection was accepted, but nothing came back "
                       "to our ClientHello.",
                       to_string(server), static_cast<double>(timeout.count()) / 1000.0);
  e.why = "The port's listener took the connection, so something serves it; a TLS server answers a ClientHello at "
          "once, so this one waits for other bytes (a plain-text protocol whose client speaks first) or is stuck.";
  e.tries = {in_the_clear(server),
             {"or wait longer:", "--timeout SECONDS"}};
  return e;
}

explanation explain_tls_closed(const endpoint& server, std::string_view how) {
  explanation e;
  e.what = fmt::format("{} closed the connection during the TLS handshake ({}), before any request.",
                       to_string(server), how);
  e.why = "The TCP connection was accepted and then ended by the server: it may not speak TLS on this port and "
          "gave up on our ClientHello, or it refuses this client (a connection limit, an access rule).";
  e.tries = {in_the_clear(server),
             {"see the server's log for this connection's client port", ""}};
  return e;
}

}  // namespace portdemo::client
