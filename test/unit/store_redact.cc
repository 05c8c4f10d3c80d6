// Messages name a PostgreSQL store by its connection string with every secret replaced by `***`,
// wherever libpq accepts one: the URI's user info and query, a keyword string's values, quoted
// or not, with spaces around `=`; sslpassword (a key's passphrase) as well as password.
#include <catch2/catch.hpp>

#include "store/pg_util.h"

using pgw::store::redact_dsn;

TEST_CASE("a URI keeps everything but its passwords") {
  CHECK(redact_dsn("postgresql://gw:s3cret@db.example:5432/audit") ==
        "postgresql://gw:***@db.example:5432/audit");
  CHECK(redact_dsn("postgres://gw@db.example/audit") == "postgres://gw@db.example/audit");
  CHECK(redact_dsn("postgresql://db.example/audit?sslmode=require") ==
        "postgresql://db.example/audit?sslmode=require");
  CHECK(redact_dsn("postgresql://gw@db.example:5432/audit?password=s3cret") ==
        "postgresql://gw@db.example:5432/audit?password=***");
  CHECK(redact_dsn("postgresql://gw:a@db/audit?sslmode=require&sslpassword=k3y&password=s3cret&"
                   "application_name=x") ==
        "postgresql://gw:***@db/audit?sslmode=require&sslpassword=***&password=***&"
        "application_name=x");
  CHECK(redact_dsn("postgresql:///audit?host=/run/pg&password=s3cret") ==
        "postgresql:///audit?host=/run/pg&password=***");
  CHECK(redact_dsn("postgresql://gw:s3cret@db?password=") == "postgresql://gw:***@db?password=***");
}

TEST_CASE("a keyword string keeps everything but its passwords") {
  CHECK(redact_dsn("host=db port=5432 dbname=audit user=gw password=s3cret") ==
        "host=db port=5432 dbname=audit user=gw password=***");
  CHECK(redact_dsn("host=db dbname=audit") == "host=db dbname=audit");
  CHECK(redact_dsn("password = 's3 cret' host=db") == "password = *** host=db");
  CHECK(redact_dsn("password='it\\'s s3cret' host=db") == "password=*** host=db");
  CHECK(redact_dsn("sslpassword=k3y host=db password=s3cret") ==
        "sslpassword=*** host=db password=***");
  CHECK(redact_dsn("host=db password=s3\\ cret user=gw") == "host=db password=*** user=gw");
}

TEST_CASE("a malformed keyword string is cut before it can leak") {
  std::string out = redact_dsn("host=db password='s3cret");
  CHECK(out.find("s3cret") == std::string::npos);
  out = redact_dsn("host=db s3cret");
  CHECK(out.find("s3cret") == std::string::npos);
  CHECK(out.starts_with("host=db"));
}
