// The element-wise building blocks of the forward passes (norms, activations, softmax, RoPE) and
// MatMul, which runs one weight matrix over a batch of activation rows on the thread pool through
// the quant part's kernels. Private to the model part.
#ifndef SOBRE_ENGINE_MODEL_INTERNAL_OPS_H_
#define SOBRE_ENGINE_MODEL_INTERNAL_OPS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "engine/ggml_type.h"
#include "engine/model/hparams.h"
#include "engine/model/model.h"
#include "engine/model/thread_pool.h"

namespace sobre::engine::internal {

// out = x / sqrt(mean(x^2) + eps) * w over n values (out may alias x).
void RmsNorm(const float* x, const float* w, int n, float eps, float* out);

// out = (x - mean) / sqrt(var + eps) * w + b with the population variance (out may alias x).
void LayerNorm(const float* x, const float* w, const float* b, int n, float eps, float* out);

// x = softmax(x), subtracting the maximum first.
void Softmax(float* x, int n);

// z / (1 + e^-z).
float Silu(float z);

// The exact GELU of HF BERT: 0.5 z (1 + erf(z / sqrt 2)).
float GeluErf(float z);

// Rotates the first n_rot dimensions of one head vector `v` by the angles whose cosines and sines
// are cos[i], sin[i] for pair i in [0, n_rot / 2); `kind` picks which dimensions form pair i.
void ApplyRope(float* v, int n_rot, RopeKind kind, const float* cos, const float* sin);

// The per-pair rotation speeds of RoPE: base^(-2i / n_rot) * freq_scale / rope_freqs[i].
std::vector<double> RopeInverseFrequencies(const ModelHparams& hp,
                                           const std::vector<float>& rope_freqs);

// Largest number of bytes the prepared activations of `n_rows` input rows take for any matrix
// in `matrices`.
size_t MaxActivationBytes(const std::vector<const WeightMatrix*>& matrices, int n_rows);

// Runs weight matrices over batches of activation rows. Holds the prepared (quantised)
// activations of the last input so that q, k and v, or gate and up, quantise their common input
// once. Scratch is allocated at construction; Multiply allocates nothing. Thread-compatible: used
// by the one thread that owns the context.
class MatMul {
 public:
  // `activation_capacity_bytes`: at least MaxActivationBytes over the matrices and row counts used.
  MatMul(ThreadPool& pool, size_t activation_capacity_bytes);

  // Sets the input for the following Multiply calls: n_rows rows of `cols` floats, row t at
  // x + t * x_stride. The floats must not change until the next SetInput.
  void SetInput(const float* x, int n_rows, int64_t cols, size_t x_stride);

  // y[t * y_stride + r] = dot(row r of w, input row t) for every row r of w and input row t.
  // Precondition: w.cols equals the input's `cols` (checked by Model's binding).
  void Multiply(const WeightMatrix& w, float* y, size_t y_stride);

 private:
  ThreadPool& pool_;
  std::vector<uint8_t> act_;
  const float* x_ = nullptr;
  int n_rows_ = 0;
  int64_t cols_ = 0;
  size_t x_stride_ = 0;
  std::optional<GgmlType> prepared_;  // activation type currently in act_
  size_t act_stride_ = 0;
};

}  // namespace sobre::engine::internal

#endif  // SOBRE_ENGINE_MODEL_INTERNAL_OPS_H_
