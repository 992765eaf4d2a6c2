#pragma once
// This host's live port facts, read from /proc at run time and never assumed.
// Tests construct them by hand.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portdemo {

/// An inclusive range of ports.
struct port_range {
  std::uint16_t low = 0;   ///< first port of the range
  std::uint16_t high = 0;  ///< last port of the range
  /// Whether the port lies in [low, high].
  bool contains(std::uint16_t port) const noexcept { return port >= low && port <= high; }
  bool operator==(const port_range&) const = default;
};

/// The facts that decide which ports a process may bind and which ports clients get.
struct host_facts {
  /// net.ipv4.ip_local_port_range: where the kernel takes client (ephemeral) ports from.
  std::optional<port_range> ephemeral;
  /// net.ipv4.ip_unprivileged_port_start: the first port that needs no privilege.
  std::optional<std::uint16_t> unprivileged_port_start;
  bool root = false;                  ///< effective uid 0
  bool cap_net_bind_service = false;  ///< CAP_NET_BIND_SERVICE in the effective set
  /// RLIMIT_NOFILE's soft limit: how many descriptors (so connections) this process may hold.
  std::optional<std::uint64_t> open_files_limit;
};

/// Reads the facts of this host and process from /proc.
host_facts read_host_facts();

/// Parses the text of /proc/sys/net/ipv4/ip_local_port_range, e.g. "32768\t60999\n".
std::optional<port_range> parse_port_range(std::string_view text);

/// Parses a single port number as /proc prints it, e.g. "1024\n".
std::optional<std::uint16_t> parse_sysctl_port(std::string_view text);

/// Reads CapEff from the text of /proc/self/status and tells whether CAP_NET_BIND_SERVICE is in it.
std::optional<bool> parse_cap_net_bind_service(std::string_view status_text);

/// Whether a port counts as privileged on this host (below the cut-off); nullopt if unknown.
std::optional<bool> is_privileged(const host_facts& facts, std::uint16_t port);

/// Why this process may bind ports below the cut-off: "root" (uid 0 with the capability) or
/// "cap_net_bind_service" (the capability alone); nullopt if it may not. The kernel checks the
/// capability, not the uid: root with the capability dropped is refused.
std::optional<std::string> privilege_reason(const host_facts& facts);

/// Why binding a well-known port (below 1024) was allowed: "cutoff" when the port is at or above
/// this host's cut-off (0 in containers), else privilege_reason(); nullopt for ports 1024 and up,
/// where there is nothing to explain.
std::optional<std::string> bind_allowed_because(const host_facts& facts, std::uint16_t port);

/// IANA's dynamic range (RFC 6335), for comparison with the host's ephemeral range.
inline constexpr port_range iana_dynamic_range{49152, 65535};

}  // namespace portdemo
