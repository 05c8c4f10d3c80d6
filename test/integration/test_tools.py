"""The tools pipelines already run, through pgwarden, unchanged: psycopg2, node-postgres, pgjdbc,
Alembic, sqitch, and pg_dump/pg_restore. Each runs a small migration or workload for real against
PostgreSQL 15, and the test checks what it did to the database and what the audit recorded: the
statements attributed to the CI principal and the job id it claimed with PGOPTIONS.

Every tool is required (test/install-deps.sh installs them): a missing one fails its test."""
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import psycopg2  # noqa: E402

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tools")
CI = "acme/api@refs/heads/main"   # the principal of harness.Pgwarden's user "ci"
PGJDBC_JAR = "/usr/share/java/postgresql.jar"
NODE_PG = "pg@8"

RULES = """mode: enforce
default: allow
on_parse_error: deny
rules:
  - name: no-unbounded-delete
    match: {commands: [delete, update], where: absent}
    action: deny
    message: "UPDATE/DELETE without WHERE is not allowed"
  - name: ci-never-drops-columns
    match: {principals: ["*@refs/heads/*"], commands: [alter_table_drop_column]}
    action: deny
    message: "columns are dropped by the DBAs"
  - name: ci-drops-need-a-dba
    match: {principals: ["*@refs/heads/*"], commands: [drop_table]}
    action: hold
    approvers: ["dba:*"]
    timeout: 2m
  - name: bench-history-is-read-only
    match: {databases: [bench], writes: [public.pgbench_history]}
    action: deny
    message: "pgbench_history in bench is never changed"
  - name: no-exclusive-lock-on-history
    match: {commands: [lock], lock_modes: [access_exclusive], tables: [public.pgbench_history]}
    action: deny
    message: "an ACCESS EXCLUSIVE lock would stop every reader of pgbench_history"
"""

PG = PX = None


def setUpModule():
    global PG, PX
    PG = harness.Postgres()
    PX = harness.Pgwarden(PG, extra='admin_users: ["dba:*"]\n', rules="rules_file: rules.yaml\n",
                          files={"rules.yaml": RULES})


def tool(name):
    """The path of a command the suite needs; fails (never skips) when it is not installed."""
    path = shutil.which(name)
    if not path:
        raise AssertionError("%s is not installed: run test/install-deps.sh" % name)
    return path


def run(args, env=None, timeout=300, check=True, cwd=None):
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd)
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s\n--- pgwarden log:\n%s" % (
            " ".join(args[:3]), r.returncode, r.stdout[-3000:], r.stderr[-3000:], PX.logs()[-2000:]))
    return r


def ci_env(job, commit="c0ffee1"):
    """libpq's environment for the CI principal claiming `job` and `commit`."""
    return dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(PX.port), PGUSER="ci", PGPASSWORD="ci-pw",
                PGDATABASE="app", PGOPTIONS="-c pgwarden.job_id=%s -c pgwarden.commit=%s" % (job, commit))


def audit(*filters):
    r = run([harness.PGWARDEN, "audit", "export", "--store", PX.audit_db] + list(filters))
    return list(csv.DictReader(io.StringIO(r.stdout, newline="")))


def dump_direct(db, *args):
    """pg_dump of `db` read directly from the server, without the per-run \\restrict key lines."""
    r = harness.as_postgres([harness.PG_BIN + "/pg_dump", "-h", PG.dir, "-p", str(PG.port), "-d", db] + list(args))
    return without_restrict_keys(r.stdout)


def without_restrict_keys(dump):
    return "".join(l for l in dump.splitlines(True) if not l.startswith(("\\restrict ", "\\unrestrict ")))


def schema():
    """The app database's schema (the sqitch registry aside)."""
    return dump_direct("app", "-s", "-N", "sqitch")


def columns(table):
    return PG.sql("SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns "
                  "WHERE table_name = '%s'" % table, db="app")


def tools_cache():
    """A folder kept between runs for npm packages and compiled classes, beside pgwarden's build."""
    d = os.environ.get("PGWARDEN_TOOLS_CACHE") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(harness.PGWARDEN))), "tools-cache")
    os.makedirs(d, exist_ok=True)
    return d


