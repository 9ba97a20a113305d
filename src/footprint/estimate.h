// Footprint estimates for work that has not been metered: a training run (Green Algorithms method
// with Boavizta embodied allocation), one LLM inference request (EcoLogits v0.9 model) and a
// whole service (requests over a period plus an amortised training run).
//
// Every estimate is a pure, thread-safe function of its options and the tables (no I/O: the
// builtin tables are compiled in). Results carry each constant they used with its source, and
// the fallbacks they had to take, so that callers can print them. Errors name the offending
// field by its `sobre estimate` flag ("--pue must be between 1.0 and 5.0, got 0.8"); unknown
// hardware or zones give the tables' NotFound message.
#ifndef SOBRE_FOOTPRINT_ESTIMATE_H_
#define SOBRE_FOOTPRINT_ESTIMATE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/units.h"
#include "footprint/hardware_catalogue.h"
#include "footprint/intensity.h"

namespace sobre::footprint {

// Green Algorithms v3.0 memory power, W per GB of memory available (not used).
inline constexpr double kGreenAlgorithmsMemoryWPerGb = 0.3725;
// Green Algorithms v3.0 PUE for an unknown data centre or local server (Uptime Institute 2024).
inline constexpr double kGreenAlgorithmsDefaultPue = 1.56;
// Green Algorithms v3.0 power per core of the "Any" CPU, W.
inline constexpr double kGreenAlgorithmsAnyCpuWPerCore = 12.0;
// Boavizta's default server lifetime (hours_life_time of the generic archetypes): 4 years.
inline constexpr double kBoaviztaServerLifetimeHours = 35040.0;

// One constant an estimate used and where it came from.
struct Assumption {
  std::string name;    // What it is: "memory power", "PUE", "alpha_E".
  double value = 0;    // Its value, in `unit`.
  std::string unit;    // "W/GB", "gCO2e/kWh"; empty for a pure number.
  std::string source;  // Publication, dataset and licence, or "given with --pue".
};

// The tables estimates look names up in. Both must outlive the call.
struct EstimateTables {
  const HardwareCatalogue* catalogue = nullptr;  // GPUs, CPUs, servers; null: Builtin().
  const IntensityTable* intensity = nullptr;     // Zones; null: IntensityTable::Builtin().
};

// Where the carbon intensity comes from: an explicit value, a zone of the table, or (neither)
// the world average, which is then flagged. Giving both is an error.
struct IntensityChoice {
  std::optional<double> g_per_kwh;  // gCO2e/kWh (--intensity); allowed range [0, 3000].
  std::string intensity_source;     // Provenance of g_per_kwh; default "given with --intensity".
  std::string zone;                 // Zone or ISO code of the table (--zone); empty: none.
};

// Boavizta's linear allocation: the share of a whole-life embodied footprint carried by
// `duration_hours` of use, embodied × duration / lifetime, capped at the whole-life total.
// Returns 0 when lifetime_hours is not positive.
double AllocateEmbodied(double embodied, double duration_hours, double lifetime_hours);

// ---------------------------------------------------------------------------------------------
// Training: Green Algorithms.
//   P_cores = n_cpu_cores × W_per_core × u_cpu + n_gpu × W_gpu × u_gpu
//   P_mem   = memory_gb × 0.3725 W/GB
//   E (kWh) = hours × PUE × (P_cores + P_mem) × runs / 1000;  CO2e = E × CI
// Embodied (optional): (GPUs × GPU embodied + servers × server embodied) × duration / lifetime.

struct TrainingOptions {
  // GPUs: a catalogue name, a power, or both (the power then overrides the TDP). Neither means a
  // CPU-only job.
  std::string gpu_name;               // Catalogue name or alias (--gpu); empty: none.
  std::optional<double> gpu_power_w;  // Power of one GPU, W (--power-w); default: catalogue TDP.
  int64_t gpu_count = 1;              // GPUs used at the same time (--count), 1 to 1e7.
  double gpu_usage = 1.0;             // Average share of that power drawn (--usage), (0, 1].

  // Duration of one run: exactly one of the two.
  std::optional<double> hours;      // Wall-clock hours (--hours), up to 1e6.
  std::optional<double> gpu_hours;  // GPU-hours, i.e. hours × gpu_count (--gpu-hours).

