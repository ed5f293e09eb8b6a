// `hostsweep run` settings: defaults, the TOML file, flags over the file, clear errors.
#include "cli/run_settings.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "hostsweep/error.hpp"
#include "policy/time_zone.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::cli {
namespace {

using namespace std::chrono_literals;

RunConfig resolve(std::vector<std::string> args) {
  CLI::App app;
  auto* run = app.add_subcommand("run");
  RunSettings settings;
  settings.add_options(*run);
  args.insert(args.begin(), "run");
  std::reverse(args.begin(), args.end());
  app.parse(args);
  return settings.resolve();
}

TEST(RunSettings, TheShippedExampleConfigIsValid) {
  auto c = resolve({"--data-dir", "d", "--config", HOSTSWEEP_SOURCE_DIR "/packaging/hostsweep.toml"});
  EXPECT_EQ(c.supervisor.runtime.kind, runtime::RuntimeKind::docker);
  EXPECT_EQ(c.supervisor.runtime.image, "my-agent:latest");
  EXPECT_EQ(c.supervisor.runtime.agent_command.front(), "agent-runner");
  EXPECT_EQ(c.supervisor.policy.stuck.ceiling, 30min);
  EXPECT_EQ(c.supervisor.policy.retry.max_tries, 5);
  ASSERT_NE(c.supervisor.policy.zone, nullptr);
  EXPECT_EQ(c.supervisor.policy.zone->name(), "Europe/London");
  EXPECT_EQ(c.log_format, "json");
  EXPECT_EQ(c.supervisor.container_log.mode, supervisor::ContainerLogMode::file);
  EXPECT_EQ(c.supervisor.container_log.max_bytes, 10u << 20);
  EXPECT_EQ(c.supervisor.container_log.keep, 3);
}

// The .deb's /etc/hostsweep/hostsweep.toml sets nothing; each of its commented lines, taken in,
// is a valid setting at the default it claims (the account lines aside: the package makes the
// hostsweep user, this host need not have it).
TEST(RunSettings, ThePackagedConfigCommentsOutTheDefaults) {
  std::ifstream in(HOSTSWEEP_SOURCE_DIR "/packaging/deb/hostsweep.toml");
  ASSERT_TRUE(in) << "packaging/deb/hostsweep.toml";
  const std::regex setting(R"(^# ([a-z-]+) = .*)");
  std::string line, uncommented;
  int settings = 0;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, setting)) continue;
    ++settings;
    if (m[1] == "run-as-user" || m[1] == "run-as-group") continue;
    uncommented += line.substr(2) + "\n";
  }
  EXPECT_GE(settings, 30);
  hostsweep::testing::TempDir tmp;
  auto file = tmp.path() / "hostsweep.toml";
  hostsweep::testing::write_file(file, uncommented);
  auto c = resolve({"--data-dir", "d", "--config", file.string()});
  auto d = resolve({"--data-dir", "d", "--agent-command", "agent-runner --workspace {session_dir} --session {session_id}"});
  EXPECT_EQ(c.supervisor.runtime.kind, d.supervisor.runtime.kind);
  EXPECT_EQ(c.supervisor.sweep_interval, d.supervisor.sweep_interval);
  EXPECT_EQ(c.supervisor.policy.stuck.ceiling, d.supervisor.policy.stuck.ceiling);
  EXPECT_EQ(c.supervisor.policy.retry.max_tries, d.supervisor.policy.retry.max_tries);
  EXPECT_EQ(c.supervisor.kill_grace, d.supervisor.kill_grace);
  EXPECT_EQ(c.supervisor.stop_timeout, d.supervisor.stop_timeout);
  EXPECT_EQ(c.supervisor.start_failure_alert, d.supervisor.start_failure_alert);
  EXPECT_EQ(c.supervisor.start_backoff.cap, d.supervisor.start_backoff.cap);
  EXPECT_EQ(c.supervisor.cgroup.to_string(), d.supervisor.cgroup.to_string());
  EXPECT_EQ(c.supervisor.container_log.max_bytes, d.supervisor.container_log.max_bytes);
  EXPECT_EQ(c.supervisor.container_log.keep, d.supervisor.container_log.keep);
  EXPECT_EQ(c.supervisor.database_threads, d.supervisor.database_threads);
  EXPECT_EQ(c.supervisor.watch_files, d.supervisor.watch_files);
  EXPECT_EQ(c.log_format, d.log_format);
  EXPECT_EQ(c.log_level, d.log_level);
  EXPECT_FALSE(c.metrics_listen);
}

