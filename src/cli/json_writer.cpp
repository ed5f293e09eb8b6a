#include "json_writer.hpp"

#include "policy/utf8.hpp"

namespace hostsweep::cli {
namespace {

using policy::next_utf8_unit;
using Kind = policy::Utf8Kind;

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
    const policy::Utf8Unit u = next_utf8_unit(raw);
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
    const policy::Utf8Unit u = next_utf8_unit(text);
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
