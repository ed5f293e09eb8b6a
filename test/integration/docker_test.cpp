// The docker runtime, driven through `hostsweep run` against a stand-in docker CLI
// (test/support/docker-standin: no engine runs on these machines). Its containers live outside
// the supervisor's process tree, like an engine's: a stuck one is stopped with `docker stop`,
// whose process is reaped; the ones a SIGKILLed daemon left running are found at the next start
// by this install's label, and stopped before anything new starts.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include "os/holder_record.hpp"
#include "store/inbound_store.hpp"
#include "store/outbound_store.hpp"
#include "hostsweep/store/registry.hpp"
#include "support/process_table.hpp"
#include "support/run_program.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::vector<std::string> lines_of(const fs::path& file) {
  std::vector<std::string> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A data directory, one session, and a `docker` in PATH that is the stand-in.
struct DockerFixture : ::testing::Test {
  TempDir tmp;
  store::DataDir data{tmp.path() / "data"};
  fs::path standin = tmp.path() / "standin";
  fs::path calls = standin / "calls";
  fs::path log = tmp.path() / "daemon.log";
  store::Session session = store::create_session(data, "g", std::string("s1"), policy::now_utc());
  std::string old_path = std::getenv("PATH") ? std::getenv("PATH") : "";

  void SetUp() override {
    fs::create_directories(tmp.path() / "bin");
    fs::create_directories(standin);
    fs::create_symlink(fs::path(HOSTSWEEP_SOURCE_DIR) / "test/support/docker-standin", tmp.path() / "bin/docker");
    ::setenv("PATH", ((tmp.path() / "bin").string() + ":" + old_path).c_str(), 1);
    ::setenv("DOCKER_STANDIN_DIR", standin.c_str(), 1);
  }
  void TearDown() override {
    ::setenv("PATH", old_path.c_str(), 1);
    ::unsetenv("DOCKER_STANDIN_DIR");
  }

