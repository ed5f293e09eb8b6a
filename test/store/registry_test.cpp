// The registry with rows that no hostsweep wrote (FAILURE-MODES.md 20): a bad row is
// skipped and reported once, and every good session is still listed, found, shown and swept.
#include "hostsweep/store/registry.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>

#include "hostsweep/error.hpp"
#include "support/run_program.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::testing {

// From json_writer_test.cpp: no C0/C1 control, DEL, line separator or bidi control; valid UTF-8.
bool is_inert(std::string_view s);
std::optional<std::map<std::string, std::string>> parse_json(std::string_view text);

namespace {

using namespace std::chrono;
using namespace std::string_literals;
using store::DataDir;

const TimePoint kNow = TimePoint{sys_days{year{2026} / 3 / 8} + 12h};

class RegistryTest : public ::testing::Test {
 protected:
  TempDir tmp;
  DataDir data{tmp.path() / "data"};

  // Good sessions s1 (row 1) and s3 (row 2), then the registry's constraints dropped, as a
  // tool that ignored the schema would leave it, so that any row at all can be written.
  void SetUp() override {
    store::create_session(data, "group", "s1"s, kNow);
    store::create_session(data, "group", "s3"s, kNow);
    SQLite::Database db(data.registry().string(), SQLite::OPEN_READWRITE);
    db.exec(R"sql(
      CREATE TABLE loose (id, agent_group_id, status, container_status, last_active, created_at);
      INSERT INTO loose SELECT * FROM sessions ORDER BY rowid;
      DROP TABLE sessions;
      ALTER TABLE loose RENAME TO sessions;)sql");
  }

  // Inserts a row and returns its rowid. A null optional is SQL NULL.
  std::int64_t insert(const std::optional<std::string>& id, const std::optional<std::string>& group,
                      const char* status = "active") {
    SQLite::Database db(data.registry().string(), SQLite::OPEN_READWRITE);
    SQLite::Statement q(db, "INSERT INTO sessions VALUES (?, ?, ?, 'stopped', NULL, '2026-03-08T12:00:00.000Z')");
    if (id) q.bind(1, *id);
    if (group) q.bind(2, *group);
    q.bind(3, status);
    q.exec();
    return db.getLastInsertRowid();
  }

  std::int64_t insert_blob_id(const std::string& bytes) {
    SQLite::Database db(data.registry().string(), SQLite::OPEN_READWRITE);
    SQLite::Statement q(db, "INSERT INTO sessions VALUES (?, 'group', 'active', 'stopped', NULL, '')");
    q.bind(1, static_cast<const void*>(bytes.data()), static_cast<int>(bytes.size()));
    q.exec();
    return db.getLastInsertRowid();
  }

