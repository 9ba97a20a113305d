// The error table: what each Status code and gateway error turns into on the wire.
#include "gateway/errors.h"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace sobre::gateway {
namespace {

namespace json = boost::json;

TEST(ApiErrorsTest, BackendStatusCodesMapToTheDocumentedHttpStatuses) {
  // The contract in backend/backend.h.
  EXPECT_EQ(ApiErrorFromStatus(UnavailableError("x")).http_status(), 502);
  EXPECT_EQ(ApiErrorFromStatus(DeadlineExceededError("x")).http_status(), 504);
  EXPECT_EQ(ApiErrorFromStatus(ResourceExhaustedError("x")).http_status(), 429);
  EXPECT_EQ(ApiErrorFromStatus(InvalidArgumentError("x")).http_status(), 400);
  EXPECT_EQ(ApiErrorFromStatus(NotFoundError("x")).http_status(), 404);
  EXPECT_EQ(ApiErrorFromStatus(FailedPreconditionError("x")).http_status(), 502);
  EXPECT_EQ(ApiErrorFromStatus(DataLossError("x")).http_status(), 502);
  EXPECT_EQ(ApiErrorFromStatus(InternalError("x")).http_status(), 500);
  EXPECT_EQ(ApiErrorFromStatus(PermissionDeniedError("x")).http_status(), 403);
  EXPECT_EQ(ApiErrorFromStatus(UnimplementedError("x")).http_status(), 400);
}

TEST(ApiErrorsTest, GatewayErrorsUseOpenAiTypesAndCodes) {
  const ApiErrorSpec& key = SpecOf(ApiErrorKind::kInvalidApiKey);
  EXPECT_EQ(key.http_status, 401);
  EXPECT_EQ(key.type, "invalid_request_error");
  EXPECT_EQ(key.code, "invalid_api_key");
  const ApiErrorSpec& model = SpecOf(ApiErrorKind::kModelNotFound);
  EXPECT_EQ(model.http_status, 404);
  EXPECT_EQ(model.code, "model_not_found");
  const ApiErrorSpec& quota = SpecOf(ApiErrorKind::kInsufficientQuota);
  EXPECT_EQ(quota.http_status, 429);
  EXPECT_EQ(quota.code, "insufficient_quota");
  EXPECT_EQ(SpecOf(ApiErrorKind::kRateLimitRequests).code, "rate_limit_exceeded");
  EXPECT_EQ(SpecOf(ApiErrorKind::kRateLimitTokens).type, "tokens");
  EXPECT_EQ(SpecOf(ApiErrorKind::kRequestTooLarge).http_status, 413);
  EXPECT_EQ(SpecOf(ApiErrorKind::kOverloaded).http_status, 503);
}

TEST(ApiErrorsTest, NoRowAnswersTwoHundred) {
  for (int k = 0; k <= static_cast<int>(ApiErrorKind::kUpstreamTimeout); ++k) {
    const ApiErrorSpec& spec = SpecOf(static_cast<ApiErrorKind>(k));
    EXPECT_GE(spec.http_status, 400) << spec.type;
    EXPECT_EQ(static_cast<int>(spec.kind), k);
  }
  EXPECT_EQ(KindForStatus(StatusCode::kOk), ApiErrorKind::kInternal);
}

TEST(ApiErrorsTest, BodyAlwaysHasTheFourKeysWithNullsWhenUnset) {
  const json::value v =
      json::parse(ApiErrorBody(ApiError{ApiErrorKind::kInvalidRequest, "bad \"x\"", ""}));
  const json::object& e = v.at("error").as_object();
  EXPECT_EQ(e.size(), 4u);
  EXPECT_EQ(e.at("message").as_string(), "bad \"x\"");
  EXPECT_EQ(e.at("type").as_string(), "invalid_request_error");
  EXPECT_TRUE(e.at("param").is_null());
  EXPECT_TRUE(e.at("code").is_null());

  const json::value v2 = json::parse(
      ApiErrorBody(ApiError{ApiErrorKind::kModelNotFound, "no such model", "model"}));
  EXPECT_EQ(v2.at("error").at("param").as_string(), "model");
  EXPECT_EQ(v2.at("error").at("code").as_string(), "model_not_found");
}

TEST(ApiErrorsTest, FallbackOnlyForTransientAndCredentialFailures) {
  EXPECT_TRUE(IsFallbackEligible(StatusCode::kUnavailable));
  EXPECT_TRUE(IsFallbackEligible(StatusCode::kDeadlineExceeded));
  EXPECT_TRUE(IsFallbackEligible(StatusCode::kResourceExhausted));
  EXPECT_TRUE(IsFallbackEligible(StatusCode::kFailedPrecondition));
  EXPECT_FALSE(IsFallbackEligible(StatusCode::kInvalidArgument));
  EXPECT_FALSE(IsFallbackEligible(StatusCode::kNotFound));
  EXPECT_FALSE(IsFallbackEligible(StatusCode::kDataLoss));
}

}  // namespace
}  // namespace sobre::gateway
