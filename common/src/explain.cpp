// Every failure's wording: what happened, why (in terms of ports and connections), what to try.

#include <cstring>

#include <fmt/format.h>

#include "portdemo/failure.hpp"
#include "portdemo/ports.hpp"
#include "portdemo/services.hpp"

namespace portdemo {

std::string_view to_string(step s) noexcept {
  switch (s) {
    case step::resolve: return "resolve";
    case step::open: return "open";
    case step::set_option: return "set_option";
    case step::bind: return "bind";
    case step::listen: return "listen";
    case step::accept: return "accept";
    case step::connect: return "connect";
    case step::read: return "read";
    case step::write: return "write";
  }
  return "unknown";
}

std::string errno_name(int err) {
  if (const char* name = ::strerrorname_np(err)) return name;
  return fmt::format("E{}", err);
}

int exit_code_for(std::string_view error) noexcept {
  if (error == "EACCES" || error == "EPERM") return exit_code::no_perm;
  if (error == "EAI_NONAME" || error == "EAI_NODATA" || error == "EAI_FAIL") return exit_code::no_host;
  if (error == "ETIMEDOUT" || error == "EAI_AGAIN") return exit_code::temp_fail;
  if (error == "EAI_SERVICE") return exit_code::usage;
  if (error == "EADDRINUSE" || error == "EADDRNOTAVAIL" || error == "ECONNREFUSED" ||
      error == "ENETUNREACH" || error == "EHOSTUNREACH" || error == "ECONNRESET" ||
      error == "EAFNOSUPPORT" || error == "ENETDOWN" || error == "EHOSTDOWN")
    return exit_code::unavailable;
  return exit_code::software;
}

namespace {

// "port 8080 (HTTP alternate)" or "port 40000".
std::string port_phrase(std::uint16_t port) {
  std::string service = describe_port(port);
  if (service.empty()) return fmt::format("port {}", port);
  return fmt::format("port {} ({})", port, service);
}

// A port to suggest instead of a taken one: the 8000s alternate of a well-known port (80 -> 8080,
// 443 -> 8443), so the suggestion is not privileged too; else the next port.
std::uint16_t alternative_port(std::uint16_t port) {
  if (port < 1024) return static_cast<std::uint16_t>(port + 8000);
  return port == 65535 ? std::uint16_t{65534} : static_cast<std::uint16_t>(port + 1);
}

std::string cutoff_phrase(const host_facts& facts) {
  if (facts.unprivileged_port_start)
    return fmt::format("below {} (net.ipv4.ip_unprivileged_port_start = {})",
                       *facts.unprivileged_port_start, *facts.unprivileged_port_start);
  return "below net.ipv4.ip_unprivileged_port_start (unreadable here)";
}

std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += items[i];
  }
  return out;
}

// "pid 1234 (nginx)", or what is known when /proc does not show the owner to this user.
std::string owner_phrase(const port_user& u) {
  if (u.owner) return fmt::format("pid {} ({})", u.owner->pid, u.owner->command);
  if (u.socket.state == tcp_state::time_wait) return "no process (the kernel keeps it)";
  // A socket no descriptor refers to any more: its process closed it, the kernel is finishing.
  if (u.socket.inode == 0) return "no process (closed; the kernel is finishing the close)";
  return fmt::format("a process of uid {} that this user cannot see", u.socket.uid);
}

const port_user* first_in_state(const std::vector<port_user>& users, tcp_state state) {
  for (const auto& u : users)
    if (u.socket.state == state) return &u;
  return nullptr;
}

constexpr std::string_view time_wait_reason =
    "The end that closes a connection first keeps its four facts in TIME_WAIT for about 60 s, "
    "so that stray packets of the old connection cannot land in a new one with the same tuple.";

