// Model::Load and ReadHparams: what they read, and the errors (naming the tensor or key) for
// files the forward passes cannot run.
#include "engine/model/model.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/file.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/model/hparams.h"
#include "tests/cli/cli_runner.h"
#include "tests/engine/model/model_test_util.h"

namespace sobre::engine {
namespace {

using testing::MakeTestModel;
using testing::TestModelSpec;

ModelOptions NoVocab() {
  ModelOptions o;
  o.load_vocab = false;
  return o;
}

// Rewrites the model at `path` through `edit`, which gets a writer holding every key and tensor.
template <typename Edit>
void Rewrite(const std::string& path, const std::string& out, Edit edit) {
  auto file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  GgufWriter w;
  for (std::string_view key : (*file)->Keys()) ASSERT_TRUE(w.CopyKey(**file, key).ok());
  std::vector<const GgufTensorInfo*> tensors;
  for (const GgufTensorInfo& t : (*file)->tensors()) tensors.push_back(&t);
  edit(w, tensors);
  for (const GgufTensorInfo* t : tensors) {
    std::vector<uint64_t> dims(t->dims.begin(), t->dims.begin() + t->n_dims);
    ASSERT_TRUE(w.AddTensor(t->name, t->type, dims,
                            std::vector<uint8_t>(t->data, t->data + t->size_bytes))
                    .ok());
  }
  ASSERT_TRUE(w.WriteFile(out).ok());
}

class ModelLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spec_.n_head_kv = 2;
    path_ = dir_.path() + "/llama.gguf";
    ASSERT_TRUE(MakeTestModel(spec_, path_).ok());
  }
  sobre::testing::TempDir dir_;
  TestModelSpec spec_;
  std::string path_;
};

TEST_F(ModelLoadTest, ReadsHparamsAndBindsWeights) {
  auto model = Model::Load(path_, NoVocab());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const ModelHparams& hp = (*model)->hparams();
  EXPECT_EQ(hp.arch, Architecture::kLlama);
  EXPECT_EQ(hp.rope, RopeKind::kNorm);
  EXPECT_EQ(hp.n_vocab, 128);
  EXPECT_EQ(hp.n_embd, 64);
  EXPECT_EQ(hp.n_head, 4);
  EXPECT_EQ(hp.n_head_kv, 2);
  EXPECT_EQ(hp.head_dim, 16);
  EXPECT_EQ(hp.n_rot, 16);
  EXPECT_EQ(hp.kv_dim(), 32);
  EXPECT_FALSE((*model)->weights().tied_output);
  EXPECT_EQ((*model)->weights().layers.size(), 2u);
  // Per layer: q 64x64, k and v 64x32, o 64x64, gate/up/down 64x96, all f32; plus output 64x128.
  const uint64_t per_layer = 4 * (64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 96);
  EXPECT_EQ((*model)->weight_bytes_per_token(), 2 * per_layer + 4 * 64 * 128);
}

TEST_F(ModelLoadTest, TiedOutputUsesTokenEmbeddings) {
  TestModelSpec spec = spec_;
  spec.tied = true;
  spec.arch = "qwen2";
  const std::string path = dir_.path() + "/tied.gguf";
  ASSERT_TRUE(MakeTestModel(spec, path).ok());
  auto model = Model::Load(path, NoVocab());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_TRUE((*model)->weights().tied_output);
  EXPECT_EQ((*model)->weights().output.data, (*model)->weights().token_embd.data);
  EXPECT_EQ((*model)->hparams().rope, RopeKind::kNeox);
}

TEST_F(ModelLoadTest, MissingTensorIsNamed) {
  const std::string out = dir_.path() + "/missing.gguf";
  Rewrite(path_, out, [](GgufWriter&, std::vector<const GgufTensorInfo*>& tensors) {
    std::erase_if(tensors, [](const GgufTensorInfo* t) { return t->name == "blk.1.ffn_up.weight"; });
  });
  auto model = Model::Load(out, NoVocab());
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kNotFound);
  EXPECT_NE(model.status().message().find("blk.1.ffn_up.weight"), std::string::npos)
      << model.status().message();
  EXPECT_NE(model.status().message().find(out), std::string::npos) << model.status().message();
}

