#pragma once
// The cgroup settings of a supervisor (os/cgroup.hpp inside the library applies them).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace hostsweep::os {

// The setting `cgroup`.
struct CgroupSetting {
  enum class Mode {
    automatic,  // "auto": PARENT is this process's own cgroup; cgroups are used when it is writable
    off,        // "off": no cgroups; containers are contained by their process group only
    parent,     // an absolute path: a cgroup v2 directory to use as PARENT; it must work
  };
  Mode mode = Mode::automatic;
  std::filesystem::path parent;  // Mode::parent only

  // "auto", "off", or an absolute path. Throws Error(invalid_argument) naming the accepted values.
  static CgroupSetting parse(std::string_view text);
  // The text parse() reads back.
  std::string to_string() const;
};

// Limits applied to each container's cgroup; unset means the kernel's default ("max", weight 100).
struct CgroupLimits {
  std::optional<std::uint64_t> memory_max;  // bytes, memory.max; needs the memory controller
  std::optional<std::uint64_t> pids_max;    // pids.max; needs the pids controller
  std::optional<std::uint32_t> cpu_weight;  // cpu.weight, 1..10000; needs the cpu controller
  bool empty() const noexcept { return !memory_max && !pids_max && !cpu_weight; }
};

}  // namespace hostsweep::os
