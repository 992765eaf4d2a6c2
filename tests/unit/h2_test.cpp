// common/h2.hpp without sockets: demo-client's h2_client and the server's h2_connection talk
// to each other in memory, through libnghttp2 on both sides, and the bytes between them are
// looked at where the wire format is the point (the :scheme the client sends).

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "portdemo/h2.hpp"
#include "portdemo/web.hpp"

namespace portdemo {
namespace {

// Moves every byte each side has to the other until neither has more (bounded).
void exchange(h2_client& client, h2_connection& server) {
  for (int round = 0; round < 16; ++round) {
    const std::string to_server(client.output());
    if (!to_server.empty()) {
      ASSERT_TRUE(server.receive(to_server)) << server.error();
    }
    for (const h2_request& r : server.take_requests()) {
      http_response answer;
      answer.body = "answer to " + r.head.target + " on stream " + std::to_string(r.stream) + " for " +
                    *r.head.header("Host") + "\n";
      server.respond(r.stream, answer, false);
    }
    const std::string to_client(server.output());
    if (!to_client.empty()) {
      ASSERT_TRUE(client.receive(to_client)) << client.error();
    }
    if (to_server.empty() && to_client.empty()) return;
  }
  FAIL() << "the two ends were still talking after 16 rounds";
}

TEST(H2Client, StreamsOneThreeAnsweredOnOneConnection) {
  h2_client client;
  h2_connection server;
  EXPECT_EQ(client.get("127.0.0.1:8080", "/json"), 1);
  EXPECT_EQ(client.get("127.0.0.1:8080", "/"), 3);
  exchange(client, server);
  ASSERT_EQ(client.answers().size(), 2u);
  for (const h2_answer& a : client.answers()) {
    EXPECT_EQ(a.status, 200);
    EXPECT_FALSE(a.reset);
    EXPECT_EQ(a.body, a.stream == 1 ? "answer to /json on stream 1 for 127.0.0.1:8080\n"
                                    : "answer to / on stream 3 for 127.0.0.1:8080\n");
  }
  EXPECT_EQ(client.error(), "");
  client.finish();
  ASSERT_TRUE(server.receive(std::string(client.output())));
  EXPECT_FALSE(server.wants_read());
}

// HPACK's static table: index 2 is ":method GET", 6 ":scheme http", 7 ":scheme https"; nghttp2
// sends each as one indexed byte (0x80 | index), the method first.
TEST(H2Client, SchemeIsHttpsInsideTlsAndHttpInTheClear) {
  for (const bool tls : {false, true}) {
    h2_client client(tls);
    client.get("localhost:8443", "/json");
    const std::string bytes(client.output());
    const std::string_view wanted = tls ? "\x82\x87" : "\x82\x86";
    EXPECT_NE(bytes.find(wanted), std::string::npos) << "over TLS: " << tls;
    const std::string_view other = tls ? "\x82\x86" : "\x82\x87";
    EXPECT_EQ(bytes.find(other), std::string::npos) << "over TLS: " << tls;
  }
}

// An HTTP/1.1 answer where frames should be: the library takes the bytes (receive() is true),
// queues a GOAWAY of its own, and error() names it once that GOAWAY is taken out, as
// demo-client's loop does (client/http2.cpp).
TEST(H2Client, BytesThatAreNotHttp2EndInTheClientsGoaway) {
  h2_client client;
  client.get("127.0.0.1:8080", "/json");
  (void)client.output();
  EXPECT_TRUE(client.receive("HTTP/1.1 400 Bad Request\r\n\r\n"));
  EXPECT_EQ(client.error(), "");
  const std::string goaway(client.output());
  ASSERT_GE(goaway.size(), 9u + 8u);
  EXPECT_EQ(static_cast<unsigned char>(goaway[3]), 0x7u);  // the frame's type: GOAWAY
  EXPECT_EQ(client.error(), "PROTOCOL_ERROR: SETTINGS expected");
  EXPECT_TRUE(client.answers().empty());
}

}  // namespace
}  // namespace portdemo
