// Recurrence fan-out on real files: one transaction, never twice, crash-safe.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "policy/time_zone.hpp"
#include "store/inbound_store.hpp"
#include "hostsweep/store/registry.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::store {
namespace {

using namespace std::chrono;
using hostsweep::testing::TempDir;

// Sunday 2026-03-08 12:00Z.
const TimePoint kNow = TimePoint{sys_days{year{2026} / 3 / 8} + 12h};

class RecurrenceStoreTest : public ::testing::Test {
 protected:
  TempDir tmp;
  DataDir data{tmp.path()};
  SessionFiles files = create_session(data, "g", std::string("s"), kNow).files;
  const date::time_zone& new_york = policy::find_time_zone("America/New_York");

  void finish(const std::string& id, const std::string& status) {
    SQLite::Database db(files.inbound().string(), SQLite::OPEN_READWRITE);
    SQLite::Statement q(db, "UPDATE messages_in SET status = ? WHERE id = ?");
    q.bind(1, status);
    q.bind(2, id);
    q.exec();
  }
  int count(const std::string& where) {
    SQLite::Database db(files.inbound().string());
    return db.execAndGet("SELECT count(*) FROM messages_in WHERE " + where).getInt();
  }
};

TEST_F(RecurrenceStoreTest, ACompletedRowSchedulesItsSeriesOnceInTheZone) {
  enqueue(files, {.id = "daily", .kind = "task", .content = "report", .recurrence = "0 9 * * *", .platform_id = "p",
                  .channel_type = "c", .thread_id = "t"},
          kNow);
  finish("daily", "completed");
  auto plan = fan_out_recurrences(files, new_york, kNow);
  ASSERT_EQ(plan.size(), 1u);
  // 12:00Z is 08:00 EDT (daylight time began at 02:00 that morning), so the next 09:00 in New
  // York is an hour later: 13:00Z. Worked out by hand (EST would have given 14:00Z).
  EXPECT_EQ(plan[0].next, policy::parse_timestamp("2026-03-08T13:00:00Z"));
  SQLite::Database db(files.inbound().string());
  SQLite::Statement q(db, R"sql(SELECT kind, content, platform_id, channel_type, thread_id, series_id, recurrence,
                                      process_after, status, tries, seq, "trigger" FROM messages_in WHERE id != 'daily')sql");
  ASSERT_TRUE(q.executeStep());
  EXPECT_EQ(q.getColumn(0).getString(), "task");
  EXPECT_EQ(q.getColumn(1).getString(), "report");
  EXPECT_EQ(q.getColumn(2).getString(), "p");
  EXPECT_EQ(q.getColumn(3).getString(), "c");
  EXPECT_EQ(q.getColumn(4).getString(), "t");
  EXPECT_EQ(q.getColumn(5).getString(), "daily");  // the series keeps its first row's id
  EXPECT_EQ(q.getColumn(6).getString(), "0 9 * * *");
  EXPECT_EQ(q.getColumn(7).getString(), "2026-03-08T13:00:00.000Z");
  EXPECT_EQ(q.getColumn(8).getString(), "pending");
  EXPECT_EQ(q.getColumn(9).getInt(), 0);
  EXPECT_EQ(q.getColumn(10).getInt() % 2, 0);
  EXPECT_EQ(q.getColumn(11).getInt(), 1);
  EXPECT_FALSE(q.executeStep());
  EXPECT_EQ(count("id = 'daily' AND recurrence IS NULL"), 1);
  // Again: nothing left to do, so no second occurrence.
  EXPECT_TRUE(fan_out_recurrences(files, new_york, kNow).empty());
  EXPECT_EQ(count("1"), 2);
}

TEST_F(RecurrenceStoreTest, FailedRowsFanOutAndPausedOrPendingOnesDoNot) {
  enqueue(files, {.id = "failed", .content = "x", .recurrence = "@hourly"}, kNow);
  enqueue(files, {.id = "paused", .content = "x", .recurrence = "@hourly"}, kNow);
  enqueue(files, {.id = "pending", .content = "x", .recurrence = "@hourly"}, kNow);
  finish("failed", "failed");
  finish("paused", "paused");
  auto plan = fan_out_recurrences(files, new_york, kNow);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].message_id, "failed");
  EXPECT_EQ(count("series_id = 'paused'"), 1);
}

