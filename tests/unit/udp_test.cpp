// UDP (--udp): the wording of every UDP event and explanation, exact, in JSON and in text.
// UDP has no connection: a datagram event per datagram, an "exchanged" event on the client,
// and failures that are an ICMP port-unreachable ("refused") or silence ("timed out").

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "portdemo/failure.hpp"
#include "portdemo/json.hpp"
#include "portdemo/protocol.hpp"
#include "portdemo/render.hpp"

namespace portdemo {
namespace {

using namespace std::chrono_literals;

host_facts linux_facts() {
  host_facts f;
  f.ephemeral = port_range{32768, 60999};
  f.unprivileged_port_start = 1024;
  return f;
}

std::string text_of(const event& e, host_facts facts = linux_facts()) {
  return text_renderer(std::move(facts), false).render(e);
}

// A failure of demo-client --udp, as exchange_once reports it.
failure udp_failure(step where, std::string error, std::string message, endpoint ep,
                    std::chrono::milliseconds timeout = 10000ms) {
  failure f;
  f.where = where;
  f.error = std::move(error);
  f.system_message = std::move(message);
  f.ep = std::move(ep);
  f.timeout = timeout;
  f.proto = "udp";
  return f;
}

connect_failed_event udp_failed(std::string error, std::string message, endpoint ep,
                                std::chrono::milliseconds timeout = 10000ms) {
  failure f = udp_failure(step::read, std::move(error), std::move(message), std::move(ep), timeout);
  return {f, explain(f, linux_facts())};
}

// demo-client --udp's exchange: the kernel chose 40000, the server saw the mirror image.
connected_event udp_exchange(std::uint64_t id, std::uint16_t client_port, std::uint64_t server_id) {
  connected_event e;
  e.id = id;
  e.proto = "udp";
  e.tuple = {{"127.0.0.1", client_port}, {"127.0.0.1", 8080}};
  e.in_ephemeral_range = true;
  e.server_view = socket_tuple{{"127.0.0.1", 8080}, {"127.0.0.1", client_port}};
  e.server_id = server_id;
  return e;
}

const socket_tuple v4_datagram{{"127.0.0.1", 8080}, {"127.0.0.1", 40000}};

// ---- the server's datagram event -----------------------------------------------------------

TEST(UdpJson, Datagram) {
  EXPECT_EQ(render_json(datagram_event{7, v4_datagram, 17, true}),
            R"({"event":"datagram","proto":"udp","id":7,)"
            R"("local":{"address":"127.0.0.1","port":8080},"remote":{"address":"127.0.0.1","port":40000},)"
            R"("bytes":17,"remote_port_class":"registered","in_ephemeral_range":true})"
            "\n");
}

TEST(UdpJson, DatagramOverIpv6FromOutsideTheRangeAndUnknownRange) {
  const socket_tuple v6{{"::1", 5353}, {"::1", 61000}};
  EXPECT_EQ(render_json(datagram_event{2, v6, 0, false}),
            R"({"event":"datagram","proto":"udp","id":2,)"
            R"("local":{"address":"::1","port":5353},"remote":{"address":"::1","port":61000},)"
            R"("bytes":0,"remote_port_class":"dynamic","in_ephemeral_range":false})"
            "\n");
  EXPECT_EQ(render_json(datagram_event{3, v6, 1, std::nullopt}),
            R"({"event":"datagram","proto":"udp","id":3,)"
            R"("local":{"address":"::1","port":5353},"remote":{"address":"::1","port":61000},)"
            R"("bytes":1,"remote_port_class":"dynamic","in_ephemeral_range":null})"
            "\n");
}

TEST(UdpText, Datagram) {
  EXPECT_EQ(text_of(datagram_event{7, v4_datagram, 17, true}),
            "datagram #7   local 127.0.0.1:8080 (fixed)   remote 127.0.0.1:40000 (ephemeral)\n"
            "  UDP: no connection, one datagram of 17 bytes; remote port in this host's ephemeral\n"
            "    range\n");
}

TEST(UdpText, DatagramOfOneByteFromOutsideTheRange) {
  EXPECT_EQ(text_of(datagram_event{12, {{"127.0.0.1", 8080}, {"127.0.0.1", 1000}}, 1, false}),
            "datagram #12  local 127.0.0.1:8080 (fixed)   remote 127.0.0.1:1000 (ephemeral)\n"
            "  UDP: no connection, one datagram of 1 byte; remote port outside this host's ephemeral\n"
            "    range\n");
}

TEST(UdpText, DatagramWithUnknownRangeSaysNothingOfIt) {
  EXPECT_EQ(text_of(datagram_event{1, v4_datagram, 3, std::nullopt}, host_facts{}),
            "datagram #1   local 127.0.0.1:8080 (fixed)   remote 127.0.0.1:40000 (ephemeral)\n"
            "  UDP: no connection, one datagram of 3 bytes\n");
}

// ---- the client's exchanged event ------------------------------------------------------------

TEST(UdpJson, Exchanged) {
  EXPECT_EQ(render_json(udp_exchange(1, 40000, 4)),
            R"({"event":"exchanged","proto":"udp","id":1,)"
            R"("local":{"address":"127.0.0.1","port":40000},"remote":{"address":"127.0.0.1","port":8080},)"
            R"("local_port_class":"registered","in_ephemeral_range":true,"local_port_chosen_by":"kernel",)"
            R"("server_view":{"id":4,"local":{"address":"127.0.0.1","port":8080},)"
            R"("remote":{"address":"127.0.0.1","port":40000}},"mirror":true,)"
            R"("translation":{"kind":"none","source":null,"destination":null,"destination_address_known":true}})"
            "\n");
}

TEST(UdpJson, ExchangedWithoutAServerView) {
  connected_event e;
  e.id = 2;
  e.proto = "udp";
  e.tuple = {{"::1", 50000}, {"::1", 8080}};
  e.in_ephemeral_range = true;
  e.server_view_problem = "the server answered, but not as demo-server does: \"pong\"";
  EXPECT_EQ(render_json(e),
            R"({"event":"exchanged","proto":"udp","id":2,)"
            R"("local":{"address":"::1","port":50000},"remote":{"address":"::1","port":8080},)"
            R"("local_port_class":"dynamic","in_ephemeral_range":true,"local_port_chosen_by":"kernel",)"
            R"("server_view":null,"mirror":null,"translation":null,)"
            R"("server_view_problem":"the server answered, but not as demo-server does: \"pong\""})"
            "\n");
}

