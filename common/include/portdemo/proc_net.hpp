#pragma once
// Who holds a port: the kernel's socket tables (/proc/net/tcp, /proc/net/tcp6) and the process
// owning each socket (/proc/PID/fd). Read only to explain "address in use"; parsed by pure
// functions that tests feed with given text.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "portdemo/endpoint.hpp"

namespace portdemo {

/// A TCP state as the kernel numbers it (include/net/tcp_states.h).
enum class tcp_state : int {
  established = 1, syn_sent, syn_recv, fin_wait1, fin_wait2, time_wait, close, close_wait,
  last_ack, listen, closing, new_syn_recv
};

/// "ESTABLISHED", "TIME_WAIT", "LISTEN", ... as ss prints them (ss says "TIME-WAIT").
std::string_view to_string(tcp_state s) noexcept;

/// One line of /proc/net/tcp or /proc/net/tcp6.
struct socket_entry {
  endpoint local;
  endpoint remote;
  tcp_state state = tcp_state::close;
  unsigned uid = 0;
  std::uint64_t inode = 0;  ///< 0 for TIME_WAIT sockets, which no process owns
};

/// Parses the text of /proc/net/tcp or /proc/net/tcp6 (the header line is skipped; malformed
/// lines are skipped).
std::vector<socket_entry> parse_proc_net_tcp(std::string_view text);

/// A process, as /proc shows it.
struct process_info {
  int pid = 0;
  std::string command;  ///< /proc/PID/comm, escaped for printing
};

/// A socket using a port, with its owner when this user may see it.
struct port_user {
  socket_entry socket;
  std::optional<process_info> owner;
};

/// The sockets of this network namespace whose local port is `port`, listeners first, at most
/// `limit` of them, each with its owning process where visible.
/// With `udp`, the UDP tables (/proc/net/udp, udp6) instead, where a bound socket shows as CLOSE.
std::vector<port_user> find_port_users(std::uint16_t port, std::size_t limit = 5, bool udp = false);

/// The IP addresses this host's interfaces have (getifaddrs), IPv4 first.
std::vector<std::string> local_addresses();

}  // namespace portdemo
