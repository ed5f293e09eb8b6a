// The store fault injector (include/hostsweep/testing/store_faults.hpp) on real session files:
// each op and error it can inject, through the store's own API, and what the store makes of
// it: its clear error, nothing half-written, and normal work again once the fault has passed.
// Files are checked behind the store's back with SQLite's default VFS, which no fault touches.
#include "hostsweep/testing/store_faults.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "hostsweep/error.hpp"
#include "os/session_lock.hpp"
#include "store/inbound_store.hpp"
#include "store/outbound_store.hpp"
#include "hostsweep/store/registry.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::testing {
namespace {

using namespace std::chrono;

const TimePoint kNow = TimePoint{sys_days{year{2026} / 3 / 8} + 12h};

class StoreFaultsTest : public ::testing::Test {
 protected:
  TempDir tmp;
  store::DataDir data{tmp.path() / "data"};
  store::SessionFiles s1 = store::create_session(data, "group", std::string("s1"), kNow).files;
  store::SessionFiles s2 = store::create_session(data, "group", std::string("s2"), kNow).files;

  static store::Enqueued enqueue(const store::SessionFiles& files, const std::string& id) {
    return store::enqueue(files, {.id = id, .content = "{\"text\":\"hi\"}"}, kNow);
  }

  // The message ids in the file, read without the store (and so without its faults).
  static std::vector<std::string> ids_in(const store::SessionFiles& files) {
    SQLite::Database db(files.inbound().string(), SQLite::OPEN_READWRITE);
    SQLite::Statement q(db, "SELECT id FROM messages_in ORDER BY seq");
    std::vector<std::string> ids;
    while (q.executeStep()) ids.push_back(q.getColumn(0).getString());
    return ids;
  }

