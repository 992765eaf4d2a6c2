#pragma once
// The PROXY protocol (haproxy's doc/proxy-protocol.txt, versions 1 and 2): the header a proxy
// puts before a relayed connection's bytes to say who the client was. Pure code: parsing and
// encoding of bytes, no sockets. A port that requires the header parses everything received so
// far with parse_proxy_header until it says something other than "need more".

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "portdemo/endpoint.hpp"

namespace portdemo {

/// What every PROXY v1 header starts with.
inline constexpr std::string_view proxy_v1_prefix = "PROXY ";
/// What every PROXY v2 header starts with: \r\n\r\n\0\r\nQUIT\n (it has a NUL byte).
inline constexpr std::string_view proxy_v2_signature{"\r\n\r\n\0\r\nQUIT\n", 12};
/// The fixed part of a v2 header: signature, version and command, family, length.
inline constexpr std::size_t proxy_v2_fixed = 16;

/// One v2 Type-Length-Value vector, as it came (the value is the client's raw bytes).
struct proxy_tlv {
  std::uint8_t type = 0;
  std::string value;
  bool operator==(const proxy_tlv&) const = default;
};

/// The v2 TLV types the spec registers (some of them).
inline constexpr std::uint8_t pp2_type_alpn = 0x01;
inline constexpr std::uint8_t pp2_type_authority = 0x02;
inline constexpr std::uint8_t pp2_type_crc32c = 0x03;
inline constexpr std::uint8_t pp2_type_noop = 0x04;
inline constexpr std::uint8_t pp2_type_unique_id = 0x05;

/// A complete, valid header.
struct proxy_header {
  int version = 1;                       ///< 1 or 2
  bool local = false;                    ///< v2 LOCAL command: no client carried; the socket's own tuple stands
  /// v1: "tcp4" "tcp6" "unknown"; v2: "tcp4" "tcp6" "udp4" "udp6" "unix" "unspec" (always "unspec" for LOCAL)
  std::string family;
  std::optional<endpoint> source;        ///< the client as the proxy saw it; absent for LOCAL, UNKNOWN, UNSPEC, unix
  std::optional<endpoint> destination;   ///< the address the client dialled, as the proxy saw it
  std::size_t length = 0;                ///< bytes of the header (what the server skips before the real stream)
  std::vector<proxy_tlv> tlvs;           ///< v2 only, in order (a CRC32C TLV is checked, then listed too)
  /// v2 PP2_TYPE_AUTHORITY (0x02), e.g. the SNI host (the first one): the client's raw bytes, escape to print
  std::optional<std::string> authority;
  bool operator==(const proxy_header&) const = default;
};

/// The bytes so far are a proper prefix of a header that may still be valid.
struct proxy_need_more {
  bool operator==(const proxy_need_more&) const = default;
};

/// The bytes are not a valid header; decided at the first byte after which none could be.
struct proxy_malformed {
  /// Stable key: "missing" (not a PROXY header at all), "v1_too_long", "v1_bad_family",
  /// "v1_bad_address", "v1_bad_port", "v1_bad_syntax", "v2_bad_version", "v2_bad_command",
  /// "v2_bad_family", "v2_short_addresses", "v2_bad_tlv", "v2_bad_checksum", "v2_too_long".
  std::string code;
  /// One sentence for people naming the bad value and what would be valid. The client's bytes
  /// in it are printable ASCII (others as \xNN, as are " and \), quoted values cut at 40 bytes.
  std::string reason;
  bool operator==(const proxy_malformed&) const = default;
};

using proxy_parse = std::variant<proxy_need_more, proxy_header, proxy_malformed>;

/// Parses the start of a connection on a port that requires a PROXY header. `bytes` = everything
/// received so far (bytes after the header are left alone and not counted in `length`).
/// Stateless: feeding more bytes never changes a decided result.
proxy_parse parse_proxy_header(std::string_view bytes);

/// Largest v2 header accepted (16 + address block + TLVs); larger -> "v2_too_long".
inline constexpr std::size_t proxy_v2_max = 2048;
inline constexpr std::size_t proxy_v1_max = 107;  // the spec's limit, CRLF included

/// What a client (demo-client --proxy-protocol v1|v2) sends: the source is `t.local`, the
/// destination `t.remote`; TCP. An IPv4-mapped IPv6 address is sent as IPv4 when both are
/// v4/mapped (as IPv6 when the other is IPv6); a zone ("%eth0") is dropped. Mixed families, or
/// an address that is not an IP literal -> v1 "PROXY UNKNOWN\r\n" / v2 PROXY with UNSPEC.
std::string encode_proxy_v1(const socket_tuple& t);
std::string encode_proxy_v2(const socket_tuple& t);  // PROXY command, no TLVs

/// CRC32C (Castagnoli, as RFC 4960 appendix B) of `bytes`: what a PP2_TYPE_CRC32C TLV carries.
std::uint32_t proxy_crc32c(std::string_view bytes) noexcept;

}  // namespace portdemo
