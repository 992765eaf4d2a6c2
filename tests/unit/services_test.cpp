#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "portdemo/services.hpp"

namespace portdemo {
namespace {

// ---- the built-in table ------------------------------------------------------------------

TEST(ServiceTable, SortedByPortAndUnique) {
  auto table = service_table();
  ASSERT_FALSE(table.empty());
  for (std::size_t i = 1; i < table.size(); ++i)
    EXPECT_LT(table[i - 1].port, table[i].port) << "entry " << i << " (" << table[i].name << ")";
}

TEST(ServiceTable, NamesAreUniqueLowercaseAndUsableInPortSpecs) {
  std::set<std::string_view> names;
  for (const auto& s : service_table()) {
    EXPECT_TRUE(names.insert(s.name).second) << s.name << " appears twice";
    EXPECT_FALSE(s.name.empty());
    EXPECT_FALSE(s.description.empty()) << s.name;
    for (char c : s.name) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')
          << "\"" << s.name << "\" has '" << c << "'";
    }
    // A port spec splits on ',' and treats "digits-digits" as a range: a name must be neither.
    EXPECT_FALSE(s.name.front() >= '0' && s.name.front() <= '9') << s.name;
  }
}

TEST(ServiceTable, EveryNameFindsItsPort) {
  for (const auto& s : service_table()) {
    EXPECT_EQ(find_service_port(s.name), s.port) << s.name;
    ASSERT_TRUE(find_service(s.port)) << s.port;
    EXPECT_EQ(find_service(s.port)->name, s.name);
  }
}

struct lecture_entry {
  std::uint16_t port;
  std::string_view name;
  std::string_view description;
};

// The lecture's table, and the two alternates the demo uses, with their exact descriptions.
constexpr lecture_entry lecture[] = {
    {20, "ftp-data", "FTP data"},
    {21, "ftp", "FTP"},
    {22, "ssh", "SSH"},
    {25, "smtp", "SMTP (sending email)"},
    {53, "dns", "DNS"},
    {80, "http", "HTTP"},
    {110, "pop3", "POP3 (receiving email)"},
    {143, "imap", "IMAP (receiving email)"},
    {179, "bgp", "BGP"},
    {389, "ldap", "LDAP"},
    {443, "https", "HTTPS"},
    {587, "submission", "SMTP submission (TLS)"},
    {1433, "ms-sql", "Microsoft SQL Server"},
    {1434, "ms-sql-m", "Microsoft SQL Server browser"},
    {3306, "mysql", "MySQL"},
    {3389, "rdp", "RDP (Windows remote desktop)"},
    {5432, "postgresql", "PostgreSQL"},
    {8080, "http-alt", "HTTP alternate"},
    {8443, "https-alt", "HTTPS alternate"},
};

TEST(ServiceTable, HoldsTheLecturesEntries) {
  for (const auto& want : lecture) {
    auto got = find_service(want.port);
    ASSERT_TRUE(got) << "port " << want.port << " is missing";
    EXPECT_EQ(got->port, want.port);
    EXPECT_EQ(got->name, want.name) << "port " << want.port;
    EXPECT_EQ(got->description, want.description) << "port " << want.port;
  }
}

TEST(FindService, UnknownPorts) {
  EXPECT_FALSE(find_service(0));
  EXPECT_FALSE(find_service(8081));
  EXPECT_FALSE(find_service(65535));
  EXPECT_FALSE(find_service(19));
}

TEST(FindService, FirstAndLastEntries) {
  auto table = service_table();
  EXPECT_EQ(find_service(table.front().port)->name, table.front().name);
  EXPECT_EQ(find_service(table.back().port)->name, table.back().name);
}

TEST(FindServicePort, NamesIgnoreCase) {
  EXPECT_EQ(find_service_port("http-alt"), std::uint16_t{8080});
  EXPECT_EQ(find_service_port("HTTP-ALT"), std::uint16_t{8080});
  EXPECT_EQ(find_service_port("Https-Alt"), std::uint16_t{8443});
}

TEST(FindServicePort, Aliases) {
  EXPECT_EQ(find_service_port("domain"), std::uint16_t{53});
  EXPECT_EQ(find_service_port("www"), std::uint16_t{80});
  EXPECT_EQ(find_service_port("postgres"), std::uint16_t{5432});
  EXPECT_EQ(find_service_port("ms-wbt-server"), std::uint16_t{3389});
  EXPECT_EQ(find_service_port("mssql"), std::uint16_t{1433});
  EXPECT_EQ(find_service_port("DOMAIN"), std::uint16_t{53});
}

TEST(FindServicePort, UnknownName) {
  EXPECT_FALSE(find_service_port("no-such-service-here"));
  EXPECT_FALSE(find_service_port(""));
}

TEST(DescribePort, BuiltInDescriptions) {
  EXPECT_EQ(describe_port(8080), "HTTP alternate");
  EXPECT_EQ(describe_port(8443), "HTTPS alternate");
  EXPECT_EQ(describe_port(53), "DNS");
  EXPECT_EQ(describe_port(3389), "RDP (Windows remote desktop)");
}

TEST(KnownServiceNames, TheTableInOrder) {
  EXPECT_EQ(known_service_names(),
            "ftp-data, ftp, ssh, telnet, smtp, dns, http, pop3, ntp, imap, bgp, ldap, https, "
            "smtps, submission, ldaps, imaps, pop3s, ms-sql, ms-sql-m, mysql, rdp, postgresql, "
            "vnc, redis, http-alt, https-alt, mongodb");
}

// ---- /etc/services text ------------------------------------------------------------------

constexpr std::string_view services_text =
    "# Network services, Internet style\n"
    "#\n"
    "# ignored 7/tcp this whole line is a comment\n"
    "tcpmux\t\t1/tcp\t\t\t\t# TCP port service multiplexer\n"
    "echo\t\t7/tcp\n"
    "echo\t\t7/udp\n"
    "domain\t\t53/tcp\t\t\t\t# Domain Name Server\n"
    "domain\t\t53/udp\n"
    "http\t\t80/tcp\t\twww\t\t# WorldWideWeb HTTP\n"
    "syslog\t\t514/udp\n"
    "\n"
    "   \t\n"
    "lonely\n"
    "noport\t\t/tcp\n"
    "badport\t\t80x/tcp\n"
    "negative\t-5/tcp\n"
    "toobig\t\t70000/tcp\n"
    "noproto\t\t600\n"
    "sctponly\t9/sctp\n"
    "  indented  3306/tcp  mysql-alias  # leading blanks are fine\n"
    "http-alt\t8080/tcp\twebcache\t# WWW caching service\n"
    "tproxy\t\t8081/tcp # aliasincomment\n"
    "crlf\t\t9999/tcp\tcrlf-alias\r\n"
    "last\t\t65535/tcp";  // no final newline

TEST(ServicesFileName, FirstNameOfTheTcpLine) {
  EXPECT_EQ(services_file_name(services_text, 1), "tcpmux");
  EXPECT_EQ(services_file_name(services_text, 7), "echo");
  EXPECT_EQ(services_file_name(services_text, 53), "domain");
  EXPECT_EQ(services_file_name(services_text, 80), "http");
  EXPECT_EQ(services_file_name(services_text, 8080), "http-alt");
  EXPECT_EQ(services_file_name(services_text, 8081), "tproxy");
}

TEST(ServicesFileName, LeadingBlanksAndCrlfAndLastLine) {
  EXPECT_EQ(services_file_name(services_text, 3306), "indented");
  EXPECT_EQ(services_file_name(services_text, 9999), "crlf");
  EXPECT_EQ(services_file_name(services_text, 65535), "last");
}

TEST(ServicesFileName, UdpOnlyAndOtherProtocolsAreIgnored) {
  EXPECT_FALSE(services_file_name(services_text, 514));
  EXPECT_FALSE(services_file_name(services_text, 9));
}

TEST(ServicesFileName, CommentsAndMalformedLinesAreIgnored) {
  EXPECT_FALSE(services_file_name(services_text, 600));    // no protocol
  EXPECT_FALSE(services_file_name(services_text, 4464));   // 70000 truncated to 16 bits
  EXPECT_FALSE(services_file_name(services_text, 0));      // "/tcp" with no number
  EXPECT_FALSE(services_file_name(services_text, 65531));  // -5 wrapped
  EXPECT_FALSE(services_file_name(services_text, 12345));
}

TEST(ServicesFileName, EmptyText) {
  EXPECT_FALSE(services_file_name("", 80));
  EXPECT_FALSE(services_file_port("", "http"));
}

TEST(ServicesFilePort, NamesAndAliases) {
  EXPECT_EQ(services_file_port(services_text, "domain"), std::uint16_t{53});
  EXPECT_EQ(services_file_port(services_text, "http"), std::uint16_t{80});
  EXPECT_EQ(services_file_port(services_text, "www"), std::uint16_t{80});
  EXPECT_EQ(services_file_port(services_text, "webcache"), std::uint16_t{8080});
  EXPECT_EQ(services_file_port(services_text, "mysql-alias"), std::uint16_t{3306});
  EXPECT_EQ(services_file_port(services_text, "crlf-alias"), std::uint16_t{9999});
  EXPECT_EQ(services_file_port(services_text, "last"), std::uint16_t{65535});
}

TEST(ServicesFilePort, CaseSensitive) {
  EXPECT_FALSE(services_file_port(services_text, "HTTP"));
  EXPECT_FALSE(services_file_port(services_text, "Domain"));
}

TEST(ServicesFilePort, UdpOnlyCommentsAndMalformedLinesAreIgnored) {
  EXPECT_FALSE(services_file_port(services_text, "syslog"));
  EXPECT_FALSE(services_file_port(services_text, "sctponly"));
  EXPECT_FALSE(services_file_port(services_text, "ignored"));
  EXPECT_FALSE(services_file_port(services_text, "aliasincomment"));
  EXPECT_FALSE(services_file_port(services_text, "lonely"));
  EXPECT_FALSE(services_file_port(services_text, "noport"));
  EXPECT_FALSE(services_file_port(services_text, "badport"));
  EXPECT_FALSE(services_file_port(services_text, "negative"));
  EXPECT_FALSE(services_file_port(services_text, "toobig"));
  EXPECT_FALSE(services_file_port(services_text, "noproto"));
  EXPECT_FALSE(services_file_port(services_text, "#"));
  EXPECT_FALSE(services_file_port(services_text, "TCP"));
}

TEST(ServicesFilePort, ThePortWordIsNotAName) {
  EXPECT_FALSE(services_file_port(services_text, "80/tcp"));
}

TEST(ServicesFilePort, FirstMatchingLineWins) {
  constexpr std::string_view text = "one 100/tcp shared\ntwo 200/tcp shared\n";
  EXPECT_EQ(services_file_port(text, "shared"), std::uint16_t{100});
  constexpr std::string_view again = "first 300/tcp\nsecond 300/tcp\n";
  EXPECT_EQ(services_file_name(again, 300), "first");
}

}  // namespace
}  // namespace portdemo
