// The bwrap runtime for real: the supervisor runs the fake agent inside a bubblewrap sandbox.
// Skipped, with the reason, where bubblewrap is not installed or cannot create its namespaces
// (CI installs it: scripts/install-deps.sh).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "os/session_lock.hpp"
#include "runtime/child_process.hpp"
#include "runtime/container_runtime.hpp"
#include "support/run_program.hpp"
#include "support/supervisor_harness.hpp"

namespace hostsweep::testing {
namespace {

using supervisor::EventKind;

// Why bwrap cannot run here, or "" when it can: probed once with a trivial sandbox.
const std::string& bwrap_problem() {
  static const std::string problem = []() -> std::string {
    std::string bwrap;
    std::stringstream path(std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin");
    for (std::string dir; std::getline(path, dir, ':');) {
      if (!dir.empty() && ::access((std::filesystem::path(dir) / "bwrap").c_str(), X_OK) == 0) {
        bwrap = (std::filesystem::path(dir) / "bwrap").string();
        break;
      }
    }
    if (bwrap.empty()) return "bwrap is not installed (apt-get install bubblewrap)";
    auto probe = run_program(bwrap, {"--ro-bind", "/", "/", "--unshare-pid", "true"});
    if (probe.exit_code != 0) {
      return "bwrap cannot create a sandbox here (exit " + std::to_string(probe.exit_code) + "): " + probe.err;
    }
    return "";
  }();
  return problem;
}

#define SKIP_WITHOUT_BWRAP()                                          \
  do {                                                                \
    if (!bwrap_problem().empty()) GTEST_SKIP() << bwrap_problem();    \
  } while (false)

// The sandbox has a fresh /tmp, so a build under /tmp (a CI checkout, say) cannot be seen from
// inside it: the fake agent (a self-contained executable) is copied once per test process to
// /var/tmp, which the sandbox shows read-only, and removed at exit.
class SandboxVisibleAgent {
 public:
  SandboxVisibleAgent() {
    std::filesystem::path built = HOSTSWEEP_FAKE_AGENT_PATH;
    if (built.string().rfind("/tmp/", 0) != 0) {
      path_ = built;
      return;
    }
    std::string dir = "/var/tmp/hostsweep-bwrap-XXXXXX";
    if (!::mkdtemp(dir.data())) throw std::runtime_error("mkdtemp in /var/tmp failed");
    dir_ = dir;
    path_ = dir_ / built.filename();
    std::filesystem::copy_file(built, path_);
  }
  ~SandboxVisibleAgent() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  SandboxVisibleAgent(const SandboxVisibleAgent&) = delete;
  SandboxVisibleAgent& operator=(const SandboxVisibleAgent&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path dir_;
  std::filesystem::path path_;
};

const std::filesystem::path& sandbox_visible_agent() {
  static const SandboxVisibleAgent agent;
  return agent.path();
}

// The fake agent in the sandbox, started through a shell that first records what it sees:
// its working directory, {session_dir}, and whether anything of the supervisor's (a descriptor
// beyond the standard three, the session lock) reached it.
supervisor::SupervisorOptions bwrap_options() {
  auto options = fast_options();
  options.runtime.kind = runtime::RuntimeKind::bwrap;
  options.runtime.agent_command.front() = sandbox_visible_agent().string();
  std::vector<std::string> command = {
      "/bin/sh", "-c",
      "echo \"$PWD {session_dir} $(ls -l /proc/$$/fd/ | grep -c lock) $(ls -a | grep -c lock)\" > .sandbox-seen; "
      "exec \"$0\" \"$@\""};
  command.insert(command.end(), options.runtime.agent_command.begin(), options.runtime.agent_command.end());
  options.runtime.agent_command = command;
  return options;
}


TEST(Bwrap, AnEnqueuedMessageIsCompletedInTheSandboxWhichSeesTheSessionAtWorkspace) {
  SKIP_WITHOUT_BWRAP();
  SupervisorHarness h(bwrap_options());
  auto s = h.create_session("s1");
  h.start();
  auto id = h.enqueue("s1");
  ASSERT_TRUE(h.wait_for_status("s1", id, "completed")) << h.story();
  ASSERT_TRUE(h.wait_for([&] { return h.count(EventKind::message_completed, "s1") == 1; })) << h.story();
  EXPECT_EQ(h.count(EventKind::container_started, "s1"), 1) << h.story();
  EXPECT_EQ(h.count(EventKind::container_killed), 0) << h.story();
  // The session at /workspace (the working directory and {session_dir}); no lock in sight,
  // neither as a descriptor nor as a file.
  EXPECT_EQ(read_file(s.files.dir() / ".sandbox-seen"), "/workspace /workspace 0 0\n");
}

// The sandbox shows the host's / read-only, but not the data directory: a container of the
// daemon's own user would otherwise read the other sessions' files and reach the control socket.
// And it has no capability.
// The data directory is put under /var/tmp here, which the sandbox does show (its /tmp is its own).
TEST(Bwrap, TheSandboxDoesNotSeeTheDataDirectory) {
  SKIP_WITHOUT_BWRAP();
  const char* tmpdir = std::getenv("TMPDIR");
  const std::string saved = tmpdir ? tmpdir : "";
  ::setenv("TMPDIR", "/var/tmp", 1);
  SupervisorHarness h(bwrap_options());
  tmpdir ? ::setenv("TMPDIR", saved.c_str(), 1) : ::unsetenv("TMPDIR");
  ASSERT_EQ(h.data().root().string().rfind("/var/tmp/", 0), 0u) << h.data().root();
  auto s = h.create_session("s1");
  h.create_session("other");
  const std::string data = h.data().root().string();
  auto& command = h.options().runtime.agent_command;
  ASSERT_EQ(command[0], "/bin/sh");
  command[2] = "echo \"$(ls -A " + data + " | wc -l) $(test -e " + data + "/sessions/group/other/inbound.db && echo seen || echo hidden) "
               "$(grep CapEff /proc/self/status | cut -f2)\" > .data-seen; exec \"$0\" \"$@\"";
  h.start();
  auto id = h.enqueue("s1");
  ASSERT_TRUE(h.wait_for_status("s1", id, "completed")) << h.story();
  // No capability either (run as root, bwrap would keep them all: enough to mount the host's
  // disk and leave the read-only view).
  EXPECT_EQ(read_file(s.files.dir() / ".data-seen"), "0 hidden 0000000000000000\n");
}

TEST(Bwrap, ACrashAfterClaimIsRetriedAndCompletedByTheNextSandbox) {
  SKIP_WITHOUT_BWRAP();
  SupervisorHarness h(bwrap_options());
  auto first_exit = expect_crash_is_retried_and_completed(h);
  ASSERT_TRUE(first_exit);
  // bwrap reports an agent killed by signal N as exit code 128 + N.
  EXPECT_EQ(first_exit->exit_code, 128 + SIGKILL) << h.story();
  // The sandbox's processes outlive bwrap by a moment: still our container, never a foreign one.
  EXPECT_EQ(h.count(EventKind::session_locked_elsewhere), 0) << h.story();
}

}  // namespace
}  // namespace hostsweep::testing
