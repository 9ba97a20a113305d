// Tests for DiscoverNvml and the NVML counters, against the fake libnvidia-ml built from
// tests/footprint/fake_nvml.c (path in FAKE_NVML_LIBRARY, behaviour from a config file).
#include "footprint/nvml.h"

#include <dlfcn.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sobre::footprint {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A second reference to the fake while DiscoverNvml's counters hold it loaded, for the fake's
// test-only controls. RTLD_NOLOAD: never loads it, so loaded() tells whether sobre still has it.
class FakeControls {
 public:
  FakeControls() : handle_(dlopen(FAKE_NVML_LIBRARY, RTLD_NOW | RTLD_NOLOAD)) {}
  ~FakeControls() {
    if (handle_ != nullptr) dlclose(handle_);
  }
  FakeControls(const FakeControls&) = delete;
  FakeControls& operator=(const FakeControls&) = delete;

  bool loaded() const { return handle_ != nullptr; }
  void SetPowerMw(unsigned index, unsigned milliwatts) {
    ASSERT_EQ(Call<int (*)(unsigned, unsigned)>("fake_nvml_set_power_mw")(index, milliwatts), 0);
  }
  void SetEnergyMj(unsigned index, unsigned long long millijoules) {
    ASSERT_EQ(Call<int (*)(unsigned, unsigned long long)>("fake_nvml_set_energy_mj")(
                  index, millijoules),
              0);
  }
  void FailNextRead(unsigned index, int nvml_return) {
    ASSERT_EQ(Call<int (*)(unsigned, int)>("fake_nvml_fail_next_read")(index, nvml_return), 0);
  }

 private:
  template <typename Fn>
  Fn Call(const char* name) {
    void* symbol = handle_ != nullptr ? dlsym(handle_, name) : nullptr;
    if (symbol == nullptr) {
      ADD_FAILURE() << "fake control " << name << " unavailable";
      return [](auto...) { return -1; };
    }
    return reinterpret_cast<Fn>(symbol);
  }

  void* handle_;
};

bool FakeLoaded() { return FakeControls().loaded(); }

class NvmlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::path(::testing::TempDir()) / "sobre_nvml_XXXXXX");
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    config_path_ = dir_ / "fake_nvml.conf";
    log_path_ = dir_ / "fake_nvml.log";
    setenv("SOBRE_FAKE_NVML_CONFIG", config_path_.c_str(), 1);
    setenv("SOBRE_FAKE_NVML_LOG", log_path_.c_str(), 1);
  }

  void TearDown() override {
    unsetenv("SOBRE_FAKE_NVML_CONFIG");
    unsetenv("SOBRE_FAKE_NVML_LOG");
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void WriteConfig(std::string_view text) {
    std::ofstream out(config_path_);
    out << text;
    ASSERT_TRUE(out.good());
  }

  // How many times the fake logged `event` ("init" or "shutdown").
  int LogCount(std::string_view event) {
    std::ifstream in(log_path_);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) n += line == event ? 1 : 0;
    return n;
  }

  std::filesystem::path dir_;
  std::filesystem::path config_path_;
  std::filesystem::path log_path_;
  const Clock::time_point t0_ = Clock::time_point() + std::chrono::hours(1);
};

