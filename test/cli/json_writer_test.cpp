// The one place where the CLI escapes text it does not trust (FAILURE-MODES.md 21): JSON
// strings, text-log values and free text, fed what a hostile container could write.
//
// The checks here do not reuse the code under test: a strict JSON parser and a UTF-8
// decoder of their own (by code-point arithmetic, not by byte ranges) are the oracle.
#include "cli/json_writer.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <string>

namespace hostsweep::testing {

// --- the oracle ----------------------------------------------------------------------
// parse_json, with_replacements, unescape_log_value and is_inert are shared with
// event_log_test.cpp, which declares them; the rest is private to this file.

namespace {

// The code point of the well-formed UTF-8 sequence at s[i], with its length, or nullopt.
std::optional<std::pair<char32_t, std::size_t>> decode_utf8_at(std::string_view s, std::size_t i) {
  const auto lead = static_cast<unsigned char>(s[i]);
  std::size_t n = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xe ? 3 : (lead >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || i + n > s.size()) return std::nullopt;
  char32_t cp = n == 1 ? lead : static_cast<char32_t>(lead & (0x7f >> n));
  for (std::size_t k = 1; k < n; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xc0) != 0x80) return std::nullopt;
    cp = (cp << 6) | (c & 0x3f);
  }
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return std::nullopt;
  return std::pair{cp, n};
}

bool is_valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto d = decode_utf8_at(s, i);
    if (!d) return false;
    i += d->second;
  }
  return true;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

}  // namespace

// What a JSON string decodes to by the documented rule: each byte that is not part of a
// well-formed sequence replaced by U+FFFD.
std::string with_replacements(std::string_view raw) {
  std::string out;
  for (std::size_t i = 0; i < raw.size();) {
    if (auto d = decode_utf8_at(raw, i)) {
      out.append(raw.substr(i, d->second));
      i += d->second;
    } else {
      append_utf8(out, 0xfffd);
      ++i;
    }
  }
  return out;
}

namespace {

// RFC 8259, strictly: no trailing commas, no raw control characters in strings, no lone
// surrogate escapes, UTF-8 checked. Collects the top-level object's members.
class StrictJson {
 public:
  explicit StrictJson(std::string_view text) : s_(text) {}

  std::optional<std::map<std::string, std::string>> parse() {
    if (!is_valid_utf8(s_)) return std::nullopt;
    ws();
    if (!value(0)) return std::nullopt;
    ws();
    if (i_ != s_.size()) return std::nullopt;
    return members_;
  }

 private:
  bool value(int depth) {
    if (i_ >= s_.size()) return false;
    switch (s_[i_]) {
      case '{': return object(depth);
      case '[': return array(depth);
      case '"': {
        std::string ignored;
        return string(ignored);
      }
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default: return number();
    }
  }

  bool object(int depth) {
    ++i_;
    ws();
    if (peek('}')) return ++i_, true;
    for (;;) {
      std::string key;
      ws();
      if (!peek('"') || !string(key)) return false;
      ws();
      if (!peek(':')) return false;
      ++i_;
      ws();
      std::size_t start = i_;
      if (peek('"')) {
        std::string text;
        if (!string(text)) return false;
        if (depth == 0) members_[key] = text;
      } else {
        if (!value(depth + 1)) return false;
        if (depth == 0) members_[key] = std::string(s_.substr(start, i_ - start));
      }
      ws();
      if (peek('}')) return ++i_, true;
      if (!peek(',')) return false;
      ++i_;
    }
  }

  bool array(int depth) {
    ++i_;
    ws();
    if (peek(']')) return ++i_, true;
    for (;;) {
      ws();
      if (!value(depth + 1)) return false;
      ws();
      if (peek(']')) return ++i_, true;
      if (!peek(',')) return false;
      ++i_;
    }
  }

