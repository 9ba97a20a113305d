// EncoderContext: the bert forward pass that turns one token sequence into a sentence embedding
// (reference/engine.md §3.6-3.7).
#ifndef SOBRE_ENGINE_MODEL_ENCODER_H_
#define SOBRE_ENGINE_MODEL_ENCODER_H_

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

// Scratch for embedding sequences of up to max_tokens tokens, allocated by Create. Thread
// contract: single-threaded; Embed fans work out to the ThreadPool it was created with.
class EncoderContext {
 public:
  // InvalidArgument when `model` is not bert or max_tokens is not in [1, n_ctx_train]; pass 0 for
  // n_ctx_train (the model's position limit, 512 for BERT).
  static StatusOr<std::unique_ptr<EncoderContext>> Create(const Model& model, ThreadPool& pool,
                                                          int max_tokens = 0);
  ~EncoderContext();
  EncoderContext(const EncoderContext&) = delete;
  EncoderContext& operator=(const EncoderContext&) = delete;

  // The pooled embedding (mean or CLS, as the file says) of `tokens` (with their [CLS]/[SEP]
  // already added), L2-normalised when `normalize`. InvalidArgument for an empty input, an id
  // outside the vocabulary, or more tokens than max_tokens (the message names the limit).
  StatusOr<std::vector<float>> Embed(std::span<const int32_t> tokens, bool normalize = true);

  // Most tokens one Embed call accepts.
  int max_tokens() const { return max_tokens_; }

 private:
  EncoderContext(const Model& model, ThreadPool& pool, int max_tokens, size_t activation_bytes);
  void Attention(int n_tok);

  const Model& model_;
  const ModelHparams& hp_;
  ThreadPool& pool_;
  const int max_tokens_;
  std::unique_ptr<internal::MatMul> matmul_;
  // [max_tokens][width] row-major scratch.
  std::vector<float> x_, q_, k_, v_, attn_, proj_, ff_;
  std::vector<float> scores_;  // [threads][max_tokens]
};

}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_MODEL_ENCODER_H_
