// The narrow model interfaces the engine drives: a batched decoder with a KV cache of n_seq
// sequences, and an encoder for embeddings. Adapters over the model part implement them
// (model_adapter.h); tests implement them with fakes.
#ifndef SOBRE_ENGINE_RUNTIME_DECODER_H_
#define SOBRE_ENGINE_RUNTIME_DECODER_H_

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"

namespace sobre::engine {

// One token of a decode batch: `token` at position `pos` of sequence `seq`; `logits` asks for its
// output row.
struct DecodeToken {
  int32_t token = 0;
  int32_t pos = 0;
  int32_t seq = 0;
  bool logits = false;
};

// A decoder-only model plus its KV cache. Thread contract: thread-compatible; the engine thread
// owns it.
class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual int32_t n_vocab() const = 0;
  // Positions one sequence can hold.
  virtual int32_t n_ctx() const = 0;
  // Sequences (slots) the KV cache holds.
  virtual int32_t n_seq() const = 0;
  // Evaluates `batch` (each sequence's positions contiguous from its current length) and writes
  // n_vocab logits per token with logits = true, in batch order, into `logits`.
  virtual Status Decode(std::span<const DecodeToken> batch, std::span<float> logits) = 0;
  // Keeps positions [0, n) of sequence `seq` and forgets the rest (n = 0 clears it).
  virtual Status Truncate(int32_t seq, int32_t n) = 0;
  // Replaces sequence `to` by positions [0, n) of sequence `from`.
  virtual Status CopyPrefix(int32_t from, int32_t to, int32_t n) = 0;
};

// An encoder-only model (bert) producing one pooled, normalised vector per input.
// Thread contract: thread-compatible; the engine thread owns it.
class Encoder {
 public:
  virtual ~Encoder() = default;
  virtual int32_t n_embd() const = 0;
  // Most tokens one input can hold.
  virtual int32_t n_ctx() const = 0;
  virtual StatusOr<std::vector<float>> Embed(std::span<const int32_t> tokens) = 0;
};

}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_RUNTIME_DECODER_H_
