#pragma once
// How the CLI writes text that it does not trust (anything a container can write: message
// ids, cron text, reasons, error messages that quote them) so that it can neither forge a
// line nor reach a terminal as an escape sequence: the one place for that escaping
// (FAILURE-MODES.md 21), for the text log, for messages on stderr, and for JSON.
//
// What is unsafe and what is invalid: hostsweep/policy/utf8.hpp, whose decoder this uses.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hostsweep::cli {

// For free text (a message on stderr): every byte of an unsafe character and every invalid
// byte becomes `\xNN`; everything else is kept as it is.
std::string escape_text(std::string_view raw);

// For a value in a text log line ` key=value`: as escape_text, and `\` is written `\\`, so
// each `\xNN` stands for exactly one byte of the value. A value that is empty or holds
// anything but printable ASCII other than `"` and `=` is put in double quotes (`"` inside
// written `\"`), so that the pairs of a line stay unambiguous. Ordinary ids stay bare.
std::string escape_log_value(std::string_view raw);

// A minimal streaming JSON writer for the CLI's --json output and the JSON log: objects,
// arrays, strings, numbers, booleans and null, with commas and escaping handled here.
// Strings are always valid UTF-8 and valid JSON whatever bytes they are given: unsafe
// characters are written `\uXXXX`, `"` and `\` escaped, and each invalid byte is replaced by
// U+FFFD (written `\ufffd`), one per byte, so the output is the same for the same input.
class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view name);
  JsonWriter& value(std::string_view text);
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  JsonWriter& value(std::int64_t number);
  JsonWriter& value(int number) { return value(static_cast<std::int64_t>(number)); }
  JsonWriter& value(bool flag);
  JsonWriter& null();
  template <typename T>
  JsonWriter& value(const std::optional<T>& maybe) {
    return maybe ? value(*maybe) : null();
  }
  template <typename T>
  JsonWriter& field(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }

  const std::string& str() const noexcept { return out_; }

 private:
  void before_value();
  std::string out_;
  std::vector<bool> first_;  // per open container: no element written yet
  bool after_key_ = false;
};

}  // namespace hostsweep::cli
