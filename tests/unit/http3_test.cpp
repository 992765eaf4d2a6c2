// demo-client --http3, its pure part (client/http3_words.hpp) and the rendering of its events:
// exact strings, no network, no QUIC library.

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>

#include "http3_words.hpp"
#include "portdemo/render.hpp"
#include "portdemo/web.hpp"

namespace portdemo::client {
namespace {

using namespace std::chrono_literals;

host_facts linux_facts() {
  host_facts f;
  f.ephemeral = port_range{32768, 60999};
  f.unprivileged_port_start = 1024;
  return f;
}

http3_flags flags() {
  http3_flags f;
  f.http3 = true;
  return f;
}

// ---- options ------------------------------------------------------------------------------

TEST(Http3Options, PlainHttp3IsFine) {
  EXPECT_EQ(http3_options_problem(flags()), std::nullopt);
  http3_flags f = flags();
  f.rebind = f.cacert = true;
  EXPECT_EQ(http3_options_problem(f), std::nullopt);
  EXPECT_EQ(http3_options_problem(http3_flags{}), std::nullopt);
}

TEST(Http3Options, EachContradictionHasItsSentence) {
  http3_flags f = flags();
  f.udp = true;
  EXPECT_EQ(http3_options_problem(f), "--http3 runs over UDP already (QUIC); leave out --udp");
  f = flags();
  f.proxy_protocol = true;
  EXPECT_EQ(http3_options_problem(f),
            "--http3: a PROXY header begins a TCP stream, and QUIC runs over UDP; leave out --proxy-protocol");
  f = flags();
  f.verify = true;
  EXPECT_EQ(http3_options_problem(f),
            "--http3: --verify checks TCP sockets against /proc/net/tcp; leave out --verify (with --hold, ss -uanp "
            "shows the QUIC socket)");
  f = flags();
  f.parallel = true;
  EXPECT_EQ(http3_options_problem(f),
            "--http3: the --count requests share one QUIC connection, each on a stream of its own; leave out "
            "--parallel");
  f = flags();
  f.cacert = f.insecure = true;
  EXPECT_EQ(http3_options_problem(f),
            "--cacert FILE verifies the server's certificate and -k/--insecure does not: give one of them");
}

TEST(Http3Options, Http3OnlyOptionsNeedIt) {
  http3_flags f;
  f.rebind = true;
  EXPECT_EQ(http3_options_problem(f), "--rebind moves a QUIC connection to a new port: it needs --http3");
  f = http3_flags{};
  f.insecure = true;
  EXPECT_EQ(http3_options_problem(f),
            "--cacert and -k/--insecure concern the server's TLS certificate: they need --http3 or --http2 --tls");
  f = http3_flags{};
  f.cacert = true;
  EXPECT_EQ(http3_options_problem(f),
            "--cacert and -k/--insecure concern the server's TLS certificate: they need --http3 or --http2 --tls");
}

TEST(Http3Options, RebindMakesAtLeastTwoRequests) {
  EXPECT_EQ(http3_requests(1, false), 1u);
  EXPECT_EQ(http3_requests(1, true), 2u);
  EXPECT_EQ(http3_requests(5, true), 5u);
  EXPECT_EQ(http3_requests(3, false), 3u);
}

// ---- the server's view ----------------------------------------------------------------------

// The body demo-server's own connection_json() writes for an HTTP/3 request after a move.
std::string server_body(const quic_details& quic, std::int64_t stream) {
  web_context c;
  c.connection_id = 3;
  c.request_number = 2;
  c.tuple = {{"127.0.0.1", 4433}, {"127.0.0.1", 40112}};
  c.facts = linux_facts();
  c.version = http_version::h3;
  c.stream = stream;
  c.quic = &quic;
  return connection_json(c);
}

TEST(Http3View, ParsesWhatDemoServerWrites) {
  quic_details q;
  q.client_cid = "00112233aabbccdd";
  q.server_cid = "5566778899";
  q.version = "0x00000001";
  q.migrations = 1;
  q.first_tuple = socket_tuple{{"127.0.0.1", 4433}, {"127.0.0.1", 52764}};
  auto v = parse_http3_view(server_body(q, 4));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->view.id, 3u);
  EXPECT_EQ(v->view.proto, "udp");
  EXPECT_EQ(v->view.tuple, (socket_tuple{{"127.0.0.1", 4433}, {"127.0.0.1", 40112}}));
  EXPECT_EQ(v->stream, 4);
  ASSERT_TRUE(v->quic);
  EXPECT_EQ(v->quic->client_cid, "00112233aabbccdd");
  EXPECT_EQ(v->quic->server_cid, "5566778899");
  EXPECT_EQ(v->quic->migrations, 1u);
  EXPECT_EQ(v->quic->first_remote, (endpoint{"127.0.0.1", 52764}));
}

TEST(Http3View, BeforeAMoveThereIsNoFirstRemote) {
  quic_details q;
  q.client_cid = "aa";
  q.server_cid = "bb";
  auto v = parse_http3_view(server_body(q, 0));
  ASSERT_TRUE(v && v->quic);
  EXPECT_EQ(v->stream, 0);
  EXPECT_EQ(v->quic->migrations, 0u);
  EXPECT_EQ(v->quic->first_remote, std::nullopt);
}

TEST(Http3View, OtherBodiesAreNoView) {
  EXPECT_FALSE(parse_http3_view(""));
  EXPECT_FALSE(parse_http3_view("{\"hello\":\"gtlsserver\"}\n"));
  EXPECT_FALSE(parse_http3_view("<html>"));
  // A TCP view without "quic" still parses, without QUIC details.
  auto v = parse_http3_view(
      "{\"event\":\"server_view\",\"proto\":\"tcp\",\"id\":7,\"local\":{\"address\":\"127.0.0.1\",\"port\":8080},"
      "\"remote\":{\"address\":\"127.0.0.1\",\"port\":33768},\"stream\":-1}\n");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->quic, std::nullopt);
  EXPECT_EQ(v->stream, std::nullopt);  // not a whole number >= 0
}

