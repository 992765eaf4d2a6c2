"""The bash completion (completions/portdemo.bash) in a real bash, non-interactive: COMP_WORDS and
COMP_CWORD set as readline would set them, the completion function called, COMPREPLY read. Every
case runs twice: with bash-completion's library loaded (as on a Debian desktop) and without it
(the script's own fallback). The options offered must be exactly those `--help` lists."""

import os
import re
import shutil
import subprocess
import unittest

SOURCE_DIR = os.environ.get("PORTDEMO_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(SOURCE_DIR, "completions", "portdemo.bash")
LIBRARY = "/usr/share/bash-completion/bash_completion"
BINARIES = {"demo-server": os.environ.get("DEMO_SERVER", ""),
            "demo-client": os.environ.get("DEMO_CLIENT", "")}

# Runs in `bash --norc --noprofile`: $1 is the command line as typed, the rest its words as
# readline splits them, the last one being completed (empty for a TAB after a space).
DRIVER = r"""
if [[ $WITH_LIBRARY == 1 ]]; then source "$LIBRARY" || exit 90; fi
source "$SCRIPT" || exit 91
COMP_LINE=$1
COMP_POINT=${#COMP_LINE}
shift
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
spec=$(complete -p "$1") || exit 92
function=${spec##*-F }
function=${function%% *}
COMPREPLY=()
"$function" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\n' "${COMPREPLY[@]}"
"""


def help_options(binary):
    r = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    options = []
    for line in r.stdout.splitlines():
        m = re.match(r"^  ((?:-[\w-]+,)*-[\w-]+)(?:\s|$)", line)
        if m:
            options += m.group(1).split(",")
    return options


class Completion(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("bash"):
            raise unittest.SkipTest("no bash")
        cls.variants = [("without bash-completion", "0")]
        if os.path.exists(LIBRARY):
            cls.variants.insert(0, ("with bash-completion", "1"))

    def complete(self, *words, library="0"):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/"),
               "SCRIPT": SCRIPT, "LIBRARY": LIBRARY, "WITH_LIBRARY": library}
        # "--format", "=", "js" was typed as --format=js.
        line = words[0]
        for before, word in zip(words, words[1:]):
            line += word if "=" in (before, word) else " " + word
        r = subprocess.run(["bash", "--norc", "--noprofile", "-c", DRIVER, "bash", line, *words],
                           capture_output=True, text=True, timeout=20, env=env)
        self.assertEqual(r.returncode, 0, f"{words}: exit {r.returncode}, stderr {r.stderr!r}")
        self.assertEqual(r.stderr, "", words)
        return [line for line in r.stdout.splitlines() if line]

    def check(self, words, expected=None, includes=(), excludes=()):
        for name, library in self.variants:
            with self.subTest(words=" ".join(words), variant=name):
                got = self.complete(*words, library=library)
                if expected is not None:
                    self.assertEqual(sorted(got), sorted(expected))
                for word in includes:
                    self.assertIn(word, got)
                for word in excludes:
                    self.assertNotIn(word, got)

    def test_option_prefix(self):
        self.check(["demo-server", "--fo"], ["--format"])
        self.check(["demo-server", "--max-h"], ["--max-header-bytes", "--max-header-lines"])
        self.check(["demo-client", "--so"], ["--source-port"])

    def test_format_and_color_values(self):
        for program in ("demo-server", "demo-client"):
            self.check([program, "--format", ""], ["text", "json"])
            self.check([program, "--format", "j"], ["json"])
            self.check([program, "--color", ""], ["auto", "always", "never"])
        # --format=js: readline splits the word at '='.
        self.check(["demo-server", "--format", "=", "js"], ["json"])

    def test_client_port_is_a_service_name(self):
        self.check(["demo-client", "localhost", ""], includes=["http-alt", "https", "ssh", "postgresql"])
        self.check(["demo-client", "localhost", "http"], ["http", "http-alt", "https", "https-alt"])
        self.check(["demo-client", "127.0.0.1", "https-"], ["https-alt"])

    def test_client_port_numbers_once_a_digit_is_typed(self):
        self.check(["demo-client", "localhost", "80"], ["80", "8080"])
        self.check(["demo-client", "localhost", "84"], ["8443"])

    def test_client_skips_option_values_when_counting_arguments(self):
        # The 3 is --count's value, not the host.
        self.check(["demo-client", "--count", "3", "localhost", "http-"], ["http-alt"])
        self.check(["demo-client", "-n", "=", "3", "--verify", "localhost", "ss"], ["ssh"])
        self.check(["demo-client", "--count", "3", "ht"], excludes=["http-alt"])  # the host
        self.check(["demo-client", "localhost", "8080", ""], [])  # both arguments given

    def test_client_host(self):
        # localhost is in /etc/hosts everywhere; both variants find it.
        self.check(["demo-client", "localh"], includes=["localhost"], excludes=["http-alt"])

    def test_server_port_lists(self):
        self.check(["demo-server", "--ports", "8080,http-"], ["8080,http-alt"])
        self.check(["demo-server", "--udp", "dn"], ["dns"])
        self.check(["demo-server", "--tls", "9000-9003,84"], ["9000-9003,8443"])
        self.check(["demo-server", "--quic", "84"], ["8443"])
        self.check(["demo-server", "--quic", "--po"], ["--ports"])  # its value is optional

    def test_server_values(self):
        self.check(["demo-server", "--bind", "127"], ["127.0.0.1"])
        self.check(["demo-server", "--user", "roo"], includes=["root"])
        self.check(["demo-server", "--max-connections", ""], [])  # a number: nothing to offer
        self.check(["demo-server", "--request-timeout", "1"], [])

    def test_options_are_those_of_help(self):
        for program, binary in BINARIES.items():
            if not binary or not os.access(binary, os.X_OK):
                self.skipTest("DEMO_SERVER and DEMO_CLIENT must name the built binaries (ctest sets them)")
            with self.subTest(program=program):
                options = help_options(binary)
                self.assertIn("--version", options)
                self.check([program, "-"], sorted(options))


if __name__ == "__main__":
    unittest.main()
