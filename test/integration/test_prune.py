"""Retention (SPEC section 13) against a real PostgreSQL and a running pgwarden: `audit prune` under
pgbench load fails no transaction, writes an anchor that `audit verify` reports, shrinks the SQLite
file, keeps a statement held for approval, and leaves export and --follow working; a tampered or
deleted anchor makes verify exit 1 naming it; a PostgreSQL store is pruned per instance; and
`audit.retention` prunes in the running proxy."""
import csv
import datetime
import io
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import psycopg2  # noqa: E402

RULES = """rules:
  default: allow
  rules:
    - name: drops-need-a-dba
      match: {commands: [drop_table]}
      action: hold
      approvers: ["dba:*"]
      timeout: 5m
"""

PG = None


def setUpModule():
    global PG
    PG = harness.Postgres()
    # pgbench's tables, made directly upstream so that only the tests' own traffic is audited.
    r = subprocess.run([harness.PG_BIN + "/pgbench", "-i", "-s", "1", "-q", "-I", "dtgvp", "-h", "127.0.0.1", "-p",
                        str(PG.port), "-U", "migrator", "app"], capture_output=True, text=True,
                       env=dict(os.environ, PGPASSWORD=harness.ROLE_PASSWORD))
    assert r.returncode == 0, r.stderr


def cli(*args):
    return subprocess.run([harness.PGWARDEN] + [str(a) for a in args], capture_output=True, text=True, timeout=300)


