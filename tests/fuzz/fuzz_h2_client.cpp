// Fuzz target: what a server sends to demo-client --http2, through libnghttp2's public entry
// point on the client side (nghttp2_session_mem_recv, inside h2_client::receive), cut into the
// pieces a socket might deliver. The client has asked 1-8 GETs (the control byte's bits 3-5)
// and drains its output after each piece, as client/http2.cpp does. Promises kept: an answer is
// for a stream the client opened, once; answers never outnumber requests; a body stays within
// the 1 MiB the client keeps; once the client has named an error it keeps it; output comes in
// bounded pieces.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "portdemo/h2.hpp"

using portdemo::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const portdemo::fuzz::cut_input input(data, size);
  portdemo::h2_client client((input.control() & 0x80U) != 0);
  const std::size_t requests = 1 + ((input.control() >> 3U) & 0x7U);
  std::set<std::int32_t> opened;
  for (std::size_t i = 0; i < requests; ++i) {
    const std::int32_t stream = client.get("127.0.0.1:8080", "/json");
    check(stream > 0 && stream % 2 == 1, "a client's stream id is odd and positive");
    opened.insert(stream);
  }
  (void)client.output();
  std::string error;
  for (std::string_view piece : input.pieces()) {
    if (!client.receive(piece)) check(!client.error().empty(), "a refusal is named");
    for (int rounds = 0; rounds < 64; ++rounds) {
      const std::string_view out = client.output();
      if (out.empty()) break;
      check(out.size() <= 80 * 1024, "output comes in bounded pieces");
    }
    if (!error.empty()) check(client.error() == error, "an error once named stays");
    error = client.error();
    check(client.answers().size() <= requests, "no more answers than requests");
  }
  std::set<std::int32_t> answered;
  for (const portdemo::h2_answer& a : client.answers()) {
    check(opened.count(a.stream) == 1, "an answer is for a stream the client opened");
    check(answered.insert(a.stream).second, "one answer per stream");
    check(a.body.size() <= 1024 * 1024 + 64 * 1024, "a body stays near the 1 MiB kept");
    check(a.reset || a.status == 0 || (a.status >= 100 && a.status <= 999), "a status has three digits");
  }
  client.finish();
  (void)client.output();
  return 0;
}
