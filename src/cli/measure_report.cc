#include "cli/measure_report.h"

#include <unistd.h>

#include <cstdio>
#include <random>

#include <boost/json.hpp>
#include <fmt/core.h>

#include "cli/output.h"
#include "core/csv.h"
#include "core/file.h"
#include "core/strings.h"

namespace sobre::cli {
namespace {

std::string CommandLine(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && a.find_first_of(" \t\"'$\\") == std::string::npos;
    out += plain ? a : "'" + a + "'";
  }
  return out;
}

double Wh(Joules j) { return ToWattHours(j).value(); }

std::string IntensityLine(const footprint::Intensity& i) {
  std::string line = fmt::format("{} g/kWh, {} ({})", FormatFigure(i.g_per_kwh), i.zone, i.source);
  if (i.is_world_fallback) {
    line += "\n                 no zone given: this is the world average; pass --zone or --intensity";
  }
  return line;
}

std::string NewRunId() {
  std::random_device rd;
  std::uniform_int_distribution<uint32_t> dist;
  uint32_t a = dist(rd), b = dist(rd), c = dist(rd), d = dist(rd);
  // RFC 4122 version 4 layout.
  return fmt::format("{:08x}-{:04x}-4{:03x}-{:04x}-{:04x}{:08x}", a, b >> 16, b & 0xfff,
                     (c & 0x3fff) | 0x8000, c >> 16, d);
}

}  // namespace

void ProgressLine::Update(const footprint::MeterSnapshot& s) {
  if (!enabled_ || s.elapsed.count() <= 0) return;  // Nothing sampled yet.
  std::fprintf(stderr, "\r\033[K[sobre] %.0f s  %s W  %s Wh machine (%s)  command share %.0f%%",
               s.elapsed.count(), FormatFigure(s.machine_power.value()).c_str(),
               FormatFigure(Wh(s.machine_energy)).c_str(), s.measured ? "measured" : "estimated",
               s.cpu_share * 100);
  std::fflush(stderr);
  shown_ = true;
}

void ProgressLine::Clear() {
  if (shown_) std::fputs("\r\033[K", stderr);
  shown_ = false;
}

std::string RenderMeasureSummary(const MeasureReport& r) {
  const footprint::Footprint& fp = r.footprint;
  const footprint::MeterReading& m = r.reading;
  std::string out;
  out += fmt::format("\nsobre measure: `{}` {} after {:.2f} s\n", CommandLine(r.command),
                     r.exit.signal ? fmt::format("was killed by signal {}", *r.exit.signal)
                                   : fmt::format("exited with {}", r.exit.exit_code),
                     m.duration.count());
  std::string who = r.whole_machine ? "whole machine (--whole-machine)"
                                    : fmt::format("command's share {:.1f}% of machine CPU time",
                                                  m.cpu_share * 100);
  out += fmt::format("  energy      {} Wh  {} ({}; machine {} Wh; PUE {:g})\n",
                     FormatFigure(Wh(fp.energy)), fp.measured ? "measured" : "estimated", who,
                     FormatFigure(Wh(fp.machine_it_energy) * fp.inputs.pue), fp.inputs.pue);
  for (const footprint::ComponentEnergy& c : fp.inputs.components) {
    out += fmt::format("    {:<9} {} Wh  {}: {}\n", footprint::ComponentName(c.component),
                       FormatFigure(Wh(c.attributed)), c.measured ? "measured" : "estimated",
                       EqualsIgnoreCase(c.label, footprint::ComponentName(c.component)) ? c.method
                                                                        : c.label + ", " + c.method);
  }
  out += fmt::format("  carbon      {} gCO2e  at {}\n", FormatFigure(fp.co2e.value()),
                     IntensityLine(fp.inputs.intensity));
  if (fp.water) {
    out += fmt::format("  water       {} mL  at WUE {:g} L/kWh (on-site, per IT kWh)\n",
                       FormatFigure(fp.water->value() * 1000), *fp.inputs.wue_l_per_kwh);
  } else {
    out += "  water       not computed: no WUE given (--wue)\n";
  }
  out += fmt::format("  embodied    {} gCO2e  (Boavizta linear amortisation)\n",
                     FormatFigure(fp.embodied_co2e.value()));
  for (const footprint::EmbodiedShare& e : fp.embodied) {
    out += fmt::format("    {:<9} {} g = {:g} kgCO2e x {:.2f} s / {:g} h x share {:.2f}  ({})\n",
                       e.item.name, FormatFigure(e.amortised.value()), e.item.kgco2e,
                       m.duration.count(), e.item.lifetime_hours, e.item.share, e.item.source);
  }
  out += fmt::format("  PUE         {:g}: {}\n", fp.inputs.pue, fp.inputs.pue_source);
  for (const std::string& note : m.notes) out += "  note: " + note + "\n";
  return out;
}

