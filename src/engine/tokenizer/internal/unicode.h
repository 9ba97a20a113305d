// Code-point level helpers shared by the tokenizers: lenient UTF-8 decoding, the character classes
// the pre-tokenizer patterns use (\p{L}, \p{N}, \s, ...), and GPT-2's byte <-> code point map.
#ifndef SOBRE_ENGINE_TOKENIZER_INTERNAL_UNICODE_H_
#define SOBRE_ENGINE_TOKENIZER_INTERNAL_UNICODE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sobre::engine::tokenizer_internal {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// One code point of a text and the bytes it came from.
struct CodePoint {
  uint32_t cpt = 0;     // kReplacementChar for a byte that does not start valid UTF-8
  uint32_t offset = 0;  // byte offset in the text
  uint32_t bytes = 0;   // 1 to 4
};

// Decodes `text`; every byte belongs to exactly one CodePoint, and an invalid or truncated
// sequence yields kReplacementChar covering one byte, so byte ranges always round-trip.
std::vector<CodePoint> DecodeUtf8(std::string_view text);

// Bytes a UTF-8 sequence starting with `lead` claims (1 for continuation or invalid bytes); the
// rule SentencePiece-style splitting uses, without validating the following bytes.
size_t Utf8SequenceLength(uint8_t lead);

// Appends the UTF-8 encoding of `cpt` (kReplacementChar when `cpt` is not a scalar value).
void AppendUtf8(uint32_t cpt, std::string& out);

// Character classes of one code point (Unicode 15 via libutf8proc).
struct CharClass {
  bool letter = false;       // L*
  bool number = false;       // N*
  bool whitespace = false;   // White_Space property
  bool punctuation = false;  // P*
  bool symbol = false;       // S*
  bool mark = false;         // M*
  bool nonspacing_mark = false;  // Mn (what BERT's accent stripping drops)
  bool control = false;      // Cc and Cf, whitespace excluded
};
CharClass Classify(uint32_t cpt);

// Simple lower-case mapping of `cpt` (itself when it has none).
uint32_t ToLower(uint32_t cpt);

// Canonical decomposition (NFD) of one code point, appended to `out`.
void AppendNfd(uint32_t cpt, std::vector<uint32_t>& out);

// Whether `cpt` is a CJK ideograph that BERT splits as its own word.
bool IsCjkIdeograph(uint32_t cpt);

// GPT-2's reversible byte -> code point map (reference §4.3): printable bytes map to themselves,
// the other 68 bytes to U+0100 onwards in increasing order.
uint32_t ByteToCodePoint(uint8_t byte);
// The inverse map; -1 for a code point that no byte maps to.
int CodePointToByte(uint32_t cpt);
// `bytes` with every byte replaced by its mapped code point, UTF-8 encoded.
std::string ByteLevelEncode(std::string_view bytes);

}  // namespace sobre::engine::tokenizer_internal

#endif  // SOBRE_ENGINE_TOKENIZER_INTERNAL_UNICODE_H_
