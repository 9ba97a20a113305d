// Engine with a fake decoder: greedy output, finish reasons, batching of concurrent requests,
// admission beyond the slot count, cancellation freeing the slot, prefix reuse of the longest
// cached prefix (in place and copied from a busy slot), energy shared by tokens, embeddings.
#include "engine/runtime/engine.h"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include <gtest/gtest.h>

#include "tests/engine/runtime/fake_decoder.h"

namespace sobre::engine {
namespace {

using testing::FakeDecoder;
using testing::FakeGreedy;

constexpr int32_t kVocab = 97;

// Records tokens and waits for OnDone. Optionally stops after `stop_after` tokens (returns false)
// or raises the cancel flag after `cancel_after` tokens.
class RecordingSink : public GenerationSink {
 public:
  bool OnToken(const SampledToken& token, bool eog) override {
    std::lock_guard<std::mutex> lock(mu_);
    tokens.push_back(token.token);
    last_eog = eog;
    if (cancel_after > 0 && static_cast<int>(tokens.size()) == cancel_after) cancel->store(true);
    cv_.notify_all();
    return !(stop_after > 0 && static_cast<int>(tokens.size()) >= stop_after);
  }
  void OnDone(const GenerationResult& r) override {
    std::lock_guard<std::mutex> lock(mu_);
    result = r;
    ++done_calls;
    cv_.notify_all();
  }
  void WaitDone() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_calls > 0; });
  }
  void WaitTokens(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return tokens.size() >= n || done_calls > 0; });
  }

  std::vector<int32_t> tokens;
  GenerationResult result;
  int done_calls = 0;
  bool last_eog = false;
  int stop_after = 0;
  int cancel_after = 0;
  std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
};

std::vector<int32_t> Prompt(int32_t start, int n) {
  std::vector<int32_t> p;
  for (int i = 0; i < n; ++i) p.push_back((start + i * 13) % kVocab);
  return p;
}

GenerationRequest Greedy(std::vector<int32_t> prompt, int max_tokens, RecordingSink* sink) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0;
  r.max_tokens = max_tokens;
  r.sink = sink;
  r.cancelled = sink->cancel;
  return r;
}

struct Harness {
  FakeDecoder* decoder = nullptr;
  std::unique_ptr<Engine> engine;
};

Harness Make(int32_t n_ctx, int32_t slots, EngineOptions options = {}) {
  auto d = std::make_unique<FakeDecoder>(kVocab, n_ctx, slots);
  Harness h;
  h.decoder = d.get();
  auto e = Engine::Create(std::move(d), nullptr, std::move(options));
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  h.engine = std::move(e).value();
  return h;
}

TEST(EngineTest, GreedyGenerationMatchesTheModelAndStopsAtMaxTokens) {
  Harness h = Make(256, 2);
  RecordingSink sink;
  const auto prompt = Prompt(5, 10);
  ASSERT_TRUE(h.engine->Submit(Greedy(prompt, 12, &sink)).ok());
  sink.WaitDone();
  EXPECT_EQ(sink.tokens, FakeGreedy(prompt, 12, kVocab));
  EXPECT_EQ(sink.result.finish, FinishReason::kLength);
  EXPECT_EQ(sink.result.prompt_tokens, 10);
  EXPECT_EQ(sink.result.completion_tokens, 12);
  EXPECT_TRUE(sink.result.status.ok());
  EXPECT_EQ(sink.done_calls, 1);
}

TEST(EngineTest, EndOfGenerationTokenFinishesWithStop) {
  const auto prompt = Prompt(1, 6);
  const auto expected = FakeGreedy(prompt, 10, kVocab);
  EngineOptions o;
  o.end_of_generation = {expected[3]};
  Harness h = Make(256, 1, o);
  RecordingSink sink;
  ASSERT_TRUE(h.engine->Submit(Greedy(prompt, 10, &sink)).ok());
  sink.WaitDone();
  // The first occurrence of that token ends the generation (it may occur before index 3).
  size_t first = 0;
  while (expected[first] != expected[3]) ++first;
  EXPECT_EQ(sink.tokens, std::vector<int32_t>(expected.begin(), expected.begin() + first + 1));
  EXPECT_TRUE(sink.last_eog);
  EXPECT_EQ(sink.result.finish, FinishReason::kStop);
  EXPECT_EQ(sink.result.completion_tokens, static_cast<int32_t>(first + 1));
}

