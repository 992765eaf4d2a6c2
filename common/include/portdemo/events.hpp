#pragma once
// What the programs report, as plain data. Networking code emits these; only the reporter
// prints them, as text for people or as JSON lines for programs (render.hpp).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "portdemo/endpoint.hpp"
#include "portdemo/failure.hpp"
#include "portdemo/host_facts.hpp"
#include "portdemo/http.hpp"
#include "portdemo/ports.hpp"
#include "portdemo/protocol.hpp"
#include "portdemo/qr.hpp"

namespace portdemo {

/// Which program is reporting: the wording of a few events differs.
enum class role { server, client };

/// This host's live facts, reported once at start.
struct host_facts_event {
  role who = role::server;
  host_facts facts;
};

/// A listening socket is ready. `requested_port` 0 means the kernel chose `local.port`.
struct listening_event {
  endpoint local;
  std::uint16_t requested_port = 0;
  std::string service;                 ///< what is normally found on the port, may be empty
  std::optional<std::string> privilege;  ///< for a privileged port: why binding it was allowed
  bool tls = false;                      ///< the port speaks HTTPS
  std::string proto = "tcp";             ///< "tcp", or "udp" for a bound datagram socket
  bool inherited = false;                ///< bound by the parent (socket activation), not by this process
};

/// --user: the server switched users after binding, before accepting anyone. The facts come
/// from /proc/self/status afterwards, not from what was asked.
struct privileges_dropped_event {
  std::string user;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string uids;           ///< the Uid line: real, effective, saved, filesystem
  std::string gids;           ///< the Gid line
  std::string groups;         ///< the Groups line: empty when none
  std::string cap_effective;  ///< CapEff, hex
  std::string cap_permitted;  ///< CapPrm, hex
  bool no_new_privs = false;
  std::string regain_error;   ///< what setuid(0) answered afterwards: "EPERM"
};

/// Listening beyond loopback: the URLs students open (one per address of this host's
/// interfaces that a listening socket covers, for each HTTP and HTTPS port), the board's, and
/// the QR code of the first URL.
struct join_event {
  std::vector<std::string> urls;
  std::string board;            ///< the board page on the first plain (else TLS) URL's address and port
  std::optional<qr_code> qr;    ///< of urls.front()
};

/// A listening socket could not be set up; the other ports go on.
struct bind_failed_event {
  failure what;
  explanation why;
};

/// A remark that is neither success nor failure, e.g. "::1 is not available".
struct note_event {
  std::string code;     ///< stable key, e.g. "ipv6_unavailable"
  std::string message;  ///< for people
};

/// Remarks whose wording lives in render.cpp (as_note); each renders as a note, code and
/// message, in text and JSON alike.
struct max_connections_clamped {  ///< --max-connections lowered to fit the open-file limit
  std::size_t requested = 0, value = 0, open_file_limit = 0, in_use = 0, reserve = 0;
};
struct reachable_from_network {};  ///< a listening address beyond loopback
struct strict_refused {            ///< --strict and some sockets failed: none serve
  int failed = 0, total = 0;
};
struct second_signal {  ///< a second SIGINT/SIGTERM during the grace period
  std::string signal;
};
struct socket_activation {  ///< sockets passed by a service manager (LISTEN_FDS)
  int count = 0;
};
struct ipv6_unavailable {  ///< the default ::1 could not be bound
  std::string error;
};
struct holding_connections {  ///< demo-client --hold
  std::size_t count = 0;
  double seconds = 0;
  std::uint16_t port = 0;
};
struct log_dropped {  ///< the log writer fell behind and dropped lines
  std::uint64_t count = 0;
};
struct proxy_protocol_required {  ///< --proxy-protocol: these ports take a PROXY header first
  std::vector<std::uint16_t> ports;
};
using remark = std::variant<max_connections_clamped, reachable_from_network, strict_refused, second_signal,
                            socket_activation, ipv6_unavailable, holding_connections, log_dropped,
                            proxy_protocol_required>;
struct remark_event {
  remark what;
};

/// Requests on kept-alive connections past each connection's first `logged_per_connection`,
/// counted instead of logged one by one since the last such summary (a note, for the log).
struct requests_summarised_event {
  std::uint64_t count = 0;
  std::uint64_t logged_per_connection = 100;
};

/// A board page (GET /events) was dropped: its client did not keep up (a note, for the log).
struct board_subscriber_dropped_event {
  std::uint64_t id = 0;
  socket_tuple tuple;             ///< the subscriber's connection; its remote end is masked like any other
  bool backlog = false;           ///< true: its events piled up past `limit` bytes; false: it took none for `limit` ms
  std::uint64_t limit = 0;
};

/// All listening sockets have been tried.
struct ready_event {
  int listening = 0;
  int failed = 0;
  std::vector<std::uint16_t> ports;  ///< the ports that listen, for the "try" hint
  std::vector<std::uint16_t> tls_ports = {};  ///< those of them that speak HTTPS
  std::vector<std::uint16_t> udp_ports = {};  ///< UDP ports bound (--udp)
  std::vector<std::uint16_t> tcp_ports = {};  ///< TCP ports listening (for the text's hints)
  std::vector<std::uint16_t> quic_ports = {};  ///< UDP ports serving HTTP/3 over QUIC (--quic)
};

/// The server accepted a connection. `tuple.local` is the server's fixed port.
struct accepted_event {
  std::uint64_t id = 0;
  socket_tuple tuple;
  std::optional<bool> in_ephemeral_range;  ///< remote port in this host's range; nullopt if unknown
  std::uint64_t open = 1;                  ///< connections open on the server, this one included
  bool tls_port = false;                   ///< the port speaks HTTPS (for the board; not printed)
};

/// The server answered a connection: the JSON view (demo-client) or the text report.
/// `received` holds the client's bytes as sent (at most 512); renderers escape them.
struct answered_event {
  std::uint64_t id = 0;
  bool json = false;            ///< true: the client said hello and got the JSON view
  std::size_t received_bytes = 0;
  std::string received;
  /// demo-client's own view (its hello carried one) beside the server's: compared when rendered.
  struct views {
    socket_tuple client;  ///< local: the client as it sees itself; remote: the end it dialled
    socket_tuple server;  ///< local: the server's socket; remote: the client as the server sees it
  };
  std::optional<views> both;
};

/// A PROXY protocol header came first on a --proxy-protocol port: what the proxy says.
struct proxied_event {
  std::uint64_t id = 0;
  socket_tuple tuple;  ///< the socket's: its remote end is the proxy
  proxy_claim claim;
  std::string family;  ///< as the header named it: tcp4, tcp6, udp4, udp6, unix, unspec, unknown
};

/// A --proxy-protocol port's connection without a valid header first: closed.
struct proxy_refused_event {
  std::uint64_t id = 0;
  socket_tuple tuple;
  std::string code;    ///< "missing", "v1_too_long", ... (common/proxy_protocol.hpp)
  std::string reason;  ///< for people, naming the bad value
  std::size_t received_bytes = 0;
};

/// One HTTP request answered, for the log: the tuple, the request, the status, and whether the
/// connection was reused (request 2 or later on it).
struct http_request_event {
  std::uint64_t id = 0;
  socket_tuple tuple;
  std::string method;             ///< as sent, escaped by the renderer
  std::string target;             ///< as sent, escaped by the renderer
  int status = 0;
  std::uint64_t request_number = 1;
  std::string tls_version;        ///< empty for plain HTTP
  std::string note;               ///< e.g. "plain HTTP on a TLS port"
  http_version version = http_version::http1;
  std::int64_t stream = 0;        ///< the request's stream (HTTP/2, HTTP/3); 0 on HTTP/1.1
};

/// An HTTP/2 connection ended: how many requests rode it, on one client port.
struct http2_closed_event {
  std::uint64_t id = 0;
  socket_tuple tuple;
  std::uint64_t requests = 0;       ///< streams answered
  std::uint32_t most_at_once = 0;   ///< the most streams open together
  std::string reason;               ///< "client closed", "GOAWAY from the client", "idle", "server stopping", ...
  bool tls = false;                 ///< h2 inside TLS (ALPN), else h2c by prior knowledge
};

/// A QUIC connection's handshake completed (--quic): its UDP tuple and the IDs that name it.
struct quic_connected_event {
  std::uint64_t id = 0;
  socket_tuple tuple;       ///< UDP: local is the server's end
  std::string client_cid;   ///< hex
  std::string server_cid;   ///< hex
  std::string version;      ///< "0x00000001"
  std::string alpn;         ///< "h3"
};

/// A QUIC connection's client moved to a new address or port (a NAT rebinding, demo-client
/// --rebind) and the connection carried on: named by its IDs, not by the four facts.
struct quic_migrated_event {
  std::uint64_t id = 0;
  socket_tuple from;
  socket_tuple to;
  std::string server_cid;
  std::uint32_t migrations = 0;  ///< this connection's changes so far, this one included
};

/// A QUIC connection ended.
struct quic_closed_event {
  std::uint64_t id = 0;
  socket_tuple tuple;            ///< the last path
  std::uint64_t requests = 0;
  std::uint32_t migrations = 0;
  std::string reason;            ///< "idle", "closed by the client", "handshake failed: ...", "server stopping"
};

/// What a demo-server's /json says of the QUIC connection a request came on (HTTP/3).
struct http3_server_quic {
  std::string client_cid;            ///< hex: the ID the client chose (the server sends to it)
  std::string server_cid;            ///< hex: the ID the server chose (the client sends to it)
  std::uint32_t migrations = 0;      ///< the client's address or port changes the server saw
  std::optional<endpoint> first_remote;  ///< after a change: the client's end the connection began on
};

/// demo-client --http3: the QUIC handshake completed; its UDP tuple and the IDs that name it.
struct http3_connected_event {
  socket_tuple tuple;                      ///< UDP: local from getsockname (this end), remote the server's
  std::optional<bool> in_ephemeral_range;  ///< local port in this host's range; nullopt if unknown
  bool pinned = false;                     ///< the local port was given with --source-port
  std::string client_cid;                  ///< hex: the ID this end chose for itself
  std::string server_cid;                  ///< hex: the ID the server chose (this end sends to it)
  std::string version;                     ///< "0x00000001"
  std::string alpn;                        ///< "h3"
  std::string tls_version;                 ///< "TLSv1.3"
  std::string cipher;                      ///< "AES-128-GCM"
  std::string certificate;                 ///< the server certificate's subject, "CN=localhost"
  std::string verified_by;                 ///< "system" (the trust store), "cacert" or "none" (-k)
  std::string cacert;                      ///< the --cacert file; empty without it
};

/// demo-client --http3: one GET /json answered on a stream of the one QUIC connection.
struct http3_response_event {
  std::uint64_t request = 1;              ///< 1, 2, ... on this connection
  std::int64_t stream = 0;                ///< the request's stream: 0, 4, 8, ...
  int status = 0;                         ///< the HTTP status
  socket_tuple tuple;                     ///< this end's UDP tuple when the answer came
  std::optional<server_view> server;      ///< the server's view, if it is a demo-server
  std::optional<std::int64_t> server_stream;  ///< the stream the server says it answered on
  std::optional<http3_server_quic> quic;  ///< what the server says of the QUIC connection
  std::optional<bool> ids_match;          ///< the server names the IDs the handshake gave
  std::string server_view_problem;        ///< why there is no server view, if there is none
};

/// demo-client --http3 --rebind: this end moved to a new UDP socket (a new port) mid-connection.
struct http3_rebound_event {
  socket_tuple from;                       ///< the old socket's tuple
  socket_tuple to;                         ///< the new socket's (getsockname after connect)
  std::optional<bool> in_ephemeral_range;  ///< of to.local.port
  bool migration = true;                   ///< true: QUIC told (a new path, a new ID); false: a NAT-style rebinding
  std::string server_cid_before;           ///< hex: the ID this end sent to before the move
  std::string server_cid_after;            ///< hex: the ID it sends to now
};

/// demo-client --http3: the connection could not be made or did not carry the requests.
struct http3_failed_event {
  std::string code;      ///< "certificate", "alpn", "not_quic", "closed", "timeout", "tls", "internal"
  socket_tuple tuple;    ///< this end's UDP tuple and the server's end
  std::string detail;    ///< the library's or the server's own words; may be empty
  explanation why;
  int exit_code = 0;
};

/// A TLS handshake failed: what the library said, and what it means.
struct tls_failed_event {
  std::uint64_t id = 0;
  socket_tuple tuple;
  std::string reason;        ///< OpenSSL's words
  std::string explanation;   ///< ours
};

/// The certificate HTTPS ports present.
struct tls_certificate_event {
  std::string source;   ///< "generated" or a file
  std::string subject;
  std::string names;
  std::string sha256;
  std::string saved_to;  ///< --save-cert FILE, if given
};

/// Accepting failed (out of descriptors or memory): the server pauses and tries again.
struct accept_failed_event {
  failure what;
  explanation why;
};

/// Accepting works again after an episode of failures.
struct accept_resumed_event {
  endpoint local;
  std::uint64_t failures = 0;  ///< how many accepts failed during the episode
};

/// Which of the server's limits closed a connection.
enum class limit_kind {
  line_too_long,       ///< a raw client's line reached --max-line bytes without a newline
  request_timeout,     ///< a request begun was not complete within --request-timeout
  write_timeout,       ///< an answer could not be delivered within --write-timeout
  keep_alive_timeout,  ///< no new request within --keep-alive-timeout after an answer
  shutdown,            ///< the server stopped (SIGINT/SIGTERM) and closed it
};

/// A connection was closed by one of the server's limits.
struct limit_event {
  std::uint64_t id = 0;
  socket_tuple tuple;
  limit_kind kind = limit_kind::request_timeout;
  std::uint64_t limit = 0;     ///< bytes for line_too_long, milliseconds for the timeouts
  std::uint64_t received = 0;  ///< bytes the client had sent of the request
  bool answered = false;       ///< the client was told why (a line, or an HTTP error) before the FIN
};

/// Over --max-connections: the client got the one-line "busy" answer and a close.
struct busy_event {
  std::uint64_t id = 0;
  socket_tuple tuple;
  std::uint64_t open = 0;  ///< connections open (being served) when it came
  std::uint64_t max = 0;   ///< --max-connections
};

/// SIGINT or SIGTERM: no new connections; those open get `grace_ms` to finish their answers.
struct stopping_event {
  std::string signal;       ///< "SIGINT" or "SIGTERM"
  std::uint64_t open = 0;   ///< connections open when the signal came
  std::uint64_t grace_ms = 0;
};

/// Per-port count in the server's summary.
struct port_count {
  std::uint16_t port = 0;
  std::uint64_t connections = 0;  ///< connections (TCP, QUIC) or datagrams (UDP)
  std::string proto = "tcp";     ///< "tcp", "udp" (--udp) or "quic" (--quic: a UDP port)
};

/// A UDP datagram arrived and was answered: no connection, just the sender's address and port.
struct datagram_event {
  std::uint64_t id = 0;
  socket_tuple tuple;            ///< local is the server's bound address and port
  std::size_t bytes = 0;
  std::optional<bool> in_ephemeral_range;
};

/// The server's closing summary.
struct server_summary_event {
  std::uint64_t connections = 0;
  std::vector<port_count> per_port;
  std::uint64_t distinct_client_ports = 0;
  std::optional<std::uint16_t> lowest_client_port;
  std::optional<std::uint16_t> highest_client_port;
  std::uint64_t peak_open = 0;  ///< the most connections open at once
  std::uint64_t busy = 0;       ///< connections turned away over --max-connections
  std::uint64_t limited = 0;    ///< connections closed by a limit (timeouts, line length)
  std::uint64_t cut = 0;        ///< connections still open at the end of the shutdown grace, closed
  std::uint64_t log_dropped = 0;  ///< log lines dropped because the output could not keep up
};

/// The client resolved a name.
struct resolved_event {
  std::string host;
  std::uint16_t port = 0;
  std::vector<std::string> addresses;  ///< in the order they will be tried
  bool udp = false;                    ///< to a UDP port: datagrams, or QUIC's connection over them
  bool quic = false;                   ///< --http3: a QUIC connection over UDP, not bare datagrams
};

/// The name could not be resolved: no port was tried.
struct resolve_failed_event {
  failure what;
  explanation why;
};

/// One address refused, timed out or was unreachable; the client tries the next.
struct connect_failed_event {
  failure what;
  explanation why;
};

/// The client is connected. `tuple.local` is the client's ephemeral port.
struct connected_event {
  std::uint64_t id = 0;
  socket_tuple tuple;
  std::optional<bool> in_ephemeral_range;  ///< local port in this host's range; nullopt if unknown
  std::optional<socket_tuple> server_view;  ///< the server's tuple for this connection, if it said
  std::optional<std::uint64_t> server_id;   ///< the server's connection number, if it said
  std::optional<proxy_claim> server_told;   ///< what a PROXY header told the server, if it said
  std::string server_view_problem;          ///< why there is no server view, if there is none
  bool pinned = false;                      ///< the local port was given with --source-port
  std::string proto = "tcp";                ///< "udp": one datagram each way, no connection
};

/// One answer demo-client --http2 got, and what the server said it saw.
struct http2_answer_seen {
  std::int32_t stream = 0;
  int status = 0;
  std::optional<socket_tuple> server_view;  ///< the server's tuple, from its /json answer
  std::optional<std::uint64_t> server_id;   ///< the server's connection number
  std::uint64_t server_request = 0;         ///< the request's number on the server's connection
  std::int64_t server_stream = 0;           ///< the stream the server answered on
};

/// demo-client --http2 --tls: the TLS the HTTP/2 connection ran inside, as the handshake ended.
struct http2_tls_facts {
  std::string version;       ///< "TLSv1.3"
  std::string cipher;        ///< "TLS_AES_256_GCM_SHA384"
  std::string alpn;          ///< "h2": what the server chose of the client's offer
  std::string verification;  ///< "verified (this host's trust store)", "verified with --cacert F", "not verified (-k)"
};

/// demo-client --http2: --requests GET /json on streams of one connection (h2c by prior
/// knowledge, or h2 inside TLS with --tls).
struct http2_exchanged_event {
  std::uint64_t id = 0;
  socket_tuple tuple;                     ///< this end's connection, from the kernel
  std::vector<http2_answer_seen> answers;  ///< in the order they completed
  std::string problem;                    ///< why some answers are missing, if they are
  std::optional<http2_tls_facts> tls = std::nullopt;  ///< --tls: the handshake's outcome
};

/// demo-client --http2 --tls: the TCP connection stood, but TLS did not carry HTTP/2 on it.
struct http2_failed_event {
  std::string code;      ///< "certificate", "alpn", "not_tls", "tls"
  socket_tuple tuple;    ///< this end's TCP connection, from the kernel
  std::string detail;    ///< the library's own words; may be empty
  explanation why;
  int exit_code = 0;
};

/// No address accepted: the client gives up on this connection.
struct gave_up_event {
  std::string host;
  std::uint16_t port = 0;
  std::vector<failure> attempts;  ///< one per address tried, in order
  int exit_code = 0;
};

/// The client's summary after --count N.
struct client_summary_event {
  std::uint64_t attempted = 0;
  std::uint64_t connected = 0;
  std::vector<endpoint> servers;          ///< distinct server endpoints connected to
  std::vector<std::uint16_t> client_ports;  ///< in order of connection
  std::uint64_t distinct_client_ports = 0;
  std::uint64_t in_ephemeral_range = 0;
  std::uint64_t mirrored = 0;             ///< connections whose server view was the mirror image
  bool pinned = false;                    ///< every connection used --source-port
  std::uint64_t parallel = 1;             ///< connections in flight at once (--parallel)
  bool udp = false;                       ///< exchanges of datagrams, not connections
  std::optional<port_range> ephemeral = {};  ///< this host's ephemeral range, for the histogram
};

/// One tuple that did not match the kernel's table (--verify).
struct verify_mismatch {
  std::uint64_t id = 0;
  socket_tuple printed;
  std::optional<socket_tuple> kernel;  ///< nullopt: the socket was not in the table at all
};

/// --verify: the printed tuples checked against the kernel's socket table.
struct verified_event {
  std::uint64_t checked = 0;
  std::uint64_t matched = 0;
  std::vector<verify_mismatch> mismatches;
};

/// How the client ports of a run spread: what the summary shows about the ephemeral range.
struct port_distribution {
  std::uint16_t lowest = 0;
  std::uint16_t highest = 0;
  std::uint64_t in_ephemeral_range = 0;
  std::uint64_t in_iana_dynamic = 0;
  std::uint64_t even = 0;
  std::uint64_t odd = 0;
  port_range histogram_range;          ///< the ephemeral range, or lowest-highest if unknown
  std::vector<std::uint64_t> buckets;  ///< 16 equal slices of histogram_range
};

/// The distribution of `ports` over `ephemeral` (the histogram's range when known).
port_distribution distribution(const std::vector<std::uint16_t>& ports, const std::optional<port_range>& ephemeral);

/// Every event either program emits.
using event = std::variant<host_facts_event, listening_event, join_event, bind_failed_event, note_event, remark_event,
                           requests_summarised_event, board_subscriber_dropped_event,
                           ready_event, accepted_event, datagram_event, answered_event, http_request_event,
                           proxied_event, proxy_refused_event, http2_closed_event, quic_connected_event,
                           quic_migrated_event, quic_closed_event,
                           tls_failed_event, tls_certificate_event, accept_failed_event,
                           accept_resumed_event, privileges_dropped_event, limit_event, busy_event, stopping_event,
                           server_summary_event, resolved_event,
                           resolve_failed_event, connect_failed_event, connected_event,
                           gave_up_event, verified_event, client_summary_event, http2_exchanged_event, http2_failed_event,
                           http3_connected_event, http3_response_event, http3_rebound_event, http3_failed_event>;

}  // namespace portdemo
