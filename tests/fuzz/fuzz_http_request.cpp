// Fuzz target: HTTP request heads, as a browser, curl or a hostile client sends them, and the
// answers built from them.
// The payload goes through request_parser three ways: at once, in fuzzer-chosen pieces with
// next() after each complete head (as the server does), and in pieces with next() only at the
// end. All three must see the same sequence of requests and end the same way: a strong check
// that the parser's incremental scanning does not depend on how the bytes arrive. Every request
// must respect the limits and the grammar the parser promises, and every answer built from it
// must be a well-formed HTTP/1.1 response whose Content-Length is its body's. Bytes held while a
// head is incomplete are bounded by the limits.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "portdemo/http.hpp"
#include "portdemo/web.hpp"

namespace {

using portdemo::fuzz::check;
using portdemo::http_error;
using portdemo::http_limits;
using portdemo::http_request;
using state = portdemo::request_parser::state;

// The limits: the defaults, or small ones that short inputs reach.
http_limits limits_for(std::uint8_t control) {
  constexpr std::array<http_limits, 4> choices{
      http_limits{}, http_limits{40, 64, 3}, http_limits{16, 8, 1}, http_limits{0, 0, 0}};
  return choices[(std::uint32_t{control} >> 3U) & 3U];
}

// What a parser said at one point: a request, the error, or that it wants more bytes.
struct outcome {
  state what = state::incomplete;
  http_error error = http_error::bad_request;
  http_request request;
};

bool same(const outcome& a, const outcome& b) {
  if (a.what != b.what) return false;
  if (a.what == state::failed) return a.error == b.error;
  if (a.what == state::incomplete) return true;
  return a.request.method == b.request.method && a.request.target == b.request.target &&
         a.request.minor_version == b.request.minor_version && a.request.headers == b.request.headers;
}

outcome record(const portdemo::request_parser& p, state s) {
  outcome o;
  o.what = s;
  if (s == state::failed) o.error = p.error();
  if (s == state::complete) o.request = p.request();
  return o;
}

bool is_token_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_token_char); }

void check_request(const http_request& r, const http_limits& limits) {
  check(is_token(r.method), "method is a token");
  check(!r.target.empty(), "target is not empty");
  check(std::all_of(r.target.begin(), r.target.end(),
                    [](char c) {
                      auto u = static_cast<unsigned char>(c);
                      return u > 0x20 && u < 0x7f;
                    }),
        "target is visible ASCII");
  check(r.minor_version == 0 || r.minor_version == 1, "HTTP/1.0 or HTTP/1.1");
  check(r.method.size() + 1 + r.target.size() + 1 + 8 <= limits.request_line,
        "request line within its limit");
  check(r.headers.size() <= limits.header_lines, "header lines within their limit");
  std::size_t header_bytes = 0;
  for (const auto& [name, value] : r.headers) {
    check(is_token(name), "header name is a token");
    check(value.empty() || (value.front() != ' ' && value.front() != '\t' && value.back() != ' ' &&
                            value.back() != '\t'),
          "header value trimmed");
    check(std::none_of(value.begin(), value.end(),
                       [](char c) {
                         auto u = static_cast<unsigned char>(c);
                         return (u < 0x20 && u != '\t') || u == 0x7f;
                       }),
          "header value has no control bytes");
    header_bytes += name.size() + 1 + value.size();
  }
  check(header_bytes <= limits.header_bytes, "header bytes within their limit");
  if (r.minor_version == 1) check(r.header("Host") != nullptr, "HTTP/1.1 has Host");
  (void)r.keep_alive();
  (void)r.wants_html();
}

// An answer's bytes: a status line, header lines ending in CRLF with nothing else below 0x20,
// a blank line, then exactly Content-Length bytes of body (none for HEAD).
void check_response(const portdemo::http_response& r, bool head_only) {
  const std::string bytes = portdemo::serialize(r, head_only);
  const std::size_t end = bytes.find("\r\n\r\n");
  check(end != std::string::npos, "answer has a blank line after its head");
  const std::string_view head = std::string_view(bytes).substr(0, end + 2);
  const std::string_view body = std::string_view(bytes).substr(end + 4);
  check(head.substr(0, 9) == "HTTP/1.1 ", "answer starts with its status line");
  for (std::size_t i = 0; i < head.size(); ++i) {
    auto u = static_cast<unsigned char>(head[i]);
    if (u == '\r') check(i + 1 < head.size() && head[i + 1] == '\n', "CR only before LF in the head");
    else if (u == '\n') check(i > 0 && head[i - 1] == '\r', "LF only after CR in the head");
    else check(u >= 0x20 && u < 0x7f, "head is visible ASCII");
  }
  const std::string length = "\r\nContent-Length: " + std::to_string(r.body.size()) + "\r\n";
  check(head.find(length) != std::string_view::npos, "Content-Length is the body's length");
  check(head_only ? body.empty() : body == r.body, "body follows the head, none for HEAD");
}

