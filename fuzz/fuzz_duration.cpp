// parse_duration on any bytes: no crash, no UB (overflow in the arithmetic), never a negative
// duration, and format_duration's text reads back as the same duration.
#include "fuzz_check.hpp"
#include "hostsweep/policy/timestamp.hpp"

using namespace hostsweep;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = fuzz::as_text(data, size);
  const auto d = policy::parse_duration(text);
  if (!d) return 0;
  fuzz::check(*d >= Duration::zero(), "negative duration", text);
  const auto formatted = policy::format_duration(*d);
  const auto back = policy::parse_duration(formatted);
  fuzz::check(back && *back == *d, "format_duration does not read back", formatted);
  return 0;
}
