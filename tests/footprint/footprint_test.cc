#include "footprint/footprint.h"

#include <gtest/gtest.h>

namespace sobre::footprint {
namespace {

ComponentEnergy Component_(Component c, double machine_wh, double attributed_wh, bool measured) {
  ComponentEnergy e;
  e.component = c;
  e.label = ComponentName(c);
  e.measured = measured;
  e.machine = ToJoules(WattHours(machine_wh));
  e.attributed = ToJoules(WattHours(attributed_wh));
  return e;
}

TEST(FootprintTest, BoaviztaAllocationVector) {
  // Reference §3.9: a 5,700 kg server over 1 h of a 35,040 h life is 0.1627 kg.
  GramsCo2e g = AmortiseEmbodied(5700, Seconds(3600), 35040);
  EXPECT_NEAR(g.value(), 162.67, 0.01);
  // Capped at the whole footprint when the work outlives the hardware.
  EXPECT_DOUBLE_EQ(AmortiseEmbodied(10, Seconds(3600.0 * 100), 50).value(), 10000.0);
  EXPECT_DOUBLE_EQ(AmortiseEmbodied(10, Seconds(60), 0).value(), 0.0);
}

TEST(FootprintTest, CodeCarbonCountryVector) {
  // Reference §3.9: 1 kWh in France at 56.04 g/kWh is 0.05604 kg.
  FootprintInputs in;
  in.components.push_back(Component_(Component::kCpu, 1000, 1000, true));
  in.intensity.g_per_kwh = 56.04;
  Footprint f = ComputeFootprint(in);
  EXPECT_NEAR(f.co2e.value(), 56.04, 1e-9);
  EXPECT_TRUE(f.measured);
}

TEST(FootprintTest, PueScalesEnergyAndCarbonButWaterUsesItEnergy) {
  FootprintInputs in;
  in.components.push_back(Component_(Component::kCpu, 200, 100, true));
  in.components.push_back(Component_(Component::kRam, 20, 10, false));
  in.pue = 1.5;
  in.wue_l_per_kwh = 2.0;
  in.intensity.g_per_kwh = 400;
  Footprint f = ComputeFootprint(in);
  EXPECT_NEAR(ToWattHours(f.it_energy).value(), 110, 1e-9);
  EXPECT_NEAR(ToWattHours(f.machine_it_energy).value(), 220, 1e-9);
  EXPECT_NEAR(ToWattHours(f.energy).value(), 165, 1e-9);
  EXPECT_NEAR(f.co2e.value(), 0.165 * 400, 1e-9);
  ASSERT_TRUE(f.water.has_value());
  EXPECT_NEAR(f.water->value(), 0.110 * 2.0, 1e-12);
  EXPECT_FALSE(f.measured);  // One component is a model.
}

TEST(FootprintTest, NoWueMeansNoWaterFigure) {
  FootprintInputs in;
  in.components.push_back(Component_(Component::kCpu, 1, 1, true));
  EXPECT_FALSE(ComputeFootprint(in).water.has_value());
}

TEST(FootprintTest, EmbodiedSharesAddUp) {
  FootprintInputs in;
  in.duration = Seconds(3600);
  in.embodied.push_back({"server", 2500, 52560, 0.5, "test"});
  in.embodied.push_back({"gpu", 150, 52560, 1.0, "test"});
  Footprint f = ComputeFootprint(in);
  ASSERT_EQ(f.embodied.size(), 2u);
  EXPECT_NEAR(f.embodied[0].amortised.value(), 2500e3 / 52560 * 0.5, 1e-9);
  EXPECT_NEAR(f.embodied_co2e.value(), 2500e3 / 52560 * 0.5 + 150e3 / 52560, 1e-9);
}

}  // namespace
}  // namespace sobre::footprint
