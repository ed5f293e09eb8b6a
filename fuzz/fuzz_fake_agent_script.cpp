// The fake agent's script on any file text: script_lines, then parse_behavior of every line.
// No crash, no UB; hostsweep::Error is a refusal. A behaviour that parses is described as a
// text that parses back to the same description; printable() leaves no control character and
// json_quote() no raw quote or control character inside its quotes.
#include <string>

#include "fake_agent_script.hpp"
#include "fuzz_check.hpp"
#include "hostsweep/error.hpp"

using namespace hostsweep;

namespace {

bool is_control(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

void check_quoting(std::string_view text) {
  for (char c : fake_agent::printable(text)) fuzz::check(!is_control(c), "printable() kept a control character", text);
  const auto quoted = fake_agent::json_quote(text);
  fuzz::check(quoted.size() >= 2 && quoted.front() == '"' && quoted.back() == '"', "json_quote() not quoted", quoted);
  for (std::size_t i = 1; i + 1 < quoted.size(); ++i) {
    fuzz::check(static_cast<unsigned char>(quoted[i]) >= 0x20, "json_quote() kept a control character", quoted);
    if (quoted[i] == '\\') {
      ++i;  // the escaped character
      fuzz::check(i + 1 < quoted.size(), "json_quote() ends in a lone backslash", quoted);
    } else {
      fuzz::check(quoted[i] != '"', "json_quote() kept a raw quote", quoted);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = fuzz::as_text(data, size);
  check_quoting(text);
  const auto lines = fake_agent::script_lines(text);
  for (const auto& l : lines) {
    fuzz::check(!l.empty() && l.front() != '#', "script_lines kept a blank or comment line", l);
    try {
      const auto behavior = fake_agent::parse_behavior(l);
      const auto described = fake_agent::describe(behavior);
      const auto again = fake_agent::describe(fake_agent::parse_behavior(described));
      fuzz::check(again == described, "describe() does not read back", described);
    } catch (const Error&) {
      // refused, with a message
    }
  }
  if (!lines.empty()) {
    for (std::uint64_t start = 1; start <= lines.size() + 1; ++start) {
      const auto& l = fake_agent::line_for_start(lines, start);
      fuzz::check(&l == &lines[std::min<std::size_t>(start, lines.size()) - 1], "line_for_start picked the wrong line");
    }
  }
  return 0;
}
