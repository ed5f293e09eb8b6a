// The session store on real SQLite files in a temporary directory.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "hostsweep/error.hpp"
#include "os/session_lock.hpp"
#include "store/inbound_store.hpp"
#include "store/outbound_store.hpp"
#include "hostsweep/store/registry.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::store {
namespace {

using namespace std::chrono;
using hostsweep::testing::TempDir;

const TimePoint kNow = TimePoint{sys_days{year{2026} / 3 / 8} + 12h};

class StoreTest : public ::testing::Test {
 protected:
  TempDir tmp;
  DataDir data{tmp.path() / "data"};

  Session make_session(const std::string& id = "s1") { return create_session(data, "group", id, kNow); }

  // The container's side of outbound.db, written as a container would.
  static void container_ack(const SessionFiles& files, const std::string& id, const std::string& status,
                            const std::string& when) {
    SQLite::Database db(files.outbound().string(), SQLite::OPEN_READWRITE);
    SQLite::Statement q(db, "INSERT OR REPLACE INTO processing_ack (message_id, status, status_changed) VALUES (?, ?, ?)");
    q.bind(1, id);
    q.bind(2, status);
    q.bind(3, when);
    q.exec();
  }

  static SQLite::Database inbound_db(const SessionFiles& files) {
    return SQLite::Database(files.inbound().string(), SQLite::OPEN_READWRITE);
  }

  static void set_row(const SessionFiles& files, const std::string& id, int tries, const char* process_after) {
    auto db = inbound_db(files);
    SQLite::Statement q(db, "UPDATE messages_in SET tries = ?, process_after = ? WHERE id = ?");
    q.bind(1, tries);
    if (process_after) q.bind(2, process_after);
    else q.bind(2);
    q.bind(3, id);
    q.exec();
  }

  static std::string column(const SessionFiles& files, const std::string& id, const std::string& name) {
    auto db = inbound_db(files);
    SQLite::Statement q(db, "SELECT " + name + " FROM messages_in WHERE id = ?");
    q.bind(1, id);
    if (!q.executeStep()) return "<no row>";
    return q.getColumn(0).isNull() ? "<null>" : q.getColumn(0).getString();
  }
};

Errc error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "no hostsweep::Error thrown";
  return Errc::io_error;
}

TEST_F(StoreTest, CreateSessionBuildsBothFilesWithTheirSchemas) {
  auto s = make_session();
  EXPECT_TRUE(std::filesystem::is_directory(s.files.outbox()));
  EXPECT_EQ(s.files.dir(), tmp.path() / "data" / "sessions" / "group" / "s1");
  SQLite::Database in(s.files.inbound().string());
  for (const char* table : {"messages_in", "delivered", "destinations", "session_routing"}) {
    EXPECT_TRUE(in.tableExists(table)) << table;
  }
  EXPECT_EQ(in.execAndGet("PRAGMA journal_mode").getString(), "delete");
  SQLite::Database out(s.files.outbound().string());
  for (const char* table : {"processing_ack", "container_state", "messages_out", "session_state"}) {
    EXPECT_TRUE(out.tableExists(table)) << table;
  }
  EXPECT_EQ(out.execAndGet("PRAGMA journal_mode").getString(), "delete");

  auto listed = list_sessions(data, true);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].record.agent_group_id, "group");
  EXPECT_EQ(listed[0].record.status, "active");
  EXPECT_EQ(find_session(data, "s1").files.dir(), s.files.dir());
}

TEST_F(StoreTest, CreateSessionGeneratesAValidId) {
  auto s = create_session(data, "group", std::nullopt, kNow);
  EXPECT_TRUE(is_valid_id(s.record.id)) << s.record.id;
  EXPECT_EQ(s.record.id.rfind("sess-", 0), 0u);
}

TEST_F(StoreTest, InvalidIdsWriteNothing) {
  for (const char* bad : {"../x", "", ".hidden", "a/b", "x y", "-dash"}) {
    EXPECT_EQ(error_of([&] { create_session(data, "group", std::string(bad), kNow); }), Errc::invalid_argument) << bad;
    EXPECT_EQ(error_of([&] { create_session(data, bad, std::string("ok"), kNow); }), Errc::invalid_argument) << bad;
  }
  EXPECT_EQ(error_of([&] { create_session(data, "group", std::string(129, 'a'), kNow); }), Errc::invalid_argument);
  EXPECT_FALSE(std::filesystem::exists(data.root()));
}

