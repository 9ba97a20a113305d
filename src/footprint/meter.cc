#include "footprint/meter.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <fmt/core.h>

#include "footprint/nvml.h"
#include "footprint/rapl.h"

namespace sobre::footprint {

// The highest power a single RAPL domain is assumed to reach when choosing the sampling period
// (the same bound Zeus uses for its wrap poller).
constexpr Watts kMaxDomainPower{1000.0};

struct Meter::State {
  MeterOptions options;
  const Clock* clock = nullptr;
  ProcReader proc;
  MachineInfo machine;
  CpuPowerModel cpu_model;
  bool estimate_cpu = true;   // No counter covers the CPU.
  bool estimate_ram = true;   // No counter covers memory.
  Watts ram_power;
  std::string ram_method;
  std::vector<std::unique_ptr<EnergyCounter>> counters;
  std::vector<std::string> gpu_names;
  std::vector<std::string> notes;
  Seconds interval{1.0};

  // Sampler state, guarded by mu.
  mutable std::mutex mu;
  std::condition_variable_any wake;
  std::vector<Joules> counter_energy;
  std::vector<bool> counter_error_noted;
  Joules cpu_model_energy;
  Joules ram_model_energy;
  std::chrono::steady_clock::time_point start_mono, last_mono;
  std::chrono::system_clock::time_point start_wall;
  SystemCpuTimes start_cpu, last_cpu;
  bool have_cpu = false;
  std::optional<ProcessTreeTracker> tracker;
  MeterSnapshot snapshot;
  int samples = 0;
  std::jthread thread;

  explicit State(const MeterOptions& o) : options(o), proc(o.proc_root) {}

