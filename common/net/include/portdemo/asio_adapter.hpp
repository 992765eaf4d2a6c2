#pragma once
// The one adapter between Asio and our own types: endpoints and errors.

#include <optional>
#include <string>
#include <system_error>

#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>

#include "portdemo/endpoint.hpp"
#include "portdemo/failure.hpp"

namespace portdemo {

/// Our endpoint from an Asio endpoint (the kernel's answer to getsockname/getpeername).
/// IPv6 addresses lose their brackets; a v4-mapped address stays as the kernel gave it.
endpoint to_endpoint(const asio::ip::tcp::endpoint& ep);

/// The same for a UDP endpoint.
endpoint to_endpoint(const asio::ip::udp::endpoint& ep);

/// The symbolic name of an Asio error: "EACCES", "EAI_NONAME", "EAI_SERVICE", "EOF", ...
std::string error_name(const std::error_code& ec);

/// A failure from a step, an error and the endpoint it concerned.
failure make_failure(step where, const std::error_code& ec, std::optional<endpoint> ep = std::nullopt);

}  // namespace portdemo