TEST(EngineTest, SinkRefusalFinishesWithStop) {
  Harness h = Make(256, 1);
  RecordingSink sink;
  sink.stop_after = 3;
  ASSERT_TRUE(h.engine->Submit(Greedy(Prompt(2, 4), 50, &sink)).ok());
  sink.WaitDone();
  EXPECT_EQ(sink.tokens.size(), 3u);
  EXPECT_EQ(sink.result.finish, FinishReason::kStop);
}

TEST(EngineTest, ContextLimitFinishesWithLength) {
  Harness h = Make(16, 1);
  RecordingSink sink;
  ASSERT_TRUE(h.engine->Submit(Greedy(Prompt(3, 10), 0, &sink)).ok());
  sink.WaitDone();
  // 10 prompt positions + 6 evaluated generated tokens fill 16; the 7th sampled token cannot be
  // evaluated.
  EXPECT_EQ(sink.result.finish, FinishReason::kLength);
  EXPECT_EQ(sink.tokens.size(), 7u);
  EXPECT_EQ(sink.tokens, FakeGreedy(Prompt(3, 10), 7, kVocab));
}

TEST(EngineTest, ConcurrentRequestsAreBatchedAndGiveTheTokensOfEachAlone) {
  EngineOptions o;
  o.batch_size = 16;
  Harness h = Make(512, 4, o);
  h.decoder->delay_per_step_us = 200;
  std::vector<std::unique_ptr<RecordingSink>> sinks;
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 7; ++i) {
    prompts.push_back(Prompt(i * 11 + 1, 5 + 7 * i));  // prompts longer than a batch included
    sinks.push_back(std::make_unique<RecordingSink>());
    ASSERT_TRUE(h.engine->Submit(Greedy(prompts.back(), 20, sinks.back().get())).ok());
  }
  for (int i = 0; i < 7; ++i) {
    sinks[static_cast<size_t>(i)]->WaitDone();
    EXPECT_EQ(sinks[static_cast<size_t>(i)]->tokens, FakeGreedy(prompts[static_cast<size_t>(i)], 20, kVocab)) << i;
    EXPECT_EQ(sinks[static_cast<size_t>(i)]->result.finish, FinishReason::kLength);
  }
  EXPECT_GT(h.decoder->max_sequences_in_a_step.load(), 1);
  EXPECT_LE(h.decoder->max_sequences_in_a_step.load(), 4);
  EXPECT_EQ(h.engine->active_slots(), 0);
}

TEST(EngineTest, CancellationFreesTheSlotForTheNextRequest) {
  Harness h = Make(100000, 1);
  RecordingSink endless;
  endless.cancel_after = 5;
  ASSERT_TRUE(h.engine->Submit(Greedy(Prompt(1, 3), 0, &endless)).ok());
  RecordingSink next;
  ASSERT_TRUE(h.engine->Submit(Greedy(Prompt(50, 3), 4, &next)).ok());
  endless.WaitDone();
  next.WaitDone();
  EXPECT_EQ(endless.result.finish, FinishReason::kCancelled);
  EXPECT_GE(endless.tokens.size(), 5u);
  EXPECT_LE(endless.tokens.size(), 6u);  // at most one more step after the flag
  EXPECT_EQ(next.tokens, FakeGreedy(Prompt(50, 3), 4, kVocab));
}

TEST(EngineTest, CancelledBeforeAdmissionNeverTakesASlot) {
  Harness h = Make(100000, 1);
  h.decoder->delay_per_step_us = 100;
  RecordingSink first;
  first.stop_after = 30;
  ASSERT_TRUE(h.engine->Submit(Greedy(Prompt(1, 3), 0, &first)).ok());
  RecordingSink waiting;
  waiting.cancel->store(true);
  ASSERT_TRUE(h.engine->Submit(Greedy(Prompt(2, 3), 4, &waiting)).ok());
  waiting.WaitDone();
  first.WaitDone();
  EXPECT_EQ(waiting.result.finish, FinishReason::kCancelled);
  EXPECT_TRUE(waiting.tokens.empty());
}

