"""Approvals shared by two pgwarden instances on one PostgreSQL store (SPEC section 11): a statement
held on instance A is listed by SHOW APPROVALS on instance B, approved or denied there under the
same approver rules (four-eyes, N of M counted across instances), and runs (or is refused) on A
within a second; when A dies holding it, the request is withdrawn by B, and A's successor settles
it in A's chain. The store is a second real PostgreSQL cluster."""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import psycopg2  # noqa: E402
from test_approvals import RULES  # noqa: E402  the same hold rules, held on one instance here


PG = STORE = A = B = None
ENV = {}


def instance(name, env=None):
    return harness.Pgwarden(PG, rules=RULES, extra='admin_users: ["dba:*", "ops:*"]\n', env=env or ENV,
                            audit="  backend: postgresql\n  instance: %s\n  postgresql: {dsn_env: AUDIT_DSN}\n" % name)


# What README's "Several instances" section grants an instance's role once the schema exists.
GRANTS = """CREATE ROLE pgwarden_writer LOGIN PASSWORD '%s';
GRANT USAGE ON SCHEMA pgwarden TO pgwarden_writer;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA pgwarden TO pgwarden_writer;
GRANT UPDATE ON pgwarden.audit_instance TO pgwarden_writer;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA pgwarden TO pgwarden_writer;"""


def setUpModule():
    global PG, STORE, A, B
    PG = harness.Postgres()
    STORE = harness.Postgres()
    STORE.sql("CREATE DATABASE audit OWNER migrator")
    ENV["AUDIT_DSN"] = "postgresql://migrator:%s@127.0.0.1:%d/audit" % (harness.ROLE_PASSWORD, STORE.port)
    A = instance("gw-a")  # the schema's owner creates it
    # B writes, votes and withdraws with nothing but the documented grants.
    STORE.sql(GRANTS % harness.ROLE_PASSWORD, db="audit")
    B = instance("gw-b", env={"AUDIT_DSN": "postgresql://pgwarden_writer:%s@127.0.0.1:%d/audit"
                                           % (harness.ROLE_PASSWORD, STORE.port)})


def console(px, sql, user="alice"):
    return px.console(sql, user)


def approvals(px, user="alice"):
    return {int(r[0]): r for r in console(px, "SHOW APPROVALS", user)}


