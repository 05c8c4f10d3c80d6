#include <catch2/catch.hpp>

#include "proxy/wire/track.h"

using namespace pgw;

namespace {

// Feeds server messages (type, body) through the tracker; returns the verdicts.
struct Replay {
  Tracker t;
  std::vector<Finished> done;
  std::string replacement;
  std::vector<std::string> bufs;

  Verdict feed(char type, std::string body = {}) {
    bufs.emplace_back();
    Writer(bufs.back()).begin(type).bytes(body).end();
    Message m{type, std::string_view(bufs.back()).substr(5), bufs.back()};
    return t.on_server(m, 1000, &replacement, &done);
  }
};

std::string tag(const char* t) { return std::string(t) + '\0'; }

std::string error_body(const char* code, const char* msg) {
  std::string out;
  write_error(out, "ERROR", code, msg);
  return out.substr(5);
}

Expect expect(char request, std::vector<int64_t> seqs = {}, bool injected = false) {
  Expect e;
  e.request = request;
  e.seqs = std::move(seqs);
  e.injected = injected;
  return e;
}

}  // namespace

TEST_CASE("a simple query's statements finish in order, rows from their tags") {
  Replay r;
  r.t.expect(expect('Q', {11, 12}));
  CHECK(r.feed('T') == Verdict::relay);
  CHECK(r.feed('D') == Verdict::relay);
  CHECK(r.feed('C', tag("SELECT 1")) == Verdict::relay);
  CHECK(r.feed('C', tag("INSERT 0 5")) == Verdict::relay);
  CHECK(r.feed('Z', "I") == Verdict::relay);
  REQUIRE(r.done.size() == 2);
  CHECK(r.done[0].seq == 11);
  CHECK(r.done[0].rows == 1);
  CHECK(r.done[1].seq == 12);
  CHECK(r.done[1].rows == 5);
  CHECK(r.t.pending.empty());
}

TEST_CASE("an error in a simple query leaves the later statements not executed") {
  Replay r;
  r.t.expect(expect('Q', {1, 2, 3}));
  r.feed('C', tag("UPDATE 2"));
  r.feed('E', error_body("22012", "division by zero"));
  r.feed('Z', "E");
  REQUIRE(r.done.size() == 3);
  CHECK(r.done[1].sqlstate == "22012");
  CHECK(r.done[1].error == "division by zero");
  CHECK(r.done[2].error.find("not executed") != std::string::npos);
}

TEST_CASE("an extended-protocol error skips the requests up to Sync") {
  Replay r;
  r.t.expect(expect('P'));
  r.t.expect(expect('B'));
  r.t.expect(expect('E', {7}));
  r.t.expect(expect('P'));
  r.t.expect(expect('E', {8}));
  r.t.expect(expect('S'));
  r.t.expect(expect('Q', {9}));
  r.feed('1');
  r.feed('2');
  r.feed('E', error_body("23505", "duplicate key"));
  REQUIRE(r.t.current());
  CHECK(r.t.current()->request == 'S');
  r.feed('Z', "I");
  CHECK(r.t.current()->request == 'Q');
  REQUIRE(r.done.size() == 2);
  CHECK(r.done[0].seq == 7);
  CHECK(r.done[0].sqlstate == "23505");
  CHECK(r.done[1].seq == 8);
  CHECK(r.done[1].sqlstate.empty());
  CHECK(r.done[1].error == kSkippedToSync);
  CHECK_FALSE(r.t.skipping);
}

namespace {

Expect named(char request, std::string statement, std::optional<std::string> portal, std::vector<int64_t> seqs = {}) {
  Expect e = expect(request, std::move(seqs));
  e.statement = std::move(statement);
  e.portal = std::move(portal);
  return e;
}

}  // namespace

