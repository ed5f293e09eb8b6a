// hostsweep-fake-agent as the host runs it: the real binary, in its own process group, against
// a real session made by the store, with tiny timings. Outcomes are waited for (every 10 ms,
// up to 10 s), never timed tightly.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "fake_agent_script.hpp"
#include "fake_agent_session.hpp"
#include "hostsweep/error.hpp"
#include "store/inbound_store.hpp"
#include "store/outbound_store.hpp"
#include "hostsweep/store/registry.hpp"
#include "support/temp_dir.hpp"

extern char** environ;

namespace hostsweep::testing {
namespace {

using namespace std::chrono_literals;
using fake_agent::BehaviorKind;

constexpr auto kPatience = 10s;

// Polls `done` every 10 ms until it holds or `patience` runs out; returns its last answer.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds patience = kPatience) {
  auto deadline = std::chrono::steady_clock::now() + patience;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

// The agent as the host starts it: its own process group, stderr to a file. The destructor
// kills the whole group, so that no test leaves an agent or its children behind.
class AgentProcess {
 public:
  AgentProcess(const std::vector<std::string>& args, const std::filesystem::path& log) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    std::vector<std::string> storage{HOSTSWEEP_FAKE_AGENT_PATH};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = posix_spawn(&pid_, HOSTSWEEP_FAKE_AGENT_PATH, &actions, &attr, argv.data(), environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("posix_spawn of the fake agent failed");
  }
  ~AgentProcess() {
    ::kill(-pid_, SIGKILL);
    if (!status_) ::waitpid(pid_, nullptr, 0);
  }
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  pid_t pid() const noexcept { return pid_; }
  void signal(int sig) const { ::kill(pid_, sig); }

  // The exit code, or 128 + the signal that ended it; nullopt while it runs.
  std::optional<int> poll_exit() {
    if (!status_) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) status_ = status;
    }
    if (!status_) return std::nullopt;
    return WIFEXITED(*status_) ? WEXITSTATUS(*status_) : 128 + WTERMSIG(*status_);
  }

  std::optional<int> wait_exit(std::chrono::milliseconds patience = kPatience) {
    wait_until([&] { return poll_exit().has_value(); }, patience);
    return poll_exit();
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;  // waitpid's status once reaped
};

struct OutRow {
  std::string id;
  std::int64_t seq = 0;
  std::string in_reply_to;
  std::string kind;
  bool content_is_json = false;
  std::string content_status;
};

class FakeAgentTest : public ::testing::Test {
 protected:
  TempDir tmp;
  store::DataDir data{tmp.path() / "data"};
  store::SessionFiles files = store::create_session(data, "group", "s1", policy::now_utc()).files;
  std::filesystem::path log_path = tmp.path() / "agent.log";

