// Fuzz target: durations as --request-timeout and the other limits take them.
// Promises: no crash; a duration is either accepted, from 1 ms to 1 hour, or refused with a
// message; only digits, one decimal point and a unit are accepted; format_duration writes every
// accepted value so that it parses back to the same value, and the text never grows.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "portdemo/limits.hpp"

namespace {

using portdemo::fuzz::check;
using std::chrono::milliseconds;

constexpr milliseconds shortest{1};
constexpr milliseconds longest{3'600'000};

void check_round_trip(milliseconds d) {
  const std::string text = portdemo::format_duration(d);
  const auto again = portdemo::parse_duration(text);
  check(again.value && *again.value == d, "format_duration parses back to the same value");
  check(portdemo::format_duration(*again.value) == text, "formatting is stable");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = portdemo::fuzz::as_text(data, size);
  const auto r = portdemo::parse_duration(text);
  if (r.value) {
    check(r.error.empty(), "an accepted duration has no error");
    check(*r.value >= shortest && *r.value <= longest, "1 ms to 1 hour");
    std::string_view number = text;
    for (std::string_view unit : {"ms", "s", "m"}) {
      if (number.ends_with(unit)) {
        number.remove_suffix(unit.size());
        break;
      }
    }
    check(!number.empty() && std::all_of(number.begin(), number.end(),
                                         [](char c) { return (c >= '0' && c <= '9') || c == '.'; }),
          "only digits and a point before the unit");
    check(std::count(number.begin(), number.end(), '.') <= 1, "at most one decimal point");
    check_round_trip(*r.value);
  } else {
    check(!r.error.empty(), "a refusal has a message");
  }

  // Any whole number of milliseconds in range, from the input's first bytes.
  if (size >= 4) {
    std::uint32_t raw = 0;
    std::memcpy(&raw, data, sizeof raw);
    check_round_trip(milliseconds(shortest.count() + raw % longest.count()));
  }
  return 0;
}
