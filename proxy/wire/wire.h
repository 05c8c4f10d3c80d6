// The PostgreSQL v3 wire format: framing of byte streams into messages, bounds-checked reading of
// message bodies, and building of the messages pgwarden itself sends. Nothing here trusts a length
// that came from the network: every read is checked against what was actually received.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgw {

// Protocol codes carried in the first int32 of an untyped (startup-phase) packet.
inline constexpr int32_t kProtocolV3 = 196608;        // 3.0
inline constexpr int32_t kSslRequestCode = 80877103;
inline constexpr int32_t kGssEncRequestCode = 80877104;
inline constexpr int32_t kCancelRequestCode = 80877102;

// Limits of SPEC section 10.
inline constexpr size_t kMaxStartupPacket = 10 * 1024;

// One typed message: its type byte and its body (without the type byte and length word).
// The view points into the framer's buffer and is valid until the next call that feeds it.
struct Message {
  char type = 0;
  std::string_view body;
  // The whole message as it appeared on the wire, for relaying it unchanged.
  std::string_view raw;
};

// What went wrong with a byte stream; the connection carrying it is closed.
struct FrameError {
  std::string what;
};

// Splits a byte stream into typed messages. Bytes are appended with feed(); next() yields each
// complete message, nullopt when more bytes are needed, or sets `error` and yields nullopt when
// the stream is malformed (a length below 4, or above the configured limit).
class Framer {
 public:
  explicit Framer(size_t max_message) : max_message_(max_message) {}

  void feed(const char* data, size_t len);
  // Space for at least `want` bytes at the end of the buffer, for a socket read to land in
  // directly; wrote() then accounts for the bytes actually read.
  char* write_space(size_t want, size_t* got);
  void wrote(size_t n);
  std::optional<Message> next();
  // Drops consumed bytes; call once all messages returned by next() have been used.
  void compact();
  // Bytes received but not yet consumed as messages.
  size_t buffered() const { return len_ - pos_; }
  // Takes the unconsumed bytes out, leaving the framer empty (used when a stream changes hands).
  std::string take_rest();
  const std::optional<FrameError>& error() const { return error_; }

 private:
  void reserve(size_t extra);

  std::unique_ptr<char[]> buf_;
  size_t cap_ = 0;
  size_t len_ = 0;
  size_t pos_ = 0;
  size_t max_message_;
  std::optional<FrameError> error_;
};

// Reads an untyped startup-phase packet (int32 length including itself, then body) from the
// front of `data`. Yields the body, nullopt if incomplete; sets `error` on a bad length.
std::optional<std::string_view> read_startup_packet(std::string_view data, std::string* error);

// Bounds-checked reader over a message body. Any short read marks the reader failed; callers
// check ok() once at the end instead of after each field.
class Reader {
 public:
  explicit Reader(std::string_view body) : data_(body) {}

  uint8_t u8();
  int16_t i16();
  int32_t i32();
  // A NUL-terminated string; fails if there is no terminator.
  std::string_view cstr();
  std::string_view bytes(size_t n);
  std::string_view rest();
  bool at_end() const { return pos_ == data_.size(); }
  size_t remaining() const { return data_.size() - pos_; }
  bool ok() const { return ok_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Appends messages to an output buffer. begin() writes the type and a placeholder length that
// end() fills in, so a message can be built field by field without knowing its size first.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  Writer& begin(char type);
  Writer& begin_untyped();
  Writer& u8(uint8_t v);
  Writer& i16(int16_t v);
  Writer& i32(int32_t v);
  Writer& cstr(std::string_view s);
  Writer& bytes(std::string_view s);
  void end();

 private:
  std::string& out_;
  size_t start_ = 0;
};

// One field of an ErrorResponse or NoticeResponse ('S' severity, 'C' SQLSTATE, 'M' message...).
struct ErrorField {
  char code;
  std::string value;
};

// The fields of an ErrorResponse/NoticeResponse body.
std::vector<ErrorField> parse_error_fields(std::string_view body);
// The value of one field, or empty.
std::string_view error_field(const std::vector<ErrorField>& fields, char code);

// Builders of the messages pgwarden originates.
void write_error(std::string& out, std::string_view severity, std::string_view sqlstate,
                 std::string_view message, std::string_view detail = {}, std::string_view hint = {});
void write_notice(std::string& out, std::string_view message, std::string_view detail = {});
void write_ready(std::string& out, char tx_status);
void write_parameter_status(std::string& out, std::string_view name, std::string_view value);
void write_backend_key(std::string& out, int32_t pid, int32_t secret);
void write_auth(std::string& out, int32_t code, std::string_view payload = {});
void write_command_complete(std::string& out, std::string_view tag);
void write_row_description(std::string& out, const std::vector<std::string>& columns);
void write_data_row(std::string& out, const std::vector<std::optional<std::string>>& values);
void write_empty_query(std::string& out);

}  // namespace pgw
