// The server's pieces inside the test process, on loopback sockets: the first-bytes decision on
// byte sequences, the spare rule, the deadline lists, prefixed_socket, and the connection
// table's count through every form a connection can take (back to zero after each path,
// failures mid-way included).

#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include "connection.hpp"
#include "context.hpp"
#include "event_sink.hpp"
#include "first_bytes.hpp"
#include "parking.hpp"
#include "portdemo/protocol.hpp"
#include "timeouts.hpp"
#include "tls.hpp"

namespace portdemo::server {
namespace {

using namespace std::chrono_literals;
using asio::ip::tcp;

// ---- decide_first_bytes -----------------------------------------------------------------------

first_bytes_input bytes_in(std::string_view bytes, arrival what = arrival::bytes) {
  first_bytes_input in;
  in.bytes = bytes;
  in.what = what;
  return in;
}

template <typename Expected>
bool is(const first_bytes_decision& d) {
  return std::holds_alternative<Expected>(d);
}

constexpr std::string_view simple_get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

TEST(FirstBytes, AWholeSimpleRequestIsAnsweredAtOnce) {
  auto d = decide_first_bytes(bytes_in(simple_get));
  ASSERT_TRUE(is<decision::answer_http>(d));
  EXPECT_EQ(std::get<decision::answer_http>(d).parser.request().target, "/");
}

TEST(FirstBytes, ARequestSplitAfterItsFirstLetterWaitsThenIsAnswered) {
  EXPECT_TRUE(is<decision::wait_more>(decide_first_bytes(bytes_in("G"))));
  EXPECT_TRUE(is<decision::wait_more>(decide_first_bytes(bytes_in("GE"))));
  // "G" + "ET /": a request begun, not yet whole: a coroutine reads the rest, from this parser.
  auto begun = decide_first_bytes(bytes_in("GET /"));
  ASSERT_TRUE(is<decision::serve_http>(begun));
  EXPECT_EQ(std::get<decision::serve_http>(begun).parser.current(), request_parser::state::incomplete);
  EXPECT_TRUE(is<decision::answer_http>(decide_first_bytes(bytes_in(simple_get))));
}

TEST(FirstBytes, ATlsClientHelloGoesToTls) {
  const std::string hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  EXPECT_TRUE(is<decision::serve_tls>(decide_first_bytes(bytes_in(hello))));
  EXPECT_TRUE(is<decision::wait_more>(decide_first_bytes(bytes_in(std::string_view("\x16", 1)))));
}

TEST(FirstBytes, SilenceGetsTheReportAtOnceUnlessItLooksLikeABrowsersSpare) {
  auto silent = decide_first_bytes(bytes_in("", arrival::silence));
  ASSERT_TRUE(is<decision::report>(silent));
  EXPECT_TRUE(std::get<decision::report>(silent).silent);
  first_bytes_input spare = bytes_in("", arrival::silence);
  spare.spare = true;
  EXPECT_TRUE(is<decision::wait_as_spare>(decide_first_bytes(spare)));
  // A prefix that stopped ("GE", then silence) is a raw client's line: the report.
  first_bytes_input prefix = bytes_in("GE", arrival::silence);
  prefix.spare = true;
  EXPECT_TRUE(is<decision::report>(decide_first_bytes(prefix)));
}

TEST(FirstBytes, TheClientsFinGetsTheReport) {
  auto d = decide_first_bytes(bytes_in("", arrival::end));
  ASSERT_TRUE(is<decision::report>(d));
  EXPECT_FALSE(std::get<decision::report>(d).silent);
}

TEST(FirstBytes, DemoClientsHelloAndAWholeLineOfGarbageAreAnsweredAtOnce) {
  EXPECT_TRUE(is<decision::answer_line>(decide_first_bytes(bytes_in(client_hello))));
  EXPECT_TRUE(is<decision::answer_line>(decide_first_bytes(bytes_in(client_hello_hold))));
  EXPECT_TRUE(is<decision::answer_line>(decide_first_bytes(bytes_in(std::string_view("\x00\xff\x1b[2J\n", 7)))));
}

TEST(FirstBytes, DemoClientsHelloWithItsViewIsAnsweredAtOnceAndAViewBegunWaits) {
  const std::string view = render_client_view({{"10.0.1.2", 51234}, {"10.0.0.1", 8081}});
  const std::string whole = std::string(client_hello) + view;
  EXPECT_TRUE(is<decision::answer_line>(decide_first_bytes(bytes_in(whole))));
  EXPECT_TRUE(is<decision::answer_line>(decide_first_bytes(bytes_in(std::string(client_hello_hold) + view))));
  // Split anywhere inside the view line: the rest is waited for, within the same deadline.
  for (std::size_t n = client_hello.size() + 1; n < whole.size(); ++n)
    EXPECT_TRUE(is<decision::wait_more>(decide_first_bytes(bytes_in(std::string_view(whole).substr(0, n))))) << n;
  // Not a view: the report path collects the line as before.
  EXPECT_TRUE(is<decision::report>(decide_first_bytes(bytes_in(std::string(client_hello) + "x\n"))));
  EXPECT_TRUE(is<decision::report>(decide_first_bytes(bytes_in(whole + "more"))));
  EXPECT_TRUE(is<decision::report>(decide_first_bytes(bytes_in("hello\n" + view))));
}

TEST(FirstBytes, AProxyPortTakesItsHeaderFirst) {
  const auto proxied = [](std::string_view bytes, arrival what = arrival::bytes) {
    first_bytes_input in = bytes_in(bytes, what);
    in.proxy_header_due = true;
    return decide_first_bytes(in);
  };
  auto d = proxied("PROXY TCP4 10.1.2.3 10.0.0.1 40000 80\r\nGET / HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(is<decision::proxy_header>(d));
  const proxy_header& header = std::get<decision::proxy_header>(d).header;
  EXPECT_EQ(header.length, 39u);
  EXPECT_EQ(header.source, (endpoint{"10.1.2.3", 40000}));
  EXPECT_TRUE(is<decision::wait_more>(proxied("PROXY TCP4 10.1")));
  EXPECT_TRUE(is<decision::wait_more>(proxied("")));
  // Anything else first: refused at once, whatever it is.
  for (std::string_view other : {std::string_view(simple_get), client_hello}) {
    auto refused = proxied(other);
    ASSERT_TRUE(is<decision::refuse_proxy>(refused));
    EXPECT_EQ(std::get<decision::refuse_proxy>(refused).code, "missing");
  }
  auto silent = proxied("", arrival::silence);
  ASSERT_TRUE(is<decision::refuse_proxy>(silent));
  EXPECT_EQ(std::get<decision::refuse_proxy>(silent).code, "missing");
  auto cut = proxied("PROXY TCP4 10.1", arrival::end);
  ASSERT_TRUE(is<decision::refuse_proxy>(cut));
  EXPECT_EQ(std::get<decision::refuse_proxy>(cut).code, "incomplete");
  EXPECT_EQ(std::get<decision::refuse_proxy>(cut).reason, "the PROXY header stopped after 15 bytes, and the client closed");
  // Not a proxy port: the same header is a raw client's line, never believed.
  EXPECT_TRUE(is<decision::answer_line>(decide_first_bytes(bytes_in("PROXY TCP4 10.1.2.3 10.0.0.1 40000 80\n"))));
}

TEST(FirstBytes, GarbageWithoutANewlineOrWithMoreAfterItIsCollectedByTheReport) {
  EXPECT_TRUE(is<decision::report>(decide_first_bytes(bytes_in("xyz"))));
  EXPECT_TRUE(is<decision::report>(decide_first_bytes(bytes_in("one\ntwo\n"))));
  first_bytes_input longer = bytes_in("0123456789\n");
  longer.max_line = 8;
  EXPECT_TRUE(is<decision::report>(decide_first_bytes(longer)));
}

TEST(FirstBytes, RequestsThatAreNotSimpleGetACoroutine) {
  // Pipelined, a body, the board's stream, a TLS port, a stopping server.
  const std::string two = std::string(simple_get) + std::string(simple_get);
  EXPECT_TRUE(is<decision::serve_http>(decide_first_bytes(bytes_in(two))));
  EXPECT_TRUE(is<decision::serve_http>(
      decide_first_bytes(bytes_in("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n"))));
  EXPECT_TRUE(is<decision::serve_http>(
      decide_first_bytes(bytes_in("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"))));
  EXPECT_TRUE(is<decision::serve_http>(decide_first_bytes(bytes_in("GET /events HTTP/1.1\r\nHost: x\r\n\r\n"))));
  first_bytes_input tls_port = bytes_in(simple_get);
  tls_port.tls_port = true;
  EXPECT_TRUE(is<decision::serve_http>(decide_first_bytes(tls_port)));
  first_bytes_input stopping = bytes_in(simple_get);
  stopping.stopping = true;
  EXPECT_TRUE(is<decision::serve_http>(decide_first_bytes(stopping)));
  // A head that fails to parse is answered (400) by the coroutine, from the parser given.
  auto bad = decide_first_bytes(bytes_in("GET /\r\n\r\n"));
  ASSERT_TRUE(is<decision::serve_http>(bad));
  EXPECT_EQ(std::get<decision::serve_http>(bad).parser.current(), request_parser::state::failed);
}

TEST(FirstBytes, ContentLengthZeroIsNoBody) {
  EXPECT_TRUE(is<decision::answer_http>(
      decide_first_bytes(bytes_in("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"))));
}

TEST(Spare, OnlyHttpFromTheSameAddressNearTheAcceptMakesASpare) {
  const auto accepted = clock::now();
  EXPECT_FALSE(looks_like_spare(accepted, nullptr));
  const auto just_before = accepted - 20ms;
  EXPECT_TRUE(looks_like_spare(accepted, &just_before));
  const auto during = accepted + 150ms;  // a request on another connection while this one waits
  EXPECT_TRUE(looks_like_spare(accepted, &during));
  const auto long_before = accepted - spare_window - 1ms;
  EXPECT_FALSE(looks_like_spare(accepted, &long_before));
}

// ---- loopback plumbing ------------------------------------------------------------------------

// A connected pair on loopback: `client` is ours, `server_fd` is as accept4 gives it.
struct loopback_pair {
  loopback_pair() {
    listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listener, 8), 0);
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
    client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    server_fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    EXPECT_GE(server_fd, 0);
    ::close(listener);
  }
  ~loopback_pair() {
    if (client >= 0) ::close(client);
  }
  void send(std::string_view bytes) const {
    ASSERT_EQ(::send(client, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }
  // Everything the server sent until its FIN (or `wait` passed).
  std::string read_all(std::chrono::milliseconds wait = 2000ms) const {
    timeval tv{static_cast<time_t>(wait.count() / 1000), static_cast<suseconds_t>(wait.count() % 1000 * 1000)};
    ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string out;
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      out.append(buffer, static_cast<std::size_t>(n));
    }
    return out;
  }
  void reset() {
    linger l{1, 0};
    ::setsockopt(client, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(client);
    client = -1;
  }
  void close_client() {
    ::close(client);
    client = -1;
  }
  int listener = -1;
  int client = -1;
  int server_fd = -1;
};

// A server context with nothing but what connections need, its log going to a temporary file.
struct server_under_test {
  server_under_test()
      : log(std::tmpfile()),
        out(output_format::json, host_facts{}, false, log),
        sink(out, io.get_executor(), false),
        ctx(sink, facts, io.get_executor(), server_limits{}),
        room(ctx) {
    ctx.room = &room;
  }
  ~server_under_test() { std::fclose(log); }

  connection_ptr accept(loopback_pair& pair, bool tls_port = false, bool proxy_port = false) {
    connection_facts f;
    f.id = next_id++;
    f.tuple = {{"127.0.0.1", 1}, {"127.0.0.1", 2}};
    f.tls_port = tls_port;
    f.proxy_port = proxy_port;
    f.accepted_at = clock::now();
    return std::make_unique<connection>(ctx.table, pair.server_fd, tcp::v4(), std::move(f), io.get_executor());
  }
  // Runs the event loop until `done` or `limit` passes.
  template <typename Done>
  bool run_until(Done done, std::chrono::milliseconds limit = 3000ms) {
    const auto until = clock::now() + limit;
    while (!done() && clock::now() < until) {
      io.restart();
      io.run_for(10ms);
    }
    return done();
  }
  std::string logged() {
    out.flush();
    std::fflush(log);
    std::rewind(log);
    std::string text;
    char buffer[4096];
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, log)) text.append(buffer, n);
    return text;
  }

