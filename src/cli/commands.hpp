#pragma once
// The subcommands of `hostsweep`. Each add_* registers one subcommand whose callback runs it;
// a failure is thrown as hostsweep::Error and turned into one line on stderr and an exit code
// by main(). A command that reports several failures (status over many sessions) prints them
// itself and sets `exit_code`.

#include <CLI/CLI.hpp>

#include <string>

#include "hostsweep/error.hpp"
#include "policy/sweep_plan.hpp"

namespace hostsweep::cli {

void add_session_command(CLI::App& app);
// `session pause` and `session resume`, under the `session` subcommand.
void add_pause_commands(CLI::App& session);
void add_enqueue_command(CLI::App& app);
void add_status_command(CLI::App& app, int& exit_code);
void add_explain_command(CLI::App& app);
void add_sweep_command(CLI::App& app, int& exit_code);
void add_run_command(CLI::App& app, int& exit_code);
// SIGTERM and SIGINT blocked in the calling thread (and the threads it starts), then unblocked.
void hold_stop_signals();
void release_stop_signals();
void add_cron_command(CLI::App& app, int& exit_code);
void add_logs_command(CLI::App& app);
void add_check_config_command(CLI::App& app, int& exit_code);
void add_message_command(CLI::App& app);

// Shared options.
void add_data_dir_option(CLI::App& command, std::string& data_dir);
// The sweep's decisions as flags, with their defaults in the help: the decision settings of
// `hostsweep run`, from its table (add_policy_settings in run_settings.hpp).
void add_policy_options(CLI::App& command, policy::SweepPolicy& policy);

// The process exit status for an error of this kind.
int exit_code_for(Errc code) noexcept;

// "in 5s", "3m ago", "now": a time relative to `now`, for people.
std::string relative(TimePoint t, TimePoint now);

}  // namespace hostsweep::cli
