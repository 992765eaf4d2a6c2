#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "portdemo/failure.hpp"
#include "portdemo/json.hpp"
#include "portdemo/render.hpp"
#include "portdemo/tally.hpp"

namespace portdemo {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;

// ---- fixtures ----------------------------------------------------------------------------

host_facts linux_facts() {
  host_facts f;
  f.ephemeral = port_range{32768, 60999};
  f.unprivileged_port_start = 1024;
  return f;
}

failure failure_of(step where, std::string error, std::string message, std::optional<endpoint> ep,
                   std::string host = "", std::chrono::milliseconds timeout = 0ms) {
  failure f;
  f.where = where;
  f.error = std::move(error);
  f.system_message = std::move(message);
  f.ep = std::move(ep);
  f.host = std::move(host);
  f.timeout = timeout;
  return f;
}

bind_failed_event bind_failed(std::string error, std::string message, endpoint ep) {
  failure f = failure_of(step::bind, std::move(error), std::move(message), std::move(ep));
  return {f, explain(f, linux_facts())};
}

connect_failed_event connect_failed(std::string error, std::string message, endpoint ep,
                                    std::chrono::milliseconds timeout = 0ms) {
  failure f =
      failure_of(step::connect, std::move(error), std::move(message), std::move(ep), "", timeout);
  return {f, explain(f, linux_facts())};
}

resolve_failed_event resolve_failed(std::string error, std::string message, std::string host) {
  failure f = failure_of(step::resolve, std::move(error), std::move(message), std::nullopt,
                         std::move(host));
  return {f, explain(f, linux_facts())};
}

connected_event mirrored_connection(std::uint64_t id, std::uint16_t client_port) {
  connected_event e;
  e.id = id;
  e.tuple = {{"127.0.0.1", client_port}, {"127.0.0.1", 8080}};
  e.in_ephemeral_range = true;
  e.server_view = socket_tuple{{"127.0.0.1", 8080}, {"127.0.0.1", client_port}};
  e.server_id = id;
  return e;
}

// One event of each type, as the programs emit them.
std::vector<event> one_of_each() {
  connected_event nat;
  nat.id = 3;
  nat.tuple = {{"10.0.0.2", 40000}, {"203.0.113.5", 8080}};
  nat.in_ephemeral_range = true;
  nat.server_view = socket_tuple{{"203.0.113.5", 8080}, {"198.51.100.7", 61000}};
  nat.server_id = 9;
  return {
      host_facts_event{role::server, linux_facts()},
      listening_event{{"0.0.0.0", 8080}, 8080, "HTTP alternate", std::nullopt},
      bind_failed("EACCES", "Permission denied", {"0.0.0.0", 80}),
      note_event{"ipv6_unavailable", "::1 is not available on this host"},
      ready_event{2, 1, {8080, 8443}},
      accepted_event{1, {{"127.0.0.1", 8080}, {"127.0.0.1", 40000}}, true},
      server_summary_event{
          3, {{8080, 2}, {8443, 1}}, 3, std::uint16_t{40000}, std::uint16_t{40002}},
      resolved_event{"localhost", 8080, {"::1", "127.0.0.1"}},
      resolve_failed("EAI_NONAME", "Name or service not known", "no.such.host.invalid"),
      connect_failed("ECONNREFUSED", "Connection refused", {"::1", 8080}),
      mirrored_connection(1, 40000),
      nat,
      client_summary_event{3, 3, {{"127.0.0.1", 8080}}, {40000, 40001, 40002}, 3, 3, 3},
  };
}

// Each line of `text` (which ends in '\n') must be under 100 columns.
void expect_lines_under_100(const std::string& text) {
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line(text.data() + start, nl - start);
    EXPECT_LT(line.size(), 100u) << "line of " << line.size() << " columns:\n" << line;
    start = nl + 1;
  }
}

std::string strip_ansi(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\x1b' && i + 1 < s.size() && s[i + 1] == '[') {
      i += 2;
      while (i < s.size() && !(s[i] >= '@' && s[i] <= '~')) ++i;
      continue;
    }
    out += s[i];
  }
  return out;
}

std::string text_of(const event& e, host_facts facts = linux_facts()) {
  return text_renderer(std::move(facts), false).render(e);
}

// ---- render_json: every event type, exact -------------------------------------------------

TEST(RenderJson, HostFacts) {
  EXPECT_EQ(render_json(host_facts_event{role::server, linux_facts()}),
            R"({"event":"host_facts","role":"server","ephemeral_range":{"low":32768,"high":60999},)"
            R"("iana_dynamic_range":{"low":49152,"high":65535},"unprivileged_port_start":1024,)"
            R"("root":false,"cap_net_bind_service":false})"
            "\n");
}

TEST(RenderJson, HostFactsUnknownAndPrivileged) {
  host_facts f;
  f.root = true;
  f.cap_net_bind_service = true;
  EXPECT_EQ(render_json(host_facts_event{role::client, f}),
            R"({"event":"host_facts","role":"client","ephemeral_range":null,)"
            R"("iana_dynamic_range":{"low":49152,"high":65535},"unprivileged_port_start":null,)"
            R"("root":true,"cap_net_bind_service":true})"
            "\n");
}

TEST(RenderJson, Listening) {
  EXPECT_EQ(render_json(listening_event{{"0.0.0.0", 8080}, 8080, "HTTP alternate", std::nullopt}),
            R"({"event":"listening","proto":"tcp","local":{"address":"0.0.0.0","port":8080},)"
            R"("port_class":"registered","service":"HTTP alternate","requested_port":8080,)"
            R"("privileged_allowed_by":null,"tls":false,"bound_by":"self"})"
            "\n");
}

TEST(RenderJson, ListeningOnAKernelChosenPort) {
  EXPECT_EQ(render_json(listening_event{{"::", 50123}, 0, "", std::nullopt}),
            R"({"event":"listening","proto":"tcp","local":{"address":"::","port":50123},)"
            R"("port_class":"dynamic","service":null,"requested_port":0,)"
            R"("privileged_allowed_by":null,"tls":false,"bound_by":"self"})"
            "\n");
}

TEST(RenderJson, ListeningOnAPrivilegedPort) {
  EXPECT_EQ(render_json(listening_event{{"0.0.0.0", 80}, 80, "HTTP", "root"s}),
            R"({"event":"listening","proto":"tcp","local":{"address":"0.0.0.0","port":80},)"
            R"("port_class":"well-known","service":"HTTP","requested_port":80,)"
            R"("privileged_allowed_by":"root","tls":false,"bound_by":"self"})"
            "\n");
}

TEST(RenderJson, BindFailed) {
  EXPECT_EQ(
      render_json(bind_failed("EADDRINUSE", "Address already in use", {"127.0.0.1", 8080})),
      R"({"event":"bind_failed","proto":"tcp","local":{"address":"127.0.0.1","port":8080},)"
      R"("step":"bind","errno":"EADDRINUSE","message":"Address already in use",)"
      R"("explanation":"port 8080 (HTTP alternate) on 127.0.0.1 is already in use: another socket )"
      R"(is listening there. Only one listening socket may hold an address and port at a time. )"
      R"(SO_REUSEADDR, which this server sets, only lets it reuse a port whose old connections )"
      R"(linger in TIME_WAIT, never one with a live listener. Try: see who holds it: ss -ltnp )"
      R"('sport = :8080'; or pick another port: --ports 8081; or let the kernel choose a free )"
      R"(one: --ports 0."})"
      "\n");
}

TEST(RenderJson, BindFailedEscapesTheQuotesOfTheSetcapCommand) {
  std::string line = render_json(bind_failed("EACCES", "Permission denied", {"0.0.0.0", 80}));
  EXPECT_NE(line.find(R"(sudo setcap cap_net_bind_service=+ep \"$(command -v demo-server)\")"),
            std::string::npos)
      << line;
}

TEST(RenderJson, Note) {
  EXPECT_EQ(render_json(note_event{"ipv6_unavailable", "::1 is not \"available\""}),
            R"({"event":"note","code":"ipv6_unavailable","message":"::1 is not \"available\""})"
            "\n");
}

// Remarks are typed; their words are the renderer's, the same in text and JSON (a note).
TEST(RenderJson, EveryRemarkIsANoteWithItsCodeAndWords) {
  const std::vector<std::pair<remark, std::string>> cases = {
      {max_connections_clamped{10000, 1000, 1024, 4, 20},
       R"({"code":"max_connections_clamped","message":"--max-connections 10000 lowered to 1000: the open-file )"
       R"(limit is 1024 (ulimit -n), 4 are in use and 20 kept in reserve"})"},
      {reachable_from_network{},
       R"({"code":"reachable_from_network","message":"listening beyond loopback: other machines on the network )"
       R"(can now connect to these ports"})"},
      {strict_refused{1, 3}, R"({"code":"strict","message":"--strict: 1 of 3 sockets failed, so none will serve"})"},
      {second_signal{"SIGINT"}, R"({"code":"second_signal","message":"second SIGINT: ending at once"})"},
      {socket_activation{1},
       R"({"code":"socket_activation","message":"1 socket passed by the parent process (LISTEN_FDS): the )"
       R"(parent bound them, this process serves them; --ports and --bind are not used"})"},
      {socket_activation{2}, R"({"code":"socket_activation","message":"2 sockets passed by the parent )"
                             R"(process (LISTEN_FDS): the parent bound them, this process serves them; )"
                             R"(--ports and --bind are not used"})"},
      {ipv6_unavailable{"EADDRNOTAVAIL"},
       R"({"code":"ipv6_unavailable","message":"the IPv6 loopback address ::1 is not available on this host )"
       R"((EADDRNOTAVAIL); serving IPv4 only"})"},
      {holding_connections{1, 2.5, 8080},
       R"({"code":"holding","message":"holding 1 connection open for 2.5 s: see them with ss -tn 'dport = :8080'"})"},
      {holding_connections{3, 5, 9}, R"({"code":"holding","message":"holding 3 connections open for 5 s: see )"
                                     R"(them with ss -tn 'dport = :9'"})"},
      {log_dropped{1}, R"({"code":"log_dropped","message":"1 log line dropped: the output could not keep up"})"},
      {log_dropped{7}, R"({"code":"log_dropped","message":"7 log lines dropped: the output could not keep up"})"},
  };
  for (const auto& [what, body] : cases) {
    EXPECT_EQ(render_json(remark_event{what}), R"({"event":"note",)" + body.substr(1) + "\n");
  }
}

