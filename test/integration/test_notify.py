"""Approval notifications (approvals.notify) against real HTTP receivers on this machine: a held
statement is told to every receiver with its id, who and what, the statement as the audit records
it, its deadline and the console command, signed when a secret is set; its settlement (approved,
rejected, expired, withdrawn) is told too. A receiver that answers 500 gets the notice on a later
try; a receiver that never answers delays neither the approval nor any session."""
import csv
import hashlib
import hmac
import http.server
import io
import json
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import psycopg2  # noqa: E402

SECRET = "webhook-secret-7f3a"

RULES = """rules:
  default: allow
  rules:
    - name: deletes-need-a-dba
      match: {commands: [delete]}
      action: hold
      approvers: ["dba:*"]
      timeout: 1m
    - name: vacuum-times-out
      match: {commands: [vacuum]}
      action: hold
      approvers: ["dba:*"]
      timeout: 2s
"""


class Receiver:
    """An HTTP server in a thread that records every POST (path, headers, body, arrival time).
    /ok answers 200; /flaky answers 500 to the first two tries of each body, then 200; /hang never
    answers (until the test ends)."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    tries = sum(1 for r in receiver.requests if r["path"] == self.path and r["body"] == body)
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                              "at": time.monotonic()})
                if self.path == "/hang":
                    receiver.release.wait(120)
                    return
                status = 500 if self.path == "/flaky" and tries < 2 else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def received(self, path):
        with self.lock:
            return [dict(r) for r in self.requests if r["path"] == path]

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


PG = PX = RX = None


def setUpModule():
    global PG, PX, RX
    PG = harness.Postgres()
    RX = Receiver()
    notify = "".join("    - {url: %s%s}\n" % (RX.url(path), more) for path, more in [
        ("/ok", ", format: json, secret_env: PGWARDEN_WEBHOOK_SECRET"),
        ("/flaky", ""),
        ("/hang", ""),
        ("/slack", ", format: slack"),
    ])
    PX = harness.Pgwarden(PG, rules=RULES, audit="  statement_text: normalized\n  instance: gw-test\n",
                          extra='admin_users: ["dba:*"]\napprovals:\n  notify:\n' + notify,
                          env={"PGWARDEN_WEBHOOK_SECRET": SECRET})


def tearDownModule():
    RX.stop()


def run_console(sql, user="bob"):
    return PX.console(sql, user)


def start_psql(sql):
    env = dict(os.environ, PGOPTIONS="-c pgwarden.job_id=4711 -c pgwarden.commit=3f2a9c1")
    args = [harness.PG_BIN + "/psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", PX.dsn(user="ci"), "-c", sql]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def notices(path, event, aid=None):
    """The notices `path` received of `event` (for approval `aid`), as (request, parsed body)."""
    out = []
    for r in RX.received(path):
        body = json.loads(r["body"])
        if path == "/slack" or (body["event"] == event and (aid is None or body["approval_id"] == aid)):
            out.append((r, body))
    return out


def wait_for(what, fn, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("%s did not happen; pgwarden log:\n%s" % (what, PX.logs()[-3000:]))


def hold(sql, known_held):
    """Starts `sql` as the CI principal; returns the process and the id of its `held` notice."""
    p = start_psql(sql)
    fresh = wait_for("a held notice", lambda: [b for _, b in notices("/ok", "held") if b["approval_id"] not in known_held])
    return p, fresh[0]["approval_id"]


def held_ids():
    return {b["approval_id"] for _, b in notices("/ok", "held")}


def audit_row(seq):
    r = subprocess.run([harness.PGWARDEN, "audit", "export", "--store", PX.audit_db], capture_output=True, check=True)
    rows = list(csv.DictReader(io.StringIO(r.stdout.decode("utf-8"), newline="")))
    return [row for row in rows if row["seq"] == str(seq)][0]


def make_victim(name):
    PG.sql("DROP TABLE IF EXISTS %s; CREATE TABLE %s(v int); INSERT INTO %s VALUES (1), (2)" % (name, name, name),
           db="app")


class HeldAndApproved(unittest.TestCase):
    def test_held_notice_then_approved_notice(self):
        make_victim("victim_a")
        p, aid = hold("DELETE FROM victim_a WHERE v = 1", held_ids())
        [(request, body)] = notices("/ok", "held", aid)
        [listed] = [r for r in run_console("SHOW APPROVALS") if int(r[0]) == aid]
        self.assertEqual(body, {
            "event": "held", "approval_id": aid, "state": "pending", "principal": "acme/api@refs/heads/main",
            "job_id": "4711", "commit": "3f2a9c1", "rule": "deletes-need-a-dba",
            "statement": "DELETE FROM victim_a WHERE v = $1", "requested_at": listed[6], "expires_at": listed[7],
            "approvers": ["dba:*"], "approvals_required": 1, "decided_by": [], "reason": "", "instance": "gw-test",
            "console_database": "pgwarden", "approve_command": "APPROVE %d" % aid})
        # The statement as the audit records it (audit.statement_text: normalized).
        self.assertEqual(body["statement"], audit_row(aid)["statement"])
        self.assertEqual(request["headers"]["Content-Type"], "application/json")
        expected = "sha256=" + hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
        self.assertEqual(request["headers"]["X-Pgwarden-Signature"], expected)
        # Targets without a secret get no signature.
        flaky, _ = wait_for("the held notice at /flaky", lambda: notices("/flaky", "held", aid))[0]
        self.assertNotIn("X-Pgwarden-Signature", flaky["headers"])

        # The /hang receiver holds a delivery of this very notice open: approval is not slowed.
        wait_for("the hanging receiver got the notice", lambda: notices("/hang", "held", aid))
        start = time.monotonic()
        run_console("APPROVE %d" % aid)
        out, err = p.communicate(timeout=30)
        took = time.monotonic() - start
        self.assertEqual(p.returncode, 0, err)
        self.assertLess(took, 1.0, "approve to completion took %.2fs" % took)
        self.assertEqual(PG.sql("SELECT string_agg(v::text, ',') FROM victim_a", db="app"), "2")

        [(request, body)] = wait_for("a settled notice", lambda: notices("/ok", "settled", aid))
        self.assertEqual(body["state"], "approved")
        self.assertEqual(body["decided_by"], ["dba:bob"])
        self.assertEqual(body["approval_id"], aid)
        self.assertEqual(body["statement"], "DELETE FROM victim_a WHERE v = $1")
        self.assertEqual(request["headers"]["X-Pgwarden-Signature"],
                         "sha256=" + hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest())

    def test_other_sessions_run_while_a_receiver_hangs(self):
        make_victim("victim_o")
        p, aid = hold("DELETE FROM victim_o", held_ids())
        wait_for("the hanging receiver got the notice", lambda: notices("/hang", "held", aid))
        conn = psycopg2.connect(PX.dsn(user="alice"))
        conn.autocommit = True
        cur = conn.cursor()
        slowest = 0.0
        for i in range(50):
            start = time.monotonic()
            cur.execute("SELECT %s::int + 1", (i,))
            self.assertEqual(cur.fetchone()[0], i + 1)
            slowest = max(slowest, time.monotonic() - start)
        conn.close()
        self.assertLess(slowest, 0.5)
        run_console("DENY %d 'not today'" % aid)
        p.communicate(timeout=30)
        self.assertNotEqual(p.returncode, 0)


class Settled(unittest.TestCase):
    def test_rejection_names_who_and_why(self):
        make_victim("victim_d")
        p, aid = hold("DELETE FROM victim_d", held_ids())
        run_console("DENY %d 'not during business hours'" % aid, user="alice")
        p.communicate(timeout=30)
        [(_, body)] = wait_for("a settled notice", lambda: notices("/ok", "settled", aid))
        self.assertEqual((body["state"], body["decided_by"], body["reason"]),
                         ("rejected", ["dba:alice"], "not during business hours"))

    def test_expiry(self):
        p, aid = hold("VACUUM", held_ids())
        p.communicate(timeout=30)
        [(_, body)] = wait_for("a settled notice", lambda: notices("/ok", "settled", aid))
        self.assertEqual((body["state"], body["rule"], body["decided_by"]), ("expired", "vacuum-times-out", []))

    def test_client_that_leaves_withdraws(self):
        make_victim("victim_w")
        p, aid = hold("DELETE FROM victim_w", held_ids())
        p.kill()
        p.communicate()
        [(_, body)] = wait_for("a settled notice", lambda: notices("/ok", "settled", aid))
        self.assertEqual((body["state"], body["reason"]),
                         ("withdrawn", "the client disconnected while the statement waited for approval"))


class Delivery(unittest.TestCase):
    def test_receiver_answering_500_gets_it_on_the_third_try(self):
        make_victim("victim_f")
        p, aid = hold("DELETE FROM victim_f", held_ids())
        def tries_so_far():
            return [r for r, _ in notices("/flaky", "held", aid)]
        tries = wait_for("three tries at /flaky", lambda: len(tries_so_far()) >= 3 and tries_so_far(), timeout=30)
        self.assertEqual(len(tries), 3)
        self.assertEqual(len({r["body"] for r in tries}), 1)
        # Backoff: the second try a second after the first, the third two seconds after that.
        self.assertGreaterEqual(tries[1]["at"] - tries[0]["at"], 0.9)
        self.assertGreaterEqual(tries[2]["at"] - tries[1]["at"], 1.9)
        wait_for("the delivery logged", lambda: "event=approval_notified notice=\"held %d\" "
                 "target=approvals.notify[1] tries=3" % aid in PX.logs())
        time.sleep(1.5)
        self.assertEqual(len(notices("/flaky", "held", aid)), 3, "delivered, yet tried again")
        run_console("DENY %d" % aid)
        p.communicate(timeout=30)

    def test_slack_body(self):
        make_victim("victim_s")
        p, aid = hold("DELETE FROM victim_s WHERE v = 2", held_ids())
        wanted = "`APPROVE %d`" % aid
        [(request, body)] = wait_for("a slack message",
                                     lambda: [(r, b) for r, b in notices("/slack", None) if wanted in b["text"]])
        self.assertEqual(list(body), ["text"])
        self.assertTrue(body["text"].startswith(
            "pgwarden (gw-test): statement held for approval %d by rule \"deletes-need-a-dba\"\n"
            "principal acme/api@refs/heads/main, job 4711, commit 3f2a9c1\n"
            "```DELETE FROM victim_s WHERE v = $1```\nExpires at " % aid), body["text"])
        self.assertEqual(request["headers"]["Content-Type"], "application/json")
        run_console("APPROVE %d" % aid)
        p.communicate(timeout=30)
        wait_for("the slack settlement", lambda: [b for _, b in notices("/slack", None) if b["text"].startswith(
            "pgwarden (gw-test): approval %d approved by dba:bob (rule \"deletes-need-a-dba\")" % aid)])


class Config(unittest.TestCase):
    def check(self, notify, env=None):
        d = harness.tmpdir("pgw-notify-cfg-")
        path = os.path.join(d, "pgwarden.yaml")
        with open(path, "w") as f:
            f.write("upstream:\n  roles:\n    - {name: migrator, password_env: PGW_NOTIFY_TEST_PW}\n"
                    "rules:\n  default: allow\napprovals:\n  notify:\n" + notify)
        env = dict(os.environ, PGW_NOTIFY_TEST_PW="x", **(env or {}))
        env.pop("PGWARDEN_WEBHOOK_SECRET", None)
        r = subprocess.run([harness.PGWARDEN, "check", "-c", path], capture_output=True, text=True, env=env)
        return r.returncode, (r.stdout + r.stderr).replace(path, "pgwarden.yaml")

    def test_a_valid_target(self):
        code, out = self.check("    - {url: https://hooks.example.com/x, format: slack, secret_env: S}\n",
                               env={"S": "k"})
        self.assertEqual(code, 0, out)

    def test_errors_name_the_place_and_the_field(self):
        code, out = self.check("    - url: ftp://hooks.example.com/x\n"
                               "      format: xml\n"
                               "      secret_env: PGWARDEN_WEBHOOK_SECRET\n"
                               "      retries: 3\n"
                               "    - {format: json}\n")
        self.assertEqual(code, 1)
        for line in [
            "pgwarden.yaml:8:12: approvals.notify[0].url: \"ftp://hooks.example.com/x\" is not an http:// or https:// URL",
            "pgwarden.yaml:9:15: approvals.notify[0].format: \"xml\" is not one of json, slack",
            "pgwarden.yaml:10:19: approvals.notify[0].secret_env: environment variable PGWARDEN_WEBHOOK_SECRET is not set",
            "pgwarden.yaml:11:7: approvals.notify[0].retries: unknown key",
            "pgwarden.yaml:12:7: approvals.notify[1].url: missing",
        ]:
            self.assertIn(line, out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
