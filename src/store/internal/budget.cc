#include "store/internal/budget.h"

#include <cmath>
#include <string>

namespace sobre::store::internal {
namespace {

using std::chrono::days;
using std::chrono::microseconds;
using std::chrono::months;
using std::chrono::sys_days;
using std::chrono::year_month_day;

// Reserved amounts are sums of doubles: 0.1 + 0.2 must still fit a limit of 0.3.
bool Exceeds(double total, double limit) {
  double slack = 1e-9 * std::max(1.0, std::abs(limit));
  return total > limit + slack;
}

struct Candidate {
  const char* name;
  std::optional<double> limit;
  double current;  // used + reserved in the period
  double wanted;
  bool monthly;
};

}  // namespace

Periods PeriodsAt(TimePoint now) {
  Periods p;
  sys_days today = std::chrono::floor<days>(now);
  p.day_start = today;
  p.day_end = today + days(1);
  year_month_day ymd{today};
  auto first = ymd.year() / ymd.month() / 1;
  p.month_start = sys_days(first);
  p.month_end = sys_days(first + months(1));
  return p;
}

int64_t ToUnixMicros(TimePoint t) {
  return std::chrono::floor<microseconds>(t).time_since_epoch().count();
}

TimePoint FromUnixMicros(int64_t us) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(microseconds(us)));
}

Status ValidateCost(const Cost& cost, std::string_view what) {
  auto bad = [&](const char* field, const std::string& value) {
    return InvalidArgumentError(std::string(what) + ": " + field +
                                " must be a finite number >= 0, got " + value);
  };
  if (cost.tokens < 0) return bad("tokens", std::to_string(cost.tokens));
  if (!std::isfinite(cost.wh) || cost.wh < 0) return bad("wh", std::to_string(cost.wh));
  if (!std::isfinite(cost.co2e_g) || cost.co2e_g < 0)
    return bad("co2e_g", std::to_string(cost.co2e_g));
  return OkStatus();
}

std::optional<Reservation> CheckLimits(const Limits& limits, const PeriodUsage& day,
                                       const PeriodUsage& month, const Cost& upper_bound,
                                       const Periods& periods, TimePoint now) {
  auto as_double = [](const std::optional<int64_t>& v) -> std::optional<double> {
    if (!v) return std::nullopt;
    return static_cast<double>(*v);
  };
  const double want_tokens = static_cast<double>(upper_bound.tokens);
  const Candidate candidates[] = {
      {"tokens_per_month", as_double(limits.tokens_per_month),
       static_cast<double>(month.used.tokens + month.reserved.tokens), want_tokens, true},
      {"wh_per_month", limits.wh_per_month, month.used.wh + month.reserved.wh, upper_bound.wh,
       true},
      {"co2e_g_per_month", limits.co2e_g_per_month, month.used.co2e_g + month.reserved.co2e_g,
       upper_bound.co2e_g, true},
      {"tokens_per_day", as_double(limits.tokens_per_day),
       static_cast<double>(day.used.tokens + day.reserved.tokens), want_tokens, false},
      {"wh_per_day", limits.wh_per_day, day.used.wh + day.reserved.wh, upper_bound.wh, false},
      {"co2e_g_per_day", limits.co2e_g_per_day, day.used.co2e_g + day.reserved.co2e_g,
       upper_bound.co2e_g, false},
  };
  for (const Candidate& c : candidates) {
    if (!c.limit || !Exceeds(c.current + c.wanted, *c.limit)) continue;
    Reservation denied;
    denied.granted = false;
    denied.limit_name = c.name;
    denied.limit = *c.limit;
    denied.used = c.current;
    TimePoint end = c.monthly ? periods.month_end : periods.day_end;
    denied.retry_after = std::chrono::ceil<std::chrono::seconds>(end - now);
    return denied;
  }
  return std::nullopt;
}

}  // namespace sobre::store::internal
