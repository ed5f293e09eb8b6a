// The `hostsweep` program: parses the command line and maps failures to one line on stderr
// and an exit status (2 bad input, 3 not found, 4 already exists, 5 corrupt file, 1 other).
#include <signal.h>

#include <iostream>
#include <string_view>

#include "commands.hpp"
#include "json_writer.hpp"

int main(int argc, char** argv) {
  using namespace hostsweep;
  // The daemon's stop signals are held from main()'s first line: one that comes while the
  // command line is parsed stays pending until `run` has its handler, and is a clean stop
  // (not the default action's sudden death). Other commands keep the default action.
  if (argc > 1 && std::string_view(argv[1]) == "run") cli::hold_stop_signals();
  CLI::App app{"hostsweep: a supervisor for sandboxed agent containers", "hostsweep"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "hostsweep " HOSTSWEEP_VERSION);  // project(VERSION) in CMakeLists.txt
  int exit_code = 0;
  cli::add_session_command(app);
  cli::add_enqueue_command(app);
  cli::add_status_command(app, exit_code);
  cli::add_explain_command(app);
  cli::add_sweep_command(app, exit_code);
  cli::add_run_command(app, exit_code);
  cli::add_cron_command(app, exit_code);
  cli::add_logs_command(app);
  cli::add_check_config_command(app, exit_code);
  cli::add_message_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "hostsweep: error: " << cli::escape_text(e.what()) << " (see --help)\n";
    return 2;
  } catch (const Error& e) {
    std::cerr << "hostsweep: error: " << cli::escape_text(e.what()) << '\n';
    return cli::exit_code_for(e.code());
  } catch (const std::exception& e) {
    std::cerr << "hostsweep: error: " << cli::escape_text(e.what()) << '\n';
    return 1;
  }
  return exit_code;
}
