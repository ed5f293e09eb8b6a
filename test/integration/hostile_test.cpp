// Containers written to be hostile, against a real supervisor (FAILURE-MODES.md 11-13): nothing
// a container writes or does decides what the supervisor signals, gets its session a twin, or
// wedges it. Run as root, with cgroups where the host allows them and without.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>

#include <SQLiteCpp/SQLiteCpp.h>

#include "hostsweep/error.hpp"
#include "os/holder_record.hpp"
#include "os/process.hpp"
#include "os/session_lock.hpp"
#include "runtime/child_process.hpp"
#include "store/outbound_store.hpp"
#include "sweep/session_sweep.hpp"
#include "support/process_table.hpp"
#include "support/supervisor_harness.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::testing {
namespace {

using supervisor::EventKind;

// The fake agent's arguments run behind a shell prelude: `prelude; exec fake-agent ...`.
supervisor::SupervisorOptions with_prelude(supervisor::SupervisorOptions options, const std::string& prelude) {
  std::vector<std::string> command = {"/bin/sh", "-c", prelude + "; exec \"$0\" \"$@\""};
  command.insert(command.end(), options.runtime.agent_command.begin(), options.runtime.agent_command.end());
  options.runtime.agent_command = command;
  return options;
}

bool cgroups_in_use(const SupervisorHarness& h) { return h.count(EventKind::containment_reduced) == 0; }

// A process group of the test's own, standing for any process on the host.
struct Victim {
  boost::asio::io_context io;
  std::unique_ptr<runtime::ChildProcess> group;
  Victim() {
    std::error_code ec;
    group = runtime::ChildProcess::start(io.get_executor(), {"sleep", "120"}, {}, ec);
    EXPECT_TRUE(group) << ec.message();
  }
  ~Victim() {
    group->signal_group(SIGKILL);
    bool done = false;
    group->async_wait([&](std::error_code, runtime::ExitStatus) { done = true; });
    while (!done) io.run_one();
    group->reap();
  }
  pid_t pid() const { return group->pid(); }
};

// FAILURE-MODES.md 11: a container forges the files it can reach, and a record left behind names
// a pid that is now another process group. A supervisor starting on this never signals it.
TEST(Hostile, AForgedLockRecordNeverSignalsAnotherProcess) {
  Victim victim;
  SupervisorHarness h;
  auto s = h.create_session("s1");
  auto forged = std::to_string(victim.pid()) + " 2026-01-01T00:00:00Z 999999999\n";
  { std::ofstream(s.files.dir() / ".hostsweep.lock") << forged; }  // where the old lock record lived
  os::make_private_directories(s.files.host_dir());
  auto identity = os::identify(victim.pid());
  ASSERT_TRUE(identity);
  os::write_holder_record(s.files.holder_record(), {.container = {victim.pid(), identity->start_ticks + 7},
                                                    .started_at = policy::now_utc(),
                                                    .supervisor = {999999999, 1}});
  h.start();
  auto id = h.enqueue("s1");
  ASSERT_TRUE(h.wait_for_status("s1", id, "completed")) << h.story();
  EXPECT_TRUE(alive(victim.pid()));
  EXPECT_EQ(h.count(EventKind::container_killed), 0) << h.story();
  EXPECT_EQ(h.count(EventKind::container_started), 1) << h.story();
}

// FAILURE-MODES.md 12: a container that closes every descriptor it has still holds nothing the
// supervisor relies on: no twin is started, and a maintenance pass leaves its claims alone.
TEST(Hostile, AContainerThatClosesItsDescriptorsGetsNoTwin) {
  auto options = with_prelude(fast_options(), "exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-");
  options.policy.stuck.claim_tolerance = std::chrono::hours{1};
  SupervisorHarness h(options);
  auto s = h.create_session("s1", {"hang-after-claim"});
  h.start();
  auto id = h.enqueue("s1");
  ASSERT_TRUE(h.wait_for([&] { return !policy::claimed_ids(store::read_outbound(s.files).acks).empty(); }))
      << h.story();
  EXPECT_TRUE(os::SessionLock::is_held(s.files.lock()));

  auto pass = sweep::sweep_once(s.files, h.options().policy, policy::now_utc());
  EXPECT_TRUE(pass.held_elsewhere);
  EXPECT_EQ(pass.claims_deleted, 0);
  EXPECT_EQ(policy::claimed_ids(store::read_outbound(s.files).acks).size(), 1u);
  EXPECT_EQ(h.message("s1", id).tries, 0);

  supervisor::Supervisor second(h.io().get_executor(), h.data(), h.options(), [](const supervisor::Event&) {});
  try {
    second.start();
    ADD_FAILURE() << "a second supervisor started on the same data directory";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already supervised by another process"), std::string::npos) << e.what();
  }
  h.wait_for([] { return false; }, std::chrono::milliseconds(300));
  EXPECT_EQ(h.count(EventKind::container_started), 1) << h.story();
}

// FAILURE-MODES.md 13: a grandchild that leaves the process group (setsid) while its container
// crashes mid-message. With a cgroup it dies with the container; either way the message is
// retried and completed by the next container.
void escapee_story(SupervisorHarness& h, bool expect_escapee_dead) {
  auto s = h.create_session("s1", {"crash-after-claim", "normal"});
  h.start();
  auto id = h.enqueue("s1");
  ASSERT_TRUE(h.wait_for_status("s1", id, "completed")) << h.story();
  EXPECT_EQ(h.message("s1", id).tries, 1);
  EXPECT_EQ(h.count(EventKind::container_started), 2) << h.story();
  pid_t escapee = 0;
  std::ifstream(s.files.dir() / "escapee.pid") >> escapee;
  ASSERT_GT(escapee, 1);
  if (expect_escapee_dead) {
    EXPECT_TRUE(h.wait_for([&] { return !alive(escapee); })) << "the setsid escapee outlived its container";
  }
  h.stop();
  ::kill(escapee, SIGKILL);
}

TEST(Hostile, ASetsidEscapeeDiesWithItsContainersCgroup) {
  SupervisorHarness h(with_prelude(fast_options(), "if [ ! -e {session_dir}/escapee.pid ]; then setsid sleep 300 & echo $! > {session_dir}/escapee.pid; fi"));
  h.options().cgroup = os::CgroupSetting::parse("auto");
  {
    SupervisorHarness probe;
    probe.start();
    if (!cgroups_in_use(probe)) GTEST_SKIP() << "no writable cgroup v2 here: " << probe.story();
  }
  escapee_story(h, true);
  EXPECT_EQ(h.count(EventKind::session_locked_elsewhere), 0) << h.story();
}

TEST(Hostile, WithoutACgroupASetsidEscapeeDoesNotWedgeItsSession) {
  SupervisorHarness h(with_prelude(fast_options(), "if [ ! -e {session_dir}/escapee.pid ]; then setsid sleep 300 & echo $! > {session_dir}/escapee.pid; fi"));
  h.options().cgroup = os::CgroupSetting::parse("off");
  escapee_story(h, false);
  EXPECT_EQ(h.count(EventKind::containment_reduced), 1) << h.story();
}

// FAILURE-MODES.md 14: a container SIGKILLed inside a write transaction on outbound.db, after its
// cache spilled (so the file holds half a transaction and a hot journal lies beside it): a forged
// reply and a forged `completed` for the claimed message are in that half. The host rolls it back
// once the container has ended, the claim is retried, the next container completes the message,
// and the stop completes.
TEST(Hostile, AContainerKilledMidTransactionIsRolledBackAndItsMessageRetried) {
  auto options = with_prelude(fast_options(),
                              "if [ ! -e {session_dir}/torn ]; then : > {session_dir}/torn; \"$0\" \"$@\"; "
                              "sqlite3 {session_dir}/outbound.db < {session_dir}/torn.sql; kill -9 $$; fi");
  SupervisorHarness h(options);
  auto s = h.create_session("s1", {"crash-after-claim", "normal"});
  auto id = h.enqueue("s1");
  std::ofstream(s.files.dir() / "torn.sql") << "PRAGMA cache_size=2;\n"
                                             "BEGIN IMMEDIATE;\n"
                                             "UPDATE processing_ack SET status='completed';\n"
                                             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<3000)\n"
                                             "INSERT INTO messages_out(id, in_reply_to, timestamp, kind, content)\n"
                                             "SELECT 'torn-'||i, '" << id << "', '2026-01-01T00:00:00Z', 'chat', hex(randomblob(400)) FROM n;\n"
                                             ".shell kill -9 $PPID\n";
  h.start();
  ASSERT_TRUE(h.wait_for_status("s1", id, "completed")) << h.story();
  EXPECT_EQ(h.message("s1", id).tries, 1);
  EXPECT_EQ(h.count(EventKind::message_retried, "s1"), 1) << h.story();
  EXPECT_EQ(h.count(EventKind::container_started, "s1"), 2) << h.story();
  // A check that met the journal while the container still seemed to run said nothing: the
  // cleanup after its end rolled it back. Nothing else went wrong either.
  EXPECT_EQ(h.count(EventKind::session_error), 0) << h.story();
  h.stop();
  EXPECT_TRUE(std::filesystem::exists(s.files.dir() / "torn"));  // the first container did get that far
  EXPECT_FALSE(std::filesystem::exists(s.files.outbound().string() + "-journal"));
  SQLite::Database db(s.files.outbound().string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM messages_out WHERE id LIKE 'torn-%'").getInt(), 0);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM messages_out WHERE in_reply_to = '" + id + "'").getInt(), 1);
}

