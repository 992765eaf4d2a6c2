// Join URLs: which host addresses the listeners cover, in which order, with which scheme.
// (host_interface_addresses() reads the real interfaces: join_netns_test.cpp, inside a network
// namespace the test makes.)
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "portdemo/join.hpp"

namespace portdemo {
namespace {

using urls = std::vector<std::string>;

// ---- fixtures ----------------------------------------------------------------------------

// A classroom laptop: wired and wireless IPv4, one global IPv6 address.
const std::vector<interface_address> laptop = {
    {"eth0", "192.168.1.20"}, {"wlan0", "10.0.0.7"}, {"eth0", "2001:db8::5"}};

bound_listener plain(std::string address, std::uint16_t port) { return {std::move(address), port, false}; }
bound_listener tls(std::string address, std::uint16_t port) { return {std::move(address), port, true}; }

// ---- join_urls ---------------------------------------------------------------------------

TEST(JoinUrls, WildcardV4CoversEveryIPv4AddressOnly) {
  EXPECT_EQ(join_urls(laptop, {plain("0.0.0.0", 8080)}),
            (urls{"http://192.168.1.20:8080/", "http://10.0.0.7:8080/"}));
}

TEST(JoinUrls, WildcardV6CoversEveryIPv6AddressOnly) {
  // The server's "::" listeners are IPV6_V6ONLY: they do not take IPv4 connections.
  EXPECT_EQ(join_urls(laptop, {plain("::", 8080)}), (urls{"http://[2001:db8::5]:8080/"}));
}

TEST(JoinUrls, BothWildcardsInHostOrder) {
  EXPECT_EQ(join_urls(laptop, {plain("::", 8080), plain("0.0.0.0", 8080)}),
            (urls{"http://192.168.1.20:8080/", "http://10.0.0.7:8080/", "http://[2001:db8::5]:8080/"}));
}

TEST(JoinUrls, SpecificAddressCoversOnlyItself) {
  EXPECT_EQ(join_urls(laptop, {plain("10.0.0.7", 8080)}), (urls{"http://10.0.0.7:8080/"}));
  EXPECT_EQ(join_urls(laptop, {tls("2001:db8::5", 8443)}), (urls{"https://[2001:db8::5]:8443/"}));
}

TEST(JoinUrls, SpecificAddressNotInTheHostListStillCountsAfterTheHostAddresses) {
  // The kernel accepted the bind, so the address is this host's even if the list missed it;
  // a wildcard covers it too.
  EXPECT_EQ(join_urls(laptop, {plain("172.16.0.9", 8080), plain("0.0.0.0", 9090), plain("192.0.2.1", 8080)}),
            (urls{"http://192.168.1.20:9090/", "http://10.0.0.7:9090/", "http://172.16.0.9:8080/",
                  "http://172.16.0.9:9090/", "http://192.0.2.1:9090/", "http://192.0.2.1:8080/"}));
  EXPECT_EQ(join_urls({}, {tls("2001:db8::99", 8443)}), (urls{"https://[2001:db8::99]:8443/"}));
}

TEST(JoinUrls, LoopbackOnlyIsEmpty) {
  EXPECT_EQ(join_urls(laptop, {plain("127.0.0.1", 8080), plain("::1", 8080), tls("127.0.0.2", 8443)}), urls{});
  EXPECT_EQ(join_urls(laptop, {}), urls{});
  EXPECT_EQ(join_urls({}, {plain("0.0.0.0", 8080), plain("::", 8080)}), urls{});
}

TEST(JoinUrls, LoopbackAndLinkLocalHostAddressesAreNeverOffered) {
  const std::vector<interface_address> host = {
      {"lo", "127.0.0.1"}, {"lo", "::1"}, {"eth0", "fe80::1"}, {"eth0", "192.168.1.20"}, {"eth0", "febf::1"}};
  EXPECT_EQ(join_urls(host, {plain("0.0.0.0", 8080), plain("::", 8080), plain("fe80::2", 8080)}),
            (urls{"http://192.168.1.20:8080/"}));
  // fec0::/10 (the old site-local) is not link-local: it needs no zone.
  EXPECT_EQ(join_urls({{"eth0", "fec0::1"}}, {plain("::", 8080)}), (urls{"http://[fec0::1]:8080/"}));
}

TEST(JoinUrls, TlsPortsAfterPlainOnesEachInListenerOrder) {
  EXPECT_EQ(join_urls({{"eth0", "192.168.1.20"}},
                      {tls("0.0.0.0", 8443), plain("0.0.0.0", 8080), tls("0.0.0.0", 443), plain("0.0.0.0", 80)}),
            (urls{"http://192.168.1.20:8080/", "http://192.168.1.20:80/", "https://192.168.1.20:8443/",
                  "https://192.168.1.20:443/"}));
}

TEST(JoinUrls, NoDuplicatesWhenWildcardAndSpecificOverlap) {
  EXPECT_EQ(join_urls(laptop, {plain("0.0.0.0", 8080), plain("10.0.0.7", 8080), tls("10.0.0.7", 8443),
                               tls("0.0.0.0", 8443)}),
            (urls{"http://192.168.1.20:8080/", "https://192.168.1.20:8443/", "http://10.0.0.7:8080/",
                  "https://10.0.0.7:8443/"}));
  // The same address twice in the host list, and twice as a listener.
  EXPECT_EQ(join_urls({{"eth0", "10.0.0.7"}, {"eth1", "10.0.0.7"}}, {plain("10.0.0.7", 80), plain("10.0.0.7", 80)}),
            (urls{"http://10.0.0.7:80/"}));
}

TEST(JoinUrls, IPv6InBracketsSpelledCanonically) {
  // Compared as addresses, not as strings; shown the way inet_ntop spells them.
  EXPECT_EQ(join_urls({{"eth0", "2001:DB8:0:0::5"}}, {plain("2001:db8::5", 8080), tls("2001:0db8::0005", 8443)}),
            (urls{"http://[2001:db8::5]:8080/", "https://[2001:db8::5]:8443/"}));
}

TEST(JoinUrls, MappedIPv4IsIPv4) {
  EXPECT_EQ(join_urls(laptop, {plain("::ffff:10.0.0.7", 8080)}), (urls{"http://10.0.0.7:8080/"}));
  EXPECT_EQ(join_urls(laptop, {plain("::ffff:127.0.0.1", 8080)}), urls{});
}

TEST(JoinUrls, UnparsableAddressesYieldNothing) {
  EXPECT_EQ(join_urls({{"eth0", "not-an-address"}}, {plain("0.0.0.0", 8080), plain("localhost", 80), plain("", 81)}),
            urls{});
}

}  // namespace
}  // namespace portdemo
