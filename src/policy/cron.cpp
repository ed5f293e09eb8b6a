#include "policy/cron.hpp"

#include "hostsweep/error.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>

namespace hostsweep::policy {
namespace {

// ---------------------------------------------------------------------------------------------
// Bit sets of allowed values

constexpr unsigned kNoBit = 64;

constexpr bool has_bit(std::uint64_t set, unsigned value) { return value < 64 && ((set >> value) & 1U) != 0; }

constexpr std::uint64_t bit(unsigned value) { return std::uint64_t{1} << value; }

// The smallest value >= from in the set, or kNoBit.
constexpr unsigned next_bit(std::uint64_t set, unsigned from) {
  if (from >= 64) return kNoBit;
  const std::uint64_t rest = set >> from;
  return rest == 0 ? kNoBit : from + static_cast<unsigned>(std::countr_zero(rest));
}

constexpr std::uint64_t bits_between(unsigned first, unsigned last) {
  std::uint64_t set = 0;
  for (unsigned v = first; v <= last; ++v) set |= bit(v);
  return set;
}

constexpr std::uint64_t kEveryHour = bits_between(0, 23);

// ---------------------------------------------------------------------------------------------
// The language

enum class Field { second, minute, hour, day_of_month, month, day_of_week };

struct FieldRule {
  Field field;
  std::string_view name;
  unsigned min;
  unsigned max;
};

constexpr std::array<FieldRule, 6> kFieldRules{{
    {Field::second, "second", 0, 59},
    {Field::minute, "minute", 0, 59},
    {Field::hour, "hour", 0, 23},
    {Field::day_of_month, "day of month", 1, 31},
    {Field::month, "month", 1, 12},
    {Field::day_of_week, "day of week", 0, 7},  // 0 and 7 are both Sunday
}};

constexpr std::array<std::string_view, 12> kMonthNames{"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDayNames{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

// The longest each month can be, February in a leap year included.
constexpr std::array<unsigned, 13> kLongestMonth{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

struct Macro {
  std::string_view name;
  std::string_view fields;
};

// cron-parser 5's definitions, all with a seconds field.
constexpr std::array<Macro, 10> kMacros{{
    {"@yearly", "0 0 0 1 1 *"},
    {"@annually", "0 0 0 1 1 *"},
    {"@monthly", "0 0 0 1 * *"},
    {"@weekly", "0 0 0 * * 0"},
    {"@daily", "0 0 0 * * *"},
    {"@hourly", "0 0 * * * *"},
    {"@minutely", "0 * * * * *"},
    {"@secondly", "* * * * * *"},
    {"@weekdays", "0 0 0 * * 1-5"},
    {"@weekends", "0 0 0 * * 0,6"},
}};

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

bool is_all(std::string_view text, bool (*predicate)(char)) {
  return !text.empty() && std::all_of(text.begin(), text.end(), predicate);
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t begin = 0;
  while (true) {
    const std::size_t end = text.find(separator, begin);
    parts.push_back(text.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin));
    if (end == std::string_view::npos) return parts;
    begin = end + 1;
  }
}

std::vector<std::string_view> split_on_spaces(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && is_space(text[pos])) ++pos;
    const std::size_t start = pos;
    while (pos < text.size() && !is_space(text[pos])) ++pos;
    if (pos > start) words.push_back(text.substr(start, pos - start));
  }
  return words;
}

[[noreturn]] void reject(const std::string& message) { throw Error(Errc::invalid_argument, message); }

// What one field allows.
struct FieldValues {
  std::uint64_t values = 0;
  std::uint64_t last_weekdays = 0;  // "5L"
  bool last_day = false;            // "L"
  unsigned nth = 0;                 // "1#2"
  bool restricted = true;           // false only for exactly "*" or "?"
};

// Parses the text of one field; every error names the field's position and text.
class FieldParser {
 public:
  FieldParser(std::string_view text, const FieldRule& rule, std::size_t position)
      : text_(text), rule_(rule), position_(position) {}

  FieldValues parse() {
    check_characters();
    result_.restricted = !(text_ == "*" || text_ == "?");
    if (text_.find('#') != std::string_view::npos) {
      parse_nth_weekday();
      return result_;
    }
    for (std::string_view item : split(text_, ',')) {
      if (item.empty()) fail("empty list item");
      parse_item(item);
    }
    return result_;
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    reject("field " + std::to_string(position_) + " (" + quoted(text_) + "): " + problem);
  }

