#include <gtest/gtest.h>

#include <fmt/format.h>

#include "portdemo/endpoint.hpp"

namespace portdemo {
namespace {

TEST(EndpointToString, Ipv4IsAddressColonPort) {
  EXPECT_EQ(to_string(endpoint{"127.0.0.1", 8080}), "127.0.0.1:8080");
  EXPECT_EQ(to_string(endpoint{"0.0.0.0", 0}), "0.0.0.0:0");
  EXPECT_EQ(to_string(endpoint{"255.255.255.255", 65535}), "255.255.255.255:65535");
}

TEST(EndpointToString, Ipv6IsBracketed) {
  EXPECT_EQ(to_string(endpoint{"::1", 8080}), "[::1]:8080");
  EXPECT_EQ(to_string(endpoint{"::", 0}), "[::]:0");
  EXPECT_EQ(to_string(endpoint{"fe80::1%eth0", 80}), "[fe80::1%eth0]:80");
  EXPECT_EQ(to_string(endpoint{"2001:db8::1", 443}), "[2001:db8::1]:443");
}

TEST(EndpointToString, V4MappedV6IsBracketed) {
  EXPECT_EQ(to_string(endpoint{"::ffff:127.0.0.1", 40000}), "[::ffff:127.0.0.1]:40000");
}

TEST(EndpointIsV6, LooksForAColon) {
  EXPECT_FALSE((endpoint{"127.0.0.1", 1}).is_v6());
  EXPECT_TRUE((endpoint{"::1", 1}).is_v6());
  EXPECT_TRUE((endpoint{"::ffff:10.0.0.1", 1}).is_v6());
}

TEST(EndpointFormatter, MatchesToStringAndHonoursWidth) {
  const endpoint v4{"127.0.0.1", 8080};
  const endpoint v6{"::1", 8080};
  EXPECT_EQ(fmt::format("{}", v4), "127.0.0.1:8080");
  EXPECT_EQ(fmt::format("{}", v6), "[::1]:8080");
  EXPECT_EQ(fmt::format("{:<17}|", v4), "127.0.0.1:8080   |");
  EXPECT_EQ(fmt::format("{:>12}", v6), "  [::1]:8080");
}

TEST(EndpointEquality, ComparesAddressAndPort) {
  EXPECT_EQ((endpoint{"::1", 80}), (endpoint{"::1", 80}));
  EXPECT_NE((endpoint{"::1", 80}), (endpoint{"::1", 81}));
  EXPECT_NE((endpoint{"::1", 80}), (endpoint{"127.0.0.1", 80}));
}

TEST(IsMirror, TrueWhenEachLocalIsTheOthersRemote) {
  const socket_tuple client{{"127.0.0.1", 40000}, {"127.0.0.1", 8080}};
  const socket_tuple server{{"127.0.0.1", 8080}, {"127.0.0.1", 40000}};
  EXPECT_TRUE(is_mirror(client, server));
  EXPECT_TRUE(is_mirror(server, client));
}

TEST(IsMirror, TrueForIpv6) {
  const socket_tuple client{{"::1", 51000}, {"::1", 8443}};
  const socket_tuple server{{"::1", 8443}, {"::1", 51000}};
  EXPECT_TRUE(is_mirror(client, server));
}

TEST(IsMirror, FalseWhenNatRewroteThePort) {
  const socket_tuple client{{"10.0.0.2", 40000}, {"203.0.113.5", 8080}};
  const socket_tuple server{{"203.0.113.5", 8080}, {"198.51.100.7", 61000}};
  EXPECT_FALSE(is_mirror(client, server));
}

TEST(IsMirror, FalseWhenOnlyThePortDiffers) {
  const socket_tuple client{{"127.0.0.1", 40000}, {"127.0.0.1", 8080}};
  const socket_tuple server{{"127.0.0.1", 8080}, {"127.0.0.1", 40001}};
  EXPECT_FALSE(is_mirror(client, server));
}

TEST(IsMirror, FalseWhenOnlyTheAddressDiffers) {
  const socket_tuple client{{"127.0.0.1", 40000}, {"127.0.0.1", 8080}};
  const socket_tuple server{{"127.0.0.2", 8080}, {"127.0.0.1", 40000}};
  EXPECT_FALSE(is_mirror(client, server));
}

TEST(IsMirror, FalseForTheSameTupleUnmirrored) {
  const socket_tuple t{{"127.0.0.1", 40000}, {"127.0.0.1", 8080}};
  EXPECT_FALSE(is_mirror(t, t));
}

TEST(IsMirror, TrueForAConnectionToItself) {
  // TCP simultaneous open to one's own port: local == remote, so the tuple is its own mirror.
  const socket_tuple self{{"127.0.0.1", 40000}, {"127.0.0.1", 40000}};
  EXPECT_TRUE(is_mirror(self, self));
}

TEST(IsMirror, V4MappedAddressIsNotTheSameTextAsV4) {
  // The tuple compares text: a dual-stack server sees ::ffff:127.0.0.1 where the client sees
  // 127.0.0.1.
  const socket_tuple client{{"127.0.0.1", 40000}, {"127.0.0.1", 8080}};
  const socket_tuple server{{"::ffff:127.0.0.1", 8080}, {"::ffff:127.0.0.1", 40000}};
  EXPECT_FALSE(is_mirror(client, server));
}

}  // namespace
}  // namespace portdemo