TEST(Http3Words, HexAndVersion) {
  const std::array<std::uint8_t, 4> bytes{0x00, 0x9f, 0xa0, 0xff};
  EXPECT_EQ(to_hex(bytes), "009fa0ff");
  EXPECT_EQ(to_hex({}), "");
  EXPECT_EQ(quic_version_text(1), "0x00000001");
  EXPECT_EQ(quic_version_text(0x6b3343cf), "0x6b3343cf");
}

TEST(Http3Words, ErrorNames) {
  EXPECT_EQ(tls_alert_name(120), "no_application_protocol");
  EXPECT_EQ(tls_alert_name(48), "unknown_ca");
  EXPECT_EQ(tls_alert_name(200), "alert 200");
  EXPECT_EQ(quic_error_name(0x178, false), "CRYPTO_ERROR, TLS alert no_application_protocol");
  EXPECT_EQ(quic_error_name(0x2, false), "CONNECTION_REFUSED");
  EXPECT_EQ(quic_error_name(0x100, true), "H3_NO_ERROR");
  EXPECT_EQ(quic_error_name(0x110, true), "H3_VERSION_FALLBACK");
  EXPECT_EQ(quic_error_name(0x999, false), "a QUIC transport error");
}

// ---- failures, in terms of ports --------------------------------------------------------------

failure udp_failure(step where, std::string error, std::string message) {
  failure f;
  f.where = where;
  f.error = std::move(error);
  f.system_message = std::move(message);
  f.ep = endpoint{"127.0.0.1", 4433};
  f.proto = "udp";
  f.timeout = 2500ms;
  return f;
}

TEST(Http3Explain, RefusedNamesTheUdpPortAndIcmp) {
  const explanation e = explain_quic_unanswered(udp_failure(step::connect, "ECONNREFUSED", "Connection refused"),
                                                "localhost");
  EXPECT_EQ(e.what, "nothing is bound to UDP port 4433 on 127.0.0.1: our QUIC handshake was refused.");
  EXPECT_EQ(e.why,
            "QUIC runs over UDP, which has no SYN and no RST: our first packet went out, and the host answered it "
            "with an ICMP port-unreachable message, which the kernel reports as \"connection refused\" on this "
            "connected UDP socket.");
  ASSERT_EQ(e.tries.size(), 2u);
  EXPECT_EQ(e.tries[0], (suggestion{"start an HTTP/3 server there:", "demo-server --ports 4433 --tls 4433 --quic 4433"}));
  EXPECT_EQ(e.tries[1], (suggestion{"on that host, list what is bound to the port:", "ss -lun 'sport = :4433'"}));
}

