"""The audit store through the running proxy: one record per execution with who and what,
committed before the statement runs (kill -9 loses nothing that ran), refusal when the store
cannot be written, tamper evidence, and CSV that round-trips through Python's csv module."""
import csv
import io
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import psycopg2  # noqa: E402

COLUMNS = ("seq,ts,principal,attribution,job_id,commit,session_id,client_addr,database,upstream_role,"
           "application_name,protocol,command,classes,tables_read,tables_written,fingerprint,statement,"
           "parameters,decision,rule,approver,rows,sqlstate,error,duration_ms,masked_values,hash,instance").split(",")

RULES = """rules:
  default: allow
  rules:
    - name: no-drops
      match: {commands: [drop_table], tables: [public.pgbench_history]}
      action: deny
      message: not here
"""

PG = PX = None


def setUpModule():
    global PG, PX
    PG = harness.Postgres()
    PX = harness.Pgwarden(PG, rules="  instance: gw-test-1\n" + RULES)


def export(store, *filters):
    r = subprocess.run([harness.PGWARDEN, "audit", "export", "--store", store] + list(filters), capture_output=True,
                       check=True)
    return list(csv.DictReader(io.StringIO(r.stdout.decode("utf-8"), newline="")))


def pgbench(px, args, job, check=True):
    env = dict(px.env(), PGOPTIONS="-c pgwarden.job_id=%s -c pgwarden.commit=c0ffee" % job)
    r = subprocess.run([harness.PG_BIN + "/pgbench", "-h", "127.0.0.1", "-p", str(px.port), "-U", "alice"] + args +
                       ["app"], capture_output=True, text=True, env=env, timeout=600)
    if check:
        assert r.returncode == 0, r.stderr
    return r