  std::vector<std::string> args(const std::vector<std::string>& extra, bool idle_exit = true) const {
    std::vector<std::string> a{"--session-dir", files.dir().string(), "--poll-interval", "10ms", "--work-time", "20ms",
                               "--heartbeat-interval", "10ms"};
    if (idle_exit) a.insert(a.end(), {"--idle-exit", "300ms"});
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  // Runs the agent until it exits by itself; -1 if it does not within the patience.
  int run_agent(const std::vector<std::string>& extra = {}) {
    AgentProcess agent(args(extra), log_path);
    auto code = agent.wait_exit();
    EXPECT_TRUE(code.has_value()) << "the agent did not exit; its log:\n" << log();
    return code.value_or(-1);
  }

  std::string log() const { return read_file(log_path); }

  void enqueue(const std::string& id, bool trigger = true) {
    store::NewMessage m;
    m.id = id;
    m.content = R"({"text":"hello"})";
    m.trigger = trigger;
    store::enqueue(files, m, policy::now_utc());
  }

  // The host's raw writes, for data the store API would never produce.
  void inbound_exec(const std::string& sql) const {
    SQLite::Database db(files.inbound(), SQLite::OPEN_READWRITE);
    db.exec(sql);
  }
  void outbound_exec(const std::string& sql) const {
    SQLite::Database db(files.outbound(), SQLite::OPEN_READWRITE);
    db.exec(sql);
  }
  void set_process_after(const std::string& id, const std::string& text) const {
    SQLite::Database db(files.inbound(), SQLite::OPEN_READWRITE);
    SQLite::Statement q(db, "UPDATE messages_in SET process_after = ? WHERE id = ?");
    q.bind(1, text);
    q.bind(2, id);
    ASSERT_EQ(q.exec(), 1);
  }

  std::map<std::string, policy::Ack> acks() const {
    std::map<std::string, policy::Ack> out;
    for (auto& a : store::read_outbound(files).acks) out[a.message_id] = a;
    return out;
  }
  std::string ack_status(const std::string& id) const {
    auto all = acks();
    auto it = all.find(id);
    return it == all.end() ? "<none>" : policy::to_string(it->second.status);
  }

  std::vector<OutRow> replies() const {
    SQLite::Database db(files.outbound());
    SQLite::Statement q(db, R"sql(
      SELECT id, seq, in_reply_to, kind, json_valid(content), json_extract(content, '$.status')
      FROM messages_out WHERE in_reply_to IS NOT NULL ORDER BY seq)sql");
    std::vector<OutRow> out;
    while (q.executeStep()) {
      out.push_back({q.getColumn(0).getString(), q.getColumn(1).getInt64(), q.getColumn(2).getString(),
                     q.getColumn(3).getString(), q.getColumn(4).getInt() == 1, q.getColumn(5).getString()});
    }
    return out;
  }

  std::int64_t max_inbound_seq() const {
    SQLite::Database db(files.inbound());
    return db.execAndGet("SELECT max(seq) FROM messages_in WHERE typeof(seq) = 'integer'").getInt64();
  }

  bool has_heartbeat() const { return std::filesystem::exists(files.heartbeat()); }
};

// --- the program, end to end -------------------------------------------------------------

TEST_F(FakeAgentTest, NormalCompletesATriggerMessageWithAnOddSeqReplyAndAHeartbeat) {
  enqueue("m1");
  EXPECT_EQ(run_agent(), 0) << log();

  auto all = acks();
  ASSERT_EQ(all.size(), 1u) << log();
  EXPECT_EQ(all["m1"].status, policy::AckStatus::completed);
  // datetime('now'): UTC whole seconds, "YYYY-MM-DD HH:MM:SS", like the real container.
  const auto& changed = all["m1"].status_changed;
  EXPECT_EQ(changed.size(), 19u) << changed;
  EXPECT_EQ(changed[10], ' ') << changed;
  auto when = policy::parse_timestamp(changed);
  ASSERT_TRUE(when) << changed;
  EXPECT_LT(std::chrono::abs(*when - policy::now_utc()), std::chrono::hours{1}) << changed;

  auto out = replies();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id, "reply-m1");
  EXPECT_EQ(out[0].in_reply_to, "m1");
  EXPECT_EQ(out[0].kind, "chat");
  EXPECT_TRUE(out[0].content_is_json);
  EXPECT_EQ(out[0].seq % 2, 1);
  EXPECT_GT(out[0].seq, max_inbound_seq());
  EXPECT_TRUE(has_heartbeat());
  EXPECT_NE(log().find("claimed m1"), std::string::npos) << log();
}

TEST_F(FakeAgentTest, ReplySeqsAreTheNextOddNumbersAboveBothFiles) {
  enqueue("m1");  // seq 2
  enqueue("m2");  // seq 4
  outbound_exec("INSERT INTO messages_out (id, seq, timestamp, kind, content) VALUES ('earlier', 9, 'x', 'chat', '{}')");
  EXPECT_EQ(run_agent(), 0) << log();
  auto out = replies();
  ASSERT_EQ(out.size(), 2u) << log();
  EXPECT_EQ(out[0].seq, 11);
  EXPECT_EQ(out[1].seq, 13);
  EXPECT_EQ(ack_status("m1"), "completed");
  EXPECT_EQ(ack_status("m2"), "completed");
}

TEST_F(FakeAgentTest, TriggerZeroMessagesWaitForATriggerAndRideAlong) {
  enqueue("context", /*trigger=*/false);
  EXPECT_EQ(run_agent(), 0) << log();
  EXPECT_TRUE(acks().empty()) << log();
  EXPECT_TRUE(replies().empty());
  EXPECT_FALSE(has_heartbeat());

  enqueue("wake");
  EXPECT_EQ(run_agent(), 0) << log();
  EXPECT_EQ(ack_status("context"), "completed") << log();
  EXPECT_EQ(ack_status("wake"), "completed");
  EXPECT_EQ(replies().size(), 2u);
  EXPECT_NE(log().find("claimed context (trigger 0: rides along)"), std::string::npos) << log();
}

TEST_F(FakeAgentTest, ProcessAfterIsComparedAsAnInstantNotAsText) {
  auto now = policy::now_utc();
  // The same instant written with an offset: "+13:45" text sorts after now's UTC text even
  // for a past instant, "-12:00" text sorts before it even for a future one.
  auto with_offset = [](TimePoint instant, Duration offset, const std::string& marker) {
    auto text = policy::format_iso8601(instant + offset);
    return text.substr(0, text.size() - 1) + marker;
  };
  for (const char* id : {"future", "future_text_looks_past", "past_text_looks_future", "sqlite_form_past", "garbage"}) {
    enqueue(id);
  }
  set_process_after("future", policy::format_iso8601(now + 1h));
  set_process_after("future_text_looks_past", with_offset(now + 1h, -12h, "-12:00"));
  set_process_after("past_text_looks_future", with_offset(now - 1h, 13h + 45min, "+13:45"));
  set_process_after("sqlite_form_past", policy::format_sqlite(now - 1min));
  set_process_after("garbage", "soon-ish");  // unparseable: due, as the host treats it

  EXPECT_EQ(run_agent(), 0) << log();
  EXPECT_EQ(ack_status("future"), "<none>") << log();
  EXPECT_EQ(ack_status("future_text_looks_past"), "<none>");
  EXPECT_EQ(ack_status("past_text_looks_future"), "completed");
  EXPECT_EQ(ack_status("sqlite_form_past"), "completed");
  EXPECT_EQ(ack_status("garbage"), "completed");
}

TEST_F(FakeAgentTest, CrashAfterClaimLeavesItsClaimAndDiesOfSigkill) {
  enqueue("m1");
  EXPECT_EQ(run_agent({"--behavior", "crash-after-claim"}), 128 + SIGKILL) << log();
  EXPECT_EQ(ack_status("m1"), "processing");
  EXPECT_TRUE(replies().empty());
  EXPECT_FALSE(has_heartbeat());
}

TEST_F(FakeAgentTest, TheNextStartDeletesLeftoverClaimsAndClaimsAgain) {
  enqueue("m1");
  EXPECT_EQ(run_agent({"--behavior", "crash-after-claim"}), 128 + SIGKILL) << log();
  outbound_exec(R"sql(
    INSERT INTO processing_ack VALUES ('ghost', 'processing', '2026-01-01 00:00:00');
    INSERT INTO processing_ack VALUES ('done', 'completed', '2026-01-01 00:00:00'))sql");

  EXPECT_EQ(run_agent(), 0) << log();
  auto all = acks();
  EXPECT_EQ(all.count("ghost"), 0u) << log();
  EXPECT_EQ(all["done"].status, policy::AckStatus::completed);
  EXPECT_EQ(all["done"].status_changed, "2026-01-01 00:00:00");
  EXPECT_EQ(all["m1"].status, policy::AckStatus::completed);
  EXPECT_EQ(replies().size(), 1u);
  EXPECT_NE(log().find("deleted 2 leftover processing claim(s)"), std::string::npos) << log();
}

TEST_F(FakeAgentTest, ScriptFileGivesEachStartItsLineRepeatsTheLastAndLosesToTheFlag) {
  write_file(files.dir() / ".fake-agent", "# one behavior per start\nexit-immediately 3\n\n  exit-immediately 4  \r\n");
  EXPECT_EQ(run_agent(), 3) << log();
  EXPECT_EQ(run_agent(), 4) << log();
  EXPECT_EQ(run_agent(), 4) << log();
  EXPECT_EQ(run_agent({"--behavior", "exit-immediately 7"}), 7) << log();
  EXPECT_EQ(read_file(files.dir() / ".fake-agent-starts"), "4\n");

  enqueue("m1");
  write_file(files.dir() / ".fake-agent", "fail\nnormal\n");
  EXPECT_EQ(run_agent(), 0) << log();  // start 5: the last line, normal
  EXPECT_EQ(ack_status("m1"), "completed");
}

TEST_F(FakeAgentTest, ExitImmediatelyTouchesNothing) {
  enqueue("m1");
  outbound_exec("INSERT INTO processing_ack VALUES ('ghost', 'processing', '2026-01-01 00:00:00')");
  EXPECT_EQ(run_agent({"--behavior", "exit-immediately 3"}), 3) << log();
  EXPECT_EQ(ack_status("ghost"), "processing");
  EXPECT_EQ(ack_status("m1"), "<none>");
  EXPECT_FALSE(has_heartbeat());
  EXPECT_EQ(run_agent({"--behavior", "exit-immediately 0"}), 0) << log();
}

TEST_F(FakeAgentTest, FailWritesFailedAcksWithAReply) {
  enqueue("m1");
  EXPECT_EQ(run_agent({"--behavior", "fail"}), 0) << log();
  EXPECT_EQ(ack_status("m1"), "failed");
  auto out = replies();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].in_reply_to, "m1");
  EXPECT_EQ(out[0].content_status, "failed");
}

