#include "os/cgroup.hpp"

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <map>
#include <set>
#include <system_error>
#include <thread>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <fmt/format.h>

#include "hostsweep/error.hpp"
#include "os/process.hpp"

namespace hostsweep::os {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kSubtreePrefix = "hostsweep-";

[[noreturn]] void fail(Errc code, const std::string& message) { throw Error(code, message); }

std::string reason(int error) { return std::strerror(error); }

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

bool valid_install_id(std::string_view id) {
  return !id.empty() && id.size() <= 32 && std::ranges::all_of(id, is_alnum);
}

// The store's rule for agent group and session ids.
bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 128 || !is_alnum(id.front())) return false;
  return std::ranges::all_of(id, [](char c) { return is_alnum(c) || c == '_' || c == '.' || c == '-'; });
}

// The whole file; nullopt when it (or its directory) does not exist — a cgroup that is gone.
std::optional<std::string> read_text(const fs::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR || errno == ENODEV) return std::nullopt;
    fail(Errc::io_error, fmt::format("cannot open {}: {}", file.string(), reason(errno)));
  }
  UniqueFd owned(fd);
  std::string text;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      // A cgroup removed while it is read answers ENODEV.
      if (errno == ENODEV) return std::nullopt;
      fail(Errc::io_error, fmt::format("cannot read {}: {}", file.string(), reason(errno)));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return text;
}

// One write(2) of `text`, as cgroupfs wants it; 0 or the errno.
int write_text(const fs::path& file, std::string_view text) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  UniqueFd owned(fd);
  ssize_t n;
  do {
    n = ::write(fd, text.data(), text.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno;
  return static_cast<std::size_t>(n) == text.size() ? 0 : EIO;
}

std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t')) ++i;
    std::size_t j = i;
    while (j < text.size() && text[j] != ' ' && text[j] != '\n' && text[j] != '\t') ++j;
    if (j > i) out.emplace_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

bool contains(const std::vector<std::string>& list, std::string_view word) {
  return std::ranges::find(list, word) != list.end();
}

std::string join(const std::vector<std::string>& list, std::string_view separator) {
  std::string out;
  for (const auto& item : list) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

std::vector<std::string_view> lines(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    std::size_t end = text.find('\n');
    out.push_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return out;
}

// A child cgroup's path as /proc/PID/cgroup writes it.
std::string child_path(const std::string& hierarchy_path, std::string_view name) {
  return hierarchy_path == "/" ? fmt::format("/{}", name) : fmt::format("{}/{}", hierarchy_path, name);
}

bool directory_exists(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The child directories of `dir` (cgroups, in cgroupfs); none when it is gone.
std::vector<fs::path> child_directories(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory) return out;
    fail(Errc::io_error, fmt::format("cannot list {}: {}", dir.string(), ec.message()));
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) break;  // the directory went away while it was listed
    if (it->symlink_status(ec).type() == fs::file_type::directory) out.push_back(it->path());
  }
  return out;
}

// `dir` and every cgroup below it, deepest first, with their paths as /proc/PID/cgroup names them.
void collect_tree(const fs::path& dir, const std::string& hierarchy_path,
                  std::vector<std::pair<fs::path, std::string>>& out) {
  for (const auto& child : child_directories(dir))
    collect_tree(child, child_path(hierarchy_path, child.filename().string()), out);
  out.emplace_back(dir, hierarchy_path);
}

std::vector<pid_t> procs_of(const fs::path& dir) {
  std::vector<pid_t> out;
  auto text = read_text(dir / "cgroup.procs");
  if (!text) return out;
  for (const auto& word : words(*text)) {
    long value = 0;
    bool ok = !word.empty() && word.size() < 12;
    for (char c : word) {
      if (c < '0' || c > '9') {
        ok = false;
        break;
      }
      value = value * 10 + (c - '0');
    }
    if (ok) out.push_back(static_cast<pid_t>(value));
  }
  return out;
}

bool under(std::string_view path, std::string_view hierarchy_path) {
  if (hierarchy_path == "/") return !path.empty() && path.front() == '/';
  return path == hierarchy_path ||
         (path.size() > hierarchy_path.size() && path.starts_with(hierarchy_path) && path[hierarchy_path.size()] == '/');
}

