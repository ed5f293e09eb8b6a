// A session created from a template: its files copied in (modes kept, readable by any account,
// no setuid), everything but regular files and directories refused, the session's own files
// never provided by it, the agent group's default used, and nothing left behind on a refusal.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "hostsweep/error.hpp"
#include "hostsweep/store/registry.hpp"
#include "support/run_program.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::store {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono;
using hostsweep::testing::read_file;
using hostsweep::testing::write_file;

const TimePoint kNow = TimePoint{sys_days{year{2026} / 3 / 8} + 12h};

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

class SessionTemplateTest : public ::testing::Test {
 protected:
  hostsweep::testing::TempDir tmp;
  DataDir data{tmp.path() / "data"};
  fs::path tmpl = tmp.path() / "template";

  void SetUp() override {
    fs::create_directories(tmpl / "agent");
    write_file(tmpl / "agent" / "container.json", R"({"provider": "claude"})");
    write_file(tmpl / ".fake-agent", "normal\n");
  }

  void file(const fs::path& relative, const std::string& content, mode_t mode) {
    fs::create_directories((tmpl / relative).parent_path());
    write_file(tmpl / relative, content);
    ASSERT_EQ(::chmod((tmpl / relative).c_str(), mode), 0);
  }

  // The error of a refused create, after checking that it left no session behind.
  Error refused(const std::optional<fs::path>& from) {
    try {
      create_session(data, "group", "s1", kNow, from);
    } catch (const Error& e) {
      expect_nothing_left();
      return e;
    }
    ADD_FAILURE() << "the session was created";
    return Error(Errc::io_error, "created");
  }

  void expect_nothing_left() {
    EXPECT_FALSE(fs::exists(data.sessions_root() / "group" / "s1"));
    // No staging directory either: the group's directory holds nothing.
    if (fs::exists(data.sessions_root() / "group")) {
      EXPECT_TRUE(fs::is_empty(data.sessions_root() / "group"))
          << fs::directory_iterator(data.sessions_root() / "group")->path();
    }
    if (fs::exists(data.registry())) {
      EXPECT_THROW(find_session(data, "s1"), Error);
    }
  }
};

TEST_F(SessionTemplateTest, TheTreeIsCopiedBesideTheSessionFiles) {
  file("agent/deep/er/notes.txt", "deep", 0640);
  file("bin/start.sh", "#!/bin/sh\n", 0700);
  file("secret", "s", 0600);
  fs::create_directories(tmpl / "empty");
  ASSERT_EQ(::chmod((tmpl / "empty").c_str(), 0700), 0);
  auto s = create_session(data, "group", "s1", kNow, tmpl);
  const auto dir = s.files.dir();
  EXPECT_EQ(read_file(dir / "agent" / "container.json"), R"({"provider": "claude"})");
  EXPECT_EQ(read_file(dir / ".fake-agent"), "normal\n");
  EXPECT_EQ(read_file(dir / "agent" / "deep" / "er" / "notes.txt"), "deep");
  EXPECT_TRUE(fs::is_directory(dir / "empty"));
  // The session's own files are there as ever.
  EXPECT_TRUE(fs::is_regular_file(s.files.inbound()));
  EXPECT_TRUE(fs::is_regular_file(s.files.outbound()));
  EXPECT_TRUE(fs::is_directory(s.files.outbox()));
  // Modes kept, readable (and searchable) by every account: the container may run as another.
  EXPECT_EQ(mode_of(dir / "agent" / "deep" / "er" / "notes.txt"), 0644u);
  EXPECT_EQ(mode_of(dir / "bin" / "start.sh"), 0755u);
  EXPECT_EQ(mode_of(dir / "secret"), 0644u);
  EXPECT_EQ(mode_of(dir / "empty"), 0755u);
  // The template is unchanged.
  EXPECT_EQ(mode_of(tmpl / "secret"), 0600u);
}

TEST_F(SessionTemplateTest, SetuidAndSetgidAreNotCopied) {
  file("bin/tool", "#!/bin/sh\n", 06755);
  ASSERT_EQ(mode_of(tmpl / "bin" / "tool") & 06000, 06000u) << "this file system dropped the bits itself";
  auto s = create_session(data, "group", "s1", kNow, tmpl);
  EXPECT_EQ(mode_of(s.files.dir() / "bin" / "tool"), 0755u);
}

TEST_F(SessionTemplateTest, ASymlinkAnywhereIsRefusedAndNothingIsLeft) {
  write_file(tmp.path() / "host-secret", "not for the agent");
  fs::create_symlink(tmp.path() / "host-secret", tmpl / "agent" / "link");
  auto e = refused(tmpl);
  EXPECT_EQ(e.code(), Errc::invalid_argument);
  EXPECT_EQ(std::string(e.what()),
            "template " + tmpl.string() + ": agent/link is a symlink: refused (a template is copied without following links)");

  fs::remove(tmpl / "agent" / "link");
  fs::create_directory_symlink(tmp.path(), tmpl / "agent" / "up");  // a link to a directory is not entered either
  EXPECT_NE(std::string(refused(tmpl).what()).find("agent/up is a symlink"), std::string::npos);

  // The template's own path is not followed either.
  fs::remove(tmpl / "agent" / "up");
  fs::create_directory_symlink(tmpl, tmp.path() / "via-link");
  auto root = refused(tmp.path() / "via-link");
  EXPECT_NE(std::string(root.what()).find("is a symlink, not a directory"), std::string::npos) << root.what();
  auto slashed = refused(fs::path((tmp.path() / "via-link").string() + "/"));  // "link/" would resolve the link
  EXPECT_NE(std::string(slashed.what()).find("is a symlink, not a directory"), std::string::npos) << slashed.what();
}

