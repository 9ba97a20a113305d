// GGUF parsing. Every read goes through Reader, which checks the bytes are there before touching
// them, so a hostile file can only produce an error naming the byte offset where it went wrong.
#include "engine/gguf/gguf_file.h"

#include <sys/mman.h>

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <limits>
#include <utility>

#include <fmt/core.h>

#include "core/file.h"
#include "engine/gguf/internal/le.h"

namespace sobre::engine {

using internal::LoadLe;

namespace {

constexpr uint32_t kMaxKeyBytes = 65535;
constexpr uint64_t kMaxTensorNameBytes = 65535;
constexpr size_t kMaxAlignment = size_t{1} << 30;
constexpr uint32_t kLastValueType = static_cast<uint32_t>(GgufValueType::kFloat64);

// Names of ggml type ids sobre does not read, so that the refusal says what the file holds.
std::string_view UnsupportedGgmlTypeName(uint32_t id) {
  switch (id) {
    case 4: return "Q4_2 (removed from ggml)";
    case 5: return "Q4_3 (removed from ggml)";
    case 10: return "Q2_K";
    case 11: return "Q3_K";
    case 16: return "IQ2_XXS";
    case 17: return "IQ2_XS";
    case 18: return "IQ3_XXS";
    case 19: return "IQ1_S";
    case 20: return "IQ4_NL";
    case 21: return "IQ3_S";
    case 22: return "IQ2_S";
    case 23: return "IQ4_XS";
    case 24: return "I8";
    case 25: return "I16";
    case 26: return "I32";
    case 27: return "I64";
    case 28: return "F64";
    case 29: return "IQ1_M";
    case 34: return "TQ1_0";
    case 35: return "TQ2_0";
    case 39: return "MXFP4";
    default: return "unknown";
  }
}

// A bounds-checked cursor over the file's bytes.
class Reader {
 public:
  Reader(const uint8_t* data, uint64_t size, const std::string& name)
      : data_(data), size_(size), name_(name) {}

  uint64_t pos() const { return pos_; }
  uint64_t left() const { return size_ - pos_; }
  const uint8_t* at(uint64_t offset) const { return data_ + offset; }

  Status Fail(uint64_t offset, std::string_view what) const {
    return InvalidArgumentError(fmt::format("{}: byte {}: {}", name_, offset, what));
  }

  // Ok when `n` more bytes exist; otherwise a "truncated" error naming `what`.
  Status Need(uint64_t n, std::string_view what) const {
    if (n <= left()) return OkStatus();
    return Fail(pos_, fmt::format("file truncated: {} needs {} bytes, {} left", what, n, left()));
  }

  Status Skip(uint64_t n, std::string_view what) {
    SOBRE_RETURN_IF_ERROR(Need(n, what));
    pos_ += n;
    return OkStatus();
  }

  template <typename T>
  StatusOr<T> Read(std::string_view what) {
    SOBRE_RETURN_IF_ERROR(Need(sizeof(T), what));
    T v = LoadLe<T>(data_ + pos_);
    pos_ += sizeof(T);
    return v;
  }

