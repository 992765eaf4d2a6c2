#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "portdemo/http.hpp"

namespace portdemo {
namespace {

using namespace std::string_literals;
using state = request_parser::state;

// ---- sniff -------------------------------------------------------------------------------

TEST(Sniff, DemoClientsHello) {
  EXPECT_EQ(sniff("portdemo-hello 1\n"), first_bytes::hello);
  EXPECT_EQ(sniff("portdemo-hello"), first_bytes::hello);
  EXPECT_EQ(sniff("portdemo-h"), first_bytes::nothing_yet);
  EXPECT_EQ(sniff("p"), first_bytes::nothing_yet);
}

TEST(Sniff, HttpRequestLines) {
  EXPECT_EQ(sniff("GET / HTTP/1.1\r\n"), first_bytes::http);
  EXPECT_EQ(sniff("GET "), first_bytes::http);
  EXPECT_EQ(sniff("HEAD "), first_bytes::http);
  EXPECT_EQ(sniff("HEAD /json HTTP/1.0\r\n"), first_bytes::http);
  EXPECT_EQ(sniff("POST "), first_bytes::http);
  EXPECT_EQ(sniff("PUT /x"), first_bytes::http);
}

TEST(Sniff, APrefixOfAMethodIsNotYetKnown) {
  EXPECT_EQ(sniff("G"), first_bytes::nothing_yet);
  EXPECT_EQ(sniff("GE"), first_bytes::nothing_yet);
  EXPECT_EQ(sniff("GET"), first_bytes::nothing_yet);  // the space is still to come
  EXPECT_EQ(sniff("HEA"), first_bytes::nothing_yet);
  EXPECT_EQ(sniff("P"), first_bytes::nothing_yet);    // POST, PUT, PATCH, PRI
}

TEST(Sniff, TlsHandshakeRecord) {
  EXPECT_EQ(sniff("\x16\x03"), first_bytes::tls);
  EXPECT_EQ(sniff("\x16\x03\x01\x02\x00\x01"), first_bytes::tls);
  EXPECT_EQ(sniff("\x16"), first_bytes::nothing_yet);  // the version byte is still to come
  EXPECT_EQ(sniff("\x16\x01"), first_bytes::other);
}

TEST(Sniff, GarbageIsOther) {
  EXPECT_EQ(sniff("hello\n"), first_bytes::other);
  EXPECT_EQ(sniff("get / HTTP/1.1\r\n"), first_bytes::other);  // methods are case-sensitive
  EXPECT_EQ(sniff("GETX"), first_bytes::other);
  EXPECT_EQ(sniff("\r\n"), first_bytes::other);
  EXPECT_EQ(sniff("\x00\x01"s), first_bytes::other);
  EXPECT_EQ(sniff("\xff\xfe"), first_bytes::other);
  EXPECT_EQ(sniff("SSH-2.0-OpenSSH_9.2\r\n"), first_bytes::other);
}

TEST(Sniff, NothingReceivedIsNothingYet) { EXPECT_EQ(sniff(""), first_bytes::nothing_yet); }

// ---- request_parser: every case is fed all at once and one byte at a time ----------------

struct outcome {
  state st = state::incomplete;
  http_error error = http_error::bad_request;
  http_request request;
  std::size_t decided_at = 0;  // bytes fed when the state first stopped being incomplete
};

outcome all_at_once(std::string_view bytes, http_limits limits = {}) {
  request_parser p(limits);
  outcome o;
  o.st = p.feed(bytes);
  o.decided_at = bytes.size();
  o.error = p.error();
  o.request = p.request();
  return o;
}

outcome one_byte_at_a_time(std::string_view bytes, http_limits limits = {}) {
  request_parser p(limits);
  outcome o;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    o.st = p.feed(bytes.substr(i, 1));
    if (o.st != state::incomplete) {
      o.decided_at = i + 1;
      break;
    }
  }
  o.error = p.error();
  o.request = p.request();
  return o;
}

std::string state_name(state s) {
  switch (s) {
    case state::incomplete: return "incomplete";
    case state::complete: return "complete";
    case state::failed: return "failed";
  }
  return "?";
}

// Both ways of feeding end in `expected`; for failed, with `error`. Returns the all-at-once
// outcome (the requests of both ways are compared).
outcome parse_both(std::string_view bytes, state expected, http_error error = http_error::bad_request,
                   http_limits limits = {}) {
  outcome whole = all_at_once(bytes, limits);
  outcome bytewise = one_byte_at_a_time(bytes, limits);
  EXPECT_EQ(state_name(whole.st), state_name(expected)) << "fed all at once (" << bytes.size() << " bytes): " << bytes.substr(0, 60);
  EXPECT_EQ(state_name(bytewise.st), state_name(expected)) << "fed one byte at a time (" << bytes.size() << " bytes): " << bytes.substr(0, 60);
  if (expected == state::failed) {
    EXPECT_EQ(static_cast<int>(whole.error), static_cast<int>(error)) << "fed all at once";
    EXPECT_EQ(static_cast<int>(bytewise.error), static_cast<int>(error)) << "fed one byte at a time";
  }
  if (whole.st == state::complete && bytewise.st == state::complete) {
    EXPECT_EQ(whole.request.method, bytewise.request.method);
    EXPECT_EQ(whole.request.target, bytewise.request.target);
    EXPECT_EQ(whole.request.minor_version, bytewise.request.minor_version);
    EXPECT_EQ(whole.request.headers, bytewise.request.headers);
  }
  return whole;
}

using header_list = std::vector<std::pair<std::string, std::string>>;

TEST(RequestParser, SimpleGet) {
  outcome o = parse_both("GET / HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88.1\r\n"
                         "Accept: */*\r\n\r\n",
                         state::complete);
  EXPECT_EQ(o.request.method, "GET");
  EXPECT_EQ(o.request.target, "/");
  EXPECT_EQ(o.request.minor_version, 1);
  EXPECT_EQ(o.request.headers,
            (header_list{{"Host", "localhost:8080"}, {"User-Agent", "curl/7.88.1"}, {"Accept", "*/*"}}));
  ASSERT_NE(o.request.header("host"), nullptr);
  EXPECT_EQ(*o.request.header("HOST"), "localhost:8080");
  EXPECT_EQ(o.request.header("Cookie"), nullptr);
  EXPECT_TRUE(o.request.keep_alive());
  EXPECT_FALSE(o.request.wants_html());
}

TEST(RequestParser, CompleteExactlyAtTheBlankLine) {
  const std::string head = "GET /json HTTP/1.1\r\nHost: a\r\n\r\n";
  outcome o = one_byte_at_a_time(head);
  EXPECT_EQ(state_name(o.st), "complete");
  EXPECT_EQ(o.decided_at, head.size());
  request_parser p;
  EXPECT_EQ(state_name(p.feed(head.substr(0, head.size() - 1))), "incomplete");
  EXPECT_EQ(state_name(p.feed("\n")), "complete");
}

TEST(RequestParser, HeaderValuesAreTrimmedAndNamesKeptAsSent) {
  outcome o = parse_both("GET / HTTP/1.1\r\nhOsT:   example.org  \r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n",
                         state::complete);
  EXPECT_EQ(o.request.headers, (header_list{{"hOsT", "example.org"}, {"X-Empty", ""}, {"X-Tab", "v"}}));
}

TEST(RequestParser, WantsHtmlWhenAcceptNamesTextHtml) {
  outcome browser = parse_both(
      "GET / HTTP/1.1\r\nHost: a\r\nAccept: text/html,application/xhtml+xml,*/*;q=0.8\r\n\r\n", state::complete);
  EXPECT_TRUE(browser.request.wants_html());
  outcome upper = parse_both("GET / HTTP/1.1\r\nHost: a\r\naccept: TEXT/HTML\r\n\r\n", state::complete);
  EXPECT_TRUE(upper.request.wants_html());
  outcome any = parse_both("GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n", state::complete);
  EXPECT_FALSE(any.request.wants_html());
  outcome none = parse_both("GET / HTTP/1.1\r\nHost: a\r\n\r\n", state::complete);
  EXPECT_FALSE(none.request.wants_html());
}

// ---- keep-alive ----------------------------------------------------------------------------

TEST(RequestParser, Http11KeepsAliveByDefault) {
  EXPECT_TRUE(parse_both("GET / HTTP/1.1\r\nHost: a\r\n\r\n", state::complete).request.keep_alive());
  EXPECT_TRUE(parse_both("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", state::complete)
                  .request.keep_alive());
}

TEST(RequestParser, Http11ConnectionCloseCloses) {
  EXPECT_FALSE(parse_both("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", state::complete)
                   .request.keep_alive());
  EXPECT_FALSE(parse_both("GET / HTTP/1.1\r\nHost: a\r\nconnection: Close\r\n\r\n", state::complete)
                   .request.keep_alive());
}

TEST(RequestParser, Http10ClosesByDefault) {
  outcome o = parse_both("GET / HTTP/1.0\r\n\r\n", state::complete);  // no Host needed in 1.0
  EXPECT_EQ(o.request.minor_version, 0);
  EXPECT_FALSE(o.request.keep_alive());
}

TEST(RequestParser, Http10KeepAliveKeepsAlive) {
  EXPECT_TRUE(parse_both("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", state::complete)
                  .request.keep_alive());
  EXPECT_TRUE(parse_both("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", state::complete)
                  .request.keep_alive());
}

// ---- pipelining ----------------------------------------------------------------------------

constexpr std::string_view two_requests =
    "GET /json HTTP/1.1\r\nHost: a\r\n\r\nHEAD / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n";

void expect_two_pipelined(request_parser& p, state first) {
  ASSERT_EQ(state_name(first), "complete");
  EXPECT_EQ(p.request().method, "GET");
  EXPECT_EQ(p.request().target, "/json");
  EXPECT_TRUE(p.request().keep_alive());
  ASSERT_EQ(state_name(p.next()), "complete");
  EXPECT_EQ(p.request().method, "HEAD");
  EXPECT_EQ(p.request().target, "/");
  ASSERT_NE(p.request().header("Host"), nullptr);
  EXPECT_EQ(*p.request().header("Host"), "b");
  EXPECT_FALSE(p.request().keep_alive());
  EXPECT_EQ(state_name(p.next()), "incomplete");  // nothing more was sent
}

TEST(RequestParser, TwoPipelinedRequestsAllAtOnce) {
  request_parser p;
  state s = p.feed(two_requests);
  expect_two_pipelined(p, s);
}

TEST(RequestParser, TwoPipelinedRequestsOneByteAtATime) {
  request_parser p;
  state s = state::incomplete;
  for (char c : two_requests) s = p.feed(std::string_view(&c, 1));
  expect_two_pipelined(p, s);
}

TEST(RequestParser, ThePipelinedRestMayArriveLater) {
  request_parser p;
  ASSERT_EQ(state_name(p.feed("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HT")), "complete");
  EXPECT_EQ(p.request().target, "/a");
  EXPECT_EQ(state_name(p.next()), "incomplete");
  EXPECT_EQ(state_name(p.feed("TP/1.1\r\nHost: a\r\n\r\n")), "complete");
  EXPECT_EQ(p.request().target, "/b");
}

TEST(RequestParser, AMalformedPipelinedRequestFailsOnNext) {
  request_parser p;
  ASSERT_EQ(state_name(p.feed("GET /a HTTP/1.1\r\nHost: a\r\n\r\nnonsense\r\n\r\n")), "complete");
  EXPECT_EQ(state_name(p.next()), "failed");
  EXPECT_EQ(p.error(), http_error::bad_request);
}

TEST(RequestParser, BareLineFeeds) {
  outcome o = parse_both("GET /json HTTP/1.1\nHost: a\nAccept: text/html\n\n", state::complete);
  EXPECT_EQ(o.request.target, "/json");
  EXPECT_EQ(o.request.headers, (header_list{{"Host", "a"}, {"Accept", "text/html"}}));

  request_parser p;
  ASSERT_EQ(state_name(p.feed("GET /1 HTTP/1.0\n\nGET /2 HTTP/1.0\n\n")), "complete");
  EXPECT_EQ(p.request().target, "/1");
  ASSERT_EQ(state_name(p.next()), "complete");
  EXPECT_EQ(p.request().target, "/2");
}

// ---- refusals ------------------------------------------------------------------------------

TEST(RequestParser, MalformedRequestLinesAre400) {
  for (std::string line : {"garbage", "GET /", "GET / HTTP/1.1 extra", "GET  / HTTP/1.1",
                           "G(T / HTTP/1.1", "GET / http/1.1", "GET / HTTP/1", "GET / HTTP/1.10",
                           "GET / HTTPS/1.1", "GET /a\x01b HTTP/1.1", "GET /a\x7f HTTP/1.1",
                           "GET /\xc3\xa9 HTTP/1.1"}) {
    SCOPED_TRACE(line);
    parse_both(line + "\r\nHost: a\r\n\r\n", state::failed, http_error::bad_request);
  }
}

TEST(RequestParser, Http11WithoutHostIs400) {
  parse_both("GET / HTTP/1.1\r\n\r\n", state::failed, http_error::bad_request);
  parse_both("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", state::failed, http_error::bad_request);
}

TEST(RequestParser, BadHeaderNamesAre400) {
  for (std::string header : {"Bad Name: x", "Host : a", ": novalue", "NoColon", "X(y): z", "X\x01: z"}) {
    SCOPED_TRACE(header);
    parse_both("GET / HTTP/1.1\r\nHost: a\r\n" + header + "\r\n\r\n", state::failed, http_error::bad_request);
  }
}

TEST(RequestParser, ObsoleteLineFoldingIs400) {
  parse_both("GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n two\r\n\r\n", state::failed, http_error::bad_request);
  parse_both("GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n\ttwo\r\n\r\n", state::failed,
             http_error::bad_request);
}

TEST(RequestParser, ControlCharactersInValuesAre400) {
  parse_both("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x01" "b\r\n\r\n", state::failed, http_error::bad_request);
  parse_both("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x7f" "b\r\n\r\n", state::failed, http_error::bad_request);
  parse_both("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x1b[31mb\r\n\r\n", state::failed, http_error::bad_request);
  parse_both("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\0b"s + "\r\n\r\n", state::failed, http_error::bad_request);
  parse_both("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n", state::failed, http_error::bad_request);
  // A tab inside a value is allowed.
  outcome o = parse_both("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\tb\r\n\r\n", state::complete);
  ASSERT_NE(o.request.header("X-A"), nullptr);
  EXPECT_EQ(*o.request.header("X-A"), "a\tb");
}

TEST(RequestParser, OtherVersionsAre505) {
  for (std::string version : {"HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTP/3.0", "HTTP/1.9"}) {
    SCOPED_TRACE(version);
    parse_both("GET / " + version + "\r\nHost: a\r\n\r\n", state::failed, http_error::version_not_supported);
  }
  // HTTP/2's connection preface, as a client that skips the upgrade sends it.
  parse_both("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", state::failed, http_error::version_not_supported);
}

TEST(RequestParser, AfterAFailureMoreBytesChangeNothing) {
  request_parser p;
  ASSERT_EQ(state_name(p.feed("nonsense\r\n\r\n")), "failed");
  EXPECT_EQ(state_name(p.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n")), "failed");
  EXPECT_EQ(p.error(), http_error::bad_request);
}

// ---- limits and their exact boundaries -------------------------------------------------

// A request line of exactly `size` bytes (without its line ending).
std::string request_line_of(std::size_t size) {
  const std::string fixed = "GET / HTTP/1.1";
  std::string target = "/" + std::string(size - fixed.size(), 'a');
  return "GET " + target + " HTTP/1.1";
}

TEST(RequestParserLimits, RequestLineOf8192BytesIsAccepted) {
  std::string line = request_line_of(8192);
  ASSERT_EQ(line.size(), 8192u);
  outcome o = parse_both(line + "\r\nHost: a\r\n\r\n", state::complete);
  EXPECT_EQ(o.request.target.size(), 8192u - 13u);
}

TEST(RequestParserLimits, RequestLineOf8192BytesWithBareLineFeedIsAccepted) {
  parse_both(request_line_of(8192) + "\nHost: a\n\n", state::complete);
}

TEST(RequestParserLimits, RequestLineOf8193BytesIs414) {
  parse_both(request_line_of(8193) + "\r\nHost: a\r\n\r\n", state::failed, http_error::uri_too_long);
  parse_both(request_line_of(8193) + "\nHost: a\n\n", state::failed, http_error::uri_too_long);
}

TEST(RequestParserLimits, AnEndlessRequestLineIsRefusedAtTheLimit) {
  // No line ending ever comes: the parser must not wait for one.
  std::string endless = "GET /" + std::string(20000, 'a');
  outcome bytewise = one_byte_at_a_time(endless);
  EXPECT_EQ(state_name(bytewise.st), "failed");
  EXPECT_EQ(bytewise.error, http_error::uri_too_long);
  EXPECT_LE(bytewise.decided_at, 8194u);  // at most the limit and a line ending's CR
  outcome whole = all_at_once(endless);
  EXPECT_EQ(state_name(whole.st), "failed");
  EXPECT_EQ(whole.error, http_error::uri_too_long);
}

// One header line of exactly `size` bytes (without its line ending).
std::string header_of(std::size_t size) {
  const std::string name = "X-Big: ";
  return name + std::string(size - name.size(), 'v');
}

TEST(RequestParserLimits, HeaderBytesOf8192AreAccepted) {
  // The only header line: Host, 8192 bytes long.
  std::string host = "Host: " + std::string(8192 - 6, 'h');
  ASSERT_EQ(host.size(), 8192u);
  parse_both("GET / HTTP/1.0\r\n" + header_of(8192) + "\r\n\r\n", state::complete);
  parse_both("GET / HTTP/1.1\r\n" + host + "\r\n\r\n", state::complete);
  parse_both("GET / HTTP/1.0\n" + header_of(8192) + "\n\n", state::complete);
}

TEST(RequestParserLimits, HeaderBytesOf8193Are431) {
  parse_both("GET / HTTP/1.1\r\nHost: a\r\n" + header_of(8193 - 7) + "\r\n\r\n", state::failed,
             http_error::headers_too_large);
  parse_both("GET / HTTP/1.0\r\n" + header_of(8193) + "\r\n\r\n", state::failed, http_error::headers_too_large);
  parse_both("GET / HTTP/1.0\n" + header_of(8193) + "\n\n", state::failed, http_error::headers_too_large);
}

TEST(RequestParserLimits, ManySmallHeadersOverTheByteLimitAre431) {
  std::string head = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 90; ++i) head += "X-Filler-" + std::to_string(i) + ": " + std::string(100, 'f') + "\r\n";
  parse_both(head + "\r\n", state::failed, http_error::headers_too_large);
}

TEST(RequestParserLimits, AnEndlessHeaderIsRefusedAtTheLimit) {
  std::string endless = "GET / HTTP/1.1\r\nX-Endless: " + std::string(20000, 'e');
  outcome bytewise = one_byte_at_a_time(endless);
  EXPECT_EQ(state_name(bytewise.st), "failed");
  EXPECT_EQ(bytewise.error, http_error::headers_too_large);
  EXPECT_LE(bytewise.decided_at, 16u + 8194u);
}

// `lines` header lines: Host and then X-N: n.
std::string head_with_lines(int lines, std::string_view eol = "\r\n") {
  std::string head = "GET / HTTP/1.1" + std::string(eol) + "Host: a" + std::string(eol);
  for (int i = 1; i < lines; ++i) head += "X-" + std::to_string(i) + ": " + std::to_string(i) + std::string(eol);
  return head + std::string(eol);
}

TEST(RequestParserLimits, HundredHeaderLinesAreAccepted) {
  outcome o = parse_both(head_with_lines(100), state::complete);
  EXPECT_EQ(o.request.headers.size(), 100u);
  parse_both(head_with_lines(100, "\n"), state::complete);
}

TEST(RequestParserLimits, HundredAndOneHeaderLinesAre431) {
  parse_both(head_with_lines(101), state::failed, http_error::headers_too_large);
  parse_both(head_with_lines(101, "\n"), state::failed, http_error::headers_too_large);
  parse_both(head_with_lines(150), state::failed, http_error::headers_too_large);
}

TEST(RequestParserLimits, SmallerLimitsAreHonoured) {
  http_limits small{32, 64, 3};
  parse_both("GET /" + std::string(18, 'a') + " HTTP/1.1\nHost: a\n\n", state::complete,
             http_error::bad_request, small);  // 32 bytes
  parse_both("GET /" + std::string(19, 'a') + " HTTP/1.1\nHost: a\n\n", state::failed,
             http_error::uri_too_long, small);  // 33 bytes
  parse_both("GET / HTTP/1.1\nHost: " + std::string(65 - 6, 'h') + "\n\n", state::failed,
             http_error::headers_too_large, small);  // 65 header bytes
}

TEST(RequestParserLimits, BlankLinesBeforeTheRequestLineAreIgnoredUpToItsLimit) {
  const std::string request = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  parse_both("\r\n\n" + request, state::complete);
  parse_both(std::string(4096 * 2, '\n') + request, state::complete);  // 8192 bytes: the limit
  http_limits small{32, 64, 3};
  parse_both(std::string(32, '\n') + request, state::complete, http_error::bad_request, small);
  parse_both(std::string(33, '\n') + request, state::failed, http_error::bad_request, small);
}

TEST(RequestParserLimits, EndlessBlankLinesAreRefusedAtTheLimit) {
  // Found while writing fuzz_http_request: blank lines before a request line were kept without
  // limit, so 100 MiB of line feeds held 100 MiB and the head stayed incomplete.
  const std::string endless(100000, '\n');
  outcome bytewise = one_byte_at_a_time(endless);
  EXPECT_EQ(state_name(bytewise.st), "failed");
  EXPECT_EQ(bytewise.error, http_error::bad_request);
  EXPECT_EQ(bytewise.decided_at, 8193u);
  outcome crlf = all_at_once([] {
    std::string s;
    for (int i = 0; i < 50000; ++i) s += "\r\n";
    return s;
  }());
  EXPECT_EQ(state_name(crlf.st), "failed");
  EXPECT_EQ(crlf.error, http_error::bad_request);
}

// ---- reason phrases ----------------------------------------------------------------------

TEST(ReasonPhrase, EveryStatusThisServerSends) {
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(400), "Bad Request");
  EXPECT_EQ(reason_phrase(404), "Not Found");
  EXPECT_EQ(reason_phrase(405), "Method Not Allowed");
  EXPECT_EQ(reason_phrase(414), "URI Too Long");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(505), "HTTP Version Not Supported");
}

}  // namespace
}  // namespace portdemo
