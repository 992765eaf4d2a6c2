#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <variant>

#include "portdemo/proxy_protocol.hpp"

namespace portdemo {

// Readable failures: gtest finds these by ADL.
void PrintTo(const proxy_header& h, std::ostream* os) {
  *os << "header{v" << h.version << (h.local ? " LOCAL" : "") << " " << h.family;
  if (h.source) *os << " src " << to_string(*h.source);
  if (h.destination) *os << " dst " << to_string(*h.destination);
  *os << " length " << h.length << " tlvs " << h.tlvs.size();
  if (h.authority) *os << " authority " << *h.authority;
  *os << "}";
}
void PrintTo(const proxy_malformed& m, std::ostream* os) { *os << "malformed{" << m.code << ": " << m.reason << "}"; }
void PrintTo(const proxy_need_more&, std::ostream* os) { *os << "need_more"; }

namespace {

using namespace std::string_literals;

// "need_more", "header" or the malformed code.
std::string kind_of(const proxy_parse& r) {
  if (std::holds_alternative<proxy_need_more>(r)) return "need_more";
  if (std::holds_alternative<proxy_header>(r)) return "header";
  return std::get<proxy_malformed>(r).code;
}

proxy_header header_of(std::string_view bytes) {
  const proxy_parse r = parse_proxy_header(bytes);
  if (const auto* h = std::get_if<proxy_header>(&r)) return *h;
  ADD_FAILURE() << "not a header: " << kind_of(r);
  return {};
}

proxy_malformed malformed_of(std::string_view bytes) {
  const proxy_parse r = parse_proxy_header(bytes);
  if (const auto* m = std::get_if<proxy_malformed>(&r)) return *m;
  ADD_FAILURE() << "not malformed: " << kind_of(r);
  return {};
}

std::string be16(std::uint16_t v) {
  return {static_cast<char>(v >> 8U), static_cast<char>(v & 0xFFU)};
}

// A v2 header: signature, version/command, family, the length given, then the block.
std::string v2_with_length(std::uint8_t version_command, std::uint8_t family, std::uint16_t length,
                           std::string_view block) {
  return std::string(proxy_v2_signature) + static_cast<char>(version_command) + static_cast<char>(family) +
         be16(length) + std::string(block);
}

// The same with the length of the block.
std::string v2(std::uint8_t version_command, std::uint8_t family, std::string_view block) {
  return v2_with_length(version_command, family, static_cast<std::uint16_t>(block.size()), block);
}

std::string tlv(std::uint8_t type, std::string_view value) {
  return static_cast<char>(type) + be16(static_cast<std::uint16_t>(value.size())) + std::string(value);
}

// 192.0.2.1:56324 -> 198.51.100.2:443
const std::string inet_block = "\xc0\x00\x02\x01"s "\xc6\x33\x64\x02"s "\xdc\x04"s "\x01\xbb"s;
// [2001:db8::1]:56324 -> [2001:db8::2]:443
const std::string inet6_block = "\x20\x01\x0d\xb8"s + std::string(11, '\0') + "\x01"s + "\x20\x01\x0d\xb8"s +
                                std::string(11, '\0') + "\x02"s + "\xdc\x04"s + "\x01\xbb"s;

proxy_header v1_header(std::string family, std::optional<endpoint> src, std::optional<endpoint> dst,
                       std::size_t length) {
  proxy_header h;
  h.version = 1;
  h.family = std::move(family);
  h.source = std::move(src);
  h.destination = std::move(dst);
  h.length = length;
  return h;
}

proxy_header v2_header(std::string family, std::optional<endpoint> src, std::optional<endpoint> dst,
                       std::size_t length, bool local = false) {
  proxy_header h = v1_header(std::move(family), std::move(src), std::move(dst), length);
  h.version = 2;
  h.local = local;
  return h;
}

const std::string ffff39 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";

// ---- v1 ----------------------------------------------------------------------------------------

TEST(ProxyV1, Tcp4TheSpecsExample) {
  const std::string line = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
  EXPECT_EQ(line.size(), 47U);
  EXPECT_EQ(header_of(line + "GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n"),
            v1_header("tcp4", endpoint{"192.168.0.1", 56324}, endpoint{"192.168.0.11", 443}, 47));
}

TEST(ProxyV1, Tcp4Extremes) {
  EXPECT_EQ(header_of("PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n"),
            v1_header("tcp4", endpoint{"255.255.255.255", 65535}, endpoint{"0.0.0.0", 0}, 44));
}

TEST(ProxyV1, Tcp6InCanonicalForm) {
  EXPECT_EQ(header_of("PROXY TCP6 2001:db8::1 2001:DB8:0:0:0:0:0:2 65535 0\r\n"),
            v1_header("tcp6", endpoint{"2001:db8::1", 65535}, endpoint{"2001:db8::2", 0}, 53));
}

TEST(ProxyV1, Tcp6LongestAddressesAre104Bytes) {
  const std::string line = "PROXY TCP6 " + ffff39 + " " + ffff39 + " 65535 65535\r\n";
  ASSERT_EQ(line.size(), 104U);
  EXPECT_EQ(header_of(line), v1_header("tcp6", endpoint{ffff39, 65535}, endpoint{ffff39, 65535}, 104));
}

TEST(ProxyV1, Tcp6TakesAMappedAddressAsIs) {
  EXPECT_EQ(header_of("PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n"),
            v1_header("tcp6", endpoint{"::ffff:192.0.2.1", 1}, endpoint{"::1", 2}, 37));
}

TEST(ProxyV1, UnknownShortForm) {
  EXPECT_EQ(header_of("PROXY UNKNOWN\r\n"), v1_header("unknown", std::nullopt, std::nullopt, 15));
}

TEST(ProxyV1, UnknownIgnoresTheRestOfTheLine) {
  EXPECT_EQ(header_of("PROXY UNKNOWN whatever \x01 comes\r\nrest"),
            v1_header("unknown", std::nullopt, std::nullopt, 32));
  EXPECT_EQ(header_of("PROXY UNKNOWN \r\n"), v1_header("unknown", std::nullopt, std::nullopt, 16));
}

TEST(ProxyV1, TheSpecsWorstCaseIs107Bytes) {
  const std::string line = "PROXY UNKNOWN " + ffff39 + " " + ffff39 + " 65535 65535\r\n";
  ASSERT_EQ(line.size(), proxy_v1_max);
  EXPECT_EQ(header_of(line), v1_header("unknown", std::nullopt, std::nullopt, 107));
}

TEST(ProxyV1, OneByteOverIsTooLong) {
  const std::string line = "PROXY UNKNOWN " + ffff39 + " " + ffff39 + " 65535 655350\r\n";
  ASSERT_EQ(line.size(), 108U);
  const proxy_malformed m = malformed_of(line);
  EXPECT_EQ(m.code, "v1_too_long");
  EXPECT_EQ(m.reason, "the PROXY v1 line has no CRLF within its first 107 bytes; the longest valid line is 107 "
                      "bytes, CRLF included");
  // Decided at the 107th byte, a CR there included: its LF would be the 108th.
  EXPECT_EQ(kind_of(parse_proxy_header(line.substr(0, 106))), "need_more");
  EXPECT_EQ(kind_of(parse_proxy_header(line.substr(0, 107))), "v1_too_long");
  EXPECT_EQ(kind_of(parse_proxy_header("PROXY UNKNOWN " + std::string(92, 'x') + "\r\n")), "v1_too_long");
  EXPECT_EQ(kind_of(parse_proxy_header("PROXY UNKNOWN " + std::string(91, 'x') + "\r\n")), "header");
}

TEST(ProxyV1, BareLfIsRefused) {
  const proxy_malformed m = malformed_of("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n");
  EXPECT_EQ(m.code, "v1_bad_syntax");
  EXPECT_EQ(m.reason, "the PROXY v1 line ends with a bare LF; it must end with CRLF (\\r\\n)");
  EXPECT_EQ(malformed_of("PROXY UNKNOWN\n").code, "v1_bad_syntax");
  EXPECT_EQ(malformed_of("PROXY UNKNOWN a\nb\r\n").code, "v1_bad_syntax");
}

TEST(ProxyV1, CrWithoutLfIsRefused) {
  const proxy_malformed m = malformed_of("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\rX\n");
  EXPECT_EQ(m.code, "v1_bad_syntax");
  EXPECT_EQ(m.reason, "the PROXY v1 line has a CR followed by \"X\"; it must end with CRLF (\\r\\n)");
  EXPECT_EQ(malformed_of("PROXY UNKNOWN\r\r\n").code, "v1_bad_syntax");
}

TEST(ProxyV1, DoubleSpaceIsRefused) {
  const proxy_malformed m = malformed_of("PROXY TCP4  192.0.2.1 192.0.2.2 1 2\r\n");
  EXPECT_EQ(m.code, "v1_bad_syntax");
  EXPECT_EQ(m.reason, "the PROXY v1 line has two spaces in a row before the source address; fields are separated "
                      "by exactly one space");
  EXPECT_EQ(malformed_of("PROXY  TCP4 192.0.2.1 192.0.2.2 1 2\r\n").code, "v1_bad_syntax");
  EXPECT_EQ(malformed_of("PROXY TCP4 192.0.2.1 192.0.2.2 1  2\r\n").code, "v1_bad_syntax");
  // Decided at the second space.
  EXPECT_EQ(kind_of(parse_proxy_header("PROXY TCP4 192.0.2.1  ")), "v1_bad_syntax");
}

TEST(ProxyV1, FieldsMissingOrExtra) {
  const proxy_malformed few = malformed_of("PROXY TCP4 192.0.2.1 192.0.2.2 1\r\n");
  EXPECT_EQ(few.code, "v1_bad_syntax");
  EXPECT_EQ(few.reason, "the PROXY v1 line ends after the source port; TCP4 needs source and destination addresses "
                        "and ports");
  EXPECT_EQ(malformed_of("PROXY TCP4\r\n").code, "v1_bad_syntax");
  EXPECT_EQ(malformed_of("PROXY TCP6 ::1 \r\n").code, "v1_bad_syntax");
  EXPECT_EQ(malformed_of("PROXY \r\n").code, "v1_bad_syntax");
  const proxy_malformed extra = malformed_of("PROXY TCP4 192.0.2.1 192.0.2.2 1 2 3\r\n");
  EXPECT_EQ(extra.code, "v1_bad_syntax");
  EXPECT_EQ(extra.reason, "the PROXY v1 line goes on after the destination port; CRLF ends it there");
}

TEST(ProxyV1, BadFamily) {
  const proxy_malformed m = malformed_of("PROXY TCP5 192.0.2.1 192.0.2.2 1 2\r\n");
  EXPECT_EQ(m.code, "v1_bad_family");
  EXPECT_EQ(m.reason, "the PROXY v1 line names family \"TCP5\"; valid: TCP4, TCP6, UNKNOWN");
  // Decided at the byte that makes it no family, the quote as far as it came.
  EXPECT_EQ(malformed_of("PROXY TCP5"), m);
  EXPECT_EQ(malformed_of("PROXY tcp4 1.2.3.4 1.2.3.4 1 2\r\n").reason,
            "the PROXY v1 line names family \"tcp4\"; valid: TCP4, TCP6, UNKNOWN");
  EXPECT_EQ(malformed_of("PROXY TCP\r\n").code, "v1_bad_family");
  EXPECT_EQ(malformed_of("PROXY UNKNOWNX\r\n").code, "v1_bad_family");
  EXPECT_EQ(malformed_of("PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n").code, "v1_bad_family");
}

TEST(ProxyV1, ReasonsArePrintableAndShort) {
  EXPECT_EQ(malformed_of("PROXY \x1b[2J\"\\\xff x\r\n").reason,
            "the PROXY v1 line names family \"\\x1b[2J\\x22\\x5c\\xff\"; valid: TCP4, TCP6, UNKNOWN");
  EXPECT_EQ(malformed_of("PROXY " + std::string(60, 'A')).reason,
            "the PROXY v1 line names family \"" + std::string(40, 'A') + "...\"; valid: TCP4, TCP6, UNKNOWN");
}

TEST(ProxyV1, BadAddress) {
  const proxy_malformed m = malformed_of("PROXY TCP4 192.0.2.256 192.0.2.2 1 2\r\n");
  EXPECT_EQ(m.code, "v1_bad_address");
  EXPECT_EQ(m.reason, "the PROXY v1 line's source address \"192.0.2.256\" is not an IPv4 address; TCP4 needs four "
                      "numbers 0-255 without leading zeros, such as 192.0.2.1");
  EXPECT_EQ(malformed_of("PROXY TCP4 01.2.3.4 192.0.2.2 1 2\r\n").code, "v1_bad_address");
  EXPECT_EQ(malformed_of("PROXY TCP4 1.2.3 192.0.2.2 1 2\r\n").code, "v1_bad_address");
  EXPECT_EQ(malformed_of("PROXY TCP4 1.2.3.4.5 192.0.2.2 1 2\r\n").code, "v1_bad_address");
  EXPECT_EQ(malformed_of("PROXY TCP4 0x1.2.3.4 192.0.2.2 1 2\r\n").code, "v1_bad_address");
  EXPECT_EQ(malformed_of("PROXY TCP4 192.0.2.1 ::1 1 2\r\n").reason,
            "the PROXY v1 line's destination address \"::1\" is not an IPv4 address; TCP4 needs four numbers "
            "0-255 without leading zeros, such as 192.0.2.1");
  const proxy_malformed v6 = malformed_of("PROXY TCP6 192.0.2.1 ::1 1 2\r\n");
  EXPECT_EQ(v6.code, "v1_bad_address");
  EXPECT_EQ(v6.reason, "the PROXY v1 line's source address \"192.0.2.1\" is not an IPv6 address; TCP6 needs one "
                       "such as 2001:db8::1");
  EXPECT_EQ(malformed_of("PROXY TCP6 1::2::3 ::1 1 2\r\n").code, "v1_bad_address");
  EXPECT_EQ(malformed_of("PROXY TCP6 12345::1 ::1 1 2\r\n").code, "v1_bad_address");
  EXPECT_EQ(malformed_of("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n").code, "v1_bad_address");
  EXPECT_EQ(malformed_of("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n").code, "v1_bad_address");
  EXPECT_EQ(malformed_of("PROXY TCP6 1: ::1 1 2\r\n").code, "v1_bad_address");
  // Decided before the line ends.
  EXPECT_EQ(kind_of(parse_proxy_header("PROXY TCP4 1.2.3.4.")), "v1_bad_address");
  EXPECT_EQ(kind_of(parse_proxy_header("PROXY TCP4 1.2.3.4")), "need_more");
}

TEST(ProxyV1, BadPort) {
  const proxy_malformed m = malformed_of("PROXY TCP4 192.0.2.1 192.0.2.2 65536 2\r\n");
  EXPECT_EQ(m.code, "v1_bad_port");
  EXPECT_EQ(m.reason, "the PROXY v1 line's source port \"65536\" is not a port; valid: 0 to 65535 in decimal, "
                      "without sign or leading zeros");
  const proxy_malformed zero = malformed_of("PROXY TCP4 192.0.2.1 192.0.2.2 1 080\r\n");
  EXPECT_EQ(zero.code, "v1_bad_port");
  EXPECT_EQ(zero.reason, "the PROXY v1 line's destination port \"080\" is not a port; valid: 0 to 65535 in decimal, "
                         "without sign or leading zeros");
  EXPECT_EQ(malformed_of("PROXY TCP4 192.0.2.1 192.0.2.2 +1 2\r\n").code, "v1_bad_port");
  EXPECT_EQ(malformed_of("PROXY TCP4 192.0.2.1 192.0.2.2 -1 2\r\n").code, "v1_bad_port");
  EXPECT_EQ(malformed_of("PROXY TCP4 192.0.2.1 192.0.2.2 1 00\r\n").code, "v1_bad_port");
  EXPECT_EQ(malformed_of("PROXY TCP4 192.0.2.1 192.0.2.2 1 99999999999999999999\r\n").code, "v1_bad_port");
}

TEST(ProxyV1, EveryProperPrefixNeedsMore) {
  for (const std::string& line : {"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"s,
                                 "PROXY TCP6 2001:db8::1 ::ffff:1.2.3.4 0 65535\r\n"s, "PROXY UNKNOWN\r\n"s,
                                 "PROXY UNKNOWN " + ffff39 + " " + ffff39 + " 65535 65535\r\n"}) {
    for (std::size_t n = 0; n < line.size(); ++n)
      EXPECT_EQ(kind_of(parse_proxy_header(line.substr(0, n))), "need_more") << n << " bytes of " << line;
    EXPECT_EQ(header_of(line).length, line.size());
  }
}

// ---- neither -----------------------------------------------------------------------------------

TEST(ProxyMissing, HttpAtItsFirstByte) {
  EXPECT_EQ(kind_of(parse_proxy_header("G")), "missing");
  const proxy_malformed m = malformed_of("GET / HTTP/1.1\r\n");
  EXPECT_EQ(m.code, "missing");
  EXPECT_EQ(m.reason, "the connection starts with \"GET / HTTP/1.1\\x0d\\x0a\", not a PROXY header; this port "
                      "needs \"PROXY \" (v1) or the v2 signature \\r\\n\\r\\n\\x00\\r\\nQUIT\\n first");
}

TEST(ProxyMissing, HelloAtItsFirstByte) {
  EXPECT_EQ(kind_of(parse_proxy_header("p")), "missing");
  EXPECT_EQ(kind_of(parse_proxy_header("portdemo-hello 1\n")), "missing");
}

TEST(ProxyMissing, AtTheFirstByteThatDiffers) {
  EXPECT_EQ(kind_of(parse_proxy_header("")), "need_more");
  EXPECT_EQ(kind_of(parse_proxy_header("PROXY")), "need_more");
  EXPECT_EQ(kind_of(parse_proxy_header("PROXZ")), "missing");
  EXPECT_EQ(kind_of(parse_proxy_header("PROXY\r\n")), "missing");
  EXPECT_EQ(kind_of(parse_proxy_header("\x16\x03\x01")), "missing");  // TLS
  EXPECT_EQ(kind_of(parse_proxy_header("\r\n\r\n")), "need_more");
  EXPECT_EQ(kind_of(parse_proxy_header("\r\n\r\nX")), "missing");
  EXPECT_EQ(kind_of(parse_proxy_header("\r\n")), "need_more");
  EXPECT_EQ(kind_of(parse_proxy_header("\n")), "missing");
}

// ---- v2 ----------------------------------------------------------------------------------------

TEST(ProxyV2, Tcp4) {
  const std::string header = v2(0x21, 0x11, inet_block);
  EXPECT_EQ(header.size(), 28U);
  EXPECT_EQ(header_of(header), v2_header("tcp4", endpoint{"192.0.2.1", 56324}, endpoint{"198.51.100.2", 443}, 28));
}

TEST(ProxyV2, Tcp6) {
  EXPECT_EQ(header_of(v2(0x21, 0x21, inet6_block)),
            v2_header("tcp6", endpoint{"2001:db8::1", 56324}, endpoint{"2001:db8::2", 443}, 52));
}

TEST(ProxyV2, Udp4AndUdp6) {
  EXPECT_EQ(header_of(v2(0x21, 0x12, inet_block)),
            v2_header("udp4", endpoint{"192.0.2.1", 56324}, endpoint{"198.51.100.2", 443}, 28));
  EXPECT_EQ(header_of(v2(0x21, 0x22, inet6_block)),
            v2_header("udp6", endpoint{"2001:db8::1", 56324}, endpoint{"2001:db8::2", 443}, 52));
}

TEST(ProxyV2, Unspec) {
  EXPECT_EQ(header_of(v2(0x21, 0x00, "")), v2_header("unspec", std::nullopt, std::nullopt, 16));
  // Its block holds TLVs only.
  proxy_header with_tlv = v2_header("unspec", std::nullopt, std::nullopt, 23);
  with_tlv.tlvs = {proxy_tlv{0x05, "id42"}};
  EXPECT_EQ(header_of(v2(0x21, 0x00, tlv(0x05, "id42"))), with_tlv);
}

TEST(ProxyV2, Local) {
  EXPECT_EQ(header_of(v2(0x20, 0x00, "")), v2_header("unspec", std::nullopt, std::nullopt, 16, true));
  // The family is ignored, and the addresses with it; any family byte.
  EXPECT_EQ(header_of(v2(0x20, 0x11, inet_block)), v2_header("unspec", std::nullopt, std::nullopt, 28, true));
  EXPECT_EQ(header_of(v2(0x20, 0xff, "xyz")), v2_header("unspec", std::nullopt, std::nullopt, 19, true));
  EXPECT_EQ(header_of(v2(0x20, 0x21, "")), v2_header("unspec", std::nullopt, std::nullopt, 16, true));
  // As haproxy sends it for a connection it cannot describe: LOCAL, UNSPEC, TLVs.
  proxy_header with_authority = v2_header("unspec", std::nullopt, std::nullopt, 30, true);
  with_authority.tlvs = {proxy_tlv{0x02, "example.com"}};
  with_authority.authority = "example.com";
  EXPECT_EQ(header_of(v2(0x20, 0x00, tlv(0x02, "example.com"))), with_authority);
}

TEST(ProxyV2, Unix) {
  const std::string block = "/run/client.sock" + std::string(92, '\0') + "/run/server.sock" + std::string(92, '\0');
  ASSERT_EQ(block.size(), 216U);
  EXPECT_EQ(header_of(v2(0x21, 0x31, block)), v2_header("unix", std::nullopt, std::nullopt, 232));
  EXPECT_EQ(header_of(v2(0x21, 0x32, block)), v2_header("unix", std::nullopt, std::nullopt, 232));
  EXPECT_EQ(malformed_of(v2(0x21, 0x31, block.substr(0, 215))).code, "v2_short_addresses");
}

TEST(ProxyV2, AuthorityTlv) {
  proxy_header expected = v2_header("tcp4", endpoint{"192.0.2.1", 56324}, endpoint{"198.51.100.2", 443}, 50);
  expected.tlvs = {proxy_tlv{0x01, "h2"}, proxy_tlv{0x02, "example.com"}, proxy_tlv{0x04, ""}};
  expected.authority = "example.com";
  EXPECT_EQ(header_of(v2(0x21, 0x11, inet_block + tlv(0x01, "h2") + tlv(0x02, "example.com") + tlv(0x04, ""))),
            expected);
}

TEST(ProxyV2, TlvOverrunning) {
  const proxy_malformed m = malformed_of(v2(0x21, 0x11, inet_block + "\x02\x00\x14short"s));
  EXPECT_EQ(m.code, "v2_bad_tlv");
  EXPECT_EQ(m.reason, "the PROXY v2 header's TLV of type 0x02 at offset 28 announces 20 bytes but 5 are left in "
                      "the header");
  const proxy_malformed stray = malformed_of(v2(0x21, 0x11, inet_block + tlv(0x04, "") + "\x02\x00"s));
  EXPECT_EQ(stray.code, "v2_bad_tlv");
  EXPECT_EQ(stray.reason, "the PROXY v2 header ends with 2 bytes at offset 31, too few for a TLV (3 bytes at least: "
                          "type and 2-byte length)");
  EXPECT_EQ(malformed_of(v2(0x20, 0x00, "\x04")).code, "v2_bad_tlv");
}

TEST(ProxyV2, LengthTooShortForTheFamily) {
  const proxy_malformed m = malformed_of(v2(0x21, 0x11, inet_block.substr(0, 8)));
  EXPECT_EQ(m.code, "v2_short_addresses");
  EXPECT_EQ(m.reason, "the PROXY v2 header's length 8 is shorter than the 12 address bytes tcp4 needs");
  EXPECT_EQ(malformed_of(v2(0x21, 0x21, inet_block)).code, "v2_short_addresses");
  EXPECT_EQ(malformed_of(v2(0x21, 0x22, "")).code, "v2_short_addresses");
  // Decided with the 16 fixed bytes.
  EXPECT_EQ(kind_of(parse_proxy_header(v2_with_length(0x21, 0x11, 8, ""))), "v2_short_addresses");
}

TEST(ProxyV2, Version1Nibble) {
  const proxy_malformed m = malformed_of(v2(0x11, 0x11, inet_block));
  EXPECT_EQ(m.code, "v2_bad_version");
  EXPECT_EQ(m.reason, "the PROXY v2 header has version 1 (byte 13 is 0x11); valid: 2 (0x20 LOCAL, 0x21 PROXY)");
  EXPECT_EQ(kind_of(parse_proxy_header(std::string(proxy_v2_signature) + "\x11")), "v2_bad_version");
  EXPECT_EQ(kind_of(parse_proxy_header(std::string(proxy_v2_signature) + "\x01")), "v2_bad_version");
}

TEST(ProxyV2, Command2) {
  const proxy_malformed m = malformed_of(v2(0x22, 0x11, inet_block));
  EXPECT_EQ(m.code, "v2_bad_command");
  EXPECT_EQ(m.reason, "the PROXY v2 header has command 2 (byte 13 is 0x22); valid: 0 LOCAL, 1 PROXY");
  EXPECT_EQ(kind_of(parse_proxy_header(std::string(proxy_v2_signature) + "\x2f")), "v2_bad_command");
}

TEST(ProxyV2, BadFamily) {
  const proxy_malformed m = malformed_of(v2(0x21, 0x13, inet_block));
  EXPECT_EQ(m.code, "v2_bad_family");
  EXPECT_EQ(m.reason, "the PROXY v2 header has family and protocol 0x13; valid: 0x00 UNSPEC, 0x11 TCP4, 0x12 UDP4, "
                      "0x21 TCP6, 0x22 UDP6, 0x31 UNIX stream, 0x32 UNIX datagram");
  EXPECT_EQ(kind_of(parse_proxy_header(std::string(proxy_v2_signature) + "\x21\x41")), "v2_bad_family");
  EXPECT_EQ(kind_of(parse_proxy_header(std::string(proxy_v2_signature) + "\x21\x10")), "v2_bad_family");
}

TEST(ProxyV2, LengthOverTheMax) {
  const std::string over = v2_with_length(0x21, 0x11, 2033, inet_block);
  const proxy_malformed m = malformed_of(over);
  EXPECT_EQ(m.code, "v2_too_long");
  EXPECT_EQ(m.reason, "the PROXY v2 header announces 2049 bytes (16 + 2033); at most 2048 are accepted");
  EXPECT_EQ(malformed_of(v2_with_length(0x20, 0x00, 65535, "")).code, "v2_too_long");
  // Exactly the max: accepted once all of it came.
  const std::string at_max = v2(0x21, 0x11, inet_block + tlv(0x04, std::string(2048 - 28 - 3, '\0')));
  ASSERT_EQ(at_max.size(), proxy_v2_max);
  EXPECT_EQ(kind_of(parse_proxy_header(at_max.substr(0, 2047))), "need_more");
  EXPECT_EQ(header_of(at_max).length, 2048U);
}

TEST(ProxyV2, EveryProperPrefixNeedsMore) {
  for (const std::string& header :
       {v2(0x21, 0x11, inet_block), v2(0x21, 0x21, inet6_block + tlv(0x02, "example.com")), v2(0x20, 0x00, ""),
        v2(0x21, 0x31, std::string(216, 'u'))}) {
    for (std::size_t n = 0; n < header.size(); ++n)
      EXPECT_EQ(kind_of(parse_proxy_header(header.substr(0, n))), "need_more") << n << " of " << header.size();
    EXPECT_EQ(header_of(header).length, header.size());
  }
}

TEST(ProxyV2, Crc32c) {
  EXPECT_EQ(proxy_crc32c("123456789"), 0xE3069283U);  // RFC 3720's check value
  EXPECT_EQ(proxy_crc32c(""), 0U);
  // The checksum covers the whole header with its own field zeroed.
  std::string header = v2(0x21, 0x11, inet_block + tlv(0x03, std::string(4, '\0')));
  const std::uint32_t crc = proxy_crc32c(header);
  const std::string good = header.substr(0, 31) + be16(static_cast<std::uint16_t>(crc >> 16U)) +
                           be16(static_cast<std::uint16_t>(crc & 0xFFFFU));
  EXPECT_EQ(header_of(good).tlvs.size(), 1U);
  std::string bad = good;
  bad[20] = '\x07';  // the source address changed on the way
  EXPECT_EQ(malformed_of(bad).code, "v2_bad_checksum");
  EXPECT_EQ(malformed_of(v2(0x21, 0x11, inet_block + tlv(0x03, "abc"))).code, "v2_bad_tlv");
}

TEST(ProxyHeader, BytesAfterTheHeaderAreNotCounted) {
  EXPECT_EQ(header_of("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\nportdemo-hello 1\n").length, 36U);
  EXPECT_EQ(header_of("PROXY UNKNOWN\r\nPROXY TCP4 ").length, 15U);
  EXPECT_EQ(header_of(v2(0x21, 0x11, inet_block) + "portdemo-hello 1\n").length, 28U);
  EXPECT_EQ(header_of(v2(0x21, 0x11, inet_block) + std::string(5000, '\xff')).length, 28U);
  EXPECT_EQ(header_of(v2(0x20, 0x00, "") + "\r\n\r\n").length, 16U);
}

// ---- encoding ----------------------------------------------------------------------------------

TEST(ProxyEncode, V4) {
  const socket_tuple t{{"192.0.2.1", 56324}, {"198.51.100.2", 443}};
  EXPECT_EQ(encode_proxy_v1(t), "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n");
  EXPECT_EQ(encode_proxy_v2(t), v2(0x21, 0x11, inet_block));
  const proxy_header expected1 = v1_header("tcp4", t.local, t.remote, 45);
  EXPECT_EQ(header_of(encode_proxy_v1(t)), expected1);
  EXPECT_EQ(header_of(encode_proxy_v2(t)), v2_header("tcp4", t.local, t.remote, 28));
}

TEST(ProxyEncode, V6) {
  const socket_tuple t{{"2001:db8::1", 56324}, {"2001:DB8:0::2", 443}};
  EXPECT_EQ(encode_proxy_v1(t), "PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n");
  EXPECT_EQ(encode_proxy_v2(t), v2(0x21, 0x21, inet6_block));
  const endpoint remote{"2001:db8::2", 443};
  EXPECT_EQ(header_of(encode_proxy_v1(t)), v1_header("tcp6", t.local, remote, 46));
  EXPECT_EQ(header_of(encode_proxy_v2(t)), v2_header("tcp6", t.local, remote, 52));
}

TEST(ProxyEncode, MappedIsSentAsV4) {
  const socket_tuple t{{"::ffff:127.0.0.1", 40000}, {"127.0.0.1", 8080}};
  EXPECT_EQ(encode_proxy_v1(t), "PROXY TCP4 127.0.0.1 127.0.0.1 40000 8080\r\n");
  const endpoint local{"127.0.0.1", 40000};
  EXPECT_EQ(header_of(encode_proxy_v1(t)), v1_header("tcp4", local, t.remote, 43));
  EXPECT_EQ(header_of(encode_proxy_v2(t)), v2_header("tcp4", local, t.remote, 28));
  // Both mapped: IPv4 too.
  EXPECT_EQ(encode_proxy_v1({{"::ffff:10.0.0.1", 1}, {"::FFFF:10.0.0.2", 2}}), "PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n");
}

TEST(ProxyEncode, MappedWithV6IsSentAsV6) {
  const socket_tuple t{{"::ffff:127.0.0.1", 40000}, {"::1", 8080}};
  EXPECT_EQ(encode_proxy_v1(t), "PROXY TCP6 ::ffff:127.0.0.1 ::1 40000 8080\r\n");
  EXPECT_EQ(header_of(encode_proxy_v1(t)), v1_header("tcp6", t.local, t.remote, 44));
  EXPECT_EQ(header_of(encode_proxy_v2(t)), v2_header("tcp6", t.local, t.remote, 52));
}

TEST(ProxyEncode, MixedFamiliesAreUnknown) {
  const socket_tuple t{{"192.0.2.1", 40000}, {"::1", 8080}};
  EXPECT_EQ(encode_proxy_v1(t), "PROXY UNKNOWN\r\n");
  EXPECT_EQ(encode_proxy_v2(t), v2(0x21, 0x00, ""));
  EXPECT_EQ(header_of(encode_proxy_v1(t)), v1_header("unknown", std::nullopt, std::nullopt, 15));
  EXPECT_EQ(header_of(encode_proxy_v2(t)), v2_header("unspec", std::nullopt, std::nullopt, 16));
  // Not an address at all: the same.
  EXPECT_EQ(encode_proxy_v1({{"localhost", 1}, {"127.0.0.1", 2}}), "PROXY UNKNOWN\r\n");
  EXPECT_EQ(encode_proxy_v1({{"", 1}, {"", 2}}), "PROXY UNKNOWN\r\n");
}

TEST(ProxyEncode, ZoneIsDropped) {
  const socket_tuple t{{"fe80::1%eth0", 1}, {"fe80::2%eth0", 2}};
  EXPECT_EQ(encode_proxy_v1(t), "PROXY TCP6 fe80::1 fe80::2 1 2\r\n");
  EXPECT_EQ(header_of(encode_proxy_v2(t)),
            v2_header("tcp6", endpoint{"fe80::1", 1}, endpoint{"fe80::2", 2}, 52));
}

}  // namespace
}  // namespace portdemo
