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
                # The program's line, then Asio, fmt and OpenSSL (test_version checks each exactly).
                lines = r.stdout.splitlines()
                self.assertEqual([l.split()[0] for l in lines[1:4]], ["Asio", "fmt", "OpenSSL"], r.stdout)



RUN_WITH_HELP = "Run with --help for more information."


class BadInputOneMessage(unittest.TestCase):
    """Each bad value: exit 64, nothing on stdout, one message on stderr (besides CLI11's pointer
    to --help) naming the bad value, shown escaped when it holds control bytes; bounded."""

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def refused(self, argv, *names):
        r = h.run(argv, timeout=h.EXIT_WAIT)
        where = f"{argv[1:]!r}"
        self.assertEqual(r.returncode, h.EX_USAGE, f"{where}: exit {r.returncode}, stdout "
                                                   f"{r.stdout!r}, stderr {r.stderr!r}")
        self.assertEqual(r.stdout, "", f"{where}: a usage error must print nothing to stdout")
        messages = [line for line in r.stderr.splitlines() if line.strip() and
                    line.strip() != RUN_WITH_HELP]
        self.assertEqual(len(messages), 1, f"{where}: one message expected on stderr: {r.stderr!r}")
        for name in names:
            self.assertIn(name, messages[0], f"{where}: the message must name {name!r}")
        self.assertNotIn("\x1b", r.stderr, f"{where}: a raw ESC reached the terminal")
        return messages[0]

    def test_client_ports(self):
        cases = {"70000": ["70000"], "65536": ["65536"], "-1": ["-1"], "abc": ["abc"],
                 "80-70": ["80-70"], "8080,,8081": ["8080,,8081"], " ": ["empty"], "0": ['"0"']}
        for port, names in cases.items():
            with self.subTest(port=port):
                self.refused([h.CLIENT, "127.0.0.1", port], *names)

    def test_server_range_over_the_limit(self):
        message = self.refused([h.SERVER, "--ports", "1-2000"], "1-2000")
        self.assertIn("1024", message)

    def test_server_ports(self):
        for spec in ("70000", "65536", "-1", "abc", "80-70", "8080,,8081"):
            with self.subTest(spec=spec):
                self.refused([h.SERVER, "--ports", spec], spec)

    def test_empty_host(self):
        self.refused([h.CLIENT, "", "80"], "empty")

    def test_host_of_254_characters(self):
        host = "a" * 254
        message = self.refused([h.CLIENT, host, "80"], "254", "253")
        self.assertIn("a" * 40, message, "the message must show (the start of) the host")

    def test_host_of_253_characters_is_accepted_as_valid(self):
        """253 characters in labels of at most 63 is a valid name: resolving it is another
        matter (looked up with no network and files only, so nothing leaves the machine)."""
        if not h.can_unshare_net_mount():
            self.skipTest("unshare -n -m is not available or not permitted here, so the lookup "
                          "could leave the machine")
        private = h.PrivateFiles(self, {"/etc/hosts": "127.0.0.1 localhost\n",
                                        "/etc/nsswitch.conf": "hosts: files\n"})
        host = ".".join(["a" * 63] * 3 + ["a" * 61])
        self.assertEqual(len(host), 253)
        r = h.run_client(host, 80, wrapper=private.wrapper(net=True), timeout=h.EXIT_WAIT)
        self.assertEqual(r.returncode, h.EX_NOHOST, r.stdout + r.stderr)

    def test_host_with_a_space(self):
        self.refused([h.CLIENT, "bad host", "80"], '"bad host"', '" "')

    def test_host_with_an_escape_byte(self):
        message = self.refused([h.CLIENT, "ev\x1b[2Jil", "80"], r"ev\x1b[2Jil", r'"\x1b"')
        self.assertNotIn("\x1b", message)

    def test_unknown_flag(self):
        self.refused([h.CLIENT, "127.0.0.1", "80", "--frobnicate"], "--frobnicate")

    def test_missing_value(self):
        self.refused([h.CLIENT, "127.0.0.1", "80", "--count"], "--count")
        self.refused([h.CLIENT, "127.0.0.1", "80", "--timeout"], "--timeout")
        self.refused([h.CLIENT, "127.0.0.1", "80", "--source-port"], "--source-port")

    def test_negative_count(self):
        self.refused([h.CLIENT, "127.0.0.1", "80", "--count", "-1"], "--count", "-1")

    def test_negative_timeout(self):
        self.refused([h.CLIENT, "127.0.0.1", "80", "--timeout", "-1"], "--timeout", "-1")

    def test_source_port_out_of_range(self):
        for value in ("0", "70000", "-1", "abc"):
            with self.subTest(value=value):
                self.refused([h.CLIENT, "127.0.0.1", "80", "--source-port", value],
                             "--source-port", value)


class BracketedIpv6(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def test_brackets_are_accepted_as_the_address(self):
        h.require_ipv6(self)
        server = h.start_server(self, "--ports", "0", "--bind", "::1")
        result = h.run_client("[::1]", server.port)
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)
        self.assertEqual(h.one(self, events, "resolved")["addresses"], ["::1"])
        conn = h.one(self, events, "connected")
        self.assertEqual(conn["remote"], h.ep("::1", server.port))
        self.assertIs(conn["mirror"], True)


if __name__ == "__main__":
    unittest.main()
