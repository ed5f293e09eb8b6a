#include "session_template.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "hostsweep/error.hpp"
#include "os/unique_fd.hpp"

namespace hostsweep::store::detail {
namespace {

namespace fs = std::filesystem;
using os::UniqueFd;

// Far deeper than any agent's configuration; a bound on the descriptors held (one per level).
constexpr int kMaxDepth = 32;

// The files the host and the container keep in a session: a template never provides them.
constexpr std::array<std::string_view, 10> kSessionOwnNames = {
    "inbound.db",     "inbound.db-journal",  "inbound.db-wal",  "inbound.db-shm", "outbound.db",
    "outbound.db-journal", "outbound.db-wal", "outbound.db-shm", ".heartbeat",     "outbox"};

const char* kind_of(mode_t mode) {
  if (S_ISLNK(mode)) return "a symlink";
  if (S_ISFIFO(mode)) return "a fifo";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file or directory";
}

// The template's mode, without setuid and setgid (a template cannot hand out privileges), and
// readable by the container's account, whoever it is: the read bits for all, and the search
// bits for all where the owner has one (chmod a+rX). Directories stay the owner's to write, so
// that the host can always remove what it made.
mode_t copied_mode(mode_t mode, bool directory) {
  mode_t out = mode & 01777;
  out |= 0444;
  if (directory) out |= 0755;
  else if (out & 0100) out |= 0111;
  return out;
}

// "dir/" resolves a symlink at "dir" even for lstat and O_NOFOLLOW: the slashes go first.
fs::path without_trailing_slash(fs::path path) {
  std::string text = path.string();
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  return text;
}

class Copier {
 public:
  Copier(fs::path from, fs::path to) : from_(without_trailing_slash(std::move(from))), to_(std::move(to)) {}

  void run() {
    struct stat st {};
    if (::lstat(from_.c_str(), &st) != 0) {
      if (errno == ENOENT) throw Error(Errc::not_found, fmt::format("template {}: no such directory", from_.string()));
      fail_io(from_);
    }
    if (!S_ISDIR(st.st_mode)) {
      throw Error(Errc::invalid_argument,
                  fmt::format("template {}: is {}, not a directory{}", from_.string(),
                              S_ISREG(st.st_mode) ? "a file" : kind_of(st.st_mode),
                              S_ISLNK(st.st_mode) ? " (links are never followed: give the directory itself)" : ""));
    }
    UniqueFd source(::open(from_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!source) fail_io(from_);
    UniqueFd target(::open(to_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!target) fail_io(to_);
    copy_directory(source.get(), target.get(), fs::path(), 0);
  }

 private:
  [[noreturn]] void fail_io(const fs::path& path) const {
    throw Error(Errc::io_error, fmt::format("template {}: {}: {}", from_.string(), path.string(), std::strerror(errno)));
  }

  [[noreturn]] void refuse(const fs::path& entry, const std::string& why) const {
    throw Error(Errc::invalid_argument, fmt::format("template {}: {} {}", from_.string(), entry.string(), why));
  }

  void copy_directory(int source, int target, const fs::path& relative, int depth) {
    if (depth > kMaxDepth) refuse(relative, fmt::format("is nested deeper than {} directories", kMaxDepth));
    for (const auto& name : entries(source, relative)) {
      const fs::path entry = relative / name;
      if (depth == 0) {
        for (auto own : kSessionOwnNames) {
          if (name == own) refuse(entry, "is one of the session's own files: a template cannot provide it");
        }
      }
      struct stat st {};
      if (::fstatat(source, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) fail_io(from_ / entry);
      if (S_ISDIR(st.st_mode)) {
        UniqueFd from(::openat(source, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!from) fail_io(from_ / entry);
        // Made private first: filled, then given its mode.
        if (::mkdirat(target, name.c_str(), 0700) != 0) fail_io(to_ / entry);
        UniqueFd to(::openat(target, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!to) fail_io(to_ / entry);
        copy_directory(from.get(), to.get(), entry, depth + 1);
        if (::fchmod(to.get(), copied_mode(st.st_mode, true)) != 0) fail_io(to_ / entry);
      } else if (S_ISREG(st.st_mode)) {
        copy_file(source, target, name, entry);
      } else if (S_ISLNK(st.st_mode)) {
        refuse(entry, "is a symlink: refused (a template is copied without following links)");
      } else {
        refuse(entry, fmt::format("is {}: a template holds only regular files and directories", kind_of(st.st_mode)));
      }
    }
  }

  // The names in a directory, sorted, so that a refusal is the same one every time.
  std::vector<std::string> entries(int source, const fs::path& relative) const {
    int fd = ::dup(source);
    if (fd < 0) fail_io(from_ / relative);
    DIR* dir = ::fdopendir(fd);
    if (!dir) {
      ::close(fd);
      fail_io(from_ / relative);
    }
    std::vector<std::string> names;
    errno = 0;
    while (auto* e = ::readdir(dir)) {
      std::string_view name = e->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    const int error = errno;
    ::closedir(dir);
    if (error != 0) {
      errno = error;
      fail_io(from_ / relative);
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  void copy_file(int source, int target, const std::string& name, const fs::path& entry) {
    // O_NONBLOCK: should a fifo replace the file after the check, the open does not hang; the
    // fstat below then refuses it.
    UniqueFd in(::openat(source, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!in) fail_io(from_ / entry);
    struct stat st {};
    if (::fstat(in.get(), &st) != 0) fail_io(from_ / entry);
    if (!S_ISREG(st.st_mode)) refuse(entry, fmt::format("is {}: a template holds only regular files and directories", kind_of(st.st_mode)));
    UniqueFd out(::openat(target, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out) fail_io(to_ / entry);
    std::array<char, 65536> buffer{};
    for (;;) {
      ssize_t n = ::read(in.get(), buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail_io(from_ / entry);
      if (n == 0) break;
      for (ssize_t done = 0; done < n;) {
        ssize_t w = ::write(out.get(), buffer.data() + done, static_cast<std::size_t>(n - done));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) fail_io(to_ / entry);
        done += w;
      }
    }
    if (::fchmod(out.get(), copied_mode(st.st_mode, false)) != 0) fail_io(to_ / entry);
  }

  fs::path from_;
  fs::path to_;
};

}  // namespace

void copy_template(const fs::path& from, const fs::path& to) { Copier(from, to).run(); }

}  // namespace hostsweep::store::detail
