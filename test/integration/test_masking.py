"""Masking through the running proxy (SPEC section 7): value masks over every text value, column
masks that follow a column's source through aliases, views, subqueries and `SELECT *`, binary
results, COPY TO STDOUT, and the audit's masked_values count."""
import csv
import io
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import psycopg2  # noqa: E402

PQCLIENT = os.environ.get("PQCLIENT_BIN", os.path.join(os.path.dirname(__file__), "../../build/test/pqclient"))

RULES = r"""default: allow
masks:
  - name: card-numbers
    pattern: '\b(\d{4})[ -]?\d{4}[ -]?\d{4}[ -]?(\d{4})\b'
    replace: '\1-****-****-\2'
  - name: emails-for-ci
    match: { principals: ["*@refs/heads/*"] }
    columns: ["public.users.email", "*.late.email", "public.users.salary"]
    replace: '***'
"""

CARD = "4111 1111 1111 1111"
MASKED_CARD = "4111-****-****-1111"
EMAIL = "jane@example.com"

PG = PX = None


def setUpModule():
    global PG, PX
    PG = harness.Postgres()
    PG.sql("CREATE TABLE users (id int PRIMARY KEY, name text, email text, card text, salary numeric);"
           "INSERT INTO users VALUES (1, 'jane', '%s', '%s', 1234.5), (2, 'joe', 'joe@example.com', NULL, 99);"
           "CREATE VIEW users_v AS SELECT id, email AS contact FROM users;"
           "CREATE VIEW users_vv AS SELECT contact AS c2, id FROM users_v;"
           "ALTER TABLE users OWNER TO migrator; ALTER VIEW users_v OWNER TO migrator;" % (EMAIL, CARD), db="app")
    PX = harness.Pgwarden(PG, rules="rules_file: rules.yaml\n", files={"rules.yaml": RULES})


def connect(user):
    c = psycopg2.connect(PX.dsn(user=user))
    c.autocommit = True
    return c


def rows(user, sql):
    with connect(user) as c, c.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def copy_out(user, sql):
    c = connect(user)
    try:
        buf = io.StringIO()
        c.cursor().copy_expert(sql, buf)
        return buf.getvalue()
    finally:
        c.close()


def pqclient(user, mode, *sqls):
    r = subprocess.run([PQCLIENT, PX.dsn(user=user), mode] + list(sqls), capture_output=True, text=True, timeout=60)
    return r.stdout.splitlines()


def audit():
    r = subprocess.run([harness.PGWARDEN, "audit", "export", "--store", PX.audit_db], capture_output=True,
                       check=True)
    return list(csv.DictReader(io.StringIO(r.stdout.decode("utf-8"), newline="")))


class ValueMasks(unittest.TestCase):
    def test_simple_protocol(self):
        self.assertEqual(rows("alice", "SELECT card FROM users WHERE id = 1"), [(MASKED_CARD,)])
        self.assertEqual(rows("alice", "SELECT 'paid with ' || card FROM users WHERE id = 1"),
                         [("paid with " + MASKED_CARD,)])
        (doc,), = rows("alice", "SELECT row_to_json(u)::text FROM users u WHERE id = 1")
        self.assertIn(MASKED_CARD, doc)
        self.assertNotIn(CARD, doc)
        (agg,), = rows("alice", "SELECT string_agg(card || ';' || name, ',') FROM users")
        self.assertEqual(agg, MASKED_CARD + ";jane")
        self.assertEqual(rows("alice", "SELECT 'order 12345'"), [("order 12345",)])

    def test_extended_protocol_text_and_binary(self):
        out = pqclient("alice", "pipeline", "SELECT card, id FROM users WHERE id = 1")
        self.assertIn("row %s|1" % MASKED_CARD, out)
        out = pqclient("alice", "binary", "SELECT card, id, 4111111111111111::int8, 42::int8 FROM users WHERE id = 1")
        self.assertIn("row %s|00000001|NULL|000000000000002a" % MASKED_CARD.encode().hex(), out)

    def test_copy_out_text_and_csv(self):
        out = copy_out("alice", "COPY (SELECT id, card FROM users ORDER BY id) TO STDOUT WITH CSV")
        self.assertEqual(out, '1,"%s"\n2,\n' % MASKED_CARD)
        out = copy_out("alice", "COPY (SELECT card, E'tab\\there' FROM users WHERE id = 1) TO STDOUT")
        self.assertEqual(out, "%s\ttab\\there\n" % MASKED_CARD)
        out = copy_out("alice", "COPY users (id, card) TO STDOUT (FORMAT csv, HEADER, DELIMITER ';')")
        self.assertEqual(out.splitlines(), ["id;card", '1;"%s"' % MASKED_CARD, "2;"])

    def test_binary_copy_is_denied_before_it_runs(self):
        c = psycopg2.connect(PX.dsn(user="alice"))
        try:
            cur = c.cursor()
            cur.execute("SELECT 1")
            with self.assertRaises(psycopg2.Error) as ctx:
                cur.copy_expert("COPY (SELECT card FROM users) TO STDOUT (FORMAT binary)", io.BytesIO())
            self.assertEqual(ctx.exception.pgcode, "42501")
            self.assertIn("card-numbers", str(ctx.exception))
            c.rollback()
        finally:
            c.close()


