// Fuzz target: the classroom board's model. Connections (addresses as the kernel would give
// them, any ports) and HTTP requests (any bytes as method and target: they come from clients)
// in any order and number, batches taken at any point, subscribers coming and going. Every
// event the board sends must be one line of valid JSON (no raw newline could split an SSE
// event, no byte could break out of a string), and the totals must add up.

#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "portdemo/board.hpp"
#include "portdemo/json.hpp"

namespace {

using portdemo::fuzz::check;

// Takes bytes off the front of the input; zeros when it runs out.
struct reader {
  std::string_view rest;
  std::uint8_t byte() {
    if (rest.empty()) return 0;
    auto b = static_cast<std::uint8_t>(rest.front());
    rest.remove_prefix(1);
    return b;
  }
  std::uint16_t port() { return static_cast<std::uint16_t>(byte() << 8 | byte()); }
  std::string_view bytes(std::size_t n) {
    n = std::min(n, rest.size());
    std::string_view out = rest.substr(0, n);
    rest.remove_prefix(n);
    return out;
  }
};

std::string address(reader& r) {
  char text[INET6_ADDRSTRLEN] = {};
  unsigned char raw[16] = {};
  const bool v6 = r.byte() & 1;
  for (std::size_t i = 0; i < (v6 ? 16u : 4u); ++i) raw[i] = r.byte();
  inet_ntop(v6 ? AF_INET6 : AF_INET, raw, text, sizeof text);
  return text;
}

// Every "data: " line of an SSE text parses as JSON; every event is "event: NAME", one data
// line, and a blank line.
void check_events(const std::string& sse, std::uint64_t& connections_seen) {
  std::string_view rest = sse;
  while (!rest.empty()) {
    check(rest.starts_with("event: "), "an event starts with its name");
    const std::size_t name_end = rest.find('\n');
    check(name_end != std::string_view::npos, "the event name ends its line");
    const std::string_view name = rest.substr(7, name_end - 7);
    rest.remove_prefix(name_end + 1);
    check(rest.starts_with("data: "), "the name is followed by one data line");
    const std::size_t data_end = rest.find('\n');
    check(data_end != std::string_view::npos, "the data ends its line");
    auto parsed = portdemo::parse_json(rest.substr(6, data_end - 6));
    check(parsed.has_value(), "the data is valid JSON");
    rest.remove_prefix(data_end + 1);
    check(rest.starts_with("\n"), "a blank line ends the event");
    rest.remove_prefix(1);
    if (name == "totals") {
      const auto* n = parsed->find("connections");
      check(n && n->as_number() && static_cast<std::uint64_t>(*n->as_number()) == connections_seen,
            "the totals count every connection");
      const auto* h = parsed->find("histogram");
      check(h != nullptr, "the totals have a histogram");
      double sum = *h->find("below")->as_number() + *h->find("above")->as_number();
      for (const auto& b : std::get<portdemo::json_value::array>(h->find("buckets")->value)) sum += *b.as_number();
      check(static_cast<std::uint64_t>(sum) == connections_seen, "the histogram holds every connection");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader r{portdemo::fuzz::as_text(data, size)};
  const std::uint8_t control = r.byte();
  std::optional<portdemo::port_range> range;
  if (control & 1) {
    const std::uint16_t low = r.port();
    range = portdemo::port_range{low, r.port()};  // possibly reversed: the model must cope
  }
  portdemo::board_model board(range, control & 2, 64);
  board.add_port({{"127.0.0.1", 8080}, "tcp", false});
  board.add_port({{"::", 8443}, "tcp", true});
  board.add_port({{"0.0.0.0", 8080}, "udp", false});
  std::uint64_t id = 0;
  std::uint64_t connections = 0;
  while (!r.rest.empty()) {
    switch (r.byte() % 4) {
      case 0: {
        const std::uint16_t server_port = (r.byte() & 1) ? 8080 : r.port();
        portdemo::socket_tuple t{{"127.0.0.1", server_port}, {address(r), r.port()}};
        const std::uint8_t flags = r.byte();
        board.connection(++id, t, flags & 1, flags & 2);
        ++connections;
        break;
      }
      case 1: {
        const std::size_t method = r.byte() % 80;
        std::string m(r.bytes(method));
        std::string target(r.bytes(r.byte() * 2u));
        board.request(id - (id ? r.byte() % id : 0), r.port(), m, target, r.port(), r.bytes(r.byte() % 16));
        break;
      }
      case 2:
        check_events(board.take_batch(), connections);
        check(!board.pending(), "a batch takes everything");
        break;
      case 3:
        board.set_subscribers(r.byte() % 3);
        break;
    }
  }
  std::uint64_t ignored = connections;
  const std::string snapshot = board.snapshot();
  check(snapshot.starts_with("event: snapshot\ndata: ") && snapshot.ends_with("\n\n"), "a snapshot is one event");
  auto parsed = portdemo::parse_json(std::string_view(snapshot).substr(22, snapshot.size() - 24));
  check(parsed.has_value(), "the snapshot is valid JSON");
  check(snapshot.find('\n', 22) == snapshot.size() - 2, "the snapshot's data is one line");
  (void)ignored;
  return 0;
}
