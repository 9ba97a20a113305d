// Reference quantisers and dequantisers for the GGUF weight formats, and the activation entry
// points. Layouts follow ggml-common.h byte for byte (reference/engine.md §2.2); the quantisers
// are our own simple methods (documented per type), not llama.cpp's error-minimising searches.
#include "engine/quant/quant.h"

#include <cmath>
#include <cstring>
#include <string>

#include "engine/quant/internal/kernel_table.h"
#include "engine/quant/internal/scalar.h"

namespace sobre::engine {
namespace {

using internal::LoadF16;
using internal::LoadU16;
using internal::LoadU32;
using internal::NearestInt;
using internal::StoreU16;
using internal::StoreU32;

int Clamp(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// The value of largest magnitude, with its sign.
float SignedAbsMax(const float* x, size_t n) {
  float amax = 0.0f, max = 0.0f;
  for (size_t j = 0; j < n; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

// Q4_0 / Q5_0: d = (signed max) / -2^(bits-1) so the largest magnitude maps exactly to level 0,
// q = round(x / d) + 2^(bits-1) clamped to the levels. Returns d; fills q.
float QuantizeSymmetric(const float* x, int bits, int* q) {
  const int half = 1 << (bits - 1);
  const float d = SignedAbsMax(x, 32) / static_cast<float>(-half);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < 32; ++j) q[j] = Clamp(NearestInt(x[j] * id) + half, 0, 2 * half - 1);
  return d;
}

// Q4_1 / Q5_1: m = min, d = (max - min) / (2^bits - 1), q = round((x - m) / d).
void QuantizeAffine(const float* x, int bits, int* q, float* d_out, float* m_out) {
  float mn = x[0], mx = x[0];
  for (int j = 1; j < 32; ++j) {
    mn = std::fmin(mn, x[j]);
    mx = std::fmax(mx, x[j]);
  }
  const int levels = (1 << bits) - 1;
  const float d = (mx - mn) / static_cast<float>(levels);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < 32; ++j) q[j] = Clamp(NearestInt((x[j] - mn) * id), 0, levels);
  *d_out = d;
  *m_out = mn;
}

void PackNibbles(const int* q, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>((q[j] & 15) | ((q[j + 16] & 15) << 4));
}

uint32_t HighBits(const int* q) {
  uint32_t qh = 0;
  for (int j = 0; j < 32; ++j) qh |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
  return qh;
}

void QuantizeQ8_0(const float* x, size_t blocks, uint8_t* out) {
  internal::ReferenceKernels().quantize_act[internal::kActQ8_0](x, blocks * 32, out);
}

void QuantizeQ4_0(const float* x, size_t blocks, uint8_t* out) {
  int q[32];
  for (size_t b = 0; b < blocks; ++b, x += 32, out += internal::kQ4_0Bytes) {
    StoreU16(out, F32ToF16(QuantizeSymmetric(x, 4, q)));
    PackNibbles(q, out + 2);
  }
}

void QuantizeQ5_0(const float* x, size_t blocks, uint8_t* out) {
  int q[32];
  for (size_t b = 0; b < blocks; ++b, x += 32, out += internal::kQ5_0Bytes) {
    StoreU16(out, F32ToF16(QuantizeSymmetric(x, 5, q)));
    StoreU32(out + 2, HighBits(q));
    PackNibbles(q, out + 6);
  }
}

void QuantizeQ4_1(const float* x, size_t blocks, uint8_t* out) {
  int q[32];
  float d, m;
  for (size_t b = 0; b < blocks; ++b, x += 32, out += internal::kQ4_1Bytes) {
    QuantizeAffine(x, 4, q, &d, &m);
    StoreU16(out, F32ToF16(d));
    StoreU16(out + 2, F32ToF16(m));
    PackNibbles(q, out + 4);
  }
}

void QuantizeQ5_1(const float* x, size_t blocks, uint8_t* out) {
  int q[32];
  float d, m;
  for (size_t b = 0; b < blocks; ++b, x += 32, out += internal::kQ5_1Bytes) {
    QuantizeAffine(x, 5, q, &d, &m);
    StoreU16(out, F32ToF16(d));
    StoreU16(out + 2, F32ToF16(m));
    StoreU32(out + 4, HighBits(q));
    PackNibbles(q, out + 8);
  }
}

// Q4_K / Q5_K, min/max method: per sub-block of 32, offset = max(0, -min) and
// scale = (max + offset) / levels; the super-block d and dmin are the largest scale and offset
// over 63, the 6-bit sub-block factors are rounded against them, and every value is then
// quantised against the factors as stored (f16 d, dmin), so rounding of the scales is not
// compounded. Fills q (0..levels, element order), the packed scales, and returns d, dmin.
void QuantizeKBlock(const float* x, int levels, int* q, uint8_t* packed, uint16_t* d16,
                    uint16_t* dmin16) {
  float scale[8], offset[8];
  float max_scale = 0.0f, max_offset = 0.0f;
  for (int i = 0; i < 8; ++i) {
    float mn = x[32 * i], mx = x[32 * i];
    for (int l = 1; l < 32; ++l) {
      mn = std::fmin(mn, x[32 * i + l]);
      mx = std::fmax(mx, x[32 * i + l]);
    }
    offset[i] = mn < 0.0f ? -mn : 0.0f;
    scale[i] = (mx + offset[i]) / static_cast<float>(levels);
    max_scale = std::fmax(max_scale, scale[i]);
    max_offset = std::fmax(max_offset, offset[i]);
  }
  *d16 = F32ToF16(max_scale / 63.0f);
  *dmin16 = F32ToF16(max_offset / 63.0f);
  const float d = F16ToF32(*d16), dmin = F16ToF32(*dmin16);
  int sc[8], m[8];
  for (int i = 0; i < 8; ++i) {
    // Round the scale up so the sub-block range still fits in `levels` steps.
    sc[i] = d > 0.0f ? Clamp(static_cast<int>(std::ceil(scale[i] / d - 1e-4f)), 0, 63) : 0;
    m[i] = dmin > 0.0f ? Clamp(NearestInt(offset[i] / dmin), 0, 63) : 0;
    const float step = d * static_cast<float>(sc[i]);
    const float off = dmin * static_cast<float>(m[i]);
    const float inv = step > 0.0f ? 1.0f / step : 0.0f;
    for (int l = 0; l < 32; ++l) q[32 * i + l] = Clamp(NearestInt((x[32 * i + l] + off) * inv), 0, levels);
  }
  internal::PackScaleMinK(sc, m, packed);
}

void QuantizeQ4_K(const float* x, size_t blocks, uint8_t* out) {
  int q[256];
  for (size_t b = 0; b < blocks; ++b, x += 256, out += internal::kQ4_KBytes) {
    uint16_t d, dmin;
    QuantizeKBlock(x, 15, q, out + 4, &d, &dmin);
    StoreU16(out, d);
    StoreU16(out + 2, dmin);
    uint8_t* qs = out + 16;
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        qs[32 * c + l] = static_cast<uint8_t>(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
      }
    }
  }
}

void QuantizeQ5_K(const float* x, size_t blocks, uint8_t* out) {
  int q[256];
  for (size_t b = 0; b < blocks; ++b, x += 256, out += internal::kQ5_KBytes) {
    uint16_t d, dmin;
    QuantizeKBlock(x, 31, q, out + 4, &d, &dmin);
    StoreU16(out, d);
    StoreU16(out + 2, dmin);
    uint8_t* qh = out + 16;
    uint8_t* qs = out + 48;
    std::memset(qh, 0, 32);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        const int lo = q[64 * c + l], hi = q[64 * c + 32 + l];
        qs[32 * c + l] = static_cast<uint8_t>((lo & 15) | ((hi & 15) << 4));
        qh[l] = static_cast<uint8_t>(qh[l] | (((lo >> 4) & 1) << (2 * c)) | (((hi >> 4) & 1) << (2 * c + 1)));
      }
    }
  }
}

