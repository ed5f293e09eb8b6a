#include "policy/status.hpp"

#include <gtest/gtest.h>

namespace hostsweep::policy {
namespace {

TEST(Status, EachKnownTextParsesAndPrintsBack) {
  for (auto s : {MessageStatus::pending, MessageStatus::completed, MessageStatus::failed, MessageStatus::paused}) {
    EXPECT_EQ(parse_message_status(to_string(s)), s) << to_string(s);
  }
  for (auto s : {AckStatus::processing, AckStatus::completed, AckStatus::failed}) {
    EXPECT_EQ(parse_ack_status(to_string(s)), s) << to_string(s);
  }
}

TEST(Status, AnyOtherTextIsUnknownNeverAnError) {
  for (const char* text : {"", "Completed", "pending ", "processing", "done", "\x1b[31m"}) {
    EXPECT_EQ(parse_message_status(text), MessageStatus::unknown) << text;
  }
  for (const char* text : {"", "PROCESSING", "paused", "pending", "failed\n"}) {
    EXPECT_EQ(parse_ack_status(text), AckStatus::unknown) << text;
  }
  EXPECT_STREQ(to_string(MessageStatus::unknown), "unknown");
  EXPECT_STREQ(to_string(AckStatus::unknown), "unknown");
}

}  // namespace
}  // namespace hostsweep::policy