TEST_F(StoreTest, ATakenIdIsRefusedAndTheFirstSessionIsUntouched) {
  auto s = make_session();
  enqueue(s.files, {.content = "keep me"}, kNow);
  EXPECT_EQ(error_of([&] { make_session(); }), Errc::already_exists);
  EXPECT_EQ(summarize_inbound(s.files, kNow).count_by_status["pending"], 1);
  // A directory that exists without a registry row is not overwritten either.
  std::filesystem::create_directories(data.sessions_root() / "group" / "s2");
  EXPECT_EQ(error_of([&] { make_session("s2"); }), Errc::already_exists);
  EXPECT_EQ(list_sessions(data, false).size(), 1u);
  // No staging directory is left behind.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(data.sessions_root() / "group")) ++entries;
  EXPECT_EQ(entries, 2);
}

TEST_F(StoreTest, LookupErrorsNameWhatIsWrong) {
  EXPECT_EQ(error_of([&] { find_session(data, "s1"); }), Errc::not_found);  // no data dir yet
  make_session();
  EXPECT_EQ(error_of([&] { find_session(data, "nope"); }), Errc::not_found);
  EXPECT_EQ(error_of([&] { find_session(data, "../s1"); }), Errc::invalid_argument);
  std::filesystem::remove(data.sessions_root() / "group" / "s1" / "inbound.db");
  EXPECT_EQ(error_of([&] { find_session(data, "s1"); }), Errc::corrupt_file);
}

TEST_F(StoreTest, EnqueueWritesEvenSeqAndSeriesId) {
  auto s = make_session();
  auto a = enqueue(s.files, {.content = "a"}, kNow);
  auto b = enqueue(s.files, {.id = "b", .kind = "task", .content = "b"}, kNow);
  EXPECT_EQ(a.seq, 2);
  EXPECT_EQ(b.seq, 4);
  EXPECT_EQ(column(s.files, "b", "series_id"), "b");
  EXPECT_EQ(column(s.files, "b", "kind"), "task");
  EXPECT_EQ(column(s.files, "b", "status"), "pending");
  EXPECT_EQ(column(s.files, "b", "tries"), "0");
  EXPECT_EQ(column(s.files, "b", "\"trigger\""), "1");
  EXPECT_EQ(column(s.files, "b", "timestamp"), "2026-03-08T12:00:00.000Z");
  // An odd maximum (written by someone else) rounds up to the next even number.
  inbound_db(s.files).exec("UPDATE messages_in SET seq = 7 WHERE id = 'b'");
  EXPECT_EQ(enqueue(s.files, {.content = "c"}, kNow).seq, 8);
}

TEST_F(StoreTest, EnqueueRefusesADuplicateIdAndEmptyContent) {
  auto s = make_session();
  enqueue(s.files, {.id = "m", .content = "first"}, kNow);
  EXPECT_EQ(error_of([&] { enqueue(s.files, {.id = "m", .content = "second"}, kNow); }), Errc::already_exists);
  EXPECT_EQ(error_of([&] { enqueue(s.files, {.content = ""}, kNow); }), Errc::invalid_argument);
  EXPECT_EQ(column(s.files, "m", "content"), "first");
}

TEST_F(StoreTest, ProcessAfterIsWrittenAsUtc) {
  auto s = make_session();
  enqueue(s.files, {.id = "m", .content = "x", .process_after = policy::parse_timestamp("2026-03-08T08:00:00-05:00")}, kNow);
  EXPECT_EQ(column(s.files, "m", "process_after"), "2026-03-08T13:00:00.000Z");
}