  std::string range_rule() const {
    return std::string(rule_.name) + " must be " + std::to_string(rule_.min) + "-" + std::to_string(rule_.max);
  }

  bool is(Field field) const { return rule_.field == field; }

  void check_characters() const {
    // H first: "H(0-29)" deserves the H message rather than one about the parenthesis.
    for (std::size_t pos = 0; pos < text_.size();) {
      if (!is_letter(text_[pos])) {
        ++pos;
        continue;
      }
      const std::size_t start = pos;
      while (pos < text_.size() && is_letter(text_[pos])) ++pos;
      if (upper(text_.substr(start, pos - start)) == "H") fail("H (hashed values) is not supported");
    }
    for (char c : text_) {
      if (!is_digit(c) && !is_letter(c) && std::string_view("*?,-/#").find(c) == std::string_view::npos) {
        fail(std::string("unexpected character '") + c + "'");
      }
    }
  }

  // "1#2": the second Monday. cron-parser allows # only as the whole field.
  void parse_nth_weekday() {
    if (!is(Field::day_of_week)) fail("# is only allowed in day of week");
    if (text_.find(',') != std::string_view::npos) fail("# cannot be combined with a list");
    if (text_.find_first_of("-/L") != std::string_view::npos) fail("# cannot be combined with a range, a step or L");
    const std::size_t hash = text_.find('#');
    const std::string_view weekday = text_.substr(0, hash);
    const std::string_view occurrence = text_.substr(hash + 1);
    if (weekday.empty() || weekday == "*" || weekday == "?") {
      fail("# needs one weekday before it, e.g. 1#2 (the second Monday)");
    }
    if (occurrence.size() != 1 || occurrence[0] < '1' || occurrence[0] > '5') fail("# occurrence must be 1-5");
    result_.values = bit(parse_value(weekday) % 7);
    result_.nth = static_cast<unsigned>(occurrence[0] - '0');
  }

  void parse_item(std::string_view item) {
    const std::size_t slash = item.find('/');
    const std::string_view base = item.substr(0, slash);
    unsigned step = 0;
    if (slash != std::string_view::npos) step = parse_step(item.substr(slash + 1));
    if (base.empty()) fail("missing value before /");

    if (base == "L") {
      if (is(Field::day_of_week)) fail("L in day of week needs a weekday before it, e.g. 5L (the last Friday)");
      if (!is(Field::day_of_month)) fail("L is only allowed in day of month and day of week");
      if (step != 0) fail("L cannot be used with a step or in a range");
      if (result_.last_day) fail("L is listed more than once");
      result_.last_day = true;
      return;
    }
    // "5L", or with the weekday's name: "FRIL".
    const bool weekday_before_l = base.size() >= 2 && (is_digit(base[base.size() - 2]) ||
                                                       (base.size() == 4 && is_letter(base[0]) && is_letter(base[2])));
    if (base.back() == 'L' && weekday_before_l && base.find('-') == std::string_view::npos) {
      parse_last_weekday(base.substr(0, base.size() - 1), step);
      return;
    }

    unsigned first = rule_.min;
    unsigned last = rule_.max;
    if (base != "*" && base != "?") {
      const std::size_t dash = base.find('-');
      first = parse_value(base.substr(0, dash));
      if (dash != std::string_view::npos) {
        last = parse_value(base.substr(dash + 1));
        if (first > last) {
          fail("range start " + std::to_string(first) + " is greater than range end " + std::to_string(last));
        }
      } else if (step == 0) {
        last = first;  // a single value; "5/15" means 5 to the maximum
      }
    }
    add_values(first, last, step == 0 ? 1 : step);
  }

  // "5L": the last Friday of the month.
  void parse_last_weekday(std::string_view weekday, unsigned step) {
    if (is(Field::day_of_month)) fail("nL (the last weekday n) is only allowed in day of week");
    if (!is(Field::day_of_week)) fail("L is only allowed in day of month and day of week");
    if (step != 0) fail("L cannot be used with a step or in a range");
    const unsigned day = parse_value(weekday) % 7;
    if ((result_.last_weekdays & bit(day)) != 0) fail(std::string(weekday) + "L is listed more than once");
    result_.last_weekdays |= bit(day);
  }