  // A GGUF string (u64 length + bytes) of at most `max_bytes` bytes.
  StatusOr<std::string_view> String(std::string_view what, uint64_t max_bytes) {
    const uint64_t start = pos_;
    SOBRE_ASSIGN_OR_RETURN(uint64_t len, Read<uint64_t>(what));
    if (len > max_bytes) {
      return Fail(start, fmt::format("{}: length {} exceeds the limit of {} bytes", what, len,
                                     max_bytes));
    }
    SOBRE_RETURN_IF_ERROR(Need(len, what));
    std::string_view s(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len;
    return s;
  }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  const std::string& name_;
};

bool IsFixedSize(GgufValueType t) { return GgufScalarBytes(t) != 0; }

bool IsInteger(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
      return true;
    default:
      return false;
  }
}

bool IsSigned(GgufValueType t) {
  return t == GgufValueType::kInt8 || t == GgufValueType::kInt16 || t == GgufValueType::kInt32 ||
         t == GgufValueType::kInt64;
}

// Integer at `p` of integer type `t`: the signed value and, for u64, the unsigned one.
struct IntValue {
  bool negative = false;
  uint64_t magnitude_or_value = 0;  // the value when !negative
  int64_t as_signed = 0;            // valid when the value fits int64
  bool fits_int64 = true;
};

IntValue LoadInt(GgufValueType t, const uint8_t* p) {
  IntValue v;
  int64_t s = 0;
  uint64_t u = 0;
  bool is_signed = IsSigned(t);
  switch (t) {
    case GgufValueType::kUint8: u = LoadLe<uint8_t>(p); break;
    case GgufValueType::kInt8: s = LoadLe<int8_t>(p); break;
    case GgufValueType::kUint16: u = LoadLe<uint16_t>(p); break;
    case GgufValueType::kInt16: s = LoadLe<int16_t>(p); break;
    case GgufValueType::kUint32: u = LoadLe<uint32_t>(p); break;
    case GgufValueType::kInt32: s = LoadLe<int32_t>(p); break;
    case GgufValueType::kUint64: u = LoadLe<uint64_t>(p); break;
    case GgufValueType::kInt64: s = LoadLe<int64_t>(p); break;
    default: break;
  }
  if (is_signed) {
    v.negative = s < 0;
    v.as_signed = s;
    v.magnitude_or_value = static_cast<uint64_t>(s);
  } else {
    v.magnitude_or_value = u;
    v.fits_int64 = u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    v.as_signed = static_cast<int64_t>(u);
  }
  return v;
}

std::string FormatFloat(double v, bool single) {
  char buf[64];
  std::to_chars_result r = single ? std::to_chars(buf, buf + sizeof(buf), static_cast<float>(v))
                                  : std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

void AppendJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (u < 0x20 || u == 0x7f) {
          out += fmt::format("\\u{:04x}", u);
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

// Renders one fixed-size element at `p`.
std::string FormatScalar(GgufValueType t, const uint8_t* p) {
  if (IsInteger(t)) {
    IntValue v = LoadInt(t, p);
    return v.negative ? std::to_string(v.as_signed) : std::to_string(v.magnitude_or_value);
  }
  switch (t) {
    case GgufValueType::kFloat32: return FormatFloat(LoadLe<float>(p), true);
    case GgufValueType::kFloat64: return FormatFloat(LoadLe<double>(p), false);
    case GgufValueType::kBool: return *p != 0 ? "true" : "false";
    default: return "?";
  }
}

}  // namespace

std::string_view GgufValueTypeName(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8: return "u8";
    case GgufValueType::kInt8: return "i8";
    case GgufValueType::kUint16: return "u16";
    case GgufValueType::kInt16: return "i16";
    case GgufValueType::kUint32: return "u32";
    case GgufValueType::kInt32: return "i32";
    case GgufValueType::kFloat32: return "f32";
    case GgufValueType::kBool: return "bool";
    case GgufValueType::kString: return "str";
    case GgufValueType::kArray: return "arr";
    case GgufValueType::kUint64: return "u64";
    case GgufValueType::kInt64: return "i64";
    case GgufValueType::kFloat64: return "f64";
  }
  return "invalid";
}

size_t GgufScalarBytes(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
      return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32:
      return 4;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64:
      return 8;
    case GgufValueType::kString:
    case GgufValueType::kArray:
      return 0;
  }
  return 0;
}

// Owns the file's bytes: a read-only mapping, or a buffer for FromBuffer.
class GgufFile::Storage {
 public:
  MappedFile mapping;
  std::vector<uint8_t> buffer;
  const uint8_t* data = nullptr;
  uint64_t size = 0;
};

GgufFile::GgufFile() = default;
GgufFile::~GgufFile() = default;

StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path,
                                                   const GgufOpenOptions& options) {
  auto storage = std::make_unique<Storage>();
  StatusOr<MappedFile> mapping = MappedFile::Open(path);
  if (!mapping.ok()) return mapping.status().WithContext("opening GGUF file " + path);
  storage->mapping = std::move(mapping).value();
  storage->data = reinterpret_cast<const uint8_t*>(storage->mapping.data());
  storage->size = storage->mapping.size_bytes();
  if (options.prefetch && storage->size > 0) {
    // Advice only: failure changes nothing but speed.
    ::madvise(const_cast<uint8_t*>(storage->data), storage->size, MADV_WILLNEED);
  }
  return Parse(std::move(storage), path);
}

