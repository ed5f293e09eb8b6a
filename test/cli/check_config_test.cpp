// `hostsweep check-config`: the settings `run` would start with, checked by the code `run`
// uses, every problem on a line of its own, nothing started and no data directory touched.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>

#include "cli/run_settings.hpp"
#include "support/run_program.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::testing {
namespace {

ProgramResult hostsweep(std::vector<std::string> args) { return run_program(HOSTSWEEP_CLI_PATH, args); }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::string line;
  for (char c : text) {
    if (c == '\n') out.push_back(std::exchange(line, {}));
    else line += c;
  }
  if (!line.empty()) out.push_back(line);
  return out;
}

cli::SettingsCheck check(std::vector<std::string> args) {
  CLI::App app;
  auto* cmd = app.add_subcommand("check-config");
  cli::RunSettings settings;
  settings.add_options(*cmd, cli::RunSettings::Mode::check);
  args.insert(args.begin(), "check-config");
  std::reverse(args.begin(), args.end());
  app.parse(args);
  return settings.check();
}

TEST(CheckConfig, TheShippedExampleConfigPasses) {
  const std::string file = HOSTSWEEP_SOURCE_DIR "/packaging/hostsweep.toml";
  auto r = hostsweep({"check-config", "--config", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("runtime = docker  (config " + file + ": key runtime)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("timezone = Europe/London"), std::string::npos) << r.out;
  // One line per key of the file, then the summary.
  std::ifstream in(file);
  int keys = 0;
  for (std::string line; std::getline(in, line);) keys += std::regex_search(line, std::regex(R"(^[a-z-]+ = )"));
  auto lines = lines_of(r.out);
  ASSERT_EQ(static_cast<int>(lines.size()), keys + 1) << r.out;
  EXPECT_EQ(lines.back(), "ok: " + std::to_string(keys) + " settings, the others at their defaults");
}

// The .deb's config sets nothing, so the daemon would refuse it until agent-command is set: so
// does check-config, and with the flag the unit would add it passes.
TEST(CheckConfig, ThePackagedConfigNeedsOnlyAnAgentCommand) {
  const std::string file = HOSTSWEEP_SOURCE_DIR "/packaging/deb/hostsweep.toml";
  auto bare = hostsweep({"check-config", "--config", file});
  EXPECT_EQ(bare.exit_code, 2);
  EXPECT_EQ(bare.err, "hostsweep: error: no agent command: set --agent-command or the agent-command key\n");
  auto with_command = hostsweep({"check-config", "--config", file, "--agent-command", "agent-runner {session_dir}"});
  EXPECT_EQ(with_command.exit_code, 0) << with_command.err;
  EXPECT_EQ(lines_of(with_command.out).back(), "ok: 1 setting, the others at their defaults");
}

TEST(CheckConfig, EveryProblemIsOneLineNamingItsSetting) {
  TempDir tmp;
  auto file = (tmp.path() / "bad.toml").string();
  write_file(file,
             "agent-command = \"a\"\n"
             "ceiling = \"soon\"\n"
             "max-tries = 5000\n"
             "colour = \"blue\"\n"
             "timezone = \"Mars/Olympus\"\n"
             "watch = [true]\n"
             "log-level = \"info\"\n");
  auto r = hostsweep({"check-config", "--config", file});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  auto lines = lines_of(r.err);
  ASSERT_EQ(lines.size(), 5u) << r.err;
  const std::string at = "hostsweep: error: config " + file + ": ";
  // The file's own problems (by key), then the values, in the order of `run --help`.
  EXPECT_EQ(lines[0], at + "unknown key \"colour\"");
  EXPECT_EQ(lines[1], at + "key watch: must be a string, a whole number or a boolean");
  EXPECT_EQ(lines[2], at + "key ceiling: \"soon\" is not a duration (write e.g. 250ms, 5s, 30m, 2h)");
  EXPECT_EQ(lines[3], at + "key max-tries: \"5000\" is not a whole number from 0 to 1000");
  EXPECT_EQ(lines[4].rfind(at + "key timezone: ", 0), 0u) << lines[4];

  // `run` stops at the same first problem, in the same words: one validation.
  auto run = hostsweep({"run", "--data-dir", (tmp.path() / "nowhere").string(), "--config", file});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.err, lines[0] + "\n");
  EXPECT_FALSE(std::filesystem::exists(tmp.path() / "nowhere"));
}

TEST(CheckConfig, AFileThatCannotBeReadIsOneProblem) {
  TempDir tmp;
  auto dir = hostsweep({"check-config", "--config", tmp.path().string()});
  EXPECT_EQ(dir.exit_code, 2);
  EXPECT_EQ(dir.err, "hostsweep: error: config " + tmp.path().string() + ": is a directory, not a file\n");

  auto missing = (tmp.path() / "missing.toml").string();
  auto none = hostsweep({"check-config", "--config", missing, "--agent-command", "a"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_EQ(none.err, "hostsweep: error: config " + missing + ": no such file\n");

  auto broken = (tmp.path() / "broken.toml").string();
  write_file(broken, "agent-command = \"a\"\nceiling = \"5m\n");
  auto r = hostsweep({"check-config", "--config", broken});
  EXPECT_EQ(r.exit_code, 2);
  ASSERT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("config " + broken + ": line 2: "), std::string::npos) << r.err;
}

TEST(CheckConfig, FlagsAreCheckedAsRunChecksThem) {
  TempDir tmp;
  auto file = (tmp.path() / "c.toml").string();
  write_file(file, "agent-command = \"a\"\nsweep-interval = \"0s\"\n");
  auto r = hostsweep({"check-config", "--config", file, "--kill-grace", "never", "--idle-timeout", "0s"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(lines_of(r.err),
            (std::vector<std::string>{"hostsweep: error: --kill-grace: \"never\" is not a duration (write e.g. 250ms, 5s, 30m, 2h)",
                                      "hostsweep: error: --idle-timeout: an idle timeout of 0 would stop every container at once",
                                      "hostsweep: error: config " + file + ": key sweep-interval: must be longer than 0"}));
  // check-config needs its file, and has no data directory to be given.
  EXPECT_EQ(hostsweep({"check-config"}).exit_code, 2);
  EXPECT_EQ(hostsweep({"check-config", "--config", file, "--data-dir", tmp.path().string()}).exit_code, 2);
}

// The collecting check itself: a value bad on its own is reported once, by its own setting,
// and not again by the checks across settings.
TEST(CheckConfig, ABadValueIsReportedOnce) {
  TempDir tmp;
  auto file = (tmp.path() / "c.toml").string();
  write_file(file, "agent-command = \"a 'b\"\n");
  auto checked = check({"--config", file});
  ASSERT_EQ(checked.problems.size(), 1u);
  EXPECT_EQ(checked.problems[0], "config " + file + ": key agent-command: command: unclosed single quote");

  write_file(file, "agent-command = \"\"\n");
  checked = check({"--config", file});
  EXPECT_EQ(checked.problems, std::vector<std::string>{"config " + file + ": key agent-command: must name a command"});

  write_file(file, "agent-command = \"a\"\nrun-as-user = \"no-such-user-here\"\nceiling = \"1h\"\n");
  checked = check({"--config", file, "--ceiling", "2h"});
  ASSERT_EQ(checked.problems.size(), 1u);
  EXPECT_EQ(checked.problems[0], "config " + file + ": key run-as-user: no user \"no-such-user-here\" on this host");
  // The flag replaces the file's key in what was given.
  auto ceiling = std::find_if(checked.given.begin(), checked.given.end(), [](const auto& g) { return g.name == "ceiling"; });
  ASSERT_NE(ceiling, checked.given.end());
  EXPECT_EQ(ceiling->value, "2h");
  EXPECT_EQ(ceiling->where, "--ceiling");
}

}  // namespace
}  // namespace hostsweep::testing
