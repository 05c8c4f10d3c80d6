"""The migration tools pipelines run, through pgwarden under the example rules
(examples/rules.yaml, `default: deny`): postgres.js, node-pg-migrate, knex, Django and sql-migrate,
each run for real against PostgreSQL 15 as the CI principal acme/api@refs/heads/main claiming a
job id. Each test checks what the tool did to the database and the audit of its job: every
record attributed, and every record with an outcome (a duration for what ran, 42501 for the
intended denials only, the server's SQLSTATE for the server's own errors, `not executed` for
what was skipped after an error). The destructive steps the rules hold (DROP TABLE, DROP COLUMN)
are approved by dba:alice on the admin console while the tool waits.

npm packages are installed into the tools cache at the pinned versions below; the Debian packages
come from test/install-deps.sh. A missing tool fails its test."""
import concurrent.futures
import contextlib
import importlib.util
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import psycopg2  # noqa: E402
import test_tools  # noqa: E402
from test_tools import TOOLS, audit, ci_env, run, tool  # noqa: E402

EXAMPLE_RULES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "rules.yaml")
NPM_PACKAGES = ("postgres@3.4.5", "knex@3.1.0", "pg@8.13.1", "node-pg-migrate@7.9.1")
# Commands whose successful records carry the row count of their CommandComplete.
COUNTED = ("insert", "update", "delete", "copy_from", "copy_to", "fetch")

PG = PX = None


def setUpModule():
    global PG, PX
    PG = harness.Postgres()
    with open(EXAMPLE_RULES) as f:
        rules = f.read()
    PX = harness.Pgwarden(PG, extra='admin_users: ["dba:*"]\n', rules="rules_file: rules.yaml\n",
                          files={"rules.yaml": rules})
    test_tools.PG, test_tools.PX = PG, PX   # run, ci_env and audit of test_tools serve this pgwarden


def node_modules():
    """The npm packages of these tests, installed once into the tools cache; returns NODE_PATH."""
    cache = os.path.join(test_tools.tools_cache(), "migration-tools")

    def installed(spec):
        name, version = spec.rsplit("@", 1)
        manifest = os.path.join(cache, "node_modules", name, "package.json")
        if not os.path.isfile(manifest):
            return False
        with open(manifest) as f:
            return json.load(f)["version"] == version

    if not all(installed(p) for p in NPM_PACKAGES):
        os.makedirs(cache, exist_ok=True)
        run([tool("npm"), "install", "--silent", "--no-audit", "--no-fund", "--prefix", cache] + list(NPM_PACKAGES),
            timeout=600)
    return os.path.join(cache, "node_modules")


@contextlib.contextmanager
def approving(job):
    """dba:alice on the admin console approves every statement held for `job` while the block
    runs; yields the list of the statements approved."""
    approved, errors, done = [], [], threading.Event()

    def approve():
        try:
            conn = psycopg2.connect(PX.dsn(user="alice", db="pgwarden"))
            conn.autocommit = True
            cur = conn.cursor()
            while not done.wait(0.1):
                cur.execute("SHOW APPROVALS")
                for row in cur.fetchall():
                    if row[1] == "pending" and row[3] == job:
                        cur.execute("APPROVE %s" % row[0])
                        approved.append(row[5])
            conn.close()
        except psycopg2.Error as e:
            errors.append(e)

    thread = threading.Thread(target=approve)
    thread.start()
    try:
        yield approved
    finally:
        done.set()
        thread.join()
    if errors:
        raise errors[0]


def scalar(sql):
    return PG.sql(sql, db="app")


