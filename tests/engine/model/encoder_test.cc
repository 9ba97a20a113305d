// The bert forward pass (post-LN, erf GELU, mean / CLS pooling, L2 normalisation) against the
// independent numpy reference (reference_forward.py, HF BertModel semantics).
#include "engine/model/encoder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "engine/model/model.h"
#include "engine/model/thread_pool.h"
#include "tests/cli/cli_runner.h"
#include "tests/engine/model/model_test_util.h"

namespace sobre::engine {
namespace {

using testing::MakeTestModel;
using testing::Nmse;
using testing::RunReference;
using testing::TestModelSpec;

const std::vector<std::vector<int32_t>> kSentences = {
    {101, 7, 102},
    {101, 1045, 2066, 13, 88, 102},
    {101, 5, 9, 9, 9, 120, 64, 33, 2, 77, 91, 12, 0, 127, 102},
};

struct BertCase {
  std::string name;
  TestModelSpec spec;
  bool normalize;
  double tolerance;  // NMSE; see decoder_test.cc for why quantised weights get more room
  double act_quant_tolerance = 0;  // against --act-quant (emulated activation rounding)
};

void PrintTo(const BertCase& c, std::ostream* os) { *os << c.name; }

std::vector<BertCase> Cases() {
  TestModelSpec mean;
  mean.arch = "bert";
  mean.n_vocab = 2100;  // room for the ids above
  mean.eps = 1e-12f;
  mean.pooling = 1;
  TestModelSpec cls = mean;
  cls.pooling = 2;
  cls.n_embd = 96;
  cls.n_head = 6;
  cls.n_ff = 192;
  cls.seed = 7;
  TestModelSpec q8 = mean;
  q8.type = GgmlType::kQ8_0;
  q8.embd_type = GgmlType::kF16;
  q8.seed = 8;
  return {{"mean_normalized_f32", mean, true, 1e-6},
          {"mean_raw_f32", mean, false, 1e-6},
          {"cls_width96_normalized_f32", cls, true, 1e-6},
          {"cls_raw_f32", cls, false, 1e-6},
          {"mean_q8_0", q8, true, 3e-3, 2e-5}};
}

class EncoderReferenceTest : public ::testing::TestWithParam<BertCase> {};

TEST_P(EncoderReferenceTest, EmbeddingMatchesNumpyReference) {
  const BertCase& c = GetParam();
  sobre::testing::TempDir dir;
  const std::string path = dir.path() + "/bert.gguf";
  ASSERT_TRUE(MakeTestModel(c.spec, path).ok());
  ModelOptions options;
  options.load_vocab = false;
  auto model = Model::Load(path, options);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto reference = RunReference(path, kSentences, c.normalize ? "" : "--no-normalize");
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  ThreadPool pool(2);
  auto ctx = EncoderContext::Create(**model, pool, 32);
  ASSERT_TRUE(ctx.ok()) << ctx.status().ToString();
  std::vector<testing::ReferenceResult> emulated;
  if (c.act_quant_tolerance > 0) {
    auto r = RunReference(path, kSentences, "--act-quant");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    emulated = std::move(r).value();
  }
  for (size_t s = 0; s < kSentences.size(); ++s) {
    auto got = (*ctx)->Embed(kSentences[s], c.normalize);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    const std::vector<float>& want = (*reference)[s].embedding;
    ASSERT_EQ(got->size(), want.size());
    const double nmse = Nmse(got->data(), want.data(), want.size());
    EXPECT_LE(nmse, c.tolerance) << c.name << " " << s;
    std::printf("[ %s ] sentence %zu NMSE %.3g\n", c.name.c_str(), s, nmse);
    if (!emulated.empty()) {
      const std::vector<float>& want_q = emulated[s].embedding;
      ASSERT_EQ(got->size(), want_q.size());
      const double nmse_q = Nmse(got->data(), want_q.data(), want_q.size());
      EXPECT_LE(nmse_q, c.act_quant_tolerance) << c.name << " " << s;
      std::printf("[ %s ] sentence %zu NMSE with emulated activation rounding %.3g\n",
                  c.name.c_str(), s, nmse_q);
    }
    if (c.normalize) {
      double norm = 0;
      for (float v : *got) norm += static_cast<double>(v) * v;
      EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-5);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, EncoderReferenceTest, ::testing::ValuesIn(Cases()),
                         [](const auto& p) { return p.param.name; });

TEST(EncoderContextTest, ContextLimitIsAClearError) {
  sobre::testing::TempDir dir;
  TestModelSpec spec;
  spec.arch = "bert";
  spec.n_ctx = 16;
  const std::string path = dir.path() + "/bert.gguf";
  ASSERT_TRUE(MakeTestModel(spec, path).ok());
  ModelOptions options;
  options.load_vocab = false;
  auto model = Model::Load(path, options);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ThreadPool pool(1);
  EXPECT_EQ(EncoderContext::Create(**model, pool, 17).status().code(),
            StatusCode::kInvalidArgument);
  auto ctx = EncoderContext::Create(**model, pool);
  ASSERT_TRUE(ctx.ok());
  EXPECT_EQ((*ctx)->max_tokens(), 16);
  std::vector<int32_t> tokens(17, 1);
  auto too_long = (*ctx)->Embed(tokens);
  EXPECT_EQ(too_long.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_long.status().message().find("context length 16"), std::string::npos)
      << too_long.status().message();
  tokens.resize(16);
  EXPECT_TRUE((*ctx)->Embed(tokens).ok());
  EXPECT_FALSE((*ctx)->Embed({}).ok());
  const int32_t bad[] = {1, 128};
  EXPECT_EQ((*ctx)->Embed(bad).status().code(), StatusCode::kInvalidArgument);
}

TEST(EncoderContextTest, RefusesDecoderModels) {
  sobre::testing::TempDir dir;
  const std::string path = dir.path() + "/llama.gguf";
  ASSERT_TRUE(MakeTestModel(TestModelSpec{}, path).ok());
  ModelOptions options;
  options.load_vocab = false;
  auto model = Model::Load(path, options);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ThreadPool pool(1);
  EXPECT_EQ(EncoderContext::Create(**model, pool).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sobre::engine