TEST(UdpJson, ExchangedIsOneLineOfValidJsonWithTheFieldsOfConnected) {
  connected_event tcp = udp_exchange(1, 40000, 4);
  tcp.proto = "tcp";
  auto udp_doc = parse_json(render_json(udp_exchange(1, 40000, 4)));
  auto tcp_doc = parse_json(render_json(tcp));
  ASSERT_TRUE(udp_doc);
  ASSERT_TRUE(tcp_doc);
  EXPECT_EQ(*udp_doc->find("event")->as_string(), "exchanged");
  EXPECT_EQ(*tcp_doc->find("event")->as_string(), "connected");
  for (const char* field : {"id", "local", "remote", "local_port_class", "in_ephemeral_range",
                            "local_port_chosen_by", "server_view", "mirror"}) {
    EXPECT_TRUE(udp_doc->find(field)) << field;
  }
}

TEST(UdpText, Exchanged) {
  // One datagram each way, no connection: the server numbers datagrams, not connections.
  EXPECT_EQ(text_of(udp_exchange(1, 40000, 4)),
            "answered #1 (UDP: one datagram each way, no connection)\n"
            "  local   127.0.0.1:40000   ephemeral  chosen by this host's kernel (registered port)\n"
            "  remote  127.0.0.1:8080    fixed      chosen by the server (registered, HTTP alternate)\n"
            "  server's view (its datagram #4): local 127.0.0.1:8080  remote 127.0.0.1:40000\n"
            "  mirror image: yes, the two ends see the same four facts\n"
            "  note: 40000 lies outside IANA's dynamic range 49152-65535. That is normal on Linux:\n"
            "        the kernel takes client ports from net.ipv4.ip_local_port_range (32768-60999),\n"
            "        not from IANA's range.\n");
}

TEST(UdpText, ExchangedNeverCallsTheDatagramAConnection) {
  std::string text = text_of(udp_exchange(3, 50000, 9));
  EXPECT_EQ(text.find("its connection"), std::string::npos) << text;
  EXPECT_EQ(text.find("connected"), std::string::npos) << text;
}

// ---- listening and ready ---------------------------------------------------------------------

