// Scalar conversions between f32 and the two 16-bit float formats GGUF files use: IEEE binary16
// (F16, also every block scale of the quantised types) and bfloat16 (BF16).
#ifndef SOBRE_ENGINE_QUANT_HALF_H_
#define SOBRE_ENGINE_QUANT_HALF_H_

#include <cstdint>

namespace sobre::engine {

// Exact widening of an IEEE binary16 bit pattern (subnormals, infinities and NaN included).
float F16ToF32(uint16_t h);

// Nearest binary16 to `f`, ties to even; overflow gives infinity, NaN stays a (quiet) NaN.
uint16_t F32ToF16(float f);

// Exact widening of a bfloat16 bit pattern (its bits are the top half of an f32).
float Bf16ToF32(uint16_t h);

// Nearest bfloat16 to `f`, ties to even; NaN stays a (quiet) NaN.
uint16_t F32ToBf16(float f);

}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_QUANT_HALF_H_
