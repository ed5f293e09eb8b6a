#include "runtime/container_runtime.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <sys/wait.h>
#include <unistd.h>

#include "hostsweep/error.hpp"

namespace hostsweep::runtime {
namespace {

using Argv = std::vector<std::string>;

const ContainerSpec kSpec{"/data/sessions/g/s1", "s1", "g", "hostsweep-g-s1", "0f1e2d3c", "/data"};

TEST(ContainerRuntime, SplitsLikeAShellWithoutExpanding) {
  EXPECT_EQ(split_command("agent --dir {session_dir}"), (Argv{"agent", "--dir", "{session_dir}"}));
  EXPECT_EQ(split_command("  a   'b c'  \"d \\\" e\" f\\ g $HOME"), (Argv{"a", "b c", "d \" e", "f g", "$HOME"}));
  EXPECT_EQ(split_command("x''y"), (Argv{"xy"}));
  EXPECT_EQ(split_command(""), Argv{});
  EXPECT_THROW(split_command("a 'b"), Error);
  EXPECT_THROW(split_command("a \"b"), Error);
}

TEST(ContainerRuntime, ProcessRunsTheExpandedCommand) {
  RuntimeOptions o{RuntimeKind::process, {"agent", "--session-dir", "{session_dir}", "--name={container_name}", "{session_id}@{agent_group_id}"}, ""};
  EXPECT_EQ(start_command(o, kSpec),
            (Argv{"agent", "--session-dir", "/data/sessions/g/s1", "--name=hostsweep-g-s1", "s1@g"}));
  EXPECT_FALSE(stop_command(o, kSpec, std::chrono::seconds{10}));
}

TEST(ContainerRuntime, BwrapBindsTheSessionAtWorkspace) {
  RuntimeOptions o{RuntimeKind::bwrap, {"agent", "{session_dir}"}, ""};
  auto argv = start_command(o, kSpec);
  ASSERT_GE(argv.size(), 4u);
  EXPECT_EQ(argv.front(), "bwrap");
  auto bind = std::find(argv.begin(), argv.end(), "--bind");
  ASSERT_NE(bind, argv.end());
  EXPECT_EQ(*(bind + 1), "/data/sessions/g/s1");
  EXPECT_EQ(*(bind + 2), "/workspace");
  EXPECT_EQ((Argv{argv.end() - 3, argv.end()}), (Argv{"--", "agent", "/workspace"}));
  // The data directory is hidden under an empty tmpfs, after the host's entries are shown and
  // before the session is bound (from the host's path, which the tmpfs does not touch).
  auto hidden = std::find(argv.begin(), argv.end(), "/data");
  ASSERT_NE(hidden, argv.end());
  EXPECT_EQ(*(hidden - 1), "--tmpfs");
  EXPECT_LT(hidden, bind);
  EXPECT_GT(hidden, std::find(argv.begin(), argv.end(), "--ro-bind-try"));
}

// `--ro-bind / /` made the root read-only, so bwrap could not create /workspace ("Can't mkdir
// /workspace: Read-only file system"): the host is shown entry by entry on bwrap's own root.
TEST(ContainerRuntime, BwrapShowsTheHostReadOnlyEntryByEntryAroundTheWorkspace) {
  RuntimeOptions o{RuntimeKind::bwrap, {"agent"}, ""};
  auto argv = start_command(o, kSpec);
  auto has = [&](const Argv& words) { return std::search(argv.begin(), argv.end(), words.begin(), words.end()) != argv.end(); };
  EXPECT_FALSE(has({"--ro-bind", "/", "/"}));
  EXPECT_TRUE(has({"--cap-drop", "ALL"})) << "a root sandbox would keep every capability";
  EXPECT_TRUE(has({"--ro-bind-try", "/usr", "/usr"}));
  EXPECT_TRUE(has({"--ro-bind-try", "/etc", "/etc"}));
  for (const std::string fresh : {"/dev", "/proc", "/tmp", "/workspace"}) {
    EXPECT_FALSE(has({"--ro-bind-try", fresh, fresh})) << fresh;
  }
  EXPECT_TRUE(has({"--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"}));
  if (std::filesystem::is_symlink("/bin")) {
    EXPECT_TRUE(has({"--symlink", std::filesystem::read_symlink("/bin").string(), "/bin"}));
  }
  // The session comes after the host's entries, so nothing is mounted over it.
  std::size_t last_host = 0;
  std::size_t session = 0;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == "--ro-bind-try" || argv[i] == "--symlink") last_host = i;
    if (argv[i] == "--bind") session = i;
  }
  EXPECT_LT(last_host, session);
  EXPECT_TRUE(has({"--chdir", "/workspace", "--", "agent"}));
}