// A server's bind: a live listener holds the port (SO_REUSEADDR lets us past TIME_WAIT).
explanation explain_listener_in_use(const failure& f, const std::string& where) {
  const endpoint ep = f.ep.value_or(endpoint{});
  explanation e;
  if (f.proto == "udp") {
    // A bound UDP socket has no listen state: the kernel's UDP table shows it as CLOSE (UNCONN).
    if (!f.holders.empty())
      e.what = fmt::format("{} is already bound for UDP: {} holds UDP {}.", where, owner_phrase(f.holders.front()),
                           to_string(f.holders.front().socket.local));
    else
      e.what = fmt::format("{} is already bound for UDP by another socket.", where);
    e.why = "Only one UDP socket may be bound to an address and port at a time (without "
            "SO_REUSEPORT, which this server never sets). TCP and UDP ports are separate: the same "
            "number may be open on both.";
    e.tries = {{"see who holds it:", fmt::format("ss -lunp 'sport = :{}'", ep.port)},
               {"or pick another port:", fmt::format("--udp {}", alternative_port(ep.port))},
               {"or let the kernel choose a free one:", "--udp 0"}};
    return e;
  }
  if (const port_user* l = first_in_state(f.holders, tcp_state::listen)) {
    e.what = fmt::format("{} is already in use: {} is listening on {}.", where, owner_phrase(*l),
                         to_string(l->socket.local));
  } else {
    e.what = fmt::format("{} is already in use: another socket is listening there.", where);
  }
  e.why = "Only one listening socket may hold an address and port at a time. SO_REUSEADDR, "
          "which this server sets, only lets it reuse a port whose old connections linger in "
          "TIME_WAIT, never one with a live listener.";
  e.tries = {{"see who holds it:", fmt::format("ss -ltnp 'sport = :{}'", ep.port)},
             {"or pick another port:", fmt::format("--ports {}", alternative_port(ep.port))},
             {"or let the kernel choose a free one:", "--ports 0"}};
  return e;
}

// The client's own bind with --source-port: the port is a listener's, or a recent connection's.
explanation explain_source_port_in_use(const failure& f) {
  const endpoint ep = f.local.value_or(f.ep.value_or(endpoint{}));
  explanation e;
  e.what = fmt::format("local port {} is already in use, so this client cannot take it ({}).",
                       ep.port, f.error);
  if (const port_user* l = first_in_state(f.holders, tcp_state::listen)) {
    e.why = fmt::format("A server listens on it: {} on {}.", owner_phrase(*l), to_string(l->socket.local));
  } else if (const port_user* t = first_in_state(f.holders, tcp_state::time_wait)) {
    e.why = fmt::format("A connection from it, {} -> {}, lingers in TIME_WAIT since its last use. {} "
                        "A client that lets the kernel choose its port never waits for this.",
                        to_string(t->socket.local), to_string(t->socket.remote), time_wait_reason);
  } else if (!f.holders.empty()) {
    const port_user& u = f.holders.front();
    e.why = fmt::format("A connection uses it: {} -> {} ({}), owned by {}.", to_string(u.socket.local),
                        to_string(u.socket.remote), to_string(u.socket.state), owner_phrase(u));
  } else {
    e.why = "Another socket holds it, one this network namespace's socket table does not show.";
  }
  // Waiting helps only when the port is held by a connection on its way out.
  const bool lingering = !first_in_state(f.holders, tcp_state::listen) && !f.holders.empty();
  e.tries = {{"see what uses it:", fmt::format("ss -tanp 'sport = :{}'", ep.port)},
             {lingering ? "wait about a minute, or pin another port:" : "pin another port:",
              fmt::format("--source-port {}", alternative_port(ep.port))},
             {"or let the kernel choose an ephemeral port: leave out --source-port", ""}};
  return e;
}

