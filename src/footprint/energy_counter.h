// EnergyCounter: one source of cumulative energy (a RAPL domain, a GPU) that the sampler reads.
#ifndef SOBRE_FOOTPRINT_ENERGY_COUNTER_H_
#define SOBRE_FOOTPRINT_ENERGY_COUNTER_H_

#include <chrono>
#include <string>

#include "core/status.h"
#include "core/units.h"

namespace sobre::footprint {

// What part of the machine a figure belongs to. Figures of different components add up; a
// component never contains another (the RAPL reader drops nested domains before this point).
enum class Component { kCpu, kDram, kGpu, kPlatform, kRam };

// "cpu", "dram", "gpu", "platform", "ram".
const char* ComponentName(Component c);

// A cumulative energy source. Each Sample() returns the energy used since the previous call, with
// counter wrap-around already handled; the first call sets the baseline and returns zero.
// Not thread-safe: one sampler thread owns each counter.
class EnergyCounter {
 public:
  virtual ~EnergyCounter() = default;
  // Stable, human-readable label: "rapl package-0 (socket 0)", "NVML gpu0 NVIDIA H100 80GB HBM3".
  virtual std::string label() const = 0;
  virtual Component component() const = 0;
  // How the figure is obtained, printed next to it: "RAPL energy_uj counter",
  // "NVML total-energy counter", "NVML power samples, integrated".
  virtual std::string method() const = 0;
  // Index of the device or socket the counter belongs to (GPU index, RAPL socket).
  virtual int device_index() const = 0;
  // Energy since the previous call. `now` is the sample time on a monotonic clock; sources that
  // integrate power use it, counters ignore it. An error means this sample is lost, not that the
  // counter is dead: the next call measures from the last good reading.
  virtual StatusOr<Joules> Sample(std::chrono::steady_clock::time_point now) = 0;
};

}  // namespace sobre::footprint

#endif  // SOBRE_FOOTPRINT_ENERGY_COUNTER_H_
