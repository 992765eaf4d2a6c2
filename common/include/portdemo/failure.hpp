#pragma once
// Failures as values: which step failed, with which error, on which endpoint; and their
// explanations in terms of ports and connections. All wording of failures lives in explain.cpp.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "portdemo/endpoint.hpp"
#include "portdemo/host_facts.hpp"
#include "portdemo/proc_net.hpp"

namespace portdemo {

/// The step of the socket's life that failed, named as in the lecture.
enum class step { resolve, open, set_option, bind, listen, accept, connect, read, write };

/// "resolve", "open", "set_option", "bind", "listen", "accept", "connect", "read", "write".
std::string_view to_string(step s) noexcept;

/// A failure: the step, the symbolic error ("EACCES", "EAI_NONAME", "ETIMEDOUT"), the system's
/// own text for it, and what it was about.
struct failure {
  step where = step::connect;
  std::string error;             ///< symbolic name: EACCES, EADDRINUSE, ECONNREFUSED, EAI_NONAME...
  std::string system_message;    ///< the system's text, e.g. "Permission denied"
  std::optional<endpoint> ep;    ///< the endpoint bound or connected to, if any
  std::string host;              ///< the name being resolved, for resolve failures
  std::string only_family;       ///< "IPv4" or "IPv6" when -4 or -6 narrowed the resolution
  std::chrono::milliseconds timeout{0};  ///< the deadline that passed, for ETIMEDOUT
  bool client_side = false;      ///< the client's own bind (--source-port), not a server's
  std::string proto = "tcp";     ///< "udp" for datagram sockets
  std::optional<endpoint> local; ///< the client's own end: the one it tried to bind (--source-port), or the
                                 ///< one a failed connect used (getsockname on the connecting socket)
  bool local_pinned = false;     ///< `local` was chosen with --source-port, not by the kernel

  // Context the networking code gathers for some errors, so the explanation can be specific.
  std::vector<port_user> holders;            ///< EADDRINUSE: the sockets using the port
  std::vector<std::string> local_addresses;  ///< EADDRNOTAVAIL: the addresses this host has
};

/// One thing to try: a few words, and the command to type, kept whole (never wrapped apart).
struct suggestion {
  std::string text;     ///< e.g. "see who holds it:"
  std::string command;  ///< e.g. "ss -ltnp 'sport = :8080'"; may be empty
  bool operator==(const suggestion&) const = default;
};

/// A failure told for people: what happened, why, and what to try.
struct explanation {
  std::string what;                ///< one sentence: what happened, with port and address
  std::string why;                 ///< the reason, in terms of ports and connections
  std::vector<suggestion> tries;   ///< what to do instead, most useful first
};

/// Adds what explains a bind failure, read live: who holds a port in use (EADDRINUSE), which
/// addresses this host has (EADDRNOTAVAIL).
failure with_context(failure f);

/// Explains a failure using this host's live facts.
explanation explain(const failure& f, const host_facts& facts);

/// What a failed TLS handshake means, from the TLS library's reason ("tlsv1 alert unknown ca"):
/// one sentence for the log.
std::string explain_tls_failure(std::string_view reason);

/// The explanation as one paragraph, as the JSON `explanation` field carries it.
std::string to_paragraph(const explanation& e);

/// The process exit codes (sysexits.h), documented in the README.
namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int usage = 64;        ///< EX_USAGE: bad option or port spec
inline constexpr int no_host = 68;      ///< EX_NOHOST: the name does not resolve
inline constexpr int unavailable = 69;  ///< EX_UNAVAILABLE: refused, address in use / not available, unreachable
inline constexpr int software = 70;     ///< EX_SOFTWARE: internal error
inline constexpr int temp_fail = 75;    ///< EX_TEMPFAIL: timed out, resolver unreachable
inline constexpr int no_perm = 77;      ///< EX_NOPERM: permission denied (privileged port)
}  // namespace exit_code

/// The exit code for a symbolic error name.
int exit_code_for(std::string_view error) noexcept;

/// The symbolic name of an errno value ("EACCES"), or "E<number>" if unknown.
std::string errno_name(int err);

}  // namespace portdemo