TEST(Http3Explain, On8443TheTlsPortNeedsNoTls) {
  failure f = udp_failure(step::connect, "ECONNREFUSED", "Connection refused");
  f.ep = endpoint{"::1", 8443};
  const explanation e = explain_quic_unanswered(f, "localhost");
  EXPECT_EQ(e.what, "nothing is bound to UDP port 8443 (HTTPS alternate) on ::1: our QUIC handshake was refused.");
  EXPECT_EQ(e.tries[0].command, "demo-server --ports 8443 --quic 8443");
}

TEST(Http3Explain, RefusedMidConnection) {
  const explanation e =
      explain_quic_unanswered(udp_failure(step::read, "ECONNREFUSED", "Connection refused"), "127.0.0.1");
  EXPECT_EQ(e.what,
            "nothing is bound to UDP port 4433 on 127.0.0.1 any more: the QUIC connection's next packet was refused.");
}

TEST(Http3Explain, TimeoutSaysHowLongAndSuggestsTheAddress) {
  const explanation e =
      explain_quic_unanswered(udp_failure(step::connect, "ETIMEDOUT", "Connection timed out"), "localhost");
  EXPECT_EQ(e.what, "no QUIC answer from 127.0.0.1:4433 within 2.5 s: the handshake timed out.");
  ASSERT_EQ(e.tries.size(), 3u);
  EXPECT_EQ(e.tries[1], (suggestion{"or wait longer:", "--timeout SECONDS"}));
  EXPECT_EQ(e.tries[2], (suggestion{"or ask for the address directly:", "demo-client --http3 127.0.0.1 4433"}));
  EXPECT_EQ(explain_quic_unanswered(udp_failure(step::connect, "ETIMEDOUT", "x"), "127.0.0.1").tries.size(), 2u);
}

TEST(Http3Explain, NotQuicQuotesTheAnswer) {
  const explanation e = explain_not_quic({"127.0.0.1", 9000}, 2, "{\"event\":\"server_view\"}\n");
  EXPECT_EQ(e.what, "127.0.0.1:9000 answered with 2 datagrams, none of them QUIC: it is a UDP service, but not HTTP/3.");
  EXPECT_EQ(e.why,
            "Something is bound to the port and answers every datagram, as demo-server --udp does; it does not "
            "speak QUIC, so no handshake can begin. It answered \"{\"event\":\"server_view\"}\\n\".");
  EXPECT_EQ(e.tries[0], (suggestion{"ask it as plain UDP:", "demo-client --udp 127.0.0.1 9000"}));
}

certificate_findings self_signed() {
  certificate_findings c;
  c.subject = "CN=localhost";
  c.issuer = "CN=localhost";
  c.sha256 = "3F:9A";
  c.self_signed = true;
  c.unknown_signer = true;
  return c;
}

TEST(Http3Explain, SelfSignedCertificateSuggestsCacertAndK) {
  const explanation e = explain_certificate(self_signed(), "localhost", 4433, tls_use::http3);
  EXPECT_EQ(e.what,
            "the server's certificate for localhost is not trusted: it is self-signed and not in this host's trust "
            "store; no request was sent.");
  EXPECT_EQ(e.why,
            "HTTP/3 always runs inside TLS 1.3, and demo-client checks the certificate as curl and browsers do. "
            "This one is CN=localhost (issued by itself, SHA-256 3F:9A).");
  ASSERT_EQ(e.tries.size(), 3u);
  EXPECT_EQ(e.tries[0], (suggestion{"trust that server's own certificate: save it with", "demo-server --save-cert FILE"}));
  EXPECT_EQ(e.tries[1], (suggestion{"and give it here:", "demo-client --http3 --cacert FILE localhost 4433"}));
  EXPECT_EQ(e.tries[2], (suggestion{"or skip the check, like curl -k:", "demo-client --http3 -k localhost 4433"}));
}

