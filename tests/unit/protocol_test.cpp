#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "portdemo/json.hpp"
#include "portdemo/protocol.hpp"
#include "portdemo/text.hpp"

namespace portdemo {
namespace {

const server_view v4_view{7, {{"127.0.0.1", 8080}, {"127.0.0.1", 40000}}, "tcp", std::nullopt};
const server_view v6_view{18446744073709551615ULL, {{"2001:db8::1", 65535}, {"fe80::1%eth0", 0}}, "tcp", std::nullopt};

constexpr std::string_view v4_line = R"({"event":"server_view","proto":"tcp","id":7,)"
                                     R"("local":{"address":"127.0.0.1","port":8080},)"
                                     R"("remote":{"address":"127.0.0.1","port":40000}})"
                                     "\n";

// A server_view line with one member replaced by `member` (e.g. R"("id":7)").
std::string line_with(std::string_view id, std::string_view local, std::string_view remote,
                      std::string_view event = R"("event":"server_view")") {
  return "{" + std::string(event) + R"(,"proto":"tcp",)" + std::string(id) +
         (id.empty() ? "" : ",") + std::string(local) + (local.empty() ? "" : ",") +
         std::string(remote) + "}";
}

constexpr std::string_view good_id = R"("id":7)";
constexpr std::string_view good_local = R"("local":{"address":"127.0.0.1","port":8080})";
constexpr std::string_view good_remote = R"("remote":{"address":"127.0.0.1","port":40000})";

TEST(ClientHello, IsOneLine) { EXPECT_EQ(client_hello, "portdemo-hello 1\n"); }

TEST(EndpointJson, V4AndV6) {
  EXPECT_EQ(endpoint_json({"127.0.0.1", 8080}), R"({"address":"127.0.0.1","port":8080})");
  EXPECT_EQ(endpoint_json({"::1", 0}), R"({"address":"::1","port":0})");
}

TEST(EndpointJson, AddressIsEscaped) {
  EXPECT_EQ(endpoint_json({"a\"b", 1}), R"({"address":"a\"b","port":1})");
}

TEST(RenderServerView, ExactLine) { EXPECT_EQ(render_server_view(v4_view), v4_line); }

TEST(RenderServerView, Ipv6AndLargestId) {
  EXPECT_EQ(render_server_view(v6_view),
            R"({"event":"server_view","proto":"tcp","id":18446744073709551615,)"
            R"("local":{"address":"2001:db8::1","port":65535},)"
            R"("remote":{"address":"fe80::1%eth0","port":0}})"
            "\n");
}

TEST(RenderServerView, IsValidJson) {
  auto v = parse_json(render_server_view(v4_view));
  ASSERT_TRUE(v);
  EXPECT_EQ(*v->find("event")->as_string(), "server_view");
  EXPECT_EQ(*v->find("proto")->as_string(), "tcp");
}

TEST(ParseServerView, RoundTrip) {
  auto got = parse_server_view(render_server_view(v4_view));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, 7u);
  EXPECT_EQ(got->tuple, v4_view.tuple);
}

TEST(ParseServerView, RoundTripIpv6) {
  const server_view view{123456, {{"::1", 8443}, {"::1", 51000}}, "tcp", std::nullopt};
  auto got = parse_server_view(render_server_view(view));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, 123456u);
  EXPECT_EQ(got->tuple, view.tuple);
}

TEST(ParseServerView, WithoutTheNewline) {
  auto got = parse_server_view(v4_line.substr(0, v4_line.size() - 1));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->tuple, v4_view.tuple);
}

TEST(ParseServerView, MembersInAnyOrderAndExtraMembers) {
  auto got = parse_server_view(
      R"({"remote":{"port":40000,"address":"127.0.0.1"},"extra":[1,{"x":null}],)"
      R"("local":{"address":"127.0.0.1","port":8080},"id":9,"event":"server_view"})");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, 9u);
  EXPECT_EQ(got->tuple, v4_view.tuple);
}

TEST(ParseServerView, PortBoundaries) {
  auto got = parse_server_view(line_with(good_id, R"("local":{"address":"::","port":0})",
                                         R"("remote":{"address":"::1","port":65535})"));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->tuple.local.port, 0);
  EXPECT_EQ(got->tuple.remote.port, 65535);
}

