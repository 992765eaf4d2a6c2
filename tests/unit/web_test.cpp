#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "portdemo/http.hpp"
#include "portdemo/web.hpp"

namespace portdemo {
namespace {

// ---- fixtures ----------------------------------------------------------------------------

host_facts linux_facts() {
  host_facts f;
  f.ephemeral = port_range{32768, 60999};
  f.unprivileged_port_start = 1024;
  return f;
}

web_context context_v4(std::uint64_t request_number = 1, std::optional<std::uint16_t> previous = std::nullopt) {
  return web_context{3, request_number, {{"127.0.0.1", 8080}, {"127.0.0.1", 40000}}, linux_facts(),
                     std::nullopt, previous, nullptr, http_version::http1, 0, nullptr, {}};
}

web_context context_v6_tls() {
  return web_context{12, 1, {{"::1", 8443}, {"::1", 51234}}, linux_facts(),
                     tls_details{"TLSv1.3", "TLS_AES_256_GCM_SHA384"}, std::nullopt, nullptr, http_version::http1, 0, nullptr, {}};
}

// A request, parsed by the real parser from its head.
http_request parse(std::string_view head) {
  request_parser p;
  auto s = p.feed(head);
  EXPECT_EQ(s, request_parser::state::complete) << head;
  return p.request();
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

const char* const browser_get =
    "GET / HTTP/1.1\r\nHost: localhost:8080\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\r\n";

// ---- GET / -------------------------------------------------------------------------------

TEST(WebRespond, BrowserGetsTheHtmlPage) {
  http_response r = respond(parse(browser_get), context_v4());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_FALSE(r.close);
  EXPECT_TRUE(r.body.starts_with("<!doctype html>\n")) << r.body.substr(0, 100);
  EXPECT_TRUE(contains(r.body, R"(id="client-port">40000<)")) << r.body;
  EXPECT_TRUE(contains(r.body, R"(id="server-port">8080<)")) << r.body;
  EXPECT_TRUE(contains(r.body, R"(<code id="client-address">127.0.0.1</code>)"));
  EXPECT_TRUE(contains(r.body, R"(<code id="server-address">127.0.0.1</code>)"));
  EXPECT_TRUE(contains(r.body, "<title>Your port 40000, the server's port 8080</title>"));
  EXPECT_TRUE(contains(r.body, R"(#<span id="connection-id">3</span>, request <span id="request-number">1</span> on it)"));
  EXPECT_TRUE(contains(r.body, "<code>local 127.0.0.1:8080</code> &larr; <code>remote 127.0.0.1:40000</code>"));
  EXPECT_TRUE(contains(r.body, "<code>local 127.0.0.1:40000</code> &rarr; <code>remote 127.0.0.1:8080</code>"));
  EXPECT_TRUE(contains(r.body, "32768-60999 (net.ipv4.ip_local_port_range)"));
  EXPECT_TRUE(contains(r.body, "registered port, in this host's ephemeral range"));
  EXPECT_TRUE(contains(r.body, "HTTP alternate, registered port"));
  EXPECT_TRUE(contains(r.body, R"(<td id="tls">none: plain HTTP</td>)"));
  EXPECT_TRUE(contains(r.body, R"(<p class="reuse" id="reuse">New connection (#3): your computer chose port 40000 for it.</p>)"))
      << r.body;
  // Nothing is loaded from elsewhere: no external scripts, style sheets or images. One inline
  // script, which reads the address bar (the URL: the browser's claim) and nothing else.
  EXPECT_EQ(r.body.find("<script"), r.body.rfind("<script"));
  EXPECT_TRUE(contains(r.body, "<td id=\"url-claim\">(needs JavaScript)</td>"));
  EXPECT_TRUE(contains(r.body, "var same = port === \"8080\";"));
  EXPECT_FALSE(contains(r.body, "src="));
  EXPECT_FALSE(contains(r.body, "href="));
  EXPECT_TRUE(r.body.ends_with("</html>\n"));
}

TEST(WebRespond, OtherClientsGetPlainText) {
  http_response r = respond(parse("GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: */*\r\n\r\n"), context_v4());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; charset=utf-8");
  EXPECT_FALSE(r.close);
  EXPECT_EQ(r.body,
            "portdemo: your connection #3, request 1 on it\n"
            "  your port (ephemeral):  127.0.0.1:40000          chosen by your kernel\n"
            "  server port (fixed):    127.0.0.1:8080           chosen by the server (HTTP alternate, registered port)\n"
            "  New connection (#3): your computer chose port 40000 for it.\n"
            "  this host's ephemeral range: 32768-60999\n");
  // No Accept at all: text too.
  EXPECT_EQ(respond(parse("GET / HTTP/1.0\r\n\r\n"), context_v4()).content_type, "text/plain; charset=utf-8");
}

TEST(WebRespond, TextOverTlsSaysEncrypted) {
  http_response r = respond(parse("GET / HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n"), context_v6_tls());
  EXPECT_EQ(r.body,
            "portdemo: your connection #12, request 1 on it\n"
            "  your port (ephemeral):  [::1]:51234              chosen by your kernel\n"
            "  server port (fixed):    [::1]:8443               chosen by the server (HTTPS alternate, registered port)\n"
            "  New connection (#12): your computer chose port 51234 for it.\n"
            "  encrypted: TLSv1.3 with TLS_AES_256_GCM_SHA384\n"
            "  this host's ephemeral range: 32768-60999\n");
}

TEST(WebRespond, PageOverTls) {
  http_response r = respond(parse("GET / HTTP/1.1\r\nHost: [::1]:8443\r\nAccept: text/html\r\n\r\n"), context_v6_tls());
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_TRUE(contains(r.body, R"(id="client-port">51234<)"));
  EXPECT_TRUE(contains(r.body, R"(id="server-port">8443<)"));
  EXPECT_TRUE(contains(r.body, R"(<code id="client-address">::1</code>)"));
  EXPECT_TRUE(contains(r.body, "<code>local [::1]:8443</code> &larr; <code>remote [::1]:51234</code>"));
  EXPECT_TRUE(contains(r.body, R"(<td id="tls">yes: TLSv1.3 with TLS_AES_256_GCM_SHA384</td>)"));
  EXPECT_TRUE(contains(r.body, "dynamic port, in this host's ephemeral range"));
}

TEST(WebRespond, AQueryStringDoesNotChangeThePath) {
  EXPECT_EQ(respond(parse("GET /?reload=1 HTTP/1.1\r\nHost: a\r\n\r\n"), context_v4()).status, 200);
  http_response json = respond(parse("GET /json?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"), context_v4());
  EXPECT_EQ(json.status, 200);
  EXPECT_EQ(json.content_type, "application/json");
}

TEST(WebRespond, ConnectionCloseIsHonoured) {
  EXPECT_TRUE(respond(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), context_v4()).close);
  EXPECT_TRUE(respond(parse("GET /json HTTP/1.0\r\n\r\n"), context_v4()).close);
  EXPECT_FALSE(respond(parse("GET /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), context_v4()).close);
}

// ---- /json -------------------------------------------------------------------------------

TEST(WebRespond, JsonIsTheServersView) {
  http_response r = respond(parse("GET /json HTTP/1.1\r\nHost: a\r\nAccept: text/html\r\n\r\n"), context_v4());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body,
            R"({"event":"server_view","proto":"tcp","id":3,)"
            R"("local":{"address":"127.0.0.1","port":8080},"remote":{"address":"127.0.0.1","port":40000},)"
            R"("remote_port_class":"registered","in_ephemeral_range":true,"request":1,"reused":false,)"
            R"("previous_port":null,"tls":null,"protocol":"HTTP/1.1",)"
            R"("claims":{"host":"a","host_port":80,"host_differs":true,"forwarding":[]}})"
            "\n");
  EXPECT_TRUE(connection_json(context_v4()).starts_with(r.body.substr(0, r.body.find(",\"claims\""))));
}

TEST(WebRespond, JsonOverTlsOnASecondRequest) {
  web_context c = context_v6_tls();
  c.request_number = 2;
  c.previous_port = 51000;
  EXPECT_EQ(connection_json(c),
            R"({"event":"server_view","proto":"tcp","id":12,)"
            R"("local":{"address":"::1","port":8443},"remote":{"address":"::1","port":51234},)"
            R"("remote_port_class":"dynamic","in_ephemeral_range":true,"request":2,"reused":true,)"
            R"("previous_port":51000,"tls":{"version":"TLSv1.3","cipher":"TLS_AES_256_GCM_SHA384"},)"
            R"("protocol":"HTTP/1.1"})"
            "\n");
}

TEST(WebRespond, JsonWithUnknownRangeAndAPortOutsideIt) {
  web_context c = context_v4();
  c.facts.ephemeral.reset();
  EXPECT_TRUE(contains(connection_json(c), R"("in_ephemeral_range":null,)"));
  c = context_v4();
  c.tuple.remote.port = 1500;
  EXPECT_TRUE(contains(connection_json(c), R"("remote_port_class":"registered","in_ephemeral_range":false,)"));
}

// ---- errors ------------------------------------------------------------------------------

TEST(WebRespond, UnknownPathIs404) {
  http_response r = respond(parse("GET /nope HTTP/1.1\r\nHost: a\r\n\r\n"), context_v4());
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(r.body,
            "404 Not Found: this server has / (the page), /json, /board (the classroom board) and "
            "/events (its event stream).\n");
  EXPECT_FALSE(r.close);  // a 404 does not end a kept-alive connection
  EXPECT_EQ(respond(parse("GET /favicon.ico HTTP/1.1\r\nHost: a\r\n\r\n"), context_v4()).status, 404);
  EXPECT_EQ(respond(parse("GET /JSON HTTP/1.1\r\nHost: a\r\n\r\n"), context_v4()).status, 404);
  EXPECT_TRUE(respond(parse("GET /nope HTTP/1.0\r\n\r\n"), context_v4()).close);
}

TEST(WebRespond, OtherMethodsAre405WithAllow) {
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"}) {
    SCOPED_TRACE(method);
    http_response r =
        respond(parse(std::string(method) + " / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"), context_v4());
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.allow, "GET, HEAD");
    EXPECT_EQ(r.body, std::string("405 Method Not Allowed: this server answers GET and HEAD only, not ") + method +
                          ".\n");
    EXPECT_TRUE(r.close);
    std::string bytes = serialize(r, false);
    EXPECT_TRUE(bytes.starts_with("HTTP/1.1 405 Method Not Allowed\r\n")) << bytes;
    EXPECT_TRUE(contains(bytes, "\r\nAllow: GET, HEAD\r\n")) << bytes;
    EXPECT_TRUE(contains(bytes, "\r\nConnection: close\r\n")) << bytes;
  }
}

TEST(WebErrorResponse, EachRefusalHasItsStatusAndClosesTheConnection) {
  http_response r400 = error_response(http_error::bad_request);
  EXPECT_EQ(r400.status, 400);
  EXPECT_EQ(r400.body, "400 Bad Request: this server could not read that request.\n");
  http_response r414 = error_response(http_error::uri_too_long);
  EXPECT_EQ(r414.status, 414);
  EXPECT_EQ(r414.body, "414 URI Too Long: the request line is longer than this server reads.\n");
  http_response r431 = error_response(http_error::headers_too_large);
  EXPECT_EQ(r431.status, 431);
  EXPECT_EQ(r431.body,
            "431 Request Header Fields Too Large: more header bytes or lines than this server reads.\n");
  http_response r505 = error_response(http_error::version_not_supported);
  EXPECT_EQ(r505.status, 505);
  EXPECT_EQ(r505.body, "505 HTTP Version Not Supported: this server speaks HTTP/1.0 and HTTP/1.1.\n");
  for (const http_response* r : {&r400, &r414, &r431, &r505}) {
    EXPECT_TRUE(r->close) << r->status;
    EXPECT_EQ(r->content_type, "text/plain; charset=utf-8");
    EXPECT_TRUE(contains(serialize(*r, false), "\r\nConnection: close\r\n\r\n"));
  }
}

// ---- serialize and HEAD ----------------------------------------------------------------

TEST(WebSerialize, ExactBytes) {
  http_response r;
  r.status = 404;
  r.body = "404 Not Found: this server has / (the page) and /json only.\n";
  EXPECT_EQ(serialize(r, false),
            "HTTP/1.1 404 Not Found\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 60\r\n"
            "Cache-Control: no-store\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            "Connection: keep-alive\r\n"
            "\r\n"
            "404 Not Found: this server has / (the page) and /json only.\n");
}

TEST(WebSerialize, HeadGetsTheHeadersOnly) {
  http_request head = parse("HEAD / HTTP/1.1\r\nHost: localhost:8080\r\nAccept: text/html\r\n\r\n");
  http_request get = parse(browser_get);
  http_response for_head = respond(head, context_v4());
  http_response for_get = respond(get, context_v4());
  EXPECT_EQ(for_head.status, 200);
  std::string head_bytes = serialize(for_head, true);
  std::string get_bytes = serialize(for_get, false);
  ASSERT_TRUE(head_bytes.ends_with("\r\n\r\n")) << head_bytes;
  // The same headers as GET, Content-Length included, and not one byte of the body.
  EXPECT_EQ(head_bytes, get_bytes.substr(0, get_bytes.find("\r\n\r\n") + 4));
  EXPECT_EQ(get_bytes.size(), head_bytes.size() + for_get.body.size());
  EXPECT_TRUE(contains(head_bytes, "\r\nContent-Length: " + std::to_string(for_get.body.size()) + "\r\n"));
  EXPECT_TRUE(contains(head_bytes, "\r\nContent-Type: text/html; charset=utf-8\r\n"));
  EXPECT_EQ(serialize(respond(parse("HEAD /json HTTP/1.1\r\nHost: a\r\n\r\n"), context_v4()), true).find("{"),
            std::string::npos);
}

// ---- the reuse sentence ------------------------------------------------------------------

TEST(WebReuse, SecondRequestOnTheSameConnection) {
  http_request get = parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  http_response r = respond(get, context_v4(2));
  EXPECT_TRUE(r.body.starts_with("portdemo: your connection #3, request 2 on it\n")) << r.body;
  EXPECT_TRUE(contains(r.body,
                       "  Same connection as before (#3, request 2 on it), so your port is still 40000: the "
                       "browser kept the connection open (HTTP keep-alive) and reused it.\n"))
      << r.body;
  http_response page = respond(parse(browser_get), context_v4(2));
  EXPECT_TRUE(contains(page.body, R"(<span id="request-number">2</span>)"));
  EXPECT_TRUE(contains(page.body, "Same connection as before (#3, request 2 on it)"));
}

TEST(WebReuse, NewConnectionWithANewPort) {
  http_response r = respond(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), context_v4(1, 39999));
  EXPECT_TRUE(contains(r.body,
                       "  New connection (#3), so your computer chose a new port: 40000 (your previous "
                       "connection used 39999).\n"))
      << r.body;
  http_response page = respond(parse(browser_get), context_v4(1, 39999));
  EXPECT_TRUE(contains(page.body, "New connection (#3), so your computer chose a new port: 40000 (your previous "
                                  "connection used 39999)."))
      << page.body;
  EXPECT_TRUE(contains(connection_json(context_v4(1, 39999)), R"("request":1,"reused":false,"previous_port":39999,)"));
}

TEST(WebReuse, NewConnectionWithTheSamePortByChance) {
  http_response r = respond(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), context_v4(1, 40000));
  EXPECT_TRUE(contains(r.body, "  New connection (#3), and your computer happened to choose port 40000 again.\n"))
      << r.body;
}