TEST_F(NvmlTest, TwoGpusWithEnergyCountersGiveExactDeltas) {
  WriteConfig(
      "# two Volta-or-later GPUs\n"
      "gpu \"NVIDIA A100-SXM4-80GB\" energy 1000000 1500\n"
      "gpu \"NVIDIA H100 80GB HBM3\" energy 5000 250000\n");
  NvmlSetup setup = DiscoverNvml(FAKE_NVML_LIBRARY);
  ASSERT_EQ(setup.unavailable_reason, "");
  EXPECT_TRUE(setup.warnings.empty());
  ASSERT_EQ(setup.counters.size(), 2u);
  ASSERT_EQ(setup.gpus.size(), 2u);
  EXPECT_EQ(std::filesystem::canonical(setup.library),
            std::filesystem::canonical(FAKE_NVML_LIBRARY));

  EXPECT_EQ(setup.gpus[0].index, 0);
  EXPECT_EQ(setup.gpus[0].name, "NVIDIA A100-SXM4-80GB");
  EXPECT_TRUE(setup.gpus[0].energy_counter);
  EXPECT_EQ(setup.gpus[1].index, 1);
  EXPECT_EQ(setup.gpus[1].name, "NVIDIA H100 80GB HBM3");
  EXPECT_TRUE(setup.gpus[1].energy_counter);

  EnergyCounter& a100 = *setup.counters[0];
  EnergyCounter& h100 = *setup.counters[1];
  EXPECT_EQ(a100.label(), "NVML gpu0 NVIDIA A100-SXM4-80GB");
  EXPECT_EQ(h100.label(), "NVML gpu1 NVIDIA H100 80GB HBM3");
  EXPECT_EQ(a100.method(), "NVML total-energy counter");
  EXPECT_EQ(a100.component(), Component::kGpu);
  EXPECT_EQ(h100.component(), Component::kGpu);
  EXPECT_EQ(a100.device_index(), 0);
  EXPECT_EQ(h100.device_index(), 1);

  // First sample is the baseline; then one step of the fake per read.
  for (EnergyCounter* counter : {&a100, &h100}) {
    StatusOr<Joules> baseline = counter->Sample(t0_);
    ASSERT_TRUE(baseline.ok()) << baseline.status().ToString();
    EXPECT_EQ(baseline->value(), 0.0);
  }
  for (int i = 1; i <= 3; ++i) {
    StatusOr<Joules> a = a100.Sample(t0_ + std::chrono::seconds(i));
    StatusOr<Joules> h = h100.Sample(t0_ + std::chrono::seconds(i));
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    EXPECT_DOUBLE_EQ(a->value(), 1.5);
    EXPECT_DOUBLE_EQ(h->value(), 250.0);
  }
}

TEST_F(NvmlTest, PowerOnlyGpuIntegratesOverTheSampleTimes) {
  WriteConfig("gpu \"Tesla P100-PCIE-16GB\" power 250000\n");
  NvmlSetup setup = DiscoverNvml(FAKE_NVML_LIBRARY);
  ASSERT_EQ(setup.unavailable_reason, "");
  ASSERT_EQ(setup.counters.size(), 1u);
  EXPECT_FALSE(setup.gpus[0].energy_counter);
  EnergyCounter& p100 = *setup.counters[0];
  EXPECT_EQ(p100.label(), "NVML gpu0 Tesla P100-PCIE-16GB");
  EXPECT_EQ(p100.method(), "NVML power samples (mW), trapezoid-integrated");
  EXPECT_EQ(p100.component(), Component::kGpu);

  // 250 W over 2 s of fake timestamps, in uneven steps: 500 J.
  StatusOr<Joules> e0 = p100.Sample(t0_);
  StatusOr<Joules> e1 = p100.Sample(t0_ + milliseconds(500));
  StatusOr<Joules> e2 = p100.Sample(t0_ + milliseconds(2000));
  ASSERT_TRUE(e0.ok() && e1.ok() && e2.ok());
  EXPECT_EQ(e0->value(), 0.0);
  EXPECT_DOUBLE_EQ(e1->value(), 125.0);
  EXPECT_DOUBLE_EQ(e2->value(), 375.0);
  EXPECT_DOUBLE_EQ(e1->value() + e2->value(), 500.0);
}

