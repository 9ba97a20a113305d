// GgufFile and GgufWriter: round trips of every value and tensor type, typed getters and their
// errors, the exact byte layout of a hand-encoded file, and atomic writes.
#include "engine/gguf/gguf_file.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/gguf/gguf_writer.h"
#include "tests/engine/gguf/gguf_test_util.h"

namespace sobre::engine {
namespace {

using ::testing::HasSubstr;
using testing::Bytes;
using testing::RandomBytes;
using testing::SampleWriter;

std::unique_ptr<GgufFile> ReadBack(const GgufWriter& w, std::string name = "sample.gguf") {
  StatusOr<std::vector<uint8_t>> bytes = w.Serialize();
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::FromBuffer(std::move(bytes).value(), name);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  return f.ok() ? std::move(f).value() : nullptr;
}

TEST(GgufFileTest, ScalarValuesRoundTripWithTheirTypes) {
  std::unique_ptr<GgufFile> f = ReadBack(SampleWriter());
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(*f->TypeOf("t.u8"), GgufValueType::kUint8);
  EXPECT_EQ(*f->TypeOf("t.i64"), GgufValueType::kInt64);
  EXPECT_EQ(*f->TypeOf("t.str"), GgufValueType::kString);
  EXPECT_EQ(*f->TypeOf("t.strs"), GgufValueType::kArray);
  EXPECT_EQ(*f->ArrayElementType("t.strs"), GgufValueType::kString);
  EXPECT_FALSE(f->ArrayElementType("t.u8").has_value());
  EXPECT_FALSE(f->TypeOf("missing").has_value());

  EXPECT_EQ(*f->GetUint("t.u8"), 200u);
  EXPECT_EQ(*f->GetInt("t.i8"), -100);
  EXPECT_EQ(*f->GetUint("t.u16"), 60000u);
  EXPECT_EQ(*f->GetInt("t.i16"), -30000);
  EXPECT_EQ(*f->GetUint("t.u32"), 4000000000u);
  EXPECT_EQ(*f->GetInt("t.u32"), 4000000000);
  EXPECT_EQ(*f->GetInt("t.i32"), -2000000000);
  EXPECT_EQ(*f->GetUint("t.u64"), 18000000000000000000ull);
  EXPECT_EQ(*f->GetInt("t.i64"), -9000000000000000000ll);
  EXPECT_EQ(*f->GetFloat("t.f32"), double{0.1f});
  EXPECT_EQ(*f->GetFloat("t.f64"), 2.5e300);
  EXPECT_TRUE(*f->GetBool("t.bool"));
  EXPECT_EQ(*f->GetString("t.str"), "h\xC3\xA9llo \"w\"\n");
  EXPECT_EQ(*f->GetString("general.architecture"), "llama");
}

TEST(GgufFileTest, ArraysRoundTrip) {
  std::unique_ptr<GgufFile> f = ReadBack(SampleWriter());
  ASSERT_NE(f, nullptr);
  std::vector<std::string_view> strs = *f->GetStringArray("t.strs");
  EXPECT_THAT(strs, ::testing::ElementsAre("a", "", "\xE2\x96\x81the", "<|im_end|>"));
  EXPECT_THAT(*f->GetFloatArray("t.f32s"), ::testing::ElementsAre(1.0f, -2.5f, 1e-8f));
  EXPECT_THAT(*f->GetIntArray("t.i32s"), ::testing::ElementsAre(1, -2, 3));
  EXPECT_THAT(*f->GetIntArray("t.u8s"), ::testing::ElementsAre(0, 255, 7));
  std::span<const uint8_t> raw = *f->GetByteArray("t.u8s");
  EXPECT_THAT(std::vector<uint8_t>(raw.begin(), raw.end()), ::testing::ElementsAre(0, 255, 7));
  EXPECT_EQ(*f->ArrayLength("t.strs"), 4u);
}

TEST(GgufFileTest, RawArraysOfEveryFixedElementType) {
  GgufWriter w;
  auto put = [&](const char* key, GgufValueType t, std::vector<uint8_t> v, uint64_t n) {
    ASSERT_TRUE(w.SetRawArray(key, t, n, std::move(v)).ok()) << key;
  };
  put("i8", GgufValueType::kInt8, {0xFF, 0x01}, 2);
  put("u16", GgufValueType::kUint16, {0x34, 0x12}, 1);
  put("i16", GgufValueType::kInt16, {0xFE, 0xFF}, 1);
  put("u32", GgufValueType::kUint32, {1, 0, 0, 0}, 1);
  put("u64", GgufValueType::kUint64, {0, 0, 0, 0, 0, 0, 0, 0x80}, 1);
  put("i64", GgufValueType::kInt64, {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, 1);
  double d = -0.25;
  std::vector<uint8_t> dbytes(8);
  std::memcpy(dbytes.data(), &d, 8);
  put("f64", GgufValueType::kFloat64, dbytes, 1);
  put("bool", GgufValueType::kBool, {1, 0, 1}, 3);
  EXPECT_FALSE(w.SetRawArray("bad", GgufValueType::kUint32, 2, {1, 2, 3}).ok());
  EXPECT_FALSE(w.SetRawArray("bad", GgufValueType::kString, 0, {}).ok());
  std::unique_ptr<GgufFile> f = ReadBack(w);
  ASSERT_NE(f, nullptr);
  EXPECT_THAT(*f->GetIntArray("i8"), ::testing::ElementsAre(-1, 1));
  EXPECT_THAT(*f->GetByteArray("i8"), ::testing::ElementsAre(0xFF, 0x01));
  EXPECT_THAT(*f->GetIntArray("u16"), ::testing::ElementsAre(0x1234));
  EXPECT_THAT(*f->GetIntArray("i16"), ::testing::ElementsAre(-2));
  EXPECT_THAT(*f->GetIntArray("u32"), ::testing::ElementsAre(1));
  EXPECT_THAT(*f->GetIntArray("i64"), ::testing::ElementsAre(-1));
  EXPECT_THAT(*f->GetFloatArray("f64"), ::testing::ElementsAre(-0.25f));
  EXPECT_EQ(*f->ArrayElementType("bool"), GgufValueType::kBool);
  // 2^63 does not fit int64: an error naming the key, not a wrapped value.
  Status st = f->GetIntArray("u64").status();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("'u64'"));
  EXPECT_EQ(*f->FormatValue("bool"), "[true, false, true]");
}

TEST(GgufFileTest, GettersRefuseMismatchedTypesNamingKeyAndType) {
  std::unique_ptr<GgufFile> f = ReadBack(SampleWriter());
  ASSERT_NE(f, nullptr);
  Status st = f->GetFloat("t.u32").status();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("sample.gguf"));
  EXPECT_THAT(st.message(), HasSubstr("'t.u32' is u32"));
  st = f->GetUint("t.i8").status();  // negative
  EXPECT_THAT(st.message(), HasSubstr("-100"));
  st = f->GetInt("t.u64").status();  // above INT64_MAX
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  st = f->GetString("t.strs").status();
  EXPECT_THAT(st.message(), HasSubstr("arr[str]"));
  st = f->GetStringArray("t.f32s").status();
  EXPECT_THAT(st.message(), HasSubstr("arr[f32]"));
  EXPECT_FALSE(f->GetBool("t.u8").ok());
  EXPECT_FALSE(f->GetFloatArray("t.i32s").ok());
  EXPECT_FALSE(f->GetByteArray("t.i32s").ok());
  EXPECT_FALSE(f->GetIntArray("t.f32s").ok());
  st = f->GetUint("no.such.key").status();
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_THAT(st.message(), HasSubstr("'no.such.key'"));
}

TEST(GgufFileTest, DefaultsApplyOnlyWhenAbsent) {
  std::unique_ptr<GgufFile> f = ReadBack(SampleWriter());
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(*f->GetUintOr("absent", 7), 7u);
  EXPECT_EQ(*f->GetUintOr("t.u16", 7), 60000u);
  EXPECT_EQ(*f->GetFloatOr("absent", 1e4), 1e4);
  EXPECT_TRUE(*f->GetBoolOr("absent", true));
  EXPECT_EQ(*f->GetStringOr("absent", "x"), "x");
  EXPECT_FALSE(f->GetUintOr("t.str", 7).ok());
  EXPECT_FALSE(f->GetFloatOr("t.str", 1.0).ok());
  EXPECT_FALSE(f->GetBoolOr("t.u8", false).ok());
}

TEST(GgufFileTest, KeysComeInFileOrderAndSetReplacesInPlace) {
  GgufWriter w;
  w.SetUint32("b", 1);
  w.SetUint32("a", 2);
  w.SetString("b", "now a string");
  EXPECT_TRUE(w.Has("a"));
  EXPECT_TRUE(w.Remove("a"));
  EXPECT_FALSE(w.Remove("a"));
  w.SetUint32("c", 3);
  std::unique_ptr<GgufFile> f = ReadBack(w);
  ASSERT_NE(f, nullptr);
  EXPECT_THAT(f->Keys(), ::testing::ElementsAre("b", "c"));
  EXPECT_EQ(*f->GetString("b"), "now a string");
}

TEST(GgufFileTest, TensorsOfEveryStorableTypeRoundTrip) {
  GgufWriter w;
  std::vector<std::vector<uint8_t>> payloads;
  uint32_t seed = 10;
  for (const GgmlTypeTraits& t : kGgmlTypes) {
    if (!t.storable) continue;
    const uint64_t ne0 = t.block_elements * 2, ne1 = 3, ne2 = 2;
    std::vector<uint8_t> data = RandomBytes(RowBytes(t.type, ne0) * ne1 * ne2, seed++);
    payloads.push_back(data);
    ASSERT_TRUE(w.AddTensor(std::string("t.") + std::string(t.name), t.type, {ne0, ne1, ne2},
                            data)
                    .ok())
        << t.name;
  }
  std::unique_ptr<GgufFile> f = ReadBack(w);
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->tensors().size(), payloads.size());
  size_t i = 0;
  for (const GgmlTypeTraits& t : kGgmlTypes) {
    if (!t.storable) continue;
    const GgufTensorInfo* info = f->FindTensor(std::string("t.") + std::string(t.name));
    ASSERT_NE(info, nullptr) << t.name;
    EXPECT_EQ(info, &f->tensors()[i]);  // file order is insertion order
    EXPECT_EQ(info->type, t.type);
    EXPECT_EQ(info->n_dims, 3);
    EXPECT_EQ(info->dims[0], t.block_elements * 2);
    EXPECT_EQ(info->dims[1], 3u);
    EXPECT_EQ(info->dims[2], 2u);
    EXPECT_EQ(info->dims[3], 1u);
    EXPECT_EQ(info->elements(), t.block_elements * 12u);
    EXPECT_EQ(info->rows(), 6u);
    EXPECT_EQ(info->size_bytes, payloads[i].size());
    EXPECT_EQ(info->offset % f->alignment(), 0u);
    EXPECT_EQ(std::vector<uint8_t>(info->data, info->data + info->size_bytes), payloads[i]);
    ++i;
  }
  EXPECT_EQ(f->FindTensor("nope"), nullptr);
}