TEST_F(StoreTest, DueCountsMixedTimestampFormsAsUtc) {
  auto s = make_session();
  enqueue(s.files, {.id = "now", .content = "x"}, kNow);
  enqueue(s.files, {.id = "ctx", .content = "x", .trigger = false}, kNow);
  for (const char* id : {"past-sqlite", "past-offset", "future-sqlite", "future-offset", "garbled", "done"}) {
    enqueue(s.files, {.id = id, .content = "x"}, kNow);
  }
  set_row(s.files, "past-sqlite", 0, "2026-03-08 11:59:59");
  set_row(s.files, "past-offset", 0, "2026-03-08T13:30:00+0200");     // 11:30Z
  set_row(s.files, "future-sqlite", 0, "2026-03-08 12:00:01");
  set_row(s.files, "future-offset", 0, "2026-03-08T06:00:05-06:00");  // 12:00:05Z
  set_row(s.files, "garbled", 0, "tomorrow-ish");
  inbound_db(s.files).exec("UPDATE messages_in SET status = 'completed' WHERE id = 'done'");

  auto summary = summarize_inbound(s.files, kNow);
  std::sort(summary.due_ids.begin(), summary.due_ids.end());
  EXPECT_EQ(summary.due_ids, (std::vector<std::string>{"garbled", "now", "past-offset", "past-sqlite"}));
  EXPECT_EQ(summary.unreadable_ids, std::vector<std::string>{"garbled"});
  EXPECT_EQ(summary.next_due, kNow + 1s);
  // The last of the due ones to come due: 11:59:59 (a garbled time is due, but at no known time).
  EXPECT_EQ(summary.due_since, kNow - 1s);
  EXPECT_EQ(summary.count_by_status["pending"], 7);
  EXPECT_EQ(summary.count_by_status["completed"], 1);
}