TEST(UdpJson, Listening) {
  EXPECT_EQ(render_json(listening_event{{"127.0.0.1", 8080}, 8080, "HTTP alternate", std::nullopt, false, "udp"}),
            R"({"event":"listening","proto":"udp","local":{"address":"127.0.0.1","port":8080},)"
            R"("port_class":"registered","service":"HTTP alternate","requested_port":8080,)"
            R"("privileged_allowed_by":null,"tls":false,"bound_by":"self"})"
            "\n");
  EXPECT_EQ(render_json(listening_event{{"::1", 50123}, 0, "", std::nullopt, false, "udp"}),
            R"({"event":"listening","proto":"udp","local":{"address":"::1","port":50123},)"
            R"("port_class":"dynamic","service":null,"requested_port":0,)"
            R"("privileged_allowed_by":null,"tls":false,"bound_by":"self"})"
            "\n");
}

TEST(UdpText, Listening) {
  EXPECT_EQ(text_of(listening_event{{"127.0.0.1", 8080}, 8080, "HTTP alternate", std::nullopt, false, "udp"}),
            "listening  127.0.0.1:8080    UDP, registered port, HTTP alternate\n");
  EXPECT_EQ(text_of(listening_event{{"::1", 50123}, 0, "", std::nullopt, false, "udp"}),
            "listening  [::1]:50123       UDP, dynamic port, chosen by the kernel (port 0)\n");
  // The same port over TCP: the listing tells the two apart.
  EXPECT_EQ(text_of(listening_event{{"127.0.0.1", 8080}, 8080, "HTTP alternate", std::nullopt}),
            "listening  127.0.0.1:8080    registered port, HTTP alternate\n");
}

TEST(UdpJson, ReadyWithUdpPorts) {
  EXPECT_EQ(render_json(ready_event{4, 0, {8080, 40123}, {}, {40123}}),
            R"({"event":"ready","listening":4,"failed":0,"ports":[8080,40123],"tls_ports":[],)"
            R"("udp_ports":[40123],"quic_ports":[]})"
            "\n");
  EXPECT_EQ(render_json(ready_event{4, 0, {8080, 8443}, {8443}, {8080}}),
            R"({"event":"ready","listening":4,"failed":0,"ports":[8080,8443],"tls_ports":[8443],)"
            R"("udp_ports":[8080],"quic_ports":[]})"
            "\n");
}

TEST(UdpText, ReadyWithTcpAndUdpPorts) {
  // --ports 0 --udp 0: a TCP port and a UDP port, each with its own hint.
  EXPECT_EQ(text_of(ready_event{4, 0, {8080, 40123}, {}, {40123}}),
            "ready: 4 sockets listening on ports 8080, 40123\n"
            "  try it: demo-client localhost 8080    or:  nc localhost 8080\n"
            "  in a browser: http://localhost:8080/\n"
            "  the board:    http://localhost:8080/board  (every connection, live)\n"
            "  UDP: demo-client --udp localhost 40123    or:  nc -u localhost 40123\n");
}

// ---- the server's summary ----------------------------------------------------------------

TEST(UdpJson, ServerSummaryCountsDatagramsPerUdpPort) {
  server_summary_event e{2, {{8080, 2, "tcp"}, {8080, 3, "udp"}, {40123, 1, "udp"}}, 6,
                         std::uint16_t{40000}, std::uint16_t{40005}, 1};
  EXPECT_EQ(render_json(e),
            R"({"event":"summary","role":"server","connections":2,"per_port":[)"
            R"({"port":8080,"connections":2},{"port":8080,"proto":"udp","datagrams":3},)"
            R"({"port":40123,"proto":"udp","datagrams":1}],)"
            R"("distinct_client_ports":6,"lowest_client_port":40000,"highest_client_port":40005,)"
            R"("peak_open":1,"busy":0,"limited":0,"cut_at_shutdown":0,"log_dropped":0})"
            "\n");
}

TEST(UdpText, ServerSummaryCountsDatagramsPerUdpPort) {
  EXPECT_EQ(text_of(server_summary_event{2, {{8080, 2, "tcp"}, {8080, 3, "udp"}, {40123, 1, "udp"}}, 6,
                                         std::uint16_t{40000}, std::uint16_t{40005}, 1}),
            "summary: 2 connections; port 8080: 2, UDP port 8080: 3 datagrams, UDP port 40123: 1 datagram\n"
            "  client ports seen: 6 distinct, lowest 40000, highest 40005\n"
            "  the server's ports stayed fixed; the clients' ports came and went\n");
  EXPECT_EQ(text_of(server_summary_event{0, {{40123, 0, "udp"}}, 0, std::nullopt, std::nullopt, 0}),
            "summary: 0 connections; UDP port 40123: 0 datagrams\n");
}

// ---- failures: refused (ICMP) and timed out (silence) ------------------------------------------

