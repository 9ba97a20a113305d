// Per-key rate limits (requests per minute, tokens per minute) kept in this process's memory:
// one token bucket per limit and key, refilled continuously.
#ifndef SOBRE_GATEWAY_RATE_LIMITER_H_
#define SOBRE_GATEWAY_RATE_LIMITER_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/clock.h"
#include "store/store.h"

namespace sobre::gateway {

// The state of one limit after a check, for the x-ratelimit-* headers.
struct RateLimitState {
  int64_t limit = 0;                     // Capacity per minute.
  int64_t remaining = 0;                 // Whole units left now (never negative).
  std::chrono::milliseconds reset{0};    // Until the bucket is full again.
};

// The outcome of RateLimiter::Admit().
struct RateDecision {
  bool allowed = true;
  // Which limit refused: "requests" or "tokens"; empty when allowed.
  std::string_view refused_by;
  std::chrono::milliseconds retry_after{0};  // When refused: until the request would fit.
  std::optional<RateLimitState> requests;    // Set when the key has requests_per_minute.
  std::optional<RateLimitState> tokens;      // Set when the key has tokens_per_minute.
  int64_t tokens_charged = 0;                // Tokens taken from the bucket (for Adjust()).
};

// Go-style duration for x-ratelimit-reset-*: "12ms", "1.5s", "6m0s".
std::string FormatResetDuration(std::chrono::milliseconds d);

// Thread contract: thread-safe. Keys are spread over shards, each with its own mutex, so
// requests of different keys rarely contend; a lock is held only for the arithmetic.
class RateLimiter {
 public:
  explicit RateLimiter(const Clock& clock) : clock_(clock) {}

  // Checks the key's limits and, if every one has room, charges one request and
  // min(`tokens`, capacity) tokens. A key without rate limits is always allowed (no lock taken).
  RateDecision Admit(int64_t key_id, const store::Limits& limits, int64_t tokens);

  // Corrects the tokens charged once the real count is known: `delta` = actual - charged
  // (negative refunds, capped at capacity; positive may drive the bucket below zero, so later
  // requests wait for the debt to refill).
  void Adjust(int64_t key_id, const store::Limits& limits, int64_t delta);

 private:
  struct Bucket {
    double level = 0;   // Units available.
    double capacity = 0;
    std::chrono::steady_clock::time_point last{};
    bool initialised = false;
  };
  struct KeyState {
    Bucket requests;
    Bucket tokens;
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<int64_t, KeyState> keys;
  };
  static constexpr size_t kShards = 16;

  Shard& ShardOf(int64_t key_id) { return shards_[static_cast<uint64_t>(key_id) % kShards]; }

  const Clock& clock_;
  std::array<Shard, kShards> shards_;
};

}  // namespace sobre::gateway

#endif  // SOBRE_GATEWAY_RATE_LIMITER_H_
