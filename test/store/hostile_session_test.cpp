// A session directory is written by the container, which may be hostile (FAILURE-MODES.md):
// the store must refuse a session file, or a journal beside one, that is a symlink or not a
// regular file, with one error that names it; must never read, write or delete anything outside
// the session on the word of a file the container wrote; must get a session whose container was
// killed mid-commit going again (FAILURE-MODES.md 14); and must not read a huge outbound.db.
// Everything here runs on real files, real symlinks and a real killed process.
#include <SQLiteCpp/SQLiteCpp.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <ostream>
#include <string>

#include "hostsweep/error.hpp"
#include "os/session_lock.hpp"
#include "store/file_version.hpp"
#include "store/inbound_store.hpp"
#include "store/outbound_store.hpp"
#include "hostsweep/store/registry.hpp"
#include "sweep/session_sweep.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::store {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono;
using hostsweep::testing::read_file;
using hostsweep::testing::TempDir;
using hostsweep::testing::write_file;

const TimePoint kNow = TimePoint{sys_days{year{2026} / 3 / 8} + 12h};

// What a host file looks like, to prove that nothing touched it.
struct Fingerprint {
  bool exists = false;
  std::string content;
  std::int64_t mtime_ns = 0;
  friend bool operator==(const Fingerprint&, const Fingerprint&) = default;
  friend void PrintTo(const Fingerprint& f, std::ostream* os) {
    *os << (f.exists ? "\"" + f.content.substr(0, 40) + "\" mtime " + std::to_string(f.mtime_ns) : "<missing>");
  }
};

Fingerprint fingerprint(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return {};
  return {true, read_file(p), st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec};
}

// The hostsweep::Error that `f` throws (or a failure if it throws none).
Error error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no hostsweep::Error thrown";
  return Error(Errc::io_error, "<none>");
}

void exec(const fs::path& db, const std::string& sql) {
  SQLite::Database(db.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE).exec(sql);
}

void add_ack(const fs::path& outbound, const std::string& id, const std::string& status) {
  exec(outbound, "INSERT INTO processing_ack VALUES ('" + id + "', '" + status + "', '2026-03-08 11:00:00')");
}

// A rollback journal as a hostile container would forge it: hot (its first byte is not 0), and
// ending with a super-journal record that names `super`, which SQLite deletes after a rollback.
void forge_journal(const fs::path& journal, const std::string& super) {
  static constexpr unsigned char kMagic[8] = {0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7};
  auto be32 = [](std::uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
  };
  std::string bytes(512, '\0');
  std::memcpy(bytes.data(), kMagic, sizeof kMagic);
  std::uint32_t checksum = 0;
  for (char c : super) checksum += static_cast<unsigned char>(c);
  bytes += be32(0x40000000 / 4096 + 1) + super + be32(static_cast<std::uint32_t>(super.size())) + be32(checksum);
  bytes.append(reinterpret_cast<const char*>(kMagic), sizeof kMagic);
  write_file(journal, bytes);
}

class HostileSessionTest : public ::testing::Test {
 protected:
  TempDir tmp;
  TempDir host;  // stands for everything outside the session: nothing in it may change
  DataDir data{tmp.path() / "data"};
  SessionFiles files = create_session(data, "group", std::string("s1"), kNow).files;

  // A valid outbound.db outside the session, which SQLite would gladly read through a link.
  fs::path host_outbound() {
    auto p = host.path() / "other-outbound.db";
    if (!fs::exists(p)) {
      fs::copy_file(files.outbound(), p);
      add_ack(p, "host-secret", "completed");
    }
    return p;
  }
  fs::path host_inbound() {
    auto p = host.path() / "other-inbound.db";
    if (!fs::exists(p)) fs::copy_file(files.inbound(), p);
    return p;
  }

  std::optional<os::SessionLock> lock() { return os::SessionLock::try_acquire(files.lock()); }
};

