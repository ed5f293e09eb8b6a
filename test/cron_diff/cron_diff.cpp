// The differential test of hostsweep's cron engine against cron-parser (README.md beside this
// file, issue 12): generates cases from a seed, asks both for the next fire times, and
// classifies every disagreement. A disagreement that docs/CRON.md explains is counted as
// expected; any other one fails the test and is printed so that it can be replayed.
//
// A third opinion settles who is wrong: a slow, plain model of docs/CRON.md's rules (every
// allowed wall time, day by day, through the date library's own local-to-UTC answer). hostsweep
// must agree with it on every case it accepts, whatever cron-parser says; an "expected"
// disagreement is therefore one where cron-parser departs from the documented rules.
//
//   cron_diff --node NODE --reference reference.mjs --work-dir DIR [--seed N] [--cases N] [--count K]
//   cron_diff --node NODE --reference reference.mjs --work-dir DIR --replay EXPR ZONE AFTER
//
// The seed fixes everything: the same seed gives the same cases on every machine (the random
// numbers come from splitmix64 and are mapped to choices here, not by <random>'s
// distributions, whose results differ between standard libraries).

#include "policy/cron.hpp"
#include "hostsweep/policy/timestamp.hpp"

#include <date/date.h>
#include <date/tz.h>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bitset>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace {

using hostsweep::TimePoint;
using hostsweep::policy::CronSchedule;
using Seconds = std::chrono::seconds;
using Millis = std::chrono::milliseconds;

// ---------------------------------------------------------------------------------------------
// Random numbers: splitmix64, so that a seed means the same cases everywhere.

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi]; the modulo bias is far below anything a test of this size can see.
  std::int64_t between(std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(hi - lo + 1));
  }
  int between(int lo, int hi) { return static_cast<int>(between(std::int64_t{lo}, std::int64_t{hi})); }
  bool percent(int p) { return between(0, 99) < p; }
  template <typename T>
  const T& pick(const std::vector<T>& items) {
    return items[static_cast<std::size_t>(between(0, static_cast<int>(items.size()) - 1))];
  }

 private:
  std::uint64_t state_;
};

// ---------------------------------------------------------------------------------------------
// Expressions

const std::vector<std::string> kMacros = {"@yearly", "@annually", "@monthly",  "@weekly",   "@daily",
                                          "@hourly", "@minutely", "@secondly", "@weekdays", "@weekends"};

const std::vector<std::string> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                              "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
const std::vector<std::string> kDayNames = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

// Hand-written expressions at the edges of the language, where the two parsers are most likely
// to part: each generated case takes one of these now and then.
const std::vector<std::string> kEdgeExpressions = {
    "0 0 31 2 1",         // accepted through the OR rule
    "0 0 30 2 *",         // never fires: both reject
    "0 0 31 4,6,9,11 *",  // never fires
    "0 0 29 2 *",         // leap days only
    "0 0 29 2 1#5",       // 29 February or the fifth Monday
    "0 0 * 2 1#5",        // a fifth Monday in February: 29 February on a Monday
    "0 0 L 2 *",
    "0 0 1,L * *",
    "0 0 L * 5",
    "0 12 * * 5L",
    "0 12 * * 0L",
    "0 12 * * 7L",
    "0 12 * * 1,5L",
    "0 0 * * 7#1",
    "0 0 * * 1#5",
    "0 0 13 * 5",
    "0 0 */10 * 1",
    "0 0 13 * ?",
    "0 0 ? * 5",
    "0 0 1-31 * 1",      // restricted although it names every day
    "0 0 * * 0-7",       // 0 and 7 both Sunday in one range
    "0 0 * * 0,7",       // Sunday twice: both reject
    "1,1 * * * *",       // duplicate: both reject
    "1-5,3 * * * *",     // duplicate: both reject
    "5-1 * * * *",       // reversed range: both reject
    "*/0 * * * *",       // step 0: both reject
    "60 * * * *",        // out of range
    "0 24 * * *",        // out of range
    "0 0 32 * *",        // out of range
    "0 0 0 * *",         // out of range
    "0 0 1 13 *",        // out of range
    "0 0 * * 8",         // out of range
    "*/100 * * * *",     // a step wider than the field
    "5/15 * * * *",      // 5, 20, 35, 50
    "0 0 1 JAN-DEC/3 *",
    "0 12 * * mon-FRI",
    "0 12 * * SUN-SAT/2",
    "H * * * *",         // hashed: hostsweep rejects on purpose
    "H/5 * * * *",
    "0 H(0-3) * * *",
    "* * * *",           // 4 fields: cron-parser pads, hostsweep rejects on purpose
    "* * * * * * *",     // 7 fields
    "0 0 * * *#2",       // *#k: hostsweep rejects on purpose
    "0 0 L-2 * *",       // L in a range
    "0 0 LW * *",        // W is not part of the language
    "0 0 15W * *",
    "0 0 * * L",         // a bare L in day of week
    "0 0 * * FRIL",
    "0 0 * * 1#6",
    "0 0 * * 1#0",
    "0 0 * * 1#2,3",
    "@fortnightly",
    "@DAILY",            // macro names are case-sensitive
    "0 0 1 1 * 2026",
    "*/20 1 * * *",
    "30 1-3 * * *",
    "0 */1 * * *",
    "0 0-23 * * *",
    "*/15 * * * *",
    "0 30 2 * * *",
    "59 59 23 31 12 *",
};

// What a generated field allows, worked out by the generator itself, so that list items can
// be kept apart (a value named twice is an error in both parsers, and is covered by
// kEdgeExpressions instead).
struct FieldText {
  std::string text;
  std::set<int> values;
};

struct FieldShape {
  int min;
  int max;
  std::vector<int> favourites;  // values that matter for DST or the calendar
  int star_percent;
  const std::vector<std::string>* names = nullptr;  // month or weekday names
  int name_offset = 0;                              // the value of names[0]
};

std::string name_in_some_case(Rng& rng, const std::string& name) {
  switch (rng.between(0, 3)) {
    case 0: {
      std::string lower = name;
      for (char& c : lower) c = static_cast<char>(c - 'A' + 'a');
      return lower;
    }
    case 1: {
      std::string title = name;
      for (std::size_t i = 1; i < title.size(); ++i) title[i] = static_cast<char>(title[i] - 'A' + 'a');
      return title;
    }
    default:
      return name;
  }
}

