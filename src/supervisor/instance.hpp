#pragma once
// Internal: a supervisor's claim on its data directory. One supervisor per data directory
// (two would each take the other's live containers for orphans): the claim is an exclusive lock
// on DATA_DIR/run/supervisor.lock, held for the supervisor's lifetime, with its pid written in
// for whoever is refused. DATA_DIR/run/ is created 0700: it holds what no container may write.
//
// The install id names this data directory's cgroups and docker labels, so that two installs on
// one host never stop each other's containers. Made once, kept in DATA_DIR/run/install-id.

#include <string>

#include "os/session_lock.hpp"
#include "hostsweep/store/layout.hpp"

namespace hostsweep::supervisor::detail {

struct Instance {
  os::SessionLock lock;
  std::string install_id;  // 16 hex digits
};

// Throws Error(already_exists) naming the pid of the supervisor that holds the data directory,
// Error(io_error) when DATA_DIR/run cannot be made private.
Instance claim_data_dir(const store::DataDir& data);

}  // namespace hostsweep::supervisor::detail
