#pragma once
// What /proc says about processes, for tests that check who is still running. A process that
// has exited but was not reaped yet (a zombie) counts as gone: where the reaper of orphans is a
// program that does not reap (ctest as a container's pid 1), `kill(pid, 0)` would call it alive.

#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace hostsweep::testing {

struct ProcessStat {
  pid_t pid = 0;
  char state = '?';  // R, S, D, Z, ...
  pid_t ppid = 0;
  pid_t pgrp = 0;
};

// Fields 1, 3, 4 and 5 of /proc/PID/stat, or nullopt when there is no such process.
inline std::optional<ProcessStat> process_stat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  auto close = text.rfind(')');  // the name, field 2, may hold anything
  if (close == std::string::npos || close + 2 >= text.size()) return std::nullopt;
  ProcessStat stat{.pid = pid};
  std::istringstream rest(text.substr(close + 2));
  rest >> stat.state >> stat.ppid >> stat.pgrp;
  return stat;
}

inline std::vector<ProcessStat> all_processes() {
  std::vector<ProcessStat> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (auto stat = process_stat(std::stoi(name))) out.push_back(*stat);
  }
  return out;
}

inline bool alive(pid_t pid) {
  auto stat = process_stat(pid);
  return stat && stat->state != 'Z' && stat->state != 'X';
}

// Some process of group `pgid` has not exited.
inline bool group_alive(pid_t pgid) {
  for (const auto& p : all_processes()) {
    if (p.pgrp == pgid && p.state != 'Z' && p.state != 'X') return true;
  }
  return false;
}

// The children of `parent` that have exited and were never reaped.
inline std::vector<pid_t> zombies_of(pid_t parent) {
  std::vector<pid_t> out;
  for (const auto& p : all_processes()) {
    if (p.state == 'Z' && p.ppid == parent) out.push_back(p.pid);
  }
  return out;
}

}  // namespace hostsweep::testing