TEST_F(HostileSessionTest, ASymlinkedOutboundIsRefusedByEveryOpenAndItsTargetIsUntouched) {
  const auto target = host_outbound();
  const auto before = fingerprint(target);
  fs::remove(files.outbound());
  fs::create_symlink(target, files.outbound());
  auto held = lock();
  ASSERT_TRUE(held);

  const std::string refused = files.outbound().string() + " is a symlink: refused";
  for (const auto& call : std::vector<std::function<void()>>{
           [&] { read_outbound(files); },
           [&] { read_outbound(files, *held); },
           [&] { delete_orphan_claims(files, {"host-secret"}, *held); },
           [&] { ensure_outbound(files, *held); },
       }) {
    auto e = error_of(call);
    EXPECT_EQ(e.code(), Errc::corrupt_file);
    EXPECT_EQ(std::string(e.what()), refused);
  }
  // A dangling link is refused too, not taken for "no outbound.db yet".
  fs::remove(files.outbound());
  fs::create_symlink(host.path() / "nothing-here.db", files.outbound());
  EXPECT_EQ(std::string(error_of([&] { read_outbound(files); }).what()), refused);
  EXPECT_EQ(std::string(error_of([&] { ensure_outbound(files, *held); }).what()), refused);
  EXPECT_FALSE(fs::exists(host.path() / "nothing-here.db"));
  EXPECT_EQ(fingerprint(target), before);
}

TEST_F(HostileSessionTest, ASymlinkedInboundIsRefusedAndNothingIsWrittenThroughIt) {
  const auto target = host_inbound();
  const auto before = fingerprint(target);
  fs::remove(files.inbound());
  fs::create_symlink(target, files.inbound());

  const std::string refused = files.inbound().string() + " is a symlink: refused";
  for (const auto& call : std::vector<std::function<void()>>{
           [&] { enqueue(files, {.content = "x"}, kNow); },
           [&] { summarize_inbound(files, kNow); },
           [&] { InboundDb db(files); },
       }) {
    auto e = error_of(call);
    EXPECT_EQ(e.code(), Errc::corrupt_file);
    EXPECT_EQ(std::string(e.what()), refused);
  }
  EXPECT_EQ(fingerprint(target), before);
}

TEST_F(HostileSessionTest, ADirectoryOrAFifoIsNotADatabase) {
  fs::remove(files.outbound());
  fs::create_directory(files.outbound());
  EXPECT_EQ(std::string(error_of([&] { read_outbound(files); }).what()),
            files.outbound().string() + " is a directory, not a database");

  // A read-only open of a fifo would block in open(2) until someone writes to it: never reached.
  fs::remove(files.inbound());
  ASSERT_EQ(::mkfifo(files.inbound().c_str(), 0600), 0);
  auto reading = std::async(std::launch::async, [&] { return error_of([&] { summarize_inbound(files, kNow); }); });
  if (reading.wait_for(5s) == std::future_status::timeout) {
    ADD_FAILURE() << "opening a fifo blocked";
    int unblock = ::open(files.inbound().c_str(), O_WRONLY | O_NONBLOCK);
    ::close(unblock);
  }
  auto e = reading.get();
  EXPECT_EQ(e.code(), Errc::corrupt_file);
  EXPECT_EQ(std::string(e.what()), files.inbound().string() + " is a fifo, not a database");
}

TEST_F(HostileSessionTest, ASymlinkedJournalIsRefusedBeforeEitherDatabaseIsOpened) {
  // A hot-looking file outside: SQLite would read it as the journal and roll back through it.
  const auto target = host.path() / "journal";
  write_file(target, std::string(8192, 'j'));
  const auto before = fingerprint(target);
  const auto outbound_before = fingerprint(files.outbound());
  auto held = lock();
  ASSERT_TRUE(held);

  fs::create_symlink(target, files.outbound().string() + "-journal");
  const std::string refused = files.outbound().string() + "-journal is a symlink: refused";
  EXPECT_EQ(std::string(error_of([&] { read_outbound(files); }).what()), refused);
  EXPECT_EQ(std::string(error_of([&] { read_outbound(files, *held); }).what()), refused);
  EXPECT_EQ(std::string(error_of([&] { delete_orphan_claims(files, {"m"}, *held); }).what()), refused);

  // inbound.db's, dangling: a writer would create its journal through it.
  const auto created = host.path() / "created-by-the-host";
  fs::create_symlink(created, files.inbound().string() + "-journal");
  auto e = error_of([&] { enqueue(files, {.content = "x"}, kNow); });
  EXPECT_EQ(e.code(), Errc::corrupt_file);
  EXPECT_EQ(std::string(e.what()), files.inbound().string() + "-journal is a symlink: refused");

  EXPECT_EQ(fingerprint(target), before);
  EXPECT_FALSE(fs::exists(created));
  EXPECT_EQ(fingerprint(files.outbound()), outbound_before);
}

