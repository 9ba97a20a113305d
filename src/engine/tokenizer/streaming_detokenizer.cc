// Holds back only a trailing UTF-8 sequence that is still incomplete; everything else goes out at
// once, so the chunks concatenate to exactly what Vocab::Decode returns.
#include "engine/tokenizer/streaming_detokenizer.h"

#include <utility>

#include "engine/tokenizer/internal/unicode.h"

namespace sobre::engine {
namespace {

// Bytes at the end of `s` that start a UTF-8 sequence still waiting for continuation bytes.
size_t IncompleteTail(std::string_view s) {
  for (size_t k = 1; k <= 3 && k <= s.size(); ++k) {
    const auto b = static_cast<uint8_t>(s[s.size() - k]);
    if ((b & 0xC0) == 0x80) continue;  // continuation: keep looking for the lead byte
    const size_t need = tokenizer_internal::Utf8SequenceLength(b);
    return need > k ? k : 0;
  }
  return 0;
}

}  // namespace

StreamingDetokenizer::StreamingDetokenizer(const Vocab& vocab, DecodeOptions options)
    : vocab_(vocab), options_(options) {}

std::string StreamingDetokenizer::Push(int32_t id) {
  vocab_.AppendDecoded(id, options_, at_start_, pending_);
  const size_t hold = IncompleteTail(pending_);
  std::string ready = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return ready;
}

std::string StreamingDetokenizer::Flush() { return std::exchange(pending_, std::string()); }

std::string SanitizeUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const auto& cp : tokenizer_internal::DecodeUtf8(text)) {
    if (cp.cpt == tokenizer_internal::kReplacementChar && cp.bytes == 1) {
      out += "\xEF\xBF\xBD";
    } else {
      out.append(text.substr(cp.offset, cp.bytes));
    }
  }
  return out;
}

}  // namespace sobre::engine
