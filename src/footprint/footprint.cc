#include "footprint/footprint.h"

#include <algorithm>

namespace sobre::footprint {

GramsCo2e AmortiseEmbodied(double kgco2e, Seconds duration, double lifetime_hours) {
  if (lifetime_hours <= 0 || kgco2e <= 0) return GramsCo2e(0);
  double fraction = std::min(1.0, duration.count() / 3600.0 / lifetime_hours);
  return GramsCo2e(kgco2e * 1000.0 * fraction);
}

Footprint ComputeFootprint(FootprintInputs inputs) {
  Footprint f;
  f.measured = !inputs.components.empty();
  for (const ComponentEnergy& c : inputs.components) {
    f.it_energy += c.attributed;
    f.machine_it_energy += c.machine;
    f.measured = f.measured && c.measured;
  }
  f.energy = f.it_energy * inputs.pue;
  f.co2e = CarbonOf(ToKilowattHours(f.energy), inputs.intensity.g_per_kwh);
  if (inputs.wue_l_per_kwh) {
    f.water = Litres(*inputs.wue_l_per_kwh * ToKilowattHours(f.it_energy).value());
  }
  for (const EmbodiedItem& item : inputs.embodied) {
    GramsCo2e g = AmortiseEmbodied(item.kgco2e, inputs.duration, item.lifetime_hours) * item.share;
    f.embodied_co2e += g;
    f.embodied.push_back({item, g});
  }
  f.inputs = std::move(inputs);
  return f;
}

}  // namespace sobre::footprint
