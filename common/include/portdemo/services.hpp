#pragma once
// The project's own table of well-known services, in the lecture's words.
// /etc/services is only a fallback: it says "domain" for 53, "ms-wbt-server" for 3389
// and has nothing for 8443, and minimal containers lack the file.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace portdemo {

/// One entry of the service table.
struct service {
  std::uint16_t port;            ///< the port the service is normally found on
  std::string_view name;         ///< short name usable in port specs, e.g. "http-alt"
  std::string_view description;  ///< what the lecture calls it, e.g. "HTTP alternate"
};

/// The whole built-in table, sorted by port.
std::span<const service> service_table() noexcept;

/// The built-in entry for a port, if any.
std::optional<service> find_service(std::uint16_t port) noexcept;

/// The port of a service name: built-in names and aliases first, then /etc/services (tcp).
std::optional<std::uint16_t> find_service_port(std::string_view name);

/// What is normally found on a port: the built-in description, else the /etc/services name
/// (tcp), else an empty string.
std::string describe_port(std::uint16_t port);

/// Looks a port up in the text of an /etc/services file (tcp entries only); the first name.
std::optional<std::string> services_file_name(std::string_view file_text, std::uint16_t port);

/// Looks a name or alias up in the text of an /etc/services file (tcp entries only).
std::optional<std::uint16_t> services_file_port(std::string_view file_text, std::string_view name);

/// The built-in names, comma separated, for messages that list what is valid.
std::string known_service_names();

}  // namespace portdemo
