// The decoder forward pass. Per layer, for the whole batch at once: RMSNorm, q/k/v projections
// (one quantisation of the normed rows, each weight row streamed once for all tokens), biases,
// RoPE, KV append, attention per (token, head), output projection, SwiGLU FFN. Logits only for
// the tokens that asked for them.
#include "engine/model/decoder.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/model/internal/ops.h"
#include "engine/quant/quant.h"
#include "fmt/format.h"

namespace sobre::engine {

using internal::MatMul;

StatusOr<std::unique_ptr<DecoderContext>> DecoderContext::Create(const Model& model,
                                                                 const KvCacheOptions& options,
                                                                 ThreadPool& pool) {
  const ModelHparams& hp = model.hparams();
  if (hp.arch == Architecture::kBert) {
    return InvalidArgumentError("a DecoderContext needs a llama or qwen2 model, not bert");
  }
  if (options.n_seq <= 0 || options.n_ctx <= 0 || options.max_batch <= 0 ||
      options.n_seq > 4096 || options.n_ctx > (1 << 24) || options.max_batch > (1 << 16)) {
    return InvalidArgumentError(fmt::format("KV cache options out of range: n_seq {}, n_ctx {}, "
                                            "max_batch {}", options.n_seq, options.n_ctx,
                                            options.max_batch));
  }
  const uint64_t cache_bytes = uint64_t{2} * static_cast<uint64_t>(options.n_seq) *
                               static_cast<uint64_t>(options.n_ctx) *
                               static_cast<uint64_t>(hp.n_layer) *
                               static_cast<uint64_t>(hp.kv_dim()) * sizeof(float);
  const uint64_t physical = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) *
                            static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  if (cache_bytes > physical) {
    return ResourceExhaustedError(fmt::format(
        "a KV cache of {} sequences x {} positions needs {} MiB, more than this machine's {} MiB",
        options.n_seq, options.n_ctx, cache_bytes >> 20, physical >> 20));
  }
  const ModelWeights& w = model.weights();
  std::vector<const WeightMatrix*> matrices = {&w.output};
  for (const LayerWeights& l : w.layers) {
    for (const WeightMatrix* m : {&l.attn_q, &l.attn_k, &l.attn_v, &l.attn_output, &l.ffn_gate,
                                  &l.ffn_up, &l.ffn_down}) {
      matrices.push_back(m);
    }
  }
  const size_t act_bytes = internal::MaxActivationBytes(matrices, options.max_batch);
  return std::unique_ptr<DecoderContext>(new DecoderContext(model, options, pool, act_bytes));
}

DecoderContext::DecoderContext(const Model& model, const KvCacheOptions& options,
                               ThreadPool& pool, size_t activation_bytes)
    : model_(model),
      hp_(model.hparams()),
      options_(options),
      pool_(pool),
      matmul_(std::make_unique<MatMul>(pool, activation_bytes)) {
  const size_t cache_floats = static_cast<size_t>(hp_.n_layer) * options_.n_seq * options_.n_ctx *
                              static_cast<size_t>(hp_.kv_dim());
  // Not zero-filled: pages are touched only as positions are written.
  k_cache_.reset(new float[cache_floats]);
  v_cache_.reset(new float[cache_floats]);
  seq_len_.assign(static_cast<size_t>(options_.n_seq), 0);
  pending_.assign(static_cast<size_t>(options_.n_seq), 0);
  inv_freq_ = internal::RopeInverseFrequencies(hp_, model.weights().rope_freqs);
  const size_t b = static_cast<size_t>(options_.max_batch);
  x_.resize(b * hp_.n_embd);
  h_.resize(b * hp_.n_embd);
  proj_.resize(b * hp_.n_embd);
  q_.resize(b * hp_.q_dim());
  attn_.resize(b * hp_.q_dim());
  k_.resize(b * hp_.kv_dim());
  v_.resize(b * hp_.kv_dim());
  gate_.resize(b * hp_.n_ff);
  up_.resize(b * hp_.n_ff);
  rope_cos_.resize(b * (hp_.n_rot / 2));
  rope_sin_.resize(b * (hp_.n_rot / 2));
  scores_.resize(static_cast<size_t>(pool.size()) * options_.n_ctx);
  out_rows_.reserve(b);
}