TEST_F(StoreTest, AnOldInboundFileIsUpgradedInPlace) {
  auto s = make_session();
  std::filesystem::remove(s.files.inbound());
  {
    // The first version of the schema: no series_id, trigger, source_session_id, on_wake.
    SQLite::Database old(s.files.inbound().string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    old.exec(R"sql(
      CREATE TABLE messages_in (id TEXT PRIMARY KEY, seq INTEGER UNIQUE, kind TEXT NOT NULL, timestamp TEXT NOT NULL,
        status TEXT DEFAULT 'pending', process_after TEXT, recurrence TEXT, tries INTEGER DEFAULT 0,
        platform_id TEXT, channel_type TEXT, thread_id TEXT, content TEXT NOT NULL);
      INSERT INTO messages_in (id, seq, kind, timestamp, content) VALUES ('old', 2, 'chat', '2026-01-01 00:00:00', 'x');
    )sql");
  }
  // The first open upgrades it, so even a read sees the old row as due.
  EXPECT_EQ(summarize_inbound(s.files, kNow).due_ids, std::vector<std::string>{"old"});
  EXPECT_EQ(column(s.files, "old", "series_id"), "old");
  EXPECT_EQ(column(s.files, "old", "\"trigger\""), "1");
  EXPECT_EQ(column(s.files, "old", "on_wake"), "0");
  EXPECT_EQ(column(s.files, "old", "source_session_id"), "<null>");
  SQLite::Database db(s.files.inbound().string());
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM sqlite_schema WHERE name = 'idx_messages_in_series'").getInt(), 1);
  // New rows land after the old ones, and a second open changes nothing.
  EXPECT_EQ(enqueue(s.files, {.content = "new"}, kNow).seq, 4);
  EXPECT_EQ(summarize_inbound(s.files, kNow).due_ids.size(), 2u);
}

TEST_F(StoreTest, AFileThatIsNotASessionIsRefused) {
  auto s = make_session();
  hostsweep::testing::write_file(s.files.inbound(), "this is not a database, just text that is long enough to look like one");
  EXPECT_EQ(error_of([&] { summarize_inbound(s.files, kNow); }), Errc::corrupt_file);
  EXPECT_EQ(error_of([&] { enqueue(s.files, {.content = "x"}, kNow); }), Errc::corrupt_file);
  std::filesystem::remove(s.files.inbound());
  SQLite::Database(s.files.inbound().string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE).exec("CREATE TABLE other (x)");
  EXPECT_EQ(error_of([&] { summarize_inbound(s.files, kNow); }), Errc::corrupt_file);
  hostsweep::testing::write_file(s.files.outbound(), "garbage garbage garbage garbage garbage garbage garbage garbage");
  EXPECT_EQ(error_of([&] { read_outbound(s.files); }), Errc::corrupt_file);
}

// The operator may put the data directory anywhere, a symlink on the way included (only the
// files a container controls are refused as symlinks): every file is opened, written and
// read through the link, and no journal is left behind, here or at the link's target.
TEST_F(StoreTest, ADataDirectoryReachedThroughASymlinkWorks) {
  std::filesystem::create_directories(tmp.path() / "real");
  std::filesystem::create_directory_symlink(tmp.path() / "real", tmp.path() / "link");
  DataDir linked{tmp.path() / "link" / "data"};
  auto s = create_session(linked, "group", "s1", kNow);
  auto id = enqueue(s.files, {.content = "x"}, kNow).id;
  EXPECT_EQ(summarize_inbound(s.files, kNow).due_ids, std::vector<std::string>{id});
  container_ack(s.files, id, "completed", "2026-03-08 12:00:01");
  EXPECT_EQ(settle_acks(s.files, read_outbound(s.files).acks).size(), 1u);
  EXPECT_EQ(find_session(linked, "s1").files.inbound(), s.files.inbound());
  for (const auto& entry : std::filesystem::recursive_directory_iterator(tmp.path() / "real")) {
    EXPECT_EQ(entry.path().string().find("-journal"), std::string::npos) << entry.path();
  }
}

// A relative data directory is taken from the working directory, as any path is.
TEST_F(StoreTest, ARelativeDataDirectoryWorks) {
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(tmp.path());
  DataDir relative{"data"};
  auto s = create_session(relative, "group", "s1", kNow);
  auto id = enqueue(s.files, {.content = "x"}, kNow).id;
  EXPECT_EQ(summarize_inbound(s.files, kNow).due_ids, std::vector<std::string>{id});
  std::filesystem::current_path(cwd);
  EXPECT_EQ(summarize_inbound(data.session("group", "s1"), kNow).due_ids, std::vector<std::string>{id});
}

TEST_F(StoreTest, SettleAcksIsIdempotentAndKeepsFailuresFailed) {
  auto s = make_session();
  for (const char* id : {"a", "b", "c", "d"}) enqueue(s.files, {.id = id, .content = "x"}, kNow);
  inbound_db(s.files).exec("UPDATE messages_in SET status = 'paused' WHERE id = 'd'");
  container_ack(s.files, "a", "completed", "2026-03-08 11:00:00");
  container_ack(s.files, "b", "failed", "2026-03-08 11:00:00");
  container_ack(s.files, "c", "processing", "2026-03-08 11:00:00");
  container_ack(s.files, "d", "completed", "2026-03-08 11:00:00");
  container_ack(s.files, "ghost", "completed", "2026-03-08 11:00:00");
  auto acks = read_outbound(s.files).acks;
  auto settled = settle_acks(s.files, acks);
  ASSERT_EQ(settled.size(), 2u);
  EXPECT_EQ(column(s.files, "a", "status"), "completed");
  EXPECT_EQ(column(s.files, "b", "status"), "failed");
  EXPECT_EQ(column(s.files, "c", "status"), "pending");
  EXPECT_EQ(column(s.files, "d", "status"), "paused");
  // The container re-marks with a newer time: nothing changes again.
  container_ack(s.files, "a", "completed", "2026-03-08 11:05:00");
  EXPECT_TRUE(settle_acks(s.files, read_outbound(s.files).acks).empty());
}

// A plan is applied to what the file is when the write runs: a row another writer settled or
// paused since the plan was made is left as that writer left it.
TEST_F(StoreTest, PlannedSettlementsSkipRowsNoLongerPending) {
  auto s = make_session();
  for (const char* id : {"a", "b", "c"}) enqueue(s.files, {.id = id, .content = "x"}, kNow);
  for (const char* id : {"a", "b", "c"}) container_ack(s.files, id, "completed", "2026-03-08 11:00:00");
  InboundDb db(s.files);
  const auto planned = policy::decide_settlements(read_outbound(s.files).acks, db.message_states({"a", "b", "c"}));
  ASSERT_EQ(planned.size(), 3u);
  inbound_db(s.files).exec("UPDATE messages_in SET status = 'paused' WHERE id = 'b'");
  inbound_db(s.files).exec("UPDATE messages_in SET status = 'failed' WHERE id = 'c'");
  const auto applied = db.settle(planned);
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_EQ(applied[0].message_id, "a");
  EXPECT_EQ(column(s.files, "a", "status"), "completed");
  EXPECT_EQ(column(s.files, "b", "status"), "paused");
  EXPECT_EQ(column(s.files, "c", "status"), "failed");
}

// Statuses the host does not know are read as `unknown` and left alone by every step.
TEST_F(StoreTest, AnUnknownStatusIsReadAsUnknownAndLeftAlone) {
  auto s = make_session();
  enqueue(s.files, {.id = "odd", .content = "x"}, kNow);
  inbound_db(s.files).exec("UPDATE messages_in SET status = 'archived' WHERE id = 'odd'");
  container_ack(s.files, "odd", "completed", "2026-03-08 11:00:00");
  container_ack(s.files, "x", "half-done", "2026-03-08 11:00:00");
  EXPECT_EQ(read_message_states(s.files, {"odd"}).at("odd").status, policy::MessageStatus::unknown);
  const auto acks = read_outbound(s.files).acks;
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(acks[1].status, policy::AckStatus::unknown);
  EXPECT_TRUE(settle_acks(s.files, acks).empty());
  EXPECT_EQ(retry_orphans(s.files, {"odd"}, {}, kNow)[0].decision.action, policy::RetryAction::leave);
  EXPECT_EQ(column(s.files, "odd", "status"), "archived");
  EXPECT_EQ(summarize_inbound(s.files, kNow).count_by_status["archived"], 1);  // shown as written
}

TEST_F(StoreTest, RetryBacksOffAndIsIdempotent) {
  auto s = make_session();
  enqueue(s.files, {.id = "m", .content = "x"}, kNow);
  set_row(s.files, "m", 2, nullptr);
  auto first = retry_orphans(s.files, {"m"}, {}, kNow);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].decision.action, policy::RetryAction::retry);
  EXPECT_EQ(column(s.files, "m", "tries"), "3");
  EXPECT_EQ(column(s.files, "m", "process_after"), "2026-03-08T12:00:20.000Z");  // 5 s * 2^2
  // Again, before the backoff elapsed (a second sweep, or a crash before the claim was deleted).
  auto second = retry_orphans(s.files, {"m"}, {}, kNow + 10s);
  EXPECT_EQ(second[0].decision.action, policy::RetryAction::leave);
  EXPECT_EQ(column(s.files, "m", "tries"), "3");
  EXPECT_EQ(column(s.files, "m", "process_after"), "2026-03-08T12:00:20.000Z");
}

