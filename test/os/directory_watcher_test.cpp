// The directory watcher on real inotify and real files. The loop runs only inside the tests, so
// every change made between two runs is queued by the kernel and arrives as one read.
#include "os/directory_watcher.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "support/temp_dir.hpp"

namespace hostsweep::os {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using hostsweep::testing::TempDir;
using Names = std::vector<std::string>;
using Call = std::pair<std::string, Names>;

struct Recorder {
  std::vector<Call> calls;
  int overflows = 0;

  DirectoryWatcher::ChangeHandler on_change() {
    return [this](const std::string& key, const Names& names) { calls.emplace_back(key, names); };
  }
  DirectoryWatcher::OverflowHandler on_overflow() {
    return [this] { ++overflows; };
  }
  std::vector<Names> of(const std::string& key) const {
    std::vector<Names> out;
    for (const auto& [k, names] : calls)
      if (k == key) out.push_back(names);
    return out;
  }
  bool saw(const std::string& key, const std::string& name) const {
    return std::ranges::any_of(calls, [&](const Call& c) {
      return c.first == key && std::ranges::find(c.second, name) != c.second.end();
    });
  }
};

void create_file(const fs::path& p) {
  int fd = ::open(p.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << p;
  ::close(fd);
}

// What a container does to its heartbeat once the file exists.
void touch(const fs::path& p) { ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), nullptr, 0), 0) << p; }

class DirectoryWatcherTest : public ::testing::Test {
 protected:
  TempDir tmp;
  boost::asio::io_context io;
  Recorder rec;
  DirectoryWatcher watcher{io.get_executor(), rec.on_change(), rec.on_overflow()};

  fs::path make_dir(const std::string& name) {
    fs::path dir = tmp.path() / name;
    fs::create_directories(dir);
    return dir;
  }

  // Runs the loop until `done` holds; false after 5 s.
  bool run_until(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done()) {
      auto left = deadline - std::chrono::steady_clock::now();
      if (left <= 0s) return false;
      io.run_one_for(left);
      if (io.stopped()) io.restart();
    }
    return true;
  }

  // Lets anything else already queued arrive. Only for checking that nothing more came: a slow
  // machine can make such a check pass wrongly, never fail wrongly.
  void settle() {
    io.run_for(200ms);
    io.restart();
  }
};

TEST_F(DirectoryWatcherTest, ReportsHeartbeatCreatedThenTouched) {
  auto dir = make_dir("s1");
  ASSERT_FALSE(watcher.add("s1", dir));
  EXPECT_EQ(watcher.size(), 1u);

  create_file(dir / ".heartbeat");
  ASSERT_TRUE(run_until([&] { return rec.saw("s1", ".heartbeat"); }));
  settle();
  EXPECT_EQ(rec.calls, (std::vector<Call>{{"s1", {".heartbeat"}}}));

  rec.calls.clear();
  touch(dir / ".heartbeat");
  ASSERT_TRUE(run_until([&] { return rec.saw("s1", ".heartbeat"); }));
  settle();
  EXPECT_EQ(rec.calls, (std::vector<Call>{{"s1", {".heartbeat"}}}));
}