  asio::io_context io{1};
  std::FILE* log;
  host_facts facts;
  reporter out;
  event_sink sink;
  server_context ctx;
  waiting_room room;
  std::uint64_t next_id = 1;
};

// ---- the connection table: every path back to zero --------------------------------------------

TEST(ConnectionTable, AQuickAnswerClosesAndCountsOut) {
  server_under_test s;
  loopback_pair pair;
  auto c = s.accept(pair);
  EXPECT_EQ(s.ctx.table.open(), 1u);
  // As the accept path does: the bytes read at once go to the decision.
  const std::string_view request = "GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  pair.send(request);
  char drained[256];
  ASSERT_EQ(::recv(pair.server_fd, drained, sizeof drained, 0), static_cast<ssize_t>(request.size()));
  first_bytes_arrived(std::move(c), s.ctx, arrival::bytes, request);
  EXPECT_EQ(s.ctx.table.open(), 0u);  // answered and closed without the event loop
  EXPECT_EQ(s.ctx.table.peak(), 1u);
  EXPECT_TRUE(pair.read_all().starts_with("HTTP/1.1 200 OK\r\n"));
}

TEST(ConnectionTable, AKeptAliveConnectionParksAndCountsOutWhenTheClientCloses) {
  server_under_test s;
  loopback_pair pair;
  auto c = s.accept(pair);
  first_bytes_arrived(std::move(c), s.ctx, arrival::bytes, simple_get);
  EXPECT_EQ(s.ctx.table.open(), 1u);  // parked for the next request
  // The next request on it, answered from the parked wait, then the client goes.
  pair.send("GET /json HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string got;
  ASSERT_TRUE(s.run_until([&] {
    char buffer[8192];
    const ssize_t n = ::recv(pair.client, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) got.append(buffer, static_cast<std::size_t>(n));
    return got.find("\"request\":2") != std::string::npos;
  }));
  pair.close_client();
  EXPECT_TRUE(s.run_until([&] { return s.ctx.table.open() == 0; }));
}

TEST(ConnectionTable, TheWaitingRoomThenALineThenClosed) {
  server_under_test s;
  loopback_pair pair;
  wait_for_first_bytes(s.accept(pair), s.ctx);
  EXPECT_EQ(s.room.size(), 1u);
  EXPECT_EQ(s.ctx.table.open(), 1u);
  pair.send(client_hello);
  ASSERT_TRUE(s.run_until([&] { return s.ctx.table.open() == 0; }));
  EXPECT_EQ(s.room.size(), 0u);
  EXPECT_TRUE(pair.read_all().starts_with("{\"event\":\"server_view\""));
}

TEST(ConnectionTable, APrefixWaitsOnInTheRoomThenTheRestComes) {
  server_under_test s;
  loopback_pair pair;
  wait_for_first_bytes(s.accept(pair), s.ctx);
  pair.send("GE");
  s.run_until([] { return false; }, 50ms);  // "GE" read, kept; back in the room
  EXPECT_EQ(s.room.size(), 1u);
  EXPECT_EQ(s.ctx.table.open(), 1u);
  pair.send("T /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(s.run_until([&] { return s.ctx.table.open() == 0; }));
  EXPECT_TRUE(pair.read_all().starts_with("HTTP/1.1 200 OK\r\n"));
}

TEST(ConnectionTable, SilenceInTheRoomGetsTheReportAndCountsOut) {
  server_under_test s;
  loopback_pair pair;
  const auto started = clock::now();
  wait_for_first_bytes(s.accept(pair), s.ctx);
  ASSERT_TRUE(s.run_until([&] { return s.ctx.table.open() == 0; }));
  EXPECT_LT(clock::now() - started, 1s);
  EXPECT_TRUE(pair.read_all().starts_with("portdemo: your connection #1"));
}

TEST(ConnectionTable, SilenceWhenTheRoomIsFullParksAndGetsTheReport) {
  server_under_test s;
  loopback_pair pair;
  s.ctx.room = nullptr;  // no room: the parked wait
  wait_for_first_bytes(s.accept(pair), s.ctx);
  EXPECT_EQ(s.ctx.table.open(), 1u);
  ASSERT_TRUE(s.run_until([&] { return s.ctx.table.open() == 0; }));
  EXPECT_TRUE(pair.read_all().starts_with("portdemo: your connection #1"));
}

TEST(ConnectionTable, AProxyHeaderThenTheHelloIsAnsweredWithTheClaimAndCountsOut) {
  server_under_test s;
  loopback_pair pair;
  first_bytes_arrived(s.accept(pair, false, true), s.ctx, arrival::bytes,
                      "PROXY TCP4 10.1.2.3 10.0.0.1 40000 80\r\nportdemo-hello 1\n");
  ASSERT_TRUE(s.run_until([&] { return s.ctx.table.open() == 0; }));
  EXPECT_EQ(pair.read_all(),
            R"({"event":"server_view","proto":"tcp","id":1,"local":{"address":"127.0.0.1","port":1},)"
            R"("remote":{"address":"127.0.0.1","port":2},"proxy":{"version":1,"command":"proxy",)"
            R"("source":{"address":"10.1.2.3","port":40000},"destination":{"address":"10.0.0.1","port":80}}})"
            "\n");
  EXPECT_NE(s.logged().find(R"("event":"proxied")"), std::string::npos);
}

TEST(ConnectionTable, AProxyPortRefusesAMissingHeaderAndCountsOut) {
  server_under_test s;
  loopback_pair pair;
  first_bytes_arrived(s.accept(pair, false, true), s.ctx, arrival::bytes, "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(s.ctx.table.open(), 0u);  // closed at once
  EXPECT_EQ(pair.read_all(), "");
  // Silence on a proxy port: the header never came.
  loopback_pair quiet;
  wait_for_first_bytes(s.accept(quiet, false, true), s.ctx);
  ASSERT_TRUE(s.run_until([&] { return s.ctx.table.open() == 0; }));
  EXPECT_EQ(quiet.read_all(), "");
  const std::string log = s.logged();
  EXPECT_NE(log.find(R"("event":"proxy_refused","id":1)"), std::string::npos) << log;
  EXPECT_NE(log.find(R"("event":"proxy_refused","id":2)"), std::string::npos) << log;
}

TEST(ConnectionTable, AResetInTheRoomCountsOut) {
  server_under_test s;
  loopback_pair pair;
  wait_for_first_bytes(s.accept(pair), s.ctx);
  pair.reset();
  EXPECT_TRUE(s.run_until([&] { return s.ctx.table.open() == 0; }));
}

TEST(ConnectionTable, AResetMidRequestInACoroutineCountsOut) {
  server_under_test s;
  loopback_pair pair;
  first_bytes_arrived(s.accept(pair), s.ctx, arrival::bytes, "GET / HTTP/1.1\r\n");
  EXPECT_EQ(s.ctx.table.open(), 1u);
  s.run_until([] { return false; }, 50ms);
  pair.reset();
  EXPECT_TRUE(s.run_until([&] { return s.ctx.table.open() == 0; }));
}

TEST(ConnectionTable, AHeldConnectionParksUntilTheClientCloses) {
  server_under_test s;
  loopback_pair pair;
  first_bytes_arrived(s.accept(pair), s.ctx, arrival::bytes, client_hello_hold);
  s.run_until([] { return false; }, 50ms);
  EXPECT_EQ(s.ctx.table.open(), 1u);
  pair.close_client();
  EXPECT_TRUE(s.run_until([&] { return s.ctx.table.open() == 0; }));
}

TEST(ConnectionTable, ATlsHandshakeWithoutACertificateCloses) {
  server_under_test s;
  loopback_pair pair;
  first_bytes_arrived(s.accept(pair, true), s.ctx, arrival::bytes, std::string_view("\x16\x03\x01\x00\x05", 5));
  EXPECT_TRUE(s.run_until([&] { return s.ctx.table.open() == 0; }));
}

TEST(ConnectionTable, ASpareIsClosedQuietlyAtShutdownAndTheRestAreCut) {
  server_under_test s;
  loopback_pair spare_pair;
  loopback_pair waiting_pair;
  loopback_pair begun_pair;
  park(s.accept(spare_pair), s.ctx, phase::spare);
  wait_for_first_bytes(s.accept(waiting_pair), s.ctx);
  first_bytes_arrived(s.accept(begun_pair), s.ctx, arrival::bytes, "GET / HTTP/1.1\r\n");
  EXPECT_EQ(s.ctx.table.open(), 3u);
  s.ctx.stopping = true;
  s.ctx.table.close_idle();  // the spare: idle
  ASSERT_TRUE(s.run_until([&] { return s.ctx.table.open() == 2; }));
  EXPECT_EQ(spare_pair.read_all(), "");  // nothing unasked
  std::vector<std::uint64_t> cut;
  EXPECT_EQ(s.ctx.table.cut([&](const connection& c) { cut.push_back(c.facts.id); }), 2u);
  EXPECT_EQ(cut.size(), 2u);
  EXPECT_TRUE(s.run_until([&] { return s.ctx.table.open() == 0; }));
}

TEST(ConnectionTable, TheCountGoesDownInOnePlaceAndTheCallbackHearsIt) {
  asio::io_context io;
  timeouts deadlines(io.get_executor(), {});
  connection_table table(deadlines);
  int closed = 0;
  table.on_closed([&] { ++closed; });
  {
    loopback_pair a;
    loopback_pair b;
    auto one = std::make_unique<connection>(table, a.server_fd, tcp::v4(), connection_facts{}, io.get_executor());
    auto two = std::make_unique<connection>(table, b.server_fd, tcp::v4(), connection_facts{}, io.get_executor());
    EXPECT_EQ(table.open(), 2u);
    EXPECT_TRUE(two->adopt());
    one.reset();
    EXPECT_EQ(table.open(), 1u);
    two.reset();
  }
  EXPECT_EQ(table.open(), 0u);
  EXPECT_EQ(table.peak(), 2u);
  EXPECT_EQ(closed, 2);
}

// ---- the deadline lists -----------------------------------------------------------------------

TEST(Timeouts, EachKindFiresInOrderAndADisarmedOneNever) {
  asio::io_context io;
  timeouts t(io.get_executor(), {20ms, 60ms, 1h, 1h, 1h, 1h, 1h});
  loopback_pair a;
  loopback_pair b;
  loopback_pair c;
  tcp::socket sa(io, tcp::v4(), a.server_fd);
  tcp::socket sb(io, tcp::v4(), b.server_fd);
  tcp::socket sc(io, tcp::v4(), c.server_fd);
  watched wa(sa), wb(sb), wc(sc);
  std::vector<char> fired;
  // A hook, as the waiting room is: the owner says which one fired.
  struct recorder final : expiry_hook {
    std::vector<char>* order = nullptr;
    void expired(watched& w) override {
      EXPECT_TRUE(w.expired);
      order->push_back(*static_cast<const char*>(w.owner));
    }
  } hook;
  hook.order = &fired;
  static const char A = 'a', B = 'b', C = 'c';
  for (auto [w, name] : {std::pair{&wa, &A}, std::pair{&wb, &B}, std::pair{&wc, &C}}) {
    w->hook = &hook;
    w->owner = const_cast<char*>(name);
  }
  t.arm(wb, wait_kind::request);      // 60 ms
  t.arm(wa, wait_kind::first_bytes);  // 20 ms
  t.arm(wc, wait_kind::first_bytes);  // 20 ms, after a
  t.disarm(wc);
  io.run_for(200ms);
  EXPECT_EQ(std::string(fired.begin(), fired.end()), "ab");
  EXPECT_FALSE(wc.expired);
  t.arm_if_unarmed(wc, wait_kind::first_bytes);
  t.arm_if_unarmed(wc, wait_kind::request);  // armed already: stays first_bytes
  io.restart();
  io.run_for(40ms);
  EXPECT_EQ(std::string(fired.begin(), fired.end()), "abc");
}

TEST(Timeouts, WithoutAHookTheSocketsWaitIsCancelled) {
  asio::io_context io;
  timeouts t(io.get_executor(), {20ms, 1h, 1h, 1h, 1h, 1h, 1h});
  loopback_pair a;
  tcp::socket s(io, tcp::v4(), a.server_fd);
  watched w(s);
  std::error_code got;
  bool done = false;
  s.async_wait(tcp::socket::wait_read, [&](const std::error_code& ec) {
    got = ec;
    done = true;
  });
  t.arm(w, wait_kind::first_bytes);
  io.run_for(500ms);
  ASSERT_TRUE(done);
  EXPECT_EQ(got, asio::error::operation_aborted);
  EXPECT_TRUE(w.expired);
}

// ---- prefixed_socket --------------------------------------------------------------------------

TEST(PrefixedSocket, ReadsThePrefixThenTheSocket) {
  asio::io_context io;
  loopback_pair pair;
  tcp::socket s(io, tcp::v4(), pair.server_fd);
  prefixed_socket p(s, "hello ");
  pair.send("world");
  std::string got(11, '\0');
  std::error_code ec;
  std::size_t n = 0;
  asio::async_read(p, asio::buffer(got), [&](const std::error_code& e, std::size_t k) {
    ec = e;
    n = k;
  });
  io.run_for(1s);
  EXPECT_FALSE(ec);
  EXPECT_EQ(n, 11u);
  EXPECT_EQ(got, "hello world");
}

TEST(PrefixedSocket, APrefixLongerThanTheBufferIsReadInPiecesNeverInsideTheCall) {
  asio::io_context io;
  loopback_pair pair;
  tcp::socket s(io, tcp::v4(), pair.server_fd);
  prefixed_socket p(s, "abcdef");
  char buffer[4];
  std::size_t first = 0;
  bool called = false;
  p.async_read_some(asio::buffer(buffer), [&](const std::error_code&, std::size_t k) {
    called = true;
    first = k;
  });
  EXPECT_FALSE(called);  // completed through the event loop, as Asio's own operations
  io.run_for(100ms);
  EXPECT_TRUE(called);
  EXPECT_EQ(first, 4u);
  EXPECT_EQ(std::string_view(buffer, 4), "abcd");
  std::size_t second = 0;
  p.async_read_some(asio::buffer(buffer), [&](const std::error_code&, std::size_t k) { second = k; });
  io.restart();
  io.run_for(100ms);
  EXPECT_EQ(second, 2u);
  EXPECT_EQ(std::string_view(buffer, 2), "ef");
}

}  // namespace
}  // namespace portdemo::server

// Ten thousand idle connections are ten thousand of these (bench.sh d): the old layout's parked
// connection was 304 bytes; this one keeps its rare parts (kept bytes, a PROXY claim) behind one pointer.
TEST(ConnectionSize, NoLargerThanTheOldParkedConnection) {
  EXPECT_LE(sizeof(portdemo::server::watched), 56u);
  EXPECT_LE(sizeof(portdemo::server::connection), 296u);
}
