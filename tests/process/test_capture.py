"""scripts/capture.sh: the SYN, SYN-ACK and first data segment that tshark sees on the loopback
interface carry the same tuple the programs read from the kernel.

Needs tshark and the permission to capture on `lo`; skipped, with the reason, without them.
"""

import json
import os
import shutil
import sys
import tempfile
import unittest

from harness import (CLIENT, EX_OK, EX_USAGE, assert_text_lines, ep, require_binaries, run,
                     start_server)

SCRIPT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                       "..", "..", "scripts", "capture.sh"))
CAPTURE_WAIT = 60.0  # a whole run of the script, tshark's start-up included
EX_NOPERM = 77       # the script: tshark missing, or capturing not permitted here


class CaptureTest(unittest.TestCase):

    cannot_capture = None  # why capture.sh could not capture, once a test has found out

    @classmethod
    def setUpClass(cls):
        require_binaries(cls)
        if not os.access(SCRIPT, os.X_OK):
            raise unittest.SkipTest(f"{SCRIPT} is missing or not executable")

    def setUp(self):
        if shutil.which("tshark") is None:
            self.skipTest("tshark is not installed (scripts/install-deps.sh installs it), "
                          "so no packets can be captured")
        if CaptureTest.cannot_capture:
            self.skipTest(CaptureTest.cannot_capture)

    def capture(self, *args, expect=EX_OK, env=None):
        """Runs the script (bounded); skips the test when it cannot capture here."""
        r = run([SCRIPT] + [str(a) for a in args], timeout=CAPTURE_WAIT, env=env)
        if r.returncode == EX_NOPERM:
            CaptureTest.cannot_capture = ("capture.sh cannot capture here: "
                                          + " ".join(r.stderr.split()))
            self.skipTest(CaptureTest.cannot_capture)
        self.assertEqual(r.returncode, expect,
                         f"capture.sh {args!r}: unexpected exit; stdout: {r.stdout!r}; "
                         f"stderr: {r.stderr!r}")
        return r

    def capture_json(self, *args, **kw):
        r = self.capture("--json", *args, **kw)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 1, f"--json prints one object: {r.stdout!r}")
        return json.loads(lines[0])

    def assert_wire_agrees(self, summary, server_port):
        """The three segments go the way the client's tuple says."""
        self.assertIs(summary["agree"], True, f"wire and programs differ: {summary!r}")
        local, remote = summary["client"]["local"], summary["client"]["remote"]
        self.assertEqual(remote["port"], server_port, "the client connected to the server's port")
        self.assertNotEqual(local["port"], server_port)
        syn, syn_ack, data = summary["syn"], summary["syn_ack"], summary["data"]
        for name, seg in (("syn", syn), ("syn_ack", syn_ack), ("data", data)):
            self.assertIsInstance(seg, dict, f"no {name} in the capture: {summary!r}")
        # The SYN: from the client's ephemeral port to the server's fixed one.
        self.assertEqual(syn["src"], local, "the SYN comes from the client's local end")
        self.assertEqual(syn["dst"], remote, "the SYN goes to the server")
        self.assertEqual(syn["src"]["port"], local["port"])
        self.assertEqual(syn["dst"]["port"], server_port)
        # The SYN-ACK: the mirror image.
        self.assertEqual(syn_ack["src"], syn["dst"], "the SYN-ACK comes back from the server")
        self.assertEqual(syn_ack["dst"], syn["src"], "the SYN-ACK goes back to the client")
        # The first data: demo-client speaks first.
        self.assertEqual(data["src"], local, "the first data segment comes from the client")
        self.assertEqual(data["dst"], remote, "the first data segment goes to the server")
        self.assertGreater(data["len"], 0)
        self.assertLess(syn["frame"], syn_ack["frame"])
        self.assertLess(syn_ack["frame"], data["frame"])
        # The server's view, as demo-server reported it to the client: mirrored.
        view = summary["server_view"]
        self.assertIsNotNone(view, f"demo-server's view is missing: {summary!r}")
        self.assertEqual(view["local"], remote)
        self.assertEqual(view["remote"], local)

    def test_json_with_a_server_of_its_own(self):
        summary = self.capture_json()
        self.assertEqual(summary["interface"], "lo")
        self.assert_wire_agrees(summary, summary["server_port"])

    def test_text_ends_with_the_agreement(self):
        r = self.capture()
        assert_text_lines(self, r.stdout, "capture.sh's text")
        lines = r.stdout.splitlines()
        self.assertTrue(lines, "capture.sh printed nothing")
        self.assertTrue(lines[-1].startswith("agree: yes"),
                        f"the last line must say that they agree: {r.stdout}")
        for word in ("SYN ", "SYN-ACK", "first data"):
            self.assertIn(word, r.stdout)

    def test_port_of_a_running_server(self):
        server = start_server(self, "--ports", "0", "--bind", "127.0.0.1")
        summary = self.capture_json(server.port)
        self.assertEqual(summary["server_port"], server.port)
        self.assert_wire_agrees(summary, server.port)
        # The server's own log names the same connection: its remote end is the SYN's source.
        accepted = server.wait_event("accepted")
        self.assertEqual(accepted["local"], ep("127.0.0.1", server.port))
        self.assertEqual(accepted["remote"], summary["syn"]["src"])
        self.assertEqual(accepted["id"], summary["server_view"]["id"])

    def test_a_wrong_report_is_caught(self):
        """A client that misreports its own port (a wrapper adds 1 to it) disagrees with the
        wire: the comparison is real."""
        tmp = tempfile.mkdtemp(prefix="portdemo-capture-test-")
        self.addCleanup(shutil.rmtree, tmp, True)
        liar = os.path.join(tmp, "lying-client")
        with open(liar, "w") as f:
            f.write(f"""#!{sys.executable}
import json, subprocess, sys
out = subprocess.run([{CLIENT!r}] + sys.argv[1:], stdout=subprocess.PIPE, text=True)
for line in out.stdout.splitlines():
    e = json.loads(line)
    if e.get("event") == "connected":
        e["local"]["port"] += 1
    print(json.dumps(e, separators=(",", ":")))
sys.exit(out.returncode)
""")
        os.chmod(liar, 0o755)
        summary = self.capture_json(expect=1, env={"DEMO_CLIENT": liar})
        self.assertIs(summary["agree"], False, f"the lie went unnoticed: {summary!r}")
        syn = summary["syn"]
        self.assertIsNotNone(syn, "the real SYN is still shown")
        self.assertEqual(syn["src"]["port"] + 1, summary["client"]["local"]["port"])
        self.assertTrue(any("SYN" in p for p in summary["problems"]), summary["problems"])


class CaptureUsageTest(unittest.TestCase):
    """Refused before anything is captured: these need no tshark."""

    def test_only_loopback(self):
        for args in (["8080", "192.0.2.1"], ["8080", "localhost"], ["70000"], ["abc"]):
            r = run([SCRIPT] + args, timeout=CAPTURE_WAIT)
            self.assertEqual(r.returncode, EX_USAGE, f"{args!r}: {r.stderr!r}")
            self.assertEqual(r.stdout, "")
            self.assertIn("capture.sh:", r.stderr)


if __name__ == "__main__":
    unittest.main()
