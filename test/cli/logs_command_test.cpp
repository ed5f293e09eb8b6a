// `hostsweep logs`: prints a session's container log, rotated files oldest first, and with
// --follow what is appended afterwards, across a rotation.
#include <signal.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "os/log_file.hpp"
#include "hostsweep/store/registry.hpp"
#include "support/run_program.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::testing {
namespace {

namespace fs = std::filesystem;

std::string line(int n) { return "2026-03-08T07:00:00.000Z stdout F line " + std::to_string(n) + "\n"; }

struct LogsFixture {
  TempDir tmp;
  store::DataDir data{tmp.path() / "data"};
  LogsFixture() { store::create_session(data, "g", "s1", policy::now_utc()); }
  ProgramResult logs(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"logs", "--data-dir", data.root().string(), "--session", "s1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_program(HOSTSWEEP_CLI_PATH, args);
  }
};

TEST(LogsCommand, PrintsTheRotatedFilesOldestFirstThenTheCurrentOne) {
  LogsFixture f;
  {
    // 3 lines per file (41 or 42 bytes each, cap 130), keep 2: lines 1-3 rotated away for good.
    os::RotatingLogFile log(f.data.root(), "g", "s1", 130, 2);
    for (int n = 1; n <= 10; ++n) {
      log.append(line(n));
      log.flush();
    }
  }
  auto r = f.logs();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string expected;
  for (int n = 4; n <= 10; ++n) expected += line(n);
  EXPECT_EQ(r.out, expected);
}

TEST(LogsCommand, SaysSoWhenThereIsNoOutputAndRefusesUnknownSessions) {
  LogsFixture f;
  auto none = f.logs();
  EXPECT_EQ(none.exit_code, 3) << none.err;
  EXPECT_NE(none.err.find("no container output"), std::string::npos) << none.err;
  auto unknown = run_program(HOSTSWEEP_CLI_PATH, {"logs", "--data-dir", f.data.root().string(), "--session", "nope"});
  EXPECT_EQ(unknown.exit_code, 3) << unknown.err;
}

TEST(LogsCommand, RefusesASymlinkedLogFile) {
  LogsFixture f;
  fs::create_directories(f.data.root() / "logs" / "g");
  write_file(f.tmp.path() / "secret", "secret\n");
  fs::create_symlink(f.tmp.path() / "secret", f.data.root() / "logs" / "g" / "s1.log");
  auto r = f.logs();
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out.find("secret"), std::string::npos);
}

TEST(LogsCommand, FollowPrintsWhatIsAppendedAcrossARotation) {
  LogsFixture f;
  os::RotatingLogFile log(f.data.root(), "g", "s1", 130, 2);
  log.append(line(1));
  log.flush();
  auto out = f.tmp.path() / "out";
  auto err = f.tmp.path() / "err";
  pid_t pid = spawn_program(HOSTSWEEP_CLI_PATH,
                            {"logs", "--data-dir", f.data.root().string(), "--session", "s1", "--follow"}, out, err);
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(eventually([&] { return read_file(out) == line(1); })) << read_file(out) << read_file(err);
  for (int n = 2; n <= 8; ++n) {  // two rotations (after lines 3 and 6), one poll apart
    log.append(line(n));
    log.flush();
    if (n % 3 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(400));
  }
  std::string expected;
  for (int n = 1; n <= 8; ++n) expected += line(n);
  EXPECT_TRUE(eventually([&] { return read_file(out) == expected; })) << read_file(out) << read_file(err);
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
}

}  // namespace
}  // namespace hostsweep::testing
