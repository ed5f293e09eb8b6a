// `hostsweep run` as a real process, watched as an operator would: systemd's notify socket
// (READY=1, STATUS=, WATCHDOG=1, STOPPING=1 in that order) and the HTTP endpoint, scraped
// while a fake agent crashes and is retried.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <regex>
#include <thread>

#include <fmt/format.h>

#include "hostsweep/store/messages.hpp"
#include "store/inbound_store.hpp"
#include "hostsweep/store/registry.hpp"
#include "ops/ops_support.hpp"
#include "support/run_program.hpp"

namespace hostsweep::testing {
namespace {

using namespace std::chrono_literals;

std::string fake_agent() {
  return std::string(HOSTSWEEP_FAKE_AGENT_PATH) +
         " --session-dir {session_dir} --poll-interval 10ms --work-time 30ms --heartbeat-interval 20ms";
}

int wait_exit(pid_t& pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  pid = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A daemon that a failed assertion left running is killed, not leaked.
struct Reaper {
  pid_t& pid;
  ~Reaper() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

TEST(DaemonOps, NotifiesSystemdReadyStatusWatchdogAndStoppingInOrder) {
  TempDir tmp;
  store::DataDir data(tmp.path() / "data");
  store::create_session(data, "g", std::string("s1"), policy::now_utc());
  auto socket_path = (tmp.path() / "notify").string();
  DatagramReceiver systemd(socket_path);
  auto log = tmp.path() / "daemon.log";
  pid_t pid = spawn_with_env(HOSTSWEEP_CLI_PATH,
                             {"run", "--data-dir", data.root().string(), "--sweep-interval", "1h", "--agent-command", fake_agent()},
                             log, {"NOTIFY_SOCKET=" + socket_path, "WATCHDOG_USEC=200000"});
  Reaper reaper{pid};
  ASSERT_GT(pid, 0);

  std::vector<std::string> lines;  // every line of every datagram, in arrival order
  auto has = [&](const std::string& prefix, std::size_t from = 0) -> std::optional<std::size_t> {
    for (std::size_t i = from; i < lines.size(); ++i) {
      if (lines[i].rfind(prefix, 0) == 0) return i;
    }
    return std::nullopt;
  };
  auto receive_until = [&](const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      auto d = systemd.receive(1s);
      if (!d) continue;
      std::size_t at = 0;
      while (at <= d->size()) {
        auto end = d->find('\n', at);
        if (end == std::string::npos) end = d->size();
        if (end > at) lines.push_back(d->substr(at, end - at));
        at = end + 1;
      }
    }
    return done();
  };

  ASSERT_TRUE(receive_until([&] { return has("READY=1").has_value(); })) << read_file(log);
  auto ready = *has("READY=1");
  ASSERT_TRUE(receive_until([&] { return has("WATCHDOG=1", ready).has_value(); })) << read_file(log);
  auto status = has("STATUS=", ready);
  ASSERT_TRUE(status) << "no STATUS= with or after READY=1";
  EXPECT_EQ(lines[*status], "STATUS=1 session, 0 containers running, 0 backing off, 0 errors");
  auto watchdog = *has("WATCHDOG=1", ready);
  EXPECT_LT(*status, watchdog) << "STATUS= is sent with READY=1, before the next ping";

  ::kill(pid, SIGTERM);
  ASSERT_TRUE(receive_until([&] { return has("STOPPING=1", watchdog).has_value(); })) << read_file(log);
  EXPECT_EQ(wait_exit(pid), 0) << read_file(log);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), "READY=1"), 1) << "READY=1 once";
  auto text = read_file(log);
  EXPECT_NE(text.find("systemd.notify notifying systemd; watchdog ping every 100ms"), std::string::npos) << text;
  EXPECT_EQ(text.find("metrics.listening"), std::string::npos) << "the HTTP endpoint is off by default";
}

