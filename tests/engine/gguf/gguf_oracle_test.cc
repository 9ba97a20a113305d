// Our reader against an independent one: @huggingface/gguf (tests/engine/oracles) reads files our
// writer made, and every key, type, value and tensor info it reports must equal ours.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/gguf/test_model.h"
#include "tests/cli/cli_runner.h"
#include "tests/engine/gguf/gguf_test_util.h"

namespace sobre::engine {
namespace {

namespace json = boost::json;
using sobre::testing::TempDir;

// Runs the node oracle on `path` and parses its JSON.
json::value RunOracle(const TempDir& dir, const std::string& path) {
  const std::string out = dir.path() + "/oracle.json", err = dir.path() + "/oracle.err";
  const std::string cmd = std::string("node ") + SOBRE_SOURCE_DIR +
                          "/tests/engine/gguf/gguf_oracle.mjs " + path + " >" + out + " 2>" + err;
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << dir.Read("oracle.err");
  return json::parse(dir.Read("oracle.json"));
}

// The oracle prints 64-bit integers as decimal strings and smaller ones as numbers.
std::string AsText(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_int64()) return std::to_string(v.get_int64());
  if (v.is_uint64()) return std::to_string(v.get_uint64());
  if (v.is_bool()) return v.get_bool() ? "true" : "false";
  return json::serialize(v);
}

void CompareValue(const GgufFile& f, std::string_view key, GgufValueType type,
                  const json::value& v) {
  SCOPED_TRACE(std::string(key));
  switch (type) {
    case GgufValueType::kString:
      EXPECT_EQ(std::string(*f.GetString(key)), std::string(v.as_string()));
      break;
    case GgufValueType::kBool:
      EXPECT_EQ(*f.GetBool(key), v.as_bool());
      break;
    case GgufValueType::kFloat32:
    case GgufValueType::kFloat64:
      EXPECT_EQ(*f.GetFloat(key), v.to_number<double>());
      break;
    case GgufValueType::kUint64:
      EXPECT_EQ(std::to_string(*f.GetUint(key)), AsText(v));
      break;
    case GgufValueType::kInt64:
      EXPECT_EQ(std::to_string(*f.GetInt(key)), AsText(v));
      break;
    case GgufValueType::kArray: {
      const json::array& a = v.as_array();
      ASSERT_EQ(a.size(), *f.ArrayLength(key));
      const GgufValueType et = *f.ArrayElementType(key);
      if (et == GgufValueType::kString) {
        std::vector<std::string_view> s = *f.GetStringArray(key);
        for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(s[i], std::string(a[i].as_string()));
      } else if (et == GgufValueType::kFloat32 || et == GgufValueType::kFloat64) {
        std::vector<float> x = *f.GetFloatArray(key);
        for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(x[i], a[i].to_number<double>());
      } else if (et != GgufValueType::kBool) {
        std::vector<int64_t> x = *f.GetIntArray(key);
        for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(std::to_string(x[i]), AsText(a[i]));
      }
      break;
    }
    default:
      EXPECT_EQ(std::to_string(*f.GetInt(key)), AsText(v));
  }
}

void CompareWithOracle(const std::string& path) {
  TempDir dir;
  StatusOr<std::unique_ptr<GgufFile>> opened = GgufFile::Open(path);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  const GgufFile& f = **opened;
  json::value o = RunOracle(dir, path);
  ASSERT_TRUE(o.is_object());
  EXPECT_EQ(o.at("version").to_number<uint32_t>(), f.version());
  EXPECT_TRUE(o.at("little_endian").as_bool());
  EXPECT_EQ(AsText(o.at("kv_count")), std::to_string(f.Keys().size()));
  EXPECT_EQ(AsText(o.at("tensor_count")), std::to_string(f.tensors().size()));
  if (!f.tensors().empty()) {
    EXPECT_EQ(AsText(o.at("tensor_data_offset")), std::to_string(f.data_offset()));
  }
  const json::object& meta = o.at("metadata").as_object();
  EXPECT_EQ(meta.size(), f.Keys().size());
  for (std::string_view key : f.Keys()) {
    ASSERT_TRUE(meta.contains(key)) << key;
    const json::object& m = meta.at(key).as_object();
    const GgufValueType type = *f.TypeOf(key);
    EXPECT_EQ(m.at("type").to_number<uint32_t>(), static_cast<uint32_t>(type)) << key;
    if (type == GgufValueType::kArray) {
      EXPECT_EQ(m.at("subType").to_number<uint32_t>(),
                static_cast<uint32_t>(*f.ArrayElementType(key)))
          << key;
    }
    CompareValue(f, key, type, m.at("value"));
  }
  const json::array& tensors = o.at("tensors").as_array();
  ASSERT_EQ(tensors.size(), f.tensors().size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const GgufTensorInfo& t = f.tensors()[i];
    const json::object& j = tensors[i].as_object();
    SCOPED_TRACE(t.name);
    EXPECT_EQ(std::string(j.at("name").as_string()), t.name);
    EXPECT_EQ(j.at("n_dims").to_number<int>(), t.n_dims);
    EXPECT_EQ(j.at("dtype").to_number<uint32_t>(), static_cast<uint32_t>(t.type));
    EXPECT_EQ(AsText(j.at("offset")), std::to_string(t.offset));
    const json::array& shape = j.at("shape").as_array();
    ASSERT_EQ(shape.size(), static_cast<size_t>(t.n_dims));
    for (int d = 0; d < t.n_dims; ++d) EXPECT_EQ(AsText(shape[d]), std::to_string(t.dims[d]));
  }
}

TEST(GgufOracleTest, SampleFileWithEveryValueTypeMatches) {
  TempDir dir;
  GgufWriter w = testing::SampleWriter();
  w.SetBool("t.false", false);
  ASSERT_TRUE(w.SetRawArray("t.u16s", GgufValueType::kUint16, 2, {1, 0, 2, 1}).ok());
  ASSERT_TRUE(w.SetRawArray("t.i64s", GgufValueType::kInt64, 1,
                            {0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
                  .ok());
  const std::string path = dir.path() + "/sample.gguf";
  ASSERT_TRUE(w.WriteFile(path).ok());
  CompareWithOracle(path);
}

TEST(GgufOracleTest, CustomAlignmentMatches) {
  TempDir dir;
  GgufWriter w = testing::SampleWriter();
  ASSERT_TRUE(w.SetAlignment(64).ok());
  const std::string path = dir.path() + "/aligned.gguf";
  ASSERT_TRUE(w.WriteFile(path).ok());
  CompareWithOracle(path);
}

TEST(GgufOracleTest, TestModelsOfEachArchitectureMatch) {
  for (const char* arch : {"llama", "qwen2", "bert"}) {
    TempDir dir;
    GgufWriter w;
    TestModelOptions o;
    o.arch = arch;
    o.type = GgmlType::kQ8_0;
    ASSERT_TRUE(BuildTestModel(o, w).ok()) << arch;
    const std::string path = dir.path() + "/" + arch + ".gguf";
    ASSERT_TRUE(w.WriteFile(path).ok());
    CompareWithOracle(path);
  }
}

}  // namespace
}  // namespace sobre::engine