TEST(GgufFileTest, CustomAlignmentIsHonouredAndDeclared) {
  GgufWriter w = SampleWriter();
  ASSERT_TRUE(w.SetAlignment(256).ok());
  EXPECT_FALSE(w.SetAlignment(48).ok());
  std::unique_ptr<GgufFile> f = ReadBack(w);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->alignment(), 256u);
  EXPECT_EQ(*f->GetUint("general.alignment"), 256u);
  EXPECT_EQ(f->data_offset() % 256, 0u);
  for (const GgufTensorInfo& t : f->tensors()) EXPECT_EQ(t.offset % 256, 0u) << t.name;
}

TEST(GgufFileTest, CopyKeyCopiesEveryTypeVerbatim) {
  std::unique_ptr<GgufFile> src = ReadBack(SampleWriter());
  ASSERT_NE(src, nullptr);
  GgufWriter w;
  for (std::string_view key : src->Keys()) ASSERT_TRUE(w.CopyKey(*src, key).ok()) << key;
  EXPECT_EQ(w.CopyKey(*src, "absent").code(), StatusCode::kNotFound);
  std::unique_ptr<GgufFile> dst = ReadBack(w);
  ASSERT_NE(dst, nullptr);
  ASSERT_EQ(dst->Keys(), src->Keys());
  for (std::string_view key : src->Keys()) {
    EXPECT_EQ(*dst->TypeOf(key), *src->TypeOf(key));
    std::span<const uint8_t> a = *src->RawValue(key), b = *dst->RawValue(key);
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << key;
    EXPECT_EQ(*dst->FormatValue(key), *src->FormatValue(key));
  }
}