// Q6_K: per sub-block of 16, scale = (signed max) / -32 so the largest magnitude maps to -32;
// d = max|scale| / 127 and the int8 factors are rounded against it; values are then quantised
// against d * factor as stored.
void QuantizeQ6_K(const float* x, size_t blocks, uint8_t* out) {
  int q[256];
  for (size_t b = 0; b < blocks; ++b, x += 256, out += internal::kQ6_KBytes) {
    float scale[16];
    float max_abs_scale = 0.0f;
    for (int k = 0; k < 16; ++k) {
      scale[k] = SignedAbsMax(x + 16 * k, 16) / -32.0f;
      max_abs_scale = std::fmax(max_abs_scale, std::fabs(scale[k]));
    }
    const uint16_t d16 = F32ToF16(max_abs_scale / 127.0f);
    const float d = F16ToF32(d16);
    int8_t* scales = reinterpret_cast<int8_t*>(out + 192);
    for (int k = 0; k < 16; ++k) {
      const int factor = d > 0.0f ? Clamp(NearestInt(scale[k] / d), -128, 127) : 0;
      scales[k] = static_cast<int8_t>(factor);
      const float step = d * static_cast<float>(factor);
      const float inv = step != 0.0f ? 1.0f / step : 0.0f;
      for (int l = 0; l < 16; ++l) q[16 * k + l] = Clamp(NearestInt(x[16 * k + l] * inv) + 32, 0, 63);
    }
    StoreU16(out + 208, d16);
    for (int half = 0; half < 2; ++half) {
      uint8_t* ql = out + 64 * half;
      uint8_t* qh = out + 128 + 32 * half;
      const int* v = q + 128 * half;
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<uint8_t>((v[l] & 15) | ((v[l + 64] & 15) << 4));
        ql[l + 32] = static_cast<uint8_t>((v[l + 32] & 15) | ((v[l + 96] & 15) << 4));
        qh[l] = static_cast<uint8_t>((v[l] >> 4) | ((v[l + 32] >> 4) << 2) | ((v[l + 64] >> 4) << 4) |
                                     ((v[l + 96] >> 4) << 6));
      }
    }
  }
}

