// Dot products of float and IEEE half-precision vectors for the semantic index, and conversions
// between the two, with AVX2+FMA(+F16C) and AVX-512 versions compiled through function target
// attributes and chosen at run time from cpuid, so that the project needs no -m flags and the
// binary still runs on any x86-64 (or other) CPU.
// Header-only because the cache module's source list belongs to another part; include it from
// few files (semantic_index.cc and its test).
#ifndef SOBRE_CACHE_INTERNAL_DOT_H_
#define SOBRE_CACHE_INTERNAL_DOT_H_

#include <bit>
#include <cstddef>
#include <cstdint>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SOBRE_DOT_X86 1
#endif

namespace sobre::cache::internal {

// The dot product of a[0, n) and b[0, n); any alignment.
using DotFn = float (*)(const float* a, const float* b, size_t n);

enum class DotKernel { kPlain, kAvx2, kAvx512 };

// Portable version: eight independent partial sums, which compilers vectorise with SSE.
inline float DotPlain(const float* a, const float* b, size_t n) {
  float sum[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (size_t j = 0; j < 8; ++j) sum[j] += a[i + j] * b[i + j];
  }
  float total = 0;
  for (; i < n; ++i) total += a[i] * b[i];
  for (float s : sum) total += s;
  return total;
}

#ifdef SOBRE_DOT_X86

// Four independent accumulators hide the FMA latency (4 cycles, 2 per cycle on recent cores).
__attribute__((target("avx2,fma"))) inline float DotAvx2(const float* a, const float* b, size_t n) {
  __m256 s0 = _mm256_setzero_ps();
  __m256 s1 = _mm256_setzero_ps();
  __m256 s2 = _mm256_setzero_ps();
  __m256 s3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  float total = _mm_cvtss_f32(h);
  for (; i < n; ++i) total += a[i] * b[i];
  return total;
}

__attribute__((target("avx512f"))) inline float DotAvx512(const float* a, const float* b,
                                                          size_t n) {
  __m512 s0 = _mm512_setzero_ps();
  __m512 s1 = _mm512_setzero_ps();
  __m512 s2 = _mm512_setzero_ps();
  __m512 s3 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
    s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
  }
  for (; i + 16 <= n; i += 16) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
  }
  if (i < n) {
    // Masked loads read only the n - i remaining floats: no access past either vector.
    __mmask16 tail = static_cast<__mmask16>((1u << (n - i)) - 1);
    s1 =
        _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, a + i), _mm512_maskz_loadu_ps(tail, b + i), s1);
  }
  // Folded by hand: GCC 12's _mm512_reduce_add_ps trips -Wuninitialized in its own header.
  __m512 s = _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3));
  // (Its cast and unmasked extract do too; the zero-masked extract does not.)
  const __mmask8 all = static_cast<__mmask8>(0xff);
  __m256 lo = _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(all, _mm512_castps_pd(s), 0));
  __m256 hi = _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(all, _mm512_castps_pd(s), 1));
  __m256 h8 = _mm256_add_ps(lo, hi);
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(h8), _mm256_extractf128_ps(h8, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

#endif  // SOBRE_DOT_X86

// --- Half precision (IEEE 754 binary16) -----------------------------------------------------

// `f` rounded to the nearest half (ties to even); overflow gives infinity, NaN stays NaN.
inline uint16_t FloatToHalf(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u)
    return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0));
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // Rounds past 65504.
  if (abs >= 0x38800000u) {
    // Normal: rebias the exponent (127 -> 15), then round the 13 dropped mantissa bits; a carry
    // out of the mantissa correctly bumps the exponent.
    uint32_t r = abs - 0x38000000u;
    r += 0xfffu + ((r >> 13) & 1u);
    return static_cast<uint16_t>(sign | (r >> 13));
  }
  if (abs <= 0x33000000u) return static_cast<uint16_t>(sign);  // At most 2^-25: rounds to zero.
  // Subnormal half: a count of 2^-24 units.
  uint32_t exponent = abs >> 23;
  uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
  uint32_t shift = 126 - exponent;  // 14 to 24.
  uint32_t q = mantissa >> shift;
  uint32_t rest = mantissa & ((1u << shift) - 1);
  uint32_t tie = 1u << (shift - 1);
  if (rest > tie || (rest == tie && (q & 1u))) ++q;
  return static_cast<uint16_t>(sign | q);
}

// The float equal to half `h` (every half is exactly a float).
inline float HalfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0)
    return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
  float magnitude = static_cast<float>(mantissa) * 0x1p-24f;  // Zero or subnormal.
  return sign != 0 ? -magnitude : magnitude;
}

// The dot product of halves a[0, n) and b[0, n), accumulated in float.
using DotHalfFn = float (*)(const uint16_t* a, const uint16_t* b, size_t n);

inline float DotHalfPlain(const uint16_t* a, const uint16_t* b, size_t n) {
  float sum[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (size_t j = 0; j < 8; ++j) sum[j] += HalfToFloat(a[i + j]) * HalfToFloat(b[i + j]);
  }
  float total = 0;
  for (; i < n; ++i) total += HalfToFloat(a[i]) * HalfToFloat(b[i]);
  for (float s : sum) total += s;
  return total;
}

#ifdef SOBRE_DOT_X86

// Eight halves from `p` as floats (a lambda would not inherit the target).
__attribute__((target("avx2,fma,f16c"))) inline __m256 LoadHalves8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