  std::optional<char32_t> hex4() {
    if (i_ + 4 > s_.size()) return std::nullopt;
    char32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s_[i_++];
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) return std::nullopt;
      v = v * 16 + static_cast<char32_t>(d);
    }
    return v;
  }

  bool string(std::string& out) {
    ++i_;
    while (i_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') return ++i_, true;
      if (c < 0x20) return false;
      if (c != '\\') {
        out += static_cast<char>(c);
        ++i_;
        continue;
      }
      if (++i_ >= s_.size()) return false;
      char e = s_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          auto cp = hex4();
          if (!cp) return false;
          if (*cp >= 0xdc00 && *cp <= 0xdfff) return false;
          if (*cp >= 0xd800 && *cp <= 0xdbff) {
            if (i_ + 2 > s_.size() || s_[i_] != '\\' || s_[i_ + 1] != 'u') return false;
            i_ += 2;
            auto low = hex4();
            if (!low || *low < 0xdc00 || *low > 0xdfff) return false;
            *cp = 0x10000 + ((*cp - 0xd800) << 10) + (*low - 0xdc00);
          }
          append_utf8(out, *cp);
          break;
        }
        default: return false;
      }
    }
    return false;
  }

  bool number() {
    std::size_t start = i_;
    if (peek('-')) ++i_;
    if (peek('0')) {
      ++i_;
    } else if (digits() == 0) {
      return false;
    }
    if (peek('.')) {
      ++i_;
      if (digits() == 0) return false;
    }
    if (peek('e') || peek('E')) {
      ++i_;
      if (peek('+') || peek('-')) ++i_;
      if (digits() == 0) return false;
    }
    return i_ > start;
  }

  std::size_t digits() {
    std::size_t n = 0;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_, ++n;
    return n;
  }

  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  bool peek(char c) const { return i_ < s_.size() && s_[i_] == c; }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::map<std::string, std::string> members_;
};

}  // namespace

// Shared with event_log_test.cpp (declared there): nullopt unless `text` is one valid JSON
// value in valid UTF-8; else the top-level object's members, strings decoded, other values
// as their JSON text.
std::optional<std::map<std::string, std::string>> parse_json(std::string_view text) { return StrictJson(text).parse(); }

