#pragma once
// One cgroup v2 per container, the way systemd contains a service: every process a container
// makes — including one that calls setsid() or double-forks out of the process group — stays in
// the container's cgroup, so it can be killed with it, and "the container has ended" means "its
// cgroup is empty" (FAILURE-MODES.md 13). Nothing here trusts a file the container can write:
// the pids signalled come from the kernel's cgroup.procs, and each is re-checked through a pidfd
// (FAILURE-MODES.md 11).
//
// Layout. PARENT is a cgroup v2 directory we may write (the setting `cgroup`, below). Each install
// (one data directory) owns PARENT/hostsweep-<install_id>/, and each container's cgroup is
// <subtree>/<agent group>/<session>: two levels, because two 128-byte ids do not fit one 255-byte
// name. An id that contains '.' is written with a leading '_' ("_my.group"): every cgroup v2
// interface file has a '.' in its name ("cgroup.kill", "memory.max"), so without it a session
// called "cgroup.kill" would name a file of its group's cgroup instead of a directory. Ids never
// start with '_', so the escape is reversible.
//
// Facts measured on kernel 6.18 (test/os/cgroup_test.cpp keeps each as a test):
// - The kernel signals a change of cgroup.events (populated 0 <-> 1) as IN_MODIFY on the file,
//   and on its directory under the name "cgroup.events" — but only when the file's inode is in
//   the inode cache at that moment (kernfs looks it up and drops the event when it is absent). A
//   fresh cgroup whose cgroup.events nobody has opened reports nothing to a watch on its
//   DIRECTORY, neither when it fills nor when it empties; once the file was read it does, until
//   the inode is evicted. A watch on the FILE itself pins the inode and always hears it: use
//   CgroupEventsWatcher (below), not os::DirectoryWatcher, to learn that a container ended.
// - An event means "read cgroup.events again", not a value: the kernel delays a notification
//   that follows another within 10 ms, and may fold two. So: add the watch, then read populated()
//   once (the change may have come before the watch).
// - rmdir of a watched cgroup reports nothing (no IN_DELETE_SELF, no IN_IGNORED) and the kernel
//   watch stays on the dead inode until it is removed; a cgroup made again at the same path is a
//   new inode that the old watch never hears. Remove the watch with the cgroup, add it again
//   after each create().
// - Writing "1" to cgroup.kill SIGKILLs every process of the cgroup and its descendants,
//   including a setsid()'d grandchild.
// - A process written into cgroup.procs by its parent after fork() may already have forked a
//   child that stays behind: start containers with clone3(CLONE_INTO_CGROUP) through
//   open_directory(), or move the child before it execs.
//
// Thread-safety: CgroupTree and Cgroup are immutable values; every member function is const and
// may be called from any thread concurrently. Each one is a few system calls on cgroupfs
// (in-memory, quick); kill() on a kernel without cgroup.kill, and the scans (containers(),
// populated()), take longer — see each.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "hostsweep/os/cgroup_settings.hpp"
#include "os/unique_fd.hpp"

namespace hostsweep::os {

// Whether the cgroup directory `dir` is populated (its cgroup.events says so); a missing cgroup
// is not. For a path a holder record names. Throws as Cgroup::populated() does.
bool cgroup_populated(const std::filesystem::path& dir);

// The cgroup of one container. Cheap to copy; does not own the directory (nothing is removed on
// destruction). Errors are Error(io_error) naming the path and the kernel's reason.
class Cgroup {
 public:
  const std::filesystem::path& path() const noexcept { return path_; }
  // The ids this cgroup belongs to (unescaped).
  const std::string& agent_group_id() const noexcept { return agent_group_id_; }
  const std::string& session_id() const noexcept { return session_id_; }

  // mkdir -p (fine if it exists, also when the install's subtree was removed meanwhile), enables
  // the limits' controllers on the levels above it, then writes the tree's limits (memory.max,
  // pids.max, cpu.weight). Throws Error(io_error) naming the path.
  void create() const;

  // An O_RDONLY|O_DIRECTORY|O_CLOEXEC fd of the cgroup directory, for clone3(CLONE_INTO_CGROUP):
  // the child starts inside the cgroup, before it can run (or fork) anything. Throws
  // Error(io_error), e.g. when the cgroup was not created.
  UniqueFd open_directory() const;

  // cgroup.events says "populated 1": a process is in this cgroup or below it. A missing cgroup
  // is not populated. Throws Error(io_error) when the file exists but cannot be read.
  bool populated() const;

