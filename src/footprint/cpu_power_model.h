// The power model used when no energy counter can be read: CPU power from a TDP and a load curve,
// RAM power from its size. Every figure it gives is an estimate and says so.
#ifndef SOBRE_FOOTPRINT_CPU_POWER_MODEL_H_
#define SOBRE_FOOTPRINT_CPU_POWER_MODEL_H_

#include <optional>
#include <string>

#include "core/units.h"
#include "footprint/hardware_catalogue.h"
#include "footprint/proc_stats.h"

namespace sobre::footprint {

// Fraction of TDP drawn at CPU utilisation `u` in [0, 1], interpolated linearly between the TEADS
// measurements that Boavizta publishes (0.12 at idle, 0.32 at 10%, 0.75 at 50%, 1.02 at 100%).
// Chosen over CodeCarbon's 0.1 + 0.9·u³ because measured server curves are concave: the cubic
// gives 21% of TDP at half load where servers draw 60–75%, so it under-reports busy machines.
double TeadsPowerRatio(double u);

// CodeCarbon's machine-mode curve, 0.1 + 0.9·u³, kept for comparison and tests.
double CodeCarbonPowerRatio(double u);

// Green Algorithms' memory power: 0.3725 W per GB of memory available.
inline constexpr double kGreenAlgorithmsRamWattsPerGb = 0.3725;

// CodeCarbon v3's DIMM heuristic: DIMM count from total GB, 5 W per DIMM (1.5 W on ARM) with
// diminishing factors, at least 10 W (3 W on ARM).
Watts CodeCarbonRamPower(double total_gb, bool arm);

// Used when the CPU model is known to no catalogue row: CodeCarbon's 4 W per logical thread.
inline constexpr double kFallbackWattsPerThread = 4.0;

// A resolved CPU power model: TDP and where it came from.
struct CpuPowerModel {
  double tdp_w = 0;       // Thermal design power of the CPUs this machine can use, watts.
  std::string source;     // How tdp_w was obtained, printed next to every CPU figure.
  bool from_catalogue = false;

  // Power at utilisation u in [0, 1] along the TEADS curve.
  Watts PowerAt(double u) const { return Watts(tdp_w * TeadsPowerRatio(u)); }
};

// Resolves the CPU's TDP, best source first: `override_tdp_w` (--cpu-tdp-w); the catalogue row
// matching the model name, times sockets and scaled to the logical CPUs visible (a 2-vCPU VM on a
// 128-thread EPYC gets 2/128 of the package); else 4 W per logical CPU.
CpuPowerModel ResolveCpuPowerModel(const MachineInfo& machine, const HardwareCatalogue& catalogue,
                                   std::optional<double> override_tdp_w);

}  // namespace sobre::footprint

#endif  // SOBRE_FOOTPRINT_CPU_POWER_MODEL_H_
