#pragma once
// Internal: the blocking half of the supervisor. One check is one pass over a session's files
// (sweep::run_pass, on the database pool, never on the caller's executor); the supervisor acts
// on the result on its own executor.

#include <optional>

#include "hostsweep/error.hpp"
#include "policy/session_machine.hpp"
#include "sweep/session_sweep.hpp"

namespace hostsweep::supervisor::detail {

struct CheckInput {
  sweep::PassInput pass;
  // This is the cleanup after our container's exit (echoed in the result).
  bool cleanup = false;
};

struct CheckResult {
  bool cleanup = false;  // the input's flag: this result completes a container's cleanup
  std::optional<Error> error;
  sweep::PassResult pass;
  policy::SteadyTime at{};  // when the pass read the files (the caller's steady clock)
};

// Never throws: a failed pass is a result with an error (and no lock handed back).
CheckResult run_check(CheckInput input) noexcept;

}  // namespace hostsweep::supervisor::detail