std::string RenderMeasureJson(const MeasureReport& r) {
  namespace json = boost::json;
  const footprint::Footprint& fp = r.footprint;
  const footprint::MeterReading& m = r.reading;
  json::array sources;
  for (const footprint::ComponentEnergy& c : fp.inputs.components) {
    sources.push_back(json::object{
        {"component", footprint::ComponentName(c.component)},
        {"label", c.label},
        {"method", c.measured ? "measured" : "estimated"},
        {"source", c.method},
        {"energy_wh", Wh(c.attributed)},
        {"machine_energy_wh", Wh(c.machine)},
    });
  }
  json::array embodied;
  for (const footprint::EmbodiedShare& e : fp.embodied) {
    embodied.push_back(json::object{{"item", e.item.name},
                                    {"kgco2e", e.item.kgco2e},
                                    {"lifetime_hours", e.item.lifetime_hours},
                                    {"share", e.item.share},
                                    {"co2e_g", e.amortised.value()},
                                    {"source", e.item.source}});
  }
  json::array notes;
  for (const std::string& n : m.notes) notes.push_back(json::string(n));
  json::array command;
  for (const std::string& a : r.command) command.push_back(json::string(a));
  json::object out{
      {"command", command},
      {"exit_code", r.exit.exit_code},
      {"duration_s", m.duration.count()},
      {"start_time", FormatUtc(m.start_wall)},
      {"end_time", FormatUtc(m.end_wall)},
      {"method", fp.measured ? "measured" : "estimated"},
      {"attribution", r.whole_machine ? "whole_machine" : "process_tree_cpu_share"},
      {"cpu_share", m.cpu_share},
      {"process_cpu_s", m.tree_cpu_time.count()},
      {"machine_busy_cpu_s", m.machine_busy_cpu_time.count()},
      {"energy_wh", Wh(fp.energy)},
      {"it_energy_wh", Wh(fp.it_energy)},
      {"machine_energy_wh", Wh(fp.machine_it_energy) * fp.inputs.pue},
      {"pue", fp.inputs.pue},
      {"co2e_g", fp.co2e.value()},
      {"intensity", json::object{{"g_per_kwh", fp.inputs.intensity.g_per_kwh},
                                 {"zone", fp.inputs.intensity.zone},
                                 {"source", fp.inputs.intensity.source},
                                 {"world_fallback", fp.inputs.intensity.is_world_fallback}}},
      {"water_ml", fp.water ? json::value(fp.water->value() * 1000) : json::value(nullptr)},
      {"wue_l_per_kwh",
       fp.inputs.wue_l_per_kwh ? json::value(*fp.inputs.wue_l_per_kwh) : json::value(nullptr)},
      {"embodied_co2e_g", fp.embodied_co2e.value()},
      {"embodied", embodied},
      {"sources", sources},
      {"samples", m.samples},
      {"notes", notes},
  };
  if (r.exit.signal) out["signal"] = *r.exit.signal;
  return PrettyJson(out);
}

const char kCodeCarbonCsvHeader[] =
    "timestamp,project_name,run_id,duration,emissions,emissions_rate,cpu_power,gpu_power,"
    "ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,country_name,country_iso_code,"
    "region,cloud_provider,cloud_region,os,python_version,codecarbon_version,cpu_count,cpu_model,"
    "gpu_count,gpu_model,longitude,latitude,ram_total_size,tracking_mode,on_cloud,pue";

Status AppendCodeCarbonCsv(const std::string& path, const MeasureReport& r) {
  const footprint::Footprint& fp = r.footprint;
  const footprint::MeterReading& m = r.reading;
  bool need_header = true;
  if (FileExists(path)) {
    SOBRE_ASSIGN_OR_RETURN(std::string existing, ReadFile(path, 1u << 30));
    if (!existing.empty()) {
      std::string first(Trim(existing.substr(0, existing.find('\n'))));
      if (first != kCodeCarbonCsvHeader) {
        return FailedPreconditionError(
            path + " exists with other columns than CodeCarbon's emissions.csv; not appending");
      }
      if (existing.back() != '\n') {
        return DataLossError(path + " does not end with a newline (truncated?); not appending");
      }
      need_header = false;
    }
  }
  // CodeCarbon's units: energy in kWh (after PUE), power in W, emissions in kg, duration in s.
  double cpu_kwh = 0, gpu_kwh = 0, ram_kwh = 0;
  for (const footprint::ComponentEnergy& c : fp.inputs.components) {
    double kwh = ToKilowattHours(c.attributed).value() * fp.inputs.pue;
    if (c.component == footprint::Component::kGpu) {
      gpu_kwh += kwh;
    } else if (c.component == footprint::Component::kRam ||
               c.component == footprint::Component::kDram) {
      ram_kwh += kwh;
    } else {
      cpu_kwh += kwh;
    }
  }
  double seconds = m.duration.count();
  auto watts = [&](double kwh) { return seconds > 0 ? kwh * 3.6e6 / seconds : 0.0; };
  double kg = fp.co2e.value() / 1000.0;
  const footprint::Intensity& in = fp.inputs.intensity;
  std::vector<std::string> row = {
      FormatUtc(m.end_wall),
      CsvQuote(r.project_name),
      NewRunId(),
      fmt::format("{}", seconds),
      fmt::format("{}", kg),
      fmt::format("{}", seconds > 0 ? kg / seconds : 0.0),
      fmt::format("{}", watts(cpu_kwh)),
      fmt::format("{}", watts(gpu_kwh)),
      fmt::format("{}", watts(ram_kwh)),
      fmt::format("{}", cpu_kwh),
      fmt::format("{}", gpu_kwh),
      fmt::format("{}", ram_kwh),
      fmt::format("{}", ToKilowattHours(fp.energy).value()),
      "",  // country_name
      in.is_world_fallback ? "" : CsvQuote(in.zone),
      "",  // region
      "",  // cloud_provider
      "",  // cloud_region
      "Linux",
      "",  // python_version
      "sobre-0.1.0",
      std::to_string(m.machine.logical_cpus),
      CsvQuote(m.machine.cpu_model),
      std::to_string(m.gpu_names.size()),
      CsvQuote(Join(m.gpu_names, " | ")),
      "",  // longitude
      "",  // latitude
      fmt::format("{}", m.machine.mem_total_gb),
      r.whole_machine ? "machine" : "process",
      "N",
      fmt::format("{}", fp.inputs.pue),
  };
  std::string text;
  if (need_header) text += std::string(kCodeCarbonCsvHeader) + "\n";
  text += Join(row, ",") + "\n";
  return AppendToFile(path, text);
}

}  // namespace sobre::cli