std::string value_text(Rng& rng, const FieldShape& shape, int value) {
  if (shape.names != nullptr && rng.percent(40)) {
    const int index = value - shape.name_offset;
    if (index >= 0 && index < static_cast<int>(shape.names->size())) {
      return name_in_some_case(rng, (*shape.names)[static_cast<std::size_t>(index)]);
    }
  }
  return std::to_string(value);
}

int some_value(Rng& rng, const FieldShape& shape) {
  if (!shape.favourites.empty() && rng.percent(50)) return rng.pick(shape.favourites);
  return rng.between(shape.min, shape.max);
}

std::set<int> stepped(int first, int last, int step) {
  std::set<int> values;
  for (int v = first; v <= last; v += step) values.insert(v);
  return values;
}

// One list item: a value, a range or a step.
FieldText field_item(Rng& rng, const FieldShape& shape) {
  const int kind = rng.between(0, 99);
  if (kind < 45) {
    const int v = some_value(rng, shape);
    return {value_text(rng, shape, v), {v}};
  }
  if (kind < 75) {
    int a = some_value(rng, shape);
    int b = some_value(rng, shape);
    if (a > b) std::swap(a, b);
    return {value_text(rng, shape, a) + "-" + value_text(rng, shape, b), stepped(a, b, 1)};
  }
  const int width = shape.max - shape.min + 1;
  const int step = rng.percent(85) ? rng.between(1, std::min(width, 15)) : rng.between(1, width + 5);
  if (kind < 88) return {"*/" + std::to_string(step), stepped(shape.min, shape.max, step)};
  int a = some_value(rng, shape);
  if (kind < 94) return {value_text(rng, shape, a) + "/" + std::to_string(step), stepped(a, shape.max, step)};
  int b = some_value(rng, shape);
  if (a > b) std::swap(a, b);
  return {value_text(rng, shape, a) + "-" + value_text(rng, shape, b) + "/" + std::to_string(step),
          stepped(a, b, step)};
}

bool overlaps(const std::set<int>& a, const std::set<int>& b, bool sunday_twice) {
  for (int v : b) {
    if (a.count(v) != 0) return true;
    if (sunday_twice && (v == 0 || v == 7) && (a.count(0) != 0 || a.count(7) != 0)) return true;
  }
  return false;
}

FieldText numeric_field(Rng& rng, const FieldShape& shape, bool day_of_week = false) {
  if (rng.percent(shape.star_percent)) return {rng.percent(92) ? "*" : "?", {}};
  FieldText field = field_item(rng, shape);
  if (rng.percent(25)) {
    const int items = rng.between(1, 3);
    for (int i = 0; i < items; ++i) {
      const FieldText more = field_item(rng, shape);
      if (overlaps(field.values, more.values, day_of_week)) continue;
      field.text += "," + more.text;
      field.values.insert(more.values.begin(), more.values.end());
    }
  }
  return field;
}

const FieldShape kSecond{0, 59, {0, 30, 59}, 15};
const FieldShape kMinute{0, 59, {0, 15, 30, 45, 59, 1}, 25};
const FieldShape kHour{0, 23, {0, 1, 2, 3, 23}, 30};
const FieldShape kDayOfMonth{1, 31, {1, 13, 15, 28, 29, 30, 31}, 55};
const FieldShape kMonth{1, 12, {1, 2, 3, 10, 11, 12}, 55, &kMonthNames, 1};
const FieldShape kDayOfWeek{0, 7, {0, 1, 5, 6, 7}, 55, &kDayNames, 0};

std::string hour_field(Rng& rng) {
  // The hour field decides the DST rule (docs/CRON.md), so the forms that allow every hour get
  // more than their share.
  if (rng.percent(12)) return rng.pick(std::vector<std::string>{"*/1", "0-23", "0-11,12-23", "*"});
  return numeric_field(rng, kHour).text;
}

std::string day_of_month_field(Rng& rng) {
  if (rng.percent(6)) return "L";
  if (rng.percent(3)) return std::to_string(rng.between(1, 27)) + ",L";
  return numeric_field(rng, kDayOfMonth).text;
}

std::string day_of_week_field(Rng& rng) {
  if (rng.percent(5)) return std::to_string(rng.between(0, 7)) + "L";
  if (rng.percent(5)) {
    const int day = rng.between(0, 7);
    const std::string before = day < 7 && rng.percent(30) ? name_in_some_case(rng, kDayNames[static_cast<std::size_t>(day)])
                                                          : std::to_string(day);
    return before + "#" + std::to_string(rng.between(1, 5));
  }
  return numeric_field(rng, kDayOfWeek, true).text;
}

std::string generate_expression(Rng& rng) {
  const int kind = rng.between(0, 99);
  if (kind < 5) return rng.pick(kMacros);
  if (kind < 9) return rng.pick(kEdgeExpressions);
  std::string expression;
  if (kind < 30) {
    // Six fields. A seconds field of * fires every second, which tests little: keep it rare.
    expression = rng.percent(80) ? numeric_field(rng, kSecond).text : std::to_string(rng.between(0, 59));
    if (expression == "*" && rng.percent(70)) expression = "0";
    expression += " ";
  }
  expression += numeric_field(rng, kMinute).text + " " + hour_field(rng) + " " + day_of_month_field(rng) + " " +
                numeric_field(rng, kMonth).text + " " + day_of_week_field(rng);
  return expression;
}

// ---------------------------------------------------------------------------------------------
// Zones and instants

struct ZoneInfo {
  std::string name;
  const date::time_zone* zone;
  std::vector<date::sys_seconds> transitions;  // offset changes listed for 2000-2037
};

// Zones with DST in both directions, sub-hour shifts (Lord Howe), shifts at odd wall times
// (Chatham at 02:45, St John's at 02:00 -03:30, Havana and Santiago around midnight), DST that
// ended (Sao Paulo 2019, Tehran 2022, Apia 2021), a skipped day (Apia 2011), a two-hour shift
// (Troll), Ramadan reversals (Casablanca), and zones that never change.
const std::vector<std::string> kZoneNames = {
    "UTC",          "America/New_York", "Europe/London",     "Australia/Lord_Howe", "Asia/Kolkata",
    "America/Sao_Paulo", "Pacific/Chatham", "America/Santiago", "Australia/Sydney", "Asia/Tokyo",
    "Europe/Athens", "America/St_Johns", "America/Havana",   "Asia/Tehran",        "Pacific/Apia",
    "Antarctica/Troll", "Africa/Casablanca", "Europe/Dublin",
};