TEST_F(FakeAgentTest, ToolDeclaresItselfStaysSilentThenClears) {
  enqueue("m1");
  auto started = std::chrono::steady_clock::now();
  AgentProcess agent(args({"--behavior", "tool 1s"}), log_path);
  std::optional<policy::ToolFact> tool;
  ASSERT_TRUE(wait_until([&] {
    tool = store::read_outbound(files).tool;
    return tool && tool->current_tool;
  })) << log();
  EXPECT_EQ(*tool->current_tool, "Bash");
  EXPECT_EQ(tool->declared_timeout_ms, 1000);
  ASSERT_TRUE(tool->tool_started_at);
  EXPECT_TRUE(policy::parse_timestamp(*tool->tool_started_at)) << *tool->tool_started_at;
  EXPECT_TRUE(policy::parse_timestamp(tool->updated_at)) << tool->updated_at;
  EXPECT_EQ(ack_status("m1"), "processing");
  EXPECT_FALSE(has_heartbeat()) << "silent while the tool runs";

  EXPECT_EQ(agent.wait_exit(), 0) << log();
  EXPECT_GE(std::chrono::steady_clock::now() - started, 800ms);  // 80% of the declared timeout
  tool = store::read_outbound(files).tool;
  ASSERT_TRUE(tool);
  EXPECT_FALSE(tool->current_tool);
  EXPECT_FALSE(tool->declared_timeout_ms);
  EXPECT_EQ(ack_status("m1"), "completed");
  EXPECT_TRUE(has_heartbeat());
}

