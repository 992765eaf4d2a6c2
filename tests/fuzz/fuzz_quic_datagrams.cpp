// Fuzz target: a stream of UDP datagrams into the server's QUIC core (server/quic_core.hpp),
// through ngtcp2_pkt_decode_version_cid, ngtcp2_accept and ngtcp2_conn_read_pkt of the server
// connections it makes, and on to GnuTLS's handshake and nghttp3 for what decrypts. Each input
// is a fresh core. When the first byte's bit 0 is set, a real HTTP/3 client in memory
// (tests/unit/quic_test_peer.hpp) talks to the core between the fuzzer's datagrams, so that
// they also land on a connection in every state from its first Initial to requests answered
// (bit 2 of a record puts the connection's ID in a short header, so they reach its decryption).
// Whatever comes, the core keeps its promises: it answers only on the paths datagrams came on,
// never holds more connections than it was allowed plus those closing, and stops clean.
//
// Input: one control byte, then records: [op][length, 2 bytes big-endian][datagram]. op's bits
// 0-1 pick the sender (four addresses, IPv4 and IPv6), bit 2 the connection ID patch, bits 3-7
// the milliseconds the clock moves first (0-31).

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "fuzz_support.hpp"
#include "quic_core.hpp"
#include "quic_test_peer.hpp"

namespace {

using portdemo::fuzz::check;
using namespace portdemo::server;
using namespace std::chrono_literals;

const std::pair<std::string, std::string>& certificate() {
  static const auto pem = portdemo::test::make_certificate();
  return pem;
}

const udp_address& server_v4() {
  static const udp_address a = udp_address::parse("127.0.0.1", 4433);
  return a;
}
const udp_address& server_v6() {
  static const udp_address a = udp_address::parse("::1", 4433);
  return a;
}
const std::vector<udp_address>& senders() {
  static const std::vector<udp_address> all = {udp_address::parse("127.0.0.1", 40000), udp_address::parse("127.0.0.1", 40001),
                                               udp_address::parse("::1", 40002), udp_address::parse("10.0.0.7", 40003)};
  return all;
}

std::vector<std::uint8_t> unhex(const std::string& text) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < text.size(); i += 2)
    out.push_back(static_cast<std::uint8_t>(std::stoi(text.substr(i, 2), nullptr, 16)));
  return out;
}

struct world {
  explicit world(quic_limits limits) {
    quic_hooks hooks{
        [this](const quic_path& path, std::span<const std::uint8_t> bytes) {
          check(path.socket == 0, "a datagram for a socket that never received one");
          check(!bytes.empty() && bytes.size() <= 65527, "a datagram of impossible size");
          sent.push_back({path, std::vector<std::uint8_t>(bytes.begin(), bytes.end())});
        },
        [](const quic_request& r) {
          check(r.quic != nullptr, "a request without its connection's names");
          check(r.stream % 4 == 0, "a request on a stream the client did not open");
          portdemo::http_response response;
          response.body = r.error ? "refused\n" : "answer\n";
          response.status = r.error ? static_cast<int>(*r.error) : 200;
          return response;
        },
        [this](quic_event e) {
          if (auto* c = std::get_if<portdemo::quic_connected_event>(&e)) server_cid = unhex(c->server_cid);
          events.push_back(std::move(e));
        },
        [this](std::uint64_t id, std::optional<quic_time> at) {
          if (at) timers[id] = *at;
          else timers.erase(id);
        },
        [this] { return next_id++; },
        // GET /events: a body that goes on, fed between the records (feed_followed()).
        [this](const quic_request& r) -> std::optional<portdemo::server::quic_answer> {
          if (r.head.target != "/events") return std::nullopt;
          followed.push_back({r.id, r.stream});
          portdemo::server::quic_answer a;
          a.response.body = "first\n";
          a.goes_on = true;
          return a;
        },
        [this](std::uint64_t id, std::int64_t stream) {
          std::erase(followed, std::pair<std::uint64_t, std::int64_t>{id, stream});
        },
    };
    core = std::make_unique<quic_core>(certificate().first, certificate().second, limits, std::move(hooks));
    check(core->error().empty(), "the test certificate was refused");
  }

  // More body on every followed stream; every third round ends one.
  void feed_followed() {
    const auto streams = followed;
    for (const auto& [id, stream] : streams) {
      check(core->unacked(id, stream) <= 64 * 1024, "a followed stream's unacknowledged bytes stay bounded");
      if (core->unacked(id, stream) < 4096) core->send_body(id, stream, "more\n", now);
      if (++fed % 3 == 0) core->end_body(id, stream, now);
    }
  }

