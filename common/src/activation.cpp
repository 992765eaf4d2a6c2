#include "portdemo/activation.hpp"

#include <charconv>

#include <fmt/format.h>

namespace portdemo {

namespace {

std::optional<long> whole_number(std::string_view text) {
  long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

}  // namespace

passed_sockets parse_listen_fds(const char* listen_pid, const char* listen_fds, const char* listen_fdnames,
                                long pid) {
  passed_sockets out;
  if (!listen_fds) return out;  // not started by a service manager
  auto count = whole_number(listen_fds);
  if (!count || *count > 1024) {
    out.problem = fmt::format("LISTEN_FDS=\"{}\" is not a number of sockets (0-1024): ignored", listen_fds);
    return out;
  }
  if (!listen_pid) {
    out.problem = "LISTEN_FDS is set but LISTEN_PID is not: ignored";
    return out;
  }
  auto owner = whole_number(listen_pid);
  if (!owner || *owner != pid) {
    out.problem = fmt::format("LISTEN_PID={} is not this process ({}): the sockets were meant for another one; "
                              "ignored",
                              listen_pid, pid);
    return out;
  }
  out.count = static_cast<int>(*count);
  if (listen_fdnames && *listen_fdnames) {
    std::string_view names = listen_fdnames;
    for (;;) {
      auto colon = names.find(':');
      out.names.emplace_back(names.substr(0, colon));
      if (colon == std::string_view::npos) break;
      names.remove_prefix(colon + 1);
    }
  }
  return out;
}

}  // namespace portdemo
