// Training, inference and service estimates. Reference: docs measurement.md §2.2 (Green
// Algorithms), §2.3 (EcoLogits v0.9) and §2.4 (Boavizta allocation).
#include "footprint/estimate.h"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <utility>

#include <fmt/core.h>

namespace sobre::footprint {
namespace {

// Sources printed beside each constant.
constexpr std::string_view kGreenAlgorithms = "Green Algorithms v3.0 (Lannelongue et al. 2021)";
constexpr std::string_view kEcoLogits = "EcoLogits v0.9, ecologits/impacts/llm.py, MPL-2.0";
constexpr std::string_view kBoavizta = "Boavizta API";

// EcoLogits v0.9 coefficients, fitted on the ML.ENERGY leaderboard (H100 80GB, vLLM).
constexpr double kAlphaE = 1.1665273170451914e-06;   // Wh per token per GPU per billion params.
constexpr double kBetaE = -0.011205921025579175;     // Per request in the batch.
constexpr double kGammaE = 4.052928146734005e-05;    // Wh per token per GPU.
constexpr double kAlphaL = 6.785088094353663e-04;    // s per token per billion params.
constexpr double kBetaL = 3.119310311688259e-04;     // s per token per request in the batch.
constexpr double kGammaL = 1.9473717579473387e-02;   // s per token.
// Largest model and batch in the data the coefficients were fitted on.
constexpr double kEcoLogitsFitMaxParamsB = 200;
constexpr double kEcoLogitsFitMaxBatch = 512;

// NVIDIA's H100 product carbon footprint summary, the GPU figure EcoLogits uses; our fallback
// when a GPU has no published embodied figure.
constexpr double kH100EmbodiedKg = 164;

constexpr double kSecondsPerYear = 365.0 * 24 * 3600;

// Limits past which a value is a typo rather than a workload.
constexpr int64_t kMaxGpus = 10'000'000;
constexpr double kMaxHours = 1e6;
constexpr double kMaxGpuHours = 1e13;

// Builds flag names: "--pue" for `sobre estimate train`, "--train-pue" inside `service`.
class FlagNames {
 public:
  explicit FlagNames(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string operator()(std::string_view name) const {
    return "--" + prefix_ + std::string(name);
  }

 private:
  std::string prefix_;
};

Status OutOfRange(const std::string& flag, std::string_view expected, double value) {
  return InvalidArgumentError(fmt::format("{} must be {}, got {}", flag, expected, value));
}

// lo <= value <= hi; NaN and infinities fail.
Status CheckClosed(double value, const std::string& flag, double lo, double hi,
                   std::string_view expected) {
  if (!std::isfinite(value) || value < lo || value > hi) {
    return OutOfRange(flag, expected, value);
  }
  return OkStatus();
}

// 0 < value <= hi.
Status CheckPositive(double value, const std::string& flag, double hi,
                     std::string_view expected) {
  if (!std::isfinite(value) || value <= 0 || value > hi) return OutOfRange(flag, expected, value);
  return OkStatus();
}

Status CheckCount(int64_t value, const std::string& flag, int64_t lo, int64_t hi) {
  if (value < lo || value > hi) {
    return InvalidArgumentError(
        fmt::format("{} must be between {} and {}, got {}", flag, lo, hi, value));
  }
  return OkStatus();
}

Status CheckPue(double pue, const std::string& flag) {
  return CheckClosed(pue, flag, 1.0, 5.0, "between 1.0 and 5.0");
}

Status CheckUsage(double usage, const std::string& flag) {
  return CheckPositive(usage, flag, 1.0, "greater than 0 and at most 1");
}

Status CheckWue(double wue, const std::string& flag) {
  return CheckClosed(wue, flag, 0, 100, "between 0 and 100 L/kWh");
}

const HardwareCatalogue& CatalogueOf(const EstimateTables& tables) {
  return tables.catalogue != nullptr ? *tables.catalogue : HardwareCatalogue::Builtin();
}

const IntensityTable& IntensityOf(const EstimateTables& tables) {
  return tables.intensity != nullptr ? *tables.intensity : IntensityTable::Builtin();
}

void Add(std::vector<Assumption>& list, std::string name, double value, std::string unit,
         std::string_view source) {
  list.push_back(Assumption{std::move(name), value, std::move(unit), std::string(source)});
}

std::string GivenWith(const std::string& flag) { return "given with " + flag; }

// Resolves the intensity and records it (and the world fallback, if taken).
StatusOr<Intensity> ResolveIntensity(const IntensityChoice& choice, const EstimateTables& tables,
                                     const FlagNames& flag, std::vector<Assumption>& assumptions,
                                     std::vector<std::string>& warnings) {
  const std::string intensity_flag = flag("intensity");
  const std::string zone_flag = flag("zone");
  Intensity intensity;
  if (choice.g_per_kwh.has_value()) {
    if (!choice.zone.empty()) {
      return InvalidArgumentError(
          fmt::format("give {} or {}, not both", zone_flag, intensity_flag));
    }
    SOBRE_RETURN_IF_ERROR(
        CheckClosed(*choice.g_per_kwh, intensity_flag, 0, 3000, "between 0 and 3000 g/kWh"));
  }
  auto found = footprint::ResolveIntensity(
      choice.g_per_kwh,
      choice.intensity_source.empty() ? GivenWith(intensity_flag) : choice.intensity_source,
      choice.zone, IntensityOf(tables));
  if (!found.ok()) return found.status().WithContext(zone_flag);
  intensity = std::move(found).value();
  if (choice.g_per_kwh) intensity.zone.clear();  // A given value belongs to no zone here.
  if (intensity.is_world_fallback) {
    warnings.push_back(
        fmt::format("world average used: no {} or {} given", zone_flag, intensity_flag));
  }
  std::string source = intensity.source;
  if (!intensity.zone.empty()) source = intensity.zone + ", " + source;
  if (intensity.is_world_fallback) {
    source += fmt::format(" (world average: no {} or {} given)", zone_flag, intensity_flag);
  }
  Add(assumptions, "carbon intensity", intensity.g_per_kwh, "gCO2e/kWh", source);
  return intensity;
}

struct CpuPower {
  int64_t cores = 0;
  double w_per_core = 0;
};

// Resolves the CPU side of a Green Algorithms estimate.
StatusOr<CpuPower> ResolveCpu(const TrainingOptions& options, const HardwareCatalogue& catalogue,
                              const FlagNames& flag, std::vector<Assumption>& assumptions,
                              std::vector<std::string>& warnings) {
  CpuPower cpu;
  if (options.cpu_cores.has_value()) {
    SOBRE_RETURN_IF_ERROR(CheckCount(*options.cpu_cores, flag("cpu-cores"), 1, kMaxGpus));
  }
  if (options.cpu_power_per_core_w.has_value()) {
    SOBRE_RETURN_IF_ERROR(CheckPositive(*options.cpu_power_per_core_w, flag("cpu-power-w"), 1000,
                                        "greater than 0 and at most 1000 W per core"));
  }
  if (!options.cpu_name.empty()) {
    auto found = catalogue.FindCpu(options.cpu_name);
    if (!found.ok()) return found.status().WithContext(flag("cpu"));
    const CpuSpec& spec = **found;
    if (options.cpu_power_per_core_w.has_value()) {
      cpu.w_per_core = *options.cpu_power_per_core_w;
      Add(assumptions, "CPU power per core", cpu.w_per_core, "W", GivenWith(flag("cpu-power-w")));
    } else {
      if (spec.cores <= 0 || spec.tdp_w <= 0) {
        return InvalidArgumentError(
            fmt::format("{}: the catalogue has no TDP and core count for '{}'; give {}",
                        flag("cpu"), spec.name, flag("cpu-power-w")));
      }
      cpu.w_per_core = spec.tdp_w / spec.cores;
      Add(assumptions,
          fmt::format("CPU power per core ({} TDP {} W / {} cores)", spec.name, spec.tdp_w,
                      spec.cores),
          cpu.w_per_core, "W", spec.source);
    }
    if (options.cpu_cores.has_value()) {
      cpu.cores = *options.cpu_cores;
    } else {
      if (spec.cores <= 0) {
        return InvalidArgumentError(fmt::format(
            "{}: the catalogue has no core count for '{}'; give {}", flag("cpu"), spec.name,
            flag("cpu-cores")));
      }
      cpu.cores = spec.cores;
      Add(assumptions, fmt::format("CPU cores (one {} package)", spec.name), cpu.cores, "",
          spec.source);
    }
  } else if (options.cpu_power_per_core_w.has_value()) {
    if (!options.cpu_cores.has_value()) {
      return InvalidArgumentError(
          fmt::format("{} is required with {}", flag("cpu-cores"), flag("cpu-power-w")));
    }
    cpu.cores = *options.cpu_cores;
    cpu.w_per_core = *options.cpu_power_per_core_w;
    Add(assumptions, "CPU power per core", cpu.w_per_core, "W", GivenWith(flag("cpu-power-w")));
  } else if (options.cpu_cores.has_value()) {
    cpu.cores = *options.cpu_cores;
    cpu.w_per_core = kGreenAlgorithmsAnyCpuWPerCore;
    Add(assumptions, "CPU power per core (\"Any\" CPU)", cpu.w_per_core, "W",
        std::string(kGreenAlgorithms) + " fallback");
    warnings.push_back(fmt::format(
        "no {} or {} given: Green Algorithms' \"Any\" CPU, {} W per core, used", flag("cpu"),
        flag("cpu-power-w"), kGreenAlgorithmsAnyCpuWPerCore));
  }
  return cpu;
}

StatusOr<TrainingEstimate> EstimateTrainingImpl(const TrainingOptions& options,
                                                const EstimateTables& tables,
                                                const FlagNames& flag) {
  TrainingEstimate out;
  const HardwareCatalogue& catalogue = CatalogueOf(tables);

  // Values first, so that a bad number is reported before any lookup.
  SOBRE_RETURN_IF_ERROR(CheckPue(options.pue, flag("pue")));
  SOBRE_RETURN_IF_ERROR(CheckUsage(options.gpu_usage, flag("usage")));
  SOBRE_RETURN_IF_ERROR(CheckUsage(options.cpu_usage, flag("cpu-usage")));
  SOBRE_RETURN_IF_ERROR(CheckClosed(options.memory_gb, flag("memory-gb"), 0, 1e8,
                                    "between 0 and 100000000 GB"));
  SOBRE_RETURN_IF_ERROR(
      CheckPositive(options.runs, flag("runs"), 1e6, "greater than 0 and at most 1000000"));
  if (options.wue_l_per_kwh.has_value()) {
    SOBRE_RETURN_IF_ERROR(CheckWue(*options.wue_l_per_kwh, flag("wue")));
  }
  if (options.gpu_power_w.has_value()) {
    SOBRE_RETURN_IF_ERROR(CheckPositive(*options.gpu_power_w, flag("power-w"), 10000,
                                        "greater than 0 and at most 10000 W"));
  }
  if (options.hours.has_value()) {
    SOBRE_RETURN_IF_ERROR(CheckPositive(*options.hours, flag("hours"), kMaxHours,
                                        "greater than 0 and at most 1000000 hours"));
  }
  if (options.gpu_hours.has_value()) {
    SOBRE_RETURN_IF_ERROR(CheckPositive(*options.gpu_hours, flag("gpu-hours"), kMaxGpuHours,
                                        "greater than 0 and at most 1e13 GPU-hours"));
  }

  const bool has_gpu = !options.gpu_name.empty() || options.gpu_power_w.has_value();
  if (options.hours.has_value() && options.gpu_hours.has_value()) {
    return InvalidArgumentError(
        fmt::format("give {} or {}, not both", flag("hours"), flag("gpu-hours")));
  }
  if (!options.hours.has_value() && !options.gpu_hours.has_value()) {
    return InvalidArgumentError(
        fmt::format("{} or {} is required", flag("hours"), flag("gpu-hours")));
  }
  if (!has_gpu && options.gpu_count != 1) {
    return InvalidArgumentError(
        fmt::format("{} needs {} or {}", flag("count"), flag("gpu"), flag("power-w")));
  }
  if (options.gpu_hours.has_value() && !has_gpu) {
    return InvalidArgumentError(fmt::format("{} needs {} or {}", flag("gpu-hours"), flag("gpu"),
                                            flag("power-w")));
  }

  // GPUs.
  const GpuSpec* gpu_spec = nullptr;
  if (has_gpu) {
    SOBRE_RETURN_IF_ERROR(CheckCount(options.gpu_count, flag("count"), 1, kMaxGpus));
    out.gpu_count = options.gpu_count;
    if (!options.gpu_name.empty()) {
      auto found = catalogue.FindGpu(options.gpu_name);
      if (!found.ok()) return found.status().WithContext(flag("gpu"));
      gpu_spec = *found;
    }
    if (options.gpu_power_w.has_value()) {
      out.gpu_power = Watts(*options.gpu_power_w);
      Add(out.assumptions, "GPU power", out.gpu_power.value(), "W", GivenWith(flag("power-w")));
    } else {
      out.gpu_power = Watts(gpu_spec->tdp_w);
      Add(out.assumptions, fmt::format("GPU power ({} TDP)", gpu_spec->name),
          out.gpu_power.value(), "W", gpu_spec->source);
    }
    if (options.gpu_usage != 1.0) {
      Add(out.assumptions, "GPU usage factor", options.gpu_usage, "", GivenWith(flag("usage")));
    }
  }
  out.wall_hours = options.hours.has_value()
                       ? *options.hours
                       : *options.gpu_hours / static_cast<double>(out.gpu_count);
  out.gpu_hours = has_gpu ? (options.gpu_hours.has_value()
                                 ? *options.gpu_hours
                                 : out.wall_hours * static_cast<double>(out.gpu_count))
                          : 0;

  // CPU and memory.
  SOBRE_ASSIGN_OR_RETURN(CpuPower cpu,
                         ResolveCpu(options, catalogue, flag, out.assumptions, out.warnings));
  if (cpu.cores > 0 && options.cpu_usage != 1.0) {
    Add(out.assumptions, "CPU usage factor", options.cpu_usage, "", GivenWith(flag("cpu-usage")));
  }
  out.cpu_power = Watts(static_cast<double>(cpu.cores) * cpu.w_per_core * options.cpu_usage);
  out.memory_power = Watts(options.memory_gb * kGreenAlgorithmsMemoryWPerGb);
  Add(out.assumptions, "memory power", kGreenAlgorithmsMemoryWPerGb, "W/GB", kGreenAlgorithms);

  // Energy. The GPU term is written with GPU-hours so that --gpu-hours is used exactly.
  const Watts gpu_total = out.gpu_power * static_cast<double>(out.gpu_count) * options.gpu_usage;
  out.it_power = out.cpu_power + gpu_total + out.memory_power;
  const double host_wh = out.wall_hours * (out.cpu_power + out.memory_power).value();
  const double gpu_wh = out.gpu_hours * out.gpu_power.value() * options.gpu_usage;
  out.it_energy = KilowattHours((host_wh + gpu_wh) * options.runs / 1000.0);
  out.energy = out.it_energy * options.pue;
  Add(out.assumptions, "PUE", options.pue,
      "", options.pue == kGreenAlgorithmsDefaultPue
              ? std::string(kGreenAlgorithms) +
                    " default for an unknown data centre (Uptime Institute 2024 survey)"
              : GivenWith(flag("pue")));
  if (options.runs != 1.0) {
    Add(out.assumptions, "runs (scaling factor)", options.runs, "", GivenWith(flag("runs")));
  }

  SOBRE_ASSIGN_OR_RETURN(out.intensity, ResolveIntensity(options.intensity, tables, flag,
                                                         out.assumptions, out.warnings));
  out.co2e = CarbonOf(out.energy, out.intensity.g_per_kwh);

  if (options.wue_l_per_kwh.has_value()) {
    out.water = Litres(*options.wue_l_per_kwh * out.it_energy.value());
    Add(out.assumptions, "WUE (per IT kWh)", *options.wue_l_per_kwh, "L/kWh",
        GivenWith(flag("wue")));
  }

  if (options.include_embodied) {
    if (options.gpu_embodied_kgco2e.has_value()) {
      SOBRE_RETURN_IF_ERROR(CheckClosed(*options.gpu_embodied_kgco2e, flag("gpu-embodied-kg"), 0,
                                        1e5, "between 0 and 100000 kgCO2e"));
    }
    if (options.server_embodied_kgco2e.has_value()) {
      SOBRE_RETURN_IF_ERROR(CheckClosed(*options.server_embodied_kgco2e,
                                        flag("server-embodied-kg"), 0, 1e6,
                                        "between 0 and 1000000 kgCO2e"));
    }
    if (options.lifetime_hours.has_value()) {
      SOBRE_RETURN_IF_ERROR(CheckPositive(*options.lifetime_hours, flag("lifetime-hours"),
                                          kMaxHours, "greater than 0 and at most 1000000 hours"));
    }
    SOBRE_RETURN_IF_ERROR(CheckUsage(options.lifetime_use, flag("lifetime-use")));
    SOBRE_RETURN_IF_ERROR(CheckCount(options.gpus_per_server, flag("gpus-per-server"), 1, 1024));
    if (options.server_count.has_value()) {
      SOBRE_RETURN_IF_ERROR(CheckCount(*options.server_count, flag("servers"), 1, kMaxGpus));
    }

    EmbodiedShare share;
    double gpu_kg = 0;
    if (has_gpu) {
      if (options.gpu_embodied_kgco2e.has_value()) {
        gpu_kg = *options.gpu_embodied_kgco2e;
        Add(out.assumptions, "GPU embodied", gpu_kg, "kgCO2e", GivenWith(flag("gpu-embodied-kg")));
      } else if (gpu_spec != nullptr && gpu_spec->embodied_kgco2e.has_value()) {
        gpu_kg = *gpu_spec->embodied_kgco2e;
        Add(out.assumptions, fmt::format("GPU embodied ({})", gpu_spec->name), gpu_kg, "kgCO2e",
            gpu_spec->source);
      } else {
        gpu_kg = kH100EmbodiedKg;
        Add(out.assumptions, "GPU embodied (H100 fallback)", gpu_kg, "kgCO2e",
            "NVIDIA H100 product carbon footprint summary, as used by EcoLogits v0.9");
        out.warnings.push_back(fmt::format(
            "no embodied figure for {}: the NVIDIA H100's {} kgCO2e used; set {}",
            gpu_spec != nullptr ? gpu_spec->name : std::string("a GPU given by power only"),
            kH100EmbodiedKg, flag("gpu-embodied-kg")));
      }
    }

    double server_kg = 0;
    double lifetime_h = kBoaviztaServerLifetimeHours;
    std::string lifetime_source = std::string(kBoavizta) + " default server lifetime (4 years)";
    const ServerSpec* server = nullptr;
    if (!options.server_embodied_kgco2e.has_value() || !options.lifetime_hours.has_value()) {
      auto found = catalogue.FindServer(options.server_name);
      if (!found.ok()) return found.status().WithContext(flag("server"));
      server = *found;
    }
    if (options.server_embodied_kgco2e.has_value()) {
      server_kg = *options.server_embodied_kgco2e;
      Add(out.assumptions, "server embodied (without GPUs)", server_kg, "kgCO2e",
          GivenWith(flag("server-embodied-kg")));
    } else {
      server_kg = server->embodied_kgco2e;
      Add(out.assumptions, fmt::format("server embodied ({}, without GPUs)", server->name),
          server_kg, "kgCO2e", server->source);
    }
    if (options.lifetime_hours.has_value()) {
      lifetime_h = *options.lifetime_hours;
      lifetime_source = GivenWith(flag("lifetime-hours"));
    } else if (server != nullptr && server->lifetime_hours > 0) {
      lifetime_h = server->lifetime_hours;
      lifetime_source = fmt::format("{} ({})", server->source, server->name);
    }
    Add(out.assumptions, "hardware lifetime", lifetime_h, "h",
        lifetime_source + "; embodied × hours × runs / (lifetime × use), capped at the whole "
                          "(Boavizta allocation)");
    if (options.lifetime_use != 1.0) {
      Add(out.assumptions, "share of the lifetime in use", options.lifetime_use, "",
          GivenWith(flag("lifetime-use")));
    }

    if (options.server_count.has_value()) {
      share.server_count = *options.server_count;
    } else if (has_gpu) {
      share.server_count = (out.gpu_count + options.gpus_per_server - 1) / options.gpus_per_server;
      Add(out.assumptions, "GPUs per server", static_cast<double>(options.gpus_per_server), "",
          options.gpus_per_server == 8 ? "8-GPU server (DGX / HGX class)"
                                       : GivenWith(flag("gpus-per-server")));
    } else {
      share.server_count = 1;
    }

    const double busy_hours = lifetime_h * options.lifetime_use;
    const double duration_h = out.wall_hours * options.runs;
    share.fraction = std::min(1.0, duration_h / busy_hours);
    share.gpus = GramsCo2e(
        1000.0 * AllocateEmbodied(gpu_kg * static_cast<double>(out.gpu_count), duration_h,
                                  busy_hours));
    share.servers = GramsCo2e(
        1000.0 * AllocateEmbodied(server_kg * static_cast<double>(share.server_count),
                                  duration_h, busy_hours));
    out.embodied = share;
  }
  return out;
}

// Source for an inference constant: its default provenance, or the caller's value.
std::string InferenceSource(double value, double default_value, std::string_view default_source,
                            std::string_view given_source) {
  return value == default_value ? std::string(default_source) : std::string(given_source);
}

}  // namespace

double AllocateEmbodied(double embodied, double duration_hours, double lifetime_hours) {
  if (!(lifetime_hours > 0)) return 0;
  const double ratio = std::clamp(duration_hours / lifetime_hours, 0.0, 1.0);
  return embodied * ratio;
}

StatusOr<TrainingEstimate> EstimateTraining(const TrainingOptions& options,
                                            const EstimateTables& tables) {
  return EstimateTrainingImpl(options, tables, FlagNames(""));
}

StatusOr<InferenceEstimate> EstimateInference(const InferenceOptions& options,
                                              const EstimateTables& tables) {
  const FlagNames flag("");
  SOBRE_RETURN_IF_ERROR(CheckPositive(options.total_params_b, flag("params"), 1e5,
                                      "greater than 0 and at most 100000 (billions)"));
  if (options.active_params_b.has_value()) {
    SOBRE_RETURN_IF_ERROR(CheckPositive(*options.active_params_b, flag("active-params"), 1e5,
                                        "greater than 0 and at most 100000 (billions)"));
    if (*options.active_params_b > options.total_params_b) {
      return InvalidArgumentError(fmt::format("{} must not exceed {} ({}), got {}",
                                              flag("active-params"), flag("params"),
                                              options.total_params_b, *options.active_params_b));
    }
  }
  SOBRE_RETURN_IF_ERROR(CheckClosed(options.output_tokens, flag("output-tokens"), 0, 1e9,
                                    "between 0 and 1000000000"));
  if (options.latency_s.has_value()) {
    SOBRE_RETURN_IF_ERROR(CheckPositive(*options.latency_s, flag("latency-s"), 86400,
                                        "greater than 0 and at most 86400 s"));
  }
  SOBRE_RETURN_IF_ERROR(
      CheckClosed(options.batch_size, flag("batch"), 1, 1e5, "between 1 and 100000"));
  SOBRE_RETURN_IF_ERROR(CheckPue(options.pue, flag("pue")));
  SOBRE_RETURN_IF_ERROR(CheckWue(options.wue_onsite_l_per_kwh, flag("wue")));
  SOBRE_RETURN_IF_ERROR(CheckWue(options.wue_mix_l_per_kwh, flag("wue-mix")));
  // The hardware constants have no flags; name them by field.
  SOBRE_RETURN_IF_ERROR(CheckPositive(options.gpu_memory_gb, "gpu_memory_gb", 1e4,
                                      "greater than 0 and at most 10000"));
  SOBRE_RETURN_IF_ERROR(CheckPositive(options.quantization_bits, "quantization_bits", 64,
                                      "greater than 0 and at most 64"));
  SOBRE_RETURN_IF_ERROR(
      CheckClosed(options.memory_overhead, "memory_overhead", 1, 10, "between 1 and 10"));
  SOBRE_RETURN_IF_ERROR(CheckClosed(options.server_power_kw, "server_power_kw", 0, 1000,
                                    "between 0 and 1000 kW"));
  SOBRE_RETURN_IF_ERROR(
      CheckClosed(options.gpus_per_server, "gpus_per_server", 1, 1024, "between 1 and 1024"));
  SOBRE_RETURN_IF_ERROR(CheckClosed(options.server_embodied_kgco2e, "server_embodied_kgco2e", 0,
                                    1e6, "between 0 and 1000000"));
  SOBRE_RETURN_IF_ERROR(CheckClosed(options.gpu_embodied_kgco2e, "gpu_embodied_kgco2e", 0, 1e5,
                                    "between 0 and 100000"));
  SOBRE_RETURN_IF_ERROR(CheckPositive(options.lifetime_years, "lifetime_years", 100,
                                      "greater than 0 and at most 100"));

  const InferenceOptions defaults;
  InferenceEstimate out;
  auto& list = out.assumptions;
  const double p_active = options.active_params_b.value_or(options.total_params_b);
  const double p_total = options.total_params_b;
  const double batch = options.batch_size;
  const double tokens = options.output_tokens;

  const std::string coefficients =
      std::string(kEcoLogits) + ", fitted on ML.ENERGY leaderboard data (H100 80GB, vLLM)";
  Add(list, "alpha_E", kAlphaE, "Wh/token/B-params", coefficients);
  Add(list, "beta_E", kBetaE, "per batched request", coefficients);
  Add(list, "gamma_E", kGammaE, "Wh/token", coefficients);
  Add(list, "alpha_L", kAlphaL, "s/token/B-params", coefficients);
  Add(list, "beta_L", kBetaL, "s/token/batched request", coefficients);
  Add(list, "gamma_L", kGammaL, "s/token", coefficients);
  Add(list, "batch size", batch, "requests",
      InferenceSource(batch, defaults.batch_size, kEcoLogits, GivenWith(flag("batch"))));

  // Steps 1-2: energy per token of one GPU, and generation time.
  out.gpu_energy_per_token = WattHours(kAlphaE * std::exp(kBetaE * batch) * p_active + kGammaE);
  const double modelled_s = tokens * (kAlphaL * p_active + kBetaL * batch + kGammaL);
  out.latency = Seconds(options.latency_s.has_value() ? std::min(modelled_s, *options.latency_s)
                                                      : modelled_s);

  // Steps 3-4: memory and GPU count, rounded up to a power of two.
  out.model_memory_gb = options.memory_overhead * p_total * options.quantization_bits / 8.0;
  const double per_gpu = std::ceil(out.model_memory_gb / options.gpu_memory_gb);
  int64_t gpus = 1;
  while (static_cast<double>(gpus) < per_gpu) gpus *= 2;
  out.gpu_count = gpus;
  Add(list, "weight precision", options.quantization_bits, "bits",
      InferenceSource(options.quantization_bits, defaults.quantization_bits, kEcoLogits,
                      "set by the caller"));
  Add(list, "model memory overhead", options.memory_overhead, "x",
      InferenceSource(options.memory_overhead, defaults.memory_overhead, kEcoLogits,
                      "set by the caller"));
  Add(list, "GPU memory", options.gpu_memory_gb, "GB",
      InferenceSource(options.gpu_memory_gb, defaults.gpu_memory_gb,
                      std::string(kEcoLogits) + " (NVIDIA H100 80GB)", "set by the caller"));

  // Steps 5-6: server share and request energy.
  const double n_gpu = static_cast<double>(gpus);
  const double server_share = n_gpu / options.gpus_per_server;
  out.gpu_energy = WattHours(n_gpu * tokens * out.gpu_energy_per_token.value());
  out.server_energy = WattHours(out.latency.count() / 3600.0 * options.server_power_kw * 1000.0 *
                                server_share / batch);
  out.energy = (out.gpu_energy + out.server_energy) * options.pue;
  Add(list, "server power without GPUs", options.server_power_kw, "kW",
      InferenceSource(options.server_power_kw, defaults.server_power_kw,
                      "BoaviztAPI average for AWS p5.48xlarge, via EcoLogits v0.9",
                      "set by the caller"));
  Add(list, "GPUs per server", options.gpus_per_server, "",
      InferenceSource(options.gpus_per_server, defaults.gpus_per_server,
                      "AWS p5.48xlarge (8 H100), via EcoLogits v0.9", "set by the caller"));
  Add(list, "PUE", options.pue, "",
      InferenceSource(options.pue, defaults.pue, "EcoLogits v0.9 OpenAI / Azure setting",
                      GivenWith(flag("pue"))));

  // Step 7: use-phase carbon.
  SOBRE_ASSIGN_OR_RETURN(out.intensity,
                         ResolveIntensity(options.intensity, tables, flag, list, out.warnings));
  out.usage_co2e = CarbonOf(ToKilowattHours(out.energy), out.intensity.g_per_kwh);

  // Step 8: water. EcoLogits' code applies PUE again to the off-site term although the request
  // energy already includes it; we follow the code so that figures match theirs.
  out.water = Litres(ToKilowattHours(out.energy).value() *
                     (options.wue_onsite_l_per_kwh + options.pue * options.wue_mix_l_per_kwh));
  Add(list, "WUE on-site", options.wue_onsite_l_per_kwh, "L/kWh",
      InferenceSource(options.wue_onsite_l_per_kwh, defaults.wue_onsite_l_per_kwh,
                      "EcoLogits v0.9 OpenAI / Azure setting", GivenWith(flag("wue"))));
  Add(list, "WUE of electricity generation", options.wue_mix_l_per_kwh, "L/kWh",
      InferenceSource(options.wue_mix_l_per_kwh, defaults.wue_mix_l_per_kwh,
                      "EcoLogits v0.9 electricity_mixes.csv, USA (WRI method); water = E x "
                      "(WUE on-site + PUE x WUE mix) as in EcoLogits' code",
                      GivenWith(flag("wue-mix"))));

  // Steps 9-10: embodied, spread over the lifetime and the batch.
  const double server_kg = server_share * options.server_embodied_kgco2e +
                           n_gpu * options.gpu_embodied_kgco2e;
  const double lifetime_s = options.lifetime_years * kSecondsPerYear;
  out.embodied_co2e = GramsCo2e(1000.0 * out.latency.count() * server_kg / (lifetime_s * batch));
  Add(list, "server embodied without GPUs", options.server_embodied_kgco2e, "kgCO2e",
      InferenceSource(options.server_embodied_kgco2e, defaults.server_embodied_kgco2e,
                      "BoaviztAPI, AWS p5.48xlarge without GPUs, via EcoLogits v0.9",
                      "set by the caller"));
  Add(list, "GPU embodied", options.gpu_embodied_kgco2e, "kgCO2e",
      InferenceSource(options.gpu_embodied_kgco2e, defaults.gpu_embodied_kgco2e,
                      "NVIDIA H100 product carbon footprint summary, via EcoLogits v0.9",
                      "set by the caller"));
  Add(list, "hardware lifetime", options.lifetime_years, "years",
      InferenceSource(options.lifetime_years, defaults.lifetime_years, kEcoLogits,
                      "set by the caller"));

  if (p_active > kEcoLogitsFitMaxParamsB) {
    out.warnings.push_back(fmt::format(
        "{} B active parameters is beyond the models up to {} B the EcoLogits coefficients "
        "were fitted on",
        p_active, kEcoLogitsFitMaxParamsB));
  }
  if (batch > kEcoLogitsFitMaxBatch) {
    out.warnings.push_back(
        fmt::format("batch {} is beyond the batches up to {} the EcoLogits coefficients were "
                    "fitted on",
                    batch, kEcoLogitsFitMaxBatch));
  }
  if (options.latency_s.has_value() && *options.latency_s < modelled_s) {
    out.warnings.push_back(fmt::format(
        "measured latency {} s is shorter than the modelled {:.3g} s and was used instead",
        *options.latency_s, modelled_s));
  }
  return out;
}

StatusOr<ServiceEstimate> EstimateService(const ServiceOptions& options,
                                          const EstimateTables& tables) {
  SOBRE_RETURN_IF_ERROR(CheckPositive(options.requests_per_day, "--requests-per-day", 1e12,
                                      "greater than 0 and at most 1e12"));
  SOBRE_RETURN_IF_ERROR(
      CheckPositive(options.days, "--days", 36500, "greater than 0 and at most 36500"));
  if (options.model_lifetime_days.has_value()) {
    if (!options.training.has_value()) {
      return InvalidArgumentError(
          "--train-amortise-days needs a training run (--train-gpu or --train-power-w, and "
          "--train-hours or --train-gpu-hours)");
    }
    SOBRE_RETURN_IF_ERROR(CheckPositive(*options.model_lifetime_days, "--train-amortise-days",
                                        36500, "greater than 0 and at most 36500"));
  }

  ServiceEstimate out;
  SOBRE_ASSIGN_OR_RETURN(out.per_request, EstimateInference(options.inference, tables));
  out.requests = options.requests_per_day * options.days;
  out.inference_energy = ToKilowattHours(out.per_request.energy) * out.requests;
  out.inference_usage_co2e = out.per_request.usage_co2e * out.requests;
  out.inference_embodied_co2e = out.per_request.embodied_co2e * out.requests;
  out.inference_water = out.per_request.water * out.requests;

  if (options.training.has_value()) {
    SOBRE_ASSIGN_OR_RETURN(TrainingEstimate training,
                           EstimateTrainingImpl(*options.training, tables, FlagNames("train-")));
    if (options.model_lifetime_days.has_value()) {
      out.training_fraction = std::min(1.0, options.days / *options.model_lifetime_days);
      Add(out.assumptions, "share of the training run charged", out.training_fraction, "",
          "--days / --train-amortise-days, capped at 1");
    } else {
      out.training_fraction = 1.0;
      Add(out.assumptions, "share of the training run charged", 1.0, "",
          "whole run: no --train-amortise-days given");
    }
    out.training_energy = training.energy * out.training_fraction;
    GramsCo2e whole = training.co2e;
    if (training.embodied.has_value()) whole += training.embodied->total();
    out.training_co2e = whole * out.training_fraction;
    if (training.water.has_value()) out.training_water = *training.water * out.training_fraction;
    out.training = std::move(training);
  }

  out.energy = out.inference_energy + out.training_energy;
  const GramsCo2e inference_co2e = out.inference_usage_co2e + out.inference_embodied_co2e;
  out.co2e = inference_co2e + out.training_co2e;
  out.water = out.inference_water + out.training_water;
  if (out.co2e.value() > 0) {
    out.inference_share = inference_co2e / out.co2e;
    out.training_share = out.training_co2e / out.co2e;
  }
  return out;
}

}  // namespace sobre::footprint
