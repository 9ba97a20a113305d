// The GGUF reader against truncated, mutated and deliberately corrupt files: each must give an
// error naming what was wrong and where, never a crash or an out-of-bounds read (run this test
// under -DSOBRE_SANITIZE=address to make the last point checkable).
#include <cstdio>
#include <cstring>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "tests/engine/gguf/gguf_test_util.h"

namespace sobre::engine {
namespace {

using ::testing::HasSubstr;
using testing::Bytes;
using testing::SampleWriter;

std::vector<uint8_t> SampleBytes() {
  StatusOr<std::vector<uint8_t>> b = SampleWriter().Serialize();
  return b.ok() ? *b : std::vector<uint8_t>{};
}

// Touches everything a valid file exposes, so that a parse that wrongly succeeded would read out
// of bounds (and the sanitizer would say so).
uint64_t TouchEverything(const GgufFile& f) {
  uint64_t sum = 0;
  for (std::string_view key : f.Keys()) {
    StatusOr<std::string> text = f.FormatValue(key, 1000);
    if (text.ok()) sum += text->size();
    sum += f.GetUint(key).ok() + f.GetInt(key).ok() + f.GetFloat(key).ok() + f.GetBool(key).ok();
    if (auto s = f.GetString(key); s.ok()) {
      for (char c : *s) sum += static_cast<uint8_t>(c);
    }
    if (auto a = f.GetStringArray(key); a.ok()) {
      for (std::string_view s : *a) sum += s.size() + (s.empty() ? 0 : static_cast<uint8_t>(s.back()));
    }
    if (auto a = f.GetFloatArray(key); a.ok()) sum += a->size();
    if (auto a = f.GetIntArray(key); a.ok()) sum += a->size();
    if (auto a = f.GetByteArray(key); a.ok()) {
      for (uint8_t x : *a) sum += x;
    }
    if (auto raw = f.RawValue(key); raw.ok()) {
      for (uint8_t x : *raw) sum += x;
    }
  }
  for (const GgufTensorInfo& t : f.tensors()) {
    for (uint64_t i = 0; i < t.size_bytes; ++i) sum += t.data[i];
  }
  return sum;
}

Status ParseError(std::vector<uint8_t> bytes) {
  StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::FromBuffer(std::move(bytes), "bad.gguf");
  if (f.ok()) return OkStatus();
  return f.status();
}

TEST(GgufHostileTest, EveryTruncationIsAnErrorUntilTheLastTensorEnds) {
  const std::vector<uint8_t> full = SampleBytes();
  StatusOr<std::unique_ptr<GgufFile>> whole = GgufFile::FromBuffer(full, "whole.gguf");
  ASSERT_TRUE(whole.ok());
  uint64_t needed = 0;
  for (const GgufTensorInfo& t : (*whole)->tensors()) {
    needed = std::max(needed, (*whole)->data_offset() + t.offset + t.size_bytes);
  }
  ASSERT_LT(needed, full.size());  // the writer pads the last tensor: a few prefixes stay valid
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> prefix(full.begin(), full.begin() + static_cast<ptrdiff_t>(n));
    StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::FromBuffer(std::move(prefix), "cut.gguf");
    if (n < needed) {
      ASSERT_FALSE(f.ok()) << "prefix of " << n << " bytes was accepted";
      EXPECT_EQ(f.status().code(), StatusCode::kInvalidArgument);
      EXPECT_THAT(f.status().message(), HasSubstr("cut.gguf: byte "));
    } else {
      ASSERT_TRUE(f.ok()) << n << ": " << f.status().ToString();
      TouchEverything(**f);
    }
  }
}

TEST(GgufHostileTest, RandomMutationsNeverCrash) {
  const std::vector<uint8_t> full = SampleBytes();
  std::mt19937 rng(20240611);
  int accepted = 0, refused = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    std::vector<uint8_t> b = full;
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % b.size();
      switch (rng() % 4) {
        case 0: b[at] = static_cast<uint8_t>(rng()); break;
        case 1: b[at] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
        case 2: {  // a hostile 64-bit value: huge, small, or just past the end
          const uint64_t values[] = {~uint64_t{0}, uint64_t{1} << 63, uint64_t{1} << 31,
                                     b.size(), b.size() - at, 0};
          const uint64_t v = values[rng() % 6];
          const size_t n = std::min<size_t>(8, b.size() - at);
          std::memcpy(&b[at], &v, n);
          break;
        }
        default:  // cut the file short
          b.resize(at + 1);
          break;
      }
    }
    // An exact-size copy, so that the sanitizer sees any read past the end (a shrunk vector keeps
    // its capacity).
    StatusOr<std::unique_ptr<GgufFile>> f =
        GgufFile::FromBuffer(std::vector<uint8_t>(b.begin(), b.end()), "fuzz.gguf");
    if (f.ok()) {
      ++accepted;
      TouchEverything(**f);
    } else {
      ++refused;
      EXPECT_THAT(f.status().message(), HasSubstr("fuzz.gguf"));
    }
  }
  std::printf("mutated files: %d accepted, %d refused\n", accepted, refused);
  // Both outcomes must occur, or the mutations are not exercising the parser.
  EXPECT_GT(accepted, 50);
  EXPECT_GT(refused, 1000);
}

