#include "fake_agent_script.hpp"

#include <array>
#include <charconv>

#include <fmt/format.h>

#include "hostsweep/error.hpp"

namespace hostsweep::fake_agent {
namespace {

struct KindName {
  BehaviorKind kind;
  std::string_view name;
  std::string_view argument;  // empty: takes no argument
};

constexpr std::array<KindName, 11> kKinds{{
    {BehaviorKind::normal, "normal", ""},
    {BehaviorKind::crash_after_claim, "crash-after-claim", ""},
    {BehaviorKind::hang_after_claim, "hang-after-claim", ""},
    {BehaviorKind::exit_immediately, "exit-immediately", "CODE"},
    {BehaviorKind::slow_start, "slow-start", "DURATION"},
    {BehaviorKind::tool, "tool", "TIMEOUT"},
    {BehaviorKind::ignore_sigterm, "ignore-sigterm", ""},
    {BehaviorKind::fork_children, "fork-children", ""},
    {BehaviorKind::fail, "fail", ""},
    {BehaviorKind::print, "print", "BYTES"},
    {BehaviorKind::flood, "flood", "DURATION"},
}};

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && is_blank(text[pos])) ++pos;
    std::size_t start = pos;
    while (pos < text.size() && !is_blank(text[pos])) ++pos;
    if (pos > start) out.push_back(text.substr(start, pos - start));
  }
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
  return text;
}

std::string known_names() {
  std::string out;
  for (const auto& k : kKinds) {
    if (!out.empty()) out += ", ";
    out += k.name;
    if (!k.argument.empty()) fmt::format_to(std::back_inserter(out), " {}", k.argument);
  }
  return out;
}

[[noreturn]] void reject(std::string_view text, std::string_view why) {
  throw Error(Errc::invalid_argument, fmt::format("behavior \"{}\": {}", printable(text), why));
}

}  // namespace

Behavior parse_behavior(std::string_view text) {
  auto w = words(text);
  if (w.empty()) reject(text, fmt::format("empty; expected one of: {}", known_names()));
  const KindName* found = nullptr;
  for (const auto& k : kKinds) {
    if (k.name == w[0]) found = &k;
  }
  if (!found) reject(text, fmt::format("unknown behavior \"{}\"; expected one of: {}", printable(w[0]), known_names()));
  std::size_t wanted = found->argument.empty() ? 1 : 2;
  if (w.size() != wanted) {
    reject(text, found->argument.empty() ? fmt::format("{} takes no argument", found->name)
                                         : fmt::format("expected \"{} {}\"", found->name, found->argument));
  }

  Behavior b;
  b.kind = found->kind;
  if (b.kind == BehaviorKind::exit_immediately) {
    int code = -1;
    auto [end, ec] = std::from_chars(w[1].data(), w[1].data() + w[1].size(), code);
    if (ec != std::errc{} || end != w[1].data() + w[1].size() || code < 0 || code > 255) {
      reject(text, "CODE must be an exit status from 0 to 255");
    }
    b.exit_code = code;
  } else if (b.kind == BehaviorKind::print) {
    std::uint64_t bytes = 0;
    auto [end, ec] = std::from_chars(w[1].data(), w[1].data() + w[1].size(), bytes);
    if (ec != std::errc{} || end != w[1].data() + w[1].size() || bytes > (1ULL << 40)) {
      reject(text, "BYTES must be a whole number of bytes");
    }
    b.bytes = bytes;
  } else if (b.kind == BehaviorKind::slow_start || b.kind == BehaviorKind::tool || b.kind == BehaviorKind::flood) {
    auto d = policy::parse_duration(w[1]);
    if (!d) reject(text, fmt::format("{} is not a duration such as 250ms, 5s or 30m", found->argument));
    if (b.kind == BehaviorKind::tool && d->count() <= 0) reject(text, "a tool's TIMEOUT must be positive");
    b.duration = *d;
  }
  return b;
}

std::string describe(const Behavior& behavior) {
  for (const auto& k : kKinds) {
    if (k.kind != behavior.kind) continue;
    switch (behavior.kind) {
      case BehaviorKind::exit_immediately:
        return fmt::format("{} {}", k.name, behavior.exit_code);
      case BehaviorKind::slow_start:
      case BehaviorKind::tool:
      case BehaviorKind::flood:
        return fmt::format("{} {}", k.name, policy::format_duration(behavior.duration));
      case BehaviorKind::print:
        return fmt::format("{} {}", k.name, behavior.bytes);
      default:
        return std::string(k.name);
    }
  }
  return "?";
}

std::vector<std::string> script_lines(std::string_view file_text) {
  std::vector<std::string> lines;
  while (!file_text.empty()) {
    auto nl = file_text.find('\n');
    auto line = trim(file_text.substr(0, nl));
    file_text.remove_prefix(nl == std::string_view::npos ? file_text.size() : nl + 1);
    if (line.empty() || line.front() == '#') continue;
    lines.emplace_back(line);
  }
  return lines;
}

const std::string& line_for_start(const std::vector<std::string>& lines, std::uint64_t start) {
  if (lines.empty()) throw Error(Errc::invalid_argument, "the script has no behavior lines");
  std::uint64_t index = start == 0 ? 0 : start - 1;
  return index < lines.size() ? lines[static_cast<std::size_t>(index)] : lines.back();
}

std::string json_quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (u < 0x20 || u == 0x7f) fmt::format_to(std::back_inserter(out), "\\u{:04x}", u);
    else out += c;
  }
  out += '"';
  return out;
}

std::string printable(std::string_view text) {
  std::string out(text);
  for (auto& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  return out;
}

}  // namespace hostsweep::fake_agent
