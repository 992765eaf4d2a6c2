#include "portdemo/host_facts.hpp"

#include "portdemo/text.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>

namespace portdemo {

namespace {

// Skips spaces and tabs, then reads an unsigned number of at most 65535.
std::optional<std::uint16_t> read_port(std::string_view& s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  std::uint32_t value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || value > 65535) return std::nullopt;
  s.remove_prefix(static_cast<std::size_t>(ptr - s.data()));
  return static_cast<std::uint16_t>(value);
}

bool only_space_left(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

}  // namespace

std::optional<port_range> parse_port_range(std::string_view text) {
  auto low = read_port(text);
  if (!low) return std::nullopt;
  auto high = read_port(text);
  if (!high || !only_space_left(text) || *low > *high) return std::nullopt;
  return port_range{*low, *high};
}

std::optional<std::uint16_t> parse_sysctl_port(std::string_view text) {
  auto port = read_port(text);
  if (!port || !only_space_left(text)) return std::nullopt;
  return port;
}

std::optional<bool> parse_cap_net_bind_service(std::string_view status_text) {
  constexpr std::string_view key = "CapEff:";
  std::size_t at = status_text.rfind(key, 0) == 0 ? 0 : status_text.find("\nCapEff:");
  if (at == std::string_view::npos) return std::nullopt;
  if (at != 0) ++at;  // past the newline
  std::string_view rest = status_text.substr(at + key.size());
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  std::uint64_t caps = 0;
  auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), caps, 16);
  if (ec != std::errc{} || ptr == rest.data()) return std::nullopt;
  constexpr int cap_net_bind_service = 10;  // linux/capability.h
  return ((caps >> cap_net_bind_service) & 1U) != 0;
}

host_facts read_host_facts() {
  host_facts facts;
  if (auto t = read_text_file("/proc/sys/net/ipv4/ip_local_port_range")) facts.ephemeral = parse_port_range(*t);
  if (auto t = read_text_file("/proc/sys/net/ipv4/ip_unprivileged_port_start"))
    facts.unprivileged_port_start = parse_sysctl_port(*t);
  facts.root = ::geteuid() == 0;
  if (auto t = read_text_file("/proc/self/status"))
    facts.cap_net_bind_service = parse_cap_net_bind_service(*t).value_or(false);
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY)
    facts.open_files_limit = files.rlim_cur;
  return facts;
}

std::optional<bool> is_privileged(const host_facts& facts, std::uint16_t port) {
  if (!facts.unprivileged_port_start) return std::nullopt;
  return port != 0 && port < *facts.unprivileged_port_start;
}

std::optional<std::string> privilege_reason(const host_facts& facts) {
  if (!facts.cap_net_bind_service) return std::nullopt;
  return facts.root ? "root" : "cap_net_bind_service";
}

std::optional<std::string> bind_allowed_because(const host_facts& facts, std::uint16_t port) {
  if (port >= 1024 || port == 0) return std::nullopt;
  if (is_privileged(facts, port) == false) return "cutoff";
  if (auto reason = privilege_reason(facts)) return reason;
  return "unknown";
}

}  // namespace portdemo
