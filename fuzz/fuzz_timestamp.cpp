// parse_timestamp and parse_timestamp_latest on any bytes: no crash, no UB, and whatever parses
// survives format_iso8601 and format_sqlite unchanged (to the millisecond, resp. the second).
#include <chrono>

#include "fuzz_check.hpp"
#include "hostsweep/policy/timestamp.hpp"

using namespace hostsweep;
using namespace std::chrono;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = fuzz::as_text(data, size);
  const auto t = policy::parse_timestamp(text);
  const auto latest = policy::parse_timestamp_latest(text);
  fuzz::check(t.has_value() == latest.has_value(), "parse_timestamp and parse_timestamp_latest disagree", text);
  if (!t) return 0;
  // The latest reading of a text is within its precision: a second, or a minute for HH:MM.
  fuzz::check(*latest >= *t && *latest - *t < minutes{1}, "latest bound out of [t, t+1min)", text);
  const bool has_seconds = text.size() > 16 && text[16] == ':';
  if (has_seconds) fuzz::check(*latest - *t < seconds{1}, "latest bound of HH:MM:SS out of [t, t+1s)", text);

  // An offset can carry a time out of the years the parser reads (0000-9999); within them,
  // what the host writes must read back as the same instant.
  const auto y = year_month_day(floor<days>(*t)).year();
  if (y < year{0} || y > year{9999}) return 0;
  const auto iso = policy::format_iso8601(*t);
  const auto back = policy::parse_timestamp(iso);
  fuzz::check(back && *back == *t, "format_iso8601 does not read back", iso);
  const auto sqlite = policy::format_sqlite(*t);
  const auto back_s = policy::parse_timestamp(sqlite);
  fuzz::check(back_s && *back_s == floor<seconds>(*t), "format_sqlite does not read back", sqlite);
  return 0;
}
