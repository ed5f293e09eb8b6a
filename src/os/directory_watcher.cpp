#include "os/directory_watcher.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <fmt/format.h>

#include "hostsweep/error.hpp"

namespace hostsweep::os {
namespace {

// IN_EXCL_UNLINK: no events for files already unlinked (a deleted journal still open by SQLite).
// IN_ONLYDIR: add() of a file fails with ENOTDIR instead of silently watching the file.
constexpr std::uint32_t kMask = IN_ATTRIB | IN_CLOSE_WRITE | IN_MODIFY | IN_CREATE | IN_DELETE | IN_MOVED_TO |
                                IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK;

// The watch is gone, or is about to be (IN_IGNORED follows IN_DELETE_SELF and IN_UNMOUNT).
constexpr std::uint32_t kGone = IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED;

// Room for about two thousand events per read: a burst of a few hundred sessions fits in one.
struct alignas(alignof(inotify_event)) ReadBuffer {
  std::array<char, 64 * 1024> bytes;
};

std::error_code last_error() { return {errno, std::generic_category()}; }

}  // namespace

class DirectoryWatcher::Impl : public std::enable_shared_from_this<DirectoryWatcher::Impl> {
 public:
  Impl(boost::asio::any_io_executor executor, ChangeHandler on_change, OverflowHandler on_overflow,
       std::size_t max_watches)
      : descriptor_(std::move(executor)),
        on_change_(std::move(on_change)),
        on_overflow_(std::move(on_overflow)),
        max_watches_(max_watches) {
    int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) throw Error(Errc::io_error, fmt::format("cannot create an inotify instance: {}", std::strerror(errno)));
    boost::system::error_code ec;
    descriptor_.assign(fd, ec);
    if (ec) {
      ::close(fd);
      throw Error(Errc::io_error, fmt::format("cannot register the inotify fd: {}", ec.message()));
    }
  }

  // Separate from the constructor: the read loop needs weak_from_this().
  void start() { start_read(); }

  std::error_code add(const std::string& key, const std::filesystem::path& dir) {
    if (!descriptor_.is_open()) return std::make_error_code(std::errc::bad_file_descriptor);
    // The kernel answers with the existing wd when this instance already watches the directory.
    int wd = ::inotify_add_watch(descriptor_.native_handle(), dir.c_str(), kMask);
    if (wd < 0) return last_error();
    auto old = keys_.find(key);
    if (old != keys_.end() && old->second.wd == wd) return {};  // same directory: keep pending events
    if (max_watches_ != 0 && !wds_.contains(wd)) {
      // Replacing a key's directory frees its old watch when no other key shares it.
      std::size_t freed = old != keys_.end() && wds_.at(old->second.wd).size() == 1 ? 1 : 0;
      if (wds_.size() - freed >= max_watches_) {
        ::inotify_rm_watch(descriptor_.native_handle(), wd);
        return std::make_error_code(std::errc::no_space_on_device);
      }
    }
    if (old != keys_.end()) detach(key, old->second.wd);
    keys_[key] = Watch{wd, ++generation_};
    wds_[wd].insert(key);
    return {};
  }

  void remove(const std::string& key) {
    auto it = keys_.find(key);
    if (it == keys_.end()) return;
    detach(key, it->second.wd);
    keys_.erase(it);
  }

  std::size_t size() const noexcept { return keys_.size(); }
  bool is_open() const noexcept { return descriptor_.is_open(); }

  void close() {
    boost::system::error_code ignored;
    descriptor_.close(ignored);  // the kernel drops every watch with the fd
    keys_.clear();
    wds_.clear();
  }

 private:
  struct Watch {
    int wd;
    // Tells a key's current watch from the one it had when a batch was decoded.
    std::uint64_t generation;
  };
  struct Pending {
    std::uint64_t generation = 0;
    bool dropped = false;
    std::set<std::string> names;
  };
  struct Batch {
    std::map<std::string, Pending> changes;
    bool overflow = false;
  };

  void detach(const std::string& key, int wd) {
    auto it = wds_.find(wd);
    if (it == wds_.end()) return;
    it->second.erase(key);
    if (!it->second.empty()) return;
    wds_.erase(it);
    // Fails harmlessly (EINVAL) when the kernel already dropped the watch and its IN_IGNORED is
    // still queued; that event then finds no wd and is skipped.
    ::inotify_rm_watch(descriptor_.native_handle(), wd);
  }

  void start_read() {
    // The buffer belongs to the pending read, so it outlives this object when the watcher is
    // destroyed with a read in flight; the weak_ptr keeps the handler from touching a dead watcher.
    descriptor_.async_read_some(boost::asio::buffer(buffer_->bytes),
                                [weak = weak_from_this(), buffer = buffer_](const boost::system::error_code& ec,
                                                                            std::size_t n) {
                                  auto self = weak.lock();
                                  if (!self || !self->descriptor_.is_open()) return;
                                  self->on_read(ec, *buffer, n);
                                });
  }

