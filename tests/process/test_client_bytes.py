"""What a raw client sends first is logged by the server escaped: control characters and bytes
above 0x7e as \\xNN, never raw, so nothing a client sends can rewrite the lecturer's terminal;
and cut short (at most 200 characters in JSON, 60 on screen) with "..."."""

import json
import socket
import time
import unittest

import harness as h

NASTY = b"hello\x1b[2J\x00\xff\n"
NASTY_ESCAPED = r"hello\x1b[2J\x00\xff\n"  # literal backslashes


def send_and_read(port, data):
    """Connects, sends `data`, reads the server's whole answer until it closes (bounded)."""
    with socket.create_connection(("127.0.0.1", port), timeout=h.EVENT_WAIT) as s:
        s.sendall(data)
        answer = b""
        deadline = time.monotonic() + h.EVENT_WAIT
        while time.monotonic() < deadline:
            chunk = s.recv(4096)
            if not chunk:
                return answer
            answer += chunk
        raise AssertionError(f"the server did not close within {h.EVENT_WAIT} s: {answer!r}")


class ClientBytesEscaped(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def answered(self, server, data):
        answer = send_and_read(server.port, data)
        self.assertTrue(answer.startswith(b"portdemo: your connection #"), answer)
        line = server.wait_line(lambda l: json.loads(l)["event"] == "answered",
                                what="the answered event")
        return line, json.loads(line)

    def test_json_received_is_escaped(self):
        server = h.start_server(self, "--ports", "0", "--bind", "127.0.0.1")
        line, answered = self.answered(server, NASTY)
        self.assertEqual(answered["report"], "text")
        self.assertEqual(answered["received_bytes"], len(NASTY))
        self.assertEqual(answered["received"], NASTY_ESCAPED)
        for raw in ("\x1b", "\x00", "\\u001b", "\\u0000", "\ufffd"):
            self.assertNotIn(raw, line, f"the JSON line must carry the escaped form only: {line!r}")

    def test_text_has_no_control_byte(self):
        server = h.start_server(self, "--ports", "0", "--bind", "127.0.0.1", fmt="text")
        send_and_read(server.port, NASTY)
        line = server.wait_line(lambda l: " sent " in l, what="the sent-bytes line")
        self.assertEqual(line, f'  #1 sent {len(NASTY)} bytes first: "{NASTY_ESCAPED}"; it got the '
                               f'text report\n')
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())
        text = "".join(server.read_rest())
        for raw in ("\x1b", "\x00", "\ufffd"):
            self.assertNotIn(raw, text, "a client's raw bytes reached the server's terminal")
        h.assert_text_lines(self, text, "server text")

    def test_long_input_is_cut_at_200_characters(self):
        server = h.start_server(self, "--ports", "0", "--bind", "127.0.0.1")
        _, answered = self.answered(server, b"y" * 1000)
        received = answered["received"]
        self.assertTrue(received.endswith("..."), received)
        self.assertLessEqual(len(received) - 3, 200, f"{len(received) - 3} characters logged")
        self.assertEqual(received[:-3], "y" * (len(received) - 3))
        self.assertGreater(answered["received_bytes"], 200)
        self.assertLessEqual(answered["received_bytes"], 1000)

    def test_long_escaped_input_is_cut_whole(self):
        server = h.start_server(self, "--ports", "0", "--bind", "127.0.0.1")
        line, answered = self.answered(server, b"\x1b" * 1000)
        received = answered["received"]
        self.assertNotIn("\x1b", line)
        self.assertTrue(received.endswith("..."), received)
        body = received[:-3]
        self.assertLessEqual(len(body), 200)
        self.assertEqual(body, r"\x1b" * (len(body) // 4), "an escape was cut in half")

    def test_long_input_on_screen_is_cut_at_60(self):
        server = h.start_server(self, "--ports", "0", "--bind", "127.0.0.1", fmt="text")
        send_and_read(server.port, b"\x07" * 1000)
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())
        text = "".join(server.read_rest())
        self.assertNotIn("\x07", text)
        flat = h.flat(text)
        start = flat.index('first: "') + len('first: "')
        shown = flat[start:flat.index('"', start)]
        self.assertTrue(shown.endswith("..."), shown)
        self.assertLessEqual(len(shown) - 3, 60, shown)
        h.assert_text_lines(self, text, "server text")


if __name__ == "__main__":
    unittest.main()