  void expire_due() {
    std::vector<std::uint64_t> due;
    for (const auto& [id, at] : timers)
      if (at <= now) due.push_back(id);
    for (std::uint64_t id : due) core->expire(id, now);
  }

  // The real client's turn: what it has to send, and what the core sent it.
  void client_round() {
    if (!client) return;
    client->tick(now);
    client->write(now);
    for (auto& d : client->outbox()) core->receive({server_v4(), client->wire(), 0}, d, now);
    client->outbox().clear();
    deliver();
  }

  void deliver() {
    std::vector<std::pair<quic_path, std::vector<std::uint8_t>>> out;
    out.swap(sent);
    for (auto& [path, bytes] : out)
      if (client && path.remote == client->wire()) client->read(bytes, now);
  }

  quic_time now{1'000'000'000};
  std::uint64_t next_id = 1;
  std::unique_ptr<quic_core> core;
  std::unique_ptr<portdemo::test::test_client> client;
  std::vector<std::pair<quic_path, std::vector<std::uint8_t>>> sent;
  std::vector<quic_event> events;
  std::unordered_map<std::uint64_t, quic_time> timers;
  std::vector<std::uint8_t> server_cid;
  bool requested = false;
  std::vector<std::pair<std::uint64_t, std::int64_t>> followed;  // streams answered by follow, open
  std::uint64_t fed = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  quic_limits limits;
  limits.max_connections = 1 + (control >> 5);  // 1-8
  limits.head.header_lines = 4;
  limits.idle_timeout = 2000ms;
  world w(limits);
  if (control & 1) w.client = std::make_unique<portdemo::test::test_client>(udp_address::parse("127.0.0.1", 50000), server_v4(), w.now);

  std::size_t at = 1;
  for (int records = 0; records < 256 && at + 3 <= size; ++records) {
    const std::uint8_t op = data[at];
    const std::size_t length = std::min<std::size_t>((std::size_t{data[at + 1]} << 8) | data[at + 2], size - at - 3);
    std::vector<std::uint8_t> datagram(data + at + 3, data + at + 3 + length);
    at += 3 + length;
    w.now += std::chrono::milliseconds(op >> 3);
    const udp_address& from = senders()[op & 3];
    if ((op & 4) && !w.server_cid.empty() && datagram.size() > w.server_cid.size()) {
      // A short header naming the real connection: decryption decides the rest.
      datagram[0] = static_cast<std::uint8_t>((datagram[0] & 0x3f) | 0x40);
      std::copy(w.server_cid.begin(), w.server_cid.end(), datagram.begin() + 1);
    }
    const udp_address& to = from.storage.ss_family == AF_INET6 ? server_v6() : server_v4();
    w.core->receive({to, from, 0}, datagram, w.now);
    for (const auto& out : w.sent) {
      // Answers go back where datagrams came from: the client's, or the fuzzer's senders.
      const udp_address& remote = out.first.remote;
      const bool known = (w.client && remote == w.client->wire()) ||
                         std::any_of(senders().begin(), senders().end(), [&](const udp_address& s) { return s == remote; });
      check(known, "a datagram to an address nothing was received from");
    }
    w.client_round();
    if (w.client && w.client->ready() && !w.requested) {
      w.requested = true;
      w.client->get("/json");
      w.client->get("/", {{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"}});
      w.client->get("/events");
    }
    w.feed_followed();
    w.expire_due();
    w.deliver();
    check(w.core->open() <= limits.max_connections, "more connections open than the cap");
  }
  // The end: the shutdown, the grace, the closing periods.
  w.core->stop(w.now);
  w.deliver();
  w.core->cut(w.now);
  for (int i = 0; i < 200 && w.core->held() > 0; ++i) {
    w.now += 50ms;
    w.expire_due();
  }
  check(w.core->open() == 0, "a connection open after cut()");
  if (std::getenv("PORTDEMO_FUZZ_VERBOSE")) {
    // What an input reached, for whoever writes seeds: events, answers, datagrams dropped.
    std::size_t connected = 0, closed = 0;
    for (const auto& e : w.events) {
      connected += std::holds_alternative<portdemo::quic_connected_event>(e);
      closed += std::holds_alternative<portdemo::quic_closed_event>(e);
    }
    std::size_t answered = 0;
    if (w.client)
      for (const auto& [id, r] : w.client->responses()) answered += r.done;
    std::fprintf(stderr, "  connected %zu, closed %zu, answers to the client %zu, dropped %llu\n", connected, closed,
                 answered, static_cast<unsigned long long>(w.core->dropped()));
  }
  check(w.core->held() == 0, "a connection held after its closing period");
  return 0;
}
