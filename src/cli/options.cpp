#include <fmt/format.h>

#include "commands.hpp"
#include "hostsweep/policy/time_zone.hpp"

namespace hostsweep::cli {
namespace {

void add_duration_option(CLI::App& command, const std::string& name, Duration& target, const std::string& what) {
  command
      .add_option_function<std::string>(
          name,
          [name, &target](const std::string& text) {
            auto parsed = policy::parse_duration(text);
            if (!parsed) {
              throw CLI::ValidationError(name, fmt::format("\"{}\" is not a duration (write e.g. 250ms, 5s, 30m, 2h)", text));
            }
            target = *parsed;
          },
          fmt::format("{} (default {})", what, policy::format_duration(target)))
      ->type_name("DURATION");
}

}  // namespace

void add_data_dir_option(CLI::App& command, std::string& data_dir) {
  command.add_option("--data-dir", data_dir, "the data directory (holds hostsweep.db and sessions/)")->required();
}

void add_policy_options(CLI::App& command, policy::SweepPolicy& policy) {
  add_duration_option(command, "--ceiling", policy.stuck.ceiling, "kill a container silent for this long");
  add_duration_option(command, "--claim-tolerance", policy.stuck.claim_tolerance,
                      "kill a container silent this long after a claim");
  add_duration_option(command, "--startup-grace", policy.stuck.startup_grace,
                      "a new container's grace before its first heartbeat");
  add_duration_option(command, "--max-declared-timeout", policy.stuck.max_declared_timeout,
                      "cap on a tool's declared timeout");
  add_duration_option(command, "--backoff-base", policy.retry.backoff_base, "first retry delay, doubled per try");
  add_duration_option(command, "--backoff-cap", policy.retry.backoff_cap, "longest retry delay");
  command.add_option("--max-tries", policy.retry.max_tries, "a message retried this often is failed")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  command
      .add_option_function<std::string>(
          "--timezone",
          [&policy](const std::string& name) {
            try {
              policy.zone = &policy::find_time_zone(name);
            } catch (const Error& e) {
              throw CLI::ValidationError("--timezone", e.what());
            }
          },
          "IANA zone for recurring work (default: the host's zone, then UTC)")
      ->type_name("ZONE");
}

int exit_code_for(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_argument: return 2;
    case Errc::not_found: return 3;
    case Errc::already_exists: return 4;
    case Errc::corrupt_file: return 5;
    case Errc::io_error: return 1;
  }
  return 1;
}

std::string relative(TimePoint t, TimePoint now) {
  if (t == now) return "now";
  Duration gap = t > now ? t - now : now - t;
  // Milliseconds matter to a person only when the gap is short.
  if (gap >= std::chrono::minutes{1}) gap = std::chrono::round<std::chrono::seconds>(gap);
  return t > now ? "in " + policy::format_duration(gap) : policy::format_duration(gap) + " ago";
}

}  // namespace hostsweep::cli
