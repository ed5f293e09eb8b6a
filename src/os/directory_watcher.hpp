#pragma once
// Change notification for session directories and the data directory, without polling.
//
// Design:
// - One inotify instance for all directories. Instances are scarce (fs.inotify.max_user_instances,
//   128 by default, shared by every process of the user) while watches are plentiful, and one fd
//   means one pending read on the executor however many sessions there are.
// - Directories, not files: SQLite replaces and deletes its journal, and a container may recreate
//   `.heartbeat`; a watch on the directory sees every name in it, including files that do not
//   exist yet.
// - Coalescing per read: a heartbeat touch and an SQLite commit are each several kernel events
//   (create, attrib, modify, close, delete of the journal). Everything one read returns is folded
//   into one call per key with the distinct names, so a burst becomes one check per session.
// - Overflow: when the kernel's queue overflows (fs.inotify.max_queued_events) events are lost
//   and nothing says which; the caller re-checks every directory it watches.
// - ENOSPC from add(): the kernel's watch limit (fs.inotify.max_user_watches) or the soft cap
//   given at construction is reached; the caller polls that directory instead, and may retry
//   add() later.
//
// Two keys on the same directory share one kernel watch (inotify returns the same watch
// descriptor): every change is reported under each key, and the watch is removed from the kernel
// when the last of its keys is removed.
//
// Thread-safety: none. Use a DirectoryWatcher from its executor only.

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

namespace hostsweep::os {

class DirectoryWatcher {
 public:
  // Called once per watched key per read, with the distinct names that changed in its directory,
  // sorted. When the directory itself went away (deleted, moved, unmounted), the names start
  // with "" and the key is no longer watched by the time of the call. Changes to the directory's
  // own attributes (chmod of the directory) are not reported. Keys are called in sorted order.
  using ChangeHandler = std::function<void(const std::string& key, const std::vector<std::string>& names)>;
  // Events were lost: the kernel's queue overflowed, or reading failed (then is_open() is false
  // and the watcher reports nothing more). Called after the change calls of the same read.
  using OverflowHandler = std::function<void()>;

  // Throws Error(io_error) when no inotify instance can be created (the caller then polls).
  // max_watches: a soft cap on the kernel watches (distinct directories) this watcher holds,
  // 0 for none but the kernel's own limit; add() beyond it fails as the kernel's limit would.
  DirectoryWatcher(boost::asio::any_io_executor executor, ChangeHandler on_change, OverflowHandler on_overflow,
                   std::size_t max_watches = 0);
  // Closes the fd. No handler is called after this, even for events already read, even when a
  // handler destroys its own watcher.
  ~DirectoryWatcher();
  // A moved-from watcher is closed. Assigning over a watcher closes the one it held.
  DirectoryWatcher(DirectoryWatcher&& other) noexcept;
  DirectoryWatcher& operator=(DirectoryWatcher&& other) noexcept;
  DirectoryWatcher(const DirectoryWatcher&) = delete;
  DirectoryWatcher& operator=(const DirectoryWatcher&) = delete;

  // Watches `dir` under `key`; re-adding a key replaces its directory. On error nothing changes:
  // ENOENT (missing), ENOTDIR (not a directory), EACCES, ENOSPC (kernel watch limit or the soft
  // cap), bad_file_descriptor after close(). Errors are in std::generic_category().
  std::error_code add(const std::string& key, const std::filesystem::path& dir);
  // Stops watching `key`; no-op for an unknown key. Events of `key` already read are dropped.
  void remove(const std::string& key);
  // Number of keys watched.
  std::size_t size() const noexcept;
  // False after close(), or after a read failure reported through the overflow handler.
  bool is_open() const noexcept;
  // Stops reading and drops every watch; idempotent. A pending read ends silently.
  void close();

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;  // shared with the read loop, which holds it only while handling a read
};

}  // namespace hostsweep::os