void check_answers(const outcome& o) {
  if (o.what == state::failed) {
    const auto r = portdemo::error_response(o.error);
    check(r.status == static_cast<int>(o.error), "the error's status");
    check_response(r, false);
    return;
  }
  if (o.what != state::complete) return;
  portdemo::web_context context;
  context.connection_id = 3;
  context.request_number = 2;
  context.tuple = {{"127.0.0.1", 8080}, {"127.0.0.1", 40000}};
  context.facts.ephemeral = portdemo::port_range{32768, 60999};
  context.previous_port = 39999;
  const bool head_only = o.request.method == "HEAD";
  check_response(portdemo::respond(o.request, context), head_only);
  check_response(portdemo::plain_http_on_tls_port(o.request, context), head_only);
  context.tuple = {{"::1", 8443}, {"::1", 40000}};
  context.tls = portdemo::tls_details{"TLSv1.3", "TLS_AES_256_GCM_SHA384"};
  check_response(portdemo::respond(o.request, context), head_only);
  check_response(portdemo::tls_on_plain_port(o.request, context), head_only);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const portdemo::fuzz::cut_input input(data, size);
  const std::string_view bytes = input.payload();
  const http_limits limits = limits_for(input.control());
  const std::vector<std::string_view> pieces = input.pieces();
  // Every complete head takes at least one byte, so there are never more requests than bytes.
  const std::size_t most = bytes.size() + 1;

  // At once: feed everything, then next() while heads are complete.
  std::vector<outcome> at_once;
  {
    portdemo::request_parser p(limits);
    state s = p.feed(bytes);
    while (true) {
      at_once.push_back(record(p, s));
      check(at_once.size() <= most, "each request takes bytes");
      if (s != state::complete) break;
      s = p.next();
    }
  }

  // In pieces, next() as soon as a head is complete, as the server does.
  std::vector<outcome> as_served;
  {
    portdemo::request_parser p(limits);
    state s = state::incomplete;
    for (std::string_view piece : pieces) {
      s = p.feed(piece);
      while (s == state::complete) {
        as_served.push_back(record(p, s));
        check(as_served.size() <= most, "each request takes bytes");
        s = p.next();
      }
      if (s == state::failed) break;
    }
    as_served.push_back(record(p, s));
  }

  // In pieces, next() only once everything has come (bytes after a head are kept).
  std::vector<outcome> kept;
  {
    portdemo::request_parser p(limits);
    state s = state::incomplete;
    for (std::string_view piece : pieces) s = p.feed(piece);
    while (true) {
      kept.push_back(record(p, s));
      check(kept.size() <= most, "each request takes bytes");
      if (s != state::complete) break;
      s = p.next();
    }
  }

  // Memory: a head that is still incomplete holds no more than the limits allow (blank lines
  // before the request line, the request line, header lines, and their line endings).
  if (at_once.size() == 1 && at_once.front().what == state::incomplete) {
    const std::size_t most_held = 2 * limits.request_line + 2 + limits.header_bytes + 1 +
                                  2 * (limits.header_lines + 1);
    check(bytes.size() <= most_held, "an incomplete head is bounded by the limits");
  }

  check(at_once.size() == as_served.size() && at_once.size() == kept.size(),
        "the same number of requests however the bytes arrive");
  for (std::size_t i = 0; i < at_once.size(); ++i) {
    check(same(at_once[i], as_served[i]) && same(at_once[i], kept[i]),
          "the same requests however the bytes arrive");
  }
  for (const outcome& o : at_once) {
    if (o.what == state::complete) check_request(o.request, limits);
    check_answers(o);
  }
  return 0;
}
