// What `hostsweep explain` prints as planned (plan_sweep of gather_facts, exactly its code) is
// what the pass then does, session by session: settled acks, orphan claims at and below the
// retry limit, recurring series, future and unreadable process_after, paused rows, unknown ids
// and statuses. After the pass, the plan has nothing left to write.
#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <functional>

#include "os/holder_record.hpp"
#include "os/process.hpp"
#include "os/session_lock.hpp"
#include "store/inbound_store.hpp"
#include "hostsweep/store/registry.hpp"
#include "sweep/session_sweep.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::sweep {
namespace {

using namespace std::chrono;

std::string at(std::optional<TimePoint> t) { return t ? policy::format_iso8601(*t) : "-"; }

std::vector<std::string> lines(const std::vector<policy::Settlement>& v) {
  std::vector<std::string> out;
  for (const auto& s : v) out.push_back(s.message_id + " -> " + policy::to_string(s.status));
  return out;
}
std::vector<std::string> lines(const std::vector<policy::PlannedRetry>& v) {
  std::vector<std::string> out;
  for (const auto& r : v) {
    out.push_back(fmt::format("{} {} tries={} at={}: {}", r.message_id, policy::to_string(r.decision.action),
                              r.decision.new_tries, at(r.decision.process_after), r.decision.reason));
  }
  return out;
}
std::vector<std::string> lines(const std::vector<policy::FanOut>& v) {
  std::vector<std::string> out;
  for (const auto& f : v) out.push_back(fmt::format("{} next={} {}", f.message_id, at(f.next), f.error));
  return out;
}

class PlanApplied : public ::testing::Test {
 protected:
  hostsweep::testing::TempDir tmp;
  store::DataDir data{tmp.path()};
  const TimePoint now = floor<seconds>(policy::now_utc());
  policy::SweepPolicy policy;
  int sessions = 0;

  store::SessionFiles session() {
    return store::create_session(data, "g", "s" + std::to_string(++sessions), now).files;
  }
  static void sql(const std::filesystem::path& file, const std::string& statement) {
    SQLite::Database db(file.string(), SQLite::OPEN_READWRITE);
    db.exec(statement);
  }
  void message(const store::SessionFiles& f, const std::string& id, const std::string& set = "",
               std::optional<std::string> recurrence = std::nullopt, bool trigger = true) {
    store::enqueue(f, {.id = id, .content = "x", .recurrence = recurrence, .trigger = trigger}, now - 1h);
    if (!set.empty()) sql(f.inbound(), "UPDATE messages_in SET " + set + " WHERE id = '" + id + "'");
  }
  static void ack(const store::SessionFiles& f, const std::string& id, const std::string& status,
                  const std::string& changed = "2026-01-01 00:00:00") {
    sql(f.outbound(), "INSERT OR REPLACE INTO processing_ack VALUES ('" + id + "', '" + status + "', '" + changed + "')");
  }