class AuditedTool(unittest.TestCase):
    """Checks shared by every tool: what the audit says about a job."""

    def assert_attributed(self, rows, job, commit="c0ffee1"):
        self.assertTrue(rows, "no audit rows for job %s" % job)
        for r in rows:
            self.assertEqual((r["principal"], r["attribution"], r["job_id"], r["commit"]),
                             (CI, "claimed", job, commit), r["statement"])

    def assert_recorded(self, rows, command, decision="allow", contains="", at_least=1):
        hits = [r for r in rows if r["command"] == command and r["decision"] == decision and contains in r["statement"]]
        self.assertGreaterEqual(len(hits), at_least, "%s %s %r: %s" % (
            command, decision, contains, [(r["command"], r["decision"], r["statement"][:60]) for r in rows]))
        return hits


class Psycopg2(AuditedTool):
    JOB = "py-1"

    def connect(self):
        return psycopg2.connect(PX.dsn(user="ci", options="'-c pgwarden.job_id=%s -c pgwarden.commit=c0ffee1'" % self.JOB))

    @classmethod
    def setUpClass(cls):
        PG.sql("DROP TABLE IF EXISTS py_items; CREATE TABLE py_items (id int PRIMARY KEY, name text, qty int); "
               "GRANT ALL ON py_items TO migrator", db="app")

    def test_parameters_executemany_server_side_cursor(self):
        conn = self.connect()
        with conn, conn.cursor() as cur:
            cur.executemany("INSERT INTO py_items VALUES (%s, %s, %s)", [(i, "n%d" % i, i) for i in range(1, 101)])
        with conn:
            named = conn.cursor("big_read")
            named.itersize = 25
            named.execute("SELECT id, qty FROM py_items WHERE qty > %s AND id <= 100 ORDER BY id", (50,))
            got = [row for row in named]
            named.close()
        self.assertEqual(len(got), 50)
        self.assertEqual(sum(q for _, q in got), sum(range(51, 101)))
        conn.close()
        rows = audit("--job", self.JOB)
        self.assert_attributed(rows, self.JOB)
        inserts = self.assert_recorded(rows, "insert", contains="INSERT INTO py_items VALUES", at_least=100)
        self.assertEqual(len(inserts), 100)
        self.assertTrue(all(r["rows"] == "1" and r["protocol"] == "simple" for r in inserts))
        self.assert_recorded(rows, "declare_cursor", contains="WHERE qty > 50")
        fetches = self.assert_recorded(rows, "fetch", contains="FETCH FORWARD 25", at_least=3)
        self.assertEqual(sum(int(r["rows"] or 0) for r in fetches), 50)

    def test_copy_expert_both_ways(self):
        conn = self.connect()
        data = "".join("%d\tcopied-%d\t%d\n" % (i, i, i * 3) for i in range(1000, 3000))
        with conn, conn.cursor() as cur:
            cur.copy_expert("COPY py_items FROM STDIN", io.StringIO(data))
            out = io.StringIO()
            cur.copy_expert("COPY (SELECT * FROM py_items WHERE id >= 1000 ORDER BY id) TO STDOUT", out)
        conn.close()
        self.assertEqual(out.getvalue(), data)
        self.assertEqual(PG.sql("SELECT count(*) FROM py_items WHERE id >= 1000", db="app"), "2000")
        rows = audit("--job", self.JOB)
        self.assertEqual(self.assert_recorded(rows, "copy_from", contains="COPY py_items")[-1]["rows"], "2000")
        self.assertEqual(self.assert_recorded(rows, "copy_to", contains="id >= 1000")[-1]["rows"], "2000")

    def test_denied_statement_rolls_back_its_transaction(self):
        before = PG.sql("SELECT count(*) FROM py_items", db="app")
        conn = self.connect()
        cur = conn.cursor()
        cur.execute("INSERT INTO py_items (id, name, qty) VALUES (%s, %s, %s)", (9999, "doomed", 1))
        with self.assertRaises(psycopg2.Error) as ctx:
            cur.execute("UPDATE py_items SET qty = 0")
        self.assertEqual(ctx.exception.pgcode, "42501")
        self.assertIn("no-unbounded-delete", str(ctx.exception))
        with self.assertRaises(psycopg2.errors.InFailedSqlTransaction):
            cur.execute("SELECT 1")
        conn.commit()   # the server answers ROLLBACK: the transaction was aborted
        conn.close()
        self.assertEqual(PG.sql("SELECT count(*) FROM py_items", db="app"), before)
        self.assertEqual(PG.sql("SELECT count(*) FROM py_items WHERE qty = 0", db="app"), "0")
        rows = audit("--job", self.JOB, "--decision", "deny")
        denied = self.assert_recorded(rows, "update", decision="deny", contains="SET qty = 0")[-1]
        self.assertEqual((denied["rule"], denied["sqlstate"]), ("no-unbounded-delete", "42501"))


