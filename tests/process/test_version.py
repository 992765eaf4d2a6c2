"""--version names the program, the project's version and the commit it was built from, then the
versions of Asio, fmt and OpenSSL built in. The expected library versions come from the Debian
packages that hold the headers (dpkg-query), not from the same macros the programs read, so a
mistake in decoding ASIO_VERSION or FMT_VERSION shows up here."""

import os
import re
import shutil
import subprocess
import unittest

import harness as h

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def cache_value(name):
    """A variable of the build's CMakeCache.txt, or None."""
    build_dir = os.environ.get("PORTDEMO_BUILD_DIR", "")
    try:
        with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
            for line in f:
                key, _, value = line.rstrip("\n").partition("=")
                if key.split(":")[0] == name:
                    return value
    except OSError:
        pass
    return None


def upstream_version(package):
    """The upstream part of an installed Debian package's version ("1:1.22.1-1" -> "1.22.1",
    "9.1.0+ds1-2" -> "9.1.0", "3.0.17-1~deb12u2" -> "3.0.17"), or None."""
    if not shutil.which("dpkg-query"):
        return None
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}|${Version}", package],
                       capture_output=True, text=True)
    status, _, version = r.stdout.partition("|")
    if r.returncode != 0 or not status.endswith("installed"):
        return None
    version = version.split(":", 1)[-1]   # epoch
    version = version.rsplit("-", 1)[0]   # Debian revision
    return re.split(r"[+~]", version)[0]  # repacking (+ds1) and pre-release marks


class Version(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)
        cls.project_version = cache_value("CMAKE_PROJECT_VERSION")
        cls.commit = cache_value("PORTDEMO_COMMIT")
        if not cls.project_version or not cls.commit:
            raise unittest.SkipTest("PORTDEMO_BUILD_DIR must name a configured build (ctest sets it)")
        packages = {"asio": "libasio-dev", "fmt": "libfmt-dev", "openssl": "libssl-dev",
                    "openssl_running": "libssl3"}
        cls.libs = {key: upstream_version(package) for key, package in packages.items()}
        missing = [packages[k] for k, v in cls.libs.items() if v is None]
        if missing:
            raise unittest.SkipTest(f"the expected versions come from dpkg-query, which knows no "
                                    f"{', '.join(missing)} here (not Debian?)")

    def expected(self, program):
        openssl = f"OpenSSL {self.libs['openssl']}"
        if self.libs["openssl_running"] != self.libs["openssl"]:
            openssl += f" (running with {self.libs['openssl_running']})"
        return [f"{program} {self.project_version} (commit {self.commit})",
                f"Asio {self.libs['asio']}",
                f"fmt {self.libs['fmt']}",
                openssl]

    def test_both_programs_exactly(self):
        for binary, program in ((h.SERVER, "demo-server"), (h.CLIENT, "demo-client")):
            with self.subTest(program=program):
                r = h.run([binary, "--version"], timeout=h.EXIT_WAIT)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stderr, "")
                self.assertEqual(r.stdout.splitlines(), self.expected(program))
                self.assertTrue(r.stdout.endswith("\n") and not r.stdout.endswith("\n\n"), repr(r.stdout))

    def test_version_ignores_other_arguments(self):
        # --version wins over a bad port, as --help does: nothing is bound, nothing is refused.
        r = h.run([h.SERVER, "--ports", "70000", "--version"], timeout=h.EXIT_WAIT)
        self.assertEqual((r.returncode, r.stdout.splitlines()), (0, self.expected("demo-server")), r.stderr)

    def test_commit_is_this_checkout(self):
        """The commit named is HEAD's (the build configures again when HEAD moves); "-dirty" is as
        the tree was at that configure run, so either way is accepted. Outside a git checkout (a
        tarball) it is "unknown"."""
        if not shutil.which("git") or not os.path.exists(os.path.join(SOURCE_DIR, ".git")):
            self.assertEqual(self.commit, "unknown")
            return
        r = subprocess.run(["git", "-C", SOURCE_DIR, "describe", "--always"], capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest(f"git describe fails here: {r.stderr.strip()}")
        head = r.stdout.strip()
        self.assertRegex(self.commit, rf"^{re.escape(head)}(-dirty)?$",
                         f"the build names commit {self.commit}, HEAD is {head}: build again "
                         f"(cmake --build) so that CMake configures for the new HEAD")


if __name__ == "__main__":
    unittest.main()
