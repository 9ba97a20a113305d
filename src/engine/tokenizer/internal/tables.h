// The lookup tables behind a Vocab, and the three segmenters that use them. Private to the
// tokenizer part.
#ifndef SOBRE_ENGINE_TOKENIZER_INTERNAL_TABLES_H_
#define SOBRE_ENGINE_TOKENIZER_INTERNAL_TABLES_H_

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/tokenizer/internal/pretokenize.h"
#include "engine/tokenizer/vocab.h"

namespace sobre::engine {

namespace tokenizer_internal {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TextToId = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

enum class ModelKind { kSpm, kBpe, kWpm };

// Outcome of merging a pair of tokens in byte-level BPE.
struct Merge {
  int32_t rank = 0;    // index in tokenizer.ggml.merges: lower merges first
  int32_t result = 0;  // id of the concatenation
};

inline uint64_t PairKey(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

}  // namespace tokenizer_internal

struct Vocab::Tables {
  VocabData data;  // with defaults applied
  tokenizer_internal::ModelKind model = tokenizer_internal::ModelKind::kSpm;
  tokenizer_internal::PreTokenizer pre = tokenizer_internal::PreTokenizer::kDefault;
  bool ignore_merges = false;  // llama-bpe: a piece that is a whole token is not merged
  bool add_bos = false, add_eos = false, add_sep = false, add_space_prefix = false;
  tokenizer_internal::TextToId token_to_id;  // raw token text -> id (the last id wins on duplicates)
  std::unordered_map<uint64_t, tokenizer_internal::Merge> merges;  // PairKey(left, right) -> merge
  std::vector<int32_t> specials;   // control, user-defined and unknown ids, longest text first
  std::array<int32_t, 256> byte_tokens{};  // id standing for each byte, or -1
  size_t max_token_bytes = 0;
  std::vector<int32_t> eog_ids;  // ascending

  int32_t Find(std::string_view text) const {
    auto it = token_to_id.find(text);
    return it == token_to_id.end() ? -1 : it->second;
  }
};

namespace tokenizer_internal {

// SentencePiece-style segmentation of `text` (spaces already escaped to U+2581, dummy prefix
// already added): score-priority merges of adjacent pieces, byte fallback for the rest.
void EncodeSpm(const Vocab::Tables& t, std::string_view text, std::vector<int32_t>& out);

// Byte-level BPE of one raw fragment: pre-tokenize, map bytes, rank-ordered merges.
void EncodeBpe(const Vocab::Tables& t, std::string_view text, std::vector<int32_t>& out);

// WordPiece of one raw fragment: normalise, split words, greedy longest match, [UNK] per word.
void EncodeWpm(const Vocab::Tables& t, std::string_view text, std::vector<int32_t>& out);

}  // namespace tokenizer_internal
}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_TOKENIZER_INTERNAL_TABLES_H_