// Zones that have had no offset change since 2000, for the instants after 2037 (see the DST
// limitation in docs/CRON.md, which only affects zones with DST).
const std::set<std::string> kSteadyZones = {"UTC", "Asia/Kolkata", "Asia/Tokyo"};

std::vector<date::sys_seconds> transitions_of(const date::time_zone& zone) {
  std::vector<date::sys_seconds> found;
  const date::sys_seconds until{date::sys_days{date::year{2038} / 1 / 1}};
  date::sys_seconds cursor{date::sys_days{date::year{2000} / 1 / 1}};
  while (cursor < until) {
    const date::sys_info info = zone.get_info(cursor);
    if (info.end >= until) break;
    if (zone.get_info(info.end).offset != info.offset) found.push_back(info.end);
    cursor = info.end;
  }
  return found;
}

date::sys_seconds day_start(int year, unsigned month, unsigned day) {
  return date::sys_seconds{date::sys_days{date::year{year} / date::month{month} / date::day{day}}};
}

TimePoint generate_instant(Rng& rng, const ZoneInfo& zone) {
  const int kind = rng.between(0, 99);
  date::sys_seconds base;
  if (kind < 45 && !zone.transitions.empty()) {
    const date::sys_seconds transition = rng.pick(zone.transitions);
    const std::int64_t reach = rng.percent(50) ? 3 * 3600 : 40 * 3600;
    base = transition + Seconds{rng.between(-reach, reach)};
  } else if (kind < 60) {
    // Around the end of a month.
    const int year = rng.between(2000, 2036);
    const auto month = static_cast<unsigned>(rng.between(1, 12));
    const date::sys_days last{date::year{year} / date::month{month} / date::last};
    base = date::sys_seconds{last} + Seconds{rng.between(std::int64_t{-12 * 3600}, std::int64_t{48 * 3600})};
  } else if (kind < 70) {
    // Around 29 February, with 2100 (not a leap year) only where nothing depends on DST.
    std::vector<int> years = {2000, 2023, 2024, 2025, 2028, 2032, 2036};
    if (kSteadyZones.count(zone.name) != 0) years.insert(years.end(), {2096, 2100, 2104, 2400});
    base = day_start(rng.pick(years), 2, 27) + Seconds{rng.between(std::int64_t{0}, std::int64_t{3 * 86400})};
  } else if (kind < 75) {
    base = day_start(rng.between(2000, 2036), 12, 31) +
           Seconds{rng.between(std::int64_t{-86400}, std::int64_t{2 * 86400})};
  } else if (kind < 98) {
    base = day_start(2000, 1, 1) + Seconds{rng.between(std::int64_t{0}, std::int64_t{37} * 365 * 86400)};
  } else {
    // After 2037, in any zone: the documented limitation is counted, not hidden.
    base = day_start(rng.between(2038, 2099), static_cast<unsigned>(rng.between(1, 12)), 1) +
           Seconds{rng.between(std::int64_t{0}, std::int64_t{27} * 86400)};
  }
  // Whole hours and minutes often, so that starts land exactly on fire times.
  const int rounding = rng.between(0, 99);
  if (rounding < 35) return TimePoint{std::chrono::floor<std::chrono::hours>(base)};
  if (rounding < 60) return TimePoint{std::chrono::floor<std::chrono::minutes>(base)};
  if (rounding < 90) return TimePoint{base};
  return TimePoint{base} + Millis{rng.between(1, 999)};
}

// ---------------------------------------------------------------------------------------------
// Cases and answers

struct Case {
  std::size_t id;
  std::string expression;
  const ZoneInfo* zone;
  TimePoint after;
  std::size_t count;
};

struct Answer {
  bool rejected = false;
  std::string message;               // why it was rejected, or why it stopped early
  std::vector<std::int64_t> fires;   // ms since the epoch
};

std::int64_t millis(TimePoint t) { return t.time_since_epoch().count(); }

Answer hostsweep_answer(const Case& c) {
  Answer answer;
  std::string error;
  const auto schedule = CronSchedule::try_parse(c.expression, error);
  if (!schedule) {
    answer.rejected = true;
    answer.message = error;
    return answer;
  }
  for (TimePoint fire : schedule->next_n(c.after, *c.zone->zone, c.count)) answer.fires.push_back(millis(fire));
  if (answer.fires.size() < c.count) answer.message = "next_after gave up (nullopt)";
  return answer;
}

std::string iso(std::int64_t ms) { return hostsweep::policy::format_iso8601(TimePoint{Millis{ms}}); }

// "2026-03-08T07:30:00.000Z (03:30:00 EDT)": the instant and the wall clock it shows in `zone`.
std::string describe(std::int64_t ms, const date::time_zone& zone) {
  const date::sys_seconds utc{std::chrono::floor<Seconds>(Millis{ms})};
  const date::sys_info info = zone.get_info(utc);
  const date::local_seconds wall{utc.time_since_epoch() + info.offset};
  return iso(ms) + " (" + date::format("%F %T", wall) + " " + info.abbrev + ")";
}

void write_cases(const std::filesystem::path& file, const std::vector<Case>& cases) {
  std::ofstream out(file);
  for (const Case& c : cases) {
    out << c.id << '\t' << c.expression << '\t' << c.zone->name << '\t' << millis(c.after) << '\t' << c.count << '\n';
  }
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> parts;
  std::size_t begin = 0;
  while (true) {
    const std::size_t end = line.find('\t', begin);
    parts.push_back(line.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
    if (end == std::string::npos) return parts;
    begin = end + 1;
  }
}

std::map<std::size_t, Answer> read_answers(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("the reference wrote no answers to " + file.string());
  std::map<std::size_t, Answer> answers;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const std::vector<std::string> parts = split_tabs(line);
    if (parts.size() < 3 || (parts[1] != "R" && parts[1] != "F")) {
      throw std::runtime_error("unreadable answer line: " + line);
    }
    Answer answer;
    answer.rejected = parts[1] == "R";
    if (answer.rejected) {
      answer.message = parts[2];
    } else {
      std::istringstream fires(parts[2]);
      for (std::int64_t ms = 0; fires >> ms;) answer.fires.push_back(ms);
      if (parts.size() > 3) answer.message = parts[3];
    }
    answers[std::stoul(parts[0])] = answer;
  }
  return answers;
}

