// The `hostsweep` program as a user runs it: outputs, exit statuses, and one clear line on
// stderr for each kind of bad input, with nothing half-written.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <algorithm>

#include "support/run_program.hpp"
#include "support/temp_dir.hpp"
#include "cli/commands.hpp"

namespace hostsweep::testing {
namespace {

class CliTest : public ::testing::Test {
 protected:
  TempDir tmp;
  std::string data = (tmp.path() / "data").string();

  ProgramResult hostsweep(std::vector<std::string> args) { return run_program(HOSTSWEEP_CLI_PATH, args); }

  std::string create(const std::string& id) {
    auto r = hostsweep({"session", "create", "--data-dir", data, "--agent-group", "demo", "--id", id});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }

  int row_count(const std::string& session) {
    SQLite::Database db((tmp.path() / "data" / "sessions" / "demo" / session / "inbound.db").string());
    return db.execAndGet("SELECT count(*) FROM messages_in").getInt();
  }

  // Exactly one line on stderr, naming `needle`, and an exit status of `code`.
  static void expect_one_error(const ProgramResult& r, int code, const std::string& needle) {
    EXPECT_EQ(r.exit_code, code) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
};

// A container writes the ids of its claims: `explain` and `sweep --once` show them escaped, so a
// hostile id cannot drive the operator's terminal (FAILURE-MODES.md 21).
// `hostsweep run` holds SIGTERM from main()'s first line: one that comes before the loop's
// handler exists waits for it, and is a clean stop, not a death by the default action.
TEST(StopSignals, ASigtermHeldBeforeTheHandlerExistsReachesItOnceReleased) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    cli::hold_stop_signals();
    ::kill(::getpid(), SIGTERM);  // start-up: no handler yet
    boost::asio::io_context io;
    boost::asio::signal_set signals(io, SIGTERM);
    int seen = 0;
    signals.async_wait([&](const boost::system::error_code& ec, int signal) { seen = ec ? -1 : signal; });
    cli::release_stop_signals();
    io.run_for(std::chrono::seconds(10));
    ::_exit(seen == SIGTERM ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the handler did not see the held SIGTERM";
}

TEST_F(CliTest, IdsAndReasonsFromSessionFilesAreEscapedOnTheTerminal) {
  create("s1");
  {
    SQLite::Database db((tmp.path() / "data/sessions/demo/s1/outbound.db").string(), SQLite::OPEN_READWRITE);
    db.exec("INSERT INTO processing_ack VALUES ('evil' || char(27) || ']0;owned' || char(7), 'processing', "
            "'2026-01-01T00:00:00Z')");
  }
  auto explain = hostsweep({"explain", "--data-dir", data, "--session", "s1"});
  EXPECT_EQ(explain.exit_code, 0) << explain.err;
  EXPECT_NE(explain.out.find("evil\\x1b]0;owned\\x07"), std::string::npos) << explain.out;
  for (const auto& r : {explain, hostsweep({"sweep", "--once", "--data-dir", data})}) {
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find('\x07'), std::string::npos) << r.out;
    EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
  }
}

TEST_F(CliTest, CreateEnqueueStatusExplainSweep) {
  EXPECT_EQ(create("s1"), "s1\n");
  auto generated = hostsweep({"session", "create", "--data-dir", data, "--agent-group", "demo"});
  EXPECT_EQ(generated.exit_code, 0);
  EXPECT_EQ(generated.out.rfind("sess-", 0), 0u) << generated.out;

  auto enq = hostsweep({"enqueue", "--data-dir", data, "--session", "s1", "--content", "{\"text\":\"hi\"}", "--id", "m1"});
  EXPECT_EQ(enq.exit_code, 0) << enq.err;
  EXPECT_EQ(enq.out, "m1\n");
  auto later = hostsweep({"enqueue", "--data-dir", data, "--session", "s1", "--content", "x", "--process-after",
                          "2099-01-01 00:00:00", "--trigger", "1", "--kind", "task"});
  EXPECT_EQ(later.exit_code, 0) << later.err;

  auto status = hostsweep({"status", "--data-dir", data, "--json"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("\"id\":\"s1\""), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("\"counts\":{\"pending\":2}"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("\"due\":1"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("\"next_due\":\"2099-01-01T00:00:00.000Z\""), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("\"heartbeat_age_ms\":null"), std::string::npos) << status.out;
  auto table = hostsweep({"status", "--data-dir", data});
  EXPECT_NE(table.out.find("SESSION"), std::string::npos);

  auto explain = hostsweep({"explain", "--data-dir", data, "--session", "s1"});
  EXPECT_EQ(explain.exit_code, 0) << explain.err;
  EXPECT_NE(explain.out.find("5. wake: 1 message(s) due: start a container"), std::string::npos) << explain.out;
  auto explain_json = hostsweep({"explain", "--data-dir", data, "--session", "s1", "--json"});
  EXPECT_NE(explain_json.out.find("\"wake\":true"), std::string::npos) << explain_json.out;

  auto sweep = hostsweep({"sweep", "--once", "--data-dir", data});
  EXPECT_EQ(sweep.exit_code, 0) << sweep.err;
  EXPECT_NE(sweep.out.find("s1: settled 0"), std::string::npos) << sweep.out;
}

// The counts `explain` plans are the ones `sweep --once` then reports, for a session with a
// settled ack, claims of a crashed container (one at the retry limit, one of an unknown id), a
// recurring series and paused work.
TEST_F(CliTest, ExplainSaysWhatSweepOnceThenDoes) {
  create("s1");
  for (const char* id : {"done", "again", "tired", "held"}) {
    auto r = hostsweep({"enqueue", "--data-dir", data, "--session", "s1", "--content", "x", "--id", id});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const auto dir = tmp.path() / "data/sessions/demo/s1";
  {
    SQLite::Database in((dir / "inbound.db").string(), SQLite::OPEN_READWRITE);
    in.exec("UPDATE messages_in SET recurrence = '0 * * * *' WHERE id = 'done'");
    in.exec("UPDATE messages_in SET tries = 5 WHERE id = 'tired'");
    in.exec("UPDATE messages_in SET status = 'paused' WHERE id = 'held'");
    SQLite::Database out((dir / "outbound.db").string(), SQLite::OPEN_READWRITE);
    out.exec("INSERT INTO processing_ack VALUES ('done', 'completed', '2026-01-01 00:00:00'), "
             "('again', 'processing', '2026-01-01 00:00:00'), ('tired', 'processing', '2026-01-01 00:00:00'), "
             "('ghost', 'processing', '2026-01-01 00:00:00'), ('held', 'completed', '2026-01-01 00:00:00')");
  }
  auto explain = hostsweep({"explain", "--data-dir", data, "--session", "s1"});
  ASSERT_EQ(explain.exit_code, 0) << explain.err;
  for (const char* planned : {"1. sync acks: 1 message(s) settle", "   done -> completed",
                              "2. crashed-container cleanup: 3 orphan claim(s)", "   tired: tried 5 times (limit 5): failed",
                              "   ghost: no pending message of that id", "4. recurrence: 1 finished recurring message(s)",
                              "5. wake: nothing due"}) {
    EXPECT_NE(explain.out.find(planned), std::string::npos) << planned << "\n" << explain.out;
  }
  auto sweep = hostsweep({"sweep", "--once", "--data-dir", data});
  ASSERT_EQ(sweep.exit_code, 0) << sweep.err;
  EXPECT_NE(sweep.out.find("s1: settled 1, retried 1, failed 1, claims deleted 3, recurrences scheduled 1"),
            std::string::npos)
      << sweep.out;
}

TEST_F(CliTest, BadInputGetsOneLineAndNothingIsWritten) {
  create("s1");
  expect_one_error(hostsweep({"enqueue", "--data-dir", data, "--session", "../x", "--content", "x"}), 2,
                   "invalid session id \"../x\"");
  expect_one_error(hostsweep({"enqueue", "--data-dir", data, "--session", "nope", "--content", "x"}), 3,
                   "unknown session \"nope\"");
  expect_one_error(hostsweep({"enqueue", "--data-dir", data, "--session", "s1", "--content", "x", "--process-after",
                              "next tuesday"}),
                   2, "--process-after \"next tuesday\" is not a timestamp");
  expect_one_error(hostsweep({"session", "create", "--data-dir", data, "--agent-group", "demo", "--id", "s1"}), 4,
                   "already exists");
  expect_one_error(hostsweep({"explain", "--data-dir", data, "--session", "s1", "--ceiling", "soon"}), 2, "--ceiling");
  expect_one_error(hostsweep({"status", "--data-dir", (tmp.path() / "elsewhere").string()}), 3,
                   "not a hostsweep data directory");
  EXPECT_EQ(row_count("s1"), 0);
}

TEST_F(CliTest, ADirectoryThatIsNotASessionAndACorruptFileAreNamed) {
  create("s1");
  create("s2");
  auto dir = tmp.path() / "data" / "sessions" / "demo";
  std::filesystem::remove(dir / "s1" / "inbound.db");
  expect_one_error(hostsweep({"enqueue", "--data-dir", data, "--session", "s1", "--content", "x"}), 5,
                   "is not a session directory");
  write_file(dir / "s2" / "inbound.db", std::string(4096, 'x'));
  expect_one_error(hostsweep({"explain", "--data-dir", data, "--session", "s2"}), 5, "not an SQLite database");
  write_file(tmp.path() / "data" / "hostsweep.db", "not a registry at all, not even close to being one");
  expect_one_error(hostsweep({"status", "--data-dir", data}), 5, "hostsweep.db: not an SQLite database");
}

TEST_F(CliTest, OneCorruptSessionDoesNotHideTheOthers) {
  create("good");
  create("bad");
  write_file(tmp.path() / "data" / "sessions" / "demo" / "bad" / "outbound.db", std::string(4096, 'x'));
  auto status = hostsweep({"status", "--data-dir", data});
  EXPECT_EQ(status.exit_code, 5);
  EXPECT_NE(status.out.find("good"), std::string::npos);
  EXPECT_NE(status.err.find("session bad:"), std::string::npos) << status.err;
  auto sweep = hostsweep({"sweep", "--once", "--data-dir", data});
  EXPECT_EQ(sweep.exit_code, 5);
  EXPECT_NE(sweep.out.find("good: settled 0"), std::string::npos) << sweep.out;
}

TEST_F(CliTest, HelpDocumentsDefaults) {
  auto help = hostsweep({"sweep", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--ceiling"), std::string::npos);
  EXPECT_NE(help.out.find("default 30m"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("default 1m"), std::string::npos) << help.out;
  auto none = hostsweep({});
  EXPECT_EQ(none.exit_code, 2);
}

// One flag's entry in a --help text: from the flag to the next option.
std::string help_entry(const std::string& help, const std::string& flag) {
  auto begin = help.find("  " + flag + " ");
  if (begin == std::string::npos) return "<no " + flag + ">";
  auto entry = help.substr(begin, help.find("\n  -", begin) - begin);
  return entry.substr(0, entry.find_last_not_of('\n') + 1);
}

TEST_F(CliTest, ExplainAndSweepShowTheDecisionSettingsOfRun) {
  auto run = hostsweep({"run", "--help"});
  ASSERT_EQ(run.exit_code, 0);
  for (const std::string command : {"explain", "sweep"}) {
    auto help = hostsweep({command, "--help"});
    ASSERT_EQ(help.exit_code, 0);
    for (const std::string flag : {"--ceiling", "--claim-tolerance", "--startup-grace", "--max-declared-timeout",
                                   "--backoff-base", "--backoff-cap", "--max-tries", "--timezone"}) {
      EXPECT_EQ(help_entry(help.out, flag), help_entry(run.out, flag)) << command;
      EXPECT_NE(help_entry(help.out, flag).find("(default "), std::string::npos) << command << " " << flag;
    }
  }
  create("s1");
  expect_one_error(hostsweep({"sweep", "--once", "--data-dir", data, "--backoff-cap", "forever"}), 2,
                   "--backoff-cap: \"forever\" is not a duration");
  expect_one_error(hostsweep({"explain", "--data-dir", data, "--session", "s1", "--timezone", "Mars/Olympus"}), 2,
                   "--timezone: unknown time zone \"Mars/Olympus\"");
  expect_one_error(hostsweep({"explain", "--data-dir", data, "--session", "s1", "--max-tries", "1001"}), 2,
                   "--max-tries: \"1001\" is not a whole number from 0 to 1000");
  auto ok = hostsweep({"sweep", "--once", "--data-dir", data, "--max-tries", "3", "--timezone", "Europe/London"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

}  // namespace
}  // namespace hostsweep::testing
