#include "portdemo/json.hpp"

#include <charconv>
#include <cstdlib>

#include <fmt/format.h>

namespace portdemo {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if the bytes there are not one.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  std::size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  // Overlong forms, surrogates and code points above U+10FFFF.
  if (n == 3 && c == 0xE0 && b(i + 1) < 0xA0) return 0;
  if (n == 3 && c == 0xED && b(i + 1) >= 0xA0) return 0;
  if (n == 4 && c == 0xF0 && b(i + 1) < 0x90) return 0;
  if (n == 4 && c == 0xF4 && b(i + 1) >= 0x90) return 0;
  return n;
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size(); ++i) {
    // A run of characters that need no escaping goes in at once (addresses, paths, messages).
    std::size_t run = i;
    while (run < s.size()) {
      auto u = static_cast<unsigned char>(s[run]);
      if (u < 0x20 || u >= 0x7f || u == '"' || u == '\\') break;
      ++run;
    }
    if (run > i) {
      out.append(s.substr(i, run - i));
      i = run;
      if (i == s.size()) break;
    }
    char ch = s[i];
    auto c = static_cast<unsigned char>(ch);
    if (c >= 0x80) {
      // Valid UTF-8 passes through; any other byte becomes U+FFFD, so the line stays valid JSON.
      std::size_t n = utf8_sequence(s, i);
      if (n == 0) {
        out += "\\ufffd";
      } else {
        out.append(s.substr(i, n));
        i += n - 1;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

const json_value* json_value::find(std::string_view key) const {
  const auto* obj = std::get_if<object>(&value);
  if (!obj) return nullptr;
  for (const auto& [k, v] : *obj)
    if (k == key) return &v;
  return nullptr;
}

namespace {

// A recursive-descent parser over a string_view; every function leaves `pos_` after what it read.
class parser {
 public:
  explicit parser(std::string_view text) : text_(text) {}

  std::optional<json_value> document() {
    auto v = value(0);
    skip_space();
    if (!v || pos_ != text_.size()) return std::nullopt;
    return v;
  }

 private:
  static constexpr int max_depth = 32;

  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  bool eat(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  // `depth` counts the containers around this value: at most 32 may be open at once.
  std::optional<json_value> value(int depth) {
    skip_space();
    if (pos_ >= text_.size()) return std::nullopt;
    char c = text_[pos_];
    if ((c == '{' || c == '[') && depth >= max_depth) return std::nullopt;
    if (c == '{') return object_value(depth);
    if (c == '[') return array_value(depth);
    if (c == '"') {
      auto s = string_value();
      if (!s) return std::nullopt;
      return json_value{std::move(*s)};
    }
    if (literal("true")) return json_value{true};
    if (literal("false")) return json_value{false};
    if (literal("null")) return json_value{nullptr};
    return number_value();
  }

  std::optional<json_value> object_value(int depth) {
    ++pos_;  // '{'
    json_value::object members;
    if (eat('}')) return json_value{std::move(members)};
    do {
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] != '"') return std::nullopt;
      auto key = string_value();
      if (!key || !eat(':')) return std::nullopt;
      auto v = value(depth + 1);
      if (!v) return std::nullopt;
      members.push_back({std::move(*key), std::move(*v)});
    } while (eat(','));
    if (!eat('}')) return std::nullopt;
    return json_value{std::move(members)};
  }

  std::optional<json_value> array_value(int depth) {
    ++pos_;  // '['
    json_value::array items;
    if (eat(']')) return json_value{std::move(items)};
    do {
      auto v = value(depth + 1);
      if (!v) return std::nullopt;
      items.push_back(std::move(*v));
    } while (eat(','));
    if (!eat(']')) return std::nullopt;
    return json_value{std::move(items)};
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::optional<std::string> string_value() {
    ++pos_;  // '"'
    std::string out;
    while (pos_ < text_.size()) {
      char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) return std::nullopt;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) return std::nullopt;
      char esc = text_[pos_++];
      switch (esc) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          if (pos_ + 4 > text_.size()) return std::nullopt;
          unsigned cp = 0;
          auto [ptr, ec] = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, cp, 16);
          if (ec != std::errc{} || ptr != text_.data() + pos_ + 4) return std::nullopt;
          pos_ += 4;
          append_utf8(out, cp);  // surrogate pairs are not needed for our own reports
          break;
        }
        default: return std::nullopt;
      }
    }
    return std::nullopt;
  }

  std::optional<json_value> number_value() {
    std::size_t start = pos_;
    if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
    std::size_t digits = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    if (pos_ == digits) return std::nullopt;
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      std::size_t frac = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      if (pos_ == frac) return std::nullopt;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      std::size_t exp = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      if (pos_ == exp) return std::nullopt;
    }
    double d = 0;
    auto [ptr, ec] = std::from_chars(text_.data() + start, text_.data() + pos_, d);
    if (ec != std::errc{} || ptr != text_.data() + pos_) return std::nullopt;
    return json_value{d};
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

std::optional<json_value> parse_json(std::string_view text) { return parser(text).document(); }

}  // namespace portdemo
