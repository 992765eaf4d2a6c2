#include "portdemo/proxy_protocol.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include <fmt/format.h>

namespace portdemo {
namespace {

constexpr std::size_t npos = std::string_view::npos;

// At most this many of the client's bytes are quoted in a reason.
constexpr std::size_t quote_max = 40;

// The longest IPv6 text inet_pton takes: "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".
constexpr std::size_t ipv6_text_max = 45;

// The sizes of the v2 address blocks.
constexpr std::size_t v2_inet_bytes = 12;   // 2 * 4 + 2 * 2
constexpr std::size_t v2_inet6_bytes = 36;  // 2 * 16 + 2 * 2
constexpr std::size_t v2_unix_bytes = 216;  // 2 * 108
constexpr std::size_t tlv_head = 3;         // type, 2-byte length

// The client's bytes in double quotes, printable: others (and " and \) as \xNN, cut at
// quote_max bytes with "..." after.
std::string quote(std::string_view bytes) {
  std::string out = "\"";
  const std::size_t n = std::min(bytes.size(), quote_max);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
      out += static_cast<char>(c);
    else
      out += fmt::format("\\x{:02x}", c);
  }
  if (bytes.size() > quote_max) out += "...";
  out += '"';
  return out;
}

proxy_malformed malformed(std::string code, std::string reason) {
  return proxy_malformed{std::move(code), std::move(reason)};
}

proxy_malformed missing(std::string_view bytes) {
  return malformed("missing", fmt::format("the connection starts with {}, not a PROXY header; this port needs "
                                          "\"PROXY \" (v1) or the v2 signature \\r\\n\\r\\n\\x00\\r\\nQUIT\\n first",
                                          quote(bytes)));
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

bool is_hex(char c) noexcept { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// ---- v1: whether a field's text so far can still become a valid field --------------------------
// Each check reads left to right and fails at the first byte no valid field could have there, so
// an extension of a text that fails fails too (a decided result never changes).

bool family_viable(std::string_view s) noexcept {
  for (std::string_view name : {std::string_view("TCP4"), std::string_view("TCP6"), std::string_view("UNKNOWN")})
    if (name.substr(0, s.size()) == s) return true;
  return false;
}

// A dotted quad as inet_pton(AF_INET) takes it: four decimal numbers 0-255, no leading zeros.
bool ipv4_viable(std::string_view s) noexcept {
  int dots = 0;
  int digits = 0;
  unsigned value = 0;
  for (char c : s) {
    if (is_digit(c)) {
      if (digits == 1 && value == 0) return false;  // a leading zero
      value = value * 10U + static_cast<unsigned>(c - '0');
      if (value > 255) return false;
      ++digits;
    } else if (c == '.') {
      if (digits == 0 || dots == 3) return false;
      ++dots;
      digits = 0;
      value = 0;
    } else {
      return false;
    }
  }
  return true;
}

// IPv6 as inet_pton(AF_INET6) takes it: groups of 1-4 hex digits, at most one "::", at most
// eight groups (seven with "::", which stands for one at least), an optional dotted-quad tail
// in the room of two groups. Not exact for every prefix; inet_pton decides the complete field.
bool ipv6_viable(std::string_view s) noexcept {
  if (s.size() > ipv6_text_max) return false;
  int groups = 0;
  int run = 0;  // hex digits in the current group
  bool run_decimal = true;
  bool doubled = false;
  std::size_t tail = npos;  // where a dotted-quad tail starts
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (tail != npos) {
      if (!ipv4_viable(s.substr(tail, i - tail + 1))) return false;
      continue;
    }
    const int room = doubled ? 7 : 8;
    if (is_hex(c)) {
      if (i == 1 && s[0] == ':') return false;  // a leading ':' must be "::"
      if (run == 0) {
        if (++groups > room) return false;
        run_decimal = true;
      }
      if (++run > 4) return false;
      if (!is_digit(c)) run_decimal = false;
    } else if (c == ':') {
      if (i > 0 && s[i - 1] == ':') {
        if (doubled) return false;  // a second "::" (or ":::")
        doubled = true;
      } else if (i > 0 && groups >= room) {
        return false;  // no room for another group
      }
      run = 0;
    } else if (c == '.') {
      if (run == 0 || run > 3 || !run_decimal || groups + 1 > room) return false;
      tail = i - static_cast<std::size_t>(run);
      if (!ipv4_viable(s.substr(tail, i - tail + 1))) return false;
    } else {
      return false;
    }
  }
  return true;
}

// A port: decimal 0-65535, no sign, no leading zeros.
bool port_viable(std::string_view s) noexcept {
  if (s.size() > 5) return false;
  unsigned value = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!is_digit(s[i]) || (i == 1 && s[0] == '0')) return false;
    value = value * 10U + static_cast<unsigned>(s[i] - '0');
  }
  return value <= 65535;
}

