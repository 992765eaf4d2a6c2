// Who holds a port: parse_proc_net_tcp on given /proc/net/tcp and /proc/net/tcp6 text, the TCP
// state names, and how explain() uses the holders it finds (EADDRINUSE on either end).

#include <gtest/gtest.h>

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "portdemo/failure.hpp"
#include "portdemo/proc_net.hpp"

namespace portdemo {
namespace {

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// The header line exactly as the kernel prints it (net/ipv4/tcp_ipv4.c).
constexpr std::string_view tcp_header =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
    "timeout inode\n";
constexpr std::string_view tcp6_header =
    "  sl  local_address                         remote_address                        st "
    "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

// A LISTEN on 127.0.0.1:8080 owned by uid 1000, inode 12345.
constexpr std::string_view listen_8080 =
    "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 "
    "12345 1 0000000000000000 100 0 0 10 0\n";
// A TIME_WAIT from 127.0.0.1:43460 to 127.0.0.1:8080: no owner, inode 0.
constexpr std::string_view time_wait_43460 =
    "   1: 0100007F:A9C4 0100007F:1F90 06 00000000:00000000 03:00001770 00000000     0        0 "
    "0 3 0000000000000000\n";
// An ESTABLISHED connection from 10.0.0.2:40000 to 192.168.1.10:443, uid 33, inode 777.
constexpr std::string_view established =
    "   2: 0200000A:9C40 0A01A8C0:01BB 01 00000000:00000000 02:000AFC36 00000000    33        0 "
    "777 2 0000000000000000 20 4 30 10 -1\n";
// A LISTEN on [::1]:8080, uid 0, inode 23456.
constexpr std::string_view listen_v6_8080 =
    "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000     0        0 23456 1 0000000000000000 100 0 0 10 "
    "0\n";

// ---- parse_proc_net_tcp ------------------------------------------------------------------

TEST(ParseProcNetTcp, ListenerOnLoopback8080) {
  auto entries = parse_proc_net_tcp(std::string(tcp_header) + std::string(listen_8080));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].local, (endpoint{"127.0.0.1", 8080}));
  EXPECT_EQ(entries[0].remote, (endpoint{"0.0.0.0", 0}));
  EXPECT_EQ(entries[0].state, tcp_state::listen);
  EXPECT_EQ(entries[0].uid, 1000u);
  EXPECT_EQ(entries[0].inode, 12345u);
}

TEST(ParseProcNetTcp, TimeWaitHasBothEndsAndNoInode) {
  auto entries = parse_proc_net_tcp(std::string(tcp_header) + std::string(time_wait_43460));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].local, (endpoint{"127.0.0.1", 43460}));
  EXPECT_EQ(entries[0].remote, (endpoint{"127.0.0.1", 8080}));
  EXPECT_EQ(entries[0].state, tcp_state::time_wait);
  EXPECT_EQ(entries[0].uid, 0u);
  EXPECT_EQ(entries[0].inode, 0u);
}

TEST(ParseProcNetTcp, OtherAddressesAreByteOrderedCorrectly) {
  auto entries = parse_proc_net_tcp(std::string(tcp_header) + std::string(established));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].local, (endpoint{"10.0.0.2", 40000}));
  EXPECT_EQ(entries[0].remote, (endpoint{"192.168.1.10", 443}));
  EXPECT_EQ(entries[0].state, tcp_state::established);
  EXPECT_EQ(entries[0].uid, 33u);
  EXPECT_EQ(entries[0].inode, 777u);
}

TEST(ParseProcNetTcp, Ipv6LoopbackListener) {
  auto entries = parse_proc_net_tcp(std::string(tcp6_header) + std::string(listen_v6_8080));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].local, (endpoint{"::1", 8080}));
  EXPECT_EQ(entries[0].remote, (endpoint{"::", 0}));
  EXPECT_EQ(entries[0].state, tcp_state::listen);
  EXPECT_EQ(entries[0].uid, 0u);
  EXPECT_EQ(entries[0].inode, 23456u);
}

TEST(ParseProcNetTcp, Ipv6MappedAndGlobalAddresses) {
  // ::ffff:127.0.0.1 port 443 and 2001:db8::1 port 22, as the kernel prints them.
  const std::string text = std::string(tcp6_header) +
                           "   0: 0000000000000000FFFF00000100007F:01BB "
                           "B80D0120000000000000000001000000:0016 01 00000000:00000000 "
                           "00:00000000 00000000  1000        0 99 1 0000000000000000\n";
  auto entries = parse_proc_net_tcp(text);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].local, (endpoint{"::ffff:127.0.0.1", 443}));
  EXPECT_EQ(entries[0].remote, (endpoint{"2001:db8::1", 22}));
}