TEST(EngineTest, PrefixReuseChoosesTheLongestCachedPrefix) {
  Harness h = Make(512, 3);
  const std::vector<int32_t> base = Prompt(7, 30);
  auto with_tail = [&](size_t keep, int32_t tail_start) {
    std::vector<int32_t> p(base.begin(), base.begin() + static_cast<ptrdiff_t>(keep));
    for (int32_t t : Prompt(tail_start, 6)) p.push_back(t);
    return p;
  };
  // Three finished requests cache prefixes of 5, 20 and 12 tokens of `base`, each in its own slot
  // (a request that shares a shorter prefix copies it rather than truncating the longer cache).
  size_t longest_before = 0;
  for (size_t keep : {5u, 20u, 12u}) {
    RecordingSink s;
    ASSERT_TRUE(h.engine->Submit(Greedy(with_tail(keep, 90 + static_cast<int32_t>(keep)), 2, &s)).ok());
    s.WaitDone();
    EXPECT_EQ(s.result.cached_tokens, static_cast<int32_t>(std::min(keep, longest_before)));
    longest_before = std::max(longest_before, keep);
  }
  const int64_t before = h.decoder->tokens_evaluated.load();
  const auto prompt = with_tail(25, 3);
  RecordingSink s;
  ASSERT_TRUE(h.engine->Submit(Greedy(prompt, 4, &s)).ok());
  s.WaitDone();
  EXPECT_EQ(s.result.cached_tokens, 20);
  // Only the suffix and the generated tokens (all but the last) were evaluated.
  EXPECT_EQ(h.decoder->tokens_evaluated.load() - before,
            static_cast<int64_t>(prompt.size()) - 20 + 3);
  EXPECT_EQ(s.tokens, FakeGreedy(prompt, 4, kVocab));

  // The same prompt again: everything but the last prompt token is reused.
  RecordingSink again;
  ASSERT_TRUE(h.engine->Submit(Greedy(prompt, 4, &again)).ok());
  again.WaitDone();
  EXPECT_EQ(again.result.cached_tokens, static_cast<int32_t>(prompt.size()) - 1);
  EXPECT_EQ(again.tokens, s.tokens);
}

TEST(EngineTest, ASlotHoldingExactlyThePrefixIsReusedInPlace) {
  Harness h = Make(512, 2);
  RecordingSink first;
  const auto prompt = Prompt(9, 10);
  ASSERT_TRUE(h.engine->Submit(Greedy(prompt, 1, &first)).ok());
  first.WaitDone();
  // Its slot holds the 10 prompt tokens (the sampled token was never evaluated).
  auto longer = prompt;
  for (int32_t t : Prompt(70, 4)) longer.push_back(t);
  RecordingSink second;
  ASSERT_TRUE(h.engine->Submit(Greedy(longer, 3, &second)).ok());
  second.WaitDone();
  EXPECT_EQ(second.result.cached_tokens, 10);
  EXPECT_EQ(h.decoder->copies.load(), 0);
  EXPECT_EQ(second.tokens, FakeGreedy(longer, 3, kVocab));
}

TEST(EngineTest, PrefixOfABusySlotIsCopiedIntoAFreeOne) {
  Harness h = Make(100000, 2);
  h.decoder->delay_per_step_us = 200;
  const std::vector<int32_t> system = Prompt(3, 24);
  std::vector<int32_t> p1 = system, p2 = system;
  for (int32_t t : Prompt(40, 5)) p1.push_back(t);
  for (int32_t t : Prompt(60, 5)) p2.push_back(t);
  RecordingSink busy;
  ASSERT_TRUE(h.engine->Submit(Greedy(p1, 0, &busy)).ok());
  busy.WaitTokens(1);  // its prompt is in the cache now
  RecordingSink second;
  ASSERT_TRUE(h.engine->Submit(Greedy(p2, 5, &second)).ok());
  second.WaitDone();
  busy.cancel->store(true);
  busy.WaitDone();
  EXPECT_EQ(second.result.cached_tokens, 24);
  EXPECT_EQ(h.decoder->copies.load(), 1);
  EXPECT_EQ(second.tokens, FakeGreedy(p2, 5, kVocab));
  EXPECT_EQ(std::vector<int32_t>(busy.tokens.begin(), busy.tokens.begin() + 5),
            FakeGreedy(p1, 5, kVocab));
}

class CountingMeter : public StepEnergyMeter {
 public:
  void Begin() override {}
  double EndJoules() override {
    ++steps;
    return 1.0;
  }
  bool measured() const override { return false; }
  int steps = 0;
};

