// A model's vocabulary and its tokenizer: SentencePiece-style (`llama`), byte-level BPE (`gpt2`,
// with the gpt-2 / llama-bpe / qwen2 / smollm / default pre-tokenizers) and WordPiece (`bert`),
// with llama.cpp's special-token, BOS/EOS and decoding rules (reference/engine.md §1.9, §4).
#ifndef SOBRE_ENGINE_TOKENIZER_VOCAB_H_
#define SOBRE_ENGINE_TOKENIZER_VOCAB_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace sobre::engine {

class GgufFile;

// `tokenizer.ggml.token_type` values.
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// Exactly what a GGUF file's tokenizer.* keys hold; -1 / nullopt / empty where a key is absent
// (Vocab::Create then applies llama.cpp's per-model defaults).
struct VocabData {
  std::string model;  // tokenizer.ggml.model: "llama", "gpt2" or "bert"
  std::string pre;    // tokenizer.ggml.pre: "default", "gpt-2", "llama-bpe", "qwen2", "smollm", ...
  std::vector<std::string> tokens;  // id -> text (gpt2: byte-level mapped; bert: phantom-space form)
  std::vector<float> scores;        // SentencePiece merge priorities (higher merges first); may be empty
  std::vector<TokenType> types;     // may be empty (all normal)
  std::vector<std::string> merges;  // BPE merges in rank order, "left right"; may be empty
  int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, sep = -1, pad = -1, mask = -1;
  std::optional<bool> add_bos, add_eos, add_sep, add_space_prefix, remove_extra_whitespaces;
  std::string chat_template;  // tokenizer.chat_template (Jinja), empty when absent
};

// Reads the tokenizer.* keys of `file`. Errors name the key (missing tokens or model, wrong types,
// arrays whose length differs from the token count).
StatusOr<VocabData> ReadVocab(const GgufFile& file);

// How Encode treats special tokens.
struct EncodeOptions {
  // Add BOS / EOS / CLS / SEP as the vocabulary's add_* flags say. Default off.
  bool add_special = false;
  // Match the text of control tokens ("<|im_start|>") in the input; user-defined tokens are
  // always matched. Default off: user-supplied text must not be able to inject control tokens.
  bool parse_special = false;
  // With parse_special: when not null, control tokens are matched only where the whole match lies
  // inside one of these [begin, end) byte ranges of the text (ascending); chat templates use it to
  // parse their own markers but not those inside message content. Not owned. Default null.
  const std::vector<std::pair<size_t, size_t>>* special_ranges = nullptr;
};

// How Decode, TokenToPiece and StreamingDetokenizer render tokens.
struct DecodeOptions {
  // Drop the one leading space the SentencePiece dummy prefix (or WordPiece's phantom space) puts
  // before the first word. Default on, so that Decode(Encode(text)) == text; generation that
  // continues a prompt should turn it off.
  bool remove_leading_space = true;
  // Render control and unknown tokens as their text ("<|im_end|>") instead of nothing. Default off.
  bool render_special = false;
};

// An immutable vocabulary with its tokenizer. Thread-safe: every method is const.
class Vocab {
 public:
  // Validates `data` (ids in range, array lengths, model and pre names, merges syntax) and builds
  // the lookup tables. InvalidArgument / Unimplemented naming the offending key otherwise.
  static StatusOr<std::unique_ptr<Vocab>> Create(VocabData data);
  ~Vocab();
  Vocab(const Vocab&) = delete;
  Vocab& operator=(const Vocab&) = delete;

  // Token ids for `text` (any bytes; invalid UTF-8 is kept through byte tokens where the
  // vocabulary has them). O(n log n) in the text length.
  std::vector<int32_t> Encode(std::string_view text, EncodeOptions options = {}) const;

  // The bytes token `id` stands for (may be part of a UTF-8 character); empty for control tokens
  // unless `render_special`, and for ids out of range.
  std::string TokenToPiece(int32_t id, bool render_special = false) const;
  // The raw text of token `id` as stored in the vocabulary; empty when out of range.
  std::string_view TokenText(int32_t id) const;
  // The type of token `id` (kUndefined when out of range).
  TokenType Type(int32_t id) const;
  // The id whose raw text is `text`, or -1.
  int32_t Find(std::string_view text) const;

  // The text of `ids`, concatenated (see DecodeOptions).
  std::string Decode(std::span<const int32_t> ids, DecodeOptions options = {}) const;

  int32_t n_tokens() const;
  int32_t bos() const;  // -1 when the vocabulary has none
  int32_t eos() const;  // -1 when the vocabulary has none
  // Whether Encode with add_special adds BOS (after defaults and overrides).
  bool add_bos() const;
  // Whether Encode with add_special appends EOS.
  bool add_eos() const;
  // Whether generation should stop at `id`: eos, eot, eom, or a well-known end marker
  // (<|eot_id|>, <|im_end|>, <|endoftext|>, <|end|>, <end_of_turn>, ...).
  bool IsEndOfGeneration(int32_t id) const;
  // All ids for which IsEndOfGeneration holds, ascending.
  const std::vector<int32_t>& end_of_generation_ids() const;
  // The data the vocabulary was built from, with defaults applied.
  const VocabData& data() const;

  // Appends the text of `id` as Decode renders it; `at_start` is true until the first text piece
  // (it decides where the dummy-prefix space is dropped). Shared by Decode and
  // StreamingDetokenizer.
  void AppendDecoded(int32_t id, const DecodeOptions& options, bool& at_start,
                     std::string& out) const;

  struct Tables;  // lookup structures, defined in internal/tables.h

 private:
  explicit Vocab(std::unique_ptr<Tables> tables);
  std::unique_ptr<Tables> tables_;
};

}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_TOKENIZER_VOCAB_H_
