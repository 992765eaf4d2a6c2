// host_interface_addresses() on interfaces whose addresses the test chose: join_netns.sh makes a
// network namespace with loopback, two interfaces that are up and one that is down, and
// runs this program inside it. Outside that namespace the real interfaces are unknown: skipped.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "portdemo/join.hpp"

namespace portdemo {
namespace {

std::vector<std::string> listed(const std::vector<interface_address>& addresses) {
  std::vector<std::string> out;
  for (const auto& a : addresses) out.push_back(a.interface + " " + a.address);
  return out;
}

TEST(HostInterfaceAddresses, InsideTheTestNamespace) {
  if (!std::getenv("PORTDEMO_JOIN_NETNS"))
    GTEST_SKIP() << "runs only inside the network namespace tests/unit/join_netns.sh makes (ctest -R join.netns)";
  // Left out: lo (127.0.0.1, ::1), 127.0.0.2 on d0 (loopback wherever it is), fe80::99 and the
  // kernel's own fe80:: addresses (link-local), d1's second copy of 10.99.0.1, and all of d2
  // (down). IPv4 first, then IPv6, each in the kernel's order (d0 before d1).
  EXPECT_EQ(listed(host_interface_addresses()),
            (std::vector<std::string>{"d0 10.99.0.1", "d1 10.99.1.1", "d0 2001:db8::5", "d1 2001:db8:1::7"}));
}

}  // namespace
}  // namespace portdemo
