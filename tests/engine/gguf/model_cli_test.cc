// `sobre model info | make-test | quantize` run as the real binary: the files it makes have the
// tensors of each architecture, info reports them (text and JSON), and quantised weights read back
// close to the originals.
#include <cmath>
#include <fstream>
#include <set>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/gguf/test_model.h"
#include "engine/quant/quant.h"
#include "tests/cli/cli_runner.h"

namespace sobre::engine {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;
using sobre::testing::CliResult;
using sobre::testing::RunSobre;
using sobre::testing::TempDir;

json::object InfoJson(const TempDir& dir, const std::string& path) {
  CliResult r = RunSobre(dir, "model info --json " + path);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out).as_object();
}

// Tensor name -> "TYPE dims..." from info --json.
std::map<std::string, std::string> TensorTable(const json::object& info) {
  std::map<std::string, std::string> out;
  for (const json::value& t : info.at("tensors").as_array()) {
    std::string s(t.at("type").as_string());
    for (const json::value& d : t.at("dims").as_array()) s += " " + std::to_string(d.to_number<uint64_t>());
    out[std::string(t.at("name").as_string())] = s;
  }
  return out;
}

json::value MetaValue(const json::object& info, std::string_view key) {
  for (const json::value& m : info.at("metadata").as_array()) {
    if (m.at("key").as_string() == key) return m.as_object().contains("value") ? m.at("value") : m;
  }
  return nullptr;
}

std::unique_ptr<GgufFile> Open(const std::string& path) {
  StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::Open(path);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  return f.ok() ? std::move(f).value() : nullptr;
}

std::vector<float> Floats(const GgufTensorInfo& t) {
  std::vector<float> v(t.elements());
  DequantizeRow(t.type, t.data, v.data(), v.size());
  return v;
}

TEST(ModelCliTest, MakeTestLlamaHasTheLlamaTensorsAndKeys) {
  TempDir dir;
  const std::string path = dir.path() + "/llama.gguf";
  CliResult r = RunSobre(dir, "model make-test --arch llama -o " + path +
                                  " --embd 64 --layers 2 --heads 4 --kv-heads 2 --ff 96");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("output is noise"));
  json::object info = InfoJson(dir, path);
  EXPECT_EQ(info.at("architecture").as_string(), "llama");
  EXPECT_THAT(std::string(info.at("name").as_string()), HasSubstr("random weights"));
  std::map<std::string, std::string> t = TensorTable(info);
  EXPECT_EQ(t.size(), 1 + 2 * 9 + 2u);
  EXPECT_EQ(t["token_embd.weight"], "F32 64 259");
  EXPECT_EQ(t["output.weight"], "F32 64 259");
  EXPECT_EQ(t["output_norm.weight"], "F32 64");
  EXPECT_EQ(t["blk.1.attn_q.weight"], "F32 64 64");
  EXPECT_EQ(t["blk.1.attn_k.weight"], "F32 64 32");  // 2 kv heads of 16
  EXPECT_EQ(t["blk.1.attn_v.weight"], "F32 64 32");
  EXPECT_EQ(t["blk.0.attn_output.weight"], "F32 64 64");
  EXPECT_EQ(t["blk.0.ffn_gate.weight"], "F32 64 96");
  EXPECT_EQ(t["blk.0.ffn_down.weight"], "F32 96 64");
  EXPECT_EQ(t.count("blk.0.attn_q.bias"), 0u);
  EXPECT_EQ(MetaValue(info, "llama.attention.head_count_kv").to_number<int>(), 2);
  EXPECT_EQ(MetaValue(info, "llama.rope.dimension_count").to_number<int>(), 16);
  EXPECT_EQ(MetaValue(info, "llama.rope.freq_base").to_number<double>(), 10000.0);
  EXPECT_EQ(MetaValue(info, "tokenizer.ggml.model").as_string(), "gpt2");
  EXPECT_EQ(MetaValue(info, "tokenizer.ggml.eos_token_id").to_number<int>(), 258);
  EXPECT_EQ(info.at("parameters").to_number<uint64_t>(),
            2 * 64 * 259 + 64 + 2 * (2 * 64 + 64 * 64 * 2 + 64 * 32 * 2 + 3 * 64 * 96));

  // The byte vocabulary is GPT-2's byte -> unicode map, in byte order.
  std::unique_ptr<GgufFile> f = Open(path);
  ASSERT_NE(f, nullptr);
  std::vector<std::string_view> toks = *f->GetStringArray("tokenizer.ggml.tokens");
  ASSERT_EQ(toks.size(), 259u);
  EXPECT_EQ(toks['A'], "A");
  EXPECT_EQ(toks[' '], "\xC4\xA0");   // Ġ U+0120
  EXPECT_EQ(toks['\n'], "\xC4\x8A");  // Ċ U+010A
  EXPECT_EQ(toks[0], "\xC4\x80");     // U+0100
  EXPECT_EQ(toks[0xAD], "\xC5\x83");  // the last remapped byte: U+0143
  EXPECT_EQ(toks[258], "<|im_end|>");
  EXPECT_EQ(*f->ArrayLength("tokenizer.ggml.merges"), 0u);
  // Norm gains centre on 1, weights on 0 with a small spread.
  std::vector<float> gain = Floats(*f->FindTensor("blk.0.attn_norm.weight"));
  std::vector<float> w = Floats(*f->FindTensor("blk.0.attn_q.weight"));
  double gain_mean = 0, w_sq = 0;
  for (float g : gain) gain_mean += g / gain.size();
  for (float x : w) w_sq += double{x} * x / w.size();
  EXPECT_NEAR(gain_mean, 1.0, 0.01);
  EXPECT_NEAR(std::sqrt(w_sq), 0.02, 0.002);
}

