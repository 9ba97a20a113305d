// Chat templates rendered in C++. Each family follows the official Jinja template it is named
// after (HF tokenizer_config.json of Qwen2 / SmolLM2, Llama-2-chat, Llama-3-Instruct,
// Mistral-7B-Instruct-v0.1, Zephyr / TinyLlama-Chat), with documented departures:
// - ChatML: no default system prompt is invented (Qwen2.5's template adds one; llama.cpp does not).
// - Mistral: v0.1 refuses a system message; here it is put before the first user message,
//   separated by a blank line, as later Mistral templates do.
#include "engine/tokenizer/chat_template.h"

#include "core/strings.h"

namespace sobre::engine {
namespace {

// Appends template text or message content while recording which ranges are template text.
class Builder {
 public:
  void Template(std::string_view s) {
    if (s.empty()) return;
    const size_t begin = out_.text.size();
    out_.text += s;
    auto& ranges = out_.template_ranges;
    if (!ranges.empty() && ranges.back().second == begin) {
      ranges.back().second = out_.text.size();
    } else {
      ranges.emplace_back(begin, out_.text.size());
    }
  }
  void Content(std::string_view s) { out_.text += s; }
  RenderedChat Take() { return std::move(out_); }

 private:
  RenderedChat out_;
};

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view RStrip(std::string_view s) {
  while (!s.empty() && IsAsciiSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Python's str.strip() / Jinja's trim, for ASCII whitespace.
std::string_view Strip(std::string_view s) {
  while (!s.empty() && IsAsciiSpace(s.front())) s.remove_prefix(1);
  return RStrip(s);
}

Status CheckAlternation(std::span<const ChatMessage> turns, std::string_view family) {
  for (size_t i = 0; i < turns.size(); ++i) {
    const std::string_view want = i % 2 == 0 ? "user" : "assistant";
    if (turns[i].role != want) {
      return InvalidArgumentError(std::string(family) + " chat template: message " + std::to_string(i) +
                                  " has role \"" + turns[i].role + "\" where \"" + std::string(want) +
                                  "\" is expected (system first, then user/assistant alternating)");
    }
  }
  return OkStatus();
}

StatusOr<std::string> EosText(const Vocab& vocab, std::string_view family) {
  if (vocab.eos() < 0) {
    return FailedPreconditionError(std::string(family) + " chat template needs an eos token, and the vocabulary has none");
  }
  return std::string(vocab.TokenText(vocab.eos()));
}

std::string BosText(const Vocab& vocab) {
  return vocab.add_bos() || vocab.bos() < 0 ? std::string() : std::string(vocab.TokenText(vocab.bos()));
}

Status RenderLlama2(std::span<const ChatMessage> messages, const Vocab& vocab, Builder& b) {
  std::string_view system;
  bool has_system = false;
  if (!messages.empty() && messages[0].role == "system") {
    system = messages[0].content;
    has_system = true;
    messages = messages.subspan(1);
  }
  SOBRE_RETURN_IF_ERROR(CheckAlternation(messages, "llama2"));
  SOBRE_ASSIGN_OR_RETURN(std::string eos, EosText(vocab, "llama2"));
  const std::string bos(vocab.bos() >= 0 ? vocab.TokenText(vocab.bos()) : std::string_view());
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].role == "user") {
      // The first BOS is left to the tokenizer when it adds one; later ones are part of the text.
      b.Template(i == 0 ? BosText(vocab) : bos);
      b.Template("[INST] ");
      if (i == 0 && has_system) {
        // The official template strips "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + user as one
        // string: only the end of the user text loses its whitespace.
        const std::string_view user = RStrip(messages[i].content);
        b.Template("<<SYS>>\n");
        b.Content(system);
        b.Template(user.empty() ? "\n<</SYS>>" : "\n<</SYS>>\n\n");
        b.Content(user);
      } else {
        b.Content(Strip(messages[i].content));
      }
      b.Template(" [/INST]");
    } else {
      b.Template(" ");
      b.Content(Strip(messages[i].content));
      b.Template(" ");
      b.Template(eos);
    }
  }
  return OkStatus();
}

}  // namespace

StatusOr<ChatTemplateKind> DetectChatTemplate(std::string_view jinja) {
  if (jinja.find("<|im_start|>") != std::string_view::npos) return ChatTemplateKind::kChatMl;
  if (jinja.find("<|start_header_id|>") != std::string_view::npos) return ChatTemplateKind::kLlama3;
  if (jinja.find("<|user|>") != std::string_view::npos) return ChatTemplateKind::kZephyr;
  if (jinja.find("[INST]") != std::string_view::npos) {
    return jinja.find("<<SYS>>") != std::string_view::npos ? ChatTemplateKind::kLlama2
                                                           : ChatTemplateKind::kMistral;
  }
  return NotFoundError(jinja.empty() ? "the model has no chat template"
                                     : "the model's chat template is not one sobre recognises (chatml, llama2, llama3, mistral, zephyr); set one in the config");
}

