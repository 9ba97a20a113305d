// Server-sent events framing for OpenAI streams: `data: <json>` events separated by a blank line,
// ended by `data: [DONE]`, and the error event sobre sends when a stream breaks.
#ifndef SOBRE_GATEWAY_SSE_H_
#define SOBRE_GATEWAY_SSE_H_

#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "gateway/errors.h"

namespace sobre::gateway {

// The event that ends a successful stream: "data: [DONE]\n\n".
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

// "data: <compact json>\n\n". JSON never holds a raw newline, so one line always suffices.
std::string SseData(const boost::json::object& payload);

// "data: {"error":{...}}\n\n": the event for a stream that broke after it started. No [DONE]
// follows it, so that clients cannot mistake a cut answer for a complete one.
std::string SseError(const ApiError& error);

}  // namespace sobre::gateway

#endif  // SOBRE_GATEWAY_SSE_H_