TEST(Http3Explain, TheFingerprintsFirstHalfAsTheServerPrintsIt) {
  certificate_findings c = self_signed();
  c.sha256 = "DB:BC:A3:A3:32:4E:28:08:67:81:A4:4A:3B:99:73:FF:DD:69:F0:E9:64:03:6C:F1:44:7F:66:42:51:38:88:EF";
  EXPECT_EQ(explain_certificate(c, "localhost", 4433, tls_use::http3).why,
            "HTTP/3 always runs inside TLS 1.3, and demo-client checks the certificate as curl and browsers do. "
            "This one is CN=localhost (issued by itself, SHA-256 DB:BC:A3:A3:32:4E:28:08:67:81:A4:4A:3B:99:73:FF:...).");
}

TEST(Http3Explain, CertificateAgainstCacertAndTheWrongName) {
  certificate_findings c = self_signed();
  c.trusted = "/tmp/other.pem";
  c.wrong_name = true;
  EXPECT_EQ(explain_certificate(c, "::1", 4433, tls_use::http3).what,
            "the server's certificate for ::1 is not trusted: it is self-signed and not in --cacert /tmp/other.pem "
            "and it does not name ::1 (it names no host at all); no request was sent.");
  EXPECT_EQ(explain_certificate(c, "::1", 4433, tls_use::http3).tries[2].command, "demo-client --http3 -k [::1] 4433");
  c.unknown_signer = false;
  const explanation no_names = explain_certificate(c, "127.0.0.2", 4433, tls_use::http3);
  EXPECT_EQ(no_names.tries[0],
            (suggestion{"give the server a certificate that names the host you dial (demo-server --cert, --key)", ""}));
  // With names: the first one, in the same command with the same --cacert.
  c.names = {"::1", "localhost", "127.0.0.1", "a.example", "b.example"};
  const explanation name_only = explain_certificate(c, "127.0.0.2", 4433, tls_use::http3);
  EXPECT_EQ(name_only.what,
            "the server's certificate for 127.0.0.2 is not trusted: it does not name 127.0.0.2 (it names ::1, "
            "localhost, 127.0.0.1, a.example, ...); no request was sent.");
  ASSERT_EQ(name_only.tries.size(), 2u);
  EXPECT_EQ(name_only.tries[0], (suggestion{"dial it by a name the certificate holds:",
                                            "demo-client --http3 --cacert /tmp/other.pem [::1] 4433"}));
  EXPECT_EQ(name_only.tries[1], (suggestion{"or skip the check, like curl -k:", "demo-client --http3 -k 127.0.0.2 4433"}));
  // From the trust store: no --cacert in the command.
  c.trusted.clear();
  c.names = {"elsewhere.example"};
  EXPECT_EQ(explain_certificate(c, "localhost", 443, tls_use::http2_tls).tries[0],
            (suggestion{"dial it by a name the certificate holds:", "demo-client --http2 --tls elsewhere.example 443"}));
}

// ---- --http2 --tls: the same certificate words, its own flags, and its two failures of its own

TEST(TlsWords, SelfSignedOverHttp2SuggestsItsOwnFlags) {
  const explanation e = explain_certificate(self_signed(), "localhost", 8443, tls_use::http2_tls);
  EXPECT_EQ(e.what,
            "the server's certificate for localhost is not trusted: it is self-signed and not in this host's trust "
            "store; no request was sent.");
  EXPECT_EQ(e.why,
            "https:// is HTTP inside TLS, and demo-client checks the certificate as curl and browsers do. "
            "This one is CN=localhost (issued by itself, SHA-256 3F:9A).");
  ASSERT_EQ(e.tries.size(), 3u);
  EXPECT_EQ(e.tries[1], (suggestion{"and give it here:", "demo-client --http2 --tls --cacert FILE localhost 8443"}));
  EXPECT_EQ(e.tries[2], (suggestion{"or skip the check, like curl -k:", "demo-client --http2 --tls -k localhost 8443"}));
  EXPECT_EQ(tls_use_flags(tls_use::http2_tls), "--http2 --tls");
  EXPECT_EQ(tls_use_flags(tls_use::http3), "--http3");
}