class ColumnMasks(unittest.TestCase):
    def test_ci_sees_the_mask_and_a_dba_does_not(self):
        self.assertEqual(rows("ci", "SELECT email, name FROM users WHERE id = 1"), [("***", "jane")])
        self.assertEqual(rows("alice", "SELECT email, name FROM users WHERE id = 1"), [(EMAIL, "jane")])

    def test_no_way_around_the_column_mask(self):
        for sql in ["SELECT email AS x FROM users WHERE id = 1",
                    "SELECT u.email FROM users u WHERE id = 1",
                    "SELECT e FROM (SELECT email AS e FROM users) s WHERE e LIKE 'jane%'",
                    "WITH c AS (SELECT id, email FROM users) SELECT email FROM c WHERE id = 1",
                    "SELECT contact FROM users_v WHERE id = 1",
                    "SELECT c2 FROM users_vv WHERE id = 1",
                    "SELECT email FROM users JOIN users_v USING (id) WHERE id = 1",
                    "SELECT u::text FROM users u WHERE id = 1",
                    "SELECT row_to_json(u)::text FROM users u WHERE id = 1",
                    "SELECT lower(email) FROM users WHERE id = 1",
                    "SELECT (SELECT email FROM users WHERE id = 1)",
                    "SELECT max(email) FROM users",
                    "SELECT email FROM users WHERE id = 1 UNION ALL SELECT email FROM users WHERE id = 1 LIMIT 1"]:
            self.assertEqual(rows("ci", sql), [("***",)], sql)
        # psql, because psycopg2 would not read "***" as the numeric salary.
        star = PX.psql("SELECT * FROM users WHERE id = 1", user="ci").stdout.strip()
        self.assertEqual(star, "1|jane|***|%s|***" % MASKED_CARD)
        whole_row = PX.psql("SELECT u FROM users u WHERE id = 1", user="ci").stdout.strip()
        self.assertEqual(whole_row, "***")
        self.assertEqual(rows("alice", "SELECT contact FROM users_v WHERE id = 1"), [(EMAIL,)])

    def test_prepared_statements_and_binary_results(self):
        out = pqclient("ci", "binary", "SELECT email, salary, id FROM users WHERE id = 1")
        self.assertIn("row %s|NULL|00000001" % b"***".hex(), out)
        out = pqclient("ci", "pipeline", "SELECT salary, email FROM users WHERE id = 1", "SELECT contact FROM users_v")
        self.assertIn("row ***|***", out)
        self.assertIn("row ***", out)
        with connect("ci") as c, c.cursor() as cur:
            cur.execute("PREPARE p AS SELECT email FROM users WHERE id = $1")
            cur.execute("EXECUTE p(1)")
            self.assertEqual(cur.fetchall(), [("***",)])

    def test_copy_out_masks_the_column(self):
        out = copy_out("ci", "COPY users TO STDOUT")
        self.assertEqual(out.splitlines()[0], "1\tjane\t***\t%s\t***" % MASKED_CARD)
        out = copy_out("ci", "COPY users (email, id) TO STDOUT (FORMAT csv)")
        self.assertEqual(out.splitlines()[0], '"***",1')
        out = copy_out("ci", "COPY (SELECT contact FROM users_v WHERE id = 1) TO STDOUT WITH CSV")
        self.assertEqual(out, '"***"\n')
        self.assertEqual(copy_out("alice", "COPY users (email) TO STDOUT").splitlines()[0], EMAIL)

    def test_binary_copy_of_a_masked_column_is_denied_and_aborts_the_transaction(self):
        c = psycopg2.connect(PX.dsn(user="ci"))
        try:
            cur = c.cursor()
            cur.execute("SELECT 1")
            with self.assertRaises(psycopg2.Error) as ctx:
                cur.copy_expert("COPY users TO STDOUT (FORMAT binary)", io.BytesIO())
            self.assertEqual(ctx.exception.pgcode, "42501")
            self.assertIn("binary COPY cannot be masked", str(ctx.exception))
            with self.assertRaises(psycopg2.Error) as ctx:
                cur.execute("SELECT 1")
            self.assertEqual(ctx.exception.pgcode, "25P02")
            c.rollback()
        finally:
            c.close()

    def test_tables_and_views_created_later_are_masked(self):
        c = connect("ci")
        try:
            cur = c.cursor()
            cur.execute("SELECT email FROM users WHERE id = 1")
            self.assertEqual(cur.fetchall(), [("***",)])
            # Created behind pgwarden's back, after this session loaded its catalog.
            PG.sql("CREATE TABLE late (id int, email text); INSERT INTO late VALUES (1, 'late@example.com');"
                   "CREATE VIEW late_v AS SELECT email AS mail FROM users", db="app")
            cur.execute("SELECT id, email AS m FROM late")
            self.assertEqual(cur.fetchall(), [(1, "***")])
            cur.execute("SELECT mail FROM late_v WHERE mail LIKE 'jane%'")
            self.assertEqual(cur.fetchall(), [("***",)])
            # Created through pgwarden by another session.
            with connect("alice") as dba, dba.cursor() as dcur:
                dcur.execute("CREATE VIEW late_v2 AS SELECT name, email AS e FROM users")
            cur.execute("SELECT * FROM late_v2 WHERE name = 'jane'")
            self.assertEqual(cur.fetchall(), [("jane", "***")])
        finally:
            c.close()