class NodePostgres(AuditedTool):
    JOB = "node-1"

    @classmethod
    def setUpClass(cls):
        cls.node = tool("node")
        cache = os.path.join(tools_cache(), "node")
        if not os.path.isfile(os.path.join(cache, "node_modules", "pg", "package.json")):
            os.makedirs(cache, exist_ok=True)
            run([tool("npm"), "install", "--silent", "--no-audit", "--no-fund", "--prefix", cache, NODE_PG], timeout=600)
        cls.node_path = os.path.join(cache, "node_modules")

    def test_pool_parameters_named_statement_and_denial(self):
        env = dict(ci_env(self.JOB), NODE_PATH=self.node_path)
        out = json.loads(run([self.node, os.path.join(TOOLS, "node_pg.js")], env=env).stdout)
        self.assertEqual((out["pool_size"], out["backends"]), (10, 10))
        self.assertEqual(out["names"], ["item-3", "item-17", "item-42"])
        self.assertEqual(out["total"], sum(i * 2 for i in range(50)))
        self.assertEqual(out["denied"]["code"], "42501")
        self.assertIn('denied by rule "no-unbounded-delete"', out["denied"]["message"])
        self.assertEqual(out["count_after"], 50)
        self.assertEqual(PG.sql("SELECT count(*) FROM node_items", db="app"), "50")
        rows = audit("--job", self.JOB)
        self.assert_attributed(rows, self.JOB)
        inserts = self.assert_recorded(rows, "insert", contains="VALUES ($1, $2, $3)", at_least=50)
        self.assertEqual(len(inserts), 50)
        self.assertTrue(all(r["protocol"] == "extended" and r["rows"] == "1" for r in inserts))
        self.assertIn('["7","item-7","14"]', [r["parameters"] for r in inserts])
        by_id = self.assert_recorded(rows, "select", contains="WHERE id = $1", at_least=3)
        self.assertEqual([r["parameters"] for r in by_id], ['["3"]', '["17"]', '["42"]'])
        denied = self.assert_recorded(rows, "delete", decision="deny")[-1]
        self.assertEqual(denied["sqlstate"], "42501")


