"""pgbench through pgwarden in every query mode: no errors, and TPC-B's invariants hold after."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

PG = PX = None


def setUpModule():
    global PG, PX
    PG = harness.Postgres()
    PX = harness.Pgwarden(PG)
    PX.pgbench(["-i", "-s", "2", "-q"])


def processed(out):
    m = re.search(r"number of transactions actually processed: (\d+)", out)
    return int(m.group(1)) if m else 0


class Pgbench(unittest.TestCase):
    def check_invariants(self):
        sums = PG.sql("SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(tbalance) FROM pgbench_tellers),"
                      " (SELECT sum(bbalance) FROM pgbench_branches), (SELECT sum(delta) FROM pgbench_history)",
                      db="app")
        a, t, b, h = sums.split("|")
        self.assertEqual(a, h)
        self.assertEqual(t, h)
        self.assertEqual(b, h)

    def run_mode(self, mode, select_only):
        args = ["-c", "8", "-j", "2", "-t", "150", "-M", mode, "-n"] + (["-S"] if select_only else [])
        r = PX.pgbench(args)
        self.assertEqual(processed(r.stdout), 8 * 150, r.stdout)
        self.assertNotIn("error", r.stderr.lower())

    def test_select_only_all_modes(self):
        for mode in ("simple", "extended", "prepared"):
            with self.subTest(mode=mode):
                self.run_mode(mode, True)

    def test_tpcb_all_modes_keep_invariants(self):
        for mode in ("simple", "extended", "prepared"):
            with self.subTest(mode=mode):
                self.run_mode(mode, False)
                self.check_invariants()
        self.assertEqual(PG.sql("SELECT count(*) FROM pgbench_history", db="app"), str(3 * 8 * 150))


if __name__ == "__main__":
    unittest.main(verbosity=2)
