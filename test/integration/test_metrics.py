"""admin_http (SPEC section 12): /metrics in the Prometheus text format, checked by promtool, with
values that follow known traffic; /healthz; /readyz following the upstream PostgreSQL and the
shutdown; the console's SHOW STATS with the same counters."""
import os
import re
import signal
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import psycopg2  # noqa: E402

RULES = """default: allow
rules:
  - name: no-drops
    match: {commands: [drop_table]}
    action: deny
"""

PG = PX = None
HTTP_PORT = None


def admin_http(port):
    return 'admin_users: ["dba:*"]\nadmin_http:\n  listen: 127.0.0.1:%d\n' % port


def setUpModule():
    global PG, PX, HTTP_PORT
    PG = harness.Postgres()
    HTTP_PORT = harness.free_port()
    PX = harness.Pgwarden(PG, rules="", files={"rules.yaml": RULES},
                          extra="rules_file: rules.yaml\n" + admin_http(HTTP_PORT))
    harness.wait_port(HTTP_PORT, proc=PX.proc)


def get(path, port=None):
    """GET on the admin listener: (status, body)."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port or HTTP_PORT, path), timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


SAMPLE = re.compile(r'^([a-z_]+)(\{[^}]*\})? (\S+)$')


def metrics():
    """The exposition's samples: {'name{labels}': value}."""
    status, body = get("/metrics")
    assert status == 200, body
    out = {}
    for line in body.splitlines():
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        assert m, line
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def wait_for(predicate, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def console(sql):
    conn = psycopg2.connect(PX.dsn(db="pgwarden"))
    conn.autocommit = True
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchall()
    finally:
        conn.close()


ALLOWED = 'pgwarden_statements_total{decision="allow",rule=""}'
DENIED = 'pgwarden_statements_total{decision="deny",rule="no-drops"}'
SCRAM_OK = 'pgwarden_logins_total{method="scram",result="ok"}'
SCRAM_FAILED = 'pgwarden_logins_total{method="scram",result="failed"}'


class Metrics(unittest.TestCase):
    def test_exposition_passes_promtool(self):
        PX.psql("SELECT 1")
        status, body = get("/metrics")
        self.assertEqual(status, 200)
        r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + "\n" + body)
        for name in ("statements_total", "statement_duration_seconds", "audit_commit_duration_seconds", "sessions",
                     "logins_total", "approvals_pending", "upstream_connect_errors_total", "upstream_up",
                     "audit_store_failures_total", "rules_reloads_total", "relayed_bytes_total"):
            self.assertIn("# TYPE pgwarden_%s " % name, body)

    def test_counters_follow_known_traffic(self):
        before = metrics()
        for sql in ("SELECT 1", "SELECT 2", "SELECT 3"):
            PX.psql(sql)
        r = PX.psql("DROP TABLE pgbench_nothing", check=False)
        self.assertIn("no-drops", r.stderr)
        self.assertNotEqual(PX.psql("SELECT 4", check=False, dsn_extra={"password": "wrong"}).returncode, 0)
        after = metrics()

        def delta(key):
            return after.get(key, 0) - before.get(key, 0)
        self.assertEqual(delta(ALLOWED), 3)
        self.assertEqual(delta(DENIED), 1)
        self.assertEqual(delta(SCRAM_OK), 4)
        self.assertEqual(delta(SCRAM_FAILED), 1)
        self.assertEqual(delta('pgwarden_logins_total{method="oidc",result="ok"}'), 0)
        # The allowed statements ran upstream and waited for their records; the denied one did neither.
        self.assertEqual(delta("pgwarden_statement_duration_seconds_count"), 3)
        self.assertEqual(delta('pgwarden_statement_duration_seconds_bucket{le="+Inf"}'), 3)
        self.assertEqual(delta("pgwarden_audit_commit_duration_seconds_count"), 3)
        self.assertGreater(delta('pgwarden_relayed_bytes_total{from="client"}'), 0)
        self.assertGreater(delta('pgwarden_relayed_bytes_total{from="upstream"}'), 0)
        self.assertEqual(delta("pgwarden_upstream_connect_errors_total"), 0)
        self.assertEqual(after["pgwarden_audit_store_failures_total"], 0)
        self.assertEqual(after["pgwarden_approvals_pending"], 0)

    def test_sessions_by_state(self):
        conn = psycopg2.connect(PX.dsn())
        try:
            self.assertTrue(wait_for(lambda: metrics()['pgwarden_sessions{state="ready"}'] == 1), metrics())
            m = metrics()
            self.assertEqual(m['pgwarden_sessions{state="starting"}'], 0)
            self.assertEqual(m['pgwarden_sessions{state="held"}'], 0)
            self.assertEqual(m['pgwarden_sessions{state="console"}'], 0)
        finally:
            conn.close()
        self.assertTrue(wait_for(lambda: metrics()['pgwarden_sessions{state="ready"}'] == 0), metrics())

    def test_rules_reloads_counted(self):
        before = metrics()
        path = os.path.join(PX.dir, "rules.yaml")
        PX.proc.send_signal(signal.SIGHUP)
        ok = 'pgwarden_rules_reloads_total{result="success"}'
        failed = 'pgwarden_rules_reloads_total{result="failure"}'
        self.assertTrue(wait_for(lambda: metrics()[ok] == before[ok] + 1))
        with open(path, "w") as f:
            f.write("default: maybe\n")
        try:
            PX.proc.send_signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: metrics()[failed] == before[failed] + 1))
        finally:
            with open(path, "w") as f:
                f.write(RULES)
        self.assertEqual(metrics()[ok], before[ok] + 1)

    def test_show_stats_lists_the_counters(self):
        PX.psql("DROP TABLE pgbench_nothing", check=False)
        rows = console("SHOW STATS")
        by_key = {(name, labels): value for name, labels, value in rows}
        exposed = metrics()
        self.assertEqual(float(by_key[("pgwarden_statements_total", "decision=deny,rule=no-drops")]), exposed[DENIED])
        self.assertGreaterEqual(exposed[DENIED], 1)
        self.assertEqual(by_key[("pgwarden_sessions", "state=console")], "1")
        self.assertEqual(by_key[("pgwarden_upstream_up", "")], "1")
        self.assertIn(("pgwarden_statement_duration_seconds_bucket", "le=+Inf"), by_key)
        self.assertIn(("pgwarden_audit_commit_duration_seconds_count", ""), by_key)
        self.assertEqual({name for name, _, _ in rows} >= {"pgwarden_logins_total", "pgwarden_rules_reloads_total",
                                                           "pgwarden_relayed_bytes_total"}, True)


