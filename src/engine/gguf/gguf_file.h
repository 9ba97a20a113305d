// GgufFile: a bounds-checked reader for GGUF v2/v3 model files (reference/engine.md §1).
// The file is mapped read-only; metadata is parsed once at Open and tensors point into the mapping.
#ifndef SOBRE_ENGINE_GGUF_GGUF_FILE_H_
#define SOBRE_ENGINE_GGUF_GGUF_FILE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "engine/ggml_type.h"

namespace sobre::engine {

// Metadata value type ids as stored in the file (reference §1.2).
enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8,
  kUint16,
  kInt16,
  kUint32,
  kInt32,
  kFloat32,
  kBool,
  kString,
  kArray,
  kUint64,
  kInt64,
  kFloat64,
};

// Lower-case name of a value type ("u32", "f32", "str", "arr", ...), for messages and `model info`.
std::string_view GgufValueTypeName(GgufValueType type);

// Bytes one scalar of `type` takes in a file; 0 for kString and kArray (variable size).
size_t GgufScalarBytes(GgufValueType type);

// Limits the reader enforces; a file beyond them is refused with a message naming the limit.
inline constexpr uint64_t kGgufMaxStringBytes = uint64_t{1} << 30;
inline constexpr uint64_t kGgufMaxArrayElements = uint64_t{1} << 30;
inline constexpr uint32_t kGgufMaxDims = 4;
inline constexpr size_t kGgufDefaultAlignment = 32;

// One tensor of the file. `data` points into the mapping (or the buffer) and stays valid while
// the GgufFile that produced it lives.
struct GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::kF32;
  int n_dims = 0;
  std::array<uint64_t, 4> dims = {1, 1, 1, 1};  // ggml order: dims[0] (ne0) is the row length
  uint64_t offset = 0;                          // bytes, relative to the data section
  uint64_t size_bytes = 0;
  const uint8_t* data = nullptr;

  // dims[0] * dims[1] * dims[2] * dims[3] (checked not to overflow at load).
  uint64_t elements() const { return dims[0] * dims[1] * dims[2] * dims[3]; }
  // Number of rows of dims[0] elements: dims[1] * dims[2] * dims[3].
  uint64_t rows() const { return dims[1] * dims[2] * dims[3]; }
};

// How Open maps the file.
struct GgufOpenOptions {
  // Ask the kernel to read the whole file ahead (madvise WILLNEED); default off.
  bool prefetch = false;
};