class Audit(unittest.TestCase):
    def test_masked_values_are_counted(self):
        rows("ci", "SELECT email, card, name FROM users ORDER BY id /* counted */")
        copy_out("ci", "COPY (SELECT email, card FROM users) TO STDOUT WITH CSV /* counted copy */")
        rows("alice", "SELECT name FROM users /* nothing masked */")
        by_text = {r["statement"]: r for r in audit()}
        # Two emails and one card (the other card is NULL).
        self.assertEqual(by_text["SELECT email, card, name FROM users ORDER BY id /* counted */"]["masked_values"], "3")
        self.assertEqual(by_text["COPY (SELECT email, card FROM users) TO STDOUT WITH CSV /* counted copy */"]
                         ["masked_values"], "3")
        self.assertEqual(by_text["SELECT name FROM users /* nothing masked */"]["masked_values"], "0")

    def test_bind_parameters_are_masked_in_the_audit(self):
        script = os.path.join(PX.dir, "bind.sql")
        with open(script, "w") as f:
            f.write("SELECT count(*) FROM users WHERE card = :card /* bound card */;\n")
        subprocess.run([harness.PG_BIN + "/pgbench", "-h", "127.0.0.1", "-p", str(PX.port), "-U", "alice", "-n",
                        "-M", "extended", "-t", "1", "-D", "card=" + CARD, "-f", script, "app"],
                       env=PX.env(), check=True, capture_output=True)
        (row,) = [r for r in audit() if r["statement"].endswith("/* bound card */")]
        self.assertEqual(row["protocol"], "extended")
        self.assertEqual(row["parameters"], '["%s"]' % MASKED_CARD)
        self.assertEqual(row["rows"], "1")
        self.assertNotIn(CARD, json.dumps(audit()))


class MaskedSessionsWrite(unittest.TestCase):
    def test_returning_in_a_fresh_session_shows_unmasked_columns(self):
        PG.sql("CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, body text); ALTER TABLE notes OWNER TO migrator",
               db="app")
        self.assertEqual(rows("ci", "INSERT INTO notes (body) VALUES ('kept') RETURNING body"), [("kept",)])

    def test_bind_after_a_parse_and_sync_once_ddl_made_the_catalog_stale(self):
        import wire_client as w
        c = w.Connection(PX.port, "ci", harness.Pgwarden.USERS["ci"][1], "app")
        try:
            c.send(w.query("CREATE TABLE stale_after_ddl (v int)"))
            self.assertEqual(w.sqlstates(c.until_ready()), [])
            c.send(w.parse("INSERT INTO stale_after_ddl VALUES (1)") + w.sync())
            self.assertEqual(w.kinds(c.until_ready()), "1Z")
            c.send(w.bind() + w.execute() + w.sync())
            self.assertEqual(w.kinds(c.until_ready()), "2CZ")
        finally:
            c.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
