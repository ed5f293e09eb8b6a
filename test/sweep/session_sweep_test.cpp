// One sweep pass over real session files: the crashed-container cleanup and the plan that
// `explain` prints.
#include "sweep/session_sweep.hpp"

#include "os/holder_record.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "os/session_lock.hpp"
#include "store/outbound_store.hpp"
#include "hostsweep/store/registry.hpp"
#include "support/one_session.hpp"
#include "support/settled_files.hpp"

namespace hostsweep::sweep {
namespace {

using namespace std::chrono;
using hostsweep::testing::wait_until_versions_sure;

class SweepTest : public hostsweep::testing::OneSessionTest {
 protected:
  void claim(const std::string& id, TimePoint at) {
    SQLite::Database db(files.outbound().string(), SQLite::OPEN_READWRITE);
    SQLite::Statement q(db, "INSERT OR REPLACE INTO processing_ack VALUES (?, 'processing', ?)");
    q.bind(1, id);
    q.bind(2, policy::format_sqlite(at));
    q.exec();
  }
  std::string inbound_value(const std::string& id, const std::string& column) {
    SQLite::Database db(files.inbound().string());
    SQLite::Statement q(db, "SELECT " + column + " FROM messages_in WHERE id = ?");
    q.bind(1, id);
    return q.executeStep() ? q.getColumn(0).getString() : "<no row>";
  }
};

TEST_F(SweepTest, CrashedContainerCleanupRetriesOnceAndDeletesTheClaim) {
  store::enqueue(files, {.id = "m", .content = "x"}, now - 1h);
  claim("m", now - 30min);

  auto first = sweep_once(files, policy, now);
  EXPECT_FALSE(first.container_running);
  ASSERT_EQ(first.retries.size(), 1u);
  EXPECT_EQ(first.retries[0].decision.action, policy::RetryAction::retry);
  EXPECT_EQ(first.claims_deleted, 1);
  EXPECT_TRUE(first.summary.due_ids.empty());
  EXPECT_EQ(first.summary.next_due, now + 5s);
  EXPECT_EQ(inbound_value("m", "tries"), "1");

  // FAILURE-MODES.md 3: the next passes do not push the retry out again...
  auto second = sweep_once(files, policy, now + 1s);
  EXPECT_TRUE(second.retries.empty());
  EXPECT_EQ(inbound_value("m", "tries"), "1");
  // ...and when the backoff has elapsed the message is due: a container will be woken for it.
  auto third = sweep_once(files, policy, now + 6s);
  EXPECT_EQ(third.summary.due_ids, std::vector<std::string>{"m"});
}

TEST_F(SweepTest, ACrashBetweenTheTwoWritesDoesNotRetryTwice) {
  store::enqueue(files, {.id = "m", .content = "x"}, now - 1h);
  claim("m", now - 30min);
  // The inbound half ran, then the process died before deleting the claim.
  store::retry_orphans(files, {"m"}, policy.retry, now);
  auto outcome = sweep_once(files, policy, now + 1s);
  ASSERT_EQ(outcome.retries.size(), 1u);
  EXPECT_EQ(outcome.retries[0].decision.action, policy::RetryAction::leave);
  EXPECT_EQ(outcome.claims_deleted, 1);
  EXPECT_EQ(inbound_value("m", "tries"), "1");
}

TEST_F(SweepTest, ASessionWhoseLockIsHeldElsewhereIsLeftEntirelyAlone) {
  store::enqueue(files, {.id = "m", .content = "x"}, now - 1h);
  claim("m", now - 30min);
  {
    SQLite::Database db(files.outbound().string(), SQLite::OPEN_READWRITE);
    db.exec("INSERT INTO processing_ack VALUES ('other', 'completed', datetime('now'))");
  }
  store::enqueue(files, {.id = "other", .content = "x"}, now - 1h);
  auto holder = os::SessionLock::try_acquire(files.lock());
  ASSERT_TRUE(holder);

  auto outcome = sweep_once(files, policy, now);
  EXPECT_TRUE(outcome.held_elsewhere);
  EXPECT_TRUE(outcome.container_running);
  EXPECT_FALSE(outcome.holder);  // a holder that recorded no container
  EXPECT_TRUE(outcome.retries.empty());
  EXPECT_TRUE(outcome.settled.empty());  // not even inbound.db is written
  EXPECT_EQ(outcome.claims_deleted, 0);
  EXPECT_EQ(store::read_outbound(files).acks.size(), 2u);
  EXPECT_EQ(inbound_value("m", "tries"), "0");
  EXPECT_EQ(inbound_value("other", "status"), "pending");
}

// A record left under a free lock: its supervisor died. While the kernel says the recorded
// process lives, the pass writes nothing and reports the orphan with the lock to stop it under.
TEST_F(SweepTest, ALiveOrphanOfADeadSupervisorIsReportedAndNothingIsWritten) {
  store::enqueue(files, {.id = "m", .content = "x"}, now - 1h);
  claim("m", now - 30min);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  auto identity = os::identify(child);
  ASSERT_TRUE(identity);
  os::make_private_directories(files.host_dir());
  os::write_holder_record(files.holder_record(), {.container = *identity, .started_at = now - 1min,
                                                  .supervisor = {999999, 1}});
  auto outcome = sweep_once(files, policy, now);
  ASSERT_TRUE(outcome.orphan);
  EXPECT_EQ(outcome.orphan->container, *identity);
  EXPECT_TRUE(outcome.orphan_lock);
  EXPECT_EQ(outcome.claims_deleted, 0);
  EXPECT_EQ(inbound_value("m", "tries"), "0");
  EXPECT_TRUE(os::SessionLock::is_held(files.lock()));  // the caller holds it now
  outcome.orphan_lock.reset();

  // Once it has gone, the record is stale: removed, and the cleanup runs.
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  auto after = sweep_once(files, policy, now + 1s);
  EXPECT_FALSE(after.orphan);
  EXPECT_EQ(after.claims_deleted, 1);
  EXPECT_EQ(inbound_value("m", "tries"), "1");
  EXPECT_FALSE(os::read_holder_record(files.holder_record()));
}

// A record whose pid now names another process (same pid, another start time) is not that
// container: the pass never takes an unrelated process for it.
TEST_F(SweepTest, ARecordWhosePidWasReusedIsStale) {
  store::enqueue(files, {.id = "m", .content = "x"}, now - 1h);
  claim("m", now - 30min);
  auto self = os::self_identity();
  os::make_private_directories(files.host_dir());
  os::write_holder_record(files.holder_record(), {.container = {self.pid, self.start_ticks + 1},
                                                  .started_at = now - 1min, .supervisor = {999999, 1}});
  auto outcome = sweep_once(files, policy, now);
  EXPECT_FALSE(outcome.orphan);
  EXPECT_EQ(outcome.claims_deleted, 1);
}

TEST_F(SweepTest, ExplainPlansTheSameStepsWithoutWriting) {
  store::enqueue(files, {.id = "done", .content = "x"}, now - 1h);
  store::enqueue(files, {.id = "crashed", .content = "x"}, now - 1h);
  store::enqueue(files, {.id = "waiting", .content = "x"}, now - 1h);
  {
    SQLite::Database db(files.outbound().string(), SQLite::OPEN_READWRITE);
    db.exec("INSERT INTO processing_ack VALUES ('done', 'completed', '2026-01-01 00:00:00')");
  }
  claim("crashed", now - 10min);
  auto inbound_before = hostsweep::testing::read_file(files.inbound());
  auto outbound_before = hostsweep::testing::read_file(files.outbound());

  auto plan = policy::plan_sweep(policy, gather_facts(files, now));
  ASSERT_EQ(plan.settlements.size(), 1u);
  EXPECT_EQ(plan.settlements[0].message_id, "done");
  ASSERT_EQ(plan.retries.size(), 1u);
  EXPECT_EQ(plan.retries[0].decision.action, policy::RetryAction::retry);
  EXPECT_EQ(plan.orphan_claims, std::vector<std::string>{"crashed"});
  EXPECT_EQ(plan.due_ids, std::vector<std::string>{"waiting"});
  EXPECT_EQ(plan.next_due, now + 5s);
  EXPECT_TRUE(plan.wake);
  EXPECT_EQ(hostsweep::testing::read_file(files.inbound()), inbound_before);
  EXPECT_EQ(hostsweep::testing::read_file(files.outbound()), outbound_before);

  // The sweep then does what the plan said.
  auto outcome = sweep_once(files, policy, now);
  EXPECT_EQ(outcome.settled.size(), 1u);
  EXPECT_EQ(outcome.summary.due_ids, plan.due_ids);
  EXPECT_EQ(outcome.summary.next_due, plan.next_due);
}

// --- the pass memo: an unchanged session is judged again without opening its files ----------

TEST_F(SweepTest, AnUnchangedSessionIsJudgedAgainAtTheNewTimeFromTheMemo) {
  store::enqueue(files, {.id = "later", .content = "x", .process_after = now + 10s}, now);
  ASSERT_TRUE(wait_until_versions_sure(files));
  auto first = run_pass({.files = files, .policy = policy, .now = now});
  ASSERT_TRUE(first.memo);
  EXPECT_FALSE(first.from_memo);
  EXPECT_TRUE(first.summary.due_ids.empty());
  EXPECT_EQ(first.summary.next_due, now + 10s);

  auto second = run_pass({.files = files, .policy = policy, .now = now + 11s, .memo = first.memo});
  EXPECT_TRUE(second.from_memo);
  EXPECT_EQ(second.summary.due_ids, std::vector<std::string>{"later"});
  EXPECT_EQ(second.summary.count_by_status, first.summary.count_by_status);
}

TEST_F(SweepTest, AMessageEnqueuedByAnotherWriterIsNotHiddenByTheMemo) {
  ASSERT_TRUE(wait_until_versions_sure(files));
  auto first = run_pass({.files = files, .policy = policy, .now = now});
  ASSERT_TRUE(first.memo);
  store::enqueue(files, {.id = "new", .content = "x"}, now);
  auto second = run_pass({.files = files, .policy = policy, .now = now + 1s, .memo = first.memo});
  EXPECT_FALSE(second.from_memo);
  EXPECT_EQ(second.summary.due_ids, std::vector<std::string>{"new"});
}

TEST_F(SweepTest, AnAckWrittenByTheContainerIsNotHiddenByTheMemo) {
  store::enqueue(files, {.id = "m", .content = "x"}, now);
  ASSERT_TRUE(wait_until_versions_sure(files));
  auto first = run_pass({.files = files, .policy = policy, .now = now});
  ASSERT_TRUE(first.memo);
  {
    SQLite::Database db(files.outbound().string(), SQLite::OPEN_READWRITE);
    db.exec("INSERT INTO processing_ack VALUES ('m', 'completed', datetime('now'))");
  }
  auto second = run_pass({.files = files, .policy = policy, .now = now + 1s, .memo = first.memo});
  EXPECT_FALSE(second.from_memo);
  ASSERT_EQ(second.settled.size(), 1u);
  EXPECT_EQ(second.settled[0].status, policy::MessageStatus::completed);
  EXPECT_EQ(inbound_value("m", "status"), "completed");
}

TEST_F(SweepTest, OrphanClaimsAreCleanedOnceTheContainerHasEndedEvenWhenNothingChanged) {
  store::enqueue(files, {.id = "m", .content = "x"}, now - 1h);
  claim("m", now - 1min);
  ASSERT_TRUE(wait_until_versions_sure(files));
  // While the caller's container runs, its claim is normal, and it is judged at each pass's
  // own time, memo or not.
  auto first = run_pass({.files = files, .policy = policy, .now = now, .own_container_since = now - 2min});
  ASSERT_TRUE(first.stuck);
  ASSERT_TRUE(first.memo);
  auto second = run_pass(
      {.files = files, .policy = policy, .now = now + 30s, .own_container_since = now - 2min, .memo = first.memo});
  EXPECT_TRUE(second.from_memo);
  ASSERT_TRUE(second.stuck);
  EXPECT_GT(second.stuck->silence, first.stuck->silence);
  EXPECT_EQ(second.claims_deleted, 0);

  // It died without a word: the files are as they were, but the claim is now an orphan.
  auto third = run_pass({.files = files, .policy = policy, .now = now + 31s, .memo = second.memo});
  EXPECT_FALSE(third.from_memo);
  EXPECT_EQ(third.claims_deleted, 1);
  ASSERT_EQ(third.retries.size(), 1u);
  EXPECT_EQ(third.retries[0].decision.action, policy::RetryAction::retry);
  EXPECT_EQ(inbound_value("m", "tries"), "1");
}

}  // namespace
}  // namespace hostsweep::sweep