TEST(UdpExplain, RefusedIsAnIcmpPortUnreachable) {
  auto e = explain(udp_failure(step::read, "ECONNREFUSED", "Connection refused", {"127.0.0.1", 8080}),
                   linux_facts());
  EXPECT_EQ(e.what, "nothing is bound to UDP port 8080 (HTTP alternate) on 127.0.0.1: our datagram was refused.");
  EXPECT_EQ(e.why,
            "UDP has no handshake: the datagram went out, and the host answered it with an ICMP "
            "port-unreachable message, which the kernel reports as \"connection refused\" on the next "
            "receive.");
  EXPECT_EQ(e.tries, (std::vector<suggestion>{{"start a UDP server there:", "demo-server --udp 8080"},
                                              {"on that host, list what is bound:", "ss -lun 'sport = :8080'"}}));
  EXPECT_EQ(to_paragraph(e),
            "nothing is bound to UDP port 8080 (HTTP alternate) on 127.0.0.1: our datagram was refused. "
            "UDP has no handshake: the datagram went out, and the host answered it with an ICMP "
            "port-unreachable message, which the kernel reports as \"connection refused\" on the next "
            "receive. Try: start a UDP server there: demo-server --udp 8080; on that host, list what is "
            "bound: ss -lun 'sport = :8080'.");
}

TEST(UdpExplain, TimedOutIsADatagramOrItsAnswerLost) {
  auto e = explain(udp_failure(step::read, "ETIMEDOUT", "Connection timed out", {"::1", 8080}, 500ms),
                   linux_facts());
  EXPECT_EQ(e.what, "no answer from UDP [::1]:8080 within 0.5 s.");
  EXPECT_EQ(e.why,
            "UDP has no connection and no retransmission: our datagram or its answer was lost, a "
            "firewall dropped it silently, or the server there does not answer. Silence is all a UDP "
            "client ever sees of that.");
  EXPECT_EQ(e.tries,
            (std::vector<suggestion>{{"check that a UDP server listens there:", "ss -lun 'sport = :8080'"},
                                     {"or wait longer:", "--timeout SECONDS"}}));
}

TEST(UdpExplain, TimedOutSaysTheTimeoutInSeconds) {
  auto what = [](std::chrono::milliseconds t) {
    return explain(udp_failure(step::read, "ETIMEDOUT", "Connection timed out", {"127.0.0.1", 8080}, t),
                   linux_facts())
        .what;
  };
  EXPECT_EQ(what(10000ms), "no answer from UDP 127.0.0.1:8080 within 10 s.");
  EXPECT_EQ(what(2500ms), "no answer from UDP 127.0.0.1:8080 within 2.5 s.");
  EXPECT_EQ(what(3600000ms), "no answer from UDP 127.0.0.1:8080 within 3600 s.");
}

TEST(UdpExplain, TheTcpWordsAreNotUsed) {
  for (const char* error : {"ECONNREFUSED", "ETIMEDOUT"}) {
    std::string p = to_paragraph(
        explain(udp_failure(step::read, error, "x", {"127.0.0.1", 8080}), linux_facts()));
    EXPECT_EQ(p.find("SYN"), std::string::npos) << p;
    EXPECT_EQ(p.find("RST"), std::string::npos) << p;
    EXPECT_EQ(p.find("listening"), std::string::npos) << p;
    EXPECT_EQ(p.find("--ports"), std::string::npos) << p;
  }
}

TEST(UdpJson, ConnectFailedRefused) {
  EXPECT_EQ(render_json(udp_failed("ECONNREFUSED", "Connection refused", {"127.0.0.1", 8080})),
            R"({"event":"connect_failed","proto":"udp","remote":{"address":"127.0.0.1","port":8080},)"
            R"("step":"read","errno":"ECONNREFUSED","message":"Connection refused",)"
            R"("explanation":"nothing is bound to UDP port 8080 (HTTP alternate) on 127.0.0.1: our )"
            R"(datagram was refused. UDP has no handshake: the datagram went out, and the host answered )"
            R"(it with an ICMP port-unreachable message, which the kernel reports as \"connection )"
            R"(refused\" on the next receive. Try: start a UDP server there: demo-server --udp 8080; on )"
            R"(that host, list what is bound: ss -lun 'sport = :8080'."})"
            "\n");
}