TEST_F(FakeAgentTest, SlowStartClaimsThenStaysSilentForItsDuration) {
  enqueue("m1");
  auto started = std::chrono::steady_clock::now();
  AgentProcess agent(args({"--behavior", "slow-start 1s"}), log_path);
  ASSERT_TRUE(wait_until([&] { return ack_status("m1") != "<none>"; })) << log();
  EXPECT_EQ(ack_status("m1"), "processing");
  EXPECT_FALSE(has_heartbeat()) << "silent after the claim";
  EXPECT_EQ(agent.wait_exit(), 0) << log();
  EXPECT_GE(std::chrono::steady_clock::now() - started, 1s);
  EXPECT_EQ(ack_status("m1"), "completed");
  EXPECT_TRUE(has_heartbeat());
}

TEST_F(FakeAgentTest, RefusesToStartWithoutProcessingAck) {
  enqueue("m1");
  outbound_exec("DROP TABLE processing_ack");
  EXPECT_EQ(run_agent(), 2);
  EXPECT_NE(log().find("no processing_ack table"), std::string::npos) << log();

  std::filesystem::remove(files.outbound());
  EXPECT_EQ(run_agent(), 2);
  EXPECT_NE(log().find("outbound.db: missing"), std::string::npos) << log();
  EXPECT_FALSE(std::filesystem::exists(files.outbound())) << "the agent never creates session files";
  EXPECT_FALSE(has_heartbeat());
}

TEST_F(FakeAgentTest, HangAfterClaimKeepsItsClaimAndNeverExits) {
  enqueue("m1");
  AgentProcess agent(args({"--behavior", "hang-after-claim"}), log_path);
  ASSERT_TRUE(wait_until([&] { return ack_status("m1") == "processing"; })) << log();
  std::this_thread::sleep_for(500ms);  // longer than --idle-exit: a hung agent ignores it
  EXPECT_FALSE(agent.poll_exit()) << log();
  EXPECT_EQ(ack_status("m1"), "processing");
  EXPECT_FALSE(has_heartbeat());
  agent.signal(SIGKILL);
  EXPECT_EQ(agent.wait_exit(), 128 + SIGKILL);
}

TEST_F(FakeAgentTest, SigtermEndsAnAgentByDefault) {
  AgentProcess agent(args({}, /*idle_exit=*/false), log_path);
  ASSERT_TRUE(wait_until([&] { return log().find("start 1") != std::string::npos; })) << log();
  agent.signal(SIGTERM);
  EXPECT_EQ(agent.wait_exit(), 128 + SIGTERM) << log();
}

