#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "portdemo/ports.hpp"

namespace portdemo {
namespace {

using ports = std::vector<std::uint16_t>;

// What the messages offer: a client (allow_zero false, the default here) is not offered port 0,
// and a single port is not offered a range.
constexpr std::string_view valid_forms =
    "a port number 1-65535, a range such as 9000-9003, or a service name such as http-alt";
constexpr std::string_view valid_port =
    "a port number 1-65535 or a service name such as http-alt";

// The ports of an accepted spec; a refusal fails the test with its message.
ports accepted(std::string_view spec, bool allow_zero = false) {
  auto r = parse_port_spec(spec, allow_zero);
  EXPECT_FALSE(r.error) << "\"" << spec << "\" refused: " << (r.error ? r.error->message : "");
  return r.ports;
}

// The error of a refused spec; an accepted spec fails the test.
port_spec_error refused(std::string_view spec, bool allow_zero = false) {
  auto r = parse_port_spec(spec, allow_zero);
  EXPECT_TRUE(r.error) << "\"" << spec << "\" was accepted";
  EXPECT_TRUE(r.ports.empty()) << "a refused spec carries no ports";
  return r.error.value_or(port_spec_error{"<accepted>", "<accepted>"});
}

ports sequence(std::uint16_t low, std::uint16_t high) {
  ports out;
  for (std::uint32_t p = low; p <= high; ++p) out.push_back(static_cast<std::uint16_t>(p));
  return out;
}

// ---- classify, to_string, range_of -------------------------------------------------------

TEST(Classify, Boundaries) {
  EXPECT_EQ(classify(0), port_class::well_known);
  EXPECT_EQ(classify(1023), port_class::well_known);
  EXPECT_EQ(classify(1024), port_class::registered);
  EXPECT_EQ(classify(49151), port_class::registered);
  EXPECT_EQ(classify(49152), port_class::dynamic);
  EXPECT_EQ(classify(65535), port_class::dynamic);
}

TEST(Classify, TypicalPorts) {
  EXPECT_EQ(classify(80), port_class::well_known);
  EXPECT_EQ(classify(8080), port_class::registered);
  EXPECT_EQ(classify(32768), port_class::registered);  // Linux's first ephemeral port
  EXPECT_EQ(classify(60999), port_class::dynamic);     // Linux's last ephemeral port
}

TEST(PortClassToString, Names) {
  EXPECT_EQ(to_string(port_class::well_known), "well-known");
  EXPECT_EQ(to_string(port_class::registered), "registered");
  EXPECT_EQ(to_string(port_class::dynamic), "dynamic");
}

TEST(PortClassRangeOf, Ranges) {
  EXPECT_EQ(range_of(port_class::well_known), "0-1023");
  EXPECT_EQ(range_of(port_class::registered), "1024-49151");
  EXPECT_EQ(range_of(port_class::dynamic), "49152-65535");
}

TEST(PortClassRangeOf, AgreesWithClassifyAtEachEnd) {
  for (port_class c : {port_class::well_known, port_class::registered, port_class::dynamic}) {
    std::string range(range_of(c));
    auto dash = range.find('-');
    ASSERT_NE(dash, std::string::npos);
    EXPECT_EQ(classify(static_cast<std::uint16_t>(std::stoul(range.substr(0, dash)))), c) << range;
    EXPECT_EQ(classify(static_cast<std::uint16_t>(std::stoul(range.substr(dash + 1)))), c) << range;
  }
}

// ---- parse_port_spec: accepted specs -----------------------------------------------------

TEST(ParsePortSpec, SinglePort) { EXPECT_EQ(accepted("8080"), (ports{8080})); }

TEST(ParsePortSpec, ListKeepsTheOrderGiven) {
  EXPECT_EQ(accepted("8080,8443"), (ports{8080, 8443}));
  EXPECT_EQ(accepted("8443,8080,22"), (ports{8443, 8080, 22}));
}

TEST(ParsePortSpec, Range) { EXPECT_EQ(accepted("9000-9003"), (ports{9000, 9001, 9002, 9003})); }

TEST(ParsePortSpec, RangeOfOnePort) { EXPECT_EQ(accepted("9000-9000"), (ports{9000})); }

TEST(ParsePortSpec, RangeAtTheTop) { EXPECT_EQ(accepted("65534-65535"), (ports{65534, 65535})); }

TEST(ParsePortSpec, RangesAndPortsMixed) {
  EXPECT_EQ(accepted("80,9000-9002,8443"), (ports{80, 9000, 9001, 9002, 8443}));
}

TEST(ParsePortSpec, ServiceNames) {
  EXPECT_EQ(accepted("http-alt"), (ports{8080}));
  EXPECT_EQ(accepted("https-alt"), (ports{8443}));
  EXPECT_EQ(accepted("http-alt,https-alt"), (ports{8080, 8443}));
}

TEST(ParsePortSpec, ServiceAlias) {
  EXPECT_EQ(accepted("domain"), (ports{53}));
  EXPECT_EQ(accepted("dns"), (ports{53}));
}

TEST(ParsePortSpec, ServiceNamesIgnoreCase) { EXPECT_EQ(accepted("HTTP-Alt"), (ports{8080})); }

TEST(ParsePortSpec, WhitespaceAroundItemsIsIgnored) {
  EXPECT_EQ(accepted(" 8080 , 8443 "), (ports{8080, 8443}));
  EXPECT_EQ(accepted("\t8080,\t8443\t"), (ports{8080, 8443}));
  EXPECT_EQ(accepted(" http-alt ,  9000 - 9001 "), (ports{8080, 9000, 9001}));
}

TEST(ParsePortSpec, LowestAndHighestPort) {
  EXPECT_EQ(accepted("1"), (ports{1}));
  EXPECT_EQ(accepted("65535"), (ports{65535}));
}

TEST(ParsePortSpec, LeadingZerosAreTheSameNumber) {
  EXPECT_EQ(accepted("08080"), (ports{8080}));
  EXPECT_EQ(accepted("0000000000000000000080"), (ports{80}));
  EXPECT_EQ(accepted("0009000-0009001"), (ports{9000, 9001}));
}

TEST(ParsePortSpec, ZeroWhenAllowed) {
  EXPECT_EQ(accepted("0", true), (ports{0}));
  EXPECT_EQ(accepted("8080,0", true), (ports{8080, 0}));
}

TEST(ParsePortSpec, ZeroMayRepeatEachAskingForAnotherPort) {
  EXPECT_EQ(accepted("0,0", true), (ports{0, 0}));
}

TEST(ParsePortSpec, RangeOf1024PortsIsAccepted) {
  EXPECT_EQ(accepted("1-1024"), sequence(1, 1024));
}

TEST(ParsePortSpec, Exactly1024PortsInTotalAreAccepted) {
  ports expected = sequence(1, 1000);
  auto tail = sequence(2001, 2024);
  expected.insert(expected.end(), tail.begin(), tail.end());
  EXPECT_EQ(accepted("1-1000,2001-2024"), expected);
}

// ---- parse_port_spec: refusals, each with its exact message and item ---------------------

TEST(ParsePortSpecRefuses, EmptySpec) {
  auto e = refused("");
  EXPECT_EQ(e.item, "");
  EXPECT_EQ(e.message,
            "the port list is empty: give a port number 1-65535, a range such as "
            "9000-9003, or a service name such as http-alt, or several separated by "
            "commas");
}

TEST(ParsePortSpecRefuses, BlankSpec) {
  auto e = refused("  \t ");
  EXPECT_EQ(e.message.substr(0, 22), "the port list is empty");
}

TEST(ParsePortSpecRefuses, EmptyItemInTheMiddle) {
  auto e = refused("8080,,80");
  EXPECT_EQ(e.item, "");
  EXPECT_EQ(e.message,
            "item 2 of \"8080,,80\" is empty: separate ports with single commas, e.g. 8080,8443");
}

TEST(ParsePortSpecRefuses, TrailingComma) {
  auto e = refused("8080,");
  EXPECT_EQ(e.item, "");
  EXPECT_EQ(e.message,
            "item 2 of \"8080,\" is empty: separate ports with single commas, e.g. 8080,8443");
}

TEST(ParsePortSpecRefuses, LeadingComma) {
  auto e = refused(",8080");
  EXPECT_EQ(e.item, "");
  EXPECT_EQ(e.message,
            "item 1 of \",8080\" is empty: separate ports with single commas, e.g. 8080,8443");
}

TEST(ParsePortSpecRefuses, BlankItem) {
  auto e = refused("8080, ,80");
  EXPECT_EQ(e.item, "");
  EXPECT_EQ(e.message,
            "item 2 of \"8080, ,80\" is empty: separate ports with single commas, e.g. 8080,8443");
}

TEST(ParsePortSpecRefuses, LettersAfterDigits) {
  auto e = refused("80a");
  EXPECT_EQ(e.item, "80a");
  EXPECT_EQ(e.message,
            "\"80a\" is not a port number or a known service name; known names: ftp-data, ftp, "
            "ssh, telnet, smtp, dns, http, pop3, ntp, imap, bgp, ldap, https, smtps, submission, "
            "ldaps, imaps, pop3s, ms-sql, ms-sql-m, mysql, rdp, postgresql, vnc, redis, "
            "http-alt, https-alt, mongodb");
}

TEST(ParsePortSpecRefuses, NegativeNumber) {
  auto e = refused("-5");
  EXPECT_EQ(e.item, "-5");
  EXPECT_EQ(e.message, "\"-5\" is not a port: give " + std::string(valid_forms));
}

TEST(ParsePortSpecRefuses, PlusSign) {
  auto e = refused("+80");
  EXPECT_EQ(e.item, "+80");
  EXPECT_EQ(e.message, "\"+80\" is not a port: give " + std::string(valid_forms));
}

TEST(ParsePortSpecRefuses, DecimalPoint) {
  auto e = refused("80.5");
  EXPECT_EQ(e.item, "80.5");
  EXPECT_EQ(e.message, "\"80.5\" is not a port: give " + std::string(valid_forms));
}

TEST(ParsePortSpecRefuses, HalfARange) {
  auto e = refused("9000-");
  EXPECT_EQ(e.item, "9000-");
  EXPECT_EQ(e.message, "\"9000-\" is not a port: give " + std::string(valid_forms));
}

TEST(ParsePortSpecRefuses, TwoDashes) {
  auto e = refused("1-2-3");
  EXPECT_EQ(e.item, "1-2-3");
  EXPECT_EQ(e.message, "\"1-2-3\" is not a port: give " + std::string(valid_forms));
}

TEST(ParsePortSpecRefuses, JustAbove65535) {
  auto e = refused("65536");
  EXPECT_EQ(e.item, "65536");
  EXPECT_EQ(e.message, "\"65536\" is out of range: ports go from 0 to 65535");
}

TEST(ParsePortSpecRefuses, AboveRange) {
  auto e = refused("70000");
  EXPECT_EQ(e.item, "70000");
  EXPECT_EQ(e.message, "\"70000\" is out of range: ports go from 0 to 65535");
}

TEST(ParsePortSpecRefuses, HugeNumberIsNamedAsGiven) {
  auto e = refused("99999999999999999999");
  EXPECT_EQ(e.item, "99999999999999999999");
  EXPECT_EQ(e.message, "\"99999999999999999999\" is out of range: ports go from 0 to 65535");
}

TEST(ParsePortSpecRefuses, ItemIsNamedWithoutSurroundingSpaces) {
  auto e = refused("8080, 70000 ");
  EXPECT_EQ(e.item, "70000");
  EXPECT_EQ(e.message, "\"70000\" is out of range: ports go from 0 to 65535");
}

TEST(ParsePortSpecRefuses, ReversedRange) {
  auto e = refused("9003-9000");
  EXPECT_EQ(e.item, "9003-9000");
  EXPECT_EQ(e.message, "range \"9003-9000\" is reversed: write the lower port first, 9000-9003");
}

TEST(ParsePortSpecRefuses, RangePast65535) {
  auto e = refused("65530-65536");
  EXPECT_EQ(e.item, "65530-65536");
  EXPECT_EQ(e.message, "range \"65530-65536\" goes past 65535, the highest port");
}

TEST(ParsePortSpecRefuses, RangeWithHugeEnd) {
  auto e = refused("1-99999999999999999999");
  EXPECT_EQ(e.item, "1-99999999999999999999");
  EXPECT_EQ(e.message, "range \"1-99999999999999999999\" goes past 65535, the highest port");
}

TEST(ParsePortSpecRefuses, RangeOfMoreThan1024Ports) {
  auto e = refused("1-1025");
  EXPECT_EQ(e.item, "1-1025");
  EXPECT_EQ(e.message, "range \"1-1025\" holds 1025 ports; a range may hold at most 1024");
}

TEST(ParsePortSpecRefuses, WholePortRange) {
  auto e = refused("1-65535");
  EXPECT_EQ(e.item, "1-65535");
  EXPECT_EQ(e.message, "range \"1-65535\" holds 65535 ports; a range may hold at most 1024");
}

TEST(ParsePortSpecRefuses, RangeIncludingZero) {
  for (bool allow_zero : {false, true}) {
    auto e = refused("0-3", allow_zero);
    EXPECT_EQ(e.item, "0-3");
    EXPECT_EQ(e.message,
              "range \"0-3\" includes 0, which is not a port but a request to let the "
              "kernel choose; start at 1");
  }
}

TEST(ParsePortSpecRefuses, ZeroForAClient) {
  auto e = refused("0");
  EXPECT_EQ(e.item, "0");
  EXPECT_EQ(e.message,
            "\"0\" is not a port one can connect to: give " + std::string(valid_forms));
}

TEST(ParsePortSpecRefuses, ZeroWithLeadingZerosIsNamedAsGiven) {
  // The message must name the item the user typed, not a normalised "0".
  auto e = refused("000");
  EXPECT_EQ(e.item, "000");
  EXPECT_EQ(e.message,
            "\"000\" is not a port one can connect to: give " + std::string(valid_forms));
}

TEST(ParsePortSpecRefuses, ClientMessagesDoNotOfferPort0) {
  // Without allow_zero, "0" is refused: no message may send the user towards it.
  for (std::string_view spec : {"", "8080,,80", "-5", "9000-"}) {
    auto e = refused(spec, false);
    EXPECT_EQ(e.message.find("0-65535"), std::string::npos)
        << "spec \"" << spec << "\": " << e.message;
  }
}

TEST(ParsePortSpecRefuses, DuplicatePort) {
  auto e = refused("8080,8443,8080");
  EXPECT_EQ(e.item, "8080");
  EXPECT_EQ(e.message, "port 8080 is named twice in \"8080,8443,8080\"");
}

TEST(ParsePortSpecRefuses, DuplicateThroughAServiceName) {
  auto e = refused("http-alt,8080");
  EXPECT_EQ(e.item, "8080");
  EXPECT_EQ(e.message, "port 8080 is named twice in \"http-alt,8080\"");
}

TEST(ParsePortSpecRefuses, DuplicateThroughOverlappingRanges) {
  auto e = refused("9000-9003,9002");
  EXPECT_EQ(e.item, "9002");
  EXPECT_EQ(e.message, "port 9002 is named twice in \"9000-9003,9002\"");
}

TEST(ParsePortSpecRefuses, UnknownServiceNameListsKnownNames) {
  auto e = refused("8080,no-such-service-here");
  EXPECT_EQ(e.item, "no-such-service-here");
  EXPECT_EQ(
      e.message,
      "\"no-such-service-here\" is not a port number or a known service name; known names: "
      "ftp-data, ftp, ssh, telnet, smtp, dns, http, pop3, ntp, imap, bgp, ldap, https, smtps, "
      "submission, ldaps, imaps, pop3s, ms-sql, ms-sql-m, mysql, rdp, postgresql, vnc, "
      "redis, http-alt, https-alt, mongodb");
}

TEST(ParsePortSpecRefuses, MoreThan1024PortsInTotal) {
  auto e = refused("1-1024,2000");
  EXPECT_EQ(e.item, "1-1024,2000");
  EXPECT_EQ(e.message, "\"1-1024,2000\" names more than 1024 ports");
}

TEST(ParsePortSpecRefuses, MoreThan1024PortsInManyRanges) {
  auto e = refused("1-600,1001-1600");
  EXPECT_EQ(e.item, "1-600,1001-1600");
  EXPECT_EQ(e.message, "\"1-600,1001-1600\" names more than 1024 ports");
}

TEST(ParsePortSpecRefuses, FirstBadItemWins) {
  auto e = refused("8080,70000,80a");
  EXPECT_EQ(e.item, "70000");
}

TEST(ParsePortSpecRefuses, EveryMessageNamesItsItem) {
  for (std::string_view spec : {"80a", "-5", "+80", "70000", "99999999999999999999", "9003-9000",
                                "1-1025", "0-3", "0", "nosuchname"}) {
    auto e = refused(spec);
    EXPECT_NE(e.message.find("\"" + e.item + "\""), std::string::npos)
        << "spec \"" << spec << "\": " << e.message;
  }
}

// ---- parse_single_port -------------------------------------------------------------------

TEST(ParseSinglePort, NumberAndName) {
  EXPECT_EQ(parse_single_port("8080", false).ports, (ports{8080}));
  EXPECT_EQ(parse_single_port("https-alt", false).ports, (ports{8443}));
  EXPECT_EQ(parse_single_port("domain", false).ports, (ports{53}));
  EXPECT_EQ(parse_single_port(" 22\t", false).ports, (ports{22}));
  EXPECT_FALSE(parse_single_port("8080", false).error);
}

TEST(ParseSinglePort, ZeroOnlyWhenAllowed) {
  EXPECT_EQ(parse_single_port("0", true).ports, (ports{0}));
  auto r = parse_single_port("0", false);
  ASSERT_TRUE(r.error);
  EXPECT_TRUE(r.ports.empty());
  EXPECT_EQ(r.error->item, "0");
  EXPECT_EQ(r.error->message,
            "\"0\" is not a port one can connect to: give a port number 1-65535 "
            "or a service name such as http-alt");
}

TEST(ParseSinglePort, Empty) {
  auto r = parse_single_port("", false);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->item, "");
  EXPECT_EQ(r.error->message, "empty port: give " + std::string(valid_port));
}

TEST(ParseSinglePort, OutOfRange) {
  auto r = parse_single_port("65536", true);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->item, "65536");
  EXPECT_EQ(r.error->message, "\"65536\" is out of range: ports go from 0 to 65535");
}

TEST(ParseSinglePort, ARangeIsNotOnePort) {
  auto r = parse_single_port("9000-9003", false);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->item, "9000-9003");
  EXPECT_EQ(r.error->message, "\"9000-9003\" is not a port: give " + std::string(valid_port));
}

TEST(ParseSinglePort, AListIsNotOnePort) {
  auto r = parse_single_port("80,81", false);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->item, "80,81");
}

TEST(ParseSinglePort, Negative) {
  auto r = parse_single_port("-1", false);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->item, "-1");
  EXPECT_EQ(r.error->message, "\"-1\" is not a port: give " + std::string(valid_port));
}

}  // namespace
}  // namespace portdemo
