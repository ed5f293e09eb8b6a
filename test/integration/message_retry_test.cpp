// `hostsweep message retry` beside a running supervisor: the operator's retry, written by
// another process, is seen through the files and completed by the next container.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "support/run_program.hpp"
#include "support/supervisor_harness.hpp"

namespace hostsweep::testing {
namespace {

using supervisor::EventKind;

// The CLI as another process, while the supervisor's loop keeps running.
ProgramResult retry_while_running(SupervisorHarness& h, const std::string& session, const std::string& id) {
  TempDir capture;
  pid_t pid = spawn_program(HOSTSWEEP_CLI_PATH,
                            {"message", "retry", "--data-dir", h.data().root().string(), "--session", session, id},
                            capture.path() / "out", capture.path() / "err");
  ProgramResult r;
  if (pid < 0) {
    ADD_FAILURE() << "could not start " << HOSTSWEEP_CLI_PATH;
    return r;
  }
  int status = 0;
  bool ended = h.wait_for([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, 30s);
  if (!ended) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    ADD_FAILURE() << "hostsweep message retry did not end";
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(capture.path() / "out");
  r.err = read_file(capture.path() / "err");
  return r;
}

TEST(MessageRetry, ARunningSupervisorCompletesARetriedMessage) {
  auto options = fast_options();
  options.idle_timeout = 300ms;  // the failing container goes soon, and with it its hold on outbound.db
  SupervisorHarness h(options);
  h.create_session("s1", {"fail", "normal"});
  h.start();
  auto id = h.enqueue("s1");
  ASSERT_TRUE(h.wait_for_status("s1", id, "failed")) << h.story();
  ASSERT_TRUE(h.wait_for([&] { return h.count(EventKind::container_exited, "s1") == 1; })) << h.story();
  ASSERT_TRUE(h.settle()) << h.story();
  ASSERT_EQ(h.count(EventKind::container_started, "s1"), 1) << h.story();

  auto r = retry_while_running(h, "s1", id);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(h.wait_for_status("s1", id, "completed")) << h.story();
  // The file says so first; the supervisor's event follows once its pass has returned.
  ASSERT_TRUE(h.wait_for([&] { return h.count(EventKind::message_completed, "s1") == 1; })) << h.story();
  EXPECT_EQ(h.message("s1", id).tries, 0);
  EXPECT_EQ(h.count(EventKind::container_started, "s1"), 2) << h.story();
  EXPECT_EQ(h.count(EventKind::message_failed, "s1"), 1) << h.story();
  EXPECT_EQ(h.count(EventKind::message_completed, "s1"), 1) << h.story();
}

TEST(MessageRetry, IsRefusedWhileTheFailingContainerStillRuns) {
  SupervisorHarness h;  // idle timeout: the ceiling, 20 s; the container is up throughout
  h.create_session("s1", {"fail", "normal"});
  h.start();
  auto id = h.enqueue("s1");
  ASSERT_TRUE(h.wait_for_status("s1", id, "failed")) << h.story();
  ASSERT_EQ(h.count(EventKind::container_exited, "s1"), 0) << h.story();

  auto r = retry_while_running(h, "s1", id);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("has a running container"), std::string::npos) << r.err;
  ASSERT_TRUE(h.settle()) << h.story();
  EXPECT_EQ(policy::to_string(h.message("s1", id).status), std::string("failed"));
  EXPECT_EQ(h.count(EventKind::container_started, "s1"), 1) << h.story();
}

}  // namespace
}  // namespace hostsweep::testing