TEST(TlsWords, ExpiredAndNotYetValidAreNamed) {
  certificate_findings c = self_signed();
  c.unknown_signer = false;
  c.expired = true;
  EXPECT_EQ(explain_certificate(c, "localhost", 8443, tls_use::http2_tls).what,
            "the server's certificate for localhost is not trusted: it has expired; no request was sent.");
  c.expired = false;
  c.library_text = "certificate signature failure";
  EXPECT_EQ(explain_certificate(c, "localhost", 8443, tls_use::http2_tls).what,
            "the server's certificate for localhost is not trusted: certificate signature failure; no request was "
            "sent.");
}

TEST(TlsWords, NoH2NamesWhatTheServerChose) {
  const explanation e = explain_no_h2({"127.0.0.1", 8443}, "http/1.1");
  EXPECT_EQ(e.what,
            "127.0.0.1:8443 speaks TLS but not HTTP/2: its ALPN answer was \"http/1.1\" (we offered \"h2\" and "
            "\"http/1.1\").");
  EXPECT_EQ(e.tries.at(0), (suggestion{"ask it over HTTP/1.1 instead:", "curl -k https://127.0.0.1:8443/"}));
  EXPECT_EQ(explain_no_h2({"::1", 8443}, "").what,
            "[::1]:8443 speaks TLS but not HTTP/2: its ALPN answer was none (we offered \"h2\" and \"http/1.1\").");
}

TEST(TlsWords, NotTlsAndAFailedHandshake) {
  const explanation plain = explain_tls_on_tcp({"::1", 22}, "wrong version number", -1, true);
  EXPECT_EQ(plain.what, "[::1]:22 does not speak TLS: its first answer was not a TLS record (wrong version number).");
  EXPECT_EQ(plain.tries.at(0), (suggestion{"ask it in the clear (h2c):", "demo-client --http2 [::1] 22"}));
  const explanation alert = explain_tls_on_tcp({"127.0.0.1", 8443}, "tlsv1 alert protocol version", 70, false);
  EXPECT_EQ(alert.what,
            "the TLS handshake with 127.0.0.1:8443 failed: tlsv1 alert protocol version (TLS alert 70, "
            "protocol_version).");
}

TEST(TlsWords, AFailedHandshakeInsideQuic) {
  const explanation e = explain_handshake({"127.0.0.1", 4433}, "ERR_CRYPTO", 40, tls_use::http3);
  EXPECT_EQ(e.what,
            "the TLS handshake inside QUIC with 127.0.0.1:4433 failed: ERR_CRYPTO (TLS alert 40, handshake_failure).");
  EXPECT_EQ(e.why, "QUIC's handshake is a TLS 1.3 handshake: until it completes, no request can be sent.");
  EXPECT_EQ(explain_handshake({"127.0.0.1", 8443}, "", -1, tls_use::http2_tls).what,
            "the TLS handshake with 127.0.0.1:8443 failed: no reason given.");
}

TEST(TlsWords, SilenceAndAClose) {
  const explanation silent = explain_tls_silent({"::1", 8443}, 2500ms);
  EXPECT_EQ(silent.what,
            "no TLS answer from [::1]:8443 within 2.5 s: the TCP connection was accepted, but nothing came back to "
            "our ClientHello.");
  EXPECT_EQ(silent.tries.at(0), (suggestion{"ask it in the clear (h2c):", "demo-client --http2 [::1] 8443"}));
  EXPECT_EQ(explain_tls_closed({"127.0.0.1", 8443}, "RST").what,
            "127.0.0.1:8443 closed the connection during the TLS handshake (RST), before any request.");
}

TEST(Http3Options, TlsIsForHttp2) {
  http3_flags f;
  f.http3 = true;
  f.tls = true;
  EXPECT_EQ(http3_options_problem(f),
            "--tls is for --http2 (HTTP/2 inside TLS on TCP); HTTP/3 runs inside TLS already: leave out --tls");
  f = http3_flags{};
  f.tls = true;
  f.cacert = true;
  EXPECT_EQ(http3_options_problem(f), std::nullopt);
  f.insecure = true;
  EXPECT_EQ(http3_options_problem(f),
            "--cacert FILE verifies the server's certificate and -k/--insecure does not: give one of them");
}