def wait_for_pending(px, rule, known=(), timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        fresh = [i for i, r in approvals(px).items() if r[1] == "pending" and r[4] == rule and i not in known]
        if fresh:
            return fresh[0]
        time.sleep(0.05)
    raise AssertionError("no pending approval for rule %s appeared" % rule)


def start_psql(px, sql, user="ci"):
    args = [harness.PG_BIN + "/psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", px.dsn(user=user), "-c", sql]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def make_victim(name):
    PG.sql("DROP TABLE IF EXISTS %s; CREATE TABLE %s(v int); INSERT INTO %s VALUES (1)" % (name, name, name), db="app")


def table_exists(name):
    return PG.sql("SELECT to_regclass('public.%s') IS NOT NULL" % name, db="app") == "t"


def store_outcome(approval_id):
    """The hold record's instance and seq, and its outcome's decision, approver, sqlstate and error."""
    row = STORE.sql("SELECT a.instance, a.seq, coalesce(o.decision, '-'), coalesce(o.approver, ''), "
                    "coalesce(o.sqlstate, ''), coalesce(o.error, '') FROM pgwarden.approval a LEFT JOIN "
                    "pgwarden.audit_outcome o ON o.instance = a.instance AND o.seq = a.seq WHERE a.id = %d"
                    % approval_id, db="audit")
    return row.split("|")


class SharedApprovals(unittest.TestCase):
    def test_held_on_one_instance_approved_on_the_other_runs_within_a_second(self):
        make_victim("victim_cross")
        known = set(approvals(A))
        p = start_psql(A, "DROP TABLE victim_cross")
        aid = wait_for_pending(A, "drops-need-a-dba", known)
        on_b = approvals(B)
        self.assertIn(aid, on_b, "instance B does not list the statement held on A")
        self.assertEqual(on_b[aid][1], "pending")
        self.assertEqual(on_b[aid][2], "acme/api@refs/heads/main")
        self.assertEqual(on_b[aid][5], "DROP TABLE victim_cross")
        self.assertTrue(table_exists("victim_cross"), "the held statement ran before approval")
        with self.assertRaises(psycopg2.Error) as ctx:
            console(B, "APPROVE %d" % aid, user="eve")  # an admin, but not an approver of the rule
        self.assertEqual(ctx.exception.pgcode, "42501")
        started = time.time()
        console(B, "APPROVE %d" % aid, user="bob")
        out, err = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 0, err)
        self.assertLess(time.time() - started, 1.0, "the approval on B took more than a second to run on A")
        self.assertFalse(table_exists("victim_cross"))
        outcome = store_outcome(aid)
        self.assertEqual(outcome[0], "gw-a")
        self.assertEqual(outcome[2:5], ["approved", "dba:bob", ""])
        self.assertEqual(approvals(B)[aid][1], "approved")
        self.assertEqual(approvals(B)[aid][8], "dba:bob")
        with self.assertRaises(psycopg2.Error) as ctx:
            console(B, "APPROVE %d" % aid, user="alice")
        self.assertEqual(ctx.exception.pgcode, "22023")

    def test_two_approvals_are_counted_across_instances(self):
        make_victim("victim_two")
        known = set(approvals(A))
        p = start_psql(A, "TRUNCATE victim_two")
        aid = wait_for_pending(A, "truncate-needs-two", known)
        console(B, "APPROVE %d" % aid, user="alice")
        time.sleep(0.5)
        self.assertIsNone(p.poll(), "ran after one approval of two")
        with self.assertRaises(psycopg2.Error) as ctx:
            console(A, "APPROVE %d" % aid, user="alice")  # the same approver again, on the other instance
        self.assertEqual(ctx.exception.pgcode, "42501")
        self.assertEqual(PG.sql("SELECT count(*) FROM victim_two", db="app"), "1")
        console(A, "APPROVE %d" % aid, user="bob")
        out, err = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(PG.sql("SELECT count(*) FROM victim_two", db="app"), "0")
        self.assertEqual(store_outcome(aid)[2:4], ["approved", "dba:alice;dba:bob"])

    def test_denied_on_the_other_instance_is_refused_with_the_reason(self):
        make_victim("victim_deny")
        known = set(approvals(A))
        p = start_psql(A, "DROP TABLE victim_deny")
        aid = wait_for_pending(A, "drops-need-a-dba", known)
        console(B, "DENY %d 'not during the freeze'" % aid, user="bob")
        out, err = p.communicate(timeout=10)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("rejected by dba:bob: not during the freeze", err)
        self.assertTrue(table_exists("victim_deny"))
        self.assertEqual(store_outcome(aid)[2:5], ["rejected", "dba:bob", "42501"])

    def test_an_instance_with_only_the_documented_grants_records_its_statements(self):
        self.assertEqual(B.psql("SELECT 40 + 2").stdout.strip(), "42")
        self.assertEqual(STORE.sql("SELECT count(*) FROM pgwarden.audit_statement WHERE instance = 'gw-b' "
                                   "AND statement = convert_to('SELECT 40 + 2', 'UTF8')", db="audit"), "1")

    def test_unknown_id_is_refused(self):
        with self.assertRaises(psycopg2.Error) as ctx:
            console(B, "APPROVE 999999")
        self.assertEqual(ctx.exception.pgcode, "22023")
        self.assertIn("no approval with id 999999", str(ctx.exception))


class InstanceGone(unittest.TestCase):
    """Last: it kills and restarts instance C."""

    def test_requests_of_a_dead_instance_are_withdrawn_and_never_run(self):
        c = instance("gw-c")
        make_victim("victim_orphan")
        known = set(approvals(c))
        p = start_psql(c, "DROP TABLE victim_orphan")
        aid = wait_for_pending(c, "drops-need-a-dba", known)
        c.proc.kill()
        c.proc.wait()
        p.communicate(timeout=10)
        deadline = time.time() + 30
        while time.time() < deadline and approvals(B)[aid][1] != "withdrawn":
            time.sleep(0.5)
        self.assertEqual(approvals(B)[aid][1], "withdrawn")
        with self.assertRaises(psycopg2.Error) as ctx:
            console(B, "APPROVE %d" % aid)
        self.assertEqual(ctx.exception.pgcode, "22023")
        self.assertTrue(table_exists("victim_orphan"))
        self.assertEqual(store_outcome(aid)[2], "-", "nobody but gw-c writes into gw-c's chain")
        # gw-c's successor settles the request in its own chain.
        c.serve(ENV)
        deadline = time.time() + 10
        while time.time() < deadline and store_outcome(aid)[2] == "-":
            time.sleep(0.2)
        self.assertEqual(store_outcome(aid)[0], "gw-c")
        self.assertEqual(store_outcome(aid)[2], "withdrawn")
        self.assertTrue(table_exists("victim_orphan"))


if __name__ == "__main__":
    unittest.main()
