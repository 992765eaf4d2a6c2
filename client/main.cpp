// demo-client: connects to a port and shows the connection from both ends.

#include <unistd.h>

#include <csignal>
#include <cmath>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include "client.hpp"
#include "http3.hpp"
#include "http3_words.hpp"
#include "portdemo/cli.hpp"

int main(int argc, char** argv) {
  using namespace portdemo;
  std::signal(SIGPIPE, SIG_IGN);  // a stdout that went away is not fatal

  CLI::App app{"demo-client: connects to HOST PORT and shows the connection's four facts from\n"
               "both ends: this end's (ephemeral port) and the server's view (fixed port).",
               "demo-client"};
  app.set_version_flag("--version", version_text("demo-client"));

  client::options opts;
  std::string port;
  app.add_option("host", opts.host, "the server: a name (localhost) or an address (127.0.0.1, ::1)")
      ->required()
      ->check(cli::host_check());
  app.add_option("port", port, "the server's port: a number 1-65535 or a service name (http-alt)")
      ->required()
      ->check(cli::port_check());
  app.add_option("--count,-n", opts.count, "connections to make, one after another")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{65535}))
      ->capture_default_str();
  app.add_option("--parallel,-P", opts.parallel, "connections in flight at once, with --count (1-1000)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1000}))
      ->capture_default_str();
  double hold_s = 0;
  app.add_option("--hold", hold_s,
                 "keep every connection open this many seconds, so that\n`ss -tn` shows them (0-3600)")
      ->check(CLI::Range(0.0, 3600.0));
  bool udp = false;
  app.add_flag("--udp,-u", udp,
                                "UDP: one datagram each way, answered with the server's\nview of the sender");
  std::string proxy_protocol;
  app.add_option("--proxy-protocol", proxy_protocol,
                 "begin each connection with a PROXY protocol header, v1 (text)\n"
                 "or v2 (binary), naming this end as the client, as a proxy\n"
                 "would (like curl --haproxy-protocol)")
      ->check(CLI::IsMember({"v1", "v2"}));
  bool http2 = false;
  auto* http2_flag = app.add_flag("--http2", http2,
               "speak HTTP/2 instead of the hello (h2c by prior knowledge, or\n"
               "h2 inside TLS with --tls): --requests GET /json on streams of\n"
               "one connection, each answered with the server's view: one\nclient port for all");
  bool tls = false;
  app.add_flag("--tls", tls,
                                "with --http2: inside TLS, offering h2 in ALPN, as a browser\n"
                                "does on https://; the certificate is checked (--cacert, -k)");
  std::uint64_t requests = 3;
  app.add_option("--requests", requests, "requests on the one connection, with --http2 (1-100)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100}))
      ->capture_default_str()
      ->needs(http2_flag);
  bool verify = false;
  app.add_flag("--verify", verify,
               "before closing, check each printed tuple against the kernel's\nsocket table (/proc/net/tcp)");
  double timeout_s = 10;
  app.add_option("--timeout,-t", timeout_s, "seconds to wait for each connection to be accepted")
      ->check(CLI::Range(0.001, 3600.0))
      ->capture_default_str();
  std::uint16_t source_port = 0;
  app.add_option("--source-port,-s", source_port,
                 "pin this end's port instead of letting the kernel choose\nan ephemeral one (1-65535)")
      ->check(CLI::Range(std::uint16_t{1}, std::uint16_t{65535}));
  app.add_flag("--http3", opts.http3,
               "HTTP/3 over QUIC (UDP): GET /json on one connection, each\nrequest on a stream of its own; "
               "shows the QUIC connection IDs\nand the server's view");
  app.add_flag("--rebind", opts.rebind,
               "with --http3: after the first request, move to a new UDP\nsocket (a new ephemeral port) and "
               "ask again on the same\nQUIC connection");
  app.add_option("--cacert", opts.cacert,
                 "with --http3 or --tls: trust the server's certificate from\nFILE (PEM), as demo-server --save-cert "
                 "FILE wrote it\n(like curl --cacert)")
      ->type_name("FILE");
  app.add_flag("--insecure,-k", opts.insecure,
               "with --http3 or --tls: do not verify the server's\ncertificate (like curl -k)");
  bool only_v4 = false;
  bool only_v6 = false;
  auto* v4 = app.add_flag("-4", only_v4, "use IPv4 addresses only");
  auto* v6 = app.add_flag("-6", only_v6, "use IPv6 addresses only");
  v4->excludes(v6);
  cli::output_options output;
  cli::add_output_options(app, output);

  if (int code = cli::parse(app, argc, argv); code >= 0) return code;
  if (auto problem = client::http3_options_problem({opts.http3, opts.rebind, opts.insecure, !opts.cacert.empty(), udp,
                                                    !proxy_protocol.empty(), verify, opts.parallel > 1, tls})) {
    std::fprintf(stderr, "%s\n", problem->c_str());
    return exit_code::usage;
  }
  if (tls && !http2) {
    std::fprintf(stderr, "--tls puts HTTP/2 inside TLS, as https:// does: it needs --http2 "
                         "(demo-client --http2 --tls HOST PORT)\n");
    return exit_code::usage;
  }
  if (!opts.cacert.empty()) {
    if (auto problem = client::cacert_problem(opts.cacert)) {
      std::fprintf(stderr, "%s\n", problem->c_str());
      return exit_code::usage;
    }
  }
  if (auto problem = udp_options_problem(udp, hold_s > 0, verify)) {
    std::fprintf(stderr, "%s\n", problem->c_str());
    return exit_code::usage;
  }
  if (udp && !proxy_protocol.empty()) {
    std::fprintf(stderr, "--udp: a PROXY header begins a TCP stream; leave out --proxy-protocol\n");
    return exit_code::usage;
  }
  if (!proxy_protocol.empty()) opts.proxy_protocol = proxy_protocol == "v2" ? 2 : 1;
  if (http2 && (udp || !proxy_protocol.empty())) {
    std::fprintf(stderr, "--http2: HTTP/2 runs on a TCP connection of its own; leave out %s\n",
                 udp ? "--udp" : "--proxy-protocol");
    return exit_code::usage;
  }
  opts.http2 = http2;
  opts.tls = tls;
  opts.requests = requests;

  opts.port = parse_single_port(port, false).ports.front();
  opts.source_port = source_port;
  // "[::1]" as in URLs: the brackets are not part of the address.
  if (opts.host.size() > 2 && opts.host.front() == '[' && opts.host.back() == ']')
    opts.host = opts.host.substr(1, opts.host.size() - 2);
  opts.only = only_v4 ? client::family::v4 : only_v6 ? client::family::v6 : client::family::any;
  opts.timeout = std::chrono::milliseconds(static_cast<long long>(std::llround(timeout_s * 1000)));
  opts.hold = std::chrono::milliseconds(static_cast<long long>(std::llround(hold_s * 1000)));
  opts.verify = verify;
  opts.udp = udp;
  opts.progress = output.chosen_format() == output_format::text && ::isatty(STDERR_FILENO) == 1 &&
                  ::isatty(STDOUT_FILENO) == 1;

  const host_facts facts = read_host_facts();
  if (auto problem = client::make_room(opts, facts)) {
    std::fprintf(stderr, "%s\n", problem->c_str());
    return exit_code::usage;
  }

  try {
    asio::io_context io{1};
    reporter out(output.chosen_format(), facts, use_color(output.chosen_color(), stdout));
    int code = exit_code::software;
    asio::co_spawn(io, client::run(out, opts), [&code](std::exception_ptr e, int result) {
      if (e) std::rethrow_exception(e);
      code = result;
    });
    io.run();
    return code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "demo-client: internal error: %s\n", e.what());
    return exit_code::software;
  }
}
