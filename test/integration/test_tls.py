"""TLS on both legs with certificates made by openssl at test time, and the SSLRequest traps."""
import os
import socket
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import psycopg2  # noqa: E402

PG = PX = CERTS = None


def setUpModule():
    global PG, PX, CERTS
    PG = harness.Postgres(ssl=True)
    CERTS = harness.make_certs(harness.tmpdir("pgw-certs-"))
    PX = harness.Pgwarden(PG, upstream_tls="verify-full",
                          tls={"mode": "prefer", "cert": CERTS["server.crt"], "key": CERTS["server.key"]})


class ClientTls(unittest.TestCase):
    def test_sslmode_require(self):
        conn = psycopg2.connect(PX.dsn(sslmode="require"))
        cur = conn.cursor()
        cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        self.assertEqual(cur.fetchone(), (True,), "the upstream leg is TLS too")
        conn.close()

    def test_sslmode_verify_full_with_test_ca(self):
        conn = psycopg2.connect(PX.dsn(sslmode="verify-full", sslrootcert=CERTS["ca.crt"], host="localhost"))
        cur = conn.cursor()
        cur.execute("SELECT 42")
        self.assertEqual(cur.fetchone(), (42,))
        conn.close()

    def test_verify_full_against_wrong_ca_fails(self):
        other = harness.make_certs(harness.tmpdir("pgw-other-"))
        with self.assertRaises(psycopg2.OperationalError):
            psycopg2.connect(PX.dsn(sslmode="verify-full", sslrootcert=other["ca.crt"]))

    def test_channel_binding_offered_over_tls(self):
        conn = psycopg2.connect(PX.dsn(sslmode="require", channel_binding="require"))
        cur = conn.cursor()
        cur.execute("SELECT 1")
        self.assertEqual(cur.fetchone(), (1,))
        conn.close()

    def test_channel_binding_not_offered_without_tls(self):
        with self.assertRaises(psycopg2.OperationalError) as ctx:
            psycopg2.connect(PX.dsn(sslmode="disable", channel_binding="require"))
        self.assertIn("channel binding", str(ctx.exception))

    def test_plain_connection_allowed_in_prefer_mode(self):
        conn = psycopg2.connect(PX.dsn(sslmode="disable"))
        conn.close()

    def test_bytes_after_sslrequest_are_refused(self):
        # CVE-2021-23214 class: a startup packet smuggled behind SSLRequest must not be processed.
        ssl_request = struct.pack("!ii", 8, 80877103)
        with socket.create_connection(("127.0.0.1", PX.port), timeout=5) as s:
            s.sendall(ssl_request + harness.startup_packet("alice", "app"))
            data = b""
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except socket.timeout:
                self.fail("pgwarden kept the connection open")
        self.assertEqual(data, b"", "nothing is answered, the connection is closed")
        self.assertIn("data received after SSLRequest", PX.logs())

    def test_gssenc_request_declined(self):
        with socket.create_connection(("127.0.0.1", PX.port), timeout=5) as s:
            s.sendall(struct.pack("!ii", 8, 80877104))
            self.assertEqual(s.recv(1), b"N")


class RequireMode(unittest.TestCase):
    def test_require_refuses_plain_connections(self):
        px = harness.Pgwarden(PG, upstream_tls="require",
                              tls={"mode": "require", "cert": CERTS["server.crt"], "key": CERTS["server.key"]})
        with self.assertRaises(psycopg2.OperationalError) as ctx:
            psycopg2.connect(px.dsn(sslmode="disable"))
        self.assertIn("requires TLS", str(ctx.exception))
        conn = psycopg2.connect(px.dsn(sslmode="require"))
        conn.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
