// `hostsweep cron next`: check a schedule before trusting it.
#include <iostream>

#include <fmt/format.h>

#include "commands.hpp"
#include "cron_next.hpp"
#include "policy/time_zone.hpp"

namespace hostsweep::cli {

void add_cron_command(CLI::App& app, int& exit_code) {
  auto* cron = app.add_subcommand("cron", "cron schedules");
  cron->require_subcommand(1);
  struct Options {
    std::string expression;
    std::string zone;
    std::optional<std::string> after;
    int count = 5;
  };
  auto opts = std::make_shared<Options>();
  auto* next = cron->add_subcommand("next", "print the next fire times: the UTC instant, then the local wall time");
  next->add_option("expression", opts->expression, "5 or 6 fields, or a macro such as @daily (see docs/CRON.md)")
      ->required();
  next->add_option("--tz", opts->zone, "IANA time zone (default: the host's zone, then UTC)");
  next->add_option("--after", opts->after, "start after this time (default: now)");
  next->add_option("--count", opts->count, "how many fire times")->capture_default_str();
  next->callback([opts, &exit_code] {
    const auto& zone = policy::find_time_zone(opts->zone);
    TimePoint after = policy::now_utc();
    if (opts->after) {
      auto parsed = policy::parse_timestamp(*opts->after);
      if (!parsed) throw Error(Errc::invalid_argument, fmt::format("--after \"{}\" is not a timestamp", *opts->after));
      after = *parsed;
    }
    exit_code = run_cron_next(opts->expression, zone, after, opts->count, std::cout, std::cerr);
  });
}

}  // namespace hostsweep::cli
