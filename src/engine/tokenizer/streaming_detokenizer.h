// StreamingDetokenizer: turns generated token ids into text chunks that never split a UTF-8
// character, for streamed responses.
#ifndef SOBRE_ENGINE_TOKENIZER_STREAMING_DETOKENIZER_H_
#define SOBRE_ENGINE_TOKENIZER_STREAMING_DETOKENIZER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/tokenizer/vocab.h"

namespace sobre::engine {

// Splits a decoded byte stream at UTF-8 character boundaries: Push returns only complete
// characters, so every chunk can be sent on its own (SSE). Bytes that can never become valid
// UTF-8 are passed through as they are, so the concatenation of all chunks equals Decode of the
// same ids; pass chunks through SanitizeUtf8 where valid UTF-8 is required (JSON). One per
// generated sequence; not thread-safe; `vocab` must outlive it.
class StreamingDetokenizer {
 public:
  explicit StreamingDetokenizer(const Vocab& vocab, DecodeOptions options = {});
  // Adds token `id`; returns the text that became complete.
  std::string Push(int32_t id);
  // Returns whatever is still held back (an incomplete character at the end of the sequence).
  std::string Flush();

 private:
  const Vocab& vocab_;
  DecodeOptions options_;
  bool at_start_ = true;
  std::string pending_;
};

// `text` with every invalid UTF-8 sequence replaced by U+FFFD.
std::string SanitizeUtf8(std::string_view text);

}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_TOKENIZER_STREAMING_DETOKENIZER_H_