  // `patience`: the claim tolerance and the start-up grace (a container that claimed and never
  // made a heartbeat is stuck after both).
  std::vector<std::string> daemon_args(const std::string& patience) const {
    return {"run", "--data-dir", data.root().string(), "--log-format", "json", "--sweep-interval", "1h",
            "--runtime", "docker", "--image", "agent:test", "--cgroup", "off",
            "--agent-command",
            std::string(HOSTSWEEP_FAKE_AGENT_PATH) +
                " --session-dir {session_dir} --poll-interval 10ms --work-time 30ms --heartbeat-interval 20ms",
            "--claim-tolerance", patience, "--startup-grace", patience, "--kill-grace", "1s", "--backoff-base",
            "100ms"};
  }
  std::string install_id() const {
    auto text = read_file(data.run_dir() / "install-id");
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
  }
  std::string status_of(const std::string& id) const {
    return policy::to_string(store::read_message_states(session.files, {id}).at(id).status);
  }
  // Stops the daemon with SIGTERM and says whether it exited 0.
  bool terminate(pid_t daemon) const {
    ::kill(daemon, SIGTERM);
    int status = 0;
    ::waitpid(daemon, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
};

// A container stuck on its claim is stopped by `docker stop --time <grace> <name>`, whose process
// the daemon reaps; the retry completes the message. Every container is labelled with the install.
TEST_F(DockerFixture, AStuckContainerIsStoppedByNameAndTheStopLeavesNoZombie) {
  write_file(session.files.dir() / ".fake-agent", "hang-after-claim\nnormal\n");
  auto id = store::enqueue(session.files, {.content = "hello"}, policy::now_utc()).id;
  pid_t daemon = spawn_program(HOSTSWEEP_CLI_PATH, daemon_args("500ms"), log, log);
  ASSERT_GT(daemon, 0);
  ASSERT_TRUE(eventually([&] { return status_of(id) == "completed"; })) << read_file(log) << read_file(calls);
  ASSERT_TRUE(eventually([&] { return zombies_of(daemon).empty(); }))
      << "zombies of the daemon: " << zombies_of(daemon).size();

  auto made = lines_of(calls);
  ASSERT_GE(made.size(), 4u) << read_file(calls);
  auto label = "hostsweep.install=" + install_id();
  EXPECT_EQ(made[0], "ps --quiet --filter label=" + label);
  EXPECT_EQ(made[1].rfind("run --rm --name hostsweep-g-s1 ", 0), 0u) << made[1];
  EXPECT_NE(made[1].find("--label " + label + " "), std::string::npos) << made[1];
  EXPECT_EQ(made[2], "stop --time 1 hostsweep-g-s1");
  EXPECT_EQ(made[3].rfind("run --rm --name hostsweep-g-s1 ", 0), 0u) << made[3];
  // The log line follows the write: wait for it, then for nothing more.
  EXPECT_TRUE(eventually([&] { return count(read_file(log), R"("event":"message.completed")") == 1; })) << read_file(log);
  EXPECT_TRUE(terminate(daemon)) << read_file(log);
  EXPECT_NE(read_file(log).find(R"("event":"orphans.stopped")"), std::string::npos) << read_file(log);
}

// The daemon SIGKILLed while its container works, and its `docker run` client with it: the
// container lives on (it is not the daemon's child, nor in its process group or cgroup). The next daemon stops it by label before the first
// sweep, so the retry neither collides with its name nor runs beside it; another install's
// container, with another label, is left alone.
TEST_F(DockerFixture, ContainersLeftByAKilledDaemonAreStoppedByLabelBeforeAnythingStarts) {
  write_file(session.files.dir() / ".fake-agent", "hang-after-claim\nnormal\n");
  auto id = store::enqueue(session.files, {.content = "hello"}, policy::now_utc()).id;
  // Another install's container: a process the stand-in lists under another label.
  pid_t neighbour = spawn_program("/bin/sleep", {"600"}, tmp.path() / "n.out", tmp.path() / "n.out");
  ASSERT_GT(neighbour, 0);
  fs::create_directories(standin / "containers");
  write_file(standin / "containers/hostsweep-other", std::to_string(neighbour) + "\nhostsweep.install=other\n");

  pid_t first = spawn_program(HOSTSWEEP_CLI_PATH, daemon_args("1h"), log, log);
  ASSERT_GT(first, 0);
  ASSERT_TRUE(eventually([&] { return !policy::claimed_ids(store::read_outbound(session.files).acks).empty(); }))
      << read_file(log) << read_file(calls);
  // As systemd does when the daemon's process dies: the rest of the unit (the `docker run`
  // client) is killed too; an engine's container, in a cgroup of the engine's, lives on.
  auto holder = os::read_holder_record(session.files.holder_record());
  ASSERT_TRUE(holder);
  ::kill(first, SIGKILL);
  ::waitpid(first, nullptr, 0);
  ::kill(holder->container.pid, SIGKILL);
  ASSERT_TRUE(eventually([&] { return !alive(holder->container.pid); }));
  auto record = lines_of(standin / "containers/hostsweep-g-s1");
  ASSERT_FALSE(record.empty());
  pid_t container = std::stoi(record[0]);
  ASSERT_TRUE(alive(container));

  pid_t second = spawn_program(HOSTSWEEP_CLI_PATH, daemon_args("1h"), log, log);
  ASSERT_GT(second, 0);
  ASSERT_TRUE(eventually([&] { return status_of(id) == "completed"; })) << read_file(log) << read_file(calls);
  EXPECT_FALSE(alive(container));
  EXPECT_TRUE(alive(neighbour)) << "another install's container was stopped";
  // The log line follows the write: wait for it, then for nothing more.
  EXPECT_TRUE(eventually([&] { return count(read_file(log), R"("event":"message.completed")") == 1; })) << read_file(log);

  auto made = lines_of(calls);
  auto label = "hostsweep.install=" + install_id();
  ASSERT_EQ(made.size(), 5u) << read_file(calls);
  EXPECT_EQ(made[0], "ps --quiet --filter label=" + label);
  EXPECT_EQ(made[1].rfind("run ", 0), 0u);
  EXPECT_EQ(made[2], "ps --quiet --filter label=" + label);
  EXPECT_EQ(made[3], "stop --time 1 hostsweep-g-s1");
  EXPECT_EQ(made[4].rfind("run ", 0), 0u);
  EXPECT_EQ(read_file(log).find("already in use"), std::string::npos) << read_file(log);
  EXPECT_TRUE(terminate(second)) << read_file(log);
  ::kill(neighbour, SIGKILL);
  ::waitpid(neighbour, nullptr, 0);
}

}  // namespace
}  // namespace hostsweep::testing