TEST_F(DirectoryWatcherTest, ReportsAnSqliteCommitWithItsJournal) {
  auto dir = make_dir("s1");
  auto db_path = (dir / "outbound.db").string();
  SQLite::Database db(db_path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  db.exec("PRAGMA journal_mode=DELETE");
  db.exec("CREATE TABLE acks (id TEXT PRIMARY KEY)");
  ASSERT_FALSE(watcher.add("s1", dir));

  {
    SQLite::Transaction tx(db);
    db.exec("INSERT INTO acks VALUES ('m1')");
    tx.commit();
  }
  EXPECT_FALSE(fs::exists(dir / "outbound.db-journal"));  // journal_mode=DELETE did delete it
  ASSERT_TRUE(run_until([&] { return rec.saw("s1", "outbound.db"); }));
  settle();
  EXPECT_EQ(rec.calls, (std::vector<Call>{{"s1", {"outbound.db", "outbound.db-journal"}}}));
}

TEST_F(DirectoryWatcherTest, CoalescesABurstIntoOneCallPerKey) {
  auto a = make_dir("a");
  auto b = make_dir("b");
  create_file(a / ".heartbeat");
  create_file(b / ".heartbeat");
  ASSERT_FALSE(watcher.add("a", a));
  ASSERT_FALSE(watcher.add("b", b));

  // Alternating directories, so that the kernel's own merging of repeated events cannot be
  // what makes this pass.
  for (int i = 0; i < 100; ++i) {
    touch(a / ".heartbeat");
    touch(b / ".heartbeat");
    std::ofstream(a / "outbound.db", std::ios::app) << i;
  }
  ASSERT_TRUE(run_until([&] { return rec.saw("a", ".heartbeat") && rec.saw("b", ".heartbeat"); }));
  settle();
  // One call per key, keys in sorted order, names sorted and distinct.
  EXPECT_EQ(rec.calls, (std::vector<Call>{{"a", {".heartbeat", "outbound.db"}}, {"b", {".heartbeat"}}}));
}

TEST_F(DirectoryWatcherTest, ReportsEachDirectoryUnderItsOwnKey) {
  auto a = make_dir("a");
  auto b = make_dir("b");
  ASSERT_FALSE(watcher.add("session-a", a));
  ASSERT_FALSE(watcher.add("session-b", b));
  create_file(b / "inbound.db");
  create_file(a / ".heartbeat");
  ASSERT_TRUE(run_until([&] { return rec.calls.size() >= 2; }));
  settle();
  EXPECT_EQ(rec.calls, (std::vector<Call>{{"session-a", {".heartbeat"}}, {"session-b", {"inbound.db"}}}));
}

TEST_F(DirectoryWatcherTest, RemoveStopsReports) {
  auto a = make_dir("a");
  auto b = make_dir("b");
  ASSERT_FALSE(watcher.add("a", a));
  ASSERT_FALSE(watcher.add("b", b));
  watcher.remove("a");
  watcher.remove("unknown");  // a no-op
  EXPECT_EQ(watcher.size(), 1u);

  create_file(a / ".heartbeat");
  create_file(b / ".heartbeat");
  ASSERT_TRUE(run_until([&] { return rec.saw("b", ".heartbeat"); }));
  settle();
  EXPECT_TRUE(rec.of("a").empty());
}

TEST_F(DirectoryWatcherTest, RemoveDropsEventsAlreadyQueued) {
  auto a = make_dir("a");
  auto b = make_dir("b");
  ASSERT_FALSE(watcher.add("a", a));
  ASSERT_FALSE(watcher.add("b", b));
  create_file(a / ".heartbeat");  // queued in the kernel before the remove
  watcher.remove("a");
  create_file(b / ".heartbeat");
  ASSERT_TRUE(run_until([&] { return rec.saw("b", ".heartbeat"); }));
  settle();
  EXPECT_TRUE(rec.of("a").empty());
}

TEST_F(DirectoryWatcherTest, ReportsADeletedDirectoryOnceAndDropsIt) {
  auto a = make_dir("a");
  auto b = make_dir("b");
  create_file(a / ".heartbeat");
  ASSERT_FALSE(watcher.add("a", a));
  ASSERT_FALSE(watcher.add("b", b));

  fs::remove_all(a);
  ASSERT_TRUE(run_until([&] { return rec.saw("a", ""); }));
  settle();
  auto calls = rec.of("a");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], (Names{"", ".heartbeat"}));  // "" first: the directory itself went away
  EXPECT_EQ(watcher.size(), 1u);

  // The other directory is still watched, and the dropped key is free for a new directory.
  rec.calls.clear();
  fs::create_directories(a);
  ASSERT_FALSE(watcher.add("a", a));
  create_file(a / "inbound.db");
  create_file(b / "inbound.db");
  ASSERT_TRUE(run_until([&] { return rec.calls.size() >= 2; }));
  EXPECT_EQ(rec.calls, (std::vector<Call>{{"a", {"inbound.db"}}, {"b", {"inbound.db"}}}));
}

TEST_F(DirectoryWatcherTest, ReportsAMovedDirectoryAndDropsIt) {
  auto a = make_dir("a");
  ASSERT_FALSE(watcher.add("a", a));
  fs::rename(a, tmp.path() / "moved");
  ASSERT_TRUE(run_until([&] { return rec.saw("a", ""); }));
  EXPECT_EQ(watcher.size(), 0u);

  // The kernel would follow the directory to its new name; the watcher no longer does.
  rec.calls.clear();
  create_file(tmp.path() / "moved" / ".heartbeat");
  settle();
  EXPECT_TRUE(rec.calls.empty());
}