DecoderContext::~DecoderContext() = default;

float* DecoderContext::KeyRow(int layer, int seq, int pos) {
  const size_t index = (static_cast<size_t>(layer) * options_.n_seq + seq) * options_.n_ctx + pos;
  return k_cache_.get() + index * hp_.kv_dim();
}

float* DecoderContext::ValueRow(int layer, int seq, int pos) {
  const size_t index = (static_cast<size_t>(layer) * options_.n_seq + seq) * options_.n_ctx + pos;
  return v_cache_.get() + index * hp_.kv_dim();
}

int DecoderContext::SequenceLength(int seq) const {
  if (seq < 0 || seq >= options_.n_seq) return 0;
  return seq_len_[static_cast<size_t>(seq)];
}

void DecoderContext::ClearSequence(int seq) {
  if (seq >= 0 && seq < options_.n_seq) seq_len_[static_cast<size_t>(seq)] = 0;
}

Status DecoderContext::CopyPrefix(int from_seq, int to_seq, int n_tokens) {
  if (from_seq < 0 || from_seq >= options_.n_seq || to_seq < 0 || to_seq >= options_.n_seq) {
    return InvalidArgumentError(fmt::format("CopyPrefix: sequence {} or {} is not in [0, {})",
                                            from_seq, to_seq, options_.n_seq));
  }
  if (n_tokens < 0 || n_tokens > seq_len_[static_cast<size_t>(from_seq)]) {
    return InvalidArgumentError(fmt::format("CopyPrefix: {} tokens requested but sequence {} "
                                            "holds {}", n_tokens, from_seq,
                                            seq_len_[static_cast<size_t>(from_seq)]));
  }
  if (from_seq != to_seq && n_tokens > 0) {
    const size_t bytes = static_cast<size_t>(n_tokens) * hp_.kv_dim() * sizeof(float);
    for (int l = 0; l < hp_.n_layer; ++l) {
      std::memcpy(KeyRow(l, to_seq, 0), KeyRow(l, from_seq, 0), bytes);
      std::memcpy(ValueRow(l, to_seq, 0), ValueRow(l, from_seq, 0), bytes);
    }
  }
  seq_len_[static_cast<size_t>(to_seq)] = n_tokens;
  return OkStatus();
}

void DecoderContext::Attention(int layer, int n_tok, std::span<const BatchToken> batch) {
  const int n_head = hp_.n_head;
  const int head_dim = hp_.head_dim;
  const int group = hp_.n_head / hp_.n_head_kv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const size_t q_dim = static_cast<size_t>(hp_.q_dim());
  pool_.ParallelFor(n_tok * n_head, [&](int chunk, int thread) {
    const int i = chunk / n_head;
    const int h = chunk % n_head;
    const BatchToken& bt = batch[static_cast<size_t>(i)];
    const int kv_off = (h / group) * head_dim;  // GQA: consecutive query heads share a KV head
    const float* q = q_.data() + i * q_dim + static_cast<size_t>(h) * head_dim;
    float* scores = scores_.data() + static_cast<size_t>(thread) * options_.n_ctx;
    const int n_pos = bt.pos + 1;  // causal: positions 0..pos of this sequence
    for (int t = 0; t < n_pos; ++t) {
      const float* k = KeyRow(layer, bt.seq, t) + kv_off;
      float dot = 0;
      for (int d = 0; d < head_dim; ++d) dot += q[d] * k[d];
      scores[t] = dot * scale;
    }
    internal::Softmax(scores, n_pos);
    float* out = attn_.data() + i * q_dim + static_cast<size_t>(h) * head_dim;
    std::fill(out, out + head_dim, 0.0f);
    for (int t = 0; t < n_pos; ++t) {
      const float* v = ValueRow(layer, bt.seq, t) + kv_off;
      const float p = scores[t];
      for (int d = 0; d < head_dim; ++d) out[d] += p * v[d];
    }
  });
}