// Signals `pid` only when it is, through a pidfd, a process inside the cgroup `hierarchy_path`.
// The pidfd is opened first and the cgroup read after: if `pid` was reused in between, the pidfd's
// process is dead and pidfd_send_signal fails (ESRCH) rather than reaching the new owner.
bool signal_verified(pid_t pid, int signal, const std::string& hierarchy_path) {
  if (pid <= 1 || pid == ::getpid()) return false;
  auto pidfd = Pidfd::open(pid);
  if (!pidfd) {
    if (errno == ESRCH || errno == EINVAL) return false;  // already gone
    fail(Errc::io_error, fmt::format("cannot open a pidfd for process {}: {}", pid, reason(errno)));
  }
  auto text = read_text(fs::path("/proc") / std::to_string(pid) / "cgroup");
  if (!text) return false;
  auto path = cgroup_detail::unified_path(*text);
  if (!path || !under(*path, hierarchy_path)) return false;
  return pidfd->send_signal(signal);
}

// Signals every process of the tree; how many were signalled, and how many were listed.
std::pair<int, int> signal_tree(const fs::path& dir, const std::string& hierarchy_path, int signal) {
  std::vector<std::pair<fs::path, std::string>> tree;
  collect_tree(dir, hierarchy_path, tree);
  int signalled = 0;
  int listed = 0;
  for (const auto& [cgroup, path] : tree) {
    for (pid_t pid : procs_of(cgroup)) {
      ++listed;
      if (signal_verified(pid, signal, path)) ++signalled;
    }
  }
  return {signalled, listed};
}

void make_directory(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0755) == 0) return;
  int error = errno;
  if (error == EEXIST && directory_exists(dir)) return;
  fail(Errc::io_error, fmt::format("cannot create the cgroup {}: {}", dir.string(), reason(error)));
}

// What each limit needs, named as the settings are.
struct Need {
  std::string_view setting;
  std::string_view controller;
};

std::vector<Need> needs(const CgroupLimits& limits) {
  std::vector<Need> out;
  if (limits.memory_max) out.push_back({"memory-max", "memory"});
  if (limits.pids_max) out.push_back({"pids-max", "pids"});
  if (limits.cpu_weight) out.push_back({"cpu-weight", "cpu"});
  return out;
}

std::string controllers_line(const CgroupLimits& limits) {
  std::vector<std::string> out;
  for (const auto& need : needs(limits)) out.push_back(fmt::format("+{}", need.controller));
  return join(out, " ");
}

std::string setting_names(const CgroupLimits& limits) {
  std::vector<std::string> out;
  for (const auto& need : needs(limits)) out.emplace_back(need.setting);
  return join(out, ", ");
}

// The controllers the limits need, enabled for the children of PARENT and of the subtree.
void enable_controllers(const fs::path& parent, const std::string& parent_path, const fs::path& subtree,
                        const CgroupLimits& limits, const std::string& self_cgroup) {
  const std::vector<Need> wanted = needs(limits);
  auto available_text = read_text(parent / "cgroup.controllers");
  std::vector<std::string> available = available_text ? words(*available_text) : std::vector<std::string>{};
  for (const auto& need : wanted) {
    if (contains(available, need.controller)) continue;
    std::string hint;
    if (contains(cgroup_detail::v1_controllers(self_cgroup), need.controller))
      hint = fmt::format(
          "; on this host it is bound to a cgroup v1 hierarchy (a hybrid setup), which cgroup v2 cannot use "
          "(boot with systemd.unified_cgroup_hierarchy=1 for a pure cgroup v2 host)");
    fail(Errc::invalid_argument,
         fmt::format("{} needs the {} controller, but {} does not delegate it (its cgroup.controllers: {}){}",
                     need.setting, need.controller, parent.string(),
                     available.empty() ? std::string("none") : join(available, " "), hint));
  }

  auto enabled_text = read_text(parent / "cgroup.subtree_control");
  std::vector<std::string> enabled = enabled_text ? words(*enabled_text) : std::vector<std::string>{};
  std::vector<std::string> to_enable;
  for (const auto& need : wanted)
    if (!contains(enabled, need.controller)) to_enable.push_back(fmt::format("+{}", need.controller));
  if (!to_enable.empty()) {
    std::string line = join(to_enable, " ");
    if (int error = write_text(parent / "cgroup.subtree_control", line); error != 0) {
      if (error == EBUSY) {
        // cgroup v2's no-internal-processes rule: a non-root cgroup that holds processes cannot
        // enable controllers for its children.
        bool holds_self = parent_path == cgroup_detail::unified_path(self_cgroup).value_or("");
        fail(Errc::invalid_argument,
             fmt::format("{} needs {} enabled for the children of {}, but it holds processes{} and cgroup v2 lets "
                         "no cgroup but the root both hold processes and enable controllers for its children; give "
                         "hostsweep a dedicated parent cgroup without processes (setting cgroup = /path), or run it "
                         "under systemd with Delegate=yes and the daemon in a leaf cgroup of its own",
                         setting_names(limits), line, parent.string(),
                         holds_self ? " (this very process among them)" : ""));
      }
      fail(Errc::invalid_argument, fmt::format("{} needs {} in {}: {}", setting_names(limits), line,
                                               (parent / "cgroup.subtree_control").string(), reason(error)));
    }
  }

  std::string line = controllers_line(limits);
  if (int error = write_text(subtree / "cgroup.subtree_control", line); error != 0)
    fail(Errc::invalid_argument,
         fmt::format("{} needs {} in {}: {}{}", setting_names(limits), line, (subtree / "cgroup.subtree_control").string(),
                     reason(error), error == EBUSY ? " (processes are in the subtree itself; move them out)" : ""));
}

}  // namespace

