// GGUF v3 serialisation: header, metadata, tensor infos, then tensor data at aligned offsets in
// the order the tensors were added (the layout gguf-py writes and ggml's reader expects).
#include "engine/gguf/gguf_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include <fmt/core.h>

#include "core/file.h"
#include "engine/gguf/internal/le.h"

namespace sobre::engine {

using internal::AppendLe;

namespace {

constexpr size_t kMaxWriterTensorNameBytes = 63;  // ggml refuses longer names

void AppendString(std::vector<uint8_t>& out, std::string_view s) {
  AppendLe<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

template <typename T>
std::vector<uint8_t> EncodeScalar(T v) {
  std::vector<uint8_t> out;
  AppendLe<T>(out, v);
  return out;
}

template <typename T>
std::vector<uint8_t> EncodeArray(GgufValueType element_type, const std::vector<T>& v) {
  std::vector<uint8_t> out;
  out.reserve(12 + v.size() * sizeof(T));
  AppendLe<uint32_t>(out, static_cast<uint32_t>(element_type));
  AppendLe<uint64_t>(out, v.size());
  for (const T& x : v) AppendLe<T>(out, x);
  return out;
}

uint64_t AlignUp(uint64_t n, uint64_t alignment) {
  const uint64_t rem = n % alignment;
  return rem == 0 ? n : n + (alignment - rem);
}

Status WriteAll(int fd, const uint8_t* data, size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, "writing " + path);
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return OkStatus();
}

}  // namespace

void GgufWriter::Set(std::string key, GgufValueType type, std::vector<uint8_t> encoded) {
  for (Kv& kv : kvs_) {
    if (kv.key == key) {
      kv.type = type;
      kv.encoded = std::move(encoded);
      return;
    }
  }
  kvs_.push_back(Kv{std::move(key), type, std::move(encoded)});
}

void GgufWriter::SetUint8(std::string key, uint8_t v) {
  Set(std::move(key), GgufValueType::kUint8, EncodeScalar(v));
}
void GgufWriter::SetInt8(std::string key, int8_t v) {
  Set(std::move(key), GgufValueType::kInt8, EncodeScalar(v));
}
void GgufWriter::SetUint16(std::string key, uint16_t v) {
  Set(std::move(key), GgufValueType::kUint16, EncodeScalar(v));
}
void GgufWriter::SetInt16(std::string key, int16_t v) {
  Set(std::move(key), GgufValueType::kInt16, EncodeScalar(v));
}
void GgufWriter::SetUint32(std::string key, uint32_t v) {
  Set(std::move(key), GgufValueType::kUint32, EncodeScalar(v));
}
void GgufWriter::SetInt32(std::string key, int32_t v) {
  Set(std::move(key), GgufValueType::kInt32, EncodeScalar(v));
}
void GgufWriter::SetUint64(std::string key, uint64_t v) {
  Set(std::move(key), GgufValueType::kUint64, EncodeScalar(v));
}
void GgufWriter::SetInt64(std::string key, int64_t v) {
  Set(std::move(key), GgufValueType::kInt64, EncodeScalar(v));
}
void GgufWriter::SetFloat32(std::string key, float v) {
  Set(std::move(key), GgufValueType::kFloat32, EncodeScalar(v));
}
void GgufWriter::SetFloat64(std::string key, double v) {
  Set(std::move(key), GgufValueType::kFloat64, EncodeScalar(v));
}
void GgufWriter::SetBool(std::string key, bool v) {
  Set(std::move(key), GgufValueType::kBool, EncodeScalar<uint8_t>(v ? 1 : 0));
}
void GgufWriter::SetString(std::string key, std::string v) {
  std::vector<uint8_t> out;
  AppendString(out, v);
  Set(std::move(key), GgufValueType::kString, std::move(out));
}

void GgufWriter::SetStringArray(std::string key, std::vector<std::string> v) {
  std::vector<uint8_t> out;
  AppendLe<uint32_t>(out, static_cast<uint32_t>(GgufValueType::kString));
  AppendLe<uint64_t>(out, v.size());
  for (const std::string& s : v) AppendString(out, s);
  Set(std::move(key), GgufValueType::kArray, std::move(out));
}
void GgufWriter::SetFloat32Array(std::string key, std::vector<float> v) {
  Set(std::move(key), GgufValueType::kArray, EncodeArray(GgufValueType::kFloat32, v));
}
void GgufWriter::SetInt32Array(std::string key, std::vector<int32_t> v) {
  Set(std::move(key), GgufValueType::kArray, EncodeArray(GgufValueType::kInt32, v));
}
void GgufWriter::SetUint8Array(std::string key, std::vector<uint8_t> v) {
  Set(std::move(key), GgufValueType::kArray, EncodeArray(GgufValueType::kUint8, v));
}

Status GgufWriter::SetRawArray(std::string key, GgufValueType element_type, uint64_t count,
                               std::vector<uint8_t> elements) {
  const size_t width = GgufScalarBytes(element_type);
  if (width == 0) {
    return InvalidArgumentError(fmt::format("array '{}': element type {} is not fixed-size", key,
                                            GgufValueTypeName(element_type)));
  }
  if (count > kGgufMaxArrayElements || elements.size() != count * width) {
    return InvalidArgumentError(fmt::format("array '{}': {} bytes do not hold {} {} elements", key,
                                            elements.size(), count,
                                            GgufValueTypeName(element_type)));
  }
  std::vector<uint8_t> out;
  out.reserve(12 + elements.size());
  AppendLe<uint32_t>(out, static_cast<uint32_t>(element_type));
  AppendLe<uint64_t>(out, count);
  out.insert(out.end(), elements.begin(), elements.end());
  Set(std::move(key), GgufValueType::kArray, std::move(out));
  return OkStatus();
}

Status GgufWriter::CopyKey(const GgufFile& from, std::string_view key) {
  std::optional<GgufValueType> type = from.TypeOf(key);
  if (!type) return NotFoundError(fmt::format("{}: key '{}' not found", from.path(), key));
  SOBRE_ASSIGN_OR_RETURN(std::span<const uint8_t> raw, from.RawValue(key));
  Set(std::string(key), *type, std::vector<uint8_t>(raw.begin(), raw.end()));
  return OkStatus();
}

bool GgufWriter::Remove(std::string_view key) {
  for (auto it = kvs_.begin(); it != kvs_.end(); ++it) {
    if (it->key == key) {
      kvs_.erase(it);
      return true;
    }
  }
  return false;
}

bool GgufWriter::Has(std::string_view key) const {
  for (const Kv& kv : kvs_) {
    if (kv.key == key) return true;
  }
  return false;
}

Status GgufWriter::SetAlignment(uint32_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    return InvalidArgumentError(fmt::format("alignment {} is not a power of two", alignment));
  }
  alignment_ = alignment;
  SetUint32("general.alignment", alignment);
  return OkStatus();
}