StatusOr<std::unique_ptr<GgufFile>> GgufFile::FromBuffer(std::vector<uint8_t> bytes,
                                                         std::string name) {
  auto storage = std::make_unique<Storage>();
  storage->buffer = std::move(bytes);
  storage->data = storage->buffer.data();
  storage->size = storage->buffer.size();
  return Parse(std::move(storage), std::move(name));
}

namespace {

// Parses one value of type `type` at the reader's position (the type id already read), filling
// the location fields of `e`.
template <typename EntryT>
Status ParseValue(Reader& r, uint32_t type_id, std::string_view key, EntryT& e) {
  const uint64_t type_at = r.pos() - 4;
  if (type_id > kLastValueType) {
    return r.Fail(type_at, fmt::format("key '{}': unknown value type {}", key, type_id));
  }
  e.type = static_cast<GgufValueType>(type_id);
  e.raw_offset = r.pos();
  const std::string what = fmt::format("value of key '{}'", key);
  if (IsFixedSize(e.type)) {
    e.value_offset = r.pos();
    e.value_bytes = GgufScalarBytes(e.type);
    SOBRE_RETURN_IF_ERROR(r.Need(e.value_bytes, what));
    if (e.type == GgufValueType::kBool && *r.at(r.pos()) > 1) {
      return r.Fail(r.pos(), fmt::format("key '{}': bool value {} is neither 0 nor 1", key,
                                         *r.at(r.pos())));
    }
    return r.Skip(e.value_bytes, what);
  }
  if (e.type == GgufValueType::kString) {
    e.value_offset = r.pos();
    SOBRE_ASSIGN_OR_RETURN(std::string_view s, r.String(what, kGgufMaxStringBytes));
    e.value_bytes = 8 + s.size();
    return OkStatus();
  }
  // Array: element type, count, elements.
  const uint64_t elem_type_at = r.pos();
  SOBRE_ASSIGN_OR_RETURN(uint32_t elem_id, r.Read<uint32_t>(what));
  if (elem_id == static_cast<uint32_t>(GgufValueType::kArray)) {
    return r.Fail(elem_type_at,
                  fmt::format("key '{}': arrays of arrays are not supported", key));
  }
  if (elem_id > kLastValueType) {
    return r.Fail(elem_type_at,
                  fmt::format("key '{}': unknown array element type {}", key, elem_id));
  }
  e.element_type = static_cast<GgufValueType>(elem_id);
  const uint64_t count_at = r.pos();
  SOBRE_ASSIGN_OR_RETURN(e.count, r.Read<uint64_t>(what));
  if (e.count > kGgufMaxArrayElements) {
    return r.Fail(count_at, fmt::format("key '{}': array of {} elements exceeds the limit of {}",
                                        key, e.count, kGgufMaxArrayElements));
  }
  e.value_offset = r.pos();
  if (IsFixedSize(e.element_type)) {
    // count <= 2^30 and element size <= 8: no overflow.
    const uint64_t bytes = e.count * GgufScalarBytes(e.element_type);
    SOBRE_RETURN_IF_ERROR(r.Need(bytes, what));
    if (e.element_type == GgufValueType::kBool) {
      for (uint64_t i = 0; i < e.count; ++i) {
        if (*r.at(r.pos() + i) > 1) {
          return r.Fail(r.pos() + i, fmt::format("key '{}': bool element {} is neither 0 nor 1",
                                                 key, i));
        }
      }
    }
    e.value_bytes = bytes;
    return r.Skip(bytes, what);
  }
  for (uint64_t i = 0; i < e.count; ++i) {
    SOBRE_RETURN_IF_ERROR(
        r.String(fmt::format("element {} of key '{}'", i, key), kGgufMaxStringBytes).status());
  }
  e.value_bytes = r.pos() - e.value_offset;
  return OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<GgufFile>> GgufFile::Parse(std::unique_ptr<Storage> storage,
                                                    std::string name) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = std::move(name);
  f->bytes_ = storage->data;
  f->size_bytes_ = storage->size;
  f->storage_ = std::move(storage);
  Reader r(f->bytes_, f->size_bytes_, f->path_);

  // Header.
  if (f->size_bytes_ < 4 || std::memcmp(f->bytes_, "GGUF", 4) != 0) {
    if (f->size_bytes_ < 4) return r.Fail(0, "not a GGUF file: shorter than the 4-byte magic");
    return r.Fail(0, fmt::format("not a GGUF file: magic is {:02x} {:02x} {:02x} {:02x}, expected "
                                 "47 47 55 46 (\"GGUF\")",
                                 f->bytes_[0], f->bytes_[1], f->bytes_[2], f->bytes_[3]));
  }
  SOBRE_RETURN_IF_ERROR(r.Skip(4, "magic"));
  SOBRE_ASSIGN_OR_RETURN(uint32_t version, r.Read<uint32_t>("version"));
  if (version != 0 && (version & 0xFFFFu) == 0) {
    return r.Fail(4, fmt::format("version field reads {:#x}: this is a big-endian (byte-swapped) "
                                 "GGUF file; only little-endian files are supported",
                                 version));
  }
  if (version == 1) return r.Fail(4, "GGUF version 1 is not supported (only versions 2 and 3)");
  if (version != 2 && version != 3) {
    return r.Fail(4, fmt::format("unsupported GGUF version {} (only versions 2 and 3)", version));
  }
  f->version_ = version;
  const uint64_t tensor_count_at = r.pos();
  SOBRE_ASSIGN_OR_RETURN(uint64_t tensor_count, r.Read<uint64_t>("tensor count"));
  const uint64_t kv_count_at = r.pos();
  SOBRE_ASSIGN_OR_RETURN(uint64_t kv_count, r.Read<uint64_t>("metadata key count"));
  // Each key-value pair takes at least 14 bytes and each tensor info at least 25, so larger counts
  // cannot fit in the file: refuse them before reserving anything.
  if (kv_count > r.left() / 14) {
    return r.Fail(kv_count_at, fmt::format("metadata key count {} cannot fit in the {} bytes left",
                                           kv_count, r.left()));
  }
  if (tensor_count > r.left() / 25) {
    return r.Fail(tensor_count_at, fmt::format("tensor count {} cannot fit in the {} bytes left",
                                               tensor_count, r.left()));
  }

  // Metadata.
  f->entries_.reserve(kv_count);
  for (uint64_t i = 0; i < kv_count; ++i) {
    const uint64_t key_at = r.pos();
    SOBRE_ASSIGN_OR_RETURN(std::string_view key,
                           r.String(fmt::format("key of metadata entry {}", i), kMaxKeyBytes));
    if (key.empty()) return r.Fail(key_at, fmt::format("metadata entry {} has an empty key", i));
    if (f->entry_index_.count(key) != 0) {
      return r.Fail(key_at, fmt::format("duplicate metadata key '{}'", key));
    }
    SOBRE_ASSIGN_OR_RETURN(uint32_t type_id,
                           r.Read<uint32_t>(fmt::format("value type of key '{}'", key)));
    Entry e;
    e.key = key;
    SOBRE_RETURN_IF_ERROR(ParseValue(r, type_id, key, e));
    f->entry_index_.emplace(key, f->entries_.size());
    f->entries_.push_back(e);
  }

  // Alignment.
  if (const Entry* a = f->FindEntry("general.alignment")) {
    if (!IsInteger(a->type)) {
      return r.Fail(a->value_offset, fmt::format("general.alignment is {}, expected u32",
                                                 GgufValueTypeName(a->type)));
    }
    IntValue v = LoadInt(a->type, f->bytes_ + a->value_offset);
    if (v.negative || v.magnitude_or_value == 0 || v.magnitude_or_value > kMaxAlignment ||
        (v.magnitude_or_value & (v.magnitude_or_value - 1)) != 0) {
      return r.Fail(a->value_offset,
                    fmt::format("general.alignment {} is not a power of two up to 2^30",
                                FormatScalar(a->type, f->bytes_ + a->value_offset)));
    }
    f->alignment_ = static_cast<size_t>(v.magnitude_or_value);
  }

  // Tensor infos.
  f->tensors_.reserve(tensor_count);
  std::vector<uint64_t> info_offsets;
  info_offsets.reserve(tensor_count);
  for (uint64_t i = 0; i < tensor_count; ++i) {
    const uint64_t info_at = r.pos();
    info_offsets.push_back(info_at);
    SOBRE_ASSIGN_OR_RETURN(std::string_view tname,
                           r.String(fmt::format("name of tensor {}", i), kMaxTensorNameBytes));
    if (tname.empty()) return r.Fail(info_at, fmt::format("tensor {} has an empty name", i));
    if (f->tensor_index_.count(tname) != 0) {
      return r.Fail(info_at, fmt::format("duplicate tensor name '{}'", tname));
    }
    GgufTensorInfo t;
    t.name = std::string(tname);
    const uint64_t ndims_at = r.pos();
    SOBRE_ASSIGN_OR_RETURN(uint32_t n_dims,
                           r.Read<uint32_t>(fmt::format("dimension count of tensor '{}'", tname)));
    if (n_dims > kGgufMaxDims) {
      return r.Fail(ndims_at, fmt::format("tensor '{}' has {} dimensions; at most {} are allowed",
                                          tname, n_dims, kGgufMaxDims));
    }
    t.n_dims = static_cast<int>(n_dims);
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim_at = r.pos();
      SOBRE_ASSIGN_OR_RETURN(t.dims[d],
                             r.Read<uint64_t>(fmt::format("dimensions of tensor '{}'", tname)));
      if (t.dims[d] == 0) {
        return r.Fail(dim_at, fmt::format("tensor '{}': dimension {} is zero", tname, d));
      }
      // Keep the element count below 2^62 so that byte sizes cannot overflow either.
      if (t.dims[d] > (uint64_t{1} << 62) / elements) {
        return r.Fail(dim_at, fmt::format("tensor '{}': element count overflows (dimension {} "
                                          "is {})",
                                          tname, d, t.dims[d]));
      }
      elements *= t.dims[d];
    }
    const uint64_t type_at = r.pos();
    SOBRE_ASSIGN_OR_RETURN(uint32_t type_id,
                           r.Read<uint32_t>(fmt::format("type of tensor '{}'", tname)));
    std::optional<GgmlTypeTraits> traits = FindGgmlType(type_id);
    if (!traits) {
      return r.Fail(type_at, fmt::format("tensor '{}' has ggml type {} ({}), which sobre does not "
                                         "support",
                                         tname, type_id, UnsupportedGgmlTypeName(type_id)));
    }
    if (!traits->storable) {
      return r.Fail(type_at, fmt::format("tensor '{}' has type {}, which is for activations only "
                                         "and never stored in files",
                                         tname, traits->name));
    }
    t.type = traits->type;
    if (t.dims[0] % traits->block_elements != 0) {
      return r.Fail(type_at, fmt::format("tensor '{}': row length {} is not a multiple of the {} "
                                         "block size {}",
                                         tname, t.dims[0], traits->name, traits->block_elements));
    }
    // elements < 2^62 and block_bytes / block_elements <= 4: fits in 64 bits.
    t.size_bytes = elements / traits->block_elements * traits->block_bytes;
    const uint64_t offset_at = r.pos();
    SOBRE_ASSIGN_OR_RETURN(t.offset, r.Read<uint64_t>(fmt::format("offset of tensor '{}'", tname)));
    if (t.offset % f->alignment_ != 0) {
      return r.Fail(offset_at, fmt::format("tensor '{}': data offset {} is not a multiple of the "
                                           "alignment {}",
                                           tname, t.offset, f->alignment_));
    }
    // Index by the name's bytes in the file, which outlive any copy.
    f->tensor_index_.emplace(tname, f->tensors_.size());
    f->tensors_.push_back(std::move(t));
  }

