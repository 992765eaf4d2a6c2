// Fuzz target: a client's bytes on their way to the lecturer's terminal and the JSON log.
// printable() must turn any bytes into visible ASCII, at most `max` characters before its "...",
// that decode back to the bytes (or a prefix of them when cut). The answered and http_request
// events carrying those bytes must render as one JSON line with no control byte but its final
// newline, no DEL, valid UTF-8, that parse_json reads back; and as text with no control byte but
// newlines and, in colour, the renderer's own SGR sequences.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "portdemo/json.hpp"
#include "portdemo/render.hpp"

namespace {

using portdemo::fuzz::check;

// Undoes printable()'s escapes (\n, \r, \xNN); nullopt for anything it would never write.
std::optional<std::string> unescape(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (i + 1 >= s.size()) return std::nullopt;
    const char e = s[++i];
    if (e == 'n') out += '\n';
    else if (e == 'r') out += '\r';
    else if (e == 'x' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

// How long printable()'s escaped text of `bytes` is, uncut.
std::size_t escaped_size(std::string_view bytes) {
  std::size_t n = 0;
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    n += (c >= 0x20 && c < 0x7f && c != '\\') ? 1 : (c == '\n' || c == '\r') ? 2 : 4;
  }
  return n;
}

void check_printable(std::string_view bytes, std::size_t max) {
  const std::string out = portdemo::printable(bytes, max);
  for (char ch : out) {
    auto c = static_cast<unsigned char>(ch);
    check(c >= 0x20 && c < 0x7f, "printable: visible ASCII only");
  }
  const bool cut = escaped_size(bytes) > max;
  std::string_view escaped = out;
  if (cut) {
    check(escaped.ends_with("..."), "printable: a cut ends with ...");
    escaped.remove_suffix(3);
  }
  check(escaped.size() <= max, "printable: at most max characters before the ...");
  const auto decoded = unescape(escaped);
  check(decoded.has_value(), "printable: only its own escapes, never one cut in half");
  if (cut) {
    check(decoded->size() < bytes.size() && bytes.substr(0, decoded->size()) == *decoded,
          "printable: a cut is a prefix of the bytes");
    check(escaped.size() + escaped_size(bytes.substr(decoded->size(), 1)) > max,
          "printable: cut only where the next byte would not fit");
  } else {
    check(*decoded == bytes, "printable: decodes back to the bytes");
  }
}

// Whether `s` is valid UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
                  : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    std::uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1FU) : n == 3 ? (c & 0x0FU) : (c & 0x07U);
    for (std::size_t k = 1; k < n; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0U) != 0x80U) return false;
      cp = (cp << 6U) | (b & 0x3FU);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n;
  }
  return true;
}

void check_json_line(const std::string& line) {
  check(!line.empty() && line.back() == '\n', "JSON: ends with a newline");
  for (std::size_t i = 0; i + 1 < line.size(); ++i) {
    auto c = static_cast<unsigned char>(line[i]);
    check(c >= 0x20 && c != 0x7f, "JSON: no control byte or DEL but the final newline");
  }
  check(valid_utf8(line), "JSON: valid UTF-8");
  check(portdemo::parse_json(line).has_value(), "JSON: parse_json reads it");
}

// Text: newlines, visible characters, and in colour only ESC [ digits ; ... m sequences.
void check_text(const std::string& text, bool color) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == 0x1b) {
      check(color, "text: no escape without colour");
      check(i + 1 < text.size() && text[i + 1] == '[', "text: ESC only to start SGR");
      std::size_t j = i + 2;
      while (j < text.size() && ((text[j] >= '0' && text[j] <= '9') || text[j] == ';')) ++j;
      check(j < text.size() && text[j] == 'm', "text: SGR only");
      i = j;
      continue;
    }
    check(c == '\n' || (c >= 0x20 && c != 0x7f), "text: no control byte but newlines");
  }
  check(valid_utf8(text), "text: valid UTF-8");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const portdemo::fuzz::cut_input input(data, size);
  const std::string_view bytes = input.payload();
  check_printable(bytes, input.control());
  check_printable(bytes, 60);
  check_printable(bytes, 200);

  portdemo::answered_event answered;
  answered.id = 4;
  answered.received_bytes = bytes.size();
  answered.received = std::string(bytes);
  const std::string line = portdemo::render_json(answered);
  check_json_line(line);
  const auto doc = portdemo::parse_json(line);
  const portdemo::json_value* received = doc->find("received");
  check(received && received->as_string() && *received->as_string() == portdemo::printable(bytes, 200),
        "JSON: received is the escaped bytes");

  // Method and target: the payload cut in two where the first space is.
  const std::size_t space = bytes.find(' ');
  portdemo::http_request_event request;
  request.id = 4;
  request.tuple = {{"127.0.0.1", 8080}, {"127.0.0.1", 40000}};
  request.method = std::string(bytes.substr(0, space));
  request.target = space == std::string_view::npos ? std::string() : std::string(bytes.substr(space + 1));
  request.status = 400;
  check_json_line(portdemo::render_json(request));

  portdemo::host_facts facts;
  facts.ephemeral = portdemo::port_range{32768, 60999};
  facts.unprivileged_port_start = 1024;
  for (bool color : {false, true}) {
    portdemo::text_renderer text(facts, color);
    check_text(text.render(answered), color);
    check_text(text.render(request), color);
  }
  return 0;
}
