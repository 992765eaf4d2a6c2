#pragma once
// Sockets handed over by a service manager (systemd's socket activation protocol,
// sd_listen_fds(3)): the manager binds the ports, privileged ones included, and starts the
// server with the sockets open from descriptor 3 on. No sockets, no Asio: the environment only.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portdemo {

/// The first descriptor a service manager passes (SD_LISTEN_FDS_START).
inline constexpr int listen_fds_start = 3;

/// What LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES say.
struct passed_sockets {
  int count = 0;                   ///< descriptors listen_fds_start .. listen_fds_start + count - 1
  std::vector<std::string> names;  ///< LISTEN_FDNAMES, split at ':' (may be empty)
  std::string problem;             ///< why the variables were not used, when they are set but wrong
};

/// Reads the variables as given (null when unset). `pid` is this process's: LISTEN_PID names the
/// process the sockets are for, so a child that inherited the variables does not take them.
passed_sockets parse_listen_fds(const char* listen_pid, const char* listen_fds, const char* listen_fdnames,
                                long pid);

}  // namespace portdemo
