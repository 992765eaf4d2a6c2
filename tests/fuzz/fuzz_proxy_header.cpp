// Fuzz target: the first bytes of a connection on a port that requires a PROXY header.
// parse_proxy_header is given the input whole and every prefix of it (the bytes of a first read,
// then all of them): a decided result never changes as bytes come (a header stays the same
// header, a malformed input keeps its code), and every result keeps its promises: "missing"
// exactly when no header starts so, need_more only under the version's limit, a header no longer
// than the input, made of its own bytes alone, with the endpoints its family has; reasons are
// printable. Then encode -> parse round trips on endpoints made from the input's bytes.

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "fuzz_support.hpp"
#include "portdemo/proxy_protocol.hpp"
#include "portdemo/text.hpp"

namespace {

using portdemo::fuzz::check;
using portdemo::proxy_header;
using portdemo::proxy_malformed;
using portdemo::proxy_need_more;
using portdemo::proxy_parse;

constexpr std::array<std::string_view, 13> codes{
    "missing",       "v1_too_long",    "v1_bad_family",  "v1_bad_address",     "v1_bad_port",
    "v1_bad_syntax", "v2_bad_version", "v2_bad_command", "v2_bad_family",      "v2_short_addresses",
    "v2_bad_tlv",    "v2_bad_checksum", "v2_too_long"};

bool starts_as(std::string_view bytes, std::string_view start) {
  const std::size_t n = std::min(bytes.size(), start.size());
  return bytes.substr(0, n) == start.substr(0, n);
}

bool is_v1(std::string_view bytes) { return !bytes.empty() && starts_as(bytes, portdemo::proxy_v1_prefix); }
bool is_v2(std::string_view bytes) { return !bytes.empty() && starts_as(bytes, portdemo::proxy_v2_signature); }

std::size_t be16(std::string_view s, std::size_t i) {
  return (std::size_t{static_cast<unsigned char>(s[i])} << 8U) | static_cast<unsigned char>(s[i + 1]);
}

void check_header(std::string_view bytes, const proxy_header& h) {
  check(h.length <= bytes.size(), "a header is no longer than the input");
  const std::string_view own = bytes.substr(0, h.length);
  const bool ip = h.family == "tcp4" || h.family == "tcp6" || h.family == "udp4" || h.family == "udp6";
  if (h.version == 1) {
    check(own.substr(0, 6) == "PROXY ", "v1 starts with PROXY and a space");
    check(h.length >= 15 && h.length <= portdemo::proxy_v1_max, "v1 is 15 to 107 bytes");
    check(own.substr(own.size() - 2) == "\r\n", "v1 ends with CRLF");
    check(own.find('\r') == own.size() - 2 && own.find('\n') == own.size() - 1, "v1: its first CR and LF end it");
    check(h.family == "tcp4" || h.family == "tcp6" || h.family == "unknown", "v1 families");
    check(!h.local && h.tlvs.empty() && !h.authority, "v1 has no LOCAL, no TLVs");
  } else {
    check(h.version == 2, "version 1 or 2");
    check(own.substr(0, 12) == portdemo::proxy_v2_signature, "v2 starts with the signature");
    check(h.length >= portdemo::proxy_v2_fixed && h.length <= portdemo::proxy_v2_max, "v2 is 16 to 2048 bytes");
    check(h.length == portdemo::proxy_v2_fixed + be16(own, 14), "v2 length is 16 + its length field");
    check(ip || h.family == "unix" || h.family == "unspec", "v2 families");
    check(!h.local || h.family == "unspec", "LOCAL says unspec");
    std::size_t tlv_bytes = 0;
    for (const auto& t : h.tlvs) tlv_bytes += 3 + t.value.size();
    check(tlv_bytes <= h.length - portdemo::proxy_v2_fixed, "TLVs within the header");
    const auto authority = std::find_if(h.tlvs.begin(), h.tlvs.end(), [](const auto& t) { return t.type == 2; });
    check(authority == h.tlvs.end() ? !h.authority : h.authority == authority->value, "authority is the first 0x02");
  }
  const bool endpoints = ip && !h.local;
  check(h.source.has_value() == endpoints && h.destination.has_value() == endpoints, "endpoints as the family says");
  if (endpoints) {
    const bool v6 = h.family.back() == '6';
    for (const auto* ep : {&*h.source, &*h.destination}) {
      check(portdemo::is_ip_address(ep->address), "endpoint addresses are IP literals");
      check(ep->is_v6() == v6, "endpoint addresses of the family");
    }
  }
  const proxy_parse again = portdemo::parse_proxy_header(own);
  check(std::holds_alternative<proxy_header>(again) && std::get<proxy_header>(again) == h,
        "a header is made of its own bytes alone");
}

void check_malformed(std::string_view bytes, const proxy_malformed& m) {
  check(std::find(codes.begin(), codes.end(), m.code) != codes.end(), "a known code");
  check(!m.reason.empty() && m.reason.size() <= 400, "a reason of a sentence");
  check(std::all_of(m.reason.begin(), m.reason.end(), [](char c) { return c >= 0x20 && c < 0x7f; }),
        "reasons are printable ASCII");
  check((m.code == "missing") == !(is_v1(bytes) || is_v2(bytes)), "missing exactly when no header starts so");
  if (m.code.starts_with("v1_")) check(is_v1(bytes) && bytes.size() >= 6, "v1 codes for v1 lines");
  if (m.code.starts_with("v2_")) check(is_v2(bytes) && bytes.size() >= 13, "v2 codes for v2 headers");
}

void check_result(std::string_view bytes, const proxy_parse& r) {
  if (std::holds_alternative<proxy_need_more>(r)) {
    check(bytes.empty() || is_v1(bytes) || is_v2(bytes), "need_more only for a header's start");
    if (is_v1(bytes)) check(bytes.size() < portdemo::proxy_v1_max, "v1: need_more under 107 bytes");
    if (is_v2(bytes)) check(bytes.size() < portdemo::proxy_v2_max, "v2: need_more under 2048 bytes");
  } else if (const auto* h = std::get_if<proxy_header>(&r)) {
    check_header(bytes, *h);
  } else {
    check_malformed(bytes, std::get<proxy_malformed>(r));
  }
}

bool same_decision(const proxy_parse& a, const proxy_parse& b) {
  if (a.index() != b.index()) return false;
  if (const auto* m = std::get_if<proxy_malformed>(&a)) return m->code == std::get<proxy_malformed>(b).code;
  return a == b;
}

// Every split into a first read and the rest: once decided, the result is the whole's.
void check_splits(std::string_view bytes, const proxy_parse& whole) {
  bool decided = false;
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    const proxy_parse first = portdemo::parse_proxy_header(bytes.substr(0, n));
    check_result(bytes.substr(0, n), first);
    if (std::holds_alternative<proxy_need_more>(first)) {
      check(!decided, "a decided result never goes back to need_more");
      continue;
    }
    decided = true;
    check(same_decision(first, whole), "a decided result never changes as bytes come");
  }
  if (bytes.empty()) check(std::holds_alternative<proxy_need_more>(whole), "nothing yet: need more");
}

