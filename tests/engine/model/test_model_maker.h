// Random-weight GGUF models of each architecture (llama, qwen2, bert) written with GgufWriter,
// for the model part's tests and benchmark.
#ifndef SOBRE_TESTS_ENGINE_MODEL_TEST_MODEL_MAKER_H_
#define SOBRE_TESTS_ENGINE_MODEL_TEST_MODEL_MAKER_H_

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/ggml_type.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/quant/half.h"
#include "engine/quant/quant.h"
#include "fmt/format.h"

namespace sobre::engine::testing {

// What MakeTestModel writes. Defaults: a 2-layer llama, f32 weights, 64 wide, 4 heads.
struct TestModelSpec {
  std::string arch = "llama";  // llama, qwen2 or bert
  int n_vocab = 128;
  int n_embd = 64;
  int n_layer = 2;
  int n_head = 4;
  int n_head_kv = 4;
  int n_ff = 96;
  int n_ctx = 64;
  bool tied = false;            // decoders: omit output.weight
  GgmlType type = GgmlType::kF32;       // 2-D matrices of the layers and output
  GgmlType embd_type = GgmlType::kF32;  // token_embd (and bert's position/type embeddings)
  float rope_base = 10000.0f;
  float linear_scale = 0.0f;    // > 0: rope.scaling.type linear with this factor
  bool rope_freqs = false;      // add a rope_freqs.weight of divisors
  int pooling = 1;              // bert: 1 mean, 2 CLS
  float eps = 1e-5f;
  uint32_t seed = 1;
};

namespace internal_util {

inline Status AddTensor(GgufWriter& w, const std::string& name, GgmlType type, int cols, int rows,
                        const std::vector<float>& values) {
  std::vector<uint64_t> dims = {static_cast<uint64_t>(cols)};
  if (rows > 0) dims.push_back(static_cast<uint64_t>(rows));
  const size_t n_rows = rows > 0 ? static_cast<size_t>(rows) : 1;
  const size_t row_bytes = RowBytes(type, static_cast<size_t>(cols));
  std::vector<uint8_t> data(row_bytes * n_rows);
  for (size_t r = 0; r < n_rows; ++r) {
    SOBRE_RETURN_IF_ERROR(QuantizeRow(
        type, std::span<const float>(values.data() + r * cols, static_cast<size_t>(cols)),
        std::span<uint8_t>(data.data() + r * row_bytes, row_bytes)));
  }
  return w.AddTensor(name, type, std::move(dims), std::move(data));
}

}  // namespace internal_util

// Writes a random-weight model for `spec` to `path`. Matrices are uniform in
// ±scale/sqrt(cols) (q and k a little larger so that attention is far from uniform), norm gains
// near 1, biases small, embeddings in ±1.
inline Status MakeTestModel(const TestModelSpec& spec, const std::string& path) {
  std::mt19937 rng(spec.seed);
  auto uniform = [&](size_t n, float lo, float hi) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (float& x : v) x = d(rng);
    return v;
  };
  GgufWriter w;
  const std::string& a = spec.arch;
  const bool bert = a == "bert";
  w.SetString("general.architecture", a);
  w.SetString("general.name", "sobre model-part test " + a);
  w.SetUint32(a + ".context_length", static_cast<uint32_t>(spec.n_ctx));
  w.SetUint32(a + ".embedding_length", static_cast<uint32_t>(spec.n_embd));
  w.SetUint32(a + ".block_count", static_cast<uint32_t>(spec.n_layer));
  w.SetUint32(a + ".feed_forward_length", static_cast<uint32_t>(spec.n_ff));
  w.SetUint32(a + ".attention.head_count", static_cast<uint32_t>(spec.n_head));
  const int head_dim = spec.n_embd / spec.n_head;
  if (bert) {
    w.SetFloat32(a + ".attention.layer_norm_epsilon", spec.eps);
    w.SetBool(a + ".attention.causal", false);
    w.SetUint32(a + ".pooling_type", static_cast<uint32_t>(spec.pooling));
  } else {
    w.SetUint32(a + ".attention.head_count_kv", static_cast<uint32_t>(spec.n_head_kv));
    w.SetFloat32(a + ".attention.layer_norm_rms_epsilon", spec.eps);
    w.SetFloat32(a + ".rope.freq_base", spec.rope_base);
    w.SetUint32(a + ".rope.dimension_count", static_cast<uint32_t>(head_dim));
    if (spec.linear_scale > 0) {
      w.SetString(a + ".rope.scaling.type", "linear");
      w.SetFloat32(a + ".rope.scaling.factor", spec.linear_scale);
    }
  }
  const int e = spec.n_embd;
  const int kv = (bert ? spec.n_head : spec.n_head_kv) * head_dim;
  auto matrix = [&](const std::string& name, int cols, int rows, float gain = 1.0f) {
    const float s = gain * std::sqrt(3.0f / static_cast<float>(cols));
    return internal_util::AddTensor(w, name, spec.type, cols, rows,
                                    uniform(static_cast<size_t>(cols) * rows, -s, s));
  };
  auto gains = [&](const std::string& name, int n) {
    return internal_util::AddTensor(w, name, GgmlType::kF32, n, 0,
                                    uniform(static_cast<size_t>(n), 0.8f, 1.2f));
  };
  auto bias = [&](const std::string& name, int n, float s = 0.1f) {
    return internal_util::AddTensor(w, name, GgmlType::kF32, n, 0,
                                    uniform(static_cast<size_t>(n), -s, s));
  };
  SOBRE_RETURN_IF_ERROR(internal_util::AddTensor(
      w, "token_embd.weight", spec.embd_type, e, spec.n_vocab,
      uniform(static_cast<size_t>(e) * spec.n_vocab, -1.0f, 1.0f)));
  if (bert) {
    SOBRE_RETURN_IF_ERROR(internal_util::AddTensor(
        w, "position_embd.weight", spec.embd_type, e, spec.n_ctx,
        uniform(static_cast<size_t>(e) * spec.n_ctx, -0.5f, 0.5f)));
    SOBRE_RETURN_IF_ERROR(internal_util::AddTensor(w, "token_types.weight", spec.embd_type, e, 2,
                                                   uniform(static_cast<size_t>(e) * 2, -0.5f,
                                                           0.5f)));
    SOBRE_RETURN_IF_ERROR(gains("token_embd_norm.weight", e));
    SOBRE_RETURN_IF_ERROR(bias("token_embd_norm.bias", e));
  } else {
    SOBRE_RETURN_IF_ERROR(gains("output_norm.weight", e));
    if (!spec.tied) SOBRE_RETURN_IF_ERROR(matrix("output.weight", e, spec.n_vocab, 3.0f));
    if (spec.rope_freqs) {
      SOBRE_RETURN_IF_ERROR(internal_util::AddTensor(
          w, "rope_freqs.weight", GgmlType::kF32, head_dim / 2, 0,
          uniform(static_cast<size_t>(head_dim / 2), 1.0f, 8.0f)));
    }
  }
  for (int il = 0; il < spec.n_layer; ++il) {
    const std::string p = fmt::format("blk.{}.", il);
    SOBRE_RETURN_IF_ERROR(matrix(p + "attn_q.weight", e, spec.n_head * head_dim, 2.0f));
    SOBRE_RETURN_IF_ERROR(matrix(p + "attn_k.weight", e, kv, 2.0f));
    SOBRE_RETURN_IF_ERROR(matrix(p + "attn_v.weight", e, kv));
    SOBRE_RETURN_IF_ERROR(matrix(p + "attn_output.weight", spec.n_head * head_dim, e));
    SOBRE_RETURN_IF_ERROR(matrix(p + "ffn_up.weight", e, spec.n_ff));
    SOBRE_RETURN_IF_ERROR(matrix(p + "ffn_down.weight", spec.n_ff, e));
    if (bert || a == "qwen2") {
      SOBRE_RETURN_IF_ERROR(bias(p + "attn_q.bias", spec.n_head * head_dim, 0.5f));
      SOBRE_RETURN_IF_ERROR(bias(p + "attn_k.bias", kv, 0.5f));
      SOBRE_RETURN_IF_ERROR(bias(p + "attn_v.bias", kv));
    }
    if (bert) {
      SOBRE_RETURN_IF_ERROR(bias(p + "attn_output.bias", e));
      SOBRE_RETURN_IF_ERROR(gains(p + "attn_output_norm.weight", e));
      SOBRE_RETURN_IF_ERROR(bias(p + "attn_output_norm.bias", e));
      SOBRE_RETURN_IF_ERROR(bias(p + "ffn_up.bias", spec.n_ff));
      SOBRE_RETURN_IF_ERROR(bias(p + "ffn_down.bias", e));
      SOBRE_RETURN_IF_ERROR(gains(p + "layer_output_norm.weight", e));
      SOBRE_RETURN_IF_ERROR(bias(p + "layer_output_norm.bias", e));
    } else {
      SOBRE_RETURN_IF_ERROR(gains(p + "attn_norm.weight", e));
      SOBRE_RETURN_IF_ERROR(gains(p + "ffn_norm.weight", e));
      SOBRE_RETURN_IF_ERROR(matrix(p + "ffn_gate.weight", e, spec.n_ff));
    }
  }
  return w.WriteFile(path);
}

}  // namespace sobre::engine::testing

#endif  // SOBRE_TESTS_ENGINE_MODEL_TEST_MODEL_MAKER_H_
