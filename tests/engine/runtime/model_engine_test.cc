// The engine over the real model part, on random-weight llama and qwen2 files made by the gguf
// part's test-model maker: greedy decoding of a sequence batched with others gives exactly the
// tokens of that sequence decoded alone, and a reused cached prefix changes nothing.
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/gguf/gguf_writer.h"
#include "engine/gguf/test_model.h"
#include "engine/model/model.h"
#include "engine/runtime/engine.h"
#include "engine/runtime/model_adapter.h"

namespace sobre::engine {
namespace {

class Collect : public GenerationSink {
 public:
  bool OnToken(const SampledToken& t, bool) override {
    std::lock_guard<std::mutex> lock(mu_);
    tokens.push_back(t.token);
    return true;
  }
  void OnDone(const GenerationResult& r) override {
    std::lock_guard<std::mutex> lock(mu_);
    result = r;
    done = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done; });
  }
  std::vector<int32_t> tokens;
  GenerationResult result;
  bool done = false;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
};

std::shared_ptr<const Model> MakeModel(const std::string& arch, GgmlType type) {
  TestModelOptions o;
  o.arch = arch;
  o.type = type;
  o.n_embd = 64;
  o.n_layers = 2;
  o.n_heads = 4;
  o.weight_sigma = 0.08f;  // peaked enough that greedy ties are unlikely
  GgufWriter w;
  EXPECT_TRUE(BuildTestModel(o, w).ok());
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("sobre_runtime_" + arch + "_" + std::to_string(::getpid()) + ".gguf"))
                               .string();
  EXPECT_TRUE(w.WriteFile(path).ok());
  auto m = Model::Load(path);
  std::filesystem::remove(path);  // the mapping stays valid
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return std::shared_ptr<const Model>(std::move(*m));
}

std::unique_ptr<Engine> MakeEngine(std::shared_ptr<const Model> model, int slots, int batch,
                                   std::atomic<int>* max_sequences = nullptr) {
  ModelDecoderOptions d;
  d.threads = 2;
  d.slots = slots;
  d.ctx_per_slot = 256;
  d.batch_size = batch;
  auto decoder = MakeModelDecoder(model, d);
  EXPECT_TRUE(decoder.ok()) << decoder.status().ToString();
  EngineOptions eo;
  eo.batch_size = batch;
  if (max_sequences != nullptr) {
    eo.on_step = [max_sequences](const StepReport& r) {
      if (r.sequences > max_sequences->load()) max_sequences->store(r.sequences);
    };
  }
  auto e = Engine::Create(std::move(*decoder), nullptr, eo);
  EXPECT_TRUE(e.ok());
  return std::move(*e);
}

std::vector<std::vector<int32_t>> Prompts(int32_t n_vocab) {
  std::vector<std::vector<int32_t>> p;
  for (int i = 0; i < 5; ++i) {
    std::vector<int32_t> t;
    for (int j = 0; j < 3 + 9 * i; ++j) t.push_back((17 * i + 31 * j + 5) % n_vocab);
    p.push_back(t);
  }
  return p;
}

GenerationRequest Greedy(const std::vector<int32_t>& prompt, Collect* sink) {
  GenerationRequest r;
  r.prompt = prompt;
  r.sampling.temperature = 0;
  r.max_tokens = 16;
  r.sink = sink;
  return r;
}

class ModelEngineTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelEngineTest, BatchedGreedyEqualsAlone) {
  auto model = MakeModel(GetParam(), GgmlType::kF32);
  const int32_t n_vocab = model->hparams().n_vocab;
  const auto prompts = Prompts(n_vocab);
  std::vector<std::vector<int32_t>> alone;
  {
    auto engine = MakeEngine(model, 1, 64);
    for (const auto& p : prompts) {
      Collect c;
      ASSERT_TRUE(engine->Submit(Greedy(p, &c)).ok());
      c.Wait();
      ASSERT_EQ(c.result.finish, FinishReason::kLength);
      alone.push_back(c.tokens);
    }
  }
  // Slots fewer than requests, batch smaller than the longest prompt: prompts are chunked and
  // admitted while others generate.
  std::atomic<int> max_sequences{0};
  auto engine = MakeEngine(model, 3, 16, &max_sequences);
  std::vector<std::unique_ptr<Collect>> sinks;
  for (const auto& p : prompts) {
    sinks.push_back(std::make_unique<Collect>());
    ASSERT_TRUE(engine->Submit(Greedy(p, sinks.back().get())).ok());
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    sinks[i]->Wait();
    EXPECT_EQ(sinks[i]->tokens, alone[i]) << "prompt " << i;
  }
  // Distinct prompts give distinct continuations, and steps did mix sequences: the comparison
  // above is not vacuous.
  EXPECT_NE(alone[0], alone[1]);
  EXPECT_EQ(max_sequences.load(), 3);
}

TEST_P(ModelEngineTest, ReusedPrefixGivesTheSameTokens) {
  auto model = MakeModel(GetParam(), GgmlType::kQ8_0);
  const auto prompts = Prompts(model->hparams().n_vocab);
  auto engine = MakeEngine(model, 2, 64);
  Collect first;
  ASSERT_TRUE(engine->Submit(Greedy(prompts[4], &first)).ok());
  first.Wait();
  // Same prompt: all but the last token come from the cache.
  Collect again;
  ASSERT_TRUE(engine->Submit(Greedy(prompts[4], &again)).ok());
  again.Wait();
  EXPECT_EQ(again.result.cached_tokens, static_cast<int32_t>(prompts[4].size()) - 1);
  EXPECT_EQ(again.tokens, first.tokens);
  // A prompt extending the first one's prompt and output reuses all of it.
  std::vector<int32_t> extended = prompts[4];
  extended.insert(extended.end(), first.tokens.begin(), first.tokens.begin() + 8);
  Collect cached;
  ASSERT_TRUE(engine->Submit(Greedy(extended, &cached)).ok());
  cached.Wait();
  EXPECT_GE(cached.result.cached_tokens, static_cast<int32_t>(prompts[4].size()));
  auto fresh_engine = MakeEngine(model, 1, 64);
  Collect fresh;
  ASSERT_TRUE(fresh_engine->Submit(Greedy(extended, &fresh)).ok());
  fresh.Wait();
  EXPECT_EQ(fresh.result.cached_tokens, 0);
  EXPECT_EQ(cached.tokens, fresh.tokens);
}

INSTANTIATE_TEST_SUITE_P(Archs, ModelEngineTest, ::testing::Values("llama", "qwen2"));

}  // namespace
}  // namespace sobre::engine