TEST(ModelCliTest, MakeTestQwen2HasBiasesAndTiedOutput) {
  TempDir dir;
  const std::string path = dir.path() + "/qwen2.gguf";
  CliResult r = RunSobre(dir, "model make-test --arch qwen2 -o " + path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json::object info = InfoJson(dir, path);
  std::map<std::string, std::string> t = TensorTable(info);
  EXPECT_EQ(t.count("output.weight"), 0u);
  EXPECT_EQ(t["blk.0.attn_q.bias"], "F32 64");
  EXPECT_EQ(t["blk.0.attn_k.bias"], "F32 32");
  EXPECT_EQ(t["blk.1.attn_v.bias"], "F32 32");
  EXPECT_EQ(MetaValue(info, "qwen2.rope.freq_base").to_number<double>(), 1e6);
  EXPECT_NEAR(MetaValue(info, "qwen2.attention.layer_norm_rms_epsilon").to_number<double>(), 1e-6,
              1e-12);
}

TEST(ModelCliTest, MakeTestBertHasEncoderTensorsAndWordPieceVocab) {
  TempDir dir;
  const std::string path = dir.path() + "/bert.gguf";
  CliResult r = RunSobre(dir, "model make-test --arch bert -o " + path + " --ctx 128");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json::object info = InfoJson(dir, path);
  std::map<std::string, std::string> t = TensorTable(info);
  EXPECT_EQ(t["position_embd.weight"], "F32 64 128");
  EXPECT_EQ(t["token_types.weight"], "F32 64 2");
  EXPECT_EQ(t["token_embd_norm.bias"], "F32 64");
  EXPECT_EQ(t["blk.1.attn_output_norm.weight"], "F32 64");
  EXPECT_EQ(t["blk.1.layer_output_norm.bias"], "F32 64");
  EXPECT_EQ(t["blk.0.ffn_up.weight"], "F32 64 256");
  EXPECT_EQ(t["blk.0.ffn_up.bias"], "F32 256");
  EXPECT_EQ(t.count("output_norm.weight"), 0u);
  EXPECT_EQ(MetaValue(info, "bert.pooling_type").to_number<int>(), 1);
  EXPECT_FALSE(MetaValue(info, "bert.attention.causal").as_bool());
  EXPECT_EQ(MetaValue(info, "tokenizer.ggml.model").as_string(), "bert");
  EXPECT_EQ(MetaValue(info, "tokenizer.ggml.seperator_token_id").to_number<int>(), 3);
  std::unique_ptr<GgufFile> f = Open(path);
  ASSERT_NE(f, nullptr);
  std::vector<std::string_view> toks = *f->GetStringArray("tokenizer.ggml.tokens");
  EXPECT_EQ(toks[2], "[CLS]");
  EXPECT_THAT(toks, ::testing::Contains("\xE2\x96\x81" "a"));
  EXPECT_THAT(toks, ::testing::Not(::testing::Contains("A")));
}

TEST(ModelCliTest, MakeTestOptionsChangeTheFile) {
  TempDir dir;
  auto make = [&](const std::string& name, const std::string& flags) {
    CliResult r = RunSobre(dir, "model make-test --arch llama -o " + dir.path() + "/" + name +
                                    " " + flags);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return dir.Read(name);
  };
  const std::string a = make("a.gguf", "--seed 7");
  EXPECT_EQ(make("b.gguf", "--seed 7"), a);  // deterministic
  EXPECT_NE(make("c.gguf", "--seed 8"), a);
  make("tied.gguf", "--tied --rope-base 500000 --ctx 4096");
  json::object info = InfoJson(dir, dir.path() + "/tied.gguf");
  EXPECT_EQ(TensorTable(info).count("output.weight"), 0u);
  EXPECT_EQ(MetaValue(info, "llama.rope.freq_base").to_number<double>(), 500000.0);
  EXPECT_EQ(MetaValue(info, "llama.context_length").to_number<int>(), 4096);
}

TEST(ModelCliTest, MakeTestCopiesTheVocabularyOfAnotherFile) {
  TempDir dir;
  ASSERT_EQ(RunSobre(dir, "model make-test --arch bert -o " + dir.path() + "/v.gguf").exit_code, 0);
  CliResult r = RunSobre(dir, "model make-test --arch llama --vocab " + dir.path() +
                                  "/v.gguf -o " + dir.path() + "/m.gguf");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::unique_ptr<GgufFile> v = Open(dir.path() + "/v.gguf");
  std::unique_ptr<GgufFile> m = Open(dir.path() + "/m.gguf");
  ASSERT_TRUE(v && m);
  for (std::string_view key : v->Keys()) {
    if (key.rfind("tokenizer.", 0) != 0) continue;
    std::span<const uint8_t> a = *v->RawValue(key), b = *m->RawValue(key);
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << key;
  }
  EXPECT_EQ(m->FindTensor("token_embd.weight")->dims[1], *v->ArrayLength("tokenizer.ggml.tokens"));
  EXPECT_EQ(*m->GetUint("llama.vocab_size"), *v->ArrayLength("tokenizer.ggml.tokens"));
}

TEST(ModelCliTest, BuildTestModelRefusesAVocabularyFileWithoutTokens) {
  GgufWriter w;
  w.SetString("tokenizer.ggml.model", "gpt2");
  StatusOr<std::unique_ptr<GgufFile>> vocab = GgufFile::FromBuffer(*w.Serialize(), "novocab.gguf");
  ASSERT_TRUE(vocab.ok());
  TestModelOptions o;
  o.vocab = vocab->get();
  GgufWriter out;
  Status st = BuildTestModel(o, out).status();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("novocab.gguf: no tokenizer.ggml.tokens"));
  o.vocab = nullptr;
  o.arch = "gpt";
  EXPECT_THAT(BuildTestModel(o, out).status().message(), HasSubstr("unknown architecture 'gpt'"));
}