TEST_F(NvmlTest, PowerIntegrationAveragesBothEndsOfTheInterval) {
  WriteConfig("gpu \"Tesla V100\" power 100000\n");
  NvmlSetup setup = DiscoverNvml(FAKE_NVML_LIBRARY);
  ASSERT_EQ(setup.counters.size(), 1u) << setup.unavailable_reason;
  FakeControls fake;
  ASSERT_TRUE(fake.loaded());

  ASSERT_TRUE(setup.counters[0]->Sample(t0_).ok());
  fake.SetPowerMw(0, 300000);
  // 100 W then 300 W, 2 s apart: trapezoid 400 J (left rectangle 200 J, right 600 J).
  StatusOr<Joules> energy = setup.counters[0]->Sample(t0_ + std::chrono::seconds(2));
  ASSERT_TRUE(energy.ok()) << energy.status().ToString();
  EXPECT_DOUBLE_EQ(energy->value(), 400.0);
}

TEST_F(NvmlTest, MixedMachineMetersWhatItCanAndWarnsAboutTheRest) {
  WriteConfig(
      "gpu \"NVIDIA A100-SXM4-80GB\" energy 0 1000\n"
      "gpu \"Tesla P100-PCIE-16GB\" power 250000\n"
      "gpu \"Tesla K80\" none\n");
  NvmlSetup setup = DiscoverNvml(FAKE_NVML_LIBRARY);
  EXPECT_EQ(setup.unavailable_reason, "");
  ASSERT_EQ(setup.counters.size(), 2u);
  ASSERT_EQ(setup.gpus.size(), 2u);
  EXPECT_TRUE(setup.gpus[0].energy_counter);
  EXPECT_FALSE(setup.gpus[1].energy_counter);
  EXPECT_EQ(setup.counters[1]->device_index(), 1);
  EXPECT_EQ(setup.counters[1]->method(), "NVML power samples (mW), trapezoid-integrated");
  ASSERT_EQ(setup.warnings.size(), 1u);
  EXPECT_THAT(setup.warnings[0], StartsWith("NVML gpu2 Tesla K80: "));
  EXPECT_THAT(setup.warnings[0], HasSubstr("Not Supported"));
  EXPECT_THAT(setup.warnings[0], HasSubstr("not metered"));
}

TEST_F(NvmlTest, NoReadableGpuIsUnavailableAndShutsDown) {
  WriteConfig("gpu \"Tesla K80\" none\n");
  NvmlSetup setup = DiscoverNvml(FAKE_NVML_LIBRARY);
  EXPECT_TRUE(setup.counters.empty());
  EXPECT_THAT(setup.unavailable_reason, StartsWith("no usable GPU: NVML gpu0 Tesla K80: "));
  EXPECT_EQ(LogCount("shutdown"), 1);
}

TEST_F(NvmlTest, NoGpuIsUnavailableAndShutsDownBeforeReturning) {
  WriteConfig("# a driver but no GPU\n");
  NvmlSetup setup = DiscoverNvml(FAKE_NVML_LIBRARY);
  EXPECT_TRUE(setup.counters.empty());
  EXPECT_TRUE(setup.gpus.empty());
  EXPECT_EQ(setup.unavailable_reason, "no GPU");
  EXPECT_EQ(LogCount("init"), 1);
  EXPECT_EQ(LogCount("shutdown"), 1);
  EXPECT_FALSE(FakeLoaded());
}

TEST_F(NvmlTest, MissingLibraryFileGivesReasonWithoutCrashing) {
  const std::string path = (dir_ / "no-such-dir" / "libnvidia-ml.so.1").string();
  NvmlSetup setup = DiscoverNvml(path);
  EXPECT_TRUE(setup.counters.empty());
  EXPECT_TRUE(setup.gpus.empty());
  EXPECT_EQ(setup.library, path);
  EXPECT_THAT(setup.unavailable_reason, StartsWith("cannot load NVML library: "));
  EXPECT_THAT(setup.unavailable_reason, HasSubstr(path));
}