class Pgjdbc(AuditedTool):
    JOB = "jdbc-1"

    @classmethod
    def setUpClass(cls):
        if not os.path.isfile(PGJDBC_JAR):
            raise AssertionError("%s is missing: run test/install-deps.sh (libpostgresql-jdbc-java)" % PGJDBC_JAR)
        cls.classes = tempfile.mkdtemp(prefix="pgw-jdbc-")
        run([tool("javac"), "-cp", PGJDBC_JAR, "-d", cls.classes, os.path.join(TOOLS, "JdbcPipeline.java")])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.classes, ignore_errors=True)

    def test_prepared_batch_and_denials(self):
        url = ("jdbc:postgresql://127.0.0.1:%d/app?sslmode=disable&options=-c%%20pgwarden.job_id=%s"
               "%%20-c%%20pgwarden.commit=c0ffee1" % (PX.port, self.JOB))
        out = run([tool("java"), "-cp", self.classes + os.pathsep + PGJDBC_JAR, "JdbcPipeline", url, "ci", "ci-pw"]).stdout
        got = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        self.assertEqual(got["batch_rows"], "100")
        self.assertGreaterEqual(int(got["server_prepared"]), 1, "the driver switched to a named statement")
        self.assertEqual(got["names"], ",".join("single-%d" % (i * 7) if i * 7 < 10 else "batch-%d" % (i * 7)
                                                for i in range(8)))
        self.assertEqual(got["denied_sqlstate"], "42501")
        self.assertEqual(got["tx_denied_sqlstate"], "42501")
        self.assertEqual(got["rows"], "110")
        self.assertEqual(PG.sql("SELECT count(*), sum(price) FROM jdbc_items", db="app"), "110|175.00")
        rows = audit("--job", self.JOB)
        self.assert_attributed(rows, self.JOB)
        inserts = self.assert_recorded(rows, "insert", contains="VALUES ($1, $2, $3)", at_least=110)
        self.assertEqual(len(inserts), 110, "one record per execution, batch included")
        self.assertTrue(all(r["protocol"] == "extended" and r["rows"] == "1" for r in inserts))
        # pgjdbc binds int and numeric in binary: the audit shows them hex-encoded.
        self.assertIn(["\\x00000039", "batch-57", "\\x0002000000000002000109c4"],
                      [json.loads(r["parameters"]) for r in inserts])
        selects = self.assert_recorded(rows, "select", contains="WHERE id = $1", at_least=8)
        self.assertEqual(len(selects), 8)
        self.assert_recorded(rows, "update", decision="deny", contains="SET price = 0")
        self.assert_recorded(rows, "delete", decision="deny", contains="DELETE FROM jdbc_items")
        rolled_back = self.assert_recorded(rows, "insert", contains="in-rolled-back-tx")
        self.assertEqual(rolled_back[-1]["decision"], "allow")
        self.assertEqual(PG.sql("SELECT count(*) FROM jdbc_items WHERE id = 1000", db="app"), "0")


class Alembic(AuditedTool):
    JOB = "alembic-1"

    def alembic(self, *args, check=True):
        work = tempfile.mkdtemp(prefix="pgw-alembic-")
        self.addCleanup(shutil.rmtree, work, True)
        ini = os.path.join(work, "alembic.ini")
        with open(ini, "w") as f:
            f.write("[alembic]\nscript_location = %s\nsqlalchemy.url = postgresql+psycopg2://ci:ci-pw@127.0.0.1:%d/app\n"
                    % (os.path.join(TOOLS, "alembic"), PX.port))
        return run([sys.executable, "-m", "alembic", "-c", ini] + list(args), env=ci_env(self.JOB), check=check)

    def test_migration_then_denied_destructive_step_changes_nothing(self):
        self.alembic("upgrade", "0003")
        self.assertEqual(columns("widgets"), "id,name,color")
        self.assertEqual(PG.sql("SELECT string_agg(name || ':' || color, ',' ORDER BY id) FROM widgets", db="app"),
                         "sprocket:red,gear:blue")
        self.assertEqual(PG.sql("SELECT version_num FROM alembic_version", db="app"), "0003")
        before = schema()

        r = self.alembic("upgrade", "head", check=False)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn('denied by rule "ci-never-drops-columns"', r.stderr)
        self.assertEqual(schema(), before, "the failed migration left the schema as it was")
        self.assertEqual(PG.sql("SELECT count(*) FROM pg_indexes WHERE indexname = 'widgets_name'", db="app"), "0")
        self.assertEqual(PG.sql("SELECT version_num FROM alembic_version", db="app"), "0003")

        rows = audit("--job", self.JOB)
        self.assert_attributed(rows, self.JOB)
        self.assert_recorded(rows, "create_table", contains="CREATE TABLE widgets")
        self.assert_recorded(rows, "alter_table", contains="ADD COLUMN color")
        self.assertEqual(self.assert_recorded(rows, "insert", contains="INSERT INTO widgets")[-1]["rows"], "2")
        self.assert_recorded(rows, "create_index", contains="widgets_name")
        dropped = self.assert_recorded(rows, "alter_table", decision="deny", contains="DROP COLUMN color")[-1]
        self.assertEqual((dropped["rule"], dropped["sqlstate"]), ("ci-never-drops-columns", "42501"))


