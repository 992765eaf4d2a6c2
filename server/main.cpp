// demo-server: listens on fixed ports and shows every client the four facts of its connection.

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <csignal>

#include <asio/io_context.hpp>

#include "portdemo/cli.hpp"
#include "server.hpp"

int main(int argc, char** argv) {
  using namespace portdemo;
  std::signal(SIGPIPE, SIG_IGN);  // a client or a stdout that went away is not fatal

  CLI::App app{"demo-server: listens on fixed TCP ports and tells each client the four facts of its\n"
               "connection (local address:port, remote address:port) as the server sees them.",
               "demo-server"};
  app.set_version_flag("--version", version_text("demo-server"));

  std::string ports = "8080,8443";
  app.add_option("--ports,-p", ports,
                 "ports to listen on: 8080,8443, a range 9000-9003, service\n"
                 "names (http-alt); 0 lets the kernel choose")
      ->check(cli::port_spec_check(true))
      ->capture_default_str();
  std::vector<std::string> binds;
  app.add_option("--bind,-b", binds,
                 "address to listen on, repeatable (default: 127.0.0.1\n"
                 "and ::1; a classroom uses --bind 0.0.0.0 --bind ::)")
      ->check(cli::address_check())
      ->delimiter(',');
  std::string udp_ports;
  app.add_option("--udp", udp_ports,
                 "UDP ports to bind, as in --ports; alone (without --ports)\nthe server speaks UDP only")
      ->check(cli::port_spec_check(true));
  std::string tls_ports;
  app.add_option("--tls", tls_ports,
                 "ports that speak HTTPS besides 443 and 8443, as in --ports;\n"
                 "0 means every port asked as 0")
      ->check(cli::port_spec_check(true));
  std::string proxy_ports;
  app.add_option("--proxy-protocol", proxy_ports,
                 "TCP ports on which each connection must begin with a PROXY\n"
                 "protocol header (v1 or v2, as haproxy's send-proxy sends);\n"
                 "as in --ports, each one of the --ports")
      ->check(cli::port_spec_check(true));
  std::string quic_ports;
  app.add_option("--quic", quic_ports,
                 "also serve HTTP/3 over QUIC, on UDP with the numbers of these\n"
                 "TLS ports (as in --ports, each one of the TLS ports served);\n"
                 "alone: every TLS port; browsers learn of it by Alt-Svc")
      ->expected(0, 1)
      ->check(cli::port_spec_check(true));
  std::string cert_file;
  std::string key_file;
  auto* cert = app.add_option("--cert", cert_file,
                              "certificate (PEM) for HTTPS ports, with --key; default:\n"
                              "a self-signed one for localhost, generated at start-up")
                   ->check(CLI::ExistingFile);
  auto* key = app.add_option("--key", key_file, "private key (PEM) of --cert")->check(CLI::ExistingFile);
  cert->needs(key);
  key->needs(cert);
  std::string save_cert;
  app.add_option("--save-cert", save_cert,
                 "write the certificate (PEM) to this file, to trust it:\ncurl --cacert FILE");
  bool strict = false;
  app.add_flag("--strict", strict, "end with an error if any port fails to listen");

  // Limits: what one client may cost the others.
  server::options opts;
  server_limits& limits = opts.limits;
  app.add_option("--max-connections", limits.max_connections,
                 "connections served at once; one more gets a one-line\n"
                 "\"busy\" answer (lowered to fit the open-file limit)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}))
      ->capture_default_str();
  std::string request_timeout = format_duration(limits.request_timeout);
  app.add_option("--request-timeout", request_timeout,
                 "a request must be complete this long after its first byte\n(10, 1.5s, 500ms)")
      ->check(cli::duration_check())
      ->capture_default_str();
  std::string write_timeout = format_duration(limits.write_timeout);
  app.add_option("--write-timeout", write_timeout, "an answer must be taken by the client within this")
      ->check(cli::duration_check())
      ->capture_default_str();
  std::string keep_alive_timeout = format_duration(limits.keep_alive_timeout);
  app.add_option("--keep-alive-timeout", keep_alive_timeout,
                 "an HTTP connection idle this long after an answer is closed")
      ->check(cli::duration_check())
      ->capture_default_str();
  std::string shutdown_grace = format_duration(limits.shutdown_grace);
  app.add_option("--shutdown-grace", shutdown_grace,
                 "on SIGINT/SIGTERM, answers in flight get this long;\na second signal ends at once")
      ->check(cli::duration_check())
      ->capture_default_str();
  app.add_option("--max-line", limits.max_line,
                 "bytes of a raw client's first line (nc, telnet), newline\nincluded")
      ->check(CLI::Range(std::size_t{64}, std::size_t{1u << 20}))
      ->capture_default_str();
  app.add_option("--max-header-bytes", limits.http.header_bytes, "bytes of an HTTP request's header lines")
      ->check(CLI::Range(std::size_t{256}, std::size_t{1u << 20}))
      ->capture_default_str();
  app.add_option("--max-header-lines", limits.http.header_lines, "header lines of an HTTP request")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10'000}))
      ->capture_default_str();
  app.add_option("--user", opts.user,
                 "after binding every port as root, switch to this user\n"
                 "(groups cleared, no capabilities) before the first client");
  app.add_flag("--mask-addresses", opts.mask_addresses,
               "hide client addresses partly, on the board and in the log\n"
               "(*.*.*.23, *::1); ports stay whole (for a projector)");
  app.add_option("--max-board-subscribers", opts.max_board_subscribers,
                 "board pages (GET /events) followed at once; one more gets\n"
                 "503; one that cannot keep up is dropped")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10'000}))
      ->capture_default_str();
  bool quiet = false;
  app.add_flag("--quiet,-q", quiet,
               "no line per connection: start-up, problems and the\nsummary only (for measurements)");
  cli::output_options output;
  cli::add_output_options(app, output);

  if (int code = cli::parse(app, argc, argv); code >= 0) return code;

  limits.request_timeout = *parse_duration(request_timeout).value;
  limits.write_timeout = *parse_duration(write_timeout).value;
  limits.keep_alive_timeout = *parse_duration(keep_alive_timeout).value;
  limits.shutdown_grace = *parse_duration(shutdown_grace).value;
  opts.quiet = quiet;
  // --udp alone means UDP only; --ports and --udp together serve both.
  if (udp_ports.empty() || app.count("--ports") > 0) opts.ports = parse_port_spec(ports, true).ports;
  if (!udp_ports.empty()) opts.udp_ports = parse_port_spec(udp_ports, true).ports;
  opts.bind_addresses = binds;
  opts.strict = strict;
  if (!tls_ports.empty()) opts.tls_ports = parse_port_spec(tls_ports, true).ports;
  opts.cert_file = cert_file;
  opts.key_file = key_file;
  opts.save_cert = save_cert;
  if (!proxy_ports.empty()) {
    opts.proxy_ports = parse_port_spec(proxy_ports, true).ports;
    // Sockets passed by a service manager replace --ports: their numbers are known only then.
    if (!std::getenv("LISTEN_FDS")) {
      for (std::uint16_t p : opts.proxy_ports) {
        if (std::find(opts.ports.begin(), opts.ports.end(), p) != opts.ports.end()) continue;
        std::string served;
        for (std::uint16_t s : opts.ports) served += (served.empty() ? "" : ",") + std::to_string(s);
        std::fprintf(stderr,
                     "demo-server: --proxy-protocol %u: not one of the TCP ports served (--ports %s); name "
                     "ports that --ports serves\n",
                     static_cast<unsigned>(p), served.empty() ? "none: UDP only" : served.c_str());
        return exit_code::usage;
      }
    }
  }

  if (app.count("--quic") > 0) {
    opts.quic = true;
    if (!quic_ports.empty()) opts.quic_ports = parse_port_spec(quic_ports, true).ports;
    // As --proxy-protocol: passed sockets' numbers are known only once they are adopted.
    if (!std::getenv("LISTEN_FDS")) {
      std::vector<std::uint16_t> tls_served;
      for (std::uint16_t p : opts.ports) {
        const bool tls = p == 443 || p == 8443 ||
                         std::find(opts.tls_ports.begin(), opts.tls_ports.end(), p) != opts.tls_ports.end();
        if (tls && std::find(tls_served.begin(), tls_served.end(), p) == tls_served.end()) tls_served.push_back(p);
      }
      std::string served;
      for (std::uint16_t s : tls_served) served += (served.empty() ? "" : ",") + std::to_string(s);
      std::string all;
      for (std::uint16_t s : opts.ports) all += (all.empty() ? "" : ",") + std::to_string(s);
      if (opts.quic_ports.empty() && tls_served.empty()) {
        std::fprintf(stderr,
                     "demo-server: --quic: no TLS port is served (--ports %s); serve 443 or 8443, or name a "
                     "port with --tls\n",
                     all.empty() ? "none: UDP only" : all.c_str());
        return exit_code::usage;
      }
      for (std::uint16_t p : opts.quic_ports) {
        if (std::find(tls_served.begin(), tls_served.end(), p) != tls_served.end()) continue;
        std::fprintf(stderr,
                     "demo-server: --quic %u: not one of the TLS ports served (%s); name ports that --ports "
                     "serves and that speak HTTPS (443, 8443, or --tls)\n",
                     static_cast<unsigned>(p),
                     served.empty() ? "TLS ports: none" : ("TLS ports: " + served).c_str());
        return exit_code::usage;
      }
    }
  }

  try {
    asio::io_context io{1};
    // Written by a thread of its own, in batches: a slow terminal never holds up accepting.
    const host_facts facts = read_host_facts();
    reporter out(output.chosen_format(), facts, use_color(output.chosen_color(), stdout), stdout,
                 reporter::default_backlog);
    server::server srv(io, out, facts, opts);
    if (int code = srv.start(); code >= 0) return code;
    io.run();
    out.flush();
    return exit_code::ok;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "demo-server: internal error: %s\n", e.what());
    return exit_code::software;
  }
}
