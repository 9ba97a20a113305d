// Clock: the one way sobre reads time, so that tests can drive it.
#ifndef SOBRE_CORE_CLOCK_H_
#define SOBRE_CORE_CLOCK_H_

#include <chrono>
#include <mutex>

namespace sobre {

// Monotonic time for durations and wall time for "which hour was this". Implementations are
// thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time; only differences are meaningful.
  virtual std::chrono::steady_clock::time_point Now() const = 0;
  // Calendar time (UTC), used to pick hourly carbon intensities and to stamp reports.
  virtual std::chrono::system_clock::time_point WallNow() const = 0;
  // Blocks the calling thread for `d` (a fake clock advances instead).
  virtual void SleepFor(std::chrono::nanoseconds d) const = 0;
};

// The real clocks. Returns a process-wide instance.
const Clock& SystemClock();

// A clock that only moves when told to; SleepFor advances it. For tests.
class FakeClock : public Clock {
 public:
  explicit FakeClock(std::chrono::system_clock::time_point wall_start = {}) : wall_(wall_start) {}
  std::chrono::steady_clock::time_point Now() const override;
  std::chrono::system_clock::time_point WallNow() const override;
  void SleepFor(std::chrono::nanoseconds d) const override;
  void Advance(std::chrono::nanoseconds d);

 private:
  mutable std::mutex mu_;
  mutable std::chrono::steady_clock::time_point mono_{};
  mutable std::chrono::system_clock::time_point wall_;
};

}  // namespace sobre

#endif  // SOBRE_CORE_CLOCK_H_
