// `hostsweep run`: the supervisor as a daemon, in the foreground (systemd runs it; no fork).
// SIGTERM or SIGINT stops it in stages: no new starts, containers stopped within the kill
// grace, their cleanup committed, then exit 0; within kill-grace + stop-timeout whatever the
// files do (exit 1 when work had to be abandoned). A second signal SIGKILLs every container.
#include <signal.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <filesystem>
#include <iostream>
#include <stdexcept>

#include <fmt/format.h>

#include "commands.hpp"
#include "event_log.hpp"
#include "hostsweep/error.hpp"
#include "hostsweep/supervisor/supervisor.hpp"
#include "run_settings.hpp"

namespace hostsweep::cli {

void add_run_command(CLI::App& app, int& exit_code) {
  auto settings = std::make_shared<RunSettings>();
  auto* cmd = app.add_subcommand("run", "supervise every active session's container (the daemon)");
  settings->add_options(*cmd);
  cmd->callback([settings, &exit_code] {
    // The signals are ours before anything else happens: a SIGTERM during start-up is queued
    // for the loop and is a clean stop, not the default action's sudden death.
    boost::asio::io_context io;
    boost::asio::signal_set signals(io, SIGTERM, SIGINT);
    ::signal(SIGPIPE, SIG_IGN);
    RunConfig config = settings->resolve();
    // The data directory is made by `session create` (or systemd's StateDirectory=): a daemon
    // pointed at a path that is not one was given the wrong path.
    if (!std::filesystem::is_directory(config.data_dir)) {
      throw Error(Errc::invalid_argument,
                  fmt::format("--data-dir {}: {}", config.data_dir,
                              std::filesystem::exists(config.data_dir) ? "is not a directory" : "no such directory"));
    }
    EventLog log(config.log_format, config.log_level);

    supervisor::Supervisor supervisor(io.get_executor(), store::DataDir(config.data_dir), config.supervisor,
                                      [&log](const supervisor::Event& e) { log(e); });
    bool stopping = false;
    std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec,
                                                                               int signo) {
      if (ec) return;
      if (stopping) {
        log.note("daemon.stopping", fmt::format("second signal {}: killing every container now", signo), true);
        supervisor.async_stop({});  // forces the final stage; the first handler still completes
        signals.async_wait(on_signal);
        return;
      }
      stopping = true;
      log.note("daemon.stopping", fmt::format("signal {}: stopping containers", signo));
      supervisor.async_stop([&] {
        if (supervisor.stop_abandoned_work()) {
          log.note("daemon.stopped", "stopped, with work abandoned (see session.error): the next start finishes it", true);
        } else {
          log.note("daemon.stopped", "every container stopped and cleaned up");
        }
        signals.cancel();
      });
      signals.async_wait(on_signal);
    };
    signals.async_wait(on_signal);
    log.note("daemon.started",
             fmt::format("data dir {}, runtime {}, sweep every {}", config.data_dir,
                         runtime::to_string(config.supervisor.runtime.kind),
                         policy::format_duration(config.supervisor.sweep_interval)));
    try {
      supervisor.start();
    } catch (const Error& e) {
      // Another daemon has this data directory: not bad input, a refusal (status 1).
      if (e.code() == Errc::already_exists) throw std::runtime_error(e.what());
      throw;
    }
    io.run();
    if (supervisor.stop_abandoned_work()) exit_code = 1;
  });
}

}  // namespace hostsweep::cli