// ---- CgroupSetting ------------------------------------------------------------------------------

CgroupSetting CgroupSetting::parse(std::string_view text) {
  if (text == "auto") return {};
  if (text == "off") return {Mode::off, {}};
  fs::path path(text);
  if (!text.empty() && path.is_absolute() && text.find('\0') == std::string_view::npos)
    return {Mode::parent, path.lexically_normal()};
  fail(Errc::invalid_argument,
       fmt::format("invalid cgroup setting '{}': expected auto, off, or the absolute path of a cgroup v2 directory "
                   "to use as parent",
                   text));
}

std::string CgroupSetting::to_string() const {
  switch (mode) {
    case Mode::automatic: return "auto";
    case Mode::off: return "off";
    case Mode::parent: return parent.string();
  }
  return "auto";
}

// ---- Cgroup -------------------------------------------------------------------------------------

void Cgroup::create() const {
  make_directory(subtree_);
  if (!controllers_.empty()) {
    if (int error = write_text(subtree_ / "cgroup.subtree_control", controllers_); error != 0)
      fail(Errc::io_error, fmt::format("cannot write '{}' to {}: {}", controllers_,
                                       (subtree_ / "cgroup.subtree_control").string(), reason(error)));
  }
  make_directory(group_);
  if (!controllers_.empty()) {
    if (int error = write_text(group_ / "cgroup.subtree_control", controllers_); error != 0)
      fail(Errc::io_error, fmt::format("cannot write '{}' to {}: {}", controllers_,
                                       (group_ / "cgroup.subtree_control").string(), reason(error)));
  }
  make_directory(path_);
  auto apply = [this](std::string_view file, std::uint64_t value) {
    if (int error = write_text(path_ / file, std::to_string(value)); error != 0)
      fail(Errc::io_error, fmt::format("cannot write {} to {}: {}", value, (path_ / file).string(), reason(error)));
  };
  if (limits_.memory_max) apply("memory.max", *limits_.memory_max);
  if (limits_.pids_max) apply("pids.max", *limits_.pids_max);
  if (limits_.cpu_weight) apply("cpu.weight", *limits_.cpu_weight);
}

UniqueFd Cgroup::open_directory() const {
  int fd = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(Errc::io_error, fmt::format("cannot open the cgroup {}: {}", path_.string(), reason(errno)));
  return UniqueFd(fd);
}

bool Cgroup::populated() const { return cgroup_populated(path_); }

bool cgroup_populated(const std::filesystem::path& dir) {
  auto text = read_text(dir / "cgroup.events");
  if (!text) return false;
  for (auto line : lines(*text))
    if (line.starts_with("populated ")) return line.substr(10) != "0";
  return false;
}

void Cgroup::kill() const {
  if (!directory_exists(path_)) return;
  int error = write_text(path_ / "cgroup.kill", "1");
  if (error == 0) return;
  if (error == ENOENT) {
    if (!directory_exists(path_)) return;  // removed meanwhile
    kill_each();                       // a kernel before 5.14
    return;
  }
  fail(Errc::io_error, fmt::format("cannot kill the cgroup {}: {}", path_.string(), reason(error)));
}

