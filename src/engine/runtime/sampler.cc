// Sampling pipeline: logprobs of the raw scores, penalties, temperature, then top-k, top-p and
// min-p truncation (llama.cpp's order; temperature first as in HF / vLLM, so that truncation sees
// the distribution actually sampled from), then one draw.
#include "engine/runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace sobre::engine {
namespace {

using Candidate = std::pair<float, int32_t>;

// Most likely first; equal scores by lower token id, so every ordering is deterministic.
bool MoreLikely(const Candidate& a, const Candidate& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

bool InRange(float v, float lo, float hi) { return std::isfinite(v) && v >= lo && v <= hi; }

}  // namespace

Status ValidateSamplingParams(const SamplingParams& p) {
  if (!InRange(p.temperature, 0.0f, 2.0f)) {
    return InvalidArgumentError("temperature must be in [0, 2], got " +
                                std::to_string(p.temperature));
  }
  if (p.top_k < 0) return InvalidArgumentError("top_k must be >= 0, got " + std::to_string(p.top_k));
  if (!InRange(p.top_p, 0.0f, 1.0f) || p.top_p == 0.0f) {
    return InvalidArgumentError("top_p must be in (0, 1], got " + std::to_string(p.top_p));
  }
  if (!InRange(p.min_p, 0.0f, 1.0f)) {
    return InvalidArgumentError("min_p must be in [0, 1], got " + std::to_string(p.min_p));
  }
  if (!InRange(p.frequency_penalty, -2.0f, 2.0f)) {
    return InvalidArgumentError("frequency_penalty must be in [-2, 2], got " +
                                std::to_string(p.frequency_penalty));
  }
  if (!InRange(p.presence_penalty, -2.0f, 2.0f)) {
    return InvalidArgumentError("presence_penalty must be in [-2, 2], got " +
                                std::to_string(p.presence_penalty));
  }
  if (!std::isfinite(p.repetition_penalty) || p.repetition_penalty <= 0.0f) {
    return InvalidArgumentError("repetition_penalty must be > 0, got " +
                                std::to_string(p.repetition_penalty));
  }
  if (p.repeat_last_n < 0 || p.repeat_last_n > (1 << 20)) {
    return InvalidArgumentError("repeat_last_n must be in [0, 1048576], got " +
                                std::to_string(p.repeat_last_n));
  }
  if (p.top_logprobs < 0 || p.top_logprobs > kMaxTopLogprobs) {
    return InvalidArgumentError("top_logprobs must be in [0, 20], got " +
                                std::to_string(p.top_logprobs));
  }
  return OkStatus();
}

Sampler::Sampler(int32_t n_vocab)
    : n_vocab_(n_vocab),
      generated_count_(static_cast<size_t>(n_vocab), 0),
      window_count_(static_cast<size_t>(n_vocab), 0),
      candidates_(static_cast<size_t>(n_vocab)) {}

Status Sampler::Reset(const SamplingParams& params, std::span<const int32_t> prompt) {
  SOBRE_RETURN_IF_ERROR(ValidateSamplingParams(params));
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] < 0 || prompt[i] >= n_vocab_) {
      return InvalidArgumentError("prompt token " + std::to_string(prompt[i]) + " at position " +
                                  std::to_string(i) + " is outside the vocabulary of " +
                                  std::to_string(n_vocab_));
    }
  }
  params_ = params;
  seed_ = params.seed.has_value() ? *params.seed
                                  : (static_cast<uint64_t>(std::random_device{}()) << 32) ^
                                        std::random_device{}();
  rng_.seed(seed_);
  for (int32_t t : generated_distinct_) generated_count_[static_cast<size_t>(t)] = 0;
  generated_distinct_.clear();
  for (size_t i = 0; i < window_size_; ++i) {
    window_count_[static_cast<size_t>(window_[(window_start_ + i) % window_.size()])] = 0;
  }
  window_.assign(static_cast<size_t>(params.repeat_last_n), 0);
  window_start_ = 0;
  window_size_ = 0;
  if (params.repetition_penalty != 1.0f && !window_.empty()) {
    const size_t skip = prompt.size() > window_.size() ? prompt.size() - window_.size() : 0;
    for (size_t i = skip; i < prompt.size(); ++i) PushHistory(prompt[i]);
  }
  return OkStatus();
}

void Sampler::PushHistory(int32_t token) {
  if (window_.empty()) return;
  if (window_size_ == window_.size()) {
    --window_count_[static_cast<size_t>(window_[window_start_])];
    window_[window_start_] = token;
    window_start_ = (window_start_ + 1) % window_.size();
  } else {
    window_[(window_start_ + window_size_) % window_.size()] = token;
    ++window_size_;
  }
  ++window_count_[static_cast<size_t>(token)];
}

void Sampler::Accept(int32_t token) {
  if (token < 0 || token >= n_vocab_) return;
  if (generated_count_[static_cast<size_t>(token)]++ == 0) generated_distinct_.push_back(token);
  if (params_.repetition_penalty != 1.0f) PushHistory(token);
}

