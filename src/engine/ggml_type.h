// The tensor element types a GGUF file can hold (ggml's type ids) and their block geometry.
// Ids and sizes follow ggml-common.h (reference/engine.md §2.1); every reader and kernel in the
// engine dispatches on these values.
#ifndef SOBRE_ENGINE_GGML_TYPE_H_
#define SOBRE_ENGINE_GGML_TYPE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sobre::engine {

// ggml type ids as stored in GGUF tensor infos. Only the types sobre reads or computes with are
// named; any other id is refused by the reader with its number.
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,  // activations only, never stored in files
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,  // activations only, never stored in files
  kBF16 = 30,
};

// Geometry of one type: `block_elements` values are stored in `block_bytes` bytes.
struct GgmlTypeTraits {
  GgmlType type;
  std::string_view name;  // as llama.cpp tools print it: "F32", "Q4_K", ...
  uint32_t block_elements;
  uint32_t block_bytes;
  bool storable;  // false for activation-only types (Q8_1, Q8_K)
};

inline constexpr GgmlTypeTraits kGgmlTypes[] = {
    {GgmlType::kF32, "F32", 1, 4, true},       {GgmlType::kF16, "F16", 1, 2, true},
    {GgmlType::kQ4_0, "Q4_0", 32, 18, true},   {GgmlType::kQ4_1, "Q4_1", 32, 20, true},
    {GgmlType::kQ5_0, "Q5_0", 32, 22, true},   {GgmlType::kQ5_1, "Q5_1", 32, 24, true},
    {GgmlType::kQ8_0, "Q8_0", 32, 34, true},   {GgmlType::kQ8_1, "Q8_1", 32, 36, false},
    {GgmlType::kQ4_K, "Q4_K", 256, 144, true}, {GgmlType::kQ5_K, "Q5_K", 256, 176, true},
    {GgmlType::kQ6_K, "Q6_K", 256, 210, true}, {GgmlType::kQ8_K, "Q8_K", 256, 292, false},
    {GgmlType::kBF16, "BF16", 1, 2, true},
};

// Traits of a raw type id, or nullopt when sobre does not support it.
constexpr std::optional<GgmlTypeTraits> FindGgmlType(uint32_t id) {
  for (const GgmlTypeTraits& t : kGgmlTypes) {
    if (static_cast<uint32_t>(t.type) == id) return t;
  }
  return std::nullopt;
}

// Traits of a named type (always found: every enumerator is in the table).
constexpr const GgmlTypeTraits& TraitsOf(GgmlType type) {
  for (const GgmlTypeTraits& t : kGgmlTypes) {
    if (t.type == type) return t;
  }
  return kGgmlTypes[0];  // unreachable for valid enumerators
}

// Type from its name, case-insensitive ("q4_k", "Q8_0", "bf16"); nullopt when unknown.
std::optional<GgmlType> ParseGgmlType(std::string_view name);

// Bytes taken by one row of `elements` values; the caller checks `elements` is a multiple of the
// block size.
constexpr size_t RowBytes(GgmlType type, size_t elements) {
  const GgmlTypeTraits& t = TraitsOf(type);
  return elements / t.block_elements * t.block_bytes;
}

}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_GGML_TYPE_H_