TEST(RenderText, ARemarkIsANote) {
  EXPECT_EQ(text_of(remark_event{second_signal{"SIGTERM"}}), "note: second SIGTERM: ending at once\n");
  EXPECT_EQ(text_of(remark_event{strict_refused{2, 2}}),
            "note: --strict: 2 of 2 sockets failed, so none will serve\n");
}

TEST(RenderJson, Join) {
  join_event e{{"http://10.0.0.5:8080/", "https://10.0.0.5:8443/"}, "http://10.0.0.5:8080/board",
               qr_code{2, {"# ", " #"}}};
  EXPECT_EQ(render_json(e),
            R"({"event":"join","urls":["http://10.0.0.5:8080/","https://10.0.0.5:8443/"],)"
            R"("board":"http://10.0.0.5:8080/board","qr":{"size":2,"rows":["# "," #"]}})"
            "\n");
  e.qr.reset();
  EXPECT_NE(render_json(e).find(R"("qr":null})"), std::string::npos);
}

TEST(RenderJson, Ready) {
  EXPECT_EQ(render_json(ready_event{2, 1, {8080, 8443}}),
            R"({"event":"ready","listening":2,"failed":1,"ports":[8080,8443],"tls_ports":[],"udp_ports":[],"quic_ports":[]})"
            "\n");
  EXPECT_EQ(render_json(ready_event{0, 2, {}}),
            R"({"event":"ready","listening":0,"failed":2,"ports":[],"tls_ports":[],"udp_ports":[],"quic_ports":[]})"
            "\n");
}

TEST(RenderJson, Accepted) {
  EXPECT_EQ(render_json(accepted_event{1, {{"127.0.0.1", 8080}, {"127.0.0.1", 40000}}, true}),
            R"({"event":"accepted","proto":"tcp","id":1,)"
            R"("local":{"address":"127.0.0.1","port":8080},)"
            R"("remote":{"address":"127.0.0.1","port":40000},)"
            R"("remote_port_class":"registered","in_ephemeral_range":true,"open":1})"
            "\n");
  EXPECT_EQ(render_json(accepted_event{2, {{"::1", 8443}, {"::1", 61000}}, std::nullopt}),
            R"({"event":"accepted","proto":"tcp","id":2,)"
            R"("local":{"address":"::1","port":8443},)"
            R"("remote":{"address":"::1","port":61000},)"
            R"("remote_port_class":"dynamic","in_ephemeral_range":null,"open":1})"
            "\n");
}

TEST(RenderJson, ServerSummary) {
  EXPECT_EQ(render_json(server_summary_event{
                3, {{8080, 2}, {8443, 1}}, 3, std::uint16_t{40000}, std::uint16_t{40002}}),
            R"({"event":"summary","role":"server","connections":3,)"
            R"("per_port":[{"port":8080,"connections":2},{"port":8443,"connections":1}],)"
            R"("distinct_client_ports":3,"lowest_client_port":40000,"highest_client_port":40002,)"
            R"("peak_open":0,"busy":0,"limited":0,"cut_at_shutdown":0,"log_dropped":0})"
            "\n");
  EXPECT_EQ(render_json(server_summary_event{}),
            R"({"event":"summary","role":"server","connections":0,"per_port":[],)"
            R"("distinct_client_ports":0,"lowest_client_port":null,"highest_client_port":null,)"
            R"("peak_open":0,"busy":0,"limited":0,"cut_at_shutdown":0,"log_dropped":0})"
            "\n");
}

TEST(RenderJson, Resolved) {
  EXPECT_EQ(render_json(resolved_event{"localhost", 8080, {"::1", "127.0.0.1"}}),
            R"({"event":"resolved","host":"localhost","port":8080,"addresses":["::1","127.0.0.1"]})"
            "\n");
}

TEST(RenderJson, ResolveFailed) {
  EXPECT_EQ(
      render_json(
          resolve_failed("EAI_AGAIN", "Temporary failure in name resolution", "example.com")),
      R"({"event":"resolve_failed","host":"example.com","step":"resolve","errno":"EAI_AGAIN",)"
      R"("message":"Temporary failure in name resolution",)"
      R"("explanation":"no resolver could answer for \"example.com\" right now (EAI_AGAIN). )"
      R"(The name service could not be reached, so no address is known and no port was tried. )"
      R"(Try: use an address instead, such as 127.0.0.1 or ::1; check the resolver's )"
      R"(configuration: cat /etc/resolv.conf."})"
      "\n");
}

TEST(RenderJson, ConnectFailed) {
  EXPECT_EQ(
      render_json(connect_failed("ETIMEDOUT", "Connection timed out", {"192.0.2.1", 8080}, 3000ms)),
      R"({"event":"connect_failed","proto":"tcp","remote":{"address":"192.0.2.1","port":8080},)"
      R"("step":"connect","errno":"ETIMEDOUT","message":"Connection timed out",)"
      R"("explanation":"no answer from 192.0.2.1:8080 within 3 s. Neither an acceptance )"
      R"((SYN-ACK) nor a refusal (RST) came back: a firewall dropped the packets, the host is )"
      R"(down, or the listener's queue of waiting connections is full. Try: check the address )"
      R"(and port, and any firewall between the two hosts; or wait longer: --timeout SECONDS."})"
      "\n");
}

TEST(RenderJson, ConnectedWithMirror) {
  EXPECT_EQ(render_json(mirrored_connection(1, 40000)),
            R"({"event":"connected","proto":"tcp","id":1,)"
            R"("local":{"address":"127.0.0.1","port":40000},)"
            R"("remote":{"address":"127.0.0.1","port":8080},)"
            R"("local_port_class":"registered","in_ephemeral_range":true,)"
            R"("local_port_chosen_by":"kernel",)"
            R"("server_view":{"id":1,"local":{"address":"127.0.0.1","port":8080},)"
            R"("remote":{"address":"127.0.0.1","port":40000}},"mirror":true,)"
            R"("translation":{"kind":"none","source":null,"destination":null,"destination_address_known":true}})"
            "\n");
}

TEST(RenderJson, ConnectedWithoutServerView) {
  connected_event e;
  e.id = 2;
  e.tuple = {{"::1", 50000}, {"::1", 22}};
  e.server_view_problem = "the server closed the connection without a report";
  EXPECT_EQ(render_json(e), R"({"event":"connected","proto":"tcp","id":2,)"
                            R"("local":{"address":"::1","port":50000},)"
                            R"("remote":{"address":"::1","port":22},)"
                            R"("local_port_class":"dynamic","in_ephemeral_range":null,)"
                            R"("local_port_chosen_by":"kernel","server_view":null,"mirror":null,"translation":null,)"
                            R"("server_view_problem":"the server closed the connection without a report"})"
                            "\n");
}

TEST(RenderJson, ConnectedThroughNatWithoutServerId) {
  connected_event e;
  e.id = 3;
  e.tuple = {{"10.0.0.2", 40000}, {"203.0.113.5", 8080}};
  e.in_ephemeral_range = false;
  e.server_view = socket_tuple{{"203.0.113.5", 8080}, {"198.51.100.7", 61000}};
  EXPECT_EQ(render_json(e),
            R"({"event":"connected","proto":"tcp","id":3,)"
            R"("local":{"address":"10.0.0.2","port":40000},)"
            R"("remote":{"address":"203.0.113.5","port":8080},)"
            R"("local_port_class":"registered","in_ephemeral_range":false,)"
            R"("local_port_chosen_by":"kernel",)"
            R"("server_view":{"id":null,"local":{"address":"203.0.113.5","port":8080},)"
            R"("remote":{"address":"198.51.100.7","port":61000}},"mirror":false,)"
            R"("translation":{"kind":"source_nat","source":{"before":{"address":"10.0.0.2","port":40000},)"
            R"("after":{"address":"198.51.100.7","port":61000},"address_rewritten":true,"port_rewritten":true,)"
            R"("after_port_class":"dynamic"},"destination":null,"destination_address_known":true}})"
            "\n");
}

TEST(RenderJson, ClientSummary) {
  EXPECT_EQ(render_json(client_summary_event{4,
                                             4,
                                             {{"127.0.0.1", 8080}, {"::1", 8080}, {"::1", 8443}},
                                             {40000, 40001, 40000, 40003},
                                             3,
                                             4,
                                             2}),
            R"({"event":"summary","role":"client","attempted":4,"connected":4,)"
            R"("server_ports":[8080,8443],"client_ports":[40000,40001,40000,40003],)"
            R"("distinct_client_ports":3,"in_ephemeral_range":4,"mirrored":2,)"
            R"("local_port_chosen_by":"kernel","parallel":1,"lowest_client_port":40000,)"
            R"("highest_client_port":40003,"in_iana_dynamic_range":0,"even":2,"odd":2,)"
            R"("histogram":{"low":40000,"high":40003,"buckets":[2,1,0,1]}})"
            "\n");
}

TEST(RenderJson, EveryEventIsOneLineOfValidJson) {
  const std::vector<std::string> names = {
      "host_facts", "listening", "bind_failed", "note",           "ready",
      "accepted",   "summary",   "resolved",    "resolve_failed", "connect_failed",
      "connected",  "connected", "summary"};
  auto events = one_of_each();
  ASSERT_EQ(events.size(), names.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    std::string line = render_json(events[i]);
    ASSERT_FALSE(line.empty());
    EXPECT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
    auto doc = parse_json(line);
    ASSERT_TRUE(doc) << line;
    ASSERT_TRUE(doc->find("event")) << line;
    EXPECT_EQ(*doc->find("event")->as_string(), names[i]);
  }
}

TEST(RenderJson, RoundTripKeepsTheValues) {
  auto doc = parse_json(render_json(bind_failed("EACCES", "Permission denied", {"0.0.0.0", 80})));
  ASSERT_TRUE(doc);
  EXPECT_EQ(*doc->find("errno")->as_string(), "EACCES");
  EXPECT_EQ(*doc->find("local")->find("port")->as_number(), 80.0);
  const std::string explanation = *doc->find("explanation")->as_string();
  EXPECT_EQ(explanation,
            to_paragraph(explain(failure_of(step::bind, "EACCES", "", endpoint{"0.0.0.0", 80}),
                                 linux_facts())));
}