void Sampler::ApplyPenalties() {
  if (params_.frequency_penalty != 0.0f || params_.presence_penalty != 0.0f) {
    for (int32_t t : generated_distinct_) {
      const auto c = static_cast<float>(generated_count_[static_cast<size_t>(t)]);
      candidates_[static_cast<size_t>(t)].first -=
          c * params_.frequency_penalty + params_.presence_penalty;
    }
  }
  if (params_.repetition_penalty != 1.0f && window_size_ > 0) {
    // Each distinct token is penalised once: its count is negated while visited, then restored.
    for (size_t i = 0; i < window_size_; ++i) {
      const auto t = static_cast<size_t>(window_[(window_start_ + i) % window_.size()]);
      if (window_count_[t] <= 0) continue;
      float& l = candidates_[t].first;
      l = l > 0 ? l / params_.repetition_penalty : l * params_.repetition_penalty;
      window_count_[t] = -window_count_[t];
    }
    for (size_t i = 0; i < window_size_; ++i) {
      const auto t = static_cast<size_t>(window_[(window_start_ + i) % window_.size()]);
      if (window_count_[t] < 0) window_count_[t] = -window_count_[t];
    }
  }
}

double Sampler::FillTopLogprobs(std::span<const float> logits, SampledToken* out) const {
  float max_logit = -std::numeric_limits<float>::infinity();
  for (float l : logits) max_logit = std::max(max_logit, l);
  double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<double>(l) - max_logit);
  const double lse = max_logit + std::log(sum);
  // Keep the best `k` in a small sorted array (k <= 20: insertion is cheaper than a heap).
  const int k = params_.top_logprobs;
  int n = 0;
  for (int32_t t = 0; t < n_vocab_ && k > 0; ++t) {
    const float l = logits[static_cast<size_t>(t)];
    if (n == k && !(l > out->top[static_cast<size_t>(n - 1)].logprob)) continue;
    int i = n < k ? n++ : k - 1;
    while (i > 0 && l > out->top[static_cast<size_t>(i - 1)].logprob) {
      out->top[static_cast<size_t>(i)] = out->top[static_cast<size_t>(i - 1)];
      --i;
    }
    out->top[static_cast<size_t>(i)] = TokenLogprob{t, l};
  }
  for (int i = 0; i < n; ++i) {
    auto& e = out->top[static_cast<size_t>(i)];
    e.logprob = static_cast<float>(e.logprob - lse);
  }
  out->n_top = n;
  return lse;
}

double Sampler::NextUniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

SampledToken Sampler::Sample(std::span<const float> logits) {
  SampledToken out;
  double lse = 0;
  const bool want_logprobs = params_.logprobs || params_.top_logprobs > 0;
  if (want_logprobs) lse = FillTopLogprobs(logits, &out);

  const float inv_temp = params_.temperature > 0 ? 1.0f / params_.temperature : 1.0f;
  for (int32_t t = 0; t < n_vocab_; ++t) {
    candidates_[static_cast<size_t>(t)] = {logits[static_cast<size_t>(t)], t};
  }
  ApplyPenalties();

  auto begin = candidates_.begin();
  if (params_.temperature == 0.0f) {
    out.token = std::min_element(begin, candidates_.end(), MoreLikely)->second;
  } else {
    for (auto& c : candidates_) c.first *= inv_temp;
    size_t n = candidates_.size();
    if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < n) {
      n = static_cast<size_t>(params_.top_k);
      std::nth_element(begin, begin + static_cast<ptrdiff_t>(n) - 1, candidates_.end(), MoreLikely);
    }
    const float max_logit = std::min_element(begin, begin + static_cast<ptrdiff_t>(n),
                                             MoreLikely)->first;
    if (params_.top_p < 1.0f) {
      double total = 0;
      for (size_t i = 0; i < n; ++i) total += std::exp(static_cast<double>(candidates_[i].first) -
                                                       max_logit);
      const double target = params_.top_p * total;
      // Sort a growing head until it holds top_p of the mass: usually a few dozen tokens, so the
      // whole vocabulary is never sorted.
      size_t sorted = std::min<size_t>(n, 64);
      for (;;) {
        std::partial_sort(begin, begin + static_cast<ptrdiff_t>(sorted),
                          begin + static_cast<ptrdiff_t>(n), MoreLikely);
        double cum = 0;
        size_t keep = 0;
        while (keep < sorted && cum < target) {
          cum += std::exp(static_cast<double>(candidates_[keep].first) - max_logit);
          ++keep;
        }
        if (cum >= target || sorted == n) {
          n = std::max<size_t>(keep, 1);
          break;
        }
        sorted = std::min(n, sorted * 4);
      }
    }
    if (params_.min_p > 0.0f) {
      const float threshold = max_logit + std::log(params_.min_p);
      size_t kept = 0;
      for (size_t i = 0; i < n; ++i) {
        if (candidates_[i].first >= threshold) candidates_[kept++] = candidates_[i];
      }
      n = std::max<size_t>(kept, 1);  // The most likely token always passes (its ratio is 1).
    }
    double total = 0;
    for (size_t i = 0; i < n; ++i) {
      total += std::exp(static_cast<double>(candidates_[i].first) - max_logit);
    }
    const double r = NextUniform() * total;
    double cum = 0;
    out.token = candidates_[n - 1].second;
    for (size_t i = 0; i < n; ++i) {
      cum += std::exp(static_cast<double>(candidates_[i].first) - max_logit);
      if (r < cum) {
        out.token = candidates_[i].second;
        break;
      }
    }
  }
  if (want_logprobs) {
    out.logprob = static_cast<float>(logits[static_cast<size_t>(out.token)] - lse);
  }
  return out;
}

}  // namespace sobre::engine
