// The words of demo-client --http3: option combinations, the server's /json over HTTP/3, and
// each failure explained in terms of ports. Pure: no sockets, no QUIC or TLS library.

#include "http3_words.hpp"

#include <cmath>

#include <fmt/format.h>

#include "portdemo/json.hpp"
#include "portdemo/render.hpp"
#include "portdemo/services.hpp"

namespace portdemo::client {

std::optional<std::string> http3_options_problem(const http3_flags& f) {
  if (!f.http3) {
    if (f.rebind) return "--rebind moves a QUIC connection to a new port: it needs --http3";
    if ((f.cacert || f.insecure) && !f.tls)
      return "--cacert and -k/--insecure concern the server's TLS certificate: they need --http3 or --http2 --tls";
    if (f.cacert && f.insecure)
      return "--cacert FILE verifies the server's certificate and -k/--insecure does not: give one of them";
    return std::nullopt;
  }
  if (f.tls) return "--tls is for --http2 (HTTP/2 inside TLS on TCP); HTTP/3 runs inside TLS already: leave out --tls";
  if (f.udp) return "--http3 runs over UDP already (QUIC); leave out --udp";
  if (f.proxy_protocol)
    return "--http3: a PROXY header begins a TCP stream, and QUIC runs over UDP; leave out --proxy-protocol";
  if (f.verify)
    return "--http3: --verify checks TCP sockets against /proc/net/tcp; leave out --verify (with --hold, "
           "ss -uanp shows the QUIC socket)";
  if (f.parallel)
    return "--http3: the --count requests share one QUIC connection, each on a stream of its own; leave out "
           "--parallel";
  if (f.cacert && f.insecure)
    return "--cacert FILE verifies the server's certificate and -k/--insecure does not: give one of them";
  return std::nullopt;
}

std::uint64_t http3_requests(std::uint64_t count, bool rebind) noexcept {
  return rebind && count < 2 ? 2 : count;
}

namespace {

std::optional<endpoint> endpoint_of(const json_value* v) {
  if (!v) return std::nullopt;
  const json_value* address = v->find("address");
  const json_value* port = v->find("port");
  if (!address || !address->as_string() || !port || !port->as_number()) return std::nullopt;
  const double p = *port->as_number();
  if (!(p >= 0 && p <= 65535) || std::floor(p) != p) return std::nullopt;
  return endpoint{*address->as_string(), static_cast<std::uint16_t>(p)};
}

std::optional<double> whole_number(const json_value* v) {
  if (!v || !v->as_number()) return std::nullopt;
  const double n = *v->as_number();
  if (!(n >= 0 && n <= 9007199254740992.0) || std::floor(n) != n) return std::nullopt;
  return n;
}

}  // namespace

std::optional<http3_view> parse_http3_view(std::string_view body) {
  const std::string_view line = body.substr(0, body.find('\n'));
  auto view = parse_server_view(line);
  if (!view) return std::nullopt;
  http3_view out{std::move(*view), std::nullopt, std::nullopt};
  auto doc = parse_json(line);
  if (!doc) return out;
  if (auto stream = whole_number(doc->find("stream"))) out.stream = static_cast<std::int64_t>(*stream);
  if (const json_value* quic = doc->find("quic"); quic && quic->find("client_cid")) {
    http3_server_quic q;
    if (const json_value* v = quic->find("client_cid"); v && v->as_string()) q.client_cid = *v->as_string();
    if (const json_value* v = quic->find("server_cid"); v && v->as_string()) q.server_cid = *v->as_string();
    if (auto m = whole_number(quic->find("migrations")); m && *m <= 4294967295.0)
      q.migrations = static_cast<std::uint32_t>(*m);
    q.first_remote = endpoint_of(quic->find("first_remote"));
    out.quic = std::move(q);
  }
  return out;
}


namespace {

// "UDP port 4433" or "UDP port 443 (HTTPS)".
std::string udp_port_phrase(std::uint16_t port) {
  const std::string service = describe_port(port);
  return service.empty() ? fmt::format("UDP port {}", port) : fmt::format("UDP port {} ({})", port, service);
}

// demo-server serving HTTP/3 on `port`: QUIC on the UDP port of a TLS port (443 and 8443 are
// TLS ports by default, others are named with --tls).
std::string quic_server_command(std::uint16_t port) {
  if (port == 443 || port == 8443) return fmt::format("demo-server --ports {} --quic {}", port, port);
  return fmt::format("demo-server --ports {} --tls {} --quic {}", port, port, port);
}

std::string seconds(std::chrono::milliseconds d) {
  return fmt::format("{:g} s", static_cast<double>(d.count()) / 1000.0);
}

}  // namespace

explanation explain_quic_unanswered(const failure& f, std::string_view host) {
  const endpoint ep = f.ep.value_or(endpoint{});
  explanation e;
  if (f.error == "ECONNREFUSED" && f.where == step::read) {
    e.what = fmt::format("nothing is bound to {} on {} any more: the QUIC connection's next packet was refused.",
                         udp_port_phrase(ep.port), ep.address);
    e.why = "The server's socket closed in the middle of the connection (the server stopped), and the host "
            "answered our packet with an ICMP port-unreachable message, which the kernel reports as \"connection "
            "refused\" on this connected UDP socket.";
    e.tries = {{"start the server again and reconnect:", quic_server_command(ep.port)}};
  } else if (f.error == "ECONNREFUSED") {
    e.what = fmt::format("nothing is bound to {} on {}: our QUIC handshake was refused.", udp_port_phrase(ep.port),
                         ep.address);
    e.why = "QUIC runs over UDP, which has no SYN and no RST: our first packet went out, and the host answered it "
            "with an ICMP port-unreachable message, which the kernel reports as \"connection refused\" on this "
            "connected UDP socket.";
    e.tries = {{"start an HTTP/3 server there:", quic_server_command(ep.port)},
               {"on that host, list what is bound to the port:", fmt::format("ss -lun 'sport = :{}'", ep.port)}};
  } else if (f.error == "ETIMEDOUT") {
    e.what = fmt::format("no QUIC answer from {} within {}: the handshake timed out.", to_string(ep),
                         seconds(f.timeout));
    e.why = "QUIC runs over UDP: our handshake packets, sent again and again, got no answer. A firewall may drop "
            "them, or a server there drops what it does not understand; silence is all UDP shows of either.";
    e.tries = {{"check that something is bound to the port:", fmt::format("ss -lun 'sport = :{}'", ep.port)},
               {"or wait longer:", "--timeout SECONDS"}};
    if (!host.empty() && host != ep.address)
      e.tries.push_back({"or ask for the address directly:",
                         fmt::format("demo-client --http3 {}", host_port_arguments(ep))});
  } else {
    e.what = fmt::format("{} of the QUIC handshake to {} failed: {} ({}).", to_string(f.where), to_string(ep),
                         f.system_message, f.error);
    e.why = f.error == "ENETUNREACH" || f.error == "EHOSTUNREACH"
                ? "No route leads to that address from this host, so no packet was sent."
                : "The kernel refused to send or receive the UDP datagrams QUIC is made of.";
    e.tries = {{"check the address:", "ip route get " + ep.address}};
  }
  return e;
}

explanation explain_not_quic(const endpoint& server, std::size_t datagrams, std::string_view first_bytes) {
  explanation e;
  e.what = fmt::format("{} answered with {} datagram{}, none of them QUIC: it is a UDP service, but not HTTP/3.",
                       to_string(server), datagrams, datagrams == 1 ? "" : "s");
  e.why = fmt::format("Something is bound to the port and answers every datagram, as demo-server --udp does; it "
                      "does not speak QUIC, so no handshake can begin. It answered \"{}\".",
                      printable(first_bytes, 60));
  e.tries = {{"ask it as plain UDP:", fmt::format("demo-client --udp {}", host_port_arguments(server))},
             {"or serve HTTP/3 on another port:", quic_server_command(4433)}};
  return e;
}

explanation explain_no_h3(const endpoint& server, std::string_view server_said) {
  explanation e;
  e.what = fmt::format("{} speaks QUIC but not HTTP/3: the TLS handshake found no common application protocol "
                       "(we offered \"h3\").",
                       to_string(server));
  e.why = fmt::format("QUIC carries any protocol its two ends agree on during the handshake (ALPN); this server "
                      "offers others{}. The UDP port answers, the service on it is another one.",
                      server_said.empty() ? "" : fmt::format(" (it said \"{}\")", printable(server_said, 60)));
  e.tries = {{"start an HTTP/3 server:", quic_server_command(server.port)}};
  return e;
}

explanation explain_closed(const endpoint& server, std::uint64_t code, bool application, std::string_view reason,
                           bool handshake_done) {
  explanation e;
  e.what = fmt::format("{} closed the QUIC connection {}: {} (0x{:x}{}).", to_string(server),
                       handshake_done ? "before answering" : "during the handshake",
                       quic_error_name(code, application), code,
                       reason.empty() ? "" : fmt::format(", \"{}\"", printable(reason, 60)));
  e.why = application ? "The server's HTTP/3 layer ended the connection (a CONNECTION_CLOSE frame of the application)."
                      : "The server's QUIC layer ended the connection (a CONNECTION_CLOSE frame): the UDP port "
                        "answered, the connection on it did not go on.";
  e.tries = {{"see the server's log for this connection's client port", ""}};
  return e;
}

explanation explain_stalled(const endpoint& server, std::chrono::milliseconds timeout, std::int64_t stream) {
  explanation e;
  e.what = fmt::format("{} did not answer the request on stream {} within {}.", to_string(server), stream,
                       seconds(timeout));
  e.why = "The QUIC connection was made, then the server's answers stopped coming: it stopped, its port was "
          "closed, or something between the two ends dropped the datagrams.";
  e.tries = {{"wait longer:", "--timeout SECONDS"}};
  return e;
}

std::string quic_error_name(std::uint64_t code, bool application) {
  if (application) {
    switch (code) {
      case 0x100: return "H3_NO_ERROR";
      case 0x101: return "H3_GENERAL_PROTOCOL_ERROR";
      case 0x102: return "H3_INTERNAL_ERROR";
      case 0x103: return "H3_STREAM_CREATION_ERROR";
      case 0x104: return "H3_CLOSED_CRITICAL_STREAM";
      case 0x105: return "H3_FRAME_UNEXPECTED";
      case 0x106: return "H3_FRAME_ERROR";
      case 0x107: return "H3_EXCESSIVE_LOAD";
      case 0x108: return "H3_ID_ERROR";
      case 0x109: return "H3_SETTINGS_ERROR";
      case 0x10a: return "H3_MISSING_SETTINGS";
      case 0x10b: return "H3_REQUEST_REJECTED";
      case 0x10c: return "H3_REQUEST_CANCELLED";
      case 0x10d: return "H3_REQUEST_INCOMPLETE";
      case 0x10e: return "H3_MESSAGE_ERROR";
      case 0x10f: return "H3_CONNECT_ERROR";
      case 0x110: return "H3_VERSION_FALLBACK";
      default: return "an HTTP/3 error";
    }
  }
  if (code >= 0x100 && code <= 0x1ff)
    return fmt::format("CRYPTO_ERROR, TLS alert {}", tls_alert_name(static_cast<int>(code - 0x100)));
  switch (code) {
    case 0x0: return "NO_ERROR";
    case 0x1: return "INTERNAL_ERROR";
    case 0x2: return "CONNECTION_REFUSED";
    case 0x3: return "FLOW_CONTROL_ERROR";
    case 0x4: return "STREAM_LIMIT_ERROR";
    case 0x5: return "STREAM_STATE_ERROR";
    case 0x6: return "FINAL_SIZE_ERROR";
    case 0x7: return "FRAME_ENCODING_ERROR";
    case 0x8: return "TRANSPORT_PARAMETER_ERROR";
    case 0x9: return "CONNECTION_ID_LIMIT_ERROR";
    case 0xa: return "PROTOCOL_VIOLATION";
    case 0xb: return "INVALID_TOKEN";
    case 0xc: return "APPLICATION_ERROR";
    case 0xd: return "CRYPTO_BUFFER_EXCEEDED";
    case 0xe: return "KEY_UPDATE_ERROR";
    case 0xf: return "AEAD_LIMIT_REACHED";
    case 0x10: return "NO_VIABLE_PATH";
    default: return "a QUIC transport error";
  }
}

}  // namespace portdemo::client
