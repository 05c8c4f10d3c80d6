"""A stateful protocol fuzzer: after a valid login, random sequences of frontend messages (Parse,
Bind, Describe, Execute, Close, Flush, Sync, simple queries of several statements, FunctionCall,
COPY in both directions with CopyData, CopyDone and CopyFail, statements the rules deny or hold
for approval, CancelRequest from another connection) go through pgwarden to one database and
straight to PostgreSQL on a twin database. Both must answer alike: the same message types,
SQLSTATEs, rows and transaction states, except where pgwarden refuses a statement, which is
answered as PostgreSQL answers a statement failing there with pgwarden's SQLSTATE (SPEC section
10). Malformed messages on throwaway connections end only that connection, with 08P01. A control
session keeps answering throughout, and the audit is complete and verifies at the end.

PGWARDEN_FUZZ_SEED picks the seed (printed at the start), PGWARDEN_FUZZ_SECONDS how long to run
(default 60). The sequences that once diverged are kept as deterministic tests below."""
import os
import random
import re
import socket
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import wire_client as w  # noqa: E402

RULES = """rules:
  default: allow
  rules:
    - {name: guarded-rows-stay, match: {commands: [delete], tables: [public.guarded]}, action: deny,
       message: "guarded rows are not deleted"}
    - {name: no-lower, match: {functions: [lower]}, action: deny, message: "lower is not called"}
    - {name: truncate-needs-a-dba, match: {commands: [truncate]}, action: hold, approvers: ["dba:*"], timeout: 4s}
    - {name: case-needs-a-dba, match: {functions: [ceil, initcap]}, action: hold, approvers: ["dba:*"], timeout: 4s}
"""

SCHEMA = ("CREATE TABLE items(id serial PRIMARY KEY, v text); CREATE TABLE uniq(id int PRIMARY KEY);"
          "CREATE TABLE guarded(v int); INSERT INTO guarded VALUES (1), (2);"
          "CREATE TABLE held_t(v int); INSERT INTO items(v) VALUES ('a'), ('b'), ('c')")

# Statements and what pgwarden does with them: run, deny, or hold (then approve, reject or let expire).
STATEMENTS = [
    ("SELECT 1", "run"), ("SELECT id, v FROM items ORDER BY id", "run"), ("SELECT count(*) FROM items", "run"),
    ("INSERT INTO items(v) VALUES ('p') RETURNING id", "run"), ("UPDATE items SET v = v || 'u' WHERE id % 3 = 0", "run"),
    ("SELECT 1/0", "run"), ("SELECT * FROM no_such_table", "run"), ("SELEC 1", "unparsable"),
    ("INSERT INTO uniq VALUES (1)", "run"), ("DELETE FROM uniq", "run"), ("BEGIN", "run"), ("COMMIT", "run"),
    ("ROLLBACK", "run"), ("SAVEPOINT sp", "run"), ("ROLLBACK TO SAVEPOINT sp", "run"), ("SELECT pg_sleep(0.01)", "run"),
    ("SELECT v FROM guarded ORDER BY v", "run"), ("SELECT $1::int + 1", "run"),
    ("DELETE FROM guarded WHERE v = 1", "deny"), ("SELECT lower('X')", "deny"),
    ("TRUNCATE /*approve*/ held_t", "approve"), ("TRUNCATE /*reject*/ held_t", "reject"),
    ("TRUNCATE /*expire*/ held_t", "expire"),
]
WEIGHTS = [4, 3, 2, 3, 2, 2, 1, 1, 2, 1, 3, 2, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 0.1]
REFUSED = ("deny", "reject", "expire", "unparsable")
NAMES = ["", "s1", "s2"]

# What the twin database runs in place of a statement pgwarden refuses, as pgwarden has the server
# run it (README, "Choices where the specification is silent"): a statement failing with a SQLSTATE
# nothing else raises, read as pgwarden's 42501; in the extended protocol as the unnamed statement
# and portal, whose ParseComplete and BindComplete pgwarden keeps to itself.
STAND_IN_QUERY = "DO $$BEGIN RAISE EXCEPTION USING ERRCODE = 'PW001', MESSAGE = 'refused'; END$$"
STAND_IN_UNPARSABLE = STAND_IN_QUERY.replace("PW001", "PW002")  # refused under on_parse_error: deny
STAND_IN_STATES = {"PW001": "42501", "PW002": "42601"}

PG = PX = None
ABS_OID = LOWER_OID = CEIL_OID = INITCAP_OID = None


