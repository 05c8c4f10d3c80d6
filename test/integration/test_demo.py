"""examples/: the demo runs end to end with the three decisions in its audit CSV, leaves nothing
behind, and the example configuration passes the commands the README shows for it."""
import csv
import glob
import io
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")
CONFIG = os.path.join(EXAMPLES, "pgwarden.yaml")
BUILD = os.path.dirname(os.path.dirname(os.path.abspath(harness.PGWARDEN)))


def pgwarden(*args):
    env = dict(os.environ, MIGRATOR_PASSWORD="not-used-by-these-commands")
    return subprocess.run([harness.PGWARDEN] + list(args), capture_output=True, text=True, env=env, timeout=60)


class Demo(unittest.TestCase):
    def test_demo_runs_the_migration_and_prints_the_three_decisions(self):
        tmp = tempfile.mkdtemp(prefix="pgw-demo-test-")
        os.chmod(tmp, 0o755)
        env = dict(os.environ, PGWARDEN_BUILD_DIR=BUILD, TMPDIR=tmp)
        r = subprocess.run([os.path.join(EXAMPLES, "demo.sh")], capture_output=True, text=True, env=env, timeout=900)
        self.assertEqual(r.returncode, 0, r.stdout[-4000:] + r.stderr[-4000:])
        self.assertIn('denied by rule "no-unbounded-delete"', r.stderr)
        self.assertIn('held for approval by rule "destructive-ddl-needs-a-dba"', r.stderr)

        text = r.stdout.split("as compliance exports it")[1].split("\n", 1)[1].split("\n== ")[0]
        rows = list(csv.DictReader(io.StringIO(text)))
        by_command = {(row["command"], row["decision"]): row for row in rows}
        created = by_command[("create_table", "allow")]
        self.assertEqual((created["principal"], created["job_id"], created["commit"], created["rule"]),
                         ("acme/shop@refs/heads/main", "4711", "3f2a9c1", "migrations"))
        denied = by_command[("delete", "deny")]
        self.assertEqual((denied["rule"], denied["sqlstate"], denied["statement"]),
                         ("no-unbounded-delete", "42501", "DELETE FROM customers"))
        approved = by_command[("drop_table", "approved")]
        self.assertEqual((approved["rule"], approved["approver"], approved["statement"]),
                         ("destructive-ddl-needs-a-dba", "dba:alice", "DROP TABLE legacy_orders"))
        self.assertIn(("rollback", "allow"), by_command, "the denied file's transaction rolled back")
        self.assertEqual(by_command[("insert", "allow")]["rows"], "1")
        self.assertRegex(r.stdout, r"chain intact, \d+ rows verified")
        # The database as the demo showed it: the denied file changed nothing, the held drop ran.
        self.assertIn(" Ada  | ada@example.com", r.stdout)
        self.assertNotIn("legacy_orders | table", r.stdout)

        self.assertEqual(os.listdir(tmp), [], "the demo removed its temporary directory")
        os.rmdir(tmp)
        leftover = subprocess.run(["pgrep", "-f", tmp], capture_output=True, text=True)
        self.assertEqual(leftover.stdout, "", "the demo stopped PostgreSQL and pgwarden")


class ExampleConfig(unittest.TestCase):
    def test_check(self):
        r = pgwarden("check", "-c", CONFIG)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, CONFIG + ": ok"), r.stderr)

    def test_rule_tests(self):
        r = pgwarden("test", "-c", CONFIG)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertRegex(r.stdout, r"\b\d+ passed, 0 failed")

    def test_explain_as_in_the_readme(self):
        r = pgwarden("explain", "-c", CONFIG, "--principal", "acme/shop@refs/heads/main", "--database", "app",
                     "WITH gone AS (DELETE FROM customers RETURNING *) SELECT count(*) FROM gone")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("commands:       select, delete", r.stdout)
        self.assertIn("tables written: public.customers", r.stdout)
        self.assertIn("decision:       deny", r.stdout)
        self.assertIn("rule:           no-unbounded-delete", r.stdout)

    def test_migrations_exist_in_order(self):
        names = [os.path.basename(p) for p in sorted(glob.glob(os.path.join(EXAMPLES, "migrations", "*.sql")))]
        self.assertEqual(names, ["001_customers.sql", "002_cleanup.sql", "003_drop_legacy.sql"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
