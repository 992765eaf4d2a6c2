#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "portdemo/json.hpp"
#include "portdemo/protocol.hpp"
#include "portdemo/text.hpp"

namespace portdemo {
namespace {

const server_view v4_view{7, {{"127.0.0.1", 8080}, {"127.0.0.1", 40000}}};
const server_view v6_view{18446744073709551615ULL, {{"2001:db8::1", 65535}, {"fe80::1%eth0", 0}}};

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
  const server_view view{123456, {{"::1", 8443}, {"::1", 51000}}};
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

}  // namespace
}  // namespace portdemo