def setUpModule():
    global PG, PX, ABS_OID, LOWER_OID, CEIL_OID, INITCAP_OID
    PG = harness.Postgres()
    PG.sql("CREATE DATABASE twin OWNER migrator")
    for db in ("app", "twin"):
        PG.sql(SCHEMA, db=db)
    ABS_OID = int(PG.sql("SELECT 'abs(integer)'::regprocedure::oid", db="app"))
    LOWER_OID = int(PG.sql("SELECT 'lower(text)'::regprocedure::oid", db="app"))
    CEIL_OID = int(PG.sql("SELECT 'ceil(double precision)'::regprocedure::oid", db="app"))
    INITCAP_OID = int(PG.sql("SELECT 'initcap(text)'::regprocedure::oid", db="app"))
    PX = harness.Pgwarden(PG, rules=RULES, extra="admin_users: [\"dba:*\"]\n")


def through_pgwarden():
    return w.Connection(PX.port, "ci", harness.Pgwarden.USERS["ci"][1], "app")


def direct():
    return w.Connection(PG.port, "migrator", harness.ROLE_PASSWORD, "twin")


# Frontend messages wire_client has no builder for.
def parse(sql, name="", types=()):
    return w.message(b"P", w.cstr(name) + w.cstr(sql) + struct.pack("!h", len(types)) +
                     b"".join(struct.pack("!I", t) for t in types))


def bind(portal="", statement="", params=()):
    return w.bind(portal, statement, params)


def execute(portal="", max_rows=0):
    return w.message(b"E", w.cstr(portal) + struct.pack("!i", max_rows))


def stand_in_extended(fate="deny"):
    return parse(stand_in(fate)) + bind() + execute()


def stand_in(fate):
    return STAND_IN_UNPARSABLE if fate == "unparsable" else STAND_IN_QUERY


def close(kind, name=""):
    return w.message(b"C", kind + w.cstr(name))


def flush():
    return w.message(b"H")


def copy_data(data):
    return w.message(b"d", data)


def copy_done():
    return w.message(b"c")


def copy_fail(why):
    return w.message(b"f", w.cstr(why))


class Op:
    """One step of a sequence: the bytes sent through pgwarden and the bytes the twin gets."""

    def __init__(self, text, proxied, twin=None):
        self.text = text
        self.proxied = proxied
        self.twin = proxied if twin is None else twin

    def __repr__(self):
        return self.text


