#include "os/process.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <iterator>
#include <string_view>

#include <fmt/format.h>

namespace hostsweep::os {
namespace {

// Fields 3.. of /proc/PID/stat, after the command name: the name is in parentheses and may hold
// spaces and parentheses itself, so the fields start after the *last* ')'.
std::optional<std::string> stat_fields(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string line{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 > line.size()) return std::nullopt;
  return line.substr(close + 2);
}

// Field `n` (1-based, as proc(5) numbers them; n >= 3) of /proc/PID/stat.
template <typename T>
std::optional<T> stat_field(pid_t pid, int n) {
  auto fields = stat_fields(pid);
  if (!fields) return std::nullopt;
  std::string_view rest = *fields;
  for (int i = 3; i < n; ++i) {
    auto space = rest.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    rest.remove_prefix(space + 1);
  }
  T value{};
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
  if (ec != std::errc{}) return std::nullopt;
  return value;
}

}  // namespace

std::optional<std::uint64_t> process_start_ticks(pid_t pid) { return stat_field<std::uint64_t>(pid, 22); }

std::optional<pid_t> process_group_of(pid_t pid) { return stat_field<pid_t>(pid, 5); }

std::optional<ProcessIdentity> identify(pid_t pid) {
  auto ticks = process_start_ticks(pid);
  if (!ticks) return std::nullopt;
  return ProcessIdentity{pid, *ticks};
}

ProcessIdentity self_identity() {
  auto self = identify(::getpid());
  return self ? *self : ProcessIdentity{::getpid(), 0};
}

bool may_signal_group(pid_t pgid) noexcept { return pgid > 1 && pgid != ::getpid() && pgid != ::getpgrp(); }

std::optional<Pidfd> Pidfd::open(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return std::nullopt;
  return Pidfd(UniqueFd(fd), pid);
}

std::optional<Pidfd> Pidfd::open_verified(const ProcessIdentity& who, std::string& why_not) {
  if (who.pid <= 1) {
    why_not = fmt::format("pid {} is never a container", who.pid);
    return std::nullopt;
  }
  auto pidfd = open(who.pid);
  if (!pidfd) {
    why_not = fmt::format("process {} no longer exists", who.pid);
    return std::nullopt;
  }
  // Checked after the pidfd is held: if the pid was reused before pidfd_open, the pidfd names
  // the newcomer and its start time differs.
  auto ticks = process_start_ticks(who.pid);
  if (!ticks || *ticks != who.start_ticks || pidfd->exited()) {
    why_not = ticks && *ticks != who.start_ticks
                  ? fmt::format("pid {} now names another process (started at tick {}, not {})", who.pid, *ticks,
                                who.start_ticks)
                  : fmt::format("process {} no longer exists", who.pid);
    return std::nullopt;
  }
  return pidfd;
}

bool Pidfd::send_signal(int signal) const noexcept {
  return ::syscall(SYS_pidfd_send_signal, fd_.get(), signal, nullptr, 0) == 0;
}

bool Pidfd::exited() const noexcept {
  pollfd p{fd_.get(), POLLIN, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

}  // namespace hostsweep::os
