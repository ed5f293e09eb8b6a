#include "os/log_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "hostsweep/error.hpp"
#include "policy/output_lines.hpp"
#include "hostsweep/store/layout.hpp"

namespace hostsweep::os {
namespace {

[[noreturn]] void refuse(const std::filesystem::path& path, int err) {
  const char* why = err == ELOOP ? "is a symlink: refused" : err == ENOTDIR ? "is not a directory: refused" : ::strerror(err);
  throw Error(Errc::io_error, fmt::format("container log {}: {}", path.string(), why));
}

// `name` under `parent`, a directory that is not a link, created 0700 when missing.
UniqueFd open_directory(int parent, const char* name, const std::filesystem::path& path) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = ::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) return UniqueFd(fd);
    if (errno != ENOENT) refuse(path, errno);
    if (::mkdirat(parent, name, 0700) != 0 && errno != EEXIST) refuse(path, errno);
  }
  refuse(path, ENOENT);
}

}  // namespace

std::filesystem::path container_log_path(const std::filesystem::path& data_root, std::string_view agent_group_id,
                                         std::string_view session_id) {
  store::validate_id("agent group id", agent_group_id);
  store::validate_id("session id", session_id);
  return data_root / "logs" / agent_group_id / (std::string(session_id) + ".log");
}

RotatingLogFile::RotatingLogFile(const std::filesystem::path& data_root, std::string_view agent_group_id,
                                 std::string_view session_id, std::uint64_t max_bytes, int keep)
    : path_(container_log_path(data_root, agent_group_id, session_id)),
      name_(std::string(session_id) + ".log"),
      max_bytes_(max_bytes),
      keep_(keep < 0 ? 0 : keep) {
  // DATA_DIR itself is the operator's path, followed as given; nothing below it is.
  UniqueFd root(::open(data_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) refuse(data_root, errno);
  UniqueFd logs = open_directory(root.get(), "logs", data_root / "logs");
  dir_ = open_directory(logs.get(), std::string(agent_group_id).c_str(), path_.parent_path());
  open_current();
}

RotatingLogFile::~RotatingLogFile() { flush(); }

void RotatingLogFile::open_current() {
  int fd = ::openat(dir_.get(), name_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
  if (fd < 0) refuse(path_, errno);
  UniqueFd file(fd);
  struct stat st{};
  if (::fstat(fd, &st) != 0) refuse(path_, errno);
  if (!S_ISREG(st.st_mode)) throw Error(Errc::io_error, fmt::format("container log {}: not a regular file: refused", path_.string()));
  if (st.st_nlink != 1) {
    throw Error(Errc::io_error, fmt::format("container log {}: has {} hard links: refused", path_.string(), st.st_nlink));
  }
  // O_NONBLOCK only kept a fifo from blocking the open.
  ::fcntl(fd, F_SETFL, O_WRONLY | O_APPEND);
  file_ = std::move(file);
  size_ = static_cast<std::uint64_t>(st.st_size);
}

void RotatingLogFile::append(std::string_view line) {
  if (!file_) return;  // a rotation failed: nothing more is written
  if (policy::must_rotate(size_, line.size(), max_bytes_)) {
    flush();
    rotate();
    if (!file_) return;
  }
  queued_.append(line);
  size_ += line.size();
}

void RotatingLogFile::flush() {
  std::string_view rest = queued_;
  while (!rest.empty() && file_) {
    ssize_t n = ::write(file_.get(), rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fail(fmt::format("container log {}: write failed: {}", path_.string(), ::strerror(n < 0 ? errno : EIO)));
      size_ -= rest.size();  // what was dropped is not in the file
      break;
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  queued_.clear();
}

// Within the directory's descriptor: renameat moves a name (a link, if one were there, is
// moved, never followed); the rename onto .keep replaces, and so removes, the oldest.
void RotatingLogFile::rotate() {
  file_.reset();
  if (keep_ == 0) {
    if (::unlinkat(dir_.get(), name_.c_str(), 0) != 0 && errno != ENOENT) {
      fail(fmt::format("container log {}: cannot remove it to rotate: {}", path_.string(), ::strerror(errno)));
    }
  }
  for (int n = keep_; n >= 1; --n) {
    std::string from = n == 1 ? name_ : policy::rotated_name(name_, n - 1);
    std::string to = policy::rotated_name(name_, n);
    if (::renameat(dir_.get(), from.c_str(), dir_.get(), to.c_str()) != 0 && errno != ENOENT) {
      fail(fmt::format("container log {}: cannot rotate {} to {}: {}", path_.string(), from, to, ::strerror(errno)));
    }
  }
  try {
    open_current();
  } catch (const Error& e) {
    fail(e.what());
  }
}

void RotatingLogFile::fail(const std::string& what) {
  if (error_.empty()) error_ = what;
}

UniqueFd open_log_for_reading(const std::filesystem::path& file) {
  return UniqueFd(::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
}

}  // namespace hostsweep::os