// Starts `node reference.mjs cases answers`, whose stderr goes straight to ours; 0 if it
// cannot be started.
pid_t start_reference(const std::string& node, const std::string& script, const std::filesystem::path& cases,
                      const std::filesystem::path& answers) {
  std::vector<std::string> args = {node, script, cases.string(), answers.string()};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (const int err = posix_spawn(&pid, node.c_str(), nullptr, nullptr, argv.data(), environ); err != 0) {
    std::cerr << "cron_diff: FAIL: cannot start node (" << node << "): " << std::strerror(err) << "\n";
    return 0;
  }
  return pid;
}

// The reference's exit status, once it has ended.
int wait_for_reference(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// ---------------------------------------------------------------------------------------------
// A third opinion: docs/CRON.md's rules, written out again here, plainly and slowly

// The expression as sets of allowed values, read from the text by the rules of docs/CRON.md,
// "The language". Only expressions that hostsweep accepted are read, so errors need no care.
struct Model {
  std::bitset<60> seconds;
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days;       // 1-31
  std::bitset<13> months;     // 1-12
  std::bitset<7> weekdays;    // Sunday 0
  std::bitset<7> last_weekdays;  // nL
  bool last_day = false;         // L
  unsigned nth = 0;              // n#k
  bool days_restricted = false;
  bool weekdays_restricted = false;
};

int model_value(std::string text, int field) {
  for (char& ch : text) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  const std::vector<std::string>* names = field == 4 ? &kMonthNames : field == 5 ? &kDayNames : nullptr;
  if (names != nullptr) {
    const auto found = std::find(names->begin(), names->end(), text);
    if (found != names->end()) return static_cast<int>(found - names->begin()) + (field == 4 ? 1 : 0);
  }
  return std::stoi(text);
}

// field: 0 second, 1 minute, 2 hour, 3 day of month, 4 month, 5 day of week.
template <std::size_t N>
void model_field(const std::string& text, int field, std::bitset<N>& values, Model& m) {
  static constexpr std::array<int, 6> kMin{0, 0, 0, 1, 1, 0};
  static constexpr std::array<int, 6> kMax{59, 59, 23, 31, 12, 7};
  const auto at = [&](int v) { values.set(static_cast<std::size_t>(field == 5 ? v % 7 : v)); };
  std::istringstream items(text);
  for (std::string item; std::getline(items, item, ',');) {
    if (const std::size_t hash = item.find('#'); hash != std::string::npos) {
      at(model_value(item.substr(0, hash), field));
      m.nth = static_cast<unsigned>(std::stoi(item.substr(hash + 1)));
      continue;
    }
    if (item == "L") {
      m.last_day = true;
      continue;
    }
    if (field == 5 && item.size() >= 2 && item.back() == 'L') {
      m.last_weekdays.set(static_cast<std::size_t>(model_value(item.substr(0, item.size() - 1), field) % 7));
      continue;
    }
    const std::size_t slash = item.find('/');
    const int step = slash == std::string::npos ? 1 : std::stoi(item.substr(slash + 1));
    const std::string base = item.substr(0, slash);
    int first = kMin[static_cast<std::size_t>(field)];
    int last = kMax[static_cast<std::size_t>(field)];
    if (base != "*" && base != "?") {
      const std::size_t dash = base.find('-');
      first = model_value(base.substr(0, dash), field);
      if (dash != std::string::npos) last = model_value(base.substr(dash + 1), field);
      else if (slash == std::string::npos) last = first;
    }
    for (int v = first; v <= last; v += step) at(v);
  }
}

Model model_of(const std::string& expression) {
  static const std::map<std::string, std::string> kMacroFields = {
      {"@yearly", "0 0 0 1 1 *"},   {"@annually", "0 0 0 1 1 *"}, {"@monthly", "0 0 0 1 * *"},
      {"@weekly", "0 0 0 * * 0"},   {"@daily", "0 0 0 * * *"},    {"@hourly", "0 0 * * * *"},
      {"@minutely", "0 * * * * *"}, {"@secondly", "* * * * * *"}, {"@weekdays", "0 0 0 * * 1-5"},
      {"@weekends", "0 0 0 * * 0,6"}};
  std::vector<std::string> fields;
  std::istringstream words(expression);
  for (std::string w; words >> w;) fields.push_back(w);
  if (fields.size() == 1) {
    fields.clear();
    std::istringstream macro(kMacroFields.at(expression.substr(expression.find('@'))));
    for (std::string w; macro >> w;) fields.push_back(w);
  }
  if (fields.size() == 5) fields.insert(fields.begin(), "0");
  Model m;
  model_field(fields[0], 0, m.seconds, m);
  model_field(fields[1], 1, m.minutes, m);
  model_field(fields[2], 2, m.hours, m);
  model_field(fields[3], 3, m.days, m);
  model_field(fields[4], 4, m.months, m);
  model_field(fields[5], 5, m.weekdays, m);
  m.days_restricted = fields[3] != "*" && fields[3] != "?";
  m.weekdays_restricted = fields[5] != "*" && fields[5] != "?";
  return m;
}

bool model_day(const Model& m, date::year_month_day ymd) {
  const auto day = static_cast<unsigned>(ymd.day());
  const auto last = static_cast<unsigned>((ymd.year() / ymd.month() / date::last).day());
  const unsigned weekday = date::weekday{date::sys_days{ymd}}.c_encoding();
  const bool by_day = m.days.test(day) || (m.last_day && day == last);
  const bool by_weekday = (m.weekdays.test(weekday) && (m.nth == 0 || (day - 1) / 7 + 1 == m.nth)) ||
                          (m.last_weekdays.test(weekday) && day + 7 > last);
  if (m.days_restricted && m.weekdays_restricted) return by_day || by_weekday;
  if (m.days_restricted) return by_day;
  if (m.weekdays_restricted) return by_weekday;
  return true;
}

// The first `count` fire times after `after`: every wall time the fields allow, day by day,
// turned into instants by the two DST rules of docs/CRON.md, "Fire times and daylight saving
// time", through the date library's own answer to "which instants show this wall time?".
Answer model_answer(const Case& c) {
  const Model m = model_of(c.expression);
  const bool every_hour = m.hours.all();
  const date::time_zone& zone = *c.zone->zone;
  const date::sys_seconds after = std::chrono::floor<Seconds>(c.after);
  std::set<date::sys_seconds> fires;  // the earliest `count` so far, all after `after`
  const auto add = [&](date::sys_seconds t) {
    if (TimePoint{t} <= c.after || (fires.size() == c.count && t >= *fires.rbegin())) return;
    fires.insert(t);
    if (fires.size() > c.count) fires.erase(std::prev(fires.end()));
  };
  // An instant is never further from the wall time it stands for than a UTC offset, less than
  // 16 h since 1900, whichever rule applies (rule 2 reads a skipped wall time with the offset
  // before the jump, which is an offset too): once a wall time is 16 h past the last fire kept,
  // nothing later can come before it.
  constexpr Seconds kReach{16 * 3600};
  const auto done = [&](date::local_seconds wall) {
    return fires.size() == c.count && date::sys_seconds{wall.time_since_epoch()} - kReach > *fires.rbegin();
  };
  const date::local_days first_day =
      date::floor<date::days>(date::local_seconds{after.time_since_epoch()}) - date::days{2};
  for (date::local_days day = first_day; day < first_day + date::days{146097 + 4}; day += date::days{1}) {
    if (done(day)) break;
    const date::year_month_day ymd{day};
    if (!m.months.test(static_cast<unsigned>(ymd.month())) || !model_day(m, ymd)) continue;
    // Wall times that end more than 16 h before `after` cannot come after it: skip them by the
    // hour and the minute.
    const auto too_early = [&](date::local_seconds wall_end) {
      return date::sys_seconds{wall_end.time_since_epoch()} + kReach < after;
    };
    for (int h = 0; h < 24; ++h) {
      if (!m.hours.test(static_cast<std::size_t>(h))) continue;
      const date::local_seconds hour_start = day + std::chrono::hours{h};
      if (too_early(hour_start + std::chrono::hours{1})) continue;
      // An hour whose first and last seconds have one offset, and only one instant each, has no
      // transition inside (no zone changes twice within an hour): ask the zone once for it.
      const date::local_info at_start = zone.get_info(hour_start);
      const date::local_info at_end = zone.get_info(hour_start + Seconds{3599});
      date::local_info scratch;
      const bool plain_hour = at_start.result == date::local_info::unique &&
                              at_end.result == date::local_info::unique && at_start.first.offset == at_end.first.offset;
      for (int mi = 0; mi < 60; ++mi) {
        if (!m.minutes.test(static_cast<std::size_t>(mi))) continue;
        if (too_early(hour_start + std::chrono::minutes{mi + 1})) continue;
        for (int s = 0; s < 60; ++s) {
          if (!m.seconds.test(static_cast<std::size_t>(s))) continue;
          const date::local_seconds wall = hour_start + std::chrono::minutes{mi} + Seconds{s};
          if (done(wall)) break;
          if (!plain_hour) scratch = zone.get_info(wall);
          const date::local_info& info = plain_hour ? at_start : scratch;  // no copy: it holds two strings
          const date::sys_seconds first{wall.time_since_epoch() - info.first.offset};
          switch (info.result) {
            case date::local_info::unique:
              add(first);
              break;
            case date::local_info::ambiguous:  // rule 1: both passes; rule 2: the first only
              add(first);
              if (every_hour) add(date::sys_seconds{wall.time_since_epoch() - info.second.offset});
              break;
            case date::local_info::nonexistent:  // rule 1: not at all; rule 2: as if the clock had not jumped
              if (!every_hour) add(first);
              break;
          }
        }
      }
    }
  }
  Answer answer;
  for (date::sys_seconds t : fires) answer.fires.push_back(millis(TimePoint{t}));
  return answer;
}

// ---------------------------------------------------------------------------------------------
// Classification

enum class Verdict { agree, expected, unexpected };

struct Category {
  Verdict verdict;
  std::string name;
};

// True when the hour field of `expression` allows all 24 hours: the condition of DST rule 1 in
// docs/CRON.md. Worked out here from the text, independently of the engine.
bool hour_field_allows_every_hour(const std::string& expression) {
  if (expression == "@hourly" || expression == "@minutely" || expression == "@secondly") return true;
  if (expression.empty() || expression[0] == '@') return false;
  std::vector<std::string> fields;
  std::istringstream words(expression);
  for (std::string w; words >> w;) fields.push_back(w);
  if (fields.size() != 5 && fields.size() != 6) return false;
  const std::string& hour = fields[fields.size() == 6 ? 2 : 1];
  std::set<int> hours;
  std::istringstream items(hour);
  for (std::string item; std::getline(items, item, ',');) {
    const std::size_t slash = item.find('/');
    const int step = slash == std::string::npos ? 1 : std::stoi(item.substr(slash + 1));
    const std::string base = item.substr(0, slash);
    int first = 0;
    int last = 23;
    if (base != "*" && base != "?") {
      const std::size_t dash = base.find('-');
      first = std::stoi(base.substr(0, dash));
      last = dash != std::string::npos ? std::stoi(base.substr(dash + 1)) : (slash == std::string::npos ? first : 23);
    }
    for (int h = first; h <= last && step > 0; h += step) hours.insert(h);
  }
  return hours.size() == 24;
}

struct Transition {
  date::sys_seconds at;
  Seconds before;  // the offset until `at`
  Seconds after;   // the offset from `at` on
  Seconds shift() const { return after - before; }
};

// The offset changes of `zone` in [from, until).
std::vector<Transition> transitions_between(const ZoneInfo& zone, date::sys_seconds from, date::sys_seconds until) {
  std::vector<Transition> found;
  for (date::sys_seconds cursor = from; cursor < until;) {
    const date::sys_info info = zone.zone->get_info(cursor);
    if (info.end >= until) break;
    const Seconds next = zone.zone->get_info(info.end).offset;
    if (next != info.offset) found.push_back({info.end, info.offset, next});
    cursor = info.end;
  }
  return found;
}

// The transition just before `t`, if it is less than two days before.
std::optional<Transition> transition_just_before(const ZoneInfo& zone, TimePoint t) {
  const date::sys_seconds s = std::chrono::floor<Seconds>(t);
  const std::vector<Transition> found = transitions_between(zone, s - Seconds{2 * 86400}, s + Seconds{1});
  if (found.empty()) return std::nullopt;
  return found.back();
}

date::sys_seconds to_seconds(std::int64_t ms) { return std::chrono::floor<Seconds>(date::sys_time<Millis>{Millis{ms}}); }

// Whether `after` lies in the second pass of a repeated wall-clock hour: the clocks went back
// just before it, and its wall time was already shown before they did.
bool starts_in_second_pass(const Case& c) {
  const auto t = transition_just_before(*c.zone, c.after);
  if (!t || t->shift() >= Seconds{0}) return false;
  return std::chrono::floor<Seconds>(c.after) < t->at - t->shift();
}

// Whether `after` lies within a forward jump's length after it: the clock, had it not jumped,
// would still be showing a skipped wall time, which hostsweep's rule 2 fires (docs/CRON.md),
// and `first` (hostsweep's first fire time) is one of those.
bool starts_in_skipped_window(const Case& c, std::int64_t first) {
  const auto t = transition_just_before(*c.zone, c.after);
  if (!t || t->shift() <= Seconds{0}) return false;
  return to_seconds(first) < t->at + t->shift();
}

// Whether a transition that `wanted` accepts lies in [from - 1 day, until + 1 day] and, unless
// `anywhere`, one of `instants` lies within a jump's length of it (in the skipped or repeated
// stretch, or where a shifted run lands).
template <typename Predicate>
bool transition_near(const ZoneInfo& zone, std::int64_t from_ms, std::int64_t until_ms,
                     const std::vector<std::int64_t>& instants, bool anywhere, Predicate wanted) {
  for (const Transition& t : transitions_between(zone, to_seconds(from_ms) - Seconds{86400},
                                                 to_seconds(until_ms) + Seconds{86400})) {
    if (!wanted(t)) continue;
    if (anywhere) return true;
    const Seconds reach = std::chrono::abs(t.shift());
    for (std::int64_t ms : instants) {
      const date::sys_seconds s = to_seconds(ms);
      if (s >= t.at - reach && s <= t.at + reach) return true;
    }
  }
  return false;
}

date::local_seconds wall_before(const Transition& t) { return date::local_seconds{t.at.time_since_epoch() + t.before}; }
date::local_seconds wall_after(const Transition& t) { return date::local_seconds{t.at.time_since_epoch() + t.after}; }

bool shorter_than_an_hour(const Transition& t) { return std::chrono::abs(t.shift()) < Seconds{3600}; }
bool longer_than_an_hour(const Transition& t) { return std::chrono::abs(t.shift()) > Seconds{3600}; }

// A fall-back whose repeated stretch of wall time holds a midnight: Havana turns 01:00 back to
// 00:00, St John's (until 2010) 00:01 back to 23:01, so 00:00 happens twice.
bool repeats_midnight(const Transition& t) {
  if (t.shift() >= Seconds{0}) return false;
  const date::local_seconds first = wall_after(t);  // the repeated stretch is [first, last)
  const date::local_seconds last = wall_before(t);
  const date::local_seconds midnight = date::ceil<date::days>(first);
  return midnight < last;
}

// A transition at a wall time that is not a whole hour: St John's until 2010 (00:01) and
// Chatham (02:45 standard time, 03:45 daylight time).
bool off_the_hour(const Transition& t) {
  const auto minute_of = [](date::local_seconds wall) { return (wall - date::floor<std::chrono::hours>(wall)).count(); };
  return minute_of(wall_before(t)) != 0 || minute_of(wall_after(t)) != 0;
}

// Whether `ms` lies after the last transition hostsweep's zone data lists, in a zone that was
// still changing its clocks near the end of that data (docs/CRON.md, "DST after 2037").
bool beyond_listed_dst(const ZoneInfo& zone, std::int64_t ms) {
  const date::sys_seconds t = to_seconds(ms);
  const date::sys_info info = zone.zone->get_info(t);
  const bool listed_to_the_end = info.end > date::sys_seconds{date::sys_days{date::year{9000} / 1 / 1}};
  return listed_to_the_end && info.begin > date::sys_seconds{date::sys_days{date::year{2030} / 1 / 1}};
}

// Cases whose disagreement is a hostsweep bug, reported and left to be fixed in src/ (bug,
// reported): counted, not failed, until the engine is fixed; then the entry must go, and the
// test says so. An empty zone or start matches any.
struct KnownBug {
  std::string_view expression;
  std::string_view zone;
  std::string_view after;  // format_iso8601 of the start
  std::string_view note;
};
const std::vector<KnownBug> kKnownBugs = {
};

const KnownBug* known_bug(const Case& c) {
  for (const KnownBug& bug : kKnownBugs) {
    if (bug.expression == c.expression && (bug.zone.empty() || bug.zone == c.zone->name) &&
        (bug.after.empty() || bug.after == hostsweep::policy::format_iso8601(c.after))) {
      return &bug;
    }
  }
  return nullptr;
}

Category classify_difference(const Case& c, const Answer& hs, const Answer& ref) {
  if (hs.rejected && ref.rejected) return {Verdict::agree, "both reject"};
  if (hs.rejected) {
    if (hs.message.find("H (hashed values) is not supported") != std::string::npos) {
      return {Verdict::expected, "H: hostsweep rejects hashed values, cron-parser picks one"};
    }
    if (hs.message.find("expected 5 or 6 fields") != std::string::npos) {
      return {Verdict::expected, "field count: hostsweep needs 5 or 6, cron-parser pads"};
    }
    if (hs.message.find("# needs one weekday before it") != std::string::npos &&
        c.expression.find("*#") != std::string::npos) {
      return {Verdict::expected, "*#k: hostsweep needs a weekday before #"};
    }
    return {Verdict::unexpected, "only hostsweep rejects"};
  }
  if (ref.rejected) return {Verdict::unexpected, "only cron-parser rejects"};

  const std::size_t common = std::min(hs.fires.size(), ref.fires.size());
  std::size_t i = 0;
  while (i < common && hs.fires[i] == ref.fires[i]) ++i;
  if (i == common && hs.fires.size() == ref.fires.size()) return {Verdict::agree, "agree"};
  if (i == common && i == hs.fires.size()) return {Verdict::unexpected, "hostsweep stops early"};

  // Where they part: [from, until] spans the last agreed fire (or the start) and both answers
  // at that point.
  const std::int64_t from = i == 0 ? millis(c.after) : hs.fires[i - 1];
  std::vector<std::int64_t> parting;
  if (i < hs.fires.size()) parting.push_back(hs.fires[i]);
  if (i < ref.fires.size()) parting.push_back(ref.fires[i]);
  std::int64_t until = from;
  for (std::int64_t ms : parting) until = std::max(until, ms);

  if (beyond_listed_dst(*c.zone, until)) return {Verdict::expected, "after 2037: no DST in the zone data hostsweep reads"};
  const bool every_hour = hour_field_allows_every_hour(c.expression);
  if (i == 0 && !every_hour && starts_in_second_pass(c)) {
    return {Verdict::expected, "start inside a repeated hour: cron-parser's fresh iterator fires it again"};
  }
  if (i == 0 && !every_hour && !hs.fires.empty() && starts_in_skipped_window(c, hs.fires[0])) {
    return {Verdict::expected, "start just after a jump: cron-parser's fresh iterator skips the shifted runs"};
  }
  // The transitions where cron-parser is known to go wrong (docs/CRON.md). When cron-parser
  // gave up ("loop limit exceeded"), any such transition between the last agreed fire and
  // hostsweep's next one counts.
  const bool anywhere = i == common;
  if (anywhere && ref.message.find("loop limit exceeded") == std::string::npos) {
    return {Verdict::unexpected, "cron-parser stops early"};
  }
  if (transition_near(*c.zone, from, until, parting, anywhere, shorter_than_an_hour)) {
    return {Verdict::expected, "sub-hour DST transition (Lord Howe): cron-parser has no coherent rule"};
  }
  if (transition_near(*c.zone, from, until, parting, anywhere, longer_than_an_hour)) {
    return {Verdict::expected, "two-hour transition (Troll): cron-parser compensates one hour only"};
  }
  if (transition_near(*c.zone, from, until, parting, anywhere, repeats_midnight)) {
    return {Verdict::expected, "repeated midnight (Havana, St John's): cron-parser's next day starts in the second pass"};
  }
  if (transition_near(*c.zone, from, until, parting, anywhere, off_the_hour)) {
    return {Verdict::expected, "transition off the hour (St John's 00:01, Chatham 02:45): cron-parser skips real times"};
  }
  if (anywhere) return {Verdict::unexpected, "cron-parser stops early"};
  return {Verdict::unexpected, "fire times differ"};
}

// `model` is model_answer(c), for expressions that hostsweep accepts.
Category classify(const Case& c, const Answer& hs, const Answer& ref, const Answer* model) {
  Category category = classify_difference(c, hs, ref);
  if (model != nullptr && model->fires != hs.fires) {
    category = {Verdict::unexpected, category.verdict == Verdict::agree
                                         ? "hostsweep and cron-parser agree, the model of docs/CRON.md does not"
                                         : "hostsweep departs from the rules of docs/CRON.md (the model)"};
  }
  if (const KnownBug* bug = known_bug(c)) {
    if (category.verdict == Verdict::unexpected) {
      return {Verdict::expected, "known hostsweep bug (bug, reported): " + std::string(bug->note)};
    }
    // Fixed, or never was: the list must not hide anything.
    return {Verdict::unexpected, "listed as a known bug but classified \"" + category.name +
                                     "\": remove it from kKnownBugs"};
  }
  return category;
}

// ---------------------------------------------------------------------------------------------
// Reporting

std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char ch : text) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