  void on_read(const boost::system::error_code& ec, const ReadBuffer& buffer, std::size_t n) {
    if (ec == boost::asio::error::operation_aborted) return;
    if (ec) {
      // Not expected from inotify (EINTR is retried by Asio); rather than spin on a broken fd,
      // stop, and tell the caller that it must look at everything itself from now on.
      close();
      if (on_overflow_) on_overflow_();
      return;
    }
    Batch batch = decode(buffer, n);
    // Re-armed before the handlers run: the batch no longer needs the buffer, and a handler that
    // throws out of io_context::run() must not stop the watcher.
    start_read();
    dispatch(batch);
  }

  Batch decode(const ReadBuffer& buffer, std::size_t n) {
    Batch batch;
    std::size_t offset = 0;
    while (offset + sizeof(inotify_event) <= n) {
      inotify_event event;
      std::memcpy(&event, buffer.bytes.data() + offset, sizeof event);
      const char* name = buffer.bytes.data() + offset + sizeof event;
      offset += sizeof event + event.len;
      if (offset > n) break;  // the kernel only returns whole events; never trust a length blindly
      if (event.mask & IN_Q_OVERFLOW) {
        batch.overflow = true;
        continue;
      }
      auto watch = wds_.find(event.wd);
      if (watch == wds_.end()) continue;  // removed by us, or already reported gone
      if (event.mask & kGone) {
        for (const auto& key : watch->second) {
          Pending& p = batch.changes[key];
          p.generation = keys_.at(key).generation;
          p.dropped = true;
          p.names.insert("");
          keys_.erase(key);
        }
        // A moved directory stays watched by the kernel; drop it so that every way of going
        // away means the same to the caller. Its IN_IGNORED then finds no wd.
        if (event.mask & IN_MOVE_SELF) ::inotify_rm_watch(descriptor_.native_handle(), event.wd);
        wds_.erase(watch);
        continue;
      }
      if (event.len == 0) continue;  // the directory's own attributes
      std::string file(name, ::strnlen(name, event.len));  // the name is padded with NULs
      for (const auto& key : watch->second) {
        Pending& p = batch.changes[key];
        p.generation = keys_.at(key).generation;
        p.names.insert(file);
      }
    }
    return batch;
  }

  void dispatch(const Batch& batch) {
    // The caller holds a shared_ptr to this object, so a handler may close or destroy the watcher;
    // is_open() is checked before every call.
    for (const auto& [key, pending] : batch.changes) {
      if (!descriptor_.is_open()) return;
      // Skip keys a previous handler of this batch removed or re-added; still report a drop to a
      // key that is gone either way.
      auto current = keys_.find(key);
      bool same_watch = current != keys_.end() && current->second.generation == pending.generation;
      if (!same_watch && !(pending.dropped && current == keys_.end())) continue;
      if (on_change_) on_change_(key, std::vector<std::string>(pending.names.begin(), pending.names.end()));
    }
    if (batch.overflow && descriptor_.is_open() && on_overflow_) on_overflow_();
  }

  boost::asio::posix::stream_descriptor descriptor_;
  ChangeHandler on_change_;
  OverflowHandler on_overflow_;
  std::size_t max_watches_;
  std::shared_ptr<ReadBuffer> buffer_ = std::make_shared<ReadBuffer>();
  std::map<std::string, Watch> keys_;
  std::map<int, std::set<std::string>> wds_;
  std::uint64_t generation_ = 0;
};

DirectoryWatcher::DirectoryWatcher(boost::asio::any_io_executor executor, ChangeHandler on_change,
                                   OverflowHandler on_overflow, std::size_t max_watches)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(on_change), std::move(on_overflow), max_watches)) {
  impl_->start();
}

DirectoryWatcher::~DirectoryWatcher() { close(); }

DirectoryWatcher::DirectoryWatcher(DirectoryWatcher&& other) noexcept : impl_(std::move(other.impl_)) {}

DirectoryWatcher& DirectoryWatcher::operator=(DirectoryWatcher&& other) noexcept {
  if (this != &other) {
    close();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

std::error_code DirectoryWatcher::add(const std::string& key, const std::filesystem::path& dir) {
  if (!impl_) return std::make_error_code(std::errc::bad_file_descriptor);
  return impl_->add(key, dir);
}

void DirectoryWatcher::remove(const std::string& key) {
  if (impl_) impl_->remove(key);
}

std::size_t DirectoryWatcher::size() const noexcept { return impl_ ? impl_->size() : 0; }

bool DirectoryWatcher::is_open() const noexcept { return impl_ && impl_->is_open(); }

void DirectoryWatcher::close() {
  if (impl_) impl_->close();
}

}  // namespace hostsweep::os
