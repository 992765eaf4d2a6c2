// Fuzz target: port specs as --ports and the client's port argument take them.
// Promises: no crash; a spec is either a list of 1 to max_ports_in_spec ports or an error with a
// message; 0 only where allowed; no port named twice (0 aside); allowing 0 never refuses more;
// a single port that parses alone parses the same as a one-item spec.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "portdemo/ports.hpp"

namespace {

using portdemo::fuzz::check;

void check_result(const portdemo::port_spec_result& r, bool allow_zero, bool single) {
  if (r.error) {
    check(r.ports.empty(), "a refused spec has no ports");
    check(!r.error->message.empty(), "a refusal has a message");
    return;
  }
  check(!r.ports.empty(), "an accepted spec has at least one port");
  check(r.ports.size() <= portdemo::max_ports_in_spec, "at most max_ports_in_spec ports");
  if (single) check(r.ports.size() == 1, "a single port is one port");
  if (!allow_zero) {
    check(std::find(r.ports.begin(), r.ports.end(), std::uint16_t{0}) == r.ports.end(),
          "0 only where allowed");
  }
  std::vector<std::uint16_t> sorted;
  std::copy_if(r.ports.begin(), r.ports.end(), std::back_inserter(sorted),
               [](std::uint16_t p) { return p != 0; });
  std::sort(sorted.begin(), sorted.end());
  check(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(), "no port named twice");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = portdemo::fuzz::as_text(data, size);

  const auto strict = portdemo::parse_port_spec(text, false);
  const auto lenient = portdemo::parse_port_spec(text, true);
  check_result(strict, false, false);
  check_result(lenient, true, false);
  if (!strict.error) {
    check(!lenient.error && lenient.ports == strict.ports, "allowing 0 refuses nothing more");
  }

  // Every item names at least one port, so an accepted spec has at least as many ports as items.
  if (!lenient.error) {
    const auto items = static_cast<std::size_t>(std::count(text.begin(), text.end(), ',')) + 1;
    check(lenient.ports.size() >= items, "every item names a port");
  }

  for (bool allow_zero : {false, true}) {
    const auto one = portdemo::parse_single_port(text, allow_zero);
    check_result(one, allow_zero, true);
    if (!one.error && text.find(',') == std::string_view::npos) {
      const auto spec = portdemo::parse_port_spec(text, allow_zero);
      check(!spec.error && spec.ports == one.ports, "a single port is a one-item spec");
    }
  }
  return 0;
}
