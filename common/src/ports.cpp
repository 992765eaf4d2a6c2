#include "portdemo/ports.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "portdemo/services.hpp"
#include "portdemo/text.hpp"

namespace portdemo {

port_class classify(std::uint16_t port) noexcept {
  // RFC 6335 section 6. The lecture says "49151 to 65535" for the dynamic range; 49151 is the
  // last registered port.
  if (port <= 1023) return port_class::well_known;
  if (port <= 49151) return port_class::registered;
  return port_class::dynamic;
}

std::string_view to_string(port_class c) noexcept {
  switch (c) {
    case port_class::well_known: return "well-known";
    case port_class::registered: return "registered";
    case port_class::dynamic: return "dynamic";
  }
  return "unknown";
}

std::string_view range_of(port_class c) noexcept {
  switch (c) {
    case port_class::well_known: return "0-1023";
    case port_class::registered: return "1024-49151";
    case port_class::dynamic: return "49152-65535";
  }
  return "";
}

namespace {

// What a valid item looks like; a client cannot connect to port 0, so it is not offered there.
std::string_view valid_forms(bool allow_zero) {
  return allow_zero ? "a port number 0-65535, a range such as 9000-9003, or a service name such "
                      "as http-alt"
                    : "a port number 1-65535, a range such as 9000-9003, or a service name such "
                      "as http-alt";
}

std::string_view valid_port(bool allow_zero) {
  return allow_zero ? "a port number 0-65535 or a service name such as http-alt"
                    : "a port number 1-65535 or a service name such as http-alt";
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

port_spec_result refuse(std::string_view item, std::string message) {
  return {{}, port_spec_error{std::string(item), std::move(message)}};
}

// A number: digits only, at most 65535. Long digit strings are refused before conversion.
std::optional<std::uint32_t> to_number(std::string_view s) {
  if (!all_digits(s)) return std::nullopt;
  auto first = s.find_first_not_of('0');
  if (first == std::string_view::npos) return 0U;
  if (s.size() - first > 6) return 70000U;  // certainly out of range; keep the message honest
  std::uint32_t value = 0;
  std::from_chars(s.data() + first, s.data() + s.size(), value);
  return value;
}

// One port or service name; `valid` says what would have been valid, for the messages.
port_spec_result parse_item(std::string_view item, bool allow_zero, std::string_view valid) {
  std::string_view s = trim(item);
  if (s.empty()) return refuse(item, fmt::format("empty port: give {}", valid));
  if (auto n = to_number(s)) {
    if (*n > 65535) {
      return refuse(s, fmt::format("\"{}\" is out of range: ports go from 0 to 65535", s));
    }
    if (*n == 0 && !allow_zero) {
      return refuse(s, fmt::format("\"{}\" is not a port one can connect to: give {}", s, valid));
    }
    return {{static_cast<std::uint16_t>(*n)}, std::nullopt};
  }
  if (auto port = find_service_port(s)) return {{*port}, std::nullopt};
  bool looks_numeric = std::any_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                       std::all_of(s.begin(), s.end(), [](char c) {
                         return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.';
                       });
  if (looks_numeric) {
    return refuse(s, fmt::format("\"{}\" is not a port: give {}", s, valid));
  }
  return refuse(s, fmt::format("\"{}\" is not a port number or a known service name; "
                               "known names: {}",
                               s, known_service_names()));
}

}  // namespace

port_spec_result parse_single_port(std::string_view item, bool allow_zero) {
  return parse_item(item, allow_zero, valid_port(allow_zero));
}

port_spec_result parse_port_spec(std::string_view spec, bool allow_zero) {
  if (trim(spec).empty()) {
    return refuse(spec, fmt::format("the port list is empty: give {}, or several "
                                    "separated by commas",
                                    valid_forms(allow_zero)));
  }
  std::vector<std::uint16_t> ports;
  std::size_t item_number = 0;
  std::size_t start = 0;
  while (start <= spec.size()) {
    std::size_t comma = spec.find(',', start);
    if (comma == std::string_view::npos) comma = spec.size();
    std::string_view item = trim(spec.substr(start, comma - start));
    ++item_number;
    start = comma + 1;

    if (item.empty()) {
      return refuse(item, fmt::format("item {} of \"{}\" is empty: separate ports with single "
                                      "commas, e.g. 8080,8443",
                                      item_number, spec));
    }
    // A range "LOW-HIGH": a dash between two digit strings. "-5" or "5-" are not ranges.
    std::size_t dash = item.find('-');
    std::string_view low_s = dash == std::string_view::npos ? item : trim(item.substr(0, dash));
    std::string_view high_s = dash == std::string_view::npos ? "" : trim(item.substr(dash + 1));
    if (dash != std::string_view::npos && all_digits(low_s) && all_digits(high_s)) {
      auto low = to_number(low_s);
      auto high = to_number(high_s);
      if (*low > 65535 || *high > 65535) {
        return refuse(item, fmt::format("range \"{}\" goes past 65535, the highest port", item));
      }
      if (*low > *high) {
        return refuse(item, fmt::format("range \"{}\" is reversed: write the lower port first, "
                                        "{}-{}",
                                        item, *high, *low));
      }
      if (*low == 0) {
        return refuse(item, fmt::format("range \"{}\" includes 0, which is not a port but a "
                                        "request to let the kernel choose; start at 1",
                                        item));
      }
      std::size_t count = *high - *low + 1;
      if (count > max_ports_in_spec) {
        return refuse(item, fmt::format("range \"{}\" holds {} ports; a range may hold at most {}",
                                        item, count, max_ports_in_spec));
      }
      for (std::uint32_t p = *low; p <= *high; ++p) ports.push_back(static_cast<std::uint16_t>(p));
    } else {
      auto one = parse_item(item, allow_zero, valid_forms(allow_zero));
      if (one.error) return one;
      ports.push_back(one.ports.front());
    }
    if (ports.size() > max_ports_in_spec) {
      return refuse(spec, fmt::format("\"{}\" names more than {} ports", spec, max_ports_in_spec));
    }
  }
  // A port named twice would only fail with "address in use" against ourselves. 0 may repeat:
  // each asks the kernel for another port.
  // One bit per port: a search through the ports seen so far took 18 ms for "1-1024" under
  // the sanitizers (half a million comparisons), which the fuzzer notices.
  std::vector<bool> seen(65536);
  for (auto p : ports) {
    if (p == 0) continue;
    if (seen[p]) {
      return refuse(std::to_string(p), fmt::format("port {} is named twice in \"{}\"", p, spec));
    }
    seen[p] = true;
  }
  return {std::move(ports), std::nullopt};
}

}  // namespace portdemo
