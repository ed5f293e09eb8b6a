#include "os/holder_record.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include <fmt/format.h>

#include "hostsweep/error.hpp"
#include "os/cgroup.hpp"

namespace hostsweep::os {
namespace {

constexpr const char* kMagic = "hostsweep-holder 1";

[[noreturn]] void corrupt(const std::filesystem::path& file, const std::string& what) {
  throw Error(Errc::corrupt_file, fmt::format("{}: not a holder record ({})", file.string(), what));
}

}  // namespace

void write_holder_record(const std::filesystem::path& file, const HolderRecord& r) {
  std::string text = fmt::format("{}\ncontainer {} {}\nstarted {}\nsupervisor {} {}\ncgroup {}\n", kMagic,
                                 r.container.pid, r.container.start_ticks, policy::format_iso8601(r.started_at),
                                 r.supervisor.pid, r.supervisor.start_ticks, r.cgroup.empty() ? "-" : r.cgroup.string());
  auto temporary = file;
  temporary += ".new";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) throw Error(Errc::io_error, fmt::format("{}: cannot write: {}", temporary.string(), std::strerror(errno)));
  UniqueFd owned(fd);
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
      ::rename(temporary.c_str(), file.c_str()) != 0) {
    int saved = errno;
    ::unlink(temporary.c_str());
    throw Error(Errc::io_error, fmt::format("{}: cannot write: {}", file.string(), std::strerror(saved)));
  }
}

std::optional<HolderRecord> read_holder_record(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw Error(Errc::io_error, fmt::format("{}: cannot read: {}", file.string(), std::strerror(errno)));
  }
  UniqueFd owned(fd);
  char buffer[4096];
  ssize_t n = ::read(fd, buffer, sizeof buffer);
  if (n < 0) throw Error(Errc::io_error, fmt::format("{}: cannot read: {}", file.string(), std::strerror(errno)));
  std::istringstream in(std::string(buffer, static_cast<std::size_t>(n)));
  std::string line;
  if (!std::getline(in, line) || line != kMagic) corrupt(file, "no header");
  HolderRecord r;
  std::string key, started, cgroup;
  if (!(in >> key >> r.container.pid >> r.container.start_ticks) || key != "container") corrupt(file, "container");
  if (!(in >> key >> started) || key != "started") corrupt(file, "started");
  if (!(in >> key >> r.supervisor.pid >> r.supervisor.start_ticks) || key != "supervisor") corrupt(file, "supervisor");
  in >> std::ws;
  if (!std::getline(in, line) || line.rfind("cgroup ", 0) != 0) corrupt(file, "cgroup");
  cgroup = line.substr(7);
  auto since = policy::parse_timestamp(started);
  if (!since) corrupt(file, "started");
  r.started_at = *since;
  if (cgroup != "-") r.cgroup = cgroup;
  return r;
}

void remove_holder_record(const std::filesystem::path& file) noexcept { ::unlink(file.c_str()); }

bool recorded_container_alive(const HolderRecord& record, std::string* how) {
  if (!record.cgroup.empty()) {
    bool populated = cgroup_populated(record.cgroup);
    if (how) *how = fmt::format("cgroup {} is {}", record.cgroup.string(), populated ? "populated" : "empty");
    return populated;
  }
  auto now = identify(record.container.pid);
  bool alive = now && now->start_ticks == record.container.start_ticks;
  if (how) {
    *how = alive ? fmt::format("process {} still runs", record.container.pid)
                 : fmt::format("process {} has ended", record.container.pid);
  }
  return alive;
}

}  // namespace hostsweep::os