StatusOr<ChatTemplateKind> ParseChatTemplateName(std::string_view name) {
  const std::string n = ToLower(name);
  for (ChatTemplateKind k : {ChatTemplateKind::kChatMl, ChatTemplateKind::kLlama2, ChatTemplateKind::kLlama3,
                             ChatTemplateKind::kMistral, ChatTemplateKind::kZephyr}) {
    if (n == ChatTemplateName(k)) return k;
  }
  return InvalidArgumentError("unknown chat template \"" + std::string(name) +
                              "\" (chatml, llama2, llama3, mistral, zephyr)");
}

std::string_view ChatTemplateName(ChatTemplateKind kind) {
  switch (kind) {
    case ChatTemplateKind::kChatMl: return "chatml";
    case ChatTemplateKind::kLlama2: return "llama2";
    case ChatTemplateKind::kLlama3: return "llama3";
    case ChatTemplateKind::kMistral: return "mistral";
    case ChatTemplateKind::kZephyr: return "zephyr";
  }
  return "unknown";
}

StatusOr<RenderedChat> RenderChatParts(ChatTemplateKind kind, std::span<const ChatMessage> messages,
                                       bool add_generation_prompt, const Vocab& vocab) {
  Builder b;
  switch (kind) {
    case ChatTemplateKind::kChatMl:
      for (const ChatMessage& m : messages) {
        b.Template("<|im_start|>" + m.role + "\n");
        b.Content(m.content);
        b.Template("<|im_end|>\n");
      }
      if (add_generation_prompt) b.Template("<|im_start|>assistant\n");
      break;
    case ChatTemplateKind::kLlama3:
      b.Template(BosText(vocab));
      for (const ChatMessage& m : messages) {
        b.Template("<|start_header_id|>" + m.role + "<|end_header_id|>\n\n");
        b.Content(Strip(m.content));
        b.Template("<|eot_id|>");
      }
      if (add_generation_prompt) b.Template("<|start_header_id|>assistant<|end_header_id|>\n\n");
      break;
    case ChatTemplateKind::kLlama2:
      SOBRE_RETURN_IF_ERROR(RenderLlama2(messages, vocab, b));
      break;
    case ChatTemplateKind::kMistral: {
      std::string_view system;
      if (!messages.empty() && messages[0].role == "system") {
        system = messages[0].content;
        messages = messages.subspan(1);
      }
      SOBRE_RETURN_IF_ERROR(CheckAlternation(messages, "mistral"));
      SOBRE_ASSIGN_OR_RETURN(std::string eos, EosText(vocab, "mistral"));
      b.Template(BosText(vocab));
      for (size_t i = 0; i < messages.size(); ++i) {
        if (messages[i].role == "user") {
          b.Template("[INST] ");
          if (i == 0 && !system.empty()) {
            b.Content(system);
            b.Template("\n\n");
          }
          b.Content(messages[i].content);
          b.Template(" [/INST]");
        } else {
          b.Content(messages[i].content);
          b.Template(eos + " ");  // "...</s> [INST]" as in the model card's example
        }
      }
      break;
    }
    case ChatTemplateKind::kZephyr: {
      SOBRE_ASSIGN_OR_RETURN(std::string eos, EosText(vocab, "zephyr"));
      for (const ChatMessage& m : messages) {
        if (m.role != "system" && m.role != "user" && m.role != "assistant") {
          return InvalidArgumentError("zephyr chat template: unsupported role \"" + m.role + "\"");
        }
        b.Template("<|" + m.role + "|>\n");
        b.Content(m.content);
        b.Template(eos + "\n");
      }
      if (add_generation_prompt) b.Template("<|assistant|>\n");
      break;
    }
  }
  return b.Take();
}

StatusOr<std::string> RenderChat(ChatTemplateKind kind, std::span<const ChatMessage> messages,
                                 bool add_generation_prompt, const Vocab& vocab) {
  SOBRE_ASSIGN_OR_RETURN(RenderedChat chat, RenderChatParts(kind, messages, add_generation_prompt, vocab));
  return std::move(chat.text);
}

std::vector<int32_t> EncodeChat(const RenderedChat& chat, const Vocab& vocab) {
  EncodeOptions options;
  options.add_special = true;
  options.parse_special = true;
  options.special_ranges = &chat.template_ranges;
  return vocab.Encode(chat.text, options);
}

}  // namespace sobre::engine
