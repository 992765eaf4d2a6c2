#include "http2.hpp"

#include <array>
#include <chrono>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "portdemo/deadline.hpp"
#include "portdemo/h2.hpp"
#include "portdemo/json.hpp"
#include "portdemo/protocol.hpp"
#include "portdemo/text.hpp"
#include "tls_client.hpp"

namespace portdemo::client {

namespace {

// A whole number member of a JSON object, if it is one.
std::optional<std::uint64_t> whole(const json_value& doc, std::string_view name) {
  const json_value* v = doc.find(name);
  if (!v || !v->as_number() || *v->as_number() < 0 || *v->as_number() > 9007199254740992.0) return std::nullopt;
  return static_cast<std::uint64_t>(*v->as_number());
}

// The bytes between h2_client and the socket: as they are (h2c), or through TLS (--tls).
class byte_pipe {
 public:
  byte_pipe(asio::ip::tcp::socket& socket, tls_client* tls, clock::time_point deadline)
      : socket_(socket), tls_(tls), deadline_(deadline) {}

  asio::awaitable<void> send(std::string_view plain, std::error_code& ec) {
    std::string sealed;
    if (tls_) {
      tls_->send(plain);
      sealed = tls_->take_output();
      plain = sealed;
    }
    if (!plain.empty()) co_await write_until(socket_, asio::buffer(plain), deadline_, ec);
  }

  /// What came from the server, as plaintext; empty with `ec` at the end or a timeout (and
  /// empty without `ec` while TLS holds only part of a record).
  asio::awaitable<std::string> receive(std::error_code& ec) {
    const std::size_t n = co_await read_some_until(socket_, asio::buffer(buffer_), deadline_, ec);
    if (ec) co_return std::string();
    if (!tls_) co_return std::string(buffer_.data(), n);
    tls_->receive(std::string_view(buffer_.data(), n));
    std::string plain = tls_->read();
    // TLS answers of its own (a key update, close_notify): out at once.
    if (std::string own = tls_->take_output(); !own.empty()) {
      std::error_code ignored;
      co_await write_until(socket_, asio::buffer(own), deadline_, ignored);
    }
    if (plain.empty() && tls_->closed()) ec = asio::error::eof;
    co_return plain;
  }

  /// The TLS handshake, to its end; false if it failed (the tls_client says why) or the socket
  /// did (`ec`).
  asio::awaitable<bool> handshake(std::error_code& ec) {
    while (!tls_->handshake()) {
      if (std::string out = tls_->take_output(); !out.empty()) {
        co_await write_until(socket_, asio::buffer(out), deadline_, ec);
        if (ec) co_return false;
      }
      const std::size_t n = co_await read_some_until(socket_, asio::buffer(buffer_), deadline_, ec);
      if (ec) co_return false;
      tls_->receive(std::string_view(buffer_.data(), n));
    }
    // The last flight, or the alert that ends a failed handshake.
    if (std::string out = tls_->take_output(); !out.empty()) {
      std::error_code ignored;
      co_await write_until(socket_, asio::buffer(out), deadline_, ignored);
    }
    co_return tls_->established();
  }

