"""The readers of a PostgreSQL audit store (SPEC section 11): `audit export` merges every instance's
records in time order with the instance column, `audit verify` checks each instance's chains and
names the instance and seq at fault, `approvals list` reads the shared approvals and their votes,
and `-c pgwarden.yaml` stands for the store the configuration names.

The store is written here, in Python, with the store's own DDL (read from store/pg_schema.cc) and
rows hashed with the canonical encoding of store/chain.cc, so that the readers are tested on
exactly the rows a writer leaves.
"""
import csv
import hashlib
import hmac
import io
import json
import os
import re
import struct
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import psycopg2  # noqa: E402

SCHEMA_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../store/pg_schema.cc")
GENESIS = bytes(32)
T0 = 1795392000 * 1000000  # 2026-11-23T00:00:00Z
FUTURE = 4102444800 * 1000000  # 2100-01-01
SESSION_FIELDS = ("principal", "attribution", "job_id", "commit_ref", "session_id", "client_addr",
                  "database_name", "upstream_role", "application_name")
RECORD_FIELDS = ("protocol", "command", "classes", "tables_read", "tables_written", "fingerprint",
                 "statement", "parameters", "decision", "rule", "approver")

PG = None


def setUpModule():
    global PG
    PG = harness.Postgres()
    PG.sql("CREATE DATABASE audit OWNER migrator")


def store_ddl():
    """The DDL and format name pgwarden creates a PostgreSQL store with."""
    with open(SCHEMA_SOURCE) as f:
        source = f.read()
    ddl = re.search(r'kCreateSql = R"sql\((.*?)\)sql"', source, re.S).group(1)
    return ddl, re.search(r'kPgFormat = "([^"]+)"', source).group(1)


# The canonical bytes of store/chain.cc: every field an 8-byte big-endian length and its bytes.
def field(value):
    data = value if isinstance(value, bytes) else value.encode()
    return struct.pack(">Q", len(data)) + data


def int_field(value):
    return struct.pack(">Q", 8) + struct.pack(">q", value)


def encode_record(seq, instance, session, record):
    out = int_field(seq) + int_field(0) + int_field(record["ts_us"])
    out += b"".join(field(session[k]) for k in SESSION_FIELDS)
    out += b"".join(field(record[k]) for k in RECORD_FIELDS)
    return out + int_field(record["expires_us"]) + field(instance)


def encode_outcome(prev, outcome):
    out = int_field(outcome["seq"]) + int_field(1) + int_field(prev)
    out += int_field(outcome["rows"]) if outcome["rows"] is not None else field(b"")
    out += field(outcome["sqlstate"]) + field(outcome["error"])
    out += int_field(struct.unpack(">q", struct.pack(">d", outcome["duration_ms"]))[0])
    out += int_field(outcome["masked_values"]) + field(outcome["decision"]) + field(outcome["approver"])
    return out


def chain_hash(key, prev, canonical):
    if key:
        return hmac.new(key, prev + canonical, hashlib.sha256).digest()
    return hashlib.sha256(prev + canonical).digest()


def session(principal, job_id):
    return dict(principal=principal, attribution="verified", job_id=job_id, commit_ref="abc123",
                session_id="s-" + principal, client_addr="10.0.0.1", database_name="app",
                upstream_role="migrator", application_name="psql")


def record(ts_s, statement, decision="allow", expires_us=0, rule=""):
    return dict(ts_us=T0 + ts_s * 1000000, protocol="simple", command="SELECT", classes="read",
                tables_read="public.t", tables_written="", fingerprint="fp", statement=statement.encode(),
                parameters="", decision=decision, rule=rule, approver="", expires_us=expires_us)


def outcome(seq, rows=None, sqlstate="", decision="", approver="", duration_ms=1.25):
    return dict(seq=seq, rows=rows, sqlstate=sqlstate, error="", duration_ms=duration_ms, masked_values=0,
                decision=decision, approver=approver)


# Two instances, their records (seq 1..N each), outcomes in the order written, and approvals.
INSTANCES = {
    "gw-1": dict(
        session=session("ci:deploy", "job-1"),
        records=[record(1, "SELECT 1"), record(3, "DROP TABLE t", "hold", FUTURE, "drops"),
                 record(5, "SELECT 'Grüße, \"x\"'"), record(7, "TRUNCATE t", "hold", T0 + 8000000, "drops")],
        outcomes=[outcome(1, rows=5), outcome(3, rows=0, duration_ms=0.1),
                  outcome(2, decision="approved", approver="dba:bob")]),
    "gw-2": dict(
        session=session("dba:alice", "job-2"),
        records=[record(2, "DELETE FROM t", "deny", rule="no-delete"),
                 record(4, "ALTER TABLE t ADD c int", "hold", FUTURE, "ddl"),
                 record(6, "VACUUM t", "hold", FUTURE, "ddl")],
        outcomes=[outcome(1, sqlstate="42501")]),
}
# (instance, seq, approver globs, required), ids 1..4, and votes (approval id, verdict, principal).
APPROVALS = [("gw-1", 2, "dba:*", 1), ("gw-2", 2, "dba:*;sec:*", 2), ("gw-2", 3, "dba:*", 1),
             ("gw-1", 4, "dba:*", 1)]