explanation explain_bind(const failure& f, const host_facts& facts) {
  const endpoint ep = f.ep.value_or(endpoint{});
  const std::string where = fmt::format("{} on {}", port_phrase(ep.port), ep.address);
  explanation e;
  if (f.error == "EACCES" || f.error == "EPERM") {
    auto privileged = is_privileged(facts, ep.port);
    if (privileged.value_or(true)) {
      e.what = fmt::format("{} is privileged: the kernel refused to let this process bind it ({}).",
                           where, f.error);
      e.why = fmt::format(
          "On this host ports {} may only be bound by root or by a process holding "
          "CAP_NET_BIND_SERVICE, and this process {}.",
          cutoff_phrase(facts),
          facts.root ? "runs as root but without CAP_NET_BIND_SERVICE" : "is neither");
      if (f.client_side) {
        e.tries = {{"pin an unprivileged port instead:", "--source-port 40000"},
                   {"or let the kernel choose an ephemeral port: leave out --source-port", ""}};
        return e;
      }
      e.tries = {
          {"use an unprivileged port instead, such as 8080:", "--ports 8080"},
      };
      // Root without the capability (dropped by capsh, or a restricted container) gains nothing
      // from sudo; everyone else does.
      // The two ways a system tool does it: bind while privileged and then drop to an ordinary
      // user, or let a privileged parent bind and hand the socket over.
      if (!facts.root)
        e.tries.push_back({"bind as root, then run as an ordinary user:",
                           fmt::format("sudo demo-server --ports {} --user nobody", ep.port)});
      e.tries.push_back({"or let a privileged parent bind it and pass it on (socket activation):",
                         fmt::format("sudo systemd-socket-activate -l {} demo-server", ep.port)});
      e.tries.insert(e.tries.end(), {
          {"or grant the capability to the binary once:",
           "sudo setcap cap_net_bind_service=+ep \"$(command -v demo-server)\""},
          {"or lower the cut-off for the whole host:",
           fmt::format("sudo sysctl net.ipv4.ip_unprivileged_port_start={}", ep.port)},
      });
    } else {
      e.what = fmt::format("binding {} was refused ({}), although it is not a privileged port here.",
                           where, f.error);
      e.why = fmt::format("Ports {} are privileged on this host; {} is not, so a security policy "
                          "(SELinux, AppArmor, seccomp) refused it.",
                          cutoff_phrase(facts), ep.port);
      e.tries = {{"check the security policy's log:", "journalctl -k"},
                 {"or let the kernel choose another port:", "--ports 0"}};
    }
  } else if (f.error == "EADDRINUSE") {
    return f.client_side ? explain_source_port_in_use(f) : explain_listener_in_use(f, where);
  } else if (f.error == "EADDRNOTAVAIL") {
    e.what = ep.port == 0 ? fmt::format("{} is not an address of this host, so no port can be bound on it ({}).",
                                        ep.address, f.error)
                          : fmt::format("{} is not an address of this host, so port {} cannot be bound on it ({}).",
                                        ep.address, ep.port, f.error);
    e.why = "A server can only listen on addresses its own network interfaces have";
    e.why += f.local_addresses.empty() ? "." : "; this host has " + join_list(f.local_addresses) + ".";
    e.tries = {{"list this host's addresses:", "ip -br addr"},
               {"bind a loopback address:", "--bind 127.0.0.1"},
               {"or every address of this host:", "--bind 0.0.0.0 --bind ::"}};
  } else if (f.error == "EAFNOSUPPORT") {
    e.what = fmt::format("this host cannot open {} sockets, so {} cannot listen ({}).",
                         ep.is_v6() ? "IPv6" : "IPv4", where, f.error);
    e.why = "The kernel has that address family disabled or not built in.";
    e.tries = {{"bind the other family instead:", fmt::format("--bind {}", ep.is_v6() ? "127.0.0.1" : "::1")}};
  } else {
    e.what = fmt::format("{} failed for {}: {} ({}).", to_string(f.where), where,
                         f.system_message, f.error);
    e.why = "The kernel refused this step of setting up a listening socket.";
    e.tries = {{"let the kernel choose another port:", "--ports 0"}};
  }
  return e;
}

explanation explain_accept(const failure& f, const host_facts& facts) {
  const endpoint ep = f.ep.value_or(endpoint{});
  explanation e;
  if (f.error == "EMFILE" || f.error == "ENFILE") {
    bool process = f.error == "EMFILE";
    // accept() takes a descriptor before it looks at the queue, so this can come with no client
    // waiting at all; it says so only about the next one.
    e.what = fmt::format("accepting on {} failed: {} has no file descriptor left for a new connection ({}).",
                         to_string(ep), process ? "this process" : "the whole system", f.error);
    std::string limit = facts.open_files_limit ? fmt::format(" (ulimit -n: {})", *facts.open_files_limit) : "";
    e.why = fmt::format("Every connection is a file descriptor, and {}{} is at its limit. Clients "
                        "wait in the listen queue; the server pauses 100 ms and tries again.",
                        process ? "this process" : "the system", process ? limit : "");
    e.tries = {{"raise the limit before starting the server:", "ulimit -n 4096"},
               {"or close idle connections; see them with:", fmt::format("ss -tn 'sport = :{}'", ep.port)}};
  } else if (f.error == "ENOBUFS" || f.error == "ENOMEM") {
    e.what = fmt::format("accepting a connection on {} failed: the kernel is short of memory ({}).",
                         to_string(ep), f.error);
    e.why = "The kernel could not allocate the new connection's buffers; the server pauses 100 ms "
            "and tries again.";
    e.tries = {{"check the memory use:", "free -m"}};
  } else {
    e.what = fmt::format("accepting a connection on {} failed: {} ({}).", to_string(ep),
                         f.system_message, f.error);
    e.why = "That concerns one client only, which went away while waiting; the server goes on.";
  }
  return e;
}