void print_case(std::ostream& out, const Case& c, const Answer& hs, const Answer& ref, const Answer* model) {
  const date::time_zone& zone = *c.zone->zone;
  out << "  case " << c.id << ": \"" << c.expression << "\" in " << c.zone->name << " after "
      << hostsweep::policy::format_iso8601(c.after) << "\n";
  if (hs.rejected) out << "    hostsweep rejects: " << hs.message << "\n";
  if (ref.rejected) out << "    cron-parser rejects: " << ref.message << "\n";
  const auto column = [&](const Answer& a, std::size_t r) { return r < a.fires.size() ? describe(a.fires[r], zone) : "-"; };
  const auto pad = [](std::string text) { return text + std::string(text.size() < 50 ? 50 - text.size() : 1, ' '); };
  const std::size_t rows = std::max({hs.fires.size(), ref.fires.size(), model ? model->fires.size() : 0});
  if (rows > 0) {
    out << "       " << pad("hostsweep") << pad("cron-parser") << (model ? "model of docs/CRON.md" : "") << "\n";
  }
  for (std::size_t r = 0; r < rows; ++r) {
    const bool same = r < hs.fires.size() && r < ref.fires.size() && hs.fires[r] == ref.fires[r];
    out << "    " << (same ? "  " : "!=") << " " << pad(column(hs, r)) << pad(column(ref, r))
        << (model ? column(*model, r) : "") << "\n";
  }
  if (!hs.rejected && !hs.message.empty()) out << "    hostsweep stopped: " << hs.message << "\n";
  if (!ref.rejected && !ref.message.empty()) out << "    cron-parser stopped: " << ref.message << "\n";
  out << "    replay: hostsweep_cron_diff --node NODE --reference test/cron_diff/reference.mjs --work-dir DIR --replay "
      << shell_quote(c.expression) << " " << c.zone->name << " " << hostsweep::policy::format_iso8601(c.after) << "\n";
  out << "            hostsweep cron next " << shell_quote(c.expression) << " --tz " << c.zone->name << " --after "
      << hostsweep::policy::format_iso8601(c.after) << " --count " << c.count << "\n";
}

