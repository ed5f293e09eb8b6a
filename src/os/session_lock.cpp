#include "hostsweep/os/session_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

#include <fmt/format.h>

#include "hostsweep/error.hpp"

namespace hostsweep::os {
namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const char* what) {
  throw Error(Errc::io_error, fmt::format("{}: cannot {}: {}", path.string(), what, std::strerror(errno)));
}

}  // namespace

std::optional<SessionLock> SessionLock::try_acquire(const std::filesystem::path& lock_file) {
  int fd = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) fail(lock_file, "open the lock file");
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    int saved = errno;
    ::close(fd);
    if (saved == EWOULDBLOCK) return std::nullopt;
    errno = saved;
    fail(lock_file, "lock");
  }
  return SessionLock(fd);
}

bool SessionLock::is_held(const std::filesystem::path& lock_file) {
  std::error_code ec;
  if (!std::filesystem::exists(lock_file, ec)) return false;
  return !try_acquire(lock_file).has_value();
}

std::optional<LockHolder> SessionLock::read_holder(const std::filesystem::path& lock_file) {
  std::ifstream in(lock_file);
  std::string pid_text;
  std::string since_text;
  std::string owner_text;
  if (!(in >> pid_text)) return std::nullopt;
  in >> since_text >> owner_text;
  LockHolder holder;
  try {
    holder.pid = std::stol(pid_text);
    if (!owner_text.empty()) holder.owner_pid = std::stol(owner_text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (holder.pid <= 0) return std::nullopt;
  holder.since = policy::parse_timestamp(since_text);
  return holder;
}

void SessionLock::record_holder(long pid, TimePoint since, long owner_pid) {
  std::string line = fmt::format("{} {} {}\n", pid, policy::format_iso8601(since), owner_pid);
  if (::ftruncate(fd_, 0) != 0) fail("lock file", "truncate");
  if (::pwrite(fd_, line.data(), line.size(), 0) != static_cast<ssize_t>(line.size())) fail("lock file", "write");
}

SessionLock::SessionLock(SessionLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

SessionLock& SessionLock::operator=(SessionLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

SessionLock::~SessionLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last fd on the open file releases the flock
}

}  // namespace hostsweep::os
