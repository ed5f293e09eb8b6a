// Cgroups on the real kernel: real cgroup v2 directories, real processes. Each test that needs a
// writable cgroup v2 hierarchy skips, saying why, where there is none; every cgroup a test makes is
// killed and removed by a guard, also when the test fails. Install ids carry the pid, so parallel
// runs of this binary never share a cgroup.
#include "os/cgroup.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "hostsweep/error.hpp"
#include "os/directory_watcher.hpp"

namespace hostsweep::os {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Generous: these wait for the kernel and for processes, never measure them.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

std::vector<pid_t> procs(const fs::path& cgroup) {
  std::vector<pid_t> out;
  std::ifstream in(cgroup / "cgroup.procs");
  for (long pid = 0; in >> pid;) out.push_back(static_cast<pid_t>(pid));
  return out;
}

// Gone, or a zombie waiting for a parent that does not reap it: either way it runs no more.
bool ended(pid_t pid) {
  std::ifstream in(fs::path("/proc") / std::to_string(pid) / "stat");
  if (!in) return true;
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] == 'Z' || stat[paren + 2] == 'X';
}

std::string unique_id() {
  static int counter = 0;
  return "t" + std::to_string(::getpid()) + "x" + std::to_string(++counter);
}

// Where this process's cgroup is, and whether we may make cgroups under it; the reason if not.
struct Host {
  fs::path own;  // this process's cgroup directory
  std::string skip_reason;

  static const Host& get() {
    static const Host host = [] {
      Host h;
      auto self = slurp("/proc/self/cgroup");
      auto path = cgroup_detail::unified_path(self);
      auto mounts = cgroup_detail::cgroup2_mounts(slurp("/proc/self/mountinfo"));
      auto dir = path ? cgroup_detail::locate(mounts, *path) : std::nullopt;
      if (!dir) {
        h.skip_reason = "no cgroup v2 hierarchy shows this process's cgroup";
        return h;
      }
      h.own = *dir;
      fs::path probe = h.own / ("hostsweep-probe-" + std::to_string(::getpid()));
      if (::mkdir(probe.c_str(), 0755) != 0) {
        h.skip_reason = "cannot create a cgroup under " + h.own.string() + ": " + std::strerror(errno);
        return h;
      }
      if (!fs::exists(probe / "cgroup.kill") || !fs::exists(probe / "cgroup.events"))
        h.skip_reason = "this kernel has no cgroup.kill or cgroup.events (before 5.14)";
      ::rmdir(probe.c_str());
      return h;
    }();
    return host;
  }
};

#define SKIP_WITHOUT_CGROUPS()                                                          \
  do {                                                                                  \
    if (!Host::get().skip_reason.empty()) GTEST_SKIP() << Host::get().skip_reason;      \
  } while (0)

// Kills every process under a cgroup directory and removes it and everything below it.
class CgroupGuard {
 public:
  explicit CgroupGuard(fs::path dir) : dir_(std::move(dir)) {}
  CgroupGuard(const CgroupGuard&) = delete;
  CgroupGuard& operator=(const CgroupGuard&) = delete;
  ~CgroupGuard() {
    if (!fs::is_directory(dir_)) return;
    std::ofstream(dir_ / "cgroup.kill") << "1";
    wait_until([&] { return slurp(dir_ / "cgroup.events").find("populated 0") != std::string::npos; });
    remove_tree(dir_);
  }

 private:
  static void remove_tree(const fs::path& dir) {
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      if (it->symlink_status(ec).type() == fs::file_type::directory) remove_tree(it->path());
    ::rmdir(dir.c_str());
  }
  fs::path dir_;
};

// A child process, started inside `cgroup` (it moves itself there before it execs, so that nothing
// it forks is left outside) or outside any test cgroup. SIGKILLed and reaped at the end.
class Child {
 public:
  Child(const std::string& script, const fs::path& cgroup) {
    std::string procs_file = cgroup.empty() ? std::string() : (cgroup / "cgroup.procs").string();
    pid_ = ::fork();
    if (pid_ == 0) {
      if (!procs_file.empty()) {
        int fd = ::open(procs_file.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0 || ::write(fd, "0", 1) != 1) ::_exit(126);
        ::close(fd);
      }
      ::execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  // The child's wait status, once it has ended; reaps it.
  int wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }
  bool running() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  pid_t pid_ = -1;
};

// A tree of its own for each test, in auto mode: under this process's own cgroup.
struct TestTree {
  std::string install_id = unique_id();
  std::string why_not;
  std::optional<CgroupTree> tree;
  std::unique_ptr<CgroupGuard> guard;

