// The meter's own cost. `sobre measure` samples every counter and scans /proc once a second; this
// benchmark shows what one sample costs and what share of one core the sampler takes at its
// default rate, against an idle baseline measured in the same run.
//
//   sampler_bench                      # per-sample cost, then a 5 s duty-cycle run
//   sampler_bench --duty-seconds=1 --benchmark_min_time=0.01   # what CI runs (crash check only)
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include <benchmark/benchmark.h>

#include "core/clock.h"
#include "footprint/meter.h"

namespace {

using sobre::footprint::HardwareCatalogue;
using sobre::footprint::Meter;
using sobre::footprint::MeterOptions;

double ProcessCpuSeconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

// One full sample on this machine: every counter found, /proc/stat, and a /proc scan for the tree.
void BM_MeterSample(benchmark::State& state) {
  MeterOptions options;
  if (const char* v = std::getenv("SOBRE_POWERCAP_ROOT")) options.powercap_root = v;
  auto meter = Meter::Create(options, sobre::SystemClock(), HardwareCatalogue::Builtin());
  if (!meter.ok()) {
    state.SkipWithError(meter.status().ToString().c_str());
    return;
  }
  (*meter)->Start(/*background=*/false);
  (*meter)->Track(::getpid());
  for (auto _ : state) (*meter)->SampleNow();
  (*meter)->Stop(std::nullopt);
}
BENCHMARK(BM_MeterSample)->Unit(benchmark::kMicrosecond);

// Process CPU used over `seconds` of wall time, with or without a running meter.
double CpuShareOfOneCore(double seconds, bool with_meter) {
  std::unique_ptr<Meter> meter;
  if (with_meter) {
    auto m = Meter::Create(MeterOptions{}, sobre::SystemClock(), HardwareCatalogue::Builtin());
    if (!m.ok()) {
      std::fprintf(stderr, "cannot start the meter: %s\n", m.status().ToString().c_str());
      return -1;
    }
    meter = std::move(*m);
    meter->Start(/*background=*/true);
    meter->Track(::getpid());
  }
  double cpu0 = ProcessCpuSeconds();
  auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double cpu = ProcessCpuSeconds() - cpu0;
  if (meter) meter->Stop(std::nullopt);
  return cpu / wall;
}

}  // namespace

int main(int argc, char** argv) {
  double duty_seconds = 5;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--duty-seconds=", 15) == 0) duty_seconds = std::atof(argv[i] + 15);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();

  double baseline = CpuShareOfOneCore(duty_seconds, false);
  double metered = CpuShareOfOneCore(duty_seconds, true);
  if (metered < 0) return 1;
  double overhead = metered - baseline;
  std::printf(
      "\nsampler duty cycle over %.1f s at the default 1 s interval:\n"
      "  idle baseline process: %.4f%% of one core\n"
      "  with the meter running: %.4f%% of one core\n"
      "  meter overhead: %.4f%% of one core (target: well under 1%%) -> %s\n",
      duty_seconds, baseline * 100, metered * 100, overhead * 100,
      overhead < 0.01 ? "OK" : "TOO HIGH");
  return 0;
}