class MigrationTool(test_tools.AuditedTool):
    """What every tool's audit must show."""

    def job_audit(self, failures=()):
        """The audit of the job: every record attributed, with its outcome (see assert_outcomes)."""
        rows = audit("--job", self.JOB)
        self.assert_attributed(rows, self.JOB)
        self.assert_outcomes(rows, failures)
        return rows

    def assert_outcomes(self, rows, failures=()):
        """Every record has an outcome. `failures` are (sqlstate, text in the statement) of the
        statements meant to fail, 42501 for a denial: each fails once, and nothing else does."""
        failed = [f for f in (self.outcome(r, failures) for r in rows) if f]
        self.assertEqual(sorted(failed), sorted(failures))

    def outcome(self, r, failures):
        """Checks the outcome of the record `r`: a failure its SQLSTATE (42501 exactly when denied),
        a statement skipped after an error `not executed`, any other a duration (and its rows).
        Returns the failure as `failures` names it, (sqlstate, statement) if it does not."""
        shown = "%s %r: %s" % (r["seq"], r["statement"][:80],
                               {k: r[k] for k in ("decision", "rows", "sqlstate", "error", "duration_ms")})
        if r["sqlstate"]:
            self.assertEqual(r["decision"] == "deny", r["sqlstate"] == "42501", shown)
            named = [text for state, text in failures if state == r["sqlstate"] and text in r["statement"]]
            return r["sqlstate"], (named + [r["statement"]])[0]
        if r["error"]:
            self.assertRegex(r["error"], "^not executed", shown)
            return None
        self.assertIn(r["decision"], ("allow", "approved"), shown)
        self.assertNotEqual(r["duration_ms"], "", "no outcome: " + shown)
        if r["command"] in COUNTED:
            self.assertNotEqual(r["rows"], "", "no row count: " + shown)
        return None

    def assert_bookkeeping(self, rows, command, table, at_least=1):
        """`command` on the tool's bookkeeping `table`, allowed by the rule for it."""
        hits = self.assert_recorded(rows, command, contains=table, at_least=at_least)
        self.assertEqual({(r["rule"], r["tables_written"]) for r in hits},
                         {("migration-bookkeeping", "public." + table)})
        return hits

    def assert_approved(self, rows, approved, command, contains):
        self.assertTrue(any(contains in s for s in approved), approved)
        held = self.assert_recorded(rows, command, decision="approved", contains=contains)
        self.assertEqual({(r["rule"], r["approver"]) for r in held}, {("destructive-ddl-needs-a-dba", "dba:alice")})


