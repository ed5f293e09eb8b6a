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

#include "hostsweep/os/session_lock.hpp"
#include "hostsweep/runtime/child_process.hpp"
#include "hostsweep/runtime/container_runtime.hpp"
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
// its working directory, {session_dir}, and the inodes of its fd 3 and of the session's lock.
supervisor::SupervisorOptions bwrap_options() {
  auto options = fast_options();
  options.runtime.kind = runtime::RuntimeKind::bwrap;
  options.runtime.agent_command.front() = sandbox_visible_agent().string();
  std::vector<std::string> command = {
      "/bin/sh", "-c",
      "echo \"$PWD {session_dir} $(stat -L -c %i /proc/self/fd/3) $(stat -c %i .hostsweep.lock)\" > .sandbox-seen; "
      "exec \"$0\" \"$@\""};
  command.insert(command.end(), options.runtime.agent_command.begin(), options.runtime.agent_command.end());
  options.runtime.agent_command = command;
  return options;
}

std::string inode(const std::filesystem::path& file) {
  struct stat st {};
  return ::stat(file.c_str(), &st) == 0 ? std::to_string(st.st_ino) : "<no " + file.string() + ">";
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
  // The session at /workspace (the working directory and {session_dir}), and the session lock
  // open as fd 3 inside the sandbox.
  auto lock = inode(s.files.lock());
  EXPECT_EQ(read_file(s.files.dir / ".sandbox-seen"), "/workspace /workspace " + lock + " " + lock + "\n");
}

TEST(Bwrap, ACrashAfterClaimIsRetriedAndCompletedByTheNextSandbox) {
  SKIP_WITHOUT_BWRAP();
  SupervisorHarness h(bwrap_options());
  auto first_exit = expect_crash_is_retried_and_completed(h);
  ASSERT_TRUE(first_exit);
  // bwrap reports an agent killed by signal N as exit code 128 + N.
  EXPECT_EQ(first_exit->exit_code, 128 + SIGKILL) << h.story();
}

// The lock lives as long as the sandbox, whoever started it: with the starter's own descriptor
// closed, a supervisor still finds the session locked and starts no second container; once the
// sandbox is gone, the lock is free.
TEST(Bwrap, TheSandboxAloneKeepsTheSessionLockedAgainstADuplicate) {
  SKIP_WITHOUT_BWRAP();
  SupervisorHarness h(bwrap_options());
  auto s = h.create_session("s1");
  runtime::RuntimeOptions sleeper{runtime::RuntimeKind::bwrap, {"/bin/sh", "-c", "touch started; exec sleep 60"}, ""};
  runtime::ContainerSpec spec{s.files.dir.string(), "s1", "group", runtime::container_name("group", "s1")};
  std::unique_ptr<runtime::ChildProcess> sandbox;
  {
    auto lock = os::SessionLock::try_acquire(s.files.lock());
    ASSERT_TRUE(lock);
    std::error_code ec;
    sandbox = runtime::ChildProcess::start(h.io().get_executor(), runtime::start_command(sleeper, spec), lock->fd(), ec);
    ASSERT_TRUE(sandbox) << ec.message();
    lock->record_holder(sandbox->pid(), policy::now_utc(), ::getpid());
  }  // our descriptor is closed here
  bool exited = false;
  sandbox->async_wait([&](std::error_code, runtime::ExitStatus) { exited = true; });
  ASSERT_TRUE(h.wait_for([&] { return std::filesystem::exists(s.files.dir / "started") || exited; }));
  ASSERT_FALSE(exited) << "the sandbox ended early";
  EXPECT_TRUE(os::SessionLock::is_held(s.files.lock()));

  h.start();
  auto id = h.enqueue("s1");
  ASSERT_TRUE(h.wait_for([&] { return h.count(EventKind::session_locked_elsewhere, "s1") >= 1; })) << h.story();
  h.wait_for([] { return false; }, 500ms);
  EXPECT_EQ(h.count(EventKind::container_started), 0) << h.story();
  EXPECT_EQ(h.message("s1", id).status, "pending");

  sandbox->signal_group(SIGTERM);  // ends bwrap, and with it the whole sandbox
  ASSERT_TRUE(h.wait_for([&] { return exited; })) << "bwrap did not exit";
  EXPECT_TRUE(h.wait_for([&] { return !os::SessionLock::is_held(s.files.lock()); }, 5s))
      << "the lock outlived the sandbox";
}

}  // namespace
}  // namespace hostsweep::testing
