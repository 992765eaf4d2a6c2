// Fuzz target: a raw client's first bytes, as the server collects and classifies them.
// line_collector is fed the payload in fuzzer-chosen pieces and compared after every piece with
// what the bytes so far demand: the line is a prefix of them, at most `limit` bytes, complete
// exactly when a newline came within the limit, too long exactly when `limit` bytes came
// without one. could_be_hello and sniff are checked on every prefix: sniff never changes its
// mind once decided, and agrees with could_be_hello. demo-client's view line (after its hello)
// round-trips and is waited for only while it may still become one.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "portdemo/http.hpp"
#include "portdemo/protocol.hpp"

namespace {

using portdemo::fuzz::check;
using state = portdemo::line_collector::state;

// The limit: small ones most of the time so that short inputs reach it, sometimes the default.
std::size_t limit_for(std::uint8_t control) {
  constexpr std::array<std::size_t, 8> limits{1, 2, 3, 17, 64, 100, 200, portdemo::default_text_line_limit};
  return limits[(std::uint32_t{control} >> 3U) & 7U];
}

// What the first `received` bytes of `bytes` demand of a collector with `limit`.
state expected_state(std::string_view bytes, std::size_t received, std::size_t limit) {
  const std::size_t newline = bytes.substr(0, received).find('\n');
  if (newline != std::string_view::npos && newline < limit) return state::complete;
  if (std::min(received, newline) >= limit) return state::too_long;
  return state::incomplete;
}

void check_collector(const portdemo::fuzz::cut_input& input) {
  const std::string_view bytes = input.payload();
  const std::size_t limit = limit_for(input.control());
  portdemo::line_collector collector(limit);
  check(collector.limit() == limit, "limit() is the limit given");
  std::size_t received = 0;
  for (std::string_view piece : input.pieces()) {
    const state before = collector.current();
    const state now = collector.feed(piece);
    received += piece.size();
    check(now == collector.current(), "feed returns current()");
    check(collector.received() == received, "received() counts every byte fed");
    check(before == state::incomplete || now == before, "a decided state never changes");
    check(now == expected_state(bytes, received, limit), "the state the bytes demand");

    const std::string_view line = collector.line();
    check(line.size() <= limit, "line() within the limit");
    check(line == bytes.substr(0, line.size()), "line() is a prefix of the bytes");
    switch (now) {
      case state::incomplete:
        check(line.size() == received, "incomplete: every byte kept");
        check(line.find('\n') == std::string_view::npos, "incomplete: no newline");
        break;
      case state::complete:
        check(!line.empty() && line.back() == '\n', "complete: ends with its newline");
        check(line.find('\n') == line.size() - 1, "complete: exactly one newline");
        break;
      case state::too_long:
        check(line.size() == limit, "too long: exactly limit bytes kept");
        check(line.find('\n') == std::string_view::npos, "too long: no newline");
        break;
    }
  }
  // An empty feed changes nothing.
  const state last = collector.current();
  check(collector.feed({}) == last && collector.received() == received, "an empty feed changes nothing");
}

bool is_prefix_of(std::string_view prefix, std::string_view whole) {
  return prefix.size() <= whole.size() && whole.substr(0, prefix.size()) == prefix;
}

void check_sniffing(std::string_view bytes) {
  // Long inputs: every prefix up to 64 bytes, then the whole (sniff decides within 16 bytes).
  using portdemo::first_bytes;
  first_bytes decided = first_bytes::nothing_yet;
  std::vector<std::size_t> lengths;
  for (std::size_t i = 0; i <= std::min<std::size_t>(bytes.size(), 64); ++i) lengths.push_back(i);
  if (bytes.size() > 64) lengths.push_back(bytes.size());
  for (std::size_t length : lengths) {
    const std::string_view prefix = bytes.substr(0, length);
    const bool hello = portdemo::could_be_hello(prefix);
    check(hello == (is_prefix_of(prefix, portdemo::client_hello) ||
                    is_prefix_of(prefix, portdemo::client_hello_hold)),
          "could_be_hello: a prefix of a hello line");
    const first_bytes kind = portdemo::sniff(prefix);
    if (decided != first_bytes::nothing_yet) check(kind == decided, "sniff never changes its mind");
    decided = kind;
    if (hello) check(kind == first_bytes::nothing_yet || kind == first_bytes::hello, "a hello prefix sniffs as hello");
    if (prefix.empty()) check(kind == first_bytes::nothing_yet, "nothing sniffs as nothing yet");
    if (kind == first_bytes::hello) check(prefix.substr(0, 14) == "portdemo-hello", "hello starts so");
    if (kind == first_bytes::tls) check(prefix.size() >= 2 && prefix[0] == 0x16 && prefix[1] == 0x03, "tls starts 16 03");
    if (kind == first_bytes::http) {
      const std::size_t sp = prefix.find(' ');
      check(sp != std::string_view::npos && sp >= 3 && sp <= 7, "http starts with a method and a space");
      check(std::all_of(prefix.begin(), prefix.begin() + static_cast<std::ptrdiff_t>(sp),
                        [](char c) { return c >= 'A' && c <= 'Z'; }),
            "http method in capitals");
    }
  }
}

// demo-client's view line after a hello: parsed only when exactly one, printed back the same,
// and "may still become one" exactly for its proper prefixes.
void check_view(std::string_view bytes) {
  for (std::string_view candidate :
       {bytes, bytes.substr(std::min(bytes.size(), portdemo::client_hello.size()))}) {
    const auto view = portdemo::parse_client_view(candidate);
    if (view) {
      check(portdemo::render_client_view(*view) == candidate, "a parsed view prints back as its line");
      check(!portdemo::could_be_client_view(candidate), "a whole view is not a prefix of one");
      for (std::size_t n = 0; n < candidate.size(); ++n)
        check(portdemo::could_be_client_view(candidate.substr(0, n)), "every proper prefix may become one");
    }
    check(candidate.size() < portdemo::client_view_max || !portdemo::could_be_client_view(candidate),
          "nothing past the longest view line is waited for");
  }
  const portdemo::raw_message m = portdemo::split_raw_message(bytes);
  check(bytes.substr(0, m.line.size()) == m.line, "the line is the start of the bytes");
  if (m.client_view)
    check(m.line == portdemo::client_hello || m.line == portdemo::client_hello_hold, "a view only after a hello");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const portdemo::fuzz::cut_input input(data, size);
  check_collector(input);
  check_sniffing(input.payload());
  check_view(input.payload());
  return 0;
}
