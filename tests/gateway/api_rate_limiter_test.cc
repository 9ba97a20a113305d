// Per-key token buckets driven by a fake clock.
#include "gateway/rate_limiter.h"

#include <gtest/gtest.h>

namespace sobre::gateway {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

store::Limits Rpm(int64_t n) {
  store::Limits l;
  l.requests_per_minute = n;
  return l;
}

store::Limits Tpm(int64_t n) {
  store::Limits l;
  l.tokens_per_minute = n;
  return l;
}

TEST(RateLimiterTest, AllowsTheLimitThenRefusesUntilABucketUnitRefills) {
  FakeClock clock;
  RateLimiter limiter(clock);
  const store::Limits limits = Rpm(3);
  for (int64_t remaining : {2, 1, 0}) {
    const RateDecision d = limiter.Admit(1, limits, 0);
    ASSERT_TRUE(d.allowed);
    ASSERT_TRUE(d.requests.has_value());
    EXPECT_EQ(d.requests->limit, 3);
    EXPECT_EQ(d.requests->remaining, remaining);
    EXPECT_FALSE(d.tokens.has_value());
  }
  const RateDecision refused = limiter.Admit(1, limits, 0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.refused_by, "requests");
  EXPECT_EQ(refused.retry_after, milliseconds(20000));  // 3 per minute: one every 20 s.
  EXPECT_EQ(refused.requests->reset, milliseconds(60000));

  clock.Advance(seconds(19));
  EXPECT_FALSE(limiter.Admit(1, limits, 0).allowed);
  clock.Advance(seconds(1));
  EXPECT_TRUE(limiter.Admit(1, limits, 0).allowed);
}

TEST(RateLimiterTest, KeysHaveSeparateBuckets) {
  FakeClock clock;
  RateLimiter limiter(clock);
  EXPECT_TRUE(limiter.Admit(1, Rpm(1), 0).allowed);
  EXPECT_FALSE(limiter.Admit(1, Rpm(1), 0).allowed);
  EXPECT_TRUE(limiter.Admit(2, Rpm(1), 0).allowed);
}

TEST(RateLimiterTest, TokensAreChargedUpFrontAndCorrectedAfterwards) {
  FakeClock clock;
  RateLimiter limiter(clock);
  const store::Limits limits = Tpm(100);
  const RateDecision first = limiter.Admit(7, limits, 60);
  ASSERT_TRUE(first.allowed);
  EXPECT_EQ(first.tokens_charged, 60);
  EXPECT_EQ(first.tokens->remaining, 40);

  const RateDecision second = limiter.Admit(7, limits, 60);
  EXPECT_FALSE(second.allowed);
  EXPECT_EQ(second.refused_by, "tokens");
  EXPECT_EQ(second.retry_after, milliseconds(12000));  // 20 tokens at 100/min.

  // The first request used only 10 tokens: 50 come back, and the second now fits.
  limiter.Adjust(7, limits, 10 - first.tokens_charged);
  EXPECT_TRUE(limiter.Admit(7, limits, 60).allowed);
}

TEST(RateLimiterTest, OverrunsBecomeDebtThatDelaysLaterRequests) {
  FakeClock clock;
  RateLimiter limiter(clock);
  const store::Limits limits = Tpm(60);
  ASSERT_TRUE(limiter.Admit(1, limits, 10).allowed);
  limiter.Adjust(1, limits, 100);  // Used 110: 50 over the bucket.
  const RateDecision d = limiter.Admit(1, limits, 1);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.tokens->remaining, 0);
  EXPECT_EQ(d.retry_after, milliseconds(51000));
}

TEST(RateLimiterTest, ARequestLargerThanTheBucketWaitsForAFullBucket) {
  FakeClock clock;
  RateLimiter limiter(clock);
  EXPECT_TRUE(limiter.Admit(1, Tpm(100), 1000).allowed);
  EXPECT_FALSE(limiter.Admit(1, Tpm(100), 1000).allowed);
  clock.Advance(seconds(60));
  EXPECT_TRUE(limiter.Admit(1, Tpm(100), 1000).allowed);
}

TEST(RateLimiterTest, BothLimitsMustHaveRoomAndNeitherIsChargedOnRefusal) {
  FakeClock clock;
  RateLimiter limiter(clock);
  store::Limits limits;
  limits.requests_per_minute = 10;
  limits.tokens_per_minute = 50;
  ASSERT_TRUE(limiter.Admit(1, limits, 40).allowed);
  const RateDecision refused = limiter.Admit(1, limits, 40);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.requests->remaining, 9);  // The refused request took no request unit.
  EXPECT_TRUE(limiter.Admit(1, limits, 10).allowed);
}

TEST(RateLimiterTest, KeysWithoutLimitsAreAlwaysAllowed) {
  FakeClock clock;
  RateLimiter limiter(clock);
  for (int i = 0; i < 1000; ++i) {
    const RateDecision d = limiter.Admit(1, store::Limits{}, 1 << 20);
    ASSERT_TRUE(d.allowed);
    EXPECT_FALSE(d.requests.has_value());
  }
}

TEST(RateLimiterTest, ResetDurationsReadLikeOpenAis) {
  EXPECT_EQ(FormatResetDuration(milliseconds(12)), "12ms");
  EXPECT_EQ(FormatResetDuration(milliseconds(1500)), "1.5s");
  EXPECT_EQ(FormatResetDuration(milliseconds(6000)), "6s");
  EXPECT_EQ(FormatResetDuration(milliseconds(360000)), "6m0s");
  EXPECT_EQ(FormatResetDuration(milliseconds(90500)), "1m30.5s");
  EXPECT_EQ(FormatResetDuration(milliseconds(-5)), "0ms");
}

}  // namespace
}  // namespace sobre::gateway