  // CPU cores: a catalogue CPU (W per core = TDP / cores), a power per core, or only a core count
  // (then Green Algorithms' "Any" CPU, 12 W per core, flagged).
  std::string cpu_name;                        // Catalogue name (--cpu); empty: none.
  std::optional<int64_t> cpu_cores;            // Cores used (--cpu-cores); default with --cpu:
                                               // the cores of one package; otherwise none.
  std::optional<double> cpu_power_per_core_w;  // W per core (--cpu-power-w).
  double cpu_usage = 1.0;                      // Average core usage (--cpu-usage), (0, 1].

  double memory_gb = 0;  // Memory available to the job, GB (--memory-gb); default none.
  double pue = kGreenAlgorithmsDefaultPue;  // Power usage effectiveness (--pue), [1, 5].
  IntensityChoice intensity;                // --intensity / --zone; default world, flagged.
  double runs = 1;  // Multiplier for repeated runs: Green Algorithms' PSF (--runs), (0, 1e6].
  std::optional<double> wue_l_per_kwh;  // Water usage effectiveness, L per IT kWh (--wue).

  // Embodied carbon, Boavizta allocation over the run's wall-clock hours × runs.
  bool include_embodied = false;                // --embodied.
  std::optional<double> gpu_embodied_kgco2e;    // Per GPU (--gpu-embodied-kg); default:
                                                // catalogue, else NVIDIA H100 164 kg (flagged).
  std::string server_name = "generic-server";   // Catalogue server without GPUs (--server).
  std::optional<double> server_embodied_kgco2e;  // Per server (--server-embodied-kg); default:
                                                 // the catalogue row of server_name.
  int64_t gpus_per_server = 8;            // To count servers (--gpus-per-server), 1 to 1024.
  std::optional<int64_t> server_count;    // Servers (--servers); default ceil(GPUs / per server),
                                          // 1 for a CPU-only job.
  std::optional<double> lifetime_hours;   // Hardware lifetime, h (--lifetime-hours); default:
                                          // the server row's, else 35,040 h (Boavizta).
  double lifetime_use = 1.0;  // Share of the lifetime the hardware is busy (--lifetime-use),
                              // (0, 1]; the embodied is spread over lifetime × use hours.
};

// Embodied carbon charged to a training run.
struct EmbodiedShare {
  GramsCo2e gpus;              // Charged share of the GPUs' manufacturing.
  GramsCo2e servers;           // Charged share of the servers' (without GPUs).
  int64_t server_count = 0;    // Servers counted.
  double fraction = 0;         // duration / (lifetime × use), capped at 1.
  GramsCo2e total() const { return gpus + servers; }
};

struct TrainingEstimate {
  double wall_hours = 0;     // Wall-clock hours of one run.
  double gpu_hours = 0;      // GPU-hours of one run (0 without GPUs).
  int64_t gpu_count = 0;     // GPUs (0 for a CPU-only job).
  Watts gpu_power;           // Power of one GPU before usage.
  Watts cpu_power;           // All cores, after usage.
  Watts memory_power;        // Memory.
  Watts it_power;            // P_cores + P_mem, before PUE.
  KilowattHours it_energy;   // All runs, before PUE.
  KilowattHours energy;      // All runs, after PUE.
  Intensity intensity;       // Used for `co2e`.
  GramsCo2e co2e;            // Use phase, location-based.
  std::optional<EmbodiedShare> embodied;  // With include_embodied.
  std::optional<Litres> water;            // With wue_l_per_kwh: WUE × it_energy.
  std::vector<Assumption> assumptions;    // Every constant used, in order of use.
  std::vector<std::string> warnings;      // Fallbacks taken ("world average used: ...").
};

// Estimates one training job. InvalidArgument names the flag; NotFound for unknown names.
StatusOr<TrainingEstimate> EstimateTraining(const TrainingOptions& options,
                                            const EstimateTables& tables = {});

// ---------------------------------------------------------------------------------------------
// Inference: EcoLogits v0.9 (ecologits/impacts/llm.py), one request of `output_tokens` tokens.

struct InferenceOptions {
  double total_params_b = 0;                // Total parameters, billions (--params), (0, 1e5].
  std::optional<double> active_params_b;    // Active parameters of an MoE, billions
                                            // (--active-params); default total; <= total.
  double output_tokens = 0;                 // Generated tokens (--output-tokens), [0, 1e9].
  std::optional<double> latency_s;          // Measured request latency, s (--latency-s); caps
                                            // the modelled generation time.
  double batch_size = 64;                   // Concurrent requests per GPU (--batch), 1 to 1e5.
  double pue = 1.2;                         // --pue, [1, 5]; EcoLogits' OpenAI setting.
  double wue_onsite_l_per_kwh = 0.569;      // On-site WUE, L/kWh (--wue); OpenAI setting.
  double wue_mix_l_per_kwh = 3.1321;        // Off-site (electricity) WUE, L/kWh (--wue-mix);
                                            // EcoLogits' USA mix.
  IntensityChoice intensity;                // --intensity / --zone; default world, flagged.
  double gpu_memory_gb = 80;                // Memory of one GPU, GB (H100 80GB).
  double quantization_bits = 16;            // Bits per weight, Q.
  double memory_overhead = 1.2;             // Model memory = overhead × P_t × Q / 8 GB.
  double server_power_kw = 1.2;             // Server without GPUs, kW (p5.48xlarge).
  double gpus_per_server = 8;               // GPUs in that server.
  double server_embodied_kgco2e = 5700;     // Server without GPUs, kgCO2e (BoaviztAPI).
  double gpu_embodied_kgco2e = 164;         // One H100, kgCO2e (NVIDIA PCF summary).
  double lifetime_years = 3;                // Hardware lifetime, years of 365 days.
};

struct InferenceEstimate {
  int64_t gpu_count = 0;          // GPUs holding the model (a power of 2).
  double model_memory_gb = 0;     // Memory the model needs, GB.
  Seconds latency{0};             // Generation time used (modelled, or the measured cap).
  WattHours gpu_energy_per_token; // One GPU, per output token.
  WattHours gpu_energy;           // All GPUs, before PUE.
  WattHours server_energy;        // Server share without GPUs, before PUE.
  WattHours energy;               // Request energy after PUE.
  Intensity intensity;            // Used for usage_co2e.
  GramsCo2e usage_co2e;           // Use phase.
  GramsCo2e embodied_co2e;        // Share of server and GPU manufacturing.
  Litres water;                   // On-site plus electricity-generation water.
  std::vector<Assumption> assumptions;
  std::vector<std::string> warnings;
};

// Estimates one request: a few microseconds, so the gateway can call it per response.
StatusOr<InferenceEstimate> EstimateInference(const InferenceOptions& options,
                                              const EstimateTables& tables = {});

// ---------------------------------------------------------------------------------------------
// Service: requests/day × days requests of the inference estimate, plus a training run whose
// footprint is charged to the period in proportion days / model_lifetime_days (all of it by
// default).

struct ServiceOptions {
  double requests_per_day = 0;                // --requests-per-day, (0, 1e12].
  double days = 0;                            // Period, days (--days), (0, 36500].
  InferenceOptions inference;                 // One request (the infer flags).
  std::optional<TrainingOptions> training;    // The model's training run (--train-* flags).
  std::optional<double> model_lifetime_days;  // Days the trained model serves
                                              // (--train-amortise-days); default `days`.
};

struct ServiceEstimate {
  double requests = 0;              // requests_per_day × days.
  InferenceEstimate per_request;    // One request.
  KilowattHours inference_energy;   // All requests, after PUE.
  GramsCo2e inference_usage_co2e;   // All requests, use phase.
  GramsCo2e inference_embodied_co2e;
  Litres inference_water;
  std::optional<TrainingEstimate> training;  // The whole run, before amortisation.
  double training_fraction = 0;     // Share of the run charged to the period, [0, 1].
  KilowattHours training_energy;    // Charged share.
  GramsCo2e training_co2e;          // Charged share, use phase plus embodied if estimated.
  Litres training_water;            // Charged share, if estimated.
  KilowattHours energy;             // Inference plus training.
  GramsCo2e co2e;                   // Inference (use + embodied) plus training.
  Litres water;
  double inference_share = 0;       // Inference's share of co2e, [0, 1].
  double training_share = 0;        // Training's share of co2e, [0, 1].
  std::vector<Assumption> assumptions;  // Service-level (the parts carry their own).
  std::vector<std::string> warnings;
};

// Estimates a service. Training options are checked with "--train-" flag names.
StatusOr<ServiceEstimate> EstimateService(const ServiceOptions& options,
                                          const EstimateTables& tables = {});

}  // namespace sobre::footprint

#endif  // SOBRE_FOOTPRINT_ESTIMATE_H_
