// store::read_file_version: SQLite's change counter tells a pass whether a file was committed
// to since it last read it. A wrong "unchanged" would hide an ack or a message, so every doubt
// must be "no version".
#include "store/file_version.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>

#include "support/temp_dir.hpp"

namespace hostsweep::store {
namespace {

using hostsweep::testing::TempDir;

class FileVersionTest : public ::testing::Test {
 protected:
  TempDir tmp;
  std::filesystem::path file = tmp.path() / "x.db";

  void exec(const std::string& sql) {
    SQLite::Database db(file.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec(sql);
  }
};

TEST_F(FileVersionTest, ACommitChangesItAndAReadDoesNot) {
  exec("PRAGMA journal_mode=DELETE; CREATE TABLE t (v)");
  auto created = read_file_version(file);
  ASSERT_TRUE(created);

  {
    SQLite::Database reader(file.string(), SQLite::OPEN_READONLY);
    reader.exec("SELECT count(*) FROM t");
  }
  EXPECT_EQ(read_file_version(file), created);

  exec("INSERT INTO t VALUES (1)");
  auto written = read_file_version(file);
  ASSERT_TRUE(written);
  EXPECT_NE(written, created);

  exec("UPDATE t SET v = 1 WHERE v = 2");  // a write that changes nothing commits nothing
  EXPECT_EQ(read_file_version(file), written);
}

TEST_F(FileVersionTest, AFileReplacedByAnotherIsAnotherFile) {
  exec("CREATE TABLE t (v)");
  auto before = read_file_version(file);
  auto copy = tmp.path() / "copy.db";
  std::filesystem::copy_file(file, copy);
  std::filesystem::rename(copy, file);  // same bytes, same counter, another inode
  auto after = read_file_version(file);
  ASSERT_TRUE(before && after);
  EXPECT_EQ(before->change_counter, after->change_counter);
  EXPECT_NE(before, after);
}

TEST_F(FileVersionTest, EveryDoubtIsNoVersion) {
  EXPECT_FALSE(read_file_version(file)) << "missing";

  std::ofstream(file) << "not a database, but long enough to have a header of one hundred bytes, which it does not have at all\n";
  EXPECT_FALSE(read_file_version(file)) << "not SQLite";

  std::filesystem::remove(file);
  exec("CREATE TABLE t (v)");
  ASSERT_TRUE(read_file_version(file));
  std::ofstream(file.string() + "-journal") << "";
  EXPECT_FALSE(read_file_version(file)) << "a journal beside it: a write under way, or one to roll back";
  std::filesystem::remove(file.string() + "-journal");
  // A dangling symlink is something beside it too: the full read that follows refuses it.
  std::filesystem::create_symlink(tmp.path() / "nowhere", file.string() + "-journal");
  EXPECT_FALSE(read_file_version(file)) << "a symlinked journal";
  std::filesystem::remove(file.string() + "-journal");
  ASSERT_TRUE(read_file_version(file));

  exec("PRAGMA journal_mode=WAL");
  EXPECT_FALSE(read_file_version(file)) << "WAL mode: commits do not reach the header";
}

// A container may put a fifo where its outbound.db was: a plain open would wait for a writer.
TEST_F(FileVersionTest, AFifoHasNoVersionAndDoesNotBlock) {
  ASSERT_EQ(::mkfifo(file.c_str(), 0600), 0);
  auto reading = std::async(std::launch::async, [&] { return read_file_version(file); });
  if (reading.wait_for(std::chrono::seconds(5)) == std::future_status::timeout) {
    ADD_FAILURE() << "opening a fifo blocked";
    ::close(::open(file.c_str(), O_WRONLY | O_NONBLOCK));  // lets it go
  }
  EXPECT_FALSE(reading.get());
}

}  // namespace
}  // namespace hostsweep::store