class Generator:
    def __init__(self, rng):
        self.rng = rng

    def statement(self, allow_held=True):
        while True:
            sql, fate = self.rng.choices(STATEMENTS, WEIGHTS)[0]
            if allow_held or fate in ("run", "deny"):
                return sql, fate

    def params(self, sql):
        return ("41",) if "$1" in sql else ()

    def simple(self):
        n = self.rng.choice([1, 1, 2, 3])
        stmts, held = [], False
        for _ in range(n):
            sql, fate = self.statement(allow_held=not held)
            held = held or fate not in ("run", "deny")
            stmts.append((sql, fate))
        stmts = [(s, f) for s, f in stmts if s] or [("SELECT 1", "run")]
        if any("$1" in s for s, _ in stmts):
            stmts = [(s.replace("$1", "41"), f) for s, f in stmts]
        text = "; ".join(s for s, _ in stmts)
        fates = {f for _, f in stmts}
        twin = w.query(stand_in("unparsable" if "unparsable" in fates else "deny")) if fates & set(REFUSED) else None
        return Op("Query(%r)" % text, w.query(text), twin)

    def extended(self):
        sql, fate = self.statement()
        name, portal = self.rng.choice(NAMES), self.rng.choice(["", "p1"])
        types = (23,) if "$1" in sql and self.rng.random() < 0.5 else ()
        msgs = [(parse(sql, name, types), stand_in_extended(fate) if fate in REFUSED else parse(sql, name, types))]
        if self.rng.random() < 0.3:
            msgs.append((w.describe(b"S", name),) * 2)
        msgs.append((bind(portal, name, self.params(sql)),) * 2)
        if self.rng.random() < 0.6:
            msgs.append((w.describe(b"P", portal),) * 2)
        max_rows = self.rng.choice([0, 0, 0, 1])
        msgs.append((execute(portal, max_rows),) * 2)
        if max_rows and self.rng.random() < 0.5:
            msgs.append((execute(portal, 0),) * 2)
        return Op("Extended(%r, name=%r, portal=%r, max_rows=%d)" % (sql, name, portal, max_rows),
                  b"".join(p for p, _ in msgs), b"".join(t for _, t in msgs))

    def reuse(self):
        name, portal = self.rng.choice(NAMES), self.rng.choice(["", "p1"])
        return Op("Bind+Execute(name=%r, portal=%r)" % (name, portal),
                  bind(portal, name, ("7",) if self.rng.random() < 0.5 else ()) + execute(portal))

    def close(self):
        kind = self.rng.choice([b"S", b"P"])
        name = self.rng.choice(NAMES if kind == b"S" else ["", "p1"])
        return Op("Close(%s, %r)" % (kind.decode(), name), close(kind, name))

    def function_call(self):
        # After a Sync, as libpq sends it (PQfn waits until the connection is idle): pgwarden asks
        # the server for a function's name with a simple query, which would commit the implicit
        # transaction of an extended-protocol pipeline still open.
        roll = self.rng.random()
        if roll < 0.6:
            return Op("Sync+FunctionCall(abs)", w.sync() + w.function_call(ABS_OID, "-%d" % self.rng.randint(1, 99)))
        if roll < 0.8:
            return Op("Sync+FunctionCall(lower)", w.sync() + w.function_call(LOWER_OID, "X"),
                      w.sync() + w.query(STAND_IN_QUERY))
        if roll < 0.9:  # held, then approved
            return Op("Sync+FunctionCall(ceil)", w.sync() + w.function_call(CEIL_OID, "1.5"))
        return Op("Sync+FunctionCall(initcap)", w.sync() + w.function_call(INITCAP_OID, "x"),
                  w.sync() + w.query(STAND_IN_QUERY))

    def copy_in(self):
        data = "".join("c%d\n" % self.rng.randint(0, 99) for _ in range(self.rng.randint(0, 3))).encode()
        end = copy_done() if self.rng.random() < 0.7 else copy_fail("fuzz")
        if self.rng.random() < 0.5:
            msgs = w.query("COPY items(v) FROM STDIN") + copy_data(data) + end
            return Op("CopyIn(simple, %r, %s)" % (data, end[:1]), msgs)
        # As libpq sends it: Parse, Bind, Execute and Sync, then the data, the end and another Sync.
        # A statement of its own, that no Bind of another step runs again without data.
        msgs = (close(b"S", "copy_in") + parse("COPY items(v) FROM STDIN", "copy_in") + bind("", "copy_in") + execute() +
                w.sync() + copy_data(data) + end + w.sync())
        return Op("CopyIn(extended, %r, %s)" % (data, end[:1]), msgs)

    def copy_out(self):
        sql = "COPY (SELECT id, v FROM items ORDER BY id) TO STDOUT"
        if self.rng.random() < 0.5:
            return Op("CopyOut(simple)", w.query(sql))
        return Op("CopyOut(extended)", close(b"S", "copy_out") + parse(sql, "copy_out") + bind("", "copy_out") + execute())

    def sequence(self):
        kinds = [self.simple, self.extended, self.extended, self.reuse, self.close, self.function_call,
                 self.copy_in, self.copy_out, lambda: Op("Sync", w.sync()), lambda: Op("Flush", flush())]
        ops = [self.rng.choice(kinds)() for _ in range(self.rng.randint(1, 6))]
        return ops + [Op("Sync", w.sync())]


# Ends every sequence: an empty query, answered in any transaction state with EmptyQueryResponse
# (which nothing else in a sequence gets) and ReadyForQuery.
END = w.query("")


class Replies:
    """Reads one side's answers to a sequence, up to the answer to END."""

    def __init__(self, conn, settle_approval=None):
        self.conn = conn
        self.settle_approval = settle_approval

    def read(self, timeout):
        self.conn.sock.settimeout(timeout)
        out = []
        while True:
            kind, body = self.conn.recv()
            if kind == b"N":
                m = re.search(rb"approval id (\d+)", body)
                if m and self.settle_approval:
                    self.settle_approval(int(m.group(1)))
                continue
            if kind in (b"S", b"A"):
                continue
            out.append(normalize(kind, body))
            if kind == b"Z" and len(out) > 1 and out[-2][0] == "I":
                return out[:-2]


