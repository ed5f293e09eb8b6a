// `hostsweep check-config --config F [flags]`: the settings `run` would start with, checked by
// the very code `run` uses (RunSettings::check), without starting anything or touching a data
// directory. Valid: exit 0 and the settings given. Not: one line on stderr per problem, exit 2.
#include <iostream>

#include <fmt/format.h>

#include "commands.hpp"
#include "json_writer.hpp"
#include "run_settings.hpp"

namespace hostsweep::cli {

void add_check_config_command(CLI::App& app, int& exit_code) {
  auto settings = std::make_shared<RunSettings>();
  auto* cmd = app.add_subcommand(
      "check-config", "check a config file of `hostsweep run` (and any of its flags) without starting anything");
  settings->add_options(*cmd, RunSettings::Mode::check);
  cmd->callback([settings, &exit_code] {
    const auto checked = settings->check();
    if (!checked.problems.empty()) {
      for (const auto& p : checked.problems) std::cerr << "hostsweep: error: " << escape_text(p) << '\n';
      exit_code = exit_code_for(Errc::invalid_argument);
      return;
    }
    // What was given, as given: the rest is at its default (`hostsweep run --help`).
    for (const auto& g : checked.given) {
      std::cout << fmt::format("{} = {}  ({})\n", g.name, escape_text(g.value), escape_text(g.where));
    }
    std::cout << fmt::format("ok: {} setting{}, the others at their defaults\n", checked.given.size(),
                             checked.given.size() == 1 ? "" : "s");
  });
}

}  // namespace hostsweep::cli
