#include "server.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <exception>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "listener.hpp"
#include "portdemo/asio_adapter.hpp"
#include "portdemo/deadline.hpp"
#include "portdemo/protocol.hpp"
#include "portdemo/services.hpp"

namespace portdemo::server {

namespace {

using asio::ip::tcp;
using namespace std::chrono_literals;

// How long a client may stay silent before it gets the text report: nc and telnet send nothing.
// Kept under the 300 ms the lecture promises, with room for the write.
constexpr auto first_bytes_wait = 200ms;
// After our answer, how long we wait for the client to close its end before closing ours.
constexpr auto drain_wait = 1s;
constexpr auto write_wait = 5s;

// Reports a coroutine that ended with an exception instead of letting it vanish.
void report_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "demo-server: internal error: %s\n", ex.what());
  }
}

bool is_loopback(const asio::ip::address& a) { return a.is_loopback(); }

}  // namespace

server::server(asio::io_context& io, reporter& out, options opts)
    : io_(io), out_(out), opts_(std::move(opts)), signals_(io, SIGINT, SIGTERM) {}

int server::start() {
  const host_facts& facts = out_.facts();
  out_.emit(host_facts_event{role::server, facts});

  const bool defaults = opts_.bind_addresses.empty();
  std::vector<asio::ip::address> addresses;
  if (defaults) {
    addresses = {asio::ip::make_address("127.0.0.1"), asio::ip::make_address("::1")};
  } else {
    for (const auto& a : opts_.bind_addresses) addresses.push_back(asio::ip::make_address(a));
  }

  int listening = 0;
  int failed = 0;
  int first_failure_code = 0;
  bool v6_missing = false;
  std::vector<std::uint16_t> ready_ports;

  for (std::uint16_t port : opts_.ports) {
    // Port 0 asks the kernel for a free port; the other addresses then try that same port, so
    // that one number reaches the server on both families.
    std::uint16_t chosen = 0;
    for (const auto& address : addresses) {
      if (defaults && address.is_v6() && v6_missing) continue;
      std::uint16_t try_port = port == 0 ? chosen : port;
      auto result = open_listener(io_, tcp::endpoint(address, try_port));
      if (port == 0 && try_port != 0 && std::holds_alternative<failure>(result) &&
          std::get<failure>(result).error == "EADDRINUSE") {
        result = open_listener(io_, tcp::endpoint(address, 0));
      }
      if (auto* f = std::get_if<failure>(&result)) {
        if (defaults && address.is_v6() && (f->error == "EADDRNOTAVAIL" || f->error == "EAFNOSUPPORT")) {
          v6_missing = true;
          out_.emit(note_event{"ipv6_unavailable",
                               fmt::format("the IPv6 loopback address ::1 is not available on this "
                                           "host ({}); serving IPv4 only",
                                           f->error)});
          continue;
        }
        ++failed;
        if (first_failure_code == 0) first_failure_code = exit_code_for(f->error);
        out_.emit(bind_failed_event{*f, explain(*f, facts)});
        continue;
      }
      auto acceptor = std::make_unique<tcp::acceptor>(std::move(std::get<tcp::acceptor>(result)));
      // The kernel's answer, not the number we asked for: with port 0 they differ.
      endpoint local = to_endpoint(acceptor->local_endpoint());
      if (chosen == 0) chosen = local.port;
      out_.emit(listening_event{local, port, describe_port(local.port),
                                bind_allowed_because(facts, local.port)});
      ++listening;
      if (std::find(ready_ports.begin(), ready_ports.end(), local.port) == ready_ports.end())
        ready_ports.push_back(local.port);
      per_port_.try_emplace(local.port, 0);
      acceptors_.push_back(std::move(acceptor));
    }
  }

  if (std::any_of(acceptors_.begin(), acceptors_.end(),
                  [](const auto& a) { return !is_loopback(a->local_endpoint().address()); })) {
    out_.emit(note_event{"reachable_from_network",
                         "listening beyond loopback: other machines on the network can now "
                         "connect to these ports"});
  }
  if (opts_.strict && failed > 0) {
    out_.emit(note_event{"strict", fmt::format("--strict: {} of {} sockets failed, so none will serve",
                                               failed, failed + listening)});
    acceptors_.clear();
    out_.emit(ready_event{0, failed, {}});
    return first_failure_code;
  }
  out_.emit(ready_event{listening, failed, ready_ports});
  if (listening == 0) return first_failure_code ? first_failure_code : exit_code::software;

  for (auto& acceptor : acceptors_) {
    asio::co_spawn(io_, accept_loop(*acceptor), report_exception);
  }
  signals_.async_wait([this](const std::error_code& ec, int) {
    if (!ec) stop();
  });
  return -1;
}

