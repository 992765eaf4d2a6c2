"""The server out of file descriptors: started with a soft limit of 16 open files, it runs out
while plain connections of ours stay open. It reports accept_failed (EMFILE) once, explained with
its limit, pauses and tries again instead of crashing or spinning, reports accept_resumed when
descriptors are free again, serves a fresh demo-client normally and ends with 0 on SIGTERM."""

import json
import socket
import time
import unittest

import harness as h

LIMIT = 16
MAX_CONNECTIONS = 50  # bounded: the limit is reached after a handful


class OutOfDescriptors(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def poll_events(self, server, seconds):
        """Every JSON event the server prints within `seconds` (bounded)."""
        events = []
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return events
            try:
                line = server.next_line(remaining)
            except AssertionError:  # nothing more within the time
                return events
            if line is None:
                return events
            events.append(json.loads(line))

    def test_emfile_is_explained_and_survived(self):
        wrapper = ["sh", "-c", f'ulimit -Sn {LIMIT} && exec "$0" "$@"']
        server = h.start_server(self, "--ports", "0", "--bind", "127.0.0.1", wrapper=wrapper)
        port = server.port

        conns = []

        def close_all():
            for s in conns:
                s.close()
            conns.clear()
        self.addCleanup(close_all)

        seen = []
        failed = None
        deadline = time.monotonic() + 5.0
        while failed is None and len(conns) < MAX_CONNECTIONS and time.monotonic() < deadline:
            s = socket.socket()
            s.settimeout(h.EVENT_WAIT)
            s.connect(("127.0.0.1", port))
            conns.append(s)
            seen += self.poll_events(server, 0.1)
            failed = next((e for e in seen if e["event"] == "accept_failed"), None)
        self.assertIsNotNone(failed, f"no accept_failed after {len(conns)} connections with a "
                                     f"limit of {LIMIT} descriptors; events: {seen}")
        self.assertLess(len(conns), LIMIT, "the limit was not the one given")

        self.assertEqual(failed["local"], h.ep("127.0.0.1", port))
        self.assertEqual((failed["proto"], failed["step"], failed["errno"]),
                         ("tcp", "accept", "EMFILE"))
        self.assertTrue(failed["message"])
        explanation = failed["explanation"]
        self.assertIn("file descriptor", explanation)
        self.assertIn(f"ulimit -n: {LIMIT}", explanation)
        self.assertIn(f"127.0.0.1:{port}", explanation)
        self.assertIn("tries again", explanation)

        # It keeps trying, without a line per attempt: once per episode.
        seen += self.poll_events(server, 0.5)
        self.assertEqual(len([e for e in seen if e["event"] == "accept_failed"]), 1,
                         f"accept_failed must be reported once per episode: {seen}")
        self.assertTrue(server.running(), "the server died out of descriptors")

        close_all()
        result = h.run_client("127.0.0.1", port)
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        conn = h.one(self, h.json_events(self, result.stdout), "connected")
        self.assertIs(conn["mirror"], True, conn)

        resumed = server.wait_event("accept_resumed", timeout=h.EVENT_WAIT)
        self.assertEqual(resumed["local"], h.ep("127.0.0.1", port))
        self.assertEqual(resumed["proto"], "tcp")
        self.assertGreaterEqual(resumed["failures"], 1)
        # The demo-client's connection was accepted after the resumption.
        accepted = server.wait_event("accepted", remote=conn["local"])
        self.assertEqual(accepted["local"], conn["remote"])

        self.assertTrue(server.running())
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())
        self.assertNotIn("internal error", server.stderr())
        rest = [json.loads(line) for line in server.read_rest()]
        self.assertEqual(rest[-1]["event"], "summary")


if __name__ == "__main__":
    unittest.main()