  // Takes one sample; mu must be held.
  void SampleLocked();
};

void Meter::State::SampleLocked() {
  auto now = clock->Now();
  Seconds dt = now - last_mono;
  Joules before;
  for (Joules j : counter_energy) before += j;
  before += cpu_model_energy + ram_model_energy;

  for (size_t i = 0; i < counters.size(); ++i) {
    StatusOr<Joules> e = counters[i]->Sample(now);
    if (e.ok()) {
      counter_energy[i] += *e;
    } else if (!counter_error_noted[i]) {
      counter_error_noted[i] = true;
      notes.push_back(counters[i]->label() + ": a sample was lost (" + e.status().message() +
                      "); the next sample measures from the last good reading");
    }
  }

  StatusOr<SystemCpuTimes> cpu = proc.ReadSystemCpu();
  if (cpu.ok()) {
    if (have_cpu && estimate_cpu) {
      uint64_t d_total = cpu->total_ticks - last_cpu.total_ticks;
      uint64_t d_busy = cpu->busy_ticks - last_cpu.busy_ticks;
      double u = d_total > 0 ? static_cast<double>(d_busy) / static_cast<double>(d_total) : 0.0;
      cpu_model_energy += EnergyOf(cpu_model.PowerAt(u), dt);
    }
    last_cpu = *cpu;
    have_cpu = true;
  }
  if (estimate_ram) ram_model_energy += EnergyOf(ram_power, dt);
  if (tracker) (void)tracker->Update();  // A failed scan keeps the previous figures.

  Joules after;
  for (Joules j : counter_energy) after += j;
  after += cpu_model_energy + ram_model_energy;
  snapshot.elapsed = now - start_mono;
  snapshot.machine_energy = after;
  snapshot.machine_power = PowerOf(after - before, dt);
  double busy_s = static_cast<double>(last_cpu.busy_ticks - start_cpu.busy_ticks) /
                  ProcReader::TicksPerSecond();
  snapshot.cpu_share =
      tracker && busy_s > 0 ? std::clamp(tracker->cpu_time().count() / busy_s, 0.0, 1.0) : 0.0;
  last_mono = now;
  ++samples;
}

Meter::Meter(std::unique_ptr<State> state) : state_(std::move(state)) {}

Meter::~Meter() {
  if (state_->thread.joinable()) {
    state_->thread.request_stop();
    state_->thread.join();
  }
}

StatusOr<std::unique_ptr<Meter>> Meter::Create(const MeterOptions& options, const Clock& clock,
                                               const HardwareCatalogue& catalogue) {
  if (options.interval.count() <= 0) {
    return InvalidArgumentError("the sampling interval must be positive");
  }
  auto s = std::make_unique<State>(options);
  s->clock = &clock;
  s->interval = options.interval;
  SOBRE_ASSIGN_OR_RETURN(s->machine, s->proc.ReadMachineInfo());

  bool have_platform = false;
  if (options.use_rapl) {
    RaplSetup rapl = DiscoverRapl(options.powercap_root);
    if (rapl.counters.empty()) {
      s->notes.push_back("RAPL not used: " + rapl.unavailable_reason);
    } else {
      for (const auto& c : rapl.counters) {
        if (c->component() == Component::kCpu) s->estimate_cpu = false;
        if (c->component() == Component::kDram) s->estimate_ram = false;
        if (c->component() == Component::kPlatform) have_platform = true;
      }
      if (std::optional<Seconds> wrap = ShortestWrapPeriod(rapl, kMaxDomainPower)) {
        Seconds safe = *wrap / 4.0;
        if (safe < s->interval) {
          s->interval = safe;
          s->notes.push_back(fmt::format(
              "sampling every {:.3f} s so that a RAPL counter cannot wrap twice between samples",
              safe.count()));
        }
      }
      for (auto& c : rapl.counters) s->counters.push_back(std::move(c));
    }
  }
  // psys covers the whole SoC, memory included: modelling CPU or RAM on top would double count.
  if (have_platform) s->estimate_cpu = s->estimate_ram = false;
  if (options.use_nvml) {
    NvmlSetup nvml = DiscoverNvml(options.nvml_library);
    for (const std::string& w : nvml.warnings) s->notes.push_back("NVML: " + w);
    if (nvml.counters.empty()) {
      s->notes.push_back("NVML not used: " + nvml.unavailable_reason);
    } else {
      for (const NvmlGpuInfo& g : nvml.gpus) s->gpu_names.push_back(g.name);
      for (auto& c : nvml.counters) s->counters.push_back(std::move(c));
    }
  }
  s->cpu_model = ResolveCpuPowerModel(s->machine, catalogue, options.cpu_tdp_w);
  double ram_gb = options.ram_gb.value_or(s->machine.mem_total_gb);
  s->ram_power = Watts(ram_gb * options.ram_w_per_gb);
  s->ram_method = fmt::format("model: {:g} W/GB x {:.1f} GB = {:.2f} W{}", options.ram_w_per_gb,
                              ram_gb, s->ram_power.value(),
                              options.ram_w_per_gb == kGreenAlgorithmsRamWattsPerGb
                                  ? " (Green Algorithms v3 memory power)"
                                  : " (--ram-w-per-gb)");
  s->counter_energy.assign(s->counters.size(), Joules(0));
  s->counter_error_noted.assign(s->counters.size(), false);
  return std::unique_ptr<Meter>(new Meter(std::move(s)));
}

void Meter::Start(bool background) {
  State& s = *state_;
  {
    std::lock_guard lock(s.mu);
    s.start_mono = s.last_mono = s.clock->Now();
    s.start_wall = s.clock->WallNow();
    for (auto& c : s.counters) (void)c->Sample(s.start_mono);  // Baselines.
    StatusOr<SystemCpuTimes> cpu = s.proc.ReadSystemCpu();
    if (cpu.ok()) {
      s.start_cpu = s.last_cpu = *cpu;
      s.have_cpu = true;
    } else {
      s.notes.push_back("CPU utilisation unavailable (" + cpu.status().message() +
                        "): the CPU model assumes idle and the process share is 0");
    }
    s.snapshot.measured = !s.estimate_cpu && !s.estimate_ram;
  }
  if (!background) return;
  s.thread = std::jthread([&s](std::stop_token stop) {
    std::unique_lock lock(s.mu);
    while (!stop.stop_requested()) {
      auto period = std::chrono::duration_cast<std::chrono::nanoseconds>(s.interval);
      if (s.wake.wait_for(lock, stop, period, [] { return false; })) break;
      if (stop.stop_requested()) break;
      s.SampleLocked();
    }
  });
}

void Meter::Track(pid_t root_pid) {
  std::lock_guard lock(state_->mu);
  state_->tracker.emplace(state_->proc, root_pid);
  (void)state_->tracker->Update();
}

void Meter::SampleNow() {
  std::lock_guard lock(state_->mu);
  state_->SampleLocked();
}

MeterSnapshot Meter::Snapshot() const {
  std::lock_guard lock(state_->mu);
  return state_->snapshot;
}

Seconds Meter::interval() const { return state_->interval; }

MeterReading Meter::Stop(std::optional<Seconds> reaped_cpu_time) {
  State& s = *state_;
  if (s.thread.joinable()) {
    s.thread.request_stop();
    s.thread.join();
  }
  std::lock_guard lock(s.mu);
  s.SampleLocked();

  MeterReading r;
  r.duration = s.last_mono - s.start_mono;
  r.start_wall = s.start_wall;
  r.end_wall = s.clock->WallNow();
  r.machine = s.machine;
  r.cpu_model = s.cpu_model;
  r.gpu_names = s.gpu_names;
  r.notes = s.notes;
  r.samples = s.samples;
  r.machine_busy_cpu_time = Seconds(static_cast<double>(s.last_cpu.busy_ticks - s.start_cpu.busy_ticks) /
                                    ProcReader::TicksPerSecond());
  Seconds tree = s.tracker ? s.tracker->cpu_time() : Seconds(0);
  if (reaped_cpu_time && *reaped_cpu_time > tree) tree = *reaped_cpu_time;
  r.tree_cpu_time = tree;
  // The tree cannot have used more CPU than the machine did; tick rounding can make it look so.
  double busy = std::max(r.machine_busy_cpu_time.count(), tree.count());
  r.cpu_share = busy > 0 ? std::clamp(tree.count() / busy, 0.0, 1.0) : 0.0;

  for (size_t i = 0; i < s.counters.size(); ++i) {
    const EnergyCounter& c = *s.counters[i];
    ComponentEnergy e;
    e.component = c.component();
    e.label = c.label();
    e.measured = true;
    e.method = c.method();
    e.machine = s.counter_energy[i];
    // A GPU is charged whole to the work, as CodeCarbon does: NVML gives no per-process energy.
    e.attributed = e.component == Component::kGpu ? e.machine : e.machine * r.cpu_share;
    if (e.component == Component::kGpu) e.method += "; whole device charged to the work";
    r.components.push_back(std::move(e));
  }
  if (s.estimate_cpu) {
    ComponentEnergy e;
    e.component = Component::kCpu;
    e.label = "CPU";
    e.method = "model: TDP x TEADS load curve (Boavizta) over /proc/stat utilisation; " +
               s.cpu_model.source;
    e.machine = s.cpu_model_energy;
    e.attributed = e.machine * r.cpu_share;
    r.components.push_back(std::move(e));
  }
  if (s.estimate_ram) {
    ComponentEnergy e;
    e.component = Component::kRam;
    e.label = "RAM";
    e.method = s.ram_method;
    e.machine = s.ram_model_energy;
    e.attributed = e.machine * r.cpu_share;
    r.components.push_back(std::move(e));
  }
  return r;
}

}  // namespace sobre::footprint
