"""The example units packaging/demo-server.socket and demo-server.service: `systemd-analyze verify`
finds nothing to say about them (it needs no running systemd, so this works in a container too),
their Documentation= names a man page that exists, and the service's exposure as
`systemd-analyze security` rates it stays low: the service needs no privilege, since the sockets
are bound by systemd."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

SOURCE_DIR = os.environ.get("PORTDEMO_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
UNITS = ("demo-server.socket", "demo-server.service")
SERVER = os.environ.get("DEMO_SERVER", "")


def settings(unit):
    """{key: [values]} of a unit file, comments left out."""
    out = {}
    with open(os.path.join(SOURCE_DIR, "packaging", unit)) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", ";", "[")):
                key, _, value = line.partition("=")
                out.setdefault(key, []).append(value)
    return out


class SystemdUnits(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("systemd-analyze"):
            raise unittest.SkipTest("systemd-analyze is not installed (Debian package systemd)")
        if not SERVER or not os.access(SERVER, os.X_OK):
            raise unittest.SkipTest("DEMO_SERVER must name the built demo-server (ctest sets it)")
        # verify checks that ExecStart's program exists and that Documentation= pages do: the units
        # name /usr/bin/demo-server, where the .deb puts it, so a copy points at the built one, and
        # man finds our pages through MANPATH.
        cls.tmp = tempfile.TemporaryDirectory(prefix="portdemo-units-")
        cls.units_dir = os.path.join(cls.tmp.name, "units")
        man1 = os.path.join(cls.tmp.name, "man", "man1")
        os.makedirs(cls.units_dir)
        os.makedirs(man1)
        for page in ("demo-server.1", "demo-client.1"):
            shutil.copy(os.path.join(SOURCE_DIR, "man", page), man1)
        for unit in UNITS:
            with open(os.path.join(SOURCE_DIR, "packaging", unit)) as f:
                text = f.read()
            with open(os.path.join(cls.units_dir, unit), "w") as f:
                f.write(text.replace("ExecStart=/usr/bin/demo-server ", f"ExecStart={SERVER} "))
        cls.env = {**os.environ, "MANPATH": os.path.join(cls.tmp.name, "man"), "SYSTEMD_COLORS": "0",
                   "SYSTEMD_PAGER": ""}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def analyze(self, *args):
        return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, timeout=60,
                              cwd=self.units_dir, env=self.env)

    def test_verify_says_nothing(self):
        r = self.analyze("verify", *[f"./{unit}" for unit in UNITS])
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))

    def test_socket_binds_port_80_on_both_families_apart(self):
        s = settings("demo-server.socket")
        self.assertEqual(s["ListenStream"], ["0.0.0.0:80", "[::]:80"])
        self.assertEqual(s["BindIPv6Only"], ["ipv6-only"])  # IPv4 clients as IPv4, not ::ffff:
        self.assertEqual(s.get("Accept", ["no"]), ["no"])      # one server for every connection

    def test_service_needs_no_privilege(self):
        s = settings("demo-server.service")
        self.assertEqual(s["ExecStart"], ["/usr/bin/demo-server --format json"])
        self.assertEqual(s["DynamicUser"], ["yes"])
        self.assertEqual(s["CapabilityBoundingSet"], [""])
        self.assertEqual(s["NoNewPrivileges"], ["yes"])
        self.assertNotIn("User", s)
        self.assertNotIn("ProcSubset", s)  # would hide /proc/sys/net/ipv4 from the server

    def test_security_exposure_is_low(self):
        r = self.analyze("security", "--offline=yes", "--man=no", "./demo-server.service")
        if r.returncode != 0 and "offline" in r.stderr:
            self.skipTest(f"this systemd-analyze has no --offline: {r.stderr.strip()}")
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.search(r"Overall exposure level for demo-server.service: ([0-9.]+)", r.stdout)
        self.assertIsNotNone(m, r.stdout[-500:])
        self.assertLessEqual(float(m.group(1)), 2.0, "was 1.4 when written: a setting was lost?")


if __name__ == "__main__":
    unittest.main()
