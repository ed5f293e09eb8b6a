#include "run_settings.hpp"

#include <toml++/toml.h>

#include <functional>

#include <fmt/format.h>

#include "hostsweep/error.hpp"

namespace hostsweep::cli {
namespace {

struct Setting {
  const char* name;
  const char* help;
  std::function<std::string(const RunConfig&)> current;                // the default, for --help
  std::function<void(RunConfig&, const std::string&)> apply;           // throws std::invalid_argument
};

Duration duration_value(const std::string& text) {
  auto d = policy::parse_duration(text);
  if (!d) throw std::invalid_argument(fmt::format("\"{}\" is not a duration (write e.g. 250ms, 5s, 30m, 2h)", text));
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

// A duration field reached through `field`.
template <typename Field>
Setting duration(const char* name, const char* help, Field field) {
  return {name, help,
          [field](const RunConfig& c) {
            RunConfig copy = c;  // the accessor is shared with apply, which writes
            return policy::format_duration(field(copy));
          },
          [field](RunConfig& c, const std::string& v) { field(c) = duration_value(v); }};
}

const std::vector<Setting>& settings() {
  static const std::vector<Setting> table = {
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
       }},
      {"image", "the container image (docker, podman)", [](const RunConfig&) { return std::string("none"); },
       [](RunConfig& c, const std::string& v) { c.supervisor.runtime.image = v; }},
      duration("sweep-interval", "the safety-net sweep over every session",
               [](RunConfig& c) -> Duration& { return c.supervisor.sweep_interval; }),
      duration("ceiling", "kill a container that shows no sign of life for this long",
               [](RunConfig& c) -> Duration& { return c.supervisor.policy.stuck.ceiling; }),
      duration("claim-tolerance", "kill a container silent for this long after a claim",
               [](RunConfig& c) -> Duration& { return c.supervisor.policy.stuck.claim_tolerance; }),
      duration("startup-grace", "a new container's grace before its first heartbeat",
               [](RunConfig& c) -> Duration& { return c.supervisor.policy.stuck.startup_grace; }),
      duration("max-declared-timeout", "cap on how far a tool's declared timeout widens the windows",
               [](RunConfig& c) -> Duration& { return c.supervisor.policy.stuck.max_declared_timeout; }),
      duration("backoff-base", "first retry delay of a message, doubled per try",
               [](RunConfig& c) -> Duration& { return c.supervisor.policy.retry.backoff_base; }),
      duration("backoff-cap", "longest retry delay of a message",
               [](RunConfig& c) -> Duration& { return c.supervisor.policy.retry.backoff_cap; }),
      {"max-tries", "a message retried this often is failed",
       [](const RunConfig& c) { return std::to_string(c.supervisor.policy.retry.max_tries); },
       [](RunConfig& c, const std::string& v) { c.supervisor.policy.retry.max_tries = int_value(v, 0, 1000); }},
      duration("kill-grace", "time between SIGTERM (or the runtime's stop) and SIGKILL",
               [](RunConfig& c) -> Duration& { return c.supervisor.kill_grace; }),
      duration("start-backoff-base", "first delay after a container failed to start or did no work",
               [](RunConfig& c) -> Duration& { return c.supervisor.start_backoff.base; }),
      duration("start-backoff-cap", "longest delay between failing starts",
               [](RunConfig& c) -> Duration& { return c.supervisor.start_backoff.cap; }),
      duration("start-backoff-reset", "an uptime this long clears the start backoff",
               [](RunConfig& c) -> Duration& { return c.supervisor.start_backoff.reset_after; }),
      {"timezone", "IANA zone for recurring work (default: the host's zone, then UTC)",
       [](const RunConfig& c) { return c.supervisor.timezone.empty() ? std::string("host") : c.supervisor.timezone; },
       [](RunConfig& c, const std::string& v) { c.supervisor.timezone = v; }},
      {"database-threads", "threads for SQLite work",
       [](const RunConfig& c) { return std::to_string(c.supervisor.database_threads); },
       [](RunConfig& c, const std::string& v) { c.supervisor.database_threads = static_cast<std::size_t>(int_value(v, 1, 64)); }},
      {"watch", "react to file changes through inotify (false: poll at each sweep)",
       [](const RunConfig& c) { return std::string(c.supervisor.watch_files ? "true" : "false"); },
       [](RunConfig& c, const std::string& v) { c.supervisor.watch_files = bool_value(v); }},
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
  };
  return table;
}

std::string toml_scalar(const toml::node& node) {
  if (auto s = node.value<std::string>()) return *s;
  if (auto b = node.value<bool>(); b && node.is_boolean()) return *b ? "true" : "false";
  if (auto i = node.value<std::int64_t>(); i && node.is_integer()) return std::to_string(*i);
  throw std::invalid_argument("must be a string, a whole number or a boolean");
}

}  // namespace

void RunSettings::add_options(CLI::App& command) {
  command.add_option("--data-dir", data_dir_, "the data directory (holds hostsweep.db and sessions/)")->required();
  command.add_option("--config", config_file_, "a TOML file whose keys are the flags below without their dashes");
  RunConfig defaults;
  for (const auto& s : settings()) {
    std::string name = s.name;
    command
        .add_option_function<std::string>(
            "--" + name, [this, name](const std::string& v) { flags_[name] = v; },
            fmt::format("{} (default {})", s.help, s.current(defaults)))
        ->type_name(name == "agent-command" ? "COMMAND" : "VALUE");
  }
}

RunConfig RunSettings::resolve() const {
  RunConfig config;
  config.data_dir = data_dir_;
  std::map<std::string, std::pair<std::string, std::string>> values;  // name -> (value, where)
  if (config_file_) {
    toml::table file;
    try {
      file = toml::parse_file(*config_file_);
    } catch (const toml::parse_error& e) {
      throw Error(Errc::invalid_argument, fmt::format("config {}: line {}: {}", *config_file_, e.source().begin.line,
                                                      e.description()));
    }
    for (const auto& [key, node] : file) {
      std::string name(key.str());
      bool known = false;
      for (const auto& s : settings()) known = known || name == s.name;
      if (!known) throw Error(Errc::invalid_argument, fmt::format("config {}: unknown key \"{}\"", *config_file_, name));
      try {
        values[name] = {toml_scalar(node), fmt::format("config {}: key {}", *config_file_, name)};
      } catch (const std::invalid_argument& e) {
        throw Error(Errc::invalid_argument, fmt::format("config {}: key {}: {}", *config_file_, name, e.what()));
      }
    }
  }
  for (const auto& [name, value] : flags_) values[name] = {value, "--" + name};
  for (const auto& s : settings()) {
    auto it = values.find(s.name);
    if (it == values.end()) continue;
    try {
      s.apply(config, it->second.first);
    } catch (const std::invalid_argument& e) {
      throw Error(Errc::invalid_argument, fmt::format("{}: {}", it->second.second, e.what()));
    }
  }
  if (config.supervisor.runtime.agent_command.empty()) {
    throw Error(Errc::invalid_argument, "no agent command: set --agent-command or the agent-command key");
  }
  return config;
}

}  // namespace hostsweep::cli
