#include "json_writer.hpp"

namespace hostsweep::cli {
namespace {

enum class Kind { plain, unsafe, invalid };

// One character of the input: a well-formed UTF-8 sequence, or a single invalid byte.
struct Unit {
  Kind kind;
  std::size_t length;  // in bytes
  char32_t code_point;
};

bool is_unsafe(char32_t c) noexcept {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029 || (c >= 0x202a && c <= 0x202e) ||
         (c >= 0x2066 && c <= 0x2069);
}

// The unit at the start of `s` (not empty). Continuation bytes are checked against the exact
// ranges of Unicode table 3-7, which rules out overlong forms (C0, C1, E0 80-9F, F0 80-8F),
// surrogates (ED A0-BF) and code points above U+10FFFF (F4 90-, F5-FF).
Unit next_unit(std::string_view s) noexcept {
  const auto lead = static_cast<unsigned char>(s[0]);
  if (lead < 0x80) return {is_unsafe(lead) ? Kind::unsafe : Kind::plain, 1, lead};
  constexpr Unit kInvalid{Kind::invalid, 1, 0};
  std::size_t length = 0;
  char32_t cp = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // the range of the second byte
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2, cp = lead & 0x1fu;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3, cp = lead & 0x0fu;
    if (lead == 0xe0) lo = 0xa0;
    if (lead == 0xed) hi = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4, cp = lead & 0x07u;
    if (lead == 0xf0) lo = 0x90;
    if (lead == 0xf4) hi = 0x8f;
  } else {
    return kInvalid;
  }
  if (s.size() < length) return kInvalid;
  for (std::size_t i = 1; i < length; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < lo || c > hi) return kInvalid;
    lo = 0x80, hi = 0xbf;
    cp = (cp << 6) | (c & 0x3fu);
  }
  return {is_unsafe(cp) ? Kind::unsafe : Kind::plain, length, cp};
}

constexpr char kHex[] = "0123456789abcdef";

void append_byte_escape(std::string& out, unsigned char byte) {
  out += "\\x";
  out += kHex[byte >> 4];
  out += kHex[byte & 0xf];
}

bool needs_quotes(std::string_view raw) noexcept {
  if (raw.empty()) return true;
  for (char c : raw) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '"' || c == '=') return true;
  }
  return false;
}

std::string escape(std::string_view raw, bool log_value) {
  const bool quoted = log_value && needs_quotes(raw);
  std::string out;
  out.reserve(raw.size() + 2);
  if (quoted) out += '"';
  while (!raw.empty()) {
    const Unit u = next_unit(raw);
    if (u.kind == Kind::plain) {
      if (log_value && (raw[0] == '\\' || raw[0] == '"')) out += '\\';
      out.append(raw.data(), u.length);
    } else {
      for (std::size_t i = 0; i < u.length; ++i) append_byte_escape(out, static_cast<unsigned char>(raw[i]));
    }
    raw.remove_prefix(u.length);
  }
  if (quoted) out += '"';
  return out;
}

}  // namespace

std::string escape_text(std::string_view raw) { return escape(raw, false); }

std::string escape_log_value(std::string_view raw) { return escape(raw, true); }

void JsonWriter::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_ += ',';
    first_.back() = false;
  }
}

JsonWriter& JsonWriter::begin_object() {
  before_value();
  out_ += '{';
  first_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  out_ += '}';
  first_.pop_back();
  return *this;
}

JsonWriter& JsonWriter::begin_array() {
  before_value();
  out_ += '[';
  first_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  out_ += ']';
  first_.pop_back();
  return *this;
}

JsonWriter& JsonWriter::key(std::string_view name) {
  value(name);
  out_ += ':';
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(std::string_view text) {
  before_value();
  out_.reserve(out_.size() + text.size() + 2);
  out_ += '"';
  while (!text.empty()) {
    const Unit u = next_unit(text);
    if (u.kind == Kind::invalid) {
      out_ += "\\ufffd";
    } else if (u.kind == Kind::unsafe) {
      out_ += "\\u";  // every unsafe code point is below U+10000: four digits
      for (int shift = 12; shift >= 0; shift -= 4) out_ += kHex[(u.code_point >> shift) & 0xf];
    } else {
      if (text[0] == '"' || text[0] == '\\') out_ += '\\';
      out_.append(text.data(), u.length);
    }
    text.remove_prefix(u.length);
  }
  out_ += '"';
  return *this;
}

JsonWriter& JsonWriter::value(std::int64_t number) {
  before_value();
  out_ += std::to_string(number);
  return *this;
}

JsonWriter& JsonWriter::value(bool flag) {
  before_value();
  out_ += flag ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::null() {
  before_value();
  out_ += "null";
  return *this;
}

}  // namespace hostsweep::cli
