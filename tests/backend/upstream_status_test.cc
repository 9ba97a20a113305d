#include "backend/internal/upstream_status.h"

#include <gtest/gtest.h>

#include "backend/internal/response_parser.h"

namespace sobre::backend::internal {
namespace {

TEST(UpstreamStatusTest, KeepsTheOpenAiErrorMessage) {
  UpstreamError e = ParseUpstreamError(
      400, R"({"error": {"message": "bad 'messages'", "type": "invalid_request_error",
                         "param": null, "code": null}})");
  EXPECT_EQ(e.message, "bad 'messages'");
  EXPECT_EQ(e.type, "invalid_request_error");
  Status s = StatusFromUpstream(400, e);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "bad 'messages'");
}

TEST(UpstreamStatusTest, OtherErrorShapesAndRawBodies) {
  EXPECT_EQ(ParseUpstreamError(500, R"({"error": "model crashed"})").message, "model crashed");
  EXPECT_EQ(ParseUpstreamError(422, R"({"detail": "field required"})").message, "field required");
  EXPECT_EQ(ParseUpstreamError(502, "<html>Bad Gateway</html>\n").message,
            "<html>Bad Gateway</html>");
  EXPECT_EQ(ParseUpstreamError(503, "").message, "HTTP 503");
}

TEST(UpstreamStatusTest, MapsStatusesAsBackendHSays) {
  UpstreamError e{"m", "", ""};
  EXPECT_EQ(StatusFromUpstream(400, e).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(StatusFromUpstream(422, e).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(StatusFromUpstream(404, e).code(), StatusCode::kNotFound);
  EXPECT_EQ(StatusFromUpstream(401, e).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(StatusFromUpstream(403, e).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(StatusFromUpstream(429, e).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(StatusFromUpstream(500, e).code(), StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromUpstream(503, e).code(), StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromUpstream(503, e).message(), "upstream returned 503: m");
}

TEST(UpstreamStatusTest, RetryableStatuses) {
  UpstreamError e{"m", "", ""};
  EXPECT_TRUE(IsRetryableHttpStatus(429, e));
  EXPECT_TRUE(IsRetryableHttpStatus(500, e));
  EXPECT_TRUE(IsRetryableHttpStatus(503, e));
  EXPECT_TRUE(IsRetryableHttpStatus(408, e));
  EXPECT_FALSE(IsRetryableHttpStatus(400, e));
  EXPECT_FALSE(IsRetryableHttpStatus(404, e));
  EXPECT_FALSE(IsRetryableHttpStatus(401, e));
  // Quota exhaustion does not recover by waiting.
  EXPECT_FALSE(IsRetryableHttpStatus(429, UpstreamError{"m", "insufficient_quota", ""}));
  EXPECT_FALSE(IsRetryableHttpStatus(429, UpstreamError{"m", "", "insufficient_quota"}));
}

TEST(UpstreamStatusTest, RetryAfter) {
  EXPECT_EQ(ParseRetryAfterSeconds("2"), std::chrono::milliseconds(2000));
  EXPECT_EQ(ParseRetryAfterSeconds(" 1.5 "), std::chrono::milliseconds(1500));
  EXPECT_EQ(ParseRetryAfterSeconds("Wed, 21 Oct 2015 07:28:00 GMT"), std::nullopt);
  EXPECT_EQ(ParseRetryAfterSeconds("-1"), std::nullopt);
  EXPECT_EQ(ParseRetryAfterMs("250"), std::chrono::milliseconds(250));
}

TEST(ResponseParserTest, ChunkedBodyFedInPieces) {
  const std::string response =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
      "Transfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  ResponseParser parser(1 << 20);
  std::string pending, body;
  for (char c : response) {
    pending.push_back(c);
    bool need_more = false;
    StatusOr<size_t> used = parser.Put(pending, &need_more);
    ASSERT_TRUE(used.ok()) << used.status().ToString();
    pending.erase(0, *used);
    body += parser.TakeBody();
  }
  EXPECT_TRUE(parser.done());
  EXPECT_EQ(parser.status(), 200);
  EXPECT_EQ(parser.content_type(), "text/event-stream");
  EXPECT_TRUE(parser.keep_alive());
  EXPECT_EQ(body, "hello world");
}

TEST(ResponseParserTest, HeadersForRetries) {
  const std::string response =
      "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nretry-after-ms: 2500\r\n"
      "Connection: close\r\nContent-Length: 2\r\n\r\n{}";
  ResponseParser parser(1 << 20);
  bool need_more = false;
  ASSERT_TRUE(parser.Put(response, &need_more).ok());
  EXPECT_TRUE(parser.done());
  EXPECT_EQ(parser.status(), 429);
  EXPECT_EQ(parser.retry_after(), "3");
  EXPECT_EQ(parser.retry_after_ms(), "2500");
  EXPECT_FALSE(parser.keep_alive());
}

TEST(ResponseParserTest, BodyCutShortIsDataLoss) {
  ResponseParser parser(1 << 20);
  bool need_more = false;
  ASSERT_TRUE(parser.Put("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", &need_more).ok());
  EXPECT_EQ(parser.PutEof().code(), StatusCode::kDataLoss);
}

TEST(ResponseParserTest, BodyLimit) {
  ResponseParser parser(4);
  bool need_more = false;
  auto used = parser.Put("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", &need_more);
  EXPECT_EQ(used.status().code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace sobre::backend::internal
