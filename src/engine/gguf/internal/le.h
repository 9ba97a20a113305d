// Little-endian loads and stores for the GGUF reader and writer (GGUF files are little-endian).
#ifndef SOBRE_ENGINE_GGUF_INTERNAL_LE_H_
#define SOBRE_ENGINE_GGUF_INTERNAL_LE_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <vector>

namespace sobre::engine::internal {

// Reads a T stored little-endian at `p` (no alignment needed). T is an integer or float type.
template <typename T>
T LoadLe(const uint8_t* p) {
  static_assert(std::endian::native == std::endian::little,
                "sobre's GGUF code assumes a little-endian host");
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Appends `v` to `out` little-endian.
template <typename T>
void AppendLe(std::vector<uint8_t>& out, T v) {
  static_assert(std::endian::native == std::endian::little,
                "sobre's GGUF code assumes a little-endian host");
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

}  // namespace sobre::engine::internal

#endif  // SOBRE_ENGINE_GGUF_INTERNAL_LE_H_