// UDP has no connection: "refused" is an ICMP message about an earlier datagram, and a lost
// datagram looks exactly like silence.
explanation explain_udp(const failure& f) {
  const endpoint ep = f.ep.value_or(endpoint{});
  explanation e;
  if (f.error == "ECONNREFUSED") {
    e.what = fmt::format("nothing is bound to UDP {} on {}: our datagram was refused.", port_phrase(ep.port),
                         ep.address);
    e.why = "UDP has no handshake: the datagram went out, and the host answered it with an ICMP "
            "port-unreachable message, which the kernel reports as \"connection refused\" on the next "
            "receive.";
    e.tries = {{"start a UDP server there:", fmt::format("demo-server --udp {}", ep.port)},
               {"on that host, list what is bound:", fmt::format("ss -lun 'sport = :{}'", ep.port)}};
  } else if (f.error == "ETIMEDOUT") {
    e.what = fmt::format("no answer from UDP {} within {} s.", to_string(ep),
                         static_cast<double>(f.timeout.count()) / 1000.0);
    e.why = "UDP has no connection and no retransmission: our datagram or its answer was lost, "
            "a firewall dropped it silently, or the server there does not answer. Silence is all "
            "a UDP client ever sees of that.";
    e.tries = {{"check that a UDP server listens there:", fmt::format("ss -lun 'sport = :{}'", ep.port)},
               {"or wait longer:", "--timeout SECONDS"}};
  } else {
    e.what = fmt::format("{} of a UDP datagram to {} failed: {} ({}).", to_string(f.where), to_string(ep),
                         f.system_message, f.error);
    e.why = f.error == "ENETUNREACH" || f.error == "EHOSTUNREACH"
                ? "No route leads to that address from this host, so the datagram was not sent."
                : "The kernel refused to send or receive the datagram.";
    e.tries = {{"check the address:", "ip route get " + ep.address}};
  }
  return e;
}

explanation explain_connect(const failure& f, const host_facts&) {
  const endpoint ep = f.ep.value_or(endpoint{});
  explanation e;
  if (f.proto == "udp") return explain_udp(f);
  if (f.error == "ECONNREFUSED") {
    e.what = fmt::format("nothing is listening on {} {}: the connection was refused.",
                         ep.address, port_phrase(ep.port));
    e.why = "The host is there, but no socket listens on that port, so its kernel answered our "
            "connection request (SYN) with a reset (RST).";
    e.tries = {{"start a server there:", fmt::format("demo-server --ports {}", ep.port)},
               {"on that host, list what listens:", fmt::format("ss -ltn 'sport = :{}'", ep.port)}};
  } else if (f.error == "ETIMEDOUT") {
    e.what = fmt::format("no answer from {} within {} s.", to_string(ep),
                         static_cast<double>(f.timeout.count()) / 1000.0);
    e.why = "Neither an acceptance (SYN-ACK) nor a refusal (RST) came back: a firewall dropped the "
            "packets, the host is down, or the listener's queue of waiting connections is full.";
    e.tries = {{"check the address and port, and any firewall between the two hosts", ""},
               {"or wait longer:", "--timeout SECONDS"}};
  } else if (f.error == "ENETUNREACH" || f.error == "EHOSTUNREACH") {
    e.what = fmt::format("{} port {} cannot be reached: {} ({}).", ep.address, ep.port,
                         f.system_message, f.error);
    e.why = "No route leads to that address from this host, so no packet was sent to any port.";
    e.tries = {{"check the address, and this host's route to it:", "ip route get " + ep.address}};
  } else if (f.error == "EADDRNOTAVAIL") {
    e.what = fmt::format("no local address and port could be found to reach {} ({}).",
                         to_string(ep), f.error);
    e.why = "Every connection needs a local port; the kernel found none free in this host's "
            "ephemeral range for this destination, or the address has no route.";
    e.tries = {{"check the ephemeral range:", "sysctl net.ipv4.ip_local_port_range"},
               {"and connections waiting in TIME_WAIT:", "ss -tan state time-wait | wc -l"}};
  } else {
    e.what = fmt::format("{} to {} failed: {} ({}).", to_string(f.where), to_string(ep),
                         f.system_message, f.error);
    e.why = "The connection broke before the server could report it.";
    e.tries = {{"try again; if it persists, check the server's log", ""}};
  }
  return e;
}