  // Data section.
  uint64_t data_offset = r.pos();
  if (!f->tensors_.empty()) {
    const uint64_t rem = data_offset % f->alignment_;
    if (rem != 0) data_offset += f->alignment_ - rem;  // pos <= size < 2^64 - 2^30 in practice
    if (data_offset > f->size_bytes_) {
      return r.Fail(r.pos(), fmt::format("file truncated: tensor data should start at byte {} but "
                                         "the file has {} bytes",
                                         data_offset, f->size_bytes_));
    }
  }
  f->data_offset_ = data_offset;
  const uint64_t avail = f->size_bytes_ - data_offset;
  for (size_t i = 0; i < f->tensors_.size(); ++i) {
    GgufTensorInfo& t = f->tensors_[i];
    if (t.offset > avail || t.size_bytes > avail - t.offset) {
      return r.Fail(info_offsets[i],
                    fmt::format("tensor '{}': data at bytes {}..{} of the data section lies "
                                "beyond the end of the file (data section has {} bytes)",
                                t.name, t.offset, t.offset + t.size_bytes, avail));
    }
    t.data = f->bytes_ + data_offset + t.offset;
  }
  std::vector<size_t> order(f->tensors_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return f->tensors_[a].offset < f->tensors_[b].offset;
  });
  for (size_t k = 1; k < order.size(); ++k) {
    const GgufTensorInfo& prev = f->tensors_[order[k - 1]];
    const GgufTensorInfo& cur = f->tensors_[order[k]];
    if (prev.offset + prev.size_bytes > cur.offset) {
      return r.Fail(info_offsets[order[k]],
                    fmt::format("tensor '{}' (data bytes {}..{}) overlaps tensor '{}' (data bytes "
                                "{}..{})",
                                cur.name, cur.offset, cur.offset + cur.size_bytes, prev.name,
                                prev.offset, prev.offset + prev.size_bytes));
    }
  }
  return f;
}

