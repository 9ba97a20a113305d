// Budget arithmetic shared by both backends: calendar periods and the limit check.
#include "store/internal/budget.h"

#include <gtest/gtest.h>

namespace sobre::store::internal {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

TimePoint Utc(int y, unsigned m, unsigned d, int hh = 0) {
  return std::chrono::sys_days(std::chrono::year(y) / m / d) + hours(hh);
}

TEST(PeriodsTest, DaysAndMonthsAreUtcCalendarPeriods) {
  Periods p = PeriodsAt(Utc(2024, 2, 29, 23) + seconds(3599));
  EXPECT_EQ(p.day_start, Utc(2024, 2, 29));
  EXPECT_EQ(p.day_end, Utc(2024, 3, 1));
  EXPECT_EQ(p.month_start, Utc(2024, 2, 1));
  EXPECT_EQ(p.month_end, Utc(2024, 3, 1));

  p = PeriodsAt(Utc(2023, 12, 31, 12));
  EXPECT_EQ(p.month_start, Utc(2023, 12, 1));
  EXPECT_EQ(p.month_end, Utc(2024, 1, 1));
  EXPECT_EQ(p.day_end, Utc(2024, 1, 1));

  p = PeriodsAt(Utc(2024, 3, 1));  // The first instant belongs to the new period.
  EXPECT_EQ(p.day_start, Utc(2024, 3, 1));
  EXPECT_EQ(p.month_start, Utc(2024, 3, 1));

  p = PeriodsAt(Utc(1969, 12, 31, 18));  // Before the epoch: still floors, not truncates.
  EXPECT_EQ(p.day_start, Utc(1969, 12, 31));
  EXPECT_EQ(p.month_start, Utc(1969, 12, 1));
}

TEST(PeriodsTest, UnixMicrosRoundTripAndFloor) {
  TimePoint t = Utc(2024, 5, 6) + std::chrono::microseconds(42);
  EXPECT_EQ(FromUnixMicros(ToUnixMicros(t)), t);
  EXPECT_EQ(ToUnixMicros(Utc(1970, 1, 1)), 0);
  EXPECT_EQ(ToUnixMicros(TimePoint(std::chrono::nanoseconds(-1))), -1);
}

TEST(CheckLimitsTest, FitsUpToTheLimitIncludingSummedDoubles) {
  Limits limits;
  limits.co2e_g_per_day = 0.3;
  PeriodUsage day;
  day.used.co2e_g = 0.1;
  day.reserved.co2e_g = 0.1;
  const TimePoint now = Utc(2024, 1, 1, 12);
  EXPECT_FALSE(CheckLimits(limits, day, {}, {0, 0, 0.1}, PeriodsAt(now), now).has_value())
      << "0.1 + 0.1 + 0.1 fits 0.3";
  auto denied = CheckLimits(limits, day, {}, {0, 0, 0.11}, PeriodsAt(now), now);
  ASSERT_TRUE(denied.has_value());
  EXPECT_FALSE(denied->granted);
  EXPECT_EQ(denied->limit_name, "co2e_g_per_day");
  EXPECT_DOUBLE_EQ(denied->used, 0.2);
  EXPECT_EQ(denied->retry_after, hours(12));
}

TEST(CheckLimitsTest, UnsetLimitsNeverDenyAndZeroLimitsDenyAnything) {
  const TimePoint now = Utc(2024, 1, 1, 12);
  PeriodUsage huge;
  huge.used = {1'000'000'000, 1e9, 1e9};
  EXPECT_FALSE(CheckLimits({}, huge, huge, {1, 1, 1}, PeriodsAt(now), now).has_value());
  Limits zero;
  zero.tokens_per_month = 0;
  auto denied = CheckLimits(zero, {}, {}, {1, 0, 0}, PeriodsAt(now), now);
  ASSERT_TRUE(denied.has_value());
  EXPECT_EQ(denied->limit_name, "tokens_per_month");
  EXPECT_EQ(denied->retry_after, Utc(2024, 2, 1) - now);
  EXPECT_FALSE(CheckLimits(zero, {}, {}, {0, 5, 5}, PeriodsAt(now), now).has_value());
}

TEST(CheckLimitsTest, RetryAfterRoundsUpToWholeSeconds) {
  Limits limits;
  limits.tokens_per_day = 1;
  const TimePoint now = Utc(2024, 1, 1, 23) + std::chrono::milliseconds(3599'500);
  auto denied = CheckLimits(limits, {}, {}, {2, 0, 0}, PeriodsAt(now), now);
  ASSERT_TRUE(denied.has_value());
  EXPECT_EQ(denied->retry_after, seconds(1));
}

TEST(ValidateCostTest, RefusesNegativeAndNonFinite) {
  EXPECT_TRUE(ValidateCost({0, 0, 0}, "x").ok());
  EXPECT_EQ(ValidateCost({-1, 0, 0}, "x").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateCost({0, -0.1, 0}, "x").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateCost({0, 0, 1.0 / 0.0}, "x").code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sobre::store::internal
