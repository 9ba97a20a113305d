// Helpers for the GGUF tests: a sample file with every value type and several tensor types, and
// a raw byte builder for hand-made (and deliberately broken) files.
#ifndef SOBRE_TESTS_ENGINE_GGUF_GGUF_TEST_UTIL_H_
#define SOBRE_TESTS_ENGINE_GGUF_GGUF_TEST_UTIL_H_

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "engine/gguf/gguf_writer.h"

namespace sobre::engine::testing {

// Appends little-endian fields; the file layout of reference/engine.md §1.1 written by hand, so
// that the reader is checked against the spec and not only against our own writer.
struct Bytes {
  std::vector<uint8_t> b;
  Bytes& U8(uint8_t v) { return Raw(&v, 1); }
  Bytes& U32(uint32_t v) { return Raw(&v, 4); }
  Bytes& U64(uint64_t v) { return Raw(&v, 8); }
  Bytes& F32(float v) { return Raw(&v, 4); }
  Bytes& Str(std::string_view s) {
    U64(s.size());
    return Raw(s.data(), s.size());
  }
  Bytes& Raw(const void* p, size_t n) {
    const auto* c = static_cast<const uint8_t*>(p);
    b.insert(b.end(), c, c + n);
    return *this;
  }
  Bytes& PadTo(size_t alignment) {
    while (b.size() % alignment != 0) b.push_back(0);
    return *this;
  }
  Bytes& Header(uint32_t version, uint64_t tensors, uint64_t kvs) {
    Raw("GGUF", 4);
    U32(version);
    U64(tensors);
    return U64(kvs);
  }
};

inline std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (uint8_t& x : v) x = static_cast<uint8_t>(rng());
  return v;
}

// A small valid file: one key of every scalar type, string and numeric arrays, and tensors of
// three types (F32, Q8_0, Q4_K).
inline GgufWriter SampleWriter() {
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  w.SetUint8("t.u8", 200);
  w.SetInt8("t.i8", -100);
  w.SetUint16("t.u16", 60000);
  w.SetInt16("t.i16", -30000);
  w.SetUint32("t.u32", 4000000000u);
  w.SetInt32("t.i32", -2000000000);
  w.SetUint64("t.u64", 18000000000000000000ull);
  w.SetInt64("t.i64", -9000000000000000000ll);
  w.SetFloat32("t.f32", 0.1f);
  w.SetFloat64("t.f64", 2.5e300);
  w.SetBool("t.bool", true);
  w.SetString("t.str", "h\xC3\xA9llo \"w\"\n");
  w.SetStringArray("t.strs", {"a", "", "\xE2\x96\x81the", "<|im_end|>"});
  w.SetFloat32Array("t.f32s", {1.0f, -2.5f, 1e-8f});
  w.SetInt32Array("t.i32s", {1, -2, 3});
  w.SetUint8Array("t.u8s", {0, 255, 7});
  (void)w.AddTensor("a.weight", GgmlType::kF32, {3, 2}, RandomBytes(24, 1));
  (void)w.AddTensor("b.weight", GgmlType::kQ8_0, {64, 3}, RandomBytes(34 * 2 * 3, 2));
  (void)w.AddTensor("c.weight", GgmlType::kQ4_K, {256}, RandomBytes(144, 3));
  return w;
}

}  // namespace sobre::engine::testing

#endif  // SOBRE_TESTS_ENGINE_GGUF_GGUF_TEST_UTIL_H_