std::uint16_t port_value(std::string_view s) noexcept {
  unsigned value = 0;
  for (char c : s) value = value * 10U + static_cast<unsigned>(c - '0');
  return static_cast<std::uint16_t>(value);
}

// The address in inet_ntop's form, or nullopt if inet_pton does not take it. `text` holds
// only the characters address literals have (the viability checks saw to it).
std::optional<std::string> canonical_address(int af, std::string_view text) {
  const std::string c_text(text);
  std::array<unsigned char, 16> buf{};
  if (::inet_pton(af, c_text.c_str(), buf.data()) != 1) return std::nullopt;
  std::array<char, INET6_ADDRSTRLEN> out{};
  if (::inet_ntop(af, buf.data(), out.data(), static_cast<socklen_t>(out.size())) == nullptr) return std::nullopt;
  return std::string(out.data());
}

// The field starting at `pos`: up to the first space, CR or LF, or the end of what came.
std::string_view token_at(std::string_view line, std::size_t pos) {
  const std::size_t end = line.find_first_of(" \r\n", pos);
  return line.substr(pos, end == npos ? npos : end - pos);
}

proxy_malformed v1_syntax(std::string reason) { return malformed("v1_bad_syntax", std::move(reason)); }

proxy_malformed v1_family(std::string_view family) {
  return malformed("v1_bad_family",
                   fmt::format("the PROXY v1 line names family {}; valid: TCP4, TCP6, UNKNOWN", quote(family)));
}

proxy_malformed v1_address(std::string_view name, std::string_view text, bool v6) {
  return malformed("v1_bad_address",
                   v6 ? fmt::format("the PROXY v1 line's {} {} is not an IPv6 address; TCP6 needs one such as "
                                    "2001:db8::1",
                                    name, quote(text))
                      : fmt::format("the PROXY v1 line's {} {} is not an IPv4 address; TCP4 needs four numbers "
                                    "0-255 without leading zeros, such as 192.0.2.1",
                                    name, quote(text)));
}

proxy_malformed v1_port(std::string_view name, std::string_view text) {
  return malformed("v1_bad_port", fmt::format("the PROXY v1 line's {} {} is not a port; valid: 0 to 65535 in "
                                              "decimal, without sign or leading zeros",
                                              name, quote(text)));
}

class v1_parser {
 public:
  explicit v1_parser(std::string_view bytes)
      : line_(bytes.substr(0, proxy_v1_max)), capped_(bytes.size() >= proxy_v1_max) {}