// --- dequantisers ---------------------------------------------------------------------------

void DequantizeNibbles(const uint8_t* qs, uint32_t qh, bool has_qh, float d, float m, int offset,
                       float* out) {
  for (int j = 0; j < 16; ++j) {
    int lo = qs[j] & 15, hi = qs[j] >> 4;
    if (has_qh) {
      lo |= static_cast<int>((qh >> j) & 1) << 4;
      hi |= static_cast<int>((qh >> (j + 16)) & 1) << 4;
    }
    out[j] = d * static_cast<float>(lo - offset) + m;
    out[j + 16] = d * static_cast<float>(hi - offset) + m;
  }
}

void DequantizeK(const uint8_t* w, bool five_bit, float* out) {
  const float d = LoadF16(w), dmin = LoadF16(w + 2);
  const uint8_t* scales = w + 4;
  const uint8_t* qh = w + 16;
  const uint8_t* qs = w + (five_bit ? 48 : 16);
  for (int c = 0; c < 4; ++c) {
    int sc_lo, m_lo, sc_hi, m_hi;
    internal::UnpackScaleMinK(scales, 2 * c, &sc_lo, &m_lo);
    internal::UnpackScaleMinK(scales, 2 * c + 1, &sc_hi, &m_hi);
    for (int l = 0; l < 32; ++l) {
      int lo = qs[32 * c + l] & 15, hi = qs[32 * c + l] >> 4;
      if (five_bit) {
        lo |= ((qh[l] >> (2 * c)) & 1) << 4;
        hi |= ((qh[l] >> (2 * c + 1)) & 1) << 4;
      }
      out[64 * c + l] = d * static_cast<float>(sc_lo * lo) - dmin * static_cast<float>(m_lo);
      out[64 * c + 32 + l] = d * static_cast<float>(sc_hi * hi) - dmin * static_cast<float>(m_hi);
    }
  }
}

void DequantizeQ6_K(const uint8_t* w, float* out) {
  const float d = LoadF16(w + 208);
  const int8_t* scales = reinterpret_cast<const int8_t*>(w + 192);
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = w + 64 * half;
    const uint8_t* qh = w + 128 + 32 * half;
    float* y = out + 128 * half;
    const int8_t* sc = scales + 8 * half;
    for (int l = 0; l < 32; ++l) {
      const int q1 = ((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      const int is = l / 16;
      y[l] = d * static_cast<float>(sc[is + 0] * q1);
      y[l + 32] = d * static_cast<float>(sc[is + 2] * q2);
      y[l + 64] = d * static_cast<float>(sc[is + 4] * q3);
      y[l + 96] = d * static_cast<float>(sc[is + 6] * q4);
    }
  }
}

}  // namespace

bool IsSupportedWeightType(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
      return true;
    case GgmlType::kQ8_1:
    case GgmlType::kQ8_K:
      return false;
  }
  return false;
}