TEST(RenderJson, ControlBytesInStringsStayOnOneLine) {
  std::string line = render_json(note_event{"x", "line one\nline two\r\x1b[31m"});
  EXPECT_EQ(line, R"({"event":"note","code":"x","message":"line one\nline two\r\u001b[31m"})"
                  "\n");
  auto doc = parse_json(line);
  ASSERT_TRUE(doc);
  EXPECT_EQ(*doc->find("message")->as_string(), "line one\nline two\r\x1b[31m");
}

// ---- text: every event type, exact -------------------------------------------------------

TEST(RenderText, HostFactsServer) {
  EXPECT_EQ(
      text_of(host_facts_event{role::server, linux_facts()}),
      "this host: ephemeral (client) ports 32768-60999   (net.ipv4.ip_local_port_range)\n"
      "           privileged ports below 1024            (net.ipv4.ip_unprivileged_port_start)\n"
      "           this process may not bind them: not root, no CAP_NET_BIND_SERVICE\n");
}

TEST(RenderText, HostFactsClientSaysOnlyTheEphemeralRange) {
  EXPECT_EQ(text_of(host_facts_event{role::client, linux_facts()}),
            "this host: ephemeral (client) ports 32768-60999   (net.ipv4.ip_local_port_range)\n");
}

TEST(RenderText, HostFactsCutOffZero) {
  host_facts f = linux_facts();
  f.unprivileged_port_start = 0;
  EXPECT_EQ(
      text_of(host_facts_event{role::server, f}),
      "this host: ephemeral (client) ports 32768-60999   (net.ipv4.ip_local_port_range)\n"
      "           no privileged ports: cut-off 0         (net.ipv4.ip_unprivileged_port_start)\n"
      "           (as in containers: any process may bind any port)\n");
}

TEST(RenderText, HostFactsUnknown) {
  EXPECT_EQ(
      text_of(host_facts_event{role::server, host_facts{}}),
      "this host: ephemeral (client) ports unknown       (net.ipv4.ip_local_port_range)\n"
      "           privileged ports: unknown              (net.ipv4.ip_unprivileged_port_start)\n");
}

TEST(RenderText, HostFactsWhoMayBind) {
  const std::string head =
      "this host: ephemeral (client) ports 32768-60999   (net.ipv4.ip_local_port_range)\n"
      "           privileged ports below 1024            (net.ipv4.ip_unprivileged_port_start)\n";
  host_facts f = linux_facts();
  f.root = true;
  f.cap_net_bind_service = true;
  EXPECT_EQ(text_of(host_facts_event{role::server, f}),
            head + "           this process may bind them: it runs as root\n");
  f.root = false;
  EXPECT_EQ(text_of(host_facts_event{role::server, f}),
            head + "           this process may bind them: it holds CAP_NET_BIND_SERVICE\n");
  f.root = true;
  f.cap_net_bind_service = false;
  EXPECT_EQ(
      text_of(host_facts_event{role::server, f}),
      head + "           this process may not bind them: root, but without CAP_NET_BIND_SERVICE\n");
}

TEST(RenderText, Listening) {
  EXPECT_EQ(text_of(listening_event{{"0.0.0.0", 8080}, 8080, "HTTP alternate", std::nullopt}),
            "listening  0.0.0.0:8080      registered port, HTTP alternate\n");
}

TEST(RenderText, ListeningOnAKernelChosenPort) {
  EXPECT_EQ(
      text_of(listening_event{{"::", 43567}, 0, "", std::nullopt}),
      "listening  [::]:43567        registered port, chosen by the kernel (port 0)\n");
}

TEST(RenderText, ListeningOnAWellKnownPortBelowTheCutOff) {
  host_facts f = linux_facts();
  f.unprivileged_port_start = 0;
  EXPECT_EQ(text_of(listening_event{{"0.0.0.0", 80}, 80, "HTTP", "cutoff"s}, f),
            "listening  0.0.0.0:80        well-known port, HTTP; not privileged here (cut-off 0)\n");
  EXPECT_EQ(text_of(listening_event{{"0.0.0.0", 80}, 80, "HTTP", "cap_net_bind_service"s}),
            "listening  0.0.0.0:80        well-known port, HTTP; privileged: has "
            "CAP_NET_BIND_SERVICE\n");
}

TEST(RenderText, BindFailed) {
  EXPECT_EQ(
      text_of(bind_failed("EACCES", "Permission denied", {"0.0.0.0", 80})),
      "FAILED     0.0.0.0:80        bind: Permission denied (EACCES)\n"
      "  port 80 (HTTP) on 0.0.0.0 is privileged: the kernel refused to let this process bind\n"
      "  it (EACCES).\n"
      "  why: On this host ports below 1024 (net.ipv4.ip_unprivileged_port_start = 1024) may\n"
      "       only be bound by root or by a process holding CAP_NET_BIND_SERVICE, and this\n"
      "       process is neither.\n"
      "  try: use an unprivileged port instead, such as 8080:  --ports 8080\n"
      "       bind as root, then run as an ordinary user:\n"
      "         sudo demo-server --ports 80 --user nobody\n"
      "       or let a privileged parent bind it and pass it on (socket activation):\n"
      "         sudo systemd-socket-activate -l 80 demo-server\n"
      "       or grant the capability to the binary once:\n"
      "         sudo setcap cap_net_bind_service=+ep \"$(command -v demo-server)\"\n"
      "       or lower the cut-off for the whole host:\n"
      "         sudo sysctl net.ipv4.ip_unprivileged_port_start=80\n");
}

TEST(RenderText, BindFailedAddressInUse) {
  EXPECT_EQ(
      text_of(bind_failed("EADDRINUSE", "Address already in use", {"127.0.0.1", 80})),
      "FAILED     127.0.0.1:80      bind: Address already in use (EADDRINUSE)\n"
      "  port 80 (HTTP) on 127.0.0.1 is already in use: another socket is listening there.\n"
      "  why: Only one listening socket may hold an address and port at a time. SO_REUSEADDR,\n"
      "       which this server sets, only lets it reuse a port whose old connections linger in\n"
      "       TIME_WAIT, never one with a live listener.\n"
      "  try: see who holds it:  ss -ltnp 'sport = :80'\n"
      "       or pick another port:  --ports 8080\n"
      "       or let the kernel choose a free one:  --ports 0\n");
}

TEST(RenderText, TheSameBindFailureIsExplainedOnce) {
  text_renderer r(linux_facts(), false);
  std::string first = r.render(bind_failed("EACCES", "Permission denied", {"::1", 80}));
  EXPECT_NE(first.find("  why: "), std::string::npos);
  EXPECT_EQ(r.render(bind_failed("EACCES", "Permission denied", {"127.0.0.1", 80})),
            "FAILED     127.0.0.1:80      bind: Permission denied (EACCES)\n"
            "  (the same reason as above)\n");
  // Another port or another error is explained in full.
  EXPECT_NE(
      r.render(bind_failed("EACCES", "Permission denied", {"127.0.0.1", 443})).find("  why: "),
      std::string::npos);
  EXPECT_NE(r.render(bind_failed("EADDRINUSE", "Address already in use", {"127.0.0.1", 80}))
                .find("  why: "),
            std::string::npos);
}

TEST(RenderText, Note) {
  EXPECT_EQ(text_of(note_event{"ipv6_unavailable",
                               "::1 is not available on this host, so the server listens on IPv4 "
                               "only; clients asking for ::1 will be refused"}),
            "note: ::1 is not available on this host, so the server listens on IPv4 only; clients\n"
            "      asking for ::1 will be refused\n");
}

TEST(RenderText, JoinWithTheCodeBetweenTheUrlsAndTheBoard) {
  // A 2x2 code with a quiet zone of 2: 6 module rows, 3 lines of half blocks, 6 columns wide.
  join_event e{{"http://10.0.0.5:8080/"}, "http://10.0.0.5:8080/board", qr_code{2, {"# ", " #"}}};
  EXPECT_EQ(text_of(e),
            "join: students open this in a browser, or scan the code:\n"
            "  http://10.0.0.5:8080/\n"
            "  ██████\n"
            "  ██▄▀██\n"
            "  ██████\n"
            "  the board, for the projector: http://10.0.0.5:8080/board\n");
  e.urls.push_back("https://10.0.0.5:8443/");
  e.qr.reset();
  EXPECT_EQ(text_of(e),
            "join: students open one of these in a browser, or scan the code:\n"
            "  http://10.0.0.5:8080/\n"
            "  https://10.0.0.5:8443/\n"
            "  the board, for the projector: http://10.0.0.5:8080/board\n");
}

TEST(RenderText, Ready) {
  EXPECT_EQ(text_of(ready_event{2, 1, {8080, 8443}}),
            "ready: 2 sockets listening on ports 8080, 8443; 1 failed (see above)\n"
            "  try it: demo-client localhost 8080    or:  nc localhost 8080\n"
            "  in a browser: http://localhost:8080/\n"
            "  the board:    http://localhost:8080/board  (every connection, live)\n");
  EXPECT_EQ(text_of(ready_event{1, 0, {8080}}),
            "ready: 1 socket listening on port 8080\n"
            "  try it: demo-client localhost 8080    or:  nc localhost 8080\n"
            "  in a browser: http://localhost:8080/\n"
            "  the board:    http://localhost:8080/board  (every connection, live)\n");
}

TEST(RenderText, ReadyWithNothingListening) {
  EXPECT_EQ(text_of(ready_event{0, 2, {}}), "stopped: not one socket is listening (2 failed)\n");
}

TEST(RenderText, Accepted) {
  EXPECT_EQ(text_of(accepted_event{1, {{"127.0.0.1", 8080}, {"127.0.0.1", 40000}}, true}),
            "connection #1   local 127.0.0.1:8080 (fixed)   remote 127.0.0.1:40000 (ephemeral)\n"
            "  remote port 40000: in this host's ephemeral range 32768-60999 (IANA: registered)\n");
}

TEST(RenderText, AcceptedOutsideTheRange) {
  EXPECT_EQ(text_of(accepted_event{12, {{"::1", 8443}, {"::1", 8080}}, false}),
            "connection #12  local [::1]:8443 (fixed)   remote [::1]:8080 (ephemeral)\n"
            "  remote port 8080: outside this host's ephemeral range 32768-60999: chosen, or from\n"
            "    another host (IANA: registered)\n");
}

TEST(RenderText, AcceptedWithUnknownRange) {
  EXPECT_EQ(
      text_of(accepted_event{1234, {{"127.0.0.1", 8080}, {"127.0.0.1", 40000}}, std::nullopt}),
      "connection #1234 local 127.0.0.1:8080 (fixed)   remote 127.0.0.1:40000 (ephemeral)\n"
      "  remote port 40000: this host's ephemeral range is unknown (IANA: registered)\n");
}

TEST(RenderText, ServerSummary) {
  EXPECT_EQ(text_of(server_summary_event{
                3, {{8080, 2}, {8443, 1}}, 3, std::uint16_t{40000}, std::uint16_t{40002}}),
            "summary: 3 connections; port 8080: 2, port 8443: 1\n"
            "  client ports seen: 3 distinct, lowest 40000, highest 40002\n"
            "  the server's ports stayed fixed; the clients' ports came and went\n");
  EXPECT_EQ(
      text_of(server_summary_event{1, {{8080, 1}}, 1, std::uint16_t{40000}, std::uint16_t{40000}}),
      "summary: 1 connection; port 8080: 1\n"
      "  client ports seen: 1 distinct, lowest 40000, highest 40000\n"
      "  the server's ports stayed fixed; the clients' ports came and went\n");
  EXPECT_EQ(text_of(server_summary_event{}), "summary: 0 connections\n");
}

TEST(RenderText, Resolved) {
  EXPECT_EQ(
      text_of(resolved_event{"localhost", 8080, {"::1", "127.0.0.1"}}),
      "resolved localhost -> ::1, 127.0.0.1; connecting to port 8080 (HTTP alternate), trying\n"
      "  each address in turn\n");
  EXPECT_EQ(text_of(resolved_event{"localhost", 8443, {"127.0.0.1"}}),
            "resolved localhost -> 127.0.0.1; connecting to port 8443 (HTTPS alternate)\n");
}

TEST(RenderText, ResolvedForQuic) {
  // --http3: a connection, over UDP datagrams; --udp sends bare datagrams.
  EXPECT_EQ(text_of(resolved_event{"localhost", 8443, {"127.0.0.1"}, true, true}),
            "resolved localhost -> 127.0.0.1; connecting over QUIC to UDP port 8443 (HTTPS alternate)\n");
  EXPECT_EQ(text_of(resolved_event{"127.0.0.1", 8443, {"127.0.0.1"}, true, true}),
            "connecting over QUIC to 127.0.0.1, UDP port 8443 (HTTPS alternate)\n");
  EXPECT_EQ(text_of(resolved_event{"127.0.0.1", 8443, {"127.0.0.1"}, true, false}),
            "sending to 127.0.0.1, UDP port 8443 (HTTPS alternate)\n");
}

TEST(RenderText, ResolvedAnAddress) {
  EXPECT_EQ(text_of(resolved_event{"127.0.0.1", 8080, {"127.0.0.1"}}),
            "connecting to 127.0.0.1, port 8080 (HTTP alternate)\n");
}

TEST(RenderText, ResolveFailed) {
  EXPECT_EQ(
      text_of(resolve_failed("EAI_NONAME", "Name or service not known", "no.such.host.invalid")),
      "unresolved  no.such.host.invalid: Name or service not known (EAI_NONAME)\n"
      "  the name \"no.such.host.invalid\" does not resolve to any address (EAI_NONAME).\n"
      "  why: Without an address there is no host to send to, so no port was tried at all.\n"
      "  try: check the spelling, or use an address such as 127.0.0.1 or ::1\n"
      "       see what this host resolves:  getent ahosts no.such.host.invalid\n");
}

TEST(RenderText, ConnectRefused) {
  EXPECT_EQ(
      text_of(connect_failed("ECONNREFUSED", "Connection refused", {"::1", 8080})),
      "refused    [::1]:8080        connect: Connection refused (ECONNREFUSED)\n"
      "  nothing is listening on ::1 port 8080 (HTTP alternate): the connection was refused.\n"
      "  why: The host is there, but no socket listens on that port, so its kernel answered our\n"
      "       connection request (SYN) with a reset (RST).\n"
      "  try: start a server there:  demo-server --ports 8080\n"
      "       on that host, list what listens:  ss -ltn 'sport = :8080'\n");
}

TEST(RenderText, ConnectTimedOut) {
  EXPECT_EQ(
      text_of(connect_failed("ETIMEDOUT", "Connection timed out", {"192.0.2.1", 8080}, 3000ms)),
      "timed out  192.0.2.1:8080    connect: Connection timed out (ETIMEDOUT)\n"
      "  no answer from 192.0.2.1:8080 within 3 s.\n"
      "  why: Neither an acceptance (SYN-ACK) nor a refusal (RST) came back: a firewall dropped\n"
      "       the packets, the host is down, or the listener's queue of waiting connections is\n"
      "       full.\n"
      "  try: check the address and port, and any firewall between the two hosts\n"
      "       or wait longer:  --timeout SECONDS\n");
}

TEST(RenderText, ConnectFailedOtherwise) {
  std::string text =
      text_of(connect_failed("ENETUNREACH", "Network is unreachable", {"10.99.0.1", 8080}));
  EXPECT_EQ(text.substr(0, text.find('\n') + 1),
            "failed     10.99.0.1:8080    connect: Network is unreachable (ENETUNREACH)\n");
  EXPECT_NE(text.find("ip route get 10.99.0.1"), std::string::npos) << text;
}

TEST(RenderText, ConnectedMirrored) {
  EXPECT_EQ(
      text_of(mirrored_connection(1, 40000)),
      "connected #1\n"
      "  local   127.0.0.1:40000   ephemeral  chosen by this host's kernel (registered port)\n"
      "  remote  127.0.0.1:8080    fixed      chosen by the server (registered, HTTP alternate)\n"
      "  server's view (its connection #1): local 127.0.0.1:8080  remote 127.0.0.1:40000\n"
      "  mirror image: yes, the two ends see the same four facts\n"
      "  note: 40000 lies outside IANA's dynamic range 49152-65535. That is normal on Linux:\n"
      "        the kernel takes client ports from net.ipv4.ip_local_port_range (32768-60999),\n"
      "        not from IANA's range.\n");
}

TEST(RenderText, ConnectedThroughNat) {
  connected_event e;
  e.id = 3;
  e.tuple = {{"10.0.0.2", 50000}, {"203.0.113.5", 8080}};
  e.in_ephemeral_range = true;
  e.server_view = socket_tuple{{"203.0.113.5", 8080}, {"198.51.100.7", 61000}};
  e.server_id = 9;
  EXPECT_EQ(
      text_of(e),
      "connected #3\n"
      "  local   10.0.0.2:50000    ephemeral  chosen by this host's kernel (dynamic port)\n"
      "  remote  203.0.113.5:8080  fixed      chosen by the server (registered, HTTP alternate)\n"
      "  server's view (its connection #9): local 203.0.113.5:8080  remote 198.51.100.7:61000\n"
      "  mirror image: NO: the server saw another tuple, so something between the two ends\n"
      "    rewrote addresses or ports\n"
      "    source NAT: the client's end 10.0.0.2:50000 arrives at the server as\n"
      "      198.51.100.7:61000 (address and port rewritten; 61000 is a dynamic port)\n");
}

TEST(RenderText, ConnectedWithoutServerView) {
  connected_event e;
  e.id = 4;
  e.tuple = {{"127.0.0.1", 50000}, {"127.0.0.1", 22}};
  e.in_ephemeral_range = false;
  e.server_view_problem = "the server closed the connection without a report";
  EXPECT_EQ(
      text_of(e),
      "connected #4\n"
      "  local   127.0.0.1:50000   chosen     outside the ephemeral range (dynamic port)\n"
      "  remote  127.0.0.1:22      fixed      chosen by the server (well-known, SSH)\n"
      "  server's view: not reported (the server closed the connection without a report)\n");
}

TEST(RenderText, ConnectedWithoutServerId) {
  connected_event e;
  e.id = 5;
  e.tuple = {{"::1", 40000}, {"::1", 8080}};
  e.server_view = socket_tuple{{"::1", 8080}, {"::1", 40000}};
  EXPECT_EQ(
      text_of(e),
      "connected #5\n"
      "  local   [::1]:40000       ephemeral  chosen by this host's kernel (registered port)\n"
      "  remote  [::1]:8080        fixed      chosen by the server (registered, HTTP alternate)\n"
      "  server's view: local [::1]:8080  remote [::1]:40000\n"
      "  mirror image: yes, the two ends see the same four facts\n");
}

TEST(RenderText, ClientSummary) {
  EXPECT_EQ(
      text_of(client_summary_event{3, 3, {{"127.0.0.1", 8080}}, {40000, 40001, 40002}, 3, 3, 3}),
      "summary: 3 of 3 connections made\n"
      "  server port: 8080 every time (fixed)\n"
      "  client ports: 40000, 40001, 40002 - 3 distinct of 3, a new one every time\n"
      "  3 of 3 inside this host's ephemeral range 32768-60999; 3 of 3 mirror images\n");
}

TEST(RenderText, ClientSummaryOfManyConnectionsGivesTheRange) {
  EXPECT_EQ(text_of(client_summary_event{
                10,
                10,
                {{"127.0.0.1", 8080}, {"::1", 8443}},
                {40000, 40001, 40002, 40003, 40004, 40005, 40006, 40007, 40100, 39999},
                9,
                10,
                8}),
            "summary: 10 of 10 connections made\n"
            "  server ports: 8080, 8443\n"
            "  client ports: 39999..40100 - 9 distinct of 10\n"
            "  10 of 10 inside this host's ephemeral range 32768-60999; 8 of 10 mirror images\n"
            "  lowest 39999, highest 40100; 0 in IANA's dynamic range 49152-65535\n"
            "  parity: 5 even, 5 odd (Linux gives connect() even ports first, bind() odd)\n"
            "  client ports over the span seen 39999-40100:\n"
            "    39999-40005 ################################################## 7\n"
            "    40006-40012 ###############                                    2\n"
            "    40013-40019                                                    0\n"
            "    40020-40026                                                    0\n"
            "    40027-40033                                                    0\n"
            "    40034-40040                                                    0\n"
            "    40041-40047                                                    0\n"
            "    40048-40054                                                    0\n"
            "    40055-40061                                                    0\n"
            "    40062-40068                                                    0\n"
            "    40069-40075                                                    0\n"
            "    40076-40082                                                    0\n"
            "    40083-40089                                                    0\n"
            "    40090-40096                                                    0\n"
            "    40097-40100 ########                                           1\n");
}

TEST(RenderText, ClientSummaryWithNoConnection) {
  EXPECT_EQ(text_of(client_summary_event{3, 0, {}, {}, 0, 0, 0}),
            "summary: 0 of 3 connections made\n");
}

TEST(RenderText, RawClientReport) {
  EXPECT_EQ(
      render_raw_client_report(server_view{5, {{"127.0.0.1", 8080}, {"127.0.0.1", 40000}}, "tcp", std::nullopt},
                               linux_facts()),
      "portdemo: your connection #5, as this server sees it\n"
      "  server (local here):  127.0.0.1:8080         fixed: the port this server listens on\n"
      "  you (remote here):    127.0.0.1:40000        ephemeral: chosen by your kernel\n"
      "  Connect again and your port changes, the server's does not. (This host takes client\n"
      "  ports from 32768-60999.)\n");
}

TEST(RenderText, RawClientReportWithUnknownRange) {
  EXPECT_EQ(
      render_raw_client_report(server_view{5, {{"::1", 8080}, {"::1", 40000}}, "tcp", std::nullopt}, host_facts{}),
      "portdemo: your connection #5, as this server sees it\n"
      "  server (local here):  [::1]:8080             fixed: the port this server listens on\n"
      "  you (remote here):    [::1]:40000            ephemeral: chosen by your kernel\n"
      "  Connect again and your port changes, the server's does not. (This host takes client\n"
      "  ports from its ephemeral range.)\n");
}

// ---- text: the IANA note is given once per renderer --------------------------------------

TEST(RenderTextNote, GivenOncePerRenderer) {
  text_renderer r(linux_facts(), false);
  std::string first = r.render(mirrored_connection(1, 40000));
  std::string second = r.render(mirrored_connection(2, 40001));
  EXPECT_NE(first.find("outside IANA's dynamic range"), std::string::npos);
  EXPECT_EQ(second.find("outside IANA's dynamic range"), std::string::npos) << second;
  EXPECT_EQ(second.find("note:"), std::string::npos) << second;

  text_renderer fresh(linux_facts(), false);
  EXPECT_NE(fresh.render(mirrored_connection(1, 40002)).find("outside IANA's dynamic range"),
            std::string::npos);
}

TEST(RenderTextNote, NotForAPortInTheDynamicRange) {
  text_renderer r(linux_facts(), false);
  EXPECT_EQ(r.render(mirrored_connection(1, 50000)).find("note:"), std::string::npos);
  // Not used up by the dynamic port: the first registered client port still gets it.
  EXPECT_NE(r.render(mirrored_connection(2, 40000)).find("note:"), std::string::npos);
}

TEST(RenderTextNote, NotForAPortOutsideTheHostsRange) {
  text_renderer r(linux_facts(), false);
  connected_event e = mirrored_connection(1, 20000);
  e.in_ephemeral_range = false;
  EXPECT_EQ(r.render(e).find("note:"), std::string::npos);
  e.in_ephemeral_range = std::nullopt;
  EXPECT_EQ(r.render(e).find("note:"), std::string::npos);
}

TEST(RenderTextNote, OtherEventsDoNotUseItUp) {
  text_renderer r(linux_facts(), false);
  r.render(accepted_event{1, {{"127.0.0.1", 8080}, {"127.0.0.1", 40000}}, true});
  r.render(client_summary_event{1, 1, {{"127.0.0.1", 8080}}, {40000}, 1, 1, 1});
  EXPECT_NE(r.render(mirrored_connection(1, 40000)).find("note:"), std::string::npos);
}

// ---- text: colour ------------------------------------------------------------------------

TEST(RenderTextColor, NoEscapesWithoutColor) {
  text_renderer r(linux_facts(), false);
  for (const auto& e : one_of_each()) {
    std::string text = r.render(e);
    EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  }
  EXPECT_EQ(render_raw_client_report(server_view{1, {{"127.0.0.1", 8080}, {"127.0.0.1", 40000}}, "tcp", std::nullopt},
                                     linux_facts())
                .find('\x1b'),
            std::string::npos);
}

TEST(RenderTextColor, EscapesWithColor) {
  text_renderer r(linux_facts(), true);
  EXPECT_NE(r.render(listening_event{{"0.0.0.0", 8080}, 8080, "HTTP alternate", std::nullopt})
                .find("\x1b["),
            std::string::npos);
  EXPECT_NE(r.render(bind_failed("EACCES", "Permission denied", {"0.0.0.0", 80})).find("\x1b["),
            std::string::npos);
  EXPECT_NE(r.render(ready_event{1, 0, {8080}}).find("\x1b["), std::string::npos);
  EXPECT_NE(r.render(mirrored_connection(1, 40000)).find("\x1b["), std::string::npos);
  EXPECT_NE(
      r.render(connect_failed("ECONNREFUSED", "Connection refused", {"::1", 8080})).find("\x1b["),
      std::string::npos);
}

TEST(RenderTextColor, EveryEscapeIsReset) {
  text_renderer r(linux_facts(), true);
  for (const auto& e : one_of_each()) {
    std::string text = r.render(e);
    // A styled span ends in a reset before the line ends: no colour bleeds into the next line.
    std::size_t start = 0;
    while (start < text.size()) {
      std::size_t nl = text.find('\n', start);
      std::string line = text.substr(start, nl - start);
      if (line.find("\x1b[") != std::string::npos) {
        EXPECT_NE(line.rfind("\x1b[0m"), std::string::npos) << line;
        EXPECT_GT(line.rfind("\x1b[0m"), line.rfind("\x1b[1m")) << line;
      }
      start = nl + 1;
    }
  }
}

TEST(RenderTextColor, ColourChangesNothingButTheEscapes) {
  // The same words on the same lines: colour codes must not count as columns when wrapping.
  text_renderer plain(linux_facts(), false);
  text_renderer colored(linux_facts(), true);
  for (const auto& e : one_of_each()) {
    EXPECT_EQ(strip_ansi(colored.render(e)), plain.render(e));
  }
}

// ---- text: every line under 100 columns --------------------------------------------------

const std::string long_v6_a = "2001:db8:1234:5678:9abc:def0:1234:5678";
const std::string long_v6_b = "2001:db8:8765:4321:fedc:ba98:7654:3210";

TEST(RenderTextWidth, EveryEventWithShortAddresses) {
  text_renderer r(linux_facts(), false);
  for (const auto& e : one_of_each()) expect_lines_under_100(r.render(e));
}

TEST(RenderTextWidth, EveryExplanation) {
  for (const auto& [error, message] : std::vector<std::pair<std::string, std::string>>{
           {"EACCES", "Permission denied"},
           {"EADDRINUSE", "Address already in use"},
           {"EADDRNOTAVAIL", "Cannot assign requested address"},
           {"EAFNOSUPPORT", "Address family not supported by protocol"},
           {"EINVAL", "Invalid argument"}}) {
    expect_lines_under_100(text_of(bind_failed(error, message, {"0.0.0.0", 587})));
  }
  for (const auto& [error, message] : std::vector<std::pair<std::string, std::string>>{
           {"ECONNREFUSED", "Connection refused"},
           {"ETIMEDOUT", "Connection timed out"},
           {"EHOSTUNREACH", "No route to host"},
           {"EADDRNOTAVAIL", "Cannot assign requested address"},
           {"ECONNRESET", "Connection reset by peer"}}) {
    expect_lines_under_100(text_of(connect_failed(error, message, {"192.0.2.1", 3389}, 10000ms)));
  }
  for (const auto& [error, message] : std::vector<std::pair<std::string, std::string>>{
           {"EAI_NONAME", "Name or service not known"},
           {"EAI_AGAIN", "Temporary failure in name resolution"},
           {"EAI_SERVICE", "Servname not supported for ai_socktype"},
           {"EAI_MEMORY", "Memory allocation failure"}}) {
    expect_lines_under_100(text_of(resolve_failed(error, message, "server.example.com")));
  }
}

TEST(RenderTextWidth, ListeningOnAPrivilegedPort) {
  host_facts no_cutoff = linux_facts();
  no_cutoff.unprivileged_port_start = 0;
  for (const char* why : {"root", "cap_net_bind_service", "cutoff", "unknown"}) {
    SCOPED_TRACE(why);
    // bind_allowed_because() says "cutoff" only where the cut-off is at or below the port.
    const host_facts facts = std::string_view(why) == "cutoff" ? no_cutoff : linux_facts();
    expect_lines_under_100(
        text_of(listening_event{{"0.0.0.0", 80}, 80, "HTTP", std::string(why)}, facts));
    expect_lines_under_100(text_of(
        listening_event{{"0.0.0.0", 587}, 587, "SMTP submission (TLS)", std::string(why)}, facts));
  }
}

TEST(RenderTextWidth, ListeningOnALongIpv6Address) {
  expect_lines_under_100(
      text_of(listening_event{{long_v6_a, 8443}, 8443, "HTTPS alternate", std::nullopt}));
  expect_lines_under_100(text_of(listening_event{{long_v6_a, 50123}, 0, "", std::nullopt}));
}

TEST(RenderTextWidth, BindFailedOnALongIpv6Address) {
  expect_lines_under_100(
      text_of(bind_failed("EADDRINUSE", "Address already in use", {long_v6_a, 8080})));
  expect_lines_under_100(
      text_of(bind_failed("EADDRNOTAVAIL", "Cannot assign requested address", {long_v6_a, 8080})));
}

TEST(RenderTextWidth, AcceptedFromALongIpv6Address) {
  expect_lines_under_100(text_of(accepted_event{1, {{long_v6_a, 8080}, {long_v6_b, 40000}}, true}));
}

TEST(RenderTextWidth, ConnectFailedToALongIpv6Address) {
  expect_lines_under_100(
      text_of(connect_failed("ECONNREFUSED", "Connection refused", {long_v6_a, 8080})));
  expect_lines_under_100(
      text_of(connect_failed("ETIMEDOUT", "Connection timed out", {long_v6_a, 8080}, 10000ms)));
  expect_lines_under_100(
      text_of(connect_failed("ENETUNREACH", "Network is unreachable", {long_v6_a, 8080})));
}

TEST(RenderTextWidth, ConnectedOverLongIpv6Addresses) {
  connected_event e;
  e.id = 1;
  e.tuple = {{long_v6_b, 40000}, {long_v6_a, 8080}};
  e.in_ephemeral_range = true;
  e.server_view = socket_tuple{{long_v6_a, 8080}, {long_v6_b, 40000}};
  e.server_id = 123456;
  expect_lines_under_100(text_of(e));
}

TEST(RenderTextWidth, ResolvedToManyLongIpv6Addresses) {
  expect_lines_under_100(
      text_of(resolved_event{"server.example.com", 8080, {long_v6_a, long_v6_b, "192.0.2.1"}}));
}

TEST(RenderTextWidth, ResolveFailedForALongHostName) {
  expect_lines_under_100(
      text_of(resolve_failed("EAI_NONAME", "Name or service not known",
                             "build-agent-0042.ci.eu-west-1.compute.example.internal")));
}

TEST(RenderTextWidth, RawClientReportFromALongIpv6Address) {
  expect_lines_under_100(render_raw_client_report(
      server_view{1, {{long_v6_a, 8080}, {long_v6_b, 40000}}, "tcp", std::nullopt}, linux_facts()));
}

// ---- wrap --------------------------------------------------------------------------------

TEST(Wrap, ShortTextIsOneLine) { EXPECT_EQ(wrap("one two three", 80, 2), "one two three\n"); }

TEST(Wrap, EmptyText) {
  EXPECT_EQ(wrap("", 80, 2), "\n");
  EXPECT_EQ(wrap("   ", 80, 2), "\n");
}

TEST(Wrap, ExactFitStaysOnOneLine) {
  EXPECT_EQ(wrap("aaaa bbbb", 9, 2), "aaaa bbbb\n");
  EXPECT_EQ(wrap("aaaa bbbb", 8, 2), "aaaa\n  bbbb\n");
}

TEST(Wrap, ContinuationIndent) {
  EXPECT_EQ(wrap("aa bb cc dd ee", 5, 3), "aa bb\n   cc\n   dd\n   ee\n");
}

TEST(Wrap, FirstIndent) {
  EXPECT_EQ(wrap("aaaa bbbb", 80, 4, 2), "  aaaa bbbb\n");
  EXPECT_EQ(wrap("aaaa bbbb", 8, 4, 2), "  aaaa\n    bbbb\n");
}

TEST(Wrap, RunsOfSpacesCollapse) { EXPECT_EQ(wrap("  a   b    c  ", 80, 0), "a b c\n"); }

TEST(Wrap, ALongWordIsKeptWholeOnItsOwnLine) {
  EXPECT_EQ(wrap("short averyveryverylongword end", 10, 2),
            "short\n  averyveryverylongword\n  end\n");
}

TEST(Wrap, LinesStayWithinTheWidth) {
  const std::string text =
      "Neither an acceptance (SYN-ACK) nor a refusal (RST) came back: a firewall dropped the "
      "packets, "
      "the host is down, or the listener's queue of waiting connections is full.";
  for (std::size_t width : {20u, 40u, 60u, 88u}) {
    std::string out = wrap(text, width, 4, 2);
    std::size_t start = 0;
    while (start < out.size()) {
      std::size_t nl = out.find('\n', start);
      EXPECT_LE(nl - start, width) << out;
      start = nl + 1;
    }
  }
}

// ---- printable ---------------------------------------------------------------------------

TEST(Printable, PrintableAsciiAsIs) {
  EXPECT_EQ(printable("GET / HTTP/1.1", 60), "GET / HTTP/1.1");
  EXPECT_EQ(printable("", 60), "");
  EXPECT_EQ(printable(" ~", 60), " ~");
}

TEST(Printable, NewlinesAndReturns) {
  EXPECT_EQ(printable("GET / HTTP/1.1\r\n", 60), "GET / HTTP/1.1\\r\\n");
}

TEST(Printable, ControlBytesAsHex) {
  EXPECT_EQ(printable("a\0b"s, 60), "a\\x00b");
  EXPECT_EQ(printable("\x1b[31mred", 60), "\\x1b[31mred");
  EXPECT_EQ(printable("\t", 60), "\\x09");
  EXPECT_EQ(printable("\x7f", 60), "\\x7f");
  EXPECT_EQ(printable("\x01\x1f", 60), "\\x01\\x1f");
}

TEST(Printable, HighBytesAsHex) {
  EXPECT_EQ(printable("\xff\x80", 60), "\\xff\\x80");
  EXPECT_EQ(printable("caf\xc3\xa9", 60), "caf\\xc3\\xa9");
}

TEST(Printable, BackslashIsEscapedSoEscapesStayUnambiguous) {
  EXPECT_EQ(printable("\\", 60), "\\x5c");
  EXPECT_EQ(printable("\\x00", 60), "\\x5cx00");
}

TEST(Printable, Truncation) {
  EXPECT_EQ(printable("abcdef", 3), "abc...");
  EXPECT_EQ(printable("abc", 3), "abc");
  EXPECT_EQ(printable("a", 0), "...");
  EXPECT_EQ(printable("", 0), "");
}

TEST(Printable, TruncatedTextIsAtMostMaxCharactersBeforeTheEllipsis) {
  // "cut at `max` characters": escapes are four characters each and must not overshoot.
  EXPECT_EQ(printable("\x01\x02\x03", 6), "\\x01...");
  EXPECT_EQ(printable("abcde\x01", 6), "abcde...");
  for (std::size_t max : {1u, 4u, 5u, 7u, 60u}) {
    std::string out = printable(std::string(100, '\0'), max);
    ASSERT_GE(out.size(), 3u);
    EXPECT_EQ(out.substr(out.size() - 3), "...");
    EXPECT_LE(out.size() - 3, max) << out;
    EXPECT_EQ((out.size() - 3) % 4, 0u) << "an escape was split: " << out;
  }
}


// ---- events of failures and their context: gave_up, answered, accept_failed, accept_resumed ----

gave_up_event gave_up_on_both_loopbacks(std::string error = "ECONNREFUSED") {
  return {"localhost",
          8080,
          {failure_of(step::connect, error, "", endpoint{"::1", 8080}),
           failure_of(step::connect, error, "", endpoint{"127.0.0.1", 8080})},
          69};
}

accept_failed_event out_of_descriptors() {
  host_facts facts = linux_facts();
  facts.open_files_limit = 16;
  failure f = failure_of(step::accept, "EMFILE", "Too many open files", endpoint{"127.0.0.1", 8080});
  return {f, explain(f, facts)};
}

TEST(RenderJson, GaveUp) {
  EXPECT_EQ(render_json(gave_up_on_both_loopbacks()),
            R"({"event":"gave_up","host":"localhost","port":8080,"attempts":[)"
            R"({"remote":{"address":"::1","port":8080},"step":"connect","errno":"ECONNREFUSED"},)"
            R"({"remote":{"address":"127.0.0.1","port":8080},"step":"connect","errno":"ECONNREFUSED"}],)"
            R"("exit_code":69})"
            "\n");
}

TEST(RenderJson, GaveUpAfterOneAttempt) {
  gave_up_event e{"192.0.2.1", 80, {failure_of(step::connect, "ETIMEDOUT", "", endpoint{"192.0.2.1", 80})}, 75};
  EXPECT_EQ(render_json(e),
            R"({"event":"gave_up","host":"192.0.2.1","port":80,"attempts":[)"
            R"({"remote":{"address":"192.0.2.1","port":80},"step":"connect","errno":"ETIMEDOUT"}],)"
            R"("exit_code":75})"
            "\n");
}

TEST(RenderJson, AnsweredRawClientBytesEscaped) {
  const std::string sent = "hello\x1b[2J\0\xff\n"s;
  ASSERT_EQ(sent.size(), 12u);
  EXPECT_EQ(render_json(answered_event{3, false, sent.size(), sent, std::nullopt}),
            R"({"event":"answered","id":3,"report":"text","received_bytes":12,)"
            R"("received":"hello\\x1b[2J\\x00\\xff\\n"})"
            "\n");
}

TEST(RenderJson, AnsweredHello) {
  EXPECT_EQ(render_json(answered_event{1, true, 17, std::string(client_hello), std::nullopt}),
            R"({"event":"answered","id":1,"report":"json","received_bytes":17,)"
            R"("received":"portdemo-hello 1\\n"})"
            "\n");
}

TEST(RenderJson, AnsweredSilence) {
  EXPECT_EQ(render_json(answered_event{2, false, 0, "", std::nullopt}),
            R"({"event":"answered","id":2,"report":"text","received_bytes":0,"received":""})"
            "\n");
}

TEST(RenderJson, AnsweredLongInputIsCutAt200Characters) {
  std::string line = render_json(answered_event{4, false, 512, std::string(512, 'y'), std::nullopt});
  auto doc = parse_json(line);
  ASSERT_TRUE(doc) << line;
  EXPECT_EQ(*doc->find("received")->as_string(), std::string(200, 'y') + "...");
  EXPECT_EQ(*doc->find("received_bytes")->as_number(), 512.0);
  // Escapes count: 100 ESC bytes are 400 characters escaped, cut whole at 200.
  auto esc = parse_json(render_json(answered_event{5, false, 100, std::string(100, '\x1b'), std::nullopt}));
  ASSERT_TRUE(esc);
  std::string received = *esc->find("received")->as_string();
  EXPECT_EQ(received.find('\x1b'), std::string::npos);
  ASSERT_GE(received.size(), 3u);
  EXPECT_EQ(received.substr(received.size() - 3), "...");
  EXPECT_LE(received.size() - 3, 200u);
  EXPECT_EQ((received.size() - 3) % 4, 0u) << received;
}

TEST(RenderJson, AcceptFailed) {
  accept_failed_event e = out_of_descriptors();
  EXPECT_EQ(render_json(e),
            R"({"event":"accept_failed","proto":"tcp","local":{"address":"127.0.0.1","port":8080},)"
            R"("step":"accept","errno":"EMFILE","message":"Too many open files",)"
            R"("explanation":"accepting on 127.0.0.1:8080 failed: this process has no file )"
            R"(descriptor left for a new connection (EMFILE). Every connection is a file descriptor, )"
            R"(and this process (ulimit -n: 16) is at its limit. Clients wait in the listen queue; the )"
            R"(server pauses 100 ms and tries again. Try: raise the limit before starting the )"
            R"(server: ulimit -n 4096; or close idle connections; see them with: ss -tn 'sport = )"
            R"(:8080'."})"
            "\n");
}