TEST_F(HostileSessionTest, AJournalThatIsADirectoryIsRefused) {
  fs::create_directory(files.outbound().string() + "-journal");
  EXPECT_EQ(std::string(error_of([&] { read_outbound(files); }).what()),
            files.outbound().string() + "-journal is a directory, not a regular file: refused");
  fs::create_directory(files.inbound().string() + "-wal");
  EXPECT_EQ(std::string(error_of([&] { summarize_inbound(files, kNow); }).what()),
            files.inbound().string() + "-wal is a directory, not a regular file: refused");
}

// Swapped in after the open's check: SQLite's own O_NOFOLLOW refuses it, and the error still
// says which file and why.
TEST_F(HostileSessionTest, AJournalLinkSwappedInAfterTheOpenIsStillRefusedByName) {
  InboundDb db(files);
  const auto created = host.path() / "created-by-the-host";
  fs::create_symlink(created, files.inbound().string() + "-journal");
  auto e = error_of([&] { db.enqueue({.content = "x"}, kNow); });
  EXPECT_EQ(e.code(), Errc::corrupt_file);
  EXPECT_EQ(std::string(e.what()), files.inbound().string() + "-journal is a symlink: refused");
  EXPECT_FALSE(fs::exists(created));
}

// A fifo in place of the journal after the open's check: SQLite, looking for a hot journal,
// would open(2) it read-only and wait for a writer forever.
TEST_F(HostileSessionTest, AFifoJournalSwappedInAfterTheOpenNeitherBlocksNorIsRead) {
  InboundDb db(files);
  const std::string journal = files.inbound().string() + "-journal";
  ASSERT_EQ(::mkfifo(journal.c_str(), 0600), 0);
  auto reading = std::async(std::launch::async, [&] { return error_of([&] { db.read_state(); }); });
  if (reading.wait_for(5s) == std::future_status::timeout) {
    ADD_FAILURE() << "opening a fifo blocked";
    ::close(::open(journal.c_str(), O_WRONLY | O_NONBLOCK));  // lets it go
  }
  auto e = reading.get();
  EXPECT_EQ(e.code(), Errc::corrupt_file);
  EXPECT_EQ(std::string(e.what()), journal + " is a fifo, not a regular file: refused");
}

// SQLite, rolling back a hot journal, deletes the "super-journal" the journal names (measured:
// a read-write open of a file with such a journal deletes any file it names). The host opens
// inbound.db read-write while the container runs, and outbound.db once it has ended.
TEST_F(HostileSessionTest, AForgedJournalCannotMakeTheHostDeleteAHostFile) {
  const auto victim = host.path() / "precious";
  write_file(victim, "host data");
  const auto before = fingerprint(victim);
  auto held = lock();
  ASSERT_TRUE(held);

  // Refused before SQLite opens anything: the journal is left as it was, for a human to look at.
  const std::string refused =
      "-journal names a super-journal, a file outside the session that rolling it back would delete: refused (a "
      "session file is never part of a multi-file transaction)";
  const fs::path inbound_journal = files.inbound().string() + "-journal";
  forge_journal(inbound_journal, victim.string());
  const auto journal_before = fingerprint(inbound_journal);
  auto e = error_of([&] { enqueue(files, {.content = "x"}, kNow); });
  EXPECT_EQ(e.code(), Errc::corrupt_file);
  EXPECT_EQ(std::string(e.what()), files.inbound().string() + refused) << "the container's text is not repeated";
  EXPECT_EQ(fingerprint(inbound_journal), journal_before);

  forge_journal(files.outbound().string() + "-journal", victim.string());
  e = error_of([&] { read_outbound(files, *held); });
  EXPECT_EQ(std::string(e.what()), files.outbound().string() + refused);
  EXPECT_TRUE(fs::exists(files.outbound().string() + "-journal"));
  EXPECT_EQ(fingerprint(victim), before);
}

