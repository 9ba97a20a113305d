// Token counts for requests whose backend did not report usage. No tokenizer is available yet, so
// these are documented approximations, flagged as such through Usage::reported = false.
#ifndef SOBRE_BACKEND_TOKEN_COUNT_H_
#define SOBRE_BACKEND_TOKEN_COUNT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "backend/backend.h"

namespace sobre::backend {

// Approximate token count of `text`: ceil(bytes / 4), the usual rule of thumb for English with
// BPE vocabularies (about 4 bytes per token), and at least 1 for any non-empty text. Returns 0 for
// an empty text. Thread-safe (pure).
int64_t EstimateTokens(std::string_view text);

// Approximate prompt tokens of an OpenAI request body for `endpoint`: the text of the chat
// messages (string contents, "text" content parts, tool call arguments, names), or of "prompt" /
// "input" (a string or an array of strings). Token arrays ("prompt": [1, 2, 3] or arrays of them)
// are counted exactly. The texts are joined with '\n' and measured with EstimateTokens; images and
// audio parts are not counted. Thread-safe (pure).
int64_t EstimatePromptTokens(Endpoint endpoint, const boost::json::object& body);

// Appends the generated text of a response or a streamed chunk to `out`: choices[].message or
// choices[].delta "content", "reasoning_content" and tool call arguments, or choices[].text for
// completions. Thread-safe (pure).
void AppendGeneratedText(const boost::json::object& response_or_chunk, std::string* out);

}  // namespace sobre::backend

#endif  // SOBRE_BACKEND_TOKEN_COUNT_H_
