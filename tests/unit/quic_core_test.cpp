// The QUIC core (server/quic_core.hpp) with no socket: in-memory HTTP/3 clients of ngtcp2 and
// nghttp3 (quic_test_peer.hpp) talk to it through datagrams the test carries, on a clock the
// test moves. The handshake and its event, requests and their streams, the header limits, a
// NAT rebinding, the idle timeout, the shutdown, the cap, garbage and Version Negotiation.

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <unordered_map>
#include <variant>
#include <vector>

#include "quic_core.hpp"
#include "quic_test_peer.hpp"

namespace portdemo::server {
namespace {

using namespace std::chrono_literals;

const std::pair<std::string, std::string>& certificate() {
  static const auto pem = test::make_certificate();
  return pem;
}

udp_address address(const std::string& text, std::uint16_t port) { return udp_address::parse(text, port); }

// The core with hooks that record what it does, and clients to talk to it.
class world {
 public:
  explicit world(quic_limits limits = {}) {
    quic_hooks hooks{
        [this](const quic_path& path, std::span<const std::uint8_t> bytes) {
          sent.push_back({path, std::vector<std::uint8_t>(bytes.begin(), bytes.end())});
        },
        [this](const quic_request& r) {
          requests.push_back(r);
          http_response response;
          response.content_type = "text/plain";
          response.body = r.error ? std::string("refused") : "answer to " + r.head.target;
          response.status = r.error ? static_cast<int>(*r.error) : 200;
          return response;
        },
        [this](quic_event e) { events.push_back(std::move(e)); },
        [this](std::uint64_t id, std::optional<quic_time> at) {
          if (at) timers[id] = *at;
          else timers.erase(id);
        },
        [this] { return next_id++; },
        // GET /events: a body that goes on (the board's event stream), fed by the test.
        [this](const quic_request& r) -> std::optional<quic_answer> {
          if (r.head.target != "/events") return std::nullopt;
          requests.push_back(r);
          quic_answer a;
          a.response.content_type = "text/event-stream";
          a.response.body = "retry: 2000\n\n";
          a.goes_on = true;
          return a;
        },
        [this](std::uint64_t id, std::int64_t stream) { unfollowed.push_back({id, stream}); },
    };
    core = std::make_unique<quic_core>(certificate().first, certificate().second, limits, std::move(hooks));
  }

  test::test_client& client(std::uint16_t port = 50000) {
    clients.push_back(std::make_unique<test::test_client>(address("127.0.0.1", port), server_address, now));
    return *clients.back();
  }

  // One round: every client's datagrams to the core, the core's to the clients they are
  // addressed to, the timers that are due; the clock moves 1 ms.
  void round(bool clients_speak = true) {
    now += 1ms;
    if (clients_speak) {
      for (auto& c : clients) {
        if (silent(*c)) continue;
        c->tick(now);
        c->write(now);
        for (auto& d : c->outbox()) core->receive({server_address, c->wire(), 0}, d, now);
        c->outbox().clear();
      }
    }
    std::vector<std::pair<quic_path, std::vector<std::uint8_t>>> out;
    out.swap(sent);
    for (auto& [path, bytes] : out) {
      delivered.push_back({path, bytes});
      for (auto& c : clients)
        if (c->wire() == path.remote && !silent(*c)) c->read(bytes, now);
    }
    std::vector<std::uint64_t> due;
    for (auto& [id, at] : timers)
      if (at <= now) due.push_back(id);
    for (std::uint64_t id : due) core->expire(id, now);
  }

  // Rounds until both ends have finished the handshake.
  bool connect(test::test_client& c) {
    const std::size_t before = of<quic_connected_event>().size();
    return run([&] { return c.ready() && of<quic_connected_event>().size() > before; });
  }

  // Rounds until `done` holds (at most `limit`).
  template <typename Done>
  bool run(Done done, int limit = 500, bool clients_speak = true) {
    for (int i = 0; i < limit; ++i) {
      if (done()) return true;
      round(clients_speak);
    }
    return done();
  }

  template <typename Event>
  std::vector<Event> of() const {
    std::vector<Event> out;
    for (const auto& e : events)
      if (auto* x = std::get_if<Event>(&e)) out.push_back(*x);
    return out;
  }

  bool silent(const test::test_client& c) const {
    return std::find(muted.begin(), muted.end(), &c) != muted.end();
  }

