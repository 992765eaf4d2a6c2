#pragma once
// Just enough JSON: writing quoted strings, and reading one line of the server's report.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace portdemo {

/// Appends `s` as a JSON string literal (quotes and escapes included) to `out`.
void append_json_string(std::string& out, std::string_view s);

/// `s` as a JSON string literal.
std::string json_string(std::string_view s);

/// A parsed JSON value. Objects keep their members in order.
struct json_value {
  using array = std::vector<json_value>;
  using object = std::vector<std::pair<std::string, json_value>>;
  std::variant<std::nullptr_t, bool, double, std::string, array, object> value;

  /// The member named `key` of an object, or nullptr.
  const json_value* find(std::string_view key) const;
  /// The string, or nullptr if this is not a string.
  const std::string* as_string() const { return std::get_if<std::string>(&value); }
  /// The number, or nullptr if this is not a number.
  const double* as_number() const { return std::get_if<double>(&value); }
};

/// Parses one JSON text (surrounding whitespace allowed). Nesting is limited to 32 levels.
/// Returns nullopt on any syntax error.
std::optional<json_value> parse_json(std::string_view text);

}  // namespace portdemo