  proxy_parse parse() {
    std::size_t pos = proxy_v1_prefix.size();
    const std::string_view family = token_at(line_, pos);
    if (!family_viable(family)) return v1_family(family);
    std::size_t end = pos + family.size();
    if (end == line_.size()) return out_of_bytes();
    if (family.empty()) {
      if (line_[end] == ' ') return v1_syntax("the PROXY v1 line has two spaces after \"PROXY\"; fields are separated "
                                              "by exactly one space");
      return v1_syntax("the PROXY v1 line ends right after \"PROXY \"; TCP4, TCP6 or UNKNOWN follows");
    }
    if (family != "TCP4" && family != "TCP6" && family != "UNKNOWN") return v1_family(family);

    proxy_header header;
    header.version = 1;
    if (family == "UNKNOWN") {
      header.family = "unknown";
      if (line_[end] != ' ') return line_end(end, std::move(header));
      // Anything up to the CRLF is ignored.
      const std::size_t stop = line_.find_first_of("\r\n", end + 1);
      if (stop == npos) return out_of_bytes();
      return line_end(stop, std::move(header));
    }

    const bool v6 = family == "TCP6";
    header.family = v6 ? "tcp6" : "tcp4";
    if (line_[end] != ' ')
      return v1_syntax(fmt::format("the PROXY v1 line ends after {}; it needs source and destination addresses "
                                   "and ports",
                                   family));
    constexpr std::array<std::string_view, 4> names{"source address", "destination address", "source port",
                                                    "destination port"};
    std::array<std::string, 2> addresses;
    std::array<std::uint16_t, 2> ports{};
    for (std::size_t i = 0; i < names.size(); ++i) {
      const bool is_address = i < 2;
      pos = end + 1;
      const std::string_view text = token_at(line_, pos);
      if (is_address && !(v6 ? ipv6_viable(text) : ipv4_viable(text))) return v1_address(names[i], text, v6);
      if (!is_address && !port_viable(text)) return v1_port(names[i], text);
      end = pos + text.size();
      if (end == line_.size()) return out_of_bytes();
      const char delimiter = line_[end];
      if (text.empty()) {
        if (delimiter == ' ')
          return v1_syntax(fmt::format("the PROXY v1 line has two spaces in a row before the {}; fields are "
                                       "separated by exactly one space",
                                       names[i]));
        return v1_syntax(fmt::format("the PROXY v1 line ends before the {}; {} needs source and destination "
                                     "addresses and ports",
                                     names[i], family));
      }
      if (is_address) {
        auto address = canonical_address(v6 ? AF_INET6 : AF_INET, text);
        if (!address) return v1_address(names[i], text, v6);
        addresses[i] = std::move(*address);
      } else {
        ports[i - 2] = port_value(text);
      }
      if (i + 1 < names.size() && delimiter != ' ')
        return v1_syntax(fmt::format("the PROXY v1 line ends after the {}; {} needs source and destination "
                                     "addresses and ports",
                                     names[i], family));
    }
    if (line_[end] == ' ')
      return v1_syntax("the PROXY v1 line goes on after the destination port; CRLF ends it there");
    header.source = endpoint{addresses[0], ports[0]};
    header.destination = endpoint{addresses[1], ports[1]};
    return line_end(end, std::move(header));
  }

 private:
  // No decision in the bytes that came: more may make one, unless the limit is reached.
  proxy_parse out_of_bytes() const {
    if (!capped_) return proxy_need_more{};
    return malformed("v1_too_long", fmt::format("the PROXY v1 line has no CRLF within its first {} bytes; the "
                                                "longest valid line is {} bytes, CRLF included",
                                                proxy_v1_max, proxy_v1_max));
  }

  // `at` is a CR or LF that must begin the CRLF ending the line.
  proxy_parse line_end(std::size_t at, proxy_header header) const {
    if (line_[at] == '\n')
      return v1_syntax("the PROXY v1 line ends with a bare LF; it must end with CRLF (\\r\\n)");
    if (at + 1 == line_.size()) return out_of_bytes();
    if (line_[at + 1] != '\n')
      return v1_syntax(fmt::format("the PROXY v1 line has a CR followed by {}; it must end with CRLF (\\r\\n)",
                                   quote(line_.substr(at + 1, 1))));
    header.length = at + 2;
    return header;
  }

  std::string_view line_;
  bool capped_;
};

// ---- v2 -----------------------------------------------------------------------------------------

std::uint8_t byte_at(std::string_view s, std::size_t i) noexcept { return static_cast<std::uint8_t>(s[i]); }

std::uint16_t be16(std::string_view s, std::size_t i) noexcept {
  return static_cast<std::uint16_t>((std::uint32_t{byte_at(s, i)} << 8U) | byte_at(s, i + 1));
}

