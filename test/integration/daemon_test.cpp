// `hostsweep run` as a real process: SIGKILLed in the middle of a message and started again,
// nothing is lost; SIGTERM stops it cleanly.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <thread>

#include "os/holder_record.hpp"
#include "os/session_lock.hpp"
#include "store/inbound_store.hpp"
#include "store/outbound_store.hpp"
#include "hostsweep/store/registry.hpp"
#include "support/file_swap.hpp"
#include "support/process_table.hpp"
#include "support/run_program.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::testing {
namespace {

using namespace std::chrono_literals;

pid_t spawn_daemon(const std::vector<std::string>& args, const std::filesystem::path& log) {
  return spawn_program(HOSTSWEEP_CLI_PATH, args, log, log);
}

TEST(Daemon, SigkilledMidMessageAndRestartedLosesNothing) {
  TempDir tmp;
  store::DataDir data(tmp.path() / "data");
  auto session = store::create_session(data, "g", std::string("s1"), policy::now_utc());
  write_file(session.files.dir() / ".fake-agent", "hang-after-claim\nnormal\n");
  auto id = store::enqueue(session.files, {.content = "important"}, policy::now_utc()).id;
  auto log = tmp.path() / "daemon.log";
  std::vector<std::string> args = {
      "run", "--data-dir", data.root().string(), "--log-format", "json", "--sweep-interval", "1h",
      "--agent-command",
      std::string(HOSTSWEEP_FAKE_AGENT_PATH) +
          " --session-dir {session_dir} --poll-interval 10ms --work-time 30ms --heartbeat-interval 20ms",
      "--claim-tolerance", "1h", "--startup-grace", "1h", "--kill-grace", "300ms", "--backoff-base", "100ms"};

  pid_t first = spawn_daemon(args, log);
  ASSERT_GT(first, 0);
  // The first container claims the message and hangs.
  ASSERT_TRUE(eventually([&] { return !policy::claimed_ids(store::read_outbound(session.files).acks).empty(); }))
      << read_file(log);
  auto holder = os::read_holder_record(session.files.holder_record());
  ASSERT_TRUE(holder);
  ::kill(first, SIGKILL);
  ::waitpid(first, nullptr, 0);
  // Its container outlives it; the kernel released the supervisor's lock with the supervisor,
  // and the host-owned record says which container may still run.
  pid_t container = holder->container.pid;
  EXPECT_EQ(::kill(container, 0), 0);
  EXPECT_FALSE(os::SessionLock::is_held(session.files.lock()));
  EXPECT_TRUE(os::recorded_container_alive(*holder));

  pid_t second = spawn_daemon(args, log);
  ASSERT_GT(second, 0);
  EXPECT_TRUE(eventually([&] {
    return store::read_message_states(session.files, {id}).at(id).status == policy::MessageStatus::completed;
  })) << read_file(log);
  EXPECT_EQ(store::read_message_states(session.files, {id}).at(id).tries, 1);
  EXPECT_TRUE(eventually([&] { return !group_alive(container); })) << "the orphan container's group survived";

  ::kill(second, SIGTERM);
  int status = 0;
  ::waitpid(second, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(log);
  auto text = read_file(log);
  EXPECT_NE(text.find(R"("event":"container.killed","session":"s1")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("reason":"orphan")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("event":"message.completed")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("event":"daemon.stopped")"), std::string::npos) << text;
  EXPECT_FALSE(os::SessionLock::is_held(session.files.lock()));
}

// One daemon per data directory: a second `run` exits at once, naming the first.
TEST(Daemon, ASecondDaemonOnTheSameDataDirectoryIsRefused) {
  TempDir tmp;
  store::DataDir data(tmp.path() / "data");
  store::create_session(data, "g", std::string("s1"), policy::now_utc());
  std::vector<std::string> args = {"run", "--data-dir", data.root().string(), "--sweep-interval", "1h",
                                   "--agent-command", std::string(HOSTSWEEP_FAKE_AGENT_PATH) + " --session-dir {session_dir}"};
  auto first_log = tmp.path() / "first.log";
  pid_t first = spawn_daemon(args, first_log);
  ASSERT_GT(first, 0);
  ASSERT_TRUE(eventually([&] { return os::SessionLock::is_held(data.run_dir() / "supervisor.lock"); }))
      << read_file(first_log);
  auto second_log = tmp.path() / "second.log";
  pid_t second = spawn_daemon(args, second_log);
  int status = 0;
  ::waitpid(second, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << read_file(second_log);
  EXPECT_NE(read_file(second_log).find("already supervised by another process (pid " + std::to_string(first) + ")"),
            std::string::npos)
      << read_file(second_log);
  ::kill(first, SIGTERM);
  ::waitpid(first, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(first_log);
}

// FAILURE-MODES.md 15 through the real daemon: a SIGTERM whose cleanup cannot commit (outbound.db
// became a directory under the running container) still ends the daemon, within kill-grace +
// stop-timeout, with status 1 and a line that says what was abandoned.
TEST(Daemon, AStopThatMustAbandonACleanupExitsOneAndSaysWhy) {
  TempDir tmp;
  store::DataDir data(tmp.path() / "data");
  auto session = store::create_session(data, "g", std::string("s1"), policy::now_utc());
  write_file(session.files.dir() / ".fake-agent", "hang-after-claim\n");
  store::enqueue(session.files, {.content = "important"}, policy::now_utc());
  auto log = tmp.path() / "daemon.log";
  pid_t daemon = spawn_daemon({"run", "--data-dir", data.root().string(), "--log-format", "json", "--sweep-interval",
                               "1h", "--agent-command",
                               std::string(HOSTSWEEP_FAKE_AGENT_PATH) + " --session-dir {session_dir} --poll-interval 10ms",
                               "--claim-tolerance", "1h", "--startup-grace", "1h", "--kill-grace", "300ms",
                               "--stop-timeout", "1s"},
                              log);
  ASSERT_GT(daemon, 0);
  ASSERT_TRUE(eventually([&] { return !policy::claimed_ids(store::read_outbound(session.files).acks).empty(); }))
      << read_file(log);
  replace_with_directory(session.files.outbound(), session.files.dir() / "outbound.away");
  ::kill(daemon, SIGTERM);
  int status = 0;
  ::waitpid(daemon, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << read_file(log);
  auto text = read_file(log);
  EXPECT_NE(text.find("stop abandoned: the cleanup of its last container is not committed"), std::string::npos) << text;
  EXPECT_NE(text.find("with work abandoned"), std::string::npos) << text;
}

TEST(Daemon, BadConfigurationIsOneClearError) {
  TempDir tmp;
  auto config = tmp.path() / "hostsweep.toml";
  write_file(config, "ceiling = \"soon\"\n");
  auto log = tmp.path() / "out.log";
  pid_t pid = spawn_daemon({"run", "--data-dir", tmp.path().string(), "--config", config.string(), "--agent-command", "x"},
                           log);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2);
  EXPECT_NE(read_file(log).find("key ceiling: \"soon\" is not a duration"), std::string::npos) << read_file(log);

  write_file(config, "sweep-intervall = \"5s\"\n");
  pid = spawn_daemon({"run", "--data-dir", tmp.path().string(), "--config", config.string(), "--agent-command", "x"}, log);
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2);
  EXPECT_NE(read_file(log).find("unknown key \"sweep-intervall\""), std::string::npos) << read_file(log);

  // Each of these is one line naming what is wrong, and status 2, before anything starts.
  auto refused = [&](std::vector<std::string> args, const std::string& needle) {
    auto out = tmp.path() / "refused.log";
    std::filesystem::remove(out);
    args.insert(args.begin(), "run");
    pid_t p = spawn_daemon(args, out);
    int st = 0;
    ::waitpid(p, &st, 0);
    auto text = read_file(out);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 2) << text;
    EXPECT_NE(text.find(needle), std::string::npos) << text;
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  };
  refused({"--data-dir", (tmp.path() / "missing").string(), "--agent-command", "x"}, "missing: no such directory");
  refused({"--data-dir", config.string(), "--agent-command", "x"}, "hostsweep.toml: is not a directory");
  refused({"--data-dir", tmp.path().string(), "--config", tmp.path().string(), "--agent-command", "x"},
          ": is a directory, not a file");
  refused({"--data-dir", tmp.path().string(), "--sweep-interval", "0s", "--agent-command", "x"},
          "--sweep-interval: must be longer than 0");
  refused({"--data-dir", tmp.path().string(), "--ceiling", "100000d", "--agent-command", "x"},
          "\"100000d\" is too long (at most 3650d)");
  refused({"--data-dir", tmp.path().string(), "--idle-timeout", "0s", "--agent-command", "x"},
          "an idle timeout of 0 would stop every container at once");
  // A registry that is there but is not a database: the daemon would supervise nothing.
  auto garbage = tmp.path() / "garbage";
  std::filesystem::create_directories(garbage);
  write_file(garbage / "hostsweep.db", std::string(4096, 'x'));
  refused({"--data-dir", garbage.string(), "--agent-command", "x"}, "the registry cannot be read: ");
  EXPECT_EQ(read_file(garbage / "hostsweep.db"), std::string(4096, 'x'));  // left as it was
  EXPECT_FALSE(std::filesystem::exists(tmp.path() / "missing"));
}

}  // namespace
}  // namespace hostsweep::testing
