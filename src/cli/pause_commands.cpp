// `hostsweep session pause S` and `hostsweep session resume S`: the session's registry row says
// `paused` or `active` (store::set_session_paused). A running daemon sees the registry change
// (inotify), and is also asked on its control socket to read it again at once (so that it
// reacts without inotify too); with --wait the command returns once the daemon has done it.
// Without a daemon, the next one starts with the session as the row says.
#include <iostream>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "commands.hpp"
#include "control_protocol.hpp"
#include "hostsweep/store/registry.hpp"
#include "ops/control_socket.hpp"

namespace hostsweep::cli {
namespace {

using namespace std::chrono_literals;

struct PauseOptions {
  std::string data_dir;
  std::string session;
  bool wait = false;
  std::string timeout = "60s";
};

// Whether the daemon's view of the session shows the change done: paused with no container
// left, or resumed.
bool daemon_done(const supervisor::SessionView& v, bool paused) {
  return paused ? v.paused && v.phase == supervisor::Phase::paused : !v.paused;
}

void run_pause(const PauseOptions& opts, bool paused) {
  const char* verb = paused ? "paused" : "resumed";
  auto timeout = policy::parse_duration(opts.timeout);
  if (!timeout || *timeout <= Duration{0}) {
    throw Error(Errc::invalid_argument, fmt::format("--timeout {}: a positive duration", opts.timeout));
  }
  const store::DataDir data(opts.data_dir);
  const bool changed = store::set_session_paused(data, opts.session, paused);

  std::string why_not;
  auto reply = ops::ask_control_socket(data.control_socket(), reload_request(), 5s, why_not);
  if (!reply) {
    std::cout << fmt::format("session {} {}{}; no daemon answers ({}): {}\n", opts.session, changed ? "" : "was already ",
                             verb, why_not,
                             paused ? "no daemon starts its container until it is resumed"
                                    : "a daemon starts its container when work is due");
    return;
  }
  expect_ok_reply(*reply);
  std::cout << fmt::format("session {} {}{}; the daemon {}\n", opts.session, changed ? "" : "was already ", verb,
                           paused ? "stops its container and starts none until it is resumed"
                                  : "starts its container when work is due");
  if (!opts.wait) return;

  const auto deadline = std::chrono::steady_clock::now() + *timeout;
  for (;;) {
    std::string why;
    auto status = ops::ask_control_socket(data.control_socket(), status_request(opts.session), 5s, why);
    if (!status) throw Error(Errc::io_error, fmt::format("the daemon stopped answering ({})", why));
    std::optional<LiveStatus> live;
    try {
      live = parse_status_reply(*status);
    } catch (const Error& e) {
      // Not supervised yet: a session created a moment ago, before the reload asked above ran.
      if (e.code() != Errc::not_found) throw;
    }
    if (live && live->sessions.size() == 1 && daemon_done(live->sessions.front(), paused)) {
      std::cout << fmt::format("session {}: {}\n", opts.session,
                               paused ? "the daemon has stopped its container" : "the daemon has resumed it");
      return;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error(fmt::format("session {}: the daemon has not {} it within {} (see `hostsweep status`)",
                                           opts.session, verb, opts.timeout));
    }
    std::this_thread::sleep_for(100ms);
  }
}

}  // namespace

void add_pause_commands(CLI::App& session) {
  for (bool paused : {true, false}) {
    auto opts = std::make_shared<PauseOptions>();
    auto* cmd = session.add_subcommand(
        paused ? "pause" : "resume",
        paused ? "pause a session: its container is stopped (its message keeps its tries) and none starts; its messages wait"
               : "resume a paused session: its container starts again when work is due");
    add_data_dir_option(*cmd, opts->data_dir);
    cmd->add_option("session", opts->session, "the session id")->required();
    cmd->add_flag("--wait", opts->wait,
                  paused ? "with a running daemon, return once no container of the session is left"
                         : "with a running daemon, return once it has resumed the session");
    cmd->add_option("--timeout", opts->timeout, "how long --wait waits")->capture_default_str();
    cmd->callback([opts, paused] { run_pause(*opts, paused); });
  }
}

}  // namespace hostsweep::cli
