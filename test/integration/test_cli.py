"""The command line: `check` names file:line:col and field of every mistake, exit codes are 0/1/2."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

GOOD = """listen: 127.0.0.1:6432
upstream:
  host: 127.0.0.1
  port: 5432
  roles:
    - {name: migrator, password_env: PGW_TEST_PW}
identities:
  static:
    - principal: "dba:alice"
      user: alice
      password_env: PGW_TEST_PW
      upstream_role: migrator
rules:
  default: allow
"""


def run(*args, env=None):
    return subprocess.run([harness.PGWARDEN] + list(args), capture_output=True, text=True,
                          env=dict(os.environ, **dict({"PGW_TEST_PW": "pw"}, **(env or {}))))


def write(text):
    d = harness.tmpdir("pgw-cli-")
    path = os.path.join(d, "pgwarden.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


class Check(unittest.TestCase):
    def test_good_config_passes(self):
        r = run("check", "-c", write(GOOD))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(": ok", r.stdout)

    def test_unknown_key_names_file_line_col(self):
        path = write(GOOD.replace("  port: 5432\n", "  port: 5432\n  prot: 1\n"))
        r = run("check", "-c", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn(path + ":5:3: upstream.prot: unknown key", r.stderr)

    def test_several_errors_are_all_reported(self):
        text = GOOD.replace("listen: 127.0.0.1:6432", "listen: nowhere").replace("upstream_role: migrator",
                                                                                  "upstream_role: ghost")
        r = run("check", "-c", write(text))
        self.assertEqual(r.returncode, 1)
        self.assertIn("listen: expected HOST:PORT", r.stderr)
        self.assertIn('identities.static[0].upstream_role: no upstream.roles entry named "ghost"', r.stderr)

    def test_audit_instance_is_checked(self):
        self.assertEqual(run("check", "-c", write(GOOD + "audit:\n  instance: gw-eu-1\n")).returncode, 0)
        r = run("check", "-c", write(GOOD + "audit:\n  instance: ''\n"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("audit.instance: must not be empty", r.stderr)

    def test_numbers_too_large_are_errors_not_crashes(self):
        text = GOOD.replace("listen: 127.0.0.1:6432", "listen: 127.0.0.1:99999999999999999999") + \
            "approvals:\n  default_timeout: 99999999999999999999s\n"
        r = run("check", "-c", write(text))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("listen: expected HOST:PORT", r.stderr)
        self.assertIn('approvals.default_timeout: "99999999999999999999s" is not a duration', r.stderr)

    def test_missing_secret_env(self):
        r = run("check", "-c", write(GOOD), env={"PGW_TEST_PW": ""})
        self.assertEqual(r.returncode, 0)
        env = {k: v for k, v in os.environ.items() if k != "PGW_TEST_PW"}
        r = subprocess.run([harness.PGWARDEN, "check", "-c", write(GOOD)], capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("environment variable PGW_TEST_PW is not set", r.stderr)
        self.assertNotIn("pw\n", r.stderr)

    def test_bad_verifier(self):
        text = GOOD.replace("password_env: PGW_TEST_PW\n      upstream_role", "scram_verifier: nope\n      upstream_role")
        r = run("check", "-c", write(text))
        self.assertEqual(r.returncode, 1)
        self.assertIn(":11:23: identities.static[0].scram_verifier: not a SCRAM-SHA-256 verifier", r.stderr)

    def test_yaml_syntax_error(self):
        r = run("check", "-c", write("listen: [unclosed\n"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("YAML syntax error", r.stderr)

    def test_unreadable_file_and_usage(self):
        self.assertEqual(run("check", "-c", "/nonexistent/pgwarden.yaml").returncode, 1)
        self.assertEqual(run("check").returncode, 2)
        self.assertEqual(run("frobnicate").returncode, 2)

    def test_version(self):
        r = run("version")
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.startswith("pgwarden "))


class AuditTools(unittest.TestCase):
    """`audit` and `approvals` with -c: the store the configuration names, no other secret read."""

    def without_secret(self):
        return {k: v for k, v in os.environ.items() if k != "PGW_TEST_PW"}

    def test_config_names_the_sqlite_store(self):
        path = write(GOOD + "audit:\n  path: nowhere/audit.db\n")
        for args in (["audit", "verify"], ["audit", "export"], ["approvals", "list", "--pending"]):
            r = subprocess.run([harness.PGWARDEN] + args + ["-c", path], capture_output=True, text=True,
                               env=self.without_secret())
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("audit store " + os.path.join(os.path.dirname(path), "nowhere/audit.db") + ": ",
                          r.stderr)

    def test_store_and_config_are_exclusive(self):
        r = run("audit", "verify", "-c", write(GOOD), "--store", "audit.db")
        self.assertEqual(r.returncode, 2)
        self.assertIn("give either --store or -c, not both", r.stderr)
        r = run("audit", "verify", "-c")
        self.assertEqual(r.returncode, 2)
        self.assertIn("-c needs a value", r.stderr)

    def test_postgresql_backend_is_checked(self):
        r = run("check", "-c", write(GOOD + "audit:\n  backend: oracle\n"))
        self.assertEqual(r.returncode, 1)
        self.assertIn('audit.backend: "oracle" is not one of sqlite, postgresql', r.stderr)
        r = run("check", "-c", write(GOOD + "audit:\n  backend: postgresql\n"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("audit.postgresql: missing", r.stderr)
        r = run("audit", "export", "-c", write(GOOD + "audit:\n  backend: postgresql\n  postgresql:\n"
                                                      "    dsn_env: PGW_TEST_DSN\n    dsn_file: dsn.txt\n"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("audit.postgresql.dsn_env: give exactly one of dsn_env and dsn_file", r.stderr)


class RulesTools(unittest.TestCase):
    """`test` and `explain` need only the rules: they run where the deployment's secrets are not."""

    SECRETLESS = GOOD.replace("password_env: PGW_TEST_PW}", "password_file: /nonexistent/migrator}") + \
        """  oidc:
    - {issuer: "https://ci.example", audience: pgwarden, jwks_file: /nonexistent/jwks.json, user: ci,
       principal: "{repository}", upstream_role: migrator}
""".replace("rules:\n  default: allow\n", "")

    def secretless(self):
        text = self.SECRETLESS.replace("rules:\n  default: allow\n", "") + """rules:
  default: allow
  rules:
    - {name: no-drop, match: {commands: [drop_table]}, action: deny}
  tests:
    - {principal: "acme/shop@refs/heads/main", sql: "DROP TABLE t", expect: deny, rule: no-drop}
"""
        return write(text), {k: v for k, v in os.environ.items() if k != "PGW_TEST_PW"}

    def test_test_and_explain_read_no_secret_and_no_key_file(self):
        path, env = self.secretless()
        r = subprocess.run([harness.PGWARDEN, "test", "-c", path], capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1 passed, 0 failed", r.stdout)
        r = subprocess.run([harness.PGWARDEN, "explain", "-c", path, "--principal", "p", "DROP TABLE t"],
                           capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("rule:           no-drop", r.stdout)

    def test_check_still_reads_them(self):
        path, env = self.secretless()
        r = subprocess.run([harness.PGWARDEN, "check", "-c", path], capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("upstream.roles[0].password_file: cannot read /nonexistent/migrator", r.stderr)
        self.assertIn("environment variable PGW_TEST_PW is not set", r.stderr)
        self.assertIn("identities.oidc[0].jwks_file", r.stderr)

    def test_rules_tools_still_validate_the_configuration(self):
        path, env = self.secretless()
        with open(path, "a") as f:
            f.write("bogus: 1\n")
        r = subprocess.run([harness.PGWARDEN, "test", "-c", path], capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("bogus: unknown key", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
