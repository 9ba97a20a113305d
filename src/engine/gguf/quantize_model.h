// Converting a whole GGUF model to another weight type (`sobre model quantize`).
#ifndef SOBRE_ENGINE_GGUF_QUANTIZE_MODEL_H_
#define SOBRE_ENGINE_GGUF_QUANTIZE_MODEL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/ggml_type.h"
#include "engine/gguf/gguf_file.h"

namespace sobre::engine {

struct QuantizeModelOptions {
  GgmlType type = GgmlType::kQ8_0;  // target type of the 2-D (and higher) weights
  // Called before each tensor is processed with its index, the tensor count and the tensor;
  // default none.
  std::function<void(size_t index, size_t count, const GgufTensorInfo& tensor)> progress;
};

// What happened to one tensor.
struct QuantizedTensor {
  std::string name;
  GgmlType from = GgmlType::kF32;
  GgmlType to = GgmlType::kF32;
  enum class Action { kConverted, kFellBack, kCopied } action = Action::kCopied;
};

struct QuantizeModelReport {
  std::vector<QuantizedTensor> tensors;
  uint64_t bytes_in = 0;   // size of the input file
  uint64_t bytes_out = 0;  // size of the written file
};

// Writes `in` to `out_path` (atomically) with every F32/F16/BF16 tensor of two or more dimensions
// converted to `options.type` (or its §2.5 fallback when rows do not divide into blocks), 1-D
// tensors and already-quantised tensors copied as they are, and all metadata copied with
// general.file_type (and general.quantization_version for quantised types) updated.
// InvalidArgument when the type cannot be written.
StatusOr<QuantizeModelReport> QuantizeModel(const GgufFile& in, const std::string& out_path,
                                            const QuantizeModelOptions& options);

}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_GGUF_QUANTIZE_MODEL_H_
