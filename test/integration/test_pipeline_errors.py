"""Error paths of the extended protocol, message by message against a real PostgreSQL: after a
server error the server skips everything up to Sync, and so must what pgwarden sends in the
client's place (refusals, function lookups), or the session never recovers. Every execution gets
exactly one audit record with an outcome: success, the server's error, pgwarden's refusal,
"not executed" when skipped, a cancel, a client gone mid-pipeline, a lost server connection."""
import csv
import io
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import wire_client as w  # noqa: E402

RULES = """rules:
  default: allow
  rules:
    - {name: no-delete-on-victims, match: {commands: [delete], tables: [public.victims]}, action: deny,
       message: "victims are not deleted"}
    - {name: drops-need-a-dba, match: {commands: [drop_table]}, action: hold, approvers: ["dba:*"], timeout: 1s}
"""

PG = PX = None
ABS_OID = None


def setUpModule():
    global PG, PX, ABS_OID
    PG = harness.Postgres()
    PG.sql("CREATE TABLE victims(v int); CREATE TABLE ones(v int); INSERT INTO ones VALUES (1);"
           "CREATE TABLE deferred_parent(id int PRIMARY KEY);"
           "CREATE TABLE deferred_child(id int REFERENCES deferred_parent DEFERRABLE INITIALLY DEFERRED)", db="app")
    ABS_OID = int(PG.sql("SELECT 'abs(integer)'::regprocedure::oid", db="app").strip())
    PX = harness.Pgwarden(PG, rules=RULES, extra="admin_users: [\"dba:*\"]\n")


def connect(px=None, user="ci"):
    px = px or PX
    return w.Connection(px.port, user, harness.Pgwarden.USERS[user][1], "app")


def audit(px=None):
    r = subprocess.run([harness.PGWARDEN, "audit", "export", "--store", (px or PX).audit_db], capture_output=True,
                       check=True)
    return list(csv.DictReader(io.StringIO(r.stdout.decode("utf-8"), newline="")))


def records_of(text, px=None):
    return [row for row in audit(px) if row["statement"] == text]


def has_outcome(row):
    return bool(row["sqlstate"] or row["error"] or row["duration_ms"])


