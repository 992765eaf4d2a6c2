"""--format json: one JSON object per line, every line valid, flushed line by line so that a
program reading the server's output sees each event while the server still runs."""

import json
import unittest

import harness as h


class JsonLines(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def test_server_flushes_each_event(self):
        server = h.start_server(self)
        # The ready event was read through a pipe while the server keeps running: flushed.
        self.assertTrue(server.running(), "the server ended before it was asked to")
        result = h.run_client("127.0.0.1", server.port)
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        accepted = server.wait_event("accepted")
        self.assertTrue(server.running(), "the accepted event must be readable while the "
                                          "server runs")
        self.assertEqual(accepted["id"], 1)
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())
        server.read_rest()
        raw = "".join(server.lines)
        events = h.json_events(self, raw)
        self.assertEqual([e["event"] for e in events if e["event"] != "note"],
                         ["host_facts", "tls_certificate"] + ["listening"] * server.ready["listening"] +
                         ["ready", "accepted", "answered", "stopping", "summary"])
        self.assertEqual(server.stderr(), "")

    def test_every_line_is_one_object(self):
        server = h.start_server(self)
        runs = [h.run_client("127.0.0.1", server.port, "--count", "3"),
                h.run_client("127.0.0.1", h.free_port())]
        for result in runs:
            for line in result.stdout.splitlines():
                self.assertEqual(line, line.strip(), f"stray whitespace: {line!r}")
                obj = json.loads(line)
                # One object per line: re-encoding it compactly gives a single line too.
                self.assertNotIn("\n", json.dumps(obj))
                self.assertIsInstance(obj["event"], str)
            h.json_events(self, result.stdout)

    def test_no_colour_in_json(self):
        server = h.start_server(self, "--ports", "0", "--color", "always")
        self.assertNotIn("\x1b", "".join(server.lines))
        result = h.run_client("127.0.0.1", server.port, "--color", "always")
        self.assertEqual(result.returncode, h.EX_OK, result.stderr)
        self.assertNotIn("\x1b", result.stdout)
        h.json_events(self, result.stdout)


class TextColour(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def test_colour_only_when_asked(self):
        server = h.start_server(self)
        plain = h.run_client("127.0.0.1", server.port, fmt="text")
        self.assertEqual(plain.returncode, h.EX_OK, plain.stderr)
        self.assertNotIn("\x1b", plain.stdout, "no colour on a pipe with --color auto")
        never = h.run_client("127.0.0.1", server.port, "--color", "never", fmt="text")
        self.assertNotIn("\x1b", never.stdout)
        always = h.run_client("127.0.0.1", server.port, "--color", "always", fmt="text")
        self.assertEqual(always.returncode, h.EX_OK, always.stderr)
        self.assertIn("\x1b[", always.stdout)
        # Without its colour codes the coloured text says the same, within the same width.
        stripped = h.ANSI.sub("", always.stdout)
        self.assertEqual(stripped.splitlines()[0], plain.stdout.splitlines()[0])
        for line in stripped.splitlines():
            self.assertLess(len(line), h.TEXT_WIDTH_LIMIT, line)


if __name__ == "__main__":
    unittest.main()
