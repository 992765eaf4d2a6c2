// The web answers' wording: the page, its plain-text twin, /json and the error bodies.

#include "portdemo/web.hpp"
#include "portdemo/sse.hpp"

#include <vector>

#include <fmt/compile.h>
#include <fmt/format.h>

#include "portdemo/board_page.hpp"
#include "portdemo/json.hpp"
#include "portdemo/limits.hpp"
#include "portdemo/ports.hpp"
#include "portdemo/protocol.hpp"
#include "portdemo/render.hpp"
#include "portdemo/services.hpp"
#include "portdemo/text.hpp"

namespace portdemo {

namespace {

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string range_text(const host_facts& facts) {
  if (!facts.ephemeral) return "unknown";
  return fmt::format(FMT_COMPILE("{}-{}"), facts.ephemeral->low, facts.ephemeral->high);
}

// One sentence: was this request on a reused connection, or a new one with a new port? On
// HTTP/2 and HTTP/3: one connection for many requests, each on a stream of its own.
void reuse_sentence_to(fmt::memory_buffer& out, const web_context& c) {
  auto it = std::back_inserter(out);
  const std::uint16_t port = c.tuple.remote.port;
  if (c.version == http_version::h3) {
    fmt::format_to(it, FMT_COMPILE("Request {} on QUIC connection #{}, HTTP/3 stream {}, over UDP from your port {}: "
                   "QUIC names a connection by its IDs, not by the four facts, so it would survive your port "
                   "changing."),
                   c.request_number, c.connection_id, c.stream, port);
    if (c.quic && c.quic->first_tuple)
      fmt::format_to(it, FMT_COMPILE(" It did: this connection began from {} and moved to {}, and carried on."),
                     to_string(c.quic->first_tuple->remote), to_string(c.tuple.remote));
    return;
  }
  if (c.version == http_version::h2) {
    if (c.request_number > 1)
      fmt::format_to(it, FMT_COMPILE("Request {} on connection #{}, stream {}, your port {}: HTTP/2 multiplexes, so "
                     "your browser needed one port for all of them."),
                     c.request_number, c.connection_id, c.stream, port);
    else
      fmt::format_to(it, FMT_COMPILE("New connection (#{}), stream {}: your computer chose port {} for it, and "
                     "HTTP/2 carries every request of this page on it, each on a stream of its own."),
                     c.connection_id, c.stream, port);
    return;
  }
  if (c.request_number > 1)
    fmt::format_to(it, FMT_COMPILE("Same connection as before (#{}, request {} on it), so your port is still {}: "
                   "the browser kept the connection open (HTTP keep-alive) and reused it."),
                   c.connection_id, c.request_number, port);
  else if (c.previous_port && *c.previous_port != port)
    fmt::format_to(it, FMT_COMPILE("New connection (#{}), so your computer chose a new port: {} (your previous "
                   "connection used {})."),
                   c.connection_id, port, *c.previous_port);
  else if (c.previous_port)
    fmt::format_to(it, FMT_COMPILE("New connection (#{}), and your computer happened to choose port {} again."),
                   c.connection_id, port);
  else
    fmt::format_to(it, FMT_COMPILE("New connection (#{}): your computer chose port {} for it."), c.connection_id, port);
}

std::string reuse_sentence(const web_context& c) {
  fmt::memory_buffer out;
  reuse_sentence_to(out, c);
  return fmt::to_string(out);
}

// An endpoint as to_string() writes it, padded with spaces to `width` (as "{:<width}" would).
void append_padded(fmt::memory_buffer& out, const endpoint& e, std::size_t width) {
  const std::size_t start = out.size();
  if (e.is_v6()) out.push_back('[');
  out.append(e.address.data(), e.address.data() + e.address.size());
  if (e.is_v6()) out.push_back(']');
  fmt::format_to(std::back_inserter(out), FMT_COMPILE(":{}"), e.port);
  while (out.size() - start < width) out.push_back(' ');
}

void append(fmt::memory_buffer& out, std::string_view s) { out.append(s.data(), s.data() + s.size()); }

std::string service_words(std::uint16_t port) {
  std::string s = describe_port(port);
  return s.empty() ? fmt::format(FMT_COMPILE("{} port"), to_string(classify(port)))
                   : fmt::format(FMT_COMPILE("{}, {} port"), s, to_string(classify(port)));
}

// The page: the browser's port large beside the server's, then the facts and the lesson.
// Inline CSS only: nothing is loaded from anywhere, so it works offline on any projector.
std::string page(const web_context& c, const std::string& claim_rows) {
  const endpoint& server = c.tuple.local;
  const endpoint& client = c.tuple.remote;
  std::string in_range = !c.facts.ephemeral ? ""
                         : c.facts.ephemeral->contains(client.port)
                             ? "in this host's ephemeral range"
                             : "outside this host's ephemeral range";
  std::string tls_row =
      c.tls ? fmt::format("<tr><th>Encryption</th><td id=\"tls\">yes: {} with {}</td></tr>", html_escape(c.tls->version),
                          html_escape(c.tls->cipher))
            : "<tr><th>Encryption</th><td id=\"tls\">none: plain HTTP</td></tr>";
  if (c.proxy) {
    tls_row += fmt::format("<tr><th>Via a proxy</th><td id=\"proxy\">the socket's peer {} is a proxy (PROXY v{} "
                           "header); {}</td></tr>",
                           html_escape(to_string(client)), c.proxy->version, html_escape(proxy_says(*c.proxy)));
  }
  tls_row += claim_rows;
  std::string protocol_row = fmt::format("<tr><th>Protocol</th><td id=\"protocol\">{}{}</td></tr>",
                                         protocol_name(c.version),
                                         c.stream ? fmt::format(", stream {}", c.stream) : std::string());
  if (c.quic) {
    protocol_row += fmt::format("<tr><th>QUIC connection IDs</th><td id=\"quic-ids\">yours <code>{}</code>, the "
                                "server's <code>{}</code> (version {}): these name the connection, not the four "
                                "facts</td></tr>",
                                html_escape(shown_cid(c.quic->client_cid)), html_escape(shown_cid(c.quic->server_cid)),
                                html_escape(c.quic->version));
    if (c.quic->first_tuple)
      protocol_row += fmt::format("<tr><th>Path changed</th><td id=\"quic-moved\">began from <code>{}</code>, now "
                                  "<code>{}</code> ({} change{}): the same connection</td></tr>",
                                  html_escape(to_string(c.quic->first_tuple->remote)), html_escape(to_string(client)),
                                  c.quic->migrations, c.quic->migrations == 1 ? "" : "s");
  }
  tls_row = protocol_row + tls_row;
  return fmt::format(R"(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Your port {cport}, the server's port {sport}</title>
<style>
body {{ font-family: system-ui, "DejaVu Sans", sans-serif; font-size: 1.3rem; line-height: 1.5;
       color: #111; background: #fff; max-width: 62rem; margin: 1.5rem auto; padding: 0 1.25rem; }}
h1 {{ font-size: 2rem; margin: 0 0 .5rem; }}
h2 {{ font-size: 1.4rem; margin-top: 2rem; }}
.reuse {{ background: #f3f4f6; border-radius: .5rem; padding: .75rem 1rem; }}
.ends {{ display: flex; gap: 1.5rem; flex-wrap: wrap; margin: 1.25rem 0; }}
.end {{ flex: 1; min-width: 17rem; border: 4px solid; border-radius: .75rem; padding: .75rem 1.25rem; }}
.you {{ border-color: #b45309; background: #fffbeb; }}
.server {{ border-color: #0e7490; background: #ecfeff; }}
.label {{ text-transform: uppercase; letter-spacing: .06em; font-size: .95rem; font-weight: 700; }}
.port {{ font-size: 5rem; font-weight: 800; line-height: 1.1; font-variant-numeric: tabular-nums; }}
.you .port {{ color: #92400e; }}
.server .port {{ color: #155e75; }}
table {{ border-collapse: collapse; }}
th, td {{ text-align: left; padding: .3rem 1rem .3rem 0; border-bottom: 1px solid #e5e7eb; vertical-align: top; }}
code {{ font-size: 1.15rem; }}
</style>
</head>
<body>
<h1>Your connection to this server</h1>
<p class="reuse" id="reuse">{reuse}</p>
<div class="ends">
  <div class="end you">
    <div class="label">Your browser's port: ephemeral</div>
    <div class="port" id="client-port">{cport}</div>
    <div>address <code id="client-address">{caddr}</code><br>chosen by your computer's kernel for this
    connection; {cclass} port{crange}</div>
  </div>
  <div class="end server">
    <div class="label">This server's port: fixed</div>
    <div class="port" id="server-port">{sport}</div>
    <div>address <code id="server-address">{saddr}</code><br>chosen by the server, the same for
    everyone; {sservice}</div>
  </div>
</div>
<table>
<tr><th>Connection</th><td>#<span id="connection-id">{id}</span>, request <span id="request-number">{req}</span> on it</td></tr>
<tr><th>The four facts, seen from the server</th><td><code>local {sfull}</code> &larr; <code>remote {cfull}</code></td></tr>
<tr><th>Seen from your browser</th><td><code>local {cfull}</code> &rarr; <code>remote {sfull}</code> (the mirror image)</td></tr>
<tr><th>This host's ephemeral range</th><td>{range} (net.ipv4.ip_local_port_range); IANA's dynamic range is 49152-65535</td></tr>
{tls}
<tr><th>Your address bar</th><td id="url-claim">(needs JavaScript)</td></tr>
<tr><th>Your browser says</th><td id="browser-protocol">(needs JavaScript)</td></tr>
</table>
<h2>Fixed and ephemeral ports</h2>
<p>A server listens on a <strong>fixed</strong> port that it chooses, so that clients know where to
find it: {sport} here, 443 for HTTPS on the web, 22 for SSH. A client does not care which port it
uses itself: its kernel hands it an <strong>ephemeral</strong> port, a free one taken from a range,
for as long as the connection lasts. Reload this page: on the same connection your port stays
{cport}; on a new connection it changes, while the server's stays {sport}.</p>
<script>
(function () {{
  // The URL is the browser's claim of where it connected; the socket above is the kernel's.
  var port = location.port || (location.protocol === "https:" ? "443" : "80");
  var same = port === "{sport}";
  document.getElementById("url-claim").textContent = location.hostname + ":" + port +
      " is the URL, your browser's claim" + (same ? ", and the port this socket has" :
      ": not this socket's port {sport}, so a port forward (destination NAT) or a proxy is in between");
  // The browser's own word for the protocol it fetched this page with: h2, h3, http/1.1.
  var nav = window.performance && performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
  document.getElementById("browser-protocol").textContent = nav && nav.nextHopProtocol ?
      "fetched this page with " + nav.nextHopProtocol : "nothing: this browser does not tell";
}})();
</script>
</body>
</html>
)",
                     fmt::arg("cport", client.port), fmt::arg("sport", server.port),
                     fmt::arg("reuse", html_escape(reuse_sentence(c))), fmt::arg("caddr", html_escape(client.address)),
                     fmt::arg("saddr", html_escape(server.address)),
                     fmt::arg("cclass", to_string(classify(client.port))),
                     fmt::arg("crange", in_range.empty() ? "" : ", " + in_range),
                     fmt::arg("sservice", html_escape(service_words(server.port))), fmt::arg("id", c.connection_id),
                     fmt::arg("req", c.request_number), fmt::arg("sfull", html_escape(to_string(server))),
                     fmt::arg("cfull", html_escape(to_string(client))), fmt::arg("range", range_text(c.facts)),
                     fmt::arg("tls", tls_row));
}

std::string text(const web_context& c) {
  // One buffer for the whole body, written in place: this runs for every request a keep-alive
  // client makes.
  const endpoint& server = c.tuple.local;
  const endpoint& client = c.tuple.remote;
  // The server's port and its words are the same for every request on a listener: kept.
  thread_local std::uint16_t described_port = 0;
  thread_local std::string described;
  if (described.empty() || described_port != server.port) {
    described = service_words(server.port);
    described_port = server.port;
  }
  fmt::memory_buffer out;
  auto it = std::back_inserter(out);
  fmt::format_to(it, FMT_COMPILE("portdemo: your connection #{}, request {} on it"), c.connection_id, c.request_number);
  if (c.version != http_version::http1)
    fmt::format_to(it, FMT_COMPILE(" ({}, stream {})"), protocol_name(c.version), c.stream);
  out.push_back('\n');
  append(out, "  your port (ephemeral):  ");
  append_padded(out, client, 24);
  append(out, " chosen by your kernel\n  server port (fixed):    ");
  append_padded(out, server, 24);
  append(out, " chosen by the server (");
  append(out, described);
  append(out, ")\n  ");
  reuse_sentence_to(out, c);
  append(out, "\n");
  if (c.tls) fmt::format_to(it, FMT_COMPILE("  encrypted: {} with {}\n"), c.tls->version, c.tls->cipher);
  if (c.quic)
    fmt::format_to(it, FMT_COMPILE("  QUIC connection IDs: yours {}, the server's {} (version {})\n"),
                   shown_cid(c.quic->client_cid), shown_cid(c.quic->server_cid), c.quic->version);
  if (c.proxy) {
    append(out, "  via a proxy: the socket's peer ");
    append(out, to_string(client));
    append(out, " is the proxy; ");
    append(out, proxy_says(*c.proxy));
    append(out, "\n");
  }
  append(out, "  this host's ephemeral range: ");
  if (c.facts.ephemeral) fmt::format_to(it, FMT_COMPILE("{}-{}\n"), c.facts.ephemeral->low, c.facts.ephemeral->high);
  else append(out, "unknown\n");
  return fmt::to_string(out);
}

// The Host header's name, if it is a plain host[:port] (else the server's own address).
std::string host_for_links(const http_request& request, const web_context& c) {
  std::string host = c.tuple.local.is_v6() ? "[" + c.tuple.local.address + "]" : c.tuple.local.address;
  if (const std::string* h = request.header("Host")) {
    std::string_view v = *h;
    bool plain = !v.empty() && v.size() <= 255 && v.find_first_not_of(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") == std::string_view::npos;
    if (plain) {
      // Drop a port: the link names the port itself.
      std::size_t close = v.rfind(']');
      std::size_t colon = v.rfind(':');
      if (colon != std::string_view::npos && (close == std::string_view::npos || colon > close)) v = v.substr(0, colon);
      host = std::string(v);
    }
  }
  return host;
}

http_response plain(int status, std::string body, bool close = true) {
  http_response r;
  r.status = status;
  r.body = std::move(body);
  r.close = close;
  return r;
}

// What a request says about where it came from and where it was going: claims, not facts.
struct request_claims {
  std::vector<std::pair<std::string_view, std::string_view>> forwarding;  ///< Forwarded, X-Forwarded-*, X-Real-IP
  const std::string* host = nullptr;                                      ///< the Host header
  std::optional<std::uint16_t> host_port;  ///< its port, or the scheme's default (80, 443)
  bool host_differs = false;  ///< it names another port, or another IP address, than the socket's local end
};

request_claims claims_of(const http_request& request, const web_context& c) {
  request_claims out;
  for (const auto& [name, value] : request.headers) {
    for (std::string_view known : {"Forwarded", "X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto",
                                   "X-Forwarded-Host", "X-Real-IP"}) {
      if (iequals(name, known)) out.forwarding.emplace_back(known, value);
    }
  }
  out.host = request.header("Host");
  if (!out.host) return out;
  std::string_view host = *out.host;
  std::string_view port_text;
  const std::size_t close = host.rfind(']');
  const std::size_t colon = host.rfind(':');
  if (colon != std::string_view::npos && (close == std::string_view::npos || colon > close) &&
      (host.front() == '[' || host.find(':') == colon)) {
    port_text = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned port = c.tls ? 443 : 80;
  if (!port_text.empty()) {
    port = 0;
    for (char ch : port_text) {
      if (ch < '0' || ch > '9' || port > 65535) return out;  // not a port: no comparison
      port = port * 10 + static_cast<unsigned>(ch - '0');
    }
    if (port > 65535) return out;
  }
  out.host_port = static_cast<std::uint16_t>(port);
  out.host_differs = port != c.tuple.local.port || (is_ip_address(host) && host != c.tuple.local.address);
  return out;
}

std::string claims_json(const request_claims& k) {
  std::string headers = "[";
  for (const auto& [name, value] : k.forwarding) {
    if (headers.size() > 1) headers += ',';
    headers += fmt::format("{{\"header\":{},\"value\":{}}}", json_string(name), json_string(printable(value, 200)));
  }
  headers += ']';
  return fmt::format("{{\"host\":{},\"host_port\":{},\"host_differs\":{},\"forwarding\":{}}}",
                     k.host ? json_string(printable(*k.host, 200)) : "null",
                     k.host_port ? std::to_string(*k.host_port) : "null", k.host_differs, headers);
}

// The claims in words, a line each; nothing when the request makes none worth saying.
std::string claims_text(const request_claims& k, const web_context& c) {
  std::string out;
  if (k.host_differs) {
    out += fmt::format("  the request was addressed to {} (its Host header, the client's claim), but this socket "
                       "is {}: a port forward (destination NAT) or a proxy in between\n",
                       printable(*k.host, 100), to_string(c.tuple.local));
  }
  for (const auto& [name, value] : k.forwarding)
    out += fmt::format("  the request claims {}: {} (a header, not checked; the socket's peer is {})\n", name,
                       printable(value, 200), to_string(c.tuple.remote));
  return out;
}

std::string claims_rows(const request_claims& k, const web_context& c) {
  std::string out;
  if (k.host_differs) {
    out += fmt::format("<tr><th>Addressed to</th><td id=\"host-claim\"><code>{}</code> (the Host header: your "
                       "browser's claim), but this socket is <code>{}</code>: a port forward or a proxy in "
                       "between</td></tr>",
                       html_escape(printable(*k.host, 100)), html_escape(to_string(c.tuple.local)));
  }
  for (const auto& [name, value] : k.forwarding)
    out += fmt::format("<tr><th>{}</th><td class=\"claim\">{} (a header: a claim, not checked)</td></tr>",
                       html_escape(name), html_escape(printable(value, 200)));
  return out;
}

}  // namespace

std::string connection_json(const web_context& c) {
  std::string tls = c.tls ? fmt::format("{{\"version\":{},\"cipher\":{}}}", json_string(c.tls->version),
                                        json_string(c.tls->cipher))
                          : "null";
  std::string in_range = c.facts.ephemeral ? (c.facts.ephemeral->contains(c.tuple.remote.port) ? "true" : "false")
                                           : "null";
  std::string more;
  if (c.version != http_version::http1) more = fmt::format(",\"stream\":{}", c.stream);
  if (c.quic) {
    more += fmt::format(",\"quic\":{{\"client_cid\":{},\"server_cid\":{},\"version\":{},\"migrations\":{},"
                        "\"first_remote\":{}}}",
                        json_string(c.quic->client_cid), json_string(c.quic->server_cid), json_string(c.quic->version),
                        c.quic->migrations,
                        c.quic->first_tuple ? endpoint_json(c.quic->first_tuple->remote) : std::string("null"));
  }
  if (c.proxy) more += ",\"proxy\":" + proxy_claim_json(*c.proxy);
  return fmt::format("{{\"event\":\"server_view\",\"proto\":\"{}\",\"id\":{},\"local\":{},\"remote\":{},"
                     "\"remote_port_class\":{},\"in_ephemeral_range\":{},\"request\":{},\"reused\":{},"
                     "\"previous_port\":{},\"tls\":{},\"protocol\":{}{}}}\n",
                     c.version == http_version::h3 ? "udp" : "tcp", c.connection_id, endpoint_json(c.tuple.local),
                     endpoint_json(c.tuple.remote),
                     json_string(to_string(classify(c.tuple.remote.port))), in_range, c.request_number,
                     c.request_number > 1 ? "true" : "false",
                     c.previous_port ? std::to_string(*c.previous_port) : "null", tls,
                     json_string(protocol_name(c.version)), more);
}

http_response respond(const http_request& request, const web_context& context) {
  if (request.method != "GET" && request.method != "HEAD") {
    http_response r = plain(405, fmt::format("405 Method Not Allowed: this server answers GET and HEAD "
                                             "only, not {}.\n",
                                             request.method));
    r.allow = "GET, HEAD";
    return r;
  }
  std::string_view path = request.target;
  if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  http_response r;
  r.close = !request.keep_alive();
  if (path == "/") {
    const request_claims claims = claims_of(request, context);
    if (request.wants_html()) {
      r.content_type = "text/html; charset=utf-8";
      r.body = page(context, claims_rows(claims, context));
    } else {
      r.body = text(context);
      r.body += claims_text(claims, context);
    }
  } else if (path == "/json") {
    r.content_type = "application/json";
    r.body = connection_json(context);
    // The request's claims beside the socket's facts: the one field the request adds.
    r.body.insert(r.body.size() - 2, ",\"claims\":" + claims_json(claims_of(request, context)));
  } else if (path == "/board") {
    r.content_type = "text/html; charset=utf-8";
    r.body = board_page();
    // The page loads nothing from anywhere: its style and script are inline, its data comes
    // from /events on the same server.
    r.policy = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
               "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'";
  } else if (path == "/events") {
    // HEAD /events (GET is streamed by the server and never comes here).
    r.content_type = "text/event-stream";
  } else {
    r = plain(404, "404 Not Found: this server has / (the page), /json, /board (the classroom board) and "
                   "/events (its event stream).\n",
              !request.keep_alive());
  }
  r.alt_svc = context.alt_svc;
  return r;
}

bool is_event_stream(const http_request& request) {
  if (request.method != "GET") return false;
  std::string_view path = request.target;
  if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  return path == "/events";
}

http_response board_full_response(std::size_t max_subscribers) {
  return plain(503, fmt::format("503 Service Unavailable: the board has {} subscribers already "
                                "(--max-board-subscribers {}). Close a board page, or start the server "
                                "with a higher --max-board-subscribers.\n",
                                max_subscribers, max_subscribers),
               true);
}

std::string board_full_events(std::size_t max_subscribers) {
  std::string out;
  sse::retry(out, 15000);
  sse::begin(out, "note");
  out += "{\"code\":\"board_full\",\"message\":";
  append_json_string(out, fmt::format("the board is full: {} pages follow it already (--max-board-subscribers "
                                      "{}); this page tries again every 15 s",
                                      max_subscribers, max_subscribers));
  out += '}';
  sse::end(out);
  return out;
}

std::string board_stopping_events() {
  std::string out;
  sse::event(out, "note", R"({"code":"stopping","message":"the server is stopping"})");
  return out;
}

std::string_view event_stream_head() {
  return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-store\r\n"
         "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n";
}

http_response error_response(http_error error) {
  switch (error) {
    case http_error::uri_too_long:
      return plain(414, "414 URI Too Long: the request line is longer than this server reads.\n");
    case http_error::headers_too_large:
      return plain(431, "431 Request Header Fields Too Large: more header bytes or lines than this "
                        "server reads.\n");
    case http_error::version_not_supported:
      return plain(505, "505 HTTP Version Not Supported: this server speaks HTTP/1.0 and HTTP/1.1.\n");
    case http_error::bad_request: break;
  }
  return plain(400, "400 Bad Request: this server could not read that request.\n");
}

http_response request_timeout_response(std::chrono::milliseconds limit) {
  http_response r = plain(408, fmt::format("408 Request Timeout: the request was not complete within {} of "
                                           "its first byte.\n",
                                           format_duration(limit)));
  r.close = true;
  return r;
}

http_response plain_http_on_tls_port(const http_request& request, const web_context& c) {
  std::string url = fmt::format("https://{}:{}/", host_for_links(request, c), c.tuple.local.port);
  return plain(400, fmt::format("400 Bad Request: port {} speaks HTTPS (HTTP inside TLS), and this "
                                "request came as plain HTTP. Use {} instead.\n",
                                c.tuple.local.port, url));
}

http_response tls_on_plain_port(const http_request& request, const web_context& c) {
  std::string url = fmt::format("http://{}:{}/", host_for_links(request, c), c.tuple.local.port);
  return plain(400, fmt::format("400 Bad Request: port {} speaks plain HTTP, and this request came "
                                "inside TLS (https://). Use {} instead.\n",
                                c.tuple.local.port, url));
}

std::string serialize(const http_response& r, bool head_only) {
  fmt::memory_buffer out;
  auto it = std::back_inserter(out);
  fmt::format_to(it, FMT_COMPILE("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
                 "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"),
                 r.status, reason_phrase(r.status), r.content_type, r.body.size());
  if (!r.allow.empty()) fmt::format_to(it, FMT_COMPILE("Allow: {}\r\n"), r.allow);
  if (!r.location.empty()) fmt::format_to(it, FMT_COMPILE("Location: {}\r\n"), r.location);
  if (!r.policy.empty()) fmt::format_to(it, FMT_COMPILE("Content-Security-Policy: {}\r\n"), r.policy);
  if (!r.alt_svc.empty()) fmt::format_to(it, FMT_COMPILE("Alt-Svc: {}\r\n"), r.alt_svc);
  std::string_view connection = r.close ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n";
  out.append(connection.data(), connection.data() + connection.size());
  if (!head_only) out.append(r.body.data(), r.body.data() + r.body.size());
  return fmt::to_string(out);
}

std::vector<std::pair<std::string_view, std::string>> response_fields(const http_response& r) {
  std::vector<std::pair<std::string_view, std::string>> fields;
  fields.reserve(8);
  fields.emplace_back(":status", std::to_string(r.status));
  fields.emplace_back("content-type", r.content_type);
  fields.emplace_back("content-length", std::to_string(r.body.size()));
  fields.emplace_back("cache-control", "no-store");
  fields.emplace_back("x-content-type-options", "nosniff");
  if (!r.allow.empty()) fields.emplace_back("allow", r.allow);
  if (!r.location.empty()) fields.emplace_back("location", r.location);
  if (!r.policy.empty()) fields.emplace_back("content-security-policy", r.policy);
  if (!r.alt_svc.empty()) fields.emplace_back("alt-svc", r.alt_svc);
  return fields;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 0xf];
  }
  return out;
}

std::string quic_version_text(std::uint32_t version) { return fmt::format("0x{:08x}", version); }

std::string shown_cid(std::string_view cid) { return cid.empty() ? std::string("(empty)") : std::string(cid); }

std::string_view protocol_name(http_version v) noexcept {
  switch (v) {
    case http_version::h2: return "HTTP/2";
    case http_version::h3: return "HTTP/3";
    case http_version::http1: break;
  }
  return "HTTP/1.1";
}

}  // namespace portdemo
