// Element-wise ops in f32 (accumulations in double where a sum runs over a whole row) and the
// row-chunked matrix product.
#include "engine/model/internal/ops.h"

#include <algorithm>
#include <cmath>

#include "engine/quant/kernels.h"
#include "engine/quant/quant.h"

namespace sobre::engine::internal {

void RmsNorm(const float* x, const float* w, int n, float eps, float* out) {
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(sum / n + eps));
  for (int i = 0; i < n; ++i) out[i] = x[i] * scale * w[i];
}

void LayerNorm(const float* x, const float* w, const float* b, int n, float eps, float* out) {
  double mean = 0;
  for (int i = 0; i < n; ++i) mean += x[i];
  mean /= n;
  double var = 0;
  for (int i = 0; i < n; ++i) {
    const double d = x[i] - mean;
    var += d * d;
  }
  var /= n;
  const double scale = 1.0 / std::sqrt(var + eps);
  for (int i = 0; i < n; ++i) {
    out[i] = static_cast<float>((x[i] - mean) * scale) * w[i] + b[i];
  }
}

void Softmax(float* x, int n) {
  float max = x[0];
  for (int i = 1; i < n; ++i) max = std::max(max, x[i]);
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int i = 0; i < n; ++i) x[i] *= inv;
}

float Silu(float z) { return z / (1.0f + std::exp(-z)); }

float GeluErf(float z) { return 0.5f * z * (1.0f + std::erf(z * 0.70710678118654752f)); }

void ApplyRope(float* v, int n_rot, RopeKind kind, const float* cos, const float* sin) {
  const int half = n_rot / 2;
  // kNorm rotates neighbours (2i, 2i+1); kNeox rotates (i, i + n_rot/2).
  const int step = kind == RopeKind::kNorm ? 2 : 1;
  const int offset = kind == RopeKind::kNorm ? 1 : half;
  for (int i = 0; i < half; ++i) {
    float* a = v + i * step;
    float* b = a + offset;
    const float x0 = *a;
    const float x1 = *b;
    *a = x0 * cos[i] - x1 * sin[i];
    *b = x0 * sin[i] + x1 * cos[i];
  }
}

std::vector<double> RopeInverseFrequencies(const ModelHparams& hp,
                                           const std::vector<float>& rope_freqs) {
  std::vector<double> inv(static_cast<size_t>(hp.n_rot / 2));
  for (size_t i = 0; i < inv.size(); ++i) {
    double f = std::pow(static_cast<double>(hp.rope_base),
                        -2.0 * static_cast<double>(i) / hp.n_rot) *
               hp.rope_freq_scale;
    if (!rope_freqs.empty()) f /= rope_freqs[i];
    inv[i] = f;
  }
  return inv;
}

size_t MaxActivationBytes(const std::vector<const WeightMatrix*>& matrices, int n_rows) {
  size_t best = 0;
  for (const WeightMatrix* m : matrices) {
    if (m == nullptr || !*m) continue;
    best = std::max(best, ActivationBytes(m->type, static_cast<size_t>(m->cols)));
  }
  return best * static_cast<size_t>(n_rows);
}

MatMul::MatMul(ThreadPool& pool, size_t activation_capacity_bytes)
    : pool_(pool), act_(activation_capacity_bytes) {}

void MatMul::SetInput(const float* x, int n_rows, int64_t cols, size_t x_stride) {
  x_ = x;
  n_rows_ = n_rows;
  cols_ = cols;
  x_stride_ = x_stride;
  prepared_.reset();
}

void MatMul::Multiply(const WeightMatrix& w, float* y, size_t y_stride) {
  const GgmlType act_type = ActivationTypeFor(w.type);
  const size_t n = static_cast<size_t>(cols_);
  if (!prepared_ || *prepared_ != act_type) {
    // Quantise (or copy) every input row once; rows are independent, so threads take rows.
    act_stride_ = ActivationBytes(w.type, n);
    pool_.ParallelFor(n_rows_, [&](int t, int) {
      QuantizeActivations(w.type, x_ + static_cast<size_t>(t) * x_stride_, n,
                          act_.data() + static_cast<size_t>(t) * act_stride_);
    });
    prepared_ = act_type;
  }
  // Output rows in chunks: enough chunks for the atomic counter to balance uneven threads, each
  // big enough that the per-chunk overhead stays small.
  const int64_t rows = w.rows;
  const int64_t target_chunks = static_cast<int64_t>(pool_.size()) * 4;
  int64_t chunk_rows = std::max<int64_t>(16, (rows + target_chunks - 1) / target_chunks);
  chunk_rows = (chunk_rows + 7) / 8 * 8;
  const int n_chunks = static_cast<int>((rows + chunk_rows - 1) / chunk_rows);
  const uint8_t* act = act_.data();
  const int n_rows = n_rows_;
  const size_t act_stride = act_stride_;
  pool_.ParallelFor(n_chunks, [&](int chunk, int) {
    const size_t begin = static_cast<size_t>(chunk) * static_cast<size_t>(chunk_rows);
    const size_t end = std::min(static_cast<size_t>(rows), begin + static_cast<size_t>(chunk_rows));
    if (n_rows == 1) {
      MatVecRows(w.type, w.data, n, begin, end, act, y);
    } else {
      MatMulRows(w.type, w.data, n, begin, end, act, act_stride, static_cast<size_t>(n_rows), y,
                 y_stride);
    }
  });
}

}  // namespace sobre::engine::internal
