#include "proxy/wire/wire.h"

#include <arpa/inet.h>

#include <cstring>

namespace pgw {

namespace {

int32_t load_i32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return static_cast<int32_t>(ntohl(v));
}

void store_i32(char* p, int32_t v) {
  uint32_t n = htonl(static_cast<uint32_t>(v));
  std::memcpy(p, &n, 4);
}

}  // namespace

void Framer::reserve(size_t extra) {
  if (pos_ > 0 && (pos_ == len_ || len_ + extra > cap_)) {
    std::memmove(buf_.get(), buf_.get() + pos_, len_ - pos_);
    len_ -= pos_;
    pos_ = 0;
  }
  if (len_ + extra <= cap_) return;
  size_t cap = cap_ ? cap_ : 16384;
  while (cap < len_ + extra) cap *= 2;
  auto grown = std::make_unique<char[]>(cap);
  if (len_) std::memcpy(grown.get(), buf_.get(), len_);
  buf_ = std::move(grown);
  cap_ = cap;
}

void Framer::feed(const char* data, size_t len) {
  if (len == 0) return;  // a framer that has no buffer yet has nowhere to copy nothing to
  reserve(len);
  std::memcpy(buf_.get() + len_, data, len);
  len_ += len;
}

char* Framer::write_space(size_t want, size_t* got) {
  reserve(want);
  *got = cap_ - len_;
  return buf_.get() + len_;
}

void Framer::wrote(size_t n) { len_ += n; }

std::optional<Message> Framer::next() {
  if (error_) return std::nullopt;
  size_t avail = len_ - pos_;
  if (avail < 5) return std::nullopt;
  const char* p = buf_.get() + pos_;
  int32_t len = load_i32(p + 1);
  if (len < 4) {
    error_ = FrameError{"message of type '" + std::string(1, p[0]) + "' has invalid length " +
                        std::to_string(len)};
    return std::nullopt;
  }
  if (static_cast<size_t>(len) > max_message_) {
    error_ = FrameError{"message of type '" + std::string(1, p[0]) + "' has length " +
                        std::to_string(len) + ", over the limit of " + std::to_string(max_message_)};
    return std::nullopt;
  }
  size_t total = 1 + static_cast<size_t>(len);
  if (avail < total) return std::nullopt;
  Message m;
  m.type = p[0];
  m.body = std::string_view(p + 5, total - 5);
  m.raw = std::string_view(p, total);
  pos_ += total;
  return m;
}

void Framer::compact() {
  if (pos_ == len_) pos_ = len_ = 0;
}

std::string Framer::take_rest() {
  std::string rest(buf_.get() + pos_, len_ - pos_);
  pos_ = len_ = 0;
  return rest;
}

std::optional<std::string_view> read_startup_packet(std::string_view data, std::string* error) {
  if (data.size() < 4) return std::nullopt;
  int32_t len = load_i32(data.data());
  if (len < 8 || static_cast<size_t>(len) > kMaxStartupPacket) {
    *error = "startup packet has length " + std::to_string(len) + " (allowed 8 to " +
             std::to_string(kMaxStartupPacket) + ")";
    return std::nullopt;
  }
  if (data.size() < static_cast<size_t>(len)) return std::nullopt;
  return data.substr(4, static_cast<size_t>(len) - 4);
}

uint8_t Reader::u8() {
  if (!ok_ || remaining() < 1) {
    ok_ = false;
    return 0;
  }
  return static_cast<uint8_t>(data_[pos_++]);
}

int16_t Reader::i16() {
  if (!ok_ || remaining() < 2) {
    ok_ = false;
    return 0;
  }
  uint16_t v;
  std::memcpy(&v, data_.data() + pos_, 2);
  pos_ += 2;
  return static_cast<int16_t>(ntohs(v));
}

int32_t Reader::i32() {
  if (!ok_ || remaining() < 4) {
    ok_ = false;
    return 0;
  }
  int32_t v = load_i32(data_.data() + pos_);
  pos_ += 4;
  return v;
}

std::string_view Reader::cstr() {
  if (!ok_) return {};
  size_t end = data_.find('\0', pos_);
  if (end == std::string_view::npos) {
    ok_ = false;
    return {};
  }
  std::string_view s = data_.substr(pos_, end - pos_);
  pos_ = end + 1;
  return s;
}

