"""The man pages demo-server(1) and demo-client(1): they render without a single groff warning,
have the sections a system tool's page has, and cannot drift from the programs: every option
`--help` lists, every JSON event and note code the sources emit, and every exit code appear in
them. A new option without its documentation fails here."""

import os
import re
import shutil
import subprocess
import unittest

SOURCE_DIR = os.environ.get("PORTDEMO_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
PROGRAMS = {"demo-server": os.environ.get("DEMO_SERVER", ""),
            "demo-client": os.environ.get("DEMO_CLIENT", "")}
SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "JSON EVENTS", "EXIT STATUS", "FILES",
            "EXAMPLES", "SEE ALSO"]


def page_path(program):
    return os.path.join(SOURCE_DIR, "man", program + ".1")


def render(path, *extra):
    return subprocess.run(["groff", "-man", "-Tutf8", *extra, path], capture_output=True, text=True,
                          timeout=30)


def plain_text(path):
    """The page as plain text: no bold or underline, no hyphenation, lines wide enough that no
    option is broken across two."""
    r = render(path, "-P-cbou", "-rHY=0", "-rLL=400n")
    # utf8 devices may print hyphens and minus signs as their own characters.
    return r.stdout.translate({0x2010: "-", 0x2011: "-", 0x2212: "-"})


def help_options(binary):
    """The options `--help` lists: ["--ports", "-p", ...], from the option column only (the
    descriptions also mention other programs' flags, such as curl --cacert)."""
    r = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    options = []
    for line in r.stdout.splitlines():
        m = re.match(r"^  ((?:-[\w-]+,)*-[\w-]+)(?:\s|$)", line)
        if m:
            options += m.group(1).split(",")
    return options


def mentions(text, word):
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def source_texts():
    for folder in ("common/src", "server", "client"):
        directory = os.path.join(SOURCE_DIR, folder)
        for name in sorted(os.listdir(directory)):
            if name.endswith(".cpp"):
                with open(os.path.join(directory, name)) as f:
                    yield f.read()


class ManPages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("groff"):
            raise unittest.SkipTest("groff is not installed (scripts/install-deps.sh installs groff-base)")
        cls.text = {program: plain_text(page_path(program)) for program in PROGRAMS}

    def test_render_without_warnings(self):
        for program in PROGRAMS:
            with self.subTest(page=program):
                r = render(page_path(program), "-ww", "-z")
                self.assertEqual((r.returncode, r.stderr), (0, ""))

    def test_man_reads_them(self):
        if not shutil.which("man"):
            self.skipTest("man is not installed")
        for program in PROGRAMS:
            with self.subTest(page=program):
                r = subprocess.run(["man", "-l", page_path(program)], capture_output=True, text=True,
                                   timeout=30, env={**os.environ, "MANPAGER": "cat", "MANWIDTH": "80"})
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn(program.upper() + "(1)", r.stdout)

    def test_sections(self):
        for program, text in self.text.items():
            with self.subTest(page=program):
                headings = [line for line in text.splitlines() if re.fullmatch(r"[A-Z][A-Z ]+", line)]
                self.assertEqual([h for h in headings if h in SECTIONS], SECTIONS, headings)
                self.assertIn(f"{program} - ", text, "NAME must read 'program - what it does'")

    def test_every_option_of_help(self):
        for program, binary in PROGRAMS.items():
            with self.subTest(page=program):
                if not binary or not os.access(binary, os.X_OK):
                    self.skipTest("DEMO_SERVER and DEMO_CLIENT must name the built binaries (ctest sets them)")
                options = help_options(binary)
                self.assertIn("--help", options)
                self.assertIn("--version", options)
                self.assertIn("--format", options)
                missing = [o for o in options if not mentions(self.text[program], o)]
                self.assertEqual(missing, [], f"{program} --help lists options its man page does not "
                                              f"document: add them to man/{program}.1")

    def test_every_json_event_and_note(self):
        both = self.text["demo-server"] + self.text["demo-client"]
        events, notes = set(), set()
        for text in source_texts():
            events.update(re.findall(r'\\"event\\":\\"([a-z_]+)\\"', text))
            notes.update(re.findall(r'note_event\{"([a-z_]+)"', text))
            # Typed notes (remarks), worded in render.cpp: `note_event as_note(...) { return {"code", ...`
            notes.update(re.findall(r'note_event (?:operator\(\)|as_note)\([^)]*\)(?: const)? \{[^}]*?return \{"([a-z0-9_]+)"',
                                    text))
        events.update({"connected", "exchanged"})  # named by a condition, not a literal
        self.assertGreater(len(events), 15)
        self.assertGreater(len(notes), 5)
        self.assertEqual(sorted(e for e in events if not mentions(both, e)), [],
                         "JSON events missing from the man pages' JSON EVENTS")
        self.assertEqual(sorted(n for n in notes if not mentions(both, n)), [],
                         "note codes missing from the man pages")

    def test_every_exit_code(self):
        with open(os.path.join(SOURCE_DIR, "common/include/portdemo/failure.hpp")) as f:
            codes = set(re.findall(r"inline constexpr int \w+ = (\d+);", f.read()))
        self.assertIn("77", codes)
        documented = set()
        for program, text in self.text.items():
            section = text.split("\nEXIT STATUS\n", 1)[1].split("\nENVIRONMENT\n", 1)[0]
            documented.update(re.findall(r"^ {7}(\d+)(?:\s|$)", section, re.M))
        self.assertEqual(sorted(codes - documented, key=int), [], "exit codes missing from EXIT STATUS")

    def test_files_read(self):
        for program in PROGRAMS:
            with self.subTest(page=program):
                for path in ("/proc/sys/net/ipv4/ip_local_port_range",
                             "/proc/sys/net/ipv4/ip_unprivileged_port_start",
                             "/proc/self/status", "/proc/net/tcp", "/etc/services"):
                    self.assertIn(path, self.text[program])


if __name__ == "__main__":
    unittest.main()