TEST(GgufFileTest, FormatValueRendersScalarsStringsAndSummarisedArrays) {
  GgufWriter w;
  w.SetFloat32("f", 0.1f);
  w.SetString("s", "a\"b\n\x01");
  w.SetInt32Array("ints", {1, 2, 3, 4, 5});
  w.SetStringArray("none", {});
  std::unique_ptr<GgufFile> f = ReadBack(w);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(*f->FormatValue("f"), "0.1");
  EXPECT_EQ(*f->FormatValue("s"), "\"a\\\"b\\n\\u0001\"");
  EXPECT_EQ(*f->FormatValue("ints", 2), "[1, 2, ... 5 items]");
  EXPECT_EQ(*f->FormatValue("ints"), "[1, 2, 3, 4, 5]");
  EXPECT_EQ(*f->FormatValue("none"), "[]");
}

// The writer's bytes equal a file encoded by hand from the spec (reference §1.1-1.3).
TEST(GgufWriterTest, ProducesTheSpecifiedByteLayout) {
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  w.SetFloat32Array("x", {1.5f});
  std::vector<uint8_t> data = {1, 2, 3, 4, 5, 6, 7, 8};
  ASSERT_TRUE(w.AddTensor("t", GgmlType::kF32, {2}, data).ok());
  ASSERT_TRUE(w.AddTensor("u", GgmlType::kF16, {2}, {9, 9, 9, 9}).ok());

  Bytes e;
  e.Header(3, 2, 2);
  e.Str("general.architecture").U32(8).Str("llama");
  e.Str("x").U32(9).U32(6).U64(1).F32(1.5f);
  e.Str("t").U32(1).U64(2).U32(0).U64(0);
  e.Str("u").U32(1).U64(2).U32(1).U64(32);
  e.PadTo(32);
  e.Raw(data.data(), data.size()).PadTo(32);
  e.U32(0x09090909).PadTo(32);
  StatusOr<std::vector<uint8_t>> got = w.Serialize();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, e.b);

  // And the reader finds everything in the hand-made bytes.
  StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::FromBuffer(e.b, "hand.gguf");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->tensors()[1].data, (*f)->tensors()[0].data + 32);
  EXPECT_EQ((*f)->tensors()[0].data[0], 1);
}

