#include "policy/output_lines.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "policy/utf8.hpp"

namespace hostsweep::policy {
namespace {

using namespace std::chrono_literals;
using Lines = std::vector<std::pair<std::string, bool>>;

Lines frame(LineFramer& framer, const std::vector<std::string>& chunks, bool finish = true) {
  Lines out;
  auto on_line = [&](std::string_view content, bool partial) { out.emplace_back(std::string(content), partial); };
  for (const auto& c : chunks) framer.feed(c, on_line);
  if (finish) framer.finish(on_line);
  return out;
}

std::string escaped(std::string_view raw) {
  std::string out;
  escape_output(out, raw);
  return out;
}

TEST(LineFramer, CutsLinesAcrossChunks) {
  LineFramer framer(100);
  auto lines = frame(framer, {"one\ntw", "o\n\nthr", "ee"});
  EXPECT_EQ(lines, (Lines{{"one", false}, {"two", false}, {"", false}, {"three", false}}));
}

TEST(LineFramer, SplitsALineLongerThanTheBoundIntoPieces) {
  LineFramer framer(8);
  auto lines = frame(framer, {std::string(20, 'a') + "\nb\n"});
  EXPECT_EQ(lines, (Lines{{"aaaaaaaa", true}, {"aaaaaaaa", true}, {"aaaa", false}, {"b", false}}));
  // Exactly the bound is one full line.
  LineFramer exact(4);
  EXPECT_EQ(frame(exact, {"abcd\n"}), (Lines{{"abcd", false}}));
}

TEST(LineFramer, NeverTearsAUtf8Character) {
  LineFramer framer(8);
  // Six ASCII bytes, then a three-byte character across the bound.
  auto lines = frame(framer, {"abcdef\xe2\x82\xac" "gh\n"});
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], (std::pair<std::string, bool>{"abcdef", true}));
  EXPECT_EQ(lines[1], (std::pair<std::string, bool>{"\xe2\x82\xac" "gh", false}));
}

TEST(LineFramer, HoldsNoMoreThanTheBoundWhateverItIsFed) {
  LineFramer framer(16);
  std::string flood(100000, 'x');
  std::size_t pieces = 0;
  framer.feed(flood, [&](std::string_view content, bool partial) {
    EXPECT_LE(content.size(), 16u);
    EXPECT_TRUE(partial);
    ++pieces;
  });
  // The last 16 bytes wait for more (a newline, or a byte past the bound), or for the end.
  EXPECT_EQ(pieces, 100000u / 16 - 1);
  framer.finish([&](std::string_view content, bool) { EXPECT_EQ(content.size(), 16u); ++pieces; });
  EXPECT_EQ(pieces, 100000u / 16);
}

