#include "store/file_version.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <string>

namespace hostsweep::store {
namespace {

// lstat: a symlink (even a dangling one) is something beside the file, to be refused by a full read.
bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::int64_t nanoseconds(const timespec& ts) noexcept {
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// CLOCK_REALTIME_COARSE is the clock the kernel stamps files with; read before the stat, it is
// never ahead of the stamp any later change gets (unless the wall clock steps back, which only
// makes more versions doubtful).
std::int64_t coarse_now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return nanoseconds(ts);
}

}  // namespace

std::optional<FileVersion> read_file_version(const std::filesystem::path& database) noexcept {
  try {
    const std::string path = database.string();
    // A journal beside the file: a write is under way, or a crashed one awaits its rollback.
    // A WAL file: commits land there, not in the header.
    if (exists(path + "-journal") || exists(path + "-wal")) return std::nullopt;
    // O_NONBLOCK: a fifo put there by the container would block a plain open until a writer came.
    const std::int64_t taken_ns = coarse_now_ns();
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return std::nullopt;
    std::array<unsigned char, 100> header{};
    struct stat st {};
    bool read_ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                   ::pread(fd, header.data(), header.size(), 0) == static_cast<ssize_t>(header.size());
    ::close(fd);
    if (!read_ok) return std::nullopt;
    static constexpr char kMagic[] = "SQLite format 3";  // with its terminating NUL: 16 bytes
    if (std::memcmp(header.data(), kMagic, sizeof kMagic) != 0) return std::nullopt;
    // Bytes 18 and 19: 1 = rollback journal, 2 = WAL.
    if (header[18] != 1 || header[19] != 1) return std::nullopt;
    FileVersion version;
    version.device = static_cast<std::uint64_t>(st.st_dev);
    version.inode = static_cast<std::uint64_t>(st.st_ino);
    version.size = static_cast<std::int64_t>(st.st_size);
    version.modified_ns = nanoseconds(st.st_mtim);
    version.status_changed_ns = nanoseconds(st.st_ctim);
    version.in_doubt = version_in_doubt(version.status_changed_ns, taken_ns);
    version.change_counter = (std::uint32_t{header[24]} << 24) | (std::uint32_t{header[25]} << 16) |
                             (std::uint32_t{header[26]} << 8) | std::uint32_t{header[27]};
    return version;
  } catch (...) {
    return std::nullopt;  // only std::string's allocation can throw here
  }
}

}  // namespace hostsweep::store
