// `hostsweep run` settings: defaults, the TOML file, flags over the file, clear errors.
#include "cli/run_settings.hpp"

#include <gtest/gtest.h>

#include "hostsweep/error.hpp"
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
  EXPECT_EQ(c.supervisor.timezone, "Europe/London");
  EXPECT_EQ(c.log_format, "json");
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

}  // namespace
}  // namespace hostsweep::cli