class Records(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        pgbench(PX, ["-i", "-s", "1", "-q", "-I", "tgvp"], "init")

    def test_header_is_exactly_the_spec_columns(self):
        r = subprocess.run([harness.PGWARDEN, "audit", "export", "--store", PX.audit_db], capture_output=True,
                           check=True)
        self.assertEqual(r.stdout.split(b"\r\n", 1)[0].decode(), ",".join(COLUMNS))

    def test_pgbench_simple_every_statement_once(self):
        pgbench(PX, ["-S", "-M", "simple", "-c", "2", "-t", "50", "-n"], "job-simple")
        rows = export(PX.audit_db, "--job", "job-simple")
        selects = [r for r in rows if r["statement"].startswith("SELECT abalance")]
        self.assertEqual(len(selects), 100)
        self.assertEqual(len({r["seq"] for r in selects}), 100)
        for r in selects:
            self.assertEqual(r["principal"], "dba:alice")
            self.assertEqual(r["attribution"], "claimed")
            self.assertEqual(r["commit"], "c0ffee")
            self.assertEqual(r["protocol"], "simple")
            self.assertEqual(r["command"], "select")
            self.assertEqual(r["decision"], "allow")
            self.assertEqual(r["rows"], "1")
            self.assertEqual(r["tables_read"], "public.pgbench_accounts")
            self.assertEqual(r["upstream_role"], "migrator")
            self.assertRegex(r["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

    def test_seq_is_contiguous_and_names_the_instance(self):
        pgbench(PX, ["-S", "-M", "extended", "-c", "2", "-t", "20", "-n"], "job-contiguous")
        PX.psql("SELECT 'after pgbench'")
        rows = export(PX.audit_db)
        self.assertEqual([int(r["seq"]) for r in rows], list(range(1, len(rows) + 1)))
        self.assertEqual({r["instance"] for r in rows}, {"gw-test-1"})
        # Every statement has its outcome joined, each session's fields are written once.
        job = [r for r in rows if r["job_id"] == "job-contiguous"]
        self.assertTrue(job and all(r["rows"] != "" or r["sqlstate"] != "" for r in job))
        db = sqlite3.connect(PX.audit_db)
        sessions = db.execute("SELECT count(*) FROM audit_session WHERE job_id = 'job-contiguous'").fetchone()[0]
        db.close()
        self.assertEqual(sessions, len({r["session_id"] for r in job}))
        self.assertGreaterEqual(sessions, 2)  # pgbench's two clients, and its own first connection

    def test_pgbench_prepared_has_parameters(self):
        pgbench(PX, ["-S", "-M", "prepared", "-c", "2", "-t", "50", "-n"], "job-prepared")
        rows = [r for r in export(PX.audit_db, "--job", "job-prepared") if r["statement"].startswith("SELECT abalance")]
        self.assertEqual(len(rows), 100)
        for r in rows:
            self.assertEqual(r["protocol"], "extended")
            self.assertRegex(r["parameters"], r'^\["\d+"\]$')
            self.assertEqual(r["rows"], "1")

    def test_denied_statement_is_recorded_with_rule(self):
        r = PX.psql("DROP TABLE pgbench_history", check=False)
        self.assertNotEqual(r.returncode, 0)
        rows = [x for x in export(PX.audit_db, "--decision", "deny") if x["statement"] == "DROP TABLE pgbench_history"]
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["rule"], "no-drops")
        self.assertEqual(rows[0]["sqlstate"], "42501")

    def test_untouched_store_verifies(self):
        r = subprocess.run([harness.PGWARDEN, "audit", "verify", "--store", PX.audit_db], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_csv_round_trip_of_awkward_text(self):
        texts = ["SELECT 'a,b' AS \"x\"\"y\"", "SELECT 'line1\nline2\r\nline3'", "SELECT 'naïve ☃ 漢字'"]
        conn = psycopg2.connect(PX.dsn(options="'-c pgwarden.job_id=csv-rt'"))
        conn.autocommit = True
        for t in texts:
            conn.cursor().execute(t)
        conn.close()
        got = [r["statement"] for r in export(PX.audit_db, "--job", "csv-rt")]
        self.assertEqual(got, texts)


class Tampering(unittest.TestCase):
    def copy_store(self):
        d = harness.tmpdir("pgw-tamper-")
        path = os.path.join(d, "audit.db")
        src = sqlite3.connect(PX.audit_db)
        dst = sqlite3.connect(path)
        src.backup(dst)
        src.close()
        for table in ("audit_session", "audit_statement", "audit_outcome"):
            dst.execute("DROP TRIGGER IF EXISTS %s_no_update" % table)
            dst.execute("DROP TRIGGER IF EXISTS %s_no_delete" % table)
        dst.commit()
        return dst, path

    def verify(self, path):
        return subprocess.run([harness.PGWARDEN, "audit", "verify", "--store", path], capture_output=True, text=True)

    def test_changed_statement_is_found(self):
        PX.psql("SELECT 'tamper target'")
        db, path = self.copy_store()
        seq = db.execute("SELECT max(seq) FROM audit_statement").fetchone()[0]
        db.execute("UPDATE audit_statement SET statement = 'SELECT 1' WHERE seq = ?", (seq,))
        db.commit()
        r = self.verify(path)
        self.assertEqual(r.returncode, 1)
        self.assertIn(str(seq), r.stdout + r.stderr)

    def test_deleted_row_is_found(self):
        db, path = self.copy_store()
        db.execute("DELETE FROM audit_statement WHERE seq = 5")
        db.commit()
        r = self.verify(path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("record 5 is missing", r.stdout + r.stderr)

    def test_deleted_outcome_is_found(self):
        db, path = self.copy_store()
        db.execute("DELETE FROM audit_outcome WHERE seq = 3")
        db.commit()
        r = self.verify(path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("removed", r.stdout + r.stderr)


class NormalizedText(unittest.TestCase):
    def test_statement_is_recorded_without_its_literals(self):
        px = harness.Pgwarden(PG, rules="  statement_text: normalized\n" + RULES)
        px.psql("SELECT 'card 4111-1111-1111-1111' AS s, 42 AS n")
        px.psql("SELECT 'card 4111-1111-1111-1111' AS s, 42 AS n")  # the second from the parse cache
        rows = [r for r in export(px.audit_db) if "AS s" in r["statement"]]
        self.assertEqual([r["statement"] for r in rows], ["SELECT $1 AS s, $2 AS n"] * 2)
        self.assertEqual([r["parameters"] for r in rows], ["", ""])
        self.assertEqual([r["rows"] for r in rows], ["1", "1"])


class Durability(unittest.TestCase):
    def test_kill_9_loses_no_record_of_what_ran(self):
        px = harness.Pgwarden(PG, rules=RULES)
        PG.sql("DROP TABLE IF EXISTS ins; CREATE TABLE ins(v bigint)", db="app")
        script = os.path.join(px.dir, "ins.sql")
        with open(script, "w") as f:
            f.write("\\set v random(1, 1000000000000)\nINSERT INTO ins VALUES (:v);\n")
        p = subprocess.Popen([harness.PG_BIN + "/pgbench", "-h", "127.0.0.1", "-p", str(px.port), "-U", "alice", "-n",
                              "-c", "4", "-j", "2", "-T", "30", "-M", "simple", "-f", script, "app"],
                             env=px.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while int(PG.sql("SELECT count(*) FROM ins", db="app")) < 500 and time.time() < deadline:
            time.sleep(0.1)
        px.proc.send_signal(signal.SIGKILL)
        px.proc.wait()
        p.wait()
        values = PG.sql("SELECT v FROM ins", db="app").split()
        self.assertGreaterEqual(len(values), 500)
        recorded = set()
        for r in export(px.audit_db):
            m = re.match(r"INSERT INTO ins VALUES \((\d+)\)", r["statement"])
            if m:
                recorded.add(m.group(1))
        missing = [v for v in values if v not in recorded]
        self.assertEqual(missing, [], "rows in the table without an audit record")

    def test_unwritable_store_refuses_then_recovers(self):
        px = harness.Pgwarden(PG, rules=RULES)
        conn = psycopg2.connect(px.dsn())
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SELECT 1")
        files = [f for f in (px.audit_db, px.audit_db + "-wal") if os.path.exists(f)]
        subprocess.run(["chattr", "+i"] + files, check=True)
        try:
            PG.sql("DROP TABLE IF EXISTS ro; CREATE TABLE ro(v int)", db="app")
            with self.assertRaises(psycopg2.Error) as ctx:
                cur.execute("INSERT INTO ro VALUES (1)")
            self.assertEqual(ctx.exception.pgcode, "58030")
            self.assertEqual(PG.sql("SELECT count(*) FROM ro", db="app"), "0")
        finally:
            subprocess.run(["chattr", "-i"] + files, check=True)
        cur.execute("INSERT INTO ro VALUES (2)")
        self.assertEqual(PG.sql("SELECT count(*) FROM ro", db="app"), "1")
        conn.close()
        self.assertIn("event=audit_write_failed", px.logs())


if __name__ == "__main__":
    unittest.main(verbosity=2)
