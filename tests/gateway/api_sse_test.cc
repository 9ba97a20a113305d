// SSE framing of stream events.
#include "gateway/sse.h"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace sobre::gateway {
namespace {

TEST(SseTest, DataEventIsOneLineFollowedByABlankLine) {
  boost::json::object o;
  o["content"] = "two\nlines";
  const std::string event = SseData(o);
  ASSERT_TRUE(event.starts_with("data: {"));
  ASSERT_TRUE(event.ends_with("}\n\n"));
  // The newline inside the string is escaped: one data line only.
  EXPECT_EQ(event.find('\n'), event.size() - 2);
  EXPECT_EQ(boost::json::parse(event.substr(6)).at("content").as_string(), "two\nlines");
}

TEST(SseTest, DoneAndErrorEvents) {
  EXPECT_EQ(kSseDone, "data: [DONE]\n\n");
  const std::string event = SseError(ApiError{ApiErrorKind::kUpstreamError, "cut", ""});
  ASSERT_TRUE(event.starts_with("data: {\"error\":"));
  ASSERT_TRUE(event.ends_with("\n\n"));
  const boost::json::value v = boost::json::parse(event.substr(6));
  EXPECT_EQ(v.at("error").at("code").as_string(), "upstream_error");
  EXPECT_EQ(v.at("error").at("message").as_string(), "cut");
}

}  // namespace
}  // namespace sobre::gateway
