// The pass memo's decoder on any bytes, as a whole file and as a payload behind a valid header
// (the checksum keeps a fuzzer out of the payload otherwise): no crash, no UB, no allocation
// beyond what the bytes hold; and a memo that decodes encodes to a file that decodes to a memo
// that encodes to the same bytes.
#include "fuzz_check.hpp"
#include "sweep/pass_memo.hpp"

using namespace hostsweep;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = fuzz::as_text(data, size);
  (void)sweep::decode_pass_memo(bytes);
  const auto memo = sweep::decode_pass_memo_payload(bytes);
  if (!memo) return 0;
  const auto file = sweep::encode_pass_memo(*memo);
  const auto again = sweep::decode_pass_memo(file);
  fuzz::check(again.has_value(), "an encoded memo does not decode", bytes);
  fuzz::check(sweep::encode_pass_memo(*again) == file, "a decoded memo encodes to other bytes", bytes);
  return 0;
}
