// `sobre measure [options] -- CMD [ARGS...]`: runs a command and reports its energy, carbon,
// water and embodied footprint.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "cli/command.h"
#include "cli/measure_report.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/file.h"
#include "core/strings.h"
#include "core/subprocess.h"
#include "footprint/footprint.h"
#include "footprint/hardware_catalogue.h"
#include "footprint/intensity.h"
#include "footprint/meter.h"

namespace sobre::cli {
namespace {

using footprint::HardwareCatalogue;
using footprint::Intensity;

// Flags as given; optional ones stay unset so that a config file can fill them.
struct MeasureFlags {
  std::vector<std::string> command;
  std::optional<std::string> zone;
  std::optional<double> intensity;
  std::optional<std::string> intensity_file;
  std::optional<double> pue;
  std::optional<double> wue;
  std::optional<double> cpu_tdp_w;
  std::optional<double> ram_gb;
  std::optional<double> ram_w_per_gb;
  std::optional<double> interval_s;
  std::optional<std::string> server;
  std::optional<double> embodied_kg;
  std::optional<double> lifetime_years;
  std::optional<std::string> hardware_file;
  std::optional<std::string> intensity_table;
  std::optional<std::string> config_file;
  std::optional<std::string> csv_file;
  std::string project_name = "sobre";
  bool json = false;
  bool whole_machine = false;
  bool no_progress = false;
};

// Fills unset flags from the config file's footprint.* settings.
Status ApplyConfig(MeasureFlags& f) {
  if (!f.config_file) {
    if (const char* env = std::getenv("SOBRE_CONFIG")) f.config_file = env;
  }
  if (!f.config_file) return OkStatus();
  SOBRE_ASSIGN_OR_RETURN(Config config, Config::LoadFile(*f.config_file));
  SOBRE_RETURN_IF_ERROR(config.CheckKnownKeys(
      {"footprint.zone", "footprint.intensity_g_per_kwh", "footprint.intensity_file",
       "footprint.pue", "footprint.wue_l_per_kwh", "footprint.cpu_tdp_w", "footprint.ram_gb",
       "footprint.ram_w_per_gb", "footprint.interval_s", "footprint.server",
       "footprint.embodied_kgco2e", "footprint.lifetime_years", "footprint.hardware_file",
       "footprint.intensity_table", "footprint.project_name"}));
  auto str = [&](const char* key, std::optional<std::string>& out) {
    if (!out) out = config.GetString(key);
  };
  auto num = [&](const char* key, std::optional<double>& out) -> Status {
    SOBRE_ASSIGN_OR_RETURN(std::optional<double> v, config.GetDouble(key));
    if (!out) out = v;
    return OkStatus();
  };
  str("footprint.zone", f.zone);
  str("footprint.intensity_file", f.intensity_file);
  str("footprint.server", f.server);
  str("footprint.hardware_file", f.hardware_file);
  str("footprint.intensity_table", f.intensity_table);
  if (auto p = config.GetString("footprint.project_name")) f.project_name = *p;
  SOBRE_RETURN_IF_ERROR(num("footprint.intensity_g_per_kwh", f.intensity));
  SOBRE_RETURN_IF_ERROR(num("footprint.pue", f.pue));
  SOBRE_RETURN_IF_ERROR(num("footprint.wue_l_per_kwh", f.wue));
  SOBRE_RETURN_IF_ERROR(num("footprint.cpu_tdp_w", f.cpu_tdp_w));
  SOBRE_RETURN_IF_ERROR(num("footprint.ram_gb", f.ram_gb));
  SOBRE_RETURN_IF_ERROR(num("footprint.ram_w_per_gb", f.ram_w_per_gb));
  SOBRE_RETURN_IF_ERROR(num("footprint.interval_s", f.interval_s));
  SOBRE_RETURN_IF_ERROR(num("footprint.embodied_kgco2e", f.embodied_kg));
  SOBRE_RETURN_IF_ERROR(num("footprint.lifetime_years", f.lifetime_years));
  return OkStatus();
}

Status CheckRange(const char* flag, const std::optional<double>& v, double lo, double hi,
                  const char* unit) {
  if (!v) return OkStatus();
  if (*v < lo || *v > hi) {
    return InvalidArgumentError(fmt::format("{} must be between {:g} and {:g} {}, got {:g}", flag,
                                            lo, hi, unit, *v));
  }
  return OkStatus();
}

Status Validate(const MeasureFlags& f) {
  SOBRE_RETURN_IF_ERROR(CheckRange("--pue", f.pue, 1.0, 5.0, "(facility energy / IT energy)"));
  SOBRE_RETURN_IF_ERROR(CheckRange("--wue", f.wue, 0.0, 20.0, "L/kWh"));
  SOBRE_RETURN_IF_ERROR(CheckRange("--intensity", f.intensity, 0.0, 3000.0, "gCO2e/kWh"));
  SOBRE_RETURN_IF_ERROR(CheckRange("--cpu-tdp-w", f.cpu_tdp_w, 0.1, 10000.0, "W"));
  SOBRE_RETURN_IF_ERROR(CheckRange("--ram-gb", f.ram_gb, 0.01, 1e6, "GB"));
  SOBRE_RETURN_IF_ERROR(CheckRange("--ram-w-per-gb", f.ram_w_per_gb, 0.0, 10.0, "W/GB"));
  SOBRE_RETURN_IF_ERROR(CheckRange("--interval", f.interval_s, 0.01, 60.0, "s"));
  SOBRE_RETURN_IF_ERROR(CheckRange("--embodied-kg", f.embodied_kg, 0.0, 1e7, "kgCO2e"));
  SOBRE_RETURN_IF_ERROR(CheckRange("--lifetime-years", f.lifetime_years, 0.1, 50.0, "years"));
  if (f.intensity && f.intensity_file) {
    return InvalidArgumentError("give either --intensity or --intensity-file, not both");
  }
  if (f.server && f.embodied_kg) {
    return InvalidArgumentError("give either --server or --embodied-kg, not both");
  }
  if (f.command.empty()) {
    return InvalidArgumentError("no command to measure: sobre measure [options] -- CMD [ARGS...]");
  }
  return OkStatus();
}

// Intensity known before the run (flag, zone, or world fallback). An hourly file is read now so
// that a bad file fails before the command runs, and averaged over the run afterwards.
struct IntensityPlan {
  Intensity fixed;
  std::optional<footprint::IntensitySeries> series;
};

StatusOr<IntensityPlan> PlanIntensity(const MeasureFlags& f) {
  IntensityPlan plan;
  if (f.intensity_file && !f.intensity) {
    SOBRE_ASSIGN_OR_RETURN(plan.series, footprint::IntensitySeries::LoadFile(*f.intensity_file));
    return plan;
  }
  const footprint::IntensityTable* table = &footprint::IntensityTable::Builtin();
  std::optional<footprint::IntensityTable> user_table;
  if (f.intensity_table) {
    StatusOr<std::string> text = ReadFile(*f.intensity_table, 16u << 20);
    if (!text.ok()) return text.status().WithContext("--intensity-table");
    StatusOr<footprint::IntensityTable> parsed =
        footprint::IntensityTable::Parse(*text, *f.intensity_table);
    if (!parsed.ok()) return parsed.status().WithContext("--intensity-table");
    user_table = std::move(*parsed);
    table = &*user_table;
  }
  StatusOr<Intensity> v = footprint::ResolveIntensity(f.intensity, "given with --intensity",
                                                       f.zone.value_or(""), *table);
  if (!v.ok()) return v.status().WithContext("--zone");
  plan.fixed = std::move(*v);
  return plan;
}

StatusOr<std::vector<footprint::EmbodiedItem>> PlanEmbodied(const MeasureFlags& f,
                                                            const HardwareCatalogue& catalogue,
                                                            double& lifetime_hours) {
  std::vector<footprint::EmbodiedItem> items;
  footprint::EmbodiedItem host;
  if (f.embodied_kg) {
    host.name = "host";
    host.kgco2e = *f.embodied_kg;
    host.lifetime_hours = f.lifetime_years.value_or(4.0) * 8760.0;
    host.source = fmt::format("--embodied-kg, lifetime {:g} years{}", host.lifetime_hours / 8760,
                              f.lifetime_years ? "" : " (Boavizta's default server lifetime)");
  } else {
    std::string name = f.server.value_or("generic-server");
    StatusOr<const footprint::ServerSpec*> spec = catalogue.FindServer(name);
    if (!spec.ok()) return spec.status().WithContext("--server");
    host.name = (*spec)->name;
    host.kgco2e = (*spec)->embodied_kgco2e;
    host.lifetime_hours = f.lifetime_years ? *f.lifetime_years * 8760.0 : (*spec)->lifetime_hours;
    host.source = (*spec)->source + (f.server ? "" : " (default host; set --server or --embodied-kg)");
  }
  lifetime_hours = host.lifetime_hours;
  items.push_back(host);
  return items;
}

int RunMeasure(MeasureFlags f) {
  if (Status s = ApplyConfig(f); !s.ok()) return ReportError("measure", s);
  if (Status s = Validate(f); !s.ok()) return ReportError("measure", s);

  const HardwareCatalogue* catalogue = &HardwareCatalogue::Builtin();
  std::optional<HardwareCatalogue> overridden;
  if (f.hardware_file) {
    StatusOr<HardwareCatalogue> c = HardwareCatalogue::WithOverrides(*f.hardware_file);
    if (!c.ok()) return ReportError("measure", c.status().WithContext("--hardware-file"));
    overridden = std::move(*c);
    catalogue = &*overridden;
  }
  StatusOr<IntensityPlan> intensity = PlanIntensity(f);
  if (!intensity.ok()) return ReportError("measure", intensity.status());
  double host_lifetime_hours = 0;
  StatusOr<std::vector<footprint::EmbodiedItem>> embodied =
      PlanEmbodied(f, *catalogue, host_lifetime_hours);
  if (!embodied.ok()) return ReportError("measure", embodied.status());

  footprint::MeterOptions options;
  if (const char* v = std::getenv("SOBRE_POWERCAP_ROOT")) options.powercap_root = v;
  if (const char* v = std::getenv("SOBRE_PROC_ROOT")) options.proc_root = v;
  if (const char* v = std::getenv("SOBRE_NVML_LIBRARY")) options.nvml_library = v;
  if (f.interval_s) options.interval = Seconds(*f.interval_s);
  options.cpu_tdp_w = f.cpu_tdp_w;
  options.ram_gb = f.ram_gb;
  if (f.ram_w_per_gb) options.ram_w_per_gb = *f.ram_w_per_gb;

  // Signals must be blocked before the sampler thread exists so that only RunChild sees them.
  BlockRelayedSignals();
  StatusOr<std::unique_ptr<footprint::Meter>> meter =
      footprint::Meter::Create(options, SystemClock(), *catalogue);
  if (!meter.ok()) return ReportError("measure", meter.status().WithContext("starting the meter"));
  (*meter)->Start();

  ProgressLine progress(!f.no_progress && !f.json && ::isatty(STDERR_FILENO));
  StatusOr<ChildExit> exit = RunChild(
      f.command, [&](pid_t pid) { (*meter)->Track(pid); },
      [&] { progress.Update((*meter)->Snapshot()); }, std::chrono::milliseconds(500));
  progress.Clear();
  if (!exit.ok()) {
    (*meter)->Stop(std::nullopt);
    ReportError("measure", exit.status());
    return 127;  // What a shell returns for a command it cannot run.
  }
  footprint::MeterReading reading = (*meter)->Stop(exit->cpu_time);

  footprint::FootprintInputs in;
  in.duration = reading.duration;
  in.components = reading.components;
  in.pue = f.pue.value_or(1.0);
  in.pue_source = f.pue ? "--pue" : "default 1.0 (no data-centre overhead; set --pue)";
  in.wue_l_per_kwh = f.wue;
  if (intensity->series) {
    StatusOr<Intensity> avg = intensity->series->Average(f.zone.value_or(""), reading.start_wall,
                                                         reading.end_wall);
    if (!avg.ok()) {
      ReportError("measure", avg.status().WithContext("--intensity-file " + *f.intensity_file));
      return exit->exit_code == 0 ? kExitFailure : exit->exit_code;
    }
    in.intensity = *avg;
  } else {
    in.intensity = intensity->fixed;
  }
  in.embodied = *embodied;
  double share = f.whole_machine ? 1.0 : reading.cpu_share;
  for (footprint::EmbodiedItem& item : in.embodied) item.share = share;
  for (const std::string& gpu : reading.gpu_names) {
    StatusOr<const footprint::GpuSpec*> spec = catalogue->FindGpu(gpu);
    if (spec.ok() && (*spec)->embodied_kgco2e) {
      in.embodied.push_back({(*spec)->name, *(*spec)->embodied_kgco2e, host_lifetime_hours, 1.0,
                             (*spec)->source});
    } else {
      reading.notes.push_back("no embodied figure for GPU '" + gpu + "' in the catalogue");
    }
  }
  if (f.whole_machine) {
    for (footprint::ComponentEnergy& c : in.components) c.attributed = c.machine;
  }
  footprint::Footprint fp = footprint::ComputeFootprint(std::move(in));

  MeasureReport report{f.command, *exit, reading, fp, f.whole_machine, f.project_name};
  if (f.json) std::fputs(RenderMeasureJson(report).c_str(), stdout);
  std::fputs(RenderMeasureSummary(report).c_str(), stderr);
  if (f.csv_file) {
    if (Status s = AppendCodeCarbonCsv(*f.csv_file, report); !s.ok()) {
      ReportError("measure", s.WithContext("--csv"));
      return exit->exit_code == 0 ? kExitFailure : exit->exit_code;
    }
  }
  return exit->exit_code;
}

}  // namespace

void AddMeasureCommand(CLI::App& app, CliContext& ctx) {
  auto flags = std::make_shared<MeasureFlags>();
  CLI::App* cmd = app.add_subcommand(
      "measure", "Run a command and report the energy, carbon, water and embodied footprint of the run");
  cmd->footer(
      "Energy comes from RAPL counters and NVML when readable, else from a CPU/RAM power model;\n"
      "every figure says which. The command's share of the machine (its process tree's CPU time\n"
      "over the machine's) is the headline; the whole machine's figure is printed too.\n"
      "Exits with the command's exit code.\n\n"
      "Usage: sobre measure [options] -- CMD [ARGS...]\n\n"
      "Environment: SOBRE_POWERCAP_ROOT, SOBRE_PROC_ROOT, SOBRE_NVML_LIBRARY override the powercap\n"
      "tree, procfs and the NVML library; SOBRE_CONFIG names a config file.");
  cmd->add_option("--zone", flags->zone,
                  "Grid zone of the machine: ISO country code (FR, DEU) or grid zone (SE3)");
  cmd->add_option("--intensity", flags->intensity, "Carbon intensity in gCO2e/kWh (overrides --zone)");
  cmd->add_option("--intensity-file", flags->intensity_file,
                  "Hourly intensities (CSV or JSON: time, zone, gco2e_per_kwh), averaged over the "
                  "hours of the run");
  cmd->add_option("--pue", flags->pue, "Power usage effectiveness of the site (default 1.0)");
  cmd->add_option("--wue", flags->wue, "On-site water usage effectiveness, L/kWh (default: none)");
  cmd->add_option("--cpu-tdp-w", flags->cpu_tdp_w,
                  "CPU TDP in W for the power model (default: catalogue, else 4 W per thread)");
  cmd->add_option("--ram-gb", flags->ram_gb, "Memory size in GB for the RAM model (default: MemTotal)");
  cmd->add_option("--ram-w-per-gb", flags->ram_w_per_gb, "RAM power in W per GB (default 0.3725)");
  cmd->add_option("--interval", flags->interval_s, "Sampling period in seconds (default 1)");
  cmd->add_option("--server", flags->server,
                  "Host from the hardware catalogue for embodied carbon (default generic-server)");
  cmd->add_option("--embodied-kg", flags->embodied_kg, "Host manufacturing footprint, kgCO2e");
  cmd->add_option("--lifetime-years", flags->lifetime_years, "Host amortisation period, years");
  cmd->add_option("--hardware-file", flags->hardware_file,
                  "CSV of catalogue rows (kind,...) overriding the shipped hardware catalogue");
  cmd->add_option("--intensity-table", flags->intensity_table,
                  "CSV of yearly intensities (columns of data/carbon_intensity.csv) replacing the "
                  "shipped table");
  cmd->add_option("--config", flags->config_file, "YAML config file (footprint.* settings)");
  cmd->add_option("--csv", flags->csv_file,
                  "Append one row per run to FILE with CodeCarbon's emissions.csv columns");
  cmd->add_option("--project-name", flags->project_name, "project_name column of --csv rows")
      ->capture_default_str();
  cmd->add_flag("--json", flags->json, "Print the result as JSON on stdout");
  cmd->add_flag("--whole-machine", flags->whole_machine,
                "Charge the whole machine's energy to the command instead of its CPU-time share");
  cmd->add_flag("--no-progress", flags->no_progress, "No live progress line on a terminal");
  cmd->add_option("command", flags->command, "The command to run, after --")->expected(-1);
  cmd->callback([flags, &ctx] { ctx.exit_code = RunMeasure(*flags); });
}

}  // namespace sobre::cli