// The same journal written after the open's check: the VFS under every connection refuses to
// open a super-journal, so SQLite can neither read nor delete it.
TEST_F(HostileSessionTest, AForgedJournalWrittenAfterTheCheckStillCannotDeleteAHostFile) {
  const auto victim = host.path() / "precious";
  write_file(victim, "host data");
  const auto before = fingerprint(victim);

  InboundDb db(files);  // checked and open; its next read finds the journal hot
  forge_journal(files.inbound().string() + "-journal", victim.string());
  auto e = error_of([&] { db.read_state(); });
  EXPECT_EQ(e.code(), Errc::corrupt_file);
  EXPECT_EQ(std::string(e.what()),
            files.inbound().string() + "-journal names a super-journal, a file outside the session: refused");
  EXPECT_EQ(fingerprint(victim), before);
}

// Begins a transaction on `database` in a child process, writes enough rows through a one-page
// cache to spill pages into the file, and is SIGKILLed before COMMIT: a container killed
// mid-commit. The child uses only SQLite's C API and _exit, as a forked child of a threaded
// process must.
void kill_a_writer_mid_transaction(const fs::path& database) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(database.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) ::_exit(2);
    const char* sql = R"sql(
      PRAGMA journal_mode=DELETE; PRAGMA cache_size=1;
      BEGIN IMMEDIATE;
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000)
      INSERT INTO processing_ack SELECT 'dying-' || i || '-' || hex(randomblob(100)), 'processing',
                                        '2026-03-08 12:00:00' FROM n;)sql";
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) ::_exit(3);
    char c = 'r';
    if (::write(ready[1], &c, 1) != 1) ::_exit(4);
    for (;;) ::pause();  // killed here, inside its transaction
  }
  ::close(ready[1]);
  char c = 0;
  const bool got_ready = ::read(ready[0], &c, 1) == 1;
  ::close(ready[0]);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(got_ready) << "the writer failed before its transaction: exit " << WEXITSTATUS(status);
}

TEST_F(HostileSessionTest, FailureMode14_AWriterKilledMidTransactionIsRolledBackOnceTheContainerHasEnded) {
  add_ack(files.outbound(), "a", "completed");
  add_ack(files.outbound(), "b", "processing");
  const auto size_before = fs::file_size(files.outbound());

  ASSERT_NO_FATAL_FAILURE(kill_a_writer_mid_transaction(files.outbound()));
  const auto journal = fs::path(files.outbound().string() + "-journal");
  ASSERT_TRUE(fs::exists(journal)) << "no hot journal was left";
  ASSERT_GT(fs::file_size(files.outbound()), size_before) << "no page of the transaction reached the file";

  // Read-only, it cannot be rolled back: one plain error, as often as it is asked.
  const std::string hot = files.outbound().string() +
                          " has a hot journal (a writer died mid-transaction); it is rolled back once the container "
                          "has ended";
  for (int i = 0; i < 2; ++i) {
    auto e = error_of([&] { read_outbound(files); });
    EXPECT_EQ(e.code(), Errc::io_error);
    EXPECT_EQ(std::string(e.what()), hot);
  }
  EXPECT_THROW(read_outbound(files), HotJournal);  // a state the container's end undoes
  // A pass for the running container reads around it, and says it is that kind of problem.
  const auto running = sweep::run_pass({.files = files, .policy = {}, .now = policy::now_utc(),
                                        .own_container_since = policy::now_utc()});
  EXPECT_TRUE(running.outbound_unreadable);
  EXPECT_EQ(running.file_error, hot);
  EXPECT_TRUE(running.file_error_may_pass);
  EXPECT_FALSE(read_file_version(files.outbound())) << "a journal beside it: no version, so a pass reads it in full";

  // Under the lock, with the container gone: rolled back, then read as it was before.
  auto held = lock();
  ASSERT_TRUE(held);
  auto snapshot = read_outbound(files, *held);
  ASSERT_EQ(snapshot.acks.size(), 2u);
  EXPECT_EQ(snapshot.acks[0].message_id, "a");
  EXPECT_EQ(snapshot.acks[1].message_id, "b");
  EXPECT_FALSE(fs::exists(journal));
  EXPECT_EQ(fs::file_size(files.outbound()), size_before);
  EXPECT_EQ(read_outbound(files).acks.size(), 2u);  // and read-only again from now on
}

