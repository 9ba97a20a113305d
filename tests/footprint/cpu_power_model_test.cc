#include "footprint/cpu_power_model.h"

#include <gtest/gtest.h>

namespace sobre::footprint {
namespace {

TEST(CpuPowerModelTest, TeadsCurvePassesThroughItsPoints) {
  EXPECT_DOUBLE_EQ(TeadsPowerRatio(0.0), 0.12);
  EXPECT_DOUBLE_EQ(TeadsPowerRatio(0.1), 0.32);
  EXPECT_DOUBLE_EQ(TeadsPowerRatio(0.5), 0.75);
  EXPECT_DOUBLE_EQ(TeadsPowerRatio(1.0), 1.02);
  EXPECT_NEAR(TeadsPowerRatio(0.3), (0.32 + 0.75) / 2, 1e-12);
  // Out-of-range utilisation is clamped, never extrapolated.
  EXPECT_DOUBLE_EQ(TeadsPowerRatio(-1), 0.12);
  EXPECT_DOUBLE_EQ(TeadsPowerRatio(3), 1.02);
}

TEST(CpuPowerModelTest, CodeCarbonLoadVector) {
  // Reference §3.9: TDP 100 W at 50% load in machine mode is 21.25 W.
  EXPECT_NEAR(100 * CodeCarbonPowerRatio(0.5), 21.25, 1e-9);
}

TEST(CpuPowerModelTest, CodeCarbonRamVectors) {
  // Reference §2.1 / §3.9: 8 GB -> 10 W, 128 GB -> 38 W, 32-64 GB -> 20 W, 2 TB -> 70 W, 4 TB -> 126 W.
  EXPECT_DOUBLE_EQ(CodeCarbonRamPower(8, false).value(), 10);
  EXPECT_DOUBLE_EQ(CodeCarbonRamPower(64, false).value(), 20);
  EXPECT_NEAR(CodeCarbonRamPower(128, false).value(), 38, 1e-9);
  EXPECT_NEAR(CodeCarbonRamPower(1024, false).value(), 38, 1e-9);
  EXPECT_NEAR(CodeCarbonRamPower(2048, false).value(), 70, 1e-9);
  EXPECT_NEAR(CodeCarbonRamPower(4096, false).value(), 126, 1e-9);
  EXPECT_DOUBLE_EQ(CodeCarbonRamPower(1, true).value(), 3);
}

TEST(CpuPowerModelTest, OverrideWins) {
  MachineInfo m;
  m.cpu_model = "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz";
  m.logical_cpus = 80;
  CpuPowerModel model = ResolveCpuPowerModel(m, HardwareCatalogue::Builtin(), 95.0);
  EXPECT_DOUBLE_EQ(model.tdp_w, 95.0);
  EXPECT_NE(model.source.find("--cpu-tdp-w"), std::string::npos);
  EXPECT_DOUBLE_EQ(model.PowerAt(0.5).value(), 95.0 * 0.75);
}

TEST(CpuPowerModelTest, CatalogueRowTimesSocketsScaledToVisibleThreads) {
  const CpuSpec* spec = HardwareCatalogue::Builtin().MatchCpuModelName("AMD EPYC 7763 64-Core Processor");
  ASSERT_NE(spec, nullptr);
  ASSERT_GT(spec->threads, 2);
  MachineInfo m;
  m.cpu_model = "AMD EPYC 7763 64-Core Processor";
  m.sockets = 1;
  m.logical_cpus = spec->threads;
  CpuPowerModel full = ResolveCpuPowerModel(m, HardwareCatalogue::Builtin(), std::nullopt);
  EXPECT_TRUE(full.from_catalogue);
  EXPECT_DOUBLE_EQ(full.tdp_w, spec->tdp_w);
  // A 2-vCPU VM on that CPU gets 2/threads of the package.
  m.logical_cpus = 2;
  CpuPowerModel vm = ResolveCpuPowerModel(m, HardwareCatalogue::Builtin(), std::nullopt);
  EXPECT_NEAR(vm.tdp_w, spec->tdp_w * 2 / spec->threads, 1e-9);
  EXPECT_NE(vm.source.find("scaled"), std::string::npos);
}

TEST(CpuPowerModelTest, UnknownModelFallsBackVisiblyToFourWattsPerThread) {
  MachineInfo m;
  m.cpu_model = "AMD EPYC";  // What some VMs report: no model number.
  m.logical_cpus = 2;
  CpuPowerModel model = ResolveCpuPowerModel(m, HardwareCatalogue::Builtin(), std::nullopt);
  EXPECT_FALSE(model.from_catalogue);
  EXPECT_DOUBLE_EQ(model.tdp_w, 8.0);
  EXPECT_NE(model.source.find("not in the catalogue"), std::string::npos);
  EXPECT_NE(model.source.find("--cpu-tdp-w"), std::string::npos);
}

}  // namespace
}  // namespace sobre::footprint
