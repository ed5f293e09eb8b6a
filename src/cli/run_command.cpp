// `hostsweep run`: the supervisor as a daemon, in the foreground (systemd runs it; no fork).
// SIGTERM or SIGINT stops it in stages: no new starts, containers stopped within the kill
// grace, their cleanup committed, then exit 0. A second signal exits at once.
#include <signal.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <iostream>
#include <stdexcept>

#include <fmt/format.h>

#include "commands.hpp"
#include "event_log.hpp"
#include "hostsweep/error.hpp"
#include "hostsweep/supervisor/supervisor.hpp"
#include "run_settings.hpp"

namespace hostsweep::cli {

void add_run_command(CLI::App& app) {
  auto settings = std::make_shared<RunSettings>();
  auto* cmd = app.add_subcommand("run", "supervise every active session's container (the daemon)");
  settings->add_options(*cmd);
  cmd->callback([settings] {
    RunConfig config = settings->resolve();
    ::signal(SIGPIPE, SIG_IGN);
    EventLog log(config.log_format, config.log_level);

    boost::asio::io_context io;
    supervisor::Supervisor supervisor(io.get_executor(), store::DataDir(config.data_dir), config.supervisor,
                                      [&log](const supervisor::Event& e) { log(e); });
    boost::asio::signal_set signals(io, SIGTERM, SIGINT);
    bool stopping = false;
    std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec,
                                                                               int signo) {
      if (ec) return;
      if (stopping) {
        log.note("daemon.exit", fmt::format("second signal {}: exiting now", signo), true);
        std::_Exit(1);
      }
      stopping = true;
      log.note("daemon.stopping", fmt::format("signal {}: stopping containers", signo));
      supervisor.async_stop([&] {
        log.note("daemon.stopped", "every container stopped and cleaned up");
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
  });
}

}  // namespace hostsweep::cli