def normalize(kind, body):
    if kind == b"E":
        fields = w.error_fields(body)
        return ("E", fields.get("C"), fields.get("S"))
    if kind == b"T":
        cols, pos = [], 2
        for _ in range(struct.unpack("!h", body[:2])[0]):
            end = body.index(b"\0", pos)
            name = body[pos:end]
            type_oid = struct.unpack("!I", body[end + 7:end + 11])[0]
            cols.append((name, type_oid))
            pos = end + 19
        return ("T", tuple(cols))
    if kind == b"Z":
        return ("Z", body)
    return (kind.decode(), body)


def equivalent(proxied, twin):
    """pgwarden's answers against the twin's, the twin's stand-ins read as pgwarden's refusals."""
    kept = []
    for m in twin:
        if m[0] == "E" and m[1] in STAND_IN_STATES and kept[-2:] == [("1", b""), ("2", b"")]:
            del kept[-2:]  # the extended stand-in's own ParseComplete and BindComplete
        kept.append(m)
    twin = kept
    if len(proxied) != len(twin):
        return False
    for p, t in zip(proxied, twin):
        if p[0] == "E" and t[0] == "E":
            want = STAND_IN_STATES.get(t[1], t[1])
            # In an aborted transaction the twin's stand-in fails as any statement does there.
            if p[1] != want and not (p[1] in STAND_IN_STATES.values() and want == "25P02"):
                return False
        elif p != t:
            return False
    return True