std::string_view Reader::bytes(size_t n) {
  if (!ok_ || remaining() < n) {
    ok_ = false;
    return {};
  }
  std::string_view s = data_.substr(pos_, n);
  pos_ += n;
  return s;
}

std::string_view Reader::rest() {
  if (!ok_) return {};
  std::string_view s = data_.substr(pos_);
  pos_ = data_.size();
  return s;
}

Writer& Writer::begin(char type) {
  start_ = out_.size() + 1;
  out_.push_back(type);
  out_.append(4, '\0');
  return *this;
}

Writer& Writer::begin_untyped() {
  start_ = out_.size();
  out_.append(4, '\0');
  return *this;
}

Writer& Writer::u8(uint8_t v) {
  out_.push_back(static_cast<char>(v));
  return *this;
}

Writer& Writer::i16(int16_t v) {
  uint16_t n = htons(static_cast<uint16_t>(v));
  out_.append(reinterpret_cast<const char*>(&n), 2);
  return *this;
}

Writer& Writer::i32(int32_t v) {
  char b[4];
  store_i32(b, v);
  out_.append(b, 4);
  return *this;
}

Writer& Writer::cstr(std::string_view s) {
  out_.append(s);
  out_.push_back('\0');
  return *this;
}

Writer& Writer::bytes(std::string_view s) {
  out_.append(s);
  return *this;
}

void Writer::end() { store_i32(out_.data() + start_, static_cast<int32_t>(out_.size() - start_)); }

std::vector<ErrorField> parse_error_fields(std::string_view body) {
  std::vector<ErrorField> fields;
  Reader r(body);
  while (r.ok() && !r.at_end()) {
    char code = static_cast<char>(r.u8());
    if (code == '\0') break;
    std::string_view v = r.cstr();
    if (!r.ok()) break;
    fields.push_back({code, std::string(v)});
  }
  return fields;
}

std::string_view error_field(const std::vector<ErrorField>& fields, char code) {
  for (const auto& f : fields)
    if (f.code == code) return f.value;
  return {};
}

void write_error(std::string& out, std::string_view severity, std::string_view sqlstate,
                 std::string_view message, std::string_view detail, std::string_view hint) {
  Writer w(out);
  w.begin('E');
  w.u8('S').cstr(severity).u8('V').cstr(severity).u8('C').cstr(sqlstate).u8('M').cstr(message);
  if (!detail.empty()) w.u8('D').cstr(detail);
  if (!hint.empty()) w.u8('H').cstr(hint);
  w.u8(0).end();
}

void write_notice(std::string& out, std::string_view message, std::string_view detail) {
  Writer w(out);
  w.begin('N');
  w.u8('S').cstr("NOTICE").u8('V').cstr("NOTICE").u8('C').cstr("00000").u8('M').cstr(message);
  if (!detail.empty()) w.u8('D').cstr(detail);
  w.u8(0).end();
}

void write_ready(std::string& out, char tx_status) {
  Writer(out).begin('Z').u8(static_cast<uint8_t>(tx_status)).end();
}

void write_parameter_status(std::string& out, std::string_view name, std::string_view value) {
  Writer(out).begin('S').cstr(name).cstr(value).end();
}

void write_backend_key(std::string& out, int32_t pid, int32_t secret) {
  Writer(out).begin('K').i32(pid).i32(secret).end();
}

void write_auth(std::string& out, int32_t code, std::string_view payload) {
  Writer(out).begin('R').i32(code).bytes(payload).end();
}

void write_command_complete(std::string& out, std::string_view tag) {
  Writer(out).begin('C').cstr(tag).end();
}

void write_row_description(std::string& out, const std::vector<std::string>& columns) {
  Writer w(out);
  w.begin('T').i16(static_cast<int16_t>(columns.size()));
  for (const auto& c : columns) w.cstr(c).i32(0).i16(0).i32(25).i16(-1).i32(-1).i16(0);
  w.end();
}

void write_data_row(std::string& out, const std::vector<std::optional<std::string>>& values) {
  Writer w(out);
  w.begin('D').i16(static_cast<int16_t>(values.size()));
  for (const auto& v : values) {
    if (!v) {
      w.i32(-1);
    } else {
      w.i32(static_cast<int32_t>(v->size())).bytes(*v);
    }
  }
  w.end();
}

void write_empty_query(std::string& out) { Writer(out).begin('I').end(); }

}  // namespace pgw
