#pragma once
// demo-client --http3: HTTP/3 over QUIC (ngtcp2 0.12 with GnuTLS, nghttp3 0.8) on one UDP
// socket of this end, GET /json on streams 0, 4, 8, ..., and with --rebind a move to a new UDP
// socket (a new ephemeral port) in the middle of the connection. The words are http3_words.hpp's
// and render.cpp's; the libraries stay inside http3.cpp.

#include <optional>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "client.hpp"

namespace portdemo::client {

/// --cacert FILE: the reason for stderr (exit 64) when FILE cannot be read or holds no PEM
/// certificate; nullopt when GnuTLS can take it as trust anchors.
std::optional<std::string> cacert_problem(const std::string& path);

/// Runs --http3 against the resolved addresses, each in turn until one answers in QUIC; the
/// result is the process exit code. The host facts and the resolution are already reported.
asio::awaitable<int> run_http3(reporter& out, const options& opts,
                               const std::vector<asio::ip::tcp::endpoint>& endpoints);

}  // namespace portdemo::client
