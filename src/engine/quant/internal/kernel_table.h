// The per-ISA table of kernel function pointers behind kernels.h and quant.h. Each ISA's table is
// defined in its own translation unit (kernels_ref.cc, kernels_avx2.cc, kernels_avx512.cc); only
// the SIMD units are compiled with SIMD flags, and they are reached only through these pointers
// after the CPU was checked.
#ifndef SOBRE_ENGINE_QUANT_INTERNAL_KERNEL_TABLE_H_
#define SOBRE_ENGINE_QUANT_INTERNAL_KERNEL_TABLE_H_

#include <cstddef>
#include <cstdint>

namespace sobre::engine::internal {

// Weight types with kernels, as dense indices into KernelTable arrays.
enum WeightSlot : int {
  kSlotF32 = 0,
  kSlotF16,
  kSlotBf16,
  kSlotQ8_0,
  kSlotQ4_0,
  kSlotQ4_1,
  kSlotQ5_0,
  kSlotQ5_1,
  kSlotQ4_K,
  kSlotQ5_K,
  kSlotQ6_K,
  kNumWeightSlots,
};

// Activation formats, as dense indices.
enum ActSlot : int { kActF32 = 0, kActQ8_0, kActQ8_1, kActQ8_K, kNumActSlots };

// Dot product of one weight row of n values with one prepared activation vector.
using VecDotFn = float (*)(size_t n, const uint8_t* row, const uint8_t* act);

// Dot products of one weight row with n_cols activation vectors (column c at act + c * act_stride),
// written to y[c * y_stride].
using MultiDotFn = void (*)(size_t n, const uint8_t* row, const uint8_t* act, size_t act_stride,
                            size_t n_cols, float* y, size_t y_stride);

// Prepares n floats as activations (n a multiple of the format's block size).
using QuantizeActFn = void (*)(const float* x, size_t n, uint8_t* out);

// One ISA's kernels. A null multi_dot means "call vec_dot once per column"; a null entry in
// quantize_act means "use the reference quantiser".
struct KernelTable {
  VecDotFn vec_dot[kNumWeightSlots] = {};
  MultiDotFn multi_dot[kNumWeightSlots] = {};
  QuantizeActFn quantize_act[kNumActSlots] = {};
};

// The plain C++ kernels (complete: every entry set).
const KernelTable& ReferenceKernels();

// The AVX2 (+FMA, F16C) and AVX-512 (F/BW/VL/VNNI) tables; entries left null fall back to the next
// lower ISA. Calling any entry on a CPU without the ISA is undefined: callers check the CPU first.
const KernelTable& Avx2Kernels();
const KernelTable& Avx512Kernels();

// Byte sizes of one block of each format (ggml-common.h layouts, reference/engine.md §2.2).
inline constexpr size_t kQ8_0Bytes = 34;   // f16 d, int8 qs[32]
inline constexpr size_t kQ8_1Bytes = 36;   // f16 d, f16 s = d * sum(qs), int8 qs[32]
inline constexpr size_t kQ4_0Bytes = 18;   // f16 d, uint8 qs[16]
inline constexpr size_t kQ4_1Bytes = 20;   // f16 d, f16 m, uint8 qs[16]
inline constexpr size_t kQ5_0Bytes = 22;   // f16 d, uint8 qh[4], uint8 qs[16]
inline constexpr size_t kQ5_1Bytes = 24;   // f16 d, f16 m, uint8 qh[4], uint8 qs[16]
inline constexpr size_t kQ4_KBytes = 144;  // f16 d, f16 dmin, scales[12], qs[128]
inline constexpr size_t kQ5_KBytes = 176;  // f16 d, f16 dmin, scales[12], qh[32], qs[128]
inline constexpr size_t kQ6_KBytes = 210;  // ql[128], qh[64], int8 scales[16], f16 d
inline constexpr size_t kQ8_KBytes = 292;  // f32 d, int8 qs[256], int16 bsums[16]
inline constexpr size_t kQK = 32;          // values per block of the 32-value formats
inline constexpr size_t kQKK = 256;        // values per super-block of the K formats

}  // namespace sobre::engine::internal

#endif  // SOBRE_ENGINE_QUANT_INTERNAL_KERNEL_TABLE_H_