TEST(GgufFileTest, ReadsVersion2Files) {
  Bytes e;
  e.Header(2, 0, 1).Str("general.name").U32(8).Str("old");
  StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::FromBuffer(e.b, "v2.gguf");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->version(), 2u);
  EXPECT_EQ(*(*f)->GetString("general.name"), "old");
}

TEST(GgufWriterTest, RefusesInconsistentTensors) {
  GgufWriter w;
  Status st = w.AddTensor("q", GgmlType::kQ4_0, {33}, std::vector<uint8_t>(18));
  EXPECT_THAT(st.message(), HasSubstr("not a multiple"));
  st = w.AddTensor("q", GgmlType::kQ4_0, {32, 2}, std::vector<uint8_t>(18));
  EXPECT_THAT(st.message(), HasSubstr("expected 36"));
  st = w.AddTensor(std::string(64, 'n'), GgmlType::kF32, {1}, std::vector<uint8_t>(4));
  EXPECT_FALSE(st.ok());
  st = w.AddTensor("k", GgmlType::kQ8_K, {256}, std::vector<uint8_t>(292));
  EXPECT_THAT(st.message(), HasSubstr("cannot be stored"));
  st = w.AddTensor("z", GgmlType::kF32, {0}, {});
  EXPECT_FALSE(st.ok());
  st = w.AddTensor("five", GgmlType::kF32, {1, 1, 1, 1, 1}, std::vector<uint8_t>(4));
  EXPECT_FALSE(st.ok());
  ASSERT_TRUE(w.AddTensor("ok", GgmlType::kF32, {1}, std::vector<uint8_t>(4)).ok());
  st = w.AddTensor("ok", GgmlType::kF32, {1}, std::vector<uint8_t>(4));
  EXPECT_THAT(st.message(), HasSubstr("added twice"));
}

TEST(GgufWriterTest, WriteFileIsAtomicAndMatchesSerialize) {
  char tmpl[] = "/tmp/sobre_gguf_test_XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string path = dir + "/m.gguf";
  GgufWriter w = SampleWriter();
  ASSERT_TRUE(w.WriteFile(path).ok());
  EXPECT_NE(::access((path + ".tmp").c_str(), F_OK), 0);
  StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::Open(path, {.prefetch = true});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->path(), path);
  StatusOr<std::vector<uint8_t>> bytes = w.Serialize();
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ((*f)->file_bytes(), bytes->size());
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> on_disk((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(on_disk, *bytes);

  Status st = w.WriteFile(dir + "/no/such/dir/m.gguf");
  EXPECT_FALSE(st.ok());
  StatusOr<std::unique_ptr<GgufFile>> missing = GgufFile::Open(dir + "/absent.gguf");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("absent.gguf"));
  std::remove(path.c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace sobre::engine
