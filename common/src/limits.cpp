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

std::optional<std::string> held_ports_problem(std::uint64_t count, const std::optional<port_range>& ephemeral,
                                              std::uint16_t source_port) {
  if (!ephemeral || source_port != 0) return std::nullopt;
  const unsigned size = ephemeral->high - ephemeral->low + 1U;
  if (count <= size) return std::nullopt;
  return fmt::format("--count: {} connections held open at once need {} ephemeral ports, but this host's "
                     "range {}-{} has {}; give --count {} or less",
                     count, count, ephemeral->low, ephemeral->high, size, size);
}

std::optional<std::string> held_descriptors_problem(std::uint64_t count, std::uint64_t hard_limit) {
  const std::uint64_t needed = count + client_descriptor_reserve;
  if (hard_limit >= needed) return std::nullopt;
  // The reserve stays spare for the process itself; below that no count fits.
  const std::string instead = hard_limit > client_descriptor_reserve
                                  ? fmt::format("give --count {} or less", hard_limit - client_descriptor_reserve)
                                  : std::string("raise the limit first: ulimit -n 1024");
  return fmt::format("--count: {} connections held open at once need {} file descriptors; this process may "
                     "have {} (ulimit -Hn); {}",
                     count, needed, hard_limit, instead);
}

std::optional<std::string> udp_options_problem(bool udp, bool hold, bool verify) {
  if (!udp || (!hold && !verify)) return std::nullopt;
  return fmt::format("--udp: UDP has no connections to {}; leave out {}", verify ? "verify" : "hold open",
                     verify ? "--verify" : "--hold");
}

}  // namespace portdemo
