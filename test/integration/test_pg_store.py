"""The PostgreSQL audit store (SPEC section 11) against a real second cluster: several instances
share one store, each with its own contiguous chain and an outcome for every record; an instance
name can be live only once; kill -9 loses no record of anything that ran; a store that goes away
refuses statements with 58030 quickly and pgwarden recovers by itself when it is back; the CLI
verifies and exports every instance's chain; the configuration names what is missing and never
prints the store's password."""
import csv
import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import psycopg2  # noqa: E402

COLUMNS = ("seq,ts,principal,attribution,job_id,commit,session_id,client_addr,database,upstream_role,"
           "application_name,protocol,command,classes,tables_read,tables_written,fingerprint,statement,"
           "parameters,decision,rule,approver,rows,sqlstate,error,duration_ms,masked_values,hash,instance").split(",")

PG = ST = None  # the upstream cluster and the store's cluster


def setUpModule():
    global PG, ST
    PG = harness.Postgres()
    ST = harness.Postgres()
    # pgbench's tables, made directly upstream so that only the tests' own traffic is audited.
    r = subprocess.run([harness.PG_BIN + "/pgbench", "-i", "-s", "1", "-q", "-I", "dtgvp", "-h", "127.0.0.1", "-p",
                        str(PG.port), "-U", "migrator", "app"], capture_output=True, text=True,
                       env=dict(os.environ, PGPASSWORD=harness.ROLE_PASSWORD))
    assert r.returncode == 0, r.stderr


def store_database(name):
    """A fresh database on the store's cluster; returns its URI with the password in it."""
    ST.sql("CREATE DATABASE %s OWNER migrator" % name)
    return "postgresql://migrator:%s@127.0.0.1:%d/%s" % (harness.ROLE_PASSWORD, ST.port, name)


def audit_lines(instance, schema=None):
    text = "  backend: postgresql\n  instance: %s\n  postgresql: {dsn_env: AUDIT_DSN%s}\n" % (
        instance, ", schema: %s" % schema if schema else "")
    return text


def instance(name, dsn, **kw):
    """pgwarden in front of PG with its audit on the store `dsn`, as instance `name`."""
    return harness.Pgwarden(PG, audit=audit_lines(name), env={"AUDIT_DSN": dsn}, **kw)


def store_query(db, sql, args=()):
    """Rows of `sql` on the store's database `db`, read as its owner over TCP."""
    conn = psycopg2.connect(ST.dsn(db=db))
    try:
        cur = conn.cursor()
        cur.execute(sql, args)
        return cur.fetchall()
    finally:
        conn.close()


def seqs(db, name):
    return [r[0] for r in store_query(db, "SELECT seq FROM pgwarden.audit_statement WHERE instance = %s ORDER BY seq",
                                      (name,))]


def statements(db, name):
    """(seq, statement text) of every record of instance `name`."""
    return store_query(db, "SELECT seq, convert_from(statement, 'UTF8') FROM pgwarden.audit_statement "
                           "WHERE instance = %s ORDER BY seq", (name,))


def records_without_outcome(db):
    return store_query(db, "SELECT r.instance, r.seq FROM pgwarden.audit_statement r LEFT JOIN pgwarden.audit_outcome o"
                           " ON o.instance = r.instance AND o.seq = r.seq WHERE o.seq IS NULL ORDER BY 1, 2")


def wait_for_outcomes(db, timeout=10):
    """Every record's outcome is on the store once its session has ended (written after the result)."""
    deadline = time.time() + timeout
    while True:
        missing = records_without_outcome(db)
        if not missing or time.time() > deadline:
            return missing
        time.sleep(0.2)