TEST(UdpText, ConnectFailedRefused) {
  EXPECT_EQ(text_of(udp_failed("ECONNREFUSED", "Connection refused", {"127.0.0.1", 8080})),
            "refused    127.0.0.1:8080    read: Connection refused (ECONNREFUSED)\n"
            "  nothing is bound to UDP port 8080 (HTTP alternate) on 127.0.0.1: our datagram was\n"
            "  refused.\n"
            "  why: UDP has no handshake: the datagram went out, and the host answered it with an\n"
            "       ICMP port-unreachable message, which the kernel reports as \"connection refused\"\n"
            "       on the next receive.\n"
            "  try: start a UDP server there:  demo-server --udp 8080\n"
            "       on that host, list what is bound:  ss -lun 'sport = :8080'\n");
}

TEST(UdpText, ConnectFailedTimedOut) {
  EXPECT_EQ(text_of(udp_failed("ETIMEDOUT", "Connection timed out", {"127.0.0.1", 8080}, 500ms)),
            "timed out  127.0.0.1:8080    read: Connection timed out (ETIMEDOUT)\n"
            "  no answer from UDP 127.0.0.1:8080 within 0.5 s.\n"
            "  why: UDP has no connection and no retransmission: our datagram or its answer was lost,\n"
            "       a firewall dropped it silently, or the server there does not answer. Silence is\n"
            "       all a UDP client ever sees of that.\n"
            "  try: check that a UDP server listens there:  ss -lun 'sport = :8080'\n"
            "       or wait longer:  --timeout SECONDS\n");
}

TEST(UdpJson, BindFailedOfAUdpSocketSaysUdp) {
  // "Same reports, JSON events with "proto":"udp"": a UDP port the server could not bind.
  failure f;
  f.where = step::bind;
  f.error = "EADDRINUSE";
  f.system_message = "Address already in use";
  f.ep = endpoint{"127.0.0.1", 8080};
  f.proto = "udp";
  auto doc = parse_json(render_json(bind_failed_event{f, explain(f, linux_facts())}));
  ASSERT_TRUE(doc);
  EXPECT_EQ(*doc->find("event")->as_string(), "bind_failed");
  EXPECT_EQ(*doc->find("proto")->as_string(), "udp");
  EXPECT_EQ(*doc->find("errno")->as_string(), "EADDRINUSE");
}

// ---- what the server sends back ------------------------------------------------------------------

TEST(UdpServerView, ExactLine) {
  EXPECT_EQ(render_server_view(server_view{6, v4_datagram, "udp", std::nullopt}),
            R"({"event":"server_view","proto":"udp","id":6,"local":{"address":"127.0.0.1","port":8080},)"
            R"("remote":{"address":"127.0.0.1","port":40000}})"
            "\n");
}

TEST(UdpServerView, RoundTripKeepsTheProto) {
  auto got = parse_server_view(render_server_view(server_view{6, v4_datagram, "udp", std::nullopt}));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, 6u);
  EXPECT_EQ(got->tuple, v4_datagram);
  EXPECT_EQ(got->proto, "udp");
}

TEST(UdpText, RawClientReport) {
  EXPECT_EQ(render_raw_client_report(server_view{5, v4_datagram, "udp", std::nullopt}, linux_facts()),
            "portdemo: your UDP datagram #5, as this server sees it\n"
            "  server (local here):  127.0.0.1:8080         fixed: the port this server listens on\n"
            "  you (remote here):    127.0.0.1:40000        ephemeral: chosen by your kernel\n"
            "  Send again from a new socket and your port changes, the server's does not. (This host\n"
            "  takes client ports from 32768-60999.)\n");
}

TEST(UdpText, EveryUdpEventFitsTheProjector) {
  const std::string v6 = "2001:db8:1234:5678:9abc:def0:1234:5678";
  std::vector<event> events = {
      datagram_event{123456, {{v6, 65535}, {v6, 65534}}, 65507, true},
      listening_event{{v6, 65535}, 0, "", std::nullopt, false, "udp"},
      ready_event{4, 0, {65535, 65534}, {}, {65534}},
      udp_failed("ECONNREFUSED", "Connection refused", {v6, 65535}),
      udp_failed("ETIMEDOUT", "Connection timed out", {v6, 65535}, 3600000ms),
  };
  connected_event x = udp_exchange(123456, 65534, 123456);
  x.tuple = {{v6, 65534}, {v6, 65535}};
  x.server_view = socket_tuple{{v6, 65535}, {v6, 65534}};
  events.push_back(x);
  for (const auto& e : events) {
    std::string text = text_of(e);
    ASSERT_FALSE(text.empty());
    std::size_t start = 0;
    while (start < text.size()) {
      std::size_t nl = text.find('\n', start);
      EXPECT_LT(nl - start, 100u) << text;
      start = nl + 1;
    }
  }
}

}  // namespace
}  // namespace portdemo