TEST(ParseServerView, PortWrittenAsWholeFloat) {
  auto got = parse_server_view(
      line_with(good_id, R"("local":{"address":"127.0.0.1","port":8080.0})", good_remote));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->tuple.local.port, 8080);
}

TEST(ParseServerViewRefuses, NotJson) {
  EXPECT_FALSE(parse_server_view(""));
  EXPECT_FALSE(parse_server_view("HTTP/1.1 400 Bad Request"));
  EXPECT_FALSE(parse_server_view(v4_line.substr(0, 40)));
}

TEST(ParseServerViewRefuses, NotAnObject) {
  EXPECT_FALSE(parse_server_view("[]"));
  EXPECT_FALSE(parse_server_view("\"server_view\""));
  EXPECT_FALSE(parse_server_view("null"));
}

TEST(ParseServerViewRefuses, WrongEvent) {
  EXPECT_FALSE(
      parse_server_view(line_with(good_id, good_local, good_remote, R"("event":"accepted")")));
  EXPECT_FALSE(
      parse_server_view(line_with(good_id, good_local, good_remote, R"("event":"Server_View")")));
  EXPECT_FALSE(parse_server_view(line_with(good_id, good_local, good_remote, R"("event":1)")));
  EXPECT_FALSE(parse_server_view(line_with(good_id, good_local, good_remote, R"("event":null)")));
}

TEST(ParseServerViewRefuses, MissingEvent) {
  EXPECT_FALSE(
      parse_server_view(line_with(good_id, good_local, good_remote, R"("evt":"server_view")")));
}

TEST(ParseServerViewRefuses, MissingLocalOrRemote) {
  EXPECT_FALSE(parse_server_view(line_with(good_id, "", good_remote)));
  EXPECT_FALSE(parse_server_view(line_with(good_id, good_local, "")));
}

TEST(ParseServerViewRefuses, MissingAddressOrPort) {
  EXPECT_FALSE(parse_server_view(line_with(good_id, R"("local":{"port":8080})", good_remote)));
  EXPECT_FALSE(
      parse_server_view(line_with(good_id, R"("local":{"address":"127.0.0.1"})", good_remote)));
  EXPECT_FALSE(parse_server_view(line_with(good_id, good_local, R"("remote":{})")));
  EXPECT_FALSE(parse_server_view(line_with(good_id, good_local, R"("remote":null)")));
  EXPECT_FALSE(parse_server_view(line_with(good_id, good_local, R"("remote":"127.0.0.1:40000")")));
}

TEST(ParseServerViewRefuses, MissingId) {
  // The server always sends its connection number; a line without one is not the server's.
  EXPECT_FALSE(parse_server_view(line_with("", good_local, good_remote)));
}

TEST(ParseServerViewRefuses, IdThatIsNotACount) {
  EXPECT_FALSE(parse_server_view(line_with(R"("id":"7")", good_local, good_remote))) << "string id";
  EXPECT_FALSE(parse_server_view(line_with(R"("id":-1)", good_local, good_remote)))
      << "negative id";
  EXPECT_FALSE(parse_server_view(line_with(R"("id":1.5)", good_local, good_remote))) << "fraction";
}

TEST(ParseServerViewRefuses, IdTooLargeForAnUnsigned64) {
  // Converting 1e30 to std::uint64_t is undefined behaviour: it must be refused, not converted.
  EXPECT_FALSE(parse_server_view(line_with(R"("id":1e30)", good_local, good_remote)));
}

TEST(ParseServerViewRefuses, PortAbove65535) {
  EXPECT_FALSE(parse_server_view(
      line_with(good_id, R"("local":{"address":"127.0.0.1","port":70000})", good_remote)));
  EXPECT_FALSE(parse_server_view(
      line_with(good_id, good_local, R"("remote":{"address":"127.0.0.1","port":65536})")));
}

TEST(ParseServerViewRefuses, NegativePort) {
  EXPECT_FALSE(parse_server_view(
      line_with(good_id, R"("local":{"address":"127.0.0.1","port":-1})", good_remote)));
}