  explicit TestTree(const CgroupLimits& limits = {}) {
    guard = std::make_unique<CgroupGuard>(Host::get().own / ("hostsweep-" + install_id));
    tree = CgroupTree::open(CgroupSetting{}, install_id, limits, why_not);
  }
};

// A script that leaves a session-leading grandchild (the escapee) besides its own sleep.
constexpr const char* kEscapee = "setsid sleep 60 & exec sleep 60";

// kEscapee has got going in `cgroup`: two processes, one of them leading a session of its own.
// Asked as "which leads its session", since getsid() says 0 for a session whose leader is outside
// our pid namespace (as the test's own session is when CI runs in a container).
bool escaped(const fs::path& cgroup) {
  auto pids = procs(cgroup);
  return pids.size() == 2 && std::ranges::count_if(pids, [](pid_t pid) { return ::getsid(pid) == pid; }) == 1;
}

// ---- settings and the pure pieces --------------------------------------------------------------

TEST(CgroupSetting, ParsesAutoOffAndAbsolutePaths) {
  EXPECT_EQ(CgroupSetting::parse("auto").mode, CgroupSetting::Mode::automatic);
  EXPECT_EQ(CgroupSetting::parse("off").mode, CgroupSetting::Mode::off);
  auto explicit_parent = CgroupSetting::parse("/sys/fs/cgroup/agents/");
  EXPECT_EQ(explicit_parent.mode, CgroupSetting::Mode::parent);
  EXPECT_EQ(explicit_parent.parent, fs::path("/sys/fs/cgroup/agents/"));
  for (auto text : {"auto", "off", "/sys/fs/cgroup/agents"})
    EXPECT_EQ(CgroupSetting::parse(text).to_string(), text);
}

TEST(CgroupSetting, RejectsAnythingElseNamingTheAcceptedValues) {
  for (auto text : {"", "on", "Auto", "relative/path", "yes"}) {
    try {
      CgroupSetting::parse(text);
      ADD_FAILURE() << "accepted '" << text << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_argument);
      EXPECT_NE(std::string(e.what()).find("expected auto, off, or the absolute path"), std::string::npos) << e.what();
    }
  }
}

TEST(CgroupDetail, FindsCgroup2MountsInMountinfo) {
  const std::string mountinfo =
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
      "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 master:2 - cgroup2 cgroup2 rw\n"
      "50 23 0:38 /agents /mnt/my\\040cgroups rw - cgroup2 none rw,nsdelegate\n";
  auto mounts = cgroup_detail::cgroup2_mounts(mountinfo);
  ASSERT_EQ(mounts.size(), 2u);
  EXPECT_EQ(mounts[0].root, "/");
  EXPECT_EQ(mounts[0].mount_point, fs::path("/sys/fs/cgroup/unified"));
  EXPECT_EQ(mounts[1].root, "/agents");
  EXPECT_EQ(mounts[1].mount_point, fs::path("/mnt/my cgroups"));

  EXPECT_EQ(cgroup_detail::locate(mounts, "/"), fs::path("/sys/fs/cgroup/unified"));
  EXPECT_EQ(cgroup_detail::locate(mounts, "/system.slice/hostsweep.service"),
            fs::path("/sys/fs/cgroup/unified/system.slice/hostsweep.service"));
  std::vector<cgroup_detail::Mount> bound{mounts[1]};
  EXPECT_EQ(cgroup_detail::locate(bound, "/agents/a"), fs::path("/mnt/my cgroups/a"));
  EXPECT_EQ(cgroup_detail::locate(bound, "/agents"), fs::path("/mnt/my cgroups"));
  EXPECT_EQ(cgroup_detail::locate(bound, "/agentsX"), std::nullopt);
  EXPECT_EQ(cgroup_detail::locate({}, "/"), std::nullopt);
}

TEST(CgroupDetail, ReadsProcCgroup) {
  const std::string hybrid = "9:name=systemd:/\n8:pids:/\n2:cpu,cpuacct:/x\n0::/\n";
  EXPECT_EQ(cgroup_detail::unified_path(hybrid), "/");
  EXPECT_EQ(cgroup_detail::v1_controllers(hybrid), (std::vector<std::string>{"pids", "cpu", "cpuacct"}));
  EXPECT_EQ(cgroup_detail::unified_path("0::/system.slice/hostsweep.service\n"), "/system.slice/hostsweep.service");
  EXPECT_EQ(cgroup_detail::unified_path("4:memory:/a\n"), std::nullopt);
  EXPECT_EQ(cgroup_detail::unified_path("0::/../..\n"), "/../..");
  EXPECT_TRUE(cgroup_detail::v1_controllers("0::/\n").empty());
}