  udp_address server_address = address("127.0.0.1", 4433);
  quic_time now{1'000'000'000};
  std::uint64_t next_id = 1;
  std::unique_ptr<quic_core> core;
  std::vector<std::unique_ptr<test::test_client>> clients;
  std::vector<const test::test_client*> muted;
  std::vector<std::pair<quic_path, std::vector<std::uint8_t>>> sent;
  std::vector<std::pair<quic_path, std::vector<std::uint8_t>>> delivered;
  std::vector<quic_request> requests;
  std::vector<std::pair<std::uint64_t, std::int64_t>> unfollowed;
  std::vector<quic_event> events;
  std::unordered_map<std::uint64_t, quic_time> timers;
};

TEST(UdpAddress, ParsesPrintsAndCompares) {
  const udp_address v4 = udp_address::parse("127.0.0.1", 8443);
  const udp_address v6 = udp_address::parse("::1", 8443);
  EXPECT_EQ(v4.to_endpoint(), (endpoint{"127.0.0.1", 8443}));
  EXPECT_EQ(v6.to_endpoint(), (endpoint{"::1", 8443}));
  EXPECT_TRUE(v4 == udp_address::parse("127.0.0.1", 8443));
  EXPECT_FALSE(v4 == udp_address::parse("127.0.0.1", 8444));
  EXPECT_FALSE(v4 == v6);
  EXPECT_EQ(udp_address::parse("localhost", 1).length, 0u);
  EXPECT_EQ(udp_address::from(v6.get(), v6.length).to_endpoint(), v6.to_endpoint());
}

TEST(QuicNames, HexAndVersions) {
  const std::uint8_t id[] = {0x00, 0x5a, 0xff, 0x10};
  EXPECT_EQ(to_hex(id), "005aff10");
  EXPECT_EQ(to_hex({}), "");
  EXPECT_EQ(quic_version_text(1), "0x00000001");
  EXPECT_EQ(quic_version_text(0x6b3343cf), "0x6b3343cf");
}

TEST(QuicCore, RefusesACertificateItCannotUse) {
  quic_core core("not a certificate", "not a key", {}, {});
  EXPECT_NE(core.error(), "");
  core.receive({}, std::vector<std::uint8_t>(1200, 0xc0), quic_time(1));  // does nothing
  EXPECT_EQ(core.open(), 0u);
}

TEST(QuicCore, HandshakeRequestsAndTheirStreams) {
  world w;
  ASSERT_EQ(w.core->error(), "");
  test::test_client& c = w.client();
  ASSERT_TRUE(w.connect(c));
  const auto connected = w.of<quic_connected_event>();
  ASSERT_EQ(connected.size(), 1u);
  EXPECT_EQ(connected[0].id, 1u);
  EXPECT_EQ(connected[0].tuple, (socket_tuple{{"127.0.0.1", 4433}, {"127.0.0.1", 50000}}));
  EXPECT_EQ(connected[0].client_cid, c.scid());
  EXPECT_EQ(connected[0].server_cid.size(), quic_core::cid_length * 2);
  EXPECT_EQ((connected[0].version + " " + connected[0].alpn), "0x00000001 h3");
  EXPECT_EQ(w.core->open(), 1u);

  const std::int64_t a = c.get("/json");
  const std::int64_t b = c.get("/");
  const std::int64_t d = c.get("/x", {}, "HEAD");
  EXPECT_EQ(std::vector<std::int64_t>({a, b, d}), std::vector<std::int64_t>({0, 4, 8}));
  ASSERT_TRUE(w.run([&] { return c.responses()[a].done && c.responses()[b].done && c.responses()[d].done; }));
  ASSERT_EQ(w.requests.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    const quic_request& r = w.requests[i];
    EXPECT_EQ(r.id, 1u);
    EXPECT_EQ(r.number, i + 1);
    EXPECT_EQ(r.stream, static_cast<std::int64_t>(4 * i));
    EXPECT_EQ(r.tuple, connected[0].tuple);
    EXPECT_EQ(r.tls.version, "TLSv1.3");
    EXPECT_TRUE(r.tls.cipher.starts_with("TLS_")) << r.tls.cipher;
    ASSERT_NE(r.quic, nullptr);
    EXPECT_EQ(r.quic->server_cid, connected[0].server_cid);
    EXPECT_FALSE(r.error);
  }
  EXPECT_EQ(w.requests[0].head.target, "/json");
  EXPECT_EQ(w.requests[0].head.method, "GET");
  // :authority becomes Host, as HTTP/1.1 has it.
  ASSERT_NE(w.requests[0].head.header("Host"), nullptr);
  EXPECT_EQ(*w.requests[0].head.header("Host"), "localhost:4433");
  EXPECT_EQ(c.responses()[a].status, 200);
  EXPECT_EQ(c.responses()[a].body, "answer to /json");
  EXPECT_EQ(c.responses()[b].body, "answer to /");
  EXPECT_EQ(c.responses()[d].body, "") << "HEAD got a body";
}

// The board's event stream over HTTP/3: the head and first bytes at once, more as the server
// sends them, each piece let go once acknowledged, the end when the server says so; a stream
// the client abandons (its connection closes) is reported as gone, and sending to it fails.
TEST(QuicCore, ABodyThatGoesOnUntilTheServerEndsIt) {
  world w;
  test::test_client& c = w.client();
  ASSERT_TRUE(w.connect(c));
  const std::int64_t s = c.get("/events");
  ASSERT_TRUE(w.run([&] { return c.responses()[s].body == "retry: 2000\n\n"; }));
  EXPECT_EQ(c.responses()[s].status, 200);
  EXPECT_FALSE(c.responses()[s].done);
  ASSERT_EQ(w.requests.size(), 1u);
  const std::uint64_t id = w.requests[0].id;
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(w.core->send_body(id, s, "data: " + std::to_string(i) + "\n\n", w.now));
    EXPECT_GT(w.core->unacked(id, s), 0u);
  }
  const std::string all = "retry: 2000\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\n";
  ASSERT_TRUE(w.run([&] { return c.responses()[s].body.size() >= all.size(); }));
  EXPECT_EQ(c.responses()[s].body, all);
  EXPECT_FALSE(c.responses()[s].done);
  // Acknowledged, every piece is let go.
  ASSERT_TRUE(w.run([&] { return w.core->unacked(id, s) == 0; }));
  // Other requests ride the same connection meanwhile.
  const std::int64_t j = c.get("/json");
  ASSERT_TRUE(w.run([&] { return c.responses()[j].done; }));
  EXPECT_EQ(c.responses()[j].body, "answer to /json");
  w.core->end_body(id, s, w.now);
  ASSERT_TRUE(w.run([&] { return c.responses()[s].done; }));
  EXPECT_EQ(c.responses()[s].body, all);
  ASSERT_TRUE(w.run([&] { return w.unfollowed.size() == 1; }));
  EXPECT_EQ(w.unfollowed[0], (std::pair<std::uint64_t, std::int64_t>{id, s}));
  EXPECT_FALSE(w.core->send_body(id, s, "late\n", w.now)) << "a stream ended takes no more";
  EXPECT_EQ(w.core->unacked(id, s), 0u);
}

TEST(QuicCore, AFollowedStreamIsGoneWithItsConnection) {
  quic_limits limits;
  limits.idle_timeout = 300ms;
  world w(limits);
  test::test_client& c = w.client();
  ASSERT_TRUE(w.connect(c));
  const std::int64_t s = c.get("/events");
  ASSERT_TRUE(w.run([&] { return !c.responses()[s].body.empty(); }));
  const std::uint64_t id = w.requests.at(0).id;
  // The client goes silent (a closed laptop): the idle timeout ends the connection.
  w.muted.push_back(&c);
  ASSERT_TRUE(w.run([&] { return !w.unfollowed.empty(); }, 2000));
  EXPECT_EQ(w.unfollowed[0], (std::pair<std::uint64_t, std::int64_t>{id, s}));
  EXPECT_FALSE(w.core->send_body(id, s, "data: x\n\n", w.now));
  EXPECT_EQ(w.core->open(), 0u);
}

TEST(QuicCore, HeaderLimitsAnswer431And414) {
  quic_limits limits;
  limits.head.header_lines = 3;
  limits.head.request_line = 64;
  world w(limits);
  test::test_client& c = w.client();
  ASSERT_TRUE(w.connect(c));
  const std::int64_t many = c.get("/", {{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}});
  const std::int64_t three = c.get("/", {{"a", "1"}, {"b", "2"}});  // with Host: 3 lines
  const std::int64_t longer = c.get("/" + std::string(100, 'x'));
  ASSERT_TRUE(w.run([&] { return c.responses()[many].done && c.responses()[three].done && c.responses()[longer].done; }));
  ASSERT_EQ(w.requests.size(), 3u);
  EXPECT_EQ(w.requests[0].error, http_error::headers_too_large);
  EXPECT_FALSE(w.requests[1].error);
  EXPECT_EQ(w.requests[2].error, http_error::uri_too_long);
  EXPECT_EQ(c.responses()[many].status, 431);
  EXPECT_EQ(c.responses()[longer].status, 414);
}

TEST(QuicCore, ANatRebindingKeepsTheConnectionAndSaysSo) {
  world w;
  test::test_client& c = w.client(50000);
  ASSERT_TRUE(w.connect(c));
  const std::int64_t first = c.get("/json");
  ASSERT_TRUE(w.run([&] { return c.responses()[first].done; }));
  // The NAT in between gives the client a new port; the client does not know.
  c.wire() = address("127.0.0.1", 50001);
  const std::int64_t second = c.get("/json");
  ASSERT_TRUE(w.run([&] { return c.responses()[second].done; }));
  const auto moved = w.of<quic_migrated_event>();
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_EQ(moved[0].from, (socket_tuple{{"127.0.0.1", 4433}, {"127.0.0.1", 50000}}));
  EXPECT_EQ(moved[0].to, (socket_tuple{{"127.0.0.1", 4433}, {"127.0.0.1", 50001}}));
  EXPECT_EQ(moved[0].migrations, 1u);
  ASSERT_EQ(w.requests.size(), 2u);
  EXPECT_EQ(w.requests[1].tuple.remote, (endpoint{"127.0.0.1", 50001}));
  ASSERT_NE(w.requests[1].quic, nullptr);
  EXPECT_EQ(w.requests[1].quic->migrations, 1u);
  ASSERT_TRUE(w.requests[1].quic->first_tuple);
  EXPECT_EQ(w.requests[1].quic->first_tuple->remote, (endpoint{"127.0.0.1", 50000}));
  EXPECT_EQ(w.core->open(), 1u);
  // Every datagram after the move went to the new port.
  EXPECT_EQ(w.delivered.back().first.remote.to_endpoint(), (endpoint{"127.0.0.1", 50001}));
}

TEST(QuicCore, ASilentClientIsClosedByTheIdleTimeout) {
  quic_limits limits;
  limits.idle_timeout = 1000ms;
  world w(limits);
  test::test_client& c = w.client();
  ASSERT_TRUE(w.connect(c));
  for (int i = 0; i < 20; ++i) w.round();  // the last acknowledgements
  w.muted.push_back(&c);
  const quic_time silent_since = w.now;
  // Only the server's timers from here on, in steps of 10 ms, for up to 3 s.
  ASSERT_TRUE(w.run(
      [&] {
        w.now += 9ms;
        return !w.of<quic_closed_event>().empty();
      },
      300, false));
  const auto closed = w.of<quic_closed_event>();
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].reason, "idle");
  EXPECT_GE(w.now - silent_since, 900ms);  // from the client's last datagram, a little before
  EXPECT_LT(w.now - silent_since, 2000ms);
  EXPECT_EQ(w.core->open(), 0u);
  EXPECT_EQ(w.core->held(), 0u);
  EXPECT_TRUE(w.timers.empty());
}