TEST(RenderJson, AcceptResumed) {
  EXPECT_EQ(render_json(accept_resumed_event{{"127.0.0.1", 8080}, 3}),
            R"({"event":"accept_resumed","proto":"tcp","local":{"address":"127.0.0.1","port":8080},)"
            R"("failures":3})"
            "\n");
  EXPECT_EQ(render_json(accept_resumed_event{{"::1", 8443}, 1}),
            R"({"event":"accept_resumed","proto":"tcp","local":{"address":"::1","port":8443},)"
            R"("failures":1})"
            "\n");
}

TEST(RenderJson, BindFailedWithHolders) {
  failure f = failure_of(step::bind, "EADDRINUSE", "Address already in use", endpoint{"127.0.0.1", 8080});
  f.holders = {
      {socket_entry{{"0.0.0.0", 8080}, {"0.0.0.0", 0}, tcp_state::listen, 1000, 4242},
       process_info{42, "nginx"}},
      {socket_entry{{"127.0.0.1", 8080}, {"127.0.0.1", 40000}, tcp_state::time_wait, 0, 0}, std::nullopt},
  };
  EXPECT_EQ(render_json(bind_failed_event{f, explanation{"It is taken.", "Because.", {}}}),
            R"({"event":"bind_failed","proto":"tcp","local":{"address":"127.0.0.1","port":8080},)"
            R"("step":"bind","errno":"EADDRINUSE","message":"Address already in use",)"
            R"("explanation":"It is taken. Because.","holders":[)"
            R"({"local":{"address":"0.0.0.0","port":8080},"remote":{"address":"0.0.0.0","port":0},)"
            R"("state":"LISTEN","uid":1000,"pid":42,"command":"nginx"},)"
            R"({"local":{"address":"127.0.0.1","port":8080},"remote":{"address":"127.0.0.1","port":40000},)"
            R"("state":"TIME_WAIT","uid":0,"pid":null,"command":null}]})"
            "\n");
}

