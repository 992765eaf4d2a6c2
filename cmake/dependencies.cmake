# Every dependency is a Debian package installed by scripts/install-deps.sh.

find_package(fmt 9 REQUIRED)
find_package(CLI11 2.1 REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)

# libasio-dev ships no CMake config: find the header and wrap it in an INTERFACE target.
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
add_library(portdemo_asio INTERFACE)
add_library(portdemo::asio ALIAS portdemo_asio)
target_include_directories(portdemo_asio SYSTEM INTERFACE ${ASIO_INCLUDE_DIR})
target_compile_definitions(portdemo_asio INTERFACE
  ASIO_STANDALONE          # no Boost
  ASIO_NO_DEPRECATED       # keep to the current API
  ASIO_HAS_CO_AWAIT=1      # clang 14 with libstdc++ does not detect coroutines by itself
  ASIO_HAS_STD_COROUTINE=1)
target_link_libraries(portdemo_asio INTERFACE Threads::Threads)

# libqrencode (libqrencode-dev) ships a pkg-config file, no CMake config.
find_package(PkgConfig REQUIRED)
pkg_check_modules(QRENCODE REQUIRED IMPORTED_TARGET libqrencode)

# HTTP/2 (libnghttp2-dev 1.52) and HTTP/3 over QUIC (libngtcp2-dev and
# libngtcp2-crypto-gnutls-dev 0.12, libnghttp3-dev 0.8, libgnutls28-dev): pkg-config files only.
pkg_check_modules(NGHTTP2 REQUIRED IMPORTED_TARGET libnghttp2>=1.52)
pkg_check_modules(NGTCP2 REQUIRED IMPORTED_TARGET libngtcp2>=0.12 libngtcp2_crypto_gnutls>=0.12)
pkg_check_modules(NGHTTP3 REQUIRED IMPORTED_TARGET libnghttp3>=0.8)
pkg_check_modules(GNUTLS REQUIRED IMPORTED_TARGET gnutls>=3.7)