TEST(QuicCore, StoppingClosesIdleConnectionsAtOnceAndRefusesNewOnes) {
  world w;
  test::test_client& c = w.client();
  ASSERT_TRUE(w.connect(c));
  w.core->stop(w.now);
  const auto closed = w.of<quic_closed_event>();
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].reason, "server stopping");
  EXPECT_EQ(w.core->open(), 0u);
  ASSERT_TRUE(w.run([&] { return c.last_error() == NGTCP2_ERR_DRAINING; }, 50));
  // A client that comes now gets nothing: no connection is made.
  test::test_client& late = w.client(50002);
  for (int i = 0; i < 20; ++i) w.round();
  EXPECT_FALSE(late.connected());
  EXPECT_EQ(w.of<quic_connected_event>().size(), 1u);
  // The closing period ends and the connection is forgotten.
  for (int i = 0; i < 100 && w.core->held() > 0; ++i) {
    w.now += 100ms;
    w.round(false);
  }
  EXPECT_EQ(w.core->held(), 0u);
}

TEST(QuicCore, StoppingWaitsForARequestInFlightThenCuts) {
  world w;
  test::test_client& c = w.client();
  ASSERT_TRUE(w.connect(c));
  // A request whose stream the client has not finished: its head only (the FIN never comes).
  std::int64_t id = -1;
  ASSERT_EQ(ngtcp2_conn_open_bidi_stream(c.conn(), &id, nullptr), 0);
  // A HEADERS frame's type, its length (16) and the start of its QPACK prefix, and no more.
  const std::uint8_t partial[] = {0x01, 0x10, 0x00, 0x00};
  // Written (with whatever else the client has to send first) and carried to the server.
  ngtcp2_ssize taken = -1;
  for (int packet = 0; packet < 10 && taken < 0; ++packet) {
    std::array<std::uint8_t, 1452> buffer{};
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    const ngtcp2_ssize n = ngtcp2_conn_write_stream(c.conn(), &ps.path, nullptr, buffer.data(), buffer.size(), &taken,
                                                    NGTCP2_WRITE_STREAM_FLAG_NONE, id, partial, sizeof partial,
                                                    static_cast<ngtcp2_tstamp>(w.now.count()));
    ASSERT_GT(n, 0);
    w.core->receive({w.server_address, c.wire(), 0},
                    std::span<const std::uint8_t>(buffer.data(), static_cast<std::size_t>(n)), w.now);
  }
  ASSERT_EQ(taken, static_cast<ngtcp2_ssize>(sizeof partial));
  w.core->stop(w.now);
  EXPECT_EQ(w.core->open(), 1u) << "closed with a request begun";
  EXPECT_TRUE(w.of<quic_closed_event>().empty());
  EXPECT_EQ(w.core->cut(w.now), 1u);
  const auto closed = w.of<quic_closed_event>();
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].reason, "server stopping: the shutdown grace ran out");
  EXPECT_EQ(w.core->open(), 0u);
}

