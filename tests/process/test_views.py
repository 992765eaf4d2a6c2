"""Both views on both ends: demo-client's hello carries its own view of the connection (its
getsockname and getpeername), the server logs it beside its own and both name what differs.
On loopback nothing is rewritten, so the views agree; a hand-made view line stands in for a
NAT here (the real NAT is tests/process/test_nat.py's)."""

import socket
import time
import unittest

import harness as h

HELLO = b"portdemo-hello 1\n"


def view_line(local, remote):
    def text(ep):
        address, port = ep
        return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    return f"portdemo-view 1 {text(local)} {text(remote)}\n".encode()


class Views(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def test_tcp_both_ends_compare_the_same_four_facts(self):
        server = h.start_server(self)
        result = h.run_client("127.0.0.1", server.port)
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        conn = h.one(self, h.json_events(self, result.stdout), "connected")
        self.assertEqual(conn["translation"], {"kind": "none", "source": None, "destination": None,
                                               "destination_address_known": True})
        answered = server.wait_event("answered")
        self.assertEqual(answered["report"], "json")
        # The client's view, as the client's kernel gave it: the same tuple the client printed.
        self.assertEqual(answered["client_view"], {"local": conn["local"], "remote": conn["remote"]})
        self.assertEqual(answered["translation"]["kind"], "none")
        self.assertEqual(answered["received"], "portdemo-hello 1\\n")
        self.assertEqual(answered["received_bytes"], len(HELLO) + len(view_line(
            (conn["local"]["address"], conn["local"]["port"]), (conn["remote"]["address"], conn["remote"]["port"]))))

    def test_udp_datagram_carries_the_view(self):
        server = h.start_server(self, "--udp", "0")
        result = h.run_client("--udp", "127.0.0.1", server.port)
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        exchanged = h.one(self, h.json_events(self, result.stdout), "exchanged")
        self.assertEqual(exchanged["translation"]["kind"], "none")
        answered = server.wait_event("answered")
        self.assertEqual(answered["client_view"], {"local": exchanged["local"], "remote": exchanged["remote"]})
        self.assertEqual(answered["translation"]["kind"], "none")

    def claimed(self, server, chunks, pause=0.0):
        """Sends `chunks` (pausing between them) on one connection; returns the JSON line got."""
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            for i, chunk in enumerate(chunks):
                if i:
                    time.sleep(pause)
                s.sendall(chunk)
            got = b""
            while not got.endswith(b"\n"):
                data = s.recv(4096)
                if not data:
                    break
                got += data
            return got, s.getsockname()

    def test_a_view_that_differs_is_classified(self):
        """A view line claiming another client end and another dialled end: the server names
        source and destination NAT, with the exact endpoints."""
        server = h.start_server(self)
        line = view_line(("10.0.1.2", 51234), ("10.0.0.1", 8081))
        got, mine = self.claimed(server, [HELLO + line])
        self.assertTrue(got.startswith(b'{"event":"server_view"'), got)
        answered = server.wait_event("answered")
        t = answered["translation"]
        self.assertEqual(t["kind"], "source_and_destination_nat")
        self.assertEqual(t["source"], {"before": h.ep("10.0.1.2", 51234), "after": h.ep("127.0.0.1", mine[1]),
                                       "address_rewritten": True, "port_rewritten": True,
                                       "after_port_class": h.port_class(mine[1])})
        self.assertEqual(t["destination"], {"before": h.ep("10.0.0.1", 8081),
                                            "after": h.ep("127.0.0.1", server.port),
                                            "address_rewritten": True, "port_rewritten": server.port != 8081,
                                            "after_port_class": h.port_class(server.port)})

    def test_a_view_split_across_writes_is_waited_for(self):
        server = h.start_server(self)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as probe:
            mine = probe.getsockname()
            line = view_line(mine, ("127.0.0.1", server.port))
            probe.sendall(HELLO + line[:10])
            time.sleep(0.1)  # well inside the first-bytes wait
            probe.sendall(line[10:])
            got = probe.recv(4096)
        self.assertTrue(got.startswith(b'{"event":"server_view"'), got)
        answered = server.wait_event("answered")
        self.assertEqual(answered["client_view"]["local"], h.ep(*mine))
        self.assertEqual(answered["translation"]["kind"], "none")

    def test_a_port_forward_in_the_server_text_log(self):
        server = h.start_server(self, fmt="text")
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            mine = s.getsockname()
            s.sendall(HELLO + view_line(mine, ("127.0.0.1", 8081 if server.port != 8081 else 8082)))
            s.recv(4096)
        dialled = 8081 if server.port != 8081 else 8082
        server.wait_line(lambda l: f"127.0.0.1:{server.port}" in l and "listens" in "".join(server.lines[-3:]),
                         what="the destination NAT line")
        text = h.flat("".join(server.lines))
        self.assertIn(f"demo-client's own view: local 127.0.0.1:{mine[1]} remote 127.0.0.1:{dialled}", text)
        self.assertIn(f"destination NAT (a port forward, a published container port): the client dialled "
                      f"127.0.0.1:{dialled}, the server listens on 127.0.0.1:{server.port}", text)

    def test_not_a_view_after_the_hello_is_ignored(self):
        """Bytes after the hello that are no view line: the hello is answered as always."""
        server = h.start_server(self)
        got, _ = self.claimed(server, [HELLO + b"portdemo-view 1 nonsense\n"])
        self.assertTrue(got.startswith(b'{"event":"server_view"'), got)
        answered = server.wait_event("answered")
        self.assertNotIn("client_view", answered)
        self.assertNotIn("translation", answered)


    def test_http_claims_beside_the_socket(self):
        """curl with a Host header naming another port and the forwarding headers a proxy adds:
        shown as the request's claims in the text answer and /json, the socket's tuple unchanged."""
        import json
        import subprocess
        server = h.start_server(self)
        args = ["curl", "-s", "-H", "Host: 10.0.0.1:8081", "-H", "X-Forwarded-For: 203.0.113.7",
                "-H", "Forwarded: for=203.0.113.7", "-w", "\n%{local_port}"]
        out = subprocess.run(args + [f"http://127.0.0.1:{server.port}/json"], capture_output=True, text=True,
                             timeout=10)
        body, local_port = out.stdout.rsplit("\n", 1)
        view = json.loads(body)
        self.assertEqual(view["remote"], h.ep("127.0.0.1", int(local_port)))
        self.assertEqual(view["claims"], {"host": "10.0.0.1:8081", "host_port": 8081, "host_differs": True,
                                          "forwarding": [{"header": "X-Forwarded-For", "value": "203.0.113.7"},
                                                         {"header": "Forwarded", "value": "for=203.0.113.7"}]})
        text = subprocess.run(args + [f"http://127.0.0.1:{server.port}/"], capture_output=True, text=True,
                              timeout=10).stdout
        self.assertIn(f"the request was addressed to 10.0.0.1:8081 (its Host header, the client's claim), but this "
                      f"socket is 127.0.0.1:{server.port}: a port forward (destination NAT) or a proxy in between",
                      text)
        self.assertIn("the request claims X-Forwarded-For: 203.0.113.7 (a header, not checked; the socket's peer "
                      "is 127.0.0.1:", text)


if __name__ == "__main__":
    unittest.main()