Status QuantizeRow(GgmlType type, std::span<const float> x, std::span<uint8_t> out) {
  const GgmlTypeTraits& traits = TraitsOf(type);
  if (traits.type != type) {
    return InvalidArgumentError("quantize: unknown type id " + std::to_string(static_cast<uint32_t>(type)));
  }
  const size_t n = x.size();
  if (n % traits.block_elements != 0) {
    return InvalidArgumentError("quantize " + std::string(traits.name) + ": " + std::to_string(n) +
                                " values is not a multiple of the block size " +
                                std::to_string(traits.block_elements));
  }
  if (out.size() != RowBytes(type, n)) {
    return InvalidArgumentError("quantize " + std::string(traits.name) + ": output has " +
                                std::to_string(out.size()) + " bytes, " + std::to_string(n) +
                                " values need " + std::to_string(RowBytes(type, n)));
  }
  const size_t blocks = n / traits.block_elements;
  const float* in = x.data();
  uint8_t* dst = out.data();
  const internal::KernelTable& ref = internal::ReferenceKernels();
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(dst, in, n * sizeof(float));
      break;
    case GgmlType::kF16:
      for (size_t i = 0; i < n; ++i) StoreU16(dst + 2 * i, F32ToF16(in[i]));
      break;
    case GgmlType::kBF16:
      for (size_t i = 0; i < n; ++i) StoreU16(dst + 2 * i, F32ToBf16(in[i]));
      break;
    case GgmlType::kQ8_0:
      QuantizeQ8_0(in, blocks, dst);
      break;
    case GgmlType::kQ8_1:
      ref.quantize_act[internal::kActQ8_1](in, n, dst);
      break;
    case GgmlType::kQ8_K:
      ref.quantize_act[internal::kActQ8_K](in, n, dst);
      break;
    case GgmlType::kQ4_0:
      QuantizeQ4_0(in, blocks, dst);
      break;
    case GgmlType::kQ4_1:
      QuantizeQ4_1(in, blocks, dst);
      break;
    case GgmlType::kQ5_0:
      QuantizeQ5_0(in, blocks, dst);
      break;
    case GgmlType::kQ5_1:
      QuantizeQ5_1(in, blocks, dst);
      break;
    case GgmlType::kQ4_K:
      QuantizeQ4_K(in, blocks, dst);
      break;
    case GgmlType::kQ5_K:
      QuantizeQ5_K(in, blocks, dst);
      break;
    case GgmlType::kQ6_K:
      QuantizeQ6_K(in, blocks, dst);
      break;
  }
  return OkStatus();
}

void DequantizeRow(GgmlType type, const uint8_t* row, float* out, size_t n) {
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(out, row, n * sizeof(float));
      return;
    case GgmlType::kF16:
      for (size_t i = 0; i < n; ++i) out[i] = LoadF16(row + 2 * i);
      return;
    case GgmlType::kBF16:
      for (size_t i = 0; i < n; ++i) out[i] = Bf16ToF32(LoadU16(row + 2 * i));
      return;
    default:
      break;
  }
  const size_t block_elements = TraitsOf(type).block_elements;
  const size_t block_bytes = TraitsOf(type).block_bytes;
  for (size_t b = 0; b < n / block_elements; ++b) {
    const uint8_t* w = row + b * block_bytes;
    float* y = out + b * block_elements;
    switch (type) {
      case GgmlType::kQ8_0:
      case GgmlType::kQ8_1: {
        const size_t qs = type == GgmlType::kQ8_0 ? 2 : 4;
        const float d = LoadF16(w);
        for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(static_cast<int8_t>(w[qs + j]));
        break;
      }
      case GgmlType::kQ8_K: {
        const float d = internal::LoadF32(w);
        for (int j = 0; j < 256; ++j) y[j] = d * static_cast<float>(static_cast<int8_t>(w[4 + j]));
        break;
      }
      case GgmlType::kQ4_0:
        DequantizeNibbles(w + 2, 0, false, LoadF16(w), 0.0f, 8, y);
        break;
      case GgmlType::kQ4_1:
        DequantizeNibbles(w + 4, 0, false, LoadF16(w), LoadF16(w + 2), 0, y);
        break;
      case GgmlType::kQ5_0:
        DequantizeNibbles(w + 6, LoadU32(w + 2), true, LoadF16(w), 0.0f, 16, y);
        break;
      case GgmlType::kQ5_1:
        DequantizeNibbles(w + 8, LoadU32(w + 4), true, LoadF16(w), LoadF16(w + 2), 0, y);
        break;
      case GgmlType::kQ4_K:
        DequantizeK(w, false, y);
        break;
      case GgmlType::kQ5_K:
        DequantizeK(w, true, y);
        break;
      case GgmlType::kQ6_K:
        DequantizeQ6_K(w, y);
        break;
      default:
        break;
    }
  }
}

GgmlType ActivationTypeFor(GgmlType weight) {
  switch (weight) {
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_0:
    case GgmlType::kQ5_0:
      return GgmlType::kQ8_0;
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_1:
      return GgmlType::kQ8_1;
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
      return GgmlType::kQ8_K;
    default:
      return GgmlType::kF32;
  }
}

size_t ActivationBytes(GgmlType weight, size_t n) { return RowBytes(ActivationTypeFor(weight), n); }

}  // namespace sobre::engine