std::uint32_t be32(std::string_view s, std::size_t i) noexcept {
  return (std::uint32_t{be16(s, i)} << 16U) | be16(s, i + 2);
}

struct v2_family {
  std::uint8_t byte;
  const char* name;
  std::size_t address_bytes;
  int af;  // AF_INET, AF_INET6, or 0: no endpoints
};

constexpr std::array<v2_family, 7> v2_families{{
    {0x00, "unspec", 0, 0},
    {0x11, "tcp4", v2_inet_bytes, AF_INET},
    {0x12, "udp4", v2_inet_bytes, AF_INET},
    {0x21, "tcp6", v2_inet6_bytes, AF_INET6},
    {0x22, "udp6", v2_inet6_bytes, AF_INET6},
    {0x31, "unix", v2_unix_bytes, 0},
    {0x32, "unix", v2_unix_bytes, 0},
}};

const v2_family* find_family(std::uint8_t byte) noexcept {
  for (const auto& f : v2_families)
    if (f.byte == byte) return &f;
  return nullptr;
}

endpoint v2_endpoint(int af, std::string_view address, std::uint16_t port) {
  std::array<char, INET6_ADDRSTRLEN> out{};
  // inet_ntop cannot fail for AF_INET and AF_INET6 with a buffer of INET6_ADDRSTRLEN.
  ::inet_ntop(af, address.data(), out.data(), static_cast<socklen_t>(out.size()));
  return endpoint{std::string(out.data()), port};
}

// The TLVs from `at` to the end of `header` (the whole header's bytes), which they must tile.
std::optional<proxy_malformed> parse_tlvs(std::string_view header, std::size_t at, proxy_header& out) {
  while (at < header.size()) {
    const std::size_t left = header.size() - at;
    if (left < tlv_head)
      return malformed("v2_bad_tlv", fmt::format("the PROXY v2 header ends with {} byte{} at offset {}, too few for "
                                                 "a TLV (3 bytes at least: type and 2-byte length)",
                                                 left, left == 1 ? "" : "s", at));
    const std::uint8_t type = byte_at(header, at);
    const std::size_t length = be16(header, at + 1);
    if (length > left - tlv_head)
      return malformed("v2_bad_tlv", fmt::format("the PROXY v2 header's TLV of type 0x{:02x} at offset {} announces "
                                                 "{} bytes but {} are left in the header",
                                                 type, at, length, left - tlv_head));
    const std::string_view value = header.substr(at + tlv_head, length);
    if (type == pp2_type_crc32c) {
      if (length != 4)
        return malformed("v2_bad_tlv", fmt::format("the PROXY v2 header's CRC32C TLV at offset {} has {} bytes; "
                                                   "it has exactly 4",
                                                   at, length));
      std::string zeroed(header);
      std::fill_n(zeroed.begin() + static_cast<std::ptrdiff_t>(at + tlv_head), 4, '\0');
      const std::uint32_t sent = be32(header, at + tlv_head);
      const std::uint32_t computed = proxy_crc32c(zeroed);
      if (sent != computed)
        return malformed("v2_bad_checksum", fmt::format("the PROXY v2 header's CRC32C TLV says 0x{:08x} but the "
                                                        "header's checksum is 0x{:08x}",
                                                        sent, computed));
    }
    if (type == pp2_type_authority && !out.authority) out.authority = std::string(value);
    out.tlvs.push_back(proxy_tlv{type, std::string(value)});
    at += tlv_head + length;
  }
  return std::nullopt;
}

