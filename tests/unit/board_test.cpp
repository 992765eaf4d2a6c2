#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "portdemo/board.hpp"
#include "portdemo/json.hpp"
#include "portdemo/reporter.hpp"
#include "portdemo/web.hpp"

namespace portdemo {
namespace {

// ---- mask_address ------------------------------------------------------------------------

TEST(MaskAddress, KeepsTheLastOctetOrGroup) {
  EXPECT_EQ(mask_address("192.168.1.23"), "*.*.*.23");
  EXPECT_EQ(mask_address("127.0.0.1"), "*.*.*.1");
  EXPECT_EQ(mask_address("::1"), "*::1");
  EXPECT_EQ(mask_address("2001:db8::5efe"), "*::5efe");
  EXPECT_EQ(mask_address("fe80::1:0"), "*::0");
  EXPECT_EQ(mask_address("::ffff:10.0.0.7"), "*.*.*.7");  // IPv4-mapped: shown as IPv4
}

TEST(MaskAddress, AnythingElseIsAStar) {
  EXPECT_EQ(mask_address(""), "*");
  EXPECT_EQ(mask_address("localhost"), "*");
  EXPECT_EQ(mask_address(std::string("127.0.0.1\0x", 11)), "*");  // no text past a NUL leaks
  EXPECT_EQ(mask_address("1.2.3.4.5"), "*");
}

// ---- the model ---------------------------------------------------------------------------

socket_tuple tuple(std::uint16_t server_port, std::string client, std::uint16_t client_port) {
  return {{"127.0.0.1", server_port}, {std::move(client), client_port}};
}

// Small readers of parsed JSON.
double num(const json_value& v, std::string_view key) {
  const json_value* m = v.find(key);
  return m && m->as_number() ? *m->as_number() : -1;
}
std::string str(const json_value& v) { return v.as_string() ? *v.as_string() : std::string("<not a string>"); }
const json_value::array& items(const json_value& v, std::string_view key) {
  static const json_value::array none;
  const json_value* m = v.find(key);
  if (!m) return none;
  const auto* a = std::get_if<json_value::array>(&m->value);
  return a ? *a : none;
}

// The data of every event of `name` in an SSE text, parsed.
std::vector<json_value> events_named(const std::string& sse, std::string_view name) {
  std::vector<json_value> out;
  const std::string head = "event: " + std::string(name) + "\ndata: ";
  for (std::size_t at = sse.find(head); at != std::string::npos; at = sse.find(head, at + 1)) {
    const std::size_t start = at + head.size();
    auto v = parse_json(std::string_view(sse).substr(start, sse.find('\n', start) - start));
    EXPECT_TRUE(v.has_value());
    if (v) out.push_back(*v);
  }
  return out;
}

board_model linux_board(bool mask = false) {
  board_model b(port_range{32768, 60999}, mask, 64);
  b.add_port({{"127.0.0.1", 8080}, "tcp", false});
  b.add_port({{"::1", 8080}, "tcp", false});
  b.add_port({{"127.0.0.1", 8443}, "tcp", true});
  b.add_port({{"127.0.0.1", 8080}, "udp", false});
  return b;
}

TEST(BoardModel, TotalsCountPortsBucketsAndDistinctClients) {
  board_model b = linux_board();
  b.connection(1, tuple(8080, "127.0.0.1", 32768), false, false);  // first bucket
  b.connection(2, tuple(8080, "127.0.0.2", 60999), false, false);  // last bucket
  b.connection(3, tuple(8443, "127.0.0.2", 1000), false, true);    // below the range
  b.connection(4, tuple(8080, "127.0.0.3", 61000), true, false);   // above, UDP
  EXPECT_EQ(b.totals_json(),
            "{\"connections\":4,\"distinct_clients\":3,\"per_port\":["
            "{\"port\":8080,\"proto\":\"tcp\",\"tls\":false,\"service\":\"HTTP alternate\",\"connections\":2},"
            "{\"port\":8443,\"proto\":\"tcp\",\"tls\":true,\"service\":\"HTTPS alternate\",\"connections\":1},"
            "{\"port\":8080,\"proto\":\"udp\",\"tls\":false,\"service\":\"HTTP alternate\",\"connections\":1}],"
            "\"histogram\":{\"low\":32768,\"high\":60999,\"buckets\":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
            "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1],\"below\":1,\"above\":1},\"subscribers\":0,"
            "\"paths\":{\"source_nat\":0,\"destination_nat\":0,\"source_and_destination_nat\":0,\"via_proxy\":0},"
            "\"busiest_address\":{\"address\":\"127.0.0.2\",\"connections\":2}}");
}

TEST(BoardModel, UnknownRangeUsesIanaDynamicAndSaysNull) {
  board_model b(std::nullopt, false, 64);
  b.add_port({{"127.0.0.1", 8080}, "tcp", false});
  b.connection(1, tuple(8080, "127.0.0.1", 49152), false, false);
  const std::string snap = b.snapshot();
  EXPECT_NE(snap.find("\"ephemeral\":null"), std::string::npos);
  EXPECT_NE(snap.find("\"histogram\":{\"low\":49152,\"high\":65535,\"buckets\":[1,"), std::string::npos);
  EXPECT_NE(snap.find("\"in_ephemeral_range\":null"), std::string::npos);
}

TEST(BoardModel, NothingIsQueuedWithoutSubscribers) {
  board_model b = linux_board();
  b.connection(1, tuple(8080, "127.0.0.1", 40000), false, false);
  b.request(1, 1, "GET", "/", 200, "");
  EXPECT_FALSE(b.pending());
  b.set_subscribers(1);
  b.connection(2, tuple(8080, "127.0.0.1", 40001), false, false);
  EXPECT_TRUE(b.pending());
}

TEST(BoardModel, BatchSendsConnectionsOldestFirstThenRequestsThenTotals) {
  board_model b = linux_board();
  b.set_subscribers(2);
  b.connection(7, tuple(8080, "127.0.0.1", 40000), false, false, 1764220000123);
  b.connection(8, tuple(8443, "::1", 40001), false, true);
  b.request(7, 2, "GET", "/json", 200, "");
  const std::string batch = b.take_batch();
  EXPECT_EQ(batch.substr(0, batch.find("event: totals")),
            "event: connection\ndata: {\"id\":7,\"proto\":\"tcp\",\"tls_port\":false,"
            "\"local\":{\"address\":\"127.0.0.1\",\"port\":8080},\"remote\":{\"address\":\"127.0.0.1\",\"port\":40000},"
            "\"service\":\"HTTP alternate\",\"in_ephemeral_range\":true,\"requests\":2,\"at\":1764220000123,\"path\":\"direct\","
            "\"protocol\":\"HTTP/1.1\"}\n\n"
            "event: connection\ndata: {\"id\":8,\"proto\":\"tcp\",\"tls_port\":true,"
            "\"local\":{\"address\":\"127.0.0.1\",\"port\":8443},\"remote\":{\"address\":\"::1\",\"port\":40001},"
            "\"service\":\"HTTPS alternate\",\"in_ephemeral_range\":true,\"requests\":0,\"at\":0,\"path\":\"direct\","
            "\"protocol\":null}\n\n"
            "event: request\ndata: {\"id\":7,\"request\":2,\"method\":\"GET\",\"target\":\"/json\",\"status\":200,"
            "\"tls\":\"\",\"protocol\":\"HTTP/1.1\"}\n\n");
  EXPECT_EQ(batch.substr(batch.find("event: totals")), "event: totals\ndata: " + b.totals_json() + "\n\n");
  EXPECT_FALSE(b.pending());
  EXPECT_EQ(b.take_batch(), "event: totals\ndata: " + b.totals_json() + "\n\n");
}

TEST(BoardModel, ABurstSendsTheNewestFiftyAndCountsTheRest) {
  board_model b = linux_board();
  b.set_subscribers(1);
  for (std::uint64_t id = 1; id <= 300; ++id)
    b.connection(id, tuple(8080, "127.0.0.1", static_cast<std::uint16_t>(40000 + id)), false, false);
  for (std::uint64_t n = 1; n <= 60; ++n) b.request(300, n, "GET", "/", 200, "");
  const std::string batch = b.take_batch();
  auto coalesced = events_named(batch, "coalesced");
  ASSERT_EQ(coalesced.size(), 1u);
  EXPECT_EQ(num(coalesced[0], "skipped"), 250);
  EXPECT_EQ(num(coalesced[0], "skipped_requests"), 10);
  auto connections = events_named(batch, "connection");
  ASSERT_EQ(connections.size(), 50u);
  EXPECT_EQ(num(connections.front(), "id"), 251);
  EXPECT_EQ(num(connections.back(), "id"), 300);
  EXPECT_EQ(events_named(batch, "request").size(), 50u);
  EXPECT_EQ(num(events_named(batch, "totals")[0], "connections"), 300);
}

TEST(BoardModel, SnapshotIsNewestFirstBoundedAndCarriesTheServer) {
  board_model b = linux_board();
  qr_code code{2, {"# ", " #"}};
  b.set_join({"http://10.0.0.5:8080/"}, code);
  for (std::uint64_t id = 1; id <= 150; ++id)
    b.connection(id, tuple(8080, "127.0.0.1", static_cast<std::uint16_t>(40000 + id)), false, false);
  const std::string snap = b.snapshot();
  ASSERT_EQ(snap.rfind("event: snapshot\ndata: ", 0), 0u);
  auto v = parse_json(std::string_view(snap).substr(22, snap.size() - 22 - 2));
  ASSERT_TRUE(v.has_value());
  const json_value* server = v->find("server");
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(items(*server, "listening").size(), 4u);
  EXPECT_EQ(str(items(*server, "join").at(0)), "http://10.0.0.5:8080/");
  EXPECT_EQ(str(items(*server, "qr").at(1)), " #");
  EXPECT_EQ(num(*server, "max_subscribers"), 64);
  const auto& recent = items(*v, "recent");
  ASSERT_EQ(recent.size(), board_model::recent_shown);
  EXPECT_EQ(num(recent.front(), "id"), 150);
  EXPECT_EQ(num(recent.back(), "id"), 51);
}

TEST(BoardModel, MaskedBoardHidesRemoteAddressesOnly) {
  board_model b = linux_board(true);
  b.set_subscribers(1);
  b.connection(1, tuple(8080, "192.168.1.23", 40000), false, false);
  const std::string batch = b.take_batch();
  EXPECT_NE(batch.find("\"remote\":{\"address\":\"*.*.*.23\",\"port\":40000}"), std::string::npos);
  EXPECT_NE(batch.find("\"local\":{\"address\":\"127.0.0.1\",\"port\":8080}"), std::string::npos);
  EXPECT_EQ(batch.find("192.168.1.23"), std::string::npos);
  EXPECT_NE(b.snapshot().find("\"masked\":true"), std::string::npos);
}

TEST(BoardModel, HostileTargetsAreEscapedAndCut) {
  board_model b = linux_board();
  b.set_subscribers(1);
  b.request(1, 1, "GET", "/\"</script>\n" + std::string(1000, 'a'), 404, "");
  auto requests = events_named(b.take_batch(), "request");
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(str(*requests[0].find("target")), "/\"</script>\n" + std::string(256 - 12, 'a'));
}

// ---- the page's routes -----------------------------------------------------------------

TEST(BoardRoutes, EventStreamIsGetEventsOnly) {
  auto parse = [](std::string_view text) {
    request_parser p;
    EXPECT_EQ(p.feed(text), request_parser::state::complete);
    return p.request();
  };
  EXPECT_TRUE(is_event_stream(parse("GET /events HTTP/1.1\r\nHost: a\r\n\r\n")));
  EXPECT_TRUE(is_event_stream(parse("GET /events?since=3 HTTP/1.1\r\nHost: a\r\n\r\n")));
  EXPECT_FALSE(is_event_stream(parse("HEAD /events HTTP/1.1\r\nHost: a\r\n\r\n")));
  EXPECT_FALSE(is_event_stream(parse("GET /events/x HTTP/1.1\r\nHost: a\r\n\r\n")));
  EXPECT_FALSE(is_event_stream(parse("GET /board HTTP/1.1\r\nHost: a\r\n\r\n")));
}

TEST(BoardRoutes, BoardPageLoadsNothingFromAnywhere) {
  request_parser p;
  ASSERT_EQ(p.feed("GET /board HTTP/1.1\r\nHost: a\r\n\r\n"), request_parser::state::complete);
  web_context c{1, 1, {{"127.0.0.1", 8080}, {"127.0.0.1", 40000}}, host_facts{}, std::nullopt, std::nullopt, nullptr, http_version::http1, 0, nullptr, {}};
  http_response r = respond(p.request(), c);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("EventSource"), std::string::npos);
  for (std::string_view external : {"src=\"http", "href=\"http", "@import", "url(http", "src=\"//"})
    EXPECT_EQ(r.body.find(external), std::string::npos) << external;
  const std::string bytes = serialize(r, false);
  EXPECT_NE(bytes.find("\r\nContent-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; "
                       "script-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; "
                       "form-action 'none'\r\n"),
            std::string::npos);
}

TEST(BoardRoutes, FullBoardAnswer) {
  http_response r = board_full_response(3);
  EXPECT_EQ(r.status, 503);
  EXPECT_TRUE(r.close);
  EXPECT_EQ(r.body, "503 Service Unavailable: the board has 3 subscribers already (--max-board-subscribers 3). "
                    "Close a board page, or start the server with a higher --max-board-subscribers.\n");
}

TEST(BoardRoutes, StoppingNoteEndsEveryStream) {
  EXPECT_EQ(board_stopping_events(),
            "event: note\ndata: {\"code\":\"stopping\",\"message\":\"the server is stopping\"}\n\n");
}

TEST(BoardRoutes, FullBoardStreamForEventSource) {
  EXPECT_EQ(board_full_events(3),
            "retry: 15000\n\nevent: note\ndata: {\"code\":\"board_full\",\"message\":\"the board is full: "
            "3 pages follow it already (--max-board-subscribers 3); this page tries again every 15 s\"}\n\n");
}

// ---- masking in the log ------------------------------------------------------------------

TEST(ReporterMask, RemoteAddressesOfEveryTupleEventAreMasked) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    reporter out(output_format::json, host_facts{}, false, f);
    out.mask_remote_addresses(true);
    out.emit(accepted_event{1, tuple(8080, "10.1.2.3", 40000), true, 1});
    out.emit(http_request_event{1, tuple(8080, "10.1.2.3", 40000), "GET", "/", 200, 1, "", ""});
    out.emit(busy_event{2, tuple(8080, "2001:db8::77", 40001), 1, 1});
    out.emit(listening_event{{"10.1.2.9", 8080}, 8080, "", std::nullopt, false, "tcp", false});
  }
  std::rewind(f);
  std::string text;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, f)) text.append(buf, n);
  std::fclose(f);
  EXPECT_EQ(text.find("10.1.2.3"), std::string::npos) << text;
  EXPECT_EQ(text.find("2001:db8::77"), std::string::npos) << text;
  EXPECT_NE(text.find("\"remote\":{\"address\":\"*.*.*.3\",\"port\":40000}"), std::string::npos) << text;
  EXPECT_NE(text.find("\"remote\":{\"address\":\"*::77\",\"port\":40001}"), std::string::npos) << text;
  EXPECT_NE(text.find("10.1.2.9"), std::string::npos) << "the server's own address is not masked";
}