std::string checksum(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  return std::to_string(std::hash<std::string>{}(bytes)) + ":" + std::to_string(bytes.size());
}

// FAILURE-MODES.md 14 and 16: a container leaves its outbound.db, its heartbeat, a journal and
// the old lock file as symlinks to files of the host. The supervisor follows none of them: each
// is refused with an error that says so, nothing outside the session changes, and once the
// links are gone the session recovers and its message completes.
TEST(Hostile, SymlinkedSessionFilesAreRefusedAndTheSessionRecoversWhenTheyGo) {
  TempDir host;
  const auto db_target = host.path() / "precious.db";
  const auto file_target = host.path() / "precious.txt";
  {
    SQLite::Database db(db_target.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("CREATE TABLE processing_ack (message_id TEXT PRIMARY KEY, status TEXT, status_changed TEXT)");
    db.exec("INSERT INTO processing_ack VALUES ('x', 'processing', '2026-01-01T00:00:00Z')");
  }
  std::ofstream(file_target) << "host data\n";
  const auto db_sum = checksum(db_target);
  const auto file_sum = checksum(file_target);
  const auto file_mtime = std::filesystem::last_write_time(file_target);

  auto prelude = "if [ ! -e {session_dir}/linked ]; then : > {session_dir}/linked; cd {session_dir}; \"$0\" \"$@\"; "
                 "mv outbound.db outbound.real; ln -s " + db_target.string() + " outbound.db; "
                 "ln -sf " + file_target.string() + " .heartbeat; ln -s " + file_target.string() + " outbound.db-journal; "
                 "ln -s " + file_target.string() + " .hostsweep.lock; kill -9 $$; fi";
  SupervisorHarness h(with_prelude(fast_options(), prelude));
  auto s = h.create_session("s1", {"crash-after-claim", "normal"});
  h.start();
  auto id = h.enqueue("s1");
  // A check that runs while the links are being made may first see the journal link (a "hot
  // journal" while the container may still run); the refusal of the symlinked file must follow.
  ASSERT_TRUE(h.wait_for([&] {
    for (const auto& e : h.of(EventKind::session_error)) {
      if (e.session_id == "s1" && e.reason.find("is a symlink: refused") != std::string::npos) return true;
    }
    return false;
  })) << h.story();
  h.wait_for([] { return false; }, 500ms);  // time for anything that would follow a link
  EXPECT_EQ(h.count(EventKind::container_started, "s1"), 1) << "started beside a broken session\n" << h.story();
  EXPECT_EQ(checksum(db_target), db_sum);
  EXPECT_EQ(checksum(file_target), file_sum);
  EXPECT_EQ(std::filesystem::last_write_time(file_target), file_mtime);
  EXPECT_TRUE(std::filesystem::is_symlink(s.files.heartbeat()) || !std::filesystem::exists(s.files.heartbeat()));

  // The links go (the container's own file back in place): the session recovers.
  for (const char* link : {"outbound.db", ".heartbeat", "outbound.db-journal", ".hostsweep.lock"})
    std::filesystem::remove(s.files.dir() / link);
  std::filesystem::rename(s.files.dir() / "outbound.real", s.files.outbound());
  ASSERT_TRUE(h.wait_for_status("s1", id, "completed")) << h.story();
  EXPECT_EQ(h.message("s1", id).tries, 1);
  EXPECT_EQ(h.count(EventKind::container_started, "s1"), 2) << h.story();
  h.stop();
  EXPECT_EQ(checksum(db_target), db_sum);
  EXPECT_EQ(checksum(file_target), file_sum);
}

// A supervisor SIGKILLed mid-message: the next one finds the orphan by what the kernel says,
// stops it, waits until it is gone, and only then cleans up and starts anew. No duplicate.
void orphan_story(const std::string& cgroup) {
  auto options = fast_options();
  options.policy.stuck.claim_tolerance = std::chrono::hours{1};
  options.cgroup = os::CgroupSetting::parse(cgroup);
  SupervisorHarness h(options);
  auto s = h.create_session("s1", {"hang-after-claim", "normal"});
  h.start();
  auto id = h.enqueue("s1");
  ASSERT_TRUE(h.wait_for([&] { return !policy::claimed_ids(store::read_outbound(s.files).acks).empty(); }))
      << h.story();
  auto started = h.of(EventKind::container_started);
  ASSERT_EQ(started.size(), 1u);
  pid_t orphan = started[0].pid;
  h.abandon();
  ASSERT_TRUE(alive(orphan));
  EXPECT_FALSE(os::SessionLock::is_held(s.files.lock()));
  EXPECT_TRUE(sweep::container_may_run(s.files));  // status and explain still see it
  auto pass = sweep::sweep_once(s.files, options.policy, policy::now_utc());
  EXPECT_TRUE(pass.orphan);  // and a maintenance pass leaves it alone
  EXPECT_EQ(pass.claims_deleted, 0);
  pass.orphan_lock.reset();

  h.start();
  ASSERT_TRUE(h.wait_for_status("s1", id, "completed")) << h.story();
  EXPECT_FALSE(alive(orphan));
  EXPECT_EQ(h.message("s1", id).tries, 1);
  // The orphan was stopped before the next container started.
  std::vector<std::string> order;
  for (const auto& e : h.events()) {
    if (e.kind == EventKind::container_killed) order.push_back("killed " + e.reason);
    if (e.kind == EventKind::container_started) order.push_back("started");
  }
  EXPECT_EQ(order, (std::vector<std::string>{"started", "killed orphan", "started"})) << h.story();
  EXPECT_FALSE(std::filesystem::exists(s.files.holder_record()) && !os::SessionLock::is_held(s.files.lock()));
}

TEST(Hostile, AnOrphanOfADeadSupervisorIsStoppedBeforeTheNextStart_Cgroup) { orphan_story("auto"); }
TEST(Hostile, AnOrphanOfADeadSupervisorIsStoppedBeforeTheNextStart_ProcessGroup) { orphan_story("off"); }

}  // namespace
}  // namespace hostsweep::testing
