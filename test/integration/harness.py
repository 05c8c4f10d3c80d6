"""Test harness: a real PostgreSQL 15 in a temporary directory and a real pgwarden in front of it.

Everything started here is stopped at exit, also when a test fails. Tests talk to both with real
clients (psql, pgbench, libpq through psycopg2, raw sockets for protocol abuse).
"""
import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

PG_BIN = "/usr/lib/postgresql/15/bin"
PGWARDEN = os.environ.get("PGWARDEN_BIN", os.path.join(os.path.dirname(__file__), "../../build/proxy/pgwarden"))
ROLE_PASSWORD = "upstream-secret-42"
_cleanups = []


def _cleanup_all():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # keep cleaning up the rest
            print("cleanup failed:", e)


atexit.register(_cleanup_all)
signal.signal(signal.SIGTERM, lambda *a: (_cleanup_all(), os._exit(1)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20.0, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d did not open" % port)


def tmpdir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    _cleanups.append(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


def as_postgres(args, **kw):
    r = subprocess.run(["runuser", "-u", "postgres", "--"] + args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s %s" % (args[0], r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
    return r


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_certs(directory, cn="localhost"):
    """A CA and a server certificate for `cn` (and 127.0.0.1) signed by it, made now with openssl."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=pgwarden test CA",
            "-keyout", "ca.key", "-out", "ca.crt", cwd=directory)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + cn, "-keyout", "server.key",
            "-out", "server.csr", cwd=directory)
    with open(os.path.join(directory, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:%s,IP:127.0.0.1\n" % cn)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-out", "server.crt", "-extfile", "ext.cnf", cwd=directory)
    os.chmod(os.path.join(directory, "server.key"), 0o600)
    return {k: os.path.join(directory, k) for k in ("ca.crt", "server.crt", "server.key")}


class Postgres:
    """A throw-away PostgreSQL 15 cluster on a free loopback port."""

    def __init__(self, ssl=False, hba_method="scram-sha-256"):
        self.dir = tmpdir("pgw-pg-")
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        as_postgres([PG_BIN + "/initdb", "-D", self.data, "-U", "postgres", "--auth-local=trust",
                     "--auth-host=" + hba_method, "-E", "UTF8", "--locale=C"])
        conf = ["listen_addresses = '127.0.0.1'", "port = %d" % self.port,
                "unix_socket_directories = '%s'" % self.dir, "max_connections = 200", "fsync = off",
                "shared_buffers = 64MB"]
        if ssl:
            certs = make_certs(self.dir)
            for f in certs.values():
                shutil.chown(f, "postgres")
            conf += ["ssl = on", "ssl_cert_file = '%s'" % certs["server.crt"],
                     "ssl_key_file = '%s'" % certs["server.key"]]
            self.ca = certs["ca.crt"]
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n".join(conf) + "\n")
        hba = os.path.join(self.data, "pg_hba.conf")
        with open(hba) as f:
            rules = f.read()
        with open(hba, "w") as f:
            f.write("host all md5user 127.0.0.1/32 md5\n" + rules)
        self.start()
        _cleanups.append(self.stop)
        self.sql("CREATE ROLE migrator LOGIN SUPERUSER PASSWORD '%s'" % ROLE_PASSWORD)
        self.sql("SET password_encryption = 'md5'; CREATE ROLE md5user LOGIN SUPERUSER PASSWORD '%s'" % ROLE_PASSWORD)
        self.sql("CREATE DATABASE app OWNER migrator")

    def start(self):
        """Starts the cluster (again, after stop) on its port; returns once it accepts connections."""
        as_postgres([PG_BIN + "/pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w", "start"])

    def stop(self, mode="immediate"):
        subprocess.run(["runuser", "-u", "postgres", "--", PG_BIN + "/pg_ctl", "-D", self.data, "-m", mode,
                        "-w", "stop"], capture_output=True)

    def sql(self, query, db="postgres"):
        """Runs SQL as the superuser over the Unix socket; returns stdout."""
        r = as_postgres([PG_BIN + "/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.dir,
                         "-p", str(self.port), "-d", db, "-c", query])
        return r.stdout.strip()

    def dsn(self, db="app", user="migrator"):
        return "host=127.0.0.1 port=%d dbname=%s user=%s password=%s" % (self.port, db, user, ROLE_PASSWORD)


def scram_verifier(password):
    out = subprocess.run([PGWARDEN, "scram-verifier"], input=password + "\n", capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


class Serving:
    """A `pgwarden serve` process for the config file `self.config` in `self.dir`, listening on
    `self.port`, logging to pgwarden.log there, with its store audit.db there; killed at exit."""

    def serve(self, env=None, wait=True):
        """Starts `pgwarden serve`; with `wait`, returns once it listens (and raises if it exits first)."""
        self.audit_db = os.path.join(self.dir, "audit.db")
        self.log_path = os.path.join(self.dir, "pgwarden.log")
        if getattr(self, "log", None):
            self.log.close()  # started again: a fresh log
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([PGWARDEN, "serve", "-c", self.config], stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **(env or {})))
        _cleanups.append(self.stop)
        if wait:
            wait_port(self.port, proc=self.proc)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def logs(self):
        with open(self.log_path) as f:
            return f.read()


class Pgwarden(Serving):
    """pgwarden serving in front of `pg`, configured with `extra` YAML text appended and `audit` YAML
    lines added to its audit section (indented by two spaces); `files` maps names to contents written
    into its directory before it starts (a rules file, say). With `wait` false it does not wait for
    the port (for a start that is expected to fail: see `proc` and `logs()`)."""

    USERS = {"alice": ("dba:alice", "alice-pw"), "ci": ("acme/api@refs/heads/main", "ci-pw"),
             "bob": ("dba:bob", "bob-pw"), "eve": ("ops:eve", "eve-pw")}

    def __init__(self, pg, extra="", upstream_tls="disable", tls=None, role="migrator", workers=1, env=None,
                 rules="rules:\n  default: allow\n", files=None, audit="", wait=True):
        self.dir = tmpdir("pgw-px-")
        for name, text in (files or {}).items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
        self.port = free_port()
        self.pg = pg
        ids = "\n".join(
            '    - {principal: "%s", user: %s, scram_verifier: "%s", upstream_role: %s}'
            % (principal, user, scram_verifier(pw), role) for user, (principal, pw) in self.USERS.items())
        with open(os.path.join(self.dir, "role.pw"), "w") as f:
            f.write(ROLE_PASSWORD + "\n")
        tls_block = ""
        if tls:
            tls_block = "tls:\n  mode: %s\n  cert_file: %s\n  key_file: %s\n" % (tls["mode"], tls["cert"], tls["key"])
        ca = "  ca_file: %s\n" % pg.ca if upstream_tls in ("verify-full",) else ""
        self.config = os.path.join(self.dir, "pgwarden.yaml")
        with open(self.config, "w") as f:
            f.write("listen: 127.0.0.1:%d\nworkers: %d\n%supstream:\n  host: 127.0.0.1\n  port: %d\n  tls: %s\n%s"
                    "  roles:\n    - {name: migrator, password_file: role.pw}\n"
                    "    - {name: md5user, password_file: role.pw}\n"
                    "identities:\n  static:\n%s\naudit:\n  path: audit.db\n%s%s%s"
                    % (self.port, workers, tls_block, pg.port, upstream_tls, ca, ids, audit, rules, extra))
        self.serve(env, wait)

    def dsn(self, user="alice", db="app", password=None, **extra):
        pw = password if password is not None else self.USERS[user][1]
        parts = ["host=127.0.0.1", "port=%d" % self.port, "dbname=%s" % db, "user=%s" % user, "password=%s" % pw]
        parts += ["%s=%s" % kv for kv in extra.items()]
        return " ".join(parts)

    def env(self, user="alice"):
        return dict(os.environ, PGPASSWORD=self.USERS[user][1])

    def psql(self, sql, user="alice", db="app", check=True, extra_args=(), input=None, dsn_extra=None):
        """Runs psql through pgwarden; returns CompletedProcess (stdout unaligned, tuples only)."""
        dsn = self.dsn(user=user, db=db, **(dsn_extra or {}))
        args = [PG_BIN + "/psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dsn] + list(extra_args)
        if sql is not None:
            args += ["-c", sql]
        r = subprocess.run(args, capture_output=True, text=True, input=input, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError("psql failed (%d): %s\n--- pgwarden log:\n%s" % (r.returncode, r.stderr,
                                                                                   self.logs()[-3000:]))
        return r

    def console(self, sql, user="alice"):
        """Runs `sql` on the admin console (the virtual database pgwarden) as `user`; returns its rows, or
        None for a command without rows. A refusal raises psycopg2.Error."""
        import psycopg2
        conn = psycopg2.connect(self.dsn(user=user, db="pgwarden"))
        conn.autocommit = True
        try:
            cur = conn.cursor()
            cur.execute(sql)
            return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def pgbench(self, args, user="alice", db="app", check=True, timeout=600):
        r = subprocess.run([PG_BIN + "/pgbench", "-h", "127.0.0.1", "-p", str(self.port), "-U", user] + list(args) +
                           [db], capture_output=True, text=True, env=self.env(user), timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("pgbench failed: %s\n%s" % (r.stdout[-2000:], r.stderr[-3000:]))
        return r


def startup_packet(user, database, extra=()):
    import struct
    body = struct.pack("!i", 196608)
    for k, v in (("user", user), ("database", database)) + tuple(extra):
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!i", len(body) + 4) + body


def wait_for(check, timeout=10.0, interval=0.05):
    """Calls `check` until it returns something true or `timeout` seconds passed; returns its last result."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    return check()


def audit_rows(store):
    """The records of an audit store as `audit export` writes them, one dict per CSV row."""
    import csv
    import io
    r = subprocess.run([PGWARDEN, "audit", "export", "--store", store], capture_output=True, check=True, timeout=120)
    return list(csv.DictReader(io.StringIO(r.stdout.decode("utf-8"), newline="")))


def audit_verify(store):
    """`pgwarden audit verify` of a store: (exit code, its output)."""
    r = subprocess.run([PGWARDEN, "audit", "verify", "--store", store], capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def has_outcome(row):
    """Whether an exported record has its outcome (rows, an error or a duration)."""
    return bool(row["sqlstate"] or row["error"] or row["duration_ms"])


def open_fds(pid):
    """How many file descriptors process `pid` has open."""
    return len(os.listdir("/proc/%d/fd" % pid))