  void add_values(unsigned first, unsigned last, unsigned step) {
    std::uint64_t item = 0;
    for (unsigned v = first; v <= last; v += step) item |= bit(is(Field::day_of_week) ? v % 7 : v);
    // cron-parser rejects a value that two list items both name.
    if (const std::uint64_t repeated = item & result_.values; repeated != 0) {
      const unsigned value = next_bit(repeated, 0);
      if (is(Field::day_of_week) && value == 0) fail("Sunday (0 or 7) is listed more than once");
      fail(std::to_string(value) + " is listed more than once");
    }
    result_.values |= item;
  }

  unsigned parse_step(std::string_view text) const {
    if (!is_all(text, is_digit) || text.size() > 6 || std::stoul(std::string(text)) == 0) {
      fail("step must be a positive whole number, not " + quoted(text));
    }
    return static_cast<unsigned>(std::stoul(std::string(text)));
  }

  // A number or, in month and day of week, a name; checked against the field's range.
  unsigned parse_value(std::string_view token) const {
    if (token.empty()) fail("a range needs a value on both sides of -");
    if (is_all(token, is_digit)) {
      const unsigned long value = token.size() > 6 ? 9'999'999UL : std::stoul(std::string(token));
      if (value < rule_.min || value > rule_.max) {
        fail(range_rule() + (token == text_ ? std::string() : ", not " + std::string(token)));
      }
      return static_cast<unsigned>(value);
    }
    if (is_all(token, is_letter)) {
      const std::string name = upper(token);
      if (is(Field::month)) {
        const auto* found = std::find(kMonthNames.begin(), kMonthNames.end(), name);
        if (found == kMonthNames.end()) fail("unknown month name " + quoted(token) + " (expected JAN-DEC)");
        return static_cast<unsigned>(found - kMonthNames.begin()) + 1;
      }
      if (is(Field::day_of_week)) {
        const auto* found = std::find(kDayNames.begin(), kDayNames.end(), name);
        if (found == kDayNames.end()) fail("unknown day-of-week name " + quoted(token) + " (expected SUN-SAT)");
        return static_cast<unsigned>(found - kDayNames.begin());
      }
    }
    if ((is(Field::day_of_month) || is(Field::day_of_week)) && token.find('L') != std::string_view::npos) {
      fail("L cannot be used with a step or in a range");
    }
    fail(range_rule() + ", not " + quoted(token));
  }

  std::string_view text_;
  const FieldRule& rule_;
  std::size_t position_;
  FieldValues result_;
};

std::string known_macros() {
  std::string list;
  for (const Macro& macro : kMacros) list += (list.empty() ? "" : ", ") + std::string(macro.name);
  return list;
}

date::local_seconds wall_clock(date::sys_seconds instant, std::chrono::seconds offset) {
  return date::local_seconds{instant.time_since_epoch() + offset};
}

date::sys_seconds instant_of(date::local_seconds wall, std::chrono::seconds offset) {
  return date::sys_seconds{wall.time_since_epoch() - offset};
}

// Every expression parse() accepts fires within one 400-year Gregorian cycle (146097 days, a
// whole number of weeks), so searching a little longer than that is enough.
constexpr date::days kSearchHorizon{146097 + 2};

// Searches start no earlier than year 1 and give up from year 9999 on.
constexpr date::sys_seconds kEarliestSearchStart{date::sys_days{date::year{1} / 1 / 1}};
constexpr TimePoint kLatestSearchStart{date::sys_days{date::year{9999} / 1 / 1}};

// A transition can matter to a search that starts this long after it: the widest known shift
// is a day (Pacific/Apia skipped 30 December 2011).
constexpr std::chrono::seconds kTransitionReach{2 * 86400};

}  // namespace