class Health(unittest.TestCase):
    def test_healthz(self):
        self.assertEqual(get("/healthz"), (200, "ok\n"))

    def test_readyz_follows_the_upstream(self):
        self.assertEqual(get("/readyz"), (200, "ready\n"))
        PG.stop()
        try:
            self.assertTrue(wait_for(lambda: get("/readyz")[0] == 503), get("/readyz"))
            self.assertEqual(get("/readyz"), (503, "not ready: the upstream server cannot be reached\n"))
            self.assertEqual(metrics()["pgwarden_upstream_up"], 0)
            self.assertEqual(get("/healthz"), (200, "ok\n"))
            errors = metrics()["pgwarden_upstream_connect_errors_total"]
            self.assertNotEqual(PX.psql("SELECT 1", check=False).returncode, 0)
            self.assertEqual(metrics()["pgwarden_upstream_connect_errors_total"], errors + 1)
        finally:
            PG.start()
        self.assertTrue(wait_for(lambda: get("/readyz")[0] == 200), get("/readyz"))
        self.assertEqual(metrics()["pgwarden_upstream_up"], 1)
        PX.psql("SELECT 1")

    def test_readyz_fails_while_draining(self):
        port = harness.free_port()
        px = harness.Pgwarden(PG, extra=admin_http(port))
        harness.wait_port(port, proc=px.proc)
        self.assertEqual(get("/readyz", port), (200, "ready\n"))
        conn = psycopg2.connect(px.dsn())
        cur = conn.cursor()
        cur.execute("SELECT 1")  # a transaction is open: the shutdown waits for it
        px.proc.send_signal(signal.SIGTERM)
        self.assertTrue(wait_for(lambda: get("/readyz", port)[0] == 503))
        self.assertEqual(get("/readyz", port), (503, "not ready: draining: shutting down after SIGTERM\n"))
        self.assertEqual(get("/healthz", port), (200, "ok\n"))
        conn.commit()
        conn.close()
        self.assertEqual(px.proc.wait(timeout=20), 0)


class Config(unittest.TestCase):
    def test_admin_http_is_checked(self):
        d = harness.tmpdir("pgw-metrics-cfg-")
        path = os.path.join(d, "pgwarden.yaml")
        with open(path, "w") as f:
            f.write("upstream:\n  roles: []\nrules:\n  default: allow\n"
                    "admin_http:\n  listen: localhost\n  port: 9187\n")
        r = subprocess.run([harness.PGWARDEN, "check", "-c", path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(path + ":7:3: admin_http.port: unknown key", r.stderr)
        self.assertIn(path + ":6:11: admin_http.listen: expected HOST:PORT, got \"localhost\"", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