TEST_F(NvmlTest, DefaultLibraryIsFoundThroughTheLoaderOrReportedMissing) {
  NvmlSetup setup = DiscoverNvml("");
  if (!setup.counters.empty()) {
    // A machine with the NVIDIA driver: the real library must give sane counters.
    EXPECT_EQ(setup.unavailable_reason, "");
    EXPECT_NE(setup.library, "");
    for (auto& counter : setup.counters) {
      EXPECT_THAT(counter->label(), StartsWith("NVML gpu"));
      StatusOr<Joules> baseline = counter->Sample(Clock::now());
      ASSERT_TRUE(baseline.ok()) << baseline.status().ToString();
      StatusOr<Joules> energy = counter->Sample(Clock::now() + milliseconds(200));
      ASSERT_TRUE(energy.ok()) << energy.status().ToString();
      EXPECT_GE(energy->value(), 0.0);
    }
    return;
  }
  if (setup.unavailable_reason == "libnvidia-ml.so.1 not found (no NVIDIA driver)") {
    EXPECT_EQ(setup.library, "libnvidia-ml.so.1");
    return;
  }
  // A driver without GPUs (or a broken one) must still say why.
  EXPECT_NE(setup.unavailable_reason, "");
}

TEST_F(NvmlTest, InitFailureReportsNvmlErrorString) {
  WriteConfig("init_error 9\ngpu \"NVIDIA A100-SXM4-80GB\" energy 0 1000\n");
  NvmlSetup setup = DiscoverNvml(FAKE_NVML_LIBRARY);
  EXPECT_TRUE(setup.counters.empty());
  EXPECT_EQ(setup.unavailable_reason, "nvmlInit failed: Driver Not Loaded");
  // What never initialised is not shut down, but the library is unloaded.
  EXPECT_EQ(LogCount("shutdown"), 0);
  EXPECT_FALSE(FakeLoaded());
}

TEST_F(NvmlTest, ShutdownHappensWhenTheLastCounterIsDestroyed) {
  WriteConfig(
      "gpu \"NVIDIA A100-SXM4-80GB\" energy 0 1000\n"
      "gpu \"NVIDIA A100-SXM4-80GB\" energy 0 2000\n");
  std::unique_ptr<EnergyCounter> first;
  std::unique_ptr<EnergyCounter> second;
  {
    NvmlSetup setup = DiscoverNvml(FAKE_NVML_LIBRARY);
    ASSERT_EQ(setup.counters.size(), 2u) << setup.unavailable_reason;
    first = std::move(setup.counters[0]);
    second = std::move(setup.counters[1]);
  }
  // The counters outlive the setup and still read.
  EXPECT_EQ(LogCount("init"), 1);
  EXPECT_EQ(LogCount("shutdown"), 0);
  ASSERT_TRUE(second->Sample(t0_).ok());
  StatusOr<Joules> energy = second->Sample(t0_ + std::chrono::seconds(1));
  ASSERT_TRUE(energy.ok()) << energy.status().ToString();
  EXPECT_DOUBLE_EQ(energy->value(), 2.0);

  first.reset();
  EXPECT_EQ(LogCount("shutdown"), 0);
  EXPECT_TRUE(FakeLoaded());
  second.reset();
  EXPECT_EQ(LogCount("shutdown"), 1);
  EXPECT_FALSE(FakeLoaded());
}

TEST_F(NvmlTest, LibraryWithoutNvmlSymbolsNamesTheMissingSymbol) {
  NvmlSetup setup = DiscoverNvml("libm.so.6");
  EXPECT_TRUE(setup.counters.empty());
  EXPECT_EQ(setup.unavailable_reason,
            "libm.so.6 lacks NVML symbol nvmlInit_v2 (not an NVML library, or a driver too old)");
}

