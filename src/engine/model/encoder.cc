// The bert forward pass: word + position + token-type-0 embeddings, LayerNorm, then post-LN
// blocks (attention over every position, erf GELU MLP), pooling and L2 normalisation.
#include "engine/model/encoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/model/internal/ops.h"
#include "engine/quant/quant.h"
#include "fmt/format.h"

namespace sobre::engine {

using internal::MatMul;

StatusOr<std::unique_ptr<EncoderContext>> EncoderContext::Create(const Model& model,
                                                                 ThreadPool& pool,
                                                                 int max_tokens) {
  const ModelHparams& hp = model.hparams();
  if (hp.arch != Architecture::kBert) {
    return InvalidArgumentError(fmt::format("an EncoderContext needs a bert model, not {}",
                                            ArchitectureName(hp.arch)));
  }
  if (max_tokens == 0) max_tokens = hp.n_ctx_train;
  if (max_tokens < 1 || max_tokens > hp.n_ctx_train) {
    return InvalidArgumentError(fmt::format("max_tokens {} is not in [1, {}] (the model's "
                                            "context)", max_tokens, hp.n_ctx_train));
  }
  std::vector<const WeightMatrix*> matrices;
  for (const LayerWeights& l : model.weights().layers) {
    for (const WeightMatrix* m :
         {&l.attn_q, &l.attn_k, &l.attn_v, &l.attn_output, &l.ffn_up, &l.ffn_down}) {
      matrices.push_back(m);
    }
  }
  const size_t act_bytes = internal::MaxActivationBytes(matrices, max_tokens);
  return std::unique_ptr<EncoderContext>(new EncoderContext(model, pool, max_tokens, act_bytes));
}

EncoderContext::EncoderContext(const Model& model, ThreadPool& pool, int max_tokens,
                               size_t activation_bytes)
    : model_(model),
      hp_(model.hparams()),
      pool_(pool),
      max_tokens_(max_tokens),
      matmul_(std::make_unique<MatMul>(pool, activation_bytes)) {
  const size_t n = static_cast<size_t>(max_tokens);
  x_.resize(n * hp_.n_embd);
  proj_.resize(n * hp_.n_embd);
  q_.resize(n * hp_.q_dim());
  k_.resize(n * hp_.kv_dim());
  v_.resize(n * hp_.kv_dim());
  attn_.resize(n * hp_.q_dim());
  ff_.resize(n * hp_.n_ff);
  scores_.resize(static_cast<size_t>(pool.size()) * n);
}

EncoderContext::~EncoderContext() = default;

void EncoderContext::Attention(int n_tok) {
  const int n_head = hp_.n_head;
  const int head_dim = hp_.head_dim;
  const int group = hp_.n_head / hp_.n_head_kv;
  const size_t q_dim = static_cast<size_t>(hp_.q_dim());
  const size_t kv_dim = static_cast<size_t>(hp_.kv_dim());
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  pool_.ParallelFor(n_tok * n_head, [&](int chunk, int thread) {
    const int i = chunk / n_head;
    const int h = chunk % n_head;
    const size_t kv_off = static_cast<size_t>(h / group) * head_dim;
    const float* q = q_.data() + i * q_dim + static_cast<size_t>(h) * head_dim;
    float* scores = scores_.data() + static_cast<size_t>(thread) * max_tokens_;
    for (int t = 0; t < n_tok; ++t) {  // bidirectional: every position
      const float* k = k_.data() + t * kv_dim + kv_off;
      float dot = 0;
      for (int d = 0; d < head_dim; ++d) dot += q[d] * k[d];
      scores[t] = dot * scale;
    }
    internal::Softmax(scores, n_tok);
    float* out = attn_.data() + i * q_dim + static_cast<size_t>(h) * head_dim;
    std::fill(out, out + head_dim, 0.0f);
    for (int t = 0; t < n_tok; ++t) {
      const float* v = v_.data() + t * kv_dim + kv_off;
      for (int d = 0; d < head_dim; ++d) out[d] += scores[t] * v[d];
    }
  });
}

namespace {

// y[t][r] += bias[r] for n_tok rows of width `n`.
void AddBias(float* y, const std::vector<float>& bias, int n_tok, int n) {
  for (int t = 0; t < n_tok; ++t) {
    float* row = y + static_cast<size_t>(t) * n;
    for (int r = 0; r < n; ++r) row[r] += bias[static_cast<size_t>(r)];
  }
}

}  // namespace

StatusOr<std::vector<float>> EncoderContext::Embed(std::span<const int32_t> tokens,
                                                   bool normalize) {
  const int n_tok = static_cast<int>(tokens.size());
  if (n_tok == 0) return InvalidArgumentError("cannot embed an empty token sequence");
  if (tokens.size() > static_cast<size_t>(max_tokens_)) {
    return InvalidArgumentError(fmt::format(
        "{} tokens exceed the encoder's limit of {} (bert context length {})", tokens.size(),
        max_tokens_, hp_.n_ctx_train));
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= hp_.n_vocab) {
      return InvalidArgumentError(fmt::format("token {}: id {} is not in the vocabulary [0, {})",
                                              i, tokens[i], hp_.n_vocab));
    }
  }
  const ModelWeights& w = model_.weights();
  const int e = hp_.n_embd;
  const size_t es = static_cast<size_t>(e);
  const int q_dim = hp_.q_dim();
  const int kv_dim = hp_.kv_dim();

