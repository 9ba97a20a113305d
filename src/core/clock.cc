#include "core/clock.h"

#include <thread>

namespace sobre {
namespace {

class RealClock : public Clock {
 public:
  std::chrono::steady_clock::time_point Now() const override {
    return std::chrono::steady_clock::now();
  }
  std::chrono::system_clock::time_point WallNow() const override {
    return std::chrono::system_clock::now();
  }
  void SleepFor(std::chrono::nanoseconds d) const override { std::this_thread::sleep_for(d); }
};

}  // namespace

const Clock& SystemClock() {
  static const RealClock clock;
  return clock;
}

std::chrono::steady_clock::time_point FakeClock::Now() const {
  std::lock_guard lock(mu_);
  return mono_;
}

std::chrono::system_clock::time_point FakeClock::WallNow() const {
  std::lock_guard lock(mu_);
  return wall_;
}

void FakeClock::SleepFor(std::chrono::nanoseconds d) const {
  std::lock_guard lock(mu_);
  mono_ += d;
  wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
}

void FakeClock::Advance(std::chrono::nanoseconds d) { SleepFor(d); }

}  // namespace sobre