TEST(QuicCore, OverTheCapAClientIsRefused) {
  quic_limits limits;
  limits.max_connections = 1;
  world w(limits);
  test::test_client& first = w.client(50000);
  ASSERT_TRUE(w.connect(first));
  test::test_client& second = w.client(50001);
  ASSERT_TRUE(w.run([&] { return second.last_error() == NGTCP2_ERR_DRAINING; }, 50));
  EXPECT_FALSE(second.connected());
  const auto closed = w.of<quic_closed_event>();
  ASSERT_GE(closed.size(), 1u);
  EXPECT_EQ(closed[0].reason, "refused: 1 QUIC connections open (--max-connections)");
  EXPECT_EQ(closed[0].tuple.remote, (endpoint{"127.0.0.1", 50001}));
  EXPECT_EQ(w.core->open(), 1u);
}

TEST(QuicCore, GarbageIsDroppedQuietly) {
  world w;
  const quic_path path{w.server_address, address("127.0.0.1", 40000), 0};
  const std::vector<std::vector<std::uint8_t>> junk = {
      {},
      {0x00},
      std::vector<std::uint8_t>(1200, 0x00),
      std::vector<std::uint8_t>(40, 0x40),
      // An Initial of QUIC v1 too short to be a client's first (under 1200 bytes).
      {0xc0, 0x00, 0x00, 0x00, 0x01, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5},
  };
  for (const auto& d : junk) w.core->receive(path, d, w.now);
  // A full-size Initial whose payload does not decrypt: a connection begun and dropped at once.
  std::vector<std::uint8_t> initial = {0xc0, 0x00, 0x00, 0x00, 0x01, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x00, 0x00,
                                       0x44, 0xd0};
  initial.resize(1250, 0xab);
  w.core->receive(path, initial, w.now);
  EXPECT_TRUE(w.sent.empty());
  EXPECT_TRUE(w.events.empty());
  EXPECT_EQ(w.core->held(), 0u);
  EXPECT_EQ(w.core->dropped(), junk.size() + 1);
  // And the next client is served.
  test::test_client& c = w.client();
  EXPECT_TRUE(w.connect(c));
}

