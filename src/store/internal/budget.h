// Budget arithmetic shared by both store backends: UTC calendar periods, time <-> unix
// microseconds, cost validation and the limit check that decides whether a reservation fits.
#ifndef SOBRE_STORE_INTERNAL_BUDGET_H_
#define SOBRE_STORE_INTERNAL_BUDGET_H_

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/status.h"
#include "store/store.h"

namespace sobre::store::internal {

// The UTC day and month containing an instant, as [start, end) bounds.
struct Periods {
  TimePoint day_start;
  TimePoint day_end;
  TimePoint month_start;
  TimePoint month_end;
};

// The periods containing `now`.
Periods PeriodsAt(TimePoint now);

// Whole microseconds since the Unix epoch (rounded down), and back.
int64_t ToUnixMicros(TimePoint t);
TimePoint FromUnixMicros(int64_t us);

// What one usage row holds for a period: settled usage and outstanding reservations.
struct PeriodUsage {
  Cost used;
  Cost reserved;
};

// InvalidArgument if any part of `cost` is negative or not finite; `what` names it in the message.
Status ValidateCost(const Cost& cost, std::string_view what);

// nullopt when `upper_bound` fits every limit of `limits` on top of `day` and `month`; otherwise
// the denial (granted = false) naming the limit, with retry_after until that period ends. When
// several limits are exceeded, a monthly one is named first: retrying after the day ends would
// not help.
std::optional<Reservation> CheckLimits(const Limits& limits, const PeriodUsage& day,
                                       const PeriodUsage& month, const Cost& upper_bound,
                                       const Periods& periods, TimePoint now);

}  // namespace sobre::store::internal

#endif  // SOBRE_STORE_INTERNAL_BUDGET_H_