TEST_F(StoreTest, RetryFailsAtMaxTriesAndSkipsUnknownAndSettled) {
  auto s = make_session();
  enqueue(s.files, {.id = "tired", .content = "x"}, kNow);
  enqueue(s.files, {.id = "done", .content = "x"}, kNow);
  set_row(s.files, "tired", 5, "2026-03-08 11:00:00");
  inbound_db(s.files).exec("UPDATE messages_in SET status = 'completed' WHERE id = 'done'");
  auto out = retry_orphans(s.files, {"tired", "done", "ghost"}, {}, kNow);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(column(s.files, "tired", "status"), "failed");
  EXPECT_EQ(column(s.files, "tired", "tries"), "5");
  EXPECT_EQ(column(s.files, "done", "status"), "completed");
}

TEST_F(StoreTest, OrphanDeletionLeavesCompletedAndFailedAcks) {
  auto s = make_session();
  container_ack(s.files, "p1", "processing", "2026-03-08 11:00:00");
  container_ack(s.files, "p2", "processing", "2026-03-08 11:00:00");
  container_ack(s.files, "c", "completed", "2026-03-08 11:00:00");
  container_ack(s.files, "f", "failed", "2026-03-08 11:00:00");
  auto lock = os::SessionLock::try_acquire(s.files.lock());
  ASSERT_TRUE(lock);
  EXPECT_EQ(delete_orphan_claims(s.files, {"p1", "p2", "c", "f"}, *lock), 2);
  auto acks = read_outbound(s.files).acks;
  ASSERT_EQ(acks.size(), 2u);
  for (const auto& ack : acks) EXPECT_NE(ack.status, policy::AckStatus::processing) << ack.message_id;
}

