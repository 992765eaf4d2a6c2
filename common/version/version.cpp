#include "portdemo/version.hpp"

#include <asio/version.hpp>
#include <fmt/core.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>

// PORTDEMO_VERSION and PORTDEMO_COMMIT come from CMakeLists.txt in this folder, as compile
// definitions of this file only.

namespace portdemo {

std::string_view project_version() noexcept { return PORTDEMO_VERSION; }

std::string_view build_commit() noexcept { return PORTDEMO_COMMIT; }

std::string version_text(std::string_view program) {
  std::string out = fmt::format("{} {} (commit {})\n", program, project_version(), build_commit());
  // The macros of the headers compiled in: Asio is header-only, so this is all of it; fmt and
  // OpenSSL are shared libraries, whose headers name the version the programs were built for.
  // ASIO_VERSION is major * 100000 + minor * 100 + patch, FMT_VERSION major * 10000 + minor * 100
  // + patch.
  out += fmt::format("Asio {}.{}.{}\n", ASIO_VERSION / 100000, ASIO_VERSION / 100 % 1000, ASIO_VERSION % 100);
  out += fmt::format("fmt {}.{}.{}\n", FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100);
  out += fmt::format("OpenSSL {}", OPENSSL_VERSION_STR);
  // libssl3 is upgraded on its own (security updates), so the library running can be newer than
  // the headers built against: say so, since that is the one a sysadmin has to know.
  std::string_view running = OpenSSL_version(OPENSSL_VERSION_STRING);
  if (running != OPENSSL_VERSION_STR) out += fmt::format(" (running with {})", running);
  return out;
}

}  // namespace portdemo
