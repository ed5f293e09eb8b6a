#pragma once
// The settings of `hostsweep run`: each is a key of the TOML config file and a flag of the
// same name, the flag winning. One table describes them all, so the file, the flags and
// `--help` cannot drift apart; its decision settings are also the flags of explain and sweep.

#include <CLI/CLI.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "policy/sweep_plan.hpp"
#include "hostsweep/supervisor/options.hpp"
#include "ops/listen_address.hpp"

namespace hostsweep::cli {

struct RunConfig {
  std::string data_dir;
  supervisor::SupervisorOptions supervisor;
  std::string log_format = "text";  // text | json
  std::string log_level = "info";   // trace debug info warn error
  std::optional<ops::ListenAddress> metrics_listen;  // the HTTP endpoint; none by default
};

// A setting given in the config file or as a flag, as given.
struct GivenSetting {
  std::string name;
  std::string value;
  std::string where;  // "config F: key NAME" or "--NAME"
};

// What check() found. `config` is what `run` would run with when `problems` is empty.
struct SettingsCheck {
  RunConfig config;
  std::vector<std::string> problems;  // one line each, naming the key or flag, in the order run meets them
  std::vector<GivenSetting> given;    // in the table's order; a flag replaces the file's key
};

class RunSettings {
 public:
  // `run` takes a required --data-dir; `check-config` none, and --config is required.
  enum class Mode { run, check };

  // Adds --config and one flag per setting to `command`.
  void add_options(CLI::App& command, Mode mode = Mode::run);

  // Builds the configuration: defaults, then the config file, then the flags, noting every
  // problem instead of stopping at the first. The one validation of the settings: resolve()
  // and `check-config` both use it.
  SettingsCheck check() const;

  // check(), for `run`: throws Error(invalid_argument) with its first problem (naming the key
  // or flag and what is wrong with its value, or the unknown key in the file).
  RunConfig resolve() const;

 private:
  std::string data_dir_;
  std::optional<std::string> config_file_;
  std::map<std::string, std::string> flags_;  // flag name (without --) -> value given
};

// Adds the decision settings of `run` (--ceiling, --claim-tolerance, --startup-grace,
// --max-declared-timeout, --backoff-base, --backoff-cap, --max-tries, --timezone) to
// `command` as flags writing into `policy`: the same names, help and validation as `run`'s,
// from the same table, with `policy`'s values shown as the defaults. A bad value is a
// CLI::ValidationError naming the flag. Without --timezone, `policy.zone` becomes the host's.
void add_policy_settings(CLI::App& command, policy::SweepPolicy& policy);

}  // namespace hostsweep::cli
