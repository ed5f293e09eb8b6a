#include "os/session_lock.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "hostsweep/error.hpp"
#include "os/holder_record.hpp"
#include "os/process.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::os {
namespace {

using hostsweep::testing::TempDir;

TEST(SessionLock, IsExclusiveAndReleasedWithItsOwner) {
  TempDir tmp;
  auto file = tmp.path() / "lock";
  EXPECT_FALSE(SessionLock::is_held(file));
  {
    auto first = SessionLock::try_acquire(file);
    ASSERT_TRUE(first);
    EXPECT_FALSE(SessionLock::try_acquire(file));  // a second holder, even in the same process
    EXPECT_TRUE(SessionLock::is_held(file));
  }
  EXPECT_FALSE(SessionLock::is_held(file));
  EXPECT_TRUE(SessionLock::try_acquire(file));
}

TEST(SessionLock, ExcludesOtherProcessesUntilTheHolderDies) {
  TempDir tmp;
  auto file = tmp.path() / "lock";
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto lock = SessionLock::try_acquire(file);
    char byte = lock ? '1' : '0';
    (void)!::write(ready[1], &byte, 1);
    ::pause();  // holds the lock until killed
    ::_exit(0);
  }
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  EXPECT_EQ(byte, '1');
  EXPECT_FALSE(SessionLock::try_acquire(file));
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  EXPECT_TRUE(SessionLock::try_acquire(file));  // the kernel released it: no stale lock
  ::close(ready[0]);
  ::close(ready[1]);
}

// status and explain test the lock without taking it: a holder's attempt meanwhile succeeds.
TEST(SessionLock, TestingTheLockNeverTakesIt) {
  TempDir tmp;
  auto file = tmp.path() / "run" / "lock";
  EXPECT_FALSE(SessionLock::is_held(file));  // missing: not held, and not created
  EXPECT_FALSE(std::filesystem::exists(file));
  auto lock = SessionLock::try_acquire(file);  // creates its directory
  ASSERT_TRUE(lock);
  EXPECT_EQ(std::filesystem::status(file.parent_path()).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_all);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(SessionLock::is_held(file));
  lock.reset();
  EXPECT_FALSE(SessionLock::is_held(file));
}

TEST(SessionLock, ASymlinkedLockFileIsRefused) {
  TempDir tmp;
  auto target = tmp.path() / "elsewhere";
  { std::ofstream(target) << "precious"; }
  auto file = tmp.path() / "lock";
  std::filesystem::create_symlink(target, file);
  EXPECT_THROW(SessionLock::try_acquire(file), Error);
  std::ifstream in(target);
  std::string text;
  in >> text;
  EXPECT_EQ(text, "precious");
}

TEST(SessionLock, ItsHolderLeavesANoteForWhoeverIsRefused) {
  TempDir tmp;
  auto file = tmp.path() / "supervisor.lock";
  auto lock = SessionLock::try_acquire(file);
  ASSERT_TRUE(lock);
  lock->write_note("4242\n");
  EXPECT_EQ(SessionLock::read_note(file), "4242\n");
}

TEST(HolderRecord, RoundTripsAndIsWrittenWhole) {
  TempDir tmp;
  auto file = tmp.path() / "holder";
  EXPECT_FALSE(read_holder_record(file));
  HolderRecord record{.container = {4242, 123456},
                      .started_at = *policy::parse_timestamp("2026-03-08T12:00:00.250Z"),
                      .supervisor = {77, 99},
                      .cgroup = "/sys/fs/cgroup/hostsweep-0123456789abcdef/g/s"};
  write_holder_record(file, record);
  auto read = read_holder_record(file);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->container, record.container);
  EXPECT_EQ(read->started_at, record.started_at);
  EXPECT_EQ(read->supervisor, record.supervisor);
  EXPECT_EQ(read->cgroup, record.cgroup);
  EXPECT_FALSE(std::filesystem::exists(tmp.path() / "holder.new"));
  { std::ofstream(file) << "1 2026-03-08T12:00:00Z 1\n"; }  // the old in-session format, or garbage
  EXPECT_THROW(read_holder_record(file), Error);
  remove_holder_record(file);
  EXPECT_FALSE(read_holder_record(file));
}

// The kernel decides whether a recorded container lives: the same pid with another start time
// is another process.
TEST(HolderRecord, ARecordedContainerLivesOnlyAsTheKernelSays) {
  auto self = self_identity();
  HolderRecord record{.container = self};
  EXPECT_TRUE(recorded_container_alive(record));
  record.container.start_ticks += 1;
  EXPECT_FALSE(recorded_container_alive(record));
  record.container = {0x3fffffff, 1};
  EXPECT_FALSE(recorded_container_alive(record));
}

TEST(Process, NoSignalEverReachesInitTheSupervisorOrItsGroup) {
  EXPECT_FALSE(may_signal_group(-1));
  EXPECT_FALSE(may_signal_group(0));
  EXPECT_FALSE(may_signal_group(1));
  EXPECT_FALSE(may_signal_group(::getpid()));
  EXPECT_FALSE(may_signal_group(::getpgrp()));
  std::string why;
  EXPECT_FALSE(Pidfd::open_verified({1, 0}, why));
  EXPECT_NE(why.find("never a container"), std::string::npos) << why;
  auto self = self_identity();
  EXPECT_FALSE(Pidfd::open_verified({self.pid, self.start_ticks + 1}, why));
  EXPECT_NE(why.find("another process"), std::string::npos) << why;
  EXPECT_TRUE(Pidfd::open_verified(self, why)) << why;
}

}  // namespace
}  // namespace hostsweep::os
