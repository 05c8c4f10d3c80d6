"""Faults pgwarden survives without a restart, each against a real PostgreSQL and a real pgwarden:
the upstream restarted under traffic, the audit store's disk full, hundreds of connections that
never finish their startup, a slow reader of a 1 GB result, 150 sessions at once, and rules
reloaded valid and invalid in turn under load. After each: the same pgwarden process still
serves, every statement that ran has its audit record with an outcome, and the chain verifies."""
import json
import os
import random
import re
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

SANITIZED = os.environ.get("PGWARDEN_SANITIZED") == "1"
PG = None


def setUpModule():
    global PG
    PG = harness.Postgres()


def connect(px, user="alice", timeout=20):
    return w.Connection(px.port, user, harness.Pgwarden.USERS[user][1], "app", timeout=timeout)


def insert_script(px, table):
    """A pgbench script inserting one random value into `table` per transaction."""
    PG.sql("DROP TABLE IF EXISTS %s; CREATE TABLE %s(v bigint)" % (table, table), db="app")
    path = os.path.join(px.dir, table + ".sql")
    with open(path, "w") as f:
        f.write("\\set v random(1, 1000000000000)\nINSERT INTO %s VALUES (:v);\n" % table)
    return path


def start_pgbench(px, args):
    return subprocess.Popen([harness.PG_BIN + "/pgbench", "-h", "127.0.0.1", "-p", str(px.port), "-U", "alice", "-n"]
                            + list(args) + ["app"], env=px.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def processed(out):
    m = re.search(r"number of transactions actually processed: (\d+)", out)
    return int(m.group(1)) if m else 0


class FaultTest(unittest.TestCase):
    """Each test's pgwarden: it must be the same process at the end, its audit complete and verifiable."""

    def survived(self, px, pid, since_seq=0, outcome_wait=15):
        self.assertIsNone(px.proc.poll(), "pgwarden exited")
        self.assertEqual(px.proc.pid, pid)
        self.assertEqual(px.psql("SELECT 'still serving'").stdout.strip(), "still serving")
        rows = harness.wait_for(lambda: (lambda rs: rs if all(harness.has_outcome(r) for r in rs) else None)(
            [r for r in harness.audit_rows(px.audit_db) if int(r["seq"]) > since_seq]), timeout=outcome_wait)
        self.assertTrue(rows, "records without an outcome: %s" % [
            r["statement"][:60] for r in harness.audit_rows(px.audit_db)
            if int(r["seq"]) > since_seq and not harness.has_outcome(r)][:10])
        code, out = harness.audit_verify(px.audit_db)
        self.assertEqual(code, 0, out)
        return rows

    def assertAllRecorded(self, px, table):
        """Every row in `table` (written by INSERT INTO table VALUES (v)) has its audit record."""
        values = PG.sql("SELECT v FROM %s" % table, db="app").split()
        recorded = set()
        literal = re.compile(r"INSERT INTO %s VALUES \((-?\d+)\)" % table)
        for r in harness.audit_rows(px.audit_db):
            m = literal.match(r["statement"])
            if m:
                recorded.add(m.group(1))
            elif r["statement"] == "INSERT INTO %s VALUES ($1)" % table:
                recorded.update(json.loads(r["parameters"]))
        self.assertEqual([v for v in values if v not in recorded], [], "rows in %s without an audit record" % table)
        return values


class UpstreamRestart(FaultTest):
    def test_upstream_restarted_during_traffic(self):
        px = harness.Pgwarden(PG)
        pid = px.proc.pid
        script = insert_script(px, "restart_ins")
        bench = start_pgbench(px, ["-c", "4", "-j", "2", "-T", "30", "-M", "extended", "-f", script])
        idle, busy, in_tx = connect(px), connect(px), connect(px)
        in_tx.send(w.query("BEGIN; INSERT INTO restart_ins VALUES (-1)"))
        self.assertEqual(w.kinds(in_tx.until_ready()), "CCZ")
        busy.send(w.query("SELECT pg_sleep(60)"))
        harness.wait_for(lambda: int(PG.sql("SELECT count(*) FROM restart_ins", db="app")) > 100, timeout=20)
        PG.stop(mode="fast")
        try:
            for name, c in (("idle", idle), ("busy", busy), ("in a transaction", in_tx)):
                with self.subTest(session=name):
                    c.sock.settimeout(15)
                    kind, body = c.recv()
                    while kind in (b"N", b"S", b"A", b"T"):  # the sleep's RowDescription may come first
                        kind, body = c.recv()
                    self.assertEqual(kind, b"E")
                    self.assertIn(w.error_fields(body)["C"], ("57P01", "08006"))
                    with self.assertRaises((ConnectionError, OSError)):
                        while True:
                            c.recv()
            started = time.time()
            with self.assertRaises(RuntimeError) as refused:
                connect(px, timeout=15)
            self.assertIn("08006", str(refused.exception))
            self.assertLess(time.time() - started, 10)
            out, err = bench.communicate(timeout=30)
        finally:
            PG.start()
            for c in (idle, busy, in_tx):
                c.close()
        self.assertNotEqual(bench.returncode, 0, "pgbench's sessions were cut")
        self.assertIn("abort", out + err)
        # New sessions work at once.
        self.assertEqual(processed(px.pgbench(["-n", "-c", "2", "-t", "20", "-f", script]).stdout), 40)
        rows = self.survived(px, pid)
        self.assertAllRecorded(px, "restart_ins")
        self.assertEqual(PG.sql("SELECT count(*) FROM restart_ins WHERE v = -1", db="app"), "0", "rolled back")
        [sleep] = [r for r in rows if r["statement"] == "SELECT pg_sleep(60)"]
        self.assertIn(sleep["sqlstate"], ("57P01", "08006"))


class DiskFull(FaultTest):
    def test_audit_store_disk_full_refuses_then_resumes(self):
        mnt = harness.tmpdir("pgw-full-")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt], capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs for the audit store: " + r.stderr.strip())
        self.addCleanup(subprocess.run, ["umount", "-l", mnt], capture_output=True)
        px = harness.Pgwarden(PG)
        px.stop()
        with open(px.config) as f:
            config = f.read()
        with open(px.config, "w") as f:
            f.write(config.replace("  path: audit.db\n", "  path: %s/audit.db\n" % mnt))
        px.serve()
        px.audit_db = os.path.join(mnt, "audit.db")
        pid = px.proc.pid
        PG.sql("DROP TABLE IF EXISTS full_ins; CREATE TABLE full_ins(v int)", db="app")
        c = connect(px)
        c.send(w.query("INSERT INTO full_ins VALUES (1)"))
        self.assertEqual(w.kinds(c.until_ready()), "CZ")
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        refused = []
        for v in range(2, 40):
            c.send(w.query("INSERT INTO full_ins VALUES (%d)" % v))
            replies = c.until_ready()
            refused += w.sqlstates(replies)
        self.assertIn("58030", refused, "statements refused once the disk is full")
        self.assertEqual(set(refused), {"58030"})
        self.assertIn("event=audit_write_failed", px.logs())
        os.unlink(filler)
        # Space is back: service resumes by itself, on the same session.
        c.send(w.query("INSERT INTO full_ins VALUES (100)"))
        replies = c.until_ready()
        if w.sqlstates(replies):  # the statement that found the disk full once more may be refused
            c.send(w.query("INSERT INTO full_ins VALUES (101)"))
            replies = c.until_ready()
        self.assertEqual(w.kinds(replies), "CZ", w.sqlstates(replies))
        c.close()
        values = self.assertAllRecorded(px, "full_ins")
        self.assertLess(len(values), 40, "refused statements did not run")
        self.assertIn("1", values)
        self.survived(px, pid)


