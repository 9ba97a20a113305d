// The weight and activation formats of ggml, bit-compatible with GGUF files
// (reference/engine.md §2.2): plain-C++ quantisers and dequantisers, and the activation
// quantisers that prepare a float vector for the integer dot-product kernels in kernels.h.
//
// All functions are pure and thread-safe; none allocates.
#ifndef SOBRE_ENGINE_QUANT_QUANT_H_
#define SOBRE_ENGINE_QUANT_QUANT_H_

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/status.h"
#include "engine/ggml_type.h"
#include "engine/quant/kernels.h"

namespace sobre::engine {

// True for the types this part quantises, dequantises and multiplies: F32, F16, BF16, Q8_0,
// Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K as weights (Q8_1 and Q8_K exist as activations only).
bool IsSupportedWeightType(GgmlType type);

// Quantises the floats `x` into `out` in the layout of `type` (any type of the table, activation
// types included). `x.size()` must be a multiple of the block size and `out.size()` must equal
// RowBytes(type, x.size()); otherwise InvalidArgument naming the type and sizes.
// K types use a min/max method per sub-block (not llama.cpp's iterative search), documented in
// quant.cc; non-finite inputs give unspecified (but memory-safe) blocks.
Status QuantizeRow(GgmlType type, std::span<const float> x, std::span<uint8_t> out);

// Expands `n` values (a multiple of the block size) of `type` stored at `row` (RowBytes(type, n)
// bytes, any alignment) into `out[0..n)`. Precondition: `type` is in the table.
void DequantizeRow(GgmlType type, const uint8_t* row, float* out, size_t n);

// The activation format a weight type is multiplied against: Q8_0 for Q8_0/Q4_0/Q5_0, Q8_1 for
// Q4_1/Q5_1, Q8_K for the K types, F32 for F32/F16/BF16.
GgmlType ActivationTypeFor(GgmlType weight);

// Bytes of the prepared activation vector of `n` values for weights of type `weight`
// (n a multiple of the weight's block size).
size_t ActivationBytes(GgmlType weight, size_t n);

// Prepares the activation vector `x[0..n)` for dot products with rows of `weight` into `out`
// (ActivationBytes(weight, n) bytes, any alignment). Uses the SIMD quantiser of `isa` when the CPU
// has it (the result is identical to the reference one up to ties in rounding).
void QuantizeActivations(GgmlType weight, const float* x, size_t n, uint8_t* out,
                         KernelIsa isa = BestIsa());

}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_QUANT_QUANT_H_
