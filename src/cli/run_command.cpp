// `hostsweep run`: the supervisor as a daemon, in the foreground (systemd runs it; no fork).
// SIGTERM or SIGINT stops it in stages: no new starts, containers stopped within the kill
// grace, their cleanup committed, then exit 0; within kill-grace + stop-timeout whatever the
// files do (exit 1 when work had to be abandoned). A second signal SIGKILLs every container.
//
// Under systemd (NOTIFY_SOCKET) it says READY=1 after the first sweep, a STATUS= line at
// each sweep and STOPPING=1 at a signal, and pings the watchdog from this loop. With
// --metrics-listen it serves /metrics, /healthz and /readyz on the same loop, and it always
// answers on its control socket (DATA_DIR/run/control.sock: `hostsweep status`, the verbs).
#include <signal.h>
#include <unistd.h>

#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <filesystem>
#include <iostream>
#include <stdexcept>

#include <fmt/format.h>

#include "commands.hpp"
#include "control_protocol.hpp"
#include "event_log.hpp"
#include "hostsweep/error.hpp"
#include "hostsweep/store/registry.hpp"
#include "hostsweep/supervisor/supervisor.hpp"
#include "ops/control_socket.hpp"
#include "ops/http_server.hpp"
#include "ops/metrics.hpp"
#include "ops/systemd_notify.hpp"
#include "run_settings.hpp"

namespace hostsweep::cli {

namespace {
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}
}  // namespace