// ---- round trips --------------------------------------------------------------------------------

// Reads the input's bytes as it goes, zeros past its end.
class reader {
 public:
  explicit reader(std::string_view bytes) : bytes_(bytes) {}
  unsigned char byte() { return pos_ < bytes_.size() ? static_cast<unsigned char>(bytes_[pos_++]) : 0; }
  std::uint16_t port() { return static_cast<std::uint16_t>((unsigned{byte()} << 8U) | byte()); }

 private:
  std::string_view bytes_;
  std::size_t pos_ = 0;
};

// An endpoint made from the input, and what the encoders make of its address.
struct made {
  portdemo::endpoint ep;
  int kind = 0;  // 4, 'm' (IPv4-mapped), 6, or 0 (not an address: text from the input)
  std::array<unsigned char, 16> v6{};  // 4 and 'm': ::ffff:a.b.c.d
};

std::string ntop(int af, const unsigned char* bytes) {
  std::array<char, INET6_ADDRSTRLEN> out{};
  check(::inet_ntop(af, bytes, out.data(), static_cast<socklen_t>(out.size())) != nullptr, "inet_ntop");
  return std::string(out.data());
}

made make_endpoint(reader& in) {
  made m;
  const unsigned choice = in.byte() % 5U;
  if (choice == 0) {  // IPv4
    m.kind = 4;
    m.v6[10] = m.v6[11] = 0xff;
    for (std::size_t i = 12; i < 16; ++i) m.v6[i] = in.byte();
    m.ep.address = ntop(AF_INET, m.v6.data() + 12);
  } else if (choice <= 2) {  // IPv6, mapped whenever the bytes say so
    for (auto& b : m.v6) b = in.byte();
    if (choice == 2) {  // mapped
      std::fill_n(m.v6.begin(), 10, 0);
      m.v6[10] = m.v6[11] = 0xff;
    }
    constexpr std::array<unsigned char, 12> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    m.kind = std::equal(mapped.begin(), mapped.end(), m.v6.begin()) ? 'm' : 6;
    m.ep.address = ntop(AF_INET6, m.v6.data());
    if (in.byte() & 1U) m.ep.address += "%eth0";  // a zone, dropped by the encoders
  } else if (choice == 3) {  // the mapped form spelt with capitals
    m.kind = 'm';
    m.v6[10] = m.v6[11] = 0xff;
    for (std::size_t i = 12; i < 16; ++i) m.v6[i] = in.byte();
    m.ep.address = "::FFFF:" + ntop(AF_INET, m.v6.data() + 12);
  } else {  // text from the input, up to 48 bytes: the encoders must cope
    const std::size_t n = in.byte() % 49U;
    for (std::size_t i = 0; i < n; ++i) m.ep.address += static_cast<char>(in.byte());
    m.kind = portdemo::is_ip_address(m.ep.address) ? -1 : 0;  // -1: an address after all, not checked exactly
  }
  m.ep.port = in.port();
  return m;
}

