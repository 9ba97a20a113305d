// Whole-model conversion: metadata copied key by key, tensors decoded to floats row block by row
// block and re-encoded by the quant part.
#include "engine/gguf/quantize_model.h"

#include <sys/stat.h>

#include <algorithm>
#include <span>

#include <fmt/core.h>

#include "engine/gguf/gguf_writer.h"
#include "engine/gguf/weight_types.h"
#include "engine/quant/quant.h"

namespace sobre::engine {

StatusOr<QuantizeModelReport> QuantizeModel(const GgufFile& in, const std::string& out_path,
                                            const QuantizeModelOptions& options) {
  if (!IsWritableWeightType(options.type)) {
    return InvalidArgumentError(fmt::format("cannot quantize to {}", TraitsOf(options.type).name));
  }
  GgufWriter w;
  for (std::string_view key : in.Keys()) SOBRE_RETURN_IF_ERROR(w.CopyKey(in, key));
  w.SetUint32("general.file_type", FileTypeFor(options.type));
  const GgmlType t = options.type;
  if (t != GgmlType::kF32 && t != GgmlType::kF16 && t != GgmlType::kBF16) {
    w.SetUint32("general.quantization_version", 2);
  }

  QuantizeModelReport report;
  report.bytes_in = in.file_bytes();
  const std::vector<GgufTensorInfo>& tensors = in.tensors();
  for (size_t i = 0; i < tensors.size(); ++i) {
    const GgufTensorInfo& src = tensors[i];
    if (options.progress) options.progress(i, tensors.size(), src);
    QuantizedTensor q{src.name, src.type, src.type, QuantizedTensor::Action::kCopied};
    std::vector<uint64_t> dims(src.dims.begin(),
                               src.dims.begin() + std::max(1, src.n_dims));
    const bool is_float = src.type == GgmlType::kF32 || src.type == GgmlType::kF16 ||
                          src.type == GgmlType::kBF16;
    if (!is_float || src.n_dims < 2) {
      SOBRE_RETURN_IF_ERROR(
          w.AddTensor(src.name, src.type, dims,
                      std::vector<uint8_t>(src.data, src.data + src.size_bytes))
              .WithContext("copying tensor " + src.name));
    } else {
      q.to = ChooseWeightType(t, src.dims[0]);
      q.action = q.to == t ? QuantizedTensor::Action::kConverted
                           : QuantizedTensor::Action::kFellBack;
      // One row at a time: a large embedding matrix never exists as floats in full.
      const uint64_t row_length = src.dims[0], rows = src.rows();
      const size_t in_row = RowBytes(src.type, row_length), out_row = RowBytes(q.to, row_length);
      std::vector<uint8_t> bytes(rows * out_row);
      std::vector<float> row(row_length);
      for (uint64_t r = 0; r < rows; ++r) {
        DequantizeRow(src.type, src.data + r * in_row, row.data(), row_length);
        Status st = QuantizeRow(q.to, row, std::span<uint8_t>(bytes.data() + r * out_row, out_row));
        if (!st.ok()) return st.WithContext("quantizing tensor " + src.name);
      }
      SOBRE_RETURN_IF_ERROR(w.AddTensor(src.name, q.to, dims, std::move(bytes))
                                .WithContext("quantizing tensor " + src.name));
    }
    report.tensors.push_back(std::move(q));
  }
  SOBRE_RETURN_IF_ERROR(w.WriteFile(out_path));
  struct stat st;
  if (::stat(out_path.c_str(), &st) == 0) report.bytes_out = static_cast<uint64_t>(st.st_size);
  return report;
}

}  // namespace sobre::engine