  static void container_claims(const store::SessionFiles& files, const std::string& id) {
    SQLite::Database db(files.outbound().string(), SQLite::OPEN_READWRITE);
    SQLite::Statement q(db, "INSERT INTO processing_ack VALUES (?, 'processing', '2026-03-08 12:00:00')");
    q.bind(1, id);
    q.exec();
  }
};

// The hostsweep::Error `work` throws; a test failure when it throws none.
std::optional<Error> error_of(const std::function<void()>& work) {
  try {
    work();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no hostsweep::Error thrown";
  return std::nullopt;
}

std::optional<Errc> code_of(const std::function<void()>& work) {
  auto error = error_of(work);
  return error ? std::optional<Errc>(error->code()) : std::nullopt;
}

bool has_journal(const store::SessionFiles& files) {
  return std::filesystem::exists(files.inbound().string() + "-journal");
}

TEST_F(StoreFaultsTest, AFileThatCannotBeOpenedIsTheStoresErrorAndNothingIsWritten) {
  StoreFaults faults;
  auto open = faults.add(StoreFault(StoreOp::open, StoreError::cantopen).where_file_ends_with("/s1/inbound.db"));
  auto error = error_of([&] { enqueue(s1, "m1"); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code(), Errc::not_found);
  EXPECT_NE(std::string(error->what()).find(s1.inbound().string() + ": cannot open"), std::string::npos) << error->what();
  EXPECT_EQ(open.fired(), 1);
  EXPECT_TRUE(ids_in(s1).empty());

  EXPECT_EQ(enqueue(s1, "m1").id, "m1");  // fired once: the next open is normal
  EXPECT_EQ(ids_in(s1), std::vector<std::string>{"m1"});
  EXPECT_EQ(open.fired(), 1);
  EXPECT_EQ(open.seen(), 2);
}

TEST_F(StoreFaultsTest, AnOpenFailingWithAnIoErrorSaysDiskIoError) {
  StoreFaults faults;
  faults.add(StoreFault(StoreOp::open, StoreError::io_error).where_file_ends_with("/s1/outbound.db"));
  auto error = error_of([&] { store::read_outbound(s1); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code(), Errc::io_error);
  EXPECT_EQ(std::string(error->what()), s1.outbound().string() + ": disk I/O error") << error->what();
  EXPECT_EQ(faults.fired(), 1);
  EXPECT_TRUE(store::read_outbound(s1).exists);
}

// create_session promises to leave nothing behind: a failure to open its new outbound.db, and
// one to commit its registry row, after its directory has been renamed into place.
TEST_F(StoreFaultsTest, ASessionWhoseCreationFailsLeavesNothingBehind) {
  const auto group_dir = s1.dir().parent_path();
  auto entries = [&] {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(group_dir)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  };
  {
    StoreFaults faults;
    auto open = faults.add(StoreFault(StoreOp::open, StoreError::cantopen).where_file_ends_with("/outbound.db"));
    EXPECT_TRUE(error_of([&] { store::create_session(data, "group", std::string("s3"), kNow); }));
    EXPECT_EQ(open.fired(), 1);
  }
  EXPECT_EQ(entries(), (std::vector<std::string>{"s1", "s2"}));
  {
    StoreFaults faults;
    auto commit = faults.add(StoreFault(StoreOp::commit, StoreError::io_error).where_file_contains("/hostsweep.db"));
    auto error = error_of([&] { store::create_session(data, "group", std::string("s3"), kNow); });
    ASSERT_TRUE(error);
    EXPECT_EQ(std::string(error->what()), data.registry().string() + ": disk I/O error") << error->what();
    EXPECT_EQ(commit.fired(), 1);
  }
  EXPECT_EQ(entries(), (std::vector<std::string>{"s1", "s2"}));
  EXPECT_EQ(store::list_sessions(data, false).size(), 2u);
  EXPECT_EQ(code_of([&] { store::find_session(data, "s3"); }), Errc::not_found);

  EXPECT_EQ(store::create_session(data, "group", std::string("s3"), kNow).record.id, "s3");
  EXPECT_EQ(entries(), (std::vector<std::string>{"s1", "s2", "s3"}));
}

TEST_F(StoreFaultsTest, AReadThatFailsIsADiskIoErrorAndTheNextReadWorks) {
  enqueue(s1, "m1");
  StoreFaults faults;
  auto read = faults.add(StoreFault(StoreOp::read, StoreError::io_error).where_file_ends_with("/s1/inbound.db"));
  auto error = error_of([&] { store::summarize_inbound(s1, kNow); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code(), Errc::io_error);
  EXPECT_EQ(std::string(error->what()), s1.inbound().string() + ": disk I/O error") << error->what();
  EXPECT_EQ(read.fired(), 1);
  EXPECT_EQ(store::summarize_inbound(s1, kNow).due_ids, std::vector<std::string>{"m1"});
}

TEST_F(StoreFaultsTest, AReadOfACorruptPageIsTheStoresCorruptFileError) {
  enqueue(s1, "m1");
  StoreFaults faults;
  faults.add(StoreFault(StoreOp::read, StoreError::corrupt).where_file_ends_with("/s1/inbound.db"));
  auto error = error_of([&] { store::read_message_states(s1, {"m1"}); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code(), Errc::corrupt_file);
  EXPECT_NE(std::string(error->what()).find("the database is corrupt"), std::string::npos) << error->what();
  EXPECT_EQ(store::read_message_states(s1, {"m1"}).size(), 1u);
}

// SQLite syncs the journal, then the database, at each commit: a failure at either fails the
// COMMIT, the transaction is rolled back, and the same write succeeds once the fault has passed.
TEST_F(StoreFaultsTest, ACommitWhoseSyncFailsIsRolledBackAndCanBeRetried) {
  enqueue(s1, "m0");
  int failed_syncs = 0;
  for (int n = 1; n <= 10; ++n) {
    const std::string id = "m" + std::to_string(n);
    std::optional<Error> error;
    int fired = 0;
    {
      StoreFaults faults;
      auto commit = faults.add(
          StoreFault(StoreOp::commit, StoreError::io_error).where_file_contains("/s1/inbound.db").on_call(n));
      try {
        enqueue(s1, id);
      } catch (const Error& e) {
        error = e;
      }
      fired = commit.fired();
    }
    if (fired == 0) {
      EXPECT_FALSE(error) << error->what();  // the commit made fewer than n syncs: it went through
      EXPECT_EQ(ids_in(s1).back(), id);
      break;
    }
    ++failed_syncs;
    ASSERT_TRUE(error) << "sync " << n << " failed, the enqueue did not";
    EXPECT_EQ(error->code(), Errc::io_error);
    EXPECT_EQ(std::string(error->what()), s1.inbound().string() + ": disk I/O error") << error->what();
    EXPECT_FALSE(has_journal(s1)) << "sync " << n << ": the rollback left a journal";
    EXPECT_EQ(ids_in(s1), std::vector<std::string>{"m0"}) << "sync " << n;
    // The retry, with the fault gone.
    EXPECT_EQ(enqueue(s1, id).seq, 4);
    EXPECT_EQ(ids_in(s1), (std::vector<std::string>{"m0", id}));
    SQLite::Database(s1.inbound().string(), SQLite::OPEN_READWRITE).exec("DELETE FROM messages_in WHERE id != 'm0'");
  }
  EXPECT_GE(failed_syncs, 2) << "a commit syncs its journal and its database";
}

TEST_F(StoreFaultsTest, AWriteToAFullDiskFailsTheTransactionWhole) {
  enqueue(s1, "m1");
  StoreFaults faults;
  auto write = faults.add(StoreFault(StoreOp::write, StoreError::full).where_file_contains("/s1/inbound.db"));
  auto error = error_of([&] { enqueue(s1, "m2"); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code(), Errc::io_error);
  EXPECT_EQ(std::string(error->what()), s1.inbound().string() + ": database or disk is full") << error->what();
  EXPECT_EQ(write.fired(), 1);
  EXPECT_EQ(ids_in(s1), std::vector<std::string>{"m1"});
  enqueue(s1, "m2");
  EXPECT_EQ(ids_in(s1), (std::vector<std::string>{"m1", "m2"}));
}

// A busy lock is retried by the store's busy handler: a short spell is waited out.
TEST_F(StoreFaultsTest, ABriefBusySpellIsWaitedOut) {
  StoreFaults faults;
  auto busy = faults.add(StoreFault(StoreOp::lock, StoreError::busy).where_file_ends_with("/s1/inbound.db").times(3));
  enqueue(s1, "m1");
  EXPECT_EQ(busy.fired(), 3);
  EXPECT_GT(busy.seen(), 3);  // the tries after them took the lock
  EXPECT_EQ(ids_in(s1), std::vector<std::string>{"m1"});
}

// One that lasts longer than its busy timeout (5 s) is the store's "still locked" error.
TEST_F(StoreFaultsTest, ALockThatStaysBusyIsTheStoresLockedError) {
  StoreFaults faults;
  auto busy = faults.add(StoreFault(StoreOp::lock, StoreError::busy).where_file_ends_with("/s1/inbound.db").always());
  auto error = error_of([&] { enqueue(s1, "m1"); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code(), Errc::io_error);
  EXPECT_NE(std::string(error->what()).find("still locked by another process"), std::string::npos) << error->what();
  EXPECT_GT(busy.fired(), 5);  // every try of the busy handler's
  EXPECT_EQ(busy.fired(), busy.seen());
  EXPECT_TRUE(ids_in(s1).empty());
}

TEST_F(StoreFaultsTest, ALockThatFailsWithAnIoErrorSaysSo) {
  StoreFaults faults;
  faults.add(StoreFault(StoreOp::lock, StoreError::io_error).where_file_ends_with("/s1/outbound.db"));
  auto error = error_of([&] { store::read_outbound(s1); });
  ASSERT_TRUE(error);
  EXPECT_EQ(std::string(error->what()), s1.outbound().string() + ": disk I/O error") << error->what();
}

// The host's writes to outbound.db: an orphan claim whose deletion fails stays, and goes at
// the next try.
TEST_F(StoreFaultsTest, AnOrphanClaimWhoseDeletionFailsToCommitStays) {
  enqueue(s1, "m1");
  container_claims(s1, "m1");
  auto lock = os::SessionLock::try_acquire(s1.lock());
  ASSERT_TRUE(lock);
  {
    StoreFaults faults;
    auto commit = faults.add(StoreFault(StoreOp::commit, StoreError::io_error).where_file_contains("/s1/outbound.db"));
    auto error = error_of([&] { store::delete_orphan_claims(s1, {"m1"}, *lock); });
    ASSERT_TRUE(error);
    EXPECT_EQ(std::string(error->what()), s1.outbound().string() + ": disk I/O error") << error->what();
    EXPECT_EQ(commit.fired(), 1);
    auto read = faults.add(StoreFault(StoreOp::read, StoreError::io_error).where_file_ends_with("/s1/outbound.db"));
    EXPECT_TRUE(error_of([&] { store::read_outbound(s1); }));
    EXPECT_EQ(read.fired(), 1);
  }
  EXPECT_EQ(store::read_outbound(s1).acks.size(), 1u);
  EXPECT_EQ(store::delete_orphan_claims(s1, {"m1"}, *lock), 1);
  EXPECT_TRUE(store::read_outbound(s1).acks.empty());
}

TEST_F(StoreFaultsTest, AnUnreadableRegistryIsReportedAndThenReadAgain) {
  StoreFaults faults;
  auto read = faults.add(StoreFault(StoreOp::read, StoreError::io_error).where_file_ends_with("/hostsweep.db"));
  auto error = error_of([&] { store::list_sessions(data, true); });
  ASSERT_TRUE(error);
  EXPECT_EQ(std::string(error->what()), data.registry().string() + ": disk I/O error") << error->what();
  EXPECT_EQ(store::list_sessions(data, true).size(), 2u);
  EXPECT_EQ(read.fired(), 1);
}

// "The N-th operation" counts only the operations a rule matches: its op, on its files.
TEST_F(StoreFaultsTest, OnCallAndTimesCountOnlyMatchingOperations) {
  StoreFaults faults;
  auto open = faults.add(
      StoreFault(StoreOp::open, StoreError::cantopen).where_file_ends_with("/s1/inbound.db").on_call(2).times(2));
  auto reads_of_s2 = faults.add(StoreFault(StoreOp::read, StoreError::io_error).where_file_contains("/s2/").on_call(1000));
  store::summarize_inbound(s2, kNow);  // not s1's file: not counted
  store::summarize_inbound(s1, kNow);  // the first
  EXPECT_TRUE(error_of([&] { store::summarize_inbound(s1, kNow); }));
  store::summarize_inbound(s2, kNow);
  EXPECT_TRUE(error_of([&] { store::summarize_inbound(s1, kNow); }));
  store::summarize_inbound(s1, kNow);  // past its two
  EXPECT_EQ(open.seen(), 4);
  EXPECT_EQ(open.fired(), 2);
  EXPECT_GT(reads_of_s2.seen(), 0);
  EXPECT_EQ(reads_of_s2.fired(), 0);
  EXPECT_EQ(faults.fired(), 2);
}

// When two rules would fail one operation, the first added does; both count it.
TEST_F(StoreFaultsTest, TheFirstRuleAddedFailsAnOperationTwoWould) {
  StoreFaults faults;
  auto first = faults.add(StoreFault(StoreOp::open, StoreError::io_error).where_file_ends_with("/s1/inbound.db"));
  auto second = faults.add(StoreFault(StoreOp::open, StoreError::cantopen).where_file_contains("inbound.db").times(2));
  auto error = error_of([&] { store::summarize_inbound(s1, kNow); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code(), Errc::io_error);
  EXPECT_EQ(first.fired(), 1);
  EXPECT_EQ(second.fired(), 0);
  error = error_of([&] { store::summarize_inbound(s1, kNow); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code(), Errc::not_found);  // cannot open
  EXPECT_EQ(second.seen(), 2);
  EXPECT_EQ(second.fired(), 1);
}

TEST_F(StoreFaultsTest, DestroyingTheFaultsRestoresNormalBehaviour) {
  std::optional<StoreFaults::Rule> rule;
  {
    StoreFaults faults;
    rule = faults.add(StoreFault(StoreOp::open, StoreError::io_error).always());
    EXPECT_TRUE(error_of([&] { enqueue(s1, "m1"); }));
    EXPECT_TRUE(error_of([&] { store::list_sessions(data, true); }));
  }
  EXPECT_EQ(rule->fired(), 2);  // still readable: the counts outlive the faults
  enqueue(s1, "m1");
  EXPECT_EQ(store::list_sessions(data, true).size(), 2u);
  EXPECT_EQ(ids_in(s1), std::vector<std::string>{"m1"});
  EXPECT_EQ(rule->fired(), 2);
}

// A connection opened before the faults is not wrapped, and never asks them.
TEST_F(StoreFaultsTest, AConnectionOpenedBeforeTheFaultsIsNotAffected) {
  enqueue(s1, "m1");
  store::InboundDb db(s1);
  StoreFaults faults;
  auto read = faults.add(StoreFault(StoreOp::read, StoreError::io_error).always());
  EXPECT_EQ(db.summarize(kNow).due_ids, std::vector<std::string>{"m1"});
  EXPECT_EQ(read.fired(), 0);
  EXPECT_TRUE(error_of([&] { store::summarize_inbound(s1, kNow); }));
}

TEST_F(StoreFaultsTest, OnlyOneStoreFaultsAtATime) {
  std::optional<StoreFaults> first(std::in_place);
  auto error = error_of([] { StoreFaults second; });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code(), Errc::invalid_argument);
  EXPECT_NE(std::string(error->what()).find("already alive"), std::string::npos) << error->what();
  first.reset();
  StoreFaults again;  // the first has gone
  EXPECT_EQ(again.fired(), 0);
}

TEST_F(StoreFaultsTest, AnErrorThatDoesNotFitItsOpIsRefused) {
  StoreFaults faults;
  const std::vector<std::pair<StoreOp, StoreError>> misfits{
      {StoreOp::read, StoreError::busy},      {StoreOp::open, StoreError::full},
      {StoreOp::commit, StoreError::corrupt}, {StoreOp::lock, StoreError::cantopen},
      {StoreOp::write, StoreError::busy},
  };
  for (auto [op, error] : misfits) {
    auto refused = error_of([&] { faults.add(StoreFault(op, error)); });
    ASSERT_TRUE(refused) << to_string(op) << " " << to_string(error);
    EXPECT_EQ(refused->code(), Errc::invalid_argument);
    EXPECT_NE(std::string(refused->what()).find(std::string(to_string(op)) + " cannot be " + to_string(error)),
              std::string::npos)
        << refused->what();
  }
  EXPECT_EQ(code_of([] { StoreFault(StoreOp::read, StoreError::io_error).on_call(0); }), Errc::invalid_argument);
  EXPECT_EQ(code_of([] { StoreFault(StoreOp::read, StoreError::io_error).times(0); }), Errc::invalid_argument);
  enqueue(s1, "m1");  // no rule was added
  EXPECT_EQ(faults.fired(), 0);
}

}  // namespace
}  // namespace hostsweep::testing
