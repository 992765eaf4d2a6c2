#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>

#include "portdemo/host_facts.hpp"

namespace portdemo {
namespace {

// ---- parse_port_range ----------------------------------------------------------------------

TEST(ParsePortRange, AsProcPrintsIt) {
  EXPECT_EQ(parse_port_range("32768\t60999\n"), (port_range{32768, 60999}));
}

TEST(ParsePortRange, SpacesAndNoNewline) {
  EXPECT_EQ(parse_port_range("  1024   65535  "), (port_range{1024, 65535}));
  EXPECT_EQ(parse_port_range("49152 65535"), (port_range{49152, 65535}));
  EXPECT_EQ(parse_port_range("32768\t60999\r\n"), (port_range{32768, 60999}));
}

TEST(ParsePortRange, OnePortRange) {
  EXPECT_EQ(parse_port_range("40000\t40000\n"), (port_range{40000, 40000}));
}

TEST(ParsePortRange, Garbage) {
  EXPECT_FALSE(parse_port_range(""));
  EXPECT_FALSE(parse_port_range("\n"));
  EXPECT_FALSE(parse_port_range("garbage"));
  EXPECT_FALSE(parse_port_range("32768"));
  EXPECT_FALSE(parse_port_range("32768\t\n"));
  EXPECT_FALSE(parse_port_range("32768-60999\n"));
  EXPECT_FALSE(parse_port_range("32768,60999"));
  EXPECT_FALSE(parse_port_range("32768\t60999 x\n"));
  EXPECT_FALSE(parse_port_range("32768\t60999\t1\n"));
  EXPECT_FALSE(parse_port_range("-1\t60999\n"));
  EXPECT_FALSE(parse_port_range("32768\t6o999\n"));
}

TEST(ParsePortRange, Reversed) { EXPECT_FALSE(parse_port_range("60999\t32768\n")); }

TEST(ParsePortRange, Above65535) {
  EXPECT_FALSE(parse_port_range("32768\t65536\n"));
  EXPECT_FALSE(parse_port_range("70000\t80000\n"));
  EXPECT_FALSE(parse_port_range("32768\t99999999999999999999\n"));
}

TEST(PortRange, ContainsIsInclusive) {
  const port_range r{32768, 60999};
  EXPECT_FALSE(r.contains(32767));
  EXPECT_TRUE(r.contains(32768));
  EXPECT_TRUE(r.contains(50000));
  EXPECT_TRUE(r.contains(60999));
  EXPECT_FALSE(r.contains(61000));
}

TEST(PortRange, IanaDynamicRange) {
  EXPECT_EQ(iana_dynamic_range, (port_range{49152, 65535}));
  EXPECT_TRUE(iana_dynamic_range.contains(65535));
  EXPECT_FALSE(iana_dynamic_range.contains(49151));
}

// ---- parse_sysctl_port ---------------------------------------------------------------------

TEST(ParseSysctlPort, AsProcPrintsIt) {
  EXPECT_EQ(parse_sysctl_port("1024\n"), std::uint16_t{1024});
  EXPECT_EQ(parse_sysctl_port("0\n"), std::uint16_t{0});
  EXPECT_EQ(parse_sysctl_port("80"), std::uint16_t{80});
  EXPECT_EQ(parse_sysctl_port(" 65535 \n"), std::uint16_t{65535});
}

TEST(ParseSysctlPort, Refused) {
  EXPECT_FALSE(parse_sysctl_port(""));
  EXPECT_FALSE(parse_sysctl_port("\n"));
  EXPECT_FALSE(parse_sysctl_port("abc\n"));
  EXPECT_FALSE(parse_sysctl_port("65536\n"));
  EXPECT_FALSE(parse_sysctl_port("-1\n"));
  EXPECT_FALSE(parse_sysctl_port("1024 2048\n"));
  EXPECT_FALSE(parse_sysctl_port("1024x\n"));
}

// ---- parse_cap_net_bind_service ------------------------------------------------------------

std::string status_with(const std::string& cap_eff_line) {
  return "Name:\tdemo-server\nUmask:\t0022\nState:\tR (running)\nUid:\t1000\t1000\t1000\t1000\n"
         "CapInh:\t0000000000000000\nCapPrm:\t0000000000000400\n" +
         cap_eff_line + "CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\n";
}

TEST(ParseCapNetBindService, Bit10Set) {
  EXPECT_EQ(parse_cap_net_bind_service(status_with("CapEff:\t0000000000000400\n")), true);
}

TEST(ParseCapNetBindService, FullRootSet) {
  EXPECT_EQ(parse_cap_net_bind_service(status_with("CapEff:\t000001ffffffffff\n")), true);
  EXPECT_EQ(parse_cap_net_bind_service(status_with("CapEff:\t0000003fffffffff\n")), true);
}

TEST(ParseCapNetBindService, Bit10NotSet) {
  EXPECT_EQ(parse_cap_net_bind_service(status_with("CapEff:\t0000000000000000\n")), false);
  // Every capability except CAP_NET_BIND_SERVICE: capsh --drop=cap_net_bind_service as root.
  EXPECT_EQ(parse_cap_net_bind_service(status_with("CapEff:\t000001fffffffbff\n")), false);
  EXPECT_EQ(parse_cap_net_bind_service(status_with("CapEff:\t0000000000000800\n")), false);
  EXPECT_EQ(parse_cap_net_bind_service(status_with("CapEff:\t00000000000003ff\n")), false);
}

TEST(ParseCapNetBindService, UpperCaseHex) {
  EXPECT_EQ(parse_cap_net_bind_service(status_with("CapEff:\t000001FFFFFFFFFF\n")), true);
}

TEST(ParseCapNetBindService, CapEffMissing) {
  EXPECT_FALSE(parse_cap_net_bind_service(status_with("")));
  EXPECT_FALSE(parse_cap_net_bind_service(""));
  // CapPrm holds the bit, but only the effective set counts.
  EXPECT_FALSE(parse_cap_net_bind_service("Name:\tx\nCapPrm:\t0000000000000400\n"));
}

TEST(ParseCapNetBindService, CapEffWithoutAValue) {
  EXPECT_FALSE(parse_cap_net_bind_service(status_with("CapEff:\t\n")));
  EXPECT_FALSE(parse_cap_net_bind_service(status_with("CapEff:\tzzzz\n")));
}

TEST(ParseCapNetBindService, CapEffOnTheFirstLine) {
  // A status text that starts with CapEff (a trimmed copy, a test) is still the same text.
  EXPECT_EQ(parse_cap_net_bind_service("CapEff:\t0000000000000400\n"), true);
  EXPECT_EQ(parse_cap_net_bind_service("CapEff:\t0000000000000000\n"), false);
}

TEST(ParseCapNetBindService, ACapEffLookalikeIsNotCapEff) {
  EXPECT_FALSE(parse_cap_net_bind_service("Name:\tx\nXCapEff:\t0000000000000400\n"));
}

// ---- is_privileged ----------------------------------------------------------------------

host_facts facts_with(std::optional<std::uint16_t> cutoff, bool root, bool cap) {
  host_facts f;
  f.ephemeral = port_range{32768, 60999};
  f.unprivileged_port_start = cutoff;
  f.root = root;
  f.cap_net_bind_service = cap;
  return f;
}

TEST(IsPrivileged, BelowTheCutOff) {
  const host_facts f = facts_with(1024, false, false);
  EXPECT_EQ(is_privileged(f, 1), true);
  EXPECT_EQ(is_privileged(f, 80), true);
  EXPECT_EQ(is_privileged(f, 1023), true);
  EXPECT_EQ(is_privileged(f, 1024), false);
  EXPECT_EQ(is_privileged(f, 8080), false);
  EXPECT_EQ(is_privileged(f, 65535), false);
}

TEST(IsPrivileged, PortZeroIsNeverPrivileged) {
  EXPECT_EQ(is_privileged(facts_with(1024, false, false), 0), false);
}

TEST(IsPrivileged, CutOffZeroMeansNothingIsPrivileged) {
  const host_facts f = facts_with(0, false, false);
  EXPECT_EQ(is_privileged(f, 1), false);
  EXPECT_EQ(is_privileged(f, 80), false);
}

TEST(IsPrivileged, LoweredCutOff) {
  const host_facts f = facts_with(80, false, false);
  EXPECT_EQ(is_privileged(f, 79), true);
  EXPECT_EQ(is_privileged(f, 80), false);
  EXPECT_EQ(is_privileged(f, 443), false);
}

TEST(IsPrivileged, UnknownCutOff) {
  EXPECT_EQ(is_privileged(facts_with(std::nullopt, false, false), 80), std::nullopt);
  EXPECT_EQ(is_privileged(facts_with(std::nullopt, true, true), 8080), std::nullopt);
}

TEST(IsPrivileged, DoesNotDependOnWhoAsks) {
  EXPECT_EQ(is_privileged(facts_with(1024, true, true), 80), true);
}

// ---- privilege_reason --------------------------------------------------------------------

TEST(PrivilegeReason, RootWithCapability) {
  EXPECT_EQ(privilege_reason(facts_with(1024, true, true)), "root");
}

TEST(PrivilegeReason, RootWithoutCapabilityIsRefused) {
  EXPECT_EQ(privilege_reason(facts_with(1024, true, false)), std::nullopt);
}

TEST(PrivilegeReason, NonRootWithCapability) {
  EXPECT_EQ(privilege_reason(facts_with(1024, false, true)), "cap_net_bind_service");
}

TEST(PrivilegeReason, NonRootWithoutCapability) {
  EXPECT_EQ(privilege_reason(facts_with(1024, false, false)), std::nullopt);
}

TEST(PrivilegeReason, IndependentOfTheCutOff) {
  EXPECT_EQ(privilege_reason(facts_with(0, true, true)), "root");
  EXPECT_EQ(privilege_reason(facts_with(std::nullopt, false, true)), "cap_net_bind_service");
}

// ---- bind_allowed_because ----------------------------------------------------------------

TEST(BindAllowedBecause, RootWithCapability) {
  EXPECT_EQ(bind_allowed_because(facts_with(1024, true, true), 80), "root");
}

TEST(BindAllowedBecause, NonRootWithCapability) {
  EXPECT_EQ(bind_allowed_because(facts_with(1024, false, true), 443), "cap_net_bind_service");
}

TEST(BindAllowedBecause, RootWithoutCapabilityCannotBeExplained) {
  // Root without the capability is refused by the kernel: if the bind worked anyway, the reason
  // is not one this program can see.
  EXPECT_EQ(bind_allowed_because(facts_with(1024, true, false), 80), "unknown");
}

TEST(BindAllowedBecause, CutOffZero) {
  EXPECT_EQ(bind_allowed_because(facts_with(0, false, false), 80), "cutoff");
  EXPECT_EQ(bind_allowed_because(facts_with(0, true, true), 1), "cutoff");
}

TEST(BindAllowedBecause, PortAtOrAboveALoweredCutOff) {
  EXPECT_EQ(bind_allowed_because(facts_with(80, false, false), 80), "cutoff");
  EXPECT_EQ(bind_allowed_because(facts_with(80, false, false), 1023), "cutoff");
  EXPECT_EQ(bind_allowed_because(facts_with(80, false, true), 79), "cap_net_bind_service");
}

TEST(BindAllowedBecause, UnknownCutOff) {
  EXPECT_EQ(bind_allowed_because(facts_with(std::nullopt, true, true), 80), "root");
  EXPECT_EQ(bind_allowed_because(facts_with(std::nullopt, false, true), 80),
            "cap_net_bind_service");
  EXPECT_EQ(bind_allowed_because(facts_with(std::nullopt, false, false), 80), "unknown");
}

TEST(BindAllowedBecause, NothingToExplainFrom1024Up) {
  EXPECT_EQ(bind_allowed_because(facts_with(1024, true, true), 1024), std::nullopt);
  EXPECT_EQ(bind_allowed_because(facts_with(1024, false, false), 8080), std::nullopt);
  EXPECT_EQ(bind_allowed_because(facts_with(std::nullopt, false, false), 65535), std::nullopt);
}

TEST(BindAllowedBecause, NothingToExplainForPortZero) {
  EXPECT_EQ(bind_allowed_because(facts_with(1024, false, false), 0), std::nullopt);
}

TEST(BindAllowedBecause, NonRootWithoutCapabilityBelowTheCutOff) {
  EXPECT_EQ(bind_allowed_because(facts_with(1024, false, false), 80), "unknown");
}

// ---- read_host_facts ---------------------------------------------------------------------

TEST(ReadHostFacts, ReadsWithoutThrowingAndIsConsistent) {
  host_facts f = read_host_facts();
  if (f.ephemeral) {
    EXPECT_LE(f.ephemeral->low, f.ephemeral->high);
  }
  if (f.root && f.cap_net_bind_service) {
    EXPECT_EQ(privilege_reason(f), "root");
  }
}

}  // namespace
}  // namespace portdemo
