// How an upstream's HTTP answer becomes a sobre Status, and when it is worth retrying.
#ifndef SOBRE_BACKEND_INTERNAL_UPSTREAM_STATUS_H_
#define SOBRE_BACKEND_INTERNAL_UPSTREAM_STATUS_H_

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sobre::backend::internal {

// The parts of an OpenAI error body {"error": {"message", "type", "code", ...}} sobre uses.
struct UpstreamError {
  std::string message;  // error.message, or the body itself (trimmed, truncated) when not JSON.
  std::string type;     // error.type, may be empty.
  std::string code;     // error.code as a string, may be empty.
};

// Extracts the error of a non-2xx body (or of a `data: {"error": ...}` event). Never fails: an
// unparsable or empty body gives its raw text, or "HTTP <status>" when empty.
UpstreamError ParseUpstreamError(int http_status, std::string_view body);

// Maps an upstream HTTP status (not 2xx) and its error to a Status, as backend.h specifies:
// 400/413/422 and other 4xx -> InvalidArgument, 404 -> NotFound, 401/403 -> FailedPrecondition,
// 429 -> ResourceExhausted, 408 / 5xx / anything else -> Unavailable. For InvalidArgument and
// NotFound the message is the upstream's text alone, so the gateway can pass it to the client;
// otherwise it says "upstream returned <status>: <message>".
Status StatusFromUpstream(int http_status, const UpstreamError& error);

// True when the same request may succeed if sent again: 408, 429 (except insufficient_quota,
// which does not recover by waiting), and 5xx.
bool IsRetryableHttpStatus(int http_status, const UpstreamError& error);

// Parses a Retry-After value given in seconds ("2", "1.5"). HTTP-dates and junk give nullopt.
std::optional<std::chrono::milliseconds> ParseRetryAfterSeconds(std::string_view value);
// Parses the "retry-after-ms" header that OpenAI also sends.
std::optional<std::chrono::milliseconds> ParseRetryAfterMs(std::string_view value);

}  // namespace sobre::backend::internal

#endif  // SOBRE_BACKEND_INTERNAL_UPSTREAM_STATUS_H_