// `bytes` starts with the whole signature.
proxy_parse parse_v2(std::string_view bytes) {
  if (bytes.size() < 13) return proxy_need_more{};
  const std::uint8_t version_command = byte_at(bytes, 12);
  const unsigned version = version_command >> 4U;
  const unsigned command = version_command & 0x0FU;
  if (version != 2)
    return malformed("v2_bad_version", fmt::format("the PROXY v2 header has version {} (byte 13 is 0x{:02x}); "
                                                   "valid: 2 (0x20 LOCAL, 0x21 PROXY)",
                                                   version, version_command));
  if (command > 1)
    return malformed("v2_bad_command", fmt::format("the PROXY v2 header has command {} (byte 13 is 0x{:02x}); "
                                                   "valid: 0 LOCAL, 1 PROXY",
                                                   command, version_command));
  const bool local = command == 0;
  if (bytes.size() < 14) return proxy_need_more{};
  const std::uint8_t family_byte = byte_at(bytes, 13);
  const v2_family* family = find_family(family_byte);
  // LOCAL: the family is ignored, and with it the addresses.
  if (!local && family == nullptr)
    return malformed("v2_bad_family", fmt::format("the PROXY v2 header has family and protocol 0x{:02x}; valid: "
                                                  "0x00 UNSPEC, 0x11 TCP4, 0x12 UDP4, 0x21 TCP6, 0x22 UDP6, "
                                                  "0x31 UNIX stream, 0x32 UNIX datagram",
                                                  family_byte));
  if (bytes.size() < proxy_v2_fixed) return proxy_need_more{};
  const std::size_t length = be16(bytes, 14);
  const std::size_t total = proxy_v2_fixed + length;
  if (!local && length < family->address_bytes)
    return malformed("v2_short_addresses", fmt::format("the PROXY v2 header's length {} is shorter than the {} "
                                                       "address bytes {} needs",
                                                       length, family->address_bytes, family->name));
  if (total > proxy_v2_max)
    return malformed("v2_too_long", fmt::format("the PROXY v2 header announces {} bytes (16 + {}); at most {} are "
                                                "accepted",
                                                total, length, proxy_v2_max));
  if (bytes.size() < total) return proxy_need_more{};

  const std::string_view header_bytes = bytes.substr(0, total);
  proxy_header header;
  header.version = 2;
  header.local = local;
  header.length = total;
  if (local) {
    header.family = "unspec";
    // What senders send (haproxy too): LOCAL with UNSPEC and TLVs, if any, after the 16 bytes.
    // With another family the block is addresses that do not count: discarded unread.
    if (family_byte != 0x00) return header;
    if (auto bad = parse_tlvs(header_bytes, proxy_v2_fixed, header)) return *std::move(bad);
    return header;
  }
  header.family = family->name;
  if (family->af != 0) {
    const bool v6 = family->af == AF_INET6;
    const std::size_t address_size = v6 ? 16 : 4;
    const std::size_t ports_at = proxy_v2_fixed + 2 * address_size;
    header.source =
        v2_endpoint(family->af, header_bytes.substr(proxy_v2_fixed, address_size), be16(header_bytes, ports_at));
    header.destination = v2_endpoint(family->af, header_bytes.substr(proxy_v2_fixed + address_size, address_size),
                                     be16(header_bytes, ports_at + 2));
  }
  if (auto bad = parse_tlvs(header_bytes, proxy_v2_fixed + family->address_bytes, header)) return *std::move(bad);
  return header;
}

// ---- encoding -----------------------------------------------------------------------------------

// An endpoint's address as the encoders see it.
struct ip_address {
  enum class kind { none, v4, mapped, v6 } what = kind::none;
  std::array<unsigned char, 16> v6{};  // v4 and mapped: ::ffff:a.b.c.d
  const unsigned char* v4() const noexcept { return v6.data() + 12; }
};

ip_address classify(std::string_view text) {
  ip_address out;
  text = text.substr(0, text.find('%'));  // a zone means nothing to the other host
  if (text.empty() || text.size() > ipv6_text_max || text.find_first_not_of("0123456789abcdefABCDEF.:") != npos)
    return out;
  const std::string c_text(text);
  if (::inet_pton(AF_INET, c_text.c_str(), out.v6.data() + 12) == 1) {
    out.v6[10] = 0xff;
    out.v6[11] = 0xff;
    out.what = ip_address::kind::v4;
    return out;
  }
  if (::inet_pton(AF_INET6, c_text.c_str(), out.v6.data()) != 1) return out;
  constexpr std::array<unsigned char, 12> mapped_prefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  out.what = std::equal(mapped_prefix.begin(), mapped_prefix.end(), out.v6.begin()) ? ip_address::kind::mapped
                                                                                     : ip_address::kind::v6;
  return out;
}