// ---- what the request claims ----------------------------------------------------------------

TEST(WebClaims, ForwardingHeadersAndTheHostAreClaimsBesideTheSocket) {
  http_response r = respond(parse("GET / HTTP/1.1\r\nHost: 10.0.0.1:8081\r\nX-Forwarded-For: 203.0.113.7\r\n"
                                  "Forwarded: for=203.0.113.7;proto=http\r\nX-Real-IP: <i>198.51.100.2\r\n\r\n"),
                            context_v4());
  EXPECT_TRUE(contains(r.body,
                       "  the request was addressed to 10.0.0.1:8081 (its Host header, the client's claim), but this "
                       "socket is 127.0.0.1:8080: a port forward (destination NAT) or a proxy in between\n"))
      << r.body;
  EXPECT_TRUE(contains(r.body, "  the request claims X-Forwarded-For: 203.0.113.7 (a header, not checked; the "
                               "socket's peer is 127.0.0.1:40000)\n"));
  EXPECT_TRUE(contains(r.body, "  the request claims Forwarded: for=203.0.113.7;proto=http"));
  EXPECT_TRUE(contains(r.body, "  the request claims X-Real-IP: <i>198.51.100.2 (a header"));
  http_response j = respond(parse("GET /json HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nx-forwarded-port: 80\r\n\r\n"),
                            context_v4());
  EXPECT_TRUE(contains(j.body, R"("claims":{"host":"127.0.0.1:8080","host_port":8080,"host_differs":false,)"
                               R"("forwarding":[{"header":"X-Forwarded-Port","value":"80"}]}})"))
      << j.body;
  // The same port under a name: nothing to say.
  http_response same = respond(parse("GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n"), context_v4());
  EXPECT_FALSE(contains(same.body, "addressed to"));
  EXPECT_FALSE(contains(same.body, "claims"));
  http_response page = respond(parse("GET / HTTP/1.1\r\nHost: <b>:9\r\nX-Real-IP: <i>\r\nAccept: text/html\r\n\r\n"),
                               context_v4());
  EXPECT_TRUE(contains(page.body, "<code>&lt;b&gt;:9</code> (the Host header"));
  EXPECT_TRUE(contains(page.body, "<tr><th>X-Real-IP</th><td class=\"claim\">&lt;i&gt; (a header"));
  EXPECT_FALSE(contains(page.body, "<i>"));
}

