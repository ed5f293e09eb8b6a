#include "hostsweep/os/session_lock.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/temp_dir.hpp"

namespace hostsweep::os {
namespace {

using hostsweep::testing::TempDir;

TEST(SessionLock, IsExclusiveAndReleasedWithItsOwner) {
  TempDir tmp;
  auto file = tmp.path() / ".hostsweep.lock";
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
  auto file = tmp.path() / ".hostsweep.lock";
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

TEST(SessionLock, RecordsItsHolder) {
  TempDir tmp;
  auto file = tmp.path() / ".hostsweep.lock";
  auto lock = SessionLock::try_acquire(file);
  ASSERT_TRUE(lock);
  EXPECT_FALSE(SessionLock::read_holder(file));
  auto since = *policy::parse_timestamp("2026-03-08T12:00:00.250Z");
  lock->record_holder(4242, since, 77);
  auto holder = SessionLock::read_holder(file);
  ASSERT_TRUE(holder);
  EXPECT_EQ(holder->pid, 4242);
  EXPECT_EQ(holder->since, since);
  EXPECT_EQ(holder->owner_pid, 77);
}

}  // namespace
}  // namespace hostsweep::os