TEST_F(NvmlTest, CounterReadingBackwardsIsAnErrorNeverNegativeEnergy) {
  WriteConfig("gpu \"NVIDIA A100-SXM4-80GB\" energy 20000 0\n");
  NvmlSetup setup = DiscoverNvml(FAKE_NVML_LIBRARY);
  ASSERT_EQ(setup.counters.size(), 1u) << setup.unavailable_reason;
  EnergyCounter& gpu = *setup.counters[0];
  FakeControls fake;

  ASSERT_TRUE(gpu.Sample(t0_).ok());
  fake.SetEnergyMj(0, 15000);  // The counter restarted (driver reload, GPU reset).
  StatusOr<Joules> backwards = gpu.Sample(t0_ + std::chrono::seconds(1));
  ASSERT_FALSE(backwards.ok());
  EXPECT_EQ(backwards.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(backwards.status().message(), HasSubstr("went backwards"));
  // The restarted counter is the new baseline: later samples measure from it.
  fake.SetEnergyMj(0, 18000);
  StatusOr<Joules> after = gpu.Sample(t0_ + std::chrono::seconds(2));
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_DOUBLE_EQ(after->value(), 3.0);
}

TEST_F(NvmlTest, FailedEnergyReadLosesTheSampleNotTheEnergy) {
  WriteConfig("gpu \"NVIDIA A100-SXM4-80GB\" energy 0 1000\n");
  NvmlSetup setup = DiscoverNvml(FAKE_NVML_LIBRARY);
  ASSERT_EQ(setup.counters.size(), 1u) << setup.unavailable_reason;
  EnergyCounter& gpu = *setup.counters[0];
  FakeControls fake;

  ASSERT_TRUE(gpu.Sample(t0_).ok());
  fake.FailNextRead(0, 15);
  StatusOr<Joules> lost = gpu.Sample(t0_ + std::chrono::seconds(1));
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(lost.status().message(), HasSubstr("GPU is lost"));
  // The next good read measures from the last good one: both steps are counted.
  StatusOr<Joules> next = gpu.Sample(t0_ + std::chrono::seconds(2));
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_DOUBLE_EQ(next->value(), 2.0);
}

TEST_F(NvmlTest, FailedPowerReadIntegratesAcrossTheGap) {
  WriteConfig("gpu \"Tesla P100-PCIE-16GB\" power 200000\n");
  NvmlSetup setup = DiscoverNvml(FAKE_NVML_LIBRARY);
  ASSERT_EQ(setup.counters.size(), 1u) << setup.unavailable_reason;
  EnergyCounter& gpu = *setup.counters[0];
  FakeControls fake;

  ASSERT_TRUE(gpu.Sample(t0_).ok());
  fake.FailNextRead(0, 15);
  EXPECT_FALSE(gpu.Sample(t0_ + std::chrono::seconds(1)).ok());
  StatusOr<Joules> next = gpu.Sample(t0_ + std::chrono::seconds(3));
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_DOUBLE_EQ(next->value(), 600.0);  // 200 W over the 3 s since the last good reading.
}

TEST_F(NvmlTest, TwoSetupsShareNvmlAndEachShutsDownOnce) {
  WriteConfig("gpu \"NVIDIA A100-SXM4-80GB\" energy 0 1000\n");
  auto first = std::make_unique<NvmlSetup>(DiscoverNvml(FAKE_NVML_LIBRARY));
  auto second = std::make_unique<NvmlSetup>(DiscoverNvml(FAKE_NVML_LIBRARY));
  ASSERT_EQ(first->counters.size(), 1u) << first->unavailable_reason;
  ASSERT_EQ(second->counters.size(), 1u) << second->unavailable_reason;
  EXPECT_EQ(LogCount("init"), 2);
  first.reset();
  EXPECT_EQ(LogCount("shutdown"), 1);
  ASSERT_TRUE(second->counters[0]->Sample(t0_).ok());
  EXPECT_TRUE(second->counters[0]->Sample(t0_ + std::chrono::seconds(1)).ok());
  second.reset();
  EXPECT_EQ(LogCount("shutdown"), 2);
  EXPECT_FALSE(FakeLoaded());
}

}  // namespace
}  // namespace sobre::footprint