// ---- escaping ------------------------------------------------------------------------------

TEST(WebEscaping, ThePageEscapesEverythingItShows) {
  web_context c = context_v4();
  c.tls = tls_details{"TLS<v1.3>", "A&B\"C'D<script>"};
  c.tuple.remote.address = "fe80::1%<b>";
  http_response r = respond(parse(browser_get), c);
  EXPECT_EQ(r.body.find("<script>"), r.body.rfind("<script>"));  // the page's own, only
  EXPECT_FALSE(contains(r.body, "<script>\""));
  EXPECT_FALSE(contains(r.body, "<b>"));
  EXPECT_FALSE(contains(r.body, "TLS<v1.3>"));
  EXPECT_TRUE(contains(r.body, R"(<td id="tls">yes: TLS&lt;v1.3&gt; with A&amp;B&quot;C&#39;D&lt;script&gt;</td>)"))
      << r.body;
  EXPECT_TRUE(contains(r.body, R"(<code id="client-address">fe80::1%&lt;b&gt;</code>)")) << r.body;
}

TEST(WebEscaping, JsonEscapesStrings) {
  web_context c = context_v4();
  c.tls = tls_details{"TLS\"1\\3", "x\ny"};
  EXPECT_TRUE(contains(connection_json(c), R"("tls":{"version":"TLS\"1\\3","cipher":"x\ny"},"protocol")"))
      << connection_json(c);
}