TEST(CgroupDetail, EscapesIdsThatCouldNameAnInterfaceFile) {
  EXPECT_EQ(cgroup_detail::escape_id("support"), "support");
  EXPECT_EQ(cgroup_detail::escape_id("cgroup.kill"), "_cgroup.kill");
  EXPECT_EQ(cgroup_detail::escape_id("v1.2"), "_v1.2");
  for (auto id : {"support", "cgroup.kill", "memory.max", "a-b_c", "v1.2"})
    EXPECT_EQ(cgroup_detail::unescape_id(cgroup_detail::escape_id(id)), id);
  // Names no id escapes to: interface files, unescaped dots, a needless escape, junk.
  for (auto name : {"cgroup.procs", "memory.max", "_support", "_", "-x", ""})
    EXPECT_EQ(cgroup_detail::unescape_id(name), std::nullopt) << name;
}

// ---- opening a tree ----------------------------------------------------------------------------

TEST(CgroupTree, OffGivesNoTreeAndSaysSo) {
  std::string why_not;
  EXPECT_FALSE(CgroupTree::open(CgroupSetting::parse("off"), "abc", {}, why_not));
  EXPECT_EQ(why_not, "cgroup = off");
}

TEST(CgroupTree, LimitsAreNeverDroppedSilently) {
  std::string why_not;
  CgroupLimits limits;
  limits.memory_max = 1 << 30;
  try {
    CgroupTree::open(CgroupSetting::parse("off"), "abc", limits, why_not);
    ADD_FAILURE() << "limits accepted with cgroup = off";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_STREQ(e.what(), "memory-max need a cgroup v2 for each container, but cgroup = off");
  }
}

TEST(CgroupTree, RejectsBadInstallIdsAndCpuWeights) {
  std::string why_not;
  for (auto id : {"", "a-b", "../x", "has space", "123456789012345678901234567890123"}) {
    try {
      CgroupTree::open(CgroupSetting::parse("off"), id, {}, why_not);
      ADD_FAILURE() << "accepted install id '" << id << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_argument);
    }
  }
  for (std::uint32_t weight : {0u, 10001u}) {
    CgroupLimits limits;
    limits.cpu_weight = weight;
    try {
      CgroupTree::open(CgroupSetting::parse("auto"), "abc", limits, why_not);
      ADD_FAILURE() << "accepted cpu-weight " << weight;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_argument);
      EXPECT_NE(std::string(e.what()).find("expected 1 to 10000"), std::string::npos) << e.what();
    }
  }
}

