// Meter: samples every energy source of the machine while a piece of work runs, and splits the
// machine's energy between that work's process tree and everything else.
#ifndef SOBRE_FOOTPRINT_METER_H_
#define SOBRE_FOOTPRINT_METER_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "core/units.h"
#include "footprint/cpu_power_model.h"
#include "footprint/footprint.h"
#include "footprint/hardware_catalogue.h"
#include "footprint/proc_stats.h"

namespace sobre::footprint {

struct MeterOptions {
  // Root of the powercap sysfs tree (SOBRE_POWERCAP_ROOT). Default: /sys/class/powercap.
  std::string powercap_root = "/sys/class/powercap";
  // Root of procfs (SOBRE_PROC_ROOT). Default: /proc.
  std::string proc_root = "/proc";
  // NVML library to dlopen (SOBRE_NVML_LIBRARY); empty means libnvidia-ml.so.1 from the loader.
  std::string nvml_library;
  // Sampling period. Default 1 s: far below RAPL's shortest wrap period (about 260 s at 1 kW) and
  // cheap (see bench/sampler_bench.cc). Shortened automatically if a counter could wrap faster.
  Seconds interval{1.0};
  // CPU TDP in watts for the power model, instead of the catalogue (--cpu-tdp-w).
  std::optional<double> cpu_tdp_w;
  // Memory size in GB for the RAM model, instead of MemTotal (--ram-gb).
  std::optional<double> ram_gb;
  // RAM power per GB for the RAM model. Default: Green Algorithms' 0.3725 W/GB.
  double ram_w_per_gb = kGreenAlgorithmsRamWattsPerGb;
  // Whether to look for RAPL and NVML counters at all.
  bool use_rapl = true;
  bool use_nvml = true;
};

// A live view for progress displays.
struct MeterSnapshot {
  Seconds elapsed{0};
  Joules machine_energy;  // All components, whole machine, so far.
  Watts machine_power;    // Over the last sample period.
  double cpu_share = 0;   // The tree's share of machine CPU time so far.
  bool measured = false;  // Every component from a counter.
};

// The result of a metered run.
struct MeterReading {
  Seconds duration{0};
  std::chrono::system_clock::time_point start_wall;
  std::chrono::system_clock::time_point end_wall;
  std::vector<ComponentEnergy> components;
  double cpu_share = 0;           // Tree CPU time / machine busy CPU time, in [0, 1].
  Seconds tree_cpu_time{0};       // User + system time of the process tree.
  Seconds machine_busy_cpu_time{0};
  MachineInfo machine;
  CpuPowerModel cpu_model;        // Used only when the CPU component is estimated.
  std::vector<std::string> gpu_names;
  std::vector<std::string> notes; // Why a source was not used, lost samples, interval changes.
  int samples = 0;
};

// Owns the counters and the sampler thread. Start() and Stop() are called from one thread;
// Snapshot() and Track() may be called from any thread.
class Meter {
 public:
  static StatusOr<std::unique_ptr<Meter>> Create(const MeterOptions& options, const Clock& clock,
                                                 const HardwareCatalogue& catalogue);
  ~Meter();
  Meter(const Meter&) = delete;
  Meter& operator=(const Meter&) = delete;

  // Takes the baseline of every counter. With `background` the sampler thread then samples every
  // interval; without it the caller drives sampling with SampleNow() (tests).
  void Start(bool background = true);
  // Sets the root of the process tree whose share is attributed.
  void Track(pid_t root_pid);
  // Takes one sample now.
  void SampleNow();
  MeterSnapshot Snapshot() const;
  // Takes a last sample, stops the thread and returns the totals. `reaped_cpu_time` is the tree's
  // CPU time from wait4() (it includes children the tree reaped between two samples); the larger
  // of it and the sampled figure is used.
  MeterReading Stop(std::optional<Seconds> reaped_cpu_time);

  // Sampling period actually used.
  Seconds interval() const;

 private:
  struct State;
  explicit Meter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace sobre::footprint

#endif  // SOBRE_FOOTPRINT_METER_H_
