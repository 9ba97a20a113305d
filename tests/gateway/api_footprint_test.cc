// Request footprints: the backend share equals EcoLogits' estimate (or the metered energy), the
// gateway's share is its CPU time at 12 W, and reservations are upper bounds.
#include "gateway/request_footprint.h"

#include <gtest/gtest.h>

#include "footprint/estimate.h"

namespace sobre::gateway {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

SiteConfig Site(std::string zone, double pue = 1.0) {
  SiteConfig s;
  s.zone = std::move(zone);
  s.pue = pue;
  return s;
}

ModelSize Size(double params_b) {
  ModelConfig m;
  m.params_b = params_b;
  return ModelSizeOf(m);
}

TEST(RequestFootprintTest, RemoteBackendIsEcoLogitsAtTheSiteIntensity) {
  const FootprintModel model(Site("FR", 1.2));
  const auto fr = footprint::IntensityTable::Builtin().Lookup("FR");
  ASSERT_TRUE(fr.ok());
  EXPECT_EQ(model.intensity().zone, fr->zone);
  EXPECT_DOUBLE_EQ(model.intensity().g_per_kwh, fr->g_per_kwh);
  EXPECT_FALSE(model.intensity().is_world_fallback);

  const auto f = model.Backend(Size(8), 200, milliseconds(1500), std::nullopt);
  ASSERT_TRUE(f.ok()) << f.status().ToString();

  footprint::InferenceOptions o;
  o.total_params_b = 8;
  o.output_tokens = 200;
  o.latency_s = 1.5;
  o.pue = 1.2;
  o.intensity.zone = "FR";
  const auto e = footprint::EstimateInference(o);
  ASSERT_TRUE(e.ok());
  EXPECT_DOUBLE_EQ(f->energy_wh, e->energy.value());
  EXPECT_DOUBLE_EQ(f->co2e_g, e->usage_co2e.value());
  EXPECT_DOUBLE_EQ(f->embodied_co2e_g, e->embodied_co2e.value());
  EXPECT_DOUBLE_EQ(f->water_ml, e->water.value() * 1000.0);
  EXPECT_GT(f->energy_wh, 0);
  EXPECT_EQ(f->method(), "estimated");
}

TEST(RequestFootprintTest, MoreTokensAndBiggerModelsCostMore) {
  const FootprintModel model(Site("DE"));
  const auto small = model.Backend(Size(8), 100, seconds(10), std::nullopt);
  const auto more = model.Backend(Size(8), 1000, seconds(10), std::nullopt);
  const auto big = model.Backend(Size(70), 100, seconds(10), std::nullopt);
  ASSERT_TRUE(small.ok() && more.ok() && big.ok());
  EXPECT_GT(more->energy_wh, small->energy_wh);
  EXPECT_GT(big->energy_wh, small->energy_wh);
}

TEST(RequestFootprintTest, MeasuredEnergyIsUsedAsIsWithPue) {
  SiteConfig site;
  site.intensity_g_per_kwh = 100;
  site.pue = 1.5;
  site.wue_l_per_kwh = 2.0;
  const FootprintModel model(site);
  const auto f = model.Backend(Size(8), 1000, seconds(1), Joules(3600));  // 1 Wh of IT energy.
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->measured);
  EXPECT_EQ(f->method(), "measured");
  EXPECT_DOUBLE_EQ(f->energy_wh, 1.5);
  EXPECT_DOUBLE_EQ(f->co2e_g, 0.15);      // 1.5 Wh x 100 g/kWh.
  EXPECT_DOUBLE_EQ(f->water_ml, 2.0);     // 1 Wh IT x 2 L/kWh.
  EXPECT_EQ(model.intensity().zone, "custom");
}

TEST(RequestFootprintTest, GatewayOverheadIsCpuTimeAtTwelveWattsPerCore) {
  SiteConfig site;
  site.intensity_g_per_kwh = 500;
  const FootprintModel model(site);
  const RequestFootprint f = model.Overhead(seconds(3));
  EXPECT_DOUBLE_EQ(f.energy_wh, 0.01);  // 3 s x 12 W = 36 J = 0.01 Wh.
  EXPECT_DOUBLE_EQ(f.co2e_g, 0.005);
  EXPECT_FALSE(f.measured);
  EXPECT_EQ(model.Overhead(std::chrono::nanoseconds(-5)).energy_wh, 0);
}

TEST(RequestFootprintTest, UpperBoundCoversAnyLatencyAndTheOverhead) {
  const FootprintModel model(Site("US"));
  const auto bound = model.UpperBound(Size(70), 500);
  ASSERT_TRUE(bound.ok());
  for (auto latency : {milliseconds(1), milliseconds(500), milliseconds(60000),
                       milliseconds(3600000)}) {
    auto actual = model.Backend(Size(70), 500, latency, std::nullopt);
    ASSERT_TRUE(actual.ok());
    *actual += model.Overhead(milliseconds(10));
    EXPECT_LE(actual->energy_wh, bound->energy_wh);
    EXPECT_LE(actual->co2e_g, bound->co2e_g);
  }
}

TEST(RequestFootprintTest, MissingZoneFallsBackToTheWorldAverageAndSaysSo) {
  const FootprintModel none(SiteConfig{});
  EXPECT_TRUE(none.intensity().is_world_fallback);
  ASSERT_EQ(none.warnings().size(), 1u);
  EXPECT_EQ(none.intensity().g_per_kwh, footprint::IntensityTable::Builtin().World().g_per_kwh);

  const FootprintModel unknown(Site("Atlantis"));
  EXPECT_TRUE(unknown.intensity().is_world_fallback);
  ASSERT_EQ(unknown.warnings().size(), 1u);
  EXPECT_NE(unknown.warnings()[0].find("world average"), std::string::npos);
}

TEST(RequestFootprintTest, ModelSizeDefaultsAndMixtureOfExperts) {
  const ModelSize assumed = ModelSizeOf(ModelConfig{});
  EXPECT_TRUE(assumed.assumed);
  EXPECT_EQ(assumed.params_b, kDefaultParamsB);
  ModelConfig moe;
  moe.params_b = 47;
  moe.active_params_b = 13;
  const ModelSize s = ModelSizeOf(moe);
  EXPECT_FALSE(s.assumed);
  EXPECT_EQ(s.active_params_b, 13);
  moe.active_params_b = 100;  // More active than total: capped.
  EXPECT_EQ(ModelSizeOf(moe).active_params_b, 47);
}

}  // namespace
}  // namespace sobre::gateway
