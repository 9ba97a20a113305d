// Chat templates of the common model families, recognised from a GGUF file's Jinja template by
// distinctive substrings and rendered in C++ (no Jinja engine; reference §4.5).
#ifndef SOBRE_ENGINE_TOKENIZER_CHAT_TEMPLATE_H_
#define SOBRE_ENGINE_TOKENIZER_CHAT_TEMPLATE_H_

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "engine/tokenizer/vocab.h"

namespace sobre::engine {

enum class ChatTemplateKind {
  kChatMl,   // <|im_start|>role\n...<|im_end|>\n (Qwen, SmolLM2)
  kLlama2,   // <s>[INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST] ... </s>
  kLlama3,   // <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>
  kMistral,  // <s>[INST] ... [/INST]...</s> (no system block)
  kZephyr,   // <|user|>\n...</s>\n (TinyLlama-Chat)
};

// The family of a Jinja chat template: NotFound when none of the known markers is in it.
StatusOr<ChatTemplateKind> DetectChatTemplate(std::string_view jinja);
// The family named `name` in configuration: "chatml", "llama2", "llama3", "mistral", "zephyr"
// (case-insensitive); InvalidArgument listing the names otherwise.
StatusOr<ChatTemplateKind> ParseChatTemplateName(std::string_view name);
// The configuration name of `kind` ("chatml", ...).
std::string_view ChatTemplateName(ChatTemplateKind kind);

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant" (ChatML accepts any role)
  std::string content;
};

// A rendered conversation and the byte ranges of `text` that came from the template itself (not
// from message content): only there may control tokens be parsed (see EncodeOptions).
struct RenderedChat {
  std::string text;
  std::vector<std::pair<size_t, size_t>> template_ranges;  // [begin, end) byte offsets, ascending
};

// Renders `messages` in the format of `kind`, ending with the assistant header when
// `add_generation_prompt`. The BOS token text is written only when the template wants it and
// `vocab` would not add it itself, so encode the result with add_special = true (never a double
// BOS). InvalidArgument for roles the family cannot express or (llama2, mistral) roles that do not
// alternate user/assistant; FailedPrecondition when the template needs an EOS the vocab lacks.
StatusOr<RenderedChat> RenderChatParts(ChatTemplateKind kind, std::span<const ChatMessage> messages,
                                       bool add_generation_prompt, const Vocab& vocab);

// RenderChatParts(...).text.
StatusOr<std::string> RenderChat(ChatTemplateKind kind, std::span<const ChatMessage> messages,
                                 bool add_generation_prompt, const Vocab& vocab);

// Tokenizes a rendered conversation: BOS/EOS per the vocabulary, control tokens parsed only
// inside the template's own ranges, so message content cannot inject "<|im_end|>".
std::vector<int32_t> EncodeChat(const RenderedChat& chat, const Vocab& vocab);

}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_TOKENIZER_CHAT_TEMPLATE_H_