VOTES = [(1, "approve", "dba:bob"), (2, "approve", "dba:carol"), (2, "approve", "dba:carol"),
         (3, "withdraw", "gw-2")]


def connect():
    conn = psycopg2.connect(PG.dsn(db="audit"))
    conn.autocommit = True
    return conn


def write_store(schema, key=b"", instances=None):
    """Creates the store in `schema` and writes `instances` (the fixture's by default) and the
    approvals; returns each instance's record hashes."""
    instances = INSTANCES if instances is None else instances
    ddl, fmt = store_ddl()
    check = hmac.new(key, b"pgwarden audit key check", hashlib.sha256).hexdigest() if key else ""
    hashes = {}
    with connect() as conn, conn.cursor() as cur:
        cur.execute('CREATE SCHEMA "%s"; SET search_path = "%s"' % (schema, schema))
        cur.execute(ddl)
        for k, v in (("format", fmt), ("chain", "hmac-sha256" if key else "sha256"), ("key_check", check)):
            cur.execute("INSERT INTO audit_meta VALUES (%s, %s)", (k, v))
        for name, inst in instances.items():
            s = inst["session"]
            cur.execute("INSERT INTO audit_session (instance, id, %s) VALUES (%%s, 1, %s)"
                        % (", ".join(SESSION_FIELDS), ", ".join(["%s"] * len(SESSION_FIELDS))),
                        [name] + [s[k] for k in SESSION_FIELDS])
            prev = GENESIS
            for seq, r in enumerate(inst["records"], 1):
                prev = chain_hash(key, prev, encode_record(seq, name, s, r))
                hashes[(name, seq)] = prev
                cur.execute("INSERT INTO audit_statement (instance, seq, session, ts_us, %s, expires_us, hash) "
                            "VALUES (%%s, %%s, 1, %%s, %s, %%s, %%s)"
                            % (", ".join(RECORD_FIELDS), ", ".join(["%s"] * len(RECORD_FIELDS))),
                            [name, seq, r["ts_us"]] + [r[k] for k in RECORD_FIELDS] + [r["expires_us"], prev])
            prev_seq, prev_hash = 0, GENESIS
            for o in inst["outcomes"]:
                prev_hash = chain_hash(key, prev_hash, encode_outcome(prev_seq, o))
                cur.execute("INSERT INTO audit_outcome (instance, seq, prev, row_count, sqlstate, error, duration_ms, "
                            "masked_values, decision, approver, hash) VALUES "
                            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                            (name, o["seq"], prev_seq, o["rows"], o["sqlstate"], o["error"], o["duration_ms"],
                             o["masked_values"], o["decision"], o["approver"], prev_hash))
                prev_seq = o["seq"]
            cur.execute("INSERT INTO audit_instance VALUES (%s, %s, %s, 1, %s, %s)",
                        (name, len(inst["records"]), prev_seq, T0, T0))
        for a in APPROVALS:
            cur.execute("INSERT INTO approval (instance, seq, approvers, required) VALUES (%s, %s, %s, %s)", a)
        for approval, verdict, principal in VOTES:
            cur.execute("INSERT INTO approval_vote (approval, verdict, principal, from_instance, ts_us) "
                        "VALUES (%s, %s, %s, 'gw-1', %s)", (approval, verdict, principal, T0))
    return hashes


def tamper(schema, sql):
    """Changes the store behind the append-only triggers' back, as a superuser can."""
    with connect() as conn, conn.cursor() as cur:
        cur.execute('SET session_replication_role = replica; SET search_path = "%s"; %s' % (schema, sql))


def uri(db="audit"):
    return "postgresql://migrator:%s@127.0.0.1:%d/%s" % (harness.ROLE_PASSWORD, PG.port, db)


def run(*args, env=None):
    return subprocess.run([harness.PGWARDEN] + list(args), capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})))