TEST(ParseServerViewRefuses, NonIntegerPort) {
  EXPECT_FALSE(parse_server_view(
      line_with(good_id, R"("local":{"address":"127.0.0.1","port":8080.5})", good_remote)));
  EXPECT_FALSE(parse_server_view(
      line_with(good_id, R"("local":{"address":"127.0.0.1","port":"8080"})", good_remote)));
  EXPECT_FALSE(parse_server_view(
      line_with(good_id, R"("local":{"address":"127.0.0.1","port":null})", good_remote)));
  EXPECT_FALSE(parse_server_view(
      line_with(good_id, R"("local":{"address":"127.0.0.1","port":1e999})", good_remote)));
}

TEST(ParseServerViewRefuses, NonStringAddress) {
  EXPECT_FALSE(parse_server_view(
      line_with(good_id, R"("local":{"address":2130706433,"port":8080})", good_remote)));
}

TEST(ParseServerViewRefuses, AddressThatIsNotAnIpAddress) {
  // The server sends what getsockname/getpeername said: numeric addresses only. Anything else
  // would be printed as is by the text renderer, escape sequences included.
  EXPECT_FALSE(parse_server_view(
      line_with(good_id, R"("local":{"address":"\u001b]0;pwned\u0007","port":8080})", good_remote)))
      << "terminal escape sequence";
  EXPECT_FALSE(parse_server_view(
      line_with(good_id, good_local, R"("remote":{"address":"\u001b[2J127.0.0.1","port":40000})")))
      << "escape before an address";
  EXPECT_FALSE(
      parse_server_view(line_with(good_id, R"("local":{"address":"","port":8080})", good_remote)))
      << "empty address";
  EXPECT_FALSE(parse_server_view(
      line_with(good_id, R"("local":{"address":"localhost","port":8080})", good_remote)))
      << "a name, not an address";
}