// The supervisor takes outbound.db's IN_CLOSE_WRITE for a container's commit and checks the
// session again: a read under the lock that opened it for writing each time would wake it
// forever (FAILURE-MODES.md 18).
TEST_F(HostileSessionTest, ALockedReadOpensTheFileForWritingOnlyToRollBack) {
  add_ack(files.outbound(), "a", "completed");
  int watch = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  ASSERT_GE(watch, 0);
  ASSERT_GE(::inotify_add_watch(watch, files.dir().c_str(), IN_CLOSE_WRITE), 0);
  auto closed_after_writing = [&] {
    std::vector<std::string> names;
    alignas(inotify_event) char buffer[4096];
    for (ssize_t n; (n = ::read(watch, buffer, sizeof buffer)) > 0;) {
      for (char* p = buffer; p < buffer + n;) {
        auto* event = reinterpret_cast<inotify_event*>(p);
        if (event->len > 0) names.emplace_back(event->name);
        p += sizeof(inotify_event) + event->len;
      }
    }
    return names;
  };
  auto held = lock();
  ASSERT_TRUE(held);
  EXPECT_EQ(read_outbound(files, *held).acks.size(), 1u);
  EXPECT_EQ(closed_after_writing(), std::vector<std::string>{});

  ASSERT_NO_FATAL_FAILURE(kill_a_writer_mid_transaction(files.outbound()));
  closed_after_writing();
  EXPECT_EQ(read_outbound(files, *held).acks.size(), 1u);
  auto names = closed_after_writing();
  EXPECT_NE(std::find(names.begin(), names.end(), "outbound.db"), names.end()) << "the rollback wrote it";
  ::close(watch);
}

TEST_F(HostileSessionTest, AnOutboundOverTheCapIsNotRead) {
  // Sparse: 300 MiB on paper, nothing on disk.
  ASSERT_EQ(::truncate(files.outbound().c_str(), 300LL << 20), 0);
  auto e = error_of([&] { read_outbound(files); });
  EXPECT_EQ(e.code(), Errc::corrupt_file);
  EXPECT_EQ(std::string(e.what()), files.outbound().string() + " is 300 MiB, over the 256 MiB cap: not read");
  auto held = lock();
  ASSERT_TRUE(held);
  EXPECT_EQ(std::string(error_of([&] { read_outbound(files, *held); }).what()), e.what());
  // The cap is a parameter.
  EXPECT_NO_THROW(read_outbound(files, {.max_bytes = 400LL << 20}));
}

// In WAL mode the rows can live in outbound.db-wal while outbound.db stays small: the size that
// counts is that of the snapshot read, measured inside the read transaction.
TEST_F(HostileSessionTest, AnOutboundWhoseRowsSitInItsWalIsMeasuredAsRead) {
  SQLite::Database container(files.outbound().string(), SQLite::OPEN_READWRITE);
  container.exec("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0");
  container.exec(R"sql(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
                       INSERT INTO processing_ack SELECT 'm' || i || hex(randomblob(200)), 'completed',
                                                         '2026-03-08 11:00:00' FROM n)sql");
  const auto file_bytes = static_cast<std::int64_t>(fs::file_size(files.outbound()));
  const std::int64_t cap = file_bytes + (64 << 10);
  ASSERT_GT(static_cast<std::int64_t>(fs::file_size(files.outbound().string() + "-wal")), 2 * cap);
  auto e = error_of([&] { read_outbound(files, {.max_bytes = cap}); });
  EXPECT_EQ(e.code(), Errc::corrupt_file);
  EXPECT_NE(std::string(e.what()).find(", over the " + std::to_string(cap / 1024) + " KiB cap: not read"), std::string::npos)
      << e.what();
  EXPECT_EQ(read_outbound(files).acks.size(), 3000u);
}

// --- .heartbeat -------------------------------------------------------------------------------

