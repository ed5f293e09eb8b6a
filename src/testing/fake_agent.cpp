// hostsweep-fake-agent: plays the container side of the session protocol (PROTOCOL.md) the
// way the reference's real container does, with a scriptable behaviour per start so that
// tests can make a container crash, hang, start slowly or run a long tool. See
// docs/FAKE-AGENT.md. Exit status: 0 after --idle-exit, 2 for bad flags, an unknown
// behaviour or an unusable session directory, the script's code for exit-immediately.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <SQLiteCpp/SQLiteCpp.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "fake_agent_script.hpp"
#include "fake_agent_session.hpp"
#include "hostsweep/error.hpp"

namespace hostsweep::fake_agent {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string session_dir;
  std::optional<std::string> behavior;
  Duration poll_interval = std::chrono::seconds{1};
  Duration work_time = std::chrono::milliseconds{100};
  Duration heartbeat_interval = std::chrono::seconds{1};
  std::optional<Duration> idle_exit;  // never by default, like the real container
};

template <typename... Args>
void log(fmt::format_string<Args...> format, Args&&... args) {
  // One formatted write per line, so that lines of the agent and its children never interleave.
  auto line = fmt::format("fake-agent[{}]: {}\n", ::getpid(), fmt::format(format, std::forward<Args>(args)...));
  std::fwrite(line.data(), 1, line.size(), stderr);
}

Duration require_duration(const std::string& flag, const std::string& text, bool positive) {
  auto d = policy::parse_duration(text);
  if (!d) throw CLI::ValidationError(flag, fmt::format("\"{}\" is not a duration such as 250ms, 5s or 30m", text));
  if (positive && d->count() <= 0) throw CLI::ValidationError(flag, "must be longer than 0");
  return *d;
}

void add_duration(CLI::App& app, const std::string& flag, Duration& target, bool positive, const std::string& help) {
  app.add_option_function<std::string>(
         flag, [flag, &target, positive](const std::string& text) { target = require_duration(flag, text, positive); },
         fmt::format("{} (default {})", help, policy::format_duration(target)))
      ->type_name("DURATION");
}

// The behaviour of this start, and where it came from, for the log.
struct Choice {
  Behavior behavior;
  std::string source;
};

Choice choose_behavior(const Options& options, const ContainerSide& side, std::uint64_t start) {
  if (options.behavior) return {parse_behavior(*options.behavior), "--behavior"};
  auto script = side.read_script();
  if (!script) return {Behavior{}, "default"};
  auto lines = script_lines(*script);
  if (lines.empty()) return {Behavior{}, "default: .fake-agent has no behavior lines"};
  const auto& line = line_for_start(lines, start);
  try {
    return {parse_behavior(line), fmt::format(".fake-agent line {} of {}", std::min<std::uint64_t>(start, lines.size()),
                                              lines.size())};
  } catch (const Error& e) {
    throw Error(e.code(), fmt::format("{}: {}", (side.files().dir() / ".fake-agent").string(), e.what()));
  }
}

// Two children that sleep until killed, in our process group: the host's grandchildren,
// which must die with the group when the host stops the container.
void fork_sleeping_children() {
  for (int i = 0; i < 2; ++i) {
    pid_t child = ::fork();
    if (child < 0) throw Error(Errc::io_error, "fork failed");
    if (child == 0) {
      for (;;) ::pause();
    }
    log("forked child {} (sleeps until killed)", child);
  }
}

// print BYTES: numbered lines of 64 bytes ("print 000001 xxxx...\n"), the last one shorter.
void print_bytes(std::uint64_t bytes) {
  std::uint64_t number = 0;
  while (bytes > 0) {
    std::string line = fmt::format("print {:06} ", ++number);
    line.resize(63, 'x');
    line += '\n';
    if (bytes < line.size()) line.erase(0, line.size() - bytes);  // the last: its end, with the newline
    bytes -= line.size();
    std::fwrite(line.data(), 1, line.size(), stdout);
  }
  std::fflush(stdout);
}