const GgufFile::Entry* GgufFile::FindEntry(std::string_view key) const {
  auto it = entry_index_.find(key);
  return it == entry_index_.end() ? nullptr : &entries_[it->second];
}

bool GgufFile::Has(std::string_view key) const { return FindEntry(key) != nullptr; }

std::optional<GgufValueType> GgufFile::TypeOf(std::string_view key) const {
  const Entry* e = FindEntry(key);
  if (e == nullptr) return std::nullopt;
  return e->type;
}

std::optional<GgufValueType> GgufFile::ArrayElementType(std::string_view key) const {
  const Entry* e = FindEntry(key);
  if (e == nullptr || e->type != GgufValueType::kArray) return std::nullopt;
  return e->element_type;
}

std::optional<uint64_t> GgufFile::ArrayLength(std::string_view key) const {
  const Entry* e = FindEntry(key);
  if (e == nullptr || e->type != GgufValueType::kArray) return std::nullopt;
  return e->count;
}

Status GgufFile::TypeError(std::string_view key, const Entry& e, std::string_view wanted) const {
  std::string actual(GgufValueTypeName(e.type));
  if (e.type == GgufValueType::kArray) {
    actual = fmt::format("arr[{}]", GgufValueTypeName(e.element_type));
  }
  return InvalidArgumentError(
      fmt::format("{}: key '{}' is {}, expected {}", path_, key, actual, wanted));
}

