// Pre-tokenizers of byte-level BPE vocabularies: hand-written scanners with the semantics of the
// regular expressions llama.cpp uses for each `tokenizer.ggml.pre` value (reference §4.3).
#ifndef SOBRE_ENGINE_TOKENIZER_INTERNAL_PRETOKENIZE_H_
#define SOBRE_ENGINE_TOKENIZER_INTERNAL_PRETOKENIZE_H_

#include <optional>
#include <string_view>
#include <vector>

namespace sobre::engine::tokenizer_internal {

enum class PreTokenizer {
  kDefault,  // punctuation runs, then GPT-2, then digit runs, then groups of three ASCII digits
  kGpt2,     // OpenAI's GPT-2 pattern
  kLlama3,   // Llama 3: case-insensitive contractions, numbers in groups of up to 3 digits
  kQwen2,    // as Llama 3 with single digits
  kSmollm,   // every digit alone, then GPT-2
};

// The pre-tokenizer for a `tokenizer.ggml.pre` value (aliases llama.cpp maps to the same rules
// included); nullopt when unknown.
std::optional<PreTokenizer> PreTokenizerFromName(std::string_view name);

// Splits `text` into pieces that cover it exactly, in order. Invalid UTF-8 bytes act as U+FFFD
// (a symbol) and stay inside the pieces unchanged. O(n).
std::vector<std::string_view> PreTokenize(PreTokenizer kind, std::string_view text);

}  // namespace sobre::engine::tokenizer_internal

#endif  // SOBRE_ENGINE_TOKENIZER_INTERNAL_PRETOKENIZE_H_
