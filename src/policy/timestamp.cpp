#include "hostsweep/policy/timestamp.hpp"

#include <cstdint>
#include <cstdio>

namespace hostsweep::policy {
namespace {

// A tiny cursor over the text: every reader either consumes exactly what it wants or fails.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}

  bool at_end() const { return pos_ == text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }
  bool take(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  // Exactly `width` decimal digits.
  std::optional<int> digits(int width) {
    if (text_.size() - pos_ < static_cast<std::size_t>(width)) return std::nullopt;
    int value = 0;
    for (int i = 0; i < width; ++i) {
      char c = text_[pos_ + static_cast<std::size_t>(i)];
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + (c - '0');
    }
    pos_ += static_cast<std::size_t>(width);
    return value;
  }
  // One or more digits as a fraction of a second, in milliseconds (truncated).
  std::optional<int> fraction_ms() {
    int ms = 0;
    int seen = 0;
    while (peek() >= '0' && peek() <= '9') {
      if (seen < 3) ms = ms * 10 + (peek() - '0');
      ++seen;
      ++pos_;
    }
    if (seen == 0) return std::nullopt;
    for (int i = seen; i < 3; ++i) ms *= 10;
    return ms;
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

// Offset east of UTC, in minutes, or nullopt when malformed. No suffix at all means UTC.
std::optional<int> parse_zone(Cursor& in) {
  if (in.at_end() || in.take('Z') || in.take('z')) return 0;
  int sign = 0;
  if (in.take('+')) sign = 1;
  else if (in.take('-')) sign = -1;
  else return std::nullopt;
  auto hours = in.digits(2);
  if (!hours) return std::nullopt;
  in.take(':');  // both +HH:MM and +HHMM
  auto minutes = in.digits(2);
  if (!minutes || *hours > 23 || *minutes > 59) return std::nullopt;
  return sign * (*hours * 60 + *minutes);
}

}  // namespace

std::optional<TimePoint> parse_timestamp(std::string_view text) noexcept {
  using namespace std::chrono;
  Cursor in(text);
  auto y = in.digits(4);
  if (!y || !in.take('-')) return std::nullopt;
  auto mo = in.digits(2);
  if (!mo || !in.take('-')) return std::nullopt;
  auto d = in.digits(2);
  if (!d) return std::nullopt;
  if (!in.take(' ') && !in.take('T') && !in.take('t')) return std::nullopt;
  auto h = in.digits(2);
  if (!h || !in.take(':')) return std::nullopt;
  auto mi = in.digits(2);
  if (!mi) return std::nullopt;
  int s = 0;
  int ms = 0;
  if (in.take(':')) {
    auto sec = in.digits(2);
    if (!sec) return std::nullopt;
    s = *sec;
    if (in.take('.')) {
      auto frac = in.fraction_ms();
      if (!frac) return std::nullopt;
      ms = *frac;
    }
  }
  auto offset_min = parse_zone(in);
  if (!offset_min || !in.at_end()) return std::nullopt;

  year_month_day date{year{*y}, month{static_cast<unsigned>(*mo)}, day{static_cast<unsigned>(*d)}};
  if (!date.ok() || *h > 23 || *mi > 59 || s > 59) return std::nullopt;
  TimePoint local = sys_days{date} + hours{*h} + minutes{*mi} + seconds{s} + milliseconds{ms};
  return local - minutes{*offset_min};
}

std::optional<TimePoint> parse_timestamp_latest(std::string_view text) noexcept {
  auto t = parse_timestamp(text);
  if (!t) return t;
  // The precision is what the text spells: minutes, whole seconds, or a fraction.
  std::size_t time_start = 11;
  std::string_view time = text.substr(time_start);
  std::size_t colons = 0;
  bool fraction = false;
  for (char c : time) {
    if (c == ':') ++colons;
    if (c == '.') fraction = true;
    if (c == 'Z' || c == 'z' || c == '+' || c == '-') break;
  }
  if (fraction) return t;
  return *t + (colons >= 2 ? Duration{999} : Duration{59'999});
}

std::string format_iso8601(TimePoint t) {
  using namespace std::chrono;
  auto day_start = floor<days>(t);
  year_month_day date{day_start};
  hh_mm_ss<milliseconds> tod{t - day_start};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                static_cast<int>(tod.hours().count()), static_cast<int>(tod.minutes().count()),
                static_cast<int>(tod.seconds().count()), static_cast<int>(tod.subseconds().count()));
  return buf;
}

std::string format_sqlite(TimePoint t) {
  std::string iso = format_iso8601(t);
  iso[10] = ' ';
  return iso.substr(0, 19);
}

TimePoint now_utc() noexcept {
  return std::chrono::floor<Duration>(std::chrono::system_clock::now());
}

std::optional<Duration> parse_duration(std::string_view text) noexcept {
  if (text == "0") return Duration{0};
  if (text.empty()) return std::nullopt;
  std::int64_t total_ms = 0;
  std::size_t pos = 0;
  constexpr std::int64_t kLimitMs = std::int64_t{1} << 52;  // far beyond any sane duration
  while (pos < text.size()) {
    std::int64_t whole = 0;
    std::size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      whole = whole * 10 + (text[pos] - '0');
      if (whole > kLimitMs) return std::nullopt;
      ++pos;
    }
    // An optional fraction, as in "1.5s".
    std::int64_t frac_num = 0;
    std::int64_t frac_den = 1;
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      std::size_t frac_start = pos;
      while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
        if (frac_den < 1'000'000) {
          frac_num = frac_num * 10 + (text[pos] - '0');
          frac_den *= 10;
        }
        ++pos;
      }
      if (pos == frac_start) return std::nullopt;
    }
    if (pos == start) return std::nullopt;
    std::size_t unit_start = pos;
    while (pos < text.size() && (text[pos] < '0' || text[pos] > '9') && text[pos] != '.') ++pos;
    std::string_view unit = text.substr(unit_start, pos - unit_start);
    std::int64_t unit_ms = 0;
    if (unit == "ms") unit_ms = 1;
    else if (unit == "s") unit_ms = 1000;
    else if (unit == "m" || unit == "min") unit_ms = 60'000;
    else if (unit == "h") unit_ms = 3'600'000;
    else if (unit == "d") unit_ms = 86'400'000;
    else return std::nullopt;
    // Checked before multiplying: a count near the limit times a unit overflowed (fuzz_duration).
    if (whole > kLimitMs / unit_ms) return std::nullopt;
    total_ms += whole * unit_ms + frac_num * unit_ms / frac_den;
    if (total_ms > kLimitMs) return std::nullopt;
  }
  return Duration{total_ms};
}

std::string format_duration(Duration d) {
  using namespace std::chrono;
  if (d == Duration::zero()) return "0s";
  std::string out;
  if (d < Duration::zero()) {
    out = "-";
    d = -d;
  }
  if (d < seconds{1}) return out + std::to_string(d.count()) + "ms";
  auto dd = duration_cast<days>(d);
  d -= dd;
  auto h = duration_cast<hours>(d);
  d -= h;
  auto m = duration_cast<minutes>(d);
  d -= m;
  auto s = duration_cast<seconds>(d);
  auto ms = (d - s).count();
  if (dd.count()) out += std::to_string(dd.count()) + "d";
  if (h.count()) out += std::to_string(h.count()) + "h";
  if (m.count()) out += std::to_string(m.count()) + "m";
  if (s.count() || ms) {
    out += std::to_string(s.count());
    if (ms) {
      char frac[8];
      std::snprintf(frac, sizeof frac, ".%03lld", static_cast<long long>(ms));
      std::string f = frac;
      while (f.back() == '0') f.pop_back();
      out += f;
    }
    out += "s";
  }
  return out;
}

}  // namespace hostsweep::policy
