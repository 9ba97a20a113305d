// Token buckets: capacity = the per-minute limit, refilled at limit/60 per second. Unlike fixed
// windows they never admit twice the limit across a window boundary, and "time until full" is
// exactly what OpenAI's x-ratelimit-reset-* headers mean.
#include "gateway/rate_limiter.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace sobre::gateway {
namespace {

using std::chrono::milliseconds;

void Refill(double& level, double capacity, std::chrono::steady_clock::time_point& last,
            bool& initialised, std::chrono::steady_clock::time_point now) {
  if (!initialised) {
    level = capacity;
    last = now;
    initialised = true;
    return;
  }
  const double elapsed_s = std::chrono::duration<double>(now - last).count();
  if (elapsed_s > 0) {
    level = std::min(capacity, level + elapsed_s * capacity / 60.0);
    last = now;
  }
}

milliseconds TimeToReach(double level, double target, double capacity) {
  if (level >= target || capacity <= 0) return milliseconds(0);
  const double s = (target - level) * 60.0 / capacity;
  return milliseconds(static_cast<int64_t>(std::ceil(s * 1000.0)));
}

RateLimitState StateOf(double level, double capacity) {
  RateLimitState s;
  s.limit = static_cast<int64_t>(capacity);
  s.remaining = std::max<int64_t>(0, static_cast<int64_t>(std::floor(level)));
  s.reset = TimeToReach(level, capacity, capacity);
  return s;
}

}  // namespace

std::string FormatResetDuration(std::chrono::milliseconds d) {
  const int64_t ms = std::max<int64_t>(0, d.count());
  if (ms < 1000) return fmt::format("{}ms", ms);
  if (ms < 60000) {
    std::string s = fmt::format("{:.3f}", static_cast<double>(ms) / 1000.0);
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s + "s";
  }
  const int64_t minutes = ms / 60000;
  std::string rest = FormatResetDuration(milliseconds(ms % 60000));
  if (ms % 60000 < 1000) rest = fmt::format("{}s", (ms % 60000) / 1000);
  return fmt::format("{}m{}", minutes, rest);
}

RateDecision RateLimiter::Admit(int64_t key_id, const store::Limits& limits, int64_t tokens) {
  RateDecision d;
  const bool has_requests = limits.requests_per_minute.has_value();
  const bool has_tokens = limits.tokens_per_minute.has_value();
  if (!has_requests && !has_tokens) return d;

  const auto now = clock_.Now();
  Shard& shard = ShardOf(key_id);
  std::lock_guard lock(shard.mu);
  KeyState& state = shard.keys[key_id];
  Bucket& rq = state.requests;
  Bucket& tk = state.tokens;

  double token_need = 0;
  if (has_requests) {
    rq.capacity = static_cast<double>(std::max<int64_t>(0, *limits.requests_per_minute));
    Refill(rq.level, rq.capacity, rq.last, rq.initialised, now);
    rq.level = std::min(rq.level, rq.capacity);  // The limit may have been lowered.
  }
  if (has_tokens) {
    tk.capacity = static_cast<double>(std::max<int64_t>(0, *limits.tokens_per_minute));
    Refill(tk.level, tk.capacity, tk.last, tk.initialised, now);
    tk.level = std::min(tk.level, tk.capacity);
    // A request larger than the whole bucket waits for a full bucket rather than never passing.
    token_need = std::min(static_cast<double>(std::max<int64_t>(0, tokens)), tk.capacity);
  }

  const bool requests_ok = !has_requests || rq.level >= 1.0;
  const bool tokens_ok = !has_tokens || (tk.capacity > 0 && tk.level >= token_need);
  if (requests_ok && tokens_ok) {
    if (has_requests) rq.level -= 1.0;
    if (has_tokens) {
      tk.level -= token_need;
      d.tokens_charged = static_cast<int64_t>(token_need);
    }
  } else {
    d.allowed = false;
    milliseconds wait(0);
    if (!requests_ok) {
      d.refused_by = "requests";
      wait = rq.capacity > 0 ? TimeToReach(rq.level, 1.0, rq.capacity) : milliseconds(60000);
    }
    if (!tokens_ok) {
      const milliseconds token_wait =
          tk.capacity > 0 ? TimeToReach(tk.level, token_need, tk.capacity) : milliseconds(60000);
      if (d.refused_by.empty() || token_wait > wait) {
        d.refused_by = "tokens";
        wait = token_wait;
      }
    }
    d.retry_after = wait;
  }
  if (has_requests) d.requests = StateOf(rq.level, rq.capacity);
  if (has_tokens) d.tokens = StateOf(tk.level, tk.capacity);
  return d;
}

void RateLimiter::Adjust(int64_t key_id, const store::Limits& limits, int64_t delta) {
  if (!limits.tokens_per_minute.has_value() || delta == 0) return;
  const auto now = clock_.Now();
  Shard& shard = ShardOf(key_id);
  std::lock_guard lock(shard.mu);
  auto it = shard.keys.find(key_id);
  if (it == shard.keys.end()) return;
  Bucket& tk = it->second.tokens;
  if (!tk.initialised) return;
  Refill(tk.level, tk.capacity, tk.last, tk.initialised, now);
  tk.level = std::min(tk.capacity, tk.level - static_cast<double>(delta));
}

}  // namespace sobre::gateway
