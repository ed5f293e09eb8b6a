#pragma once
// A container's output as log lines: the pure part (no I/O, time a parameter) of what
// runtime/container_output.hpp reads from its pipes and os/log_file.hpp writes.
//
//  * LineFramer cuts a byte stream into lines of at most `max_line` bytes: a longer line is
//    split into pieces (each but the last marked partial), never inside a UTF-8 character.
//  * append_log_line formats one line for the file, the CRI logging format with a UTC time:
//      2026-03-08T07:00:00.123Z stdout F the line as written
//    F a full line, P a piece of a longer line continued on the next. The content is escaped
//    (escape_output): every unsafe character and invalid byte as \xNN, `\` as `\\`, so a
//    line holds no control byte and is valid UTF-8 whatever the container wrote.
//  * TailBuffer keeps the last bytes of a stream in a fixed buffer; tail() gives its last
//    lines, escaped (the stderr tail of container.exited).
//  * LineRate bounds the lines per second that go to the daemon's own log (journal mode).
//  * must_rotate decides when the file is rotated; rotated_name names the rotated files.
//
// Memory: each object's buffers are sized at construction and never grow.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hostsweep/policy/timestamp.hpp"

namespace hostsweep::policy {

enum class OutputStream { out, err };
const char* to_string(OutputStream stream) noexcept;  // "stdout", "stderr"

class LineFramer {
 public:
  explicit LineFramer(std::size_t max_line);

  // Feeds bytes; calls on_line(std::string_view content, bool partial) for each full line
  // (without its '\n') and each piece of an over-long one. The views are valid during the call.
  template <typename OnLine>
  void feed(std::string_view bytes, OnLine&& on_line) {
    while (!bytes.empty()) {
      const std::size_t room = max_line_ - pending_.size();
      const std::size_t nl = bytes.substr(0, room + 1).find('\n');
      if (nl != std::string_view::npos) {
        emit_line(bytes.substr(0, nl), on_line);
        bytes.remove_prefix(nl + 1);
      } else if (bytes.size() <= room) {
        pending_.append(bytes);
        return;
      } else {
        pending_.append(bytes.substr(0, room));
        bytes.remove_prefix(room);
        // Cut before a character the bound would tear; what is cut off starts the next piece.
        const std::size_t keep = incomplete_tail(pending_);
        std::string_view piece(pending_.data(), pending_.size() - keep);
        on_line(piece, true);
        pending_.erase(0, piece.size());
      }
    }
  }

  // At the end of the stream: the last line, when it had no '\n'.
  template <typename OnLine>
  void finish(OnLine&& on_line) {
    if (!pending_.empty()) on_line(std::string_view(pending_), false);
    pending_.clear();
  }

  std::size_t max_line() const noexcept { return max_line_; }

 private:
  template <typename OnLine>
  void emit_line(std::string_view rest, OnLine& on_line) {
    if (pending_.empty()) {
      on_line(rest, false);
    } else {
      pending_.append(rest);
      on_line(std::string_view(pending_), false);
      pending_.clear();
    }
  }
  static std::size_t incomplete_tail(std::string_view s) noexcept;

  std::size_t max_line_;
  std::string pending_;  // capacity max_line_, reserved at construction
};

// Appends `raw` escaped (see the top of this header) to `out`.
void escape_output(std::string& out, std::string_view raw);

// Appends "<time> <stream> <F|P> <escaped content>\n" to `out`.
void append_log_line(std::string& out, TimePoint at, OutputStream stream, bool partial, std::string_view content);
// The same with the time already formatted (format_iso8601), for many lines read at once.
void append_log_line(std::string& out, std::string_view time, OutputStream stream, bool partial,
                     std::string_view content);

// The last bytes written to a stream, in a ring of fixed capacity.
class TailBuffer {
 public:
  explicit TailBuffer(std::size_t capacity);
  void append(std::string_view bytes);
  // The last `max_lines` lines (fewer when the buffer holds fewer), each escaped, joined by
  // '\n', without a trailing one. When the ring has wrapped, the line it cut is left out
  // (unless it is the only one: then its kept end is). "" when nothing was written.
  std::string tail(std::size_t max_lines) const;

 private:
  std::vector<char> ring_;
  std::size_t next_ = 0;       // where the next byte goes
  std::uint64_t written_ = 0;  // bytes ever appended
};

// Whether a file of `size` bytes must be rotated before `line` more bytes are written, with
// `max` the cap of one file: a line never straddles two files, and a file holds at least one
// line (so one line longer than the cap still goes somewhere).
constexpr bool must_rotate(std::uint64_t size, std::size_t line, std::uint64_t max) noexcept {
  return size > 0 && size + line > max;
}

// At most `per_second` lines in each one-second window (of a steady time, given as the time
// since any fixed origin); the lines over it are dropped and counted.
class LineRate {
 public:
  explicit LineRate(std::uint32_t per_second) : per_second_(per_second) {}
  // Whether a line at `now` passes. When it does, `dropped` is how many were dropped since the
  // last line that passed (then the count starts again).
  bool admit(Duration now, std::uint64_t& dropped) noexcept;

 private:
  std::uint32_t per_second_;
  Duration window_start_{-1};
  std::uint32_t passed_ = 0;
  std::uint64_t dropped_ = 0;
};

// "<base>.<n>": the n-th newest rotated file (n >= 1; base itself is the current one).
std::string rotated_name(std::string_view base, int n);

}  // namespace hostsweep::policy