// ---- the wrong protocol on a port --------------------------------------------------------

web_context on_port(std::uint16_t port, std::string address = "127.0.0.1") {
  return web_context{5, 1, {{address, port}, {address, 45000}}, linux_facts(), std::nullopt, std::nullopt, nullptr, http_version::http1, 0, nullptr, {}};
}

TEST(WebMismatch, PlainHttpOnATlsPortNamesTheHttpsUrl) {
  http_response r = plain_http_on_tls_port(parse("GET / HTTP/1.1\r\nHost: localhost:8443\r\n\r\n"), on_port(8443));
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(r.close);
  EXPECT_EQ(r.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(r.body,
            "400 Bad Request: port 8443 speaks HTTPS (HTTP inside TLS), and this request came as plain "
            "HTTP. Use https://localhost:8443/ instead.\n");
}

TEST(WebMismatch, TlsOnAPlainPortNamesTheHttpUrl) {
  http_response r = tls_on_plain_port(parse("GET /json HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"), on_port(8080));
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(r.close);
  EXPECT_EQ(r.body,
            "400 Bad Request: port 8080 speaks plain HTTP, and this request came inside TLS (https://). "
            "Use http://127.0.0.1:8080/ instead.\n");
}

TEST(WebMismatch, TheHostHeadersNameWithoutItsPort) {
  auto url_in = [](const http_response& r) {
    std::size_t at = r.body.find("Use ");
    std::size_t end = r.body.find(" instead.");
    return at == std::string::npos || end == std::string::npos ? r.body : r.body.substr(at + 4, end - at - 4);
  };
  auto https_for = [&](const std::string& host, web_context c = on_port(8443)) {
    return url_in(plain_http_on_tls_port(parse("GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n"), c));
  };
  auto http_for = [&](const std::string& host, web_context c = on_port(8080)) {
    return url_in(tls_on_plain_port(parse("GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n"), c));
  };
  EXPECT_EQ(https_for("localhost:8443"), "https://localhost:8443/");
  EXPECT_EQ(https_for("localhost"), "https://localhost:8443/");
  EXPECT_EQ(https_for("127.0.0.1:8443"), "https://127.0.0.1:8443/");
  EXPECT_EQ(https_for("[::1]:8443", on_port(8443, "::1")), "https://[::1]:8443/");
  EXPECT_EQ(https_for("[::1]", on_port(8443, "::1")), "https://[::1]:8443/");
  EXPECT_EQ(https_for("lab-pc.example.org:9999"), "https://lab-pc.example.org:8443/");  // the port is the server's
  EXPECT_EQ(http_for("localhost:8080"), "http://localhost:8080/");
  EXPECT_EQ(http_for("[::1]:8080", on_port(8080, "::1")), "http://[::1]:8080/");
}

TEST(WebMismatch, AnOddHostIsNotEchoed) {
  auto body_for = [](const std::string& host, web_context c) {
    return plain_http_on_tls_port(parse("GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n"), c).body;
  };
  const std::vector<std::string> odd = {"evil.example/<script>", "a@b", "x\"y", "a b", "host:1/path", "%41",
                                        std::string(300, 'a')};
  for (const std::string& host : odd) {
    SCOPED_TRACE(host);
    std::string body = body_for(host, on_port(8443));
    EXPECT_TRUE(contains(body, "Use https://127.0.0.1:8443/ instead.")) << body;
    if (host.size() > 3) {
      EXPECT_FALSE(contains(body, host)) << body;
    }
    std::string v6 = body_for(host, on_port(8443, "::1"));
    EXPECT_TRUE(contains(v6, "Use https://[::1]:8443/ instead.")) << v6;
  }
  // HTTP/1.0 without Host: the server's own address.
  EXPECT_TRUE(contains(tls_on_plain_port(parse("GET / HTTP/1.0\r\n\r\n"), on_port(8080)).body,
                       "Use http://127.0.0.1:8080/ instead."));
}

}  // namespace
}  // namespace portdemo