class Control(threading.Thread):
    """A session that keeps asking a question while the fuzzer runs; any wrong or late answer is kept."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.failures = []
        self.answers = 0

    def run(self):
        try:
            c = through_pgwarden()
            c.sock.settimeout(10)
            while not self.stop.is_set():
                c.send(w.query("SELECT 42"))
                replies = c.until_ready()
                if w.kinds(replies) != "TDCZ":
                    self.failures.append(replies)
                self.answers += 1
                time.sleep(0.05)
            c.close()
        except Exception as e:  # a hang or a dropped control session is a failure
            self.failures.append(repr(e))


def settle(approval_id):
    """Approves or rejects a held statement by the fate its text names; an /*expire*/ one is left."""
    for row in PX.console("SHOW APPROVALS"):
        if int(row[0]) != approval_id:
            continue
        if "/*approve*/" in row[5] or "ceil" in row[5]:
            PX.console("APPROVE %d" % approval_id)
        elif "/*reject*/" in row[5] or "initcap" in row[5]:
            PX.console("DENY %d 'fuzz'" % approval_id)


class Pair:
    """A session through pgwarden and one straight to the twin database, fed the same sequences."""

    def __init__(self):
        self.proxied = through_pgwarden()
        self.twin = direct()

    def run(self, ops, timeout=30):
        self.twin.send(b"".join(op.twin for op in ops) + END)
        want = Replies(self.twin).read(timeout)
        self.proxied.send(b"".join(op.proxied for op in ops) + END)
        got = Replies(self.proxied, settle).read(timeout)
        return got, want

    def cancel(self, timeout=30):
        """A long statement on each side, cancelled from another connection with the key each was given."""
        answers = []
        for conn, port, db in ((self.proxied, PX.port, "app"), (self.twin, PG.port, "twin")):
            conn.send(w.query("SELECT pg_sleep(10)"))
            running = "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND state = 'active' " \
                      "AND query = 'SELECT pg_sleep(10)'" % db
            if harness.wait_for(lambda: PG.sql(running) == "1", timeout=5):  # not in a failed transaction
                pid, secret = conn.backend_key
                with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                    s.sendall(struct.pack("!iiii", 16, 80877102, pid, secret))
            conn.sock.settimeout(timeout)
            answers.append([normalize(k, b) for k, b in conn.until_ready()])
        return answers

    def close(self):
        self.proxied.close()
        self.twin.close()


MALFORMED = {
    "length below 4": b"Q\x00\x00\x00\x02",
    "length over the limit": b"Q\x7f\xff\xff\xff" + b"x" * 64,
    "Bind with a parameter count and no values": b"B" + struct.pack("!i", 4 + 2 + 2 + 2) + b"\0\0" +
    struct.pack("!hh", 0, 5),
    "Query without its terminator": b"Q" + struct.pack("!i", 4 + 8) + b"SELECT 1",
    "Execute cut short": b"E" + struct.pack("!i", 4 + 3) + b"\0\0\0",
    "unknown message type": b"y" + struct.pack("!i", 4),
}


def malformed(name):
    """Sends one malformed message on a new session through pgwarden; returns the error's SQLSTATE
    and severity, and whether the connection was closed after it."""
    c = through_pgwarden()
    c.sock.settimeout(10)
    c.send(MALFORMED[name])
    error, closed = None, False
    try:
        while True:
            kind, body = c.recv()
            if kind == b"E":
                f = w.error_fields(body)
                error = (f.get("C"), f.get("S"))
    except socket.timeout:
        pass  # neither answered nor closed
    except (ConnectionError, OSError):
        closed = True
    finally:
        c.close()
    return error, closed


class ProtocolFuzz(unittest.TestCase):
    def assertSameAnswers(self, pair, ops, context=""):
        try:
            got, want = pair.run(ops)
        except (socket.timeout, ConnectionError) as e:
            self.fail("%s\nsequence: %s\nno answer: %r" % (context, ops, e))
        self.assertTrue(equivalent(got, want), "%s\nsequence: %s\npgwarden: %s\npostgres: %s" % (context, ops, got, want))

    def test_random_sequences_answer_as_postgres_does(self):
        seed = int(os.environ.get("PGWARDEN_FUZZ_SEED", random.SystemRandom().randrange(1 << 32)))
        seconds = float(os.environ.get("PGWARDEN_FUZZ_SECONDS", "60"))
        print("protocol fuzz: PGWARDEN_FUZZ_SEED=%d PGWARDEN_FUZZ_SECONDS=%g" % (seed, seconds), flush=True)
        rng = random.Random(seed)
        gen = Generator(rng)
        pid = PX.proc.pid
        control = Control()
        control.start()
        pair = Pair()
        sequences = cancels = abused = 0
        deadline = time.time() + seconds
        try:
            while time.time() < deadline:
                roll = rng.random()
                if roll < 0.03:
                    got, want = pair.cancel()
                    self.assertTrue(equivalent(got, want), "seed %d cancel: %s vs %s" % (seed, got, want))
                    cancels += 1
                elif roll < 0.08:
                    name = rng.choice(sorted(MALFORMED))
                    error, closed = malformed(name)
                    self.assertEqual((error, closed), (("08P01", "FATAL"), True), "seed %d: %s" % (seed, name))
                    abused += 1
                else:
                    self.assertSameAnswers(pair, gen.sequence(), "seed %d, sequence %d" % (seed, sequences))
                sequences += 1
        finally:
            pair.close()
            control.stop.set()
            control.join(timeout=20)
        print("protocol fuzz: %d sequences (%d cancels, %d malformed) in %.0f s, control answered %d times"
              % (sequences, cancels, abused, seconds, control.answers), flush=True)
        self.assertEqual(control.failures, [])
        self.assertGreater(control.answers, 0)
        self.assertEqual(PX.proc.pid, pid)
        self.assertIsNone(PX.proc.poll())
        # What the two databases hold is the same, and every record has its outcome.
        self.assertEqual(PG.sql("SELECT id, v FROM items ORDER BY id", db="app"),
                         PG.sql("SELECT id, v FROM items ORDER BY id", db="twin"))
        rows = harness.wait_for(lambda: (lambda rs: rs if all(harness.has_outcome(r) for r in rs) else None)(
            harness.audit_rows(PX.audit_db)), timeout=15)
        self.assertTrue(rows, [r for r in harness.audit_rows(PX.audit_db) if not harness.has_outcome(r)][:5])
        code, out = harness.audit_verify(PX.audit_db)
        self.assertEqual(code, 0, out)


class Regressions(unittest.TestCase):
    """Sequences the fuzzer found pgwarden answering otherwise than PostgreSQL, kept as they were."""

    def test_sync_sent_before_copy_data_gets_no_ready_for_query(self):
        # libpq sends Parse, Bind, Execute and Sync for a COPY FROM STDIN, then the data, CopyDone
        # and one more Sync. The server, reading COPY data, ignores the first Sync: one
        # ReadyForQuery in all, and the next statement's outcome must be its own.
        pair = Pair()
        try:
            for end in (copy_done(), copy_fail("regression")):
                ops = [Op("CopyIn(extended)", parse("COPY items(v) FROM STDIN") + bind() + execute() + w.sync() +
                          copy_data(b"synced\n") + end + w.sync()),
                       Op("Query", w.query("SELECT 'after the copy'")),
                       Op("Query", w.query("SELECT generate_series(1, 3)")),
                       Op("Extended(denied)", parse("DELETE FROM guarded WHERE v = 1") + bind() + execute() + w.sync(),
                          stand_in_extended() + w.sync())]
                got, want = pair.run(ops)
                self.assertTrue(equivalent(got, want), "pgwarden: %s\npostgres: %s" % (got, want))
                self.assertEqual([m[0] for m in got if m[0] == "Z"], ["Z"] * 4)
        finally:
            pair.close()
        rows = harness.wait_for(lambda: [r for r in harness.audit_rows(PX.audit_db)
                                         if r["statement"] == "SELECT 'after the copy'" and harness.has_outcome(r)])
        self.assertEqual([r["rows"] for r in rows], ["1", "1"], "each statement's own row count")
        copies = [r for r in harness.audit_rows(PX.audit_db) if r["statement"] == "COPY items(v) FROM STDIN"]
        self.assertEqual([(r["rows"], r["sqlstate"]) for r in copies][-2:], [("1", ""), ("", "57014")])

    def test_statement_denied_in_an_aborted_transaction_gets_its_refusal(self):
        # The stand-in pgwarden sends for a refused Parse fails at its own Parse there (25P02):
        # that error too must reach the client as the refusal, not vanish.
        denied = parse("DELETE FROM guarded WHERE v = 1") + bind() + w.describe(b"P") + execute() + w.sync()
        pair = Pair()
        try:
            got, want = pair.run([Op("Query", w.query("BEGIN; SELECT 1/0")),
                                  Op("Extended(denied)", denied, stand_in_extended() + w.sync()),
                                  Op("Query", w.query("ROLLBACK"))])
        finally:
            pair.close()
        self.assertTrue(equivalent(got, want), "pgwarden: %s\npostgres: %s" % (got, want))
        self.assertEqual(got[3:5], [("E", "42501", "ERROR"), ("Z", b"E")])

    def test_held_function_call_rejected_gets_ready_for_query(self):
        # A FunctionCall is answered with ReadyForQuery, with no Sync after it: its refusal after a
        # rejected approval must end with one too, or the client waits for ever.
        pair = Pair()
        try:
            got, want = pair.run([Op("FunctionCall(initcap)", w.function_call(INITCAP_OID, "x"), w.query(STAND_IN_QUERY)),
                                  Op("FunctionCall(ceil)", w.function_call(CEIL_OID, "1.5"))])
        finally:
            pair.close()
        self.assertTrue(equivalent(got, want), "pgwarden: %s\npostgres: %s" % (got, want))
        self.assertEqual(got, [("E", "42501", "ERROR"), ("Z", b"I"), ("V", struct.pack("!i", 1) + b"2"), ("Z", b"I")])

    def test_function_called_first_in_an_aborted_transaction_is_still_judged_by_its_name(self):
        # The lookup of the function's name fails there (25P02); that must not leave the OID known
        # as nameless, or later calls escape the rules on the function's name.
        pair = Pair()
        try:
            lower = Op("FunctionCall(lower)", w.function_call(LOWER_OID, "X"), w.query(STAND_IN_QUERY))
            got, want = pair.run([Op("Query", w.query("BEGIN; SELECT 1/0")), lower, Op("Query", w.query("ROLLBACK")),
                                  lower])
        finally:
            pair.close()
        self.assertTrue(equivalent(got, want), "pgwarden: %s\npostgres: %s" % (got, want))
        self.assertEqual(got[-2:], [("E", "42501", "ERROR"), ("Z", b"I")])

    def test_statements_beside_a_rejected_one_get_their_outcome(self):
        text = "SELECT 'beside the rejected one'"
        pair = Pair()
        try:
            op = Op("Query", w.query(text + "; TRUNCATE /*reject*/ held_t"), w.query(STAND_IN_QUERY))
            got, want = pair.run([op])
        finally:
            pair.close()
        self.assertEqual(got, [("E", "42501", "ERROR"), ("Z", b"I")])
        self.assertTrue(equivalent(got, want))
        beside = harness.wait_for(lambda: [r for r in harness.audit_rows(PX.audit_db)
                                           if r["statement"] == text and harness.has_outcome(r)])
        self.assertEqual([r["error"] for r in beside],
                         ["not executed: another statement of the same request was refused"])

    def test_malformed_messages_end_only_their_connection_with_08P01(self):
        control = through_pgwarden()
        try:
            for name in sorted(MALFORMED):
                with self.subTest(message=name):
                    self.assertEqual(malformed(name), (("08P01", "FATAL"), True))
                    control.send(w.query("SELECT 42"))
                    self.assertEqual(w.kinds(control.until_ready()), "TDCZ")
        finally:
            control.close()
        self.assertIn("event=protocol_error", PX.logs())


if __name__ == "__main__":
    unittest.main(verbosity=2)
