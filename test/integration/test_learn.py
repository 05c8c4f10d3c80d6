"""Rolling out rules, for real: pgwarden in `mode: monitor` in front of PostgreSQL 15 records a
migration (sql-migrate, as the CI principal) and an application (pgbench, as ops:eve); `pgwarden
learn` proposes rules from that audit; `check` accepts them and `test` passes; pgwarden reloads
them enforcing `default: deny`; the same workload runs again unchanged while statements outside it
(an unbounded DELETE, a table never touched, a DROP that was only would_deny) are refused with
42501; `pgwarden coverage` counts what each rule decided. A second pgwarden with its audit in a
PostgreSQL store and `statement_text: normalized` is learned from the same way."""
import csv
import datetime
import io
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import psycopg2  # noqa: E402

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tools")
CI = "acme/api@refs/heads/main"   # harness.Pgwarden's user "ci"
CI_RULE = "acme-api-refs-heads-main"
EVE_RULE = "ops-eve"               # user "eve" is the principal ops:eve
PGBENCH = ["-c", "2", "-j", "1", "-t", "20", "-n", "-M", "extended"]
TRANSACTIONS = 2 * 20
MONITOR_RULES = """mode: monitor
default: deny
rules:
  - name: no-drops
    match: { commands: [drop_table] }
    action: deny
    message: "tables are dropped by the DBAs"
"""

PG = PX = None


def setUpModule():
    global PG, PX
    PG = harness.Postgres()
    # pgbench's tables, made directly upstream (by the DBA, not by the workload learned from).
    r = subprocess.run([harness.PG_BIN + "/pgbench", "-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", str(PG.port),
                        "-U", "migrator", "app"], capture_output=True, text=True,
                       env=dict(os.environ, PGPASSWORD=harness.ROLE_PASSWORD))
    assert r.returncode == 0, r.stderr
    PX = harness.Pgwarden(PG, rules="rules_file: rules.yaml\n", files={"rules.yaml": MONITOR_RULES})


def pgwarden(*args, check=True, env=None):
    r = subprocess.run([harness.PGWARDEN] + list(args), capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, **(env or {})))
    if check and r.returncode != 0:
        raise AssertionError("pgwarden %s failed (%d): %s %s" % (args[0], r.returncode, r.stdout[-3000:],
                                                                r.stderr[-3000:]))
    return r


def sql_migrate(*args, directory=None):
    """sql-migrate through pgwarden as the CI principal, on the migrations of `directory` (default:
    all three of test_migration_tools, the third with an UPDATE without WHERE)."""
    dsn = PX.dsn(user="ci", sslmode="disable", options="'-c pgwarden.job_id=learn-1'")
    return subprocess.run(["sql-migrate"] + list(args) + ["-env=pipeline"], capture_output=True, text=True,
                          env=dict(os.environ, SQL_MIGRATE_DSN=dsn),
                          cwd=directory or os.path.join(TOOLS, "sql-migrate"), timeout=120)


def first_two_migrations():
    """A copy of the sql-migrate project with only its first two migrations: the pipeline learned from."""
    directory = os.path.join(harness.tmpdir("pgw-learn-"), "sql-migrate")
    shutil.copytree(os.path.join(TOOLS, "sql-migrate"), directory)
    os.remove(os.path.join(directory, "migrations", "3_gizmos_free.sql"))
    return directory


def workload():
    """The migration pipeline (up, then status) and the application (pgbench as ops:eve)."""
    directory = first_two_migrations()
    up = sql_migrate("up", directory=directory)
    assert up.returncode == 0, up.stdout + up.stderr
    status = sql_migrate("status", directory=directory)
    assert status.returncode == 0, status.stdout + status.stderr
    PX.pgbench(PGBENCH, user="eve")
    return up.stdout.strip()


