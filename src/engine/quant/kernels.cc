// Run-time dispatch: detects the CPU's ISA once (cpuid + xgetbv, so registers the OS does not
// save are never used), merges the per-ISA tables so that every entry is set, and routes the
// public calls through them. This unit is compiled without SIMD flags.
#include "engine/quant/kernels.h"

#include <cpuid.h>

#include <cstdlib>
#include <cstring>

#include "engine/quant/internal/kernel_table.h"
#include "engine/quant/quant.h"

namespace sobre::engine {
namespace {

using internal::KernelTable;

uint64_t ReadXcr0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

KernelIsa Detect() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return KernelIsa::kReference;
  const bool fma = ecx & (1u << 12), osxsave = ecx & (1u << 27), avx = ecx & (1u << 28),
             f16c = ecx & (1u << 29);
  if (!(fma && osxsave && avx && f16c)) return KernelIsa::kReference;
  const uint64_t xcr0 = ReadXcr0();
  if ((xcr0 & 0x6) != 0x6) return KernelIsa::kReference;  // XMM and YMM state saved by the OS
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return KernelIsa::kReference;
  const bool avx2 = ebx & (1u << 5);
  if (!avx2) return KernelIsa::kReference;
  const bool avx512f = ebx & (1u << 16), avx512bw = ebx & (1u << 30), avx512vl = ebx & (1u << 31),
             avx512vnni = ecx & (1u << 11);
  const bool zmm_saved = (xcr0 & 0xe6) == 0xe6;  // opmask, ZMM0-15 upper halves, ZMM16-31
  if (avx512f && avx512bw && avx512vl && avx512vnni && zmm_saved) return KernelIsa::kAvx512;
  return KernelIsa::kAvx2;
}

KernelIsa Lower(KernelIsa a, KernelIsa b) { return static_cast<int>(a) < static_cast<int>(b) ? a : b; }

// Every entry of `into` that is null is taken from `from`.
void FillFrom(KernelTable& into, const KernelTable& from) {
  for (int i = 0; i < internal::kNumWeightSlots; ++i) {
    if (into.vec_dot[i] == nullptr) into.vec_dot[i] = from.vec_dot[i];
    if (into.multi_dot[i] == nullptr) into.multi_dot[i] = from.multi_dot[i];
  }
  for (int i = 0; i < internal::kNumActSlots; ++i) {
    if (into.quantize_act[i] == nullptr) into.quantize_act[i] = from.quantize_act[i];
  }
}

struct Tables {
  KernelIsa detected = KernelIsa::kReference;
  KernelIsa best = KernelIsa::kReference;
  KernelTable by_isa[3];
};

// The SIMD tables are only touched (their function pointers only copied, never called) when the
// CPU has the ISA; an ISA the CPU lacks gets the merged table of the best one it has.
const Tables& GetTables() {
  static const Tables tables = [] {
    Tables t;
    t.detected = Detect();
    t.by_isa[0] = internal::ReferenceKernels();
    t.by_isa[1] = t.by_isa[0];
    t.by_isa[2] = t.by_isa[0];
    if (t.detected != KernelIsa::kReference) {
      t.by_isa[1] = internal::Avx2Kernels();
      FillFrom(t.by_isa[1], t.by_isa[0]);
      t.by_isa[2] = t.by_isa[1];
    }
    if (t.detected == KernelIsa::kAvx512) {
      t.by_isa[2] = internal::Avx512Kernels();
      FillFrom(t.by_isa[2], t.by_isa[1]);
    }
    t.best = t.detected;
    if (const char* env = std::getenv("SOBRE_KERNEL_ISA")) {
      if (std::strcmp(env, "reference") == 0) t.best = KernelIsa::kReference;
      if (std::strcmp(env, "avx2") == 0) t.best = Lower(t.detected, KernelIsa::kAvx2);
    }
    return t;
  }();
  return tables;
}

int Slot(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return internal::kSlotF32;
    case GgmlType::kF16:
      return internal::kSlotF16;
    case GgmlType::kBF16:
      return internal::kSlotBf16;
    case GgmlType::kQ8_0:
      return internal::kSlotQ8_0;
    case GgmlType::kQ4_0:
      return internal::kSlotQ4_0;
    case GgmlType::kQ4_1:
      return internal::kSlotQ4_1;
    case GgmlType::kQ5_0:
      return internal::kSlotQ5_0;
    case GgmlType::kQ5_1:
      return internal::kSlotQ5_1;
    case GgmlType::kQ4_K:
      return internal::kSlotQ4_K;
    case GgmlType::kQ5_K:
      return internal::kSlotQ5_K;
    case GgmlType::kQ6_K:
      return internal::kSlotQ6_K;
    case GgmlType::kQ8_1:
    case GgmlType::kQ8_K:
      break;
  }
  return -1;
}