TEST(QuicCore, AnUnknownVersionGetsVersionNegotiation) {
  world w;
  const quic_path path{w.server_address, address("127.0.0.1", 40000), 3};
  std::vector<std::uint8_t> packet = {0xc0, 0x0a, 0x0a, 0x0a, 0x0a, 0x04, 1, 2, 3, 4, 0x02, 9, 9};
  packet.resize(1200, 0);
  w.core->receive(path, packet, w.now);
  ASSERT_EQ(w.sent.size(), 1u);
  const auto& [to, bytes] = w.sent[0];
  EXPECT_EQ(to.socket, 3u);
  EXPECT_TRUE(to.remote == path.remote);
  ASSERT_GE(bytes.size(), 5u + 1 + 2 + 1 + 4 + 8);
  EXPECT_EQ(bytes[0] & 0x80, 0x80);
  EXPECT_EQ(std::vector<std::uint8_t>(bytes.begin() + 1, bytes.begin() + 5), std::vector<std::uint8_t>(4, 0));
  // The IDs swapped: its destination is our source, and back.
  EXPECT_EQ(std::vector<std::uint8_t>(bytes.begin() + 5, bytes.begin() + 13),
            std::vector<std::uint8_t>({0x02, 9, 9, 0x04, 1, 2, 3, 4}));
  EXPECT_EQ(std::vector<std::uint8_t>(bytes.end() - 4, bytes.end()), std::vector<std::uint8_t>({0, 0, 0, 1}));
  EXPECT_EQ(w.core->held(), 0u);
}

}  // namespace
}  // namespace portdemo::server
