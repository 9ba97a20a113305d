// NVIDIA GPU energy through NVML, loaded at run time with dlopen so that sobre runs (and builds)
// on machines without the NVIDIA driver.
#ifndef SOBRE_FOOTPRINT_NVML_H_
#define SOBRE_FOOTPRINT_NVML_H_

#include <memory>
#include <string>
#include <vector>

#include "footprint/energy_counter.h"

namespace sobre::footprint {

// The library DiscoverNvml loads when given no path, found through the normal loader search.
inline constexpr char kNvmlDefaultLibrary[] = "libnvidia-ml.so.1";

// One metered GPU, in the same order as NvmlSetup::counters.
struct NvmlGpuInfo {
  int index = 0;                // NVML device index (0-based), also the counter's device_index().
  std::string name;             // nvmlDeviceGetName, e.g. "NVIDIA H100 80GB HBM3".
  bool energy_counter = false;  // true: total-energy counter; false: power samples integrated.
};

// What DiscoverNvml found. Move-only because of the counters.
struct NvmlSetup {
  // One per usable GPU, Component::kGpu, device_index = GPU index. Together they keep NVML
  // loaded and initialised: nvmlShutdown and dlclose run when the last one is destroyed.
  std::vector<std::unique_ptr<EnergyCounter>> counters;
  // gpus[i] describes counters[i].
  std::vector<NvmlGpuInfo> gpus;
  // The file NVML was loaded from (resolved with dladdr), or the name tried when loading failed.
  std::string library;
  // Non-empty when there is no counter, saying why: "libnvidia-ml.so.1 not found (no NVIDIA
  // driver)", "nvmlInit failed: <nvmlErrorString>", "no GPU", "<library> lacks NVML symbol
  // <name> ...", "no usable GPU: <warnings>".
  std::string unavailable_reason;
  // GPUs skipped or degraded, one sentence each ("gpu2 Tesla K80: no total-energy counter and
  // no power reading (Not Supported); not metered"). May be non-empty alongside counters.
  std::vector<std::string> warnings;
};

// Loads NVML from `library_path` (empty: kNvmlDefaultLibrary through the loader search;
// otherwise that file, e.g. SOBRE_NVML_LIBRARY), initialises it and makes one counter per GPU.
// Each GPU uses its total-energy counter (Volta and later) when it has one, and otherwise
// integrates nvmlDeviceGetPowerUsage samples with the trapezoid rule. Never fails: problems are
// reported in unavailable_reason and warnings. Thread-safe (NVML reference-counts its init);
// the returned counters follow EnergyCounter's contract, one sampler thread per counter.
NvmlSetup DiscoverNvml(const std::string& library_path);

}  // namespace sobre::footprint

#endif  // SOBRE_FOOTPRINT_NVML_H_