Status DecoderContext::Decode(std::span<const BatchToken> batch, std::span<float> logits) {
  const int n_tok = static_cast<int>(batch.size());
  if (n_tok == 0) return OkStatus();
  if (n_tok > options_.max_batch) {
    return InvalidArgumentError(fmt::format("batch of {} tokens exceeds max_batch {}", n_tok,
                                            options_.max_batch));
  }
  // Validate everything before touching the cache.
  std::fill(pending_.begin(), pending_.end(), 0);
  size_t n_out = 0;
  for (int i = 0; i < n_tok; ++i) {
    const BatchToken& bt = batch[static_cast<size_t>(i)];
    if (bt.token < 0 || bt.token >= hp_.n_vocab) {
      return InvalidArgumentError(fmt::format("batch token {}: id {} is not in the vocabulary "
                                              "[0, {})", i, bt.token, hp_.n_vocab));
    }
    if (bt.seq < 0 || bt.seq >= options_.n_seq) {
      return InvalidArgumentError(fmt::format("batch token {}: sequence {} is not in [0, {})", i,
                                              bt.seq, options_.n_seq));
    }
    const int expected = seq_len_[static_cast<size_t>(bt.seq)] +
                         pending_[static_cast<size_t>(bt.seq)]++;
    if (bt.pos != expected) {
      return InvalidArgumentError(fmt::format("batch token {}: position {} of sequence {} does "
                                              "not continue it (expected {})", i, bt.pos, bt.seq,
                                              expected));
    }
    if (bt.pos >= options_.n_ctx) {
      return ResourceExhaustedError(fmt::format("sequence {} is full: its context holds {} "
                                                "positions", bt.seq, options_.n_ctx));
    }
    if (bt.logits) ++n_out;
  }
  const size_t n_vocab = static_cast<size_t>(hp_.n_vocab);
  if (logits.size() < n_out * n_vocab) {
    return InvalidArgumentError(fmt::format("logits buffer holds {} floats, {} needed",
                                            logits.size(), n_out * n_vocab));
  }

  const ModelWeights& w = model_.weights();
  const int e = hp_.n_embd;
  const size_t es = static_cast<size_t>(e);
  const int q_dim = hp_.q_dim();
  const int kv_dim = hp_.kv_dim();
  const int n_ff = hp_.n_ff;
  const int half_rot = hp_.n_rot / 2;

  // Embeddings and RoPE angles (the same for every layer).
  pool_.ParallelFor(n_tok, [&](int i, int) {
    const BatchToken& bt = batch[static_cast<size_t>(i)];
    DequantizeRow(w.token_embd.type,
                  w.token_embd.data + static_cast<size_t>(bt.token) * w.token_embd.row_bytes,
                  x_.data() + i * es, es);
    for (int r = 0; r < half_rot; ++r) {
      const double theta = static_cast<double>(bt.pos) * inv_freq_[static_cast<size_t>(r)];
      rope_cos_[static_cast<size_t>(i) * half_rot + r] = static_cast<float>(std::cos(theta));
      rope_sin_[static_cast<size_t>(i) * half_rot + r] = static_cast<float>(std::sin(theta));
    }
  });

  MatMul& mm = *matmul_;
  for (int il = 0; il < hp_.n_layer; ++il) {
    const LayerWeights& l = w.layers[static_cast<size_t>(il)];
    for (int i = 0; i < n_tok; ++i) {
      internal::RmsNorm(x_.data() + i * es, l.attn_norm.data(), e, hp_.norm_eps,
                        h_.data() + i * es);
    }
    mm.SetInput(h_.data(), n_tok, e, es);
    mm.Multiply(l.attn_q, q_.data(), static_cast<size_t>(q_dim));
    mm.Multiply(l.attn_k, k_.data(), static_cast<size_t>(kv_dim));
    mm.Multiply(l.attn_v, v_.data(), static_cast<size_t>(kv_dim));

    // Biases (qwen2) before RoPE; then append k and v to the cache.
    for (int i = 0; i < n_tok; ++i) {
      const BatchToken& bt = batch[static_cast<size_t>(i)];
      float* q = q_.data() + static_cast<size_t>(i) * q_dim;
      float* k = k_.data() + static_cast<size_t>(i) * kv_dim;
      float* v = v_.data() + static_cast<size_t>(i) * kv_dim;
      if (!l.attn_q_bias.empty()) {
        for (int d = 0; d < q_dim; ++d) q[d] += l.attn_q_bias[static_cast<size_t>(d)];
        for (int d = 0; d < kv_dim; ++d) k[d] += l.attn_k_bias[static_cast<size_t>(d)];
        for (int d = 0; d < kv_dim; ++d) v[d] += l.attn_v_bias[static_cast<size_t>(d)];
      }
      const float* c = rope_cos_.data() + static_cast<size_t>(i) * half_rot;
      const float* s = rope_sin_.data() + static_cast<size_t>(i) * half_rot;
      for (int hh = 0; hh < hp_.n_head; ++hh) {
        internal::ApplyRope(q + hh * hp_.head_dim, hp_.n_rot, hp_.rope, c, s);
      }
      for (int hh = 0; hh < hp_.n_head_kv; ++hh) {
        internal::ApplyRope(k + hh * hp_.head_dim, hp_.n_rot, hp_.rope, c, s);
      }
      std::memcpy(KeyRow(il, bt.seq, bt.pos), k, static_cast<size_t>(kv_dim) * sizeof(float));
      std::memcpy(ValueRow(il, bt.seq, bt.pos), v, static_cast<size_t>(kv_dim) * sizeof(float));
    }

    Attention(il, n_tok, batch);
    mm.SetInput(attn_.data(), n_tok, q_dim, static_cast<size_t>(q_dim));
    mm.Multiply(l.attn_output, proj_.data(), es);
    for (size_t j = 0; j < static_cast<size_t>(n_tok) * es; ++j) x_[j] += proj_[j];
    if (!l.attn_output_bias.empty()) {
      for (int i = 0; i < n_tok; ++i) {
        for (size_t d = 0; d < es; ++d) x_[i * es + d] += l.attn_output_bias[d];
      }
    }

    for (int i = 0; i < n_tok; ++i) {
      internal::RmsNorm(x_.data() + i * es, l.ffn_norm.data(), e, hp_.norm_eps,
                        h_.data() + i * es);
    }
    mm.SetInput(h_.data(), n_tok, e, es);
    mm.Multiply(l.ffn_gate, gate_.data(), static_cast<size_t>(n_ff));
    mm.Multiply(l.ffn_up, up_.data(), static_cast<size_t>(n_ff));
    const size_t n_gate = static_cast<size_t>(n_tok) * n_ff;
    for (size_t j = 0; j < n_gate; ++j) gate_[j] = internal::Silu(gate_[j]) * up_[j];
    mm.SetInput(gate_.data(), n_tok, n_ff, static_cast<size_t>(n_ff));
    mm.Multiply(l.ffn_down, proj_.data(), es);
    for (size_t j = 0; j < static_cast<size_t>(n_tok) * es; ++j) x_[j] += proj_[j];
  }

  for (int i = 0; i < n_tok; ++i) {
    const BatchToken& bt = batch[static_cast<size_t>(i)];
    seq_len_[static_cast<size_t>(bt.seq)] = bt.pos + 1;
  }
  if (n_out == 0) return OkStatus();

  // Final norm and the output matrix for the requested rows only.
  out_rows_.clear();
  for (int i = 0; i < n_tok; ++i) {
    if (batch[static_cast<size_t>(i)].logits) out_rows_.push_back(i);
  }
  for (size_t o = 0; o < out_rows_.size(); ++o) {
    internal::RmsNorm(x_.data() + static_cast<size_t>(out_rows_[o]) * es, w.output_norm.data(), e,
                      hp_.norm_eps, h_.data() + o * es);
  }
  mm.SetInput(h_.data(), static_cast<int>(n_out), e, es);
  mm.Multiply(w.output, logits.data(), n_vocab);
  return OkStatus();
}

}  // namespace sobre::engine