proxy_header parsed_header(const std::string& encoded) {
  const proxy_parse r = portdemo::parse_proxy_header(encoded);
  check(std::holds_alternative<proxy_header>(r), "an encoded header parses");
  proxy_header h = std::get<proxy_header>(r);
  check(h.length == encoded.size(), "an encoded header is all header");
  for (std::size_t n = 0; n < encoded.size(); ++n)
    check(std::holds_alternative<proxy_need_more>(portdemo::parse_proxy_header(std::string_view(encoded).substr(0, n))),
          "every proper prefix of an encoded header needs more");
  return h;
}

void check_round_trip(std::string_view bytes) {
  reader in(bytes);
  const made local = make_endpoint(in);
  const made remote = make_endpoint(in);
  const portdemo::socket_tuple t{local.ep, remote.ep};
  const std::string v1 = portdemo::encode_proxy_v1(t);
  const std::string v2 = portdemo::encode_proxy_v2(t);
  const proxy_header h1 = parsed_header(v1);
  const proxy_header h2 = parsed_header(v2);
  check(h1.version == 1 && h2.version == 2 && !h2.local, "the versions asked for, PROXY command");
  check(h2.tlvs.empty(), "no TLVs sent");

  // The same header with the input after it: the stream that follows is not the header's.
  const proxy_parse followed = portdemo::parse_proxy_header(v2 + std::string(bytes));
  check(std::holds_alternative<proxy_header>(followed) && std::get<proxy_header>(followed) == h2,
        "bytes after an encoded header change nothing");

  if (local.kind < 0 || remote.kind < 0) return;
  const auto v4ish = [](int k) { return k == 4 || k == 'm'; };
  const auto v6ish = [](int k) { return k == 6 || k == 'm'; };
  int family = 0;
  if (v4ish(local.kind) && v4ish(remote.kind))
    family = 4;
  else if (v6ish(local.kind) && v6ish(remote.kind))
    family = 6;
  if (family == 0) {
    check(v1 == "PROXY UNKNOWN\r\n", "mixed or not addresses: UNKNOWN");
    check(h2.family == "unspec" && h2.length == 16 && !h2.source, "mixed or not addresses: UNSPEC");
    return;
  }
  const auto text = [family](const made& m) {
    return family == 4 ? ntop(AF_INET, m.v6.data() + 12) : ntop(AF_INET6, m.v6.data());
  };
  const portdemo::endpoint source{text(local), local.ep.port};
  const portdemo::endpoint destination{text(remote), remote.ep.port};
  const std::string name = family == 4 ? "tcp4" : "tcp6";
  for (const proxy_header* h : {&h1, &h2}) {
    check(h->family == name, "the family of both addresses");
    check(h->source == source, "the source is the tuple's local end");
    check(h->destination == destination, "the destination is the tuple's remote end");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes = portdemo::fuzz::as_text(data, size);
  const proxy_parse whole = portdemo::parse_proxy_header(bytes);
  check_result(bytes, whole);
  check_splits(bytes, whole);
  check_round_trip(bytes);
  return 0;
}