  // SIGKILLs every process of the cgroup and its descendants, by writing "1" to cgroup.kill; the
  // kernel does it atomically, so neither fork nor setsid escapes. Returns before the processes
  // have exited: wait for populated() to turn false (the events file tells when). Where
  // cgroup.kill is missing (kernel < 5.14) it does what kill_each() does. A missing cgroup has
  // nothing to kill. Throws Error(io_error) when the kernel refuses.
  void kill() const;

  // What kill() does without cgroup.kill (public so that it is tested where cgroup.kill exists):
  // freezes the cgroup (cgroup.freeze, where there is one, so that nothing forks meanwhile; a
  // frozen process still dies of SIGKILL), SIGKILLs every process found as signal_all() does,
  // and repeats until the cgroup lists no process, for at most about a second; then thaws it.
  // Returns true when no process was left. Blocks for that time at worst.
  bool kill_each() const;

  // Sends `signal` (e.g. SIGTERM) to every process in the cgroup and its descendants, each one
  // through a pidfd opened first and then checked to still be in this cgroup (/proc/PID/cgroup,
  // read after pidfd_open: if the pid was reused meanwhile, the pidfd's own process is gone and
  // the signal fails instead of reaching the stranger). Never signals a pid <= 1 or this process.
  // Returns how many were signalled. A missing cgroup has none. Throws Error(io_error) when
  // cgroup.procs cannot be read or a pidfd cannot be opened (EMFILE).
  int signal_all(int signal) const;

  // rmdir of the cgroup (and of any empty child cgroup a container made inside it, deepest
  // first); true when it is gone (also when it never existed). False when a process is still in
  // it (EBUSY). Then also removes the agent-group directory above it when that became empty.
  // Throws Error(io_error) on other errors. An inotify watch on the directory is not ended by
  // this (see the top of this file).
  bool remove() const;

  // The file whose modification tells that populated() may have changed: <path>/cgroup.events.
  // Watch the file itself (CgroupEventsWatcher); a watch on path() misses it (top of this file).
  std::filesystem::path events_file() const { return path_ / "cgroup.events"; }

 private:
  friend class CgroupTree;
  Cgroup() = default;

  std::filesystem::path path_;
  std::string hierarchy_path_;  // the same cgroup as /proc/PID/cgroup names it ("/a/b")
  std::filesystem::path subtree_;
  std::filesystem::path group_;
  std::string agent_group_id_;
  std::string session_id_;
  CgroupLimits limits_;
  std::string controllers_;  // "+memory +pids", what the levels above must enable; empty for none
};

// One install's subtree, PARENT/hostsweep-<install_id>/: two data directories on one host (two
// install ids) never touch each other's cgroups.
class CgroupTree {
 public:
  // setting off: nullopt, why_not "cgroup = off".
  // setting auto: PARENT is the cgroup2 mount (from /proc/self/mountinfo) joined with this
  //   process's own cgroup (the 0:: line of /proc/self/cgroup). When that does not work (no cgroup2
  //   mount, read-only, EACCES, ...): nullopt, and why_not says why in a sentence for the
  //   operator's warning.
  // setting parent: the path must be an existing cgroup v2 directory, else Error(invalid_argument)
  //   naming it and the reason; when the subtree cannot be made: Error(io_error) likewise.
  // Either way the subtree is created (mkdir; fine if it exists), which proves it is writable.
  // install_id: [A-Za-z0-9]{1,32}, else Error(invalid_argument).
  // limits: when not empty, the controllers they need are enabled now, in cgroup.subtree_control
  //   of PARENT (if not already) and of the subtree; the agent-group level is enabled by
  //   Cgroup::create(). When that cannot be done, Error(invalid_argument) says which controller is
  //   missing where and what to do (a controller bound to a cgroup v1 hierarchy; PARENT holding
  //   processes — this one among them — which cgroup v2's no-internal-processes rule forbids for a
  //   non-root cgroup enabling controllers; not delegated). Limits also turn auto's and off's
  //   nullopt into that error: limits that were asked for are never silently dropped.
  static std::optional<CgroupTree> open(const CgroupSetting& setting, std::string_view install_id,
                                        const CgroupLimits& limits, std::string& why_not);

  // The subtree's directory.
  const std::filesystem::path& path() const noexcept { return path_; }

  // The cgroup of one container: <subtree>/<agent_group_id>/<session_id>, escaped as above. Each
  // id is [A-Za-z0-9][A-Za-z0-9_.-]{0,127}, validated by the caller (checked here too:
  // Error(invalid_argument)). Not created.
  Cgroup container(std::string_view agent_group_id, std::string_view session_id) const;

