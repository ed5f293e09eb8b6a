#pragma once
// What a supervisor records about the container it runs for a session, in the host's own
// directory for the session (store::SessionFiles::holder_record(), under DATA_DIR/run/, 0700):
// the container's process by pid and start time, its cgroup, when it started, and the
// supervisor's own identity. No container can write it (FAILURE-MODES.md 11), and even so it is
// never taken on faith: a recorded container is alive only when the kernel confirms it (its
// cgroup is populated, or its pid still has the recorded start time).
//
// The record is written when the container starts and removed once every process of it has
// ended. One left behind while the session lock is free means its supervisor died: the
// container, if still alive, is an orphan.
//
// Thread-safety: free functions with no shared state.

#include <filesystem>
#include <optional>
#include <string>

#include "os/process.hpp"
#include "hostsweep/policy/timestamp.hpp"

namespace hostsweep::os {

struct HolderRecord {
  ProcessIdentity container;  // the container's first process, leader of its process group
  TimePoint started_at{};     // wall clock, when it started
  ProcessIdentity supervisor;
  std::filesystem::path cgroup;  // its cgroup directory; empty when it has none
};

// Written to a temporary name and renamed over `file`, so a reader sees all of it or nothing.
// Throws Error(io_error).
void write_holder_record(const std::filesystem::path& file, const HolderRecord& record);

// nullopt when there is no record. Throws Error(corrupt_file) naming the file when it cannot be
// parsed (a record is only ever written whole, so that is damage, not a race).
std::optional<HolderRecord> read_holder_record(const std::filesystem::path& file);

// Removes the record; a missing one is fine. Never throws.
void remove_holder_record(const std::filesystem::path& file) noexcept;

// Whether any process of the recorded container may still live, as the kernel says: with a
// cgroup, whether it is populated; without, whether the pid still names the recorded process
// (escaped processes of a container without a cgroup cannot be told; see README). `how` says
// which, for logs.
bool recorded_container_alive(const HolderRecord& record, std::string* how = nullptr);

}  // namespace hostsweep::os
