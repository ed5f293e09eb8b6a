#include "policy/utf8.hpp"

namespace hostsweep::policy {
namespace {

bool is_unsafe(char32_t c) noexcept {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029 || (c >= 0x202a && c <= 0x202e) ||
         (c >= 0x2066 && c <= 0x2069);
}

// The length of the sequence `lead` starts, or 0 when it starts none.
std::size_t sequence_length(unsigned char lead) noexcept {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

}  // namespace

// Continuation bytes are checked against the exact ranges of Unicode table 3-7, which rules
// out overlong forms (C0, C1, E0 80-9F, F0 80-8F), surrogates (ED A0-BF) and code points above
// U+10FFFF (F4 90-, F5-FF).
Utf8Unit next_utf8_unit(std::string_view s) noexcept {
  const auto lead = static_cast<unsigned char>(s[0]);
  if (lead < 0x80) return {is_unsafe(lead) ? Utf8Kind::unsafe : Utf8Kind::plain, 1, lead};
  constexpr Utf8Unit kInvalid{Utf8Kind::invalid, 1, 0};
  const std::size_t length = sequence_length(lead);
  if (length == 0 || s.size() < length) return kInvalid;
  char32_t cp = lead & (length == 2 ? 0x1fu : length == 3 ? 0x0fu : 0x07u);
  unsigned char lo = 0x80, hi = 0xbf;  // the range of the second byte
  if (lead == 0xe0) lo = 0xa0;
  if (lead == 0xed) hi = 0x9f;
  if (lead == 0xf0) lo = 0x90;
  if (lead == 0xf4) hi = 0x8f;
  for (std::size_t i = 1; i < length; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < lo || c > hi) return kInvalid;
    lo = 0x80, hi = 0xbf;
    cp = (cp << 6) | (c & 0x3fu);
  }
  return {is_unsafe(cp) ? Utf8Kind::unsafe : Utf8Kind::plain, length, cp};
}

std::size_t incomplete_utf8_suffix(std::string_view s) noexcept {
  // A lead byte among the last three whose sequence runs past the end, with only
  // continuation bytes after it.
  for (std::size_t back = 1; back <= 3 && back <= s.size(); ++back) {
    const auto c = static_cast<unsigned char>(s[s.size() - back]);
    if ((c & 0xc0) == 0x80) continue;  // a continuation byte: look further back
    const std::size_t length = sequence_length(c);
    return length > back ? back : 0;
  }
  return 0;
}

}  // namespace hostsweep::policy
