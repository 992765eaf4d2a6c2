// The server's limits as plain values: durations, the connection cap, the raw client's line,
// the events and answers of a limit, and the asynchronous reporter's drops.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <regex>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "portdemo/limits.hpp"
#include "portdemo/protocol.hpp"
#include "portdemo/render.hpp"
#include "portdemo/reporter.hpp"
#include "portdemo/web.hpp"

namespace portdemo {
namespace {

using std::chrono::milliseconds;

TEST(ParseDuration, AcceptsSecondsMillisecondsAndMinutes) {
  EXPECT_EQ(parse_duration("10").value, milliseconds(10'000));
  EXPECT_EQ(parse_duration("1.5").value, milliseconds(1'500));
  EXPECT_EQ(parse_duration("1s").value, milliseconds(1'000));
  EXPECT_EQ(parse_duration("0.25s").value, milliseconds(250));
  EXPECT_EQ(parse_duration("500ms").value, milliseconds(500));
  EXPECT_EQ(parse_duration("2m").value, milliseconds(120'000));
  EXPECT_EQ(parse_duration("1ms").value, milliseconds(1));
  EXPECT_EQ(parse_duration("60m").value, milliseconds(3'600'000));
}

TEST(ParseDuration, RefusesWithTheTextAndWhatIsValid) {
  for (const char* bad : {"", "s", "ms", "0", "0s", "0.0001", "61m", "3601", "-1", "+1", "1e3", "inf", "nan",
                          "1.2.3", ".", "10x", "1 s", " 1", "1h", "99999999999999999"}) {
    duration_result r = parse_duration(bad);
    EXPECT_FALSE(r.value) << bad;
    EXPECT_EQ(r.error, fmt::format("'{}' is not a duration: give seconds (10, 1.5 or 10s), milliseconds "
                                   "(500ms) or minutes (2m), from 1ms to 1h",
                                   bad));
  }
}

TEST(FormatDuration, ReadsAsGiven) {
  EXPECT_EQ(format_duration(milliseconds(10'000)), "10s");
  EXPECT_EQ(format_duration(milliseconds(1'500)), "1.5s");
  EXPECT_EQ(format_duration(milliseconds(500)), "500ms");
  EXPECT_EQ(format_duration(milliseconds(1'250)), "1250ms");
  EXPECT_EQ(format_duration(milliseconds(120'000)), "120s");
  for (const char* text : {"10s", "1.5s", "500ms", "1s"})
    EXPECT_EQ(format_duration(*parse_duration(text).value), text);
}

TEST(CapConnections, KeepsWhatFitsAndLowersWhatDoesNot) {
  EXPECT_EQ(cap_connections(256, std::nullopt, 10).value, 256u);
  connection_cap fits = cap_connections(256, 1024, 10);
  EXPECT_EQ(fits.value, 256u);
  EXPECT_FALSE(fits.clamped);
  connection_cap lowered = cap_connections(256, 64, 8);
  EXPECT_EQ(lowered.value, 64u - 8u - descriptor_reserve);
  EXPECT_TRUE(lowered.clamped);
  // Nothing left after the reserve: one connection all the same, never zero.
  EXPECT_EQ(cap_connections(256, 16, 10).value, 1u);
}

TEST(LineCollector, CompleteLineKeepsItsNewlineAndCountsTheRest) {
  line_collector c(64);
  EXPECT_EQ(c.feed("portdemo-"), line_collector::state::incomplete);
  EXPECT_EQ(c.feed("hello 1\nextra"), line_collector::state::complete);
  EXPECT_EQ(c.line(), "portdemo-hello 1\n");
  EXPECT_EQ(c.received(), 22u);
  EXPECT_EQ(c.feed("more"), line_collector::state::complete);
  EXPECT_EQ(c.received(), 26u);
  EXPECT_EQ(c.line(), "portdemo-hello 1\n");
}

TEST(LineCollector, TooLongAtTheLimitWithoutANewline) {
  line_collector c(64);
  EXPECT_EQ(c.feed(std::string(63, 'x')), line_collector::state::incomplete);
  EXPECT_EQ(c.feed("xy\n"), line_collector::state::too_long);
  EXPECT_EQ(c.line(), std::string(64, 'x'));
  EXPECT_EQ(c.received(), 66u);
}

TEST(LineCollector, NewlineAsTheLastByteOfTheLimitCompletes) {
  line_collector c(4);
  EXPECT_EQ(c.feed("abc\n"), line_collector::state::complete);
  EXPECT_EQ(c.line(), "abc\n");
}

TEST(LimitAnswers, ExactLines) {
  EXPECT_EQ(render_limit_answer(limit_kind::line_too_long, 4096),
            "portdemo: line too long: no newline in the first 4096 bytes; closing.\n");
  EXPECT_EQ(render_limit_answer(limit_kind::request_timeout, 10'000),
            "portdemo: no end of line within 10s of your first byte; closing.\n");
  EXPECT_EQ(render_limit_answer(limit_kind::keep_alive_timeout, 15'000), "");
  EXPECT_EQ(render_busy_answer(256, 256),
            "portdemo: busy 256/256: this server holds as many connections as it allows; try again in a "
            "moment.\n");
  http_response r = request_timeout_response(milliseconds(1'000));
  EXPECT_EQ(r.status, 408);
  EXPECT_TRUE(r.close);
  EXPECT_EQ(r.body, "408 Request Timeout: the request was not complete within 1s of its first byte.\n");
}

const socket_tuple tuple{{"127.0.0.1", 8080}, {"127.0.0.1", 40000}};

TEST(LimitEvents, Json) {
  EXPECT_EQ(render_json(limit_event{7, tuple, limit_kind::request_timeout, 10'000, 31, true}),
            R"({"event":"limit","id":7,"local":{"address":"127.0.0.1","port":8080},)"
            R"("remote":{"address":"127.0.0.1","port":40000},"limit":"request_timeout","limit_ms":10000,)"
            R"("received_bytes":31,"answered":true})"
            "\n");
  EXPECT_EQ(render_json(limit_event{8, tuple, limit_kind::line_too_long, 4096, 1 << 20, true}),
            R"({"event":"limit","id":8,"local":{"address":"127.0.0.1","port":8080},)"
            R"("remote":{"address":"127.0.0.1","port":40000},"limit":"line_too_long","limit_bytes":4096,)"
            R"("received_bytes":1048576,"answered":true})"
            "\n");
  EXPECT_EQ(render_json(busy_event{9, tuple, 8, 8}),
            R"({"event":"busy","id":9,"local":{"address":"127.0.0.1","port":8080},)"
            R"("remote":{"address":"127.0.0.1","port":40000},"open":8,"max_connections":8})"
            "\n");
  EXPECT_EQ(render_json(stopping_event{"SIGTERM", 3, 1500}),
            R"({"event":"stopping","signal":"SIGTERM","open":3,"grace_ms":1500})"
            "\n");
}

TEST(LimitEvents, Text) {
  text_renderer r(host_facts{}, false);
  EXPECT_EQ(r.render(limit_event{7, tuple, limit_kind::request_timeout, 10'000, 31, true}),
            "  #7 closed 127.0.0.1:40000: its request was not complete 10s after its first byte (31\n"
            "    bytes came; --request-timeout); told it so\n");
  EXPECT_EQ(r.render(limit_event{8, tuple, limit_kind::line_too_long, 4096, 5000, true}),
            "  #8 closed 127.0.0.1:40000: 4096 bytes without a newline (--max-line 4096); told it so\n");
  EXPECT_EQ(r.render(limit_event{9, tuple, limit_kind::keep_alive_timeout, 15'000, 0, false}),
            "  #9 closed 127.0.0.1:40000: idle 15s after its last answer (--keep-alive-timeout)\n");
  EXPECT_EQ(r.render(busy_event{10, tuple, 8, 8}),
            "  #10 busy 127.0.0.1:40000: 8 of 8 connections open (--max-connections); told it to try\n"
            "    again\n");
  EXPECT_EQ(r.render(stopping_event{"SIGINT", 0, 1500}), "");
  EXPECT_EQ(r.render(stopping_event{"SIGINT", 2, 1500}),
            "stopping (SIGINT): no new connections; 2 open get up to 1.5s to finish their answers (a\n"
            "  second SIGINT ends at once)\n");
}

// The asynchronous reporter never blocks on an output nobody reads: it drops and counts, and
// says how many once the output drains.
TEST(AsyncReporter, DropsInsteadOfBlockingAndSaysHowMany) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::FILE* out = ::fdopen(fds[1], "w");
  ASSERT_NE(out, nullptr);
  {
    reporter rep(output_format::json, host_facts{}, false, out, 4096);
    const auto started = std::chrono::steady_clock::now();
    // The pipe holds 64 KiB and nobody reads it yet: the writer thread blocks in write(), the
    // backlog of 4 KiB fills, and the rest must be dropped without blocking emit().
    for (int i = 0; i < 20'000; ++i) rep.emit(note_event{"n", std::string(100, 'x')});
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
    EXPECT_GT(rep.dropped(), 0u);
    // Drain the pipe in the background, then a last event carries the note about the drops.
    std::FILE* in = ::fdopen(fds[0], "r");
    std::string all;
    std::thread reader([&] {
      char buffer[65536];
      std::size_t n = 0;
      while ((n = std::fread(buffer, 1, sizeof buffer, in)) > 0) all.append(buffer, n);
    });
    // Once the reader has emptied the pipe, the next event that fits brings the note first.
    rep.flush();
    rep.emit(note_event{"last", "done"});
    rep.flush();
    std::fclose(out);
    reader.join();
    std::fclose(in);
    EXPECT_NE(all.find(R"("code":"log_dropped")"), std::string::npos);
    const auto note = all.find(R"("code":"log_dropped")");
    const auto last = all.find(R"({"event":"note","code":"last","message":"done"})");
    ASSERT_NE(note, std::string::npos) << all.substr(all.size() > 300 ? all.size() - 300 : 0);
    ASSERT_NE(last, std::string::npos);
    EXPECT_LT(note, last);
    // Every drop is told, in one note or several: their numbers add up to the count.
    std::uint64_t told = 0;
    const std::regex said(R"re("message":"(\d+) log lines? dropped: the output could not keep up")re");
    for (auto it = std::sregex_iterator(all.begin(), all.end(), said); it != std::sregex_iterator(); ++it)
      told += std::stoull((*it)[1].str());
    EXPECT_EQ(told, rep.dropped());
  }  // `out` is closed and nothing is pending: the reporter's destructor writes nothing
}

}  // namespace
}  // namespace portdemo

// ---- demo-client's room for held connections ----------------------------------------------------

namespace portdemo {
namespace {

TEST(HeldConnections, MoreThanTheEphemeralRangeHoldsIsRefusedWithTheCountThatFits) {
  const port_range range{60000, 60999};
  EXPECT_EQ(held_ports_problem(1000, range, 0), std::nullopt);
  EXPECT_EQ(held_ports_problem(1001, range, 0),
            "--count: 1001 connections held open at once need 1001 ephemeral ports, but this host's range "
            "60000-60999 has 1000; give --count 1000 or less");
  EXPECT_EQ(held_ports_problem(1001, range, 4000), std::nullopt);   // --source-port: no ephemeral ports
  EXPECT_EQ(held_ports_problem(1001, std::nullopt, 0), std::nullopt);  // range unknown: the kernel says
}

TEST(HeldConnections, MoreThanTheHardOpenFileLimitIsRefused) {
  EXPECT_EQ(held_descriptors_problem(100, 132), std::nullopt);
  EXPECT_EQ(held_descriptors_problem(101, 132),
            "--count: 101 connections held open at once need 133 file descriptors; this process may have 132 "
            "(ulimit -Hn); give --count 100 or less");
  EXPECT_EQ(held_descriptors_problem(5, 20),
            "--count: 5 connections held open at once need 37 file descriptors; this process may have 20 "
            "(ulimit -Hn); raise the limit first: ulimit -n 1024");
}

TEST(HeldConnections, UdpHasNothingToHoldOrVerify) {
  EXPECT_EQ(udp_options_problem(false, true, true), std::nullopt);
  EXPECT_EQ(udp_options_problem(true, false, false), std::nullopt);
  EXPECT_EQ(udp_options_problem(true, true, false), "--udp: UDP has no connections to hold open; leave out --hold");
  EXPECT_EQ(udp_options_problem(true, true, true), "--udp: UDP has no connections to verify; leave out --verify");
}

}  // namespace
}  // namespace portdemo