TEST_F(DirectoryWatcherTest, ReportsASharedDirectoryUnderEachKey) {
  auto dir = make_dir("s1");
  ASSERT_FALSE(watcher.add("x", dir));
  ASSERT_FALSE(watcher.add("y", dir));
  EXPECT_EQ(watcher.size(), 2u);

  create_file(dir / "f");
  ASSERT_TRUE(run_until([&] { return rec.calls.size() >= 2; }));
  EXPECT_EQ(rec.calls, (std::vector<Call>{{"x", {"f"}}, {"y", {"f"}}}));

  // Removing one key keeps the kernel watch for the other.
  rec.calls.clear();
  watcher.remove("x");
  create_file(dir / "g");
  ASSERT_TRUE(run_until([&] { return rec.saw("y", "g"); }));
  settle();
  EXPECT_EQ(rec.calls, (std::vector<Call>{{"y", {"g"}}}));

  rec.calls.clear();
  ASSERT_FALSE(watcher.add("x", dir));
  fs::remove_all(dir);
  ASSERT_TRUE(run_until([&] { return rec.saw("x", "") && rec.saw("y", ""); }));
  settle();
  EXPECT_EQ(rec.calls.size(), 2u);
  EXPECT_EQ(watcher.size(), 0u);
}

TEST_F(DirectoryWatcherTest, ReAddingAKeyReplacesItsDirectory) {
  auto a = make_dir("a");
  auto b = make_dir("b");
  ASSERT_FALSE(watcher.add("k", a));
  ASSERT_FALSE(watcher.add("k", b));
  ASSERT_FALSE(watcher.add("k", b));  // the same directory again changes nothing
  EXPECT_EQ(watcher.size(), 1u);

  create_file(a / "old");
  create_file(b / "new");
  ASSERT_TRUE(run_until([&] { return rec.saw("k", "new"); }));
  settle();
  EXPECT_EQ(rec.calls, (std::vector<Call>{{"k", {"new"}}}));
}

TEST_F(DirectoryWatcherTest, FailedAddChangesNothing) {
  auto a = make_dir("a");
  create_file(tmp.path() / "file");
  ASSERT_FALSE(watcher.add("k", a));

  EXPECT_EQ(watcher.add("k", tmp.path() / "missing"), std::errc::no_such_file_or_directory);
  EXPECT_EQ(watcher.add("other", tmp.path() / "missing"), std::errc::no_such_file_or_directory);
  EXPECT_EQ(watcher.add("other", tmp.path() / "file"), std::errc::not_a_directory);
  EXPECT_EQ(watcher.size(), 1u);

  create_file(a / ".heartbeat");
  ASSERT_TRUE(run_until([&] { return rec.saw("k", ".heartbeat"); }));
}

TEST_F(DirectoryWatcherTest, SoftCapFailsWithEnospc) {
  DirectoryWatcher capped(io.get_executor(), rec.on_change(), rec.on_overflow(), 2);
  auto a = make_dir("a");
  auto b = make_dir("b");
  auto c = make_dir("c");
  ASSERT_FALSE(capped.add("a", a));
  ASSERT_FALSE(capped.add("b", b));
  EXPECT_EQ(capped.add("c", c), std::errc::no_space_on_device);
  EXPECT_EQ(capped.size(), 2u);

  // The cap counts directories: a second key on a watched one costs nothing, and moving the
  // only key of a directory elsewhere frees its watch first.
  EXPECT_FALSE(capped.add("a-again", a));
  EXPECT_FALSE(capped.add("b", c));
  EXPECT_EQ(capped.size(), 3u);

  // The refused watch left nothing behind in the kernel: c is reported once, under b.
  create_file(c / ".heartbeat");
  create_file(b / ".heartbeat");
  ASSERT_TRUE(run_until([&] { return rec.saw("b", ".heartbeat"); }));
  settle();
  EXPECT_EQ(rec.calls, (std::vector<Call>{{"b", {".heartbeat"}}}));
}

TEST_F(DirectoryWatcherTest, ReportsARealQueueOverflow) {
  long limit = 0;
  std::ifstream("/proc/sys/fs/inotify/max_queued_events") >> limit;
  if (limit <= 0 || limit > 100000) GTEST_SKIP() << "max_queued_events is " << limit;

  auto dir = make_dir("s1");
  ASSERT_FALSE(watcher.add("s1", dir));
  // Two events per file (create, close after writing): twice the queue, nobody reading.
  for (long i = 0; i < limit; ++i) create_file(dir / std::to_string(i));
  ASSERT_TRUE(run_until([&] { return rec.overflows > 0; }));
  EXPECT_EQ(rec.overflows, 1);
  EXPECT_TRUE(rec.saw("s1", "0"));  // what was queued before the overflow is still reported

  // The watcher carries on after an overflow.
  rec.calls.clear();
  create_file(dir / ".heartbeat");
  ASSERT_TRUE(run_until([&] { return rec.saw("s1", ".heartbeat"); }));
}

