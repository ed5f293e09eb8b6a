#include "hostsweep/store/layout.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include <fmt/format.h>

#include "hostsweep/error.hpp"
#include "os/unique_fd.hpp"

namespace hostsweep::store {
namespace {

bool is_alnum(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

}  // namespace

bool is_valid_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 128 || !is_alnum(id.front())) return false;
  for (char c : id) {
    if (!is_alnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

void validate_id(std::string_view what, std::string_view id) {
  if (is_valid_id(id)) return;
  // Show the id escaped enough that control characters cannot garble the terminal.
  std::string shown;
  for (char c : id.substr(0, 140)) {
    auto u = static_cast<unsigned char>(c);
    shown += (u < 0x20 || u == 0x7f) ? fmt::format("\\x{:02x}", u) : std::string(1, c);
  }
  throw Error(Errc::invalid_argument,
              fmt::format("invalid {} \"{}\": must be 1-128 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit",
                          what, shown));
}

std::string generate_id(std::string_view prefix, TimePoint now) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  return fmt::format("{}-{}-{:08x}", prefix, now.time_since_epoch().count(), rng());
}

SessionFiles DataDir::session(std::string_view agent_group_id, std::string_view session_id) const {
  validate_id("agent group id", agent_group_id);
  validate_id("session id", session_id);
  return SessionFiles(sessions_root() / agent_group_id / session_id, run_dir() / "sessions" / agent_group_id / session_id);
}


namespace {

[[noreturn]] void throw_ownership_error(const std::filesystem::path& path, std::string_view what, int error) {
  throw Error(Errc::io_error, fmt::format("{}: cannot {}: {}", path.string(), what, std::strerror(error)));
}

// fchown of what `fd` is, if it is a directory or a regular file with one link.
void give(int fd, const std::filesystem::path& path, uid_t uid, gid_t gid) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_ownership_error(path, "stat it", errno);
  if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
    throw Error(Errc::io_error, fmt::format("{} is not a regular file: not handed over", path.string()));
  }
  if (S_ISREG(st.st_mode) && st.st_nlink != 1) {
    throw Error(Errc::io_error,
                fmt::format("{} has {} hard links: refused (it could be any file of the host)", path.string(), st.st_nlink));
  }
  if ((st.st_uid != uid || st.st_gid != gid) && ::fchown(fd, uid, gid) != 0) throw_ownership_error(path, "chown it", errno);
}

}  // namespace

void hand_over_session(const SessionFiles& files, uid_t uid, gid_t gid) {
  os::UniqueFd dir(::open(files.dir().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) throw_ownership_error(files.dir(), "open it", errno);
  give(dir.get(), files.dir(), uid, gid);
  for (const char* name : {"outbound.db", "outbox"}) {
    // O_NONBLOCK: a fifo put in place of the file must not hang the open.
    os::UniqueFd fd(::openat(dir.get(), name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT || errno == ELOOP) continue;  // not there yet, or a symlink: nothing to give
      throw_ownership_error(files.dir() / name, "open it", errno);
    }
    give(fd.get(), files.dir() / name, uid, gid);
  }
}

}  // namespace hostsweep::store
