// Type choice and whole-tensor conversion on top of the quant part's row quantisers.
#include "engine/gguf/weight_types.h"

#include <fmt/core.h>

#include "engine/quant/quant.h"

namespace sobre::engine {

bool IsWritableWeightType(GgmlType type) { return IsSupportedWeightType(type); }

GgmlType ChooseWeightType(GgmlType wanted, uint64_t row_length) {
  GgmlType type = wanted;
  if (row_length % TraitsOf(type).block_elements != 0) {
    switch (type) {
      case GgmlType::kQ4_K: type = GgmlType::kQ5_0; break;
      case GgmlType::kQ5_K: type = GgmlType::kQ5_1; break;
      case GgmlType::kQ6_K: type = GgmlType::kQ8_0; break;
      default: type = GgmlType::kF16; break;
    }
  }
  if (row_length % TraitsOf(type).block_elements != 0) type = GgmlType::kF16;
  return type;
}

uint32_t FileTypeFor(GgmlType type) {
  switch (type) {
    case GgmlType::kF32: return 0;
    case GgmlType::kF16: return 1;
    case GgmlType::kQ4_0: return 2;
    case GgmlType::kQ4_1: return 3;
    case GgmlType::kQ8_0: return 7;
    case GgmlType::kQ5_0: return 8;
    case GgmlType::kQ5_1: return 9;
    case GgmlType::kQ4_K: return 14;  // Q4_K_S
    case GgmlType::kQ5_K: return 16;  // Q5_K_S
    case GgmlType::kQ6_K: return 18;
    case GgmlType::kBF16: return 32;
    default: return 0;
  }
}

StatusOr<std::vector<uint8_t>> EncodeRows(GgmlType type, std::span<const float> x,
                                          uint64_t row_length) {
  const GgmlTypeTraits& traits = TraitsOf(type);
  if (row_length == 0 || row_length % traits.block_elements != 0 || x.size() % row_length != 0) {
    return InvalidArgumentError(fmt::format("cannot encode {} values in rows of {} as {}",
                                            x.size(), row_length, traits.name));
  }
  const uint64_t rows = x.size() / row_length;
  const size_t row_bytes = RowBytes(type, row_length);
  std::vector<uint8_t> out(rows * row_bytes);
  for (uint64_t r = 0; r < rows; ++r) {
    SOBRE_RETURN_IF_ERROR(QuantizeRow(type, x.subspan(r * row_length, row_length),
                                      std::span<uint8_t>(out.data() + r * row_bytes, row_bytes)));
  }
  return out;
}

std::vector<float> DecodeAll(GgmlType type, const uint8_t* data, uint64_t elements) {
  std::vector<float> out(elements);
  if (elements > 0) DequantizeRow(type, data, out.data(), elements);
  return out;
}

}  // namespace sobre::engine