TEST_F(DirectoryWatcherTest, CloseIsIdempotentAndSilent) {
  auto a = make_dir("a");
  ASSERT_FALSE(watcher.add("a", a));
  io.run_for(20ms);  // a read is pending
  io.restart();
  watcher.close();
  watcher.close();
  EXPECT_FALSE(watcher.is_open());
  EXPECT_EQ(watcher.size(), 0u);
  EXPECT_EQ(watcher.add("a", a), std::errc::bad_file_descriptor);

  create_file(a / ".heartbeat");
  settle();
  EXPECT_TRUE(rec.calls.empty());
  EXPECT_EQ(rec.overflows, 0);
}

TEST_F(DirectoryWatcherTest, DestructionWithAPendingReadIsClean) {
  auto a = make_dir("a");
  auto owned = std::make_unique<DirectoryWatcher>(io.get_executor(), rec.on_change(), rec.on_overflow());
  ASSERT_FALSE(owned->add("a", a));
  io.run_for(20ms);
  io.restart();
  create_file(a / ".heartbeat");  // readable, and the read's completion may already be queued
  owned.reset();
  settle();
  EXPECT_TRUE(rec.calls.empty());
}

TEST(DirectoryWatcher, OutlivedByNothingWhenTheLoopNeverRunsAgain) {
  TempDir tmp;
  Recorder rec;
  {
    boost::asio::io_context io;
    DirectoryWatcher watcher(io.get_executor(), rec.on_change(), rec.on_overflow());
    ASSERT_FALSE(watcher.add("a", tmp.path()));
    create_file(tmp.path() / ".heartbeat");
  }  // the watcher, then the io_context with the aborted read in it: LeakSanitizer checks
  EXPECT_TRUE(rec.calls.empty());
}

TEST_F(DirectoryWatcherTest, AHandlerMayDestroyItsWatcher) {
  auto a = make_dir("a");
  auto b = make_dir("b");
  std::unique_ptr<DirectoryWatcher> owned;
  int calls = 0;
  owned = std::make_unique<DirectoryWatcher>(
      io.get_executor(),
      [&](const std::string&, const Names&) {
        ++calls;
        owned.reset();
      },
      [&] { ++calls; });
  ASSERT_FALSE(owned->add("a", a));
  ASSERT_FALSE(owned->add("b", b));
  create_file(a / "x");
  create_file(b / "y");
  ASSERT_TRUE(run_until([&] { return calls > 0; }));
  settle();
  EXPECT_EQ(calls, 1);  // b's change was read in the same batch, and is not reported
}

TEST_F(DirectoryWatcherTest, AKeyRemovedByAnEarlierHandlerOfTheBatchIsNotReported) {
  auto a = make_dir("a");
  auto b = make_dir("b");
  DirectoryWatcher* self = nullptr;
  DirectoryWatcher removing(
      io.get_executor(),
      [&](const std::string& key, const Names& names) {
        rec.calls.emplace_back(key, names);
        self->remove("b");
      },
      rec.on_overflow());
  self = &removing;
  ASSERT_FALSE(removing.add("a", a));
  ASSERT_FALSE(removing.add("b", b));
  create_file(a / "x");
  create_file(b / "y");
  ASSERT_TRUE(run_until([&] { return !rec.calls.empty(); }));
  settle();
  EXPECT_EQ(rec.calls, (std::vector<Call>{{"a", {"x"}}}));
}

TEST_F(DirectoryWatcherTest, KeepsWatchingAfterAHandlerThrows) {
  auto a = make_dir("a");
  bool thrown = false;
  DirectoryWatcher throwing(
      io.get_executor(),
      [&](const std::string& key, const Names& names) {
        if (!thrown) {
          thrown = true;
          throw std::runtime_error("handler failed");
        }
        rec.calls.emplace_back(key, names);
      },
      rec.on_overflow());
  ASSERT_FALSE(throwing.add("a", a));
  create_file(a / "first");
  EXPECT_THROW(run_until([&] { return thrown; }), std::runtime_error);
  io.restart();
  create_file(a / "second");
  ASSERT_TRUE(run_until([&] { return rec.saw("a", "second"); }));
}

TEST_F(DirectoryWatcherTest, MovesWithItsWatches) {
  auto a = make_dir("a");
  ASSERT_FALSE(watcher.add("a", a));
  DirectoryWatcher moved(std::move(watcher));
  EXPECT_FALSE(watcher.is_open());  // NOLINT(bugprone-use-after-move): a moved-from watcher is closed
  EXPECT_EQ(watcher.size(), 0u);
  EXPECT_EQ(moved.size(), 1u);
  create_file(a / ".heartbeat");
  ASSERT_TRUE(run_until([&] { return rec.saw("a", ".heartbeat"); }));
}

}  // namespace
}  // namespace hostsweep::os
