"""--count 5: five connections, five client ports, one server port; both summaries say so."""

import signal
import unittest

import harness as h


class Count(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        h.require_binaries(cls)

    def test_count_5_and_server_summary(self):
        server = h.start_server(self)
        port = server.port

        result = h.run_client("127.0.0.1", port, "--count", "5")
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        events = h.json_events(self, result.stdout)
        self.assertEqual([e["event"] for e in events],
                         ["host_facts", "resolved"] + ["connected"] * 5 + ["summary"])
        connected = h.of(events, "connected")
        self.assertEqual([c["id"] for c in connected], [1, 2, 3, 4, 5])
        client_ports = [c["local"]["port"] for c in connected]
        self.assertEqual(len(set(client_ports)), 5, f"client ports: {client_ports}")
        self.assertEqual({c["remote"]["port"] for c in connected}, {port})
        for c in connected:
            self.assertIs(c["mirror"], True, c)
            self.assertEqual(c["local_port_class"], h.port_class(c["local"]["port"]))
            self.assertEqual(c["in_ephemeral_range"], h.in_ephemeral_range(c["local"]["port"]))

        summary = h.one(self, events, "summary")
        inside = sum(1 for p in client_ports if h.in_ephemeral_range(p))
        # The distribution is computed independently here from the ports the client printed.
        histogram = summary.pop("histogram")
        self.assertEqual(summary, {"event": "summary", "role": "client", "attempted": 5,
                                   "connected": 5, "server_ports": [port],
                                   "client_ports": client_ports, "distinct_client_ports": 5,
                                   "in_ephemeral_range": inside, "mirrored": 5,
                                   "local_port_chosen_by": "kernel", "parallel": 1,
                                   "lowest_client_port": min(client_ports),
                                   "highest_client_port": max(client_ports),
                                   "in_iana_dynamic_range": sum(1 for p in client_ports if p >= 49152),
                                   "even": sum(1 for p in client_ports if p % 2 == 0),
                                   "odd": sum(1 for p in client_ports if p % 2 == 1)})
        low, high = h.ephemeral_range()
        self.assertEqual((histogram["low"], histogram["high"]), (low, high))
        self.assertEqual(sum(histogram["buckets"]), 5)

        # The server saw the same five connections, each with the client's port.
        accepted = [server.wait_event("accepted") for _ in range(5)]
        self.assertEqual([a["remote"]["port"] for a in accepted], client_ports)
        self.assertEqual({a["local"]["port"] for a in accepted}, {port})
        for a, c in zip(accepted, connected):
            self.assertEqual(c["server_view"], {"id": a["id"], "local": a["local"],
                                                "remote": a["remote"]})

        self.assertTrue(server.running(), "the server must serve until it is signalled")
        self.assertEqual(server.terminate(), h.EX_OK, server.stderr())
        server.read_rest()
        server_summary = server.events()[-1]
        # One connection at a time; the next may arrive while the last one's close is still
        # being drained, so at most two are open at once.
        peak = server_summary.pop("peak_open")
        self.assertIn(peak, (1, 2), server_summary)
        self.assertEqual(server_summary, {
            "event": "summary", "role": "server", "connections": 5,
            "per_port": [{"port": port, "connections": 5}], "distinct_client_ports": 5,
            "lowest_client_port": min(client_ports), "highest_client_port": max(client_ports),
            "busy": 0, "limited": 0, "cut_at_shutdown": 0, "log_dropped": 0})
        server_summary["peak_open"] = peak
        self.assertEqual(h.of(server.events(), "summary"), [server_summary])

    def test_count_text_summary(self):
        server = h.start_server(self)
        port = server.port
        result = h.run_client("127.0.0.1", port, "--count", "3", fmt="text")
        self.assertEqual(result.returncode, h.EX_OK, result.stdout + result.stderr)
        text = result.stdout
        h.assert_text_lines(self, text, "client text")
        self.assertEqual(text.count("connected #"), 3, text)
        self.assertEqual(text.count("mirror image: yes"), 3, text)
        ports = [int(line.split()[1].rsplit(":", 1)[1]) for line in text.splitlines()
                 if line.startswith("  local   ")]
        self.assertEqual(len(ports), 3, text)
        inside = sum(1 for p in ports if h.in_ephemeral_range(p))
        tail = (f"summary: 3 of 3 connections made\n"
                f"  server port: {port} every time (fixed)\n"
                f"  client ports: {', '.join(map(str, ports))} - 3 distinct of 3, a new one every time\n"
                f"  {inside} of 3 inside this host's ephemeral range {h.range_text()}; "
                f"3 of 3 mirror images\n")
        self.assertTrue(text.endswith(tail), f"expected the text to end with:\n{tail}\ngot:\n{text}")

    def test_sigint_also_summarises(self):
        server = h.start_server(self)
        self.assertEqual(server.terminate(signal.SIGINT), h.EX_OK, server.stderr())
        server.read_rest()
        self.assertEqual(server.events()[-1], {
            "event": "summary", "role": "server", "connections": 0,
            "per_port": [{"port": server.port, "connections": 0}], "distinct_client_ports": 0,
            "lowest_client_port": None, "highest_client_port": None, "peak_open": 0,
            "busy": 0, "limited": 0, "cut_at_shutdown": 0, "log_dropped": 0})


if __name__ == "__main__":
    unittest.main()
