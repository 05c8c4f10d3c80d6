"""`pgwarden audit export --follow` (SPEC section 12): records streamed as statements run through a
real pgwarden, each once and in seq order with its outcome, across a kill -9 and restart of
pgwarden and a WAL checkpoint of the SQLite store, resumed exactly with --after-seq, ended cleanly
by SIGTERM, SIGINT and a reader that goes away; and on a PostgreSQL store written by two instances.
"""
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

PG = None
PX = None


def setUpModule():
    global PG, PX
    PG = harness.Postgres()
    PX = harness.Pgwarden(PG)


class Follower:
    """A running `audit export --follow` whose stdout lines are collected by a thread."""

    def __init__(self, store, *args, env=None):
        self.proc = subprocess.Popen([harness.PGWARDEN, "audit", "export", "--store", store, "--follow"] +
                                     list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ, **(env or {})))
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.seen = []

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)

    def take(self, n, timeout=30):
        """The next `n` lines as parsed JSON; fails if they do not come within `timeout` s."""
        rows = []
        deadline = time.time() + timeout
        while len(rows) < n:
            try:
                rows.append(json.loads(self.lines.get(timeout=max(0.1, deadline - time.time()))))
            except queue.Empty:
                raise AssertionError("got %d of %d lines: %r" % (len(rows), n, rows))
        self.seen += rows
        return rows

    def quiet(self, seconds=1.0):
        """Asserts that nothing more is written for `seconds`."""
        try:
            extra = self.lines.get(timeout=seconds)
        except queue.Empty:
            return
        raise AssertionError("unexpected line: %s" % extra)

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=10)
        return self.proc.returncode, err


def run(px, tag, n):
    """Runs `n` statements through `px`, one session each, tagged so that their records are found."""
    for i in range(n):
        out = px.psql("SELECT '%s-%d' AS tag" % (tag, i)).stdout.strip()
        assert out == "%s-%d" % (tag, i), out
    return ["SELECT '%s-%d' AS tag" % (tag, i) for i in range(n)]


def last_seq():
    r = subprocess.run(["sqlite3", PX.audit_db, "SELECT max(seq) FROM audit_statement"], capture_output=True,
                       text=True, check=True)
    return int(r.stdout.strip() or 0)


