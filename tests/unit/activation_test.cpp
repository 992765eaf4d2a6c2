// The socket activation variables (sd_listen_fds(3)), read as given.
#include <gtest/gtest.h>

#include "portdemo/activation.hpp"

namespace portdemo {
namespace {

TEST(ParseListenFds, NotStartedByAServiceManager) {
  passed_sockets p = parse_listen_fds(nullptr, nullptr, nullptr, 42);
  EXPECT_EQ(p.count, 0);
  EXPECT_EQ(p.problem, "");
}

TEST(ParseListenFds, ForThisProcess) {
  passed_sockets p = parse_listen_fds("42", "3", "http:https:dns", 42);
  EXPECT_EQ(p.count, 3);
  EXPECT_EQ(p.names, (std::vector<std::string>{"http", "https", "dns"}));
  EXPECT_EQ(p.problem, "");
}

TEST(ParseListenFds, ForAnotherProcessIsIgnoredWithTheReason) {
  passed_sockets p = parse_listen_fds("41", "2", nullptr, 42);
  EXPECT_EQ(p.count, 0);
  EXPECT_EQ(p.problem, "LISTEN_PID=41 is not this process (42): the sockets were meant for another one; ignored");
}

TEST(ParseListenFds, BadValuesAreIgnoredWithTheReason) {
  EXPECT_EQ(parse_listen_fds("42", "x", nullptr, 42).problem,
            "LISTEN_FDS=\"x\" is not a number of sockets (0-1024): ignored");
  EXPECT_EQ(parse_listen_fds("42", "-1", nullptr, 42).problem,
            "LISTEN_FDS=\"-1\" is not a number of sockets (0-1024): ignored");
  EXPECT_EQ(parse_listen_fds("42", "5000", nullptr, 42).count, 0);
  EXPECT_EQ(parse_listen_fds(nullptr, "1", nullptr, 42).problem, "LISTEN_FDS is set but LISTEN_PID is not: ignored");
  EXPECT_EQ(parse_listen_fds("4x", "1", nullptr, 42).count, 0);
}

}  // namespace
}  // namespace portdemo