// flood DURATION: stdout and stderr, 64 KiB at a time, as fast as the pipes take them.
void flood(Duration duration) {
  std::string chunk;
  for (int i = 0; chunk.size() < 65536; ++i) chunk += fmt::format("flood line {:08} {}\n", i, std::string(40, 'f'));
  auto deadline = Clock::now() + duration;
  std::uint64_t written = 0;
  while (Clock::now() < deadline) {
    for (int fd : {STDOUT_FILENO, STDERR_FILENO}) {
      ssize_t n = ::write(fd, chunk.data(), chunk.size());
      if (n > 0) written += static_cast<std::uint64_t>(n);
    }
  }
  log("flood: wrote {} bytes in {}", written, policy::format_duration(duration));
}

class Agent {
 public:
  Agent(Options options, Behavior behavior)
      : options_(std::move(options)), behavior_(behavior), side_(options_.session_dir) {}

  // Polls until --idle-exit has passed with nothing to do; without it, forever.
  int run() {
    auto idle_since = Clock::now();
    for (;;) {
      if (poll_once()) idle_since = Clock::now();
      else if (options_.idle_exit && Clock::now() - idle_since >= *options_.idle_exit) {
        log("idle for {}: exiting", policy::format_duration(*options_.idle_exit));
        return 0;
      }
      std::this_thread::sleep_for(options_.poll_interval);
    }
  }

 private:
  // One poll: true when it claimed and handled messages. Failures are logged, never fatal:
  // the next poll tries again, as a container must survive odd data.
  bool poll_once() {
    try {
      auto due = side_.due_messages(policy::now_utc());
      bool any_trigger = false;
      for (const auto& m : due) any_trigger = any_trigger || m.trigger;
      if (!any_trigger) return ok(false);
      auto claimed = side_.claim(due);
      if (claimed.empty()) return ok(false);
      for (const auto& m : claimed) {
        log("claimed {}{}", printable(m.id), m.trigger ? "" : " (trigger 0: rides along)");
      }
      handle(claimed);
      return ok(true);
    } catch (const std::exception& e) {
      // Logged once per distinct failure, so that a 10 ms poll does not flood the log.
      std::string what = e.what();
      if (what != last_error_) log("poll failed: {}", printable(what));
      last_error_ = std::move(what);
      return false;
    }
  }

  bool ok(bool worked) {
    last_error_.clear();
    return worked;
  }

  void handle(const std::vector<InboundMessage>& claimed) {
    switch (behavior_.kind) {
      case BehaviorKind::crash_after_claim:
        log("crash-after-claim: SIGKILL to myself, the claims stay behind");
        ::kill(::getpid(), SIGKILL);
        ::_exit(137);  // not reached
      case BehaviorKind::hang_after_claim:
        log("hang-after-claim: no heartbeat and no exit until killed");
        for (;;) ::pause();
      case BehaviorKind::slow_start:
        if (first_batch_) {
          log("slow-start: silent for {}", policy::format_duration(behavior_.duration));
          std::this_thread::sleep_for(behavior_.duration);
        }
        break;
      case BehaviorKind::tool:
        run_tool();
        break;
      default:
        break;
    }
    first_batch_ = false;
    work();
    const char* status = behavior_.kind == BehaviorKind::fail ? "failed" : "completed";
    for (const auto& r : side_.finish(claimed, status, describe(behavior_))) {
      log("{} {} with reply {} (seq {})", status, printable(r.message_id), printable(r.reply_id), r.seq);
    }
  }

  // A Bash tool that declared `duration` and stays silent for 80% of it.
  void run_tool() {
    auto timeout = behavior_.duration;
    if (side_.declare_tool("Bash", timeout, policy::now_utc())) {
      log("tool: Bash declared {}, silent for 80% of it", policy::format_duration(timeout));
    } else {
      log("tool: outbound.db has no container_state table, the tool is not declared");
    }
    std::this_thread::sleep_for(timeout * 4 / 5);
    side_.clear_tool(policy::now_utc());
    log("tool: Bash finished");
  }

