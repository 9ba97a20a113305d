// DecoderContext: the llama / qwen2 forward pass over batches of tokens from several sequences,
// with their KV cache (reference/engine.md §3.1-3.4).
#ifndef SOBRE_ENGINE_MODEL_DECODER_H_
#define SOBRE_ENGINE_MODEL_DECODER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/status.h"
#include "engine/model/model.h"
#include "engine/model/thread_pool.h"

namespace sobre::engine {

namespace internal {
class MatMul;
}  // namespace internal

// One token of a Decode batch: `token` of sequence (slot) `seq` at position `pos`; `logits` asks
// for its n_vocab logits.
struct BatchToken {
  int32_t token = 0;
  int32_t pos = 0;
  int32_t seq = 0;
  bool logits = false;
};

// Size of a DecoderContext. The KV cache is f32 and takes
// n_seq * n_ctx * n_layer * 2 * kv_dim * 4 bytes.
struct KvCacheOptions {
  // Sequences (slots) held at once; default 4.
  int n_seq = 4;
  // Positions per sequence; default 2048.
  int n_ctx = 2048;
  // Most tokens one Decode call accepts (sizes the scratch buffers); default 512.
  int max_batch = 512;
};

// Decoder state: the KV cache of n_seq sequences and the scratch of one batch, all allocated by
// Create, so Decode allocates nothing. Thread contract: single-threaded (the engine thread owns
// it); Decode fans work out to the ThreadPool it was created with.
class DecoderContext {
 public:
  // InvalidArgument when `model` is not a decoder (llama, qwen2) or the options are not positive;
  // ResourceExhausted when the cache would not fit in memory.
  static StatusOr<std::unique_ptr<DecoderContext>> Create(const Model& model,
                                                          const KvCacheOptions& options,
                                                          ThreadPool& pool);
  ~DecoderContext();
  DecoderContext(const DecoderContext&) = delete;
  DecoderContext& operator=(const DecoderContext&) = delete;

  // Runs the batch and writes the n_vocab logits of each token with logits = true into `logits`,
  // in batch order (the output matrix runs only for those tokens). The tokens of one sequence
  // must continue it: their positions are SequenceLength(seq), SequenceLength(seq) + 1, ... in
  // batch order. On any error (token id, sequence, position, a full sequence: ResourceExhausted,
  // too many tokens, `logits` too small) nothing is computed and the cache is unchanged.
  Status Decode(std::span<const BatchToken> batch, std::span<float> logits);

  // Forgets the KV of `seq` (a no-op for an unknown sequence).
  void ClearSequence(int seq);

  // Makes `to_seq` hold the first `n_tokens` positions of `from_seq` (prefix reuse, e.g. a shared
  // system prompt); InvalidArgument when a sequence is unknown or n_tokens exceeds
  // SequenceLength(from_seq). Copying a sequence onto itself truncates it.
  Status CopyPrefix(int from_seq, int to_seq, int n_tokens);

  // Positions held for `seq` (0 for an unknown sequence).
  int SequenceLength(int seq) const;

  const KvCacheOptions& options() const { return options_; }
  const Model& model() const { return model_; }

 private:
  DecoderContext(const Model& model, const KvCacheOptions& options, ThreadPool& pool,
                 size_t activation_bytes);
  float* KeyRow(int layer, int seq, int pos);
  float* ValueRow(int layer, int seq, int pos);
  void Attention(int layer, int n_tok, std::span<const BatchToken> batch);

  const Model& model_;
  const ModelHparams& hp_;
  const KvCacheOptions options_;
  ThreadPool& pool_;
  std::unique_ptr<internal::MatMul> matmul_;

  std::unique_ptr<float[]> k_cache_;  // [layer][seq][pos][kv_dim]
  std::unique_ptr<float[]> v_cache_;  // same layout
  std::vector<int> seq_len_;
  std::vector<int> pending_;    // per sequence: tokens of the current batch seen while validating

  std::vector<double> inv_freq_;  // RoPE speed per pair
  // Batch scratch, [max_batch][width] row-major.
  std::vector<float> x_, h_, q_, k_, v_, attn_, gate_, up_, proj_;
  std::vector<float> rope_cos_, rope_sin_;  // [max_batch][n_rot / 2]
  std::vector<float> scores_;               // [threads][n_ctx]
  std::vector<int> out_rows_;               // batch indices of the tokens that want logits
};

}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_MODEL_DECODER_H_