TEST(ContainerRuntime, DockerAndPodmanRunWithRmNameAndLabelsAndStopByName) {
  for (auto kind : {RuntimeKind::docker, RuntimeKind::podman}) {
    RuntimeOptions o{kind, {"agent", "{session_dir}"}, "agent:latest"};
    auto argv = start_command(o, kSpec);
    std::string binary = kind == RuntimeKind::docker ? "docker" : "podman";
    EXPECT_EQ((Argv{argv.begin(), argv.begin() + 5}), (Argv{binary, "run", "--rm", "--name", "hostsweep-g-s1"}));
    EXPECT_NE(std::find(argv.begin(), argv.end(), "hostsweep.session=s1"), argv.end());
    const Argv install_label{"--label", "hostsweep.install=0f1e2d3c"};
    EXPECT_NE(std::search(argv.begin(), argv.end(), install_label.begin(), install_label.end()), argv.end());
    EXPECT_NE(std::find(argv.begin(), argv.end(), "/data/sessions/g/s1:/workspace"), argv.end());
    EXPECT_EQ((Argv{argv.end() - 3, argv.end()}), (Argv{"agent:latest", "agent", "/workspace"}));
    EXPECT_EQ(stop_command(o, kSpec, std::chrono::milliseconds{2500}),
              (Argv{binary, "stop", "--time", "3", "hostsweep-g-s1"}));
  }
}

TEST(ContainerRuntime, OnlyEnginesLeaveOrphansToStopByLabel) {
  EXPECT_FALSE(orphan_stop_command({RuntimeKind::process, {"agent"}, ""}, "0f1e2d3c", std::chrono::seconds{1}));
  EXPECT_FALSE(orphan_stop_command({RuntimeKind::bwrap, {"agent"}, ""}, "0f1e2d3c", std::chrono::seconds{1}));
  auto argv = orphan_stop_command({RuntimeKind::podman, {"agent"}, "img"}, "0f1e2d3c", std::chrono::milliseconds{1500});
  ASSERT_TRUE(argv);
  EXPECT_EQ((Argv{argv->end() - 3, argv->end()}), (Argv{"podman", "hostsweep.install=0f1e2d3c", "2"}));
}

// The script, run for real against a stand-in engine that logs its arguments and lists two
// containers: it lists by this install's label and stops exactly what was listed. With nothing
// listed it stops nothing; a failing `ps` is a failure.
TEST(ContainerRuntime, TheOrphanStopListsByLabelAndStopsWhatItFound) {
  auto dir = std::filesystem::temp_directory_path() / ("hostsweep-orphan-stop-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto engine = dir / "engine";
  auto log = dir / "log";
  auto run = [&](const std::string& listed, int ps_status) {
    std::filesystem::remove(log);
    {
      std::ofstream script(engine);
      script << "#!/bin/sh\necho \"$*\" >> " << log << "\n"
             << "[ \"$1\" = ps ] && { printf '" << listed << "'; exit " << ps_status << "; }\nexit 0\n";
    }
    std::filesystem::permissions(engine, std::filesystem::perms::owner_all);
    auto argv = orphan_stop_command({RuntimeKind::docker, {"agent"}, "img"}, "0f1e2d3c", std::chrono::seconds{7});
    (*argv)[argv->size() - 3] = engine.string();
    std::string command;
    for (const auto& word : *argv) command += "'" + word + "' ";
    int status = std::system(command.c_str());
    std::ifstream in(log);
    return std::pair{WEXITSTATUS(status), std::string(std::istreambuf_iterator<char>(in), {})};
  };
  EXPECT_EQ(run("c1\\nc2\\n", 0), (std::pair{0, std::string("ps --quiet --filter label=hostsweep.install=0f1e2d3c\n"
                                                                 "stop --time 7 c1 c2\n")}));
  EXPECT_EQ(run("", 0), (std::pair{0, std::string("ps --quiet --filter label=hostsweep.install=0f1e2d3c\n")}));
  EXPECT_EQ(run("", 3).first, 3);
  std::filesystem::remove_all(dir);
}

TEST(ContainerRuntime, MisconfigurationIsOneClearError) {
  EXPECT_THROW(start_command({RuntimeKind::process, {}, ""}, kSpec), Error);
  EXPECT_THROW(start_command({RuntimeKind::docker, {"agent"}, ""}, kSpec), Error);
  try {
    start_command({RuntimeKind::process, {"agent", "{sesion_dir}"}, ""}, kSpec);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown placeholder {sesion_dir}"), std::string::npos) << e.what();
  }
  EXPECT_EQ(parse_runtime_kind("podman"), RuntimeKind::podman);
  EXPECT_THROW(parse_runtime_kind("lxc"), Error);
}

TEST(ContainerRuntime, NamesAreValidForDocker) { EXPECT_EQ(container_name("g", "s1"), "hostsweep-g-s1"); }

}  // namespace
}  // namespace hostsweep::runtime
