// The persisted pass memo: a pass with no memo in hand (a restarted daemon, `sweep --once`)
// judges an unchanged session from the memo the last pass left in the host's directory, and
// never trusts it for a file that changed, was replaced, symlinked, has a journal beside it,
// or was rewritten in place with its times restored; nor a memo file that is damaged or not
// the host's own.
#include "sweep/pass_memo.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <fmt/format.h>

#include "hostsweep/error.hpp"
#include "hostsweep/store/registry.hpp"
#include "sweep/session_sweep.hpp"
#include "support/one_session.hpp"
#include "support/settled_files.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::sweep {
namespace {

using namespace std::chrono;
using hostsweep::testing::TempDir;
using hostsweep::testing::wait_until_versions_sure;
namespace fs = std::filesystem;

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_bytes(const fs::path& file, std::string_view bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A memo with every field set, to see each one survive the file.
PassMemo full_memo() {
  PassMemo memo;
  memo.outbound_version = {.device = 1, .inode = 2, .size = 4096, .modified_ns = -5, .status_changed_ns = 6,
                           .change_counter = 7};
  memo.inbound_version = {.device = 8, .inode = 9, .size = 8192, .modified_ns = 10, .status_changed_ns = 11,
                          .change_counter = 0xfffffffe};
  memo.outbound.exists = true;
  memo.outbound.complete = true;
  memo.outbound.acks = {{"m1", policy::AckStatus::processing, "2026-12-01 10:00:00"},
                        {"m2", policy::AckStatus::unknown, ""},
                        {std::string(300, 'x'), policy::AckStatus::failed, "garbage"}};
  memo.outbound.tool = policy::ToolFact{"bash", 120000, "2026-12-01T10:00:00Z", "2026-12-01 10:00:01"};
  memo.inbound.acked_messages["m1"] = {"m1", policy::MessageStatus::pending, 3, "2026-12-01 11:00:00", "0 * * * *"};
  memo.inbound.acked_messages["m2"] = {"m2", policy::MessageStatus::paused, -1, std::nullopt, std::nullopt};
  memo.inbound.finished_recurring = {{"r1", "*/5 * * * *", false}};
  memo.inbound.state.count_by_status = {{"pending", 2}, {"wat", 1}};
  memo.inbound.state.pending = {{"m1", TimePoint(Duration(1'800'000'000'000)), false}, {"m3", std::nullopt, true}};
  memo.acks_compacted = true;
  return memo;
}

bool same(const PassMemo& a, const PassMemo& b) { return encode_pass_memo(a) == encode_pass_memo(b); }

// --- the file format -----------------------------------------------------------------------

TEST(PassMemoFormat, EveryFieldSurvivesTheFile) {
  const auto memo = full_memo();
  auto back = decode_pass_memo(encode_pass_memo(memo));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->outbound_version, memo.outbound_version);
  EXPECT_EQ(back->inbound_version, memo.inbound_version);
  ASSERT_EQ(back->outbound.acks.size(), 3u);
  EXPECT_EQ(back->outbound.acks[2].message_id, std::string(300, 'x'));
  EXPECT_EQ(back->outbound.acks[2].status, policy::AckStatus::failed);
  ASSERT_TRUE(back->outbound.tool);
  EXPECT_EQ(back->outbound.tool->declared_timeout_ms, 120000);
  EXPECT_EQ(back->inbound.acked_messages.at("m1").recurrence, "0 * * * *");
  EXPECT_EQ(back->inbound.acked_messages.at("m2").tries, -1);
  EXPECT_FALSE(back->inbound.acked_messages.at("m2").process_after);
  EXPECT_EQ(back->inbound.state.pending[0].due_at, memo.inbound.state.pending[0].due_at);
  EXPECT_TRUE(back->inbound.state.pending[1].unreadable);
  EXPECT_TRUE(back->acks_compacted);
  EXPECT_TRUE(same(*back, memo));
}

TEST(PassMemoFormat, ATruncatedFileIsNoMemo) {
  const auto bytes = encode_pass_memo(full_memo());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(decode_pass_memo(std::string_view(bytes).substr(0, n))) << "decoded the first " << n << " bytes";
  }
}

TEST(PassMemoFormat, AnyDamagedByteOrTrailingByteIsNoMemo) {
  const auto bytes = encode_pass_memo(full_memo());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto damaged = bytes;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x20);
    EXPECT_FALSE(decode_pass_memo(damaged)) << "decoded with byte " << i << " changed";
  }
  EXPECT_FALSE(decode_pass_memo(bytes + '\0'));
  EXPECT_FALSE(decode_pass_memo(""));
  EXPECT_FALSE(decode_pass_memo(std::string(4096, '\xff')));
}