class HalfOpen(FaultTest):
    def test_hundreds_of_half_open_connections_closed_at_the_auth_timeout(self):
        px = harness.Pgwarden(PG, extra="limits:\n  auth_timeout: 2s\n")
        pid = px.proc.pid
        px.pgbench(["-i", "-s", "1", "-q"])
        before = harness.open_fds(pid)
        bench = start_pgbench(px, ["-c", "4", "-j", "2", "-T", "6", "-S"])
        time.sleep(0.5)
        partial = [b"", struct.pack("!i", 40)[:2], struct.pack("!ii", 40, 196608) + b"user\0",
                   harness.startup_packet("alice", "app")]
        socks = []
        for i in range(300):
            s = socket.create_connection(("127.0.0.1", px.port), timeout=10)
            if partial[i % 4]:
                s.sendall(partial[i % 4])
            socks.append((s, time.time(), i % 4))
        closed_after, fatal = [], 0
        for s, opened, kind in socks:
            s.settimeout(max(0.1, opened + 15 - time.time()))
            data = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except socket.timeout:
                self.fail("a half-open connection was still open 15 s after it connected")
            except ConnectionResetError:
                pass
            closed_after.append(time.time() - opened)
            if b"authentication timed out" in data:
                fatal += 1
            s.close()
        out, err = bench.communicate(timeout=60)
        self.assertEqual(bench.returncode, 0, err)
        self.assertIn("number of failed transactions: 0", out)
        self.assertGreater(processed(out), 0)
        self.assertGreater(min(closed_after), 1.5, "closed at the timeout, not before")
        self.assertLess(max(closed_after), 2 + (10 if SANITIZED else 5))
        self.assertEqual(fatal, 300, "each told why it was closed")
        self.assertEqual(px.logs().count("event=auth_timeout"), 300)
        self.assertTrue(harness.wait_for(lambda: harness.open_fds(pid) <= before, timeout=10),
                        "fds: %d before, %d after" % (before, harness.open_fds(pid)))
        self.survived(px, pid)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class SlowReader(FaultTest):
    def test_slow_reader_of_1gb_keeps_rss_bounded(self):
        px = harness.Pgwarden(PG)
        pid = px.proc.pid
        sql = "COPY (SELECT repeat('x', 1000) FROM generate_series(1, 1000000)) TO STDOUT"
        p = subprocess.Popen([harness.PG_BIN + "/psql", "-X", "-d", px.dsn(), "-c", sql], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        total, peak, reads = 0, 0, 0
        while True:
            chunk = p.stdout.read(256 * 1024)
            if not chunk:
                break
            total += len(chunk)
            reads += 1
            if reads % 40 == 0:
                peak = max(peak, rss_kib(pid))
                time.sleep(0.02)
        p.wait()
        self.assertEqual(p.returncode, 0, p.stderr.read())
        self.assertEqual(total, 1000000 * 1001)
        print("slow reader of 1 GB: pgwarden RSS peaked at %d KiB" % peak)
        # Under AddressSanitizer freed memory sits in its quarantine (256 MiB) and every byte has
        # shadow: the bound there only proves the 1 GB result was not buffered whole.
        limit = 512 * 1024 if SANITIZED else 64 * 1024
        self.assertLess(peak, limit, "pgwarden RSS peaked at %d KiB" % peak)
        [copy] = [r for r in self.survived(px, pid) if r["statement"] == sql]
        self.assertEqual((copy["rows"], copy["sqlstate"]), ("1000000", ""))


class ManySessions(FaultTest):
    def test_150_concurrent_sessions_served_and_no_fd_leak(self):
        px = harness.Pgwarden(PG, extra="admin_users: [\"dba:*\"]\n")
        pid = px.proc.pid
        warm = connect(px)
        warm.send(w.query("SELECT 1"))
        warm.until_ready()
        warm.close()
        time.sleep(0.2)
        before = harness.open_fds(pid)
        conns = [connect(px) for _ in range(150)]
        self.assertGreaterEqual(harness.open_fds(pid), before + 300, "a client and an upstream socket each")
        for i, c in enumerate(conns):
            c.send(w.query("SELECT pg_backend_pid(), %d AS n" % i))
        backends = set()
        for i, c in enumerate(conns):
            replies = c.until_ready()
            self.assertEqual(w.kinds(replies), "TDCZ")
            body = replies[1][1]
            fields, pos = [], 2
            for _ in range(2):
                n = struct.unpack("!i", body[pos:pos + 4])[0]
                fields.append(body[pos + 4:pos + 4 + n].decode())
                pos += 4 + n
            self.assertEqual(fields[1], str(i))
            backends.add(fields[0])
        self.assertEqual(len(backends), 150, "each session its own server connection")
        sessions = px.console("SHOW SESSIONS")
        self.assertGreaterEqual(len(sessions), 150)
        for c in conns[:75]:
            c.send(w.message(b"X"))
            c.close()
        for c in conns[75:]:
            c.close()  # without Terminate
        self.assertTrue(harness.wait_for(lambda: harness.open_fds(pid) <= before, timeout=15),
                        "fds: %d before, %d after" % (before, harness.open_fds(pid)))
        active = "SELECT count(*) FROM pg_stat_activity WHERE datname = 'app' AND usename = 'migrator'"
        self.assertTrue(harness.wait_for(lambda: PG.sql(active) == "0", timeout=15), "server connections closed")
        rows = self.survived(px, pid)
        self.assertEqual(len([r for r in rows if r["statement"].startswith("SELECT pg_backend_pid()")]), 150)


KEPT = "the rules are invalid; the previous rules stay in force"
RELOAD_RULES = """mode: enforce
default: allow
rules:
  - name: closed-%s
    match: {commands: [select], tables: [public.flag_%s]}
    action: deny
    message: "flag_%s is closed"
"""


class Reloads(FaultTest):
    def test_sighup_valid_and_invalid_rules_alternating_under_pgbench(self):
        PG.sql("DROP TABLE IF EXISTS flag_a, flag_b; CREATE TABLE flag_a(v int); CREATE TABLE flag_b(v int)", db="app")
        px = harness.Pgwarden(PG, rules="rules_file: rules.yaml\n", files={"rules.yaml": RELOAD_RULES % ("a", "a", "a")})
        pid = px.proc.pid
        px.pgbench(["-i", "-s", "1", "-q"])
        rules_path = os.path.join(px.dir, "rules.yaml")
        invalid = ["rules: [this is not valid", "mode: enforce\ndefault: allow\nrules:\n  - {name: x, action: maybe}\n",
                   "mode: sometimes\n", "default: allow\nrules:\n  - {name: y, match: {commands: [nonsense]}, action: deny}\n"]
        conn = connect(px)
        bench = start_pgbench(px, ["-c", "4", "-j", "2", "-T", "8"])
        rng = random.Random(7)

        def closed(table):
            conn.send(w.query("SELECT * FROM " + table))
            return w.sqlstates(conn.until_ready()) == ["42501"]

        closed_now, done = "a", 0
        try:
            for i in range(20):
                reloaded, failed = px.logs().count("event=rules_reloaded"), px.logs().count(KEPT)
                valid = i % 2 == 1
                if valid:
                    closed_now = "b" if closed_now == "a" else "a"
                    text = RELOAD_RULES % ((closed_now,) * 3)
                else:
                    text = rng.choice(invalid)
                with open(rules_path + ".new", "w") as f:
                    f.write(text)
                os.rename(rules_path + ".new", rules_path)
                px.proc.send_signal(signal.SIGHUP)
                if valid:
                    self.assertTrue(harness.wait_for(lambda: px.logs().count("event=rules_reloaded") > reloaded, 10))
                else:
                    self.assertTrue(harness.wait_for(lambda: px.logs().count(KEPT) > failed, 10))
                other = "b" if closed_now == "a" else "a"
                self.assertTrue(closed("flag_" + closed_now), "reload %d: flag_%s closed" % (i, closed_now))
                self.assertFalse(closed("flag_" + other), "reload %d: flag_%s open" % (i, other))
                done += 1
                time.sleep(0.2)
        finally:
            conn.close()
            out, err = bench.communicate(timeout=60)
        self.assertEqual(done, 20)
        self.assertEqual(bench.returncode, 0, err)
        self.assertIn("number of failed transactions: 0", out)
        self.assertGreater(processed(out), 0)
        self.assertEqual(px.logs().count(KEPT), 10)
        self.assertEqual(px.logs().count("event=rules_reloaded"), 10)
        rows = self.survived(px, pid)
        denied = [r for r in rows if r["decision"] == "deny"]
        self.assertEqual(len(denied), 20)
        self.assertEqual({r["sqlstate"] for r in denied}, {"42501"})


if __name__ == "__main__":
    unittest.main(verbosity=2)