TEST(EscapeOutput, KeepsTextAndEscapesWhatCouldForgeOrReachATerminal) {
  EXPECT_EQ(escaped("plain text: 100% ok"), "plain text: 100% ok");
  EXPECT_EQ(escaped("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");  // valid UTF-8 kept
  EXPECT_EQ(escaped("\x1b[31mred"), "\\x1b[31mred");
  EXPECT_EQ(escaped("a\rb\tc\nd"), "a\\x0db\\x09c\\x0ad");
  EXPECT_EQ(escaped(std::string("nul\0", 4)), "nul\\x00");
  EXPECT_EQ(escaped("back\\slash"), "back\\\\slash");           // so each \xNN is one byte
  EXPECT_EQ(escaped("\xff\xfe"), "\\xff\\xfe");                   // invalid bytes
  EXPECT_EQ(escaped("\xc0\xaf"), "\\xc0\\xaf");                   // overlong
  EXPECT_EQ(escaped("\xe2\x80\xae" "evil"), "\\xe2\\x80\\xae" "evil");  // bidi override
  EXPECT_EQ(escaped("\xc2\x9b" "2J"), "\\xc2\\x9b" "2J");           // C1 CSI
}

TEST(AppendLogLine, PrefixesTimeStreamAndTag) {
  std::string out;
  TimePoint at = TimePoint{} + std::chrono::days{20520} + 7h + 123ms;
  append_log_line(out, at, OutputStream::out, false, "hello");
  append_log_line(out, at, OutputStream::err, true, "\x1b]0;x\x07");
  EXPECT_EQ(out,
            "2026-03-08T07:00:00.123Z stdout F hello\n"
            "2026-03-08T07:00:00.123Z stderr P \\x1b]0;x\\x07\n");
}

TEST(TailBuffer, KeepsTheLastLinesEscaped) {
  TailBuffer tail(4096);
  EXPECT_EQ(tail.tail(20), "");
  tail.append("first\nsecond\n");
  tail.append("third \x1b[0m\n");
  EXPECT_EQ(tail.tail(20), "first\nsecond\nthird \\x1b[0m");
  EXPECT_EQ(tail.tail(2), "second\nthird \\x1b[0m");
  EXPECT_EQ(tail.tail(1), "third \\x1b[0m");
  tail.append("no newline yet");
  EXPECT_EQ(tail.tail(1), "no newline yet");
}

TEST(TailBuffer, AfterWrappingDropsTheLineItCut) {
  TailBuffer tail(16);
  tail.append("0123456789\nabc\ndef\n");  // 19 bytes: the first line is cut
  EXPECT_EQ(tail.tail(20), "abc\ndef");
  // One line longer than the ring: its end is what is left.
  TailBuffer one(8);
  one.append(std::string(100, 'z') + "END");
  EXPECT_EQ(one.tail(20), "zzzzzEND");
  // Many small appends, far more than the ring.
  TailBuffer many(64);
  for (int i = 0; i < 10000; ++i) many.append("line " + std::to_string(i) + "\n");
  EXPECT_EQ(many.tail(2), "line 9998\nline 9999");
}

TEST(MustRotate, BeforeALineWouldPassTheCapButNeverAnEmptyFile) {
  EXPECT_FALSE(must_rotate(0, 50, 100));
  EXPECT_FALSE(must_rotate(50, 50, 100));
  EXPECT_TRUE(must_rotate(51, 50, 100));
  EXPECT_FALSE(must_rotate(0, 500, 100));  // a line longer than the cap goes to a file of its own
  EXPECT_TRUE(must_rotate(500, 1, 100));
  EXPECT_EQ(rotated_name("s.log", 2), "s.log.2");
}

TEST(LineRate, PassesUpToTheRateAndCountsWhatItDropped) {
  LineRate rate(3);
  std::uint64_t dropped = 99;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(rate.admit(10ms * i, dropped));
  EXPECT_EQ(dropped, 0u);
  EXPECT_FALSE(rate.admit(100ms, dropped));
  EXPECT_FALSE(rate.admit(900ms, dropped));
  EXPECT_TRUE(rate.admit(1000ms, dropped));  // a new window
  EXPECT_EQ(dropped, 2u);
  EXPECT_TRUE(rate.admit(1001ms, dropped));
  EXPECT_EQ(dropped, 0u);
}

TEST(Utf8, IncompleteSuffix) {
  EXPECT_EQ(incomplete_utf8_suffix("abc"), 0u);
  EXPECT_EQ(incomplete_utf8_suffix("ab\xe2"), 1u);
  EXPECT_EQ(incomplete_utf8_suffix("ab\xe2\x82"), 2u);
  EXPECT_EQ(incomplete_utf8_suffix("ab\xe2\x82\xac"), 0u);
  EXPECT_EQ(incomplete_utf8_suffix("a\xf0\x9f\x98"), 3u);
  EXPECT_EQ(incomplete_utf8_suffix("\x82\x82"), 0u);  // stray continuation bytes: nothing to keep
}

}  // namespace
}  // namespace hostsweep::policy
