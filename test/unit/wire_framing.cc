#include <catch2/catch.hpp>

#include <cstring>

#include "proxy/wire/wire.h"

using namespace pgw;

namespace {
std::string msg(char type, std::string_view body) {
  std::string out;
  Writer(out).begin(type).bytes(body).end();
  return out;
}
}  // namespace

TEST_CASE("framer splits a stream at message boundaries, whatever the chunking") {
  std::string stream = msg('Q', std::string("SELECT 1") + '\0') + msg('X', "");
  for (size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    Framer f(1 << 20);
    std::vector<std::pair<char, std::string>> got;
    for (size_t i = 0; i < stream.size(); i += chunk) {
      f.feed(stream.data() + i, std::min(chunk, stream.size() - i));
      while (auto m = f.next()) got.emplace_back(m->type, std::string(m->body));
      f.compact();
    }
    REQUIRE(!f.error());
    REQUIRE(got.size() == 2);
    CHECK(got[0].first == 'Q');
    CHECK(got[0].second == std::string("SELECT 1") + '\0');
    CHECK(got[1].first == 'X');
    CHECK(got[1].second.empty());
  }
}

TEST_CASE("a framer fed no bytes before any others stays empty and frames what follows") {
  // Found by the frontend fuzz target: feeding nothing to a framer with no buffer yet copied
  // nothing to a null pointer (undefined behaviour).
  Framer f(1 << 20);
  f.feed("", 0);
  CHECK(f.buffered() == 0);
  CHECK_FALSE(f.next());
  std::string query = msg('Q', std::string("SELECT 1") + '\0');
  f.feed(query.data(), query.size());
  auto m = f.next();
  REQUIRE(m);
  CHECK(m->raw == query);
  CHECK_FALSE(f.error());
}

TEST_CASE("framer refuses lengths below 4 and above the limit") {
  Framer small(100);
  std::string bad = "Q";
  bad += std::string("\x00\x00\x00\x03", 4);
  small.feed(bad.data(), bad.size());
  CHECK(!small.next());
  REQUIRE(small.error());
  CHECK(small.error()->what.find("invalid length 3") != std::string::npos);

  Framer limited(100);
  std::string huge = "D";
  huge += std::string("\x80\x00\x00\x00", 4);
  limited.feed(huge.data(), huge.size());
  CHECK(!limited.next());
  REQUIRE(limited.error());

  Framer over(100);
  std::string big = msg('D', std::string(200, 'x'));
  over.feed(big.data(), big.size());
  CHECK(!over.next());
  REQUIRE(over.error());
  CHECK(over.error()->what.find("over the limit of 100") != std::string::npos);
}

TEST_CASE("framer keeps a partial message across reads into its own buffer") {
  Framer f(1 << 20);
  std::string stream = msg('D', std::string(100000, 'a'));
  size_t off = 0;
  while (off < stream.size()) {
    size_t got = 0;
    char* p = f.write_space(4096, &got);
    size_t n = std::min(got, stream.size() - off);
    std::memcpy(p, stream.data() + off, n);
    f.wrote(n);
    off += n;
    if (off < stream.size()) CHECK(!f.next());
  }
  auto m = f.next();
  REQUIRE(m);
  CHECK(m->body.size() == 100000);
  CHECK(m->raw.size() == stream.size());
}

TEST_CASE("startup packets are bounded") {
  std::string err;
  std::string pkt;
  Writer(pkt).begin_untyped().i32(kProtocolV3).cstr("user").cstr("alice").u8(0).end();
  auto body = read_startup_packet(pkt, &err);
  REQUIRE(body);
  CHECK(body->size() == pkt.size() - 4);
  CHECK(!read_startup_packet(pkt.substr(0, 6), &err));
  CHECK(err.empty());

  std::string big;
  Writer(big).begin_untyped().i32(kProtocolV3).bytes(std::string(kMaxStartupPacket, 'x')).end();
  CHECK(!read_startup_packet(big, &err));
  CHECK(err.find("startup packet has length") != std::string::npos);
}

TEST_CASE("reader fails on short input instead of reading past the end") {
  std::string body("\x00\x01", 2);
  Reader r(body);
  CHECK(r.i16() == 1);
  CHECK(r.ok());
  r.i32();
  CHECK(!r.ok());
  Reader s(std::string_view("abc", 3));
  s.cstr();
  CHECK(!s.ok());
}

TEST_CASE("error fields round-trip") {
  std::string out;
  write_error(out, "ERROR", "42501", "denied", "because");
  Framer f(1 << 20);
  f.feed(out.data(), out.size());
  auto m = f.next();
  REQUIRE(m);
  CHECK(m->type == 'E');
  auto fields = parse_error_fields(m->body);
  CHECK(error_field(fields, 'C') == "42501");
  CHECK(error_field(fields, 'M') == "denied");
  CHECK(error_field(fields, 'D') == "because");
}