TEST_F(HostileSessionTest, AHeartbeatIsARegularFileOrNoSignOfLife) {
  EXPECT_FALSE(read_heartbeat(files));
  write_file(files.heartbeat(), "");
  fs::last_write_time(files.heartbeat(), fs::file_time_type::clock::now() - 1h);
  auto mtime = read_heartbeat(files);
  ASSERT_TRUE(mtime);
  EXPECT_GT(policy::now_utc() - *mtime, 59min);
  EXPECT_LT(policy::now_utc() - *mtime, 2h);

  // A link to a host file that is touched all the time (a log): its mtime must not keep a hung
  // container alive.
  const auto busy = host.path() / "busy.log";
  write_file(busy, "x");
  fs::remove(files.heartbeat());
  fs::create_symlink(busy, files.heartbeat());
  EXPECT_FALSE(read_heartbeat(files));
  fs::remove(files.heartbeat());
  fs::create_symlink(host.path() / "nothing", files.heartbeat());
  EXPECT_FALSE(read_heartbeat(files));
  fs::remove(files.heartbeat());
  fs::create_directory(files.heartbeat());
  EXPECT_FALSE(read_heartbeat(files));
  fs::remove(files.heartbeat());
  ASSERT_EQ(::mkfifo(files.heartbeat().c_str(), 0600), 0);
  EXPECT_FALSE(read_heartbeat(files));
}

TEST_F(HostileSessionTest, RemovingAStaleHeartbeatNeverFollowsALinkNorEntersADirectory) {
  auto nothing = remove_stale_heartbeat(files);
  EXPECT_FALSE(nothing.removed);
  EXPECT_FALSE(nothing.problem);

  write_file(files.heartbeat(), "");
  EXPECT_TRUE(remove_stale_heartbeat(files).removed);
  EXPECT_FALSE(fs::exists(files.heartbeat()));

  const auto target = host.path() / "precious";
  write_file(target, "host data");
  const auto before = fingerprint(target);
  fs::create_symlink(target, files.heartbeat());
  auto link = remove_stale_heartbeat(files);
  EXPECT_TRUE(link.removed);
  EXPECT_FALSE(link.problem);
  EXPECT_EQ(fs::symlink_status(files.heartbeat()).type(), fs::file_type::not_found) << "the link itself is gone";
  EXPECT_EQ(fingerprint(target), before);

  fs::create_directory(files.heartbeat());
  write_file(files.heartbeat() / "inside", "kept");
  auto dir = remove_stale_heartbeat(files);
  EXPECT_FALSE(dir.removed);
  ASSERT_TRUE(dir.problem);
  EXPECT_EQ(*dir.problem, files.heartbeat().string() + " is a directory: left in place");
  EXPECT_EQ(read_file(files.heartbeat() / "inside"), "kept");
  // An empty one is not removed either (std::filesystem::remove would rmdir it).
  fs::remove(files.heartbeat() / "inside");
  EXPECT_FALSE(remove_stale_heartbeat(files).removed);
  EXPECT_TRUE(fs::is_directory(files.heartbeat()));
}

// run-as-user hands the session to the container's account (hand_over_session): the directory
// and outbound.db change owner; a symlinked outbound.db is skipped (its target, a host file,
// keeps its owner), and one with a second hard link (any file of the host) is refused.
TEST_F(HostileSessionTest, HandingOverASessionFollowsNoLinkAndRefusesAHardLinkedFile) {
  if (::geteuid() != 0) GTEST_SKIP() << "chown needs root";
  auto owner = [](const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    return st.st_uid;
  };
  fs::create_directory(files.outbox());
  hand_over_session(files, 65534, 65534);
  EXPECT_EQ(owner(files.dir()), 65534u);
  EXPECT_EQ(owner(files.outbound()), 65534u);
  EXPECT_EQ(owner(files.outbox()), 65534u);
  EXPECT_EQ(owner(files.inbound()), 0u);

  const auto target = host.path() / "precious";
  write_file(target, "host data");
  fs::rename(files.outbound(), files.dir() / "moved.db");
  fs::create_symlink(target, files.outbound());
  hand_over_session(files, 65534, 65534);
  EXPECT_EQ(owner(target), 0u);

  fs::remove(files.outbound());
  fs::create_hard_link(target, files.outbound());
  auto e = error_of([&] { hand_over_session(files, 65534, 65534); });
  EXPECT_EQ(std::string(e.what()), files.outbound().string() + " has 2 hard links: refused (it could be any file of the host)");
  EXPECT_EQ(owner(target), 0u);
}

}  // namespace
}  // namespace hostsweep::store
