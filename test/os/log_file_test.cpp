#include "os/log_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "hostsweep/error.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::os {
namespace {

using testing::read_file;
using testing::TempDir;
namespace fs = std::filesystem;

std::uint64_t total_size(const fs::path& dir) {
  std::uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(dir)) total += fs::file_size(e.path());
  return total;
}

TEST(RotatingLogFile, CreatesItsDirectoriesAndAppends) {
  TempDir tmp;
  {
    RotatingLogFile log(tmp.path(), "group", "s1", 1 << 20, 3);
    log.append("one\n");
    log.append("two\n");
  }
  auto path = tmp.path() / "logs" / "group" / "s1.log";
  EXPECT_EQ(container_log_path(tmp.path(), "group", "s1"), path);
  EXPECT_EQ(read_file(path), "one\ntwo\n");
  struct stat st{};
  ASSERT_EQ(::stat((tmp.path() / "logs").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  {
    RotatingLogFile again(tmp.path(), "group", "s1", 1 << 20, 3);
    again.append("three\n");
  }
  EXPECT_EQ(read_file(path), "one\ntwo\nthree\n");
}

TEST(RotatingLogFile, RotatesAtTheCapAndKeepsKeepFiles) {
  TempDir tmp;
  const std::string line = std::string(99, 'x') + "\n";  // 100 bytes
  {
    RotatingLogFile log(tmp.path(), "g", "s", 1000, 2);
    for (int i = 0; i < 95; ++i) {
      log.append(line);
      log.flush();
    }
    EXPECT_EQ(log.error(), "");
  }
  auto dir = tmp.path() / "logs" / "g";
  EXPECT_TRUE(fs::exists(dir / "s.log"));
  EXPECT_TRUE(fs::exists(dir / "s.log.1"));
  EXPECT_TRUE(fs::exists(dir / "s.log.2"));
  EXPECT_FALSE(fs::exists(dir / "s.log.3"));
  EXPECT_EQ(fs::file_size(dir / "s.log.1"), 1000u);  // ten whole lines, never a torn one
  EXPECT_EQ(fs::file_size(dir / "s.log.2"), 1000u);
  EXPECT_EQ(fs::file_size(dir / "s.log"), 500u);      // 95 lines: 9 full files, then 5 lines
  EXPECT_LE(total_size(dir), 1000u * 3 + line.size());
}

TEST(RotatingLogFile, KeepZeroStartsAgain) {
  TempDir tmp;
  RotatingLogFile log(tmp.path(), "g", "s", 100, 0);
  for (int i = 0; i < 25; ++i) log.append("123456789\n");
  log.flush();
  auto dir = tmp.path() / "logs" / "g";
  EXPECT_EQ(fs::file_size(dir / "s.log"), 50u);
  EXPECT_FALSE(fs::exists(dir / "s.log.1"));
}

TEST(RotatingLogFile, RefusesASymlinkInItsPlace) {
  TempDir tmp;
  fs::create_directories(tmp.path() / "logs" / "g");
  auto target = tmp.path() / "target";
  testing::write_file(target, "precious\n");
  fs::create_symlink(target, tmp.path() / "logs" / "g" / "s.log");
  try {
    RotatingLogFile log(tmp.path(), "g", "s", 1000, 1);
    FAIL() << "a symlinked log file was opened";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is a symlink: refused"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_file(target), "precious\n");
}

TEST(RotatingLogFile, RefusesSymlinkedDirectoriesAHardLinkAndAFifo) {
  TempDir tmp;
  auto elsewhere = tmp.path() / "elsewhere";
  fs::create_directories(elsewhere);
  fs::create_directories(tmp.path() / "d1");
  fs::create_directory_symlink(elsewhere, tmp.path() / "d1" / "logs");
  EXPECT_THROW(RotatingLogFile(tmp.path() / "d1", "g", "s", 1000, 1), Error);
  fs::create_directories(tmp.path() / "d2" / "logs");
  fs::create_directory_symlink(elsewhere, tmp.path() / "d2" / "logs" / "g");
  EXPECT_THROW(RotatingLogFile(tmp.path() / "d2", "g", "s", 1000, 1), Error);
  EXPECT_TRUE(fs::is_empty(elsewhere));

  fs::create_directories(tmp.path() / "d3" / "logs" / "g");
  testing::write_file(tmp.path() / "other", "x");
  fs::create_hard_link(tmp.path() / "other", tmp.path() / "d3" / "logs" / "g" / "s.log");
  EXPECT_THROW(RotatingLogFile(tmp.path() / "d3", "g", "s", 1000, 1), Error);

  fs::create_directories(tmp.path() / "d4" / "logs" / "g");
  ASSERT_EQ(::mkfifo((tmp.path() / "d4" / "logs" / "g" / "s.log").c_str(), 0600), 0);
  EXPECT_THROW(RotatingLogFile(tmp.path() / "d4", "g", "s", 1000, 1), Error);  // and never blocks
}

TEST(RotatingLogFile, RefusesBadIds) {
  TempDir tmp;
  EXPECT_THROW(RotatingLogFile(tmp.path(), "..", "s", 1000, 1), Error);
  EXPECT_THROW(RotatingLogFile(tmp.path(), "g", "../../etc/passwd", 1000, 1), Error);
}

}  // namespace
}  // namespace hostsweep::os
