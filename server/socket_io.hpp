#pragma once
// The steps a coroutine takes on a connection's socket, each within the armed deadline: wait
// until readable, read what is there into the shared buffer, write everything, and close with a
// FIN after the answer. Shared by the HTTP session, the raw report, TLS and the board stream.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string_view>
#include <system_error>

#include <asio/awaitable.hpp>

#include "connection.hpp"
#include "portdemo/events.hpp"

namespace portdemo::server {

struct server_context;

/// What a wait on the socket came to: the deadline passing shows as timed_out, whatever the
/// cancelled operation said.
std::error_code outcome(const connection& c, std::error_code ec);

/// Waits until the socket is readable (or closed, or reset), within the armed deadline.
asio::awaitable<std::error_code> readable(connection& c);

/// Reads what is there into ctx.scratch, waiting (within the armed deadline) only when nothing
/// is. The caller must use the bytes before its next co_await. 0 bytes and eof: the client
/// closed its end. `wait_first`: the bytes are not expected yet (the next request on a
/// kept-alive connection), so a read before the wait would only cost a system call.
asio::awaitable<std::size_t> receive(connection& c, server_context& ctx, std::error_code& ec,
                                     bool wait_first = false);

/// Writes all of `bytes`: at once when the send buffer has room (the usual case), else waiting
/// for room within --write-timeout.
asio::awaitable<void> send_all(connection& c, server_context& ctx, std::string_view bytes, std::error_code& ec);

/// Hands the connection to a coroutine: adopted by the event loop, serving, not idle, its
/// deadline fresh, its socket non-blocking. False when it could not be adopted (then it is gone).
bool start_serving(connection& c);

/// Marks the connection idle (no answer in flight) for the wait that follows; false when the
/// server is stopping, in which case there is no waiting any more.
bool go_idle(connection& c, const server_context& ctx);

/// Half-closes our side (FIN after the answer) and closes. When the client has sent bytes we did
/// not read, closing at once would turn the FIN into a reset that could destroy the answer in
/// flight: then it waits (briefly) for the client's FIN, reading and dropping what comes.
/// `all_read`: the client's message ended exactly where our reading did, so the close alone is
/// enough.
asio::awaitable<void> finish(connection& c, server_context& ctx, bool all_read = false);

/// One of the server's limits closed the connection: the event.
void log_limit(const connection& c, server_context& ctx, limit_kind kind, std::uint64_t limit,
               std::uint64_t received, bool answered);

/// The completion handler of every connection's coroutine: an exception that ended one is
/// reported on stderr instead of vanishing (its connection has closed with its frame).
void report_coroutine_exception(std::exception_ptr e);

/// Milliseconds, for events.
std::uint64_t ms(clock::duration d);

}  // namespace portdemo::server
