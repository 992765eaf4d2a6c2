"""Bad command lines end with 64 (EX_USAGE), a message on stderr naming what was wrong, and
nothing on stdout; --help and --version end with 0."""

import unittest

import harness as h


class Usage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def assert_usage_error(self, argv, *names):
        r = h.run(argv, timeout=h.EXIT_WAIT)
        self.assertEqual(r.returncode, h.EX_USAGE, f"{argv[1:]}: exit {r.returncode}, "
                                                   f"stderr {r.stderr!r}")
        self.assertEqual(r.stdout, "", f"{argv[1:]}: a usage error must print nothing to stdout")
        self.assertTrue(r.stderr.strip(), f"{argv[1:]}: no message on stderr")
        for name in names:
            self.assertIn(name, r.stderr, f"{argv[1:]}: stderr must name {name!r}")
        return r

    def test_server_bad_port_specs(self):
        cases = {
            "8080,,80": ["8080,,80", "empty"],
            "70000": ["70000"],
            "9003-9000": ["9003-9000"],
            "1-2000": ["1-2000"],
            "abc": ["abc"],
            "": [],
            "8080,8080": ["8080"],
            "-5": ["-5"],
            "0-10": ["0-10"],
        }
        for spec, names in cases.items():
            with self.subTest(spec=spec):
                self.assert_usage_error([h.SERVER, "--ports", spec], *names)

    def test_server_ports_without_value(self):
        self.assert_usage_error([h.SERVER, "--ports"])

    def test_server_bad_bind_address(self):
        with self.subTest(bind="localhost"):
            self.assert_usage_error([h.SERVER, "--bind", "localhost"], "localhost")
        with self.subTest(bind="300.1.1.1"):
            self.assert_usage_error([h.SERVER, "--bind", "300.1.1.1"], "300.1.1.1")

    def test_server_bad_format_and_color(self):
        self.assert_usage_error([h.SERVER, "--format", "xml"], "xml")
        self.assert_usage_error([h.SERVER, "--color", "sometimes"], "sometimes")

    def test_server_unknown_option(self):
        self.assert_usage_error([h.SERVER, "--frobnicate"], "--frobnicate")

    def test_client_bad_ports(self):
        for port in ("70000", "nosuchservice", "0", "-1", "80x"):
            with self.subTest(port=port):
                self.assert_usage_error([h.CLIENT, "127.0.0.1", port], port)

    def test_client_missing_arguments(self):
        with self.subTest(args="none"):
            self.assert_usage_error([h.CLIENT])
        with self.subTest(args="host only"):
            self.assert_usage_error([h.CLIENT, "127.0.0.1"])

    def test_client_bad_format(self):
        self.assert_usage_error([h.CLIENT, "127.0.0.1", "80", "--format", "xml"], "xml")

    def test_client_both_families(self):
        self.assert_usage_error([h.CLIENT, "127.0.0.1", "80", "-4", "-6"], "-4", "-6")

    def test_client_bad_count_and_timeout(self):
        self.assert_usage_error([h.CLIENT, "127.0.0.1", "80", "--count", "0"], "count")
        self.assert_usage_error([h.CLIENT, "127.0.0.1", "80", "--timeout", "0"], "timeout")
        self.assert_usage_error([h.CLIENT, "127.0.0.1", "80", "--timeout", "soon"], "soon")

    def test_help(self):
        for binary, name, option in ((h.SERVER, "demo-server", "--ports"),
                                     (h.CLIENT, "demo-client", "--count")):
            with self.subTest(program=name):
                r = h.run([binary, "--help"], timeout=h.EXIT_WAIT)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn(name, r.stdout)
                self.assertIn(option, r.stdout)
                self.assertIn("--format", r.stdout)
                self.assertEqual(r.stderr, "")

    def test_version(self):
        for binary, name in ((h.SERVER, "demo-server"), (h.CLIENT, "demo-client")):
            with self.subTest(program=name):
                r = h.run([binary, "--version"], timeout=h.EXIT_WAIT)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertTrue(r.stdout.startswith(name + " "), r.stdout)
                self.assertEqual(len(r.stdout.splitlines()), 1, r.stdout)


if __name__ == "__main__":
    unittest.main()