def config(schema, key_file=None):
    """A pgwarden.yaml naming the store in `schema` through PGW_AUDIT_DSN; its upstream password
    variable is left unset, since the audit tools do not read it."""
    d = harness.tmpdir("pgw-pgread-")
    path = os.path.join(d, "pgwarden.yaml")
    with open(path, "w") as f:
        f.write("upstream:\n  roles:\n    - {name: migrator, password_env: PGW_UNSET_PASSWORD}\n"
                "audit:\n  backend: postgresql\n  postgresql:\n    dsn_env: PGW_AUDIT_DSN\n"
                "    schema: %s\n%srules:\n  default: allow\n"
                % (schema, "  hmac_key_file: %s\n" % key_file if key_file else ""))
    return path


def export_rows(*args):
    r = run("audit", "export", "--store", uri(), *args)
    assert r.returncode == 0, r.stderr
    return list(csv.reader(io.StringIO(r.stdout, newline="")))


class Export(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hashes = write_store("pgwarden")

    def test_merges_instances_in_time_order(self):
        rows = export_rows()
        header, rows = rows[0], rows[1:]
        self.assertEqual(len(header), 29)
        self.assertEqual(header[-1], "instance")
        self.assertEqual([(r[28], r[0]) for r in rows],
                         [("gw-1", "1"), ("gw-2", "1"), ("gw-1", "2"), ("gw-2", "2"), ("gw-1", "3"),
                          ("gw-2", "3"), ("gw-1", "4")])
        by_key = {(r[28], r[0]): r for r in rows}
        first = by_key[("gw-1", "1")]
        self.assertEqual(first[1], "2026-11-23T00:00:01.000000Z")
        self.assertEqual(first[2], "ci:deploy")
        self.assertEqual(first[22], "5")
        self.assertEqual(first[25], "1.250")
        self.assertEqual(first[27], self.hashes[("gw-1", 1)].hex())
        self.assertEqual(by_key[("gw-1", "2")][19], "approved")
        self.assertEqual(by_key[("gw-1", "2")][21], "dba:bob")
        self.assertEqual(by_key[("gw-1", "3")][17], "SELECT 'Grüße, \"x\"'")
        self.assertEqual(by_key[("gw-2", "1")][23], "42501")
        self.assertEqual(by_key[("gw-2", "2")][22], "")  # no outcome yet

    def test_filters(self):
        def keys(*args):
            return [(r[28], r[0]) for r in export_rows(*args)[1:]]
        self.assertEqual(keys("--principal", "dba:*"), [("gw-2", "1"), ("gw-2", "2"), ("gw-2", "3")])
        self.assertEqual(keys("--principal", "dba_alice"), [])  # _ is no wildcard
        self.assertEqual(keys("--decision", "deny"), [("gw-2", "1")])
        self.assertEqual(keys("--job", "job-1", "--decision", "approved"), [("gw-1", "2")])
        self.assertEqual(keys("--since", "2026-11-23T00:00:03Z", "--until", "2026-11-23T00:00:05Z"),
                         [("gw-1", "2"), ("gw-2", "2")])

    def test_jsonl(self):
        r = run("audit", "export", "--store", uri(), "--format", "jsonl", "--decision", "deny")
        self.assertEqual(r.returncode, 0, r.stderr)
        row = json.loads(r.stdout)
        self.assertEqual((row["instance"], row["seq"], row["rows"]), ("gw-2", 1, None))


class Verify(unittest.TestCase):
    def test_intact_store(self):
        write_store("intact")
        r = run("audit", "verify", "-c", config("intact"), env={"PGW_AUDIT_DSN": uri()})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("chain intact, 11 rows verified", r.stdout)
        self.assertNotIn(harness.ROLE_PASSWORD, r.stdout)

    def test_changed_record_names_instance_and_seq(self):
        write_store("changed")
        tamper("changed", "UPDATE audit_statement SET rule = 'none' WHERE instance = 'gw-2' AND seq = 2")
        r = run("audit", "verify", "-c", config("changed"), env={"PGW_AUDIT_DSN": uri()})
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("chain broken at instance gw-2, seq 2: hash mismatch", r.stderr)
        self.assertIn("(8 rows verified before it)", r.stderr)

    def test_removed_rows_are_found_per_instance(self):
        write_store("removed")
        tamper("removed", "DELETE FROM audit_statement WHERE instance = 'gw-1' AND seq = 4")
        r = run("audit", "verify", "-c", config("removed"), env={"PGW_AUDIT_DSN": uri()})
        self.assertEqual(r.returncode, 1)
        self.assertIn("instance gw-1, seq 4: records 4 to 4 were removed from the end of the chain", r.stderr)
        write_store("outcome")
        tamper("outcome", "DELETE FROM audit_outcome WHERE instance = 'gw-1' AND seq = 3")
        r = run("audit", "verify", "-c", config("outcome"), env={"PGW_AUDIT_DSN": uri()})
        self.assertEqual(r.returncode, 1)
        self.assertIn("instance gw-1, seq 2: the outcome written before that of record 2 (the outcome of "
                      "record 3) was removed", r.stderr)

    def test_rows_of_an_unknown_instance_are_found(self):
        write_store("stranger")
        tamper("stranger", "INSERT INTO audit_statement (instance, seq, session, ts_us, hash) "
                           "SELECT 'gw-0', seq, session, ts_us, hash FROM audit_statement WHERE instance = 'gw-1'")
        r = run("audit", "verify", "-c", config("stranger"), env={"PGW_AUDIT_DSN": uri()})
        self.assertEqual(r.returncode, 1)
        self.assertIn("instance gw-0, seq 1: hash mismatch", r.stderr)

    def test_many_rows_are_read_in_batches(self):
        many = {"gw-%d" % i: dict(session=session("ci:bulk", "job-%d" % i),
                                  records=[record(n, "SELECT %d" % n) for n in range(1, 1201)],
                                  outcomes=[outcome(n) for n in range(1, 1201)]) for i in (1, 2)}
        write_store("many", instances=many)
        r = run("audit", "verify", "-c", config("many"), env={"PGW_AUDIT_DSN": uri()})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("chain intact, 4800 rows verified", r.stdout)
        r = run("audit", "export", "-c", config("many"), env={"PGW_AUDIT_DSN": uri()})
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = list(csv.reader(io.StringIO(r.stdout, newline="")))[1:]
        self.assertEqual(len(rows), 2400)
        self.assertEqual([(r[28], r[0]) for r in rows[:3]], [("gw-1", "1"), ("gw-2", "1"), ("gw-1", "2")])

    def test_keyed_chain(self):
        write_store("keyed", key=b"k3y")
        d = harness.tmpdir("pgw-pgkey-")
        key_file = os.path.join(d, "audit.key")
        with open(key_file, "w") as f:
            f.write("k3y\n")
        r = run("audit", "verify", "--store", uri(), "-c", config("keyed"), env={"PGW_AUDIT_DSN": uri()})
        self.assertEqual(r.returncode, 2)
        self.assertIn("give either --store or -c", r.stderr)
        r = run("audit", "verify", "-c", config("keyed"), env={"PGW_AUDIT_DSN": uri()})
        self.assertEqual(r.returncode, 2)
        self.assertIn("--key-file", r.stderr)
        r = run("audit", "verify", "-c", config("keyed", key_file), env={"PGW_AUDIT_DSN": uri()})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("(schema keyed): chain intact, 11 rows verified", r.stdout)


class Approvals(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        write_store("approvals")

    def listed(self, *args):
        r = run("approvals", "list", "-c", config("approvals"), *args, env={"PGW_AUDIT_DSN": uri()})
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = list(csv.reader(io.StringIO(r.stdout, newline="")))
        self.assertEqual(rows[0], ["id", "state", "principal", "job_id", "rule", "statement", "requested_at",
                                   "expires_at", "approvers"])
        return rows[1:]

    def test_states_and_approvers(self):
        rows = self.listed()
        self.assertEqual([(r[0], r[1], r[8]) for r in rows],
                         [("1", "approved", "dba:bob"), ("2", "pending", "dba:carol"), ("3", "withdrawn", ""),
                          ("4", "expired", "")])
        self.assertEqual(rows[1][2:6], ["dba:alice", "job-2", "ddl", "ALTER TABLE t ADD c int"])
        self.assertEqual(rows[1][6], "2026-11-23T00:00:04.000000Z")

    def test_pending_only(self):
        self.assertEqual([r[0] for r in self.listed("--pending")], ["2"])


class Errors(unittest.TestCase):
    def test_unreachable_store_is_named_without_its_password(self):
        bad = "postgresql://migrator:%s@127.0.0.1:%d/nodb" % (harness.ROLE_PASSWORD, PG.port)
        r = run("audit", "export", "--store", bad)
        self.assertEqual(r.returncode, 2)
        self.assertIn("postgresql://migrator:***@127.0.0.1", r.stderr)
        self.assertNotIn(harness.ROLE_PASSWORD, r.stderr)

    def test_missing_schema_is_named(self):
        r = run("approvals", "list", "-c", config("absent"), env={"PGW_AUDIT_DSN": uri()})
        self.assertEqual(r.returncode, 2)
        self.assertIn("no pgwarden audit store in schema absent", r.stderr)
        self.assertNotIn(harness.ROLE_PASSWORD, r.stderr)

    def test_unset_dsn_variable_is_a_config_error(self):
        path = config("pgwarden")
        r = run("audit", "export", "-c", path)
        self.assertEqual(r.returncode, 2)
        self.assertIn("audit.postgresql.dsn_env: environment variable PGW_AUDIT_DSN is not set", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
