// The one table that turns an error into what an OpenAI client sees: HTTP status, error type and
// error code. Every error the gateway sends, whether its own or a backend's Status, goes through it.
#ifndef SOBRE_GATEWAY_ERRORS_H_
#define SOBRE_GATEWAY_ERRORS_H_

#include <string>
#include <string_view>

#include "core/status.h"

namespace sobre::gateway {

// Every kind of error the API answers with. Each has exactly one row in the table (errors.cc).
enum class ApiErrorKind {
  kInvalidRequest,      // 400 invalid_request_error: malformed JSON, wrong types, bad values.
  kUnsupported,         // 400 invalid_request_error/unsupported_value: Unimplemented.
  kInvalidApiKey,       // 401 invalid_request_error/invalid_api_key: missing or unknown key.
  kPermissionDenied,    // 403 permission_error/permission_denied.
  kModelNotFound,       // 404 invalid_request_error/model_not_found: unknown model (ours or
                        // the upstream's).
  kConflict,            // 409 invalid_request_error/conflict: AlreadyExists.
  kRequestTooLarge,     // 413 invalid_request_error/request_too_large.
  kClientClosed,        // 499 (ledger only: the client went away; never sent).
  kRateLimitRequests,   // 429 requests/rate_limit_exceeded: requests_per_minute.
  kRateLimitTokens,     // 429 tokens/rate_limit_exceeded: tokens_per_minute.
  kUpstreamRateLimited, // 429 requests/rate_limit_exceeded: ResourceExhausted from a backend.
  kInsufficientQuota,   // 429 insufficient_quota/insufficient_quota: a budget is spent.
  kInternal,            // 500 server_error: a bug or a store failure.
  kUpstreamError,       // 502 server_error/upstream_error: DataLoss (broken or malformed answer).
  kUpstreamUnavailable, // 502 server_error/upstream_unavailable: Unavailable.
  kUpstreamAuth,        // 502 server_error/upstream_auth_failed: FailedPrecondition (sobre's
                        // credentials for the upstream were refused).
  kOverloaded,          // 503 server_error/server_overloaded: admission queue full, draining.
  kUpstreamTimeout,     // 504 server_error/upstream_timeout: DeadlineExceeded.
};

// One row of the table.
struct ApiErrorSpec {
  ApiErrorKind kind;
  StatusCode from;        // The Status code that maps to this row; kOk for gateway-only rows.
  int http_status;
  std::string_view type;  // OpenAI error "type".
  std::string_view code;  // OpenAI error "code"; empty is JSON null.
};

// The row of `kind`.
const ApiErrorSpec& SpecOf(ApiErrorKind kind);

// The kind a Status code maps to (a backend's or our own). kOk maps to kInternal.
ApiErrorKind KindForStatus(StatusCode code);

// An error on its way to the client: kind, a message meant for a person, and the request
// parameter at fault ("messages.[0].role"), empty for none.
struct ApiError {
  ApiErrorKind kind = ApiErrorKind::kInternal;
  std::string message;
  std::string param;

  int http_status() const { return SpecOf(kind).http_status; }
  std::string_view type() const { return SpecOf(kind).type; }
  std::string_view code() const { return SpecOf(kind).code; }
};

// The ApiError for a Status (its code picks the row, its message is kept).
ApiError ApiErrorFromStatus(const Status& status);

// {"error":{"message":...,"type":...,"param":...|null,"code":...|null}} — all four keys always.
std::string ApiErrorBody(const ApiError& error);

// True for errors after which another backend may succeed: the fallback set (Unavailable,
// DeadlineExceeded, ResourceExhausted, FailedPrecondition).
bool IsFallbackEligible(StatusCode code);

}  // namespace sobre::gateway

#endif  // SOBRE_GATEWAY_ERRORS_H_