TEST(CgroupTree, ExplicitParentMustBeACgroupV2Directory) {
  std::string why_not;
  for (auto path : {"/tmp", "/nonexistent/cgroup/parent"}) {
    try {
      CgroupTree::open(CgroupSetting::parse(path), "abc", {}, why_not);
      ADD_FAILURE() << "accepted " << path;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_argument);
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

TEST(CgroupTree, AutoMakesTheSubtreeUnderThisProcesssCgroup) {
  SKIP_WITHOUT_CGROUPS();
  TestTree t;
  ASSERT_TRUE(t.tree) << t.why_not;
  EXPECT_TRUE(t.why_not.empty());
  EXPECT_EQ(t.tree->path(), Host::get().own / ("hostsweep-" + t.install_id));
  EXPECT_TRUE(fs::is_directory(t.tree->path()));
  // Opening it again (a restart) is fine.
  std::string why_not;
  EXPECT_TRUE(CgroupTree::open(CgroupSetting{}, t.install_id, {}, why_not));
}

TEST(CgroupTree, ExplicitParentIsUsedAsGiven) {
  SKIP_WITHOUT_CGROUPS();
  fs::path parent = Host::get().own / ("hostsweep-parent-" + unique_id());
  CgroupGuard guard(parent);
  ASSERT_EQ(::mkdir(parent.c_str(), 0755), 0) << std::strerror(errno);
  std::string why_not;
  auto tree = CgroupTree::open(CgroupSetting::parse(parent.string()), "abc", {}, why_not);
  ASSERT_TRUE(tree);
  EXPECT_EQ(tree->path(), parent / "hostsweep-abc");
  EXPECT_TRUE(fs::is_directory(tree->path()));

  // Its hierarchy path is right: a process in one of its containers is signalled.
  auto cgroup = tree->container("g", "s");
  cgroup.create();
  Child child("exec sleep 60", cgroup.path());
  ASSERT_TRUE(wait_until([&] { return procs(cgroup.path()).size() == 1; }));
  EXPECT_EQ(cgroup.signal_all(SIGTERM), 1);
  EXPECT_TRUE(WIFSIGNALED(child.wait()));
}

TEST(CgroupTree, InstallIdsIsolateTheirSubtrees) {
  SKIP_WITHOUT_CGROUPS();
  TestTree a;
  TestTree b;
  ASSERT_TRUE(a.tree && b.tree);
  EXPECT_NE(a.tree->path(), b.tree->path());
  auto in_a = a.tree->container("g", "s");
  auto in_b = b.tree->container("g", "s");
  EXPECT_NE(in_a.path(), in_b.path());
  in_a.create();
  Child child("exec sleep 60", in_a.path());
  ASSERT_TRUE(wait_until([&] { return in_a.populated(); }));
  EXPECT_FALSE(in_b.populated());
  EXPECT_EQ(a.tree->populated().size(), 1u);
  EXPECT_TRUE(b.tree->populated().empty());
  EXPECT_TRUE(b.tree->containers().empty());
  in_b.kill();  // nothing there: a no-op, and a's process lives on
  EXPECT_TRUE(child.running());
}

// What this host's cgroup v2 can delegate decides what the limits do: here (a hybrid host whose
// v2 hierarchy has only hugetlb) open() must say which controller is missing where.
TEST(CgroupTree, LimitsNeedTheirControllers) {
  SKIP_WITHOUT_CGROUPS();
  const auto available = slurp(Host::get().own / "cgroup.controllers");
  const std::string self = slurp("/proc/self/cgroup");
  struct Case {
    CgroupLimits limits;
    std::string setting;
    std::string controller;
  };
  std::vector<Case> cases(3);
  cases[0].limits.memory_max = 256u << 20;
  cases[0].setting = "memory-max";
  cases[0].controller = "memory";
  cases[1].limits.pids_max = 64;
  cases[1].setting = "pids-max";
  cases[1].controller = "pids";
  cases[2].limits.cpu_weight = 50;
  cases[2].setting = "cpu-weight";
  cases[2].controller = "cpu";
  for (const auto& c : cases) {
    auto words = available;
    std::replace(words.begin(), words.end(), '\n', ' ');
    if (std::string(" " + words + " ").find(" " + c.controller + " ") != std::string::npos) {
      // A host that offers it: either it works, or the no-internal-processes rule is explained.
      try {
        TestTree t(c.limits);
        ASSERT_TRUE(t.tree);
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), Errc::invalid_argument);
        EXPECT_NE(std::string(e.what()).find("Delegate=yes"), std::string::npos) << e.what();
      }
      continue;
    }
    // The guard outlives the catch: the check below must see what open() itself left.
    const std::string t_id = unique_id();
    CgroupGuard guard(Host::get().own / ("hostsweep-" + t_id));
    try {
      std::string why_not;
      CgroupTree::open(CgroupSetting{}, t_id, c.limits, why_not);
      ADD_FAILURE() << c.setting << " accepted without the " << c.controller << " controller";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_argument);
      std::string message = e.what();
      std::string trimmed = available.substr(0, available.find_last_not_of('\n') + 1);
      EXPECT_EQ(message.find(c.setting + " needs the " + c.controller + " controller, but " +
                             Host::get().own.string() + " does not delegate it (its cgroup.controllers: " +
                             (trimmed.empty() ? "none" : trimmed) + ")"),
                0u)
          << message;
      EXPECT_FALSE(fs::exists(Host::get().own / ("hostsweep-" + t_id))) << "left behind by a refused open()";
      if (std::ranges::count(cgroup_detail::v1_controllers(self), c.controller) > 0) {
        EXPECT_NE(message.find("bound to a cgroup v1 hierarchy"), std::string::npos) << message;
      }
    }
  }
}

// ---- one container's cgroup --------------------------------------------------------------------

TEST(Cgroup, NamesNestGroupThenSessionAndEscapeDots) {
  SKIP_WITHOUT_CGROUPS();
  TestTree t;
  ASSERT_TRUE(t.tree);
  auto cgroup = t.tree->container("support", "s1");
  EXPECT_EQ(cgroup.path(), t.tree->path() / "support" / "s1");
  EXPECT_EQ(cgroup.events_file(), t.tree->path() / "support" / "s1" / "cgroup.events");
  EXPECT_EQ(t.tree->container("cgroup.kill", "memory.max").path(),
            t.tree->path() / "_cgroup.kill" / "_memory.max");
  EXPECT_FALSE(fs::exists(cgroup.path()));  // not created
  EXPECT_THROW(t.tree->container("../x", "s1"), Error);
  EXPECT_THROW(t.tree->container("g", std::string(129, 'a')), Error);
}

TEST(Cgroup, AMissingCgroupIsEmptyAndHarmless) {
  SKIP_WITHOUT_CGROUPS();
  TestTree t;
  ASSERT_TRUE(t.tree);
  auto cgroup = t.tree->container("g", "never-created");
  EXPECT_FALSE(cgroup.populated());
  EXPECT_NO_THROW(cgroup.kill());
  EXPECT_EQ(cgroup.signal_all(SIGTERM), 0);
  EXPECT_TRUE(cgroup.remove());
  EXPECT_THROW(cgroup.open_directory(), Error);
}

