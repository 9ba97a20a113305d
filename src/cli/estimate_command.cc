// `sobre estimate train|infer|service`: footprint of a training run, one inference request or a
// whole service before it exists, with every constant used and its source.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <fmt/core.h>

#include "cli/command.h"
#include "cli/output.h"
#include "footprint/estimate.h"
#include "footprint/hardware_catalogue.h"

namespace sobre::cli {
namespace {

namespace json = boost::json;
using footprint::Assumption;
using footprint::EstimateTables;
using footprint::HardwareCatalogue;
using footprint::InferenceEstimate;
using footprint::InferenceOptions;
using footprint::Intensity;
using footprint::TrainingEstimate;
using footprint::TrainingOptions;

// ---- Flags. Optional ones stay unset so that the library defaults (and their sources) apply.

struct TrainFlags {
  std::optional<std::string> gpu;
  std::optional<double> power_w;
  std::optional<int64_t> count;
  std::optional<double> hours;
  std::optional<double> gpu_hours;
  std::optional<double> usage;
  std::optional<std::string> cpu;
  std::optional<int64_t> cpu_cores;
  std::optional<double> cpu_power_w;
  std::optional<double> cpu_usage;
  std::optional<double> memory_gb;
  std::optional<double> pue;
  std::optional<std::string> zone;
  std::optional<double> intensity;
  std::optional<double> runs;
  std::optional<double> wue;
  bool embodied = false;
  std::optional<double> gpu_embodied_kg;
  std::optional<std::string> server;
  std::optional<double> server_embodied_kg;
  std::optional<int64_t> gpus_per_server;
  std::optional<int64_t> servers;
  std::optional<double> lifetime_hours;
  std::optional<double> lifetime_use;

  // True when any of these flags was given (for `service`, where training is optional).
  bool AnyGiven() const {
    return gpu || power_w || count || hours || gpu_hours || usage || cpu || cpu_cores ||
           cpu_power_w || cpu_usage || memory_gb || pue || zone || intensity || runs || wue ||
           embodied || gpu_embodied_kg || server || server_embodied_kg || gpus_per_server ||
           servers || lifetime_hours || lifetime_use;
  }

  TrainingOptions ToOptions() const {
    TrainingOptions o;
    if (gpu) o.gpu_name = *gpu;
    o.gpu_power_w = power_w;
    if (count) o.gpu_count = *count;
    o.hours = hours;
    o.gpu_hours = gpu_hours;
    if (usage) o.gpu_usage = *usage;
    if (cpu) o.cpu_name = *cpu;
    o.cpu_cores = cpu_cores;
    o.cpu_power_per_core_w = cpu_power_w;
    if (cpu_usage) o.cpu_usage = *cpu_usage;
    if (memory_gb) o.memory_gb = *memory_gb;
    if (pue) o.pue = *pue;
    if (zone) o.intensity.zone = *zone;
    o.intensity.g_per_kwh = intensity;
    if (runs) o.runs = *runs;
    o.wue_l_per_kwh = wue;
    o.include_embodied = embodied;
    o.gpu_embodied_kgco2e = gpu_embodied_kg;
    if (server) o.server_name = *server;
    o.server_embodied_kgco2e = server_embodied_kg;
    if (gpus_per_server) o.gpus_per_server = *gpus_per_server;
    o.server_count = servers;
    o.lifetime_hours = lifetime_hours;
    if (lifetime_use) o.lifetime_use = *lifetime_use;
    return o;
  }
};

struct InferFlags {
  double params = 0;
  std::optional<double> active_params;
  double output_tokens = 0;
  std::optional<double> latency_s;
  std::optional<double> batch;
  std::optional<double> pue;
  std::optional<double> wue;
  std::optional<double> wue_mix;
  std::optional<std::string> zone;
  std::optional<double> intensity;