  std::string row(std::int64_t rowid) const { return data.registry().string() + " row " + std::to_string(rowid) + ": "; }
};

std::vector<std::string> ids(const std::vector<store::Session>& sessions) {
  std::vector<std::string> out;
  for (const auto& s : sessions) out.push_back(s.record.id);
  return out;
}

// The one bad-row error whose message starts with `prefix`; fails unless there is exactly one.
std::string message_of(const store::SessionListing& listing, const std::string& prefix) {
  std::vector<std::string> found;
  for (const auto& e : listing.bad_rows) {
    if (std::string_view(e.what()).substr(0, prefix.size()) == prefix) found.emplace_back(e.what());
  }
  EXPECT_EQ(found.size(), 1u) << prefix;
  return found.empty() ? "" : found[0];
}

TEST_F(RegistryTest, EachBadRowIsSkippedWithOneErrorThatNamesIt) {
  const auto null_id = insert(std::nullopt, "group"s);
  const auto dotdot = insert("../x"s, "group"s);
  const auto newline = insert("s2\nERROR forged"s, "group"s);
  const auto empty = insert(""s, "group"s);
  const auto huge = insert(std::string(10 * 1024, 'a'), "group"s);
  const auto null_group = insert("s4"s, std::nullopt);
  const auto bad_group = insert("s5"s, "../../etc"s);
  const auto blob = insert_blob_id("s6");
  const auto dup_same = insert("s1"s, "group"s);
  const auto dup_other = insert("s3"s, "elsewhere"s);
  const auto escape = insert("\x1b[31mred\xff"s, "group"s);

  auto listing = store::list_sessions_checked(data, false);
  EXPECT_EQ(ids(listing.sessions), (std::vector<std::string>{"s1", "s3"}));
  EXPECT_EQ(listing.sessions[0].files.dir(), data.sessions_root() / "group" / "s1");
  EXPECT_EQ(listing.sessions[1].record.agent_group_id, "group") << "the first row inserted is the session";
  ASSERT_EQ(listing.bad_rows.size(), 11u);
  for (const auto& e : listing.bad_rows) {
    EXPECT_EQ(e.code(), Errc::corrupt_file) << e.what();
    EXPECT_EQ(std::string_view(e.what()).find('\n'), std::string_view::npos) << e.what();
    EXPECT_LT(std::string_view(e.what()).size(), 600u) << "a 10 KB id is cut short";
  }
  EXPECT_EQ(message_of(listing, row(null_id)), row(null_id) + "its session id is NULL");
  EXPECT_NE(message_of(listing, row(dotdot)).find("invalid session id \"../x\""), std::string::npos);
  EXPECT_NE(message_of(listing, row(newline)).find("invalid session id \"s2\\x0aERROR forged\""), std::string::npos);
  EXPECT_NE(message_of(listing, row(empty)).find("invalid session id \"\""), std::string::npos);
  EXPECT_NE(message_of(listing, row(huge)).find("invalid session id \"aaaa"), std::string::npos);
  EXPECT_EQ(message_of(listing, row(null_group)), row(null_group) + "session \"s4\": its agent group id is NULL");
  EXPECT_NE(message_of(listing, row(bad_group)).find("session \"s5\": invalid agent group id \"../../etc\""),
            std::string::npos);
  EXPECT_EQ(message_of(listing, row(blob)), row(blob) + "its session id is not text");
  EXPECT_EQ(message_of(listing, row(dup_same)), row(dup_same) + "a second row for session \"s1\" (the first is row 1)");
  EXPECT_EQ(message_of(listing, row(dup_other)), row(dup_other) + "a second row for session \"s3\" (the first is row 2)");
  EXPECT_NE(message_of(listing, row(escape)).find("invalid session id \"\\x1b[31mred"), std::string::npos);

  // The old call lists the same good sessions and throws for none of the rows.
  EXPECT_EQ(ids(store::list_sessions(data, false)), (std::vector<std::string>{"s1", "s3"}));
  EXPECT_EQ(ids(store::list_sessions(data, true)), (std::vector<std::string>{"s1", "s3"}));
}

TEST_F(RegistryTest, ActiveOnlyJudgesOnlyTheRowsThatWouldBeSupervised) {
  insert("../stopped"s, "group"s, "stopped");  // bad, but never supervised
  const auto active_bad = insert("../x"s, "group"s);
  insert("s7"s, "group"s, "stopped");
  const auto revived = insert("s7"s, "group"s);  // an active second row behind an inactive first one

  auto active = store::list_sessions_checked(data, true);
  EXPECT_EQ(ids(active.sessions), (std::vector<std::string>{"s1", "s3"}));
  ASSERT_EQ(active.bad_rows.size(), 2u);
  message_of(active, row(active_bad));
  message_of(active, row(revived));

  auto all = store::list_sessions_checked(data, false);
  EXPECT_EQ(all.bad_rows.size(), 3u);
  EXPECT_EQ(ids(all.sessions), (std::vector<std::string>{"s1", "s3", "s7"})) << "its first row is good";
  EXPECT_EQ(all.sessions[2].record.status, "stopped");
}

TEST_F(RegistryTest, RowsWithNullStatusAreActiveAsBefore) {
  SQLite::Database db(data.registry().string(), SQLite::OPEN_READWRITE);
  db.exec("UPDATE sessions SET status = NULL, container_status = NULL, created_at = NULL WHERE id = 's3'");
  auto listing = store::list_sessions_checked(data, true);
  EXPECT_EQ(ids(listing.sessions), (std::vector<std::string>{"s1", "s3"}));
  EXPECT_EQ(listing.sessions[1].record.status, "active");
  EXPECT_TRUE(listing.bad_rows.empty());
}

TEST_F(RegistryTest, APausedSessionIsListedAsSupervisedAndResumedActive) {
  EXPECT_TRUE(store::set_session_paused(data, "s3", true));
  EXPECT_FALSE(store::set_session_paused(data, "s3", true)) << "already paused: nothing written";
  auto listing = store::list_sessions_checked(data, true);
  ASSERT_EQ(ids(listing.sessions), (std::vector<std::string>{"s1", "s3"}));
  EXPECT_FALSE(listing.sessions[0].record.paused());
  EXPECT_TRUE(listing.sessions[1].record.paused());
  EXPECT_EQ(listing.sessions[1].record.status, "paused");
  EXPECT_TRUE(store::set_session_paused(data, "s3", false));
  EXPECT_FALSE(store::set_session_paused(data, "s3", false));
  EXPECT_EQ(store::find_session(data, "s3").record.status, "active");

  // A NULL status is active (as listed), and pausable.
  SQLite::Database db(data.registry().string(), SQLite::OPEN_READWRITE);
  db.exec("UPDATE sessions SET status = NULL WHERE id = 's1'");
  EXPECT_TRUE(store::set_session_paused(data, "s1", true));
  EXPECT_TRUE(store::find_session(data, "s1").record.paused());
}

TEST_F(RegistryTest, PausingAnUnsupervisedOrUnknownSessionIsRefusedAndChangesNothing) {
  insert("s7"s, "group"s, "closed");
  std::filesystem::create_directories(data.sessions_root() / "group" / "s7");
  SQLite::Database(data.sessions_root() / "group" / "s7" / "inbound.db", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  auto error_of = [&](const char* id, bool paused) -> std::optional<Error> {
    try {
      store::set_session_paused(data, id, paused);
    } catch (const Error& e) {
      return e;
    }
    return std::nullopt;
  };
  auto closed = error_of("s7", true);
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->code(), Errc::invalid_argument);
  EXPECT_NE(std::string(closed->what()).find("session \"s7\" is not supervised (its status is \"closed\")"), std::string::npos)
      << closed->what();
  EXPECT_EQ(store::find_session(data, "s7").record.status, "closed");
  auto unknown = error_of("nope", true);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->code(), Errc::not_found);
  auto bad = error_of("../x", false);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->code(), Errc::invalid_argument);
}