TEST(Cgroup, CreateIsIdempotentAndRecreatesTheSubtree) {
  SKIP_WITHOUT_CGROUPS();
  TestTree t;
  ASSERT_TRUE(t.tree);
  auto cgroup = t.tree->container("g", "s");
  cgroup.create();
  cgroup.create();
  EXPECT_TRUE(fs::is_directory(cgroup.path()));
  EXPECT_FALSE(cgroup.populated());
  ASSERT_TRUE(cgroup.remove());
  EXPECT_FALSE(fs::exists(cgroup.path().parent_path()));  // the empty group went with it
  ASSERT_EQ(::rmdir(t.tree->path().c_str()), 0);
  cgroup.create();
  EXPECT_TRUE(fs::is_directory(cgroup.path()));
}

// Runs a loop for an events watcher and records what it says.
struct EventsLoop {
  boost::asio::io_context io;
  std::vector<std::string> keys;
  int overflows = 0;
  std::unique_ptr<CgroupEventsWatcher> watcher = std::make_unique<CgroupEventsWatcher>(
      io.get_executor(), [this](const std::string& key) { keys.push_back(key); }, [this] { ++overflows; });

  bool heard(const std::string& key) const { return std::ranges::count(keys, key) > 0; }
  bool run_until(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      io.run_one_for(50ms);
      if (io.stopped()) io.restart();
    }
    return true;
  }
  // Lets anything already queued arrive: a slow machine can make a check that nothing came pass
  // wrongly, never fail wrongly.
  void settle() {
    io.run_for(300ms);
    io.restart();
  }
};

// (a) and (b): the file watch hears the cgroup fill and empty; cgroup.kill ends a setsid'd
// grandchild.
TEST(Cgroup, KillEndsAnEscapeeAndTheEventsWatcherHearsTheCgroupEmpty) {
  SKIP_WITHOUT_CGROUPS();
  TestTree t;
  ASSERT_TRUE(t.tree);
  auto cgroup = t.tree->container("g", "s");
  cgroup.create();
  EventsLoop loop;
  // Before anything has read cgroup.events: the watch must not depend on its inode being cached.
  ASSERT_FALSE(loop.watcher->add("s", cgroup));

  Child child(kEscapee, cgroup.path());
  EXPECT_TRUE(loop.run_until([&] { return loop.heard("s"); })) << "no event for populated 0 -> 1";
  ASSERT_TRUE(wait_until([&] { return escaped(cgroup.path()); })) << procs(cgroup.path()).size();
  auto pids = procs(cgroup.path());
  EXPECT_TRUE(cgroup.populated());
  EXPECT_EQ(t.tree->populated().size(), 1u);

  loop.keys.clear();
  cgroup.kill();
  EXPECT_TRUE(WIFSIGNALED(child.wait()));
  ASSERT_TRUE(loop.run_until([&] { return loop.heard("s") && !cgroup.populated(); }))
      << "populated " << cgroup.populated() << ", heard " << loop.heard("s");
  for (pid_t pid : pids) EXPECT_TRUE(wait_until([&] { return ended(pid); })) << pid;
  EXPECT_TRUE(procs(cgroup.path()).empty());
  EXPECT_TRUE(cgroup.remove());
  EXPECT_FALSE(fs::exists(cgroup.path()));
  loop.watcher->remove("s");
  EXPECT_EQ(loop.watcher->size(), 0u);
  EXPECT_EQ(loop.overflows, 0);
}

// Why CgroupEventsWatcher exists: kernfs tells a directory watch about cgroup.events only while
// the file's inode is cached. Held open, it is, and the directory watch hears the change; what a
// directory watch hears of a cgroup whose file nobody opened is only recorded (on kernel 6.18:
// nothing), since anything on the host that reads the file would change the answer.
TEST(Cgroup, ADirectoryWatchHearsCgroupEventsOnlyWhileTheFileIsCached) {
  SKIP_WITHOUT_CGROUPS();
  TestTree t;
  ASSERT_TRUE(t.tree);
  auto cgroup = t.tree->container("g", "s");
  cgroup.create();
  boost::asio::io_context io;
  std::vector<std::string> names;
  DirectoryWatcher watcher(
      io.get_executor(),
      [&](const std::string&, const std::vector<std::string>& changed) {
        names.insert(names.end(), changed.begin(), changed.end());
      },
      [] {});
  ASSERT_FALSE(watcher.add("s", cgroup.path()));
  auto heard_events = [&] { return std::ranges::count(names, std::string("cgroup.events")) > 0; };

  Child child("exec sleep 60", cgroup.path());
  ASSERT_TRUE(wait_until([&] { return procs(cgroup.path()).size() == 1; }));  // cgroup.procs, not .events
  io.run_for(1s);
  io.restart();
  ::testing::Test::RecordProperty("directory_watch_heard_uncached_cgroup_events", heard_events() ? "yes" : "no");
  std::cout << "a directory watch " << (heard_events() ? "heard" : "did not hear")
            << " cgroup.events of a cgroup whose file nobody had opened\n";

  int pin = ::open(cgroup.events_file().c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(pin, 0);
  UniqueFd pinned(pin);
  names.clear();
  cgroup.kill();
  child.wait();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!heard_events() && std::chrono::steady_clock::now() < deadline) {
    io.run_one_for(50ms);
    if (io.stopped()) io.restart();
  }
  EXPECT_TRUE(heard_events());
  EXPECT_TRUE(wait_until([&] { return !cgroup.populated(); }));
}