TEST(GgufHostileTest, WrongMagicIsNamed) {
  std::vector<uint8_t> b = SampleBytes();
  b[0] = 'X';
  EXPECT_THAT(ParseError(b).message(), HasSubstr("not a GGUF file: magic is 58 47 55 46"));
  EXPECT_THAT(ParseError({'G', 'G'}).message(), HasSubstr("shorter than"));
  EXPECT_THAT(ParseError({}).message(), HasSubstr("not a GGUF file"));
}

TEST(GgufHostileTest, VersionsOtherThanTwoAndThreeAreRefused) {
  Bytes v1;
  v1.Header(1, 0, 0);
  EXPECT_THAT(ParseError(v1.b).message(), HasSubstr("version 1 is not supported"));
  Bytes v4;
  v4.Header(4, 0, 0);
  EXPECT_THAT(ParseError(v4.b).message(), HasSubstr("unsupported GGUF version 4"));
  // A big-endian writer stores version 3 as 00 00 00 03.
  Bytes be;
  be.Raw("GGUF", 4).U32(0x03000000).U64(0).U64(0);
  Status st = ParseError(be.b);
  EXPECT_THAT(st.message(), HasSubstr("big-endian"));
  EXPECT_THAT(st.message(), HasSubstr("bad.gguf: byte 4"));
}

TEST(GgufHostileTest, HugeCountsAreRefusedBeforeAllocating) {
  Bytes kv;
  kv.Header(3, 0, uint64_t{1} << 60);
  EXPECT_THAT(ParseError(kv.b).message(), HasSubstr("metadata key count 1152921504606846976"));
  Bytes tc;
  tc.Header(3, ~uint64_t{0}, 0);
  EXPECT_THAT(ParseError(tc.b).message(), HasSubstr("tensor count"));
  Bytes arr;
  arr.Header(3, 0, 1).Str("big").U32(9).U32(4).U64(uint64_t{1} << 31);
  Status st = ParseError(arr.b);
  EXPECT_THAT(st.message(), HasSubstr("key 'big': array of 2147483648 elements exceeds"));
  Bytes arr2;  // within the cap but longer than the file
  arr2.Header(3, 0, 1).Str("big").U32(9).U32(10).U64(1000).U64(1);
  EXPECT_THAT(ParseError(arr2.b).message(), HasSubstr("truncated: value of key 'big' needs 8000"));
}

TEST(GgufHostileTest, HugeStringLengthsAreRefused) {
  Bytes key;
  key.Header(3, 0, 1).U64(uint64_t{1} << 40).Raw("k\0\0\0\0\0\0\0\0\0\0\0\0", 13);
  EXPECT_THAT(ParseError(key.b).message(), HasSubstr("key of metadata entry 0: length"));
  Bytes val;
  val.Header(3, 0, 1).Str("general.name").U32(8).U64(uint64_t{1} << 62).Raw("abc", 3);
  Status st = ParseError(val.b);
  EXPECT_THAT(st.message(), HasSubstr("value of key 'general.name': length 4611686018427387904"));
  EXPECT_THAT(st.message(), HasSubstr("byte 48"));  // 24 header + 20 key + 4 type
  Bytes past;  // a length just one byte past the end
  past.Header(3, 0, 1).Str("k").U32(8).U64(4).Raw("abc", 3);
  EXPECT_THAT(ParseError(past.b).message(), HasSubstr("truncated"));
  Bytes strs;  // element 1 of a string array runs off the end
  strs.Header(3, 0, 1).Str("toks").U32(9).U32(8).U64(2).Str("a").U64(100).Raw("b", 1);
  EXPECT_THAT(ParseError(strs.b).message(), HasSubstr("element 1 of key 'toks'"));
}

TEST(GgufHostileTest, BadValueTypesAreNamed) {
  Bytes unknown;
  unknown.Header(3, 0, 1).Str("k").U32(13).U32(0);
  EXPECT_THAT(ParseError(unknown.b).message(), HasSubstr("key 'k': unknown value type 13"));
  Bytes nested;
  nested.Header(3, 0, 1).Str("k").U32(9).U32(9).U64(1);
  EXPECT_THAT(ParseError(nested.b).message(), HasSubstr("arrays of arrays"));
  Bytes elem;
  elem.Header(3, 0, 1).Str("k").U32(9).U32(77).U64(0);
  EXPECT_THAT(ParseError(elem.b).message(), HasSubstr("unknown array element type 77"));
  Bytes boolean;
  boolean.Header(3, 0, 1).Str("k").U32(7).U8(2);
  EXPECT_THAT(ParseError(boolean.b).message(), HasSubstr("neither 0 nor 1"));
}