bool Cgroup::kill_each() const {
  // Frozen, nothing forks while the processes are collected; SIGKILL still ends a frozen process.
  bool frozen = write_text(path_ / "cgroup.freeze", "1") == 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  auto pause = std::chrono::milliseconds(1);
  bool empty = false;
  for (;;) {
    if (signal_tree(path_, hierarchy_path_, SIGKILL).second == 0) {
      empty = true;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
  // Thawed, so that the session's next container does not start frozen in the same cgroup.
  if (frozen) write_text(path_ / "cgroup.freeze", "0");
  return empty;
}

int Cgroup::signal_all(int signal) const { return signal_tree(path_, hierarchy_path_, signal).first; }

bool Cgroup::remove() const {
  std::vector<std::pair<fs::path, std::string>> tree;
  collect_tree(path_, hierarchy_path_, tree);
  for (const auto& entry : tree) {
    const fs::path& dir = entry.first;
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) continue;
    if (errno == EBUSY || errno == ENOTEMPTY) return false;
    fail(Errc::io_error, fmt::format("cannot remove the cgroup {}: {}", dir.string(), reason(errno)));
  }
  // Best effort: the group still has other sessions (EBUSY), or someone removed it already.
  ::rmdir(group_.c_str());
  return true;
}

// ---- CgroupTree ---------------------------------------------------------------------------------

std::optional<CgroupTree> CgroupTree::open(const CgroupSetting& setting, std::string_view install_id,
                                           const CgroupLimits& limits, std::string& why_not) {
  why_not.clear();
  if (!valid_install_id(install_id))
    fail(Errc::invalid_argument, fmt::format("invalid install id '{}': expected 1 to 32 letters or digits", install_id));
  if (limits.cpu_weight && (*limits.cpu_weight < 1 || *limits.cpu_weight > 10000))
    fail(Errc::invalid_argument, fmt::format("invalid cpu-weight {}: expected 1 to 10000", *limits.cpu_weight));
  // Limits that were asked for are never dropped silently.
  auto unavailable = [&](std::string sentence) -> std::optional<CgroupTree> {
    if (!limits.empty())
      fail(Errc::invalid_argument,
           fmt::format("{} need a cgroup v2 for each container, but {}", setting_names(limits), sentence));
    why_not = std::move(sentence);
    return std::nullopt;
  };
  if (setting.mode == CgroupSetting::Mode::off) return unavailable("cgroup = off");

  const bool automatic = setting.mode == CgroupSetting::Mode::automatic;
  const std::string self_cgroup = read_text("/proc/self/cgroup").value_or("");
  const auto mounts = cgroup_detail::cgroup2_mounts(read_text("/proc/self/mountinfo").value_or(""));

  fs::path parent;
  std::string parent_path;
  if (automatic) {
    auto own = cgroup_detail::unified_path(self_cgroup);
    if (!own) return unavailable("this process is in no cgroup v2 hierarchy (no 0:: line in /proc/self/cgroup)");
    // "/../.." is a cgroup outside this process's cgroup namespace: no mount here shows it.
    if (own->find("/..") != std::string::npos)
      return unavailable(fmt::format("this process's cgroup {} is outside its cgroup namespace", *own));
    if (mounts.empty())
      return unavailable("no cgroup v2 file system is mounted (no cgroup2 in /proc/self/mountinfo)");
    auto dir = cgroup_detail::locate(mounts, *own);
    if (!dir) return unavailable(fmt::format("no cgroup2 mount shows this process's cgroup {}", *own));
    parent = *dir;
    parent_path = *own;
  } else {
    std::error_code ec;
    fs::path real = fs::canonical(setting.parent, ec);
    if (ec)
      fail(Errc::invalid_argument,
           fmt::format("cgroup = {}: cannot use it as parent: {}", setting.parent.string(), ec.message()));
    const cgroup_detail::Mount* best = nullptr;
    fs::path rest;
    for (const auto& mount : mounts) {
      fs::path relative = real.lexically_relative(mount.mount_point);
      if (relative.empty() || *relative.begin() == "..") continue;
      if (!best || mount.mount_point.string().size() > best->mount_point.string().size()) {
        best = &mount;
        rest = relative;
      }
    }
    if (!best || !directory_exists(real))
      fail(Errc::invalid_argument, fmt::format("cgroup = {}: not a directory of a cgroup v2 file system",
                                               setting.parent.string()));
    parent = real;
    parent_path = best->root;
    for (const auto& part : rest)
      if (part != ".") parent_path = child_path(parent_path, part.string());
  }

  CgroupTree tree;
  tree.path_ = parent / fmt::format("{}{}", kSubtreePrefix, install_id);
  tree.hierarchy_path_ = child_path(parent_path, tree.path_.filename().string());
  tree.limits_ = limits;
  tree.controllers_ = controllers_line(limits);

  int error = ::mkdir(tree.path_.c_str(), 0755) == 0 ? 0 : errno;
  const bool made = error == 0;
  if (error == EEXIST) error = directory_exists(tree.path_) ? 0 : ENOTDIR;
  // An existing subtree proves nothing: check that it is ours to write.
  if (error == 0 && ::access(tree.path_.c_str(), W_OK) != 0) error = errno;
  if (error != 0) {
    std::string sentence = fmt::format("cannot create the cgroup {}: {}", tree.path_.string(), reason(error));
    if (automatic) return unavailable(std::move(sentence));
    fail(Errc::io_error, fmt::format("cgroup = {}: {}", setting.parent.string(), sentence));
  }
  if (!limits.empty()) {
    try {
      enable_controllers(parent, parent_path, tree.path_, limits, self_cgroup);
    } catch (const Error&) {
      if (made) ::rmdir(tree.path_.c_str());  // a refused setting leaves nothing behind
      throw;
    }
  }
  return tree;
}

Cgroup CgroupTree::container(std::string_view agent_group_id, std::string_view session_id) const {
  if (!valid_id(agent_group_id) || !valid_id(session_id))
    fail(Errc::invalid_argument,
         fmt::format("invalid container ids '{}'/'{}' for a cgroup", agent_group_id, session_id));
  Cgroup cgroup;
  std::string group_name = cgroup_detail::escape_id(agent_group_id);
  std::string session_name = cgroup_detail::escape_id(session_id);
  cgroup.subtree_ = path_;
  cgroup.group_ = path_ / group_name;
  cgroup.path_ = cgroup.group_ / session_name;
  cgroup.hierarchy_path_ = child_path(child_path(hierarchy_path_, group_name), session_name);
  cgroup.agent_group_id_ = agent_group_id;
  cgroup.session_id_ = session_id;
  cgroup.limits_ = limits_;
  cgroup.controllers_ = controllers_;
  return cgroup;
}

std::vector<Cgroup> CgroupTree::containers() const {
  std::vector<Cgroup> out;
  for (const auto& group : child_directories(path_)) {
    auto group_id = cgroup_detail::unescape_id(group.filename().string());
    if (!group_id) continue;
    for (const auto& session : child_directories(group)) {
      auto session_id = cgroup_detail::unescape_id(session.filename().string());
      if (session_id) out.push_back(container(*group_id, *session_id));
    }
  }
  std::ranges::sort(out, {}, [](const Cgroup& c) { return c.path().string(); });
  return out;
}

std::vector<Cgroup> CgroupTree::populated() const {
  std::vector<Cgroup> out;
  for (auto& cgroup : containers())
    if (cgroup.populated()) out.push_back(std::move(cgroup));
  return out;
}

// ---- CgroupEventsWatcher ------------------------------------------------------------------------

namespace {

// IN_MODIFY is what kernfs sends; the others are there should a kernel ever say that the file
// went away, so that the key is told rather than left on a dead watch.
constexpr std::uint32_t kEventsMask = IN_MODIFY | IN_DELETE_SELF | IN_MOVE_SELF;

struct alignas(alignof(inotify_event)) EventsBuffer {
  std::array<char, 16 * 1024> bytes;
};

}  // namespace

class CgroupEventsWatcher::Impl : public std::enable_shared_from_this<CgroupEventsWatcher::Impl> {
 public:
  Impl(boost::asio::any_io_executor executor, ChangeHandler on_change, OverflowHandler on_overflow)
      : descriptor_(std::move(executor)), on_change_(std::move(on_change)), on_overflow_(std::move(on_overflow)) {
    int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) fail(Errc::io_error, fmt::format("cannot create an inotify instance: {}", reason(errno)));
    boost::system::error_code ec;
    descriptor_.assign(fd, ec);
    if (ec) {
      ::close(fd);
      fail(Errc::io_error, fmt::format("cannot register the inotify fd: {}", ec.message()));
    }
  }

  // Not in the constructor: the read loop needs weak_from_this().
  void start() { start_read(); }

  std::error_code add(const std::string& key, const fs::path& file) {
    if (!descriptor_.is_open()) return std::make_error_code(std::errc::bad_file_descriptor);
    int wd = ::inotify_add_watch(descriptor_.native_handle(), file.c_str(), kEventsMask);
    if (wd < 0) return {errno, std::generic_category()};
    auto old = keys_.find(key);
    if (old != keys_.end()) {
      if (old->second == wd) return {};  // the same file: keep what is pending
      detach(key, old->second);
    }
    keys_[key] = wd;
    wds_[wd].insert(key);
    gone_.erase(key);
    return {};
  }

  void remove(const std::string& key) {
    gone_.erase(key);
    auto it = keys_.find(key);
    if (it == keys_.end()) return;
    detach(key, it->second);
    keys_.erase(it);
  }

  std::size_t size() const noexcept { return keys_.size(); }
  bool is_open() const noexcept { return descriptor_.is_open(); }

  void close() {
    boost::system::error_code ignored;
    descriptor_.close(ignored);  // the kernel drops every watch with the fd
    keys_.clear();
    wds_.clear();
    gone_.clear();
  }

 private:
  void detach(const std::string& key, int wd) {
    auto it = wds_.find(wd);
    if (it == wds_.end()) return;
    it->second.erase(key);
    if (!it->second.empty()) return;
    wds_.erase(it);
    ::inotify_rm_watch(descriptor_.native_handle(), wd);  // EINVAL when the kernel dropped it: fine
  }

  void start_read() {
    // The buffer belongs to the pending read, so that it outlives a watcher destroyed meanwhile.
    descriptor_.async_read_some(boost::asio::buffer(buffer_->bytes),
                                [weak = weak_from_this(), buffer = buffer_](const boost::system::error_code& ec,
                                                                            std::size_t n) {
                                  auto self = weak.lock();
                                  if (!self || !self->descriptor_.is_open()) return;
                                  self->on_read(ec, *buffer, n);
                                });
  }

  void on_read(const boost::system::error_code& ec, const EventsBuffer& buffer, std::size_t n) {
    if (ec == boost::asio::error::operation_aborted) return;
    if (ec) {
      close();
      if (on_overflow_) on_overflow_();
      return;
    }
    // Which keys, each with the watch it had when its event was read.
    std::map<std::string, int> changed;
    bool overflow = false;
    gone_.clear();
    for (std::size_t offset = 0; offset + sizeof(inotify_event) <= n;) {
      inotify_event event;
      std::memcpy(&event, buffer.bytes.data() + offset, sizeof event);
      offset += sizeof(inotify_event) + event.len;
      if (event.mask & IN_Q_OVERFLOW) {
        overflow = true;
        continue;
      }
      auto it = wds_.find(event.wd);
      if (it == wds_.end()) continue;  // removed already
      for (const auto& key : it->second) changed[key] = event.wd;
      if (event.mask & IN_IGNORED) {
        // The kernel dropped this watch: its keys are told once and forgotten.
        for (const auto& key : it->second) {
          keys_.erase(key);
          gone_.insert(key);
        }
        wds_.erase(it);
      }
    }
    // Re-armed before the handlers run, so that one that throws does not stop the watcher.
    start_read();
    auto self = shared_from_this();  // a handler may destroy the watcher
    for (const auto& [key, wd] : changed) {
      if (!descriptor_.is_open()) return;
      // Still the watch whose event this is (a handler may have removed or replaced the key).
      auto now = keys_.find(key);
      bool current = now == keys_.end() ? gone_.contains(key) : now->second == wd;
      if (current && on_change_) on_change_(key);
    }
    if (overflow && descriptor_.is_open() && on_overflow_) on_overflow_();
  }

  boost::asio::posix::stream_descriptor descriptor_;
  ChangeHandler on_change_;
  OverflowHandler on_overflow_;
  std::map<std::string, int> keys_;
  std::map<int, std::set<std::string>> wds_;
  std::set<std::string> gone_;  // keys whose watch the kernel dropped in the read being handled
  std::shared_ptr<EventsBuffer> buffer_ = std::make_shared<EventsBuffer>();
};

