#include "os/session_lock.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "hostsweep/error.hpp"

namespace hostsweep::os {
namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const char* what, int err = errno) {
  throw Error(Errc::io_error, fmt::format("{}: cannot {}: {}", path.string(), what, std::strerror(err)));
}

struct flock whole_file(short type) {
  struct flock l{};
  l.l_type = type;
  l.l_whence = SEEK_SET;
  l.l_start = 0;
  l.l_len = 0;
  return l;
}

}  // namespace

void make_private_directories(const std::filesystem::path& dir) {
  std::filesystem::path built;
  for (const auto& part : dir) {
    built /= part;
    if (::mkdir(built.c_str(), 0700) != 0 && errno != EEXIST) fail(built, "create the directory");
  }
  // The directory itself must be one, not a link to somewhere else.
  struct stat st{};
  if (::lstat(dir.c_str(), &st) != 0) fail(dir, "inspect the directory");
  if (!S_ISDIR(st.st_mode)) throw Error(Errc::io_error, fmt::format("{} is not a directory (a symlink?): refused", dir.string()));
}

std::optional<SessionLock> SessionLock::try_acquire(const std::filesystem::path& lock_file) {
  int fd = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 && errno == ENOENT) {
    make_private_directories(lock_file.parent_path());
    fd = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  }
  if (fd < 0) fail(lock_file, errno == ELOOP ? "open the lock file (a symlink: refused)" : "open the lock file");
  UniqueFd owned(fd);
  auto l = whole_file(F_WRLCK);
  while (::fcntl(fd, F_OFD_SETLK, &l) != 0) {
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EACCES) return std::nullopt;
    fail(lock_file, "lock");
  }
  return SessionLock(std::move(owned));
}

bool SessionLock::is_held(const std::filesystem::path& lock_file) {
  UniqueFd fd(::open(lock_file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) return false;
    fail(lock_file, "open the lock file");
  }
  auto l = whole_file(F_WRLCK);
  while (::fcntl(fd.get(), F_OFD_GETLK, &l) != 0) {
    if (errno != EINTR) fail(lock_file, "test the lock");
  }
  return l.l_type != F_UNLCK;
}

std::string SessionLock::read_note(const std::filesystem::path& lock_file) {
  UniqueFd fd(::open(lock_file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return {};
  char buffer[256];
  ssize_t n = ::pread(fd.get(), buffer, sizeof buffer, 0);
  return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string{};
}

void SessionLock::write_note(std::string_view text) {
  if (::ftruncate(fd_.get(), 0) != 0) fail("lock file", "truncate");
  if (::pwrite(fd_.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) fail("lock file", "write");
}

}  // namespace hostsweep::os
