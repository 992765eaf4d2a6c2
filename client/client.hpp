#pragma once
// demo-client: resolve, try each address in turn, connect, and show the connection from both
// ends: our own tuple from the kernel, and the server's view of the same connection.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "portdemo/reporter.hpp"

namespace portdemo::client {

/// Which address family to use: -4, -6, or whatever the name resolves to.
enum class family { any, v4, v6 };

/// What main() collected from the command line.
struct options {
  std::string host;
  std::uint16_t port = 0;
  std::uint64_t count = 1;                  ///< connections, one after another
  family only = family::any;
  std::chrono::milliseconds timeout{10000};  ///< per connection attempt
  std::uint16_t source_port = 0;             ///< --source-port: pin the local port (0: the kernel's pick)
  std::uint64_t parallel = 1;                ///< --parallel: connections in flight at once
  std::chrono::milliseconds hold{0};         ///< --hold: keep every connection open this long
  bool verify = false;                       ///< --verify: check each tuple in the kernel's table
  bool progress = false;                     ///< draw a progress bar on stderr (a terminal, text)
  bool udp = false;                          ///< --udp: one datagram each way instead of a connection
  int proxy_protocol = 0;                    ///< --proxy-protocol v1|v2: a PROXY header first (0: none)
  bool http2 = false;                        ///< --http2: HTTP/2 by prior knowledge instead of the hello
  bool tls = false;                          ///< --tls: with --http2, inside TLS (ALPN h2), as https://
  std::uint64_t requests = 3;                ///< --requests: GET /json on streams of one connection (--http2)
  bool http3 = false;                        ///< --http3: HTTP/3 over QUIC, GET /json (client/http3.hpp)
  bool rebind = false;                       ///< --rebind: move to a new UDP socket after the first request
  std::string cacert;                        ///< --cacert FILE: trust anchors for the server's certificate
  bool insecure = false;                     ///< -k, --insecure: do not verify the server's certificate
};

/// Makes room for the connections the options hold open at once (--hold, --verify): an
/// ephemeral port each, a descriptor each (the soft open-file limit raised as far as needed).
/// The reason, for stderr, when there cannot be room.
std::optional<std::string> make_room(const options& opts, const host_facts& facts);

/// Runs the whole client; the result is the process exit code.
asio::awaitable<int> run(reporter& out, options opts);

}  // namespace portdemo::client