  // Plans as explain does, runs the pass, and checks that each step did what was planned.
  // Returns the plan, for the test to say it is not an empty one.
  policy::SweepPlan expect_pass_does_the_plan(const store::SessionFiles& f, const std::function<PassResult()>& pass) {
    const auto plan = policy::plan_sweep(policy, gather_facts(f, now));
    auto done = pass();
    EXPECT_EQ(lines(done.settled), lines(plan.settlements));
    EXPECT_EQ(lines(done.retries), lines(plan.retries));
    EXPECT_EQ(done.claims_deleted, static_cast<int>(plan.orphan_claims.size()));
    EXPECT_EQ(lines(done.fan_outs), lines(plan.fan_outs));
    EXPECT_EQ(done.summary.due_ids, plan.due_ids);
    EXPECT_EQ(at(done.summary.next_due), at(plan.next_due));
    EXPECT_EQ(done.start_lock.has_value(), plan.wake);
    EXPECT_EQ(done.stuck.has_value(), plan.stuck.has_value());
    if (done.stuck && plan.stuck) {
      EXPECT_EQ(done.stuck->reason, plan.stuck->reason);
    }
    done.start_lock.reset();

    // Done: planned again, nothing is left to write, and what is due has not moved.
    const auto again = policy::plan_sweep(policy, gather_facts(f, now));
    EXPECT_TRUE(again.settlements.empty());
    EXPECT_TRUE(again.orphan_claims.empty());
    EXPECT_TRUE(again.fan_outs.empty());
    EXPECT_EQ(again.due_ids, plan.due_ids);
    EXPECT_EQ(at(again.next_due), at(plan.next_due));
    return plan;
  }
  policy::SweepPlan expect_pass_does_the_plan(const store::SessionFiles& f) {
    return expect_pass_does_the_plan(
        f, [&] { return run_pass({.files = f, .policy = policy, .now = now, .may_start = true}); });
  }
};

TEST_F(PlanApplied, SettledAcks) {
  auto f = session();
  message(f, "done");
  message(f, "broken");
  message(f, "again", "status = 'completed'");  // re-marked by the container: settled already
  message(f, "waiting");
  ack(f, "done", "completed");
  ack(f, "broken", "failed");
  ack(f, "again", "completed", "2026-01-01 00:05:00");
  ack(f, "ghost", "completed");
  auto plan = expect_pass_does_the_plan(f);
  EXPECT_EQ(plan.settlements.size(), 2u);
  EXPECT_EQ(plan.due_ids, std::vector<std::string>{"waiting"});
  EXPECT_TRUE(plan.wake);
}

TEST_F(PlanApplied, OrphanClaimsAtAndBelowTheRetryLimit) {
  auto f = session();
  message(f, "tired", "tries = 5");
  message(f, "again", "tries = 1");
  message(f, "rescheduled", fmt::format("tries = 2, process_after = '{}'", policy::format_iso8601(now + 30s)));
  message(f, "finished", "status = 'completed'");
  for (const char* id : {"tired", "again", "rescheduled", "finished", "ghost"}) ack(f, id, "processing");
  auto plan = expect_pass_does_the_plan(f);
  EXPECT_EQ(plan.orphan_claims.size(), 5u);
  ASSERT_EQ(plan.retries.size(), 4u);  // the ghost has no message: only its claim goes
  EXPECT_EQ(plan.retries[0].decision.action, policy::RetryAction::fail);
  EXPECT_EQ(plan.retries[1].decision.action, policy::RetryAction::retry);
  EXPECT_EQ(plan.next_due, now + 10s);
}

TEST_F(PlanApplied, RecurringSeries) {
  auto f = session();
  message(f, "finished", "status = 'completed'", "*/15 * * * *");
  message(f, "acked", "", "0 * * * *");
  message(f, "failing", "tries = 5", "30 6 * * *");
  message(f, "context", "", "*/10 * * * *", false);
  message(f, "invalid", "status = 'failed', recurrence = 'every tuesday'");
  ack(f, "acked", "completed");
  ack(f, "context", "completed");
  ack(f, "failing", "processing");
  auto plan = expect_pass_does_the_plan(f);
  EXPECT_EQ(plan.fan_outs.size(), 5u);
  EXPECT_TRUE(plan.due_ids.empty());
}

TEST_F(PlanApplied, FutureAndUnreadableProcessAfter) {
  auto f = session();
  message(f, "later", fmt::format("process_after = '{}'", policy::format_sqlite(now + 2h)));
  message(f, "soon", fmt::format("process_after = '{}'", policy::format_iso8601(now + 10min)));
  message(f, "settled_early", fmt::format("process_after = '{}'", policy::format_iso8601(now + 5min)));
  message(f, "unreadable", "process_after = 'tomorrow-ish'");
  ack(f, "settled_early", "completed");
  auto plan = expect_pass_does_the_plan(f);
  EXPECT_EQ(plan.due_ids, std::vector<std::string>{"unreadable"});  // never lost
  EXPECT_EQ(plan.next_due, now + 10min);
}

TEST_F(PlanApplied, PausedRowsAndUnknownStatusesAreLeftAlone) {
  auto f = session();
  message(f, "paused", "status = 'paused'");
  message(f, "paused_claim", "status = 'paused'");
  message(f, "paused_series", "status = 'paused'", "0 * * * *");
  message(f, "weird", "status = 'archived'");
  message(f, "odd_ack");
  ack(f, "paused", "completed");
  ack(f, "paused_claim", "processing");
  ack(f, "weird", "completed");
  ack(f, "odd_ack", "whatever");
  auto plan = expect_pass_does_the_plan(f);
  EXPECT_TRUE(plan.settlements.empty());
  EXPECT_TRUE(plan.fan_outs.empty());
  ASSERT_EQ(plan.retries.size(), 1u);
  EXPECT_EQ(plan.retries[0].decision.action, policy::RetryAction::leave);
  EXPECT_EQ(plan.due_ids, std::vector<std::string>{"odd_ack"});
}

TEST_F(PlanApplied, ARunningContainerIsSettledAndJudgedNotCleanedUp) {
  auto f = session();
  message(f, "done", "", "*/5 * * * *");
  message(f, "claimed");
  message(f, "queued");
  ack(f, "done", "completed");
  ack(f, "claimed", "processing", policy::format_sqlite(now - 2min));
  // The supervisor's own container: it holds the lock and recorded when the container started.
  auto lock = os::SessionLock::try_acquire(f.lock());
  ASSERT_TRUE(lock);
  os::make_private_directories(f.host_dir());
  const auto started = now - 10min;
  os::write_holder_record(f.holder_record(), {.container = os::self_identity(), .started_at = started,
                                              .supervisor = os::self_identity()});
  auto plan = expect_pass_does_the_plan(f, [&] {
    return run_pass({.files = f, .policy = policy, .now = now, .own_container_since = started, .may_start = true});
  });
  EXPECT_EQ(plan.settlements.size(), 1u);
  EXPECT_EQ(plan.fan_outs.size(), 1u);
  ASSERT_TRUE(plan.stuck);
  EXPECT_EQ(plan.stuck->verdict, policy::StuckVerdict::kill_claim_stuck);
}

TEST_F(PlanApplied, AtShutdownTheClaimsGoAndTheirMessagesKeepTheirTries) {
  auto f = session();
  message(f, "interrupted", "tries = 2");
  ack(f, "interrupted", "processing");
  auto facts = gather_facts(f, now);
  facts.retry_orphans = false;
  const auto plan = policy::plan_sweep(policy, facts);
  auto done = run_pass({.files = f, .policy = policy, .now = now, .retry_orphans = false});
  EXPECT_EQ(lines(done.retries), lines(plan.retries));
  EXPECT_EQ(done.claims_deleted, static_cast<int>(plan.orphan_claims.size()));
  EXPECT_EQ(done.summary.due_ids, plan.due_ids);
  EXPECT_EQ(store::read_message_states(f, {"interrupted"}).at("interrupted").tries, 2);
}

}  // namespace
}  // namespace hostsweep::sweep
