#include "portdemo/services.hpp"

#include "portdemo/text.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <fstream>
#include <sstream>
#include <utility>
#include <unordered_map>
#include <vector>

namespace portdemo {

namespace {

// The lecture's table (20/21 FTP ... 5432 PostgreSQL), the two alternates the demo uses, and a
// few more a sysadmin meets daily. Sorted by port.
constexpr std::array table{
    service{20, "ftp-data", "FTP data"},
    service{21, "ftp", "FTP"},
    service{22, "ssh", "SSH"},
    service{23, "telnet", "Telnet"},
    service{25, "smtp", "SMTP (sending email)"},
    service{53, "dns", "DNS"},
    service{80, "http", "HTTP"},
    service{110, "pop3", "POP3 (receiving email)"},
    service{123, "ntp", "NTP (time)"},
    service{143, "imap", "IMAP (receiving email)"},
    service{179, "bgp", "BGP"},
    service{389, "ldap", "LDAP"},
    service{443, "https", "HTTPS"},
    service{465, "smtps", "SMTP over TLS"},
    service{587, "submission", "SMTP submission (TLS)"},
    service{636, "ldaps", "LDAP over TLS"},
    service{993, "imaps", "IMAP over TLS"},
    service{995, "pop3s", "POP3 over TLS"},
    service{1433, "ms-sql", "Microsoft SQL Server"},
    service{1434, "ms-sql-m", "Microsoft SQL Server browser"},
    service{3306, "mysql", "MySQL"},
    service{3389, "rdp", "RDP (Windows remote desktop)"},
    service{5432, "postgresql", "PostgreSQL"},
    service{5900, "vnc", "VNC (remote desktop)"},
    service{6379, "redis", "Redis"},
    service{8080, "http-alt", "HTTP alternate"},
    service{8443, "https-alt", "HTTPS alternate"},
    service{27017, "mongodb", "MongoDB"},
};

// Other spellings people type, mapped to the table's names.
struct alias {
  std::string_view name;
  std::uint16_t port;
};
constexpr std::array aliases{
    alias{"domain", 53},     alias{"www", 80},         alias{"postgres", 5432},
    alias{"ms-wbt-server", 3389}, alias{"mssql", 1433}, alias{"ftps-data", 20},
};

// The text of /etc/services, read once. Empty when the file is missing (minimal containers).
const std::string& services_file() {
  static const std::string text = read_text_file("/etc/services").value_or("");
  return text;
}

// Calls f(port, names...) for each tcp line of an /etc/services text: "name port/tcp aliases # c".
template <typename F>
void for_each_tcp_entry(std::string_view text, F&& f) {
  std::vector<std::string_view> words;  // reused: one allocation per file, not one per line
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    words.clear();
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      std::size_t j = i;
      while (j < line.size() && !std::isspace(static_cast<unsigned char>(line[j]))) ++j;
      if (j > i) words.push_back(line.substr(i, j - i));
      i = j;
    }
    if (words.size() < 2) continue;
    auto slash = words[1].find('/');
    if (slash == std::string_view::npos || words[1].substr(slash + 1) != "tcp") continue;
    std::uint32_t port = 0;
    auto num = words[1].substr(0, slash);
    auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), port);
    if (ec != std::errc{} || ptr != num.data() + num.size() || port > 65535) continue;
    words.erase(words.begin() + 1);
    if (f(static_cast<std::uint16_t>(port), words)) return;
  }
}

}  // namespace

std::span<const service> service_table() noexcept { return table; }

std::optional<service> find_service(std::uint16_t port) noexcept {
  auto it = std::lower_bound(table.begin(), table.end(), port,
                             [](const service& s, std::uint16_t p) { return s.port < p; });
  if (it != table.end() && it->port == port) return *it;
  return std::nullopt;
}

namespace {

// The tcp names of /etc/services with their ports, in the file's order, parsed once: scanning
// the file for every unknown name cost half a millisecond under the fuzzer's instrumentation.
const std::vector<std::pair<std::string, std::uint16_t>>& services_file_names() {
  static const auto names = [] {
    std::vector<std::pair<std::string, std::uint16_t>> out;
    for_each_tcp_entry(services_file(), [&](std::uint16_t p, const std::vector<std::string_view>& words) {
      for (auto w : words) out.emplace_back(std::string(w), p);
      return false;
    });
    return out;
  }();
  return names;
}

}  // namespace

std::optional<std::uint16_t> find_service_port(std::string_view name) {
  for (const auto& s : table)
    if (iequals(s.name, name)) return s.port;
  for (const auto& a : aliases)
    if (iequals(a.name, name)) return a.port;
  for (const auto& [n, port] : services_file_names())  // case-sensitive, first in the file wins
    if (n == name) return port;
  return std::nullopt;
}

std::string describe_port(std::uint16_t port) {
  if (auto s = find_service(port)) return std::string(s->description);
  // The first name /etc/services gives the port, indexed once: the server describes its port
  // on every request, and rescanning the file each time cost two thirds of an HTTP request's CPU.
  static const auto by_port = [] {
    std::unordered_map<std::uint16_t, std::string> m;
    for (const auto& [name, p] : services_file_names()) m.try_emplace(p, name);
    return m;
  }();
  auto it = by_port.find(port);
  return it == by_port.end() ? std::string{} : it->second;
}

std::optional<std::string> services_file_name(std::string_view file_text, std::uint16_t port) {
  std::optional<std::string> found;
  for_each_tcp_entry(file_text, [&](std::uint16_t p, const std::vector<std::string_view>& names) {
    if (p != port) return false;
    found = std::string(names.front());
    return true;
  });
  return found;
}

std::optional<std::uint16_t> services_file_port(std::string_view file_text, std::string_view name) {
  std::optional<std::uint16_t> found;
  for_each_tcp_entry(file_text, [&](std::uint16_t p, const std::vector<std::string_view>& names) {
    for (auto n : names) {
      if (n == name) {  // /etc/services names are case-sensitive
        found = p;
        return true;
      }
    }
    return false;
  });
  return found;
}

std::string known_service_names() {
  std::string out;
  for (const auto& s : table) {
    if (!out.empty()) out += ", ";
    out += s.name;
  }
  return out;
}

}  // namespace portdemo
