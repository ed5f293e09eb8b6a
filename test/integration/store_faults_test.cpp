// The store's errors through the real supervisor, with real fake-agent containers: the fault
// injector (include/hostsweep/testing/store_faults.hpp) makes a session's open, read, commit
// or lock fail, and the supervisor must say so (session.error naming the failure), keep the
// other sessions running, recover once the fault has passed, and lose no message.
//
// The faults are process-wide and the harness reads messages through the store too, so while
// a fault is in place the tests wait on events and on the rule's counts only; the files are
// read once the faults have gone.
#include "hostsweep/testing/store_faults.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "support/supervisor_harness.hpp"

namespace hostsweep::testing {
namespace {

using supervisor::EventKind;

bool has_event(const SupervisorHarness& h, EventKind kind, const std::string& session, const std::string& message = {}) {
  for (const auto& e : h.events()) {
    if (e.kind == kind && e.session_id == session && (message.empty() || e.message_id == message)) return true;
  }
  return false;
}

// The reasons of the session's session.error events, one a line, for assertions and messages.
std::string session_errors(const SupervisorHarness& h, const std::string& session) {
  std::string out;
  for (const auto& e : h.of(EventKind::session_error)) {
    if (e.session_id == session) out += e.reason + "\n";
  }
  return out;
}

// What every test ends with, once the faults have gone: each message completed, once.
void expect_completed(SupervisorHarness& h, const std::string& session, const std::string& id, int tries) {
  EXPECT_EQ(std::string(policy::to_string(h.message(session, id).status)), "completed") << session << " " << id << "\n" << h.story();
  EXPECT_EQ(h.message(session, id).tries, tries) << session << " " << id;
  EXPECT_EQ(h.count(EventKind::message_completed, session), 1) << h.story();
}

// A fault on s1's inbound.db that fails a few checks of it, then passes: s1 reports it once,
// s2 beside it is untouched, and both messages complete.
void expect_reported_and_passed(const StoreFault& fault, int fires, const std::string& expected_error) {
  SupervisorHarness h;
  h.create_session("s1");
  h.create_session("s2");
  const auto m1 = h.enqueue("s1");
  const auto m2 = h.enqueue("s2");
  std::optional<StoreFaults> faults(std::in_place);
  auto rule = faults->add(fault);
  h.start();
  ASSERT_TRUE(h.wait_for([&] {
    return rule.fired() == fires && has_event(h, EventKind::message_completed, "s1", m1) &&
           has_event(h, EventKind::message_completed, "s2", m2);
  }))
      << "fired " << rule.fired() << " of " << fires << "\n" << h.story();
  faults.reset();

  const auto errors = session_errors(h, "s1");
  EXPECT_NE(errors.find(h.files("s1").inbound().string() + ": " + expected_error), std::string::npos)
      << errors << h.story();
  EXPECT_EQ(session_errors(h, "s2"), "") << h.story();
  // Each failed check was checked again; the container started once the file could be read.
  EXPECT_EQ(h.count(EventKind::container_started, "s1"), 1) << h.story();
  expect_completed(h, "s1", m1, 0);
  expect_completed(h, "s2", m2, 0);
}

TEST(StoreFaultsSupervisor, AnInboundFileThatCannotBeOpenedIsReportedAndTheSessionRecovers) {
  expect_reported_and_passed(
      StoreFault(StoreOp::open, StoreError::cantopen).where_file_ends_with("/s1/inbound.db").times(3), 3,
      "cannot open");
}

TEST(StoreFaultsSupervisor, AnInboundFileThatCannotBeReadIsReportedAndTheSessionRecovers) {
  expect_reported_and_passed(
      StoreFault(StoreOp::read, StoreError::io_error).where_file_ends_with("/s1/inbound.db").times(2), 2,
      "disk I/O error");
}

// The cleanup after a crashed container writes the retry of its message; that commit fails
// once. The failed write is rolled back, the cleanup is checked again, and the message is
// retried once (not twice) and completed by the next container.
TEST(StoreFaultsSupervisor, ACleanupWhoseCommitFailsIsRetriedAndTheMessageCompletes) {
  SupervisorHarness h;
  h.create_session("s1", {"crash-after-claim", "normal"});
  h.create_session("s2");
  const auto m1 = h.enqueue("s1");
  const auto m2 = h.enqueue("s2");
  // The host's first commit to s1's inbound.db is that retry: nothing else writes it before.
  std::optional<StoreFaults> faults(std::in_place);
  auto commit = faults->add(StoreFault(StoreOp::commit, StoreError::io_error).where_file_contains("/s1/inbound.db"));
  h.start();
  ASSERT_TRUE(h.wait_for([&] {
    return has_event(h, EventKind::message_completed, "s1", m1) && has_event(h, EventKind::message_completed, "s2", m2);
  }))
      << h.story();
  EXPECT_EQ(commit.fired(), 1);
  faults.reset();

  const auto errors = session_errors(h, "s1");
  EXPECT_NE(errors.find(h.files("s1").inbound().string() + ": disk I/O error"), std::string::npos)
      << errors << h.story();
  EXPECT_EQ(session_errors(h, "s2"), "") << h.story();
  EXPECT_EQ(h.count(EventKind::message_retried, "s1"), 1) << h.story();
  EXPECT_EQ(h.count(EventKind::container_started, "s1"), 2) << h.story();
  expect_completed(h, "s1", m1, 1);
  expect_completed(h, "s2", m2, 0);
}

// A lock that stays busy past the store's busy timeout: s1's check gives up with the store's
// "still locked" error, while s2 is checked, started and completed beside it; once the lock is
// free again, s1's message completes.
TEST(StoreFaultsSupervisor, ALockThatStaysBusyIsReportedWhileOtherSessionsRun) {
  auto options = fast_options();
  options.database_threads = 2;  // s1's checks wait out their busy timeout on one of them
  SupervisorHarness h(options);
  h.create_session("s1");
  h.create_session("s2");
  const auto m1 = h.enqueue("s1");
  std::optional<StoreFaults> faults(std::in_place);
  auto busy = faults->add(StoreFault(StoreOp::lock, StoreError::busy).where_file_ends_with("/s1/inbound.db").always());
  h.start();
  const auto m2 = h.enqueue("s2");  // its file is not s1's: the fault leaves it alone
  ASSERT_TRUE(h.wait_for([&] { return has_event(h, EventKind::message_completed, "s2", m2); }, 30s)) << h.story();
  ASSERT_TRUE(h.wait_for([&] { return has_event(h, EventKind::session_error, "s1"); }, 30s)) << h.story();
  EXPECT_FALSE(has_event(h, EventKind::container_started, "s1")) << h.story();
  EXPECT_GT(busy.fired(), 0);
  faults.reset();

  ASSERT_TRUE(h.wait_for([&] { return has_event(h, EventKind::message_completed, "s1", m1); }, 30s)) << h.story();
  const auto errors = session_errors(h, "s1");
  EXPECT_NE(errors.find(h.files("s1").inbound().string() + ": still locked by another process"), std::string::npos)
      << errors << h.story();
  EXPECT_EQ(session_errors(h, "s2"), "") << h.story();
  expect_completed(h, "s1", m1, 0);
  expect_completed(h, "s2", m2, 0);
}

}  // namespace
}  // namespace hostsweep::testing
