// The plain C++ kernels: activation quantisers and one dot product per weight type. They define
// the results the SIMD kernels must reproduce: integer sums per block are exact, so SIMD versions
// differ only in the order of the float additions.
#include <cmath>
#include <cstring>

#include "engine/quant/internal/kernel_table.h"
#include "engine/quant/internal/scalar.h"

namespace sobre::engine::internal {

int NearestInt(float x) { return static_cast<int>(std::nearbyint(x)); }

namespace {

// --- activation quantisers -----------------------------------------------------------------

void QuantizeActF32(const float* x, size_t n, uint8_t* out) { std::memcpy(out, x, n * sizeof(float)); }

// Q8_0: d = max|x| / 127 per 32 values, q = round(x / d); an all-zero block stores d = 0.
void QuantizeActQ8_0(const float* x, size_t n, uint8_t* out) {
  for (size_t b = 0; b < n / kQK; ++b, x += kQK, out += kQ8_0Bytes) {
    float amax = 0.0f;
    for (size_t j = 0; j < kQK; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    StoreU16(out, F32ToF16(d));
    for (size_t j = 0; j < kQK; ++j) out[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(NearestInt(x[j] * id)));
  }
}

// Q8_1: as Q8_0, plus s = d * sum(q) so that the +m term of Q4_1/Q5_1 costs one multiply.
void QuantizeActQ8_1(const float* x, size_t n, uint8_t* out) {
  for (size_t b = 0; b < n / kQK; ++b, x += kQK, out += kQ8_1Bytes) {
    float amax = 0.0f;
    for (size_t j = 0; j < kQK; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int sum = 0;
    for (size_t j = 0; j < kQK; ++j) {
      const int q = NearestInt(x[j] * id);
      out[4 + j] = static_cast<uint8_t>(static_cast<int8_t>(q));
      sum += q;
    }
    StoreU16(out, F32ToF16(d));
    StoreU16(out + 2, F32ToF16(d * static_cast<float>(sum)));
  }
}

// Q8_K: d = max|x| / 127 per 256 values as f32, q = round(x / d) clamped to +-127, and bsums[g]
// = the sum of the 16 quants of group g.
void QuantizeActQ8_K(const float* x, size_t n, uint8_t* out) {
  for (size_t b = 0; b < n / kQKK; ++b, x += kQKK, out += kQ8_KBytes) {
    float amax = 0.0f;
    for (size_t j = 0; j < kQKK; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float iscale = amax != 0.0f ? 127.0f / amax : 0.0f;
    StoreF32(out, amax != 0.0f ? 1.0f / iscale : 0.0f);
    int8_t* qs = reinterpret_cast<int8_t*>(out + 4);
    for (size_t j = 0; j < kQKK; ++j) {
      int q = NearestInt(iscale * x[j]);
      q = q > 127 ? 127 : (q < -127 ? -127 : q);
      qs[j] = static_cast<int8_t>(q);
    }
    for (size_t g = 0; g < 16; ++g) {
      int sum = 0;
      for (size_t j = 0; j < 16; ++j) sum += qs[g * 16 + j];
      StoreI16(out + 4 + kQKK + 2 * g, static_cast<int16_t>(sum));
    }
  }
}

// --- dot products ---------------------------------------------------------------------------

float DotF32(size_t n, const uint8_t* row, const uint8_t* act) {
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<double>(LoadF32(row + 4 * i)) * LoadF32(act + 4 * i);
  return static_cast<float>(sum);
}

float DotF16(size_t n, const uint8_t* row, const uint8_t* act) {
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<double>(LoadF16(row + 2 * i)) * LoadF32(act + 4 * i);
  return static_cast<float>(sum);
}

float DotBf16(size_t n, const uint8_t* row, const uint8_t* act) {
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    sum += static_cast<double>(Bf16ToF32(LoadU16(row + 2 * i))) * LoadF32(act + 4 * i);
  }
  return static_cast<float>(sum);
}

const int8_t* Qs8(const uint8_t* p) { return reinterpret_cast<const int8_t*>(p); }

float DotQ8_0(size_t n, const uint8_t* w, const uint8_t* a) {
  float sum = 0.0f;
  for (size_t b = 0; b < n / kQK; ++b, w += kQ8_0Bytes, a += kQ8_0Bytes) {
    int isum = 0;
    for (size_t j = 0; j < kQK; ++j) isum += Qs8(w + 2)[j] * Qs8(a + 2)[j];
    sum += LoadF16(w) * LoadF16(a) * static_cast<float>(isum);
  }
  return sum;
}

// Element j < 16 of a Q4 block is the low nibble of qs[j]; element j + 16 is its high nibble.
float DotQ4_0(size_t n, const uint8_t* w, const uint8_t* a) {
  float sum = 0.0f;
  for (size_t b = 0; b < n / kQK; ++b, w += kQ4_0Bytes, a += kQ8_0Bytes) {
    const uint8_t* qs = w + 2;
    const int8_t* qa = Qs8(a + 2);
    int isum = 0;
    for (size_t j = 0; j < 16; ++j) {
      isum += ((qs[j] & 15) - 8) * qa[j] + ((qs[j] >> 4) - 8) * qa[j + 16];
    }
    sum += LoadF16(w) * LoadF16(a) * static_cast<float>(isum);
  }
  return sum;
}

float DotQ4_1(size_t n, const uint8_t* w, const uint8_t* a) {
  float sum = 0.0f;
  for (size_t b = 0; b < n / kQK; ++b, w += kQ4_1Bytes, a += kQ8_1Bytes) {
    const uint8_t* qs = w + 4;
    const int8_t* qa = Qs8(a + 4);
    int isum = 0;
    for (size_t j = 0; j < 16; ++j) isum += (qs[j] & 15) * qa[j] + (qs[j] >> 4) * qa[j + 16];
    sum += LoadF16(w) * LoadF16(a) * static_cast<float>(isum) + LoadF16(w + 2) * LoadF16(a + 2);
  }
  return sum;
}

// The fifth bit of element j is bit j of the little-endian uint32 qh.
float DotQ5_0(size_t n, const uint8_t* w, const uint8_t* a) {
  float sum = 0.0f;
  for (size_t b = 0; b < n / kQK; ++b, w += kQ5_0Bytes, a += kQ8_0Bytes) {
    const uint32_t qh = LoadU32(w + 2);
    const uint8_t* qs = w + 6;
    const int8_t* qa = Qs8(a + 2);
    int isum = 0;
    for (size_t j = 0; j < 16; ++j) {
      const int lo = (qs[j] & 15) | (((qh >> j) & 1) << 4);
      const int hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      isum += (lo - 16) * qa[j] + (hi - 16) * qa[j + 16];
    }
    sum += LoadF16(w) * LoadF16(a) * static_cast<float>(isum);
  }
  return sum;
}

float DotQ5_1(size_t n, const uint8_t* w, const uint8_t* a) {
  float sum = 0.0f;
  for (size_t b = 0; b < n / kQK; ++b, w += kQ5_1Bytes, a += kQ8_1Bytes) {
    const uint32_t qh = LoadU32(w + 4);
    const uint8_t* qs = w + 8;
    const int8_t* qa = Qs8(a + 4);
    int isum = 0;
    for (size_t j = 0; j < 16; ++j) {
      const int lo = (qs[j] & 15) | (((qh >> j) & 1) << 4);
      const int hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      isum += lo * qa[j] + hi * qa[j + 16];
    }
    sum += LoadF16(w) * LoadF16(a) * static_cast<float>(isum) + LoadF16(w + 2) * LoadF16(a + 2);
  }
  return sum;
}

// Sum over sub-blocks of min_i * (bsum of its two 16-groups), for the -dmin term of Q4_K/Q5_K.
int MinsDotBsums(const uint8_t* scales, const uint8_t* q8k) {
  int total = 0;
  for (int i = 0; i < 8; ++i) {
    int sc, m;
    UnpackScaleMinK(scales, i, &sc, &m);
    total += m * (LoadI16(q8k + 4 + kQKK + 4 * i) + LoadI16(q8k + 4 + kQKK + 4 * i + 2));
  }
  return total;
}

// qs in 4 chunks of 32 bytes; chunk c holds sub-block 2c in the low nibbles, 2c+1 in the high.
float DotQ4_K(size_t n, const uint8_t* w, const uint8_t* a) {
  float sum = 0.0f;
  for (size_t b = 0; b < n / kQKK; ++b, w += kQ4_KBytes, a += kQ8_KBytes) {
    const uint8_t* scales = w + 4;
    const uint8_t* qs = w + 16;
    const int8_t* qa = Qs8(a + 4);
    int sumi = 0;
    for (int c = 0; c < 4; ++c) {
      int sc_lo, m_lo, sc_hi, m_hi;
      UnpackScaleMinK(scales, 2 * c, &sc_lo, &m_lo);
      UnpackScaleMinK(scales, 2 * c + 1, &sc_hi, &m_hi);
      int lo = 0, hi = 0;
      for (int l = 0; l < 32; ++l) {
        lo += (qs[32 * c + l] & 15) * qa[64 * c + l];
        hi += (qs[32 * c + l] >> 4) * qa[64 * c + 32 + l];
      }
      sumi += sc_lo * lo + sc_hi * hi;
    }
    const float da = LoadF32(a);
    sum += da * LoadF16(w) * static_cast<float>(sumi) -
           da * LoadF16(w + 2) * static_cast<float>(MinsDotBsums(scales, a));
  }
  return sum;
}

// As Q4_K; the fifth bit of chunk c's low-nibble values is bit 2c of qh[l], of its high-nibble
// values bit 2c+1.
float DotQ5_K(size_t n, const uint8_t* w, const uint8_t* a) {
  float sum = 0.0f;
  for (size_t b = 0; b < n / kQKK; ++b, w += kQ5_KBytes, a += kQ8_KBytes) {
    const uint8_t* scales = w + 4;
    const uint8_t* qh = w + 16;
    const uint8_t* qs = w + 48;
    const int8_t* qa = Qs8(a + 4);
    int sumi = 0;
    for (int c = 0; c < 4; ++c) {
      int sc_lo, m_lo, sc_hi, m_hi;
      UnpackScaleMinK(scales, 2 * c, &sc_lo, &m_lo);
      UnpackScaleMinK(scales, 2 * c + 1, &sc_hi, &m_hi);
      int lo = 0, hi = 0;
      for (int l = 0; l < 32; ++l) {
        const int q_lo = (qs[32 * c + l] & 15) | (((qh[l] >> (2 * c)) & 1) << 4);
        const int q_hi = (qs[32 * c + l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4);
        lo += q_lo * qa[64 * c + l];
        hi += q_hi * qa[64 * c + 32 + l];
      }
      sumi += sc_lo * lo + sc_hi * hi;
    }
    const float da = LoadF32(a);
    sum += da * LoadF16(w) * static_cast<float>(sumi) -
           da * LoadF16(w + 2) * static_cast<float>(MinsDotBsums(scales, a));
  }
  return sum;
}

// Decodes the 256 six-bit values of a Q6_K block (0..63, before the -32) in element order.
void UnpackQ6K(const uint8_t* w, int* q) {
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = w + 64 * half;
    const uint8_t* qh = w + 128 + 32 * half;
    int* out = q + 128 * half;
    for (int l = 0; l < 32; ++l) {
      out[l] = (ql[l] & 15) | (((qh[l] >> 0) & 3) << 4);
      out[l + 32] = (ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4);
      out[l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
      out[l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
    }
  }
}

float DotQ6_K(size_t n, const uint8_t* w, const uint8_t* a) {
  float sum = 0.0f;
  int q[kQKK];
  for (size_t b = 0; b < n / kQKK; ++b, w += kQ6_KBytes, a += kQ8_KBytes) {
    UnpackQ6K(w, q);
    const int8_t* scales = Qs8(w + 192);
    const int8_t* qa = Qs8(a + 4);
    int sumi = 0;
    for (int k = 0; k < 16; ++k) {
      int s = 0;
      for (int l = 0; l < 16; ++l) s += (q[16 * k + l] - 32) * qa[16 * k + l];
      sumi += scales[k] * s;
    }
    sum += LoadF32(a) * LoadF16(w + 208) * static_cast<float>(sumi);
  }
  return sum;
}

KernelTable MakeReferenceTable() {
  KernelTable t;
  t.vec_dot[kSlotF32] = DotF32;
  t.vec_dot[kSlotF16] = DotF16;
  t.vec_dot[kSlotBf16] = DotBf16;
  t.vec_dot[kSlotQ8_0] = DotQ8_0;
  t.vec_dot[kSlotQ4_0] = DotQ4_0;
  t.vec_dot[kSlotQ4_1] = DotQ4_1;
  t.vec_dot[kSlotQ5_0] = DotQ5_0;
  t.vec_dot[kSlotQ5_1] = DotQ5_1;
  t.vec_dot[kSlotQ4_K] = DotQ4_K;
  t.vec_dot[kSlotQ5_K] = DotQ5_K;
  t.vec_dot[kSlotQ6_K] = DotQ6_K;
  t.quantize_act[kActF32] = QuantizeActF32;
  t.quantize_act[kActQ8_0] = QuantizeActQ8_0;
  t.quantize_act[kActQ8_1] = QuantizeActQ8_1;
  t.quantize_act[kActQ8_K] = QuantizeActQ8_K;
  return t;
}

}  // namespace

const KernelTable& ReferenceKernels() {
  static const KernelTable table = MakeReferenceTable();
  return table;
}

}  // namespace sobre::engine::internal
