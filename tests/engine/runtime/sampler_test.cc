// Sampler: greedy, seeded reproducibility, truncation sets on distributions whose answer is known,
// penalty amounts (checked at both sides of the boundary they move), logprob normalisation.
#include "engine/runtime/sampler.h"

#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>

namespace sobre::engine {
namespace {

// Logits whose softmax is exactly `probs`.
std::vector<float> LogitsOf(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

std::map<int32_t, int> Draw(Sampler& s, const std::vector<float>& logits, int n) {
  std::map<int32_t, int> counts;
  for (int i = 0; i < n; ++i) ++counts[s.Sample(logits).token];
  return counts;
}

const std::vector<double> kProbs = {0.5, 0.3, 0.15, 0.05};

TEST(SamplerTest, GreedyPicksArgmaxAndLowestIdOnTies) {
  Sampler s(5);
  SamplingParams p;
  p.temperature = 0;
  ASSERT_TRUE(s.Reset(p, {}).ok());
  EXPECT_EQ(s.Sample(std::vector<float>{0.1f, 3.0f, -2.0f, 2.9f, 0.0f}).token, 1);
  EXPECT_EQ(s.Sample(std::vector<float>{1.0f, 4.0f, 4.0f, 0.0f, 4.0f}).token, 1);
  EXPECT_EQ(s.Sample(std::vector<float>{-9.0f, -8.0f, -7.0f, -6.0f, -5.5f}).token, 4);
}

TEST(SamplerTest, SeededSamplingIsReproducibleAndSeedsDiffer) {
  std::vector<float> logits(100);
  std::mt19937 gen(7);
  std::normal_distribution<float> nd(0, 2);
  for (float& l : logits) l = nd(gen);
  SamplingParams p;
  p.seed = 1234;
  Sampler a(100), b(100), c(100);
  ASSERT_TRUE(a.Reset(p, {}).ok());
  ASSERT_TRUE(b.Reset(p, {}).ok());
  p.seed = 99;
  ASSERT_TRUE(c.Reset(p, {}).ok());
  std::vector<int32_t> ta, tb, tc;
  for (int i = 0; i < 64; ++i) {
    ta.push_back(a.Sample(logits).token);
    tb.push_back(b.Sample(logits).token);
    tc.push_back(c.Sample(logits).token);
  }
  EXPECT_EQ(ta, tb);
  EXPECT_NE(ta, tc);
  // Reset with the same seed replays the sequence.
  p.seed = 1234;
  ASSERT_TRUE(a.Reset(p, {}).ok());
  std::vector<int32_t> again;
  for (int i = 0; i < 64; ++i) again.push_back(a.Sample(logits).token);
  EXPECT_EQ(ta, again);
}

TEST(SamplerTest, PlainSamplingFollowsTheDistribution) {
  Sampler s(4);
  SamplingParams p;
  p.seed = 1;
  ASSERT_TRUE(s.Reset(p, {}).ok());
  const int n = 40000;
  auto counts = Draw(s, LogitsOf(kProbs), n);
  for (int t = 0; t < 4; ++t) EXPECT_NEAR(counts[t] / double(n), kProbs[t], 0.01) << t;
}

TEST(SamplerTest, TemperatureSharpensAsPowerOfProbabilities) {
  Sampler s(4);
  SamplingParams p;
  p.seed = 2;
  p.temperature = 0.5f;  // p^2 renormalised.
  ASSERT_TRUE(s.Reset(p, {}).ok());
  const int n = 40000;
  auto counts = Draw(s, LogitsOf(kProbs), n);
  double z = 0;
  for (double q : kProbs) z += q * q;
  for (int t = 0; t < 4; ++t) EXPECT_NEAR(counts[t] / double(n), kProbs[t] * kProbs[t] / z, 0.01);
}

TEST(SamplerTest, TopKKeepsExactlyKTokensRenormalised) {
  Sampler s(4);
  SamplingParams p;
  p.seed = 3;
  p.top_k = 2;
  ASSERT_TRUE(s.Reset(p, {}).ok());
  const int n = 20000;
  auto counts = Draw(s, LogitsOf(kProbs), n);
  EXPECT_EQ(counts.count(2) + counts.count(3), 0u);
  EXPECT_NEAR(counts[0] / double(n), 0.5 / 0.8, 0.015);
  EXPECT_NEAR(counts[1] / double(n), 0.3 / 0.8, 0.015);
}

TEST(SamplerTest, TopPKeepsSmallestSetReachingP) {
  for (auto [top_p, expected] : std::vector<std::pair<float, std::set<int32_t>>>{
           {0.45f, {0}}, {0.75f, {0, 1}}, {0.85f, {0, 1, 2}}, {0.99f, {0, 1, 2, 3}}}) {
    Sampler s(4);
    SamplingParams p;
    p.seed = 4;
    p.top_p = top_p;
    ASSERT_TRUE(s.Reset(p, {}).ok());
    auto counts = Draw(s, LogitsOf(kProbs), 20000);
    std::set<int32_t> seen;
    for (auto& [t, c] : counts) seen.insert(t);
    EXPECT_EQ(seen, expected) << "top_p " << top_p;
  }
}

TEST(SamplerTest, TopPOnALargeVocabularyBeyondTheFirstSortedHead) {
  // 1000 equally likely tokens plus 1000 negligible ones: top_p 0.5 must keep about 500 of the
  // first thousand (more than the 64 sorted first) and none of the others.
  std::vector<float> logits(2000, -30.0f);
  for (int i = 0; i < 1000; ++i) logits[static_cast<size_t>(i)] = 0.0f;
  Sampler s(2000);
  SamplingParams p;
  p.seed = 5;
  p.top_p = 0.5f;
  ASSERT_TRUE(s.Reset(p, {}).ok());
  auto counts = Draw(s, logits, 20000);
  int32_t max_token = 0;
  for (auto& [t, c] : counts) max_token = std::max(max_token, t);
  // Ties are ordered by token id, so the kept set is tokens 0..499 (or 500).
  EXPECT_LE(max_token, 500);
  EXPECT_GE(max_token, 480);
}

TEST(SamplerTest, MinPDropsTokensBelowFractionOfTheBest) {
  for (auto [min_p, expected] : std::vector<std::pair<float, std::set<int32_t>>>{
           {0.25f, {0, 1, 2}}, {0.35f, {0, 1}}, {0.9f, {0}}, {0.05f, {0, 1, 2, 3}}}) {
    Sampler s(4);
    SamplingParams p;
    p.seed = 6;
    p.min_p = min_p;
    ASSERT_TRUE(s.Reset(p, {}).ok());
    auto counts = Draw(s, LogitsOf(kProbs), 20000);
    std::set<int32_t> seen;
    for (auto& [t, c] : counts) seen.insert(t);
    EXPECT_EQ(seen, expected) << "min_p " << min_p;
  }
}

// Greedy pick after generating token 0 `times` times with the given penalties; logits 0: 2.0,
// 1: 1.9.
int32_t GreedyAfter(int times, float frequency, float presence) {
  Sampler s(3);
  SamplingParams p;
  p.temperature = 0;
  p.frequency_penalty = frequency;
  p.presence_penalty = presence;
  EXPECT_TRUE(s.Reset(p, {}).ok());
  for (int i = 0; i < times; ++i) s.Accept(0);
  return s.Sample(std::vector<float>{2.0f, 1.9f, 0.0f}).token;
}

TEST(SamplerTest, FrequencyPenaltySubtractsCountTimesValue) {
  EXPECT_EQ(GreedyAfter(1, 0.05f, 0), 0);  // 2.0 - 0.05 = 1.95 > 1.9
  EXPECT_EQ(GreedyAfter(1, 0.15f, 0), 1);  // 1.85 < 1.9
  EXPECT_EQ(GreedyAfter(3, 0.03f, 0), 0);  // 2.0 - 0.09 > 1.9
  EXPECT_EQ(GreedyAfter(3, 0.04f, 0), 1);  // 2.0 - 0.12 < 1.9
  EXPECT_EQ(GreedyAfter(0, 1.0f, 0), 0);   // nothing generated yet
}

TEST(SamplerTest, PresencePenaltySubtractsOnceWhateverTheCount) {
  EXPECT_EQ(GreedyAfter(5, 0, 0.05f), 0);  // 1.95 regardless of 5 repeats
  EXPECT_EQ(GreedyAfter(1, 0, 0.15f), 1);
  EXPECT_EQ(GreedyAfter(1, 0, -0.5f), 0);  // negative values encourage
}

TEST(SamplerTest, PromptTokensDoNotCountForFrequencyPenalty) {
  Sampler s(3);
  SamplingParams p;
  p.temperature = 0;
  p.frequency_penalty = 2.0f;
  p.presence_penalty = 2.0f;
  std::vector<int32_t> prompt = {0, 0, 0};
  ASSERT_TRUE(s.Reset(p, prompt).ok());
  EXPECT_EQ(s.Sample(std::vector<float>{2.0f, 1.9f, 0.0f}).token, 0);
}

TEST(SamplerTest, RepetitionPenaltyDividesPositiveAndMultipliesNegativeInWindow) {
  auto pick = [](std::vector<float> logits, float penalty, std::vector<int32_t> prompt,
                 int last_n) {
    Sampler s(static_cast<int32_t>(logits.size()));
    SamplingParams p;
    p.temperature = 0;
    p.repetition_penalty = penalty;
    p.repeat_last_n = last_n;
    EXPECT_TRUE(s.Reset(p, prompt).ok());
    return s.Sample(logits).token;
  };
  EXPECT_EQ(pick({2.0f, 1.5f}, 1.25f, {0}, 64), 0);       // 1.6 > 1.5
  EXPECT_EQ(pick({2.0f, 1.5f}, 1.4f, {0}, 64), 1);        // 1.43 < 1.5
  EXPECT_EQ(pick({-1.0f, -1.2f}, 1.1f, {0}, 64), 0);      // -1.1 > -1.2
  EXPECT_EQ(pick({-1.0f, -1.2f}, 1.3f, {0}, 64), 1);      // -1.3 < -1.2
  EXPECT_EQ(pick({2.0f, 1.5f}, 1.4f, {0, 0, 0, 0}, 64), 1);  // applied once, not per repeat:
  EXPECT_EQ(pick({2.0f, 1.9f}, 1.04f, {0, 0, 0, 0}, 64), 0);  // 2/1.04 = 1.92 > 1.9
  // Token 0 left the 2-token window.
  EXPECT_EQ(pick({2.0f, 1.5f, 0.0f}, 1.4f, {0, 2, 2}, 2), 0);
  EXPECT_EQ(pick({2.0f, 1.5f, 0.0f}, 1.4f, {0, 2, 2}, 3), 1);
}

TEST(SamplerTest, ResetForgetsThePreviousRequest) {
  Sampler s(3);
  SamplingParams p;
  p.temperature = 0;
  p.frequency_penalty = 1.0f;
  p.repetition_penalty = 2.0f;
  ASSERT_TRUE(s.Reset(p, std::vector<int32_t>{0}).ok());
  s.Accept(0);
  EXPECT_EQ(s.Sample(std::vector<float>{2.0f, 1.9f, 0.0f}).token, 1);
  ASSERT_TRUE(s.Reset(p, std::vector<int32_t>{2}).ok());
  EXPECT_EQ(s.Sample(std::vector<float>{2.0f, 1.9f, 0.0f}).token, 0);
}

TEST(SamplerTest, LogprobsAreLogSoftmaxOfRawLogits) {
  std::vector<float> logits(10);
  std::mt19937 gen(11);
  std::normal_distribution<float> nd(0, 3);
  for (float& l : logits) l = nd(gen) + 100.0f;  // large offset: must not overflow
  Sampler s(10);
  SamplingParams p;
  p.seed = 8;
  p.temperature = 0.3f;  // must not change the reported logprobs
  p.logprobs = true;
  p.top_logprobs = 10;
  ASSERT_TRUE(s.Reset(p, {}).ok());
  SampledToken t = s.Sample(logits);
  ASSERT_EQ(t.n_top, 10);
  double sum = 0;
  for (int i = 0; i < t.n_top; ++i) {
    sum += std::exp(t.top[static_cast<size_t>(i)].logprob);
    if (i > 0) {
      EXPECT_GE(t.top[static_cast<size_t>(i - 1)].logprob, t.top[static_cast<size_t>(i)].logprob);
    }
  }
  EXPECT_NEAR(sum, 1.0, 1e-5);
  // Independent check of the chosen token's logprob in double precision.
  double m = *std::max_element(logits.begin(), logits.end());
  double z = 0;
  for (float l : logits) z += std::exp(l - m);
  EXPECT_NEAR(t.logprob, logits[static_cast<size_t>(t.token)] - m - std::log(z), 1e-5);
  bool found = false;
  for (int i = 0; i < t.n_top; ++i) {
    if (t.top[static_cast<size_t>(i)].token == t.token) {
      EXPECT_FLOAT_EQ(t.top[static_cast<size_t>(i)].logprob, t.logprob);
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST(SamplerTest, TopLogprobsAreTheMostLikelyTokens) {
  Sampler s(6);
  SamplingParams p;
  p.temperature = 0;
  p.top_logprobs = 2;
  ASSERT_TRUE(s.Reset(p, {}).ok());
  SampledToken t = s.Sample(std::vector<float>{0.0f, 5.0f, 1.0f, 5.0f, 4.0f, -1.0f});
  ASSERT_EQ(t.n_top, 2);
  EXPECT_EQ(t.top[0].token, 1);
  EXPECT_EQ(t.top[1].token, 3);
  EXPECT_EQ(t.top[0].logprob, t.top[1].logprob);
}

TEST(SamplerTest, RejectsOutOfRangeParamsNamingTheField) {
  Sampler s(3);
  auto check = [&](SamplingParams p, const char* field) {
    Status st = s.Reset(p, {});
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find(field), std::string::npos) << st.message();
  };
  SamplingParams p;
  p.temperature = -1;
  check(p, "temperature");
  p = {};
  p.temperature = NAN;
  check(p, "temperature");
  p = {};
  p.top_p = 0;
  check(p, "top_p");
  p = {};
  p.min_p = 2;
  check(p, "min_p");
  p = {};
  p.top_logprobs = 21;
  check(p, "top_logprobs");
  p = {};
  p.frequency_penalty = 3;
  check(p, "frequency_penalty");
  p = {};
  p.repetition_penalty = 0;
  check(p, "repetition_penalty");
  EXPECT_EQ(s.Reset(SamplingParams{}, std::vector<int32_t>{3}).code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sobre::engine