TEST(Http3Explain, NoH3AndClosed) {
  EXPECT_EQ(explain_no_h3({"127.0.0.1", 4433}, "").what,
            "127.0.0.1:4433 speaks QUIC but not HTTP/3: the TLS handshake found no common application protocol (we "
            "offered \"h3\").");
  EXPECT_EQ(explain_closed({"127.0.0.1", 4433}, 0x2, false, "busy", true).what,
            "127.0.0.1:4433 closed the QUIC connection before answering: CONNECTION_REFUSED (0x2, \"busy\").");
  EXPECT_EQ(explain_stalled({"127.0.0.1", 4433}, 10s, 4).what,
            "127.0.0.1:4433 did not answer the request on stream 4 within 10 s.");
}

// ---- rendering --------------------------------------------------------------------------------

http3_connected_event connected() {
  http3_connected_event e;
  e.tuple = {{"127.0.0.1", 52764}, {"127.0.0.1", 4433}};
  e.in_ephemeral_range = true;
  e.client_cid = "00112233aabbccdd";
  e.server_cid = "5566778899aabbcc";
  e.version = "0x00000001";
  e.alpn = "h3";
  e.tls_version = "TLSv1.3";
  e.cipher = "AES-128-GCM";
  e.certificate = "CN=localhost";
  e.verified_by = "cacert";
  e.cacert = "/tmp/pd.pem";
  return e;
}

TEST(Http3Render, ConnectedJson) {
  EXPECT_EQ(render_json(connected()),
            "{\"event\":\"http3_connected\",\"proto\":\"udp\",\"local\":{\"address\":\"127.0.0.1\",\"port\":52764},"
            "\"remote\":{\"address\":\"127.0.0.1\",\"port\":4433},\"local_port_class\":\"dynamic\","
            "\"in_ephemeral_range\":true,\"local_port_chosen_by\":\"kernel\",\"client_cid\":\"00112233aabbccdd\","
            "\"server_cid\":\"5566778899aabbcc\",\"version\":\"0x00000001\",\"alpn\":\"h3\",\"tls_version\":"
            "\"TLSv1.3\",\"cipher\":\"AES-128-GCM\",\"certificate\":{\"subject\":\"CN=localhost\",\"verified_by\":"
            "\"cacert\",\"cacert\":\"/tmp/pd.pem\"}}\n");
}

TEST(Http3Render, ConnectedText) {
  text_renderer r(linux_facts(), false);
  EXPECT_EQ(r.render(connected()),
            "connected over QUIC (HTTP/3 on UDP, TLSv1.3, h3)\n"
            "  local   127.0.0.1:52764   ephemeral  chosen by this host's kernel (dynamic port)\n"
            "  remote  127.0.0.1:4433    fixed      chosen by the server (registered)\n"
            "  IDs: this end's 00112233aabbccdd, the server's 5566778899aabbcc (QUIC 0x00000001):\n"
            "    they name the connection, not the four facts\n"
            "  certificate CN=localhost: verified with --cacert /tmp/pd.pem\n");
}

http3_response_event response(std::uint32_t migrations) {
  http3_response_event e;
  e.request = 2;
  e.stream = 4;
  e.status = 200;
  e.tuple = {{"127.0.0.1", 40112}, {"127.0.0.1", 4433}};
  server_view v;
  v.id = 3;
  v.proto = "udp";
  v.tuple = {{"127.0.0.1", 4433}, {"127.0.0.1", 40112}};
  e.server = v;
  e.server_stream = 4;
  http3_server_quic q;
  q.client_cid = "00112233aabbccdd";
  q.server_cid = "5566778899aabbcc";
  q.migrations = migrations;
  if (migrations) q.first_remote = endpoint{"127.0.0.1", 52764};
  e.quic = q;
  e.ids_match = true;
  return e;
}

