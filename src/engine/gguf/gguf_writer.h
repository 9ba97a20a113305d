// GgufWriter: builds a GGUF v3 file in memory (metadata and tensors) and writes it atomically.
// Used by `sobre model make-test` and `quantize`, and by tests to make files for the reader.
#ifndef SOBRE_ENGINE_GGUF_GGUF_WRITER_H_
#define SOBRE_ENGINE_GGUF_GGUF_WRITER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "engine/ggml_type.h"
#include "engine/gguf/gguf_file.h"

namespace sobre::engine {

// Collects metadata and tensors, then serialises them as GGUF v3 (little-endian). Setting a key
// that is already set replaces its value in place (file order is first-set order); adding a
// tensor whose name exists is an error. Not thread-safe.
class GgufWriter {
 public:
  GgufWriter() = default;

  // Scalar and string values.
  void SetUint8(std::string key, uint8_t v);
  void SetInt8(std::string key, int8_t v);
  void SetUint16(std::string key, uint16_t v);
  void SetInt16(std::string key, int16_t v);
  void SetUint32(std::string key, uint32_t v);
  void SetInt32(std::string key, int32_t v);
  void SetUint64(std::string key, uint64_t v);
  void SetInt64(std::string key, int64_t v);
  void SetFloat32(std::string key, float v);
  void SetFloat64(std::string key, double v);
  void SetBool(std::string key, bool v);
  void SetString(std::string key, std::string v);

  // Arrays.
  void SetStringArray(std::string key, std::vector<std::string> v);
  void SetFloat32Array(std::string key, std::vector<float> v);
  void SetInt32Array(std::string key, std::vector<int32_t> v);
  void SetUint8Array(std::string key, std::vector<uint8_t> v);
  // Any fixed-size element type: `elements` holds `count` little-endian values of `element_type`
  // back to back. InvalidArgument when the size does not fit or the type is not fixed-size.
  Status SetRawArray(std::string key, GgufValueType element_type, uint64_t count,
                     std::vector<uint8_t> elements);

  // Copies `key` from `from` verbatim, whatever its type. NotFound when `from` lacks it.
  Status CopyKey(const GgufFile& from, std::string_view key);
  // Removes `key` if set; returns whether it was.
  bool Remove(std::string_view key);
  // Whether `key` is set.
  bool Has(std::string_view key) const;
  // Sets general.alignment (u32) and uses it for tensor data; must be a power of two (else
  // InvalidArgument). Default 32.
  Status SetAlignment(uint32_t alignment);

  // Adds a tensor. `dims` are in ggml order (dims[0] = row length), 1 to 4 of them, none zero;
  // dims[0] must be a multiple of the type's block size and `data` exactly the tensor's size.
  // InvalidArgument naming the tensor otherwise (also for names over 63 bytes and duplicates).
  Status AddTensor(std::string name, GgmlType type, std::vector<uint64_t> dims,
                   std::vector<uint8_t> data);

  // Number of tensors added so far.
  size_t tensor_count() const { return tensors_.size(); }

  // The whole file.
  StatusOr<std::vector<uint8_t>> Serialize() const;
  // Writes the file to `path` + ".tmp" and renames it over `path`, so a reader never sees a
  // partial file; the temporary is removed on failure.
  Status WriteFile(const std::string& path) const;

 private:
  struct Kv {
    std::string key;
    GgufValueType type;
    std::vector<uint8_t> encoded;  // the value as stored after the type id
  };
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<uint64_t> dims;
    std::vector<uint8_t> data;
  };
  void Set(std::string key, GgufValueType type, std::vector<uint8_t> encoded);
  // Header, metadata, tensor infos and the padding before the data; sets `alignment`.
  StatusOr<std::vector<uint8_t>> SerializeHead(uint64_t& alignment) const;

  std::vector<Kv> kvs_;
  std::vector<Tensor> tensors_;
  uint32_t alignment_ = 32;
};

}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_GGUF_GGUF_WRITER_H_