def refusal(user, sql):
    """The SQLSTATE and message `sql` fails with, run as `user` through pgwarden; None if it runs."""
    conn = psycopg2.connect(PX.dsn(user=user))
    conn.autocommit = True
    try:
        conn.cursor().execute(sql)
        return None
    except psycopg2.Error as e:
        return e.pgcode, e.pgerror
    finally:
        conn.close()


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class RollingOut(unittest.TestCase):
    def test_monitor_learn_review_enforce(self):
        # monitor: everything runs; the DROP is would_deny by a rule, the rest by the default.
        self.assertEqual(workload(), "Applied 2 migrations")
        PX.psql("CREATE TABLE scratch (a int)", user="ci")
        PX.psql("DROP TABLE scratch", user="ci")
        PX.psql("SELECT * FROM no_such_table", user="ci", check=False)   # failed on the server: learned

        learned = pgwarden("learn", "--store", PX.audit_db).stdout
        self.assertIn("# Rules proposed by `pgwarden learn` from the audit store %s" % PX.audit_db, learned)
        self.assertIn("#   not learned, would_deny by rule no-drops: 1", learned)
        self.assertIn("default: deny", learned)
        for rule in ("%s-ddl" % CI_RULE, "%s-writes" % CI_RULE, "%s-reads" % CI_RULE, "%s-session" % CI_RULE,
                     "%s-writes" % EVE_RULE, "%s-reads" % EVE_RULE, "%s-session" % EVE_RULE,
                     "learned-no-unbounded-write", "learned-no-file-or-network-functions"):
            self.assertIn("  - name: %s\n" % rule, learned)
        self.assertIn("      writes: [public.pgbench_accounts, public.pgbench_branches, public.pgbench_history, "
                      "public.pgbench_tellers]\n", learned)
        self.assertIn("# - name: no-role-changes", learned)
        only_eve = pgwarden("learn", "-c", PX.config, "--principal", "ops:*").stdout
        self.assertIn("%s-writes" % EVE_RULE, only_eve)
        self.assertNotIn(CI_RULE, only_eve)

        # review: the proposed file is valid and its tests pass.
        with open(os.path.join(PX.dir, "rules.yaml"), "w") as f:
            f.write(learned)
        self.assertIn(": ok", pgwarden("check", "-c", PX.config).stdout)
        tested = pgwarden("test", "-c", PX.config).stdout
        self.assertRegex(tested, r"^([1-9]\d*) passed, 0 failed\n$")

        # enforce: reloaded; the same workload runs, what is outside it is refused.
        PX.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 20
        while refusal("bob", "SELECT 1") is None:
            self.assertLess(time.time(), deadline, "the learned rules were not loaded")
            time.sleep(0.2)
        since = now()
        self.assertEqual(workload(), "Applied 0 migrations")
        code, message = refusal("eve", "DELETE FROM pgbench_accounts")
        self.assertEqual(code, "42501")
        self.assertIn("learned-no-unbounded-write", message)
        code, message = refusal("eve", "SELECT * FROM gizmos")
        self.assertEqual(code, "42501")
        self.assertIn("%s-no-other-tables" % EVE_RULE, message)
        self.assertEqual(refusal("ci", "DROP TABLE gizmos")[0], "42501")
        self.assertEqual(refusal("eve", "SELECT pg_read_file('/etc/passwd')")[0], "42501")
        self.assertEqual(refusal("bob", "SELECT 1")[0], "42501")   # a principal never seen
        self.assertIsNone(refusal("eve", "SELECT abalance FROM pgbench_accounts WHERE aid = 1"))
        third = sql_migrate("up")   # its UPDATE has no WHERE
        self.assertNotEqual(third.returncode, 0)
        self.assertIn('denied by rule "learned-no-unbounded-write"', third.stdout + third.stderr)
        self.assertEqual(PG.sql("SELECT count(*) FROM gizmos", db="app"), "2")

        # coverage of the enforced period.
        table = pgwarden("coverage", "-c", PX.config, "--since", since).stdout
        self.assertIn("recorded: the rule the audit names", table)
        self.assertRegex(table, r"\n%s-writes +allow +%d +%d\n" % (EVE_RULE, 4 * TRANSACTIONS, 4 * TRANSACTIONS))
        self.assertRegex(table, r"\nlearned-no-unbounded-write +deny +2 +2\n")
        self.assertRegex(table, r"\nrules that never matched \(judged\): [^\n]*%s-no-other-writes" % EVE_RULE)
        self.assertRegex(table, r"\n +1  [0-9a-f]{16}  dba:bob +SELECT 1\n")
        rows = list(csv.DictReader(io.StringIO(pgwarden("coverage", "-c", PX.config, "--since", since,
                                                        "--format", "csv").stdout)))
        by_rule = {r["rule"]: r for r in rows if r["kind"] == "rule"}
        self.assertEqual(by_rule["%s-writes" % EVE_RULE]["judged"], str(4 * TRANSACTIONS))
        self.assertEqual(by_rule["%s-session" % EVE_RULE]["judged"], str(2 * TRANSACTIONS))
        self.assertEqual(by_rule["learned-no-file-or-network-functions"]["judged"], "1")
        self.assertEqual(by_rule["(default)"]["judged"], "1")
        defaults = [r for r in rows if r["kind"] == "default_fingerprint"]
        self.assertEqual([(r["judged"], r["principal"], r["example"]) for r in defaults], [("1", "dba:bob", "SELECT 1")])
        for r in by_rule.values():
            self.assertEqual(r["recorded"], r["judged"], r)   # the rules in force are the ones judged

    def test_usage_errors(self):
        self.assertEqual(pgwarden("learn", check=False).returncode, 2)
        r = pgwarden("learn", "--store", PX.audit_db, "--since", "yesterday", check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn('--since "yesterday" is neither an RFC 3339 time', r.stderr)
        r = pgwarden("learn", "--store", os.path.join(PX.dir, "missing.db"), check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("missing.db", r.stderr)
        r = pgwarden("coverage", "--store", PX.audit_db, check=False)
        self.assertEqual((r.returncode, "-c pgwarden.yaml is required" in r.stderr), (2, True))
        r = pgwarden("coverage", "-c", PX.config, "--format", "xml", check=False)
        self.assertEqual(r.returncode, 2)


class PostgresStore(unittest.TestCase):
    def test_learn_from_a_postgresql_store_with_normalized_text(self):
        PG.sql("CREATE DATABASE auditstore OWNER migrator")
        dsn = "postgresql://migrator:%s@127.0.0.1:%d/auditstore" % (harness.ROLE_PASSWORD, PG.port)
        px = harness.Pgwarden(PG, rules="rules_file: rules.yaml\n", files={"rules.yaml": MONITOR_RULES},
                              audit="  backend: postgresql\n  instance: gw-learn\n"
                                    "  postgresql: {dsn_env: AUDIT_DSN}\n  statement_text: normalized\n",
                              env={"AUDIT_DSN": dsn})
        px.psql("CREATE TABLE IF NOT EXISTS notes (id int PRIMARY KEY, body text)", user="bob")
        px.psql("INSERT INTO notes VALUES (1, 'it''s') ON CONFLICT DO NOTHING", user="bob")
        px.psql("UPDATE notes SET body = 'x' WHERE id = 1", user="bob")
        px.psql("SELECT body FROM notes WHERE id = 1", user="bob")
        learned = pgwarden("learn", "--store", dsn).stdout
        self.assertIn("sql: \"INSERT INTO notes VALUES ($1, $2) ON CONFLICT DO NOTHING\"", learned)
        self.assertIn("writes: [public.notes]", learned)
        with open(os.path.join(px.dir, "rules.yaml"), "w") as f:
            f.write(learned)
        self.assertIn(": ok", pgwarden("check", "-c", px.config, env={"AUDIT_DSN": dsn}).stdout)
        self.assertRegex(pgwarden("test", "-c", px.config).stdout, r"^[1-9]\d* passed, 0 failed\n$")
        table = pgwarden("coverage", "-c", px.config, env={"AUDIT_DSN": dsn}).stdout
        self.assertRegex(table, r"\ndba-bob-writes +allow +0 +2\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)