TEST(Http3Render, ResponseAfterTheMove) {
  text_renderer r(linux_facts(), false);
  EXPECT_EQ(r.render(response(1)),
            "GET /json -> 200 on stream 4 (request 2 on this QUIC connection, from 127.0.0.1:40112)\n"
            "  server's view (its connection #3): local 127.0.0.1:4433  remote 127.0.0.1:40112\n"
            "  mirror image: yes, the two ends see the same four facts\n"
            "  IDs and stream: yes, the server names the same two connection IDs and stream 4\n"
            "  the server saw the move: 1 change of this end's address or port, the connection began\n"
            "    from 127.0.0.1:52764\n");
  EXPECT_EQ(render_json(response(1)),
            "{\"event\":\"http3_response\",\"proto\":\"udp\",\"request\":2,\"stream\":4,\"status\":200,"
            "\"local\":{\"address\":\"127.0.0.1\",\"port\":40112},\"remote\":{\"address\":\"127.0.0.1\",\"port\":4433},"
            "\"server_view\":{\"id\":3,\"local\":{\"address\":\"127.0.0.1\",\"port\":4433},\"remote\":{\"address\":"
            "\"127.0.0.1\",\"port\":40112},\"stream\":4,\"quic\":{\"client_cid\":\"00112233aabbccdd\",\"server_cid\":"
            "\"5566778899aabbcc\",\"migrations\":1,\"first_remote\":{\"address\":\"127.0.0.1\",\"port\":52764}}},"
            "\"mirror\":true,\"translation\":{\"kind\":\"none\",\"source\":null,\"destination\":null,"
            "\"destination_address_known\":true},\"ids_match\":true}\n");
}

TEST(Http3Render, ResponseWithoutAView) {
  http3_response_event e;
  e.stream = 0;
  e.status = 200;
  e.tuple = {{"127.0.0.1", 52764}, {"127.0.0.1", 4433}};
  e.server_view_problem = "the server answered, but not as demo-server does: \"{\\\"hello\\\":1}\"";
  text_renderer r(linux_facts(), false);
  EXPECT_EQ(r.render(e),
            "GET /json -> 200 on stream 0 (request 1 on this QUIC connection, from 127.0.0.1:52764)\n"
            "  server's view: not reported (the server answered, but not as demo-server does:\n"
            "    \"{\\\"hello\\\":1}\")\n");
  EXPECT_NE(render_json(e).find(",\"server_view\":null,\"mirror\":null,\"translation\":null,\"ids_match\":null,"
                                "\"server_view_problem\":"),
            std::string::npos);
}

TEST(Http3Render, Rebound) {
  http3_rebound_event e;
  e.from = {{"127.0.0.1", 52764}, {"127.0.0.1", 4433}};
  e.to = {{"127.0.0.1", 40112}, {"127.0.0.1", 4433}};
  e.in_ephemeral_range = true;
  e.migration = true;
  e.server_cid_before = "aa";
  e.server_cid_after = "bb";
  EXPECT_EQ(render_json(e),
            "{\"event\":\"http3_rebound\",\"proto\":\"udp\",\"from\":{\"local\":{\"address\":\"127.0.0.1\",\"port\":"
            "52764},\"remote\":{\"address\":\"127.0.0.1\",\"port\":4433}},\"to\":{\"local\":{\"address\":"
            "\"127.0.0.1\",\"port\":40112},\"remote\":{\"address\":\"127.0.0.1\",\"port\":4433}},"
            "\"in_ephemeral_range\":true,\"how\":\"migration\",\"server_cid_before\":\"aa\",\"server_cid_after\":"
            "\"bb\"}\n");
  text_renderer r(linux_facts(), false);
  const std::string text = r.render(e);
  EXPECT_EQ(text.substr(0, text.find('\n') + 1),
            "moved: this end left 127.0.0.1:52764 for a new UDP socket, 127.0.0.1:40112 (a new\n");
}

TEST(Http3Render, FailedCarriesTheExplanationAndExitCode) {
  http3_failed_event e{"certificate", {{"127.0.0.1", 52764}, {"127.0.0.1", 4433}}, "",
                       explain_certificate(self_signed(), "localhost", 4433, tls_use::http3), 77};
  const std::string json = render_json(e);
  EXPECT_EQ(json.rfind("{\"event\":\"http3_failed\",\"proto\":\"udp\",\"code\":\"certificate\",\"local\":", 0), 0u);
  EXPECT_NE(json.find("\"detail\":null,\"explanation\":\"the server's certificate for localhost is not trusted"),
            std::string::npos);
  EXPECT_NE(json.find(",\"exit_code\":77}\n"), std::string::npos);
  text_renderer r(linux_facts(), false);
  const std::string text = r.render(e);
  EXPECT_EQ(text.substr(0, text.find('\n') + 1), "failed     127.0.0.1:4433    HTTP/3\n");
}


// ---- --http2 --tls rendering ----------------------------------------------------------------

