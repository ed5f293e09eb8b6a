#pragma once
// Time as the protocol writes it. Every timestamp the project reads goes through
// parse_timestamp, and every timestamp it writes comes from format_iso8601: both are UTC,
// whatever TZ says (FAILURE-MODES.md 4). Pure: no clock is read here except by now_utc().

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace hostsweep {

using Duration = std::chrono::milliseconds;
using TimePoint = std::chrono::sys_time<Duration>;  // a UTC instant, millisecond precision

namespace policy {

using SteadyTime = std::chrono::steady_clock::time_point;

// One instant on both clocks: due times are wall-clock by nature, liveness is steady.
struct Now {
  TimePoint wall;
  SteadyTime steady;
};

// Accepts the forms of PROTOCOL.md, "Timestamps":
//   YYYY-MM-DD HH:MM[:SS[.fff...]]        SQLite's datetime('now'): UTC
//   YYYY-MM-DDTHH:MM[:SS[.fff...]]        bare ISO 8601: UTC
//   ...followed by Z, +HH:MM, -HH:MM, +HHMM or -HHMM
// Fractions beyond milliseconds are truncated. Returns nullopt for anything else, including
// out-of-range fields (month 13, 30 February, hour 24, offsets beyond 23:59).
std::optional<TimePoint> parse_timestamp(std::string_view text) noexcept;

// The latest instant `text` may stand for: containers write whole seconds (datetime('now')),
// so "12:00:00" may mean any time up to 12:00:00.999. Liveness judges claims by this bound,
// so that truncation never makes a container look older, and so killable, than it is.
std::optional<TimePoint> parse_timestamp_latest(std::string_view text) noexcept;

// "2026-03-08T07:00:00.000Z": the form the host writes. Its text order is its time order.
std::string format_iso8601(TimePoint t);

// "2026-03-08 07:00:00": SQLite's datetime() form, for display beside reference data.
std::string format_sqlite(TimePoint t);

// The current UTC instant, truncated to milliseconds.
TimePoint now_utc() noexcept;

// Durations as users write them in flags and config: "250ms", "5s", "30m", "2h", "1d",
// or a combination such as "1h30m". A bare "0" is zero. nullopt when unparseable or negative.
std::optional<Duration> parse_duration(std::string_view text) noexcept;

// "2d1h2m3.5s", "250ms", "0s": short and exact, for logs and `explain`.
std::string format_duration(Duration d);

}  // namespace policy
}  // namespace hostsweep
