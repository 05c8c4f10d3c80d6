"""Bad input closes only the connection that sent it while a pgbench run through the same pgwarden
completes without errors, and SIGTERM drains. The slow reader of a large result is in test_faults.py."""
import os
import socket
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

PG = PX = None


def setUpModule():
    global PG, PX
    PG = harness.Postgres()
    PX = harness.Pgwarden(PG, extra="limits:\n  auth_timeout: 2s\n")
    PX.pgbench(["-i", "-s", "1", "-q"])


def closed_by_peer(sock, timeout=10):
    """True when the peer closes the connection (EOF or reset) within `timeout` seconds."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


class BadInput(unittest.TestCase):
    def abuse(self, payload, expect_log, close_write=False):
        with socket.create_connection(("127.0.0.1", PX.port)) as s:
            if payload:
                s.sendall(payload)
            if close_write:
                s.shutdown(socket.SHUT_WR)
            self.assertTrue(closed_by_peer(s), "pgwarden closed the connection")
        deadline = time.time() + 5
        while expect_log not in PX.logs() and time.time() < deadline:
            time.sleep(0.05)
        self.assertIn(expect_log, PX.logs())

    def test_all_abuse_while_pgbench_runs(self):
        bench = {}

        def run():
            bench["r"] = PX.pgbench(["-c", "4", "-j", "2", "-T", "8", "-S", "-n"], check=False)

        t = threading.Thread(target=run)
        t.start()
        time.sleep(0.5)
        with self.subTest("random bytes"):
            self.abuse(os.urandom(64) + b"\x00\x00\x00\x09garbage", "event=protocol_error")
        with self.subTest("length 2^31"):
            self.abuse(b"\x80\x00\x00\x00" + b"\x00" * 12, "startup packet has length -2147483648")
        with self.subTest("startup packet over 10 KiB"):
            self.abuse(struct.pack("!ii", 20000, 196608) + b"x" * 200, "startup packet has length 20000")
        with self.subTest("typed message of length 2^31-1 during authentication"):
            with socket.create_connection(("127.0.0.1", PX.port)) as s:
                s.sendall(harness.startup_packet("alice", "app"))
                self.assertEqual(s.recv(1), b"R")
                s.sendall(b"p" + struct.pack("!I", 0x7FFFFFFF) + b"x" * 100)
                self.assertTrue(closed_by_peer(s))
            self.assertIn("over the limit", PX.logs())
        with self.subTest("truncated message"):
            self.abuse(struct.pack("!ii", 40, 196608) + b"user\0al", "connection closed", close_write=True)
        with self.subTest("unknown protocol"):
            self.abuse(struct.pack("!ii", 8, 0x00020000), "unsupported frontend protocol")
        with self.subTest("a connection that sends nothing"):
            self.abuse(b"", "event=auth_timeout")
        t.join()
        r = bench["r"]
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("error", r.stderr.lower())
        self.assertIn("number of failed transactions: 0", r.stdout)


class Shutdown(unittest.TestCase):
    def test_sigterm_lets_running_statements_finish_then_closes_the_rest_after_the_grace(self):
        import signal
        import wire_client as w
        px = harness.Pgwarden(PG, extra="limits:\n  shutdown_grace: 2s\n")
        idle = w.Connection(px.port, "alice", harness.Pgwarden.USERS["alice"][1], "app")
        busy = w.Connection(px.port, "alice", harness.Pgwarden.USERS["alice"][1], "app")
        in_tx = w.Connection(px.port, "alice", harness.Pgwarden.USERS["alice"][1], "app")
        in_tx.send(w.query("BEGIN"))
        in_tx.until_ready()
        busy.send(w.query("SELECT pg_sleep(0.5), 'finished'"))
        running = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%finished%' AND state = 'active' " \
                  "AND pid <> pg_backend_pid()"
        deadline = time.time() + 10
        while PG.sql(running, db="app").strip() != "1" and time.time() < deadline:
            time.sleep(0.02)
        started = time.time()
        px.proc.send_signal(signal.SIGTERM)
        kinds, body = idle.recv()
        self.assertEqual(kinds, b"E")
        self.assertEqual(w.error_fields(body)["C"], "57P01")
        replies = busy.until_ready()
        self.assertIn(b"finished", b"".join(b for _, b in replies))
        kinds, body = in_tx.recv()
        self.assertEqual(w.error_fields(body)["C"], "57P01")
        self.assertGreater(time.time() - started, 1.5)
        self.assertEqual(px.proc.wait(timeout=10), 0)
        self.assertIn("event=stopped", px.logs())
        for c in (idle, busy, in_tx):
            c.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