__attribute__((target("avx2,fma,f16c"))) inline float DotHalfAvx2(const uint16_t* a,
                                                                  const uint16_t* b, size_t n) {
  auto load = &LoadHalves8;
  __m256 s0 = _mm256_setzero_ps();
  __m256 s1 = _mm256_setzero_ps();
  __m256 s2 = _mm256_setzero_ps();
  __m256 s3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(load(a + i), load(b + i), s0);
    s1 = _mm256_fmadd_ps(load(a + i + 8), load(b + i + 8), s1);
    s2 = _mm256_fmadd_ps(load(a + i + 16), load(b + i + 16), s2);
    s3 = _mm256_fmadd_ps(load(a + i + 24), load(b + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(load(a + i), load(b + i), s0);
  __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  float total = _mm_cvtss_f32(h);
  for (; i < n; ++i) total += HalfToFloat(a[i]) * HalfToFloat(b[i]);
  return total;
}

__attribute__((target("avx512f"))) inline __m512 LoadHalves16(const uint16_t* p) {
  // Zero-masked: the unmasked form trips GCC 12's -Wmaybe-uninitialized in its own header.
  return _mm512_maskz_cvtph_ps(static_cast<__mmask16>(0xffff),
                               _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

__attribute__((target("avx512f"))) inline float DotHalfAvx512(const uint16_t* a, const uint16_t* b,
                                                              size_t n) {
  auto load = &LoadHalves16;
  __m512 s0 = _mm512_setzero_ps();
  __m512 s1 = _mm512_setzero_ps();
  __m512 s2 = _mm512_setzero_ps();
  __m512 s3 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    s0 = _mm512_fmadd_ps(load(a + i), load(b + i), s0);
    s1 = _mm512_fmadd_ps(load(a + i + 16), load(b + i + 16), s1);
    s2 = _mm512_fmadd_ps(load(a + i + 32), load(b + i + 32), s2);
    s3 = _mm512_fmadd_ps(load(a + i + 48), load(b + i + 48), s3);
  }
  for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(load(a + i), load(b + i), s0);
  // Folded by hand, as in DotAvx512.
  __m512 s = _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3));
  const __mmask8 all = static_cast<__mmask8>(0xff);
  __m256 lo = _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(all, _mm512_castps_pd(s), 0));
  __m256 hi = _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(all, _mm512_castps_pd(s), 1));
  __m256 h8 = _mm256_add_ps(lo, hi);
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(h8), _mm256_extractf128_ps(h8, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  float total = _mm_cvtss_f32(h);
  for (; i < n; ++i) total += HalfToFloat(a[i]) * HalfToFloat(b[i]);
  return total;
}

#endif  // SOBRE_DOT_X86

// Whether this CPU (and its OS, for the wider registers) runs `kernel` (for halves too: the AVX2
// kernel also needs F16C, which every AVX2 CPU has).
inline bool DotKernelSupported(DotKernel kernel) {
  switch (kernel) {
    case DotKernel::kPlain:
      return true;
#ifdef SOBRE_DOT_X86
    case DotKernel::kAvx2:
      __builtin_cpu_init();  // Idempotent; needed when called before main (static init).
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c");
    case DotKernel::kAvx512:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx512f");
#else
    case DotKernel::kAvx2:
    case DotKernel::kAvx512:
      return false;
#endif
  }
  return false;
}

// The function of `kernel`; nullptr when this CPU cannot run it.
inline DotFn DotFor(DotKernel kernel) {
  if (!DotKernelSupported(kernel)) return nullptr;
  switch (kernel) {
    case DotKernel::kPlain:
      return &DotPlain;
#ifdef SOBRE_DOT_X86
    case DotKernel::kAvx2:
      return &DotAvx2;
    case DotKernel::kAvx512:
      return &DotAvx512;
#else
    case DotKernel::kAvx2:
    case DotKernel::kAvx512:
      return nullptr;
#endif
  }
  return nullptr;
}

// The half-precision function of `kernel`; nullptr when this CPU cannot run it.
inline DotHalfFn DotHalfFor(DotKernel kernel) {
  if (!DotKernelSupported(kernel)) return nullptr;
  switch (kernel) {
    case DotKernel::kPlain:
      return &DotHalfPlain;
#ifdef SOBRE_DOT_X86
    case DotKernel::kAvx2:
      return &DotHalfAvx2;
    case DotKernel::kAvx512:
      return &DotHalfAvx512;
#else
    case DotKernel::kAvx2:
    case DotKernel::kAvx512:
      return nullptr;
#endif
  }
  return nullptr;
}

// The widest kernel this CPU runs.
inline DotKernel BestDotKernel() {
  if (DotKernelSupported(DotKernel::kAvx512)) return DotKernel::kAvx512;
  if (DotKernelSupported(DotKernel::kAvx2)) return DotKernel::kAvx2;
  return DotKernel::kPlain;
}

// Name for logs and benchmark labels: "plain", "avx2" or "avx512".
inline const char* DotKernelName(DotKernel kernel) {
  switch (kernel) {
    case DotKernel::kPlain:
      return "plain";
    case DotKernel::kAvx2:
      return "avx2";
    case DotKernel::kAvx512:
      return "avx512";
  }
  return "?";
}

}  // namespace sobre::cache::internal

#endif  // SOBRE_CACHE_INTERNAL_DOT_H_
