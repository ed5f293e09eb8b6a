// Containers' stdout and stderr through a real supervisor and real fake-agent processes: the
// session's log file with its prefixes and rotation, the stderr tail in events, journal mode,
// off, a planted symlink, an escaped grandchild holding the pipes, and a container that floods
// its pipes while the loop stays responsive and the daemon's memory flat.
#include <signal.h>

#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include "os/cgroup.hpp"
#include "support/supervisor_harness.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::testing {
namespace {

using supervisor::ContainerLogMode;
using supervisor::EventKind;
namespace fs = std::filesystem;

fs::path log_dir(SupervisorHarness& h) { return h.data().root() / "logs" / "group"; }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::uint64_t total_size(const fs::path& dir) {
  std::uint64_t total = 0;
  if (!fs::exists(dir)) return 0;
  for (const auto& e : fs::directory_iterator(dir)) total += fs::file_size(e.path());
  return total;
}

// The resident set of this process, in KiB.
long rss_kib() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// Runs one message through session s1 and stops the supervisor, so its output is closed.
void run_one_message(SupervisorHarness& h, const std::vector<std::string>& script) {
  h.create_session("s1", script);
  h.start();
  auto id = h.enqueue("s1");
  ASSERT_TRUE(h.wait_for_status("s1", id, "completed", std::chrono::seconds{60})) << h.story();
  h.stop();
}

TEST(ContainerLog, EachLineOfStdoutAndStderrIsInTheSessionsFileWithTimeAndStream) {
  SupervisorHarness h;
  run_one_message(h, {"print 640", "normal"});
  auto text = read_file(log_dir(h) / "s1.log");
  auto lines = lines_of(text);
  const std::regex prefix(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (stdout|stderr) [FP] .*$)");
  int stdout_lines = 0;
  bool saw_start = false;
  for (const auto& line : lines) {
    EXPECT_TRUE(std::regex_match(line, prefix)) << line;
    if (line.find(" stdout F print 0000") != std::string::npos) ++stdout_lines;
    if (line.find(" stderr F fake-agent[") != std::string::npos && line.find("start 1") != std::string::npos) saw_start = true;
  }
  EXPECT_EQ(stdout_lines, 10) << text;  // 640 bytes in lines of 64
  EXPECT_TRUE(saw_start) << text;
  EXPECT_NE(text.find(" stdout F print 000010 " + std::string(50, 'x') + "\n"), std::string::npos) << text;
}

TEST(ContainerLog, TheStderrTailIsInContainerExitedAndSessionStartFailing) {
  SupervisorHarness h;
  h.options().start_failure_alert = 2;
  h.create_session("s1", {"exit-immediately 3"});
  h.start();
  h.enqueue("s1");
  ASSERT_TRUE(h.wait_for([&] { return h.count(EventKind::session_start_failing) >= 1; }, std::chrono::seconds{30})) << h.story();
  auto exited = h.of(EventKind::container_exited);
  ASSERT_FALSE(exited.empty());
  EXPECT_NE(exited.front().stderr_tail.find("exit-immediately: exiting with 3"), std::string::npos)
      << exited.front().stderr_tail;
  auto failing = h.of(EventKind::session_start_failing);
  EXPECT_NE(failing.front().stderr_tail.find("exit-immediately: exiting with 3"), std::string::npos)
      << failing.front().stderr_tail;
  h.stop();
}

TEST(ContainerLog, TheStderrTailIsBoundedAndEscaped) {
  auto options = fast_options();
  // Before the agent: 100 lines on stderr, an escape sequence in the last.
  options.runtime.agent_command = {"/bin/sh", "-c",
                                   "i=0; while [ $i -lt 100 ]; do echo \"noise $i\" >&2; i=$((i+1)); done; "
                                   "printf 'last \\033[2J words\\n' >&2; exit 4"};
  SupervisorHarness h(options);
  h.create_session("s1");
  h.start();
  h.enqueue("s1");
  ASSERT_TRUE(h.wait_for([&] { return h.count(EventKind::container_exited) >= 1; })) << h.story();
  const auto tail = h.of(EventKind::container_exited).front().stderr_tail;
  auto lines = lines_of(tail);
  EXPECT_EQ(lines.size(), 20u) << tail;
  EXPECT_LE(tail.size(), 4096u);
  EXPECT_EQ(lines.back(), "last \\x1b[2J words");
  EXPECT_EQ(lines.front(), "noise 81");
  EXPECT_EQ(tail.find('\x1b'), std::string::npos);
  h.stop();
}

TEST(ContainerLog, RotatesAtTheCapKeepingKeepFilesAndNeverMore) {
  SupervisorHarness h;
  h.options().container_log.max_bytes = 16 * 1024;
  h.options().container_log.keep = 2;
  run_one_message(h, {"print 200000", "normal"});
  auto dir = log_dir(h);
  EXPECT_TRUE(fs::exists(dir / "s1.log"));
  EXPECT_TRUE(fs::exists(dir / "s1.log.1"));
  EXPECT_TRUE(fs::exists(dir / "s1.log.2"));
  EXPECT_FALSE(fs::exists(dir / "s1.log.3"));
  for (const char* name : {"s1.log", "s1.log.1", "s1.log.2"}) EXPECT_LE(fs::file_size(dir / name), 16u * 1024) << name;
  EXPECT_LE(total_size(dir), 16u * 1024 * 3 + 8192 + 64);
  // The newest lines are kept: the last one printed is in the current file or the one before.
  auto recent = read_file(dir / "s1.log.1") + read_file(dir / "s1.log");
  EXPECT_NE(recent.find("stdout F print 003125 "), std::string::npos);
}

TEST(ContainerLog, ASymlinkPlantedAsTheLogFileIsRefusedAndNotFollowed) {
  SupervisorHarness h;
  TempDir elsewhere;
  auto target = elsewhere.path() / "precious";
  write_file(target, "precious\n");
  fs::create_directories(log_dir(h));
  fs::create_symlink(target, log_dir(h) / "s1.log");
  run_one_message(h, {"print 640", "normal"});
  EXPECT_EQ(read_file(target), "precious\n");
  EXPECT_TRUE(fs::is_symlink(log_dir(h) / "s1.log"));
  bool refused = false;
  for (const auto& e : h.of(EventKind::session_error)) refused = refused || e.reason.find("is a symlink: refused") != std::string::npos;
  EXPECT_TRUE(refused) << h.story();
}

TEST(ContainerLog, OffWritesNothing) {
  SupervisorHarness h;
  h.options().container_log.mode = ContainerLogMode::off;
  run_one_message(h, {"print 640", "normal"});
  EXPECT_FALSE(fs::exists(h.data().root() / "logs"));
  EXPECT_EQ(h.count(EventKind::container_output), 0);
}

TEST(ContainerLog, JournalModeMakesEachLineAnEventOfItsSession) {
  SupervisorHarness h;
  h.options().container_log.mode = ContainerLogMode::journal;
  run_one_message(h, {"print 640", "normal"});
  EXPECT_FALSE(fs::exists(h.data().root() / "logs"));
  int printed = 0;
  bool saw_stderr = false;
  for (const auto& e : h.of(EventKind::container_output)) {
    EXPECT_EQ(e.session_id, "s1");
    EXPECT_EQ(e.reason, "");
    EXPECT_EQ(e.detail, "");
    if (e.stream == "stdout" && e.line.rfind("print 0000", 0) == 0) ++printed;
    if (e.stream == "stderr" && e.line.find("fake-agent[") != std::string::npos) saw_stderr = true;
  }
  EXPECT_EQ(printed, 10) << h.story();
  EXPECT_TRUE(saw_stderr) << h.story();
}

// Without a cgroup, a setsid grandchild outlives its container holding both pipes open: the
// session still ends when the container does (judged by its pidfd), and its reader is closed.
TEST(ContainerLog, AGrandchildHoldingThePipesDoesNotKeepTheSessionFromEnding) {
  auto options = fast_options();
  std::vector<std::string> command = {
      "/bin/sh", "-c",
      "if [ ! -e {session_dir}/holder.pid ]; then setsid sh -c 'while :; do echo held; sleep 0.05; done' & "
      "echo $! > {session_dir}/holder.pid; fi; exec \"$0\" \"$@\""};
  command.insert(command.end(), options.runtime.agent_command.begin(), options.runtime.agent_command.end());
  options.runtime.agent_command = command;
  options.cgroup = os::CgroupSetting::parse("off");
  SupervisorHarness h(options);
  auto s = h.create_session("s1", {"crash-after-claim", "normal"});
  h.start();
  auto id = h.enqueue("s1");
  EXPECT_TRUE(h.wait_for_status("s1", id, "completed", std::chrono::seconds{30})) << h.story();
  EXPECT_EQ(h.count(EventKind::container_started), 2) << h.story();
  pid_t holder = 0;
  std::ifstream(s.files.dir() / "holder.pid") >> holder;
  h.stop();
  if (holder > 1) ::kill(holder, SIGKILL);
  EXPECT_NE(read_file(log_dir(h) / "s1.log").find("stdout F held"), std::string::npos);
}

// A container writing to both pipes as fast as it can for three seconds: a 1 ms timer on the
// same loop is never late by much, the supervisor's memory stays flat, and the files stay
// within their cap. The bounds are generous (sanitizers, a shared machine); the figures are
// printed. (The waits are for events, not polls of the files or databases: under
// AddressSanitizer, whose quarantine holds freed memory for a while, the test's own churn would
// show as growth.)
TEST(ContainerLog, AFloodingContainerNeitherStallsTheLoopNorGrowsMemoryNorFillsTheDisk) {
  SupervisorHarness h;
  h.options().container_log.max_bytes = 1 << 20;
  h.options().container_log.keep = 2;
  h.options().policy.stuck.claim_tolerance = std::chrono::seconds{10};
  h.options().policy.stuck.startup_grace = std::chrono::seconds{10};
  h.create_session("s1", {"flood 3s", "normal"});

  using Steady = std::chrono::steady_clock;
  boost::asio::steady_timer tick(h.io());
  Steady::duration worst{0};
  long ticks = 0;
  bool ticking = true;
  std::function<void()> arm = [&] {
    auto due = Steady::now() + std::chrono::milliseconds{1};
    tick.expires_at(due);
    tick.async_wait([&, due](boost::system::error_code ec) {
      if (ec || !ticking) return;
      worst = std::max(worst, Steady::now() - due);
      ++ticks;
      arm();
    });
  };
  h.start();
  arm();
  auto id = h.enqueue("s1");
  // Memory is measured from when the flood has filled a file (the container's start, and the
  // first buffers, are behind us) to its end: what a flood costs per second, not once.
  ASSERT_TRUE(h.wait_for([&] { return fs::exists(log_dir(h) / "s1.log.1"); }, std::chrono::seconds{60})) << h.story();
  const long rss_before = rss_kib();
  // Waits for the event, not by reading files: the test's own reads would churn memory.
  ASSERT_TRUE(h.wait_for([&] { return h.count(EventKind::message_completed) == 1; }, std::chrono::seconds{90}))
      << h.story();
  const long rss_after = rss_kib();
  ticking = false;
  tick.cancel();
  h.stop();

  auto lag_ms = std::chrono::duration_cast<std::chrono::milliseconds>(worst).count();
  std::uint64_t on_disk = total_size(log_dir(h));
  std::string wrote;  // the agent's own count, on its stderr: "flood: wrote N bytes in 3s"
  for (const char* name : {"s1.log", "s1.log.1", "s1.log.2"}) {
    auto text = read_file(log_dir(h) / name);
    auto at = text.find("flood: wrote ");
    if (at != std::string::npos) wrote = text.substr(at + 13, text.find(" in ", at) - at - 13);
  }
  std::cout << "flood: the container wrote " << wrote << "; worst 1ms-timer lag " << lag_ms << " ms over "
            << ticks << " ticks; RSS " << rss_before << " KiB -> " << rss_after << " KiB; logs on disk " << on_disk
            << " bytes\n";
  RecordProperty("worst_lag_ms", static_cast<int>(lag_ms));
  RecordProperty("rss_growth_kib", static_cast<int>(rss_after - rss_before));
  EXPECT_LT(lag_ms, 500);
  EXPECT_LT(rss_after - rss_before, 64 * 1024) << "KiB";
  EXPECT_LE(on_disk, (1u << 20) * 3 + 8192 + 64);
  EXPECT_TRUE(fs::exists(log_dir(h) / "s1.log.2"));
  // The flood reached the file (and was not simply dropped).
  auto recent = read_file(log_dir(h) / "s1.log.1");
  EXPECT_NE(recent.find(" F flood line "), std::string::npos);
}

}  // namespace
}  // namespace hostsweep::testing