TEST_F(RegistryTest, FindSessionGivesOneClearErrorForABadRow) {
  const auto null_group = insert("s4"s, std::nullopt);
  const auto bad_group = insert("s5"s, "../../etc"s);
  insert("s1"s, "elsewhere"s);

  auto error_of = [&](const char* id) -> std::optional<Error> {
    try {
      store::find_session(data, id);
    } catch (const Error& e) {
      return e;
    }
    return std::nullopt;
  };
  auto e4 = error_of("s4");
  ASSERT_TRUE(e4);
  EXPECT_EQ(e4->code(), Errc::corrupt_file);
  EXPECT_EQ(std::string(e4->what()), row(null_group) + "session \"s4\": its agent group id is NULL");
  auto e5 = error_of("s5");
  ASSERT_TRUE(e5);
  EXPECT_EQ(e5->code(), Errc::corrupt_file);
  EXPECT_EQ(std::string(e5->what()).rfind(row(bad_group) + "session \"s5\": invalid agent group id \"../../etc\"", 0), 0u)
      << e5->what();
  // The same message as in the listing.
  EXPECT_EQ(message_of(store::list_sessions_checked(data, false), row(bad_group)), e5->what());
  // A second row does not change which session an id is.
  EXPECT_EQ(store::find_session(data, "s1").files.dir(), data.sessions_root() / "group" / "s1");
  auto bad_ask = error_of("../x");
  ASSERT_TRUE(bad_ask);
  EXPECT_EQ(bad_ask->code(), Errc::invalid_argument);
}

