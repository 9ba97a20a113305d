// Helpers shared by the estimator tests: Meta's training recipe, and lookups in the assumption
// and warning lists an estimate returns.
#ifndef SOBRE_TESTS_FOOTPRINT_ESTIMATE_TEST_UTIL_H_
#define SOBRE_TESTS_FOOTPRINT_ESTIMATE_TEST_UTIL_H_

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "footprint/estimate.h"

namespace sobre::footprint::estimate_testing {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Meta's recipe for LLaMA 1 and Llama 2: GPU-hours × power × PUE 1.1 × 385 g/kWh.
inline TrainingOptions MetaRecipe(double gpu_hours, double power_w) {
  TrainingOptions o;
  o.gpu_power_w = power_w;
  o.gpu_hours = gpu_hours;
  o.pue = 1.1;
  o.intensity.g_per_kwh = 385;
  return o;
}

inline double Tonnes(const TrainingEstimate& e) { return e.co2e.value() / 1e6; }

inline bool HasAssumption(const std::vector<Assumption>& list, const std::string& name, double value,
                   const std::string& source_part) {
  for (const Assumption& a : list) {
    if (a.name == name && std::fabs(a.value - value) <= 1e-9 * std::fabs(value) &&
        a.source.find(source_part) != std::string::npos) {
      return true;
    }
  }
  return false;
}

inline bool HasWarning(const std::vector<std::string>& warnings, const std::string& part) {
  for (const std::string& w : warnings) {
    if (w.find(part) != std::string::npos) return true;
  }
  return false;
}


}  // namespace sobre::footprint::estimate_testing

#endif  // SOBRE_TESTS_FOOTPRINT_ESTIMATE_TEST_UTIL_H_