TEST(DaemonOps, MetricsEndpointCountsACrashAndItsRetry) {
  TempDir tmp;
  store::DataDir data(tmp.path() / "data");
  auto session = store::create_session(data, "g", std::string("s1"), policy::now_utc());
  write_file(session.files.dir() / ".fake-agent", "crash-after-claim\nnormal\n");
  store::enqueue(session.files, {.content = "hello"}, policy::now_utc());
  auto log = tmp.path() / "daemon.log";
  pid_t pid = spawn_with_env(HOSTSWEEP_CLI_PATH,
                             {"run", "--data-dir", data.root().string(), "--sweep-interval", "1h", "--agent-command",
                              fake_agent(), "--backoff-base", "100ms", "--start-backoff-base", "100ms",
                              "--metrics-listen", "127.0.0.1:0"},
                             log, {});
  Reaper reaper{pid};
  ASSERT_GT(pid, 0);
  // Port 0: the daemon logs the one the kernel chose.
  int port = 0;
  ASSERT_TRUE(eventually([&] {
    std::smatch m;
    auto text = read_file(log);
    if (!std::regex_search(text, m, std::regex(R"(metrics\.listening http://127\.0\.0\.1:(\d+)/metrics)"))) return false;
    port = std::stoi(m[1]);
    return true;
  })) << read_file(log);
  ASSERT_GT(port, 0);
  EXPECT_EQ(http_get(port, "/healthz").status, 200);
  std::string metrics;
  auto value = [&](const std::string& series) { return metric_value(metrics, series).value_or(-1); };
  ASSERT_TRUE(eventually([&] {
    auto reply = http_get(port, "/metrics");
    metrics = reply.body;
    return reply.status == 200 && value("hostsweep_messages_total{outcome=\"completed\"}") >= 1;
  })) << metrics << read_file(log);
  EXPECT_EQ(http_get(port, "/readyz").status, 200);
  EXPECT_EQ(http_get(port, "/nothing-here").status, 404);
  EXPECT_GE(value("hostsweep_container_starts_total"), 2);
  EXPECT_GE(value("hostsweep_container_exits_total{outcome=\"failure\"}") + value("hostsweep_container_exits_total{outcome=\"signal\"}"), 1)
      << metrics;
  EXPECT_GE(value("hostsweep_messages_total{outcome=\"retried\"}"), 1) << metrics;
  EXPECT_EQ(value("hostsweep_messages_total{outcome=\"failed\"}"), 0) << metrics;
  EXPECT_GE(value("hostsweep_sweeps_total"), 1) << metrics;
  EXPECT_EQ(value("hostsweep_sessions{state=\"idle\"}") + value("hostsweep_sessions{state=\"running\"}") +
                value("hostsweep_sessions{state=\"stopping\"}") + value("hostsweep_sessions{state=\"backing_off\"}"),
            1)
      << metrics;

  if (have_program("promtool")) {
    write_file(tmp.path() / "metrics.txt", metrics);
    auto [status, out] = shell("promtool check metrics < " + (tmp.path() / "metrics.txt").string());
    EXPECT_EQ(status, 0) << out << metrics;
  }

  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid), 0) << read_file(log);
}

TEST(DaemonOps, ABadMetricsListenIsBadInput) {
  TempDir tmp;
  auto log = tmp.path() / "out.log";
  pid_t pid = spawn_with_env(HOSTSWEEP_CLI_PATH,
                             {"run", "--data-dir", tmp.path().string(), "--agent-command", "x", "--metrics-listen", "localhost:80"},
                             log, {});
  Reaper reaper{pid};
  EXPECT_EQ(wait_exit(pid), 2);
  EXPECT_NE(read_file(log).find("--metrics-listen: \"localhost:80\" is not ADDRESS:PORT"), std::string::npos) << read_file(log);
}