TEST_F(FakeAgentTest, IgnoreSigtermSurvivesSigtermAndWorks) {
  AgentProcess agent(args({"--behavior", "ignore-sigterm"}, /*idle_exit=*/false), log_path);
  ASSERT_TRUE(wait_until([&] { return log().find("SIGTERM is ignored") != std::string::npos; })) << log();
  agent.signal(SIGTERM);
  enqueue("m1");
  ASSERT_TRUE(wait_until([&] { return ack_status("m1") == "completed"; })) << log();
  EXPECT_FALSE(agent.poll_exit()) << log();
  agent.signal(SIGKILL);
  EXPECT_EQ(agent.wait_exit(), 128 + SIGKILL);
}

// The live (not zombie) processes whose group is `pgid`, from /proc/PID/stat: the state and
// the group are fields 3 and 5, after the parenthesised name.
std::vector<pid_t> processes_in_group(pid_t pgid) {
  std::vector<pid_t> members;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto stat = read_file(entry.path() / "stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 1));
    std::string state;
    long ppid = 0;
    long pgrp = 0;
    if ((fields >> state >> ppid >> pgrp) && pgrp == pgid && state != "Z") {
      members.push_back(static_cast<pid_t>(std::stol(name)));
    }
  }
  return members;
}

// Makes this process the reaper of orphaned descendants for one scope, so that a test can
// reap the agent's children itself once the agent is gone.
class SubreaperScope {
 public:
  SubreaperScope() { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }
  ~SubreaperScope() { ::prctl(PR_SET_CHILD_SUBREAPER, 0); }
  SubreaperScope(const SubreaperScope&) = delete;
  SubreaperScope& operator=(const SubreaperScope&) = delete;
};