Status GgufWriter::AddTensor(std::string name, GgmlType type, std::vector<uint64_t> dims,
                             std::vector<uint8_t> data) {
  if (name.empty() || name.size() > kMaxWriterTensorNameBytes) {
    return InvalidArgumentError(fmt::format("tensor '{}': name must have 1 to {} bytes", name,
                                            kMaxWriterTensorNameBytes));
  }
  for (const Tensor& t : tensors_) {
    if (t.name == name) return InvalidArgumentError(fmt::format("tensor '{}' added twice", name));
  }
  const GgmlTypeTraits& traits = TraitsOf(type);
  if (!traits.storable) {
    return InvalidArgumentError(
        fmt::format("tensor '{}': type {} cannot be stored in a file", name, traits.name));
  }
  if (dims.empty() || dims.size() > kGgufMaxDims) {
    return InvalidArgumentError(
        fmt::format("tensor '{}': {} dimensions, expected 1 to 4", name, dims.size()));
  }
  uint64_t elements = 1;
  for (uint64_t d : dims) {
    if (d == 0 || d > (uint64_t{1} << 62) / elements) {
      return InvalidArgumentError(fmt::format("tensor '{}': bad dimension {}", name, d));
    }
    elements *= d;
  }
  if (dims[0] % traits.block_elements != 0) {
    return InvalidArgumentError(fmt::format("tensor '{}': row length {} is not a multiple of the "
                                            "{} block size {}",
                                            name, dims[0], traits.name, traits.block_elements));
  }
  const uint64_t bytes = elements / traits.block_elements * traits.block_bytes;
  if (data.size() != bytes) {
    return InvalidArgumentError(fmt::format("tensor '{}': {} bytes of data, expected {} for {} {}",
                                            name, data.size(), bytes, elements, traits.name));
  }
  tensors_.push_back(Tensor{std::move(name), type, std::move(dims), std::move(data)});
  return OkStatus();
}

