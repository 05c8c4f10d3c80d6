"""psql, authentication and the session basics through pgwarden against a real PostgreSQL 15."""
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import psycopg2  # noqa: E402
import psycopg2.extensions  # noqa: E402

PG = PX = None


def setUpModule():
    global PG, PX
    PG = harness.Postgres()
    PX = harness.Pgwarden(PG)


class Basics(unittest.TestCase):
    def test_query_returns_rows(self):
        r = PX.psql("SELECT current_user, current_database(), 40 + 2")
        self.assertEqual(r.stdout.strip(), "migrator|app|42")

    def test_multi_statement_and_errors_keep_session(self):
        conn = psycopg2.connect(PX.dsn())
        cur = conn.cursor()
        cur.execute("CREATE TEMP TABLE t(a int); INSERT INTO t SELECT generate_series(1, 10)")
        with self.assertRaises(psycopg2.errors.DivisionByZero):
            cur.execute("SELECT 1/0")
        conn.rollback()
        cur.execute("SELECT 7")
        self.assertEqual(cur.fetchone(), (7,))
        conn.close()

    def test_extended_protocol_parameters(self):
        conn = psycopg2.connect(PX.dsn())
        cur = conn.cursor()
        cur.execute("SELECT %s::int + %s::int, %s::text", (40, 2, "x'y"))
        self.assertEqual(cur.fetchone(), (42, "x'y"))
        conn.close()

    def test_transaction_status_reported(self):
        conn = psycopg2.connect(PX.dsn())
        cur = conn.cursor()
        cur.execute("SELECT 1")
        self.assertEqual(conn.get_transaction_status(), psycopg2.extensions.TRANSACTION_STATUS_INTRANS)
        with self.assertRaises(psycopg2.Error):
            cur.execute("SELECT nosuchcolumn")
        self.assertEqual(conn.get_transaction_status(), psycopg2.extensions.TRANSACTION_STATUS_INERROR)
        conn.rollback()
        self.assertEqual(conn.get_transaction_status(), psycopg2.extensions.TRANSACTION_STATUS_IDLE)
        conn.close()

    def test_parameter_status_and_application_name(self):
        conn = psycopg2.connect(PX.dsn(application_name="deploy-7"))
        self.assertEqual(conn.get_parameter_status("server_version").split(".")[0], "15")
        cur = conn.cursor()
        cur.execute("SELECT current_setting('application_name')")
        self.assertEqual(cur.fetchone()[0], "deploy-7")
        cur.execute("SET application_name = 'changed'")
        self.assertEqual(conn.get_parameter_status("application_name"), "changed")
        conn.close()

    def test_backend_key_pid_is_positive_and_not_upstream(self):
        conn = psycopg2.connect(PX.dsn())
        pid = conn.get_backend_pid()
        cur = conn.cursor()
        cur.execute("SELECT pg_backend_pid()")
        self.assertGreater(pid, 0)
        self.assertNotEqual(pid, cur.fetchone()[0])
        conn.close()

    def test_pgwarden_options_are_stripped_upstream(self):
        r = PX.psql("SHOW search_path", dsn_extra={"options": "'-c pgwarden.job_id=1234 -c search_path=public'"})
        self.assertEqual(r.stdout.strip(), "public")
        conn = psycopg2.connect(PX.dsn(options="'-c pgwarden.job_id=99 -c pgwarden.commit=abc'"))
        cur = conn.cursor()
        cur.execute("SELECT current_setting('pgwarden.job_id', true)")
        self.assertIsNone(cur.fetchone()[0])
        conn.close()

    def test_listen_notify_between_sessions(self):
        a = psycopg2.connect(PX.dsn())
        a.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        a.cursor().execute("LISTEN deploys")
        b = psycopg2.connect(PX.dsn(user="ci"))
        b.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        b.cursor().execute("NOTIFY deploys, 'v42'")
        deadline = time.time() + 5
        while not a.notifies and time.time() < deadline:
            import select
            select.select([a], [], [], 0.5)
            a.poll()
        self.assertEqual([n.payload for n in a.notifies], ["v42"])
        a.close()
        b.close()

    def test_notice_is_relayed(self):
        r = PX.psql("DO $$BEGIN RAISE NOTICE 'hello from plpgsql'; END$$")
        self.assertIn("hello from plpgsql", r.stderr)

    def test_copy_in_and_out_100k_rows(self):
        d = harness.tmpdir("pgw-copy-")
        src = os.path.join(d, "in.csv")
        with open(src, "w") as f:
            for i in range(100000):
                f.write("%d,row %d with, comma\n" % (i, i) if False else "%d\trow %d\n" % (i, i))
        PX.psql("DROP TABLE IF EXISTS copytest; CREATE TABLE copytest(id int, label text)")
        PX.psql("\\copy copytest FROM '%s'" % src)
        self.assertEqual(PX.psql("SELECT count(*), sum(id) FROM copytest").stdout.strip(), "100000|4999950000")
        out = os.path.join(d, "out.tsv")
        PX.psql("\\copy (SELECT * FROM copytest ORDER BY id) TO '%s'" % out)
        with open(src) as a, open(out) as b:
            self.assertEqual(a.read(), b.read())

    def test_cancel_request_reaches_upstream(self):
        conn = psycopg2.connect(PX.dsn())
        cur = conn.cursor()
        timer = threading.Timer(0.5, conn.cancel)
        timer.start()
        start = time.time()
        with self.assertRaises(psycopg2.errors.QueryCanceled) as ctx:
            cur.execute("SELECT pg_sleep(30)")
        self.assertEqual(ctx.exception.pgcode, "57014")
        self.assertLess(time.time() - start, 1.5 + 0.5)
        conn.rollback()
        conn.close()

    def test_client_disconnect_cancels_upstream_query(self):
        p = subprocess.Popen([harness.PG_BIN + "/psql", "-X", "-d", PX.dsn(application_name="walkaway"), "-c",
                              "SELECT pg_sleep(60)"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        q = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'walkaway'"
        deadline = time.time() + 10
        while PG.sql(q) != "1" and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(PG.sql(q), "1")
        p.kill()
        p.wait()
        deadline = time.time() + 5
        while PG.sql(q) != "0" and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(PG.sql(q), "0")


class Authentication(unittest.TestCase):
    def test_wrong_password_is_refused_without_upstream_connection(self):
        before = PG.sql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'migrator'")
        with self.assertRaises(psycopg2.OperationalError) as ctx:
            psycopg2.connect(PX.dsn(password="wrong"))
        self.assertIn("password authentication failed", str(ctx.exception))
        self.assertEqual(PG.sql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'migrator'"), before)
        self.assertIn("event=auth_failed", PX.logs())

    def test_wrong_password_sqlstate_28P01(self):
        r = subprocess.run([harness.PG_BIN + "/psql", "-X", "-d", PX.dsn(password="wrong"), "-c", "SELECT 1",
                            "-v", "VERBOSITY=verbose"], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("password authentication failed for user \"alice\"", r.stderr)

    def test_unknown_user_looks_like_wrong_password(self):
        with self.assertRaises(psycopg2.OperationalError) as ctx:
            psycopg2.connect("host=127.0.0.1 port=%d user=mallory password=x dbname=app" % PX.port)
        self.assertIn("password authentication failed for user \"mallory\"", str(ctx.exception))

    def test_upstream_credential_is_never_sent_to_client(self):
        r = PX.psql("SELECT 1")
        self.assertNotIn(harness.ROLE_PASSWORD, r.stdout + r.stderr)
        self.assertNotIn(harness.ROLE_PASSWORD, PX.logs())

    def test_upstream_md5(self):
        px = harness.Pgwarden(PG, role="md5user")
        self.assertEqual(px.psql("SELECT current_user").stdout.strip(), "md5user")

    def test_unknown_database_error_is_forwarded_once(self):
        with self.assertRaises(psycopg2.OperationalError) as ctx:
            psycopg2.connect(PX.dsn(db="nosuchdb"))
        self.assertIn('database "nosuchdb" does not exist', str(ctx.exception))
        self.assertEqual(str(ctx.exception).count("does not exist"), 1)

    def test_replication_connection_refused(self):
        with self.assertRaises(psycopg2.OperationalError) as ctx:
            psycopg2.connect(PX.dsn(replication="database"))
        self.assertIn("replication", str(ctx.exception))


if __name__ == "__main__":
    unittest.main(verbosity=2)