TEST(RenderJson, BindFailedWithLocalAddresses) {
  failure f = failure_of(step::bind, "EADDRNOTAVAIL", "Cannot assign requested address",
                         endpoint{"192.0.2.1", 0});
  f.local_addresses = {"127.0.0.1", "::1"};
  EXPECT_EQ(render_json(bind_failed_event{f, explanation{"Not ours.", "", {}}}),
            R"({"event":"bind_failed","proto":"tcp","local":{"address":"192.0.2.1","port":0},)"
            R"("step":"bind","errno":"EADDRNOTAVAIL","message":"Cannot assign requested address",)"
            R"("explanation":"Not ours.","local_addresses":["127.0.0.1","::1"]})"
            "\n");
}

TEST(RenderJson, BindFailedWithHoldersAndLocalAddresses) {
  failure f = failure_of(step::bind, "EADDRINUSE", "Address already in use", endpoint{"::1", 8080});
  f.holders = {{socket_entry{{"::", 8080}, {"::", 0}, tcp_state::listen, 0, 1}, process_info{7, "a\\x22b"}}};
  f.local_addresses = {"127.0.0.1"};
  EXPECT_EQ(render_json(bind_failed_event{f, explanation{"x", "", {}}}),
            R"({"event":"bind_failed","proto":"tcp","local":{"address":"::1","port":8080},)"
            R"("step":"bind","errno":"EADDRINUSE","message":"Address already in use",)"
            R"("explanation":"x","holders":[)"
            R"({"local":{"address":"::","port":8080},"remote":{"address":"::","port":0},)"
            R"("state":"LISTEN","uid":0,"pid":7,"command":"a\\x22b"}],)"
            R"("local_addresses":["127.0.0.1"]})"
            "\n");
}