TEST(RunSettings, ContainerLogSettings) {
  auto c = resolve({"--data-dir", "d", "--agent-command", "a", "--container-log", "journal", "--container-log-max",
                    "64K", "--container-log-keep", "0"});
  EXPECT_EQ(c.supervisor.container_log.mode, supervisor::ContainerLogMode::journal);
  EXPECT_EQ(c.supervisor.container_log.max_bytes, 64u << 10);
  EXPECT_EQ(c.supervisor.container_log.keep, 0);
  EXPECT_EQ(resolve({"--data-dir", "d", "--agent-command", "a", "--container-log", "off"}).supervisor.container_log.mode,
            supervisor::ContainerLogMode::off);
  for (auto bad : std::vector<std::vector<std::string>>{{"--container-log", "syslog"},
                                                        {"--container-log-max", "100"},
                                                        {"--container-log-max", "lots"},
                                                        {"--container-log-keep", "-1"},
                                                        {"--container-log-keep", "101"}}) {
    std::vector<std::string> args = {"--data-dir", "d", "--agent-command", "a"};
    args.insert(args.end(), bad.begin(), bad.end());
    EXPECT_THROW(resolve(args), Error) << bad[0] << " " << bad[1];
  }
}

TEST(RunSettings, FlagsWinOverTheFileAndDefaultsFillTheRest) {
  hostsweep::testing::TempDir tmp;
  auto file = tmp.path() / "c.toml";
  hostsweep::testing::write_file(file, "ceiling = \"10m\"\nmax-tries = 3\nwatch = false\nagent-command = \"a b\"\n");
  auto c = resolve({"--data-dir", "d", "--config", file.string(), "--ceiling", "5m"});
  EXPECT_EQ(c.supervisor.policy.stuck.ceiling, 5min);
  EXPECT_EQ(c.supervisor.policy.retry.max_tries, 3);
  EXPECT_FALSE(c.supervisor.watch_files);
  EXPECT_EQ(c.supervisor.runtime.agent_command, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(c.supervisor.sweep_interval, 60s);
  EXPECT_EQ(c.supervisor.kill_grace, 10s);
}

TEST(RunSettings, BadValuesNameTheirSource) {
  hostsweep::testing::TempDir tmp;
  auto file = tmp.path() / "c.toml";
  auto message = [&](std::vector<std::string> args) -> std::string {
    try {
      resolve(std::move(args));
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(message({"--data-dir", "d", "--agent-command", "a", "--max-tries", "many"}),
            "--max-tries: \"many\" is not a whole number from 0 to 1000");
  EXPECT_EQ(message({"--data-dir", "d"}), "no agent command: set --agent-command or the agent-command key");
  hostsweep::testing::write_file(file, "runtime = \"lxc\"\nagent-command = \"a\"\n");
  EXPECT_NE(message({"--data-dir", "d", "--config", file.string()}).find("key runtime: unknown runtime \"lxc\""),
            std::string::npos);
  hostsweep::testing::write_file(file, "ceiling = [1, 2]\n");
  EXPECT_NE(message({"--data-dir", "d", "--config", file.string()}).find("key ceiling: must be a string"),
            std::string::npos);
  hostsweep::testing::write_file(file, "ceiling = \"5m\n");
  EXPECT_NE(message({"--data-dir", "d", "--config", file.string()}).find("line 1"), std::string::npos);
}

// Seen while writing fuzz_settings, which crashes on fuzz/corpus/settings/crash-uid-out-of-range
// without the fix: a numeric id too big for std::stoul escaped as std::out_of_range, not an
// Error naming the key; one that fits an unsigned long but not uid_t was cast, so 4294967296
// became uid 0, root.
TEST(RunSettings, NumericIdsOutOfRangeAreRefusedNotWrapped) {
  hostsweep::testing::TempDir tmp;
  auto file = tmp.path() / "c.toml";
  for (const char* key : {"run-as-user", "run-as-group"}) {
    for (const char* id : {"99999999999999999999", "4294967296", "4294967295", "-1", "+5"}) {
      hostsweep::testing::write_file(file, fmt::format("agent-command = \"a\"\n{} = \"{}\"\n", key, id));
      try {
        resolve({"--data-dir", "d", "--config", file.string()});
        ADD_FAILURE() << key << " = " << id << " was accepted";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(fmt::format("key {}: no ", key)), std::string::npos) << e.what();
      }
    }
  }
  auto c = resolve({"--data-dir", "d", "--agent-command", "a", "--run-as-user", "4294967294", "--run-as-group", "7"});
  EXPECT_EQ(c.supervisor.run_as_uid, uid_t{4294967294});
  EXPECT_EQ(c.supervisor.run_as_gid, gid_t{7});
}

// explain and sweep take the decision settings of `run` from its table: the same flags, help,
// defaults, values and errors. A setting added to one command and not the other fails here.
const std::vector<std::string> kDecisionSettings = {"ceiling",      "claim-tolerance", "startup-grace", "max-declared-timeout",
                                                    "backoff-base", "backoff-cap",     "max-tries",     "timezone"};

TEST(PolicySettings, AreRunsDecisionSettingsWithTheSameHelp) {
  CLI::App app;
  RunSettings settings;
  settings.add_options(*app.add_subcommand("run"));
  policy::SweepPolicy policy;
  add_policy_settings(*app.add_subcommand("sweep"), policy);
  auto* run = app.get_subcommand("run");
  auto* sweep = app.get_subcommand("sweep");
  for (const auto& name : kDecisionSettings) {
    const auto* mine = sweep->get_option_no_throw("--" + name);
    const auto* theirs = run->get_option_no_throw("--" + name);
    ASSERT_NE(mine, nullptr) << name;
    ASSERT_NE(theirs, nullptr) << name;
    EXPECT_EQ(mine->get_description(), theirs->get_description()) << name;
    EXPECT_NE(mine->get_description().find("(default "), std::string::npos) << name;
    EXPECT_EQ(mine->get_type_name(), theirs->get_type_name()) << name;
  }
  for (const auto* option : sweep->get_options()) {
    if (option->get_name() == "--help") continue;
    EXPECT_NE(std::find(kDecisionSettings.begin(), kDecisionSettings.end(), option->get_name().substr(2)),
              kDecisionSettings.end())
        << option->get_name() << " is not a decision setting of run";
  }
}

policy::SweepPolicy sweep_policy(std::vector<std::string> args) {
  CLI::App app;
  policy::SweepPolicy policy;
  add_policy_settings(*app.add_subcommand("sweep"), policy);
  args.insert(args.begin(), "sweep");
  std::reverse(args.begin(), args.end());
  app.parse(args);
  return policy;
}

void expect_same(const policy::SweepPolicy& a, const policy::SweepPolicy& b) {
  EXPECT_EQ(a.stuck.ceiling, b.stuck.ceiling);
  EXPECT_EQ(a.stuck.claim_tolerance, b.stuck.claim_tolerance);
  EXPECT_EQ(a.stuck.startup_grace, b.stuck.startup_grace);
  EXPECT_EQ(a.stuck.max_declared_timeout, b.stuck.max_declared_timeout);
  EXPECT_EQ(a.retry.backoff_base, b.retry.backoff_base);
  EXPECT_EQ(a.retry.backoff_cap, b.retry.backoff_cap);
  EXPECT_EQ(a.retry.max_tries, b.retry.max_tries);
}

TEST(PolicySettings, TakeTheSameValuesAsRun) {
  std::vector<std::string> values = {"--ceiling",     "5m", "--claim-tolerance", "7s",  "--startup-grace", "1m",
                                     "--max-declared-timeout", "3h", "--backoff-base", "2s", "--backoff-cap", "10m",
                                     "--max-tries",   "7",  "--timezone",        "Europe/London"};
  auto policy = sweep_policy(values);
  values.insert(values.begin(), {"--data-dir", "d", "--agent-command", "a"});
  auto config = resolve(values);
  expect_same(policy, config.supervisor.policy);
  EXPECT_EQ(policy.stuck.ceiling, 5min);
  EXPECT_EQ(policy.retry.max_tries, 7);
  ASSERT_NE(policy.zone, nullptr);
  EXPECT_EQ(policy.zone->name(), "Europe/London");

  // No flags: run's defaults, and the host's zone as the daemon would take it.
  auto defaults = sweep_policy({});
  expect_same(defaults, resolve({"--data-dir", "d", "--agent-command", "a"}).supervisor.policy);
  EXPECT_EQ(defaults.zone, &policy::find_time_zone(""));
}

TEST(PolicySettings, ABadValueIsRunsErrorNamingTheFlag) {
  auto message = [](std::vector<std::string> args) -> std::string {
    try {
      sweep_policy(std::move(args));
    } catch (const CLI::ValidationError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(message({"--max-tries", "many"}), "--max-tries: \"many\" is not a whole number from 0 to 1000");
  EXPECT_EQ(message({"--ceiling", "soon"}), "--ceiling: \"soon\" is not a duration (write e.g. 250ms, 5s, 30m, 2h)");
  EXPECT_NE(message({"--timezone", "Mars/Olympus"}).find("--timezone: unknown time zone \"Mars/Olympus\""),
            std::string::npos);
}

TEST(RunSettings, AnUnknownTimezoneNamesItsSource) {
  try {
    resolve({"--data-dir", "d", "--agent-command", "a", "--timezone", "Mars/Olympus"});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--timezone: unknown time zone"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hostsweep::cli
