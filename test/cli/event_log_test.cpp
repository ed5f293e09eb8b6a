// The daemon's log, fed what a hostile container writes into its session files
// (FAILURE-MODES.md 21): whatever the bytes, one event is one line, nothing reaches the
// terminal raw, the text format's pairs stay unambiguous and the JSON is valid.
#include "cli/event_log.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace hostsweep::testing {

// From json_writer_test.cpp: the oracle, which does not reuse the code under test.
std::optional<std::map<std::string, std::string>> parse_json(std::string_view text);
std::string with_replacements(std::string_view raw);
std::optional<std::string> unescape_log_value(std::string_view v);
bool is_inert(std::string_view s);

namespace {

using namespace std::chrono;
using namespace std::string_literals;
using supervisor::Event;
using supervisor::EventKind;

const TimePoint kAt = TimePoint{sys_days{year{2026} / 3 / 8} + 7h};

class EventLogTest : public ::testing::Test {
 protected:
  std::ostringstream out;

  cli::EventLog log(const char* format, const char* level = "debug") {
    return cli::EventLog(format, level, std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  }

  // What was logged, as lines; fails unless it ends with a newline.
  std::vector<std::string> lines() {
    std::string text = out.str();
    std::vector<std::string> result;
    EXPECT_TRUE(text.empty() || text.back() == '\n');
    std::size_t start = 0;
    for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
      result.push_back(text.substr(start, nl - start));
    }
    return result;
  }
};

// The text line after spdlog's timestamp and level: "<event> key=value ...".
std::string payload(const std::string& line, std::string_view event) {
  auto at = line.find(std::string(" ") + std::string(event));
  return at == std::string::npos ? "" : line.substr(at + 1);
}

// Splits "<event> k=v k="v v" ..." into its pairs, values still escaped; nullopt when the
// line cannot be split unambiguously.
std::optional<std::vector<std::pair<std::string, std::string>>> pairs(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> result;
  auto space = text.find(' ');
  if (space == std::string_view::npos) return result;
  text.remove_prefix(space + 1);
  while (!text.empty()) {
    auto eq = text.find('=');
    if (eq == std::string_view::npos || eq == 0) return std::nullopt;
    std::string key(text.substr(0, eq));
    if (key.find_first_of(" \"") != std::string::npos) return std::nullopt;
    text.remove_prefix(eq + 1);
    std::size_t end = 0;
    if (!text.empty() && text[0] == '"') {
      for (end = 1; end < text.size() && text[end] != '"'; ++end) {
        if (text[end] == '\\') ++end;
      }
      if (end >= text.size()) return std::nullopt;
      ++end;
    } else {
      end = std::min(text.find(' '), text.size());
    }
    result.emplace_back(key, std::string(text.substr(0, end)));
    text.remove_prefix(end);
    if (!text.empty()) {
      if (text[0] != ' ') return std::nullopt;
      text.remove_prefix(1);
    }
  }
  return result;
}

std::vector<std::pair<const char*, std::string>> hostile_strings() {
  std::string megabyte;
  while (megabyte.size() < (1u << 20)) megabyte += "m\n\x1b[2J\xff\xed\xa0\x80\xc2\x9b \"=\\";
  return {
      {"forged line", "m1\nERROR forged line"},
      {"forged pair", "m1 reason=forged"},
      {"terminal escape", "\x1b[31mred"},
      {"embedded NUL", "a\0b"s},
      {"lone 0xff", "\xff"},
      {"truncated", "\xe2\x82"},
      {"overlong", "\xc0\xaf\xe0\x80\xaf"},
      {"surrogate", "\xed\xa0\x80"},
      {"C1", "\xc2\x9b"
             "2J\xc2\x85"},
      {"carriage return", "ok\rERROR"},
      {"megabyte", megabyte},
  };
}

Event hostile_event(const std::string& raw) {
  return Event{.kind = EventKind::message_failed,
               .at = kAt,
               .session_id = "s1",
               .message_id = raw,
               .reason = raw,
               .tries = 5,
               .detail = raw};
}

TEST_F(EventLogTest, OrdinaryEventsKeepTheirLook) {
  auto text = log("text");
  text(Event{.kind = EventKind::message_retried, .at = kAt, .session_id = "s1", .message_id = "m1", .tries = 2,
             .delay = 5s});
  text(Event{.kind = EventKind::container_killed, .at = kAt, .session_id = "s1", .pid = 42, .reason = "ceiling",
             .late_by = 2s});
  text(Event{.kind = EventKind::container_start_failed, .at = kAt, .session_id = "s1", .reason = "no such file"});
  text.note("daemon.started", "data dir /var/lib/hostsweep, runtime process, sweep every 1m");
  auto got = lines();
  ASSERT_EQ(got.size(), 4u) << out.str();
  EXPECT_EQ(payload(got[0], "message.retried"), "message.retried session=s1 message=m1 tries=2 delay=5s");
  EXPECT_EQ(payload(got[1], "container.killed"), "container.killed session=s1 pid=42 reason=ceiling late_by=2s")
      << got[1];
  EXPECT_EQ(payload(got[2], "container.start_failed"), "container.start_failed session=s1 reason=\"no such file\"");
  EXPECT_EQ(payload(got[3], "daemon.started"), "daemon.started data dir /var/lib/hostsweep, runtime process, sweep every 1m");
}

TEST_F(EventLogTest, TextHostileStringsCannotForgeALineOrReachTheTerminal) {
  auto text = log("text");
  for (const auto& [name, raw] : hostile_strings()) {
    out.str("");
    text(hostile_event(raw));
    auto got = lines();
    ASSERT_EQ(got.size(), 1u) << name;
    EXPECT_TRUE(is_inert(got[0])) << name;
    auto split = pairs(payload(got[0], "message.failed"));
    ASSERT_TRUE(split) << name << ": " << got[0].substr(0, 300);
    std::map<std::string, std::string> values;
    for (const auto& [key, value] : *split) {
      EXPECT_EQ(values.count(key), 0u) << name << ": key " << key << " twice";
      auto unescaped = unescape_log_value(value);
      ASSERT_TRUE(unescaped) << name << ": " << key << "=" << value.substr(0, 300);
      values[key] = *unescaped;
    }
    EXPECT_EQ(values, (std::map<std::string, std::string>{
                          {"session", "s1"}, {"message", raw}, {"reason", raw}, {"tries", "5"}, {"detail", raw}}))
        << name;
  }
}

TEST_F(EventLogTest, TextSessionIdsAndNotesAreEscapedToo) {
  auto text = log("text");
  text(Event{.kind = EventKind::session_added, .at = kAt, .session_id = "s1\nERROR x"});
  text.note("daemon.started", "data dir /tmp/\x1b]0;owned\x07\nERROR forged", true);
  auto got = lines();
  ASSERT_EQ(got.size(), 2u) << out.str();
  EXPECT_EQ(payload(got[0], "session.added"), "session.added session=\"s1\\x0aERROR x\"");
  EXPECT_EQ(payload(got[1], "daemon.started"), "daemon.started data dir /tmp/\\x1b]0;owned\\x07\\x0aERROR forged");
  for (const auto& line : got) EXPECT_TRUE(is_inert(line)) << line;
}

TEST_F(EventLogTest, JsonHostileStringsGiveOneValidObjectPerLine) {
  auto json = log("json");
  for (const auto& [name, raw] : hostile_strings()) {
    out.str("");
    json(hostile_event(raw));
    auto got = lines();
    ASSERT_EQ(got.size(), 1u) << name;
    EXPECT_TRUE(is_inert(got[0])) << name;
    auto parsed = parse_json(got[0]);
    ASSERT_TRUE(parsed) << name << ": " << got[0].substr(0, 300);
    EXPECT_EQ((*parsed)["event"], "message.failed");
    EXPECT_EQ((*parsed)["level"], "warning");
    EXPECT_EQ((*parsed)["ts"], "2026-03-08T07:00:00.000Z");
    EXPECT_EQ((*parsed)["session"], "s1");
    EXPECT_EQ((*parsed)["tries"], "5");
    // The printable parts come back exactly; each invalid byte as U+FFFD.
    for (const char* key : {"message", "reason", "detail"}) EXPECT_EQ((*parsed)[key], with_replacements(raw)) << name << " " << key;
  }
}

TEST_F(EventLogTest, JsonNotesAreValidJson) {
  auto json = log("json");
  json.note("daemon.started", "data dir \xff\n\x1b[31m");
  auto got = lines();
  ASSERT_EQ(got.size(), 1u);
  auto parsed = parse_json(got[0]);
  ASSERT_TRUE(parsed) << got[0];
  EXPECT_EQ((*parsed)["message"], "data dir \xef\xbf\xbd\n\x1b[31m");
  EXPECT_EQ((*parsed)["level"], "info");
}

// The stderr tail (escaped by the supervisor, lines joined by \n) and journal-mode output lines
// are values like any other: one line of log, nothing raw, the JSON valid and exact.
TEST_F(EventLogTest, StderrTailsAndOutputLinesAreEscapedValues) {
  const std::string tail = "fatal: \\x1b[2J\nlast line";  // as policy::TailBuffer gives it
  const std::string hostile = "\x1b[2J\nERROR forged \xff";  // raw, as an embedder might pass
  for (const char* format : {"text", "json"}) {
    out.str("");
    auto l = log(format);
    l(Event{.kind = EventKind::container_exited, .at = kAt, .session_id = "s1", .pid = 7,
            .exit = runtime::ExitStatus{.exit_code = 3}, .stderr_tail = tail});
    l(Event{.kind = EventKind::session_start_failing, .at = kAt, .session_id = "s1", .failures = 3,
            .stderr_tail = hostile});
    l(Event{.kind = EventKind::container_output, .at = kAt, .session_id = "s1", .stream = "stderr", .line = hostile});
    auto got = lines();
    ASSERT_EQ(got.size(), 3u) << format << ": " << out.str();
    for (const auto& line : got) EXPECT_TRUE(is_inert(line)) << line;
    if (std::string_view(format) == "json") {
      auto exited = parse_json(got[0]);
      ASSERT_TRUE(exited) << got[0];
      EXPECT_EQ((*exited)["stderr_tail"], tail);
      EXPECT_EQ((*exited)["exit_code"], "3");
      auto failing = parse_json(got[1]);
      ASSERT_TRUE(failing) << got[1];
      EXPECT_EQ((*failing)["stderr_tail"], with_replacements(hostile));
      auto output = parse_json(got[2]);
      ASSERT_TRUE(output) << got[2];
      EXPECT_EQ((*output)["event"], "container.output");
      EXPECT_EQ((*output)["stream"], "stderr");
      EXPECT_EQ((*output)["line"], with_replacements(hostile));
    } else {
      auto split = pairs(payload(got[0], "container.exited"));
      ASSERT_TRUE(split) << got[0];
      std::map<std::string, std::string> values;
      for (const auto& [key, value] : *split) values[key] = unescape_log_value(value).value_or("?");
      EXPECT_EQ(values["stderr_tail"], tail);
      EXPECT_NE(payload(got[2], "container.output").find("stream=stderr line="), std::string::npos) << got[2];
    }
  }
}

}  // namespace
}  // namespace hostsweep::testing
