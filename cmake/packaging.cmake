# CPack: `cpack -G DEB` in a build directory makes portdemo_VERSION-1_ARCH.deb from the install
# rules (programs, man pages, completions, example units). Debian's runtime packages are named
# as dependencies by dpkg-shlibdeps, which reads the libraries the programs link (libc6, libfmt9,
# libqrencode4, libssl3, libstdc++6, libgcc-s1) with the versions they need.

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME portdemo)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "portdemo")
set(CPACK_PACKAGE_CONTACT "portdemo maintainers <maintainers@users.noreply.r-seed-2e88a1ae.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "see how TCP ports work: a server and a client for a lecture")
# One string (set() with several would make a list, joined by ';'), and no ';' in it for the same
# reason. Lines are wrapped here; dpkg-deb shows them as they are.
string(CONCAT CPACK_PACKAGE_DESCRIPTION
  "demo-server listens on fixed ports, and demo-client (or nc, telnet, a browser) connects.\n"
  "Both ends print the four facts of every connection as the kernel holds them: local address\n"
  "and port, remote address and port. The server's port is fixed, the client's is ephemeral,\n"
  "chosen by the kernel from this host's ip_local_port_range. Every failure (a privileged\n"
  "port, a port in use, nothing listening, a name that does not resolve) is explained in terms\n"
  "of ports. Text for people, JSON lines for scripts, HTTP and HTTPS for browsers, and UDP.")
set(CPACK_STRIP_FILES ON)  # RelWithDebInfo builds carry their debug information; users need none

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # portdemo_0.2.0-1_amd64.deb, installing under /usr (the default)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "bash-completion, man-db")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
find_program(DPKG_SHLIBDEPS_EXECUTABLE dpkg-shlibdeps)
if(DPKG_SHLIBDEPS_EXECUTABLE)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  # Without dpkg-dev: what dpkg-shlibdeps finds on Debian 12 for these programs.
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6 (>= 2.34), libfmt9 (>= 9.1.0), libgcc-s1 (>= 3.0), libqrencode4 (>= 3.2.0), libssl3 (>= 3.0.0), libstdc++6 (>= 12)")
endif()

# `cpack --config CPackSourceConfig.cmake`: a source tarball, which builds with the commit
# "unknown" (no .git inside).
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_PACKAGE_FILE_NAME portdemo-${PROJECT_VERSION})
# Full paths are matched: anchor at the source directory, which may itself lie under a "build".
set(CPACK_SOURCE_IGNORE_FILES "^${PROJECT_SOURCE_DIR}/\\\\.git" "^${PROJECT_SOURCE_DIR}/build/" "/__pycache__/")

include(CPack)