def pgbench(px, args, job):
    env = dict(px.env(), PGOPTIONS="-c pgwarden.job_id=%s" % job)
    return subprocess.Popen([harness.PG_BIN + "/pgbench", "-h", "127.0.0.1", "-p", str(px.port), "-U", "alice"] +
                            args + ["app"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def processed(out):
    """The number of transactions pgbench reports as done."""
    m = re.search(r"number of transactions actually processed: (\d+)", out)
    assert m, out
    return int(m.group(1))


def terminate(px):
    """Stops pgwarden as an operator does (SIGTERM drains); returns its exit code."""
    px.proc.send_signal(signal.SIGTERM)
    return px.proc.wait(timeout=20)


def cli(*args):
    return subprocess.run([harness.PGWARDEN] + list(args), capture_output=True, text=True, timeout=60)


class TwoInstances(unittest.TestCase):
    """gw-a and gw-b write to one store at the same time: each keeps its own contiguous chain, every
    record gets its outcome, and the store holds exactly what the clients ran, on the instance they
    ran it through."""

    DB = "audit_two"

    @classmethod
    def setUpClass(cls):
        dsn = store_database(cls.DB)
        cls.a = instance("gw-a", dsn, workers=2)  # two workers: group commit across event loops
        cls.b = instance("gw-b", dsn)

    @classmethod
    def tearDownClass(cls):
        cls.a.stop()
        cls.b.stop()

    def test_concurrent_sessions_on_both_instances(self):
        self.a.psql("SELECT 'psql on gw-a'")
        self.b.psql("SELECT 'psql on gw-b'")
        benches = {name: pgbench(px, ["-S", "-M", "simple", "-n", "-c", "4", "-j", "2", "-T", "3"], "bench-" + name)
                   for name, px in (("gw-a", self.a), ("gw-b", self.b))}
        done = {}
        for name, p in benches.items():
            out, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err)
            done[name] = processed(out)
        self.a.psql("SELECT 'psql on gw-a again'")
        self.b.psql("SELECT 'psql on gw-b again'")

        self.assertEqual(wait_for_outcomes(self.DB), [], "records without an outcome")
        for name, other in (("gw-a", "gw-b"), ("gw-b", "gw-a")):
            got = seqs(self.DB, name)
            self.assertEqual(got, list(range(1, len(got) + 1)), "the chain of %s has gaps" % name)
            # The statements pgbench ran through this instance, each recorded once, all here.
            selects = store_query(
                self.DB, "SELECT r.instance, count(*) FROM pgwarden.audit_statement r JOIN pgwarden.audit_session s"
                         " ON s.instance = r.instance AND s.id = r.session WHERE s.job_id = %s AND"
                         " convert_from(r.statement, 'UTF8') LIKE 'SELECT abalance FROM pgbench_accounts WHERE %%'"
                         " GROUP BY r.instance", ("bench-" + name,))
            self.assertGreater(done[name], 100)
            self.assertEqual(selects, [(name, done[name])])
            # pgbench's four clients and its first connection (the scale check) are five sessions.
            sessions = store_query(self.DB, "SELECT instance, count(*) FROM pgwarden.audit_session WHERE job_id = %s"
                                            " GROUP BY instance", ("bench-" + name,))
            self.assertEqual(sessions, [(name, 5)])
            texts = [t for _, t in statements(self.DB, name)]
            self.assertEqual(texts.count("SELECT 'psql on %s'" % name), 1)
            self.assertEqual(texts.count("SELECT 'psql on %s again'" % name), 1)
            self.assertNotIn("SELECT 'psql on %s'" % other, texts)
        # Each psql was a session of its own instance, with the principal that ran it.
        psql_sessions = store_query(
            self.DB, "SELECT r.instance, s.principal, count(DISTINCT s.id) FROM pgwarden.audit_statement r"
                     " JOIN pgwarden.audit_session s ON s.instance = r.instance AND s.id = r.session"
                     " WHERE convert_from(r.statement, 'UTF8') LIKE 'SELECT ''psql on %%' GROUP BY 1, 2 ORDER BY 1")
        self.assertEqual(psql_sessions, [("gw-a", "dba:alice", 2), ("gw-b", "dba:alice", 2)])
        # Outcomes carry what happened: one row for every pgbench SELECT.
        rows = store_query(self.DB, "SELECT DISTINCT o.row_count, o.sqlstate FROM pgwarden.audit_statement r"
                                    " JOIN pgwarden.audit_outcome o ON o.instance = r.instance AND o.seq = r.seq"
                                    " WHERE convert_from(r.statement, 'UTF8') LIKE 'SELECT abalance %%'")
        self.assertEqual(rows, [(1, "")])


class InstanceNames(unittest.TestCase):
    """An instance name is live at most once: a second pgwarden with it refuses to start (so that two
    processes never fork one chain), and once the first has stopped the name starts again and its
    chain continues where it ended."""

    DB = "audit_names"

    def test_name_live_elsewhere_is_refused_then_continues(self):
        dsn = store_database(self.DB)
        first = instance("gw-a", dsn)
        for i in range(3):
            first.psql("SELECT %d AS before_restart" % i)
        before = seqs(self.DB, "gw-a")
        self.assertEqual(before, list(range(1, len(before) + 1)))

        twin = instance("gw-a", dsn, wait=False)
        self.assertEqual(twin.proc.wait(timeout=20), 2)
        log = twin.logs()
        self.assertIn('"gw-a" is live elsewhere', log)
        first.psql("SELECT 'first still serves'")  # the refused twin took nothing from it
        self.assertEqual(seqs(self.DB, "gw-a"), list(range(1, len(before) + 2)))

        self.assertEqual(terminate(first), 0)
        last = seqs(self.DB, "gw-a")[-1]
        first.serve({"AUDIT_DSN": dsn})
        first.psql("SELECT 'after restart'")
        after = statements(self.DB, "gw-a")
        self.assertEqual([s for s, _ in after], list(range(1, len(after) + 1)))
        self.assertEqual([s for s, t in after if t == "SELECT 'after restart'"], [last + 1])
        self.assertEqual(wait_for_outcomes(self.DB), [])
        first.stop()


class KillNine(unittest.TestCase):
    """kill -9 of an instance while it forwards INSERTs: every row that reached the upstream table
    has its record on the store (a record is committed there before its statement is forwarded)."""

    DB = "audit_kill"

    def test_kill_9_loses_no_record_of_what_ran(self):
        dsn = store_database(self.DB)
        px = instance("gw-k", dsn, workers=2)
        PG.sql("DROP TABLE IF EXISTS ins; CREATE TABLE ins(v bigint)", db="app")
        script = os.path.join(px.dir, "ins.sql")
        with open(script, "w") as f:
            f.write("\\set v random(1, 1000000000000)\nINSERT INTO ins VALUES (:v);\n")
        p = pgbench(px, ["-n", "-c", "4", "-j", "2", "-T", "30", "-M", "simple", "-f", script], "kill")
        deadline = time.time() + 20
        while int(PG.sql("SELECT count(*) FROM ins", db="app")) < 300 and time.time() < deadline:
            time.sleep(0.05)
        px.proc.send_signal(signal.SIGKILL)
        px.proc.wait()
        p.communicate(timeout=60)
        values = PG.sql("SELECT v FROM ins", db="app").split()
        self.assertGreaterEqual(len(values), 300)
        recorded = set()
        for _, text in statements(self.DB, "gw-k"):
            m = re.fullmatch(r"INSERT INTO ins VALUES \((\d+)\)", text)
            if m:
                recorded.add(m.group(1))
        missing = [v for v in values if v not in recorded]
        self.assertEqual(missing, [], "rows in the table without an audit record")
        got = seqs(self.DB, "gw-k")
        self.assertEqual(got, list(range(1, len(got) + 1)))
        # The killed instance's name is free again at once (its store session died with it), and
        # its chain continues after the last record it committed.
        px.serve({"AUDIT_DSN": dsn})
        px.psql("SELECT 'after kill -9'")
        after = statements(self.DB, "gw-k")
        self.assertEqual([s for s, _ in after], list(range(1, len(after) + 1)))
        self.assertEqual([s for s, t in after if t == "SELECT 'after kill -9'"], [got[-1] + 1])
        px.stop()


def ran_and_recorded(test, db, name, table, ran):
    """Asserts that the values `ran` (statements that succeeded) are exactly the rows of `table`
    upstream and each has its record on the store."""
    rows = {int(v) for v in PG.sql("SELECT v FROM %s" % table, db="app").split()}
    test.assertEqual(rows, set(ran), "the upstream table differs from what the client saw succeed")
    recorded = set()
    for _, text in statements(db, name):
        m = re.fullmatch(r"INSERT INTO %s VALUES \((\d+)\)" % table, text)
        if m:
            recorded.add(int(m.group(1)))
    test.assertEqual(set(ran) - recorded, set(), "rows in the table without an audit record")


def attempt(cur, sql):
    """(seconds taken, None or the SQLSTATE of the error) of one statement."""
    t0 = time.time()
    try:
        cur.execute(sql)
        return time.time() - t0, None
    except psycopg2.Error as e:
        return time.time() - t0, e.pgcode or "no SQLSTATE: %s" % e


class StoreRestart(unittest.TestCase):
    """The store's cluster stops (pg_ctl stop -m fast) during traffic and starts again: statements
    are refused with 58030 at once (never forwarded unrecorded, never hanging), and once the store
    is back pgwarden writes to it again by itself, the chain contiguous across the outage."""

    DB = "audit_restart"

    @classmethod
    def setUpClass(cls):
        dsn = store_database(cls.DB)
        cls.px = instance("gw-r", dsn)
        cls.idle = instance("gw-idle", dsn)
        PG.sql("DROP TABLE IF EXISTS during; CREATE TABLE during(v int)", db="app")
        idle = psycopg2.connect(cls.idle.dsn())
        idle.autocommit = True
        idle.cursor().execute("SELECT 'before the restart'")
        cls.results = results = []  # (value, started, seconds taken, None or the SQLSTATE of the refusal)
        stop = threading.Event()

        def traffic():
            conn = psycopg2.connect(cls.px.dsn())
            conn.autocommit = True
            v = 0
            while not stop.is_set():
                v += 1
                t0 = time.time()
                took, state = attempt(conn.cursor(), "INSERT INTO during VALUES (%d)" % v)
                results.append((v, t0, took, state))
                if state is not None:
                    if conn.closed:
                        conn = psycopg2.connect(cls.px.dsn())
                        conn.autocommit = True
                    time.sleep(0.05)
            conn.close()

        def wait_until(pred, timeout):
            deadline = time.time() + timeout
            while not pred() and time.time() < deadline:
                time.sleep(0.05)

        thread = threading.Thread(target=traffic)
        thread.start()
        try:
            wait_until(lambda: sum(1 for r in results if r[3] is None) >= 50, 20)
            cls.stopping = time.time()
            ST.stop(mode="fast")
            cls.stopped = time.time()
            wait_until(lambda: any(r[3] is not None and r[1] >= cls.stopped for r in results), 10)
            time.sleep(3)  # a few seconds of refusals
            cls.starting = time.time()
            ST.start()
            cls.started = time.time()
            wait_until(lambda: any(r[3] is None and r[1] >= cls.started for r in results), 10)
            recovered = time.time()
            wait_until(lambda: sum(1 for r in results if r[3] is None and r[1] >= recovered) >= 20, 10)
        finally:
            stop.set()
            thread.join(timeout=30)
        # The instance that sat idle through the outage, its first statement once the store is back
        # (and past pgwarden's one-second reconnect delay).
        time.sleep(1.5)
        cls.idle_first = attempt(idle.cursor(), "SELECT 'after the restart'")
        idle.close()

    @classmethod
    def tearDownClass(cls):
        cls.px.stop()
        cls.idle.stop()

    def test_traffic_is_refused_then_recovers(self):
        results, log = self.results, self.px.logs()[-3000:]
        self.assertIsNone(self.px.proc.poll(), "pgwarden exited")
        before = [r for r in results if r[1] < self.stopping]
        down = [r for r in results if self.stopped <= r[1] < self.starting]
        after = [r for r in results if r[1] >= self.started]
        self.assertGreaterEqual(len(before), 50)
        self.assertEqual({r[3] for r in before}, {None})
        # While pg_ctl stops or starts the store, either outcome; never another error.
        self.assertLessEqual({r[3] for r in results}, {None, "58030"})
        # While the store is down: refusals with 58030, each within the 5 s bound.
        self.assertTrue(down and {r[3] for r in down} == {"58030"}, (down[-10:], log))
        self.assertLess(max(r[2] for r in results), 6.0, "a statement waited past the store's bound")
        # Once it is back: statements run again within ~10 s, through the same pgwarden process.
        ok_after = [r for r in after if r[3] is None]
        self.assertGreaterEqual(len(ok_after), 20, (after[-10:], log))
        self.assertLess(ok_after[0][1] - self.started, 10)
        # Nothing refused ran; everything that ran was recorded; the chain has no gap.
        ran_and_recorded(self, self.DB, "gw-r", "during", [r[0] for r in results if r[3] is None])
        got = seqs(self.DB, "gw-r")
        self.assertEqual(got, list(range(1, len(got) + 1)))
        self.assertEqual(wait_for_outcomes(self.DB), [])

    # An instance idle while the store restarted notices its connection is gone before it writes.
    def test_idle_instance_writes_at_once_after_the_store_is_back(self):
        self.assertEqual(self.idle_first[1], None, self.idle.logs()[-2000:])


class HungStore(unittest.TestCase):
    """A store that stops answering (a lock held on pgwarden's table there) past the 5 s bound: the
    statement is refused with 58030 at the bound, nothing refused runs, and when the store answers
    again pgwarden writes to it again by itself."""

    DB = "audit_hung"

    @classmethod
    def setUpClass(cls):
        cls.px = instance("gw-h", store_database(cls.DB))
        conn = psycopg2.connect(cls.px.dsn())
        conn.autocommit = True
        cur = conn.cursor()
        cls.before = attempt(cur, "SELECT 'before the hang'")
        lock = psycopg2.connect(ST.dsn(db=cls.DB))
        lock.cursor().execute("LOCK TABLE pgwarden.audit_instance IN ACCESS EXCLUSIVE MODE")
        cls.hung = attempt(cur, "SELECT 'while the store hangs'")
        lock.rollback()
        lock.close()
        released = time.time()
        cls.after = []
        while time.time() < released + 10:
            took, state = attempt(cur, "SELECT 'after the hang'")
            cls.after.append((time.time() - released, state))
            if state is None:
                break
            time.sleep(0.2)
        conn.close()

    @classmethod
    def tearDownClass(cls):
        cls.px.stop()

    def test_refused_at_the_bound_then_recovers(self):
        self.assertEqual(self.before[1], None)
        took, state = self.hung
        self.assertEqual(state, "58030")
        self.assertGreater(took, 4.0)
        self.assertLess(took, 6.5)
        self.assertEqual(self.after[-1][1], None, (self.after, self.px.logs()[-3000:]))
        self.assertEqual({s for _, s in self.after[:-1]}, set() if len(self.after) == 1 else {"58030"})
        got = seqs(self.DB, "gw-h")
        self.assertEqual(got, list(range(1, len(got) + 1)))

    # The batch pgwarden gave up on at the bound is either never committed (pgwarden ends its old
    # store session when it connects again) or, if the store committed it, its records get an
    # outcome saying the statement was refused: none reads as a statement that ran.
    def test_refused_statement_leaves_no_record_without_outcome(self):
        self.assertEqual(wait_for_outcomes(self.DB, timeout=3), [])


class CliOnTheStore(unittest.TestCase):
    """`audit verify` and `audit export` with `--store postgresql://...`: verify checks every
    instance's chain and names the instance and seq at fault; export merges instances by time and
    names each record's instance in the last column."""

    DB = "audit_cli"

    @classmethod
    def setUpClass(cls):
        cls.uri = store_database(cls.DB)
        a, b = instance("gw-a", cls.uri), instance("gw-b", cls.uri)
        for i in range(4):
            a.psql("SELECT %d AS on_a" % i)
            b.psql("SELECT %d AS on_b" % i)
        a.stop()
        b.stop()

    def test_export_merges_instances_by_time(self):
        r = cli("audit", "export", "--store", self.uri, "--format", "csv")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split("\n", 1)[0].rstrip("\r"), ",".join(COLUMNS))
        rows = list(csv.DictReader(io.StringIO(r.stdout, newline="")))
        self.assertEqual(sorted((x["instance"], int(x["seq"])) for x in rows),
                         sorted(store_query(self.DB, "SELECT instance, seq FROM pgwarden.audit_statement")))
        self.assertEqual({x["instance"] for x in rows}, {"gw-a", "gw-b"})
        ts = [x["ts"] for x in rows]
        self.assertEqual(ts, sorted(ts))
        ours = [(x["instance"], x["statement"]) for x in rows if " AS on_" in x["statement"]]
        self.assertEqual(ours, [(inst, "SELECT %d AS on_%s" % (i, inst[-1])) for i in range(4)
                                for inst in ("gw-a", "gw-b")])

    def test_verify_both_chains_then_a_tampered_row(self):
        r = cli("audit", "verify", "--store", self.uri)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        ST.sql("SET session_replication_role = replica; "
               "UPDATE pgwarden.audit_statement SET statement = 'x' WHERE instance = 'gw-b' AND seq = 3", db=self.DB)
        r = cli("audit", "verify", "--store", self.uri)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 1, out)
        self.assertRegex(out, r"\bgw-b\b\D*\b3\b")  # the instance, then the seq at fault
        self.assertNotRegex(out, r"\bgw-a\b")


