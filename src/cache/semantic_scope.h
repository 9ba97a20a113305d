// What the semantic cache keys on for an OpenAI chat request: the last user message (embedded)
// and a hash of everything before it (part of the scope), so that "how old is he?" after two
// different conversations never shares an answer (gateway.md §3.5, failure mode 1).
#ifndef SOBRE_CACHE_SEMANTIC_SCOPE_H_
#define SOBRE_CACHE_SEMANTIC_SCOPE_H_

#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

namespace sobre::cache {

struct SemanticQuery {
  // Lower-case hex SHA-256 of the canonical JSON (cache_key.h) of {"after": messages after the
  // last user message, "before": every message before it (system and developer prompts
  // included), "response_format": ..., "tools": ..., "user": the last user message without its
  // content (e.g. its "name")}; absent fields are null.
  std::string context_hash;
  // The text of the last user message; text parts of a multi-part content joined by "\n".
  std::string last_user_text;
};

// The semantic query of a chat completions body, or nullopt when the request must skip the
// semantic cache: tools, tool_choice, functions or function_call present; n > 1; a content part
// that is not text (image_url, input_audio, file ...) in any message; no user message; or a
// last user message with no text. Never fails on malformed input: it skips.
// Thread-safe: pure function.
std::optional<SemanticQuery> ExtractSemanticQuery(const boost::json::object& body);

// The index scope of a query: tenant, model and context hash joined unambiguously (length
// prefixes), so no two different triples give the same scope.
std::string SemanticScope(std::string_view tenant, std::string_view model,
                          std::string_view context_hash);

}  // namespace sobre::cache

#endif  // SOBRE_CACHE_SEMANTIC_SCOPE_H_