// The operator's day with a live daemon: `status` asks it (phase, pid, uptime, the next deadline),
// `session pause --wait` returns once it has stopped the container (the message keeps its tries),
// `session resume --wait` once it has resumed (the message completes), `status --watch` keeps
// refreshing; once the daemon is gone, `status` reads the files and says so, and a pause is
// written for the next daemon.
TEST(DaemonOps, StatusAsksTheLiveDaemonAndPauseAndResumeActThroughIt) {
  TempDir tmp;
  store::DataDir data(tmp.path() / "data");
  auto s1 = store::create_session(data, "g", std::string("s1"), policy::now_utc());
  store::create_session(data, "g", std::string("s2"), policy::now_utc());
  write_file(s1.files.dir() / ".fake-agent", "hang-after-claim\nnormal\n");
  auto log = tmp.path() / "daemon.log";
  pid_t pid = spawn_with_env(HOSTSWEEP_CLI_PATH,
                             {"run", "--data-dir", data.root().string(), "--sweep-interval", "1h", "--agent-command",
                              fake_agent(), "--claim-tolerance", "10m", "--startup-grace", "10m"},
                             log, {});
  Reaper reaper{pid};
  ASSERT_GT(pid, 0);
  auto hostsweep = [](std::vector<std::string> args) { return run_program(HOSTSWEEP_CLI_PATH, args); };
  const std::string dir = data.root().string();
  auto id = store::enqueue(s1.files, {.content = "hello"}, policy::now_utc()).id;
  const std::string s1_running = R"("id":"s1","agent_group_id":"g","phase":"running","paused":false,"pid":)";
  ProgramResult status;
  ASSERT_TRUE(eventually([&] {
    status = hostsweep({"status", "--data-dir", dir, "--json"});
    // Its deadline once the check after its start has returned.
    return status.out.find(s1_running) != std::string::npos &&
           status.out.find("\"next_deadline_kind\":\"liveness\"") != std::string::npos;
  })) << status.out << status.err << read_file(log);
  EXPECT_EQ(status.out.rfind("{\"source\":\"daemon\"", 0), 0u) << status.out;
  EXPECT_NE(status.out.find(fmt::format("\"daemon\":{{\"pid\":{},", pid)), std::string::npos) << status.out;
  auto table = hostsweep({"status", "--data-dir", dir});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find(fmt::format("daemon pid {} ", pid)), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("(liveness: kill if stuck, stop if idle)"), std::string::npos) << table.out;

  auto paused = hostsweep({"session", "pause", "--data-dir", dir, "s1", "--wait"});
  ASSERT_EQ(paused.exit_code, 0) << paused.out << paused.err << read_file(log);
  EXPECT_NE(paused.out.find("session s1 paused; the daemon stops its container"), std::string::npos) << paused.out;
  EXPECT_NE(paused.out.find("session s1: the daemon has stopped its container"), std::string::npos) << paused.out;
  status = hostsweep({"status", "--data-dir", dir, "--json"});
  EXPECT_NE(status.out.find(R"("id":"s1","agent_group_id":"g","phase":"paused","paused":true,"pid":0,)"), std::string::npos)
      << status.out;
  auto message = store::find_message(s1.files, id);
  ASSERT_TRUE(message);
  EXPECT_EQ(message->status, "pending");
  EXPECT_EQ(message->tries, 0) << "a pause is not the message's fault";
  auto again = hostsweep({"session", "pause", "--data-dir", dir, "s1"});
  EXPECT_NE(again.out.find("session s1 was already paused"), std::string::npos) << again.out;
  EXPECT_NE(read_file(log).find("container.stopped session=s1"), std::string::npos) << read_file(log);

  // --watch prints a frame every interval until it is interrupted.
  auto watch_log = tmp.path() / "watch.log";
  pid_t watch = spawn_with_env(HOSTSWEEP_CLI_PATH, {"status", "--data-dir", dir, "--watch", "--interval", "100ms"}, watch_log, {});
  Reaper watch_reaper{watch};
  ASSERT_TRUE(eventually([&] {
    auto text = read_file(watch_log);
    std::size_t frames = 0;
    for (auto at = text.find("daemon pid"); at != std::string::npos; at = text.find("daemon pid", at + 1)) ++frames;
    return frames >= 3;
  })) << read_file(watch_log);
  ::kill(watch, SIGINT);
  EXPECT_EQ(wait_exit(watch), 128 + SIGINT);

  auto resumed = hostsweep({"session", "resume", "--data-dir", dir, "s1", "--wait"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err << read_file(log);
  EXPECT_NE(resumed.out.find("session s1: the daemon has resumed it"), std::string::npos) << resumed.out;
  ASSERT_TRUE(eventually([&] {
    auto m = store::find_message(s1.files, id);
    return m && m->status == "completed";
  })) << read_file(log);

  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid), 0) << read_file(log);
  auto from_files = hostsweep({"status", "--data-dir", dir});
  EXPECT_EQ(from_files.exit_code, 0) << from_files.err;
  EXPECT_EQ(from_files.out.rfind("from the session files: no daemon answers on " + data.control_socket().string() + " (", 0), 0u)
      << from_files.out;
  auto offline = hostsweep({"session", "pause", "--data-dir", dir, "s2"});
  EXPECT_EQ(offline.exit_code, 0) << offline.err;
  EXPECT_NE(offline.out.find("session s2 paused; no daemon answers"), std::string::npos) << offline.out;
  auto json = hostsweep({"status", "--data-dir", dir, "--json"});
  EXPECT_EQ(json.out.rfind("{\"source\":\"files\"", 0), 0u) << json.out;
  EXPECT_NE(json.out.find(R"("id":"s2","agent_group_id":"g","status":"paused")"), std::string::npos) << json.out;
}

TEST(DaemonOps, PauseAndResumeRefuseWhatTheyCannotDo) {
  TempDir tmp;
  store::DataDir data(tmp.path() / "data");
  store::create_session(data, "g", std::string("s1"), policy::now_utc());
  auto hostsweep = [](std::vector<std::string> args) { return run_program(HOSTSWEEP_CLI_PATH, args); };
  const std::string dir = data.root().string();
  auto unknown = hostsweep({"session", "pause", "--data-dir", dir, "nope"});
  EXPECT_EQ(unknown.exit_code, 3);
  EXPECT_NE(unknown.err.find("unknown session \"nope\""), std::string::npos) << unknown.err;
  auto bad = hostsweep({"session", "resume", "--data-dir", dir, "../x"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  auto timeout = hostsweep({"session", "pause", "--data-dir", dir, "s1", "--timeout", "soon"});
  EXPECT_EQ(timeout.exit_code, 2) << timeout.err;
  EXPECT_EQ(store::find_session(data, "s1").record.status, "active") << "nothing written for bad input";
  auto interval = hostsweep({"status", "--data-dir", dir, "--watch", "--interval", "1ms"});
  EXPECT_EQ(interval.exit_code, 2) << interval.err;
}

}  // namespace
}  // namespace hostsweep::testing
