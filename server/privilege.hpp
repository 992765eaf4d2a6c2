#pragma once
// Bind, then drop: the server binds its ports while privileged, then becomes an ordinary user
// before it accepts anyone, so that a bug in serving clients cannot act as root.

#include <string>
#include <variant>

#include "portdemo/events.hpp"

namespace portdemo::server {

/// Why switching users could not be done: a sentence for people and the exit code.
struct privilege_error {
  std::string message;
  int exit_code = 0;
};

/// Whether this process can switch to another user at all (it runs as root); the error if not.
std::optional<privilege_error> check_can_switch(const std::string& user);

/// Switches to `user`: supplementary groups cleared, its group, its uid (which drops every
/// capability), no_new_privs; then checks that root cannot be regained. Reports what /proc says
/// afterwards, not what was asked.
std::variant<privileges_dropped_event, privilege_error> drop_privileges(const std::string& user);

}  // namespace portdemo::server