// The inverse of escape_log_value, for the round-trip checks: nullopt when `v` is not
// something escape_log_value could have written.
std::optional<std::string> unescape_log_value(std::string_view v) {
  bool quoted = !v.empty() && v.front() == '"';
  if (quoted) {
    if (v.size() < 2 || v.back() != '"') return std::nullopt;
    v = v.substr(1, v.size() - 2);
  }
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '"' || ((v[i] == ' ' || v[i] == '=') && !quoted)) return std::nullopt;
    if (v[i] != '\\') {
      out += v[i];
      continue;
    }
    if (++i >= v.size()) return std::nullopt;
    if (v[i] == '\\' || (v[i] == '"' && quoted)) {
      out += v[i];
    } else if (v[i] == 'x' && i + 2 < v.size()) {
      out += static_cast<char>(std::stoi(std::string(v.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

// Nothing a terminal or a line-oriented reader would act on: no C0 control, DEL, C1
// control, line separator or bidi control, and valid UTF-8.
bool is_inert(std::string_view s) {
  if (!is_valid_utf8(s)) return false;
  for (std::size_t i = 0; i < s.size();) {
    auto [cp, n] = *decode_utf8_at(s, i);
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
        (cp >= 0x2066 && cp <= 0x2069)) {
      return false;
    }
    i += n;
  }
  return true;
}

namespace {

// Strings a hostile container writes, and what the text log must show for each.
struct Hostile {
  const char* name;
  std::string raw;
  std::string logged;  // escape_log_value
  std::string json;    // the JSON string, quotes included
};

std::vector<Hostile> hostile_strings() {
  using namespace std::string_literals;
  return {
      {"newline", "m1\nERROR forged line", R"("m1\x0aERROR forged line")", R"("m1\u000aERROR forged line")"},
      {"carriage return", "m1\rINFO", R"("m1\x0dINFO")", R"("m1\u000dINFO")"},
      {"terminal escape", "\x1b[31mred", R"("\x1b[31mred")", R"("\u001b[31mred")"},
      {"embedded NUL", "a\0b"s, R"("a\x00b")", R"("a\u0000b")"},
      {"DEL", "a\x7f", R"("a\x7f")", R"("a\u007f")"},
      {"C1 CSI", "\xc2\x9b"
                 "31m",
       R"("\xc2\x9b31m")", R"("\u009b31m")"},
      {"C1 NEL", "a\xc2\x85"
                 "b",
       R"("a\xc2\x85b")", R"("a\u0085b")"},
      {"line separator", "a\xe2\x80\xa8"
                         "b",
       R"("a\xe2\x80\xa8b")", R"("a\u2028b")"},
      {"bidi override", "\xe2\x80\xae"
                        "txt",
       R"("\xe2\x80\xaetxt")", R"("\u202etxt")"},
      {"lone 0xff", "a\xff", R"("a\xff")", R"("a\ufffd")"},
      {"lone continuation", "\x80", R"("\x80")", R"("\ufffd")"},
      {"truncated 3-byte", "x\xe2\x82", R"("x\xe2\x82")", R"("x\ufffd\ufffd")"},
      {"truncated 4-byte before ASCII", "\xf0\x9f\x98"
                                        "a",
       R"("\xf0\x9f\x98a")", R"("\ufffd\ufffd\ufffda")"},
      {"overlong slash", "\xc0\xaf", R"("\xc0\xaf")", R"("\ufffd\ufffd")"},
      {"overlong NUL", "\xc0\x80", R"("\xc0\x80")", R"("\ufffd\ufffd")"},
      {"overlong 3-byte", "\xe0\x80\xaf", R"("\xe0\x80\xaf")", R"("\ufffd\ufffd\ufffd")"},
      {"overlong 4-byte", "\xf0\x80\x80\xaf", R"("\xf0\x80\x80\xaf")", R"("\ufffd\ufffd\ufffd\ufffd")"},
      {"surrogate", "\xed\xa0\x80", R"("\xed\xa0\x80")", R"("\ufffd\ufffd\ufffd")"},
      {"surrogate pair in UTF-8", "\xed\xa0\xbd\xed\xb8\x80", R"("\xed\xa0\xbd\xed\xb8\x80")",
       R"("\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd")"},
      {"above U+10FFFF", "\xf4\x90\x80\x80", R"("\xf4\x90\x80\x80")", R"("\ufffd\ufffd\ufffd\ufffd")"},
      {"F5 lead", "\xf5\x80", R"("\xf5\x80")", R"("\ufffd\ufffd")"},
      {"quote and equals", R"(a" reason="forged)", R"("a\" reason=\"forged")", R"("a\" reason=\"forged")"},
      {"equals alone", "k=v", R"("k=v")", R"("k=v")"},
      {"backslash", R"(a\x0a)", R"(a\\x0a)", R"("a\\x0a")"},
      {"empty", "", R"("")", R"("")"},
  };
}

std::string json_string(std::string_view raw) { return cli::JsonWriter().value(raw).str(); }

// Bytes chosen to hit every branch: ASCII, controls, quotes, leads and continuations.
std::string random_bytes(std::mt19937& rng, std::size_t max_length) {
  static constexpr unsigned char kInteresting[] = {'a', 'Z', '0', ' ', '"', '=', '\\', '\n', '\r', 0x00, 0x1b, 0x7f,
                                                   0x80, 0x85, 0x9b, 0xa0, 0xaf, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0,
                                                   0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0x8f, 0x90};
  std::uniform_int_distribution<std::size_t> length(0, max_length);
  std::uniform_int_distribution<int> any(0, 255);
  std::uniform_int_distribution<std::size_t> pick(0, sizeof kInteresting - 1);
  std::string s(length(rng), '\0');
  for (auto& c : s) c = static_cast<char>(any(rng) % 3 == 0 ? any(rng) : kInteresting[pick(rng)]);
  return s;
}

TEST(EscapeLogValue, OrdinaryValuesStayBare) {
  for (const char* ordinary : {"m1", "sess-1772953200000-3f9a0c1d", "ceiling", "claim-stuck", "5s", "1h30m", "a.b_c-d"}) {
    EXPECT_EQ(cli::escape_log_value(ordinary), ordinary);
  }
  EXPECT_EQ(cli::escape_log_value("the ceiling of 30m passed"), "\"the ceiling of 30m passed\"");
  EXPECT_EQ(cli::escape_log_value("caf\xc3\xa9"), "\"caf\xc3\xa9\"");  // valid UTF-8 is kept, in quotes
}

TEST(EscapeLogValue, HostileStringsAreEscapedAndQuoted) {
  for (const auto& h : hostile_strings()) {
    EXPECT_EQ(cli::escape_log_value(h.raw), h.logged) << h.name;
    EXPECT_TRUE(is_inert(cli::escape_log_value(h.raw))) << h.name;
    EXPECT_EQ(unescape_log_value(cli::escape_log_value(h.raw)), h.raw) << h.name;
  }
}

TEST(EscapeLogValue, RandomBytesRoundTripAndStayInert) {
  std::mt19937 rng(20260308);
  for (int n = 0; n < 20000; ++n) {
    std::string raw = random_bytes(rng, 12);
    std::string logged = cli::escape_log_value(raw);
    ASSERT_TRUE(is_inert(logged)) << logged;
    ASSERT_EQ(unescape_log_value(logged), raw) << logged;
  }
}

TEST(EscapeText, EscapesWithoutQuoting) {
  EXPECT_EQ(cli::escape_text("plain words = fine \"quoted\" \\"), "plain words = fine \"quoted\" \\");
  EXPECT_EQ(cli::escape_text("m1\nERROR forged line"), "m1\\x0aERROR forged line");
  EXPECT_EQ(cli::escape_text("\x1b[2J\xc2\x9b\xff\xed\xa0\x80"), "\\x1b[2J\\xc2\\x9b\\xff\\xed\\xa0\\x80");
  EXPECT_EQ(cli::escape_text(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(cli::escape_text("caf\xc3\xa9 \xf0\x9f\x98\x80"), "caf\xc3\xa9 \xf0\x9f\x98\x80");
}

TEST(JsonWriter, HostileStringsGiveTheDocumentedEscapes) {
  for (const auto& h : hostile_strings()) EXPECT_EQ(json_string(h.raw), h.json) << h.name;
}

TEST(JsonWriter, ValidUtf8IsWrittenAsItIs) {
  for (const char* text : {"caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf",
                           "\xef\xbf\xbd", "\xc2\xa0", "\xe2\x80\xa7"}) {
    EXPECT_EQ(json_string(text), std::string("\"") + text + "\"");
  }
}

TEST(JsonWriter, HostileStringsParseBackToTheirPrintableParts) {
  for (const auto& h : hostile_strings()) {
    std::string doc = cli::JsonWriter().begin_object().field("v", h.raw).field(h.raw, 1).end_object().str();
    auto parsed = parse_json(doc);
    ASSERT_TRUE(parsed) << h.name << ": " << doc;
    EXPECT_EQ((*parsed)["v"], with_replacements(h.raw)) << h.name;
    EXPECT_EQ(parsed->count(with_replacements(h.raw)), 1u) << h.name << ": keys are escaped too";
  }
}

TEST(JsonWriter, RandomBytesAlwaysGiveValidJson) {
  std::mt19937 rng(8032026);
  for (int n = 0; n < 20000; ++n) {
    std::string raw = random_bytes(rng, 12);
    std::string doc = cli::JsonWriter().begin_object().field("v", raw).end_object().str();
    auto parsed = parse_json(doc);
    ASSERT_TRUE(parsed) << doc;
    ASSERT_EQ((*parsed)["v"], with_replacements(raw)) << doc;
    ASSERT_TRUE(is_inert(doc)) << doc;  // raw controls never reach the output, even valid ones
  }
}

TEST(JsonWriter, AMegabyteOfHostileBytesIsLinear) {
  std::mt19937 rng(1);
  std::string raw;
  while (raw.size() < (1u << 20)) raw += random_bytes(rng, 64);
  auto start = std::chrono::steady_clock::now();
  std::string doc = cli::JsonWriter().begin_object().field("v", raw).end_object().str();
  std::string logged = cli::escape_log_value(raw);
  // Generous under sanitizers on a shared machine; a quadratic escape takes minutes.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  auto parsed = parse_json(doc);
  ASSERT_TRUE(parsed);
  EXPECT_EQ((*parsed)["v"], with_replacements(raw));
  EXPECT_TRUE(is_inert(logged));
  EXPECT_EQ(unescape_log_value(logged), raw);
}

TEST(JsonWriter, TheOracleRejectsWhatItShould) {
  // The parser that the checks above trust must itself refuse invalid output.
  for (const char* bad : {"{\"a\":\"x\ny\"}", "{\"a\":\"\xff\"}", "{\"a\":\"\\ud800\"}", "{\"a\":1,}", "{\"a\" 1}",
                          "[1 2]", "{\"a\":\"\\x41\"}", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":01}", "\"open"}) {
    EXPECT_FALSE(parse_json(bad)) << bad;
  }
  EXPECT_TRUE(parse_json("{\"a\":[1,-2.5e3,true,null,{\"b\":\"\\ud83d\\ude00\"}],\"c\":\"\\u00e9\"}"));
  EXPECT_EQ((*parse_json("{\"c\":\"\\u00e9\\/\"}"))["c"], "\xc3\xa9/");
}

}  // namespace
}  // namespace hostsweep::testing