def now_rfc3339(offset_s=0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_s)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def start_pgbench(px, args):
    return subprocess.Popen([harness.PG_BIN + "/pgbench", "-h", "127.0.0.1", "-p", str(px.port), "-U", "alice"] +
                            args + ["app"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=px.env())


def processed(out):
    m = re.search(r"number of transactions actually processed: (\d+)", out)
    assert m, out
    return int(m.group(1))


def check_clean_run(test, bench):
    out, err = bench.communicate(timeout=300)
    test.assertEqual(bench.returncode, 0, err[-3000:])
    test.assertGreater(processed(out), 0, out)
    test.assertNotIn("58030", out + err)
    test.assertNotRegex(err.lower(), r"error|abort", err[-3000:])


def sqlite_rows(path, sql):
    conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def sqlite_copy(path, target):
    """A consistent copy of a live store (SQLite's backup API), to tamper with."""
    src = sqlite3.connect(path)
    dst = sqlite3.connect(target)
    src.backup(dst)
    src.close()
    dst.close()


def wait_for_outcomes(path, timeout=15):
    deadline = time.time() + timeout
    while sqlite_rows(path, "SELECT count(*) FROM audit_statement r LEFT JOIN audit_outcome o ON o.seq = r.seq "
                            "WHERE o.seq IS NULL AND r.decision <> 'hold'")[0][0]:
        if time.time() > deadline:
            raise AssertionError("records still without outcome")
        time.sleep(0.2)


def wait_for_log(px, text, timeout=30):
    deadline = time.time() + timeout
    while text not in px.logs():
        if time.time() > deadline:
            raise AssertionError("no %r in the log:\n%s" % (text, px.logs()[-3000:]))
        time.sleep(0.2)


class SqliteStore(unittest.TestCase):
    """One pgwarden with a SQLite store, pruned from the command line while it runs."""

    @classmethod
    def setUpClass(cls):
        cls.px = harness.Pgwarden(PG, rules=RULES, extra='admin_users: ["dba:*"]\n')
        bench = start_pgbench(cls.px, ["-c", "4", "-j", "2", "-t", "1500", "-n"])
        out, err = bench.communicate(timeout=600)
        assert bench.returncode == 0, err
        wait_for_outcomes(cls.px.audit_db)

    def test_1_prune_under_load_anchors_verifies_and_shrinks_the_file(self):
        db = self.px.audit_db
        self.assertEqual(sqlite_rows(db, "PRAGMA auto_vacuum"), [(2,)])
        before = cli("audit", "verify", "--store", db)
        self.assertEqual(before.returncode, 0, before.stderr)
        records = sqlite_rows(db, "SELECT count(*) FROM audit_statement")[0][0]
        self.assertGreater(records, 20000)
        size_before = os.path.getsize(db) + os.path.getsize(db + "-wal")
        time.sleep(1.1 - time.time() % 1)  # the bound, in whole seconds, after every record so far
        bound = now_rfc3339()
        bench = start_pgbench(self.px, ["-c", "4", "-j", "2", "-T", "8", "-R", "150", "-n"])
        time.sleep(1)
        started = time.time()
        pruned = cli("audit", "prune", "--store", db, "--before", bound)
        took = time.time() - started
        check_clean_run(self, bench)
        self.assertEqual(pruned.returncode, 0, pruned.stderr)
        m = re.search(r"anchor 1: records 1-(\d+) \((\d+) records, (\d+) outcomes\) pruned before " +
                      re.escape(bound.replace("Z", ".000000Z")), pruned.stdout)
        self.assertTrue(m, pruned.stdout)
        last = int(m.group(1))
        self.assertGreater(last, records - 100)
        self.assertEqual(int(m.group(2)), last)
        print("\npruned %d records in %.2f s under load: %s" % (last, took, pruned.stdout.strip()))
        wait_for_outcomes(db)
        verified = cli("audit", "verify", "--store", db)
        self.assertEqual(verified.returncode, 0, verified.stderr)
        self.assertIn("anchor 1: records 1-%d" % last, verified.stdout)
        self.assertIn("chain verified from seq %d" % (last + 1), verified.stdout)
        self.assertIn("chain intact", verified.stdout)
        # The freed pages go back to the file system once the WAL is checkpointed.
        deadline = time.time() + 20
        while os.path.getsize(db) > size_before / 3 and time.time() < deadline:
            self.px.psql("SELECT 1")
            time.sleep(0.5)
        print("store file %d bytes (with its WAL) before, %d after" % (size_before, os.path.getsize(db)))
        self.assertLess(os.path.getsize(db), size_before / 3)

    def test_2_a_tampered_or_deleted_anchor_fails_verify_naming_it(self):
        db = self.px.audit_db
        if not sqlite_rows(db, "SELECT count(*) FROM audit_anchor")[0][0]:
            self.assertEqual(cli("audit", "prune", "--store", db, "--before", now_rfc3339()).returncode, 0)
        directory = harness.tmpdir("pgw-prune-")
        for name, sql, message in (
                ("changed.db", "UPDATE audit_anchor SET records = records - 1 WHERE number = 1",
                 "anchor 1 (records 1-"),
                ("deleted.db", "DELETE FROM audit_anchor", "no anchor covers them"),
                ("after.db", "DELETE FROM audit_statement WHERE seq = (SELECT last_seq + 1 FROM audit_anchor "
                             "ORDER BY number DESC LIMIT 1)", "is missing after anchor")):
            with self.subTest(name=name):
                copy = os.path.join(directory, name)
                sqlite_copy(db, copy)
                conn = sqlite3.connect(copy)
                conn.executescript("DROP TRIGGER audit_anchor_no_update; DROP TRIGGER audit_anchor_no_delete; "
                                   "DROP TRIGGER audit_statement_no_delete; " + sql)
                conn.close()
                r = cli("audit", "verify", "--store", copy)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn(message, r.stderr)

    def test_3_a_held_statement_survives_a_prune_past_it(self):
        px = self.px
        PG.sql("DROP TABLE IF EXISTS held_victim; CREATE TABLE held_victim(v int)", db="app")
        held = subprocess.Popen([harness.PG_BIN + "/psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
                                 px.dsn(user="ci"), "-c", "DROP TABLE held_victim"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 20
        pending = []
        while not pending and time.time() < deadline:
            pending = [r for r in px.console("SHOW APPROVALS") if r[1] == "pending"]
            time.sleep(0.1)
        self.assertTrue(pending, px.logs()[-3000:])
        seq = int(pending[0][0])
        for i in range(5):
            px.psql("SELECT %d" % i)
        wait_for_outcomes(px.audit_db)
        r = cli("audit", "prune", "--store", px.audit_db, "--before", now_rfc3339(3600))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("kept from record %d" % seq, r.stdout)
        self.assertEqual(sqlite_rows(px.audit_db, "SELECT min(seq), decision FROM audit_statement"), [(seq, "hold")])
        px.console("APPROVE %d" % seq)
        out, err = held.communicate(timeout=30)
        self.assertEqual(held.returncode, 0, err)
        self.assertEqual(PG.sql("SELECT to_regclass('public.held_victim') IS NULL", db="app"), "t")
        wait_for_outcomes(px.audit_db)
        rows = export(px.audit_db)
        self.assertEqual(rows[0]["seq"], str(seq))
        self.assertEqual(rows[0]["decision"], "approved")
        verified = cli("audit", "verify", "--store", px.audit_db)
        self.assertEqual(verified.returncode, 0, verified.stderr)

    def test_4_export_and_follow_start_at_the_first_kept_record(self):
        db = self.px.audit_db
        self.px.psql("SELECT 42")
        wait_for_outcomes(db)
        self.assertEqual(cli("audit", "prune", "--store", db, "--before", now_rfc3339(3600)).returncode, 0)
        first = sqlite_rows(db, "SELECT min(seq) FROM audit_statement")[0][0]
        self.assertGreater(first, 1000)
        rows = export(db)
        self.assertEqual(int(rows[0]["seq"]), first)
        follow = subprocess.Popen([harness.PGWARDEN, "audit", "export", "--store", db, "--follow", "--after-seq", "5",
                                   "--format", "jsonl"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = follow.stdout.readline()
        finally:
            follow.terminate()
            follow.communicate(timeout=10)
        self.assertIn('"seq":%d,' % first, line.replace(" ", ""))


def export(store):
    r = subprocess.run([harness.PGWARDEN, "audit", "export", "--store", store], capture_output=True, check=True)
    return list(csv.DictReader(io.StringIO(r.stdout.decode("utf-8"), newline="")))


class Retention(unittest.TestCase):
    """audit.retention in a running proxy: the first prune runs shortly after start."""

    def test_the_running_proxy_prunes_what_is_older_than_its_retention(self):
        px = harness.Pgwarden(PG, audit="  retention: 1s\n")
        for i in range(5):
            px.psql("SELECT %d" % i)
        wait_for_log(px, "event=audit_pruned")
        self.assertRegex(px.logs(), r"event=audit_pruned anchor=\W?anchor 1: records 1-\d+")
        verified = cli("audit", "verify", "--store", px.audit_db)
        self.assertEqual(verified.returncode, 0, verified.stderr)
        self.assertIn("anchor 1: records 1-", verified.stdout)

    def test_a_bad_retention_is_refused_naming_the_field(self):
        px = harness.Pgwarden(PG, audit="  retention: forever\n", wait=False)
        self.assertEqual(px.proc.wait(timeout=20), 2)
        self.assertIn("audit.retention", px.logs())


class PostgresStore(unittest.TestCase):
    """Two instances on one PostgreSQL store: each chain cut and anchored on its own."""

    @classmethod
    def setUpClass(cls):
        cls.store = harness.Postgres()
        cls.store.sql("CREATE DATABASE audit OWNER migrator")
        cls.uri = "postgresql://migrator:%s@127.0.0.1:%d/audit" % (harness.ROLE_PASSWORD, cls.store.port)

    def instance(self, name, retention="", uri=None):
        audit = "  backend: postgresql\n  instance: %s\n  postgresql: {dsn_env: AUDIT_DSN}\n%s" % (name, retention)
        return harness.Pgwarden(PG, audit=audit, env={"AUDIT_DSN": uri or self.uri})

    def rows(self, sql, args=(), db="audit"):
        """The rows of `sql` on the store, run as its owner and committed."""
        conn = psycopg2.connect(self.store.dsn(db=db))
        try:
            cur = conn.cursor()
            cur.execute(sql, args)
            rows = cur.fetchall() if cur.description else None
            conn.commit()
            return rows
        finally:
            conn.close()

    def wait_for_outcomes(self, timeout=15):
        deadline = time.time() + timeout
        while self.rows("SELECT count(*) FROM pgwarden.audit_statement r LEFT JOIN pgwarden.audit_outcome o "
                        "ON o.instance = r.instance AND o.seq = r.seq WHERE o.seq IS NULL")[0][0]:
            self.assertLess(time.time(), deadline, "records still without outcome")
            time.sleep(0.2)

    def test_each_instance_is_pruned_and_anchored_on_its_own(self):
        a, b = self.instance("gw-a"), self.instance("gw-b")
        for px in (a, b):
            bench = start_pgbench(px, ["-c", "2", "-t", "200", "-n"])
            check_clean_run(self, bench)
        self.wait_for_outcomes()
        time.sleep(1.1 - time.time() % 1)
        bound = now_rfc3339()
        load = start_pgbench(a, ["-c", "2", "-T", "5", "-R", "100", "-n"])
        time.sleep(1)
        pruned = cli("audit", "prune", "--store", self.uri, "--before", bound)
        check_clean_run(self, load)
        self.assertEqual(pruned.returncode, 0, pruned.stderr)
        for name in ("gw-a", "gw-b"):
            self.assertRegex(pruned.stdout, r"instance %s: anchor 1: records 1-\d+" % name)
        self.wait_for_outcomes()
        verified = cli("audit", "verify", "--store", self.uri)
        self.assertEqual(verified.returncode, 0, verified.stderr)
        for name in ("gw-a", "gw-b"):
            first = self.rows("SELECT min(seq) FROM pgwarden.audit_statement WHERE instance = %s", (name,))[0][0]
            self.assertIn("instance %s: anchor 1: records 1-%d" % (name, first - 1), verified.stdout)
            self.assertIn("chain verified from seq %d" % first, verified.stdout)
        # The triggers still refuse a delete that no anchor covers, to the store's owner too.
        with self.assertRaises(psycopg2.Error):
            self.rows("DELETE FROM pgwarden.audit_statement WHERE instance = 'gw-a'")
        with self.assertRaises(psycopg2.Error):
            self.rows("UPDATE pgwarden.audit_anchor SET records = 0")

        # An instance with audit.retention prunes its own chains only.
        b_seqs = self.rows("SELECT count(*) FROM pgwarden.audit_statement WHERE instance = 'gw-b'")
        c = self.instance("gw-c", retention="  retention: 1s\n")
        for i in range(5):
            c.psql("SELECT %d" % i)
        wait_for_log(c, "event=audit_pruned")
        self.assertIn("instance=gw-c", c.logs())
        self.assertEqual(self.rows("SELECT instance, max(number) FROM pgwarden.audit_anchor GROUP BY 1 ORDER BY 1"),
                         [("gw-a", 1), ("gw-b", 1), ("gw-c", 1)])
        self.assertEqual(self.rows("SELECT count(*) FROM pgwarden.audit_statement WHERE instance = 'gw-b'"), b_seqs)
        verified = cli("audit", "verify", "--store", self.uri)
        self.assertEqual(verified.returncode, 0, verified.stderr)
        self.assertIn("instance gw-c: anchor 1", verified.stdout)

        # A changed anchor is found, naming the instance and the anchor.
        self.rows("ALTER TABLE pgwarden.audit_anchor DISABLE TRIGGER USER; "
                  "UPDATE pgwarden.audit_anchor SET records = records + 1 WHERE instance = 'gw-b'; "
                  "ALTER TABLE pgwarden.audit_anchor ENABLE TRIGGER USER")
        broken = cli("audit", "verify", "--store", self.uri)
        self.assertEqual(broken.returncode, 1, broken.stdout)
        self.assertIn("instance gw-b", broken.stderr)
        self.assertIn("anchor 1 (records 1-", broken.stderr)

    def test_a_store_written_before_prunes_is_given_its_anchors(self):
        self.store.sql("CREATE DATABASE before_prunes OWNER migrator")
        uri = self.uri.replace("/audit", "/before_prunes")
        px = self.instance("gw-old", uri=uri)
        for i in range(5):
            px.psql("SELECT %d" % i)
        px.stop()
        # As a store of the previous version: no audit_anchor, every delete refused.
        self.rows("DROP TABLE pgwarden.audit_anchor; DROP FUNCTION pgwarden.refuse_unanchored_delete() CASCADE; "
                  "DROP TRIGGER audit_statement_append_only ON pgwarden.audit_statement; "
                  "DROP TRIGGER audit_outcome_append_only ON pgwarden.audit_outcome; "
                  "CREATE TRIGGER audit_statement_append_only BEFORE UPDATE OR DELETE ON pgwarden.audit_statement "
                  "FOR EACH ROW EXECUTE FUNCTION pgwarden.refuse_change(); "
                  "CREATE TRIGGER audit_outcome_append_only BEFORE UPDATE OR DELETE ON pgwarden.audit_outcome "
                  "FOR EACH ROW EXECUTE FUNCTION pgwarden.refuse_change()", db="before_prunes")
        self.assertEqual(cli("audit", "verify", "--store", uri).returncode, 0)
        pruned = cli("audit", "prune", "--store", uri, "--before", now_rfc3339(60))
        self.assertEqual(pruned.returncode, 0, pruned.stderr)
        self.assertIn("instance gw-old: anchor 1: records 1-", pruned.stdout)
        verified = cli("audit", "verify", "--store", uri)
        self.assertEqual(verified.returncode, 0, verified.stderr)
        self.assertIn("instance gw-old: anchor 1", verified.stdout)
        with self.assertRaises(psycopg2.Error):
            self.rows("DELETE FROM pgwarden.audit_statement", db="before_prunes")


if __name__ == "__main__":
    unittest.main(verbosity=2)
