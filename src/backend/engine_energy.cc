// The energy of the engine's batch steps: RAPL counters when this machine exposes them
// (measured), else the process's CPU time times the power of one busy logical CPU (estimated).
#include <time.h>

#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/engine_backend.h"
#include "engine/runtime/engine.h"
#include "footprint/cpu_power_model.h"
#include "footprint/hardware_catalogue.h"
#include "footprint/proc_stats.h"
#include "footprint/rapl.h"

namespace sobre::backend {
namespace {

using SteadyClock = std::chrono::steady_clock;

class RaplStepMeter final : public engine::StepEnergyMeter {
 public:
  explicit RaplStepMeter(std::vector<std::unique_ptr<footprint::EnergyCounter>> counters)
      : counters_(std::move(counters)) {}
  void Begin() override {
    for (auto& c : counters_) (void)c->Sample(SteadyClock::now());  // Idle energy is nobody's.
  }
  double EndJoules() override {
    double j = 0;
    for (auto& c : counters_) {
      StatusOr<Joules> e = c->Sample(SteadyClock::now());
      if (e.ok()) j += e->value();
    }
    return j;
  }
  bool measured() const override { return true; }

 private:
  std::vector<std::unique_ptr<footprint::EnergyCounter>> counters_;
};

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Process CPU time (engine thread, matrix workers, and whatever else the process ran meanwhile)
// times the power of one fully busy logical CPU.
class CpuTimeStepMeter final : public engine::StepEnergyMeter {
 public:
  explicit CpuTimeStepMeter(double watts_per_cpu) : watts_per_cpu_(watts_per_cpu) {}
  void Begin() override { start_s_ = ProcessCpuSeconds(); }
  double EndJoules() override { return (ProcessCpuSeconds() - start_s_) * watts_per_cpu_; }
  bool measured() const override { return false; }

 private:
  double watts_per_cpu_;
  double start_s_ = 0;
};

}  // namespace

std::pair<std::unique_ptr<engine::StepEnergyMeter>, EngineEnergyMethod> MakeStepEnergyMeter(
    const std::string& powercap_root, std::optional<double> cpu_tdp_w) {
  EngineEnergyMethod method;
  footprint::RaplSetup rapl = footprint::DiscoverRapl(powercap_root);
  if (!rapl.counters.empty()) {
    method.measured = true;
    method.description = "measured: RAPL counters over each batch step (";
    for (size_t i = 0; i < rapl.counters.size(); ++i) {
      method.description += (i ? ", " : "") + rapl.counters[i]->label();
    }
    method.description += "), whole package, shared by tokens";
    return {std::make_unique<RaplStepMeter>(std::move(rapl.counters)), std::move(method)};
  }
  footprint::MachineInfo machine;
  if (StatusOr<footprint::MachineInfo> m = footprint::ProcReader().ReadMachineInfo(); m.ok()) {
    machine = *m;
  }
  if (machine.logical_cpus <= 0) machine.logical_cpus = 1;
  footprint::CpuPowerModel cpu = footprint::ResolveCpuPowerModel(
      machine, footprint::HardwareCatalogue::Builtin(), cpu_tdp_w);
  method.watts_per_cpu = cpu.PowerAt(1.0).value() / machine.logical_cpus;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f", method.watts_per_cpu);
  method.description = "estimated: process CPU time of each batch step x " + std::string(buf) +
                       " W per busy logical CPU (TDP " + cpu.source + ", TEADS curve at 100%, / " +
                       std::to_string(machine.logical_cpus) + " CPUs); RAPL unavailable: " +
                       rapl.unavailable_reason;
  return {std::make_unique<CpuTimeStepMeter>(method.watts_per_cpu), std::move(method)};
}

}  // namespace sobre::backend
