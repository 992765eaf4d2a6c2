#pragma once
// The server's limits: how many connections, how long a client may take, how many bytes it may
// send before an answer. Each has a default and an option; all are plain values, no sockets.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "portdemo/host_facts.hpp"
#include "portdemo/http.hpp"
#include "portdemo/protocol.hpp"

namespace portdemo {

/// What the server allows each client, and how many at once.
struct server_limits {
  std::size_t max_connections = 256;                       ///< --max-connections
  std::chrono::milliseconds request_timeout{10'000};       ///< --request-timeout: a request, from its first byte
  std::chrono::milliseconds write_timeout{5'000};          ///< --write-timeout: one answer
  std::chrono::milliseconds keep_alive_timeout{15'000};    ///< --keep-alive-timeout: idle after an answer
  std::chrono::milliseconds shutdown_grace{1'500};         ///< --shutdown-grace: answers in flight, then cut
  std::size_t max_line = default_text_line_limit;          ///< --max-line: a raw client's first line
  http_limits http;                                        ///< --max-header-bytes, --max-header-lines
};

/// A duration given on the command line, or why it was refused.
struct duration_result {
  std::optional<std::chrono::milliseconds> value;
  std::string error;  ///< names the bad text and what is valid; empty on success
};

/// Parses "10" or "10s" (seconds, decimals allowed: "1.5"), "500ms" or "2m", from 1 ms to 1 hour.
duration_result parse_duration(std::string_view text);

/// A duration as the help and the reports write it: "10s", "1.5s", "500ms".
std::string format_duration(std::chrono::milliseconds d);

/// How many connections the server can hold at once with `open_file_limit` descriptors, of
/// which `in_use` are taken already: every connection needs one, and `reserve` stay free for
/// the "busy" answers and for files the server opens itself.
inline constexpr std::size_t descriptor_reserve = 16;

/// The connection cap to use: `requested`, or less when the descriptors would not suffice.
struct connection_cap {
  std::size_t value = 0;
  bool clamped = false;  ///< lower than requested, because of the open-file limit
};
connection_cap cap_connections(std::size_t requested, std::optional<std::size_t> open_file_limit,
                               std::size_t in_use);

/// Descriptors demo-client keeps for itself beside the connections it holds open.
inline constexpr std::uint64_t client_descriptor_reserve = 32;

/// Why `count` connections held open at once (--hold, --verify) cannot have an ephemeral port
/// each from this host's range, or nullopt when they can (or the range is unknown, or
/// --source-port pins the port).
std::optional<std::string> held_ports_problem(std::uint64_t count, const std::optional<port_range>& ephemeral,
                                              std::uint16_t source_port);

/// Why `count` connections held open at once cannot have a descriptor each under the hard
/// open-file limit `hard_limit` (ulimit -Hn), or nullopt.
std::optional<std::string> held_descriptors_problem(std::uint64_t count, std::uint64_t hard_limit);

/// Why --udp cannot go with --hold or --verify, or nullopt.
std::optional<std::string> udp_options_problem(bool udp, bool hold, bool verify);

}  // namespace portdemo
