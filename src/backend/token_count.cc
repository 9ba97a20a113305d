#include "backend/token_count.h"

#include <boost/json/array.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>

namespace sobre::backend {
namespace {

namespace json = boost::json;

void AppendPiece(std::string_view piece, std::string* out) {
  if (piece.empty()) return;
  if (!out->empty()) out->push_back('\n');
  out->append(piece);
}

// A string, or an array of content parts of which only {"type": "text", "text": ...} carry text.
void AppendContent(const json::value& content, std::string* out) {
  if (const json::string* s = content.if_string()) {
    AppendPiece(*s, out);
    return;
  }
  const json::array* parts = content.if_array();
  if (parts == nullptr) return;
  for (const json::value& part : *parts) {
    if (const json::string* s = part.if_string()) {
      AppendPiece(*s, out);
      continue;
    }
    const json::object* obj = part.if_object();
    if (obj == nullptr) continue;
    if (const json::value* text = obj->if_contains("text")) {
      if (const json::string* s = text->if_string()) AppendPiece(*s, out);
    }
  }
}

void AppendToolCalls(const json::value* tool_calls, std::string* out) {
  if (tool_calls == nullptr || !tool_calls->is_array()) return;
  for (const json::value& call : tool_calls->get_array()) {
    const json::object* obj = call.if_object();
    if (obj == nullptr) continue;
    const json::value* function = obj->if_contains("function");
    if (function == nullptr || !function->is_object()) continue;
    for (const char* key : {"name", "arguments"}) {
      if (const json::value* v = function->get_object().if_contains(key)) {
        if (const json::string* s = v->if_string()) AppendPiece(*s, out);
      }
    }
  }
}

// "prompt" / "input": a string, an array of strings, an array of token ids, or an array of arrays
// of token ids. Token ids are counted into `exact_tokens`, text is appended to `text`.
void AppendPromptLike(const json::value& v, std::string* text, int64_t* exact_tokens) {
  if (const json::string* s = v.if_string()) {
    AppendPiece(*s, text);
    return;
  }
  const json::array* items = v.if_array();
  if (items == nullptr) return;
  for (const json::value& item : *items) {
    if (item.is_number()) {
      ++*exact_tokens;
    } else if (const json::string* s = item.if_string()) {
      AppendPiece(*s, text);
    } else if (const json::array* ids = item.if_array()) {
      *exact_tokens += static_cast<int64_t>(ids->size());
    }
  }
}

}  // namespace

int64_t EstimateTokens(std::string_view text) {
  if (text.empty()) return 0;
  return static_cast<int64_t>((text.size() + 3) / 4);
}

int64_t EstimatePromptTokens(Endpoint endpoint, const json::object& body) {
  std::string text;
  int64_t exact_tokens = 0;
  switch (endpoint) {
    case Endpoint::kChatCompletions: {
      const json::value* messages = body.if_contains("messages");
      if (messages == nullptr || !messages->is_array()) break;
      for (const json::value& message : messages->get_array()) {
        const json::object* m = message.if_object();
        if (m == nullptr) continue;
        if (const json::value* content = m->if_contains("content")) AppendContent(*content, &text);
        AppendToolCalls(m->if_contains("tool_calls"), &text);
      }
      break;
    }
    case Endpoint::kCompletions:
      if (const json::value* prompt = body.if_contains("prompt")) {
        AppendPromptLike(*prompt, &text, &exact_tokens);
      }
      break;
    case Endpoint::kEmbeddings:
      if (const json::value* input = body.if_contains("input")) {
        AppendPromptLike(*input, &text, &exact_tokens);
      }
      break;
  }
  return EstimateTokens(text) + exact_tokens;
}

void AppendGeneratedText(const json::object& response_or_chunk, std::string* out) {
  const json::value* choices = response_or_chunk.if_contains("choices");
  if (choices == nullptr || !choices->is_array()) return;
  for (const json::value& choice : choices->get_array()) {
    const json::object* c = choice.if_object();
    if (c == nullptr) continue;
    if (const json::value* text = c->if_contains("text")) {
      if (const json::string* s = text->if_string()) out->append(*s);
    }
    const json::value* message = c->if_contains("message");
    if (message == nullptr) message = c->if_contains("delta");
    if (message == nullptr || !message->is_object()) continue;
    const json::object& m = message->get_object();
    for (const char* key : {"reasoning_content", "content"}) {
      if (const json::value* v = m.if_contains(key)) {
        if (const json::string* s = v->if_string()) out->append(*s);
      }
    }
    // Streamed tool calls arrive as fragments of the arguments; concatenating them keeps the
    // byte count right, which is all EstimateTokens looks at.
    if (const json::value* calls = m.if_contains("tool_calls"); calls && calls->is_array()) {
      for (const json::value& call : calls->get_array()) {
        const json::object* obj = call.if_object();
        if (obj == nullptr) continue;
        const json::value* function = obj->if_contains("function");
        if (function == nullptr || !function->is_object()) continue;
        for (const char* key : {"name", "arguments"}) {
          if (const json::value* v = function->get_object().if_contains(key)) {
            if (const json::string* s = v->if_string()) out->append(*s);
          }
        }
      }
    }
  }
}

}  // namespace sobre::backend
