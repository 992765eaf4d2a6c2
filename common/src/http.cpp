#include "portdemo/http.hpp"

#include "portdemo/text.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace portdemo {

namespace {

constexpr std::array methods{"GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ",
                             "CONNECT ", "TRACE ", "PRI "};

bool icontains(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i)
    if (iequals(haystack.substr(i, needle.size()), needle)) return true;
  return false;
}

// Header values also lose a trailing CR of a CRLF line ending.
std::string_view trim_value(std::string_view s) {
  s = trim(s);
  while (!s.empty() && s.back() == '\r') s = trim(s.substr(0, s.size() - 1));
  return s;
}

// RFC 9110 token characters, for method and header names.
bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

}  // namespace

first_bytes sniff(std::string_view received) noexcept {
  if (received.empty()) return first_bytes::nothing_yet;
  constexpr std::string_view hello = "portdemo-hello";
  if (received.front() == 0x16) {
    if (received.size() < 2) return first_bytes::nothing_yet;
    return received[1] == 0x03 ? first_bytes::tls : first_bytes::other;
  }
  bool could_be_hello = hello.substr(0, std::min(hello.size(), received.size())) ==
                        received.substr(0, std::min(hello.size(), received.size()));
  if (could_be_hello && received.size() >= hello.size()) return first_bytes::hello;
  // HTTP/2's preface begins as a request line would ("PRI * HTTP/2.0"): told apart by all of it.
  constexpr std::string_view preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  const std::size_t p = std::min(preface.size(), received.size());
  if (received.substr(0, p) == preface.substr(0, p)) {
    if (received.size() >= preface.size()) return first_bytes::h2;
    // "PRI * HTTP/2.0\r\n\r\n" could still be an HTTP/1 request line of method PRI: wait for the rest.
    return first_bytes::nothing_yet;
  }
  bool could_be_http = false;
  for (std::string_view m : methods) {
    std::size_t n = std::min(m.size(), received.size());
    if (m.substr(0, n) == received.substr(0, n)) {
      if (received.size() >= m.size()) return first_bytes::http;
      could_be_http = true;
    }
  }
  if (could_be_hello || could_be_http) return first_bytes::nothing_yet;
  return first_bytes::other;
}

const std::string* http_request::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return &v;
  return nullptr;
}

bool http_request::keep_alive() const {
  const std::string* c = header("Connection");
  if (minor_version == 0) return c && icontains(*c, "keep-alive");
  return !(c && icontains(*c, "close"));
}

bool http_request::wants_html() const {
  const std::string* accept = header("Accept");
  return accept && icontains(*accept, "text/html");
}

bool http_request::wants_event_stream() const {
  const std::string* accept = header("Accept");
  return accept && icontains(*accept, "text/event-stream");
}

bool http_request::has_body() const {
  if (header("Transfer-Encoding")) return true;
  const std::string* length = header("Content-Length");
  if (!length) return false;
  if (length->empty()) return true;
  for (char c : *length)
    if (c != '0') return true;  // a length above 0, or not a number at all
  return false;
}

request_parser::state request_parser::feed(std::string_view bytes) {
  buffer_.append(bytes);
  if (state_ != state::incomplete) return state_;
  // Only the new bytes are scanned: a client trickling a head byte by byte costs linear time.
  // Limits count the bytes of each line without its line ending (CRLF or a bare LF).
  for (; scanned_ < buffer_.size(); ++scanned_) {
    if (buffer_[scanned_] != '\n') {
      ++line_len_;
      // An unfinished line over the limit is refused now, not when the client stops sending
      // (one byte of slack for the CR of a CRLF still to come).
      if (lines_ == 0 && line_len_ > limits_.request_line + 1) return fail(http_error::uri_too_long);
      if (lines_ > 0 && header_bytes_ + line_len_ > limits_.header_bytes + 1) return fail(http_error::headers_too_large);
      continue;
    }
    std::size_t len = line_len_;
    if (len > 0 && buffer_[scanned_ - 1] == '\r') --len;
    line_len_ = 0;
    if (len == 0) {
      if (lines_ == 0) {  // blank lines before a request line are ignored (RFC 9112 2.2)
        head_start_ = scanned_ + 1;
        // ... but not without end: they are kept in buffer_, and a client sending nothing but
        // line endings would otherwise fill memory while the head stays incomplete.
        if (head_start_ > limits_.request_line) return fail(http_error::bad_request);
        continue;
      }
      head_size_ = scanned_ + 1;
      ++scanned_;
      return parse_head(std::string_view(buffer_).substr(head_start_, head_size_ - head_start_));
    }
    if (lines_ == 0) {
      if (len > limits_.request_line) return fail(http_error::uri_too_long);
    } else {
      header_bytes_ += len;
      if (header_bytes_ > limits_.header_bytes || lines_ > limits_.header_lines) return fail(http_error::headers_too_large);
    }
    ++lines_;
  }
  return state_;
}

request_parser::state request_parser::parse_head(std::string_view head) {
  request_ = http_request{};
  std::size_t nl = head.find('\n');
  std::string_view line = trim_value(head.substr(0, nl));
  std::string_view rest = nl == std::string_view::npos ? std::string_view{} : head.substr(nl + 1);

  // METHOD SP TARGET SP HTTP/1.x
  std::size_t sp1 = line.find(' ');
  std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return fail(http_error::bad_request);
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method) || target.empty()) return fail(http_error::bad_request);
  if (std::any_of(target.begin(), target.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u >= 0x7f;
      }))
    return fail(http_error::bad_request);
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      !std::isdigit(static_cast<unsigned char>(version[5])) ||
      !std::isdigit(static_cast<unsigned char>(version[7])))
    return fail(http_error::bad_request);
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1'))
    return fail(http_error::version_not_supported);
  request_.method = method;
  request_.target = target;
  request_.minor_version = version[7] - '0';

  while (!rest.empty()) {
    std::size_t end = rest.find('\n');
    std::string_view h = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    if (!h.empty() && h.back() == '\r') h.remove_suffix(1);
    if (h.empty()) continue;
    if (h.front() == ' ' || h.front() == '\t') return fail(http_error::bad_request);  // obs-fold
    std::size_t colon = h.find(':');
    if (colon == std::string_view::npos || !is_token(h.substr(0, colon))) return fail(http_error::bad_request);
    std::string_view value = trim_value(h.substr(colon + 1));
    if (std::any_of(value.begin(), value.end(), [](char c) {
          auto u = static_cast<unsigned char>(c);
          return (u < 0x20 && u != '\t') || u == 0x7f;
        }))
      return fail(http_error::bad_request);
    request_.headers.emplace_back(std::string(h.substr(0, colon)), std::string(value));
  }
  // HTTP/1.1 requires Host (RFC 9112 section 3.2).
  if (request_.minor_version == 1 && !request_.header("Host")) return fail(http_error::bad_request);
  state_ = state::complete;
  return state_;
}

request_parser::state request_parser::next() {
  std::string rest = state_ == state::complete ? buffer_.substr(head_size_) : std::string{};
  buffer_.clear();
  head_size_ = 0;
  head_start_ = 0;
  scanned_ = 0;
  line_len_ = 0;
  lines_ = 0;
  header_bytes_ = 0;
  state_ = state::incomplete;
  request_ = http_request{};
  if (rest.empty()) return state_;
  return feed(rest);
}

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

}  // namespace portdemo
