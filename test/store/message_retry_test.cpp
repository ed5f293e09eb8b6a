// An operator's retry of a failed message, in the store: inbound.db's row back to pending
// (retry_failed) and the container's failed ack removed (delete_acks), and every refusal
// leaving the file as it was.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include "hostsweep/error.hpp"
#include "os/session_lock.hpp"
#include "store/inbound_store.hpp"
#include "store/outbound_store.hpp"
#include "hostsweep/store/registry.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::store {
namespace {

using namespace std::chrono;

const TimePoint kNow = TimePoint{sys_days{year{2026} / 3 / 8} + 12h};

class MessageRetryTest : public ::testing::Test {
 protected:
  hostsweep::testing::TempDir tmp;
  DataDir data{tmp.path() / "data"};
  Session session = create_session(data, "group", "s1", kNow);
  const SessionFiles& files = session.files;

  std::string add(const std::string& id, const std::string& status, int tries = 0, const char* process_after = nullptr) {
    enqueue(files, {.id = id, .content = "{}"}, kNow);
    SQLite::Database db(files.inbound().string(), SQLite::OPEN_READWRITE);
    SQLite::Statement q(db, "UPDATE messages_in SET status = ?, tries = ?, process_after = ? WHERE id = ?");
    q.bind(1, status);
    q.bind(2, tries);
    if (process_after) q.bind(3, process_after);
    else q.bind(3);
    q.bind(4, id);
    q.exec();
    return id;
  }

  void ack(const std::string& id, const std::string& status) {
    SQLite::Database db(files.outbound().string(), SQLite::OPEN_READWRITE);
    SQLite::Statement q(db, "INSERT OR REPLACE INTO processing_ack VALUES (?, ?, '2026-03-08 11:00:00')");
    q.bind(1, id);
    q.bind(2, status);
    q.exec();
  }

  // Every column of the row, as text: what a refusal must leave alone.
  std::string row(const std::string& id) {
    SQLite::Database db(files.inbound().string());
    SQLite::Statement q(db, "SELECT * FROM messages_in WHERE id = ?");
    q.bind(1, id);
    if (!q.executeStep()) return "<no row>";
    std::string out;
    for (int i = 0; i < q.getColumnCount(); ++i) out += (q.getColumn(i).isNull() ? "NULL" : q.getColumn(i).getString()) + "|";
    return out;
  }

  int acks(const std::string& id) {
    SQLite::Database db(files.outbound().string());
    SQLite::Statement q(db, "SELECT count(*) FROM processing_ack WHERE message_id = ?");
    q.bind(1, id);
    q.executeStep();
    return q.getColumn(0).getInt();
  }

  os::SessionLock lock() { return std::move(*os::SessionLock::try_acquire(files.lock())); }
};

TEST_F(MessageRetryTest, AFailedMessageIsPendingAgainWithNoTriesAndDueAtOnce) {
  add("m1", "failed", 5, "2026-03-08T11:59:00.000Z");
  const auto before = row("m1");
  retry_failed(files, "m1");
  auto state = read_message_states(files, {"m1"}).at("m1");
  EXPECT_EQ(state.status, policy::MessageStatus::pending);
  EXPECT_EQ(state.tries, 0);
  EXPECT_EQ(state.process_after, std::nullopt);
  auto summary = summarize_inbound(files, kNow);
  EXPECT_EQ(summary.due_ids, std::vector<std::string>{"m1"});
  // Nothing else of the row changed: id, seq, kind, content, routing, series.
  auto after = row("m1");
  EXPECT_EQ(after.substr(0, after.find("pending")), before.substr(0, before.find("failed")));
}

TEST_F(MessageRetryTest, AMessageThatIsNotFailedIsRefusedAndLeftAsItWas) {
  add("pending", "pending");
  add("completed", "completed");
  add("paused", "paused");
  for (const char* id : {"pending", "completed", "paused"}) {
    const auto before = row(id);
    try {
      retry_failed(files, id);
      ADD_FAILURE() << id << " was retried";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_argument);
      EXPECT_EQ(std::string(e.what()),
                "message \"" + std::string(id) + "\" is " + id + ", not failed: only a failed message can be retried");
    }
    EXPECT_EQ(row(id), before);
  }
  try {
    retry_failed(files, "nope");
    ADD_FAILURE() << "an unknown id was retried";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::not_found);
    EXPECT_NE(std::string(e.what()).find("no message \"nope\" in "), std::string::npos) << e.what();
  }
}

// Why the ack goes too: left in outbound.db, the failed ack settles the retried message failed
// again at the next sync of acks.
TEST_F(MessageRetryTest, TheFailedAckWouldFailItAgainUntilItIsDeleted) {
  add("m1", "failed");
  add("m2", "failed");
  ack("m1", "failed");
  ack("m2", "failed");
  retry_failed(files, "m1");
  auto read_acks = [&] { return read_outbound(files).acks; };
  settle_acks(files, read_acks());
  EXPECT_EQ(read_message_states(files, {"m1"}).at("m1").status, policy::MessageStatus::failed);

  {
    auto held = lock();
    EXPECT_EQ(delete_acks(files, {"m1"}, held), 1);
  }
  retry_failed(files, "m1");
  EXPECT_TRUE(settle_acks(files, read_acks()).empty());
  EXPECT_EQ(read_message_states(files, {"m1"}).at("m1").status, policy::MessageStatus::pending);
  EXPECT_EQ(acks("m1"), 0);
  EXPECT_EQ(acks("m2"), 1);  // another message's ack is its own
}

TEST_F(MessageRetryTest, DeletingAcksOfASessionWithoutOutboundIsNothing) {
  auto held = lock();
  std::filesystem::remove(files.outbound());
  EXPECT_EQ(delete_acks(files, {"m1"}, held), 0);
  EXPECT_FALSE(std::filesystem::exists(files.outbound()));
  EXPECT_EQ(delete_acks(files, {}, held), 0);
}

// The container's file is never followed: a symlink in its place is refused, its target untouched.
TEST_F(MessageRetryTest, DeletingAcksRefusesASymlinkedOutbound) {
  auto held = lock();
  auto elsewhere = tmp.path() / "elsewhere.db";
  std::filesystem::rename(files.outbound(), elsewhere);
  std::filesystem::create_symlink(elsewhere, files.outbound());
  EXPECT_THROW(delete_acks(files, {"m1"}, held), Error);
}

}  // namespace
}  // namespace hostsweep::store
