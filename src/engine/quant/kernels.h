// Dot-product and matrix-vector kernels over quantised weight rows, with a plain reference
// implementation and AVX2 / AVX-512 versions chosen at run time from what the CPU and OS support.
//
// Threading is the caller's: every function works on a range of rows, is pure and thread-safe,
// and never allocates. Rows may start at any byte address (GGUF packs rows back to back).
#ifndef SOBRE_ENGINE_QUANT_KERNELS_H_
#define SOBRE_ENGINE_QUANT_KERNELS_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/ggml_type.h"

namespace sobre::engine {

// Instruction sets with their own kernels, from slowest to fastest.
// kAvx2 needs AVX2+FMA+F16C; kAvx512 needs AVX-512 F/BW/VL/VNNI (+FMA, F16C).
enum class KernelIsa { kReference = 0, kAvx2 = 1, kAvx512 = 2 };

// The best ISA this CPU and OS support (cpuid + xgetbv, computed once), lowered to the value of
// the environment variable SOBRE_KERNEL_ISA ("reference", "avx2", "avx512") when it is set.
KernelIsa BestIsa();

// The best ISA this CPU and OS support, ignoring SOBRE_KERNEL_ISA.
KernelIsa DetectedIsa();

// "reference", "avx2" or "avx512".
std::string_view IsaName(KernelIsa isa);

// The ISA that actually runs when `isa` is asked for: `isa` lowered to DetectedIsa().
KernelIsa EffectiveIsa(KernelIsa isa);

// Dot product of one weight row (n values of `type`, RowBytes(type, n) bytes at `row`) with an
// activation vector prepared by QuantizeActivations(type, ...). n is a multiple of the block size
// of `type`. An `isa` the CPU lacks falls back to the best one it has. A type that is not a
// supported weight type (IsSupportedWeightType in quant.h) gives 0 and computes nothing.
float VecDot(GgmlType type, size_t n, const uint8_t* row, const uint8_t* act,
             KernelIsa isa = BestIsa());

// y[r] = dot(row r, act) for r in [row_begin, row_end) of a row-major matrix whose rows are n
// values of `type` packed back to back from `w` (row r starts at w + r * RowBytes(type, n)).
// y is indexed by the absolute row, so threads splitting the rows share one `y`.
void MatVecRows(GgmlType type, const uint8_t* w, size_t n, size_t row_begin, size_t row_end,
                const uint8_t* act, float* y, KernelIsa isa = BestIsa());

// For n_cols prepared activation vectors (column c at act + c * act_stride_bytes):
// y[c * y_stride + r] = dot(row r, column c) for r in [row_begin, row_end).
// Each weight block is loaded once for all columns (Q8_0 and Q4_0 also decode it once).
void MatMulRows(GgmlType type, const uint8_t* w, size_t n, size_t row_begin, size_t row_end,
                const uint8_t* act, size_t act_stride_bytes, size_t n_cols, float* y,
                size_t y_stride, KernelIsa isa = BestIsa());

}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_QUANT_KERNELS_H_