namespace {

// The alignment the file will declare: general.alignment when set (it may have been copied from
// another file), else the writer's.
StatusOr<uint64_t> EffectiveAlignment(uint32_t fallback, GgufValueType type,
                                      const std::vector<uint8_t>* encoded) {
  if (encoded == nullptr) return uint64_t{fallback};
  if (type != GgufValueType::kUint32 || encoded->size() != 4) {
    return InvalidArgumentError("general.alignment must be a u32");
  }
  const uint32_t a = internal::LoadLe<uint32_t>(encoded->data());
  if (a == 0 || (a & (a - 1)) != 0) {
    return InvalidArgumentError(fmt::format("general.alignment {} is not a power of two", a));
  }
  return uint64_t{a};
}

}  // namespace

StatusOr<std::vector<uint8_t>> GgufWriter::SerializeHead(uint64_t& alignment) const {
  alignment = alignment_;
  for (const Kv& kv : kvs_) {
    if (kv.key == "general.alignment") {
      SOBRE_ASSIGN_OR_RETURN(alignment, EffectiveAlignment(alignment_, kv.type, &kv.encoded));
    }
  }
  std::vector<uint8_t> out;
  out.insert(out.end(), {'G', 'G', 'U', 'F'});
  AppendLe<uint32_t>(out, 3);
  AppendLe<uint64_t>(out, tensors_.size());
  AppendLe<uint64_t>(out, kvs_.size());
  for (const Kv& kv : kvs_) {
    AppendString(out, kv.key);
    AppendLe<uint32_t>(out, static_cast<uint32_t>(kv.type));
    out.insert(out.end(), kv.encoded.begin(), kv.encoded.end());
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    AppendString(out, t.name);
    AppendLe<uint32_t>(out, static_cast<uint32_t>(t.dims.size()));
    for (uint64_t d : t.dims) AppendLe<uint64_t>(out, d);
    AppendLe<uint32_t>(out, static_cast<uint32_t>(t.type));
    AppendLe<uint64_t>(out, offset);
    offset = AlignUp(offset + t.data.size(), alignment);
  }
  if (!tensors_.empty()) out.resize(AlignUp(out.size(), alignment), 0);
  return out;
}

StatusOr<std::vector<uint8_t>> GgufWriter::Serialize() const {
  uint64_t alignment = 0;
  SOBRE_ASSIGN_OR_RETURN(std::vector<uint8_t> out, SerializeHead(alignment));
  const size_t data_start = out.size();
  for (const Tensor& t : tensors_) {
    out.insert(out.end(), t.data.begin(), t.data.end());
    out.resize(data_start + AlignUp(out.size() - data_start, alignment), 0);
  }
  return out;
}

Status GgufWriter::WriteFile(const std::string& path) const {
  uint64_t alignment = 0;
  SOBRE_ASSIGN_OR_RETURN(std::vector<uint8_t> head, SerializeHead(alignment));
  const std::string tmp = path + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoToStatus(errno, "creating " + tmp);
  auto write_all = [&]() -> Status {
    SOBRE_RETURN_IF_ERROR(WriteAll(fd.get(), head.data(), head.size(), tmp));
    static const uint8_t kZeros[64] = {};
    for (const Tensor& t : tensors_) {
      SOBRE_RETURN_IF_ERROR(WriteAll(fd.get(), t.data.data(), t.data.size(), tmp));
      uint64_t pad = AlignUp(t.data.size(), alignment) - t.data.size();
      while (pad > 0) {
        const size_t chunk = pad < sizeof(kZeros) ? pad : sizeof(kZeros);
        SOBRE_RETURN_IF_ERROR(WriteAll(fd.get(), kZeros, chunk, tmp));
        pad -= chunk;
      }
    }
    if (::fsync(fd.get()) != 0) return ErrnoToStatus(errno, "syncing " + tmp);
    if (::close(fd.Release()) != 0) return ErrnoToStatus(errno, "closing " + tmp);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      return ErrnoToStatus(errno, "renaming " + tmp + " to " + path);
    }
    return OkStatus();
  };
  Status st = write_all();
  if (!st.ok()) {
    fd.Reset();
    ::unlink(tmp.c_str());
  }
  return st;
}

}  // namespace sobre::engine