TEST(ParseProcNetTcp, SeveralLinesInOrder) {
  auto entries = parse_proc_net_tcp(std::string(tcp_header) + std::string(listen_8080) +
                                    std::string(time_wait_43460) + std::string(established));
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].state, tcp_state::listen);
  EXPECT_EQ(entries[1].state, tcp_state::time_wait);
  EXPECT_EQ(entries[2].state, tcp_state::established);
}

TEST(ParseProcNetTcp, TheHeaderIsSkipped) {
  EXPECT_TRUE(parse_proc_net_tcp(tcp_header).empty());
  EXPECT_TRUE(parse_proc_net_tcp(tcp6_header).empty());
  EXPECT_TRUE(parse_proc_net_tcp("").empty());
}

TEST(ParseProcNetTcp, TheFirstLineIsAlwaysTakenForTheHeader) {
  // The kernel always prints the header first: a data line in its place is not data.
  auto entries = parse_proc_net_tcp(std::string(listen_8080) + std::string(time_wait_43460));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].state, tcp_state::time_wait);
}

TEST(ParseProcNetTcp, LastLineWithoutNewline) {
  std::string line(listen_8080);
  line.pop_back();
  auto entries = parse_proc_net_tcp(std::string(tcp_header) + line);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].local, (endpoint{"127.0.0.1", 8080}));
}

TEST(ParseProcNetTcp, MalformedLinesAreSkipped) {
  const std::vector<std::string> malformed = {
      "",                                                           // empty
      "garbage\n",                                                  // one field
      "   0: 0100007F:1F90 00000000:0000 0A\n",                     // too few fields
      "   0: 0100007G:1F90 00000000:0000 0A 0:0 0:0 0 1000 0 1\n",  // not hex
      "   0: 0100007F 00000000:0000 0A 0:0 0:0 0 1000 0 1\n",       // no port
      "   0: 0100007F:XYZ 00000000:0000 0A 0:0 0:0 0 1000 0 1\n",   // bad port
      "   0: 0100007F:10000 00000000:0000 0A 0:0 0:0 0 1000 0 1\n", // port over 65535
      "   0: 00007F:1F90 00000000:0000 0A 0:0 0:0 0 1000 0 1\n",    // 6 hex digits
      "   0: 0100007F:1F90 00000000:0000 00 0:0 0:0 0 1000 0 1\n",  // state 0
      "   0: 0100007F:1F90 00000000:0000 0D 0:0 0:0 0 1000 0 1\n",  // state 13
      "   0: 0100007F:1F90 00000000:0000 ZZ 0:0 0:0 0 1000 0 1\n",  // state not hex
      "   0: 0100007F:1F90 00000000:0000 0A 0:0 0:0 0 root 0 1\n",  // uid not a number
      "   0: 0100007F:1F90 00000000:0000 0A 0:0 0:0 0 1000 0 x\n",  // inode not a number
  };
  std::string text(tcp_header);
  for (const auto& line : malformed) text += line.empty() ? "\n" : line;
  text += std::string(listen_8080);
  auto entries = parse_proc_net_tcp(text);
  ASSERT_EQ(entries.size(), 1u) << "only the well-formed line may be parsed";
  EXPECT_EQ(entries[0].local, (endpoint{"127.0.0.1", 8080}));
  EXPECT_EQ(entries[0].inode, 12345u);
}

TEST(ParseProcNetTcp, EveryStateNumber) {
  for (int state = 1; state <= 12; ++state) {
    char line[160];
    std::snprintf(line, sizeof line,
                  "   0: 0100007F:1F90 00000000:0000 %02X 00000000:00000000 00:00000000 "
                  "00000000     0        0 1 1\n",
                  state);
    auto entries = parse_proc_net_tcp(std::string(tcp_header) + line);
    ASSERT_EQ(entries.size(), 1u) << line;
    EXPECT_EQ(static_cast<int>(entries[0].state), state);
  }
}

// ---- to_string(tcp_state) ----------------------------------------------------------------

TEST(TcpStateToString, EveryState) {
  EXPECT_EQ(to_string(tcp_state::established), "ESTABLISHED");
  EXPECT_EQ(to_string(tcp_state::syn_sent), "SYN_SENT");
  EXPECT_EQ(to_string(tcp_state::syn_recv), "SYN_RECV");
  EXPECT_EQ(to_string(tcp_state::fin_wait1), "FIN_WAIT1");
  EXPECT_EQ(to_string(tcp_state::fin_wait2), "FIN_WAIT2");
  EXPECT_EQ(to_string(tcp_state::time_wait), "TIME_WAIT");
  EXPECT_EQ(to_string(tcp_state::close), "CLOSE");
  EXPECT_EQ(to_string(tcp_state::close_wait), "CLOSE_WAIT");
  EXPECT_EQ(to_string(tcp_state::last_ack), "LAST_ACK");
  EXPECT_EQ(to_string(tcp_state::listen), "LISTEN");
  EXPECT_EQ(to_string(tcp_state::closing), "CLOSING");
  EXPECT_EQ(to_string(tcp_state::new_syn_recv), "NEW_SYN_RECV");
}