class FollowSqlite(unittest.TestCase):

    def check_rows(self, rows, statements, first_seq):
        self.assertEqual([r["seq"] for r in rows], list(range(first_seq, first_seq + len(statements))))
        self.assertEqual([r["statement"] for r in rows], statements)
        for r in rows:
            self.assertEqual(r["principal"], "dba:alice")
            self.assertEqual(r["decision"], "allow")
            self.assertEqual(r["command"], "select")
            self.assertEqual(r["rows"], 1)
            self.assertEqual(r["sqlstate"], "")
            self.assertIsNotNone(r["duration_ms"])

    def test_follow_across_restart_and_checkpoint(self):
        start = last_seq()
        f = Follower(PX.audit_db, "--format", "jsonl", "--after-seq", str(start))
        try:
            statements = run(PX, "live", 3)
            self.check_rows(f.take(3), statements, start + 1)
            f.quiet(0.5)

            # kill -9 and start again: the file stays, the follow keeps reading it.
            PX.proc.kill()
            PX.proc.wait()
            PX.serve()
            statements = run(PX, "restarted", 3)
            self.check_rows(f.take(3), statements, start + 4)

            # A checkpoint that truncates the WAL, then enough traffic to fill it again.
            r = subprocess.run(["sqlite3", PX.audit_db, "PRAGMA wal_checkpoint(TRUNCATE)"], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), "0|0|0")
            statements = run(PX, "checkpointed", 2)
            self.check_rows(f.take(2), statements, start + 7)
            PX.pgbench(["-i", "-q", "-s", "1"])
            PX.pgbench(["-c", "2", "-t", "100", "-S"])
            end = last_seq()
            rows = f.take(end - start - 8, timeout=60)
            self.assertEqual([r["seq"] for r in rows], list(range(start + 9, end + 1)))
            f.quiet(0.5)
            seqs = [r["seq"] for r in f.seen]
            self.assertEqual(seqs, list(range(start + 1, end + 1)))
        finally:
            code, err = f.stop()
        self.assertEqual(code, 0, err)
        self.assertEqual(err, "")

        # --after-seq resumes exactly: the same lines from the next record on.
        middle = start + 5
        g = Follower(PX.audit_db, "--format", "jsonl", "--after-seq", str(middle))
        try:
            rows = g.take(end - middle)
            g.quiet(0.5)
        finally:
            code, _ = g.stop(signal.SIGINT)
        self.assertEqual(code, 0)
        self.assertEqual(rows, [r for r in f.seen if r["seq"] > middle])

    def test_filters_and_csv(self):
        start = last_seq()
        f = Follower(PX.audit_db, "--after-seq", str(start), "--principal", "ops:*")
        try:
            header = f.lines.get(timeout=30)
            self.assertTrue(header.startswith("seq,ts,principal,attribution,"), header)
            run(PX, "alice", 2)
            PX.psql("SELECT 'eve-0' AS tag", user="eve")
            line = f.lines.get(timeout=30)
            self.assertEqual(line.split(",")[0], str(start + 3))
            self.assertIn("ops:eve", line)
            self.assertIn("SELECT 'eve-0' AS tag", line)
            f.quiet(0.5)
        finally:
            code, _ = f.stop()
        self.assertEqual(code, 0)

    def test_reader_going_away_ends_it(self):
        start = last_seq()
        proc = subprocess.Popen([harness.PGWARDEN, "audit", "export", "--store", PX.audit_db, "--follow", "--format",
                                 "jsonl", "--after-seq", str(start)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        run(PX, "before-close", 1)
        self.assertEqual(json.loads(proc.stdout.readline())["seq"], start + 1)
        proc.stdout.close()
        run(PX, "after-close", 2)
        self.assertEqual(proc.wait(timeout=10), 0)
        with proc.stderr:
            self.assertEqual(proc.stderr.read(), b"")

    def test_waits_for_a_store_created_later(self):
        directory = harness.tmpdir("pgw-follow-")
        path = os.path.join(directory, "audit.db")
        f = Follower(path, "--format", "jsonl")
        try:
            f.quiet(1.0)
            self.assertIsNone(f.proc.poll())
            r = subprocess.run(["sqlite3", PX.audit_db, ".backup '%s'" % path], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            count = last_seq()
            rows = f.take(count)
            self.assertEqual([r["seq"] for r in rows], list(range(1, count + 1)))
        finally:
            code, err = f.stop()
        self.assertEqual(code, 0)
        self.assertEqual(err, "pgwarden audit export: audit store %s: No such file or directory; waiting for "
                              "pgwarden to create it\n" % path)

    def test_usage_errors(self):
        def export(*args):
            return subprocess.run([harness.PGWARDEN, "audit", "export", "--store", PX.audit_db] + list(args),
                                  capture_output=True, text=True, timeout=30)
        r = export("--follow", "--until", "2030-01-01")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--until cannot be used with --follow: a follow has no end", r.stderr)
        r = export("--after-seq", "3")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--after-seq is where --follow starts: give --follow too", r.stderr)
        r = export("--follow", "--after-seq", "gw-a:x")
        self.assertEqual(r.returncode, 2)
        self.assertIn('--after-seq "gw-a:x": "gw-a:x" is neither a seq nor instance:seq', r.stderr)
        past = last_seq() + 100
        r = export("--follow", "--after-seq", str(past))
        self.assertEqual(r.returncode, 2)
        self.assertIn("--after-seq %d: the last record is seq %d" % (past, past - 100), r.stderr)


class FollowPostgresStore(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.store = harness.Postgres()
        cls.store.sql("CREATE DATABASE audit OWNER migrator")
        cls.uri = "postgresql://migrator:%s@127.0.0.1:%d/audit" % (harness.ROLE_PASSWORD, cls.store.port)
        audit = "  backend: postgresql\n  instance: %s\n  postgresql: {dsn_env: AUDIT_DSN}\n"
        cls.a = harness.Pgwarden(PG, audit=audit % "gw-a", env={"AUDIT_DSN": cls.uri})
        cls.b = harness.Pgwarden(PG, audit=audit % "gw-b", env={"AUDIT_DSN": cls.uri})

    @classmethod
    def tearDownClass(cls):
        cls.a.stop()
        cls.b.stop()

    def by_instance(self, rows):
        out = {}
        for r in rows:
            out.setdefault(r["instance"], []).append((r["seq"], r["statement"], r["rows"]))
        return out

    def test_two_instances(self):
        f = Follower(self.uri, "--format", "jsonl")
        try:
            a1 = run(self.a, "a", 2)
            b1 = run(self.b, "b", 3)
            a2 = run(self.a, "a2", 1)
            rows = f.take(6)
            f.quiet(0.5)
        finally:
            code, err = f.stop()
        self.assertEqual(code, 0, err)
        self.assertEqual(self.by_instance(rows), {
            "gw-a": [(1, a1[0], 1), (2, a1[1], 1), (3, a2[0], 1)],
            "gw-b": [(1, b1[0], 1), (2, b1[1], 1), (3, b1[2], 1)]})

        # Resumed per instance; instance gw-b restarted meanwhile.
        self.b.proc.kill()
        self.b.proc.wait()
        self.b.serve(env={"AUDIT_DSN": self.uri})
        b2 = run(self.b, "b2", 1)
        g = Follower(self.uri, "--format", "jsonl", "--after-seq", "gw-a:2,gw-b:3")
        try:
            rows = g.take(2)
            g.quiet(0.5)
        finally:
            g.stop()
        self.assertEqual(self.by_instance(rows), {"gw-a": [(3, a2[0], 1)], "gw-b": [(4, b2[0], 1)]})

        r = subprocess.run([harness.PGWARDEN, "audit", "export", "--store", self.uri, "--follow", "--after-seq", "2"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--after-seq 2: the store has 2 instances (gw-a, gw-b); name each one's position, as in "
                      "--after-seq gw-a:2", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
