#include "portdemo/join.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <optional>

#include <fmt/format.h>

namespace portdemo {

namespace {

// An address parsed, so that "2001:DB8:0::5" and "2001:db8::5" are the same address and
// loopback, link-local and wildcard are read from the bytes rather than from the spelling.
struct parsed_address {
  bool v6 = false;
  std::array<unsigned char, 16> bytes{};  // IPv4 uses the first 4
  std::string text;                       // inet_ntop's canonical spelling

  bool operator==(const parsed_address& other) const { return v6 == other.v6 && bytes == other.bytes; }
};

std::string to_text(int family, const void* bytes) {
  std::array<char, INET6_ADDRSTRLEN> buffer{};
  if (!inet_ntop(family, bytes, buffer.data(), static_cast<socklen_t>(buffer.size()))) return {};
  return buffer.data();
}

std::optional<parsed_address> parse(const std::string& text) {
  parsed_address a;
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    std::memcpy(a.bytes.data(), &v4, 4);
  } else if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      // ::ffff:10.0.0.1 is how an IPv6 socket names an IPv4 address: a phone types 10.0.0.1.
      std::memcpy(a.bytes.data(), &v6.s6_addr[12], 4);
    } else {
      a.v6 = true;
      std::memcpy(a.bytes.data(), &v6, 16);
    }
  } else {
    return std::nullopt;  // a name or a typo: no URL can be promised for it
  }
  a.text = to_text(a.v6 ? AF_INET6 : AF_INET, a.bytes.data());
  return a;
}

bool is_wildcard(const parsed_address& a) {
  return std::all_of(a.bytes.begin(), a.bytes.begin() + (a.v6 ? 16 : 4), [](unsigned char b) { return b == 0; });
}

// 127.0.0.0/8 and ::1 reach only this host; fe80::/10 needs a zone ("%eth0") that no phone can
// type and no URL bar takes. Neither is a way in for a student.
bool is_unjoinable(const parsed_address& a) {
  if (!a.v6) return a.bytes[0] == 127;
  const bool loopback = std::all_of(a.bytes.begin(), a.bytes.begin() + 15, [](unsigned char b) { return b == 0; }) &&
                        a.bytes[15] == 1;
  const bool link_local = a.bytes[0] == 0xfe && (a.bytes[1] & 0xc0) == 0x80;
  return loopback || link_local;
}

// A listener's address, read once.
struct listener_view {
  parsed_address address;
  bool wildcard = false;
  const bound_listener* listener = nullptr;
};

bool covers(const listener_view& l, const parsed_address& a) {
  // The server sets IPV6_V6ONLY on its "::" listeners, so "::" covers IPv6 only, and "0.0.0.0"
  // IPv4 only.
  if (l.wildcard) return l.address.v6 == a.v6;
  return l.address == a;
}

void add_once(std::vector<std::string>& urls, std::string url) {
  if (std::find(urls.begin(), urls.end(), url) == urls.end()) urls.push_back(std::move(url));
}

}  // namespace

std::vector<interface_address> host_interface_addresses() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return {};
  std::unique_ptr<ifaddrs, decltype(&freeifaddrs)> owner(list, &freeifaddrs);

  std::vector<interface_address> v4;
  std::vector<interface_address> v6;
  for (const ifaddrs* i = list; i; i = i->ifa_next) {
    // Entries without an address (AF_PACKET aside, an interface with none) and interfaces
    // that are down cannot be joined by.
    if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
    const int family = i->ifa_addr->sa_family;
    std::string text;
    if (family == AF_INET) {
      sockaddr_in sin{};
      std::memcpy(&sin, i->ifa_addr, sizeof sin);
      text = to_text(AF_INET, &sin.sin_addr);
    } else if (family == AF_INET6) {
      sockaddr_in6 sin6{};
      std::memcpy(&sin6, i->ifa_addr, sizeof sin6);
      text = to_text(AF_INET6, &sin6.sin6_addr);  // inet_ntop writes no zone
    } else {
      continue;
    }
    // A loopback address on another interface (127.0.0.2 on a dummy) is loopback all the same.
    const std::optional<parsed_address> parsed = parse(text);
    if (!parsed || is_unjoinable(*parsed)) continue;
    auto& family_list = family == AF_INET ? v4 : v6;
    // The same address on two interfaces is one way in: the first interface names it.
    const bool seen = std::any_of(family_list.begin(), family_list.end(),
                                  [&](const interface_address& a) { return a.address == text; });
    if (!seen) family_list.push_back({i->ifa_name ? i->ifa_name : "", text});
  }
  // glibc's getifaddrs happens to list IPv4 before IPv6 (the kernel dumps families in number
  // order); collecting the families apart keeps the promise without relying on that.
  v4.insert(v4.end(), v6.begin(), v6.end());
  return v4;
}

std::vector<std::string> join_urls(const std::vector<interface_address>& host,
                                   const std::vector<bound_listener>& listeners) {
  std::vector<listener_view> views;
  for (const bound_listener& l : listeners) {
    std::optional<parsed_address> parsed = parse(l.address);
    if (!parsed) continue;
    const bool wildcard = is_wildcard(*parsed);
    if (!wildcard && is_unjoinable(*parsed)) continue;
    views.push_back({std::move(*parsed), wildcard, &l});
  }

  // The addresses to offer, in order: the host's own, then any specific listener address the
  // host list does not name. The kernel accepted that bind, so the address is this host's
  // (the list may be stale, or filtered by the caller); offering it is closer to the truth.
  std::vector<parsed_address> addresses;
  const auto add_address = [&](const parsed_address& a) {
    if (is_wildcard(a) || is_unjoinable(a)) return;
    if (std::find(addresses.begin(), addresses.end(), a) == addresses.end()) addresses.push_back(a);
  };
  for (const interface_address& h : host)
    if (std::optional<parsed_address> parsed = parse(h.address)) add_address(*parsed);
  for (const listener_view& l : views)
    if (!l.wildcard) add_address(l.address);

  std::vector<std::string> urls;
  for (const parsed_address& a : addresses) {
    // A specific listener's own address is covered by that listener, and by a wildcard of its
    // family too: it is an address of this host, which is all a wildcard needs.
    const std::string shown = a.v6 ? fmt::format("[{}]", a.text) : a.text;
    for (const bool tls : {false, true})
      for (const listener_view& l : views)
        if (l.listener->tls == tls && covers(l, a))
          add_once(urls, fmt::format("{}://{}:{}/", tls ? "https" : "http", shown, l.listener->port));
  }
  return urls;
}

}  // namespace portdemo
