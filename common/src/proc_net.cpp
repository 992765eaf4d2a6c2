#include "portdemo/proc_net.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "portdemo/render.hpp"
#include "portdemo/text.hpp"

namespace portdemo {

std::string_view to_string(tcp_state s) noexcept {
  switch (s) {
    case tcp_state::established: return "ESTABLISHED";
    case tcp_state::syn_sent: return "SYN_SENT";
    case tcp_state::syn_recv: return "SYN_RECV";
    case tcp_state::fin_wait1: return "FIN_WAIT1";
    case tcp_state::fin_wait2: return "FIN_WAIT2";
    case tcp_state::time_wait: return "TIME_WAIT";
    case tcp_state::close: return "CLOSE";
    case tcp_state::close_wait: return "CLOSE_WAIT";
    case tcp_state::last_ack: return "LAST_ACK";
    case tcp_state::listen: return "LISTEN";
    case tcp_state::closing: return "CLOSING";
    case tcp_state::new_syn_recv: return "NEW_SYN_RECV";
  }
  return "UNKNOWN";
}

namespace {

template <typename T>
bool parse_hex(std::string_view s, T& value) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value, 16);
  return ec == std::errc{} && ptr == s.data() + s.size();
}

// "0100007F:1F90" (IPv4) or 32 hex digits ":1F90" (IPv6). The kernel prints the address as the
// 32-bit words of the in-memory (network order) address, each in host byte order.
std::optional<endpoint> parse_address(std::string_view s) {
  auto colon = s.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view hex = s.substr(0, colon);
  std::uint32_t port = 0;
  if (!parse_hex(s.substr(colon + 1), port) || port > 65535) return std::nullopt;
  if (hex.size() != 8 && hex.size() != 32) return std::nullopt;
  std::array<std::uint32_t, 4> words{};
  std::size_t n = hex.size() / 8;
  for (std::size_t i = 0; i < n; ++i)
    if (!parse_hex(hex.substr(i * 8, 8), words[i])) return std::nullopt;
  char text[INET6_ADDRSTRLEN] = {};
  if (n == 1) {
    in_addr a{};
    a.s_addr = words[0];  // already the in-memory representation on this host
    ::inet_ntop(AF_INET, &a, text, sizeof text);
  } else {
    in6_addr a{};
    std::memcpy(&a, words.data(), sizeof a);
    ::inet_ntop(AF_INET6, &a, text, sizeof text);
  }
  return endpoint{text, static_cast<std::uint16_t>(port)};
}

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string read_all(const std::string& path) { return read_text_file(path).value_or(""); }

// The process whose descriptors include "socket:[inode]"; scans /proc/*/fd, bounded.
std::optional<process_info> owner_of(std::uint64_t inode) {
  if (inode == 0) return std::nullopt;
  const std::string wanted = "socket:[" + std::to_string(inode) + "]";
  DIR* proc = ::opendir("/proc");
  if (!proc) return std::nullopt;
  std::optional<process_info> found;
  while (dirent* d = ::readdir(proc)) {
    int pid = 0;
    auto [ptr, ec] = std::from_chars(d->d_name, d->d_name + std::strlen(d->d_name), pid);
    if (ec != std::errc{} || *ptr != '\0') continue;
    std::string fd_dir = std::string("/proc/") + d->d_name + "/fd";
    DIR* fds = ::opendir(fd_dir.c_str());
    if (!fds) continue;  // another user's process: not visible without privilege
    while (dirent* f = ::readdir(fds)) {
      if (f->d_name[0] == '.') continue;
      char target[64] = {};
      std::string link = fd_dir + "/" + f->d_name;
      ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
      if (n > 0 && wanted == std::string_view(target, static_cast<std::size_t>(n))) {
        std::string comm = read_all(std::string("/proc/") + d->d_name + "/comm");
        while (!comm.empty() && comm.back() == '\n') comm.pop_back();
        found = process_info{pid, printable(comm, 32)};
        break;
      }
    }
    ::closedir(fds);
    if (found) break;
  }
  ::closedir(proc);
  return found;
}

}  // namespace

std::vector<socket_entry> parse_proc_net_tcp(std::string_view text) {
  std::vector<socket_entry> out;
  bool header = true;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (header) {
      header = false;
      continue;
    }
    auto f = fields(line);
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
    if (f.size() < 10) continue;
    auto local = parse_address(f[1]);
    auto remote = parse_address(f[2]);
    unsigned state = 0;
    unsigned uid = 0;
    std::uint64_t inode = 0;
    if (!local || !remote || !parse_hex(f[3], state) || state < 1 || state > 12) continue;
    auto [p1, e1] = std::from_chars(f[7].data(), f[7].data() + f[7].size(), uid);
    auto [p2, e2] = std::from_chars(f[9].data(), f[9].data() + f[9].size(), inode);
    if (e1 != std::errc{} || e2 != std::errc{}) continue;
    out.push_back({*local, *remote, static_cast<tcp_state>(state), uid, inode});
  }
  return out;
}

std::vector<port_user> find_port_users(std::uint16_t port, std::size_t limit, bool udp) {
  std::vector<socket_entry> all = parse_proc_net_tcp(read_all(udp ? "/proc/net/udp" : "/proc/net/tcp"));
  auto v6 = parse_proc_net_tcp(read_all(udp ? "/proc/net/udp6" : "/proc/net/tcp6"));
  all.insert(all.end(), v6.begin(), v6.end());
  std::vector<socket_entry> matching;
  std::copy_if(all.begin(), all.end(), std::back_inserter(matching),
               [port](const socket_entry& e) { return e.local.port == port; });
  std::stable_partition(matching.begin(), matching.end(),
                        [](const socket_entry& e) { return e.state == tcp_state::listen; });
  std::vector<port_user> out;
  for (const auto& e : matching) {
    if (out.size() >= limit) break;
    out.push_back({e, owner_of(e.inode)});
  }
  return out;
}

std::vector<std::string> local_addresses() {
  std::vector<std::string> v4;
  std::vector<std::string> v6;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return {};
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || !(i->ifa_flags & IFF_UP)) continue;
    char text[INET6_ADDRSTRLEN] = {};
    if (i->ifa_addr->sa_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
      ::inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
      v4.emplace_back(text);
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
      ::inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text);
      std::string a = text;
      if (sin6->sin6_scope_id) a += "%" + std::string(i->ifa_name);
      v6.push_back(a);
    }
  }
  ::freeifaddrs(list);
  v4.insert(v4.end(), v6.begin(), v6.end());
  return v4;
}

}  // namespace portdemo
