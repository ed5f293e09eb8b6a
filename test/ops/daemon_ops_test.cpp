// `hostsweep run` as a real process, watched as an operator would: systemd's notify socket
// (READY=1, STATUS=, WATCHDOG=1, STOPPING=1 in that order) and the HTTP endpoint, scraped
// while a fake agent crashes and is retried.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <regex>
#include <thread>

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

}  // namespace
}  // namespace hostsweep::testing
