// Validation of OpenAI request bodies (chat completions, legacy completions, embeddings) against
// the types and ranges of OpenAI's spec, and the few numbers the gateway needs from them.
// Unknown fields are accepted and passed through: upstreams add their own (top_k, min_p...).
#ifndef SOBRE_GATEWAY_OPENAI_VALIDATE_H_
#define SOBRE_GATEWAY_OPENAI_VALIDATE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "gateway/errors.h"

namespace sobre::gateway {

// Which API a request is for.
enum class Operation { kChat, kCompletion, kEmbedding };

// "chat", "text_completion", "embeddings": the OpenTelemetry gen_ai.operation.name.
std::string_view OperationName(Operation op);
// "chat.completions", "completions", "embeddings": the ledger's endpoint column.
std::string_view LedgerEndpoint(Operation op);

// What the gateway reads from a valid request.
struct RequestInfo {
  std::string model;                     // "model".
  bool stream = false;                   // "stream".
  bool include_usage = false;            // "stream_options.include_usage".
  int64_t choices = 1;                   // Completions generated: n, or best_of when larger.
  std::optional<int64_t> max_output_tokens;  // max_completion_tokens, else max_tokens; per
                                             // choice. Unset when the client gave neither.
  int64_t prompt_tokens_estimate = 0;    // An over-estimate of the prompt's tokens (budgets and
                                         // rate limits before the backend counts them).
};

// Parses `text` as a JSON object. Malformed JSON, or JSON that is not an object, gives a 400
// whose message says so. Nesting is limited to 64 levels.
std::optional<ApiError> ParseJsonObject(std::string_view text, boost::json::object& out);

// Validate `body` for `op`, filling `info`. On failure, an invalid_request_error naming the
// parameter at fault in OpenAI's notation ("messages.[1].content", "stop").
std::optional<ApiError> ValidateRequest(Operation op, const boost::json::object& body,
                                        RequestInfo& info);

// Over-estimates the tokens of a text: one token per 3 bytes, rounded up (English averages about
// 4 bytes per token, CJK about 3).
int64_t EstimateTextTokens(std::string_view text);

// Over-estimates the tokens of any JSON value (tool definitions, tool call arguments): its
// strings, keys and numbers as text.
int64_t EstimateJsonTokens(const boost::json::value& value);

}  // namespace sobre::gateway

#endif  // SOBRE_GATEWAY_OPENAI_VALIDATE_H_