// --- which acks are kept --------------------------------------------------------------------

TEST(PassMemoCompaction, KeepsClaimsUnsettledMessagesAcksAndTheLatestSignOfLife) {
  PassMemo memo;
  memo.outbound.acks = {{"claim", policy::AckStatus::processing, "2026-12-01 09:00:00"},
                        {"odd", policy::AckStatus::unknown, "2026-12-01 09:00:00"},
                        {"old", policy::AckStatus::completed, "2026-12-01 08:00:00"},
                        {"newest", policy::AckStatus::completed, "2026-12-01 12:00:00"},
                        {"unreadable", policy::AckStatus::failed, "not a time"},
                        {"unsettled", policy::AckStatus::completed, "2026-12-01 07:00:00"}};
  memo.inbound.acked_messages["unsettled"] = {"unsettled", policy::MessageStatus::pending, 0, {}, {}};
  const auto compacted = compact_acks(memo);
  EXPECT_TRUE(compacted.acks_compacted);
  std::vector<std::string> kept;
  for (const auto& ack : compacted.outbound.acks) kept.push_back(ack.message_id);
  EXPECT_EQ(kept, (std::vector<std::string>{"claim", "odd", "unsettled", "newest"}));
}

// --- the file on disk -----------------------------------------------------------------------

class PassMemoFileTest : public ::testing::Test {
 protected:
  TempDir tmp;
  fs::path file = tmp.path() / "memo";

  void SetUp() override { ASSERT_TRUE(save_pass_memo(file, full_memo())); }
};

TEST_F(PassMemoFileTest, AWholeFileOfThisUserIsLoaded) {
  auto memo = load_pass_memo(file);
  ASSERT_TRUE(memo);
  EXPECT_TRUE(same(*memo, full_memo()));
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(PassMemoFileTest, MissingGarbageOrTruncatedIsIgnored) {
  EXPECT_FALSE(load_pass_memo(tmp.path() / "none"));
  const auto bytes = read_bytes(file);
  write_bytes(file, bytes.substr(0, bytes.size() / 2));
  EXPECT_FALSE(load_pass_memo(file));
  write_bytes(file, "SQLite format 3");
  EXPECT_FALSE(load_pass_memo(file));
}

TEST_F(PassMemoFileTest, ASymlinkIsNeverFollowed) {
  fs::rename(file, tmp.path() / "real");
  fs::create_symlink(tmp.path() / "real", file);
  EXPECT_FALSE(load_pass_memo(file));
}

TEST_F(PassMemoFileTest, ADirectoryOrAFifoIsIgnoredWithoutBlocking) {
  fs::remove(file);
  fs::create_directory(file);
  EXPECT_FALSE(load_pass_memo(file));
  fs::remove(file);
  ASSERT_EQ(::mkfifo(file.c_str(), 0600), 0);
  EXPECT_FALSE(load_pass_memo(file));
}

TEST_F(PassMemoFileTest, AFileOthersCanWriteOrWithASecondLinkIsIgnored) {
  ASSERT_EQ(::chmod(file.c_str(), 0620), 0);
  EXPECT_FALSE(load_pass_memo(file));
  ASSERT_EQ(::chmod(file.c_str(), 0602), 0);
  EXPECT_FALSE(load_pass_memo(file));
  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  ASSERT_TRUE(load_pass_memo(file));
  ASSERT_EQ(::link(file.c_str(), (tmp.path() / "second").c_str()), 0);
  EXPECT_FALSE(load_pass_memo(file));
}

TEST_F(PassMemoFileTest, AFileOfAnotherUserIsIgnored) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, to give the file to another user";
  ASSERT_EQ(::chown(file.c_str(), 65534, 65534), 0);
  EXPECT_FALSE(load_pass_memo(file));
}

TEST_F(PassMemoFileTest, AHugeFileIsNotRead) {
  write_bytes(file, std::string(kMaxPassMemoBytes + 1, 'x'));
  EXPECT_FALSE(load_pass_memo(file));
}

TEST_F(PassMemoFileTest, ASymlinkOrASecondLinkAtTheMemoIsReplacedNotWrittenThrough) {
  const auto target = tmp.path() / "target";
  write_bytes(target, "untouched");
  fs::remove(file);
  fs::create_symlink(target, file);
  ASSERT_TRUE(save_pass_memo(file, full_memo()));
  EXPECT_EQ(read_bytes(target), "untouched");
  EXPECT_FALSE(fs::is_symlink(file));
  EXPECT_TRUE(load_pass_memo(file));

  fs::remove(file);
  ASSERT_EQ(::link(target.c_str(), file.c_str()), 0);
  ASSERT_TRUE(save_pass_memo(file, full_memo()));
  EXPECT_EQ(read_bytes(target), "untouched");
  EXPECT_TRUE(load_pass_memo(file));
}