TEST(EngineTest, StepEnergyIsSharedByTokensAndSumsToTheMeasuredTotal) {
  CountingMeter meter;
  std::vector<StepReport> reports;
  EngineOptions o;
  o.meter = &meter;
  o.batch_size = 8;
  o.on_step = [&](const StepReport& r) { reports.push_back(r); };
  Harness h = Make(512, 2, o);
  h.decoder->delay_per_step_us = 200;
  RecordingSink a, b;
  ASSERT_TRUE(h.engine->Submit(Greedy(Prompt(1, 12), 6, &a)).ok());
  ASSERT_TRUE(h.engine->Submit(Greedy(Prompt(2, 3), 6, &b)).ok());
  a.WaitDone();
  b.WaitDone();
  h.engine.reset();  // joins the engine thread: reports and meter are final
  EXPECT_NEAR(a.result.energy_j + b.result.energy_j, meter.steps * 1.0, 1e-9);
  EXPECT_FALSE(a.result.energy_measured);
  int tokens = 0;
  for (const StepReport& r : reports) tokens += r.prompt_tokens + r.generated_tokens;
  EXPECT_EQ(tokens, 12 + 5 + 3 + 5);  // prompts + generated tokens evaluated (last one never)
  // a's prompt (12) is split over two steps of 8; in steps shared with b, energy goes by tokens,
  // so a, with more tokens, gets more.
  EXPECT_GT(a.result.energy_j, b.result.energy_j);
}

TEST(EngineTest, SubmitRejectsBadRequestsAtOnce) {
  Harness h = Make(16, 1);
  RecordingSink s;
  EXPECT_EQ(h.engine->Submit(Greedy({}, 1, &s)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(h.engine->Submit(Greedy({1, kVocab}, 1, &s)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(h.engine->Submit(Greedy(Prompt(1, 17), 1, &s)).code(), StatusCode::kInvalidArgument);
  auto r = Greedy({1}, 1, &s);
  r.sampling.top_p = 5;
  EXPECT_EQ(h.engine->Submit(r).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.done_calls, 0);
  class Ignore : public EmbeddingSink {
    void OnEmbedding(StatusOr<std::vector<float>>, double) override {}
  } ignore;
  EXPECT_EQ(h.engine->SubmitEmbedding({1, 2}, &ignore).code(), StatusCode::kInvalidArgument);
}

TEST(EngineTest, DestructionCancelsRunningAndQueuedRequests) {
  RecordingSink running, queued;
  {
    Harness h = Make(100000, 1);
    h.decoder->delay_per_step_us = 100;
    ASSERT_TRUE(h.engine->Submit(Greedy(Prompt(1, 3), 0, &running)).ok());
    ASSERT_TRUE(h.engine->Submit(Greedy(Prompt(2, 3), 0, &queued)).ok());
    running.WaitTokens(2);
  }
  EXPECT_EQ(running.done_calls, 1);
  EXPECT_EQ(queued.done_calls, 1);
  EXPECT_EQ(running.result.finish, FinishReason::kCancelled);
  EXPECT_EQ(queued.result.finish, FinishReason::kCancelled);
}

class FakeEncoder : public Encoder {
 public:
  int32_t n_embd() const override { return 3; }
  int32_t n_ctx() const override { return 8; }
  StatusOr<std::vector<float>> Embed(std::span<const int32_t> tokens) override {
    if (tokens[0] == 0) return InvalidArgumentError("token 0 refused");
    return std::vector<float>{static_cast<float>(tokens.size()), 1.0f, 0.0f};
  }
};

TEST(EngineTest, EmbeddingsRunOnTheEngineThread) {
  auto e = Engine::Create(nullptr, std::make_unique<FakeEncoder>(), {});
  ASSERT_TRUE(e.ok());
  struct Sink : EmbeddingSink {
    void OnEmbedding(StatusOr<std::vector<float>> v, double) override {
      std::lock_guard<std::mutex> lock(mu);
      results.push_back(std::move(v));
      cv.notify_all();
    }
    std::mutex mu;
    std::condition_variable cv;
    std::vector<StatusOr<std::vector<float>>> results;
  } sink;
  ASSERT_TRUE((*e)->SubmitEmbedding({5, 6, 7}, &sink).ok());
  ASSERT_TRUE((*e)->SubmitEmbedding({0}, &sink).ok());
  EXPECT_EQ((*e)->SubmitEmbedding(std::vector<int32_t>(9, 1), &sink).code(),
            StatusCode::kInvalidArgument);
  RecordingSink gen;
  EXPECT_EQ((*e)->Submit(Greedy({1}, 1, &gen)).code(), StatusCode::kInvalidArgument);
  std::unique_lock<std::mutex> lock(sink.mu);
  sink.cv.wait(lock, [&] { return sink.results.size() == 2; });
  ASSERT_TRUE(sink.results[0].ok());
  EXPECT_EQ((*sink.results[0])[0], 3.0f);
  EXPECT_EQ(sink.results[1].status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sobre::engine