TEST(RenderJson, ConnectFailedWithHolders) {
  failure f = failure_of(step::bind, "EADDRINUSE", "Address already in use", endpoint{"127.0.0.1", 8080});
  f.client_side = true;
  f.holders = {{socket_entry{{"127.0.0.1", 40000}, {"127.0.0.1", 8080}, tcp_state::time_wait, 0, 0},
                std::nullopt}};
  std::string line = render_json(connect_failed_event{f, explanation{"x", "", {}}});
  EXPECT_NE(line.find(R"("step":"bind","errno":"EADDRINUSE")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("holders":[{"local":{"address":"127.0.0.1","port":40000},)"
                      R"("remote":{"address":"127.0.0.1","port":8080},"state":"TIME_WAIT",)"
                      R"("uid":0,"pid":null,"command":null}])"),
            std::string::npos)
      << line;
}

TEST(RenderJson, NewEventsAreOneLineOfValidJson) {
  const std::vector<std::pair<event, std::string>> events = {
      {gave_up_on_both_loopbacks(), "gave_up"},
      {answered_event{3, false, 12, "hello\x1b[2J\0\xff\n"s, std::nullopt}, "answered"},
      {out_of_descriptors(), "accept_failed"},
      {accept_resumed_event{{"127.0.0.1", 8080}, 3}, "accept_resumed"},
  };
  for (const auto& [e, name] : events) {
    std::string line = render_json(e);
    ASSERT_FALSE(line.empty());
    EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
    EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
    auto doc = parse_json(line);
    ASSERT_TRUE(doc) << line;
    EXPECT_EQ(*doc->find("event")->as_string(), name);
  }
}