http2_exchanged_event exchanged_over_tls() {
  http2_exchanged_event e;
  e.id = 1;
  e.tuple = {{"127.0.0.1", 51234}, {"127.0.0.1", 8443}};
  for (std::int32_t stream : {1, 3}) {
    http2_answer_seen a;
    a.stream = stream;
    a.status = 200;
    a.server_view = socket_tuple{{"127.0.0.1", 8443}, {"127.0.0.1", 51234}};
    a.server_id = 4;
    a.server_request = static_cast<std::uint64_t>((stream + 1) / 2);
    a.server_stream = stream;
    e.answers.push_back(a);
  }
  e.tls = http2_tls_facts{"TLSv1.3", "TLS_AES_256_GCM_SHA384", "h2", "verified with --cacert /tmp/pd.pem"};
  return e;
}

TEST(Http2TlsRender, ExchangedJsonCarriesTheTls) {
  const std::string json = render_json(exchanged_over_tls());
  EXPECT_NE(json.find(",\"one_port\":true,\"problem\":null,\"tls\":{\"version\":\"TLSv1.3\",\"cipher\":"
                      "\"TLS_AES_256_GCM_SHA384\",\"alpn\":\"h2\",\"verification\":\"verified with --cacert "
                      "/tmp/pd.pem\"}}\n"),
            std::string::npos)
      << json;
  http2_exchanged_event cleartext = exchanged_over_tls();
  cleartext.tls.reset();
  EXPECT_NE(render_json(cleartext).find(",\"tls\":null}\n"), std::string::npos);
}

TEST(Http2TlsRender, ExchangedTextNamesTlsAndAlpn) {
  text_renderer r(linux_facts(), false);
  EXPECT_EQ(r.render(exchanged_over_tls()),
            "  HTTP/2 (h2, chosen in TLS's ALPN) on this one connection, from local port 51234:\n"
            "    stream 1   the server saw 127.0.0.1:8443 <- 127.0.0.1:51234  (its request 1 on #4)\n"
            "    stream 3   the server saw 127.0.0.1:8443 <- 127.0.0.1:51234  (its request 2 on #4)\n"
            "  2 requests, 2 streams, one client port (51234): HTTP/2 multiplexes them on one\n"
            "    connection, where HTTP/1.1 would take one at a time\n"
            "  TLS: TLSv1.3, TLS_AES_256_GCM_SHA384, certificate verified with --cacert /tmp/pd.pem\n");
}

TEST(Http2TlsRender, FailedCarriesTheExplanationAndExitCode) {
  http2_failed_event e{"alpn",
                       {{"127.0.0.1", 51234}, {"127.0.0.1", 8443}},
                       "the server chose http/1.1",
                       explain_no_h2({"127.0.0.1", 8443}, "http/1.1"),
                       69};
  EXPECT_EQ(render_json(e),
            "{\"event\":\"http2_failed\",\"proto\":\"tcp\",\"code\":\"alpn\",\"local\":{\"address\":\"127.0.0.1\","
            "\"port\":51234},\"remote\":{\"address\":\"127.0.0.1\",\"port\":8443},\"detail\":\"the server chose "
            "http/1.1\",\"explanation\":\"127.0.0.1:8443 speaks TLS but not HTTP/2: its ALPN answer was \\\"http/1.1\\\" "
            "(we offered \\\"h2\\\" and \\\"http/1.1\\\"). Over TLS, client and server agree on HTTP/2 in the "
            "handshake (ALPN), before any request; a server that does not choose \\\"h2\\\" speaks HTTP/1.1 there, "
            "one request at a time per connection. Try: ask it over HTTP/1.1 instead: curl -k "
            "https://127.0.0.1:8443/.\",\"exit_code\":69}\n");
  text_renderer r(linux_facts(), false);
  const std::string text = r.render(e);
  EXPECT_EQ(text.substr(0, text.find('\n') + 1),
            "failed     127.0.0.1:8443    HTTP/2 over TLS: the server chose http/1.1\n");
  EXPECT_NE(text.find("  try: ask it over HTTP/1.1 instead:  curl -k https://127.0.0.1:8443/\n"), std::string::npos)
      << text;
}

}  // namespace
}  // namespace portdemo::client
