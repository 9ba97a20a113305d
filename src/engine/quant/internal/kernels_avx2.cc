// The AVX2 + FMA + F16C kernels. This unit alone is compiled with those flags; its table is only
// reached after kernels.cc checked the CPU.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "engine/quant/internal/kernel_table.h"

#define SOBRE_X86_VNNI 0
#define SOBRE_X86_MAX_COLS 4

namespace sobre::engine::internal {
namespace {
#include "engine/quant/internal/kernels_x86.inc"
}  // namespace

const KernelTable& Avx2Kernels() {
  static const KernelTable table = MakeX86Table();
  return table;
}

}  // namespace sobre::engine::internal
