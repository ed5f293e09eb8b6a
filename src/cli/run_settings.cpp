#include "run_settings.hpp"

#include <grp.h>
#include <pwd.h>

#include <toml++/toml.h>

#include <charconv>
#include <filesystem>

#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>

#include "hostsweep/error.hpp"
#include "policy/time_zone.hpp"
#include "runtime/container_runtime.hpp"

namespace hostsweep::cli {
namespace {

// One setting: its key and flag name, its help, how to show its default and how to apply a
// value, on a `Target` (the whole RunConfig, or the SweepPolicy that explain and sweep take).
template <typename Target>
struct Setting {
  const char* name;
  const char* help;
  std::function<std::string(const Target&)> current;        // the default, for --help
  std::function<void(Target&, const std::string&)> apply;   // throws std::invalid_argument
  const char* type = "VALUE";                                // the placeholder in --help
};

// Longer than any window or grace has a use for, and short enough that a deadline this far
// from now is still a steady-clock instant (FAILURE-MODES.md 17).
constexpr Duration kLongestSetting = std::chrono::days{3650};

Duration duration_value(const std::string& text) {
  auto d = policy::parse_duration(text);
  if (!d) throw std::invalid_argument(fmt::format("\"{}\" is not a duration (write e.g. 250ms, 5s, 30m, 2h)", text));
  if (*d > kLongestSetting) throw std::invalid_argument(fmt::format("\"{}\" is too long (at most 3650d)", text));
  return *d;
}

int int_value(const std::string& text, int low, int high) {
  try {
    std::size_t used = 0;
    int v = std::stoi(text, &used);
    if (used == text.size() && v >= low && v <= high) return v;
  } catch (const std::exception&) {
  }
  throw std::invalid_argument(fmt::format("\"{}\" is not a whole number from {} to {}", text, low, high));
}

bool bool_value(const std::string& text) {
  if (text == "true" || text == "1" || text == "yes") return true;
  if (text == "false" || text == "0" || text == "no") return false;
  throw std::invalid_argument(fmt::format("\"{}\" is not true or false", text));
}

// Runs `parse`, turning the project's Error into the invalid_argument this table reports.
template <typename F>
auto reraise(F&& parse) {
  try {
    return parse();
  } catch (const Error& e) {
    throw std::invalid_argument(e.what());
  }
}

std::uint64_t size_value(const std::string& text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  std::uint64_t scale = unit.empty() ? 1 : unit == "K" ? 1ULL << 10 : unit == "M" ? 1ULL << 20 : unit == "G" ? 1ULL << 30 : 0;
  if (ec != std::errc{} || end == text.data() || scale == 0 || value == 0 || value > (~0ULL) / scale) {
    throw std::invalid_argument(fmt::format("\"{}\" is not a size (write e.g. 512M, 2G, 1048576)", text));
  }
  return value * scale;
}

// A uid or gid written as a number. Only values the type holds: a cast would wrap 4294967296
// to 0, root, and std::stoul threw out_of_range past the key's error. The all-ones value is no
// id: setuid(2) and chown(2) read it as "unchanged".
template <typename Id>
std::optional<Id> numeric_id(const std::string& text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  if (value >= std::numeric_limits<Id>::max()) return std::nullopt;
  return static_cast<Id>(value);
}

// A name or a number, resolved now: a typo is an error at start, not at the first spawn.
uid_t user_value(const std::string& text) {
  if (auto* pw = ::getpwnam(text.c_str())) return pw->pw_uid;
  if (auto id = numeric_id<uid_t>(text)) return *id;
  throw std::invalid_argument(fmt::format("no user \"{}\" on this host", text));
}

gid_t group_value(const std::string& text) {
  if (auto* gr = ::getgrnam(text.c_str())) return gr->gr_gid;
  if (auto id = numeric_id<gid_t>(text)) return *id;
  throw std::invalid_argument(fmt::format("no group \"{}\" on this host", text));
}

// A duration field of `Target` reached through `field`.
template <typename Target, typename Field>
Setting<Target> duration(const char* name, const char* help, Field field) {
  return {name, help,
          [field](const Target& t) {
            Target copy = t;  // the accessor is shared with apply, which writes
            return policy::format_duration(field(copy));
          },
          [field](Target& t, const std::string& v) { field(t) = duration_value(v); }, "DURATION"};
}

template <typename Target>
std::string help_text(const Setting<Target>& s, const Target& defaults) {
  return fmt::format("{} (default {})", s.help, s.current(defaults));
}

using policy::SweepPolicy;

// The decisions of a sweep: `run` takes them, and so do `explain` and `sweep`.
const std::vector<Setting<SweepPolicy>>& policy_settings() {
  static const std::vector<Setting<SweepPolicy>> table = {
      duration<SweepPolicy>("ceiling", "kill a container that shows no sign of life for this long",
                            [](SweepPolicy& p) -> Duration& { return p.stuck.ceiling; }),
      duration<SweepPolicy>("claim-tolerance", "kill a container silent for this long after a claim",
                            [](SweepPolicy& p) -> Duration& { return p.stuck.claim_tolerance; }),
      duration<SweepPolicy>("startup-grace", "a new container's grace before its first heartbeat",
                            [](SweepPolicy& p) -> Duration& { return p.stuck.startup_grace; }),
      duration<SweepPolicy>("max-declared-timeout", "cap on how far a tool's declared timeout widens the windows",
                            [](SweepPolicy& p) -> Duration& { return p.stuck.max_declared_timeout; }),
      duration<SweepPolicy>("backoff-base", "first retry delay of a message, doubled per try",
                            [](SweepPolicy& p) -> Duration& { return p.retry.backoff_base; }),
      duration<SweepPolicy>("backoff-cap", "longest retry delay of a message",
                            [](SweepPolicy& p) -> Duration& { return p.retry.backoff_cap; }),
      {"max-tries", "a message retried this often is failed",
       [](const SweepPolicy& p) { return std::to_string(p.retry.max_tries); },
       [](SweepPolicy& p, const std::string& v) { p.retry.max_tries = int_value(v, 0, 1000); }, "N"},
      // No zone yet means the host's: the supervisor resolves it so, and so does
      // add_policy_settings for explain and sweep.
      {"timezone", "IANA zone for recurring work; host: the host's zone (UTC when it has none)",
       [](const SweepPolicy& p) { return p.zone ? std::string(p.zone->name()) : std::string("host"); },
       [](SweepPolicy& p, const std::string& v) {
         try {
           p.zone = &policy::find_time_zone(v == "host" ? std::string() : v);
         } catch (const Error& e) {
           throw std::invalid_argument(e.what());
         }
       },
       "ZONE"},
  };
  return table;
}

// A decision setting as a setting of `run`, on its supervisor's policy.
Setting<RunConfig> run_setting(const Setting<SweepPolicy>& s) {
  return {s.name, s.help, [&s](const RunConfig& c) { return s.current(c.supervisor.policy); },
          [&s](RunConfig& c, const std::string& v) { s.apply(c.supervisor.policy, v); }, s.type};
}

// Every setting of `run`, in the order of its --help: its own, with the decision settings
// after sweep-interval.
const std::vector<Setting<RunConfig>>& settings() {
  static const std::vector<Setting<RunConfig>> table = [] {
    std::vector<Setting<RunConfig>> all = {
      {"runtime", "how a container runs: process, bwrap, docker or podman",
       [](const RunConfig& c) { return std::string(runtime::to_string(c.supervisor.runtime.kind)); },
       [](RunConfig& c, const std::string& v) {
         try {
           c.supervisor.runtime.kind = runtime::parse_runtime_kind(v);
         } catch (const Error& e) {
           throw std::invalid_argument(e.what());
         }
       }},
      {"agent-command",
       "the container's command; placeholders {session_dir} {session_id} {agent_group_id} {container_name}",
       [](const RunConfig&) { return std::string("none"); },
       [](RunConfig& c, const std::string& v) {
         try {
           c.supervisor.runtime.agent_command = runtime::split_command(v);
         } catch (const Error& e) {
           throw std::invalid_argument(e.what());
         }
       },
       "COMMAND"},
      {"image", "the container image (docker, podman)", [](const RunConfig&) { return std::string("none"); },
       [](RunConfig& c, const std::string& v) { c.supervisor.runtime.image = v; }},
      duration<RunConfig>("sweep-interval", "the safety-net sweep over every session",
                          [](RunConfig& c) -> Duration& { return c.supervisor.sweep_interval; }),
    };
    for (const auto& s : policy_settings()) all.push_back(run_setting(s));
    all.insert(all.end(), {
      duration<RunConfig>("kill-grace", "time between SIGTERM (or the runtime's stop) and SIGKILL",
                          [](RunConfig& c) -> Duration& { return c.supervisor.kill_grace; }),
      duration<RunConfig>("stop-timeout", "how long a stop waits past the kill grace for cleanups before it gives up",
                          [](RunConfig& c) -> Duration& { return c.supervisor.stop_timeout; }),
      {"idle-timeout", "a container with no claim and nothing due, silent this long, is stopped (default: the ceiling)",
       [](const RunConfig& c) {
         return c.supervisor.idle_timeout ? policy::format_duration(*c.supervisor.idle_timeout) : std::string("the ceiling");
       },
       [](RunConfig& c, const std::string& v) {
         auto d = duration_value(v);
         if (d <= Duration::zero()) throw std::invalid_argument("an idle timeout of 0 would stop every container at once");
         c.supervisor.idle_timeout = d;
       },
       "DURATION"},
      {"start-failure-alert", "say session.start_failing after this many failed or idle runs in a row (0: never)",
       [](const RunConfig& c) { return std::to_string(c.supervisor.start_failure_alert); },
       [](RunConfig& c, const std::string& v) { c.supervisor.start_failure_alert = int_value(v, 0, 1000000); },
       "N"},
      duration<RunConfig>("start-backoff-base", "first delay after a container failed to start or did no work",
                          [](RunConfig& c) -> Duration& { return c.supervisor.start_backoff.base; }),
      duration<RunConfig>("start-backoff-cap", "longest delay between failing starts",
                          [](RunConfig& c) -> Duration& { return c.supervisor.start_backoff.cap; }),
      duration<RunConfig>("start-backoff-reset", "an uptime this long clears the start backoff",
                          [](RunConfig& c) -> Duration& { return c.supervisor.start_backoff.reset_after; }),
      {"cgroup", "a cgroup v2 per container: auto (when the host allows it), off, or the parent cgroup's path",
       [](const RunConfig& c) { return c.supervisor.cgroup.to_string(); },
       [](RunConfig& c, const std::string& v) { c.supervisor.cgroup = reraise([&] { return os::CgroupSetting::parse(v); }); },
       "auto|off|PATH"},
      {"memory-max", "each container's memory.max in bytes (K, M, G suffixes), needs the memory controller",
       [](const RunConfig&) { return std::string("none"); },
       [](RunConfig& c, const std::string& v) { c.supervisor.limits.memory_max = size_value(v); }, "BYTES"},
      {"pids-max", "each container's pids.max, needs the pids controller", [](const RunConfig&) { return std::string("none"); },
       [](RunConfig& c, const std::string& v) { c.supervisor.limits.pids_max = static_cast<std::uint64_t>(int_value(v, 1, 4194304)); },
       "N"},
      {"cpu-weight", "each container's cpu.weight (1-10000), needs the cpu controller",
       [](const RunConfig&) { return std::string("none"); },
       [](RunConfig& c, const std::string& v) { c.supervisor.limits.cpu_weight = static_cast<std::uint32_t>(int_value(v, 1, 10000)); },
       "N"},
      {"run-as-user", "run containers as this user (name or uid); the process runtime isolates nothing else",
       [](const RunConfig&) { return std::string("the daemon's"); },
       [](RunConfig& c, const std::string& v) { c.supervisor.run_as_uid = user_value(v); }, "USER"},
      {"run-as-group", "and this group (name or gid; default the user's primary group)",
       [](const RunConfig&) { return std::string("the user's"); },
       [](RunConfig& c, const std::string& v) { c.supervisor.run_as_gid = group_value(v); }, "GROUP"},
      {"container-log", "where containers' stdout and stderr go: file (DATA_DIR/logs/<group>/<session>.log), journal (this daemon's log, one event per line) or off",
       [](const RunConfig& c) { return std::string(supervisor::to_string(c.supervisor.container_log.mode)); },
       [](RunConfig& c, const std::string& v) {
         using supervisor::ContainerLogMode;
         if (v == "file") c.supervisor.container_log.mode = ContainerLogMode::file;
         else if (v == "journal") c.supervisor.container_log.mode = ContainerLogMode::journal;
         else if (v == "off") c.supervisor.container_log.mode = ContainerLogMode::off;
         else throw std::invalid_argument(fmt::format("\"{}\" is not file, journal or off", v));
       },
       "file|journal|off"},
      {"container-log-max", "a container log file's size cap in bytes (K, M, G suffixes); rotated before a line would pass it",
       [](const RunConfig& c) {
         auto b = c.supervisor.container_log.max_bytes;
         return b % (1ULL << 20) == 0 ? std::to_string(b >> 20) + "M"
                : b % (1ULL << 10) == 0 ? std::to_string(b >> 10) + "K" : std::to_string(b);
       },
       [](RunConfig& c, const std::string& v) {
         auto size = size_value(v);
         if (size < 1024) throw std::invalid_argument(fmt::format("\"{}\" is too small (at least 1K)", v));
         c.supervisor.container_log.max_bytes = size;
       },
       "BYTES"},
      {"container-log-keep", "rotated container log files kept beside the current one",
       [](const RunConfig& c) { return std::to_string(c.supervisor.container_log.keep); },
       [](RunConfig& c, const std::string& v) { c.supervisor.container_log.keep = int_value(v, 0, 100); }, "N"},
      {"database-threads", "threads for SQLite work",
       [](const RunConfig& c) { return std::to_string(c.supervisor.database_threads); },
       [](RunConfig& c, const std::string& v) { c.supervisor.database_threads = static_cast<std::size_t>(int_value(v, 1, 64)); }},
      {"watch", "react to file changes through inotify (false: poll at each sweep)",
       [](const RunConfig& c) { return std::string(c.supervisor.watch_files ? "true" : "false"); },
       [](RunConfig& c, const std::string& v) { c.supervisor.watch_files = bool_value(v); }},
      {"metrics-listen", "serve /metrics, /healthz and /readyz over HTTP at ADDRESS:PORT (e.g. 127.0.0.1:9464; port 0: any); off: none",
       [](const RunConfig& c) { return c.metrics_listen ? c.metrics_listen->to_string() : std::string("off"); },
       [](RunConfig& c, const std::string& v) {
         if (v == "off") c.metrics_listen.reset();
         else c.metrics_listen = ops::parse_listen_address(v);
       },
       "ADDR:PORT"},
      {"log-format", "text, or json (one object per line)", [](const RunConfig& c) { return c.log_format; },
       [](RunConfig& c, const std::string& v) {
         if (v != "text" && v != "json") throw std::invalid_argument(fmt::format("\"{}\" is not text or json", v));
         c.log_format = v;
       }},
      {"log-level", "trace, debug, info, warn or error", [](const RunConfig& c) { return c.log_level; },
       [](RunConfig& c, const std::string& v) {
         if (v != "trace" && v != "debug" && v != "info" && v != "warn" && v != "error") {
           throw std::invalid_argument(fmt::format("\"{}\" is not a log level", v));
         }
         c.log_level = v;
       }},
    });
    return all;
  }();
  return table;
}

std::string toml_scalar(const toml::node& node) {
  if (auto s = node.value<std::string>()) return *s;
  if (auto b = node.value<bool>(); b && node.is_boolean()) return *b ? "true" : "false";
  if (auto i = node.value<std::int64_t>(); i && node.is_integer()) return std::to_string(*i);
  throw std::invalid_argument("must be a string, a whole number or a boolean");
}

}  // namespace

void RunSettings::add_options(CLI::App& command, Mode mode) {
  if (mode == Mode::run) {
    command.add_option("--data-dir", data_dir_, "the data directory (holds hostsweep.db and sessions/)")->required();
  }
  auto* config = command.add_option("--config", config_file_, "a TOML file whose keys are the flags below without their dashes");
  if (mode == Mode::check) config->required();
  RunConfig defaults;
  for (const auto& s : settings()) {
    std::string name = s.name;
    command
        .add_option_function<std::string>(
            "--" + name, [this, name](const std::string& v) { flags_[name] = v; }, help_text(s, defaults))
        ->type_name(s.type);
  }
}

SettingsCheck RunSettings::check() const {
  SettingsCheck out;
  RunConfig& config = out.config;
  config.data_dir = data_dir_;
  auto problem = [&](std::string text) { out.problems.push_back(std::move(text)); };
  std::map<std::string, std::pair<std::string, std::string>> values;  // name -> (value, where)
  bool file_unread = false;  // the file could not be read: it may set anything
  if (config_file_) {
    const auto& file_name = *config_file_;
    std::error_code ec;
    const auto type = std::filesystem::status(file_name, ec).type();
    toml::table file;
    // Nothing more can be said of a file that cannot be read: one problem, and the flags still.
    file_unread = true;
    if (type == std::filesystem::file_type::directory) {
      problem(fmt::format("config {}: is a directory, not a file", file_name));
    } else if (type == std::filesystem::file_type::not_found) {
      problem(fmt::format("config {}: no such file", file_name));
    } else {
      try {
        file = toml::parse_file(file_name);
        file_unread = false;
      } catch (const toml::parse_error& e) {
        problem(fmt::format("config {}: line {}: {}", file_name, e.source().begin.line, e.description()));
      }
    }
    for (const auto& [key, node] : file) {
      std::string name(key.str());
      bool known = false;
      for (const auto& s : settings()) known = known || name == s.name;
      if (!known) {
        problem(fmt::format("config {}: unknown key \"{}\"", file_name, name));
        continue;
      }
      try {
        values[name] = {toml_scalar(node), fmt::format("config {}: key {}", file_name, name)};
      } catch (const std::invalid_argument& e) {
        problem(fmt::format("config {}: key {}: {}", file_name, name, e.what()));
      }
    }
  }
  for (const auto& [name, value] : flags_) values[name] = {value, "--" + name};
  std::map<std::string, bool> applied;  // name -> its value was valid
  for (const auto& s : settings()) {
    auto it = values.find(s.name);
    if (it == values.end()) continue;
    out.given.push_back({s.name, it->second.first, it->second.second});
    try {
      s.apply(config, it->second.first);
      applied[s.name] = true;
    } catch (const std::invalid_argument& e) {
      problem(fmt::format("{}: {}", it->second.second, e.what()));
      applied[s.name] = false;
    } catch (const Error& e) {
      problem(fmt::format("{}: {}", it->second.second, e.what()));
      applied[s.name] = false;
    }
  }
  // The checks across settings, each only on values that were valid on their own: a bad value
  // is reported once, by its own setting.
  if (config.supervisor.sweep_interval <= Duration::zero()) {
    auto where = values.count("sweep-interval") ? values["sweep-interval"].second : std::string("--sweep-interval");
    problem(fmt::format("{}: must be longer than 0", where));
  }
  if (config.supervisor.runtime.agent_command.empty()) {
    auto given = applied.find("agent-command");
    if (given == applied.end()) {
      if (!file_unread) problem("no agent command: set --agent-command or the agent-command key");
    } else if (given->second) {
      problem(fmt::format("{}: must name a command", values["agent-command"].second));
    }
  }
  // A user without a group runs with the user's primary group, never the daemon's (root's).
  if (config.supervisor.run_as_uid && !config.supervisor.run_as_gid) {
    if (auto* pw = ::getpwuid(*config.supervisor.run_as_uid)) config.supervisor.run_as_gid = pw->pw_gid;
    else problem("--run-as-user: a uid without a user entry needs --run-as-group");
  }
  return out;
}

RunConfig RunSettings::resolve() const {
  auto checked = check();
  if (!checked.problems.empty()) throw Error(Errc::invalid_argument, checked.problems.front());
  return std::move(checked.config);
}

void add_policy_settings(CLI::App& command, policy::SweepPolicy& policy) {
  const policy::SweepPolicy defaults = policy;
  for (const auto& s : policy_settings()) {
    std::string flag = std::string("--") + s.name;
    command
        .add_option_function<std::string>(
            flag,
            [&policy, &s, flag](const std::string& v) {
              try {
                s.apply(policy, v);
              } catch (const std::invalid_argument& e) {
                throw CLI::ValidationError(flag, e.what());
              }
            },
            help_text(s, defaults))
        ->type_name(s.type);
  }
  // As under `run`, recurring work follows the host's zone unless --timezone names one.
  if (!policy.zone) policy.zone = &policy::find_time_zone("");
}

}  // namespace hostsweep::cli