namespace {
Status KeyNotFound(const std::string& path, std::string_view key) {
  return NotFoundError(fmt::format("{}: key '{}' not found", path, key));
}
}  // namespace

StatusOr<uint64_t> GgufFile::GetUint(std::string_view key) const {
  const Entry* e = FindEntry(key);
  if (e == nullptr) return KeyNotFound(path_, key);
  if (!IsInteger(e->type)) return TypeError(key, *e, "an unsigned integer");
  IntValue v = LoadInt(e->type, bytes_ + e->value_offset);
  if (v.negative) {
    return InvalidArgumentError(
        fmt::format("{}: key '{}' is {}, expected a non-negative value", path_, key, v.as_signed));
  }
  return v.magnitude_or_value;
}

StatusOr<int64_t> GgufFile::GetInt(std::string_view key) const {
  const Entry* e = FindEntry(key);
  if (e == nullptr) return KeyNotFound(path_, key);
  if (!IsInteger(e->type)) return TypeError(key, *e, "an integer");
  IntValue v = LoadInt(e->type, bytes_ + e->value_offset);
  if (!v.fits_int64) {
    return InvalidArgumentError(fmt::format("{}: key '{}' is {}, beyond the int64 range", path_,
                                            key, v.magnitude_or_value));
  }
  return v.as_signed;
}