void server::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& acceptor : acceptors_) {
    std::error_code ignored;
    acceptor->close(ignored);
  }
  server_summary_event summary;
  for (const auto& [port, n] : per_port_) {
    summary.per_port.push_back({port, n});
    summary.connections += n;
  }
  summary.distinct_client_ports = distinct_client_ports_;
  for (std::size_t p = 0; p < client_port_seen_.size(); ++p) {
    if (!client_port_seen_[p]) continue;
    if (!summary.lowest_client_port) summary.lowest_client_port = static_cast<std::uint16_t>(p);
    summary.highest_client_port = static_cast<std::uint16_t>(p);
  }
  out_.emit(summary);
  io_.stop();
}

void server::count(const socket_tuple& tuple) {
  ++per_port_[tuple.local.port];
  if (!client_port_seen_[tuple.remote.port]) {
    client_port_seen_[tuple.remote.port] = true;
    ++distinct_client_ports_;
  }
}

asio::awaitable<void> server::accept_loop(tcp::acceptor& acceptor) {
  const endpoint listening_on = to_endpoint(acceptor.local_endpoint());
  std::uint64_t failures = 0;  // accept errors in the current episode; reported once each way
  for (;;) {
    std::error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      if (failures++ == 0) {
        failure f = make_failure(step::accept, ec, listening_on);
        out_.emit(accept_failed_event{f, explain(f, out_.facts())});
      }
      // Out of descriptors or memory: the pending connection stays queued, so accepting again
      // at once would spin. Pause, then resume (the Asio examples stop or spin here).
      if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
          ec == asio::error::no_memory || ec.value() == ENFILE) {
        asio::steady_timer pause(acceptor.get_executor(), 100ms);
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      continue;  // ECONNABORTED and the like concern one client only
    }
    if (failures > 0) {
      out_.emit(accept_resumed_event{listening_on, failures});
      failures = 0;
    }
    // The four facts, from the kernel: getsockname and getpeername on the accepted socket.
    std::error_code local_ec;
    std::error_code remote_ec;
    tcp::endpoint local = socket.local_endpoint(local_ec);
    tcp::endpoint remote = socket.remote_endpoint(remote_ec);
    if (local_ec || remote_ec) continue;  // the client is already gone (reset before we looked)
    socket_tuple tuple{to_endpoint(local), to_endpoint(remote)};
    std::uint64_t id = next_id_++;
    count(tuple);
    std::optional<bool> in_range;
    if (out_.facts().ephemeral) in_range = out_.facts().ephemeral->contains(tuple.remote.port);
    out_.emit(accepted_event{id, tuple, in_range});
    asio::co_spawn(acceptor.get_executor(), session(std::move(socket), id, tuple), report_exception);
  }
}

asio::awaitable<void> server::session(tcp::socket socket, std::uint64_t id, socket_tuple tuple) {
  // Wait briefly for the client's first line: demo-client says hello and gets JSON at once;
  // anything else, or silence, gets the text report.
  std::array<char, 512> buffer{};
  std::size_t received = 0;
  const auto deadline = clock::now() + first_bytes_wait;
  std::error_code ec;
  while (received < buffer.size()) {
    std::size_t n = co_await read_some_until(
        socket, asio::buffer(buffer.data() + received, buffer.size() - received), deadline, ec);
    received += n;
    if (ec) break;
    std::string_view got(buffer.data(), received);
    if (got.find('\n') != std::string_view::npos || !could_be_hello(got)) break;
  }
  std::string_view got(buffer.data(), received);
  server_view view{id, tuple};
  const bool hello = got == client_hello;
  std::string answer = hello ? render_server_view(view) : render_raw_client_report(view, out_.facts());
  if (ec && ec != asio::error::timed_out && ec != asio::error::eof) co_return;  // reset: nothing to tell
  out_.emit(answered_event{id, hello, received, std::string(got)});

  co_await write_until(socket, asio::buffer(answer), clock::now() + write_wait, ec);
  if (ec) co_return;
  // Close our sending side first (FIN), then wait for the client's FIN before closing, so that
  // unread bytes from the client never turn our close into a reset.
  socket.shutdown(tcp::socket::shutdown_send, ec);
  const auto drain_deadline = clock::now() + drain_wait;
  while (!ec) {
    co_await read_some_until(socket, asio::buffer(buffer), drain_deadline, ec);
  }
  socket.close(ec);
}

}  // namespace portdemo::server
