#include "policy/output_lines.hpp"

#include <algorithm>
#include <utility>

#include "policy/utf8.hpp"

namespace hostsweep::policy {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_byte_escape(std::string& out, unsigned char byte) {
  out += "\\x";
  out += kHex[byte >> 4];
  out += kHex[byte & 0xf];
}

}  // namespace

const char* to_string(OutputStream stream) noexcept { return stream == OutputStream::out ? "stdout" : "stderr"; }

LineFramer::LineFramer(std::size_t max_line) : max_line_(std::max<std::size_t>(max_line, 4)) {
  pending_.reserve(max_line_);
}

std::size_t LineFramer::incomplete_tail(std::string_view s) noexcept {
  const std::size_t cut = incomplete_utf8_suffix(s);
  return cut < s.size() ? cut : 0;  // a piece of nothing but a torn character is kept whole
}

void escape_output(std::string& out, std::string_view raw) {
  while (!raw.empty()) {
    // Plain ASCII, the common case, a run at a time.
    std::size_t run = 0;
    while (run < raw.size()) {
      const auto c = static_cast<unsigned char>(raw[run]);
      if (c < 0x20 || c >= 0x7f || c == '\\') break;
      ++run;
    }
    out.append(raw.data(), run);
    raw.remove_prefix(run);
    if (raw.empty()) break;
    if (raw[0] == '\\') {
      out += "\\\\";
      raw.remove_prefix(1);
      continue;
    }
    const Utf8Unit u = next_utf8_unit(raw);
    if (u.kind == Utf8Kind::plain) out.append(raw.data(), u.length);
    else {
      for (std::size_t i = 0; i < u.length; ++i) append_byte_escape(out, static_cast<unsigned char>(raw[i]));
    }
    raw.remove_prefix(u.length);
  }
}

void append_log_line(std::string& out, TimePoint at, OutputStream stream, bool partial, std::string_view content) {
  append_log_line(out, format_iso8601(at), stream, partial, content);
}

void append_log_line(std::string& out, std::string_view time, OutputStream stream, bool partial,
                     std::string_view content) {
  out += time;
  out += ' ';
  out += to_string(stream);
  out += partial ? " P " : " F ";
  escape_output(out, content);
  out += '\n';
}

TailBuffer::TailBuffer(std::size_t capacity) : ring_(std::max<std::size_t>(capacity, 1)) {}

void TailBuffer::append(std::string_view bytes) {
  written_ += bytes.size();
  if (bytes.size() > ring_.size()) bytes = bytes.substr(bytes.size() - ring_.size());
  while (!bytes.empty()) {
    const std::size_t n = std::min(bytes.size(), ring_.size() - next_);
    std::copy_n(bytes.data(), n, ring_.begin() + static_cast<std::ptrdiff_t>(next_));
    next_ = (next_ + n) % ring_.size();
    bytes.remove_prefix(n);
  }
}

std::string TailBuffer::tail(std::size_t max_lines) const {
  std::string text;
  if (written_ <= ring_.size()) {
    text.assign(ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(written_));
  } else {
    text.assign(ring_.begin() + static_cast<std::ptrdiff_t>(next_), ring_.end());
    text.append(ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(next_));
    // The first line was cut by the ring: left out, unless it is all there is.
    const auto nl = text.find('\n');
    if (nl != std::string::npos && nl + 1 < text.size()) text.erase(0, nl + 1);
  }
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (max_lines == 0) return {};
  // Back from the end, to the start of the max_lines-th line.
  std::size_t start = text.size();
  std::size_t lines = 0;
  while (start > 0) {
    const auto nl = text.rfind('\n', start - 1);
    if (nl == std::string::npos) {
      start = 0;
      break;
    }
    if (++lines == max_lines) {
      start = nl + 1;
      break;
    }
    start = nl;
  }
  std::string_view kept = std::string_view(text).substr(start);
  std::string out;
  out.reserve(kept.size() + 16);
  while (!kept.empty()) {
    const auto nl = kept.find('\n');
    escape_output(out, kept.substr(0, nl));
    if (nl == std::string_view::npos) break;
    out += '\n';
    kept.remove_prefix(nl + 1);
  }
  return out;
}

bool LineRate::admit(Duration now, std::uint64_t& dropped) noexcept {
  if (window_start_ < Duration::zero() || now - window_start_ >= std::chrono::seconds{1} || now < window_start_) {
    window_start_ = now;
    passed_ = 0;
  }
  if (passed_ >= per_second_) {
    ++dropped_;
    return false;
  }
  ++passed_;
  dropped = std::exchange(dropped_, 0);
  return true;
}

std::string rotated_name(std::string_view base, int n) { return std::string(base) + "." + std::to_string(n); }

}  // namespace hostsweep::policy
