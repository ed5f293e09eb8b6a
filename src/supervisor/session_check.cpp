#include "session_check.hpp"

namespace hostsweep::supervisor::detail {

CheckResult run_check(CheckInput input) noexcept {
  CheckResult out;
  out.cleanup = input.cleanup;
  try {
    out.pass = sweep::run_pass(std::move(input.pass));
  } catch (const Error& e) {
    out.error = e;
  } catch (const std::exception& e) {
    out.error = Error(Errc::io_error, e.what());
  }
  return out;
}

}  // namespace hostsweep::supervisor::detail