TEST_CASE("an error at Bind is the outcome of the Execute of that portal") {
  Replay r;
  r.t.expect(named('P', "", std::nullopt));
  r.t.expect(named('B', "", ""));
  r.t.expect(named('E', "", "", {7}));
  r.t.expect(expect('S'));
  r.feed('1');
  r.feed('E', error_body("22012", "division by zero"));
  REQUIRE(r.done.size() == 1);
  CHECK(r.done[0].seq == 7);
  CHECK(r.done[0].sqlstate == "22012");
  CHECK(r.done[0].error == "division by zero");
  CHECK(r.feed('Z', "E") == Verdict::relay);
  CHECK(r.t.pending.empty());
}

TEST_CASE("an error at Parse or Describe fails the Executes of what it made, and skips the others") {
  Replay r;
  r.t.expect(named('P', "s1", std::nullopt));
  r.t.expect(named('B', "s1", "p1"));
  r.t.expect(named('E', "", "p1", {7}));
  r.t.expect(named('B', "s0", "p2"));
  r.t.expect(named('E', "", "p2", {8}));
  r.t.expect(expect('S'));
  r.t.expect(named('B', "s0", "p3"));
  r.t.expect(named('D', "", "p3"));
  r.t.expect(named('E', "", "p3", {9}));
  r.t.expect(expect('S'));
  r.feed('E', error_body("25P02", "current transaction is aborted"));
  r.feed('Z', "E");
  r.feed('2');
  r.feed('E', error_body("34000", "portal does not exist"));
  r.feed('Z', "I");
  REQUIRE(r.done.size() == 3);
  CHECK(r.done[0].seq == 7);
  CHECK(r.done[0].sqlstate == "25P02");
  CHECK(r.done[1].seq == 8);
  CHECK(r.done[1].error == kSkippedToSync);
  CHECK(r.done[2].seq == 9);
  CHECK(r.done[2].sqlstate == "34000");
  CHECK(r.t.pending.empty());
}

TEST_CASE("a statement parsed again after the failed one is skipped, not failed") {
  Replay r;
  r.t.expect(named('P', "", std::nullopt));
  r.t.expect(named('B', "", ""));
  r.t.expect(named('E', "", "", {7}));
  r.t.expect(named('P', "", std::nullopt));
  r.t.expect(named('B', "", ""));
  r.t.expect(named('E', "", "", {8}));
  r.t.expect(expect('S'));
  r.feed('E', error_body("42P01", "relation does not exist"));
  REQUIRE(r.done.size() == 2);
  CHECK(r.done[0].sqlstate == "42P01");
  CHECK(r.done[1].sqlstate.empty());
  CHECK(r.done[1].error == kSkippedToSync);
}

TEST_CASE("after an error with no Sync sent yet, the tracker knows the server skips until one is") {
  Replay r;
  r.t.expect(named('P', "", std::nullopt));
  Expect lookup = expect('Q');
  lookup.internal = true;
  lookup.function_lookup = 1234;
  r.t.expect(lookup);
  r.feed('E', error_body("42601", "syntax error"));
  CHECK(r.t.skipping);
  CHECK(r.t.pending.empty());
  REQUIRE(r.t.skipped_internal.size() == 1);
  CHECK(r.t.skipped_internal[0].function_lookup == 1234);
  r.t.expect(expect('S'));
  CHECK_FALSE(r.t.skipping);
  CHECK(r.feed('Z', "I") == Verdict::relay);
  CHECK(r.t.pending.empty());
}

TEST_CASE("replies to injected requests are dropped and their error replaced") {
  Replay r;
  r.t.expect(expect('P', {}, true));
  r.t.expect(expect('B', {}, true));
  Expect e = expect('E', {}, true);
  std::string mine;
  write_error(mine, "ERROR", "42501", "pgwarden: denied");
  e.error = mine;
  r.t.expect(e);
  r.t.expect(expect('S'));
  CHECK(r.feed('1') == Verdict::drop);
  CHECK(r.feed('2') == Verdict::drop);
  CHECK(r.feed('E', error_body("42501", "from the DO block")) == Verdict::replace);
  CHECK(r.replacement == mine);
  CHECK(r.feed('Z', "E") == Verdict::relay);
  CHECK(r.t.pending.empty());
}

