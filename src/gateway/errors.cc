// The error table. OpenAI's own answers guided the type/code pairs: 401 invalid_api_key, 404
// model_not_found, 429 with type "requests"/"tokens" and code rate_limit_exceeded, 429
// insufficient_quota for a spent quota (not retryable), 5xx server_error.
#include "gateway/errors.h"

#include <array>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace sobre::gateway {
namespace {

using K = ApiErrorKind;
using C = StatusCode;

constexpr std::array kTable = {
    ApiErrorSpec{K::kInvalidRequest, C::kInvalidArgument, 400, "invalid_request_error", ""},
    ApiErrorSpec{K::kUnsupported, C::kUnimplemented, 400, "invalid_request_error",
                 "unsupported_value"},
    ApiErrorSpec{K::kInvalidApiKey, C::kOk, 401, "invalid_request_error", "invalid_api_key"},
    ApiErrorSpec{K::kPermissionDenied, C::kPermissionDenied, 403, "permission_error",
                 "permission_denied"},
    ApiErrorSpec{K::kModelNotFound, C::kNotFound, 404, "invalid_request_error",
                 "model_not_found"},
    ApiErrorSpec{K::kConflict, C::kAlreadyExists, 409, "invalid_request_error", "conflict"},
    ApiErrorSpec{K::kRequestTooLarge, C::kOk, 413, "invalid_request_error", "request_too_large"},
    ApiErrorSpec{K::kClientClosed, C::kCancelled, 499, "invalid_request_error", "client_closed"},
    ApiErrorSpec{K::kRateLimitRequests, C::kOk, 429, "requests", "rate_limit_exceeded"},
    ApiErrorSpec{K::kRateLimitTokens, C::kOk, 429, "tokens", "rate_limit_exceeded"},
    ApiErrorSpec{K::kUpstreamRateLimited, C::kResourceExhausted, 429, "requests",
                 "rate_limit_exceeded"},
    ApiErrorSpec{K::kInsufficientQuota, C::kOk, 429, "insufficient_quota", "insufficient_quota"},
    ApiErrorSpec{K::kInternal, C::kInternal, 500, "server_error", ""},
    ApiErrorSpec{K::kUpstreamError, C::kDataLoss, 502, "server_error", "upstream_error"},
    ApiErrorSpec{K::kUpstreamUnavailable, C::kUnavailable, 502, "server_error",
                 "upstream_unavailable"},
    ApiErrorSpec{K::kUpstreamAuth, C::kFailedPrecondition, 502, "server_error",
                 "upstream_auth_failed"},
    ApiErrorSpec{K::kOverloaded, C::kOk, 503, "server_error", "server_overloaded"},
    ApiErrorSpec{K::kUpstreamTimeout, C::kDeadlineExceeded, 504, "server_error",
                 "upstream_timeout"},
};

// The table is indexed by kind; this keeps its order honest at compile time.
constexpr bool TableInKindOrder() {
  for (size_t i = 0; i < kTable.size(); ++i) {
    if (static_cast<size_t>(kTable[i].kind) != i) return false;
  }
  return static_cast<size_t>(K::kUpstreamTimeout) + 1 == kTable.size();
}
static_assert(TableInKindOrder(), "kTable rows must follow ApiErrorKind's order");

}  // namespace

const ApiErrorSpec& SpecOf(ApiErrorKind kind) { return kTable[static_cast<size_t>(kind)]; }

ApiErrorKind KindForStatus(StatusCode code) {
  if (code == StatusCode::kOk) return ApiErrorKind::kInternal;
  for (const ApiErrorSpec& row : kTable) {
    if (row.from == code) return row.kind;
  }
  return ApiErrorKind::kInternal;
}

ApiError ApiErrorFromStatus(const Status& status) {
  return ApiError{KindForStatus(status.code()), status.message(), ""};
}

std::string ApiErrorBody(const ApiError& error) {
  const ApiErrorSpec& spec = SpecOf(error.kind);
  boost::json::object inner;
  inner.emplace("message", error.message);
  inner.emplace("type", spec.type);
  if (error.param.empty()) {
    inner.emplace("param", nullptr);
  } else {
    inner.emplace("param", error.param);
  }
  if (spec.code.empty()) {
    inner.emplace("code", nullptr);
  } else {
    inner.emplace("code", spec.code);
  }
  boost::json::object outer;
  outer.emplace("error", std::move(inner));
  return boost::json::serialize(outer);
}

bool IsFallbackEligible(StatusCode code) {
  switch (code) {
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kResourceExhausted:
    case StatusCode::kFailedPrecondition:
      return true;
    default:
      return false;
  }
}

}  // namespace sobre::gateway