TEST_F(PassMemoFileTest, AFifoAtTheMemoIsReplacedWithoutBlocking) {
  fs::remove(file);
  ASSERT_EQ(::mkfifo(file.c_str(), 0600), 0);
  ASSERT_TRUE(save_pass_memo(file, full_memo()));
  EXPECT_TRUE(load_pass_memo(file));
}

TEST_F(PassMemoFileTest, ASmallerMemoRewritesTheFileWhole) {
  PassMemo small;
  ASSERT_TRUE(save_pass_memo(file, small));
  auto back = load_pass_memo(file);
  ASSERT_TRUE(back);
  EXPECT_TRUE(same(*back, small));
}

TEST_F(PassMemoFileTest, AMemoTooBigIsNotWrittenAndTheOldOneGoes) {
  PassMemo big;
  for (int i = 0; i < 40'000; ++i) big.outbound.acks.push_back({fmt::format("message-{:030}", i), policy::AckStatus::processing, "x"});
  EXPECT_FALSE(save_pass_memo(file, big));
  EXPECT_FALSE(fs::exists(file));
}

// --- a pass with no memo in hand -------------------------------------------------------------

class PersistedMemoTest : public hostsweep::testing::OneSessionTest {
 protected:
  // No memo handed in: what a restarted daemon's first pass, or `sweep --once`, does.
  PassResult pass(TimePoint at) { return run_pass({.files = files, .policy = policy, .now = at}); }
  // A pass that reads the settled files and leaves its memo in the host's directory.
  void persist() {
    ASSERT_TRUE(wait_until_versions_sure(files));
    auto first = pass(now);
    ASSERT_TRUE(first.memo);
    ASSERT_TRUE(load_pass_memo(files.pass_memo())) << "no memo file was left";
  }
  void ack(const std::string& id, const std::string& status, TimePoint at) {
    SQLite::Database db(files.outbound().string(), SQLite::OPEN_READWRITE);
    SQLite::Statement q(db, "INSERT OR REPLACE INTO processing_ack VALUES (?, ?, ?)");
    q.bind(1, id);
    q.bind(2, status);
    q.bind(3, policy::format_sqlite(at));
    q.exec();
  }
};

TEST_F(PersistedMemoTest, AnUnchangedSessionIsJudgedFromTheMemoTheLastPassLeft) {
  store::enqueue(files, {.id = "later", .content = "x", .process_after = now + 10s}, now);
  persist();
  auto after_restart = pass(now + 11s);
  EXPECT_TRUE(after_restart.from_memo);
  EXPECT_EQ(after_restart.summary.due_ids, std::vector<std::string>{"later"});
  EXPECT_EQ(after_restart.summary.count_by_status.at("pending"), 1);
}

TEST_F(PersistedMemoTest, TheSettledHistoryIsNotKept) {
  for (int i = 0; i < 20; ++i) {
    const auto id = fmt::format("m{}", i);
    store::enqueue(files, {.id = id, .content = "x"}, now - 1h);
    ack(id, "completed", now - 1h + minutes(i));
  }
  persist();  // settles all twenty, then the next pass reads what it left
  ASSERT_TRUE(wait_until_versions_sure(files));
  pass(now);
  auto memo = load_pass_memo(files.pass_memo());
  ASSERT_TRUE(memo);
  EXPECT_EQ(memo->inbound.state.count_by_status.at("completed"), 20);
  ASSERT_EQ(memo->outbound.acks.size(), 1u) << "only the latest sign of life";
  EXPECT_EQ(memo->outbound.acks[0].message_id, "m19");
  EXPECT_TRUE(pass(now + 1s).from_memo);
}

TEST_F(PersistedMemoTest, AChangedFileIsRead) {
  persist();
  store::enqueue(files, {.id = "new", .content = "x"}, now);
  auto after = pass(now + 1s);
  EXPECT_FALSE(after.from_memo);
  EXPECT_EQ(after.summary.due_ids, std::vector<std::string>{"new"});
}

TEST_F(PersistedMemoTest, AnAckWrittenWhileNoOneWatchedIsSettled) {
  store::enqueue(files, {.id = "m", .content = "x"}, now);
  persist();
  ack("m", "completed", now);
  auto after = pass(now + 1s);
  EXPECT_FALSE(after.from_memo);
  ASSERT_EQ(after.settled.size(), 1u);
  EXPECT_EQ(after.settled[0].status, policy::MessageStatus::completed);
}

TEST_F(PersistedMemoTest, AReplacedFileIsRead) {
  persist();
  // The same bytes and times under another inode, renamed over the file.
  const auto copy = tmp.path() / "copy.db";
  fs::copy_file(files.outbound(), copy);
  struct stat st {};
  ASSERT_EQ(::stat(files.outbound().c_str(), &st), 0);
  const timespec times[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, copy.c_str(), times, 0), 0);
  fs::rename(copy, files.outbound());
  EXPECT_FALSE(pass(now + 1s).from_memo);
}