CgroupEventsWatcher::CgroupEventsWatcher(boost::asio::any_io_executor executor, ChangeHandler on_change,
                                         OverflowHandler on_overflow)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(on_change), std::move(on_overflow))) {
  impl_->start();
}

CgroupEventsWatcher::~CgroupEventsWatcher() {
  if (impl_) impl_->close();
}

CgroupEventsWatcher::CgroupEventsWatcher(CgroupEventsWatcher&& other) noexcept : impl_(std::move(other.impl_)) {}

CgroupEventsWatcher& CgroupEventsWatcher::operator=(CgroupEventsWatcher&& other) noexcept {
  if (this != &other) {
    if (impl_) impl_->close();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

std::error_code CgroupEventsWatcher::add(const std::string& key, const Cgroup& cgroup) {
  if (!impl_) return std::make_error_code(std::errc::bad_file_descriptor);
  return impl_->add(key, cgroup.events_file());
}

void CgroupEventsWatcher::remove(const std::string& key) {
  if (impl_) impl_->remove(key);
}

std::size_t CgroupEventsWatcher::size() const noexcept { return impl_ ? impl_->size() : 0; }

bool CgroupEventsWatcher::is_open() const noexcept { return impl_ && impl_->is_open(); }

void CgroupEventsWatcher::close() {
  if (impl_) impl_->close();
}

// ---- cgroup_detail ------------------------------------------------------------------------------

namespace cgroup_detail {
namespace {

// mountinfo writes space, tab, newline and backslash as \ooo.
std::string unescape_octal(std::string_view field) {
  auto digit = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && digit(field[i + 1]) && digit(field[i + 2]) &&
        digit(field[i + 3])) {
      out += static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0'));
      i += 3;
      continue;
    }
    out += field[i];
  }
  return out;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  for (;;) {
    std::size_t end = text.find(separator);
    out.push_back(text.substr(0, end));
    if (end == std::string_view::npos) return out;
    text.remove_prefix(end + 1);
  }
}

}  // namespace

std::vector<Mount> cgroup2_mounts(std::string_view mountinfo) {
  std::vector<Mount> out;
  for (auto line : lines(mountinfo)) {
    // id parent major:minor root mount-point options [optional fields...] - fstype source super-options
    std::vector<std::string_view> fields;
    for (auto field : split(line, ' '))
      if (!field.empty()) fields.push_back(field);
    auto dash = std::ranges::find(fields, std::string_view("-"));
    if (fields.size() < 6 || dash == fields.end() || dash + 1 == fields.end()) continue;
    if (*(dash + 1) != "cgroup2") continue;
    out.push_back({unescape_octal(fields[3]), fs::path(unescape_octal(fields[4]))});
  }
  return out;
}

std::optional<std::string> unified_path(std::string_view proc_cgroup) {
  for (auto line : lines(proc_cgroup)) {
    if (!line.starts_with("0::")) continue;
    std::string_view path = line.substr(3);
    if (path.empty() || path.front() != '/') return std::nullopt;  // e.g. outside our cgroup namespace
    return std::string(path);
  }
  return std::nullopt;
}

std::vector<std::string> v1_controllers(std::string_view proc_cgroup) {
  std::vector<std::string> out;
  for (auto line : lines(proc_cgroup)) {
    std::size_t first = line.find(':');
    if (first == std::string_view::npos) continue;
    std::size_t second = line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    std::string_view list = line.substr(first + 1, second - first - 1);
    if (list.empty()) continue;  // the unified hierarchy
    for (auto name : split(list, ','))
      if (!name.empty() && !name.starts_with("name=")) out.emplace_back(name);
  }
  return out;
}

std::optional<fs::path> locate(const std::vector<Mount>& mounts, std::string_view hierarchy_path) {
  for (const auto& mount : mounts) {
    std::string_view root = mount.root;
    if (root == "/") return hierarchy_path == "/" ? mount.mount_point : mount.mount_point / hierarchy_path.substr(1);
    if (hierarchy_path == root) return mount.mount_point;
    if (under(hierarchy_path, root)) return mount.mount_point / hierarchy_path.substr(root.size() + 1);
  }
  return std::nullopt;
}

std::string escape_id(std::string_view id) {
  return id.find('.') == std::string_view::npos ? std::string(id) : fmt::format("_{}", id);
}

std::optional<std::string> unescape_id(std::string_view name) {
  if (name.starts_with('_')) {
    name.remove_prefix(1);
    if (!valid_id(name) || name.find('.') == std::string_view::npos) return std::nullopt;
    return std::string(name);
  }
  if (!valid_id(name) || name.find('.') != std::string_view::npos) return std::nullopt;
  return std::string(name);
}

}  // namespace cgroup_detail

}  // namespace hostsweep::os
