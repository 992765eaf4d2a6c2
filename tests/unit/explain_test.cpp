#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "portdemo/failure.hpp"
#include "portdemo/services.hpp"

namespace portdemo {
namespace {

using namespace std::chrono_literals;

host_facts facts_with(std::optional<std::uint16_t> cutoff, bool root = false, bool cap = false) {
  host_facts f;
  f.ephemeral = port_range{32768, 60999};
  f.unprivileged_port_start = cutoff;
  f.root = root;
  f.cap_net_bind_service = cap;
  return f;
}

failure bind_failure(std::string error, std::string message, endpoint ep) {
  failure f;
  f.where = step::bind;
  f.error = std::move(error);
  f.system_message = std::move(message);
  f.ep = std::move(ep);
  return f;
}

failure connect_failure(std::string error, std::string message, endpoint ep,
                        std::chrono::milliseconds timeout = 0ms) {
  failure f;
  f.where = step::connect;
  f.error = std::move(error);
  f.system_message = std::move(message);
  f.ep = std::move(ep);
  f.timeout = timeout;
  return f;
}

failure resolve_failure(std::string error, std::string message, std::string host) {
  failure f;
  f.where = step::resolve;
  f.error = std::move(error);
  f.system_message = std::move(message);
  f.host = std::move(host);
  return f;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// ---- to_string(step) -----------------------------------------------------------------------

TEST(StepToString, EveryStep) {
  EXPECT_EQ(to_string(step::resolve), "resolve");
  EXPECT_EQ(to_string(step::open), "open");
  EXPECT_EQ(to_string(step::set_option), "set_option");
  EXPECT_EQ(to_string(step::bind), "bind");
  EXPECT_EQ(to_string(step::listen), "listen");
  EXPECT_EQ(to_string(step::accept), "accept");
  EXPECT_EQ(to_string(step::connect), "connect");
  EXPECT_EQ(to_string(step::read), "read");
  EXPECT_EQ(to_string(step::write), "write");
}

// ---- bind: EACCES ------------------------------------------------------------------------

TEST(ExplainBindEacces, PrivilegedPortWithCutOff1024) {
  auto e = explain(bind_failure("EACCES", "Permission denied", {"0.0.0.0", 80}), facts_with(1024));
  EXPECT_EQ(e.what,
            "port 80 (HTTP) on 0.0.0.0 is privileged: the kernel refused to let this "
            "process bind it (EACCES).");
  EXPECT_EQ(e.why,
            "On this host ports below 1024 (net.ipv4.ip_unprivileged_port_start = 1024) may "
            "only be bound by root or by a process holding CAP_NET_BIND_SERVICE, and this "
            "process is neither.");
  EXPECT_EQ(e.tries, (std::vector<suggestion>{
                         {"use an unprivileged port instead, such as 8080:", "--ports 8080"},
                         {"bind as root, then run as an ordinary user:",
                          "sudo demo-server --ports 80 --user nobody"},
                         {"or let a privileged parent bind it and pass it on (socket activation):",
                          "sudo systemd-socket-activate -l 80 demo-server"},
                         {"or grant the capability to the binary once:",
                          "sudo setcap cap_net_bind_service=+ep \"$(command -v demo-server)\""},
                         {"or lower the cut-off for the whole host:",
                          "sudo sysctl net.ipv4.ip_unprivileged_port_start=80"},
                     }));
}

TEST(ExplainBindEacces, ParagraphNamesCutOffCapabilityAndCommands) {
  auto e = explain(bind_failure("EACCES", "Permission denied", {"0.0.0.0", 80}), facts_with(1024));
  EXPECT_EQ(to_paragraph(e),
            "port 80 (HTTP) on 0.0.0.0 is privileged: the kernel refused to let this process bind "
            "it (EACCES). On this host ports below 1024 (net.ipv4.ip_unprivileged_port_start = "
            "1024) may only be bound by root or by a process holding CAP_NET_BIND_SERVICE, and "
            "this process is neither. Try: use an unprivileged port instead, such as 8080: --ports "
            "8080; bind as root, then run as an ordinary user: sudo demo-server --ports 80 --user "
            "nobody; or let a privileged parent bind it and pass it on (socket activation): sudo "
            "systemd-socket-activate -l 80 demo-server; or grant the capability to the "
            "binary once: sudo setcap cap_net_bind_service=+ep \"$(command -v demo-server)\"; or "
            "lower the cut-off for the whole host: sudo sysctl "
            "net.ipv4.ip_unprivileged_port_start=80.");
}

TEST(ExplainBindEacces, UsesTheLiveCutOffNotAnAssumed1024) {
  auto e =
      explain(bind_failure("EACCES", "Permission denied", {"127.0.0.1", 443}), facts_with(600));
  EXPECT_EQ(e.what,
            "port 443 (HTTPS) on 127.0.0.1 is privileged: the kernel refused to let this "
            "process bind it (EACCES).");
  EXPECT_EQ(e.why,
            "On this host ports below 600 (net.ipv4.ip_unprivileged_port_start = 600) may "
            "only be bound by root or by a process holding CAP_NET_BIND_SERVICE, and this "
            "process is neither.");
  const std::string p = to_paragraph(e);
  EXPECT_FALSE(contains(p, "1024")) << p;
  EXPECT_TRUE(contains(p, "CAP_NET_BIND_SERVICE"));
  EXPECT_TRUE(contains(p, "sudo setcap cap_net_bind_service=+ep"));
  EXPECT_TRUE(contains(p, "sudo sysctl net.ipv4.ip_unprivileged_port_start=443"));
}

TEST(ExplainBindEacces, RootWithoutTheCapability) {
  auto e = explain(bind_failure("EACCES", "Permission denied", {"0.0.0.0", 80}),
                   facts_with(1024, true, false));
  EXPECT_EQ(e.why,
            "On this host ports below 1024 (net.ipv4.ip_unprivileged_port_start = 1024) may "
            "only be bound by root or by a process holding CAP_NET_BIND_SERVICE, and this "
            "process runs as root but without CAP_NET_BIND_SERVICE.");
}

TEST(ExplainBindEacces, RootWithoutTheCapabilityIsNotToldToRunAsRoot) {
  // It already runs as root; "sudo demo-server" would drop nothing and change nothing.
  auto e = explain(bind_failure("EACCES", "Permission denied", {"0.0.0.0", 80}),
                   facts_with(1024, true, false));
  for (const auto& t : e.tries) {
    EXPECT_NE(t.text, "run it as root:") << t.command;
  }
}

TEST(ExplainBindEacces, UnknownCutOff) {
  auto e = explain(bind_failure("EACCES", "Permission denied", {"0.0.0.0", 80}),
                   facts_with(std::nullopt));
  EXPECT_EQ(e.what,
            "port 80 (HTTP) on 0.0.0.0 is privileged: the kernel refused to let this "
            "process bind it (EACCES).");
  EXPECT_EQ(e.why,
            "On this host ports below net.ipv4.ip_unprivileged_port_start (unreadable here) "
            "may only be bound by root or by a process holding CAP_NET_BIND_SERVICE, and "
            "this process is neither.");
}

TEST(ExplainBindEacces, PortNotPrivilegedWithCutOff80) {
  auto e = explain(bind_failure("EACCES", "Permission denied", {"0.0.0.0", 80}), facts_with(80));
  EXPECT_EQ(e.what,
            "binding port 80 (HTTP) on 0.0.0.0 was refused (EACCES), although it is not a "
            "privileged port here.");
  EXPECT_EQ(e.why,
            "Ports below 80 (net.ipv4.ip_unprivileged_port_start = 80) are privileged on "
            "this host; 80 is not, so a security policy (SELinux, AppArmor, seccomp) refused "
            "it.");
  EXPECT_EQ(e.tries,
            (std::vector<suggestion>{{"check the security policy's log:", "journalctl -k"},
                                     {"or let the kernel choose another port:", "--ports 0"}}));
}

TEST(ExplainBindEacces, UnprivilegedPortRefusedByPolicy) {
  auto e = explain(bind_failure("EACCES", "Permission denied", {"::1", 8080}), facts_with(1024));
  EXPECT_EQ(e.what,
            "binding port 8080 (HTTP alternate) on ::1 was refused (EACCES), although it is "
            "not a privileged port here.");
  EXPECT_EQ(e.why,
            "Ports below 1024 (net.ipv4.ip_unprivileged_port_start = 1024) are privileged on "
            "this host; 8080 is not, so a security policy (SELinux, AppArmor, seccomp) "
            "refused it.");
}

TEST(ExplainBindEacces, EpermIsTreatedLikeEacces) {
  auto e =
      explain(bind_failure("EPERM", "Operation not permitted", {"0.0.0.0", 22}), facts_with(1024));
  EXPECT_EQ(e.what,
            "port 22 (SSH) on 0.0.0.0 is privileged: the kernel refused to let this "
            "process bind it (EPERM).");
}

// ---- bind: other errors ------------------------------------------------------------------

TEST(ExplainBind, AddressInUse) {
  auto e = explain(bind_failure("EADDRINUSE", "Address already in use", {"0.0.0.0", 8080}),
                   facts_with(1024));
  EXPECT_EQ(e.what,
            "port 8080 (HTTP alternate) on 0.0.0.0 is already in use: another socket is "
            "listening there.");
  EXPECT_EQ(e.why,
            "Only one listening socket may hold an address and port at a time. SO_REUSEADDR, "
            "which this server sets, only lets it reuse a port whose old connections linger "
            "in TIME_WAIT, never one with a live listener.");
  EXPECT_EQ(e.tries,
            (std::vector<suggestion>{{"see who holds it:", "ss -ltnp 'sport = :8080'"},
                                     {"or pick another port:", "--ports 8081"},
                                     {"or let the kernel choose a free one:", "--ports 0"}}));
  EXPECT_EQ(to_paragraph(e),
            "port 8080 (HTTP alternate) on 0.0.0.0 is already in use: another socket is listening "
            "there. Only one listening socket may hold an address and port at a time. "
            "SO_REUSEADDR, which this server sets, only lets it reuse a port whose old "
            "connections linger in TIME_WAIT, never one with a live listener. Try: see who holds "
            "it: ss -ltnp 'sport = :8080'; or pick another port: --ports 8081; or let the kernel "
            "choose a free one: --ports 0.");
}

TEST(ExplainBind, AddressInUseOnTheLastPortSuggestsAFreeOne) {
  auto e = explain(bind_failure("EADDRINUSE", "Address already in use", {"::", 65535}),
                   facts_with(1024));
  ASSERT_EQ(e.tries.size(), 3u);
  EXPECT_NE(e.tries[1].command, "--ports 65536");
  EXPECT_NE(e.tries[1].command, "--ports 65535");
}

TEST(ExplainBind, AddressNotAvailable) {
  auto e =
      explain(bind_failure("EADDRNOTAVAIL", "Cannot assign requested address", {"192.0.2.1", 8080}),
              facts_with(1024));
  EXPECT_EQ(e.why, "A server can only listen on addresses its own network interfaces have.");
  EXPECT_EQ(e.tries, (std::vector<suggestion>{
                         {"list this host's addresses:", "ip -br addr"},
                         {"bind a loopback address:", "--bind 127.0.0.1"},
                         {"or every address of this host:", "--bind 0.0.0.0 --bind ::"}}));
  EXPECT_TRUE(contains(e.what, "192.0.2.1")) << e.what;
  EXPECT_TRUE(contains(e.what, "(EADDRNOTAVAIL)")) << e.what;
}

TEST(ExplainBind, AddressFamilyNotSupported) {
  auto e = explain(
      bind_failure("EAFNOSUPPORT", "Address family not supported by protocol", {"::1", 8080}),
      facts_with(1024));
  EXPECT_EQ(e.what,
            "this host cannot open IPv6 sockets, so port 8080 (HTTP alternate) on ::1 "
            "cannot listen (EAFNOSUPPORT).");
  EXPECT_EQ(e.why, "The kernel has that address family disabled or not built in.");
  EXPECT_EQ(e.tries,
            (std::vector<suggestion>{{"bind the other family instead:", "--bind 127.0.0.1"}}));
}

TEST(ExplainBind, OtherStepOrError) {
  failure f = bind_failure("EOPNOTSUPP", "Operation not supported", {"127.0.0.1", 8443});
  f.where = step::listen;
  auto e = explain(f, facts_with(1024));
  EXPECT_EQ(e.what,
            "listen failed for port 8443 (HTTPS alternate) on 127.0.0.1: Operation not "
            "supported (EOPNOTSUPP).");
  EXPECT_EQ(e.why, "The kernel refused this step of setting up a listening socket.");
  EXPECT_EQ(e.tries,
            (std::vector<suggestion>{{"let the kernel choose another port:", "--ports 0"}}));
}

// ---- connect -----------------------------------------------------------------------------

TEST(ExplainConnect, Refused) {
  auto e = explain(connect_failure("ECONNREFUSED", "Connection refused", {"127.0.0.1", 8080}),
                   facts_with(1024));
  EXPECT_EQ(
      e.what,
      "nothing is listening on 127.0.0.1 port 8080 (HTTP alternate): the connection was refused.");
  EXPECT_EQ(e.why,
            "The host is there, but no socket listens on that port, so its kernel answered "
            "our connection request (SYN) with a reset (RST).");
  EXPECT_EQ(e.tries, (std::vector<suggestion>{
                         {"start a server there:", "demo-server --ports 8080"},
                         {"on that host, list what listens:", "ss -ltn 'sport = :8080'"}}));
  EXPECT_EQ(to_paragraph(e),
            "nothing is listening on 127.0.0.1 port 8080 (HTTP alternate): the connection was "
            "refused. The host is there, but no socket listens on that port, so its kernel "
            "answered our connection request (SYN) with a reset (RST). Try: start a server there: "
            "demo-server --ports 8080; on that host, list what listens: ss -ltn 'sport = :8080'.");
}

TEST(ExplainConnect, RefusedOnIpv6) {
  auto e = explain(connect_failure("ECONNREFUSED", "Connection refused", {"::1", 8443}),
                   facts_with(1024));
  EXPECT_EQ(e.what,
            "nothing is listening on ::1 port 8443 (HTTPS alternate): the connection was refused.");
}

TEST(ExplainConnect, TimedOut) {
  auto e =
      explain(connect_failure("ETIMEDOUT", "Connection timed out", {"192.0.2.1", 8080}, 3000ms),
              facts_with(1024));
  EXPECT_EQ(e.what, "no answer from 192.0.2.1:8080 within 3 s.");
  EXPECT_EQ(e.why,
            "Neither an acceptance (SYN-ACK) nor a refusal (RST) came back: a firewall "
            "dropped the packets, the host is down, or the listener's queue of waiting "
            "connections is full.");
  EXPECT_EQ(e.tries, (std::vector<suggestion>{
                         {"check the address and port, and any firewall between the two hosts", ""},
                         {"or wait longer:", "--timeout SECONDS"}}));
  EXPECT_EQ(to_paragraph(e),
            "no answer from 192.0.2.1:8080 within 3 s. Neither an acceptance (SYN-ACK) nor a "
            "refusal (RST) came back: a firewall dropped the packets, the host is down, or the "
            "listener's queue of waiting connections is full. Try: check the address and port, "
            "and any firewall between the two hosts; or wait longer: --timeout SECONDS.");
}

TEST(ExplainConnect, TimedOutSaysTheTimeoutInSeconds) {
  const endpoint v6{"2001:db8::1", 443};
  auto what = [&](std::chrono::milliseconds t) {
    return explain(connect_failure("ETIMEDOUT", "Connection timed out", v6, t), facts_with(1024))
        .what;
  };
  EXPECT_EQ(what(2500ms), "no answer from [2001:db8::1]:443 within 2.5 s.");
  EXPECT_EQ(what(100ms), "no answer from [2001:db8::1]:443 within 0.1 s.");
  EXPECT_EQ(what(10000ms), "no answer from [2001:db8::1]:443 within 10 s.");
  EXPECT_EQ(what(120000ms), "no answer from [2001:db8::1]:443 within 120 s.");
}

TEST(ExplainConnect, TimedOutAtTheLongestTimeoutTheClientAccepts) {
  // demo-client accepts --timeout up to 3600 seconds: no scientific notation in a sentence.
  auto e =
      explain(connect_failure("ETIMEDOUT", "Connection timed out", {"192.0.2.1", 8080}, 3600000ms),
              facts_with(1024));
  EXPECT_EQ(e.what, "no answer from 192.0.2.1:8080 within 3600 s.");
  auto e1000 =
      explain(connect_failure("ETIMEDOUT", "Connection timed out", {"192.0.2.1", 8080}, 1000000ms),
              facts_with(1024));
  EXPECT_EQ(e1000.what, "no answer from 192.0.2.1:8080 within 1000 s.");
}

TEST(ExplainConnect, NetworkUnreachable) {
  auto e = explain(connect_failure("ENETUNREACH", "Network is unreachable", {"10.99.0.1", 8080}),
                   facts_with(1024));
  EXPECT_TRUE(contains(e.what, "10.99.0.1")) << e.what;
  EXPECT_TRUE(contains(e.what, "Network is unreachable (ENETUNREACH)")) << e.what;
  EXPECT_EQ(e.why,
            "No route leads to that address from this host, so no packet was sent to any port.");
  EXPECT_EQ(e.tries, (std::vector<suggestion>{{"check the address, and this host's route to it:",
                                               "ip route get 10.99.0.1"}}));
}

TEST(ExplainConnect, HostUnreachable) {
  auto e = explain(connect_failure("EHOSTUNREACH", "No route to host", {"192.0.2.7", 22}),
                   facts_with(1024));
  EXPECT_TRUE(contains(e.what, "No route to host (EHOSTUNREACH)")) << e.what;
  EXPECT_EQ(e.tries.front().command, "ip route get 192.0.2.7");
}

TEST(ExplainConnect, NoLocalPortFree) {
  auto e = explain(
      connect_failure("EADDRNOTAVAIL", "Cannot assign requested address", {"127.0.0.1", 8080}),
      facts_with(1024));
  EXPECT_EQ(e.what,
            "no local address and port could be found to reach 127.0.0.1:8080 (EADDRNOTAVAIL).");
  EXPECT_EQ(e.why,
            "Every connection needs a local port; the kernel found none free in this host's "
            "ephemeral range for this destination, or the address has no route.");
  EXPECT_EQ(e.tries,
            (std::vector<suggestion>{
                {"check the ephemeral range:", "sysctl net.ipv4.ip_local_port_range"},
                {"and connections waiting in TIME_WAIT:", "ss -tan state time-wait | wc -l"}}));
}

TEST(ExplainConnect, OtherError) {
  auto e =
      explain(connect_failure("EPROTO", "Protocol error", {"127.0.0.1", 8080}), facts_with(1024));
  EXPECT_EQ(e.what, "connect to 127.0.0.1:8080 failed: Protocol error (EPROTO).");
  EXPECT_EQ(e.why, "The connection broke before the server could report it.");
  EXPECT_EQ(e.tries,
            (std::vector<suggestion>{{"try again; if it persists, check the server's log", ""}}));
}

TEST(ExplainConnect, ReadAndWriteFailuresAreExplainedAsConnectionFailures) {
  failure f = connect_failure("ECONNRESET", "Connection reset by peer", {"127.0.0.1", 8080});
  f.where = step::read;
  auto e = explain(f, facts_with(1024));
  EXPECT_TRUE(contains(e.what, "127.0.0.1:8080")) << e.what;
  EXPECT_TRUE(contains(e.what, "Connection reset by peer (ECONNRESET)")) << e.what;
  EXPECT_EQ(e.why, "The connection broke before the server could report it.");
}

TEST(Explain, WhatNamesTheAddressAndThePort) {
  // failure.hpp: `what` is "one sentence: what happened, with port and address".
  const host_facts facts = facts_with(1024);
  const std::vector<failure> failures = {
      bind_failure("EACCES", "Permission denied", {"0.0.0.0", 80}),
      bind_failure("EACCES", "Permission denied", {"0.0.0.0", 8080}),
      bind_failure("EADDRINUSE", "Address already in use", {"0.0.0.0", 8080}),
      bind_failure("EADDRNOTAVAIL", "Cannot assign requested address", {"192.0.2.1", 8080}),
      bind_failure("EAFNOSUPPORT", "Address family not supported by protocol", {"::1", 8080}),
      connect_failure("ECONNREFUSED", "Connection refused", {"127.0.0.1", 8080}),
      connect_failure("ETIMEDOUT", "Connection timed out", {"192.0.2.1", 8080}, 3000ms),
      connect_failure("ENETUNREACH", "Network is unreachable", {"10.99.0.1", 8080}),
      connect_failure("EADDRNOTAVAIL", "Cannot assign requested address", {"127.0.0.1", 8080}),
  };
  for (const auto& f : failures) {
    auto e = explain(f, facts);
    EXPECT_TRUE(contains(e.what, f.ep->address)) << f.error << ": " << e.what;
    EXPECT_TRUE(contains(e.what, std::to_string(f.ep->port))) << f.error << ": " << e.what;
  }
}

// ---- resolve -----------------------------------------------------------------------------

TEST(ExplainResolve, NoSuchName) {
  auto e =
      explain(resolve_failure("EAI_NONAME", "Name or service not known", "no.such.host.invalid"),
              facts_with(1024));
  EXPECT_EQ(e.what,
            "the name \"no.such.host.invalid\" does not resolve to any address (EAI_NONAME).");
  EXPECT_EQ(e.why, "Without an address there is no host to send to, so no port was tried at all.");
  EXPECT_EQ(e.tries, (std::vector<suggestion>{
                         {"check the spelling, or use an address such as 127.0.0.1 or ::1", ""},
                         {"see what this host resolves:", "getent ahosts no.such.host.invalid"}}));
  EXPECT_EQ(to_paragraph(e),
            "the name \"no.such.host.invalid\" does not resolve to any address (EAI_NONAME). "
            "Without an address there is no host to send to, so no port was tried at all. Try: "
            "check the spelling, or use an address such as 127.0.0.1 or ::1; see what this host "
            "resolves: getent ahosts no.such.host.invalid.");
}

TEST(ExplainResolve, NodataAndFailAreLikeNoname) {
  for (const char* error : {"EAI_NODATA", "EAI_FAIL"}) {
    auto e = explain(resolve_failure(error, "whatever", "h.example"), facts_with(1024));
    EXPECT_EQ(e.what, "the name \"h.example\" does not resolve to any address (" +
                          std::string(error) + ").");
  }
}

TEST(ExplainResolve, TryAgainSaysNoPortWasTried) {
  auto e =
      explain(resolve_failure("EAI_AGAIN", "Temporary failure in name resolution", "example.com"),
              facts_with(1024));
  EXPECT_EQ(e.what, "no resolver could answer for \"example.com\" right now (EAI_AGAIN).");
  EXPECT_EQ(e.why,
            "The name service could not be reached, so no address is known and no port was tried.");
  EXPECT_EQ(e.tries, (std::vector<suggestion>{
                         {"use an address instead, such as 127.0.0.1 or ::1", ""},
                         {"check the resolver's configuration:", "cat /etc/resolv.conf"}}));
  EXPECT_TRUE(contains(to_paragraph(e), "no port was tried"));
}

TEST(ExplainResolve, UnknownService) {
  auto e = explain(resolve_failure("EAI_SERVICE", "Servname not supported for ai_socktype", "htpp"),
                   facts_with(1024));
  EXPECT_EQ(e.what, "\"htpp\" is not a service name this program knows (EAI_SERVICE).");
  EXPECT_EQ(
      e.why,
      "A service name only stands for a port number; without the number nothing can be tried.");
  EXPECT_EQ(
      e.tries,
      (std::vector<suggestion>{{"give the port number, or one of: " + known_service_names(), ""}}));
}

TEST(ExplainResolve, OtherError) {
  auto e = explain(resolve_failure("EAI_MEMORY", "Memory allocation failure", "localhost"),
                   facts_with(1024));
  EXPECT_EQ(e.what, "resolving \"localhost\" failed: Memory allocation failure (EAI_MEMORY).");
  EXPECT_EQ(e.why, "Without an address no port can be tried.");
  EXPECT_EQ(to_paragraph(e),
            "resolving \"localhost\" failed: Memory allocation failure (EAI_MEMORY). Without an "
            "address no port can be tried. Try: use an address instead, such as 127.0.0.1 or ::1.");
}

// ---- to_paragraph ------------------------------------------------------------------------

TEST(ToParagraph, WhatAlone) { EXPECT_EQ(to_paragraph({"It broke.", "", {}}), "It broke."); }

TEST(ToParagraph, WhatAndWhy) {
  EXPECT_EQ(to_paragraph({"It broke.", "Because.", {}}), "It broke. Because.");
}

TEST(ToParagraph, SuggestionsWithAndWithoutCommands) {
  EXPECT_EQ(to_paragraph({"It broke.", "Because.", {{"look:", "ls"}, {"or wait", ""}}}),
            "It broke. Because. Try: look: ls; or wait.");
}

// ---- exit_code_for / errno_name ----------------------------------------------------------

TEST(ExitCodeFor, TheDocumentedCodes) {
  EXPECT_EQ(exit_code_for("EACCES"), 77);
  EXPECT_EQ(exit_code_for("EPERM"), 77);
  EXPECT_EQ(exit_code_for("EADDRINUSE"), 69);
  EXPECT_EQ(exit_code_for("ECONNREFUSED"), 69);
  EXPECT_EQ(exit_code_for("EADDRNOTAVAIL"), 69);
  EXPECT_EQ(exit_code_for("ENETUNREACH"), 69);
  EXPECT_EQ(exit_code_for("EHOSTUNREACH"), 69);
  EXPECT_EQ(exit_code_for("ETIMEDOUT"), 75);
  EXPECT_EQ(exit_code_for("EAI_AGAIN"), 75);
  EXPECT_EQ(exit_code_for("EAI_NONAME"), 68);
  EXPECT_EQ(exit_code_for("EAI_NODATA"), 68);
  EXPECT_EQ(exit_code_for("EAI_FAIL"), 68);
  EXPECT_EQ(exit_code_for("EAI_SERVICE"), 64);
}

TEST(ExitCodeFor, UnknownIsSoftware) {
  EXPECT_EQ(exit_code_for("EWHATEVER"), 70);
  EXPECT_EQ(exit_code_for(""), 70);
  EXPECT_EQ(exit_code_for("eacces"), 70);
}

TEST(ExitCodeFor, MatchesTheNamedConstants) {
  EXPECT_EQ(exit_code::ok, 0);
  EXPECT_EQ(exit_code::usage, 64);
  EXPECT_EQ(exit_code::no_host, 68);
  EXPECT_EQ(exit_code::unavailable, 69);
  EXPECT_EQ(exit_code::software, 70);
  EXPECT_EQ(exit_code::temp_fail, 75);
  EXPECT_EQ(exit_code::no_perm, 77);
}

TEST(ErrnoName, KnownValues) {
  EXPECT_EQ(errno_name(13), "EACCES");
  EXPECT_EQ(errno_name(EACCES), "EACCES");
  EXPECT_EQ(errno_name(EADDRINUSE), "EADDRINUSE");
  EXPECT_EQ(errno_name(ECONNREFUSED), "ECONNREFUSED");
  EXPECT_EQ(errno_name(ETIMEDOUT), "ETIMEDOUT");
  EXPECT_EQ(errno_name(EADDRNOTAVAIL), "EADDRNOTAVAIL");
  EXPECT_EQ(errno_name(ENETUNREACH), "ENETUNREACH");
}

TEST(ErrnoName, UnknownValues) {
  EXPECT_EQ(errno_name(99999), "E99999");
  EXPECT_EQ(errno_name(-3), "E-3");
}

TEST(ErrnoName, NamesMapToTheirExitCodes) {
  EXPECT_EQ(exit_code_for(errno_name(EACCES)), 77);
  EXPECT_EQ(exit_code_for(errno_name(ETIMEDOUT)), 75);
  EXPECT_EQ(exit_code_for(errno_name(ECONNREFUSED)), 69);
}


// ---- context gathered by the networking code ------------------------------------------------

TEST(ExplainBind, AddressNotAvailableListsThisHostsAddresses) {
  failure f = bind_failure("EADDRNOTAVAIL", "Cannot assign requested address", {"192.0.2.1", 8080});
  f.local_addresses = {"127.0.0.1", "10.0.0.5", "::1", "fe80::1%eth0"};
  auto e = explain(f, facts_with(1024));
  EXPECT_EQ(e.what,
            "192.0.2.1 is not an address of this host, so port 8080 cannot be bound on it "
            "(EADDRNOTAVAIL).");
  EXPECT_EQ(e.why,
            "A server can only listen on addresses its own network interfaces have; this host "
            "has 127.0.0.1, 10.0.0.5, ::1, fe80::1%eth0.");
  EXPECT_EQ(e.tries.front(), (suggestion{"list this host's addresses:", "ip -br addr"}));
}

TEST(ExplainBind, AddressNotAvailableOnAKernelChosenPort) {
  failure f = bind_failure("EADDRNOTAVAIL", "Cannot assign requested address", {"192.0.2.1", 0});
  f.local_addresses = {"127.0.0.1", "::1"};
  auto e = explain(f, facts_with(1024));
  EXPECT_EQ(e.what,
            "192.0.2.1 is not an address of this host, so no port can be bound on it "
            "(EADDRNOTAVAIL).");
  EXPECT_EQ(e.why,
            "A server can only listen on addresses its own network interfaces have; this host "
            "has 127.0.0.1, ::1.");
}

TEST(ExplainBindEacces, ClientSourcePortPointsAtSourcePort) {
  failure f = bind_failure("EACCES", "Permission denied", {"0.0.0.0", 80});
  f.client_side = true;
  auto e = explain(f, facts_with(1024, true, false));
  EXPECT_EQ(e.what,
            "port 80 (HTTP) on 0.0.0.0 is privileged: the kernel refused to let this process "
            "bind it (EACCES).");
  EXPECT_EQ(e.why,
            "On this host ports below 1024 (net.ipv4.ip_unprivileged_port_start = 1024) may only "
            "be bound by root or by a process holding CAP_NET_BIND_SERVICE, and this process runs "
            "as root but without CAP_NET_BIND_SERVICE.");
  EXPECT_EQ(e.tries, (std::vector<suggestion>{
                         {"pin an unprivileged port instead:", "--source-port 40000"},
                         {"or let the kernel choose an ephemeral port: leave out --source-port", ""}}));
  // A client is never told to restart itself as a server.
  EXPECT_FALSE(contains(to_paragraph(e), "--ports")) << to_paragraph(e);
  EXPECT_FALSE(contains(to_paragraph(e), "demo-server")) << to_paragraph(e);
}

// ---- accept --------------------------------------------------------------------------------

failure accept_failure(std::string error, std::string message, endpoint ep) {
  failure f;
  f.where = step::accept;
  f.error = std::move(error);
  f.system_message = std::move(message);
  f.ep = std::move(ep);
  return f;
}

TEST(ExplainAccept, OutOfDescriptorsNamesTheLimit) {
  host_facts facts = facts_with(1024);
  facts.open_files_limit = 16;
  auto e = explain(accept_failure("EMFILE", "Too many open files", {"127.0.0.1", 8080}), facts);
  EXPECT_EQ(e.what,
            "accepting on 127.0.0.1:8080 failed: this process has no file descriptor left for a "
            "new connection (EMFILE).");
  EXPECT_EQ(e.why,
            "Every connection is a file descriptor, and this process (ulimit -n: 16) is at its "
            "limit. Clients wait in the listen queue; the server pauses 100 ms and tries "
            "again.");
  EXPECT_EQ(e.tries, (std::vector<suggestion>{
                         {"raise the limit before starting the server:", "ulimit -n 4096"},
                         {"or close idle connections; see them with:", "ss -tn 'sport = :8080'"}}));
}

TEST(ExplainAccept, OutOfDescriptorsWithAnUnknownLimit) {
  auto e = explain(accept_failure("EMFILE", "Too many open files", {"::1", 8443}), facts_with(1024));
  EXPECT_EQ(e.why,
            "Every connection is a file descriptor, and this process is at its limit. Clients "
            "wait in the listen queue; the server pauses 100 ms and tries again.");
  EXPECT_TRUE(contains(e.what, "[::1]:8443")) << e.what;
}

TEST(ExplainAccept, TheWholeSystemOutOfDescriptors) {
  host_facts facts = facts_with(1024);
  facts.open_files_limit = 16;  // the process's limit is not the one reached
  auto e = explain(accept_failure("ENFILE", "Too many open files in system", {"127.0.0.1", 8080}), facts);
  EXPECT_EQ(e.what,
            "accepting on 127.0.0.1:8080 failed: the whole system has no file descriptor left "
            "for a new connection (ENFILE).");
  EXPECT_EQ(e.why,
            "Every connection is a file descriptor, and the system is at its limit. Clients "
            "wait in the listen queue; the server pauses 100 ms and tries again.");
}

TEST(ExplainAccept, OutOfMemory) {
  auto e = explain(accept_failure("ENOBUFS", "No buffer space available", {"127.0.0.1", 8080}),
                   facts_with(1024));
  EXPECT_EQ(e.what,
            "accepting a connection on 127.0.0.1:8080 failed: the kernel is short of memory "
            "(ENOBUFS).");
  EXPECT_EQ(e.tries, (std::vector<suggestion>{{"check the memory use:", "free -m"}}));
}

TEST(ExplainAccept, OneClientGoneAway) {
  auto e = explain(accept_failure("ECONNABORTED", "Software caused connection abort", {"127.0.0.1", 8080}),
                   facts_with(1024));
  EXPECT_EQ(e.what,
            "accepting a connection on 127.0.0.1:8080 failed: Software caused connection abort "
            "(ECONNABORTED).");
  EXPECT_EQ(e.why, "That concerns one client only, which went away while waiting; the server goes on.");
}

// ---- resolve narrowed by -4 / -6 -------------------------------------------------------------

TEST(ExplainResolve, NoIpv6AddressWithDash6) {
  failure f = resolve_failure("EAI_NONAME", "Host not found (authoritative)", "127.0.0.1");
  f.only_family = "IPv6";
  auto e = explain(f, facts_with(1024));
  EXPECT_EQ(e.what, "\"127.0.0.1\" has no IPv6 address (EAI_NONAME).");
  EXPECT_EQ(e.why, "-6 asks for IPv6 addresses only; without one no port was tried at all.");
  EXPECT_EQ(e.tries,
            (std::vector<suggestion>{{"leave out -6, or use an IPv6 address such as ::1", ""}}));
  EXPECT_EQ(to_paragraph(e),
            "\"127.0.0.1\" has no IPv6 address (EAI_NONAME). -6 asks for IPv6 addresses only; "
            "without one no port was tried at all. Try: leave out -6, or use an IPv6 address such "
            "as ::1.");
}

TEST(ExplainResolve, NoIpv4AddressWithDash4) {
  failure f = resolve_failure("EAI_NODATA", "No address associated with hostname", "ip6-localhost");
  f.only_family = "IPv4";
  auto e = explain(f, facts_with(1024));
  EXPECT_EQ(e.what, "\"ip6-localhost\" has no IPv4 address (EAI_NODATA).");
  EXPECT_EQ(e.why, "-4 asks for IPv4 addresses only; without one no port was tried at all.");
  EXPECT_EQ(e.tries, (std::vector<suggestion>{
                         {"leave out -4, or use an IPv4 address such as 127.0.0.1", ""}}));
}

TEST(ExplainResolve, AgainIsNotBlamedOnTheFamily) {
  // The resolver could not be asked: -6 is not the reason, whatever the family.
  failure f = resolve_failure("EAI_AGAIN", "Temporary failure in name resolution", "example.com");
  f.only_family = "IPv6";
  auto e = explain(f, facts_with(1024));
  EXPECT_EQ(e.what, "no resolver could answer for \"example.com\" right now (EAI_AGAIN).");
}

// ---- the service on the port -----------------------------------------------------------------

TEST(ExplainConnect, RefusedNamesTheServiceNormallyOnThePort) {
  auto e = explain(connect_failure("ECONNREFUSED", "Connection refused", {"127.0.0.1", 8080}),
                   facts_with(1024));
  EXPECT_TRUE(contains(e.what, "port 8080 (HTTP alternate)")) << e.what;
  auto ssh = explain(connect_failure("ECONNREFUSED", "Connection refused", {"::1", 22}), facts_with(1024));
  EXPECT_TRUE(contains(ssh.what, "port 22 (SSH)")) << ssh.what;
}

}  // namespace
}  // namespace portdemo
