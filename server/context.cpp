#include "context.hpp"

#include <fmt/format.h>

namespace portdemo::server {

server_context::server_context(event_sink& sink, const host_facts& facts, const asio::any_io_executor& ex,
                               const server_limits& l)
    : host(facts),
      limits(l),
      executor(ex),
      events(sink),
      deadlines(ex,
                {
                    std::chrono::milliseconds(200),  // first_bytes: under the 300 ms promised
                    l.request_timeout,               // request
                    l.write_timeout,                 // write
                    l.keep_alive_timeout,            // keep_alive
                    std::chrono::seconds(1),         // drain
                    std::chrono::seconds(10),        // handshake
                    std::chrono::hours(1),           // hold
                }),
      table(deadlines) {}

std::string server_context::alt_svc_for(std::uint16_t local_port) const {
  for (std::uint16_t p : quic_ports)
    if (p == local_port) return fmt::format("h3=\":{}\"; ma=3600", p);
  return {};
}

}  // namespace portdemo::server
