// A fake Decoder for engine tests: its "KV cache" is the token history of each sequence, positions
// must arrive contiguously (an engine bug becomes an error), and the logits of a token depend on
// the whole history, so a wrong prefix or a mixed-up sequence changes the generated tokens.
#ifndef SOBRE_TESTS_ENGINE_RUNTIME_FAKE_DECODER_H_
#define SOBRE_TESTS_ENGINE_RUNTIME_FAKE_DECODER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/runtime/decoder.h"

namespace sobre::engine::testing {

// The token the fake prefers after `history`: a hash of the whole sequence.
inline int32_t FakeNextToken(const std::vector<int32_t>& history, int32_t n_vocab) {
  uint64_t h = 1469598103934665603ull;
  for (int32_t t : history) h = (h ^ static_cast<uint64_t>(t + 1)) * 1099511628211ull;
  return static_cast<int32_t>((h >> 17) % static_cast<uint64_t>(n_vocab));
}

// Greedy continuation of `prompt` by the fake, `n` tokens.
inline std::vector<int32_t> FakeGreedy(std::vector<int32_t> prompt, int n, int32_t n_vocab) {
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    int32_t t = FakeNextToken(prompt, n_vocab);
    out.push_back(t);
    prompt.push_back(t);
  }
  return out;
}

class FakeDecoder : public Decoder {
 public:
  FakeDecoder(int32_t n_vocab, int32_t n_ctx, int32_t n_seq)
      : n_vocab_(n_vocab), n_ctx_(n_ctx), seqs_(static_cast<size_t>(n_seq)) {}

  int32_t n_vocab() const override { return n_vocab_; }
  int32_t n_ctx() const override { return n_ctx_; }
  int32_t n_seq() const override { return static_cast<int32_t>(seqs_.size()); }

  Status Decode(std::span<const DecodeToken> batch, std::span<float> logits) override {
    size_t row = 0;
    for (const DecodeToken& t : batch) {
      if (t.seq < 0 || t.seq >= n_seq()) return InvalidArgumentError("bad seq");
      auto& h = seqs_[static_cast<size_t>(t.seq)];
      if (t.pos != static_cast<int32_t>(h.size()) || t.pos >= n_ctx_) {
        return InternalError("seq " + std::to_string(t.seq) + ": position " +
                             std::to_string(t.pos) + " after " + std::to_string(h.size()));
      }
      h.push_back(t.token);
      if (t.logits) {
        if ((row + 1) * static_cast<size_t>(n_vocab_) > logits.size()) {
          return InternalError("logits buffer too small");
        }
        float* r = logits.data() + row * static_cast<size_t>(n_vocab_);
        for (int32_t i = 0; i < n_vocab_; ++i) r[i] = static_cast<float>(i % 7) * 0.1f;
        r[FakeNextToken(h, n_vocab_)] = 8.0f;
        ++row;
      }
    }
    tokens_evaluated += static_cast<int64_t>(batch.size());
    ++steps;
    int n_seqs = 0;
    std::vector<bool> seen(seqs_.size(), false);
    for (const DecodeToken& t : batch) {
      if (!seen[static_cast<size_t>(t.seq)]) ++n_seqs;
      seen[static_cast<size_t>(t.seq)] = true;
    }
    if (n_seqs > max_sequences_in_a_step) max_sequences_in_a_step = n_seqs;
    if (delay_per_step_us > 0) {
      // Keeps steps slow enough for tests that act while a request is running.
      auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(delay_per_step_us);
      while (std::chrono::steady_clock::now() < until) {
      }
    }
    return OkStatus();
  }

  Status Truncate(int32_t seq, int32_t n) override {
    auto& h = seqs_[static_cast<size_t>(seq)];
    if (n < 0 || n > static_cast<int32_t>(h.size())) return InvalidArgumentError("bad truncate");
    h.resize(static_cast<size_t>(n));
    return OkStatus();
  }

  Status CopyPrefix(int32_t from, int32_t to, int32_t n) override {
    const auto& src = seqs_[static_cast<size_t>(from)];
    if (n < 0 || n > static_cast<int32_t>(src.size())) return InvalidArgumentError("bad copy");
    seqs_[static_cast<size_t>(to)].assign(src.begin(), src.begin() + n);
    ++copies;
    return OkStatus();
  }

  // Read by tests after the requests they wait for are done.
  std::atomic<int64_t> tokens_evaluated{0};
  std::atomic<int64_t> steps{0};
  std::atomic<int> copies{0};
  std::atomic<int> max_sequences_in_a_step{0};
  int delay_per_step_us = 0;

 private:
  int32_t n_vocab_;
  int32_t n_ctx_;
  std::vector<std::vector<int32_t>> seqs_;
};

}  // namespace sobre::engine::testing

#endif  // SOBRE_TESTS_ENGINE_RUNTIME_FAKE_DECODER_H_