TEST(RenderText, GaveUpListsEveryAttempt) {
  EXPECT_EQ(text_of(gave_up_on_both_loopbacks()),
            "gave up: no address of localhost accepted port 8080: [::1]:8080 refused, 127.0.0.1:8080\n"
            "    refused\n");
}

TEST(RenderText, GaveUpAfterTimeoutsAndOtherErrors) {
  gave_up_event e{"example.test",
                  443,
                  {failure_of(step::connect, "ETIMEDOUT", "", endpoint{"192.0.2.1", 443}),
                   failure_of(step::connect, "ENETUNREACH", "", endpoint{"2001:db8::1", 443})},
                  69};
  EXPECT_EQ(text_of(e),
            "gave up: no address of example.test accepted port 443: 192.0.2.1:443 timed out,\n"
            "    [2001:db8::1]:443 ENETUNREACH\n");
}

TEST(RenderText, GaveUpAfterOneAttemptAddsNothing) {
  // The single connect_failed above it already says everything.
  gave_up_event e{"127.0.0.1", 8080, {failure_of(step::connect, "ECONNREFUSED", "", endpoint{"127.0.0.1", 8080})}, 69};
  EXPECT_EQ(text_of(e), "");
}

TEST(RenderText, AnsweredRawClientShowsItsBytesEscaped) {
  EXPECT_EQ(text_of(answered_event{3, false, 12, "hello\x1b[2J\0\xff\n"s, std::nullopt}),
            "  #3 sent 12 bytes first: \"hello\\x1b[2J\\x00\\xff\\n\"; it got the text report\n");
  EXPECT_EQ(text_of(answered_event{4, false, 1, "x", std::nullopt}),
            "  #4 sent 1 byte first: \"x\"; it got the text report\n");
}

TEST(RenderText, AnsweredLongInputIsCutAndWrapped) {
  std::string text = text_of(answered_event{5, false, 512, std::string(512, 'y'), std::nullopt});
  EXPECT_EQ(text,
            "  #5 sent 512 bytes first:\n"
            "    \"" + std::string(60, 'y') + "...\"; it got the text\n"
            "    report\n");
  expect_lines_under_100(text);
}

TEST(RenderText, AnsweredHelloAndSilenceAddNothing) {
  EXPECT_EQ(text_of(answered_event{1, true, 17, std::string(client_hello), std::nullopt}), "");
  EXPECT_EQ(text_of(answered_event{2, false, 0, "", std::nullopt}), "");
}

TEST(RenderText, AnsweredNeverPrintsAControlByte) {
  std::string all_bytes;
  for (int c = 0; c < 256; ++c) all_bytes += static_cast<char>(c);
  std::string text = text_of(answered_event{6, false, all_bytes.size(), all_bytes, std::nullopt});
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    EXPECT_TRUE(c == '\n' || (u >= 0x20 && u < 0x7f)) << "byte " << static_cast<int>(u) << " in " << text;
  }
}

TEST(RenderText, AcceptFailed) {
  EXPECT_EQ(text_of(out_of_descriptors()),
            "accept failed  127.0.0.1:8080 Too many open files (EMFILE)\n"
            "  accepting on 127.0.0.1:8080 failed: this process has no file descriptor left for a new\n"
            "  connection (EMFILE).\n"
            "  why: Every connection is a file descriptor, and this process (ulimit -n: 16) is at its\n"
            "       limit. Clients wait in the listen queue; the server pauses 100 ms and tries\n"
            "       again.\n"
            "  try: raise the limit before starting the server:  ulimit -n 4096\n"
            "       or close idle connections; see them with:  ss -tn 'sport = :8080'\n");
}

TEST(RenderText, AcceptResumed) {
  EXPECT_EQ(text_of(accept_resumed_event{{"127.0.0.1", 8080}, 3}),
            "resumed  127.0.0.1:8080: accepting again after 3 failed attempts\n");
  EXPECT_EQ(text_of(accept_resumed_event{{"::1", 8443}, 1}),
            "resumed  [::1]:8443: accepting again after 1 failed attempt\n");
}

TEST(RenderTextWidth, NewEventsOverLongIpv6Addresses) {
  const std::string a = "2001:db8:1234:5678:9abc:def0:1234:5678";
  const std::string b = "2001:db8:8765:4321:fedc:ba98:7654:3210";
  gave_up_event g{"a-rather-long-host-name.example.com",
                  65535,
                  {failure_of(step::connect, "EHOSTUNREACH", "", endpoint{a, 65535}),
                   failure_of(step::connect, "EHOSTUNREACH", "", endpoint{b, 65535}),
                   failure_of(step::connect, "ETIMEDOUT", "", endpoint{"192.0.2.1", 65535})},
                  69};
  expect_lines_under_100(text_of(g));
  host_facts facts = linux_facts();
  facts.open_files_limit = 1048576;
  failure f = failure_of(step::accept, "EMFILE", "Too many open files", endpoint{a, 65535});
  expect_lines_under_100(text_of(accept_failed_event{f, explain(f, facts)}));
  // An hour without descriptors: one failed accept every 100 ms.
  expect_lines_under_100(text_of(accept_resumed_event{{a, 65535}, 36000}));
  expect_lines_under_100(text_of(answered_event{99999, false, 512, std::string(512, '\xff'), std::nullopt}));
}