TEST_F(RegistryTest, TheRegistryAsAWholeStillFailsLoudly) {
  SQLite::Database db(data.registry().string(), SQLite::OPEN_READWRITE);
  db.exec("ALTER TABLE sessions RENAME TO other");
  try {
    store::list_sessions_checked(data, true);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::corrupt_file) << e.what();
  }
  try {
    store::list_sessions_checked(DataDir(tmp.path() / "nowhere"), true);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::not_found) << e.what();
  }
}

// `hostsweep status` and `hostsweep sweep --once` report each bad row on stderr once, show
// and sweep the good sessions, and exit 5 (a corrupt file).
TEST_F(RegistryTest, StatusAndSweepReportEachBadRowOnceAndCarryOn) {
  insert(std::nullopt, "group"s);
  insert("s2\nhostsweep: error: forged"s, "group"s);
  insert("\x1b]0;owned\x07\xc2\x9b\xff"s, "group"s);
  insert(std::string(10 * 1024, 'b'), "group"s);
  insert("s4"s, std::nullopt);
  insert("s1"s, "group"s);
  insert("../stopped"s, "group"s, "stopped");
  const std::string dir = data.root().string();

  auto count_lines = [](const std::string& s) { return std::count(s.begin(), s.end(), '\n'); };
  auto check_errors = [&](const ProgramResult& r, long expected) {
    EXPECT_EQ(r.exit_code, 5) << r.err;
    EXPECT_EQ(count_lines(r.err), expected) << r.err;
    std::size_t start = 0;
    for (std::size_t nl; (nl = r.err.find('\n', start)) != std::string::npos; start = nl + 1) {
      EXPECT_TRUE(is_inert(r.err.substr(start, nl - start))) << r.err.substr(start, nl - start);
      EXPECT_EQ(r.err.compare(start, 18, "hostsweep: error: "), 0) << r.err.substr(start, nl - start);
      // The same row is never reported twice.
      EXPECT_EQ(r.err.find(r.err.substr(start, nl - start + 1), nl), std::string::npos);
    }
  };

  auto status = run_program(HOSTSWEEP_CLI_PATH, {"status", "--data-dir", dir});
  check_errors(status, 7);
  EXPECT_NE(status.out.find("\ns1 "), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("\ns3 "), std::string::npos) << status.out;
  EXPECT_NE(status.err.find("invalid session id \"s2\\x0ahostsweep: error: forged\""), std::string::npos) << status.err;
  EXPECT_NE(status.err.find("invalid session id \"\\x1b]0;owned\\x07\\xc2\\x9b\\xff\""), std::string::npos) << status.err;

  auto json = run_program(HOSTSWEEP_CLI_PATH, {"status", "--data-dir", dir, "--json"});
  check_errors(json, 7);
  ASSERT_TRUE(parse_json(json.out.substr(0, json.out.size() - 1))) << json.out;
  EXPECT_NE(json.out.find("\"id\":\"s3\""), std::string::npos);

  auto sweep = run_program(HOSTSWEEP_CLI_PATH, {"sweep", "--once", "--data-dir", dir});
  check_errors(sweep, 6);  // the stopped row is not swept, so not judged
  EXPECT_NE(sweep.out.find("s1: settled 0"), std::string::npos) << sweep.out;
  EXPECT_NE(sweep.out.find("s3: settled 0"), std::string::npos) << sweep.out;
  EXPECT_EQ(sweep.err.find("stopped"), std::string::npos) << sweep.err;

  auto explain = run_program(HOSTSWEEP_CLI_PATH, {"explain", "--data-dir", dir, "--session", "s4"});
  EXPECT_EQ(explain.exit_code, 5);
  EXPECT_EQ(count_lines(explain.err), 1) << explain.err;
  EXPECT_NE(explain.err.find("session \"s4\": its agent group id is NULL"), std::string::npos) << explain.err;
}

}  // namespace
}  // namespace hostsweep::testing
