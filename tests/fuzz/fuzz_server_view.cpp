// Fuzz target: what demo-client reads from a server, which may be any program on that port.
// parse_json must survive any bytes (nesting is limited); parse_server_view accepts only a
// server_view with IP address literals, ports 0-65535 and an id from 1 to 2^53, and a view it
// accepts is rendered back to a line that parses to the same view.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <arpa/inet.h>

#include "fuzz_support.hpp"
#include "portdemo/json.hpp"
#include "portdemo/protocol.hpp"

namespace {

using portdemo::fuzz::check;

// An IPv4 or IPv6 literal, checked without trusting is_ip_address: only the characters such
// literals have, and inet_pton accepts the whole string.
bool is_ip_literal(const std::string& s) {
  if (s.empty() || s.size() > 45) return false;
  if (s.find_first_not_of("0123456789abcdefABCDEF.:") != std::string::npos) return false;
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// How deep arrays and objects nest in a value.
int depth(const portdemo::json_value& v) {
  int deepest = 0;
  if (const auto* a = std::get_if<portdemo::json_value::array>(&v.value)) {
    for (const auto& item : *a) deepest = std::max(deepest, depth(item));
    return deepest + 1;
  }
  if (const auto* o = std::get_if<portdemo::json_value::object>(&v.value)) {
    for (const auto& member : *o) deepest = std::max(deepest, depth(member.second));
    return deepest + 1;
  }
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = portdemo::fuzz::as_text(data, size);

  if (const auto doc = portdemo::parse_json(text)) {
    check(depth(*doc) <= 32, "nesting is limited to 32 levels");
    if (const double* n = doc->as_number()) check(*n == *n, "numbers are never NaN");
  }

  const auto view = portdemo::parse_server_view(text);
  if (!view) return 0;
  check(view->id >= 1 && view->id <= (std::uint64_t{1} << 53U), "id from 1 to 2^53");
  check(view->proto == "tcp" || view->proto == "udp", "proto is tcp or udp");
  check(is_ip_literal(view->tuple.local.address), "local address is an IP literal");
  check(is_ip_literal(view->tuple.remote.address), "remote address is an IP literal");

  const std::string line = portdemo::render_server_view(*view);
  check(!line.empty() && line.back() == '\n' && line.find('\n') == line.size() - 1, "one line");
  const auto again = portdemo::parse_server_view(line);
  check(again.has_value(), "a rendered view parses");
  check(again->id == view->id && again->tuple == view->tuple && again->proto == view->proto,
        "a rendered view parses back to the same view");
  return 0;
}