TEST(CgroupEventsWatcher, TellsKeysApartAndIsSilentAfterRemove) {
  SKIP_WITHOUT_CGROUPS();
  TestTree t;
  ASSERT_TRUE(t.tree);
  auto a = t.tree->container("g", "a");
  auto b = t.tree->container("g", "b");
  a.create();
  b.create();
  EventsLoop loop;
  ASSERT_FALSE(loop.watcher->add("a", a));
  ASSERT_FALSE(loop.watcher->add("b", b));
  ASSERT_FALSE(loop.watcher->add("a-again", a));  // two keys, one cgroup: both told
  EXPECT_EQ(loop.watcher->size(), 3u);
  Child in_a("exec sleep 60", a.path());
  Child in_b("exec sleep 60", b.path());
  ASSERT_TRUE(loop.run_until([&] { return loop.heard("a") && loop.heard("a-again") && loop.heard("b"); }));

  loop.keys.clear();
  a.kill();
  in_a.wait();
  ASSERT_TRUE(loop.run_until([&] { return loop.heard("a") && !a.populated(); }));
  loop.settle();
  EXPECT_TRUE(loop.heard("a-again"));
  EXPECT_FALSE(loop.heard("b"));

  loop.keys.clear();
  loop.watcher->remove("b");
  b.kill();
  in_b.wait();
  ASSERT_TRUE(wait_until([&] { return !b.populated(); }));
  loop.settle();
  EXPECT_TRUE(loop.keys.empty());
  EXPECT_EQ(loop.watcher->size(), 2u);
}

TEST(CgroupEventsWatcher, FollowsACgroupMadeAgainOnceReAdded) {
  SKIP_WITHOUT_CGROUPS();
  TestTree t;
  ASSERT_TRUE(t.tree);
  auto cgroup = t.tree->container("g", "s");
  cgroup.create();
  EventsLoop loop;
  ASSERT_FALSE(loop.watcher->add("s", cgroup));
  ASSERT_TRUE(cgroup.remove());
  EXPECT_EQ(loop.watcher->add("s", cgroup), std::errc::no_such_file_or_directory);
  EXPECT_EQ(loop.watcher->size(), 1u);  // the old watch stays until replaced or removed
  cgroup.create();
  ASSERT_FALSE(loop.watcher->add("s", cgroup));
  EXPECT_EQ(loop.watcher->size(), 1u);
  Child child("exec sleep 60", cgroup.path());
  EXPECT_TRUE(loop.run_until([&] { return loop.heard("s"); }));
}

TEST(CgroupEventsWatcher, AddOfAMissingCgroupFailsAndAClosedWatcherRefuses) {
  SKIP_WITHOUT_CGROUPS();
  TestTree t;
  ASSERT_TRUE(t.tree);
  EventsLoop loop;
  EXPECT_EQ(loop.watcher->add("s", t.tree->container("g", "missing")), std::errc::no_such_file_or_directory);
  EXPECT_EQ(loop.watcher->size(), 0u);
  EXPECT_TRUE(loop.watcher->is_open());
  loop.watcher->close();
  EXPECT_FALSE(loop.watcher->is_open());
  auto cgroup = t.tree->container("g", "s");
  cgroup.create();
  EXPECT_EQ(loop.watcher->add("s", cgroup), std::errc::bad_file_descriptor);
  CgroupEventsWatcher moved(std::move(*loop.watcher));
  EXPECT_FALSE(loop.watcher->is_open());  // NOLINT(bugprone-use-after-move): closed by contract
}

