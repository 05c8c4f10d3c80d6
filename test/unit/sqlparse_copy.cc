// copy_to_stdout(): the options and the source of a COPY ... TO STDOUT, in both option syntaxes.
#include <catch2/catch.hpp>

#include "sqlparse/facts.h"

using pgw::sql::copy_to_stdout;
using pgw::sql::CopyToStdout;

TEST_CASE("COPY table TO STDOUT with options in parentheses") {
  std::optional<CopyToStdout> c =
      copy_to_stdout("COPY users (id, email) TO STDOUT (FORMAT csv, DELIMITER ';', NULL 'none', HEADER)");
  REQUIRE(c);
  CHECK(c->format == "csv");
  CHECK(c->delimiter == ";");
  CHECK(c->null == "none");
  CHECK_FALSE(c->quote);
  CHECK_FALSE(c->escape);
  CHECK(c->header);
  CHECK(c->table);
  CHECK(c->columns == std::vector<std::string>{"id", "email"});
}

TEST_CASE("COPY (query) TO STDOUT in the old option syntax") {
  std::optional<CopyToStdout> c =
      copy_to_stdout("COPY (SELECT 1) TO STDOUT WITH DELIMITER ',' CSV QUOTE '''' ESCAPE '\\'");
  REQUIRE(c);
  CHECK(c->format == "csv");
  CHECK(c->delimiter == ",");
  CHECK(c->quote == "'");
  CHECK(c->escape == "\\");
  CHECK_FALSE(c->header);
  CHECK_FALSE(c->table);
  CHECK(c->columns.empty());
}

TEST_CASE("HEADER takes a Boolean, a number or a word") {
  CHECK(copy_to_stdout("COPY t TO STDOUT (HEADER true)")->header);
  CHECK_FALSE(copy_to_stdout("COPY t TO STDOUT (HEADER false)")->header);
  CHECK_FALSE(copy_to_stdout("COPY t TO STDOUT (HEADER 0)")->header);
  CHECK(copy_to_stdout("COPY t TO STDOUT (HEADER 1)")->header);
  CHECK_FALSE(copy_to_stdout("COPY t TO STDOUT (HEADER off)")->header);
  CHECK(copy_to_stdout("COPY t TO STDOUT (FORMAT binary)")->format == "binary");
}

TEST_CASE("only a single COPY TO STDOUT is read") {
  CHECK_FALSE(copy_to_stdout("COPY t FROM STDIN"));
  CHECK_FALSE(copy_to_stdout("COPY t TO '/tmp/t.csv'"));
  CHECK_FALSE(copy_to_stdout("COPY t TO PROGRAM 'cat'"));
  CHECK_FALSE(copy_to_stdout("COPY t TO STDOUT; SELECT 1"));
  CHECK_FALSE(copy_to_stdout("SELECT 1"));
  CHECK_FALSE(copy_to_stdout("COPY t TO"));
}
