"""Rule enforcement through the running proxy: the bypass suite, transaction semantics in both
protocols, parse errors, monitor mode and reload on SIGHUP."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import psycopg2  # noqa: E402

PQCLIENT = os.environ.get("PQCLIENT_BIN", os.path.join(os.path.dirname(__file__), "../../build/test/pqclient"))

RULES = """mode: enforce
default: allow
on_parse_error: deny
rules:
  - name: no-unbounded-delete
    match: {commands: [delete, update], where: absent}
    action: deny
    message: "UPDATE/DELETE without WHERE is not allowed"
  - name: protect-t
    match: {commands: [delete], tables: ["public.t"]}
    action: deny
    message: "nobody deletes from t"
  - name: protect-s-t
    match: {commands: [delete], tables: ["s.t"]}
    action: deny
    message: "nobody deletes from s.t"
  - name: no-drops
    match: {commands: [drop_table]}
    action: deny
    message: "tables are not dropped here"
  - name: no-file-functions
    match: {functions: [pg_read_file, pg_ls_dir, "dblink*"]}
    action: deny
    message: "file access is not allowed"
  - name: no-vault-secret
    match: {columns: ["*.vault.secret"]}
    action: deny
    message: "vault.secret is not read here"
  - name: no-large-objects-from-ci
    match: {functions: [lo_creat, lo_create, lo_open], principals: ["acme/*"]}
    action: deny
    message: "no large objects from CI"