 private:
  asio::ip::tcp::socket& socket_;
  tls_client* tls_;
  clock::time_point deadline_;
  std::array<char, 16384> buffer_{};
};

// --tls: why TLS did not carry HTTP/2, as an event; nullopt when it did.
std::optional<http2_failed_event> tls_outcome(const tls_client& tls, const options& opts, const connected_event& ev,
                                              const std::error_code& ec) {
  const endpoint& server = ev.tuple.remote;
  http2_failed_event f{"", ev.tuple, "", {}, exit_code::unavailable};
  if (tls.established()) {
    if (tls.alpn() == "h2") return std::nullopt;
    f.code = "alpn";
    f.detail = tls.alpn().empty() ? "the server chose no protocol in ALPN" : "the server chose " + tls.alpn();
    f.why = explain_no_h2(server, tls.alpn());
  } else if (const auto& c = tls.certificate_failure()) {
    f.code = "certificate";
    f.detail = c->library_text;
    f.why = explain_certificate(*c, opts.host, opts.port, tls_use::http2_tls);
    f.exit_code = exit_code::no_perm;
  } else if (ec == asio::error::timed_out) {
    f.code = "timeout";
    f.detail = fmt::format("no TLS answer within {:g} s", std::chrono::duration<double>(opts.timeout).count());
    f.why = explain_tls_silent(server, opts.timeout);
    f.exit_code = exit_code::temp_fail;
  } else if (ec == asio::error::eof || ec == asio::error::connection_reset) {
    f.code = "closed";
    const char* how = ec == asio::error::eof ? "FIN" : "RST";
    f.detail = fmt::format("the server closed the connection during the handshake ({})", how);
    f.why = explain_tls_closed(server, how);
  } else if (ec) {
    f.code = "tls";
    f.detail = fmt::format("the connection failed during the handshake: {}", ec.message());
    f.why = explain_tls_on_tcp(server, f.detail, -1, false);
  } else {
    f.code = tls.not_tls() ? "not_tls" : "tls";
    f.detail = tls.library_text();
    f.why = explain_tls_on_tcp(server, tls.library_text(), tls.alert(), tls.not_tls());
  }
  return f;
}

}  // namespace

asio::awaitable<http2_outcome> ask_over_http2(asio::ip::tcp::socket& socket, const options& opts,
                                              connected_event& ev) {
  http2_outcome result;
  http2_exchanged_event out;
  out.id = ev.id;
  out.tuple = ev.tuple;
  const auto deadline = clock::now() + opts.timeout;
  std::error_code ec;
  std::optional<tls_client> tls;
  if (opts.tls) {
    tls.emplace(tls_settings{opts.host, opts.cacert, opts.insecure});
    if (!tls->setup_error().empty()) {
      ev.server_view_problem = tls->setup_error();
      result.failed = http2_failed_event{"tls", ev.tuple, tls->setup_error(),
                                         explain_tls_on_tcp(ev.tuple.remote, tls->setup_error(), -1, false),
                                         exit_code::software};
      co_return result;
    }
  }
  byte_pipe pipe(socket, tls ? &*tls : nullptr, deadline);
  if (tls) {
    co_await pipe.handshake(ec);
    if (auto failed = tls_outcome(*tls, opts, ev, ec)) {
      ev.server_view_problem = "TLS: " + failed->detail;
      result.failed = std::move(failed);
      co_return result;
    }
    out.tls = http2_tls_facts{tls->version(), tls->cipher(), tls->alpn(), tls->verification()};
  }
  // The host as the URL names it (a TLS server's certificate and virtual host go by it), or the
  // address dialled for h2c.
  const std::string authority = to_string(opts.tls ? endpoint{opts.host, opts.port} : ev.tuple.remote);
  h2_client h2(tls.has_value());
  for (std::uint64_t i = 0; i < opts.requests; ++i) h2.get(authority, "/json");
  // Plaintext that came with the handshake's last flight (the server's SETTINGS).
  if (tls) h2.receive(tls->read());
  while (h2.answers().size() < opts.requests) {
    const std::string_view bytes = h2.output();
    if (!bytes.empty()) {
      co_await pipe.send(bytes, ec);
      if (ec) break;
      continue;
    }
    const std::string plain = co_await pipe.receive(ec);
    if (ec) break;
    if (!h2.receive(plain)) break;
    // The library answers bytes that are not HTTP/2 with a GOAWAY of its own: send it, stop.
    if (!h2.error().empty()) {
      const std::string_view last = h2.output();
      std::error_code ignored;
      if (!last.empty()) co_await pipe.send(last, ignored);
      break;
    }
  }
  h2.finish();
  if (const std::string_view bytes = h2.output(); !bytes.empty() && !ec) {
    std::error_code ignored;
    co_await pipe.send(bytes, ignored);
  }
  if (tls && !ec) {
    tls->shutdown();
    std::error_code ignored;
    co_await pipe.send({}, ignored);
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
                                "prior knowledge (h2c); a TLS port needs --tls",
                                h2.error());
    } else if (ec == asio::error::timed_out) {
      out.problem = fmt::format("{} of {} answers within {:.3g} s", out.answers.size(), opts.requests,
                                std::chrono::duration<double>(opts.timeout).count());
    } else if (ec) {
      out.problem = fmt::format("the connection ended after {} of {} answers: {}", out.answers.size(), opts.requests,
                                ec.message());
    }
  } else if (!ev.server_view) {
    // What the server said instead, in its words where it sent a line (demo-server's 400 for
    // TLS on a plain port names the URL to use).
    std::string said;
    if (!h2.answers().empty()) {
      const std::string& body = h2.answers().front().body;
      std::string_view line = std::string_view(body).substr(0, body.find('\n'));
      if (line.size() > 200) line = line.substr(0, 200);
      if (!line.empty() && line.front() != '{') said = fmt::format(": \"{}\"", line);
    }
    out.problem = fmt::format("the server answered over HTTP/2, but not as demo-server does (status {}{})",
                              out.answers.empty() ? 0 : out.answers.front().status, said);
  }
  if (!out.problem.empty() && !ev.server_view) ev.server_view_problem = out.problem;
  result.exchanged = std::move(out);
  co_return result;
}

}  // namespace portdemo::client
