// HardwareCatalogue: TDP, memory and embodied carbon of GPUs, CPUs and servers, from data/*.csv
// (compiled in) or a user file that overrides rows by name. Every row carries its source.
#ifndef SOBRE_FOOTPRINT_HARDWARE_CATALOGUE_H_
#define SOBRE_FOOTPRINT_HARDWARE_CATALOGUE_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sobre::footprint {

struct GpuSpec {
  std::string name;                  // Canonical name, e.g. "A100-SXM4-80GB".
  std::vector<std::string> aliases;  // Other spellings matched by FindGpu (NVML names too).
  double tdp_w = 0;                  // Board power limit / TDP, watts.
  double memory_gb = 0;              // On-board memory, GB.
  std::optional<double> embodied_kgco2e;  // Manufacturing footprint of the card, if published.
  std::string source;                // Where the figures come from, with year and licence.
};

struct CpuSpec {
  std::string name;  // Vendor model name, e.g. "AMD EPYC 7763".
  double tdp_w = 0;  // Whole-package TDP, watts.
  int cores = 0;     // Physical cores per package (0 if unknown).
  int threads = 0;   // Hardware threads per package (0 if unknown).
  std::string source;
};

struct ServerSpec {
  std::string name;               // e.g. "generic-gpu-server".
  double embodied_kgco2e = 0;     // Manufacturing footprint without GPUs, kgCO2e.
  double lifetime_hours = 0;      // Amortisation period, hours.
  std::string source;
};

// Immutable after construction; thread-safe for lookups.
class HardwareCatalogue {
 public:
  // The catalogue compiled from data/. Never fails: the shipped files are tested.
  static const HardwareCatalogue& Builtin();

  // Builtin() with rows from `path` (same CSV columns as data/hardware_*.csv, plus a first
  // column `kind` = gpu|cpu|server) added or replacing rows of the same name. Errors name the
  // file and line.
  static StatusOr<HardwareCatalogue> WithOverrides(const std::string& path);

  // Exact match on normalised name or alias ("a100 sxm4 80gb" == "A100-SXM4-80GB"). Unknown
  // names give NotFound listing the closest entries.
  StatusOr<const GpuSpec*> FindGpu(std::string_view name) const;
  StatusOr<const CpuSpec*> FindCpu(std::string_view name) const;
  StatusOr<const ServerSpec*> FindServer(std::string_view name) const;

  // Best-effort match of a /proc/cpuinfo "model name" ("Intel(R) Xeon(R) Gold 6248 CPU @
  // 2.50GHz") to a row; nullopt when no row matches unambiguously.
  const CpuSpec* MatchCpuModelName(std::string_view model_name) const;

  const std::vector<GpuSpec>& gpus() const { return gpus_; }
  const std::vector<CpuSpec>& cpus() const { return cpus_; }
  const std::vector<ServerSpec>& servers() const { return servers_; }

 private:
  std::vector<GpuSpec> gpus_;
  std::vector<CpuSpec> cpus_;
  std::vector<ServerSpec> servers_;
  friend class HardwareCatalogueLoader;
};

}  // namespace sobre::footprint

#endif  // SOBRE_FOOTPRINT_HARDWARE_CATALOGUE_H_