CronSchedule CronSchedule::parse(std::string_view expression) {
  const std::vector<std::string_view> words = split_on_spaces(expression);
  if (words.empty()) reject("empty cron expression");

  std::vector<std::string_view> fields = words;
  if (words.front().front() == '@') {
    const auto* macro =
        std::find_if(kMacros.begin(), kMacros.end(), [&](const Macro& m) { return m.name == words.front(); });
    if (macro == kMacros.end() || words.size() != 1) {
      const std::size_t first = expression.find('@');
      const std::size_t last = expression.find_last_not_of(" \t\n\r\v\f");
      reject("unknown macro " + quoted(expression.substr(first, last + 1 - first)) + " (known: " + known_macros() +
             ")");
    }
    fields = split_on_spaces(macro->fields);
  }
  if (fields.size() != 5 && fields.size() != 6) {
    reject("expected 5 or 6 fields, got " + std::to_string(fields.size()));
  }

  // With 5 fields, seconds are implicitly 0 and the user's field 1 is the minute.
  const std::size_t first_rule = 6 - fields.size();
  std::array<FieldValues, 6> parsed;
  parsed[0].values = bit(0);
  for (std::size_t i = 0; i < fields.size(); ++i) {
    parsed[first_rule + i] = FieldParser(fields[i], kFieldRules[first_rule + i], i + 1).parse();
  }

  CronSchedule schedule;
  schedule.expression_ = std::string(expression);
  schedule.seconds_ = parsed[0].values;
  schedule.minutes_ = parsed[1].values;
  schedule.hours_ = parsed[2].values;
  schedule.days_of_month_ = parsed[3].values;
  schedule.last_day_of_month_ = parsed[3].last_day;
  schedule.day_of_month_restricted_ = parsed[3].restricted;
  schedule.months_ = parsed[4].values;
  schedule.weekdays_ = parsed[5].values;
  schedule.last_weekdays_ = parsed[5].last_weekdays;
  schedule.nth_weekday_ = parsed[5].nth;
  schedule.day_of_week_restricted_ = parsed[5].restricted;

  // Only a day of month that no allowed month has can make an expression never fire: a
  // restricted day of week always fires eventually (the fields combine with OR), and so do L,
  // nL and n#k, given enough years.
  if (schedule.day_of_month_restricted_ && !schedule.day_of_week_restricted_ && !schedule.last_day_of_month_) {
    unsigned longest = 0;
    for (unsigned m = 1; m <= 12; ++m) {
      if (has_bit(schedule.months_, m)) longest = std::max(longest, kLongestMonth[m]);
    }
    const unsigned earliest_day = next_bit(schedule.days_of_month_, 1);
    if (earliest_day > longest) {
      const std::size_t day_field = 4 - first_rule;
      reject("field " + std::to_string(day_field) + " (" + quoted(fields[day_field - 1]) +
             "): the schedule never fires, as no month allowed by field " + std::to_string(day_field + 1) + " (" +
             quoted(fields[day_field]) + ") has day " + std::to_string(earliest_day));
    }
  }
  return schedule;
}

std::optional<CronSchedule> CronSchedule::try_parse(std::string_view expression, std::string& error) {
  try {
    return parse(expression);
  } catch (const Error& e) {
    error = e.what();
    return std::nullopt;
  }
}

bool CronSchedule::day_matches(const date::year_month_day& ymd) const {
  const unsigned day = static_cast<unsigned>(ymd.day());
  const unsigned last_day = static_cast<unsigned>((ymd.year() / ymd.month() / date::last).day());
  const unsigned weekday = date::weekday{date::local_days{ymd}}.c_encoding();
  const bool by_month_day = has_bit(days_of_month_, day) || (last_day_of_month_ && day == last_day);
  const bool by_weekday = (has_bit(weekdays_, weekday) && (nth_weekday_ == 0 || (day + 6) / 7 == nth_weekday_)) ||
                          (has_bit(last_weekdays_, weekday) && day + 7 > last_day);
  if (day_of_month_restricted_ && day_of_week_restricted_) return by_month_day || by_weekday;
  if (day_of_month_restricted_) return by_month_day;
  if (day_of_week_restricted_) return by_weekday;
  return true;
}

std::optional<std::int64_t> CronSchedule::first_time_of_day(std::int64_t from) const {
  const auto from_hour = static_cast<unsigned>(from / 3600);
  const auto from_minute = static_cast<unsigned>(from / 60 % 60);
  const auto from_second = static_cast<unsigned>(from % 60);
  for (unsigned hour = next_bit(hours_, from_hour); hour != kNoBit; hour = next_bit(hours_, hour + 1)) {
    const bool same_hour = hour == from_hour;
    for (unsigned minute = next_bit(minutes_, same_hour ? from_minute : 0); minute != kNoBit;
         minute = next_bit(minutes_, minute + 1)) {
      const bool same_minute = same_hour && minute == from_minute;
      const unsigned second = next_bit(seconds_, same_minute ? from_second : 0);
      if (second != kNoBit) return std::int64_t{hour} * 3600 + std::int64_t{minute} * 60 + second;
    }
  }
  return std::nullopt;
}