class Sqitch(AuditedTool):
    JOB = "sqitch-1"

    def sqitch(self, *args, wait=True):
        env = dict(ci_env(self.JOB), SQITCH_SYSTEM_CONFIG=os.devnull, SQITCH_USER_CONFIG=os.devnull,
                   SQITCH_FULLNAME="Pipeline", SQITCH_EMAIL="pipeline@example.com")
        cmd = [tool("sqitch"), "--chdir", os.path.join(TOOLS, "sqitch")] + list(args) + [
            "db:pg://ci@127.0.0.1:%d/app" % PX.port]
        if wait:
            return run(cmd, env=env, check=False)
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def reject_pending(self, reason):
        """As dba:alice on the admin console: waits for the held statement and denies it."""
        conn = psycopg2.connect(PX.dsn(user="alice", db="pgwarden"))
        conn.autocommit = True
        cur = conn.cursor()
        deadline = time.time() + 60
        while time.time() < deadline:
            cur.execute("SHOW APPROVALS")
            pending = [r for r in cur.fetchall() if r[1] == "pending"]
            if pending:
                cur.execute("DENY %s '%s'" % (pending[0][0], reason))
                conn.close()
                return pending[0]
            time.sleep(0.1)
        conn.close()
        raise AssertionError("no statement was held")

    def test_deploy_then_held_destructive_change_rejected_and_reverted(self):
        tool("psql")
        r = self.sqitch("deploy", "--to", "@v1")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + PX.logs()[-2000:])
        self.assertEqual(columns("gadgets"), "id,name,weight_g")
        self.assertEqual(PG.sql("SELECT sum(weight_g) FROM gadgets", db="app"), "205")
        self.assertEqual(PG.sql("SELECT string_agg(change, ',' ORDER BY committed_at) FROM sqitch.changes", db="app"),
                         "gadgets,gadgets_weight,gadgets_seed")
        before = schema()

        proc = self.sqitch("deploy", wait=False)
        held = self.reject_pending("not during business hours")
        out, err = proc.communicate(timeout=120)
        self.assertNotEqual(proc.returncode, 0, out)
        self.assertIn("DROP TABLE sq_legacy_gadgets", held[5])
        self.assertEqual((held[2], held[3], held[4]), (CI, self.JOB, "ci-drops-need-a-dba"))
        self.assertIn("rejected by dba:alice: not during business hours", err)
        self.assertEqual(schema(), before, "sqitch reverted gadgets_index after drop_legacy failed")
        self.assertEqual(PG.sql("SELECT string_agg(change, ',' ORDER BY committed_at) FROM sqitch.changes", db="app"),
                         "gadgets,gadgets_weight,gadgets_seed")

        rows = audit("--job", self.JOB)
        self.assert_attributed(rows, self.JOB)
        self.assert_recorded(rows, "create_table", contains="CREATE TABLE gadgets")
        self.assert_recorded(rows, "alter_table", contains="ADD COLUMN weight_g")
        self.assertEqual(self.assert_recorded(rows, "insert", contains="INSERT INTO gadgets")[-1]["rows"], "3")
        self.assert_recorded(rows, "create_index", contains="gadgets_name")
        self.assert_recorded(rows, "drop_index", contains="DROP INDEX gadgets_name")
        rejected = self.assert_recorded(rows, "drop_table", decision="rejected", contains="sq_legacy_gadgets")[-1]
        self.assertEqual((rejected["rule"], rejected["approver"], rejected["sqlstate"]),
                         ("ci-drops-need-a-dba", "dba:alice", "42501"))
        self.assertEqual(rejected["seq"], str(held[0]))
        # sqitch sets search_path to its registry schema; the audit resolves its names through it.
        events = self.assert_recorded(rows, "insert", contains="INSERT INTO events")
        self.assertEqual({r["tables_written"] for r in events}, {"sqitch.events"})