struct Options {
  std::string node;
  std::string reference;
  std::filesystem::path work_dir;
  std::uint64_t seed = 20261204;
  std::size_t cases = 4000;
  std::size_t count = 5;
  std::optional<std::array<std::string, 3>> replay;
  std::size_t examples = 2;  // printed per expected category
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "cron_diff: " << problem << "\n"
            << "usage: cron_diff --node NODE --reference reference.mjs --work-dir DIR [--seed N] [--cases N]"
               " [--count K] [--examples N] [--replay EXPR ZONE AFTER]\n";
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--node") o.node = value();
    else if (arg == "--reference") o.reference = value();
    else if (arg == "--work-dir") o.work_dir = value();
    else if (arg == "--seed") o.seed = std::stoull(value());
    else if (arg == "--cases") o.cases = std::stoul(value());
    else if (arg == "--count") o.count = std::stoul(value());
    else if (arg == "--examples") o.examples = std::stoul(value());
    else if (arg == "--replay") {
      if (i + 3 >= argc) usage("--replay needs EXPR ZONE AFTER");
      o.replay = std::array<std::string, 3>{argv[i + 1], argv[i + 2], argv[i + 3]};
      i += 3;
    } else {
      usage("unknown argument " + arg);
    }
  }
  if (o.reference.empty() || o.work_dir.empty()) usage("--reference and --work-dir are required");
  return o;
}

