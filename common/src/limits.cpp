#include "portdemo/limits.hpp"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

namespace portdemo {

duration_result parse_duration(std::string_view text) {
  const auto refuse = [&] {
    return duration_result{std::nullopt,
                           fmt::format("'{}' is not a duration: give seconds (10, 1.5 or 10s), milliseconds "
                                       "(500ms) or minutes (2m), from 1ms to 1h",
                                       text)};
  };
  std::string_view number = text;
  double scale = 1000.0;  // to milliseconds; seconds when no unit is given
  if (number.ends_with("ms")) {
    number.remove_suffix(2);
    scale = 1.0;
  } else if (number.ends_with("s")) {
    number.remove_suffix(1);
  } else if (number.ends_with("m")) {
    number.remove_suffix(1);
    scale = 60'000.0;
  }
  if (number.empty() || number.size() > 16) return refuse();
  // Digits with at most one decimal point: no signs, exponents, "inf" or "nan".
  bool point = false;
  for (char c : number) {
    if (c == '.') {
      if (point) return refuse();
      point = true;
    } else if (c < '0' || c > '9') {
      return refuse();
    }
  }
  if (number == ".") return refuse();
  double value = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc{} || end != number.data() + number.size()) return refuse();
  double ms = std::round(value * scale);
  if (!(ms >= 1.0 && ms <= 3'600'000.0)) return refuse();
  return {std::chrono::milliseconds(static_cast<long long>(ms)), {}};
}

std::string format_duration(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  if (ms > 1000 && ms % 100 == 0) return fmt::format("{}.{}s", ms / 1000, (ms % 1000) / 100);
  return fmt::format("{}ms", ms);
}

connection_cap cap_connections(std::size_t requested, std::optional<std::size_t> open_file_limit,
                               std::size_t in_use) {
  if (!open_file_limit) return {requested, false};
  const std::size_t taken = in_use + descriptor_reserve;
  const std::size_t room = *open_file_limit > taken ? *open_file_limit - taken : 1;
  if (requested <= room) return {requested, false};
  return {room, true};
}

}  // namespace portdemo