TEST(TcpStateToString, TheKernelsNumbering) {
  // include/net/tcp_states.h
  EXPECT_EQ(static_cast<int>(tcp_state::established), 1);
  EXPECT_EQ(static_cast<int>(tcp_state::time_wait), 6);
  EXPECT_EQ(static_cast<int>(tcp_state::listen), 10);
  EXPECT_EQ(static_cast<int>(tcp_state::new_syn_recv), 12);
}

// ---- explain() with the holders --------------------------------------------------------------

host_facts linux_facts() {
  host_facts f;
  f.ephemeral = port_range{32768, 60999};
  f.unprivileged_port_start = 1024;
  return f;
}

port_user listener(endpoint local, std::optional<process_info> owner, unsigned uid = 1000) {
  return {socket_entry{std::move(local), {"0.0.0.0", 0}, tcp_state::listen, uid, 4242}, std::move(owner)};
}

port_user time_waiting(endpoint local, endpoint remote) {
  return {socket_entry{std::move(local), std::move(remote), tcp_state::time_wait, 0, 0}, std::nullopt};
}

failure in_use(endpoint ep, std::vector<port_user> holders, bool client_side) {
  failure f;
  f.where = step::bind;
  f.error = "EADDRINUSE";
  f.system_message = "Address already in use";
  f.ep = std::move(ep);
  f.holders = std::move(holders);
  f.client_side = client_side;
  return f;
}

TEST(ExplainServerInUse, NamesTheListenersPidAndCommand) {
  auto e = explain(in_use({"127.0.0.1", 8080}, {listener({"0.0.0.0", 8080}, process_info{42, "nginx"})}, false),
                   linux_facts());
  EXPECT_EQ(e.what,
            "port 8080 (HTTP alternate) on 127.0.0.1 is already in use: pid 42 (nginx) is "
            "listening on 0.0.0.0:8080.");
  EXPECT_EQ(e.why,
            "Only one listening socket may hold an address and port at a time. SO_REUSEADDR, "
            "which this server sets, only lets it reuse a port whose old connections linger in "
            "TIME_WAIT, never one with a live listener.");
  EXPECT_EQ(e.tries,
            (std::vector<suggestion>{{"see who holds it:", "ss -ltnp 'sport = :8080'"},
                                     {"or pick another port:", "--ports 8081"},
                                     {"or let the kernel choose a free one:", "--ports 0"}}));
  EXPECT_TRUE(contains(to_paragraph(e), "pid 42 (nginx)")) << to_paragraph(e);
}

TEST(ExplainServerInUse, TheListenerComesFirstWhateverTheOrder) {
  auto e = explain(in_use({"127.0.0.1", 8080},
                          {time_waiting({"127.0.0.1", 8080}, {"127.0.0.1", 40000}),
                           listener({"127.0.0.1", 8080}, process_info{42, "nginx"})},
                          false),
                   linux_facts());
  EXPECT_EQ(e.what,
            "port 8080 (HTTP alternate) on 127.0.0.1 is already in use: pid 42 (nginx) is "
            "listening on 127.0.0.1:8080.");
}

TEST(ExplainServerInUse, AListenerOfAnotherUser) {
  auto e = explain(in_use({"::1", 8443}, {listener({"::", 8443}, std::nullopt, 33)}, false),
                   linux_facts());
  EXPECT_EQ(e.what,
            "port 8443 (HTTPS alternate) on ::1 is already in use: a process of uid 33 that this "
            "user cannot see is listening on [::]:8443.");
}

TEST(ExplainServerInUse, NoListenerFound) {
  auto e = explain(in_use({"127.0.0.1", 40000}, {}, false), linux_facts());
  EXPECT_EQ(e.what, "port 40000 on 127.0.0.1 is already in use: another socket is listening there.");
}