class PostgresJs(MigrationTool):
    """One run of tools/postgres_js.js; each test checks one part of it."""
    JOB = "postgres-js-1"

    @classmethod
    def setUpClass(cls):
        env = dict(ci_env(cls.JOB), NODE_PATH=node_modules())
        cls.out = json.loads(run([tool("node"), os.path.join(TOOLS, "postgres_js.js")], env=env).stdout)
        cls.rows = audit("--job", cls.JOB)

    def records(self, contains):
        return [r for r in self.rows if contains in r["statement"]]

    def test_every_record_attributed_with_an_outcome(self):
        self.assert_attributed(self.rows, self.JOB)
        self.assert_outcomes(self.rows, [("42501", "UPDATE js_items SET qty = 0"), ("22012", "SELECT 1/0")])

    def test_simple_and_parameterised_queries(self):
        self.assertEqual(self.out["simple"], [1, "two"])
        self.assertEqual(self.out["parameterised"], ["item-2", "item-3"])
        self.assertEqual([r["protocol"] for r in self.records("SELECT 1 AS one") + self.records("AS two")],
                         ["simple", "simple"])
        inserts = self.records("VALUES ($1, $2, $3)")
        self.assertEqual([json.loads(r["parameters"]) for r in inserts],
                         [[str(i), "item-%d" % i, str(i * 10)] for i in (1, 2, 3)])
        self.assertEqual({(r["protocol"], r["rows"]) for r in inserts}, {("extended", "1")})

    def test_begin_commit_rollback_and_savepoint(self):
        self.assertEqual(self.out["savepoint"], "22012")
        self.assertEqual(self.out["rollback"], "the pipeline gives up")
        self.assertEqual(scalar("SELECT string_agg(name, ',' ORDER BY id) FROM js_items WHERE id BETWEEN 10 AND 12"),
                         "committed")
        steps = [(r["command"], r["sqlstate"]) for r in self.rows if r["command"] in
                 ("begin", "savepoint", "rollback_to", "commit", "rollback") or "1/0" in r["statement"]]
        self.assertEqual(steps, [("begin", ""), ("savepoint", ""), ("select", "22012"), ("rollback_to", ""),
                                 ("commit", ""), ("begin", ""), ("rollback", "")])

    def test_pipelined_queries_only_the_denied_one_fails(self):
        self.assertEqual(self.out["pipelined"], ["ok"] * 10 + ["42501"] + ["ok"] * 10)
        self.assertEqual(scalar("SELECT count(*) FROM js_pipe"), "21")
        self.assertEqual(scalar("SELECT count(*) FROM js_items WHERE id < 1000 AND qty = 0"), "0")
        pipelined = self.records("INSERT INTO js_pipe")[1:] + self.records("UPDATE js_items")
        pipelined.sort(key=lambda r: int(r["seq"]))
        self.assertEqual([(r["decision"], r["rule"], r["rows"], r["sqlstate"]) for r in pipelined],
                         [("allow", "migrations", "1", "")] * 10 + [("deny", "no-unbounded-delete", "", "42501")] +
                         [("allow", "migrations", "1", "")] * 10)

    def test_cursor_over_100000_rows(self):
        self.assertEqual(self.out["cursor"], {"batches": 100, "rows": 100000, "sum": 100000 * 100001 // 2})
        executes = self.records("SELECT id FROM js_big ORDER BY id")
        self.assertEqual(len(executes), 101, "one record per Execute of 1,000 rows, and the last, empty one")
        self.assertEqual({(r["protocol"], r["decision"], r["sqlstate"]) for r in executes}, {("extended", "allow", "")})

    def test_copy_in_and_out_as_streams(self):
        self.assertTrue(self.out["copy_round_trip"])
        self.assertEqual(scalar("SELECT count(*) FROM js_items WHERE id >= 1000"), "2000")
        self.assertEqual([(r["command"], r["rows"]) for r in self.records("COPY ")],
                         [("copy_from", "2000"), ("copy_to", "2000")])

    def test_listen_notify(self):
        self.assertEqual(self.out["notified"], "migrated")
        self.assertEqual([r["command"] for r in self.records("js_events") + self.records("pg_notify")],
                         ["listen", "unlisten", "select"])
        self.assertEqual(json.loads(self.records("pg_notify")[0]["parameters"]), ["js_events", "migrated"])


class NodePgMigrate(MigrationTool):
    JOB = "node-pg-migrate-1"
    BUSY = "Another migration is already running"

    def migrate(self, *args):
        cli = os.path.join(self.node_path, "node-pg-migrate", "bin", "node-pg-migrate.js")
        return run([tool("node"), cli, "-m", os.path.join(TOOLS, "node-pg-migrate")] + list(args),
                   env=dict(ci_env(self.JOB), NODE_PATH=self.node_path), check=False)

    def runner(self):
        """`up` as a pipeline step runs it: node-pg-migrate takes its lock with
        pg_try_advisory_lock and exits 1 when it is taken, so the step tries again."""
        attempts = [self.migrate("up")]
        while self.BUSY in attempts[-1].stderr and len(attempts) < 30:
            time.sleep(0.3)
            attempts.append(self.migrate("up"))
        return attempts

    def test_up_by_two_racing_runners_then_down(self):
        self.node_path = node_modules()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            runners = list(pool.map(lambda _: self.runner(), range(2)))
        finals = [attempts[-1] for attempts in runners]
        self.assertEqual([r.returncode for r in finals], [0, 0], [r.stderr for r in finals])
        self.assertGreaterEqual(sum(len(attempts) for attempts in runners), 3, "one runner found the lock taken")
        self.assertEqual(sorted("Migrating files" in r.stdout for r in finals), [False, True])
        self.assertEqual(sorted("No migrations to run!" in r.stdout for r in finals), [False, True])
        self.assertEqual(scalar("SELECT string_agg(email, ',' ORDER BY id) FROM accounts"),
                         "ada@example.com,grace@example.com")
        self.assertEqual(scalar("SELECT count(*) FROM pgmigrations"), "2")

        with approving(self.JOB) as approved:
            down = self.migrate("down", "2")
        self.assertEqual(down.returncode, 0, down.stdout + down.stderr)
        self.assertEqual(scalar("SELECT to_regclass('accounts') IS NULL"), "t")
        self.assertEqual(scalar("SELECT count(*) FROM pgmigrations"), "0")
        self.check_audit(approved)

    def check_audit(self, approved):
        rows = self.job_audit()
        locks = self.assert_recorded(rows, "select", contains="pg_try_advisory_lock", at_least=3)
        self.assertEqual({r["rows"] for r in locks}, {"1"})
        self.assertEqual(len(self.assert_recorded(rows, "insert", contains='INTO "public"."pgmigrations"')), 2)
        self.assert_bookkeeping(rows, "delete", "pgmigrations", at_least=2)
        self.assert_approved(rows, approved, "drop_table", 'DROP TABLE "accounts"')


class Knex(MigrationTool):
    JOB = "knex-1"
    UNLOCK = 'update "knex_migrations_lock" set "is_locked" = $1'

    def knex(self, action):
        env = dict(ci_env(self.JOB), NODE_PATH=node_modules())
        return json.loads(run([tool("node"), os.path.join(TOOLS, "knex", "knex_migrate.js"), action], env=env).stdout)

    def test_migrate_latest_then_rollback(self):
        names = ["20240101000000_parts.js", "20240101000001_parts_seed.js"]
        self.assertEqual(self.knex("latest"), {"batch": 1, "names": names})
        self.assertEqual(scalar("SELECT string_agg(name || ':' || stock, ',' ORDER BY id) FROM parts"),
                         "bolt:10,nut:20,washer:30")
        self.assertEqual(scalar("SELECT string_agg(name, ',' ORDER BY id) FROM knex_migrations"), ",".join(names))
        self.assertEqual(scalar("SELECT is_locked FROM knex_migrations_lock"), "0")

        with approving(self.JOB) as approved:
            self.assertEqual(self.knex("rollback"), {"batch": 1, "names": names[::-1]})
        self.assertEqual(scalar("SELECT to_regclass('parts') IS NULL"), "t")
        self.assertEqual(scalar("SELECT count(*) FROM knex_migrations"), "0")
        self.assertEqual(scalar("SELECT is_locked FROM knex_migrations_lock"), "0")
        self.check_audit(approved)

    def check_audit(self, approved):
        rows = self.job_audit()
        unlocks = self.assert_bookkeeping(rows, "update", "knex_migrations_lock", at_least=4)
        self.assertEqual([r["parameters"] for r in unlocks if r["statement"].strip() == self.UNLOCK], ['["0"]'] * 2)
        self.assert_bookkeeping(rows, "delete", "knex_migrations", at_least=2)
        self.assert_approved(rows, approved, "drop_table", 'drop table "parts"')


class Django(MigrationTool):
    JOB = "django-1"
    PROJECT = os.path.join(TOOLS, "django_project")

    def django(self, *args):
        env = dict(ci_env(self.JOB), PYTHONPATH=self.PROJECT, DJANGO_SETTINGS_MODULE="pipeline_settings",
                   PYTHONDONTWRITEBYTECODE="1")
        return run([sys.executable] + list(args), env=env, cwd=self.PROJECT)

    @classmethod
    def setUpClass(cls):
        if importlib.util.find_spec("django") is None:
            raise AssertionError("python3-django is not installed: run test/install-deps.sh")

    def test_migrate_orm_then_migrate_zero(self):
        migrated = self.django("-m", "django", "migrate", "inventory").stdout
        self.assertIn("Applying inventory.0002_product_stock... OK", migrated)
        self.assertEqual(test_tools.columns("inventory_product"), "id,sku,name,price_cents,stock")
        self.check_orm(json.loads(self.django("orm_pipeline.py").stdout))
        with approving(self.JOB) as approved:
            self.assertIn("Unapplying inventory.0001_initial... OK",
                          self.django("-m", "django", "migrate", "inventory", "zero").stdout)
        self.assertEqual(scalar("SELECT to_regclass('inventory_product') IS NULL"), "t")
        self.assertEqual(scalar("SELECT count(*) FROM django_migrations WHERE app = 'inventory'"), "0")
        self.check_audit(approved)

    def check_orm(self, out):
        self.assertEqual(out, {"before": 0, "expensive": ["sku-4998", "sku-4999", "sku-5000"], "restocked": 2,
                               "unbounded_update": "42501", "savepoint": "23505",
                               "iterated": 5000 * 5001 // 2 + 1})
        self.assertEqual(scalar("SELECT count(*), sum(stock) FROM inventory_product"), "5001|14")
        self.assertEqual(scalar("SELECT string_agg(sku, ',') FROM inventory_product WHERE sku !~ '^sku-'"), "kept")

    def check_audit(self, approved):
        rows = self.job_audit([("42501", 'UPDATE "inventory_product" SET "stock" = 0'), ("23505", "'a duplicate'")])
        self.assertEqual([r["command"] for r in rows if "SAVEPOINT" in r["statement"]],
                         ["savepoint", "rollback_to", "release"])
        self.assert_recorded(rows, "declare_cursor", contains="CURSOR WITH HOLD FOR SELECT")
        fetches = self.assert_recorded(rows, "fetch", contains="FETCH FORWARD 1000", at_least=6)
        self.assertEqual(sum(int(r["rows"]) for r in fetches), 5001)
        self.assert_bookkeeping(rows, "delete", "django_migrations", at_least=2)
        self.assert_approved(rows, approved, "alter_table", 'DROP COLUMN "stock"')
        self.assert_approved(rows, approved, "drop_table", 'DROP TABLE "inventory_product"')


class SqlMigrate(MigrationTool):
    JOB = "sql-migrate-1"
    DIR = os.path.join(TOOLS, "sql-migrate")

    def sql_migrate(self, *args):
        dsn = PX.dsn(user="ci", sslmode="disable",
                     options="'-c pgwarden.job_id=%s -c pgwarden.commit=c0ffee1'" % self.JOB)
        return run([tool("sql-migrate")] + list(args) + ["-env=pipeline"], env=dict(os.environ, SQL_MIGRATE_DSN=dsn),
                   cwd=self.DIR, check=False)

    def status(self):
        """`sql-migrate status` as {migration: when it was applied, or "no"}."""
        lines = self.sql_migrate("status").stdout.splitlines()
        return dict([cell.strip() for cell in line.strip("|").split("|")] for line in lines if ".sql" in line)

    def applied(self):
        return scalar("SELECT string_agg(id, ',' ORDER BY id) FROM gorp_migrations")

    def test_up_status_denied_migration_then_down(self):
        up = self.sql_migrate("up", "-limit=2")
        self.assertEqual((up.returncode, up.stdout.strip()), (0, "Applied 2 migrations"), up.stderr)
        self.assertEqual(self.applied(), "1_gizmos.sql,2_gizmos_seed.sql")
        status = self.status()
        self.assertEqual([status[m] == "no" for m in ("1_gizmos.sql", "2_gizmos_seed.sql", "3_gizmos_free.sql")],
                         [False, False, True], status)

        denied = self.sql_migrate("up")
        self.assertNotEqual(denied.returncode, 0, denied.stdout)
        self.assertIn('denied by rule "no-unbounded-delete"', denied.stdout + denied.stderr)
        self.assertEqual(self.applied(), "1_gizmos.sql,2_gizmos_seed.sql", "the failed migration is not recorded")
        self.assertEqual(scalar("SELECT string_agg(name || ':' || price_cents, ',' ORDER BY id) FROM gizmos"),
                         "sprocket:250,flange:975")

        with approving(self.JOB) as approved:
            down = self.sql_migrate("down", "-limit=2")
        self.assertEqual((down.returncode, down.stdout.strip()), (0, "Applied 2 migrations"), down.stderr)
        self.assertEqual(scalar("SELECT to_regclass('gizmos') IS NULL"), "t")
        self.assertEqual(scalar("SELECT count(*) FROM gorp_migrations"), "0")
        self.check_audit(approved)

    def check_audit(self, approved):
        rows = self.job_audit([("42501", "UPDATE gizmos SET price_cents = 0")])
        doomed = self.assert_recorded(rows, "insert", contains="'doodad'")
        self.assertEqual([r["rows"] for r in doomed], ["1"], "it ran, and was rolled back")
        self.assert_recorded(rows, "rollback")
        self.assertEqual(len(self.assert_recorded(rows, "insert", contains='into "gorp_migrations"')), 2)
        self.assert_bookkeeping(rows, "delete", "gorp_migrations", at_least=2)
        self.assert_approved(rows, approved, "drop_table", "DROP TABLE gizmos")


if __name__ == "__main__":
    unittest.main(verbosity=2)
