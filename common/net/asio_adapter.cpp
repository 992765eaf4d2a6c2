#include "portdemo/asio_adapter.hpp"

#include <asio/error.hpp>

namespace portdemo {

endpoint to_endpoint(const asio::ip::tcp::endpoint& ep) {
  endpoint out;
  if (ep.address().is_v6()) {
    // Drop any scope id suffix ("fe80::1%eth0" keeps it: it is part of the address there).
    out.address = ep.address().to_v6().to_string();
  } else {
    // Dotted quad written here: Asio's to_string goes through inet_ntop, which glibc writes with
    // sprintf, for every connection's two ends.
    const asio::ip::address_v4::bytes_type b = ep.address().to_v4().to_bytes();
    char text[16];
    char* p = text;
    for (std::size_t i = 0; i < b.size(); ++i) {
      if (i > 0) *p++ = '.';
      const unsigned v = b[i];
      if (v >= 100) *p++ = static_cast<char>('0' + v / 100);
      if (v >= 10) *p++ = static_cast<char>('0' + v / 10 % 10);
      *p++ = static_cast<char>('0' + v % 10);
    }
    out.address.assign(text, static_cast<std::size_t>(p - text));
  }
  out.port = ep.port();
  return out;
}

endpoint to_endpoint(const asio::ip::udp::endpoint& ep) {
  return to_endpoint(asio::ip::tcp::endpoint(ep.address(), ep.port()));
}

std::string error_name(const std::error_code& ec) {
  const auto& cat = ec.category();
  // Asio 1.22 has its own "asio.system" category, distinct from std::system_category(); its
  // values are errno values all the same.
  if (cat == asio::error::get_system_category() || cat == std::system_category() ||
      cat == std::generic_category())
    return errno_name(ec.value());
  // Asio turns getaddrinfo's EAI_* codes into these two categories (socket_ops.ipp,
  // translate_addrinfo_error); name them back as the resolver did.
  if (cat == asio::error::get_netdb_category()) {
    if (ec == asio::error::host_not_found) return "EAI_NONAME";
    if (ec == asio::error::host_not_found_try_again) return "EAI_AGAIN";
    if (ec == asio::error::no_data) return "EAI_NODATA";
    if (ec == asio::error::no_recovery) return "EAI_FAIL";
  }
  if (cat == asio::error::get_addrinfo_category()) {
    if (ec == asio::error::service_not_found) return "EAI_SERVICE";
    if (ec == asio::error::socket_type_not_supported) return "EAI_SOCKTYPE";
  }
  if (cat == asio::error::get_misc_category()) {
    if (ec == asio::error::eof) return "EOF";
  }
  return "E" + std::to_string(ec.value());
}

failure make_failure(step where, const std::error_code& ec, std::optional<endpoint> ep) {
  failure f;
  f.where = where;
  f.error = error_name(ec);
  f.system_message = ec.message();
  f.ep = std::move(ep);
  return f;
}

}  // namespace portdemo