// A planned fan-out re-reads its rows in its transaction: a series another pass scheduled
// since the plan was made is not scheduled twice, and rows outside the plan wait for theirs.
TEST_F(RecurrenceStoreTest, APlannedFanOutSkipsASeriesScheduledMeanwhile) {
  for (const char* id : {"a", "b", "c"}) enqueue(files, {.id = id, .content = "x", .recurrence = "0 9 * * *"}, kNow);
  finish("a", "completed");
  finish("b", "completed");
  const auto planned = policy::plan_fan_out(read_finished_recurring(files), new_york, kNow);
  ASSERT_EQ(planned.size(), 2u);
  finish("c", "completed");                                  // finished after the plan: not in it
  InboundDb(files).fan_out({planned[0]}, new_york, kNow);    // another pass schedules "a" meanwhile
  auto applied = InboundDb(files).fan_out(planned, new_york, kNow);
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_EQ(applied[0].message_id, "b");
  EXPECT_EQ(count("series_id = 'a'"), 2);  // the finished row and one next occurrence
  EXPECT_EQ(count("series_id = 'c' AND recurrence IS NOT NULL"), 1);
}

TEST_F(RecurrenceStoreTest, AnInvalidExpressionEndsTheSeriesOnce) {
  enqueue(files, {.id = "bad", .content = "x", .recurrence = "0 0 32 * *"}, kNow);
  finish("bad", "completed");
  auto plan = fan_out_recurrences(files, new_york, kNow);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_FALSE(plan[0].next);
  EXPECT_NE(plan[0].error.find("field 3 (\"32\"): day of month must be 1-31"), std::string::npos) << plan[0].error;
  EXPECT_EQ(count("1"), 1);
  EXPECT_TRUE(fan_out_recurrences(files, new_york, kNow).empty());  // never reported again
}

// FAILURE-MODES.md 7: a process killed in the middle of a fan-out leaves both writes or neither,
// and the next fan-out schedules each series exactly once.
TEST_F(RecurrenceStoreTest, FailureMode7_ACrashMidFanOutNeverDuplicatesASeries) {
  constexpr int kSeries = 3000;  // a long transaction, so that the kill lands inside it
  {
    SQLite::Database db(files.inbound().string(), SQLite::OPEN_READWRITE);
    SQLite::Transaction txn(db);
    for (int i = 0; i < kSeries; ++i) {
      db.exec("INSERT INTO messages_in (id, seq, kind, timestamp, status, recurrence, series_id, content) VALUES ('r" +
              std::to_string(i) + "', " + std::to_string(2 * (i + 1)) +
              ", 'task', '2026-03-08 11:00:00', 'completed', '*/5 * * * * *', 'r" + std::to_string(i) + "', 'x')");
    }
    txn.commit();
  }
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    fan_out_recurrences(files, new_york, kNow);
    ::_exit(0);
  }
  auto journal = files.dir() / "inbound.db-journal";
  for (int i = 0; i < 20000 && !std::filesystem::exists(journal); ++i) std::this_thread::sleep_for(50us);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);

  int scheduled = count("status = 'pending'");
  int cleared = count("status = 'completed' AND recurrence IS NULL");
  EXPECT_TRUE(scheduled == 0 || scheduled == kSeries) << scheduled;
  EXPECT_EQ(scheduled, cleared);
  fan_out_recurrences(files, new_york, kNow);
  EXPECT_EQ(count("status = 'pending'"), kSeries);
  EXPECT_EQ(count("recurrence IS NOT NULL AND status = 'completed'"), 0);
  SQLite::Database db(files.inbound().string());
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM (SELECT series_id FROM messages_in WHERE status = 'pending' "
                          "GROUP BY series_id HAVING count(*) > 1)").getInt(),
            0);
}

}  // namespace
}  // namespace hostsweep::store
