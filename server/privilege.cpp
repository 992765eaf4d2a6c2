#include "privilege.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "portdemo/failure.hpp"
#include "portdemo/text.hpp"

namespace portdemo::server {

namespace {

// A "Name:\tvalue" line of /proc/self/status.
std::string status_field(const std::string& status, std::string_view name) {
  std::string key = std::string(name) + ":";
  auto at = status.find("\n" + key);
  if (at == std::string::npos) return {};
  at += key.size() + 1;
  auto end = status.find('\n', at);
  return std::string(trim(std::string_view(status).substr(at, end - at)));
}

}  // namespace

std::optional<privilege_error> check_can_switch(const std::string& user) {
  if (::geteuid() == 0) return std::nullopt;
  return privilege_error{fmt::format("--user {}: switching to another user needs root, and this process runs "
                                     "as uid {}. Start it as root (sudo demo-server ... --user {}), or leave "
                                     "out --user.",
                                     user, ::geteuid(), user),
                         exit_code::no_perm};
}

std::variant<privileges_dropped_event, privilege_error> drop_privileges(const std::string& user) {
  if (auto refused = check_can_switch(user)) return *refused;
  errno = 0;
  const passwd* pw = ::getpwnam(user.c_str());
  if (!pw) {
    return privilege_error{fmt::format("--user {}: no such user on this host (getpwnam); give an existing "
                                       "unprivileged user such as nobody",
                                       user),
                           exit_code::usage};
  }
  if (pw->pw_uid == 0) {
    return privilege_error{fmt::format("--user {}: that user is root (uid 0), so nothing would be dropped; give "
                                       "an unprivileged user such as nobody",
                                       user),
                           exit_code::usage};
  }
  const uid_t uid = pw->pw_uid;
  const gid_t gid = pw->pw_gid;
  // The order matters: groups and gid while still root, the uid last (it takes the right to
  // change the others with it).
  const auto fail = [&](const char* step) {
    return privilege_error{fmt::format("--user {}: {} failed ({}: {})", user, step, errno_name(errno),
                                       std::strerror(errno)),
                           exit_code::no_perm};
  };
  if (::setgroups(0, nullptr) != 0) return fail("setgroups(0): clearing the supplementary groups");
  if (::setresgid(gid, gid, gid) != 0) return fail(fmt::format("setresgid({})", gid).c_str());
  if (::setresuid(uid, uid, uid) != 0) return fail(fmt::format("setresuid({})", uid).c_str());
  // No exec can give privileges back (setuid binaries, file capabilities).
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail("prctl(PR_SET_NO_NEW_PRIVS)");

  privileges_dropped_event ev;
  ev.user = user;
  // Root must be gone for good: try to take it back, and expect EPERM.
  if (::setuid(0) == 0 || ::seteuid(0) == 0) {
    return privilege_error{fmt::format("--user {}: after switching, setuid(0) still succeeded: refusing to "
                                       "serve with a way back to root",
                                       user),
                           exit_code::software};
  }
  ev.regain_error = errno_name(errno);
  // What the kernel says now, not what was asked.
  std::string status = read_text_file("/proc/self/status").value_or("");
  ev.uids = status_field(status, "Uid");
  ev.gids = status_field(status, "Gid");
  ev.groups = status_field(status, "Groups");
  ev.cap_effective = status_field(status, "CapEff");
  ev.cap_permitted = status_field(status, "CapPrm");
  ev.no_new_privs = status_field(status, "NoNewPrivs") == "1";
  ev.uid = uid;
  ev.gid = gid;
  return ev;
}

}  // namespace portdemo::server