StatusOr<double> GgufFile::GetFloat(std::string_view key) const {
  const Entry* e = FindEntry(key);
  if (e == nullptr) return KeyNotFound(path_, key);
  if (e->type == GgufValueType::kFloat32) return double{LoadLe<float>(bytes_ + e->value_offset)};
  if (e->type == GgufValueType::kFloat64) return LoadLe<double>(bytes_ + e->value_offset);
  return TypeError(key, *e, "f32 or f64");
}

StatusOr<bool> GgufFile::GetBool(std::string_view key) const {
  const Entry* e = FindEntry(key);
  if (e == nullptr) return KeyNotFound(path_, key);
  if (e->type != GgufValueType::kBool) return TypeError(key, *e, "bool");
  return bytes_[e->value_offset] != 0;
}

StatusOr<std::string_view> GgufFile::GetString(std::string_view key) const {
  const Entry* e = FindEntry(key);
  if (e == nullptr) return KeyNotFound(path_, key);
  if (e->type != GgufValueType::kString) return TypeError(key, *e, "str");
  return std::string_view(reinterpret_cast<const char*>(bytes_ + e->value_offset + 8),
                          e->value_bytes - 8);
}

StatusOr<const GgufFile::Entry*> GgufFile::GetArray(std::string_view key) const {
  const Entry* e = FindEntry(key);
  if (e == nullptr) return KeyNotFound(path_, key);
  return e;
}

StatusOr<std::vector<std::string_view>> GgufFile::GetStringArray(std::string_view key) const {
  SOBRE_ASSIGN_OR_RETURN(const Entry* e, GetArray(key));
  if (e->type != GgufValueType::kArray || e->element_type != GgufValueType::kString) {
    return TypeError(key, *e, "arr[str]");
  }
  // Lengths were checked against the file at Open, so the walk needs no further bounds checks.
  std::vector<std::string_view> out;
  out.reserve(e->count);
  uint64_t pos = e->value_offset;
  for (uint64_t i = 0; i < e->count; ++i) {
    const uint64_t len = LoadLe<uint64_t>(bytes_ + pos);
    out.emplace_back(reinterpret_cast<const char*>(bytes_ + pos + 8), len);
    pos += 8 + len;
  }
  return out;
}

StatusOr<std::vector<float>> GgufFile::GetFloatArray(std::string_view key) const {
  SOBRE_ASSIGN_OR_RETURN(const Entry* e, GetArray(key));
  if (e->type != GgufValueType::kArray || (e->element_type != GgufValueType::kFloat32 &&
                                           e->element_type != GgufValueType::kFloat64)) {
    return TypeError(key, *e, "arr[f32] or arr[f64]");
  }
  std::vector<float> out(e->count);
  const uint8_t* p = bytes_ + e->value_offset;
  for (uint64_t i = 0; i < e->count; ++i) {
    out[i] = e->element_type == GgufValueType::kFloat32
                 ? LoadLe<float>(p + 4 * i)
                 : static_cast<float>(LoadLe<double>(p + 8 * i));
  }
  return out;
}

