#include "footprint/cpu_power_model.h"

#include <algorithm>
#include <cmath>

#include <fmt/core.h>

namespace sobre::footprint {

double TeadsPowerRatio(double u) {
  static constexpr double kLoad[] = {0.0, 0.10, 0.50, 1.00};
  static constexpr double kRatio[] = {0.12, 0.32, 0.75, 1.02};
  u = std::clamp(u, 0.0, 1.0);
  for (int i = 1; i < 4; ++i) {
    if (u <= kLoad[i]) {
      double t = (u - kLoad[i - 1]) / (kLoad[i] - kLoad[i - 1]);
      return kRatio[i - 1] + t * (kRatio[i] - kRatio[i - 1]);
    }
  }
  return kRatio[3];
}

double CodeCarbonPowerRatio(double u) {
  u = std::clamp(u, 0.0, 1.0);
  return 0.1 + 0.9 * u * u * u;
}

Watts CodeCarbonRamPower(double total_gb, bool arm) {
  int dimms;
  if (total_gb <= 2) {
    dimms = 1;
  } else if (total_gb <= 16) {
    dimms = 2;
  } else if (total_gb <= 64) {
    dimms = 4;
  } else if (total_gb <= 128) {
    dimms = 8;
  } else {
    double size = 4;
    for (double s : {128.0, 64.0, 32.0, 16.0, 8.0, 4.0}) {
      if (s <= total_gb / 8) {
        size = s;
        break;
      }
    }
    dimms = std::min(32, static_cast<int>(std::ceil(total_gb / size)));
  }
  double b = arm ? 1.5 : 5.0;
  double n = dimms;
  double w;
  if (dimms <= 4) {
    w = n * b;
  } else if (dimms <= 8) {
    w = 4 * b + 0.9 * b * (n - 4);
  } else if (dimms <= 16) {
    w = 4 * b + 3.6 * b + 0.8 * b * (n - 8);
  } else {
    w = 4 * b + 3.6 * b + 6.4 * b + 0.7 * b * (n - 16);
  }
  return Watts(std::max(w, arm ? 3.0 : 10.0));
}

CpuPowerModel ResolveCpuPowerModel(const MachineInfo& machine, const HardwareCatalogue& catalogue,
                                   std::optional<double> override_tdp_w) {
  CpuPowerModel model;
  int cpus = std::max(1, machine.logical_cpus);
  if (override_tdp_w) {
    model.tdp_w = *override_tdp_w;
    model.source = fmt::format("TDP {:g} W from --cpu-tdp-w", *override_tdp_w);
    return model;
  }
  if (const CpuSpec* spec = catalogue.MatchCpuModelName(machine.cpu_model)) {
    int sockets = std::max(1, machine.sockets);
    double tdp = spec->tdp_w * sockets;
    std::string scaled;
    int package_threads = spec->threads * sockets;
    if (package_threads > 0 && cpus < package_threads) {
      tdp = tdp * cpus / package_threads;
      scaled = fmt::format(", scaled to the {} of {} hardware threads visible", cpus, package_threads);
    }
    model.tdp_w = tdp;
    model.from_catalogue = true;
    model.source = fmt::format("TDP of '{}' {:g} W x {} socket(s){} = {:.1f} W ({})", spec->name,
                               spec->tdp_w, sockets, scaled, tdp, spec->source);
    return model;
  }
  model.tdp_w = kFallbackWattsPerThread * cpus;
  std::string who = machine.cpu_model.empty() ? std::string("CPU model unknown")
                                              : "'" + machine.cpu_model + "' is not in the catalogue";
  model.source = fmt::format(
      "{}: {:g} W per logical CPU x {} = {:g} W (CodeCarbon's fallback; set --cpu-tdp-w for a "
      "better figure)",
      who, kFallbackWattsPerThread, cpus, model.tdp_w);
  return model;
}

}  // namespace sobre::footprint