  // --work-time of work, with a heartbeat at its start and every --heartbeat-interval.
  void work() {
    log("working for {}", policy::format_duration(options_.work_time));
    auto deadline = Clock::now() + options_.work_time;
    for (;;) {
      beat();
      auto left = deadline - Clock::now();
      if (left <= Clock::duration::zero()) return;
      std::this_thread::sleep_for(std::min<Clock::duration>(left, options_.heartbeat_interval));
    }
  }

  void beat() {
    try {
      side_.touch_heartbeat();
    } catch (const Error& e) {
      log("heartbeat failed: {}", printable(e.what()));
    }
  }

  Options options_;
  Behavior behavior_;
  ContainerSide side_;
  bool first_batch_ = true;
  std::string last_error_;
};

int start(Options options) {
  std::error_code ec;
  if (!std::filesystem::is_directory(options.session_dir, ec)) {
    throw Error(Errc::not_found, fmt::format("{}: not a session directory", options.session_dir));
  }
  ContainerSide side(options.session_dir);
  auto start_number = side.count_start();
  auto choice = choose_behavior(options, side, start_number);
  log("start {} in {}: behavior {} (from {})", start_number, printable(options.session_dir),
      describe(choice.behavior), choice.source);

  if (choice.behavior.kind == BehaviorKind::exit_immediately) {
    log("exit-immediately: exiting with {}", choice.behavior.exit_code);
    return choice.behavior.exit_code;
  }
  if (choice.behavior.kind == BehaviorKind::ignore_sigterm) {
    ::signal(SIGTERM, SIG_IGN);
    log("ignore-sigterm: SIGTERM is ignored");
  }

  if (choice.behavior.kind == BehaviorKind::print) print_bytes(choice.behavior.bytes);
  if (choice.behavior.kind == BehaviorKind::flood) flood(choice.behavior.duration);

  side.check_outbound();
  int deleted = side.delete_leftover_claims();
  if (deleted > 0) log("deleted {} leftover processing claim(s)", deleted);
  if (choice.behavior.kind == BehaviorKind::fork_children) fork_sleeping_children();

  return Agent(std::move(options), choice.behavior).run();
}

}  // namespace
}  // namespace hostsweep::fake_agent

int main(int argc, char** argv) {
  using namespace hostsweep::fake_agent;
  CLI::App app{"hostsweep-fake-agent: the container side of a hostsweep session, scriptable for tests",
               "hostsweep-fake-agent"};
  Options options;
  std::string behavior;
  app.add_option("--session-dir", options.session_dir, "the session directory (holds inbound.db, outbound.db)")
      ->required();
  auto* behavior_flag = app.add_option("--behavior", behavior, "this start's behavior; wins over .fake-agent");
  add_duration(app, "--poll-interval", options.poll_interval, true, "how often inbound.db is read");
  add_duration(app, "--work-time", options.work_time, false, "how long handling one batch takes");
  add_duration(app, "--heartbeat-interval", options.heartbeat_interval, true, "heartbeat period while working");
  app.add_option_function<std::string>(
         "--idle-exit",
         [&options](const std::string& text) { options.idle_exit = require_duration("--idle-exit", text, false); },
         "exit 0 after this long with nothing to do (default never)")
      ->type_name("DURATION");
  try {
    app.parse(argc, argv);
    if (behavior_flag->count() > 0) options.behavior = behavior;
    return start(std::move(options));
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    log("error: {} (see --help)", e.what());
    return 2;
  } catch (const hostsweep::Error& e) {
    log("error: {}", printable(e.what()));
    return e.code() == hostsweep::Errc::io_error ? 1 : 2;
  } catch (const SQLite::Exception& e) {
    log("error: {}", printable(e.what()));
    return 1;
  } catch (const std::exception& e) {
    log("error: {}", printable(e.what()));
    return 1;
  }
}