int ActSlot(GgmlType weight) {
  switch (ActivationTypeFor(weight)) {
    case GgmlType::kQ8_0:
      return internal::kActQ8_0;
    case GgmlType::kQ8_1:
      return internal::kActQ8_1;
    case GgmlType::kQ8_K:
      return internal::kActQ8_K;
    default:
      return internal::kActF32;
  }
}

const KernelTable& TableFor(KernelIsa isa) {
  const Tables& t = GetTables();
  return t.by_isa[static_cast<int>(Lower(isa, t.detected))];
}

}  // namespace

KernelIsa DetectedIsa() { return GetTables().detected; }
KernelIsa BestIsa() { return GetTables().best; }
KernelIsa EffectiveIsa(KernelIsa isa) { return Lower(isa, GetTables().detected); }

std::string_view IsaName(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kReference:
      return "reference";
    case KernelIsa::kAvx2:
      return "avx2";
    case KernelIsa::kAvx512:
      return "avx512";
  }
  return "unknown";
}

float VecDot(GgmlType type, size_t n, const uint8_t* row, const uint8_t* act, KernelIsa isa) {
  const int slot = Slot(type);
  if (slot < 0) return 0.0f;
  return TableFor(isa).vec_dot[slot](n, row, act);
}

void MatVecRows(GgmlType type, const uint8_t* w, size_t n, size_t row_begin, size_t row_end,
                const uint8_t* act, float* y, KernelIsa isa) {
  const int slot = Slot(type);
  if (slot < 0) return;
  const internal::VecDotFn dot = TableFor(isa).vec_dot[slot];
  const size_t row_bytes = RowBytes(type, n);
  for (size_t r = row_begin; r < row_end; ++r) y[r] = dot(n, w + r * row_bytes, act);
}

void MatMulRows(GgmlType type, const uint8_t* w, size_t n, size_t row_begin, size_t row_end,
                const uint8_t* act, size_t act_stride_bytes, size_t n_cols, float* y,
                size_t y_stride, KernelIsa isa) {
  const int slot = Slot(type);
  if (slot < 0) return;
  const KernelTable& table = TableFor(isa);
  const size_t row_bytes = RowBytes(type, n);
  if (table.multi_dot[slot] != nullptr) {
    for (size_t r = row_begin; r < row_end; ++r) {
      table.multi_dot[slot](n, w + r * row_bytes, act, act_stride_bytes, n_cols, y + r, y_stride);
    }
    return;
  }
  // One row stays in L1 while it meets every column, so weights still stream from memory once.
  const internal::VecDotFn dot = table.vec_dot[slot];
  for (size_t r = row_begin; r < row_end; ++r) {
    for (size_t c = 0; c < n_cols; ++c) {
      y[c * y_stride + r] = dot(n, w + r * row_bytes, act + c * act_stride_bytes);
    }
  }
}

void QuantizeActivations(GgmlType weight, const float* x, size_t n, uint8_t* out, KernelIsa isa) {
  TableFor(isa).quantize_act[ActSlot(weight)](x, n, out);
}

}  // namespace sobre::engine