TEST_F(SessionTemplateTest, AFifoIsRefusedWithoutHanging) {
  ASSERT_EQ(::mkfifo((tmpl / "agent" / "pipe").c_str(), 0644), 0);
  auto e = refused(tmpl);
  EXPECT_EQ(e.code(), Errc::invalid_argument);
  EXPECT_EQ(std::string(e.what()), "template " + tmpl.string() +
                                       ": agent/pipe is a fifo: a template holds only regular files and directories");
}

TEST_F(SessionTemplateTest, TheSessionsOwnFilesAreNeverProvided) {
  for (const char* own : {"inbound.db", "outbound.db", "inbound.db-journal", "outbound.db-journal", "outbound.db-wal",
                          ".heartbeat", "outbox"}) {
    write_file(tmpl / own, "forged");
    auto e = refused(tmpl);
    EXPECT_EQ(e.code(), Errc::invalid_argument) << own;
    EXPECT_EQ(std::string(e.what()), "template " + tmpl.string() + ": " + own +
                                         " is one of the session's own files: a template cannot provide it");
    fs::remove(tmpl / own);
  }
  // Deeper down the names are the agent's own business.
  write_file(tmpl / "agent" / "inbound.db", "an agent's file");
  auto s = create_session(data, "group", "s1", kNow, tmpl);
  EXPECT_EQ(read_file(s.files.dir() / "agent" / "inbound.db"), "an agent's file");
}

TEST_F(SessionTemplateTest, AMissingOrNonDirectoryTemplateIsRefused) {
  auto missing = refused(tmp.path() / "nowhere");
  EXPECT_EQ(missing.code(), Errc::not_found);
  EXPECT_EQ(std::string(missing.what()), "template " + (tmp.path() / "nowhere").string() + ": no such directory");
  auto plain = refused(tmpl / ".fake-agent");
  EXPECT_EQ(plain.code(), Errc::invalid_argument);
  EXPECT_NE(std::string(plain.what()).find("is a file, not a directory"), std::string::npos) << plain.what();
}

TEST_F(SessionTemplateTest, TheAgentGroupsDefaultTemplateIsUsedUnlessOneIsGiven) {
  const auto group_default = default_template(data, "group");
  EXPECT_EQ(group_default, data.root() / "templates" / "group");
  fs::create_directories(group_default / "agent");
  write_file(group_default / "agent" / "container.json", R"({"provider": "default"})");

  auto s1 = create_session(data, "group", "s1", kNow);
  EXPECT_EQ(read_file(s1.files.dir() / "agent" / "container.json"), R"({"provider": "default"})");
  auto s2 = create_session(data, "group", "s2", kNow, tmpl);  // given: only it
  EXPECT_EQ(read_file(s2.files.dir() / "agent" / "container.json"), R"({"provider": "claude"})");
  auto other = create_session(data, "other", "s3", kNow);  // another group has none
  EXPECT_FALSE(fs::exists(other.files.dir() / "agent"));

  // A broken default refuses the group's sessions: it is there, and not what it should be.
  ASSERT_EQ(::mkfifo((group_default / "agent" / "pipe").c_str(), 0644), 0);
  EXPECT_THROW(create_session(data, "group", "s4", kNow), Error);
  EXPECT_FALSE(fs::exists(data.sessions_root() / "group" / "s4"));
}

// The command: `--template`, and one line on stderr for a refusal.
TEST_F(SessionTemplateTest, TheCommandCopiesItsTemplate) {
  using hostsweep::testing::run_program;
  auto ok = run_program(HOSTSWEEP_CLI_PATH, {"session", "create", "--data-dir", data.root().string(), "--agent-group",
                                             "group", "--id", "s1", "--template", tmpl.string()});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, "s1\n");
  EXPECT_EQ(read_file(data.sessions_root() / "group" / "s1" / "agent" / "container.json"), R"({"provider": "claude"})");

  fs::create_symlink("/etc/passwd", tmpl / "agent" / "passwd");
  auto bad = run_program(HOSTSWEEP_CLI_PATH, {"session", "create", "--data-dir", data.root().string(), "--agent-group",
                                              "group", "--id", "s2", "--template", tmpl.string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.err, "hostsweep: error: template " + tmpl.string() +
                         ": agent/passwd is a symlink: refused (a template is copied without following links)\n");
  EXPECT_EQ(bad.out, "");
  EXPECT_FALSE(fs::exists(data.sessions_root() / "group" / "s2"));
}

}  // namespace
}  // namespace hostsweep::store
