#include "http2.hpp"

#include <array>
#include <chrono>
#include <string>

#include <fmt/format.h>

#include "portdemo/deadline.hpp"
#include "portdemo/h2.hpp"
#include "portdemo/json.hpp"
#include "portdemo/protocol.hpp"
#include "portdemo/text.hpp"

namespace portdemo::client {

namespace {

// A whole number member of a JSON object, if it is one.
std::optional<std::uint64_t> whole(const json_value& doc, std::string_view name) {
  const json_value* v = doc.find(name);
  if (!v || !v->as_number() || *v->as_number() < 0 || *v->as_number() > 9007199254740992.0) return std::nullopt;
  return static_cast<std::uint64_t>(*v->as_number());
}

}  // namespace

asio::awaitable<http2_exchanged_event> ask_over_http2(asio::ip::tcp::socket& socket, const options& opts,
                                                      connected_event& ev) {
  http2_exchanged_event out;
  out.id = ev.id;
  out.tuple = ev.tuple;
  const auto deadline = clock::now() + opts.timeout;
  const std::string authority = ev.tuple.remote.is_v6()
                                    ? fmt::format("[{}]:{}", ev.tuple.remote.address, ev.tuple.remote.port)
                                    : fmt::format("{}:{}", ev.tuple.remote.address, ev.tuple.remote.port);
  h2_client h2;
  for (std::uint64_t i = 0; i < opts.requests; ++i) h2.get(authority, "/json");
  std::array<char, 16384> buffer{};
  std::error_code ec;
  while (h2.answers().size() < opts.requests) {
    const std::string_view bytes = h2.output();
    if (!bytes.empty()) {
      co_await write_until(socket, asio::buffer(bytes), deadline, ec);
      if (ec) break;
      continue;
    }
    const std::size_t n = co_await read_some_until(socket, asio::buffer(buffer), deadline, ec);
    if (ec) break;
    if (!h2.receive(std::string_view(buffer.data(), n))) break;
    // The library answers bytes that are not HTTP/2 with a GOAWAY of its own: send it, stop.
    if (!h2.error().empty()) {
      const std::string_view last = h2.output();
      std::error_code ignored;
      if (!last.empty()) co_await write_until(socket, asio::buffer(last), deadline, ignored);
      break;
    }
  }
  h2.finish();
  if (const std::string_view bytes = h2.output(); !bytes.empty() && !ec) {
    std::error_code ignored;
    co_await write_until(socket, asio::buffer(bytes), deadline, ignored);
  }
  for (const h2_answer& a : h2.answers()) {
    http2_answer_seen seen;
    seen.stream = a.stream;
    seen.status = a.status;
    const std::string_view line = std::string_view(a.body).substr(0, a.body.find('\n'));
    if (auto view = parse_server_view(line)) {
      seen.server_view = view->tuple;
      seen.server_id = view->id;
      if (auto doc = parse_json(line)) {
        seen.server_request = whole(*doc, "request").value_or(0);
        seen.server_stream = static_cast<std::int64_t>(whole(*doc, "stream").value_or(0));
      }
    }
    out.answers.push_back(std::move(seen));
  }
  if (!out.answers.empty() && out.answers.front().server_view) {
    ev.server_view = out.answers.front().server_view;
    ev.server_id = out.answers.front().server_id;
  }
  if (out.answers.size() < opts.requests) {
    if (!h2.error().empty()) {
      out.problem = fmt::format("the answer was not HTTP/2 ({}): whatever listens there does not speak HTTP/2 by "
                                "prior knowledge (h2c); a TLS port needs https",
                                h2.error());
    } else if (ec == asio::error::timed_out) {
      out.problem = fmt::format("{} of {} answers within {:.3g} s", out.answers.size(), opts.requests,
                                std::chrono::duration<double>(opts.timeout).count());
    } else if (ec) {
      out.problem = fmt::format("the connection ended after {} of {} answers: {}", out.answers.size(), opts.requests,
                                ec.message());
    }
  } else if (!ev.server_view) {
    out.problem = fmt::format("the server answered over HTTP/2, but not as demo-server does (status {})",
                              out.answers.empty() ? 0 : out.answers.front().status);
  }
  if (!out.problem.empty() && !ev.server_view) ev.server_view_problem = out.problem;
  co_return out;
}

}  // namespace portdemo::client