std::optional<date::local_seconds> CronSchedule::first_match(date::local_seconds from,
                                                             date::local_seconds until) const {
  if (from >= until) return std::nullopt;
  date::local_days day = date::floor<date::days>(from);
  std::int64_t time_of_day = (from - day).count();
  const date::local_days last_day = date::floor<date::days>(until - std::chrono::seconds{1});
  while (day <= last_day) {
    const date::year_month_day ymd{day};
    const auto month = static_cast<unsigned>(ymd.month());
    if (!has_bit(months_, month)) {
      // Straight to the first day of the next allowed month, not day by day.
      const unsigned next = next_bit(months_, month + 1);
      const date::year year = next == kNoBit ? ymd.year() + date::years{1} : ymd.year();
      const unsigned next_month = next == kNoBit ? next_bit(months_, 1) : next;
      day = date::local_days{year / date::month{next_month} / 1};
      time_of_day = 0;
      continue;
    }
    if (day_matches(ymd)) {
      if (const auto time = first_time_of_day(time_of_day)) {
        const date::local_seconds wall = day + std::chrono::seconds{*time};
        if (wall < until) return wall;
        return std::nullopt;
      }
    }
    day += date::days{1};
    time_of_day = 0;
  }
  return std::nullopt;
}

// The zone's history is a sequence of spans with one UTC offset each. Within a span, wall time
// and UTC correspond one to one, so the search walks span by span and finds the first matching
// wall time in each. The edges of a span are where DST rules apply (docs/CRON.md):
//  - clocks went back at the span's start: the wall times the previous span already showed
//    fire again only for schedules that run every hour;
//  - clocks jumped forward: the skipped wall times fire, shifted by the size of the jump,
//    only for schedules that do not run every hour.
std::optional<TimePoint> CronSchedule::next_after(TimePoint after, const date::time_zone& zone) const {
  // Keep the arithmetic inside the years the calendar and the zone database handle.
  if (after >= kLatestSearchStart) return std::nullopt;
  const date::sys_seconds start =
      std::max(std::chrono::floor<std::chrono::seconds>(after) + std::chrono::seconds{1}, kEarliestSearchStart);
  const date::sys_seconds horizon = start + kSearchHorizon;
  const bool every_hour = hours_ == kEveryHour;

  date::sys_seconds cursor = start;
  while (cursor < horizon) {
    const date::sys_info span = zone.get_info(cursor);
    const date::sys_seconds span_end = std::min(span.end, horizon);
    std::optional<std::chrono::seconds> offset_before;
    if (cursor - span.begin < kTransitionReach) {
      offset_before = zone.get_info(span.begin - std::chrono::seconds{1}).offset;
    }
    const bool clocks_went_back = offset_before && *offset_before > span.offset;
    const bool clocks_jumped = offset_before && *offset_before < span.offset;

    std::optional<date::sys_seconds> best;
    date::local_seconds from = wall_clock(cursor, span.offset);
    if (clocks_went_back && !every_hour) from = std::max(from, wall_clock(span.begin, *offset_before));
    if (const auto wall = first_match(from, wall_clock(span_end, span.offset))) best = instant_of(*wall, span.offset);

    if (clocks_jumped && !every_hour) {
      // Skipped wall times fire when the clock would have shown them, had it not jumped.
      const date::local_seconds gap_from =
          std::max(wall_clock(span.begin, *offset_before), wall_clock(cursor, *offset_before));
      if (const auto wall = first_match(gap_from, wall_clock(span.begin, span.offset))) {
        const date::sys_seconds shifted = instant_of(*wall, *offset_before);
        if (!best || shifted < *best) best = shifted;
      }
    }
    if (best) return TimePoint{*best};
    cursor = span_end;
  }
  return std::nullopt;
}

std::vector<TimePoint> CronSchedule::next_n(TimePoint after, const date::time_zone& zone, std::size_t count) const {
  std::vector<TimePoint> fires;
  fires.reserve(count);
  while (fires.size() < count) {
    const auto next = next_after(fires.empty() ? after : fires.back(), zone);
    if (!next) break;
    fires.push_back(*next);
  }
  return fires;
}

}  // namespace hostsweep::policy