TEST(ModelCliTest, MakeTestFallsBackWhenRowsDoNotDivide) {
  TempDir dir;
  const std::string path = dir.path() + "/q.gguf";
  CliResult r = RunSobre(dir, "model make-test --arch llama --type q4_k -o " + path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("fell back: token_embd.weight: Q4_K -> Q5_0 (row length 64)"));
  std::map<std::string, std::string> t = TensorTable(InfoJson(dir, path));
  EXPECT_EQ(t["blk.0.attn_q.weight"], "Q5_0 64 64");
  EXPECT_EQ(t["blk.0.attn_norm.weight"], "F32 64");
  r = RunSobre(dir, "model make-test --arch llama --type q4_k --embd 256 --ff 512 -o " + path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("fell back")));
  EXPECT_EQ(TensorTable(InfoJson(dir, path))["blk.0.ffn_down.weight"], "Q4_K 512 256");
}

TEST(ModelCliTest, InfoTextNamesTheEssentials) {
  TempDir dir;
  const std::string path = dir.path() + "/m.gguf";
  ASSERT_EQ(RunSobre(dir, "model make-test --arch llama --type q8_0 -o " + path).exit_code, 0);
  CliResult r = RunSobre(dir, "model info " + path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("GGUF v3"));
  EXPECT_THAT(r.out, HasSubstr("architecture: llama"));
  EXPECT_THAT(r.out, HasSubstr("file type: 7 (MOSTLY_Q8_0)"));
  EXPECT_THAT(r.out, HasSubstr("tokenizer.ggml.tokens"));
  EXPECT_THAT(r.out, HasSubstr("arr[str]"));
  EXPECT_THAT(r.out, HasSubstr("... 259 items]"));
  EXPECT_THAT(r.out, HasSubstr("blk.1.ffn_down.weight"));
  EXPECT_THAT(r.out, HasSubstr("Q8_0"));
  EXPECT_THAT(r.out, HasSubstr("by type:"));
  json::object info = InfoJson(dir, path);
  uint64_t sum = 0;
  double shares = 0;
  for (const json::value& t : info.at("types").as_array()) {
    sum += t.at("tensors").to_number<uint64_t>();
    shares += t.at("share").to_number<double>();
  }
  EXPECT_EQ(sum, info.at("tensors").as_array().size());
  EXPECT_NEAR(shares, 1.0, 1e-9);
  // Long arrays are summarised with their length.
  json::value toks = MetaValue(info, "tokenizer.ggml.tokens");
  EXPECT_EQ(toks.at("length").to_number<int>(), 259);
  EXPECT_EQ(toks.at("first").as_array().size(), 8u);
}