  // x = word[token] + position[i] + token_type[0], then LayerNorm.
  pool_.ParallelFor(n_tok, [&](int i, int thread) {
    float* x = x_.data() + i * es;
    float* tmp = proj_.data() + i * es;
    (void)thread;
    DequantizeRow(w.token_embd.type,
                  w.token_embd.data + static_cast<size_t>(tokens[static_cast<size_t>(i)]) *
                                          w.token_embd.row_bytes,
                  x, es);
    DequantizeRow(w.position_embd.type,
                  w.position_embd.data + static_cast<size_t>(i) * w.position_embd.row_bytes, tmp,
                  es);
    for (size_t d = 0; d < es; ++d) x[d] += tmp[d];
    DequantizeRow(w.token_types.type, w.token_types.data, tmp, es);
    for (size_t d = 0; d < es; ++d) x[d] += tmp[d];
    internal::LayerNorm(x, w.token_embd_norm.data(), w.token_embd_norm_bias.data(), e,
                        hp_.norm_eps, x);
  });

  MatMul& mm = *matmul_;
  for (const LayerWeights& l : w.layers) {
    mm.SetInput(x_.data(), n_tok, e, es);
    mm.Multiply(l.attn_q, q_.data(), static_cast<size_t>(q_dim));
    mm.Multiply(l.attn_k, k_.data(), static_cast<size_t>(kv_dim));
    mm.Multiply(l.attn_v, v_.data(), static_cast<size_t>(kv_dim));
    AddBias(q_.data(), l.attn_q_bias, n_tok, q_dim);
    AddBias(k_.data(), l.attn_k_bias, n_tok, kv_dim);
    AddBias(v_.data(), l.attn_v_bias, n_tok, kv_dim);
    Attention(n_tok);
    mm.SetInput(attn_.data(), n_tok, q_dim, static_cast<size_t>(q_dim));
    mm.Multiply(l.attn_output, proj_.data(), es);
    AddBias(proj_.data(), l.attn_output_bias, n_tok, e);
    for (int i = 0; i < n_tok; ++i) {  // post-LN: norm after the residual add
      float* x = x_.data() + i * es;
      const float* p = proj_.data() + i * es;
      for (size_t d = 0; d < es; ++d) x[d] += p[d];
      internal::LayerNorm(x, l.attn_output_norm.data(), l.attn_output_norm_bias.data(), e,
                          hp_.norm_eps, x);
    }
    mm.SetInput(x_.data(), n_tok, e, es);
    mm.Multiply(l.ffn_up, ff_.data(), static_cast<size_t>(hp_.n_ff));
    AddBias(ff_.data(), l.ffn_up_bias, n_tok, hp_.n_ff);
    for (size_t j = 0; j < static_cast<size_t>(n_tok) * hp_.n_ff; ++j) {
      ff_[j] = internal::GeluErf(ff_[j]);
    }
    mm.SetInput(ff_.data(), n_tok, hp_.n_ff, static_cast<size_t>(hp_.n_ff));
    mm.Multiply(l.ffn_down, proj_.data(), es);
    AddBias(proj_.data(), l.ffn_down_bias, n_tok, e);
    for (int i = 0; i < n_tok; ++i) {
      float* x = x_.data() + i * es;
      const float* p = proj_.data() + i * es;
      for (size_t d = 0; d < es; ++d) x[d] += p[d];
      internal::LayerNorm(x, l.layer_output_norm.data(), l.layer_output_norm_bias.data(), e,
                          hp_.norm_eps, x);
    }
  }

  std::vector<float> out(es, 0.0f);
  if (hp_.pooling == Pooling::kCls) {
    std::memcpy(out.data(), x_.data(), es * sizeof(float));
  } else {  // mean over every token, [CLS] and [SEP] included
    std::vector<double> sum(es, 0.0);
    for (int i = 0; i < n_tok; ++i) {
      for (size_t d = 0; d < es; ++d) sum[d] += x_[i * es + d];
    }
    for (size_t d = 0; d < es; ++d) out[d] = static_cast<float>(sum[d] / n_tok);
  }
  if (normalize) {
    double norm = 0;
    for (float v : out) norm += static_cast<double>(v) * v;
    norm = std::sqrt(norm);
    const float inv = static_cast<float>(1.0 / std::max(norm, 1e-12));
    for (float& v : out) v *= inv;
  }
  return out;
}

}  // namespace sobre::engine