class Configuration(unittest.TestCase):
    """What the postgresql backend needs is checked and named by its field; a store that cannot be
    reached at start stops serve with exit 2 and a message naming the store, never its password."""

    def config_with(self, audit, env=None):
        """A pgwarden that is expected not to start; returns it once it has exited."""
        px = harness.Pgwarden(PG, audit=audit, env=env, wait=False)
        px.proc.wait(timeout=30)
        return px

    def check(self, px, env=None):
        return subprocess.run([harness.PGWARDEN, "check", "-c", px.config], capture_output=True, text=True,
                              env=dict(os.environ, **(env or {})))

    def test_backend_postgresql_needs_its_section(self):
        px = self.config_with("  backend: postgresql\n  instance: gw-c\n")
        self.assertNotEqual(px.proc.returncode, 0)
        r = self.check(px)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("audit.postgresql", r.stdout + r.stderr)

    def test_unset_dsn_env_is_named(self):
        os.environ.pop("PGW_TEST_UNSET_DSN", None)
        px = self.config_with("  backend: postgresql\n  instance: gw-c\n  postgresql: {dsn_env: PGW_TEST_UNSET_DSN}\n")
        self.assertNotEqual(px.proc.returncode, 0)
        r = self.check(px)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("audit.postgresql.dsn_env", r.stdout + r.stderr)
        self.assertIn("PGW_TEST_UNSET_DSN", r.stdout + r.stderr)

    def test_unreachable_store_stops_serve_without_the_password(self):
        port = harness.free_port()  # nothing listens there
        password = "Store-Pw-7731"
        forms = {"uri": "postgresql://migrator:%s@127.0.0.1:%d/audit" % (password, port),
                 "keywords": "host=127.0.0.1 port=%d dbname=audit user=migrator password=%s" % (port, password),
                 "uri query": "postgresql://migrator@127.0.0.1:%d/audit?password=%s" % (port, password),
                 "quoted keyword": "host=127.0.0.1 port=%d dbname=audit user=migrator password = '%s x'" % (
                     port, password),
                 "after sslpassword": "sslpassword=k3y host=127.0.0.1 port=%d dbname=audit password=%s" % (
                     port, password)}
        for form, dsn in forms.items():
            with self.subTest(form=form):
                t0 = time.time()
                px = self.config_with(audit_lines("gw-c"), env={"AUDIT_DSN": dsn})
                self.assertLess(time.time() - t0, 15)
                self.assertEqual(px.proc.returncode, 2)
                log = px.logs()
                self.assertIn("127.0.0.1", log)
                self.assertIn(str(port), log)
                self.assertNotIn(password, log)


if __name__ == "__main__":
    unittest.main(verbosity=2)
