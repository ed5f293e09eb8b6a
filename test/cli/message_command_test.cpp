// `hostsweep message retry` as an operator runs it: a failed message pending again, its stale
// ack gone, and one clear error for every message that is not failed, with nothing changed.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "os/holder_record.hpp"
#include "os/process.hpp"
#include "os/session_lock.hpp"
#include "hostsweep/store/registry.hpp"
#include "support/run_program.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::testing {
namespace {

class MessageRetryCli : public ::testing::Test {
 protected:
  TempDir tmp;
  std::string data = (tmp.path() / "data").string();
  store::SessionFiles files = [&] {
    auto r = hostsweep({"session", "create", "--data-dir", data, "--agent-group", "demo", "--id", "s1"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return store::find_session(store::DataDir(data), "s1").files;
  }();

  ProgramResult hostsweep(std::vector<std::string> args) { return run_program(HOSTSWEEP_CLI_PATH, args); }

  ProgramResult retry(const std::string& id) { return hostsweep({"message", "retry", "--data-dir", data, "--session", "s1", id}); }

  void add(const std::string& id, const std::string& status, const std::string& ack_status = {}) {
    auto r = hostsweep({"enqueue", "--data-dir", data, "--session", "s1", "--content", "{}", "--id", id});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    {
      SQLite::Database db(files.inbound().string(), SQLite::OPEN_READWRITE);
      SQLite::Statement q(db, "UPDATE messages_in SET status = ?, tries = 4, process_after = '2026-03-08T12:00:00.000Z' WHERE id = ?");
      q.bind(1, status);
      q.bind(2, id);
      q.exec();
    }
    if (!ack_status.empty()) {
      SQLite::Database db(files.outbound().string(), SQLite::OPEN_READWRITE);
      SQLite::Statement q(db, "INSERT INTO processing_ack VALUES (?, ?, datetime('now'))");
      q.bind(1, id);
      q.bind(2, ack_status);
      q.exec();
    }
  }

  std::string row(const std::string& id) {
    SQLite::Database db(files.inbound().string());
    SQLite::Statement q(db, "SELECT status, tries, coalesce(process_after, 'NULL') FROM messages_in WHERE id = ?");
    q.bind(1, id);
    if (!q.executeStep()) return "<no row>";
    return q.getColumn(0).getString() + " " + q.getColumn(1).getString() + " " + q.getColumn(2).getString();
  }

  int acks(const std::string& id) {
    SQLite::Database db(files.outbound().string());
    SQLite::Statement q(db, "SELECT count(*) FROM processing_ack WHERE message_id = ?");
    q.bind(1, id);
    q.executeStep();
    return q.getColumn(0).getInt();
  }

  static void expect_one_error(const ProgramResult& r, int code, const std::string& text) {
    EXPECT_EQ(r.exit_code, code) << r.err;
    EXPECT_EQ(r.err, "hostsweep: error: " + text + "\n");
    EXPECT_EQ(r.out, "");
  }
};

TEST_F(MessageRetryCli, AFailedMessageGoesBackToPendingAndStaysThere) {
  add("m1", "failed", "failed");
  auto r = retry("m1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "m1: pending, tries 0\n");
  EXPECT_EQ(row("m1"), "pending 0 NULL");
  EXPECT_EQ(acks("m1"), 0);
  // A pass over the session (no container runs) finds nothing to settle it with.
  auto sweep = hostsweep({"sweep", "--once", "--data-dir", data});
  EXPECT_EQ(sweep.exit_code, 0) << sweep.err;
  EXPECT_EQ(row("m1"), "pending 0 NULL");
}

TEST_F(MessageRetryCli, AMessageThatIsNotFailedIsRefusedWithNothingChanged) {
  add("waiting", "pending");
  add("claimed", "pending", "processing");
  add("done", "completed", "completed");
  expect_one_error(retry("waiting"), 2, "message \"waiting\" is pending, not failed: only a failed message can be retried");
  expect_one_error(retry("claimed"), 2,
                   "message \"claimed\" is being processed (claimed), not failed: only a failed message can be retried");
  expect_one_error(retry("done"), 2, "message \"done\" is completed, not failed: only a failed message can be retried");
  expect_one_error(retry("ghost"), 3, "session \"s1\" has no message \"ghost\"");
  EXPECT_EQ(row("waiting"), "pending 4 2026-03-08T12:00:00.000Z");
  EXPECT_EQ(row("claimed"), "pending 4 2026-03-08T12:00:00.000Z");
  EXPECT_EQ(row("done"), "completed 4 2026-03-08T12:00:00.000Z");
  EXPECT_EQ(acks("claimed"), 1);
  EXPECT_EQ(acks("done"), 1);

  auto unknown = hostsweep({"message", "retry", "--data-dir", data, "--session", "nobody", "m1"});
  EXPECT_EQ(unknown.exit_code, 3) << unknown.err;
  EXPECT_EQ(std::count(unknown.err.begin(), unknown.err.end(), '\n'), 1) << unknown.err;
  EXPECT_EQ(hostsweep({"message", "retry", "--data-dir", data, "--session", "s1"}).exit_code, 2);  // no id
}

// While a container runs, its outbound.db is its own: the retry is refused at once, and the
// message stays failed, its ack in place.
TEST_F(MessageRetryCli, ARunningContainerRefusesTheRetry) {
  add("m1", "failed", "failed");
  auto held = os::SessionLock::try_acquire(files.lock());
  ASSERT_TRUE(held);
  os::write_holder_record(files.holder_record(),
                          {.container = os::self_identity(), .started_at = policy::now_utc(), .supervisor = os::self_identity()});
  expect_one_error(retry("m1"), 1,
                   "session \"s1\" has a running container, which owns outbound.db where the failure is recorded: "
                   "retry once it has stopped (`hostsweep session pause --wait` stops it; `session resume` after the "
                   "retry)");
  // A dead supervisor's container still alive under a free lock is refused the same way.
  held.reset();
  expect_one_error(retry("m1"), 1,
                   "session \"s1\" has a running container, which owns outbound.db where the failure is recorded: "
                   "retry once it has stopped (`hostsweep session pause --wait` stops it; `session resume` after the "
                   "retry)");
  EXPECT_EQ(row("m1"), "failed 4 2026-03-08T12:00:00.000Z");
  EXPECT_EQ(acks("m1"), 1);

  os::remove_holder_record(files.holder_record());
  ASSERT_EQ(retry("m1").exit_code, 0);
  EXPECT_EQ(row("m1"), "pending 0 NULL");
}

// A message the host failed (its retries used up) has no ack to delete: its retry writes only
// inbound.db, as `enqueue` does, and a running container picks it up.
TEST_F(MessageRetryCli, AMessageWithoutAnAckIsRetriedWhileAContainerRuns) {
  add("m1", "failed");
  auto held = os::SessionLock::try_acquire(files.lock());
  ASSERT_TRUE(held);
  os::write_holder_record(files.holder_record(),
                          {.container = os::self_identity(), .started_at = policy::now_utc(), .supervisor = os::self_identity()});
  auto r = retry("m1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(row("m1"), "pending 0 NULL");
}

}  // namespace
}  // namespace hostsweep::testing