// The settled history is not held in memory, and nothing a pass decides changes for it.
TEST_F(StoreTest, APassCanReadOnlyTheAcksItCanActOn) {
  auto s = make_session();
  for (const char* id : {"todo", "claimed", "old", "new", "unreadable"}) enqueue(s.files, {.id = id, .content = "x"}, kNow);
  inbound_db(s.files).exec("UPDATE messages_in SET status = 'completed' WHERE id IN ('old', 'new', 'unreadable')");
  container_ack(s.files, "todo", "completed", "2026-03-08 11:50:00");     // to settle
  container_ack(s.files, "claimed", "processing", "2026-03-08 11:40:00");  // a claim
  container_ack(s.files, "old", "completed", "2026-03-08 11:00:00");       // settled
  container_ack(s.files, "new", "failed", "2026-03-08T11:55:30.000Z");    // settled, the latest sign of life
  container_ack(s.files, "unreadable", "completed", "not a time");         // settled, never life
  container_ack(s.files, "ghost", "completed", "2026-03-08 11:10:00");     // no such message
  container_ack(s.files, "odd", "whatever", "2026-03-08 11:20:00");        // not settled: kept as the policy sees it

  const auto all = read_outbound(s.files).acks;
  ASSERT_EQ(all.size(), 7u);
  const auto pending = InboundDb(s.files).pending_ids();
  EXPECT_EQ(std::set<std::string>(pending.begin(), pending.end()), (std::set<std::string>{"todo", "claimed"}));
  const auto needed = read_outbound(s.files, {.pending_ids = pending}).acks;
  std::set<std::string> kept;
  for (const auto& ack : needed) kept.insert(ack.message_id);
  EXPECT_EQ(kept, (std::set<std::string>{"todo", "claimed", "new", "odd"}));

  const auto states = read_message_states(s.files, {"todo", "claimed", "old", "new", "unreadable", "ghost", "odd"});
  auto settled = [](const std::vector<policy::Settlement>& v) {
    std::set<std::string> ids;
    for (const auto& x : v) ids.insert(x.message_id + "=" + policy::to_string(x.status));
    return ids;
  };
  EXPECT_EQ(settled(policy::decide_settlements(needed, states)), settled(policy::decide_settlements(all, states)));
  EXPECT_EQ(policy::claimed_ids(needed), policy::claimed_ids(all));
  // Liveness, for containers started before and after each ack, judged at several times.
  for (auto start : {kNow - 2h, kNow - 55min, kNow - 5min}) {
    for (auto now : {kNow, kNow + 20min, kNow + 40min}) {
      auto with = [&](const std::vector<policy::Ack>& acks) {
        auto d = policy::decide_stuck({}, {now, start, std::nullopt, policy::ack_facts(acks), std::nullopt});
        return std::string(policy::to_string(d.verdict)) + " " + d.reason;
      };
      EXPECT_EQ(with(needed), with(all)) << policy::format_iso8601(start) << " " << policy::format_iso8601(now);
    }
  }
}

TEST_F(StoreTest, ContainerStateIsReadAndAMissingTableMeansNoTool) {
  auto s = make_session();
  EXPECT_FALSE(read_outbound(s.files).tool);
  {
    SQLite::Database db(s.files.outbound().string(), SQLite::OPEN_READWRITE);
    db.exec("INSERT INTO container_state (id, current_tool, tool_declared_timeout_ms, tool_started_at, updated_at) "
            "VALUES (1, 'Bash', 600000, '2026-03-08 11:59:00', '2026-03-08 11:59:00')");
  }
  auto tool = read_outbound(s.files).tool;
  ASSERT_TRUE(tool);
  EXPECT_EQ(tool->current_tool, "Bash");
  EXPECT_EQ(tool->declared_timeout_ms, 600000);
  SQLite::Database(s.files.outbound().string(), SQLite::OPEN_READWRITE).exec("DROP TABLE container_state");
  EXPECT_FALSE(read_outbound(s.files).tool);
  std::filesystem::remove(s.files.outbound());
  EXPECT_FALSE(read_outbound(s.files).exists);
}

TEST_F(StoreTest, HeartbeatIsTheFileMtime) {
  auto s = make_session();
  EXPECT_FALSE(read_heartbeat(s.files));
  hostsweep::testing::write_file(s.files.heartbeat(), "");
  std::filesystem::last_write_time(s.files.heartbeat(), std::filesystem::file_time_type::clock::now() - 1h);
  auto mtime = read_heartbeat(s.files);
  ASSERT_TRUE(mtime);
  EXPECT_GT(policy::now_utc() - *mtime, 59min);
  EXPECT_LT(policy::now_utc() - *mtime, 2h);
}

// A container's write in progress makes the host wait (PROTOCOL.md invariant 3: a busy timeout
// on every connection), then read what it committed; it is never an error.
TEST_F(StoreTest, AReaderWaitsForAWriterThenSeesItsCommit) {
  auto s = make_session();
  auto writer = inbound_db(s.files);
  writer.exec("BEGIN EXCLUSIVE");  // readers are locked out until the commit
  writer.exec("INSERT INTO messages_in (id, seq, kind, timestamp, content) VALUES ('m', 2, 'chat', '2026-03-08T12:00:00Z', 'x')");
  std::thread committer([&] {
    std::this_thread::sleep_for(100ms);
    writer.exec("COMMIT");
  });
  auto summary = summarize_inbound(s.files, kNow);
  committer.join();
  EXPECT_EQ(summary.due_ids, std::vector<std::string>{"m"});
}

}  // namespace
}  // namespace hostsweep::store