  // Every container cgroup under the subtree, populated or not (directories two levels down whose
  // names are escaped ids; anything else is left alone). Throws Error(io_error) when the subtree
  // cannot be listed. One directory listing per agent group.
  std::vector<Cgroup> containers() const;

  // The populated ones among containers(): the orphans of a supervisor that died, for the
  // start-up scan.
  std::vector<Cgroup> populated() const;

 private:
  CgroupTree() = default;

  std::filesystem::path path_;
  std::string hierarchy_path_;
  CgroupLimits limits_;
  std::string controllers_;
};

// Tells when cgroups' cgroup.events change — when a container's cgroup fills or empties — for
// many cgroups on one inotify instance (instances are scarce, watches are not; one fd is one
// pending read on the executor). Each key watches the cgroup.events FILE of one cgroup, which is
// what makes it reliable (see the top of this file).
//
// Coalescing: everything one read returns becomes one call per key. A call means "read
// populated() again". Two keys on one cgroup share a kernel watch and are both called.
//
// Thread-safety: none. Use a CgroupEventsWatcher from its executor only.
class CgroupEventsWatcher {
 public:
  // Called once per changed key per read, keys in sorted order.
  using ChangeHandler = std::function<void(const std::string& key)>;
  // Events were lost: the kernel's queue overflowed, or reading failed (then is_open() is false
  // and nothing more is reported). Re-check every cgroup. Called after that read's change calls.
  using OverflowHandler = std::function<void()>;

  // Throws Error(io_error) when no inotify instance can be created (the caller then polls).
  CgroupEventsWatcher(boost::asio::any_io_executor executor, ChangeHandler on_change, OverflowHandler on_overflow);
  // Closes the fd. No handler is called after this, even for events already read, even when a
  // handler destroys its own watcher.
  ~CgroupEventsWatcher();
  // A moved-from watcher is closed. Assigning over a watcher closes the one it held.
  CgroupEventsWatcher(CgroupEventsWatcher&& other) noexcept;
  CgroupEventsWatcher& operator=(CgroupEventsWatcher&& other) noexcept;
  CgroupEventsWatcher(const CgroupEventsWatcher&) = delete;
  CgroupEventsWatcher& operator=(const CgroupEventsWatcher&) = delete;

  // Watches `cgroup` (its events_file()) under `key`; re-adding a key replaces its watch — do so
  // after each create(), since a cgroup made again is a new file. On error nothing changes:
  // ENOENT (the cgroup was not created), EACCES, ENOSPC (fs.inotify.max_user_watches),
  // bad_file_descriptor after close(). Errors are in std::generic_category().
  std::error_code add(const std::string& key, const Cgroup& cgroup);
  // Stops watching `key` (do it when the cgroup is removed: the kernel would keep the watch on
  // the dead file); no-op for an unknown key. Events of `key` already read are dropped.
  void remove(const std::string& key);
  std::size_t size() const noexcept;
  // False after close(), or after a read failure reported through the overflow handler.
  bool is_open() const noexcept;
  // Stops reading and drops every watch; idempotent.
  void close();

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;  // shared with the read loop, which holds it only while handling a read
};

// The pieces of open() that read no file, exposed for tests.
namespace cgroup_detail {

struct Mount {
  std::string root;                 // the mount's root inside the hierarchy ("/" usually)
  std::filesystem::path mount_point;
};

// The cgroup2 mounts listed in the text of /proc/self/mountinfo (octal escapes decoded).
std::vector<Mount> cgroup2_mounts(std::string_view mountinfo);
// The path of the 0:: line of the text of /proc/PID/cgroup; nullopt when there is none.
std::optional<std::string> unified_path(std::string_view proc_cgroup);
// The names of the controllers bound to a cgroup v1 hierarchy in the text of /proc/PID/cgroup.
std::vector<std::string> v1_controllers(std::string_view proc_cgroup);
// The directory of the cgroup `hierarchy_path` through one of `mounts`; nullopt when no mount
// shows it.
std::optional<std::filesystem::path> locate(const std::vector<Mount>& mounts, std::string_view hierarchy_path);
// A cgroup directory name for an id, and back (nullopt for a name that is no escaped id).
std::string escape_id(std::string_view id);
std::optional<std::string> unescape_id(std::string_view name);

}  // namespace cgroup_detail

}  // namespace hostsweep::os
