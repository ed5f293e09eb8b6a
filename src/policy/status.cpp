#include "policy/status.hpp"

namespace hostsweep::policy {

MessageStatus parse_message_status(std::string_view text) noexcept {
  if (text == "pending") return MessageStatus::pending;
  if (text == "completed") return MessageStatus::completed;
  if (text == "failed") return MessageStatus::failed;
  if (text == "paused") return MessageStatus::paused;
  return MessageStatus::unknown;
}

AckStatus parse_ack_status(std::string_view text) noexcept {
  if (text == "processing") return AckStatus::processing;
  if (text == "completed") return AckStatus::completed;
  if (text == "failed") return AckStatus::failed;
  return AckStatus::unknown;
}

const char* to_string(MessageStatus status) noexcept {
  switch (status) {
    case MessageStatus::pending: return "pending";
    case MessageStatus::completed: return "completed";
    case MessageStatus::failed: return "failed";
    case MessageStatus::paused: return "paused";
    case MessageStatus::unknown: return "unknown";
  }
  return "unknown";
}

const char* to_string(AckStatus status) noexcept {
  switch (status) {
    case AckStatus::processing: return "processing";
    case AckStatus::completed: return "completed";
    case AckStatus::failed: return "failed";
    case AckStatus::unknown: return "unknown";
  }
  return "unknown";
}

}  // namespace hostsweep::policy
