#include "footprint/meter.h"

#include <cstdlib>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "tests/footprint/fake_powercap.h"
#include "tests/footprint/fake_proc.h"

namespace sobre::footprint {
namespace {

using std::chrono::seconds;

const ComponentEnergy* Find(const MeterReading& r, Component c) {
  for (const ComponentEnergy& e : r.components) {
    if (e.component == c) return &e;
  }
  return nullptr;
}

class MeterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    proc_.Machine(2, "Test CPU 3000", 16'000'000);
    proc_.SystemCpu(/*busy=*/1000, /*idle=*/1000);
    proc_.Process(4242, 1, 0, 0);
    options_.powercap_root = powercap_.root();
    options_.proc_root = proc_.root();
    options_.use_nvml = false;
  }

  std::unique_ptr<Meter> Make() {
    auto m = Meter::Create(options_, clock_, HardwareCatalogue::Builtin());
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(*m) : nullptr;
  }

  FakePowercapTree powercap_;
  FakeProc proc_;
  FakeClock clock_;
  MeterOptions options_;
};

TEST_F(MeterTest, RaplPackageAndDramAreMeasuredAndSharedByCpuTime) {
  powercap_.AddZone("intel-rapl:0", "package-0", 1'000'000);
  powercap_.AddZone("intel-rapl:0:2", "dram", 500'000, FakePowercapTree::kTypicalMaxRangeUj,
                    "intel-rapl:0");
  auto meter = Make();
  ASSERT_NE(meter, nullptr);
  meter->Start(/*background=*/false);
  meter->Track(4242);

  // 10 s: the package uses 300 J, dram 20 J; the machine is busy 400 ticks, the tree 100 of them.
  clock_.Advance(seconds(10));
  powercap_.SetEnergy("intel-rapl:0", 301'000'000);
  powercap_.SetEnergy("intel-rapl:0:2", 20'500'000);
  proc_.SystemCpu(1400, 1600);
  proc_.Process(4242, 1, 80, 20);
  MeterReading r = meter->Stop(std::nullopt);

  EXPECT_NEAR(r.duration.count(), 10.0, 1e-9);
  EXPECT_NEAR(r.cpu_share, 0.25, 1e-9);
  const ComponentEnergy* cpu = Find(r, Component::kCpu);
  const ComponentEnergy* dram = Find(r, Component::kDram);
  ASSERT_NE(cpu, nullptr);
  ASSERT_NE(dram, nullptr);
  EXPECT_TRUE(cpu->measured);
  EXPECT_NEAR(cpu->machine.value(), 300.0, 1e-6);
  EXPECT_NEAR(cpu->attributed.value(), 75.0, 1e-6);
  EXPECT_NEAR(dram->machine.value(), 20.0, 1e-6);
  // Counters cover CPU and memory: no model is added on top.
  EXPECT_EQ(Find(r, Component::kRam), nullptr);
  EXPECT_EQ(r.components.size(), 2u);
}

TEST_F(MeterTest, WrapAroundDuringTheRunIsCounted) {
  const uint64_t max = 1'000'000'000;  // 1 kJ range, to wrap quickly.
  powercap_.AddZone("intel-rapl:0", "package-0", max - 50'000'000, max);
  options_.interval = Seconds(0.001);
  auto meter = Make();
  ASSERT_NE(meter, nullptr);
  meter->Start(false);
  clock_.Advance(seconds(1));
  powercap_.SetEnergy("intel-rapl:0", 30'000'000);  // Wrapped: 50 J + 30 J.
  meter->SampleNow();
  clock_.Advance(seconds(1));
  powercap_.SetEnergy("intel-rapl:0", 130'000'000);  // +100 J.
  MeterReading r = meter->Stop(std::nullopt);
  ASSERT_NE(Find(r, Component::kCpu), nullptr);
  EXPECT_NEAR(Find(r, Component::kCpu)->machine.value(), 180.0, 1e-6);
}