TEST(GgufHostileTest, DuplicateAndEmptyKeysAreRefused) {
  Bytes dup;
  dup.Header(3, 0, 2).Str("a").U32(4).U32(1).Str("a").U32(4).U32(2);
  EXPECT_THAT(ParseError(dup.b).message(), HasSubstr("duplicate metadata key 'a'"));
  Bytes empty;
  empty.Header(3, 0, 1).Str("").U32(4).U32(1);
  EXPECT_THAT(ParseError(empty.b).message(), HasSubstr("empty key"));
}

TEST(GgufHostileTest, BadAlignmentIsRefused) {
  for (uint32_t a : {0u, 3u, 48u}) {
    Bytes b;
    b.Header(3, 0, 1).Str("general.alignment").U32(4).U32(a);
    EXPECT_THAT(ParseError(b.b).message(), HasSubstr("not a power of two")) << a;
  }
  Bytes s;
  s.Header(3, 0, 1).Str("general.alignment").U32(8).Str("32");
  EXPECT_THAT(ParseError(s.b).message(), HasSubstr("general.alignment is str"));
}

// A file with one tensor whose info fields are given; data section of `data_bytes` zero bytes.
std::vector<uint8_t> OneTensor(uint32_t n_dims, std::vector<uint64_t> dims, uint32_t type,
                               uint64_t offset, size_t data_bytes, std::string name = "w") {
  Bytes b;
  b.Header(3, 1, 0).Str(name).U32(n_dims);
  for (uint64_t d : dims) b.U64(d);
  b.U32(type).U64(offset).PadTo(32);
  b.b.resize(b.b.size() + data_bytes, 0);
  return b.b;
}

TEST(GgufHostileTest, BadTensorInfosAreNamed) {
  EXPECT_TRUE(ParseError(OneTensor(2, {32, 2}, 8, 0, 68)).ok());  // the valid baseline
  EXPECT_THAT(ParseError(OneTensor(5, {1, 1, 1, 1, 1}, 0, 0, 64)).message(),
              HasSubstr("tensor 'w' has 5 dimensions"));
  EXPECT_THAT(ParseError(OneTensor(2, {uint64_t{1} << 40, uint64_t{1} << 40}, 0, 0, 64)).message(),
              HasSubstr("tensor 'w': element count overflows"));
  EXPECT_THAT(ParseError(OneTensor(2, {4, 0}, 0, 0, 64)).message(),
              HasSubstr("dimension 1 is zero"));
  EXPECT_THAT(ParseError(OneTensor(1, {32}, 99, 0, 64)).message(),
              HasSubstr("tensor 'w' has ggml type 99 (unknown)"));
  EXPECT_THAT(ParseError(OneTensor(1, {32}, 20, 0, 64)).message(), HasSubstr("IQ4_NL"));
  EXPECT_THAT(ParseError(OneTensor(1, {256}, 15, 0, 400)).message(),
              HasSubstr("activations only"));
  EXPECT_THAT(ParseError(OneTensor(1, {48}, 2, 0, 64)).message(),
              HasSubstr("row length 48 is not a multiple of the Q4_0 block size 32"));
  EXPECT_THAT(ParseError(OneTensor(1, {4}, 0, 8, 64)).message(),
              HasSubstr("data offset 8 is not a multiple of the alignment 32"));
  Status st = ParseError(OneTensor(2, {32, 2}, 8, 0, 67));
  EXPECT_THAT(st.message(), HasSubstr("tensor 'w': data at bytes 0..68"));
  EXPECT_THAT(st.message(), HasSubstr("beyond the end"));
  EXPECT_THAT(ParseError(OneTensor(1, {4}, 0, ~uint64_t{0} - 31, 64)).message(),
              HasSubstr("beyond the end"));
  EXPECT_THAT(ParseError(OneTensor(1, {4}, 0, 0, 64, "")).message(), HasSubstr("empty name"));
}

TEST(GgufHostileTest, OverlappingAndDuplicateTensorsAreRefused) {
  Bytes b;
  b.Header(3, 2, 0);
  b.Str("first").U32(1).U64(16).U32(0).U64(0);   // bytes 0..64
  b.Str("second").U32(1).U64(4).U32(0).U64(32);  // bytes 32..48: inside "first"
  b.PadTo(32);
  b.b.resize(b.b.size() + 96, 0);
  Status st = ParseError(b.b);
  EXPECT_THAT(st.message(), HasSubstr("tensor 'second' (data bytes 32..48) overlaps tensor "
                                      "'first' (data bytes 0..64)"));
  Bytes d;
  d.Header(3, 2, 0);
  d.Str("same").U32(1).U64(4).U32(0).U64(0);
  d.Str("same").U32(1).U64(4).U32(0).U64(32);
  d.PadTo(32);
  d.b.resize(d.b.size() + 64, 0);
  EXPECT_THAT(ParseError(d.b).message(), HasSubstr("duplicate tensor name 'same'"));
}

TEST(GgufHostileTest, ErrorsFromOpenNameThePath) {
  StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::Open("/proc/self/status");
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(f.status().message(), HasSubstr("/proc/self/status"));
}

}  // namespace
}  // namespace sobre::engine
