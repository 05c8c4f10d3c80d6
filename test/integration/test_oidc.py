"""CI workload identity: JWTs minted now with the openssl CLI (an RSA and an EC P-256 key, a JWKS
file made from them) sent as the password of an `identities.oidc` user. Only valid tokens log in;
the audit shows the principal, job id and commit from the claims with attribution `verified`."""
import base64
import csv
import io
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import psycopg2  # noqa: E402

ISSUER = "https://token.actions.githubusercontent.com"
PG = PX = KEYS = None


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl(*args, data=None):
    return subprocess.run(["openssl"] + list(args), input=data, capture_output=True, check=True).stdout


def make_keys(d):
    """rsa.pem, ec.pem and other.pem (a key the JWKS does not list), and the JWKS file of the first two."""
    paths = {n: os.path.join(d, n + ".pem") for n in ("rsa", "ec", "other")}
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", paths["rsa"])
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", paths["other"])
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", paths["ec"])
    modulus = openssl("rsa", "-in", paths["rsa"], "-noout", "-modulus").decode().strip().split("=", 1)[1]
    text = openssl("rsa", "-in", paths["rsa"], "-noout", "-text").decode()
    exponent = int(text.split("publicExponent: ", 1)[1].split()[0])
    # The SubjectPublicKeyInfo of a P-256 key ends with the uncompressed point 04 || x || y.
    point = openssl("pkey", "-in", paths["ec"], "-pubout", "-outform", "DER")[-65:]
    assert point[0] == 4
    jwks = {"keys": [
        {"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": b64url(bytes.fromhex(modulus)),
         "e": b64url(exponent.to_bytes((exponent.bit_length() + 7) // 8, "big"))},
        {"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": b64url(point[1:33]), "y": b64url(point[33:])},
    ]}
    with open(os.path.join(d, "jwks.json"), "w") as f:
        json.dump(jwks, f)
    paths["rsa_pub_pem"] = openssl("pkey", "-in", paths["rsa"], "-pubout")
    return paths


def der_to_raw(der):
    """An ECDSA-Sig-Value (SEQUENCE of INTEGER r, INTEGER s) as JOSE's 64-byte r || s."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 3
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        out += int.from_bytes(der[i + 2:i + 2 + n], "big").to_bytes(32, "big")
        i += 2 + n
    return out


def token(claims, key="rsa", header=None):
    header = header or ({"alg": "RS256", "kid": "rsa-1"} if key in ("rsa", "other") else {"alg": "ES256", "kid": "ec-1"})
    signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
    sig = openssl("dgst", "-sha256", "-sign", KEYS[key], data=signing_input)
    if key == "ec":
        sig = der_to_raw(sig)
    return signing_input.decode() + "." + b64url(sig)


def claims(**over):
    now = int(time.time())
    c = {"iss": ISSUER, "aud": "pgwarden", "iat": now, "nbf": now - 5, "exp": now + 300,
         "repository": "acme/app", "ref": "refs/heads/main", "run_id": "981", "run_attempt": "2",
         "sha": "3f2a9c1e", "sub": "repo:acme/app:ref:refs/heads/main"}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def export(*filters):
    r = subprocess.run([harness.PGWARDEN, "audit", "export", "--store", PX.audit_db] + list(filters),
                       capture_output=True, check=True)
    return list(csv.DictReader(io.StringIO(r.stdout.decode(), newline="")))


class OidcProxy(harness.Serving):
    """pgwarden with OIDC identities: `gha` (plain TCP from loopback) and `remote` (plain TCP only from
    10.0.0.0/8, so only TLS works from this machine); client TLS in prefer mode."""

    def __init__(self, pg, d, certs):
        self.dir = d
        self.port = harness.free_port()
        with open(os.path.join(d, "role.pw"), "w") as f:
            f.write(harness.ROLE_PASSWORD + "\n")
        entry = ('    - {issuer: "%s", audience: pgwarden, jwks_file: jwks.json, user: %s,\n'
                 '       principal: "{repository}@{ref}", job_id: "{run_id}-{run_attempt}", commit: "{sha}",\n'
                 '       upstream_role: migrator%s}\n')
        self.config = os.path.join(d, "pgwarden.yaml")
        with open(self.config, "w") as f:
            f.write("listen: 127.0.0.1:%d\ntls:\n  mode: prefer\n  cert_file: %s\n  key_file: %s\n"
                    "upstream:\n  host: 127.0.0.1\n  port: %d\n  tls: disable\n"
                    "  roles:\n    - {name: migrator, password_file: role.pw}\n"
                    "identities:\n  oidc:\n" % (self.port, certs["server.crt"], certs["server.key"], pg.port)
                    + entry % (ISSUER, "gha", "")
                    + entry % (ISSUER, "remote", ', plain_tcp_from: ["10.0.0.0/8"]')
                    + "audit:\n  path: audit.db\nrules:\n  default: allow\n")
        self.serve()

    def dsn(self, user, password, **extra):
        parts = ["host=127.0.0.1", "port=%d" % self.port, "dbname=app", "user=%s" % user, "password=%s" % password]
        return " ".join(parts + ["%s=%s" % kv for kv in extra.items()])


def read_message(sock):
    head = b""
    while len(head) < 5:
        chunk = sock.recv(5 - len(head))
        if not chunk:
            raise ConnectionError("closed")
        head += chunk
    kind, length = head[:1], struct.unpack("!i", head[1:])[0]
    body = b""
    while len(body) < length - 4:
        chunk = sock.recv(length - 4 - len(body))
        if not chunk:
            raise ConnectionError("closed")
        body += chunk
    return kind, body


def error_fields(body):
    return {f[:1].decode(): f[1:].decode() for f in body.split(b"\0") if f}


def raw_login(user, password):
    """Logs in over plain TCP with the wire protocol; returns ("ok", None), ("refused_before_password",
    fields) or ("refused", fields) with the ErrorResponse fields."""
    with socket.create_connection(("127.0.0.1", PX.port), timeout=10) as s:
        s.sendall(harness.startup_packet(user, "app"))
        kind, body = read_message(s)
        if kind == b"E":
            return "refused_before_password", error_fields(body)
        assert (kind, body) == (b"R", struct.pack("!i", 3)), (kind, body)
        pw = password + b"\0"
        s.sendall(b"p" + struct.pack("!i", len(pw) + 4) + pw)
        kind, body = read_message(s)
        if kind == b"E":
            return "refused", error_fields(body)
        assert (kind, body) == (b"R", struct.pack("!i", 0)), (kind, body)
        return "ok", None


def setUpModule():
    global PG, PX, KEYS
    PG = harness.Postgres()
    d = harness.tmpdir("pgw-oidc-")
    KEYS = make_keys(d)
    PX = OidcProxy(PG, d, harness.make_certs(harness.tmpdir("pgw-oidc-certs-")))


class ValidTokens(unittest.TestCase):
    def test_migration_with_rs256_token_is_audited_as_verified(self):
        conn = psycopg2.connect(PX.dsn("gha", token(claims()), sslmode="disable"))
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("CREATE TABLE oidc_widgets (id int PRIMARY KEY, name text)")
        cur.execute("INSERT INTO oidc_widgets VALUES (1, 'gear')")
        cur.execute("SELECT current_user, count(*) FROM oidc_widgets GROUP BY 1")
        self.assertEqual(cur.fetchall(), [("migrator", 1)], "upstream runs as the entry's upstream_role")
        conn.close()
        rows = [r for r in export("--job", "981-2") if "oidc_widgets" in r["statement"]]
        self.assertEqual(len(rows), 3)
        for r in rows:
            self.assertEqual((r["principal"], r["attribution"], r["job_id"], r["commit"], r["upstream_role"]),
                             ("acme/app@refs/heads/main", "verified", "981-2", "3f2a9c1e", "migrator"))

    def test_es256_token_over_tls(self):
        tok = token(claims(run_id="982", sha="beef"), key="ec")
        conn = psycopg2.connect(PX.dsn("gha", tok, sslmode="require"))
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SELECT 'es256 login'")
        self.assertEqual(cur.fetchone(), ("es256 login",))
        conn.close()
        rows = export("--job", "982-2")
        self.assertEqual([(r["statement"], r["attribution"], r["commit"]) for r in rows],
                         [("SELECT 'es256 login'", "verified", "beef")])

    def test_claimed_job_id_does_not_override_verified_one(self):
        opts = "'-c pgwarden.job_id=forged-1 -c pgwarden.commit=0000000'"
        conn = psycopg2.connect(PX.dsn("gha", token(claims(run_id="983")), sslmode="disable", options=opts))
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SELECT 'claimed vs verified'")
        conn.close()
        self.assertEqual(export("--job", "forged-1"), [])
        rows = export("--job", "983-2")
        self.assertEqual([(r["attribution"], r["commit"]) for r in rows], [("verified", "3f2a9c1e")])
        logs = PX.logs()
        self.assertIn("event=attribution_conflict", logs)
        self.assertIn("claimed=forged-1 verified=983-2", logs)

    def test_token_never_logged_or_stored(self):
        tok = token(claims(run_id="984"))
        conn = psycopg2.connect(PX.dsn("gha", tok, sslmode="disable"))
        conn.close()
        signature = tok.rsplit(".", 1)[1]
        self.assertNotIn(signature, PX.logs())
        with open(PX.audit_db, "rb") as f:
            self.assertNotIn(signature.encode(), f.read())
        self.assertIn("event=token_verified", PX.logs())


class RefusedTokens(unittest.TestCase):
    def assertRefused(self, password, reason, user="gha"):
        if isinstance(password, str):
            password = password.encode()
        outcome, fields = raw_login(user, password)
        self.assertEqual(outcome, "refused")
        self.assertEqual(fields["S"], "FATAL")
        self.assertEqual(fields["C"], "28P01")
        self.assertIn(reason, fields["M"])
        self.assertNotIn(password[-20:].decode("latin-1"), fields["M"], "the token is not echoed")
        logged = 'reason="' + reason.replace("\\", "\\\\").replace('"', '\\"')
        deadline = time.time() + 5
        while not self.logged(logged) and time.time() < deadline:
            time.sleep(0.05)
        self.assertTrue(self.logged(logged), "no auth_failed log line with " + logged)

    def logged(self, text):
        return any("event=auth_failed" in line and text in line for line in PX.logs().splitlines())

    def test_expired(self):
        now = int(time.time())
        self.assertRefused(token(claims(exp=now - 120, iat=now - 900, nbf=now - 900)), "token expired")

    def test_not_yet_valid(self):
        self.assertRefused(token(claims(nbf=int(time.time()) + 600)), "token not valid yet")

    def test_wrong_audience(self):
        self.assertRefused(token(claims(aud="someone-else")), "wrong audience")

    def test_wrong_issuer(self):
        self.assertRefused(token(claims(iss="https://gitlab.example.com")), "wrong issuer")

    def test_unknown_kid(self):
        self.assertRefused(token(claims(), header={"alg": "RS256", "kid": "rsa-9"}), "unknown key id")

    def test_signature_over_changed_payload(self):
        good = token(claims())
        h, _, s = good.split(".")
        forged = b64url(json.dumps(claims(repository="acme/payroll")).encode())
        self.assertRefused(h + "." + forged + "." + s, "bad signature")

    def test_signed_by_a_key_not_in_the_jwks(self):
        self.assertRefused(token(claims(), key="other"), "bad signature")

    def test_alg_none(self):
        h = b64url(json.dumps({"alg": "none", "kid": "rsa-1"}).encode())
        self.assertRefused(h + "." + b64url(json.dumps(claims()).encode()) + ".", "algorithm \"none\" is not accepted")

    def test_hs256_keyed_with_the_rsa_public_key(self):
        h = b64url(json.dumps({"alg": "HS256", "kid": "rsa-1"}).encode())
        signing_input = h + "." + b64url(json.dumps(claims()).encode())
        mac = openssl("dgst", "-sha256", "-mac", "HMAC", "-macopt", "key:" + KEYS["rsa_pub_pem"].decode(), "-binary",
                      data=signing_input.encode())
        self.assertRefused(signing_input + "." + b64url(mac), "algorithm \"HS256\" is not accepted")

    def test_truncated_token(self):
        self.assertRefused(token(claims())[:-30], "bad signature")
        self.assertRefused(token(claims()).rsplit(".", 1)[0], "malformed token")

    def test_100kb_of_garbage(self):
        self.assertRefused(os.urandom(50 * 1024).hex().encode(), "token longer than 16384 bytes")

    def test_template_claim_missing(self):
        self.assertRefused(token(claims(sha=None)), "the token has no claim \"sha\"")

    def test_psycopg2_sees_the_reason(self):
        now = int(time.time())
        with self.assertRaises(psycopg2.OperationalError) as ctx:
            psycopg2.connect(PX.dsn("gha", token(claims(exp=now - 3600, nbf=now - 7200)), sslmode="disable"))
        self.assertIn("password authentication failed for user \"gha\": token expired", str(ctx.exception))


class PlainTcpRange(unittest.TestCase):
    def test_outside_plain_tcp_from_refused_before_password(self):
        outcome, fields = raw_login("remote", token(claims()).encode())
        self.assertEqual(outcome, "refused_before_password")
        self.assertEqual(fields["C"], "28000")
        self.assertIn("needs TLS", fields["M"])
        self.assertIn("event=auth_refused", PX.logs())

    def test_same_identity_over_tls_logs_in(self):
        conn = psycopg2.connect(PX.dsn("remote", token(claims(run_id="985")), sslmode="require"))
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SELECT 'remote over tls'")
        conn.close()
        self.assertEqual([r["statement"] for r in export("--job", "985-2")], ["SELECT 'remote over tls'"])

    def test_raw_tls_login_is_asked_for_password(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", PX.port), timeout=10) as raw:
            raw.sendall(struct.pack("!ii", 8, 80877103))
            self.assertEqual(raw.recv(1), b"S")
            with ctx.wrap_socket(raw) as s:
                s.sendall(harness.startup_packet("remote", "app"))
                self.assertEqual(read_message(s), (b"R", struct.pack("!i", 3)))


class ConfigCheck(unittest.TestCase):
    def write_config(self, d, jwks_text):
        with open(os.path.join(d, "jwks.json"), "w") as f:
            f.write(jwks_text)
        with open(os.path.join(d, "role.pw"), "w") as f:
            f.write("x\n")
        path = os.path.join(d, "pgwarden.yaml")
        with open(path, "w") as f:
            f.write("upstream:\n  roles:\n    - {name: migrator, password_file: role.pw}\n"
                    "identities:\n  oidc:\n"
                    '    - {issuer: "%s", audience: pgwarden, jwks_file: jwks.json, user: gha,\n'
                    '       principal: "{repository", upstream_role: migrator, plain_tcp_from: ["10.0.0.0/40"]}\n'
                    "rules:\n  default: allow\n" % ISSUER)
        return path

    def test_bad_jwks_and_template_named_by_check(self):
        d = harness.tmpdir("pgw-oidc-check-")
        path = self.write_config(d, '{"keys": [{"kty": "RSA", "kid": "k", "e": "AQAB"}]}')
        r = subprocess.run([harness.PGWARDEN, "check", "-c", path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn(path + ":6:", r.stderr)
        self.assertIn("identities.oidc[0].jwks_file: " + os.path.join(d, "jwks.json") +
                      ": keys[0] (kid \"k\"): missing or not a string: n", r.stderr)
        self.assertIn("identities.oidc[0].principal: every { must be closed", r.stderr)
        self.assertIn("identities.oidc[0].plain_tcp_from: bad prefix length in \"10.0.0.0/40\"", r.stderr)
        r = subprocess.run([harness.PGWARDEN, "serve", "-c", path], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("missing or not a string: n", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