TEST_F(MeterTest, NoCounterFallsBackToTheModelAndSaysWhy) {
  options_.cpu_tdp_w = 100.0;
  auto meter = Make();
  ASSERT_NE(meter, nullptr);
  meter->Start(false);
  meter->Track(4242);
  // 4 s at 50% utilisation: 100 W x 0.75 (TEADS) x 4 s = 300 J. RAM: 16.384 GB x 0.3725 W/GB x 4 s.
  clock_.Advance(seconds(4));
  proc_.SystemCpu(1500, 1500);
  proc_.Process(4242, 1, 500, 0);  // The tree did all of the machine's work.
  MeterReading r = meter->Stop(std::nullopt);

  const ComponentEnergy* cpu = Find(r, Component::kCpu);
  const ComponentEnergy* ram = Find(r, Component::kRam);
  ASSERT_NE(cpu, nullptr);
  ASSERT_NE(ram, nullptr);
  EXPECT_FALSE(cpu->measured);
  EXPECT_FALSE(ram->measured);
  EXPECT_NEAR(cpu->machine.value(), 300.0, 1e-6);
  EXPECT_NEAR(ram->machine.value(), 16.384 * 0.3725 * 4, 1e-6);
  EXPECT_NEAR(r.cpu_share, 1.0, 1e-9);
  EXPECT_NE(cpu->method.find("--cpu-tdp-w"), std::string::npos);
  EXPECT_NE(cpu->method.find("TEADS"), std::string::npos);
  bool noted = false;
  for (const std::string& n : r.notes) noted = noted || n.find("RAPL not used") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST_F(MeterTest, PsysAloneCoversTheMachineWithoutModels) {
  powercap_.AddZone("intel-rapl:1", "psys", 0);
  auto meter = Make();
  ASSERT_NE(meter, nullptr);
  meter->Start(false);
  clock_.Advance(seconds(2));
  powercap_.SetEnergy("intel-rapl:1", 40'000'000);
  MeterReading r = meter->Stop(std::nullopt);
  ASSERT_EQ(r.components.size(), 1u);
  EXPECT_EQ(r.components[0].component, Component::kPlatform);
  EXPECT_NEAR(r.components[0].machine.value(), 40.0, 1e-6);
}

TEST_F(MeterTest, ReapedCpuTimeRaisesTheShareWhenChildrenExitedBetweenSamples) {
  options_.cpu_tdp_w = 10.0;
  auto meter = Make();
  ASSERT_NE(meter, nullptr);
  meter->Start(false);
  meter->Track(4242);
  clock_.Advance(seconds(1));
  proc_.SystemCpu(1000 + 200, 1000);  // 2 s of busy CPU at 100 ticks/s.
  double tick = 1.0 / ProcReader::TicksPerSecond();
  MeterReading r = meter->Stop(Seconds(100 * tick));  // wait4 says the tree used 100 ticks.
  EXPECT_NEAR(r.cpu_share, 0.5, 1e-9);
}

TEST_F(MeterTest, UnreadableProcIsAnErrorAtCreation) {
  options_.proc_root = "/nonexistent/proc";
  auto m = Meter::Create(options_, clock_, HardwareCatalogue::Builtin());
  EXPECT_FALSE(m.ok());
}

TEST_F(MeterTest, BackgroundSamplerTakesSamplesOnItsOwn) {
  options_.cpu_tdp_w = 10.0;
  options_.interval = Seconds(0.01);
  auto m = Meter::Create(options_, SystemClock(), HardwareCatalogue::Builtin());
  ASSERT_TRUE(m.ok());
  (*m)->Start(true);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  MeterReading r = (*m)->Stop(std::nullopt);
  EXPECT_GE(r.samples, 5);
  EXPECT_GT(r.duration.count(), 0.15);
}

}  // namespace
}  // namespace sobre::footprint