TEST_F(ModelLoadTest, UnsupportedTensorIsRefusedByName) {
  const std::string out = dir_.path() + "/moe.gguf";
  Rewrite(path_, out, [](GgufWriter& w, std::vector<const GgufTensorInfo*>&) {
    ASSERT_TRUE(w.AddTensor("blk.0.ffn_gate_inp.weight", GgmlType::kF32, {64, 4},
                            std::vector<uint8_t>(64 * 4 * 4))
                    .ok());
  });
  auto model = Model::Load(out, NoVocab());
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(model.status().message().find("blk.0.ffn_gate_inp.weight"), std::string::npos)
      << model.status().message();
}

TEST_F(ModelLoadTest, WrongShapeIsNamed) {
  TestModelSpec spec = spec_;
  spec.n_head_kv = 4;
  const std::string out = dir_.path() + "/shape.gguf";
  ASSERT_TRUE(MakeTestModel(spec, out).ok());
  // The file says 2 KV heads but its attn_k has 4 heads' rows.
  const std::string out2 = dir_.path() + "/shape2.gguf";
  Rewrite(out, out2, [](GgufWriter& w, std::vector<const GgufTensorInfo*>&) {
    w.SetUint32("llama.attention.head_count_kv", 2);
  });
  auto model = Model::Load(out2, NoVocab());
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(model.status().message().find("blk.0.attn_k.weight"), std::string::npos)
      << model.status().message();
}

TEST_F(ModelLoadTest, HparamErrorsNameTheKey) {
  struct Case {
    std::string what;
    std::function<void(GgufWriter&)> edit;
    StatusCode code;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {"arch", [](GgufWriter& w) { w.SetString("general.architecture", "mamba"); },
       StatusCode::kUnimplemented, "mamba"},
      {"heads", [](GgufWriter& w) { w.SetUint32("llama.attention.head_count_kv", 3); },
       StatusCode::kInvalidArgument, "head_count_kv"},
      {"zero", [](GgufWriter& w) { w.SetUint32("llama.block_count", 0); },
       StatusCode::kInvalidArgument, "llama.block_count"},
      {"huge", [](GgufWriter& w) { w.SetUint64("llama.embedding_length", uint64_t{1} << 40); },
       StatusCode::kInvalidArgument, "llama.embedding_length"},
      {"yarn", [](GgufWriter& w) { w.SetString("llama.rope.scaling.type", "yarn"); },
       StatusCode::kUnimplemented, "yarn"},
      {"missing", [](GgufWriter& w) { w.Remove("llama.feed_forward_length"); },
       StatusCode::kNotFound, "llama.feed_forward_length"},
      {"eps", [](GgufWriter& w) { w.SetFloat32("llama.attention.layer_norm_rms_epsilon", -1); },
       StatusCode::kInvalidArgument, "layer_norm_rms_epsilon"},
  };
  for (const Case& c : cases) {
    const std::string out = dir_.path() + "/" + c.what + ".gguf";
    Rewrite(path_, out, [&](GgufWriter& w, std::vector<const GgufTensorInfo*>&) { c.edit(w); });
    auto model = Model::Load(out, NoVocab());
    ASSERT_FALSE(model.ok()) << c.what;
    EXPECT_EQ(model.status().code(), c.code) << c.what << ": " << model.status().ToString();
    EXPECT_NE(model.status().message().find(c.needle), std::string::npos)
        << c.what << ": " << model.status().message();
  }
}

TEST_F(ModelLoadTest, MissingFileAndTruncatedFileAreErrors) {
  EXPECT_EQ(Model::Load(dir_.path() + "/nope.gguf", NoVocab()).status().code(),
            StatusCode::kNotFound);
  auto bytes = sobre::ReadFile(path_);
  ASSERT_TRUE(bytes.ok());
  const std::string cut = dir_.path() + "/cut.gguf";
  dir_.Write("cut.gguf", bytes->substr(0, bytes->size() / 2));
  auto model = Model::Load(cut, NoVocab());
  EXPECT_FALSE(model.ok());
}

}  // namespace
}  // namespace sobre::engine
