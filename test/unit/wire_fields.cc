// The values inside RowDescription, DataRow and COPY rows, as masking reads and rewrites them.
#include <bit>

#include <catch2/catch.hpp>

#include "proxy/wire/fields.h"
#include "proxy/wire/wire.h"

using namespace pgw;

namespace {

std::string body_of(const std::string& message) { return message.substr(5); }

std::vector<std::optional<std::string>> copy_values(std::string_view row, const CopyFormat& f) {
  std::vector<CopyField> fields;
  REQUIRE(split_copy_row(row, f, &fields));
  std::vector<std::optional<std::string>> out;
  for (auto& x : fields) out.push_back(x.value);
  return out;
}

}  // namespace

TEST_CASE("RowDescription columns carry their source table and attribute") {
  std::string msg;
  Writer(msg).begin('T').i16(2)
      .cstr("e").i32(16384).i16(3).i32(25).i16(-1).i32(-1).i16(0)
      .cstr("n").i32(0).i16(0).i32(23).i16(4).i32(-1).i16(1).end();
  std::vector<FieldDesc> fields;
  std::string body = body_of(msg);
  REQUIRE(parse_row_description(body, &fields));
  REQUIRE(fields.size() == 2);
  CHECK(fields[0].name == "e");
  CHECK(fields[0].table_oid == 16384);
  CHECK(fields[0].attnum == 3);
  CHECK(fields[0].type_oid == 25);
  CHECK(fields[1].format == 1);
  CHECK_FALSE(parse_row_description(body_of(msg).substr(0, 20), &fields));
  CHECK_FALSE(parse_row_description(body_of(msg) + "x", &fields));
}

TEST_CASE("DataRow values round-trip and lengths are never trusted") {
  std::string msg;
  write_data_row(msg, {std::string("abc"), std::nullopt, std::string()});
  std::vector<std::optional<std::string_view>> values;
  std::string body = body_of(msg);
  REQUIRE(split_data_row(body, &values));
  REQUIRE(values.size() == 3);
  CHECK(*values[0] == "abc");
  CHECK_FALSE(values[1]);
  CHECK(values[2]->empty());
  values[0] = "masked value";
  std::string out;
  write_data_row_values(out, values);
  std::string rewritten = body_of(out);
  REQUIRE(split_data_row(rewritten, &values));
  CHECK(*values[0] == "masked value");
  CHECK(out.size() == msg.size() + 9);

  std::string lying;
  Writer(lying).begin('D').i16(1).i32(1000).bytes("abc").end();
  CHECK_FALSE(split_data_row(body_of(lying), &values));
  std::string negative;
  Writer(negative).begin('D').i16(1).i32(-2).end();
  CHECK_FALSE(split_data_row(body_of(negative), &values));
  std::string short_count;
  Writer(short_count).begin('D').i16(2).i32(1).bytes("a").end();
  CHECK_FALSE(split_data_row(body_of(short_count), &values));
  std::string trailing;
  Writer(trailing).begin('D').i16(1).i32(1).bytes("ab").end();
  CHECK_FALSE(split_data_row(body_of(trailing), &values));
}

TEST_CASE("COPY text rows: escapes, NULL markers and delimiters") {
  CopyFormat text = copy_format_defaults(false);
  auto v = copy_values("1\ta\\tb\\\\c\\n\t\\N\t\\x41\\101\t\n", text);
  REQUIRE(v.size() == 5);
  CHECK(*v[0] == "1");
  CHECK(*v[1] == "a\tb\\c\n");
  CHECK_FALSE(v[2]);
  CHECK(*v[3] == "AA");
  CHECK(v[4]->empty());
  std::string out;
  append_copy_field(out, "x\ty\\z\n|", text);
  CHECK(out == "x\\ty\\\\z\\n|");
  CopyFormat pipe = text;
  pipe.delimiter = '|';
  out.clear();
  append_copy_field(out, "a|b", pipe);
  CHECK(out == "a\\|b");
  v = copy_values(out + "|c\n", pipe);
  REQUIRE(v.size() == 2);
  CHECK(*v[0] == "a|b");
  std::vector<CopyField> fields;
  CHECK_FALSE(split_copy_row("dangling\\\n", text, &fields));
}

TEST_CASE("COPY CSV rows: quotes, escapes, embedded newlines and NULL") {
  CopyFormat csv = copy_format_defaults(true);
  auto v = copy_values("1,\"a,\"\"b\"\"\nc\",,\"\",x y\n", csv);
  REQUIRE(v.size() == 5);
  CHECK(*v[1] == "a,\"b\"\nc");
  CHECK_FALSE(v[2]);
  CHECK(v[3]->empty());
  CHECK(*v[4] == "x y");
  std::string out;
  append_copy_field(out, "say \"hi\", bye", csv);
  CHECK(out == "\"say \"\"hi\"\", bye\"");
  CopyFormat odd = csv;
  odd.delimiter = ';';
  odd.quote = '\'';
  odd.escape = '\\';
  odd.null = "NULL";
  v = copy_values("'it\\'s';NULL;'NULL'\n", odd);
  REQUIRE(v.size() == 3);
  CHECK(*v[0] == "it's");
  CHECK_FALSE(v[1]);
  CHECK(*v[2] == "NULL");
  out.clear();
  append_copy_field(out, "a'b\\c", odd);
  CHECK(out == "'a\\'b\\\\c'");
  std::vector<CopyField> fields;
  CHECK_FALSE(split_copy_row("\"open,1\n", csv, &fields));
}

TEST_CASE("binary numbers are read as PostgreSQL prints them") {
  auto be = [](uint64_t v, int bytes) {
    std::string out;
    for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
    return out;
  };
  CHECK(*binary_number_text(20, be(4111111111111111ull, 8)) == "4111111111111111");
  CHECK(*binary_number_text(23, be(static_cast<uint32_t>(-42), 4)) == "-42");
  CHECK(*binary_number_text(21, be(7, 2)) == "7");
  CHECK(*binary_number_text(701, be(std::bit_cast<uint64_t>(2.5), 8)) == "2.5");
  CHECK_FALSE(binary_number_text(23, be(1, 8)));
  CHECK_FALSE(binary_number_text(25, "abc"));
  // numeric 4111111111111111.50: weight 3, digits 4111 1111 1111 1111 5000, dscale 2.
  std::string numeric;
  Writer w(numeric);
  w.i16(5).i16(3).i16(0).i16(2).i16(4111).i16(1111).i16(1111).i16(1111).i16(5000);
  CHECK(*binary_number_text(1700, numeric) == "4111111111111111.50");
  std::string small;
  Writer(small).i16(1).i16(-1).i16(0x4000).i16(3).i16(120);
  CHECK(*binary_number_text(1700, small) == "-0.012");
  std::string zero;
  Writer(zero).i16(0).i16(0).i16(0).i16(0);
  CHECK(*binary_number_text(1700, zero) == "0");
  CHECK_FALSE(binary_number_text(1700, numeric.substr(0, 9)));
}
