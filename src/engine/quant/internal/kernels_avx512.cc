// The AVX-512 (F/BW/VL/VNNI) kernels: the shared 256-bit kernels with VNNI dpbusd/dpwssd, more
// columns per batched pass (32 vector registers), and 512-bit float dot products. This unit alone
// is compiled with these flags; its table is only reached after kernels.cc checked the CPU.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "engine/quant/internal/kernel_table.h"

#define SOBRE_X86_VNNI 1
#define SOBRE_X86_MAX_COLS 8

namespace sobre::engine::internal {
namespace {
#include "engine/quant/internal/kernels_x86.inc"
}  // namespace

const KernelTable& Avx512Kernels() {
  static const KernelTable table = MakeX86Table();
  return table;
}

}  // namespace sobre::engine::internal
