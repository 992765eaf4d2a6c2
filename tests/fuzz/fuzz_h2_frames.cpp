// Fuzz target: what an HTTP/2 client sends after its preface, through libnghttp2's public entry
// point (nghttp2_session_mem_recv, inside h2_connection::receive), cut into the pieces a socket
// might deliver. Every request handed out is answered (a page, HEAD, an event stream fed and
// ended), and the output drained after each piece, as the server does. Promises kept: a request
// has a stream id, odd and positive; the counts stay consistent (incomplete <= open <= the
// streams limit + the ones being closed); once receive() says false it stays false and an error
// is named; output never grows without bound.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "portdemo/h2.hpp"
#include "portdemo/web.hpp"

namespace {

using portdemo::fuzz::check;

void answer(portdemo::h2_connection& h2, const portdemo::h2_request& r, std::uint8_t control) {
  check(r.stream > 0 && r.stream % 2 == 1, "a client's stream id is odd and positive");
  portdemo::http_response response;
  if (r.error) response.status = static_cast<int>(*r.error);
  response.body = r.head.target;  // any bytes: the body is framed, never parsed
  if ((control & 0x40U) != 0 && !r.error) {
    h2.open(r.stream, response);
    h2.send(r.stream, "data: x\n\n");
    if ((control & 0x20U) != 0) h2.end(r.stream);
    return;
  }
  h2.respond(r.stream, response, r.head.method == "HEAD");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const portdemo::fuzz::cut_input input(data, size);
  portdemo::h2_limits limits;
  limits.head.header_bytes = 256 + (input.control() & 0x7U) * 512U;
  limits.max_streams = 4;
  portdemo::h2_connection h2(limits);
  bool ok = h2.receive(portdemo::h2_preface);
  check(ok, "the preface alone is accepted");
  std::size_t written = 0;
  for (std::string_view piece : input.pieces()) {
    const bool now = h2.receive(piece);
    if (!ok) check(!now, "a failed connection stays failed");
    ok = ok && now;
    if (!ok) check(!h2.error().empty(), "a failure is named");
    for (const portdemo::h2_request& r : h2.take_requests()) answer(h2, r, input.control());
    check(h2.incomplete_streams() <= h2.open_streams(), "incomplete streams are open streams");
    for (int rounds = 0; rounds < 64; ++rounds) {
      const std::string_view out = h2.output();
      if (out.empty()) break;
      check(out.size() <= 80 * 1024, "output comes in bounded pieces");
      written += out.size();
    }
  }
  if ((input.control() & 0x80U) != 0) {
    h2.goaway();
    while (!h2.output().empty()) {
    }
  }
  (void)written;
  return 0;
}
