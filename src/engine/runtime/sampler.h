// Token sampling for one sequence: penalties, temperature, top-k / top-p / min-p truncation, a
// per-request seeded RNG, and the logprobs OpenAI reports. Buffers are sized once per vocabulary so
// that sampling a token does not allocate.
#ifndef SOBRE_ENGINE_RUNTIME_SAMPLER_H_
#define SOBRE_ENGINE_RUNTIME_SAMPLER_H_

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "core/status.h"

namespace sobre::engine {

// OpenAI allows at most 20 top_logprobs.
inline constexpr int kMaxTopLogprobs = 20;

// How to pick each token of one request. Defaults are OpenAI's.
struct SamplingParams {
  // Softmax temperature; 0 picks the most likely token (greedy). Default 1. Range [0, 2].
  float temperature = 1.0f;
  // Keep only the k most likely tokens; 0 = off. Default 0.
  int top_k = 0;
  // Keep the smallest set of most likely tokens whose probability sums to at least top_p (after
  // temperature); 1 = off. Default 1. Range (0, 1].
  float top_p = 1.0f;
  // Drop tokens whose probability is below min_p times the most likely one's (after temperature);
  // 0 = off. Default 0. Range [0, 1].
  float min_p = 0.0f;
  // RNG seed; nullopt draws one from std::random_device when the sampler is reset. Default none.
  std::optional<uint64_t> seed;
  // OpenAI frequency_penalty: logit -= count * value, count = times the token was generated in
  // this request (the prompt does not count). Default 0. Range [-2, 2].
  float frequency_penalty = 0.0f;
  // OpenAI presence_penalty: logit -= value once a token was generated in this request. Default 0.
  // Range [-2, 2].
  float presence_penalty = 0.0f;
  // llama.cpp-style repetition penalty over the last `repeat_last_n` tokens (prompt and generated
  // text): a positive logit is divided by it, a negative one multiplied. 1 = off. Default 1.
  float repetition_penalty = 1.0f;
  // Window of the repetition penalty, in tokens. Default 64.
  int repeat_last_n = 64;
  // Report the chosen token's logprob. Default false.
  bool logprobs = false;
  // Also report this many most likely alternatives, 0..kMaxTopLogprobs. Default 0.
  int top_logprobs = 0;
};

// InvalidArgument naming the field when a value is out of its documented range.
Status ValidateSamplingParams(const SamplingParams& params);

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;  // Natural log of the probability.
};

// One sampled token. logprob and top are filled only when the params asked for them; they are the
// log-softmax of the model's raw logits over the whole vocabulary (before penalties, temperature
// and truncation), which is what OpenAI-compatible servers report by default.
struct SampledToken {
  int32_t token = 0;
  float logprob = 0;
  int n_top = 0;                                    // Entries used in `top`, most likely first.
  std::array<TokenLogprob, kMaxTopLogprobs> top{};  // Ties broken by lower token id.
};

// Samples the tokens of one sequence. Reset() starts a request; Sample() then Accept() per token.
// Thread contract: thread-compatible (one owner, normally the engine thread's slot).
class Sampler {
 public:
  // Sizes the buffers for a vocabulary of `n_vocab` tokens (n_vocab > 0).
  explicit Sampler(int32_t n_vocab);

  // Starts a request with `params` (validated) whose prompt is `prompt` (its tokens feed the
  // repetition-penalty window). InvalidArgument on bad params or prompt tokens outside the vocab.
  Status Reset(const SamplingParams& params, std::span<const int32_t> prompt);

  // Picks the next token from `logits` (n_vocab raw model scores, left unchanged). Does not
  // allocate. Precondition: Reset() succeeded and logits.size() == n_vocab.
  SampledToken Sample(std::span<const float> logits);

  // Records `token` as generated (penalties); call once per token actually emitted.
  void Accept(int32_t token);

  int32_t n_vocab() const { return n_vocab_; }
  // The seed in use (drawn or given), so a caller can report it.
  uint64_t seed() const { return seed_; }

 private:
  // Log-sum-exp of `logits` and the top `params_.top_logprobs` of them into `out`.
  double FillTopLogprobs(std::span<const float> logits, SampledToken* out) const;
  // Applies the penalties to candidates_, which must still be indexed by token.
  void ApplyPenalties();
  void PushHistory(int32_t token);
  double NextUniform();  // In [0, 1).

  int32_t n_vocab_;
  SamplingParams params_;
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;

  // Generated-token counts for frequency/presence, and the distinct tokens touched.
  std::vector<int32_t> generated_count_;
  std::vector<int32_t> generated_distinct_;
  // Repetition window: a ring of the last repeat_last_n tokens and per-token counts within it.
  std::vector<int32_t> window_;
  size_t window_start_ = 0;
  size_t window_size_ = 0;
  std::vector<int32_t> window_count_;
  // Candidate buffer: (logit, token), n_vocab entries, reused for every token.
  std::vector<std::pair<float, int32_t>> candidates_;
};

}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_RUNTIME_SAMPLER_H_