struct QuantCase {
  const char* type;
  const char* name;
  double max_relative_rms;
};

TEST(ModelCliTest, QuantizeConvertsWeightsAndKeepsThemClose) {
  TempDir dir;
  const std::string src = dir.path() + "/f32.gguf";
  ASSERT_EQ(RunSobre(dir, "model make-test --arch llama --embd 256 --ff 512 --heads 4 -o " + src)
                .exit_code,
            0);
  std::unique_ptr<GgufFile> original = Open(src);
  ASSERT_NE(original, nullptr);
  const QuantCase cases[] = {{"q8_0", "Q8_0", 0.01}, {"q4_0", "Q4_0", 0.15},
                             {"q4_1", "Q4_1", 0.15}, {"q5_0", "Q5_0", 0.08},
                             {"q5_1", "Q5_1", 0.08}, {"q4_k", "Q4_K", 0.15},
                             {"q5_k", "Q5_K", 0.08}, {"q6_k", "Q6_K", 0.04},
                             {"f16", "F16", 0.001}, {"bf16", "BF16", 0.01}};
  for (const QuantCase& c : cases) {
    SCOPED_TRACE(c.type);
    const std::string out = dir.path() + "/" + c.type + ".gguf";
    CliResult r = RunSobre(dir, "model quantize " + src + " " + out + " --type " + c.type);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("converted to " + std::string(c.name)));
    EXPECT_THAT(r.out, HasSubstr("0 fell back"));
    std::unique_ptr<GgufFile> q = Open(out);
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->Keys().size(), original->Keys().size() + (c.type[0] == 'q' ? 1 : 0));
    EXPECT_EQ(*q->GetString("tokenizer.ggml.model"), "gpt2");
    for (const GgufTensorInfo& t : original->tensors()) {
      const GgufTensorInfo* qt = q->FindTensor(t.name);
      ASSERT_NE(qt, nullptr) << t.name;
      EXPECT_EQ(qt->dims, t.dims);
      if (t.n_dims == 1) {
        EXPECT_EQ(qt->type, GgmlType::kF32) << t.name;
        EXPECT_EQ(0, std::memcmp(qt->data, t.data, t.size_bytes));
        continue;
      }
      EXPECT_EQ(TraitsOf(qt->type).name, c.name) << t.name;
      std::vector<float> a = Floats(t), b = Floats(*qt);
      double err = 0, ref = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        err += (double{a[i]} - b[i]) * (double{a[i]} - b[i]);
        ref += double{a[i]} * a[i];
      }
      EXPECT_LT(std::sqrt(err / ref), c.max_relative_rms) << t.name;
      EXPECT_GT(std::sqrt(err / ref), 0.0) << t.name;  // it really was re-encoded
    }
    json::object info = InfoJson(dir, out);
    EXPECT_NE(info.at("file_type").at("name").as_string(), "ALL_F32");
  }
}