TEST(CgroupEventsWatcher, AHandlerMayDestroyItsWatcher) {
  SKIP_WITHOUT_CGROUPS();
  TestTree t;
  ASSERT_TRUE(t.tree);
  auto a = t.tree->container("g", "a");
  auto b = t.tree->container("g", "b");
  a.create();
  b.create();
  boost::asio::io_context io;
  int calls = 0;
  std::unique_ptr<CgroupEventsWatcher> watcher;
  watcher = std::make_unique<CgroupEventsWatcher>(
      io.get_executor(),
      [&](const std::string&) {
        ++calls;
        watcher.reset();
      },
      [] {});
  ASSERT_FALSE(watcher->add("a", a));
  ASSERT_FALSE(watcher->add("b", b));
  Child in_a("exec sleep 60", a.path());
  Child in_b("exec sleep 60", b.path());
  ASSERT_TRUE(wait_until([&] { return procs(a.path()).size() == 1 && procs(b.path()).size() == 1; }));
  // Both events are queued by now, most likely in one read: the second key must not be called.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (watcher && std::chrono::steady_clock::now() < deadline) {
    io.run_one_for(50ms);
    if (io.stopped()) io.restart();
  }
  io.run_for(300ms);
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(watcher);
}

// What kill() does on kernels without cgroup.kill.
TEST(Cgroup, KillEachEndsAnEscapeeAndThawsTheCgroup) {
  SKIP_WITHOUT_CGROUPS();
  TestTree t;
  ASSERT_TRUE(t.tree);
  auto cgroup = t.tree->container("g", "s");
  cgroup.create();
  Child child(kEscapee, cgroup.path());
  ASSERT_TRUE(wait_until([&] { return escaped(cgroup.path()); }));
  auto pids = procs(cgroup.path());
  EXPECT_TRUE(cgroup.kill_each());
  EXPECT_TRUE(WIFSIGNALED(child.wait()));
  EXPECT_TRUE(wait_until([&] { return !cgroup.populated(); }));
  for (pid_t pid : pids) EXPECT_TRUE(wait_until([&] { return ended(pid); })) << pid;
  if (fs::exists(cgroup.path() / "cgroup.freeze")) {
    EXPECT_EQ(slurp(cgroup.path() / "cgroup.freeze"), "0\n");
  }
  EXPECT_TRUE(cgroup.remove());
}

TEST(Cgroup, SignalAllReachesEveryProcessInsideAndNothingOutside) {
  SKIP_WITHOUT_CGROUPS();
  TestTree t;
  ASSERT_TRUE(t.tree);
  auto cgroup = t.tree->container("g", "s");
  auto neighbour = t.tree->container("g", "other");
  cgroup.create();
  neighbour.create();
  Child inside(kEscapee, cgroup.path());
  Child next_door("exec sleep 60", neighbour.path());
  Child outside("exec sleep 60", {});
  ASSERT_TRUE(wait_until([&] { return escaped(cgroup.path()) && procs(neighbour.path()).size() == 1; }));
  auto pids = procs(cgroup.path());

  EXPECT_EQ(cgroup.signal_all(SIGTERM), 2);
  EXPECT_TRUE(WIFSIGNALED(inside.wait()));
  for (pid_t pid : pids) EXPECT_TRUE(wait_until([&] { return ended(pid); })) << pid;
  EXPECT_TRUE(wait_until([&] { return !cgroup.populated(); }));
  EXPECT_TRUE(next_door.running());
  EXPECT_TRUE(outside.running());
  EXPECT_TRUE(neighbour.populated());
  EXPECT_EQ(cgroup.signal_all(SIGTERM), 0);
}

// A container (root inside) may make cgroups of its own inside its cgroup: they are its cgroup.
TEST(Cgroup, ChildCgroupsAreSignalledAndRemoved) {
  SKIP_WITHOUT_CGROUPS();
  TestTree t;
  ASSERT_TRUE(t.tree);
  auto cgroup = t.tree->container("g", "s");
  cgroup.create();
  fs::path nested = cgroup.path() / "inner" / "deeper";
  fs::create_directories(nested);
  Child child("exec sleep 60", nested);
  ASSERT_TRUE(wait_until([&] { return procs(nested).size() == 1; }));
  EXPECT_TRUE(cgroup.populated());
  EXPECT_FALSE(cgroup.remove());  // busy
  EXPECT_TRUE(fs::exists(cgroup.path()));
  EXPECT_EQ(cgroup.signal_all(SIGTERM), 1);
  EXPECT_TRUE(WIFSIGNALED(child.wait()));
  EXPECT_TRUE(wait_until([&] { return !cgroup.populated(); }));
  EXPECT_TRUE(cgroup.remove());
  EXPECT_FALSE(fs::exists(cgroup.path()));
}

