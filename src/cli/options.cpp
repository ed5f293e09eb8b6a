#include "commands.hpp"
#include "run_settings.hpp"

namespace hostsweep::cli {

void add_data_dir_option(CLI::App& command, std::string& data_dir) {
  command.add_option("--data-dir", data_dir, "the data directory (holds hostsweep.db and sessions/)")->required();
}

void add_policy_options(CLI::App& command, policy::SweepPolicy& policy) { add_policy_settings(command, policy); }

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
