#pragma once
// The status columns of the session files (PROTOCOL.md), as enums. store/ parses each text
// once, where it reads the row; policy code compares enums and never the text. A text the host
// does not know is `unknown`: carried along, never acted on, never an error. to_string gives
// the protocol's text back, for output and for the host's own writes.
//
// Pure, no state: safe from any thread.

#include <string>
#include <string_view>

namespace hostsweep::policy {

// messages_in.status. A NULL status is the column's default, pending (store/ reads it so).
enum class MessageStatus { pending, completed, failed, paused, unknown };

// processing_ack.status.
enum class AckStatus { processing, completed, failed, unknown };

MessageStatus parse_message_status(std::string_view text) noexcept;  // exact, case-sensitive
AckStatus parse_ack_status(std::string_view text) noexcept;
const char* to_string(MessageStatus status) noexcept;  // "pending", ..., "unknown"
const char* to_string(AckStatus status) noexcept;      // "processing", ..., "unknown"

// One processing_ack row, as read. (policy::AckFact is the same row with its status as text,
// which decide_stuck still takes: see ack_facts in sweep_plan.hpp.)
struct Ack {
  std::string message_id;
  AckStatus status = AckStatus::unknown;
  std::string status_changed;  // raw text
};

// Whether a pass decides anything on an ack: a claim (any status but completed or failed), or
// the ack of a message still unsettled. The others are settled history, of which only the
// latest sign of life counts (decide_stuck); store/ and sweep/ keep the rest out of memory.
constexpr bool ack_decides(AckStatus status, bool message_unsettled) noexcept {
  return (status != AckStatus::completed && status != AckStatus::failed) || message_unsettled;
}

}  // namespace hostsweep::policy