// The reference must be there: a missing one fails the test, it never passes it.
bool check_reference(const Options& o) {
  if (o.node.empty() || o.node.ends_with("NOTFOUND") || ::access(o.node.c_str(), X_OK) != 0) {
    std::cerr << "cron_diff: FAIL: node is not installed (cmake found \"" << o.node
              << "\"): run scripts/install-deps.sh, then configure again\n";
    return false;
  }
  if (::access(o.reference.c_str(), R_OK) != 0) {
    std::cerr << "cron_diff: FAIL: the reference script " << o.reference << " is missing\n";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) try {
  const Options o = parse_options(argc, argv);
  if (!check_reference(o)) return 1;
  std::filesystem::create_directories(o.work_dir);

  std::vector<ZoneInfo> zones;
  for (const std::string& name : kZoneNames) {
    const date::time_zone* zone = date::locate_zone(name);
    zones.push_back({name, zone, transitions_of(*zone)});
  }

  std::vector<Case> cases;
  if (o.replay) {
    const auto& [expression, zone_name, after_text] = *o.replay;
    const auto after = hostsweep::policy::parse_timestamp(after_text);
    if (!after) usage("--replay: \"" + after_text + "\" is not a timestamp");
    zones.push_back({zone_name, date::locate_zone(zone_name), {}});
    cases.push_back({0, expression, &zones.back(), *after, o.count});
  } else {
    Rng rng(o.seed);
    for (std::size_t id = 0; id < o.cases; ++id) {
      const ZoneInfo& zone = rng.pick(zones);
      std::string expression = generate_expression(rng);
      const TimePoint after = generate_instant(rng, zone);
      cases.push_back({id, std::move(expression), &zone, after, o.count});
    }
  }

  const std::filesystem::path cases_file = o.work_dir / "cases.tsv";
  const std::filesystem::path answers_file = o.work_dir / "answers.tsv";
  std::filesystem::remove(answers_file);
  write_cases(cases_file, cases);
  // The reference runs while this process works out hostsweep's answers and the model's: on
  // two cores that costs the longer of the two, not their sum.
  const auto started = std::chrono::steady_clock::now();
  const pid_t reference = start_reference(o.node, o.reference, cases_file, answers_file);
  if (reference == 0) return 1;
  std::vector<Answer> ours(cases.size());
  std::vector<std::optional<Answer>> models(cases.size());
  for (const Case& c : cases) {
    ours[c.id] = hostsweep_answer(c);
    if (!ours[c.id].rejected) models[c.id] = model_answer(c);
  }
  const auto ours_done = std::chrono::steady_clock::now();
  if (const int status = wait_for_reference(reference); status != 0) {
    std::cerr << "cron_diff: FAIL: the reference (node " << o.reference << ") exited with status " << status
              << "; its message is above\n";
    return 1;
  }
  const auto reference_done = std::chrono::steady_clock::now();
  const std::map<std::size_t, Answer> answers = read_answers(answers_file);
  const auto model_of_case = [&](std::size_t id) { return models[id] ? &*models[id] : nullptr; };

  if (o.replay) {
    const Case& c = cases.front();
    const Category category = classify(c, ours[0], answers.at(0), model_of_case(0));
    std::cout << "replay: " << category.name << "\n";
    print_case(std::cout, c, ours[0], answers.at(0), model_of_case(0));
    return category.verdict == Verdict::unexpected ? 1 : 0;
  }

  struct Tally {
    Verdict verdict;
    std::size_t count = 0;
    std::vector<std::size_t> examples;
  };
  std::map<std::string, Tally> tallies;
  std::vector<std::size_t> unexpected;
  std::set<std::string> zones_seen;
  for (const Case& c : cases) {
    const auto found = answers.find(c.id);
    if (found == answers.end()) throw std::runtime_error("the reference gave no answer for case " + std::to_string(c.id));
    const Category category = classify(c, ours[c.id], found->second, model_of_case(c.id));
    Tally& tally = tallies.try_emplace(category.name, Tally{category.verdict}).first->second;
    ++tally.count;
    if (tally.examples.size() < o.examples) tally.examples.push_back(c.id);
    if (category.verdict == Verdict::unexpected) unexpected.push_back(c.id);
    zones_seen.insert(c.zone->name);
  }
  const auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  std::cout << "cron_diff: seed " << o.seed << ", " << cases.size() << " cases, up to " << o.count
            << " fire times each, " << zones_seen.size() << " zones (cron-parser " << ms(reference_done - started)
            << " ms; hostsweep and the model " << ms(ours_done - started) << " ms, alongside)\n";
  std::size_t agree = 0;
  std::size_t expected = 0;
  for (const Verdict verdict : {Verdict::agree, Verdict::expected, Verdict::unexpected}) {
    for (const auto& [name, tally] : tallies) {
      if (tally.verdict != verdict) continue;
      const char* label = verdict == Verdict::agree ? "agree" : verdict == Verdict::expected ? "expected" : "UNEXPECTED";
      std::printf("  %-10s %6zu  %s\n", label, tally.count, name.c_str());
      if (verdict == Verdict::agree) agree += tally.count;
      if (verdict == Verdict::expected) expected += tally.count;
    }
  }
  std::cout << "  " << agree << " agree, " << expected << " differ as docs/CRON.md says, " << unexpected.size()
            << " differ unexpectedly\n";
  std::size_t modelled = 0;
  std::size_t model_agrees = 0;
  for (const Case& c : cases) {
    if (!models[c.id]) continue;
    ++modelled;
    if (models[c.id]->fires == ours[c.id].fires) ++model_agrees;
  }
  std::cout << "  hostsweep and the model of docs/CRON.md agree on " << model_agrees << " of the " << modelled
            << " cases hostsweep accepts\n";
  std::cout.flush();

  for (const auto& [name, tally] : tallies) {
    if (tally.verdict != Verdict::expected || tally.examples.empty()) continue;
    std::cout << "\nexpected, " << name << ", for example:\n";
    for (std::size_t id : tally.examples) print_case(std::cout, cases[id], ours[id], answers.at(id), model_of_case(id));
  }
  if (!unexpected.empty()) {
    std::cout << "\nFAIL: " << unexpected.size() << " unexpected disagreements (the first 40):\n";
    for (std::size_t k = 0; k < unexpected.size() && k < 40; ++k) {
      const std::size_t id = unexpected[k];
      std::cout << classify(cases[id], ours[id], answers.at(id), model_of_case(id)).name << "\n";
      print_case(std::cout, cases[id], ours[id], answers.at(id), model_of_case(id));
    }
    return 1;
  }
  std::cout << "\ncron_diff: PASS\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "cron_diff: FAIL: " << e.what() << "\n";
  return 1;
}