TEST(ModelCliTest, QuantizeFallsBackAndCopiesQuantisedTensors) {
  TempDir dir;
  const std::string src = dir.path() + "/f32.gguf";
  ASSERT_EQ(RunSobre(dir, "model make-test --arch qwen2 -o " + src).exit_code, 0);
  const std::string out = dir.path() + "/q4k.gguf";
  CliResult r = RunSobre(dir, "model quantize " + src + " " + out + " --type q4_k");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("fell back: blk.0.attn_q.weight: F32 -> Q5_0"));
  EXPECT_EQ(TensorTable(InfoJson(dir, out))["blk.0.attn_q.weight"], "Q5_0 64 64");
  // Already-quantised tensors are copied as they are.
  const std::string again = dir.path() + "/again.gguf";
  r = RunSobre(dir, "model quantize " + out + " " + again + " --type q8_0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("0 tensors converted"));
  std::unique_ptr<GgufFile> a = Open(out), b = Open(again);
  ASSERT_TRUE(a && b);
  for (const GgufTensorInfo& t : a->tensors()) {
    const GgufTensorInfo* u = b->FindTensor(t.name);
    ASSERT_NE(u, nullptr);
    EXPECT_EQ(u->type, t.type);
    EXPECT_EQ(0, std::memcmp(u->data, t.data, t.size_bytes)) << t.name;
  }
  EXPECT_EQ(*b->GetUint("general.file_type"), 7u);
}

TEST(ModelCliTest, BadInputsGiveClearErrors) {
  TempDir dir;
  CliResult r = RunSobre(dir, "model info " + dir.path() + "/absent.gguf");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("absent.gguf"));
  const std::string junk = dir.Write("junk.gguf", "this is not a model file at all");
  r = RunSobre(dir, "model info " + junk);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("not a GGUF file"));
  r = RunSobre(dir, "model make-test --arch gpt -o " + dir.path() + "/x.gguf");
  EXPECT_EQ(r.exit_code, 2);
  r = RunSobre(dir, "model make-test --arch llama --heads 3 -o " + dir.path() + "/x.gguf");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("3 heads do not divide the hidden size 64"));
  r = RunSobre(dir, "model make-test --arch llama --type q2_k -o " + dir.path() + "/x.gguf");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--type q2_k"));
  r = RunSobre(dir, "model make-test --arch llama --vocab " + junk + " -o " + dir.path() +
                        "/x.gguf");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--vocab"));
  r = RunSobre(dir, "model quantize " + junk + " " + dir.path() + "/y.gguf --type q8_0");
  EXPECT_EQ(r.exit_code, 2);
  r = RunSobre(dir, "model make-test --arch llama -o " + dir.path() + "/no/such/dir/x.gguf");
  EXPECT_EQ(r.exit_code, 2);  // a missing directory is a bad --output
  EXPECT_THAT(r.err, HasSubstr("x.gguf.tmp"));
}

}  // namespace
}  // namespace sobre::engine
