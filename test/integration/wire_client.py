"""A PostgreSQL v3 frontend at the level of single messages, for tests that need sequences no driver
sends: errors, refusals and FunctionCalls inside one pipeline, a connection closed mid-pipeline.
It logs in with SCRAM-SHA-256 (as pgwarden asks its static identities) or with no password."""
import base64
import hashlib
import hmac
import os
import socket
import struct


def message(kind, body=b""):
    return kind + struct.pack("!i", len(body) + 4) + body


def cstr(text):
    return text.encode() + b"\0"


def parse(sql, name=""):
    return message(b"P", cstr(name) + cstr(sql) + struct.pack("!h", 0))


def bind(portal="", statement="", params=()):
    body = cstr(portal) + cstr(statement) + struct.pack("!h", 0) + struct.pack("!h", len(params))
    for p in params:
        body += struct.pack("!i", -1) if p is None else struct.pack("!i", len(p.encode())) + p.encode()
    return message(b"B", body + struct.pack("!h", 0))


def describe(kind, name=""):
    return message(b"D", kind + cstr(name))


def execute(portal=""):
    return message(b"E", cstr(portal) + struct.pack("!i", 0))


def sync():
    return message(b"S")


def query(sql):
    return message(b"Q", cstr(sql))


def function_call(oid, *args):
    body = struct.pack("!Ih", oid, 0) + struct.pack("!h", len(args))
    for a in args:
        body += struct.pack("!i", len(a.encode())) + a.encode()
    return message(b"F", body + struct.pack("!h", 0))


def statement(sql, portal=""):
    """Parse, Bind, Describe and Execute of one statement, unnamed, as drivers send it."""
    return parse(sql) + bind(portal) + describe(b"P", portal) + execute(portal)


def error_fields(body):
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode()
    return fields


class Connection:
    def __init__(self, port, user, password, database, host="127.0.0.1", timeout=20):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        params = cstr("user") + cstr(user) + cstr("database") + cstr(database) + b"\0"
        body = struct.pack("!i", 196608) + params
        self.sock.sendall(struct.pack("!i", len(body) + 4) + body)
        self.backend_key = None
        self._login(user, password)

    def _login(self, user, password):
        nonce = base64.b64encode(os.urandom(18)).decode()
        client_first_bare = "n=,r=" + nonce
        while True:
            kind, body = self.recv()
            if kind == b"R":
                code = struct.unpack("!i", body[:4])[0]
                if code == 10:
                    first = ("n,," + client_first_bare).encode()
                    self.send(message(b"p", cstr("SCRAM-SHA-256") + struct.pack("!i", len(first)) + first))
                elif code == 11:
                    self.send(message(b"p", self._scram_final(password, client_first_bare, body[4:].decode())))
                elif code == 3:
                    self.send(message(b"p", cstr(password)))
            elif kind == b"K":
                self.backend_key = struct.unpack("!ii", body)
            elif kind == b"E":
                raise RuntimeError("login refused: %s" % error_fields(body))
            elif kind == b"Z":
                return

    @staticmethod
    def _scram_final(password, client_first_bare, server_first):
        attrs = dict(a.split("=", 1) for a in server_first.split(","))
        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = "c=biws,r=" + attrs["r"]
        auth_message = ",".join([client_first_bare, server_first, without_proof]).encode()
        signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        return (without_proof + ",p=" + base64.b64encode(proof).decode()).encode()

    def send(self, data):
        self.sock.sendall(data)

    def recv(self):
        while len(self.buf) < 5 or len(self.buf) < 1 + struct.unpack("!i", self.buf[1:5])[0]:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buf += chunk
        length = struct.unpack("!i", self.buf[1:5])[0]
        kind, body = self.buf[:1], self.buf[5:1 + length]
        self.buf = self.buf[1 + length:]
        return kind, body

    def until_ready(self):
        """Every message up to and including the next ReadyForQuery, as (type, body) pairs;
        notices and parameter changes left out."""
        out = []
        while True:
            kind, body = self.recv()
            if kind in (b"N", b"S", b"A"):
                continue
            out.append((kind, body))
            if kind == b"Z":
                return out

    def close(self):
        self.sock.close()


def kinds(replies):
    """The message types of `replies` as one string: b'12TDCZ' -> '12TDCZ'."""
    return "".join(k.decode() for k, _ in replies)


def sqlstates(replies):
    return [error_fields(b)["C"] for k, b in replies if k == b"E"]
