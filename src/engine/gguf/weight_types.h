// Which type a weight tensor is stored in when a whole model is converted to one type: the
// fallback rules of llama-quantize (reference/engine.md §2.5) and the matching general.file_type.
#ifndef SOBRE_ENGINE_GGUF_WEIGHT_TYPES_H_
#define SOBRE_ENGINE_GGUF_WEIGHT_TYPES_H_

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"
#include "engine/ggml_type.h"

namespace sobre::engine {

// The types `sobre model quantize` and `make-test` can write: F32, F16, BF16, Q8_0, Q4_0, Q4_1,
// Q5_0, Q5_1, Q4_K, Q5_K, Q6_K.
bool IsWritableWeightType(GgmlType type);

// The type a 2-D tensor with rows of `row_length` values gets when `wanted` is asked for:
// `wanted` when the row divides into its blocks; otherwise Q4_K -> Q5_0, Q5_K -> Q5_1,
// Q6_K -> Q8_0, and F16 when even that (or a 32-block type) does not divide.
GgmlType ChooseWeightType(GgmlType wanted, uint64_t row_length);

// llama.cpp's general.file_type ("mostly X") for a model converted to `type`; K types map to the
// _S variants (every tensor the same type), F32 to 0 (ALL_F32).
uint32_t FileTypeFor(GgmlType type);

// Encodes `rows` rows of `row_length` floats (row-major in `x`) as `type`. InvalidArgument when
// the row length does not divide into blocks or `x` has the wrong size.
StatusOr<std::vector<uint8_t>> EncodeRows(GgmlType type, std::span<const float> x,
                                          uint64_t row_length);

// Expands a whole tensor of `elements` values of `type` stored at `data` into floats.
// Precondition: `elements` is a multiple of the block size and `data` holds RowBytes of them.
std::vector<float> DecodeAll(GgmlType type, const uint8_t* data, uint64_t elements);

}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_GGUF_WEIGHT_TYPES_H_