TEST(BoardModel, MarksWhatLiesBetweenAndTheBusiestAddress) {
  board_model b(port_range{32768, 60999}, false, 4);
  b.set_subscribers(1);
  // A room behind one NAT: three connections from one address, one from another.
  for (std::uint64_t id = 1; id <= 3; ++id)
    b.connection(id, {{"10.0.0.1", 8080}, {"203.0.113.9", static_cast<std::uint16_t>(40000 + id)}}, false, false);
  b.connection(4, {{"10.0.0.1", 8080}, {"198.51.100.2", 40100}}, false, false);
  b.mark(2, board_model::path::source_nat);
  b.mark(3, board_model::path::via_proxy);
  b.mark(3, board_model::path::source_and_destination_nat);  // a proxied connection stays "via proxy"
  const std::string batch = b.take_batch();
  EXPECT_NE(batch.find("event: path\ndata: {\"id\":2,\"path\":\"source_nat\"}\n\n"), std::string::npos) << batch;
  EXPECT_NE(batch.find("event: path\ndata: {\"id\":3,\"path\":\"via_proxy\"}\n\n"), std::string::npos);
  EXPECT_EQ(batch.find("source_and_destination_nat\"}"), std::string::npos);
  const std::string totals = b.totals_json();
  EXPECT_NE(totals.find(R"("paths":{"source_nat":1,"destination_nat":0,"source_and_destination_nat":0,"via_proxy":1},)"
                        R"("busiest_address":{"address":"203.0.113.9","connections":3}})"),
            std::string::npos)
      << totals;
  EXPECT_NE(b.snapshot().find(R"("id":2,)"), std::string::npos);
  EXPECT_NE(b.snapshot().find(R"("at":0,"path":"source_nat","protocol":null})"), std::string::npos);
  // Masked addresses stay masked in the totals too.
  board_model masked(port_range{32768, 60999}, true, 4);
  masked.connection(1, {{"10.0.0.1", 8080}, {"203.0.113.9", 40001}}, false, false);
  EXPECT_NE(masked.totals_json().find(R"("busiest_address":{"address":"*.*.*.9","connections":1})"), std::string::npos);
}

}  // namespace
}  // namespace portdemo