// What the tuple is sent as: 4, 6, or 0 (UNKNOWN / UNSPEC).
int tuple_family(const ip_address& a, const ip_address& b) noexcept {
  using kind = ip_address::kind;
  if (a.what == kind::none || b.what == kind::none) return 0;
  if (a.what != kind::v6 && b.what != kind::v6) return 4;    // v4 or mapped, both
  if (a.what != kind::v4 && b.what != kind::v4) return 6;    // v6 or mapped, both
  return 0;                                                  // IPv4 and IPv6
}

std::string ntop(int af, const unsigned char* bytes) {
  std::array<char, INET6_ADDRSTRLEN> out{};
  ::inet_ntop(af, bytes, out.data(), static_cast<socklen_t>(out.size()));
  return std::string(out.data());
}

void put_be16(std::string& out, std::uint16_t value) {
  out += static_cast<char>(value >> 8U);
  out += static_cast<char>(value & 0xFFU);
}

}  // namespace

proxy_parse parse_proxy_header(std::string_view bytes) {
  if (bytes.empty()) return proxy_need_more{};
  // The first byte that can start neither "PROXY " nor the v2 signature decides.
  const std::string_view start = bytes[0] == proxy_v1_prefix[0] ? proxy_v1_prefix : proxy_v2_signature;
  const std::size_t n = std::min(bytes.size(), start.size());
  if (bytes.substr(0, n) != start.substr(0, n)) return missing(bytes);
  if (bytes.size() < start.size()) return proxy_need_more{};
  if (start == proxy_v1_prefix) return v1_parser(bytes).parse();
  return parse_v2(bytes);
}

std::string encode_proxy_v1(const socket_tuple& t) {
  const ip_address source = classify(t.local.address);
  const ip_address destination = classify(t.remote.address);
  switch (tuple_family(source, destination)) {
    case 4:
      return fmt::format("PROXY TCP4 {} {} {} {}\r\n", ntop(AF_INET, source.v4()), ntop(AF_INET, destination.v4()),
                         t.local.port, t.remote.port);
    case 6:
      return fmt::format("PROXY TCP6 {} {} {} {}\r\n", ntop(AF_INET6, source.v6.data()),
                         ntop(AF_INET6, destination.v6.data()), t.local.port, t.remote.port);
    default:
      return "PROXY UNKNOWN\r\n";
  }
}

std::string encode_proxy_v2(const socket_tuple& t) {
  const ip_address source = classify(t.local.address);
  const ip_address destination = classify(t.remote.address);
  const int family = tuple_family(source, destination);
  std::string out(proxy_v2_signature);
  out += '\x21';  // version 2, PROXY
  if (family == 0) {
    out += '\x00';  // UNSPEC: no addresses
    put_be16(out, 0);
    return out;
  }
  const std::size_t size = family == 4 ? 4 : 16;
  const auto* a = family == 4 ? source.v4() : source.v6.data();
  const auto* b = family == 4 ? destination.v4() : destination.v6.data();
  out += family == 4 ? '\x11' : '\x21';
  put_be16(out, static_cast<std::uint16_t>(2 * size + 4));
  out.append(reinterpret_cast<const char*>(a), size);
  out.append(reinterpret_cast<const char*>(b), size);
  put_be16(out, t.local.port);
  put_be16(out, t.remote.port);
  return out;
}

std::uint32_t proxy_crc32c(std::string_view bytes) noexcept {
  std::uint32_t crc = 0xFFFFFFFFU;
  for (char c : bytes) {
    crc ^= static_cast<unsigned char>(c);
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1U) ^ (0x82F63B78U & (0U - (crc & 1U)));
  }
  return ~crc;
}

}  // namespace portdemo
