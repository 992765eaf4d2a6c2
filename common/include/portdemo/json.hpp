#pragma once
// Just enough JSON: writing quoted strings, and reading one line of the server's report.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace portdemo {

/// Appends `s` as a JSON string literal (quotes and escapes included) to `out`.
void append_json_string(std::string& out, std::string_view s);

/// `s` as a JSON string literal.
std::string json_string(std::string_view s);

struct json_member;

/// A parsed JSON value. Objects keep their members in order.
struct json_value {
  using array = std::vector<json_value>;
  using object = std::vector<json_member>;
  std::variant<std::nullptr_t, bool, double, std::string, array, object> value;

  /// The member named `key` of an object, or nullptr.
  const json_value* find(std::string_view key) const;
  /// The string, or nullptr if this is not a string.
  const std::string* as_string() const { return std::get_if<std::string>(&value); }
  /// The number, or nullptr if this is not a number.
  const double* as_number() const { return std::get_if<double>(&value); }
};

/// One member of an object, named like std::pair's halves. Not a std::pair: with clang 14 and
/// libstdc++ 12, std::pair<std::string, json_value> inside json_value's own variant does not
/// compile (its default-constructible check needs json_value complete).
struct json_member {
  std::string first;   ///< the name
  json_value second;   ///< the value
};

/// Parses one JSON text (surrounding whitespace allowed). Nesting is limited to 32 levels.
/// Returns nullopt on any syntax error.
std::optional<json_value> parse_json(std::string_view text);

}  // namespace portdemo
