#pragma once
// Port numbers: IANA's classes (RFC 6335) and the port specs the programs accept.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portdemo {

/// A port's class in IANA's numbering (RFC 6335, section 6).
enum class port_class {
  well_known,  ///< 0-1023, "system ports"
  registered,  ///< 1024-49151, "user ports"
  dynamic,     ///< 49152-65535, "dynamic and/or private ports"
};

/// The class of a port: 0-1023 well-known, 1024-49151 registered, 49152-65535 dynamic.
port_class classify(std::uint16_t port) noexcept;

/// The class's name as JSON and the text print it: "well-known", "registered", "dynamic".
std::string_view to_string(port_class c) noexcept;

/// The class's range, e.g. "49152-65535".
std::string_view range_of(port_class c) noexcept;

/// Why a port spec was refused: the offending item and one sentence naming what is valid.
struct port_spec_error {
  std::string item;     ///< the bad item as given (may be empty)
  std::string message;  ///< the whole message, naming the item
};

/// A parsed port spec: the ports in the order given, or the error.
struct port_spec_result {
  std::vector<std::uint16_t> ports;      ///< valid when `error` is empty
  std::optional<port_spec_error> error;  ///< set when the spec was refused
};

/// Largest number of ports a single range, or a whole spec, may name.
inline constexpr std::size_t max_ports_in_spec = 1024;

/// Parses a spec such as "8080,8443", "9000-9003" or "http-alt,https-alt".
/// `allow_zero`: whether "0" (let the kernel choose) is accepted, as it is for a server.
port_spec_result parse_port_spec(std::string_view spec, bool allow_zero);

/// Parses one port: a number 0-65535 or a service name the project knows.
/// Returns the error message (naming the item) on failure.
port_spec_result parse_single_port(std::string_view item, bool allow_zero);

}  // namespace portdemo