TEST_F(PersistedMemoTest, AFileRewrittenInPlaceWithItsTimesRestoredIsRead) {
  persist();
  const auto before = store::read_file_version(files.outbound());
  ASSERT_TRUE(before);
  // Counter, size, inode and mtime as they were: only the kernel's ctime tells.
  struct stat st {};
  ASSERT_EQ(::stat(files.outbound().c_str(), &st), 0);
  const auto bytes = read_bytes(files.outbound());
  {
    int fd = ::open(files.outbound().c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  }
  const timespec times[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, files.outbound().c_str(), times, 0), 0);
  const auto after_write = store::read_file_version(files.outbound());
  ASSERT_TRUE(after_write);
  EXPECT_EQ(after_write->modified_ns, before->modified_ns);
  EXPECT_EQ(after_write->change_counter, before->change_counter);
  EXPECT_NE(after_write->status_changed_ns, before->status_changed_ns);
  EXPECT_FALSE(pass(now + 1s).from_memo);
}

TEST_F(PersistedMemoTest, ASymlinkedFileIsNeverTrusted) {
  persist();
  const auto elsewhere = tmp.path() / "elsewhere.db";
  fs::rename(files.outbound(), elsewhere);
  fs::create_symlink(elsewhere, files.outbound());
  EXPECT_FALSE(store::read_file_version(files.outbound()));
  EXPECT_THROW(pass(now + 1s), Error);  // read, and refused: no container starts on it
}

TEST_F(PersistedMemoTest, AFileWithAJournalBesideItIsRead) {
  persist();
  fs::path journal = files.outbound();
  journal += "-journal";
  write_bytes(journal, "");
  EXPECT_FALSE(pass(now + 1s).from_memo);
}

TEST_F(PersistedMemoTest, ADamagedMemoFileIsIgnoredAndReplaced) {
  store::enqueue(files, {.id = "later", .content = "x", .process_after = now + 10s}, now);
  persist();
  auto bytes = read_bytes(files.pass_memo());
  bytes[bytes.size() - 3] = static_cast<char>(bytes[bytes.size() - 3] ^ 1);
  write_bytes(files.pass_memo(), bytes);
  auto after = pass(now + 1s);
  EXPECT_FALSE(after.from_memo);
  EXPECT_EQ(after.summary.next_due, now + 10s);
  EXPECT_TRUE(pass(now + 2s).from_memo) << "the pass that read the files left a good memo";
}

// The compacted memo left out an ack of a message that did not exist yet; once another writer
// adds the message, the pass reads outbound.db again and settles it, as a pass with no memo does.
TEST_F(PersistedMemoTest, ACompactedMemoIsNotTrustedOnceInboundChanged) {
  ack("early", "completed", now - 1min);
  ack("later", "completed", now);
  persist();
  ASSERT_EQ(load_pass_memo(files.pass_memo())->outbound.acks.size(), 1u);
  store::enqueue(files, {.id = "early", .content = "x"}, now);
  auto after = pass(now + 1s);
  EXPECT_FALSE(after.from_memo);
  ASSERT_EQ(after.settled.size(), 1u);
  EXPECT_EQ(after.settled[0].message_id, "early");
}

TEST(FileVersionDoubt, AVersionTakenJustAfterAChangeIsInDoubt) {
  constexpr std::int64_t ms = 1'000'000;
  constexpr std::int64_t taken = 1'800'000'000'000'000'123;
  EXPECT_TRUE(store::version_in_doubt(taken - 5 * ms, taken));
  EXPECT_FALSE(store::version_in_doubt(taken - 30 * ms, taken));
  EXPECT_TRUE(store::version_in_doubt(taken + 1000 * ms, taken)) << "a ctime ahead of the clock";
  // A file system of whole seconds: a change later in the same second would keep the ctime.
  constexpr std::int64_t whole = 1'800'000'000'000'000'000;
  EXPECT_TRUE(store::version_in_doubt(whole, whole + 1500 * ms));
  EXPECT_FALSE(store::version_in_doubt(whole, whole + 2500 * ms));
}

}  // namespace
}  // namespace hostsweep::sweep