TEST_F(FakeAgentTest, ForkChildrenOutliveTheAgentInItsProcessGroup) {
  SubreaperScope reaper;
  enqueue("m1");
  AgentProcess agent(args({"--behavior", "fork-children"}), log_path);
  ASSERT_EQ(agent.wait_exit(), 0) << log();
  EXPECT_EQ(ack_status("m1"), "completed");
  // The agent is gone and reaped, yet its group lives on: the host must kill the group.
  EXPECT_EQ(::kill(-agent.pid(), 0), 0) << log();
  auto members = processes_in_group(agent.pid());
  EXPECT_EQ(members.size(), 2u) << log();
  for (pid_t p : members) {
    EXPECT_NE(p, agent.pid());
    EXPECT_NE(log().find(fmt::format("forked child {}", p)), std::string::npos) << log();
  }
  // What the host does: kill the group. Then nothing of it is left.
  EXPECT_EQ(::kill(-agent.pid(), SIGKILL), 0);
  for (pid_t p : members) EXPECT_EQ(::waitpid(p, nullptr, 0), p);
  EXPECT_EQ(::kill(-agent.pid(), 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

TEST_F(FakeAgentTest, UnknownBehaviorIsAnErrorThatTouchesNothing) {
  enqueue("m1");
  EXPECT_EQ(run_agent({"--behavior", "dance"}), 2);
  EXPECT_NE(log().find("unknown behavior \"dance\""), std::string::npos) << log();
  EXPECT_EQ(run_agent({"--behavior", "exit-immediately"}), 2);
  EXPECT_NE(log().find("expected \"exit-immediately CODE\""), std::string::npos) << log();

  write_file(files.dir() / ".fake-agent", "wobble\n");
  EXPECT_EQ(run_agent(), 2);
  EXPECT_NE(log().find(".fake-agent: behavior \"wobble\": unknown behavior"), std::string::npos) << log();
  EXPECT_EQ(ack_status("m1"), "<none>");

  EXPECT_EQ(run_agent({"--poll-interval", "soon"}), 2);
  EXPECT_NE(log().find("--poll-interval"), std::string::npos) << log();
}

TEST_F(FakeAgentTest, OddDataDoesNotStopIt) {
  enqueue("m1");
  // An id with a quote and a newline, a row without seq, a reply row whose seq is text.
  inbound_exec(R"sql(INSERT INTO messages_in (id, seq, kind, timestamp, content) VALUES ('we"ird' || char(10) || 'id', NULL, 'chat', 'x', 'not json'))sql");
  outbound_exec("INSERT INTO messages_out (id, seq, timestamp, kind, content) VALUES ('odd', 'abc', 'x', 'chat', '{}')");
  EXPECT_EQ(run_agent(), 0) << log();
  EXPECT_EQ(ack_status("m1"), "completed") << log();
  EXPECT_EQ(ack_status("we\"ird\nid"), "completed") << log();
  auto out = replies();
  ASSERT_EQ(out.size(), 2u);
  for (const auto& r : out) {
    EXPECT_TRUE(r.content_is_json) << r.id;
    EXPECT_EQ(r.seq % 2, 1) << r.id;
    EXPECT_GT(r.seq, max_inbound_seq()) << r.id;
  }
  EXPECT_EQ(log().find("we\"ird\nid"), std::string::npos) << "control characters never reach the log";
}

TEST_F(FakeAgentTest, AnUnreadableInboundIsLoggedOnceAndSurvived) {
  std::filesystem::remove(files.inbound());
  EXPECT_EQ(run_agent(), 0) << log();
  auto text = log();
  auto first = text.find("poll failed");
  ASSERT_NE(first, std::string::npos) << text;
  EXPECT_EQ(text.find("poll failed", first + 1), std::string::npos) << text;
}

// --- the script, pure ---------------------------------------------------------------------

TEST(FakeAgentScriptTest, ParsesEveryBehaviorAndDescribesItBack) {
  for (const char* text : {"normal", "crash-after-claim", "hang-after-claim", "exit-immediately 3", "slow-start 1.5s",
                           "tool 1m30s", "ignore-sigterm", "fork-children", "fail", "slow-start 0s"}) {
    EXPECT_EQ(fake_agent::describe(fake_agent::parse_behavior(text)), text);
  }
  EXPECT_EQ(fake_agent::describe(fake_agent::parse_behavior("tool 90000ms")), "tool 1m30s");
  auto b = fake_agent::parse_behavior("  tool\t2m ");
  EXPECT_EQ(b.kind, BehaviorKind::tool);
  EXPECT_EQ(b.duration, std::chrono::minutes{2});
  EXPECT_EQ(fake_agent::parse_behavior("exit-immediately 255").exit_code, 255);
}

TEST(FakeAgentScriptTest, RejectsWhatItCannotPlay) {
  for (const char* text : {"", "  ", "dance", "normal 3", "exit-immediately", "exit-immediately 256",
                           "exit-immediately -1", "exit-immediately 3x", "exit-immediately 3 4", "tool", "tool 0",
                           "tool soon", "slow-start", "slow-start -1s", "Normal"}) {
    EXPECT_THROW(fake_agent::parse_behavior(text), Error) << text;
  }
}

TEST(FakeAgentScriptTest, ScriptLinesAndTheLineOfEachStart) {
  auto lines = fake_agent::script_lines("# header\n\nnormal\r\n  fail  \n# tail\n tool 1s");
  ASSERT_EQ(lines, (std::vector<std::string>{"normal", "fail", "tool 1s"}));
  EXPECT_EQ(fake_agent::line_for_start(lines, 1), "normal");
  EXPECT_EQ(fake_agent::line_for_start(lines, 2), "fail");
  EXPECT_EQ(fake_agent::line_for_start(lines, 3), "tool 1s");
  EXPECT_EQ(fake_agent::line_for_start(lines, 4), "tool 1s");
  EXPECT_EQ(fake_agent::line_for_start(lines, std::numeric_limits<std::uint64_t>::max()), "tool 1s");
  EXPECT_TRUE(fake_agent::script_lines("\n# only a comment\n").empty());
  EXPECT_THROW(fake_agent::line_for_start({}, 1), Error);
}

TEST(FakeAgentScriptTest, JsonQuoteAndPrintable) {
  EXPECT_EQ(fake_agent::json_quote("a\"b\\c\nd\x01"), R"("a\"b\\c\nd\u0001")");
  EXPECT_EQ(fake_agent::printable("a\nb\x7f"), "a?b?");
}

TEST(FakeAgentScriptTest, NextOddSeq) {
  EXPECT_EQ(fake_agent::next_odd_seq(0), 1);
  EXPECT_EQ(fake_agent::next_odd_seq(-7), 1);
  EXPECT_EQ(fake_agent::next_odd_seq(1), 3);
  EXPECT_EQ(fake_agent::next_odd_seq(2), 3);
  EXPECT_EQ(fake_agent::next_odd_seq(9), 11);
  EXPECT_THROW(fake_agent::next_odd_seq(std::numeric_limits<std::int64_t>::max()), Error);
}

}  // namespace
}  // namespace hostsweep::testing