StatusOr<std::vector<int64_t>> GgufFile::GetIntArray(std::string_view key) const {
  SOBRE_ASSIGN_OR_RETURN(const Entry* e, GetArray(key));
  if (e->type != GgufValueType::kArray || !IsInteger(e->element_type)) {
    return TypeError(key, *e, "an array of integers");
  }
  const size_t width = GgufScalarBytes(e->element_type);
  std::vector<int64_t> out(e->count);
  const uint8_t* p = bytes_ + e->value_offset;
  for (uint64_t i = 0; i < e->count; ++i) {
    IntValue v = LoadInt(e->element_type, p + width * i);
    if (!v.fits_int64) {
      return InvalidArgumentError(fmt::format("{}: key '{}': element {} is {}, beyond the int64 "
                                              "range",
                                              path_, key, i, v.magnitude_or_value));
    }
    out[i] = v.as_signed;
  }
  return out;
}

StatusOr<std::span<const uint8_t>> GgufFile::GetByteArray(std::string_view key) const {
  SOBRE_ASSIGN_OR_RETURN(const Entry* e, GetArray(key));
  if (e->type != GgufValueType::kArray || (e->element_type != GgufValueType::kUint8 &&
                                           e->element_type != GgufValueType::kInt8)) {
    return TypeError(key, *e, "arr[u8] or arr[i8]");
  }
  return std::span<const uint8_t>(bytes_ + e->value_offset, e->count);
}

StatusOr<uint64_t> GgufFile::GetUintOr(std::string_view key, uint64_t fallback) const {
  if (!Has(key)) return fallback;
  return GetUint(key);
}

StatusOr<double> GgufFile::GetFloatOr(std::string_view key, double fallback) const {
  if (!Has(key)) return fallback;
  return GetFloat(key);
}

StatusOr<bool> GgufFile::GetBoolOr(std::string_view key, bool fallback) const {
  if (!Has(key)) return fallback;
  return GetBool(key);
}

StatusOr<std::string_view> GgufFile::GetStringOr(std::string_view key,
                                                 std::string_view fallback) const {
  if (!Has(key)) return fallback;
  return GetString(key);
}

std::vector<std::string_view> GgufFile::Keys() const {
  std::vector<std::string_view> keys;
  keys.reserve(entries_.size());
  for (const Entry& e : entries_) keys.push_back(e.key);
  return keys;
}

StatusOr<std::span<const uint8_t>> GgufFile::RawValue(std::string_view key) const {
  const Entry* e = FindEntry(key);
  if (e == nullptr) return KeyNotFound(path_, key);
  const uint64_t end = e->value_offset + e->value_bytes;
  return std::span<const uint8_t>(bytes_ + e->raw_offset, end - e->raw_offset);
}

StatusOr<std::string> GgufFile::FormatValue(std::string_view key, size_t max_items) const {
  const Entry* e = FindEntry(key);
  if (e == nullptr) return KeyNotFound(path_, key);
  std::string out;
  if (e->type == GgufValueType::kString) {
    SOBRE_ASSIGN_OR_RETURN(std::string_view s, GetString(key));
    AppendJsonString(out, s);
    return out;
  }
  if (e->type != GgufValueType::kArray) return FormatScalar(e->type, bytes_ + e->value_offset);
  out += '[';
  const uint64_t shown = std::min<uint64_t>(e->count, max_items);
  uint64_t pos = e->value_offset;
  for (uint64_t i = 0; i < shown; ++i) {
    if (i > 0) out += ", ";
    if (e->element_type == GgufValueType::kString) {
      const uint64_t len = LoadLe<uint64_t>(bytes_ + pos);
      AppendJsonString(out, std::string_view(reinterpret_cast<const char*>(bytes_ + pos + 8), len));
      pos += 8 + len;
    } else {
      out += FormatScalar(e->element_type, bytes_ + pos);
      pos += GgufScalarBytes(e->element_type);
    }
  }
  if (shown < e->count) out += fmt::format("{}... {} items", shown > 0 ? ", " : "", e->count);
  out += ']';
  return out;
}

const GgufTensorInfo* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace sobre::engine