"""

PG = PX = None


def setUpModule():
    global PG, PX
    PG = harness.Postgres()
    PX = harness.Pgwarden(PG, rules="rules_file: rules.yaml\n", files={"rules.yaml": RULES})


def write_rules(text, reload=False):
    with open(os.path.join(PX.dir, "rules.yaml"), "w") as f:
        f.write(text)
    if reload:
        PX.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)


def reset_tables():
    PG.sql("DROP TABLE IF EXISTS t, \"T\", keep; DROP SCHEMA IF EXISTS s CASCADE; CREATE SCHEMA s;"
           "CREATE TABLE t(id int); INSERT INTO t VALUES (1), (2); CREATE TABLE s.t(id int); INSERT INTO s.t VALUES (1);"
           "CREATE TABLE \"T\"(id int); CREATE TABLE keep(id int)", db="app")


def count(table):
    return int(PG.sql("SELECT count(*) FROM %s" % table, db="app"))


def pq(*sqls, user="alice"):
    r = subprocess.run([PQCLIENT, PX.dsn(user=user), "pipeline"] + list(sqls), capture_output=True, text=True,
                       timeout=60)
    return r.stdout.splitlines()


class Bypass(unittest.TestCase):
    def setUp(self):
        reset_tables()

    def assert_denied(self, sql, rule, table="t", rows=2):
        r = PX.psql(sql, check=False)
        self.assertNotEqual(r.returncode, 0, "%s ran: %s" % (sql, r.stdout))
        self.assertIn('pgwarden: denied by rule "%s"' % rule, r.stderr)
        self.assertEqual(count(table), rows)

    def test_unbounded_delete(self):
        self.assert_denied("DELETE FROM keep", "no-unbounded-delete", table="keep", rows=0)

    def test_data_modifying_cte(self):
        self.assert_denied("WITH x AS (DELETE FROM t WHERE id > 0 RETURNING 1) SELECT 1", "protect-t")

    def test_explain_analyze(self):
        self.assert_denied("EXPLAIN ANALYZE DELETE FROM t WHERE id = 1", "protect-t")

    def test_prepare_and_execute(self):
        self.assert_denied("PREPARE p AS DELETE FROM t WHERE id = 1; EXECUTE p", "protect-t")
        self.assert_denied("PREPARE p2 AS DELETE FROM t WHERE id = 1", "protect-t")

    def test_any_denied_statement_stops_the_whole_query(self):
        self.assert_denied("INSERT INTO t VALUES (99); DROP TABLE t", "no-drops", rows=2)

    def test_comment_and_mixed_case_quoted_name(self):
        r = PX.psql('/* allow */ DrOp TaBlE "T"', check=False)
        self.assertIn('denied by rule "no-drops"', r.stderr)
        self.assertEqual(PG.sql("SELECT count(*) FROM pg_class WHERE relname = 'T'", db="app"), "1")

    def test_every_column_readers_meet_column_rules(self):
        PG.sql("DROP TABLE IF EXISTS vault; CREATE TABLE vault(id int, secret text);"
               "INSERT INTO vault VALUES (1, 'hunter2')", db="app")
        for sql in ("SELECT secret FROM vault", "SELECT * FROM vault", "SELECT v.* FROM vault v",
                    "SELECT row_to_json(v) FROM vault v", "SELECT v FROM vault v"):
            r = PX.psql(sql, check=False)
            self.assertIn('denied by rule "no-vault-secret"', r.stderr, sql)
            self.assertNotIn("hunter2", r.stdout)
        self.assertEqual(PX.psql("SELECT id FROM vault").stdout.strip(), "1")

    def test_function_in_subquery(self):
        r = PX.psql("SELECT * FROM (SELECT pg_read_file('/etc/passwd')) s", check=False)
        self.assertIn('denied by rule "no-file-functions"', r.stderr)
        self.assertNotIn("root:", r.stdout)

    def test_search_path_in_same_query(self):
        self.assert_denied("SET search_path = s; DELETE FROM t WHERE id = 1", "protect-s-t", table="s.t", rows=1)

    def test_search_path_in_earlier_query(self):
        conn = psycopg2.connect(PX.dsn())
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SET search_path = s")
        with self.assertRaises(psycopg2.Error) as ctx:
            cur.execute("DELETE FROM t WHERE id = 1")
        self.assertEqual(ctx.exception.pgcode, "42501")
        self.assertIn("protect-s-t", str(ctx.exception))
        self.assertEqual(count("s.t"), 1)
        conn.close()

    def test_copy_of_a_delete(self):
        self.assert_denied("COPY (DELETE FROM t WHERE id = 1 RETURNING *) TO STDOUT", "protect-t")

    def test_denied_parse_in_extended_pipeline(self):
        out = pq("INSERT INTO keep VALUES (1)", "DELETE FROM t WHERE id = 1", "INSERT INTO keep VALUES (2)")
        self.assertEqual(out[0], "ok PGRES_COMMAND_OK 1")
        self.assertTrue(out[1].startswith('error 42501 pgwarden: denied by rule "protect-t"'), out)
        self.assertEqual(out[2], "aborted")
        self.assertEqual(out[3], "sync")
        self.assertEqual(out[-1], "tx IDLE")
        self.assertEqual(count("t"), 2)
        self.assertEqual(count("keep"), 0, "the pipeline's implicit transaction rolled back")

    def test_parse_error_is_refused_with_42601(self):
        conn = psycopg2.connect(PX.dsn())
        cur = conn.cursor()
        with self.assertRaises(psycopg2.Error) as ctx:
            cur.execute("SELEC 1")
        self.assertEqual(ctx.exception.pgcode, "42601")
        self.assertIn("pgwarden", str(ctx.exception))
        conn.close()

    def test_function_call_is_judged_by_its_function(self):
        # psycopg2's large objects go through libpq's fast-path FunctionCall messages.
        conn = psycopg2.connect(PX.dsn(user="ci"))
        with self.assertRaises(psycopg2.Error) as ctx:
            conn.lobject(0, "wb")
        # libpq reports fast-path errors by message only (no SQLSTATE reaches psycopg2).
        self.assertIn('denied by rule "no-large-objects-from-ci"', str(ctx.exception))
        conn.rollback()
        conn.close()
        self.assertEqual(PG.sql("SELECT count(*) FROM pg_largeobject_metadata", db="app"), "0")
        conn = psycopg2.connect(PX.dsn(user="alice"))
        lo = conn.lobject(0, "wb")
        lo.write(b"through the fast path")
        oid = lo.oid
        lo.close()
        conn.commit()
        self.assertEqual(conn.lobject(oid, "rb").read(), b"through the fast path")
        conn.rollback()
        conn.close()
        self.assertEqual(PG.sql("SELECT count(*) FROM pg_largeobject_metadata", db="app"), "1")
        out = subprocess.run([harness.PGWARDEN, "audit", "export", "--store", PX.audit_db, "--format", "jsonl"],
                             capture_output=True, text=True, check=True).stdout
        calls = [json.loads(line) for line in out.splitlines() if '"function_call"' in line]
        decisions = {(c["principal"], c["statement"], c["decision"]) for c in calls}
        self.assertIn(("acme/api@refs/heads/main", 'SELECT "pg_catalog"."lo_creat"()', "deny"), decisions)
        self.assertIn(("dba:alice", 'SELECT "pg_catalog"."lowrite"()', "allow"), decisions)

    def test_allowed_statements_run(self):
        self.assertEqual(PX.psql("DELETE FROM keep WHERE id = 1; SELECT count(*) FROM t").stdout.split(), ["DELETE", "0", "2"])


class Transactions(unittest.TestCase):
    def setUp(self):
        reset_tables()

    def test_denied_statement_aborts_the_transaction_simple(self):
        conn = psycopg2.connect(PX.dsn())
        cur = conn.cursor()
        cur.execute("INSERT INTO keep VALUES (1)")
        with self.assertRaises(psycopg2.Error) as ctx:
            cur.execute("DROP TABLE t")
        self.assertEqual(ctx.exception.pgcode, "42501")
        with self.assertRaises(psycopg2.errors.InFailedSqlTransaction):
            cur.execute("SELECT 1")
        conn.rollback()
        conn.close()
        self.assertEqual(count("keep"), 0)

    def test_commit_after_denied_reports_rollback(self):
        r = PX.psql(None, check=False, extra_args=["-v", "ON_ERROR_STOP=0"],
                    input="BEGIN;\nINSERT INTO keep VALUES (1);\nDROP TABLE t;\nCOMMIT;\n")
        self.assertIn("ROLLBACK", r.stdout)
        self.assertEqual(count("keep"), 0)

    def test_savepoint_keeps_earlier_work(self):
        r = PX.psql(None, check=False, extra_args=["-v", "ON_ERROR_STOP=0"],
                    input="BEGIN;\nINSERT INTO keep VALUES (1);\nSAVEPOINT s;\nDROP TABLE t;\n"
                          "ROLLBACK TO s;\nINSERT INTO keep VALUES (2);\nCOMMIT;\n")
        self.assertIn("COMMIT", r.stdout)
        self.assertEqual(count("keep"), 2)

    def test_denied_in_extended_transaction(self):
        out = pq("BEGIN", "INSERT INTO keep VALUES (1)", "DELETE FROM t WHERE id = 1", "COMMIT")
        self.assertTrue(out[2].startswith("error 42501"), out)
        self.assertEqual(out[3], "aborted")
        self.assertEqual(out[-1], "tx INERROR")
        self.assertEqual(count("keep"), 0)


class Modes(unittest.TestCase):
    def tearDown(self):
        write_rules(RULES, reload=True)

    def test_reload_changes_decisions_for_open_sessions(self):
        reset_tables()
        conn = psycopg2.connect(PX.dsn())
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM t")
        write_rules(RULES + "  - name: no-reads-of-t\n    match: {tables: [public.t]}\n    action: deny\n"
                    "    message: reads are closed\n", reload=True)
        # rules are first-match: the new rule applies to a SELECT that nothing else matched
        with self.assertRaises(psycopg2.Error) as ctx:
            cur.execute("SELECT count(*) FROM t")
        self.assertIn("no-reads-of-t", str(ctx.exception))
        write_rules("rules: [this is not valid", reload=True)
        with self.assertRaises(psycopg2.Error):
            cur.execute("SELECT count(*) FROM t")
        self.assertIn("event=reload_failed", PX.logs())
        conn.close()

    def test_monitor_mode_lets_everything_run(self):
        reset_tables()
        write_rules(RULES.replace("mode: enforce", "mode: monitor"), reload=True)
        PX.psql("DELETE FROM t WHERE id = 1")
        self.assertEqual(count("t"), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