TEST(ExplainSourcePortInUse, TimeWaitNamesTheOldConnection) {
  auto e = explain(in_use({"0.0.0.0", 43460}, {time_waiting({"127.0.0.1", 43460}, {"127.0.0.1", 8080})}, true),
                   linux_facts());
  EXPECT_EQ(e.what, "local port 43460 is already in use, so this client cannot take it (EADDRINUSE).");
  EXPECT_EQ(e.why,
            "A connection from it, 127.0.0.1:43460 -> 127.0.0.1:8080, lingers in TIME_WAIT since "
            "its last use. The end that closes a connection first keeps its four facts in "
            "TIME_WAIT for about 60 s, so that stray packets of the old connection cannot land in "
            "a new one with the same tuple. A client that lets the kernel choose its port never "
            "waits for this.");
  EXPECT_EQ(e.tries,
            (std::vector<suggestion>{
                {"see what uses it:", "ss -tanp 'sport = :43460'"},
                {"wait about a minute, or pin another port:", "--source-port 43461"},
                {"or let the kernel choose an ephemeral port: leave out --source-port", ""}}));
}

TEST(ExplainSourcePortInUse, ListenerWithOwner) {
  auto e = explain(in_use({"0.0.0.0", 8080}, {listener({"127.0.0.1", 8080}, process_info{42, "nginx"})}, true),
                   linux_facts());
  EXPECT_EQ(e.what, "local port 8080 is already in use, so this client cannot take it (EADDRINUSE).");
  EXPECT_EQ(e.why, "A server listens on it: pid 42 (nginx) on 127.0.0.1:8080.");
  ASSERT_FALSE(e.tries.empty());
  EXPECT_EQ(e.tries.front(), (suggestion{"see what uses it:", "ss -tanp 'sport = :8080'"}));
}

TEST(ExplainSourcePortInUse, ListenerIsPreferredOverTimeWait) {
  auto e = explain(in_use({"0.0.0.0", 8080},
                          {time_waiting({"127.0.0.1", 8080}, {"127.0.0.1", 9000}),
                           listener({"127.0.0.1", 8080}, process_info{42, "nginx"})},
                          true),
                   linux_facts());
  EXPECT_EQ(e.why, "A server listens on it: pid 42 (nginx) on 127.0.0.1:8080.");
}

TEST(ExplainSourcePortInUse, ListenerHolderIsNotToldToWaitAMinute) {
  // Waiting frees a port held in TIME_WAIT, never one a live server listens on.
  auto e = explain(in_use({"0.0.0.0", 8080}, {listener({"127.0.0.1", 8080}, process_info{42, "nginx"})}, true),
                   linux_facts());
  for (const auto& t : e.tries) EXPECT_FALSE(contains(t.text, "wait")) << t.text;
}

TEST(ExplainSourcePortInUse, AConnectionInAnotherState) {
  port_user u{socket_entry{{"127.0.0.1", 40000}, {"127.0.0.1", 8080}, tcp_state::established, 1000, 55},
              process_info{7, "curl"}};
  auto e = explain(in_use({"0.0.0.0", 40000}, {u}, true), linux_facts());
  EXPECT_EQ(e.why, "A connection uses it: 127.0.0.1:40000 -> 127.0.0.1:8080 (ESTABLISHED), owned by pid 7 (curl).");
}

TEST(ExplainSourcePortInUse, AnOrphanedClosingSocketIsNotBlamedOnAnInvisibleProcess) {
  // A socket its process has closed (FIN_WAIT1, FIN_WAIT2, LAST_ACK, CLOSING) has inode 0: no
  // process owns it, the kernel finishes the close. "a process ... that this user cannot see"
  // would be false, even for root.
  port_user u{socket_entry{{"127.0.0.1", 40000}, {"127.0.0.1", 8080}, tcp_state::fin_wait1, 0, 0},
              std::nullopt};
  auto e = explain(in_use({"0.0.0.0", 40000}, {u}, true), linux_facts());
  EXPECT_TRUE(contains(e.why, "127.0.0.1:40000 -> 127.0.0.1:8080")) << e.why;
  EXPECT_FALSE(contains(e.why, "cannot see")) << e.why;
}

TEST(ExplainSourcePortInUse, NoHolderFound) {
  auto e = explain(in_use({"0.0.0.0", 40000}, {}, true), linux_facts());
  EXPECT_EQ(e.what, "local port 40000 is already in use, so this client cannot take it (EADDRINUSE).");
  EXPECT_EQ(e.why, "Another socket holds it, one this network namespace's socket table does not show.");
  EXPECT_EQ(e.tries.size(), 3u);
}

TEST(ExplainSourcePortInUse, TheParagraphCarriesTheTuple) {
  auto e = explain(in_use({"0.0.0.0", 43460}, {time_waiting({"127.0.0.1", 43460}, {"127.0.0.1", 8080})}, true),
                   linux_facts());
  const std::string p = to_paragraph(e);
  EXPECT_TRUE(contains(p, "TIME_WAIT")) << p;
  EXPECT_TRUE(contains(p, "127.0.0.1:43460 -> 127.0.0.1:8080")) << p;
  EXPECT_TRUE(contains(p, "--source-port")) << p;
}

}  // namespace
}  // namespace portdemo