explanation explain_resolve(const failure& f) {
  explanation e;
  if ((f.error == "EAI_NONAME" || f.error == "EAI_NODATA") && !f.only_family.empty()) {
    const char* flag = f.only_family == "IPv6" ? "-6" : "-4";
    e.what = fmt::format("\"{}\" has no {} address ({}).", f.host, f.only_family, f.error);
    e.why = fmt::format("{} asks for {} addresses only; without one no port was tried at all.", flag,
                        f.only_family);
    e.tries = {{fmt::format("leave out {}, or use an {} address such as {}", flag, f.only_family,
                            f.only_family == "IPv6" ? "::1" : "127.0.0.1"),
                ""}};
  } else if (f.error == "EAI_NONAME" || f.error == "EAI_NODATA" || f.error == "EAI_FAIL") {
    e.what = fmt::format("the name \"{}\" does not resolve to any address ({}).", f.host, f.error);
    e.why = "Without an address there is no host to send to, so no port was tried at all.";
    e.tries = {{"check the spelling, or use an address such as 127.0.0.1 or ::1", ""},
               {"see what this host resolves:", fmt::format("getent ahosts {}", f.host)}};
  } else if (f.error == "EAI_AGAIN") {
    e.what = fmt::format("no resolver could answer for \"{}\" right now ({}).", f.host, f.error);
    e.why = "The name service could not be reached, so no address is known and no port was tried.";
    e.tries = {{"use an address instead, such as 127.0.0.1 or ::1", ""},
               {"check the resolver's configuration:", "cat /etc/resolv.conf"}};
  } else if (f.error == "EAI_SERVICE") {
    e.what = fmt::format("\"{}\" is not a service name this program knows ({}).", f.host, f.error);
    e.why = "A service name only stands for a port number; without the number nothing can be tried.";
    e.tries = {{fmt::format("give the port number, or one of: {}", known_service_names()), ""}};
  } else {
    e.what = fmt::format("resolving \"{}\" failed: {} ({}).", f.host, f.system_message, f.error);
    e.why = "Without an address no port can be tried.";
    e.tries = {{"use an address instead, such as 127.0.0.1 or ::1", ""}};
  }
  return e;
}

}  // namespace

failure with_context(failure f) {
  if (f.error == "EADDRINUSE" && f.ep) f.holders = find_port_users(f.ep->port, 5, f.proto == "udp");
  if (f.error == "EADDRNOTAVAIL") f.local_addresses = local_addresses();
  return f;
}

explanation explain(const failure& f, const host_facts& facts) {
  switch (f.where) {
    case step::resolve: return explain_resolve(f);
    case step::accept: return explain_accept(f, facts);
    case step::connect:
    case step::read:
    case step::write: return explain_connect(f, facts);
    case step::bind: {
      if (!f.client_side) return explain_bind(f, facts);
      if (f.error == "EADDRINUSE") return explain_source_port_in_use(f);
      // The client's own bind is about its local end, not the server it was headed for.
      failure own = f;
      own.ep = f.local.value_or(f.ep.value_or(endpoint{}));
      return explain_bind(own, facts);
    }
    default: return explain_bind(f, facts);
  }
}

std::string to_paragraph(const explanation& e) {
  std::string out = e.what;
  if (!e.why.empty()) out += " " + e.why;
  if (!e.tries.empty()) {
    out += " Try: ";
    for (std::size_t i = 0; i < e.tries.size(); ++i) {
      if (i) out += "; ";
      out += e.tries[i].text;
      if (!e.tries[i].command.empty()) out += " " + e.tries[i].command;
    }
    out += ".";
  }
  return out;
}

std::string explain_tls_failure(std::string_view reason) {
  const auto has = [&](std::string_view what) { return reason.find(what) != std::string_view::npos; };
  if (has("unknown ca") || has("certificate unknown") || has("bad certificate"))
    return "The client does not trust this server's self-signed certificate: accept it in the "
           "browser, or give curl -k or --cacert.";
  if (has("wrong version number") || has("http request")) return "The client did not speak TLS.";
  return "The client and this server could not agree on a secure connection.";
}

}  // namespace portdemo