void hold_stop_signals() {
  const auto set = stop_signals();
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void release_stop_signals() {
  const auto set = stop_signals();
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

void add_run_command(CLI::App& app, int& exit_code) {
  auto settings = std::make_shared<RunSettings>();
  auto* cmd = app.add_subcommand("run", "supervise every active session's container (the daemon)");
  settings->add_options(*cmd);
  cmd->callback([settings, &exit_code] {
    // The signals are ours before anything else happens: a SIGTERM during start-up is queued
    // for the loop and is a clean stop, not the default action's sudden death.
    boost::asio::io_context io;
    boost::asio::signal_set signals(io, SIGTERM, SIGINT);
    release_stop_signals();  // one held since main() is delivered to `signals` now
    ::signal(SIGPIPE, SIG_IGN);
    RunConfig config = settings->resolve();
    // The data directory is made by `session create` (or systemd's StateDirectory=): a daemon
    // pointed at a path that is not one was given the wrong path.
    if (!std::filesystem::is_directory(config.data_dir)) {
      throw Error(Errc::invalid_argument,
                  fmt::format("--data-dir {}: {}", config.data_dir,
                              std::filesystem::exists(config.data_dir) ? "is not a directory" : "no such directory"));
    }
    // A registry that is there but cannot be read (corrupt, a directory, a symlink) is a daemon
    // that would supervise nothing: refused here, in one line. None yet is a new install.
    if (std::filesystem::symlink_status(store::DataDir(config.data_dir).registry()).type() !=
        std::filesystem::file_type::not_found) {
      try {
        store::list_sessions_checked(store::DataDir(config.data_dir), true);
      } catch (const Error& e) {
        throw Error(Errc::invalid_argument, fmt::format("the registry cannot be read: {}", e.what()));
      }
    }
    EventLog log(config.log_format, config.log_level);

    // Read (and removed from the environment, so no container inherits it) before any
    // thread of the supervisor's exists.
    auto notifier = ops::SystemdNotifier::from_environment();
    ops::Metrics metrics;
    bool ready = false;
    bool stopping = false;
    bool abandoned = false;
    std::function<void()> on_sweep;
    // Events arrive through a post, after the supervisor's handler that caused them.
    supervisor::Supervisor supervisor(io.get_executor(), store::DataDir(config.data_dir), config.supervisor,
                                      [&](const supervisor::Event& e) {
                                        log(e);
                                        metrics.observe(e);
                                        if (e.kind == supervisor::EventKind::sweep_completed) on_sweep();
                                      });
    on_sweep = [&] {
      std::string status = "STATUS=" + metrics.status_line(ops::snapshot_of(supervisor));
      if (!ready && !stopping) {
        ready = true;
        notifier.notify("READY=1\n" + status);
      } else {
        notifier.notify(status);
      }
    };
    std::optional<ops::WatchdogPinger> watchdog;
    if (auto timeout = notifier.watchdog_timeout()) {
      watchdog.emplace(io.get_executor(), notifier, *timeout / 2);
      watchdog->start();
    }
    std::optional<ops::HttpServer> http;
    std::optional<ops::ControlServer> control;
    std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec,
                                                                               int signo) {
      if (ec) return;
      if (stopping) {
        log.note("daemon.stopping", fmt::format("second signal {}: killing every container now", signo), true);
        supervisor.async_stop(boost::asio::detached);  // forces the final stage; the first handler still completes
        signals.async_wait(on_signal);
        return;
      }
      stopping = true;
      notifier.notify("STOPPING=1\nSTATUS=stopping containers");
      log.note("daemon.stopping", fmt::format("signal {}: stopping containers", signo));
      supervisor.async_stop([&](boost::system::error_code result) {
        abandoned = result == supervisor::stop_errc::abandoned_work;
        if (result) {
          log.note("daemon.stopped", "stopped, with work abandoned (see session.error): the next start finishes it", true);
        } else {
          log.note("daemon.stopped", "every container stopped and cleaned up");
        }
        if (watchdog) watchdog->stop();
        if (http) http->stop();
        if (control) control->stop();
        signals.cancel();
      });
      signals.async_wait(on_signal);
    };
    signals.async_wait(on_signal);
    log.note("daemon.started",
             fmt::format("data dir {}, runtime {}, sweep every {}", config.data_dir,
                         runtime::to_string(config.supervisor.runtime.kind),
                         policy::format_duration(config.supervisor.sweep_interval)));
    if (notifier.enabled()) {
      log.note("systemd.notify",
               watchdog ? fmt::format("notifying systemd; watchdog ping every {}",
                                      policy::format_duration(std::chrono::duration_cast<Duration>(*notifier.watchdog_timeout() / 2)))
                        : std::string("notifying systemd; no watchdog"));
    }
    try {
      supervisor.start();
    } catch (const Error& e) {
      // Another daemon has this data directory: not bad input, a refusal (status 1).
      if (e.code() == Errc::already_exists) throw std::runtime_error(e.what());
      throw;
    }
    // After start(), so that a second daemon is refused for its data directory, not its port;
    // nothing has run yet (the loop has not), so a busy port stops before any container starts.
    if (config.metrics_listen) {
      http.emplace(io.get_executor(), *config.metrics_listen,
                   ops::HttpEndpoints{.metrics = [&] { return metrics.render(ops::snapshot_of(supervisor)); },
                                      .ready = [&] { return ready && !stopping; }});
      http->start();
      log.note("metrics.listening", fmt::format("http://{}/metrics (and /healthz, /readyz)", http->local_address().to_string()));
    }
    // The control socket, in the run directory start() made ours: status says "stopping" while
    // a stop runs, so it is closed only when the stop has completed. A daemon without it still
    // supervises (status then reads the files), so a failure here is said, not fatal.
    const store::DataDir data(config.data_dir);
    const DaemonFacts facts{.pid = static_cast<int>(::getpid()),
                            .data_dir = data.root().string(),
                            .version = HOSTSWEEP_VERSION,
                            .started = policy::now_utc()};
    try {
      ControlActions actions{.daemon =
                                 [&] {
                                   DaemonFacts now = facts;
                                   now.ready = ready;
                                   now.stopping = stopping;
                                   return now;
                                 },
                             .sessions = [&] { return supervisor.sessions(); },
                             .reload = [&] { supervisor.reload_registry(); }};
      const ops::ControlLimits limits;
      control.emplace(
          io.get_executor(), data.control_socket(),
          [actions](std::string_view request) { return answer_control_request(request, actions, policy::now_utc()); },
          control_request_too_long(limits.max_request_bytes), limits);
      control->start();
    } catch (const std::exception& e) {
      log.note("control.unavailable", fmt::format("{}: `hostsweep status` reads the files instead", e.what()), true);
    }
    io.run();
    if (abandoned) exit_code = 1;
  });
}

}  // namespace hostsweep::cli