  InferenceOptions ToOptions() const {
    InferenceOptions o;
    o.total_params_b = params;
    o.active_params_b = active_params;
    o.output_tokens = output_tokens;
    o.latency_s = latency_s;
    if (batch) o.batch_size = *batch;
    if (pue) o.pue = *pue;
    if (wue) o.wue_onsite_l_per_kwh = *wue;
    if (wue_mix) o.wue_mix_l_per_kwh = *wue_mix;
    if (zone) o.intensity.zone = *zone;
    o.intensity.g_per_kwh = intensity;
    return o;
  }
};

struct CommonFlags {
  std::optional<std::string> hardware_file;
  bool json = false;
};

struct TrainCommand {
  TrainFlags train;
  CommonFlags common;
};

struct InferCommand {
  InferFlags infer;
  bool json = false;
};

struct ServiceCommand {
  double requests_per_day = 0;
  double days = 0;
  std::optional<double> amortise_days;
  InferFlags infer;
  TrainFlags train;
  CommonFlags common;
};

// Registers the training flags as "--<prefix>name", in help group `group`.
void AddTrainFlags(CLI::App* cmd, TrainFlags& f, const std::string& prefix,
                   const std::string& group) {
  auto name = [&](const char* n) { return "--" + prefix + n; };
  auto add = [&](const char* n, auto& var, const std::string& help) {
    cmd->add_option(name(n), var, help)->group(group);
  };
  add("gpu", f.gpu,
      "GPU model from the hardware catalogue (e.g. A100-SXM4-80GB, H100-SXM5-80GB); gives the "
      "power (TDP) and embodied carbon. Unknown names list the closest entries");
  add("power-w", f.power_w,
      "Power of one GPU in W, instead of or overriding the catalogue TDP (e.g. 400; Meta and "
      "the BLOOM paper use TDP)");
  add("count", f.count, "Number of GPUs used at the same time (default 1)");
  add("hours", f.hours, "Wall-clock duration of one run, hours (give this or GPU-hours)");
  add("gpu-hours", f.gpu_hours,
      "GPU-hours of one run (= hours × count), as published in model cards");
  add("usage", f.usage, "Average share of the GPU power drawn, in (0, 1] (default 1)");
  add("cpu", f.cpu,
      "CPU model from the catalogue; power per core = TDP / cores (default cores: one package)");
  add("cpu-cores", f.cpu_cores,
      "CPU cores used; alone, Green Algorithms' \"Any\" CPU at 12 W per core is assumed");
  add("cpu-power-w", f.cpu_power_w, "CPU power per core in W (needs --" + prefix + "cpu-cores)");
  add("cpu-usage", f.cpu_usage, "Average core usage, in (0, 1] (default 1)");
  add("memory-gb", f.memory_gb,
      "Memory available to the job in GB, counted at 0.3725 W/GB (default 0)");
  add("pue", f.pue,
      "Power usage effectiveness of the data centre, 1.0-5.0 (default 1.56, Green Algorithms' "
      "unknown data centre; Meta uses 1.1, Google ~1.1, a PC 1.0)");
  add("zone", f.zone,
      "Grid zone for the carbon intensity: ISO country code (FR, USA) or grid zone");
  add("intensity", f.intensity,
      "Carbon intensity in gCO2e/kWh (instead of --" + prefix +
          "zone; default: world average, flagged)");
  add("runs", f.runs,
      "Multiplier for repeated runs (tuning, restarts), Green Algorithms' PSF (default 1)");
  add("wue", f.wue, "Water usage effectiveness in L per IT kWh; water is reported only if given");
  cmd->add_flag(name("embodied"), f.embodied,
                "Include embodied (manufacturing) carbon of GPUs and servers, allocated over the "
                "run's share of the hardware lifetime (Boavizta)")
      ->group(group);
  add("gpu-embodied-kg", f.gpu_embodied_kg,
      "Embodied carbon of one GPU, kgCO2e (default: catalogue, else NVIDIA H100 164 kg)");
  add("server", f.server,
      "Server (without GPUs) from the catalogue for embodied carbon (default generic-server)");
  add("server-embodied-kg", f.server_embodied_kg,
      "Embodied carbon of one server without GPUs, kgCO2e (overrides --" + prefix + "server)");
  add("gpus-per-server", f.gpus_per_server, "GPUs per server, to count servers (default 8)");
  add("servers", f.servers,
      "Number of servers (default: ceil(count / GPUs per server); 1 without GPUs)");
  add("lifetime-hours", f.lifetime_hours,
      "Hardware lifetime in hours (default: the server row's, else 35040 h = 4 years)");
  add("lifetime-use", f.lifetime_use,
      "Share of the lifetime the hardware is busy, in (0, 1] (default 1; BLOOM paper 0.85)");
}

// Registers the inference flags; `required` marks --params and --output-tokens.
void AddInferFlags(CLI::App* cmd, InferFlags& f, const std::string& group) {
  cmd->add_option("--params", f.params,
                  "Total parameters of the model, in billions (e.g. 70 for a 70B model)")
      ->required()
      ->group(group);
  cmd->add_option("--active-params", f.active_params,
                  "Active parameters per token of a mixture-of-experts model, billions "
                  "(default: --params)")
      ->group(group);
  cmd->add_option("--output-tokens", f.output_tokens, "Generated (output) tokens per request")
      ->required()
      ->group(group);
  cmd->add_option("--latency-s", f.latency_s,
                  "Measured request latency in seconds; caps the modelled generation time")
      ->group(group);
  cmd->add_option("--batch", f.batch, "Requests served together per GPU (default 64)")
      ->group(group);
  cmd->add_option("--pue", f.pue,
                  "Power usage effectiveness, 1.0-5.0 (default 1.2, EcoLogits' OpenAI setting)")
      ->group(group);
  cmd->add_option("--wue", f.wue,
                  "On-site water usage effectiveness, L/kWh (default 0.569, EcoLogits' OpenAI "
                  "setting)")
      ->group(group);
  cmd->add_option("--wue-mix", f.wue_mix,
                  "Water consumed generating the electricity, L/kWh (default 3.1321, EcoLogits' "
                  "USA mix)")
      ->group(group);
  cmd->add_option("--zone", f.zone,
                  "Grid zone for the carbon intensity: ISO country code (FR, USA) or grid zone")
      ->group(group);
  cmd->add_option("--intensity", f.intensity,
                  "Carbon intensity in gCO2e/kWh (instead of --zone; default: world average, "
                  "flagged)")
      ->group(group);
}

// ---- Output.

std::string Figure(double v) { return FormatFigure(v); }

// Exact value of a constant: the shortest text that reads back the same double.
std::string Exact(double v) { return fmt::format("{}", v); }

std::string IntensityLabel(const Intensity& i) {
  std::string label = fmt::format("{} gCO2e/kWh", Exact(i.g_per_kwh));
  if (!i.zone.empty()) label += " (" + i.zone + ")";
  if (i.is_world_fallback) label += ", world average";
  return label;
}

void AppendConstants(std::string& out, const std::vector<Assumption>& assumptions,
                     const std::vector<std::string>& warnings) {
  for (const Assumption& a : assumptions) {
    out += fmt::format("  {} {}{}{} — {}\n", a.name, Exact(a.value), a.unit.empty() ? "" : " ",
                       a.unit, a.source);
  }
  for (const std::string& w : warnings) out += "  note: " + w + "\n";
}

json::array AssumptionsJson(const std::vector<Assumption>& assumptions) {
  json::array arr;
  for (const Assumption& a : assumptions) {
    arr.push_back(json::object{
        {"name", a.name}, {"value", a.value}, {"unit", a.unit}, {"source", a.source}});
  }
  return arr;
}

json::array WarningsJson(const std::vector<std::string>& warnings) {
  json::array arr;
  for (const std::string& w : warnings) arr.push_back(json::value(w));
  return arr;
}

json::object IntensityJson(const Intensity& i) {
  return json::object{{"g_per_kwh", i.g_per_kwh},
                      {"zone", i.zone},
                      {"source", i.source},
                      {"world_fallback", i.is_world_fallback}};
}

double TotalTrainingKg(const TrainingEstimate& e) {
  double g = e.co2e.value();
  if (e.embodied) g += e.embodied->total().value();
  return g / 1000;
}

json::object TrainingJson(const TrainingEstimate& e) {
  json::object o;
  o["method"] = "Green Algorithms v3.0";
  o["energy_kwh"] = e.energy.value();
  o["it_energy_kwh"] = e.it_energy.value();
  o["co2e_kg"] = e.co2e.value() / 1000;
  if (e.embodied) o["embodied_co2e_kg"] = e.embodied->total().value() / 1000;
  o["total_co2e_kg"] = TotalTrainingKg(e);
  if (e.water) o["water_l"] = e.water->value();
  o["hours"] = e.wall_hours;
  o["gpu_count"] = e.gpu_count;
  o["gpu_hours"] = e.gpu_hours;
  o["gpu_power_w"] = e.gpu_power.value();
  o["cpu_power_w"] = e.cpu_power.value();
  o["memory_power_w"] = e.memory_power.value();
  o["it_power_w"] = e.it_power.value();
  o["intensity"] = IntensityJson(e.intensity);
  if (e.embodied) {
    o["embodied"] = json::object{{"gpus_kg", e.embodied->gpus.value() / 1000},
                                 {"servers_kg", e.embodied->servers.value() / 1000},
                                 {"server_count", e.embodied->server_count},
                                 {"lifetime_fraction", e.embodied->fraction}};
  }
  o["assumptions"] = AssumptionsJson(e.assumptions);
  o["warnings"] = WarningsJson(e.warnings);
  return o;
}

json::object InferenceJson(const InferenceEstimate& e) {
  json::object o;
  o["method"] = "EcoLogits v0.9";
  o["energy_wh"] = e.energy.value();
  o["co2e_g"] = e.usage_co2e.value();
  o["embodied_co2e_g"] = e.embodied_co2e.value();
  o["water_ml"] = e.water.value() * 1000;
  o["gpu_count"] = e.gpu_count;
  o["latency_s"] = e.latency.count();
  o["model_memory_gb"] = e.model_memory_gb;
  o["gpu_energy_wh"] = e.gpu_energy.value();
  o["server_energy_wh"] = e.server_energy.value();
  o["intensity"] = IntensityJson(e.intensity);
  o["assumptions"] = AssumptionsJson(e.assumptions);
  o["warnings"] = WarningsJson(e.warnings);
  return o;
}

// {"kind": kind} followed by the members of `rest`.
json::object WithKind(std::string_view kind, const json::object& rest) {
  json::object o;
  o["kind"] = kind;
  for (const auto& kv : rest) o[kv.key()] = kv.value();
  return o;
}

void AppendTrainingFigures(std::string& out, const TrainingEstimate& e) {
  if (e.gpu_count > 0) {
    out += fmt::format("  GPUs          {} × {} W for {} h ({} GPU-hours)\n", e.gpu_count,
                       Figure(e.gpu_power.value()), Figure(e.wall_hours), Figure(e.gpu_hours));
  } else {
    out += fmt::format("  duration      {} h\n", Figure(e.wall_hours));
  }
  if (e.cpu_power.value() > 0) {
    out += fmt::format("  CPU power     {} W\n", Figure(e.cpu_power.value()));
  }
  if (e.memory_power.value() > 0) {
    out += fmt::format("  memory power  {} W\n", Figure(e.memory_power.value()));
  }
  out += fmt::format("  IT power      {} W\n", Figure(e.it_power.value()));
  const double pue = e.it_energy.value() > 0 ? e.energy / e.it_energy : 0;
  out += fmt::format("  energy        {} kWh ({} kWh IT × PUE {:.3g})\n", Figure(e.energy.value()),
                     Figure(e.it_energy.value()), pue);
  const double kg = e.co2e.value() / 1000;
  out += fmt::format("  carbon        {} kgCO2e ({:.2f} tCO2e) at {}\n", Figure(kg), kg / 1000,
                     IntensityLabel(e.intensity));
  if (e.embodied) {
    out += fmt::format(
        "  embodied      {} kgCO2e (GPUs {}, {} servers {}; {:.4g}% of the lifetime)\n",
        Figure(e.embodied->total().value() / 1000), Figure(e.embodied->gpus.value() / 1000),
        e.embodied->server_count, Figure(e.embodied->servers.value() / 1000),
        e.embodied->fraction * 100);
    const double total = TotalTrainingKg(e);
    out += fmt::format("  total carbon  {} kgCO2e ({:.2f} tCO2e)\n", Figure(total), total / 1000);
  }
  if (e.water) out += fmt::format("  water         {} L\n", Figure(e.water->value()));
}

void AppendInferenceFigures(std::string& out, const InferenceEstimate& e) {
  out += fmt::format("  GPUs          {} (model needs {} GB)\n", e.gpu_count,
                     Figure(e.model_memory_gb));
  out += fmt::format("  latency       {} s\n", Figure(e.latency.count()));
  out += fmt::format("  energy        {} Wh (GPUs {} Wh, server {} Wh, before PUE)\n",
                     Figure(e.energy.value()), Figure(e.gpu_energy.value()),
                     Figure(e.server_energy.value()));
  out += fmt::format("  carbon        {} gCO2e at {}\n", Figure(e.usage_co2e.value()),
                     IntensityLabel(e.intensity));
  out += fmt::format("  embodied      {} gCO2e\n", Figure(e.embodied_co2e.value()));
  out += fmt::format("  water         {} mL\n", Figure(e.water.value() * 1000));
}

// Loads --hardware-file when given; `storage` keeps the catalogue alive.
StatusOr<EstimateTables> Tables(const CommonFlags& f, std::optional<HardwareCatalogue>& storage) {
  EstimateTables tables;
  if (f.hardware_file) {
    auto c = HardwareCatalogue::WithOverrides(*f.hardware_file);
    if (!c.ok()) return c.status().WithContext("--hardware-file");
    storage = std::move(c).value();
    tables.catalogue = &*storage;
  }
  return tables;
}

// ---- Commands.

int RunTrain(const TrainCommand& cmd) {
  std::optional<HardwareCatalogue> storage;
  auto tables = Tables(cmd.common, storage);
  if (!tables.ok()) return ReportError("estimate train", tables.status());
  auto e = footprint::EstimateTraining(cmd.train.ToOptions(), *tables);
  if (!e.ok()) return ReportError("estimate train", e.status());
  if (cmd.common.json) {
    json::object o = WithKind("train", TrainingJson(*e));
    std::fputs(PrettyJson(o).c_str(), stdout);
    return kExitOk;
  }
  std::string out = "Training estimate (Green Algorithms method)\n";
  AppendTrainingFigures(out, *e);
  out += "\nConstants and sources\n";
  AppendConstants(out, e->assumptions, e->warnings);
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

int RunInfer(const InferCommand& cmd) {
  auto e = footprint::EstimateInference(cmd.infer.ToOptions());
  if (!e.ok()) return ReportError("estimate infer", e.status());
  if (cmd.json) {
    json::object o = WithKind("infer", InferenceJson(*e));
    std::fputs(PrettyJson(o).c_str(), stdout);
    return kExitOk;
  }
  std::string out = "Inference estimate, one request (EcoLogits v0.9 model)\n";
  AppendInferenceFigures(out, *e);
  out += "\nConstants and sources\n";
  AppendConstants(out, e->assumptions, e->warnings);
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

int RunService(const ServiceCommand& cmd) {
  std::optional<HardwareCatalogue> storage;
  auto tables = Tables(cmd.common, storage);
  if (!tables.ok()) return ReportError("estimate service", tables.status());
  footprint::ServiceOptions options;
  options.requests_per_day = cmd.requests_per_day;
  options.days = cmd.days;
  options.inference = cmd.infer.ToOptions();
  if (cmd.train.AnyGiven()) options.training = cmd.train.ToOptions();
  options.model_lifetime_days = cmd.amortise_days;
  auto e = footprint::EstimateService(options, *tables);
  if (!e.ok()) return ReportError("estimate service", e.status());

  const double inference_kg =
      (e->inference_usage_co2e + e->inference_embodied_co2e).value() / 1000;
  if (cmd.common.json) {
    json::object o;
    o["kind"] = "service";
    o["requests_per_day"] = cmd.requests_per_day;
    o["days"] = cmd.days;
    o["requests"] = e->requests;
    o["energy_kwh"] = e->energy.value();
    o["co2e_kg"] = e->co2e.value() / 1000;
    o["water_l"] = e->water.value();
    o["inference"] = json::object{
        {"energy_kwh", e->inference_energy.value()},
        {"co2e_kg", e->inference_usage_co2e.value() / 1000},
        {"embodied_co2e_kg", e->inference_embodied_co2e.value() / 1000},
        {"total_co2e_kg", inference_kg},
        {"water_l", e->inference_water.value()},
        {"per_request", InferenceJson(e->per_request)}};
    if (e->training) {
      json::object t;
      t["fraction_charged"] = e->training_fraction;
      t["energy_kwh"] = e->training_energy.value();
      t["co2e_kg"] = e->training_co2e.value() / 1000;
      if (e->training->water) t["water_l"] = e->training_water.value();
      t["run"] = TrainingJson(*e->training);
      o["training"] = std::move(t);
    } else {
      o["training"] = nullptr;
    }
    o["split"] = json::object{{"inference_share", e->inference_share},
                              {"training_share", e->training_share},
                              {"inference_co2e_kg", inference_kg},
                              {"training_co2e_kg", e->training_co2e.value() / 1000}};
    o["assumptions"] = AssumptionsJson(e->assumptions);
    o["warnings"] = WarningsJson(e->warnings);
    std::fputs(PrettyJson(o).c_str(), stdout);
    return kExitOk;
  }

  std::string out = fmt::format("Service estimate: {} requests ({} per day for {} days)\n",
                                Figure(e->requests), Figure(cmd.requests_per_day),
                                Figure(cmd.days));
  out += fmt::format("  energy        {} kWh\n", Figure(e->energy.value()));
  out += fmt::format("  carbon        {} kgCO2e (use + embodied)\n",
                     Figure(e->co2e.value() / 1000));
  out += fmt::format("  water         {} L\n", Figure(e->water.value()));
  out += fmt::format("  split         inference {:.1f}%, training {:.1f}%\n",
                     e->inference_share * 100, e->training_share * 100);
  out += fmt::format(
      "\nInference: {} kWh, {} kgCO2e use + {} kgCO2e embodied, {} L\n",
      Figure(e->inference_energy.value()), Figure(e->inference_usage_co2e.value() / 1000),
      Figure(e->inference_embodied_co2e.value() / 1000), Figure(e->inference_water.value()));
  out += "Per request:\n";
  AppendInferenceFigures(out, e->per_request);
  if (e->training) {
    out += fmt::format("\nTraining: {} kWh, {} kgCO2e charged ({:.4g}% of the run)\n",
                       Figure(e->training_energy.value()),
                       Figure(e->training_co2e.value() / 1000), e->training_fraction * 100);
    out += "Whole run:\n";
    AppendTrainingFigures(out, *e->training);
  }
  out += "\nConstants and sources (inference)\n";
  AppendConstants(out, e->per_request.assumptions, e->per_request.warnings);
  if (e->training) {
    out += "\nConstants and sources (training)\n";
    AppendConstants(out, e->training->assumptions, e->training->warnings);
    AppendConstants(out, e->assumptions, e->warnings);
  }
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

constexpr char kTrainFooter[] =
    "Method (Green Algorithms v3.0):\n"
    "  P = cores × W/core × cpu-usage + count × GPU W × usage + memory-gb × 0.3725 W/GB\n"
    "  energy (kWh) = hours × PUE × P × runs / 1000; CO2e = energy × intensity\n"
    "  embodied = (GPUs × GPU kg + servers × server kg) × hours × runs / (lifetime × use), "
    "capped at 1\n"
    "  water = WUE × IT energy (before PUE)\n"
    "Example (Llama 2 7B, Meta's figures): sobre estimate train --power-w 400 "
    "--gpu-hours 184320 --pue 1.1 --intensity 385";

constexpr char kInferFooter[] =
    "Method (EcoLogits v0.9, one request; H100 80GB + vLLM fit):\n"
    "  Wh/token/GPU = 1.1665e-6 × e^(-0.011206 × batch) × active + 4.0529e-5\n"
    "  latency = tokens × (6.785e-4 × active + 3.119e-4 × batch + 0.019474) s\n"
    "  GPUs = power of 2 ≥ 1.2 × params × 16 bit / 8 / 80 GB\n"
    "  energy = PUE × (GPUs × tokens × Wh/token + latency × 1.2 kW × GPUs/8 / batch)\n"
    "  embodied = latency × (GPUs/8 × 5700 + GPUs × 164) kg / (3 years × batch)\n"
    "  water = energy × (WUE + PUE × WUE mix)";

constexpr char kServiceFooter[] =
    "Inference is requests-per-day × days × one request of `sobre estimate infer`.\n"
    "A training run is added when any --train-* flag is given; the --train-* flags are those of\n"
    "`sobre estimate train` with a train- prefix (--train-gpu, --train-gpu-hours, --train-pue, \n"
    "--train-zone...). None inherits from the inference flags. The whole run is charged to the\n"
    "period unless --train-amortise-days spreads it over the model's serving life.";

}  // namespace

void AddEstimateCommand(CLI::App& app, CliContext& ctx) {
  CLI::App* estimate = app.add_subcommand(
      "estimate",
      "Estimate the energy, carbon, water and embodied footprint of a training run (train), one "
      "LLM request (infer) or a whole service (service) before it exists. Every constant used is "
      "printed with its source.");
  estimate->require_subcommand(1);

  auto train = std::make_shared<TrainCommand>();
  CLI::App* train_cmd = estimate->add_subcommand(
      "train", "Training run, Green Algorithms method (GPU/CPU power × hours × PUE × intensity)");
  AddTrainFlags(train_cmd, train->train, "", "Training run");
  train_cmd->add_option("--hardware-file", train->common.hardware_file,
                        "CSV of catalogue rows (kind,...) overriding the shipped hardware "
                        "catalogue");
  train_cmd->add_flag("--json", train->common.json, "Print the result as JSON on stdout");
  train_cmd->footer(kTrainFooter);
  train_cmd->callback([train, &ctx] { ctx.exit_code = RunTrain(*train); });

  auto infer = std::make_shared<InferCommand>();
  CLI::App* infer_cmd = estimate->add_subcommand(
      "infer", "One LLM inference request, EcoLogits v0.9 model (parameters × output tokens)");
  AddInferFlags(infer_cmd, infer->infer, "Request");
  infer_cmd->add_flag("--json", infer->json, "Print the result as JSON on stdout");
  infer_cmd->footer(kInferFooter);
  infer_cmd->callback([infer, &ctx] { ctx.exit_code = RunInfer(*infer); });

  auto service = std::make_shared<ServiceCommand>();
  CLI::App* service_cmd = estimate->add_subcommand(
      "service",
      "A service over a period: requests × one request, plus an optional training run (--train-*)");
  service_cmd->add_option("--requests-per-day", service->requests_per_day,
                          "Requests served per day (average)")
      ->required()
      ->group("Service");
  service_cmd->add_option("--days", service->days, "Length of the period, days")
      ->required()
      ->group("Service");
  AddInferFlags(service_cmd, service->infer, "Each request");
  AddTrainFlags(service_cmd, service->train, "train-", "Training run (optional)");
  service_cmd->add_option("--train-amortise-days", service->amortise_days,
                          "Days the trained model serves; the period's share days / this is "
                          "charged (default: the whole run)")
      ->group("Training run (optional)");
  service_cmd->add_option("--hardware-file", service->common.hardware_file,
                          "CSV of catalogue rows overriding the shipped hardware catalogue");
  service_cmd->add_flag("--json", service->common.json, "Print the result as JSON on stdout");
  service_cmd->footer(kServiceFooter);
  service_cmd->callback([service, &ctx] { ctx.exit_code = RunService(*service); });
}

}  // namespace sobre::cli