TEST(ParseServerViewRefuses, AddressWithANulAndATail) {
  // Found while writing fuzz_server_view (its corpus keeps the line): inet_pton stops at the
  // NUL, so the address used to pass as 127.0.0.1 and the escape sequence after it reached the
  // client's screen.
  EXPECT_FALSE(parse_server_view(line_with(
      good_id, R"("local":{"address":"127.0.0.1\u0000\u001b[2J","port":8080})", good_remote)));
  EXPECT_FALSE(parse_server_view(
      line_with(good_id, good_local, R"("remote":{"address":"::1\u0000x","port":40000})")));
  using namespace std::string_view_literals;
  EXPECT_FALSE(is_ip_address("127.0.0.1\0\x1b[2J"sv));
  EXPECT_FALSE(is_ip_address("::1\0"sv));
  EXPECT_TRUE(is_ip_address("::ffff:192.0.2.1"));
}

TEST(ParseServerViewRefuses, TrailingGarbage) {
  EXPECT_FALSE(parse_server_view(std::string(v4_line.substr(0, v4_line.size() - 1)) + " x"));
}

TEST(CouldBeHello, PrefixesOfTheHello) {
  EXPECT_TRUE(could_be_hello(""));
  EXPECT_TRUE(could_be_hello("p"));
  EXPECT_TRUE(could_be_hello("portdemo-"));
  EXPECT_TRUE(could_be_hello("portdemo-hello 1"));
  EXPECT_TRUE(could_be_hello("portdemo-hello 1\n"));
}

TEST(CouldBeHello, AnythingElse) {
  EXPECT_FALSE(could_be_hello("portdemo-hello 1\nX"));
  EXPECT_FALSE(could_be_hello("portdemo-hello 2"));
  EXPECT_FALSE(could_be_hello("GET / HTTP/1.1\r\n"));
  EXPECT_FALSE(could_be_hello("\n"));
  EXPECT_FALSE(could_be_hello("Portdemo"));
  EXPECT_FALSE(could_be_hello("portdemo-hello 1\r\n"));
}


// ---- demo-client's own view, after its hello --------------------------------------------------

TEST(ClientView, RendersAndParsesBothFamilies) {
  const socket_tuple v4{{"10.0.1.2", 51234}, {"10.0.0.1", 8081}};
  EXPECT_EQ(render_client_view(v4), "portdemo-view 1 10.0.1.2:51234 10.0.0.1:8081\n");
  EXPECT_EQ(parse_client_view(render_client_view(v4)), v4);
  const socket_tuple v6{{"fd00::2", 40000}, {"::1", 0}};
  EXPECT_EQ(render_client_view(v6), "portdemo-view 1 [fd00::2]:40000 [::1]:0\n");
  EXPECT_EQ(parse_client_view(render_client_view(v6)), v6);
  const socket_tuple widest{{"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", 65535},
                            {"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", 65535}};
  EXPECT_EQ(render_client_view(widest).size(), client_view_max);
  EXPECT_EQ(parse_client_view(render_client_view(widest)), widest);
}

TEST(ClientView, RefusesAnythingButExactlyOneViewLine) {
  for (std::string_view bad : {"portdemo-view 1 10.0.1.2:51234 10.0.0.1:8081",     // no newline
                               "portdemo-view 2 10.0.1.2:51234 10.0.0.1:8081\n",   // another version
                               "portdemo-view 1 10.0.1.2:51234  10.0.0.1:8081\n",  // two spaces
                               "portdemo-view 1 10.0.1.2:51234 10.0.0.1:8081 x\n",
                               "portdemo-view 1 10.0.1.2:65536 10.0.0.1:8081\n",
                               "portdemo-view 1 10.0.1.2:051 10.0.0.1:8081\n",     // leading zero
                               "portdemo-view 1 10.0.1.2: 10.0.0.1:8081\n",
                               "portdemo-view 1 ::1:80 10.0.0.1:8081\n",           // IPv6 without brackets
                               "portdemo-view 1 [10.0.1.2]:80 10.0.0.1:8081\n",    // IPv4 in brackets
                               "portdemo-view 1 host.example:80 10.0.0.1:8081\n",  // a name, not the kernel's
                               "portdemo-view 1 \x1b[2J:80 10.0.0.1:8081\n", "portdemo-view 1 \n", ""}) {
    EXPECT_EQ(parse_client_view(bad), std::nullopt) << bad;
  }
}

TEST(ClientView, APrefixMayStillBecomeAView) {
  const std::string line = render_client_view({{"10.0.1.2", 51234}, {"10.0.0.1", 8081}});
  for (std::size_t n = 0; n < line.size(); ++n) EXPECT_TRUE(could_be_client_view(line.substr(0, n))) << n;
  EXPECT_FALSE(could_be_client_view(line));  // whole: it is one, not "may become" one
  EXPECT_FALSE(could_be_client_view("GET / HTTP/1.1\r\n"));
  EXPECT_FALSE(could_be_client_view("portdemo-vieW"));
  EXPECT_FALSE(could_be_client_view(std::string(client_view_tag) + std::string(client_view_max, '1')));
}

TEST(ClientView, SplitRawMessage) {
  const std::string view = render_client_view({{"10.0.1.2", 51234}, {"10.0.0.1", 8081}});
  const std::string hello = std::string(client_hello) + view;
  const std::string hold = std::string(client_hello_hold) + view;
  const std::string other = "hello\n" + view;
  raw_message m = split_raw_message(hello);
  EXPECT_EQ(m.line, client_hello);
  ASSERT_TRUE(m.client_view);
  EXPECT_EQ(m.client_view->remote, (endpoint{"10.0.0.1", 8081}));
  m = split_raw_message(hold);
  EXPECT_EQ(m.line, client_hello_hold);
  EXPECT_TRUE(m.client_view);
  // Only after a hello: a raw client's line followed by the same bytes is just a line.
  m = split_raw_message(other);
  EXPECT_EQ(m.line, "hello\n");
  EXPECT_FALSE(m.client_view);
  m = split_raw_message(client_hello);
  EXPECT_FALSE(m.client_view);
}

TEST(LineCollector, KeepsTheStartOfWhatFollowsTheLine) {
  line_collector c;
  c.feed("portdemo-hello 1\nportdemo-");
  EXPECT_EQ(c.line(), "portdemo-hello 1\n");
  EXPECT_EQ(c.rest(), "portdemo-");
  c.feed("view 1 1.2.3.4:5 6.7.8.9:10\n");
  EXPECT_EQ(c.rest(), "portdemo-view 1 1.2.3.4:5 6.7.8.9:10\n");
  c.feed(std::string(500, 'x'));
  EXPECT_EQ(c.rest().size(), client_view_max);
  EXPECT_EQ(c.received(), 17u + 9u + 28u + 500u);
}

}  // namespace
}  // namespace portdemo
