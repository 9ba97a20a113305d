// Unaligned little-endian loads and stores and the K-quant scale unpacking, shared by the plain
// C++ units (quant.cc, kernels_ref.cc). Not for the SIMD units: an inline function compiled with
// SIMD flags could be the copy the linker keeps for generic callers.
#ifndef SOBRE_ENGINE_QUANT_INTERNAL_SCALAR_H_
#define SOBRE_ENGINE_QUANT_INTERNAL_SCALAR_H_

#include <cstdint>
#include <cstring>

#include "engine/quant/half.h"

namespace sobre::engine::internal {

inline uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline float LoadF32(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline int16_t LoadI16(const uint8_t* p) {
  int16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline float LoadF16(const uint8_t* p) { return F16ToF32(LoadU16(p)); }

inline void StoreU16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, sizeof(v)); }
inline void StoreU32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, sizeof(v)); }
inline void StoreF32(uint8_t* p, float v) { std::memcpy(p, &v, sizeof(v)); }
inline void StoreI16(uint8_t* p, int16_t v) { std::memcpy(p, &v, sizeof(v)); }

// Rounds to the nearest integer, ties to even (the SIMD quantisers round the same way).
int NearestInt(float x);

// The 6-bit scale and min of sub-block `i` (0..7) of a Q4_K/Q5_K super-block from its 12 packed
// scale bytes: sub-blocks 0..3 keep their low 6 bits in bytes i (scale) and i+4 (min); 4..7 keep
// their low 4 bits in the nibbles of byte i+4 and their top 2 bits in the top bits of bytes i-4
// (scale) and i (min).
inline void UnpackScaleMinK(const uint8_t* scales, int i, int* scale, int* min) {
  if (i < 4) {
    *scale = scales[i] & 63;
    *min = scales[i + 4] & 63;
  } else {
    *scale = (scales[i + 4] & 15) | ((scales[i - 4] >> 6) << 4);
    *min = (scales[i + 4] >> 4) | ((scales[i] >> 6) << 4);
  }
}

// Inverse of UnpackScaleMinK: packs eight 6-bit scales and mins into 12 bytes.
inline void PackScaleMinK(const int* scale, const int* min, uint8_t* scales) {
  for (int i = 0; i < 4; ++i) {
    scales[i] = static_cast<uint8_t>((scale[i] & 63) | ((scale[i + 4] >> 4) << 6));
    scales[i + 4] = static_cast<uint8_t>((min[i] & 63) | ((min[i + 4] >> 4) << 6));
    scales[i + 8] = static_cast<uint8_t>((scale[i + 4] & 15) | ((min[i + 4] & 15) << 4));
  }
}

}  // namespace sobre::engine::internal

#endif  // SOBRE_ENGINE_QUANT_INTERNAL_SCALAR_H_