def wait_for(check, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    return check()


class SkipToSync(unittest.TestCase):
    def setUp(self):
        self.c = connect()

    def tearDown(self):
        self.c.close()

    def assertRecovers(self):
        self.c.send(w.query("SELECT 41 + 1"))
        replies = self.c.until_ready()
        self.assertEqual(w.kinds(replies), "TDCZ")
        self.assertIn(b"42", replies[1][1])

    def test_refusal_after_an_error_before_sync(self):
        self.c.send(w.statement("SELECT 1/0 AS refusal_test") + w.statement("DELETE FROM victims") + w.sync())
        replies = self.c.until_ready()
        self.assertEqual(w.kinds(replies), "1EZ")
        self.assertEqual(w.sqlstates(replies), ["22012"])
        self.c.send(w.statement("INSERT INTO victims VALUES (7)") + w.sync())
        self.assertEqual(w.kinds(self.c.until_ready()), "12nCZ")
        self.assertRecovers()
        self.assertEqual(PG.sql("SELECT count(*) FROM victims WHERE v = 7", db="app").strip(), "1")
        [division] = records_of("SELECT 1/0 AS refusal_test")
        self.assertEqual((division["decision"], division["sqlstate"]), ("allow", "22012"))
        [insert] = records_of("INSERT INTO victims VALUES (7)")
        self.assertEqual((insert["sqlstate"], insert["rows"]), ("", "1"))

    def test_function_call_after_an_error_does_not_hang(self):
        self.c.send(w.statement("SELECT 1/0") + w.function_call(ABS_OID, "-123") + w.sync())
        replies = self.c.until_ready()
        self.assertEqual(w.sqlstates(replies), ["22012"])
        self.assertEqual(w.kinds(replies), "1EZ")
        self.c.send(w.function_call(ABS_OID, "-5"))
        replies = self.c.until_ready()
        self.assertEqual(w.kinds(replies), "VZ")
        self.assertIn(b"5", replies[0][1])
        self.assertRecovers()
        calls = [r for r in audit() if r["protocol"] == "function_call" and "-123" in r["parameters"]]
        self.assertEqual(len(calls), 1)
        self.assertTrue(calls[0]["error"].startswith("not executed"), calls[0])

    def test_held_statement_after_an_error_is_skipped_not_held(self):
        harness_table = "held_after_error"
        PG.sql("CREATE TABLE %s(v int)" % harness_table, db="app")
        start = time.time()
        self.c.send(w.statement("SELECT 1/0") + w.statement("DROP TABLE %s" % harness_table) + w.sync())
        replies = self.c.until_ready()
        self.assertLess(time.time() - start, 5)
        self.assertEqual(w.sqlstates(replies), ["22012"])
        self.assertRecovers()
        self.assertEqual(PG.sql("SELECT to_regclass('%s') IS NOT NULL" % harness_table, db="app").strip(), "t")
        drops = records_of("DROP TABLE %s" % harness_table)
        self.assertEqual(len(drops), 2)  # the Parse that would have been held, and its Execute
        for drop in drops:
            self.assertEqual(drop["decision"], "withdrawn")
            self.assertTrue(drop["error"].startswith("not executed"), drop)
        self.assertNotIn(harness_table, PX.psql("SHOW APPROVALS", db="pgwarden").stdout)

    def test_statement_after_a_refusal_in_a_transaction_has_the_servers_error(self):
        self.c.send(w.query("BEGIN"))
        self.c.until_ready()
        self.c.send(w.statement("DELETE FROM victims WHERE v = 1") + w.sync())
        replies = self.c.until_ready()
        self.assertEqual(w.sqlstates(replies), ["42501"])
        self.assertEqual(replies[-1][1], b"E")
        self.c.send(w.statement("SELECT 'after the refusal'") + w.sync())
        replies = self.c.until_ready()
        self.assertEqual(w.sqlstates(replies), ["25P02"])
        self.c.send(w.query("ROLLBACK"))
        self.c.until_ready()
        self.assertRecovers()
        [after] = records_of("SELECT 'after the refusal'")
        self.assertEqual(after["sqlstate"], "25P02")
        [refused] = records_of("DELETE FROM victims WHERE v = 1")
        self.assertEqual((refused["decision"], refused["sqlstate"]), ("deny", "42501"))

    def test_error_at_describe_skips_the_execute(self):
        self.c.send(w.parse("SELECT 'described'") + w.bind("p1") + w.describe(b"P", "no_such_portal") +
                    w.execute("p1") + w.sync())
        replies = self.c.until_ready()
        self.assertEqual(w.sqlstates(replies), ["34000"])
        self.assertRecovers()
        [skipped] = records_of("SELECT 'described'")
        self.assertTrue(skipped["error"].startswith("not executed"), skipped)

    def test_error_at_sync_leaves_every_record_with_an_outcome(self):
        self.c.send(w.statement("INSERT INTO deferred_child VALUES (99)") + w.sync())
        replies = self.c.until_ready()
        self.assertEqual(w.sqlstates(replies), ["23503"])
        self.assertRecovers()
        [insert] = records_of("INSERT INTO deferred_child VALUES (99)")
        self.assertTrue(has_outcome(insert), insert)

    def test_skipped_parse_does_not_change_what_a_later_execute_runs(self):
        self.c.send(w.parse("INSERT INTO victims VALUES (11)") + w.bind() + w.execute() + w.sync())
        self.c.until_ready()
        self.c.send(w.parse("SELECT * FROM no_such_table", "s9") + w.parse("SELECT 'decoy'") + w.sync())
        self.assertEqual(w.sqlstates(self.c.until_ready()), ["42P01"])
        self.c.send(w.bind() + w.execute() + w.sync())
        self.assertEqual(w.kinds(self.c.until_ready()), "2CZ")
        self.assertEqual(len(records_of("INSERT INTO victims VALUES (11)")), 2)
        self.assertEqual(records_of("SELECT 'decoy'"), [])

    def test_cancel_is_the_outcome(self):
        self.c.send(w.statement("SELECT pg_sleep(30)") + w.sync())
        running = "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'"
        self.assertTrue(wait_for(lambda: PG.sql(running).strip() == "1"))
        pid, secret = self.c.backend_key
        with socket.create_connection(("127.0.0.1", PX.port)) as cancel:
            cancel.sendall(struct.pack("!iiii", 16, 80877102, pid, secret))
        self.assertEqual(w.sqlstates(self.c.until_ready()), ["57014"])
        self.assertRecovers()
        [sleep] = records_of("SELECT pg_sleep(30)")
        self.assertEqual(sleep["sqlstate"], "57014")

    def test_client_gone_mid_pipeline(self):
        self.c.send(w.statement("SELECT pg_sleep(0.5), 'gone'") + w.statement("SELECT 'never sent'") + w.sync())
        time.sleep(0.2)
        self.c.close()
        rows = wait_for(lambda: [r for r in records_of("SELECT pg_sleep(0.5), 'gone'") if has_outcome(r)])
        self.assertEqual(len(rows), 1, audit()[-3:])
        self.assertIn("session ended", rows[0]["error"])
        for row in records_of("SELECT 'never sent'"):
            self.assertTrue(has_outcome(row), row)


class Pipelines(unittest.TestCase):
    """Random pipelines of successes, errors, refusals, holds, FunctionCalls, Describes and simple
    queries, each checked against what PostgreSQL's own rules say the client must get."""

    # Each step: the messages, the replies while the pipeline is healthy, whether it fails it.
    STEPS = {
        "ok": (lambda: w.statement("SELECT v FROM ones"), "12TDC", False),
        "describe_statement": (lambda: w.parse("SELECT v FROM ones") + w.describe(b"S"), "1tT", False),
        "bind_error": (lambda: w.statement("SELECT 1/0"), "1E", True),
        "parse_error": (lambda: w.statement("SELECT * FROM no_such_table"), "E", True),
        "execute_error": (lambda: w.statement("SELECT 1/(v - v) FROM ones"), "12TE", True),
        "denied": (lambda: w.statement("DELETE FROM victims WHERE v = 3"), "E", True),
        "held": (lambda: w.statement("DROP TABLE IF EXISTS never_dropped"), "E", True),
        "function_call": (lambda: w.function_call(ABS_OID, "-1"), "VZ", False),
        "query": (lambda: w.query("SELECT 1"), "TDCZ", False),
    }

    def expected(self, steps):
        out, failed = "", False
        for name in steps:
            _, replies, fails = self.STEPS[name]
            if not failed:
                out += replies
                failed = fails
        return out + "Z"

    def test_random_pipelines_always_recover_at_sync(self):
        seeds = [int(s) for s in os.environ.get("PGWARDEN_PIPELINE_SEEDS", "1,2,3,4,5").split(",")]
        before, executions, held = len(audit()), 0, 0
        c = connect()
        try:
            for seed in seeds:
                rng = random.Random(seed)
                for round_no in range(12):
                    steps = [rng.choice(list(self.STEPS)) for _ in range(rng.randint(1, 5))]
                    c.send(b"".join(self.STEPS[s][0]() for s in steps) + w.sync())
                    want, got = self.expected(steps), ""
                    while len(got) < len(want):
                        kind, _ = c.recv()
                        if kind not in (b"N", b"S", b"A"):
                            got += kind.decode()
                    self.assertEqual(got, want, "seed %d round %d: %s" % (seed, round_no, steps))
                    # One record per execution: every step runs (or would run) one statement but
                    # the Describe of a statement, and the check below runs one more. A held
                    # statement also has the record of its Parse, unless the server was known
                    # to skip it before it was judged.
                    executions += sum(step not in ("describe_statement", "held") for step in steps) + 1
                    held += steps.count("held")
                    c.send(w.query("SELECT 42"))
                    self.assertEqual(w.kinds(c.until_ready()), "TDCZ", "recovered after %s" % steps)
        finally:
            c.close()
        rows = wait_for(lambda: len(audit()) - before >= executions + held and audit()[before:])
        held_rows = [r for r in rows if r["command"] == "drop_table"]
        self.assertEqual(len(rows) - len(held_rows), executions, "one record per execution")
        self.assertTrue(held <= len(held_rows) <= 2 * held, (held, len(held_rows)))
        missing = [r for r in rows if not has_outcome(r)]
        self.assertEqual(missing, [])


class PsycopgPipeline(unittest.TestCase):
    def test_error_then_denied_statement_in_a_psycopg_pipeline(self):
        import psycopg
        with psycopg.connect(PX.dsn(user="ci"), autocommit=True) as conn:
            with self.assertRaises(psycopg.errors.DivisionByZero):
                with conn.pipeline():
                    conn.execute("SELECT 1/0")
                    conn.execute("DELETE FROM victims")
            self.assertEqual(conn.execute("SELECT 5").fetchone(), (5,))
            with self.assertRaises(psycopg.errors.InsufficientPrivilege):
                with conn.pipeline():
                    conn.execute("DELETE FROM victims WHERE v = %s", (1,))
                    conn.execute("SELECT 1/0")
            self.assertEqual(conn.execute("SELECT %s::int", (6,)).fetchone(), (6,))


class ServerLost(unittest.TestCase):
    def test_statement_in_flight_when_the_server_dies(self):
        pg = harness.Postgres()
        px = harness.Pgwarden(pg)
        c = connect(px)
        try:
            c.send(w.statement("SELECT pg_sleep(30), 'lost'") + w.sync())
            pid = wait_for(lambda: pg.sql("SELECT pid FROM pg_stat_activity WHERE query LIKE '%''lost''%' "
                                          "AND pid <> pg_backend_pid()").strip())
            os.kill(int(pid), signal.SIGKILL)
            with self.assertRaises((ConnectionError, OSError)):
                while True:
                    c.recv()
        finally:
            c.close()
        rows = wait_for(lambda: [r for r in records_of("SELECT pg_sleep(30), 'lost'", px) if has_outcome(r)])
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["sqlstate"], "08006")


if __name__ == "__main__":
    unittest.main(verbosity=2)
