#pragma once
// Reading untrusted bytes one character at a time: the one decoder behind every escaping of
// text a container wrote (the CLI's logs and JSON, the container output log). Pure.
//
// What is unsafe: C0 controls (\n, \r, ESC, NUL ...), DEL, C1 controls (U+0080-U+009F),
// U+2028 and U+2029 (line breaks to some viewers), and the bidi embedding, override and
// isolate controls (U+202A-U+202E, U+2066-U+2069: they reorder what a reader sees). What is
// invalid: any byte that is not part of a well-formed UTF-8 sequence (Unicode table 3-7: no
// overlong form, no encoded surrogate, nothing above U+10FFFF; a truncated sequence is
// invalid byte by byte).

#include <cstddef>
#include <string_view>

namespace hostsweep::policy {

enum class Utf8Kind { plain, unsafe, invalid };

// One character of the input: a well-formed UTF-8 sequence, or a single invalid byte.
struct Utf8Unit {
  Utf8Kind kind;
  std::size_t length;  // in bytes, at least 1
  char32_t code_point;  // 0 for an invalid byte
};

// The unit at the start of `s`, which must not be empty.
Utf8Unit next_utf8_unit(std::string_view s) noexcept;

// How many bytes at the end of `s` are the start of a UTF-8 sequence that `s` cuts short
// (0 to 3): where a line split at a length bound should cut instead, so that a character is
// never torn in two.
std::size_t incomplete_utf8_suffix(std::string_view s) noexcept;

}  // namespace hostsweep::policy