TEST_CASE("notices and parameter status pass through without consuming a request") {
  Replay r;
  r.t.expect(expect('E', {5}));
  CHECK(r.feed('N') == Verdict::relay);
  CHECK(r.feed('S', std::string("a\0b\0", 4)) == Verdict::relay);
  CHECK(r.feed('A') == Verdict::relay);
  REQUIRE(r.t.current());
  r.feed('D');
  r.feed('s');
  CHECK(r.t.pending.empty());
  REQUIRE(r.done.size() == 1);
  CHECK(!r.done[0].rows);
}

TEST_CASE("rows are read from command tags") {
  CHECK(rows_from_tag("INSERT 0 12") == 12);
  CHECK(rows_from_tag("COPY 100000") == 100000);
  CHECK(!rows_from_tag("BEGIN"));
  CHECK(!rows_from_tag("CREATE TABLE"));
}

TEST_CASE("a Sync sent during COPY FROM STDIN is read as COPY data and gets no ReadyForQuery") {
  Replay r;
  r.t.expect(expect('P'));
  r.t.expect(expect('B'));
  r.t.expect(expect('E', {5}));
  r.t.expect(expect('S'));  // libpq's Sync right after the Execute of a COPY
  r.t.client_copy_end();
  r.t.expect(expect('S'));  // and the one after CopyDone
  r.t.expect(expect('Q', {6}));
  r.feed('1');
  r.feed('2');
  r.feed('G');
  r.feed('C', tag("COPY 2"));
  CHECK(r.t.ignored_syncs == 1);
  r.feed('Z', "I");
  REQUIRE(r.t.pending.size() == 1);
  CHECK(r.t.pending.front().request == 'Q');
  r.feed('T');
  r.feed('C', tag("SELECT 3"));
  r.feed('Z', "I");
  REQUIRE(r.done.size() == 2);
  CHECK(r.done[0].rows == 2);
  CHECK(r.done[1].seq == 6);
  CHECK(r.done[1].rows == 3);
  CHECK(r.t.pending.empty());
}

TEST_CASE("a COPY FROM STDIN ended by CopyFail skips to the Sync after it") {
  Replay r;
  r.t.expect(expect('P'));
  r.t.expect(expect('B'));
  r.t.expect(expect('E', {5}));
  r.t.expect(expect('S'));
  r.t.client_copy_end();
  r.t.expect(expect('S'));
  r.feed('1');
  r.feed('2');
  r.feed('G');
  r.feed('E', error_body("57014", "COPY from stdin failed: no"));
  CHECK(r.t.ignored_syncs == 1);
  REQUIRE(r.t.pending.size() == 1);
  r.feed('Z', "I");
  CHECK(r.t.pending.empty());
  REQUIRE(r.done.size() == 1);
  CHECK(r.done[0].sqlstate == "57014");
}

TEST_CASE("each COPY FROM STDIN of a query ignores the Syncs sent during its own data") {
  Replay r;
  r.t.expect(expect('Q', {1, 2}));
  r.t.expect(expect('S'));  // during the first COPY's data
  r.t.client_copy_end();
  r.t.expect(expect('S'));  // during the second's
  r.t.client_copy_end();
  r.t.expect(expect('S'));  // after both: answered
  r.feed('G');
  r.feed('C', tag("COPY 1"));
  r.feed('G');
  r.feed('C', tag("COPY 2"));
  CHECK(r.t.ignored_syncs == 2);
  r.feed('Z', "I");
  REQUIRE(r.t.pending.size() == 1);
  r.feed('Z', "I");
  CHECK(r.t.pending.empty());
  REQUIRE(r.done.size() == 2);
  CHECK(r.done[1].rows == 2);
}
