#pragma once
// The fake agent's script: which behaviour one start of the agent plays, parsed from the
// --behavior flag or one line of the session's .fake-agent file. Pure: no I/O, no clock.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hostsweep/policy/timestamp.hpp"

namespace hostsweep::fake_agent {

enum class BehaviorKind {
  normal,             // claim, work with heartbeats, complete with a reply
  crash_after_claim,  // claim, then SIGKILL itself: the claims stay behind
  hang_after_claim,   // claim, then nothing at all until killed
  exit_immediately,   // exit with `exit_code` before touching any session file
  slow_start,         // claim, then silent for `duration`, then normal
  tool,               // claim, declare a Bash tool with timeout `duration`, silent for 80% of it, then normal
  ignore_sigterm,     // normal, with SIGTERM ignored
  fork_children,      // fork two children that sleep forever in our process group, then normal
  fail,               // like normal, but the acks say `failed`
  print,              // write `bytes` bytes to stdout, in numbered lines of 64 bytes, then normal
  flood,              // write to stdout and stderr as fast as it can for `duration`, then normal
};

struct Behavior {
  BehaviorKind kind = BehaviorKind::normal;
  int exit_code = 0;    // exit_immediately
  Duration duration{};  // slow_start, tool, flood
  std::uint64_t bytes = 0;  // print
};

// "exit-immediately 3", "slow-start 2s", "tool 90s", "normal"... Words are separated by
// blanks. Throws Error(invalid_argument) naming the text and what is wrong with it: an
// unknown name, a missing or extra argument, a code outside 0..255, an unparseable duration.
Behavior parse_behavior(std::string_view text);

// The canonical text of a behaviour, as parse_behavior reads it back ("slow-start 1500ms").
std::string describe(const Behavior& behavior);

// The behaviour lines of a .fake-agent file: trimmed, without blank lines and `#` comments.
std::vector<std::string> script_lines(std::string_view file_text);

// The line that start number `start` (1 for the first start) plays: line k for start k, the
// last line for every later start. `lines` must not be empty.
const std::string& line_for_start(const std::vector<std::string>& lines, std::uint64_t start);

// `text` as a JSON string literal, quotes included: quotes, backslashes and control
// characters are escaped; every other byte is copied as it is.
std::string json_quote(std::string_view text);

// `text` made safe for one log line: control characters become '?'.
std::string printable(std::string_view text);

}  // namespace hostsweep::fake_agent