TEST(Cgroup, RemoveWaitsForTheLastProcessAndKeepsABusyGroup) {
  SKIP_WITHOUT_CGROUPS();
  TestTree t;
  ASSERT_TRUE(t.tree);
  auto first = t.tree->container("g", "first");
  auto second = t.tree->container("g", "second");
  first.create();
  second.create();
  Child child("exec sleep 60", first.path());
  ASSERT_TRUE(wait_until([&] { return first.populated(); }));
  EXPECT_FALSE(first.remove());
  EXPECT_TRUE(fs::exists(first.path()));
  first.kill();
  child.wait();
  ASSERT_TRUE(wait_until([&] { return !first.populated(); }));
  EXPECT_TRUE(first.remove());
  EXPECT_FALSE(fs::exists(first.path()));
  EXPECT_TRUE(fs::exists(second.path()));  // the group still holds `second`
  EXPECT_TRUE(second.remove());
  EXPECT_FALSE(fs::exists(second.path().parent_path()));
}

TEST(CgroupTree, PopulatedListsTheOrphansByTheirIds) {
  SKIP_WITHOUT_CGROUPS();
  TestTree t;
  ASSERT_TRUE(t.tree);
  auto orphan = t.tree->container("grp.one", "cgroup.kill");
  auto empty = t.tree->container("grp.one", "idle");
  auto other = t.tree->container("two", "s.2");
  for (const auto* c : {&orphan, &empty, &other}) c->create();
  // Not ours: left alone by the scan.
  fs::create_directories(t.tree->path() / "_x" / "y");
  Child child("exec sleep 60", orphan.path());
  ASSERT_TRUE(wait_until([&] { return orphan.populated(); }));

  auto all = t.tree->containers();
  ASSERT_EQ(all.size(), 3u);
  auto found = t.tree->populated();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].path(), orphan.path());
  EXPECT_EQ(found[0].agent_group_id(), "grp.one");
  EXPECT_EQ(found[0].session_id(), "cgroup.kill");
  found[0].kill();
  EXPECT_TRUE(WIFSIGNALED(child.wait()));
  EXPECT_TRUE(wait_until([&] { return t.tree->populated().empty(); }));
}

// How a runtime starts a container inside its cgroup: no moment outside it.
TEST(Cgroup, OpenDirectoryStartsAChildInsideWithClone3) {
  SKIP_WITHOUT_CGROUPS();
  TestTree t;
  ASSERT_TRUE(t.tree);
  auto cgroup = t.tree->container("g", "s");
  cgroup.create();
  UniqueFd dir = cgroup.open_directory();
  ASSERT_TRUE(dir);
  EXPECT_NE(::fcntl(dir.get(), F_GETFD) & FD_CLOEXEC, 0);

  clone_args args{};
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<decltype(args.cgroup)>(dir.get());
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0 && (errno == ENOSYS || errno == E2BIG)) GTEST_SKIP() << "no clone3(CLONE_INTO_CGROUP) here";
  ASSERT_GE(pid, 0) << std::strerror(errno);
  if (pid == 0) {
    ::execl("/bin/sleep", "sleep", "60", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  EXPECT_EQ(procs(cgroup.path()), std::vector<pid_t>{static_cast<pid_t>(pid)});  // at once
  cgroup.kill();
  int status = 0;
  ::waitpid(static_cast<pid_t>(pid), &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status));
}

// rmdir of a watched cgroup says nothing to the watch, which stays until removed.
TEST(Cgroup, RemovingAWatchedCgroupIsNotReported) {
  SKIP_WITHOUT_CGROUPS();
  TestTree t;
  ASSERT_TRUE(t.tree);
  auto cgroup = t.tree->container("g", "s");
  cgroup.create();
  boost::asio::io_context io;
  std::vector<std::string> names;
  DirectoryWatcher watcher(
      io.get_executor(),
      [&](const std::string&, const std::vector<std::string>& changed) {
        names.insert(names.end(), changed.begin(), changed.end());
      },
      [] {});
  ASSERT_FALSE(watcher.add("s", cgroup.path()));
  ASSERT_TRUE(cgroup.remove());
  // A slow machine can make this pass wrongly, never fail wrongly.
  io.run_for(300ms);
  EXPECT_EQ(std::ranges::count(names, std::string()), 0);
  EXPECT_EQ(watcher.size(), 1u);
  watcher.remove("s");
  EXPECT_EQ(watcher.size(), 0u);
}

TEST(UniqueFd, OwnsAndMoves) {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  UniqueFd a(raw);
  UniqueFd b(std::move(a));
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_EQ(b.get(), raw);
  UniqueFd c;
  c = std::move(b);
  EXPECT_EQ(c.get(), raw);
  c.reset();
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1);  // closed
}

}  // namespace
}  // namespace hostsweep::os