// ---- HTTPS ports and the web's events ------------------------------------------------------

TEST(RenderJson, ListeningOnATlsPort) {
  EXPECT_EQ(render_json(listening_event{{"127.0.0.1", 8443}, 8443, "HTTPS alternate", std::nullopt, true}),
            R"({"event":"listening","proto":"tcp","local":{"address":"127.0.0.1","port":8443},)"
            R"("port_class":"registered","service":"HTTPS alternate","requested_port":8443,)"
            R"("privileged_allowed_by":null,"tls":true,"bound_by":"self"})"
            "\n");
}

TEST(RenderJson, ReadyWithTlsPorts) {
  EXPECT_EQ(render_json(ready_event{4, 0, {8080, 8443}, {8443}}),
            R"({"event":"ready","listening":4,"failed":0,"ports":[8080,8443],"tls_ports":[8443],"udp_ports":[],"quic_ports":[]})"
            "\n");
}

TEST(RenderJson, ReadyWithQuicPorts) {
  EXPECT_EQ(render_json(ready_event{4, 0, {8443}, {8443}, {}, {8443}, {8443}}),
            R"({"event":"ready","listening":4,"failed":0,"ports":[8443],"tls_ports":[8443],"udp_ports":[],"quic_ports":[8443]})"
            "\n");
}

TEST(RenderText, ReadyWithQuicPorts) {
  EXPECT_EQ(text_of(ready_event{4, 0, {8443}, {8443}, {}, {8443}, {8443}}),
            "ready: 4 sockets listening on port 8443\n"
            "  try it: demo-client localhost 8443    or:  nc localhost 8443\n"
            "  in a browser: https://localhost:8443/\n"
            "  the board:    https://localhost:8443/board  (every connection, live)\n"
            "  HTTP/3: demo-client --http3 -k localhost 8443  (QUIC on UDP port 8443)\n");
}

TEST(RenderJson, ServerSummaryWithQuic) {
  server_tally t;
  t.count(listening_event{{"127.0.0.1", 8443}, 8443, "", std::nullopt, true, "tcp", false});
  t.count(listening_event{{"127.0.0.1", 8443}, 8443, "", std::nullopt, true, "udp", false});
  t.count(listening_event{{"127.0.0.1", 9000}, 9000, "", std::nullopt, false, "udp", false});
  t.count(accepted_event{1, {{"127.0.0.1", 8443}, {"127.0.0.1", 40000}}, true});
  t.count(quic_connected_event{2, {{"127.0.0.1", 8443}, {"127.0.0.1", 40001}}, "aa", "bb", "0x00000001", "h3"});
  t.count(quic_connected_event{3, {{"127.0.0.1", 8443}, {"127.0.0.1", 40002}}, "cc", "dd", "0x00000001", "h3"});
  t.count(datagram_event{4, {{"127.0.0.1", 9000}, {"127.0.0.1", 40003}}, 5, true});
  const server_summary_event s = t.summary();
  // A QUIC connection is a connection (counted in the total), on a UDP port of its own.
  EXPECT_EQ(s.connections, 3u);
  EXPECT_EQ(s.distinct_client_ports, 4u);
  EXPECT_EQ(render_json(s),
            R"({"event":"summary","role":"server","connections":3,"per_port":[{"port":8443,"connections":1},)"
            R"({"port":9000,"proto":"udp","datagrams":1},{"port":8443,"proto":"quic","connections":2}],)"
            R"("distinct_client_ports":4,"lowest_client_port":40000,"highest_client_port":40003,"peak_open":0,)"
            R"("busy":0,"limited":0,"cut_at_shutdown":0,"log_dropped":0})"
            "\n");
  EXPECT_EQ(text_of(s).substr(0, text_of(s).find('\n') + 1),
            "summary: 3 connections; port 8443: 1, UDP port 9000: 1 datagram, UDP port 8443 (QUIC): 2\n");
}

TEST(RenderText, ListeningOnATlsPort) {
  EXPECT_EQ(text_of(listening_event{{"127.0.0.1", 8443}, 8443, "HTTPS alternate", std::nullopt, true}),
            "listening  127.0.0.1:8443    registered port, HTTPS alternate; HTTPS (TLS)\n");
}

TEST(RenderText, ReadyNamesTheBrowserUrls) {
  EXPECT_EQ(text_of(ready_event{4, 0, {8080, 8443}, {8443}}),
            "ready: 4 sockets listening on ports 8080, 8443\n"
            "  try it: demo-client localhost 8080    or:  nc localhost 8080\n"
            "  in a browser: http://localhost:8080/  https://localhost:8443/\n"
            "  the board:    http://localhost:8080/board  (every connection, live)\n");
  EXPECT_EQ(text_of(ready_event{2, 0, {8443}, {8443}}),
            "ready: 2 sockets listening on port 8443\n"
            "  try it: demo-client localhost 8443    or:  nc localhost 8443\n"
            "  in a browser: https://localhost:8443/\n"
            "  the board:    https://localhost:8443/board  (every connection, live)\n");
}

const socket_tuple web_tuple{{"127.0.0.1", 8080}, {"127.0.0.1", 40000}};

TEST(RenderJson, HttpRequest) {
  EXPECT_EQ(render_json(http_request_event{7, web_tuple, "GET", "/json", 200, 2, "TLSv1.3", ""}),
            R"({"event":"http_request","id":7,"local":{"address":"127.0.0.1","port":8080},)"
            R"("remote":{"address":"127.0.0.1","port":40000},"method":"GET","path":"/json","status":200,)"
            R"("request":2,"reused":true,"tls":"TLSv1.3","note":null,"protocol":"HTTP/1.1","stream":null})"
            "\n");
  EXPECT_EQ(render_json(http_request_event{8, web_tuple, "-", "-", 400, 1, "", "plain HTTP on a TLS port"}),
            R"({"event":"http_request","id":8,"local":{"address":"127.0.0.1","port":8080},)"
            R"("remote":{"address":"127.0.0.1","port":40000},"method":"-","path":"-","status":400,)"
            R"("request":1,"reused":false,"tls":null,"note":"plain HTTP on a TLS port","protocol":"HTTP/1.1",)"
            R"("stream":null})"
            "\n");
}

TEST(RenderJson, HttpRequestEscapesWhatTheClientSent) {
  std::string line = render_json(http_request_event{1, web_tuple, "G\x1bT", "/\xff\n", 405, 1, "", ""});
  EXPECT_NE(line.find(R"("method":"G\\x1bT","path":"/\\xff\\n")"), std::string::npos) << line;
}

TEST(RenderText, HttpRequest) {
  EXPECT_EQ(text_of(http_request_event{7, web_tuple, "GET", "/json", 200, 2, "TLSv1.3", ""}),
            "  #7 GET /json -> 200  127.0.0.1:8080 <- 127.0.0.1:40000\n"
            "    (request 2: reused connection, TLSv1.3)\n");
  EXPECT_EQ(text_of(http_request_event{7, web_tuple, "GET", "/", 200, 1, "", ""}),
            "  #7 GET / -> 200  127.0.0.1:8080 <- 127.0.0.1:40000 (new connection)\n");
  EXPECT_EQ(text_of(http_request_event{8, web_tuple, "GET", "/", 400, 1, "", "plain HTTP on a TLS port"}),
            "  #8 GET / -> 400  127.0.0.1:8080 <- 127.0.0.1:40000\n"
            "    (new connection; plain HTTP on a TLS port)\n");
}

TEST(RenderText, HttpRequestEscapesWhatTheClientSent) {
  std::string text = text_of(http_request_event{1, web_tuple, "G\x1bT", "/\x1b[2J", 405, 1, "", ""});
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_NE(text.find("G\\x1bT /\\x1b[2J -> 405"), std::string::npos) << text;
}

TEST(RenderText, TlsFailed) {
  EXPECT_EQ(text_of(tls_failed_event{3, web_tuple, "tlsv1 alert unknown ca (SSL routines)",
                                     "The client does not trust this server's self-signed certificate: accept it in "
                                     "the browser, or give curl -k or --cacert."}),
            "  #3 TLS handshake failed: tlsv1 alert unknown ca (SSL routines). The client does not\n"
            "    trust this server's self-signed certificate: accept it in the browser, or give curl\n"
            "    -k or --cacert.\n");
}

TEST(RenderJson, TlsFailed) {
  EXPECT_EQ(render_json(tls_failed_event{3, web_tuple, "tlsv1 alert unknown ca (SSL routines)",
                                         "The client does not trust this server's self-signed certificate."}),
            R"({"event":"tls_failed","id":3,"local":{"address":"127.0.0.1","port":8080},)"
            R"j("remote":{"address":"127.0.0.1","port":40000},"reason":"tlsv1 alert unknown ca (SSL routines)",)j"
            R"("explanation":"The client does not trust this server's self-signed certificate."})"
            "\n");
}

TEST(RenderJson, TlsCertificate) {
  EXPECT_EQ(render_json(tls_certificate_event{"generated", "CN=localhost,O=portdemo",
                                              "DNS:localhost, IP Address:127.0.0.1", "AB:CD", ""}),
            R"({"event":"tls_certificate","source":"generated","subject":"CN=localhost,O=portdemo",)"
            R"("names":"DNS:localhost, IP Address:127.0.0.1","sha256":"AB:CD","saved_to":null})"
            "\n");
}

TEST(RenderText, TlsCertificate) {
  const std::string sha = "BA:00:DF:BC:7B:20:DB:B9:57:69:A2:86:15:8E:A0:12:F4:EB:0E:BA:A7:57:DB:72:FE:EA:CF:04:9B:72:84:DF";
  EXPECT_EQ(text_of(tls_certificate_event{"generated", "CN=localhost,O=portdemo", "", sha, "/tmp/c.pem"}),
            "certificate: generated at start-up, self-signed for localhost, 127.0.0.1 and ::1\n"
            "             SHA-256 BA:00:DF:BC:7B:20:DB:B9:57:69:A2:86:15:8E:A0:12:...\n"
            "             saved to /tmp/c.pem: trust it with curl --cacert /tmp/c.pem\n");
}

}  // namespace
}  // namespace portdemo
