#pragma once
// What --version says: this project's version and commit, and the versions of the libraries
// built in. A function in a library of its own, not a constant in cli.hpp, so that a new commit
// recompiles one small file and relinks the programs instead of recompiling both main.cpp files.

#include <string>
#include <string_view>

namespace portdemo {

/// The project's version, from project() in the top CMakeLists.txt, e.g. "0.2.0".
std::string_view project_version() noexcept;

/// The commit built: `git describe --always --dirty` when CMake last configured (it configures
/// again after every commit), or "unknown" outside a git checkout, e.g. an unpacked tarball.
std::string_view build_commit() noexcept;

/// The --version text, without a final newline: "demo-server 0.2.0 (commit abc1234)", then one
/// line each for Asio, fmt and OpenSSL as built in ("OpenSSL 3.0.17"; when the libcrypto loaded
/// at run time is another version, "OpenSSL 3.0.17 (running with 3.0.18)").
std::string version_text(std::string_view program);

}  // namespace portdemo
