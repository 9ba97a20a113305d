// The thread pool is created here on the caller's thread and then used only by the engine thread;
// the engine's thread start and join order those accesses, so the pool never sees two threads at
// once.
#include "engine/runtime/model_adapter.h"

#include <algorithm>
#include <string>
#include <utility>

#include "engine/model/decoder.h"
#include "engine/model/encoder.h"
#include "engine/model/hparams.h"
#include "engine/model/model.h"
#include "engine/model/thread_pool.h"

namespace sobre::engine {
namespace {

constexpr int32_t kDefaultMaxCtx = 4096;

class ModelDecoder final : public Decoder {
 public:
  ModelDecoder(std::shared_ptr<const Model> model, std::unique_ptr<ThreadPool> pool)
      : model_(std::move(model)), pool_(std::move(pool)) {}

  Status Init(const KvCacheOptions& kv) {
    SOBRE_ASSIGN_OR_RETURN(ctx_, DecoderContext::Create(*model_, kv, *pool_));
    n_vocab_ = static_cast<int32_t>(model_->weights().output.rows);
    return OkStatus();
  }

  int32_t n_vocab() const override { return n_vocab_; }
  int32_t n_ctx() const override { return ctx_->options().n_ctx; }
  int32_t n_seq() const override { return ctx_->options().n_seq; }

  Status Decode(std::span<const DecodeToken> batch, std::span<float> logits) override {
    // DecodeToken and BatchToken have the same fields; copy into a buffer sized once.
    if (batch.size() > tokens_.capacity()) tokens_.reserve(batch.size());
    tokens_.clear();
    for (const DecodeToken& t : batch) tokens_.push_back(BatchToken{t.token, t.pos, t.seq, t.logits});
    return ctx_->Decode(tokens_, logits);
  }

  Status Truncate(int32_t seq, int32_t n) override {
    if (n == 0) {
      ctx_->ClearSequence(seq);
      return OkStatus();
    }
    return ctx_->CopyPrefix(seq, seq, n);
  }

  Status CopyPrefix(int32_t from, int32_t to, int32_t n) override {
    if (n == 0) {
      ctx_->ClearSequence(to);
      return OkStatus();
    }
    return ctx_->CopyPrefix(from, to, n);
  }

  void Reserve(size_t n) { tokens_.reserve(n); }

 private:
  std::shared_ptr<const Model> model_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<DecoderContext> ctx_;  // After pool_: destroyed before it.
  std::vector<BatchToken> tokens_;
  int32_t n_vocab_ = 0;
};

class ModelEncoder final : public Encoder {
 public:
  ModelEncoder(std::shared_ptr<const Model> model, std::unique_ptr<ThreadPool> pool)
      : model_(std::move(model)), pool_(std::move(pool)) {}

  Status Init() {
    SOBRE_ASSIGN_OR_RETURN(ctx_, EncoderContext::Create(*model_, *pool_, 0));
    return OkStatus();
  }

  int32_t n_embd() const override { return model_->hparams().n_embd; }
  int32_t n_ctx() const override { return ctx_->max_tokens(); }
  StatusOr<std::vector<float>> Embed(std::span<const int32_t> tokens) override {
    return ctx_->Embed(tokens, /*normalize=*/true);
  }

 private:
  std::shared_ptr<const Model> model_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<EncoderContext> ctx_;
};

}  // namespace

StatusOr<std::unique_ptr<Decoder>> MakeModelDecoder(std::shared_ptr<const Model> model,
                                                    const ModelDecoderOptions& options) {
  if (model == nullptr) return InvalidArgumentError("no model");
  if (model->hparams().arch == Architecture::kBert) {
    return InvalidArgumentError("a bert model computes embeddings; it cannot generate text");
  }
  if (options.slots <= 0 || options.batch_size <= 0 || options.ctx_per_slot < 0 ||
      options.threads < 0) {
    return InvalidArgumentError("slots, batch size and threads must be positive (slots " +
                                std::to_string(options.slots) + ", batch " +
                                std::to_string(options.batch_size) + ")");
  }
  KvCacheOptions kv;
  kv.n_seq = options.slots;
  kv.n_ctx = options.ctx_per_slot > 0
                 ? options.ctx_per_slot
                 : std::min<int32_t>(kDefaultMaxCtx, static_cast<int32_t>(model->hparams().n_ctx_train));
  kv.max_batch = std::max(options.batch_size, options.slots);
  auto decoder = std::make_unique<ModelDecoder>(model, std::make_unique<ThreadPool>(options.threads));
  SOBRE_RETURN_IF_ERROR(decoder->Init(kv));
  decoder->Reserve(static_cast<size_t>(kv.max_batch));
  return std::unique_ptr<Decoder>(std::move(decoder));
}

StatusOr<std::unique_ptr<Encoder>> MakeModelEncoder(std::shared_ptr<const Model> model,
                                                    int threads) {
  if (model == nullptr) return InvalidArgumentError("no model");
  if (model->hparams().arch != Architecture::kBert) {
    return InvalidArgumentError("only bert models compute embeddings");
  }
  if (threads < 0) return InvalidArgumentError("threads must be >= 0");
  auto encoder = std::make_unique<ModelEncoder>(model, std::make_unique<ThreadPool>(threads));
  SOBRE_RETURN_IF_ERROR(encoder->Init());
  return std::unique_ptr<Encoder>(std::move(encoder));
}

}  // namespace sobre::engine