// A parsed GGUF file. Immutable after Open; thread-safe for concurrent reads.
class GgufFile {
 public:
  // Maps `path` read-only and parses it. Errors (InvalidArgument, DataLoss for truncation,
  // NotFound for a missing file) name the file, the key or tensor, and the byte offset.
  static StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path,
                                                  const GgufOpenOptions& options = {});
  // Parses `bytes` held in memory; `name` stands for the path in messages. For tests and tools.
  static StatusOr<std::unique_ptr<GgufFile>> FromBuffer(std::vector<uint8_t> bytes,
                                                        std::string name);

  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  // GGUF format version (2 or 3).
  uint32_t version() const { return version_; }
  // The path given to Open, or the name given to FromBuffer.
  const std::string& path() const { return path_; }
  // Size of the whole file in bytes.
  uint64_t file_bytes() const { return size_bytes_; }
  // Tensor data alignment in bytes (general.alignment, default 32).
  size_t alignment() const { return alignment_; }
  // File offset of the tensor data section.
  uint64_t data_offset() const { return data_offset_; }

  // Whether metadata key `key` is present.
  bool Has(std::string_view key) const;
  // The value type of `key`, or nullopt when absent.
  std::optional<GgufValueType> TypeOf(std::string_view key) const;
  // The element type of array `key`, or nullopt when absent or not an array.
  std::optional<GgufValueType> ArrayElementType(std::string_view key) const;
  // Element count of array `key`, or nullopt when absent or not an array.
  std::optional<uint64_t> ArrayLength(std::string_view key) const;

  // Typed getters: NotFound naming the key when absent; InvalidArgument naming the key and its
  // actual type when the type does not fit. Integers of any width and sign are widened (a
  // negative value is an error for GetUint, a u64 above INT64_MAX for GetInt); GetFloat accepts
  // f32 and f64.
  StatusOr<uint64_t> GetUint(std::string_view key) const;
  StatusOr<int64_t> GetInt(std::string_view key) const;
  StatusOr<double> GetFloat(std::string_view key) const;
  StatusOr<bool> GetBool(std::string_view key) const;
  // The string's bytes, pointing into the file (valid while this GgufFile lives).
  StatusOr<std::string_view> GetString(std::string_view key) const;
  // Every element of a string array, pointing into the file.
  StatusOr<std::vector<std::string_view>> GetStringArray(std::string_view key) const;
  // f32 or f64 array elements, as float.
  StatusOr<std::vector<float>> GetFloatArray(std::string_view key) const;
  // Elements of an array of any integer type (a u64 above INT64_MAX is an error).
  StatusOr<std::vector<int64_t>> GetIntArray(std::string_view key) const;
  // Raw bytes of a u8 or i8 array, pointing into the file.
  StatusOr<std::span<const uint8_t>> GetByteArray(std::string_view key) const;

  // Like the getters above, but `fallback` when the key is absent (still an error when present
  // with a type that does not fit).
  StatusOr<uint64_t> GetUintOr(std::string_view key, uint64_t fallback) const;
  StatusOr<double> GetFloatOr(std::string_view key, double fallback) const;
  StatusOr<bool> GetBoolOr(std::string_view key, bool fallback) const;
  StatusOr<std::string_view> GetStringOr(std::string_view key, std::string_view fallback) const;

  // All keys in file order.
  std::vector<std::string_view> Keys() const;

  // The raw encoded value of `key` (after its type id; for an array: element type, count and
  // elements), pointing into the file; used to copy values verbatim. NotFound when absent.
  StatusOr<std::span<const uint8_t>> RawValue(std::string_view key) const;

  // Renders the value of `key` for people: scalars in full, strings quoted (JSON escapes), arrays
  // as "[a, b, ...]" with at most `max_items` elements followed by "... (N items)".
  StatusOr<std::string> FormatValue(std::string_view key, size_t max_items = 8) const;

  // All tensors in file order.
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  // The tensor named `name`, or nullptr when absent.
  const GgufTensorInfo* FindTensor(std::string_view name) const;

 private:
  // One metadata key: its type and where its value lies in the file.
  struct Entry {
    std::string_view key;
    GgufValueType type = GgufValueType::kUint8;
    GgufValueType element_type = GgufValueType::kUint8;  // arrays only
    uint64_t count = 0;                                  // arrays only: element count
    uint64_t value_offset = 0;  // file offset of the value (arrays: of the first element)
    uint64_t value_bytes = 0;   // encoded size from value_offset on
    uint64_t raw_offset = 0;    // file offset just after the type id (arrays: of the element type)
  };
  class Storage;  // owns the bytes: a mapping or a buffer (defined in the .cc)

  GgufFile();
  static StatusOr<std::unique_ptr<GgufFile>> Parse(std::unique_ptr<Storage> storage,
                                                   std::string name);
  const Entry* FindEntry(std::string_view key) const;
  Status TypeError(std::string_view key, const Entry& e, std::string_view wanted) const;
  StatusOr<const Entry*> GetArray(std::string_view key) const;

  std::unique_ptr<Storage> storage_;
  const uint8_t* bytes_ = nullptr;
  uint64_t size_bytes_ = 0;
  std::string path_;
  uint32_t version_ = 0;
  size_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<Entry> entries_;
  std::unordered_map<std::string_view, size_t> entry_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string_view, size_t> tensor_index_;
};

}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_GGUF_GGUF_FILE_H_