class DumpRestore(AuditedTool):
    """pg_dump and pg_restore of the pgbench database through pgwarden as dba:alice, compared with a
    dump taken directly from the server. Rules forbid writing bench's pgbench_history and locking it
    ACCESS EXCLUSIVE: pg_dump's LOCK TABLE ... IN ACCESS SHARE MODE is neither, so the dump runs,
    and the restore writes the copy in another database (bench_copy), which the write rule leaves
    alone. bench is filled directly on the server, as the write rule would refuse pgbench -i."""

    HISTORY_ROWS = 250

    @classmethod
    def setUpClass(cls):
        for db in ("bench", "bench_copy"):
            PG.sql("DROP DATABASE IF EXISTS %s" % db)
            PG.sql("CREATE DATABASE %s OWNER migrator" % db)
        harness.as_postgres([harness.PG_BIN + "/pgbench", "-h", PG.dir, "-p", str(PG.port), "-U", "migrator",
                             "-i", "-s", "1", "-q", "bench"])
        PG.sql("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
               "SELECT 1 + g %% 10, 1, g, g * 7, now() FROM generate_series(1, %d) g" % cls.HISTORY_ROWS, db="bench")

    def test_dump_through_pgwarden_equals_direct_and_restores(self):
        env = dict(PX.env("alice"), PGOPTIONS="-c pgwarden.job_id=dump-1")
        via = ["-h", "127.0.0.1", "-p", str(PX.port), "-U", "alice"]
        dump_dir = tempfile.mkdtemp(prefix="pgw-dump-")
        self.addCleanup(shutil.rmtree, dump_dir, True)
        os.chmod(dump_dir, 0o777)
        plain_via = without_restrict_keys(run([harness.PG_BIN + "/pg_dump", "--no-owner", "-d", "bench"] + via,
                                              env=env).stdout)
        plain_direct = dump_direct("bench", "--no-owner")
        self.assertIn("COPY public.pgbench_accounts", plain_via)
        self.assertIn("COPY public.pgbench_history", plain_via)
        self.assertEqual(plain_via, plain_direct)

        archive = os.path.join(dump_dir, "bench.dump")
        run([harness.PG_BIN + "/pg_dump", "-Fc", "--no-owner", "-f", archive, "-d", "bench"] + via, env=env)
        run([harness.PG_BIN + "/pg_restore", "--no-owner", "-d", "bench_copy"] + via + [archive], env=env)
        self.assertEqual(dump_direct("bench_copy", "--no-owner"), plain_direct)
        self.assertEqual(PG.sql("SELECT count(*) FROM pgbench_history", db="bench_copy"), str(self.HISTORY_ROWS))

        rows = audit("--job", "dump-1")
        self.assertTrue(all(r["principal"] == "dba:alice" and r["decision"] == "allow" for r in rows))
        copies_out = [r for r in rows if r["command"] == "copy_to" and "pgbench_accounts" in r["statement"]]
        self.assertEqual([r["rows"] for r in copies_out], ["100000", "100000"])
        copies_in = [r for r in rows if r["command"] == "copy_from" and "pgbench_accounts" in r["statement"]]
        self.assertEqual([r["rows"] for r in copies_in], ["100000"])
        history_in = [r for r in rows if r["command"] == "copy_from" and "pgbench_history" in r["statement"]]
        self.assertEqual([(r["database"], r["rows"]) for r in history_in], [("bench_copy", str(self.HISTORY_ROWS))])
        locks = [r for r in rows if r["command"] == "lock" and "pgbench_history" in r["statement"]]
        self.assertEqual([(r["database"], r["decision"], r["tables_written"]) for r in locks],
                         [("bench", "allow", "")] * 2, "one LOCK per dump, not a write")
        self.assertTrue(all("IN ACCESS SHARE MODE" in r["statement"] for r in locks))

    def test_rules_on_history_are_in_force(self):
        verbose = ["-v", "VERBOSITY=verbose"]
        r = PX.psql("BEGIN; LOCK TABLE pgbench_history IN ACCESS EXCLUSIVE MODE; COMMIT", db="bench", check=False,
                    extra_args=verbose)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn('ERROR:  42501: pgwarden: denied by rule "no-exclusive-lock-on-history"', r.stderr)
        r = PX.psql("DELETE FROM pgbench_history WHERE aid = 1", db="bench", check=False, extra_args=verbose)
        self.assertIn('ERROR:  42501: pgwarden: denied by rule "bench-history-is-read-only"', r.stderr)
        self.assertEqual(PG.sql("SELECT count(*) FROM pgbench_history", db="bench"), str(self.HISTORY_ROWS))
        denied = [(r["command"], r["rule"], r["sqlstate"]) for r in audit("--decision", "deny")
                  if r["database"] == "bench"]
        self.assertIn(("lock", "no-exclusive-lock-on-history", "42501"), denied)
        self.assertIn(("delete", "bench-history-is-read-only", "42501"), denied)


if __name__ == "__main__":
    unittest.main(verbosity=2)
