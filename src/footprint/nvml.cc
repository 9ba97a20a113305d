// NVML loaded with dlopen: one shared, reference-counted library handle and two EnergyCounter
// implementations (total-energy counter, integrated power samples) that hold it.
#include "footprint/nvml.h"

#include <dlfcn.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "core/strings.h"

namespace sobre::footprint {
namespace {

// The NVML C types sobre needs, declared here so that no NVIDIA header is needed to build.
using NvmlReturn = int;  // nvmlReturn_t is a C enum, passed as int.
struct NvmlDeviceSt;     // Opaque; NVML hands out pointers to it.
using NvmlDevice = NvmlDeviceSt*;

constexpr NvmlReturn kNvmlSuccess = 0;
constexpr NvmlReturn kNvmlErrorNotSupported = 3;
// NVML_DEVICE_NAME_V2_BUFFER_SIZE: large enough for any nvmlDeviceGetName result.
constexpr unsigned kNvmlNameBufferBytes = 96;

// Entry points, resolved with dlsym. All are plain C functions of the NVML API.
struct NvmlApi {
  NvmlReturn (*init)() = nullptr;                                    // nvmlInit_v2
  NvmlReturn (*shutdown)() = nullptr;                                // nvmlShutdown
  const char* (*error_string)(NvmlReturn) = nullptr;                 // nvmlErrorString
  NvmlReturn (*get_count)(unsigned*) = nullptr;                      // nvmlDeviceGetCount_v2
  NvmlReturn (*get_handle_by_index)(unsigned, NvmlDevice*) = nullptr;
  NvmlReturn (*get_name)(NvmlDevice, char*, unsigned) = nullptr;     // nvmlDeviceGetName
  NvmlReturn (*get_total_energy_mj)(NvmlDevice, unsigned long long*) = nullptr;
  NvmlReturn (*get_power_usage_mw)(NvmlDevice, unsigned*) = nullptr;
};

struct DlCloser {
  void operator()(void* handle) const { dlclose(handle); }
};
using DlHandle = std::unique_ptr<void, DlCloser>;

// Finds `name` in `handle` and stores it in `*fn`.
template <typename Fn>
Status Resolve(void* handle, const std::string& library, const char* name, Fn** fn) {
  dlerror();  // Clear any stale error so that a null result is reported for this lookup.
  void* symbol = dlsym(handle, name);
  if (symbol == nullptr) {
    return NotFoundError(library + " lacks NVML symbol " + name +
                         " (not an NVML library, or a driver too old)");
  }
  // POSIX guarantees that a dlsym result converts to the function pointer it names.
  *fn = reinterpret_cast<Fn*>(symbol);
  return OkStatus();
}

// A loaded and initialised NVML. The destructor calls nvmlShutdown, then dlclose; counters share
// it through shared_ptr so that this happens when the last one goes.
// Thread-safe: immutable after Open(), and NVML's own calls may come from any thread.
class NvmlLibrary {
 public:
  // dlopens `library_path` (empty: kNvmlDefaultLibrary), resolves every entry point and calls
  // nvmlInit_v2. The error message is meant to be shown as is (NvmlSetup::unavailable_reason).
  static StatusOr<std::shared_ptr<const NvmlLibrary>> Open(const std::string& library_path);

  ~NvmlLibrary() { api_.shutdown(); }  // handle_ is dlclosed after this body runs.
  NvmlLibrary(const NvmlLibrary&) = delete;
  NvmlLibrary& operator=(const NvmlLibrary&) = delete;

  const NvmlApi& api() const { return api_; }
  // The file the NVML entry points come from.
  const std::string& path() const { return path_; }
  // nvmlErrorString(code), with the code for searching: "GPU is lost (NVML error 15)".
  std::string Describe(NvmlReturn code) const {
    const char* text = api_.error_string(code);
    return std::string(text != nullptr ? text : "unknown") + " (NVML error " +
           std::to_string(code) + ")";
  }

 private:
  NvmlLibrary(DlHandle handle, const NvmlApi& api, std::string path)
      : handle_(std::move(handle)), api_(api), path_(std::move(path)) {}

  DlHandle handle_;
  NvmlApi api_;
  std::string path_;
};

StatusOr<std::shared_ptr<const NvmlLibrary>> NvmlLibrary::Open(const std::string& library_path) {
  const bool use_default = library_path.empty();
  const std::string requested = use_default ? std::string(kNvmlDefaultLibrary) : library_path;

  // RTLD_LOCAL keeps NVML's symbols (and the fake's) out of the global namespace.
  DlHandle handle(dlopen(requested.c_str(), RTLD_NOW | RTLD_LOCAL));
  if (handle == nullptr) {
    const char* error = dlerror();
    const std::string detail = error != nullptr ? error : "unknown dlopen error";
    if (use_default && detail.find("No such file") != std::string::npos) {
      return NotFoundError(requested + " not found (no NVIDIA driver)");
    }
    return UnavailableError("cannot load NVML library: " + detail);
  }

  NvmlApi api;
  void* h = handle.get();
  SOBRE_RETURN_IF_ERROR(Resolve(h, requested, "nvmlInit_v2", &api.init));
  SOBRE_RETURN_IF_ERROR(Resolve(h, requested, "nvmlShutdown", &api.shutdown));
  SOBRE_RETURN_IF_ERROR(Resolve(h, requested, "nvmlErrorString", &api.error_string));
  SOBRE_RETURN_IF_ERROR(Resolve(h, requested, "nvmlDeviceGetCount_v2", &api.get_count));
  SOBRE_RETURN_IF_ERROR(
      Resolve(h, requested, "nvmlDeviceGetHandleByIndex_v2", &api.get_handle_by_index));
  SOBRE_RETURN_IF_ERROR(Resolve(h, requested, "nvmlDeviceGetName", &api.get_name));
  SOBRE_RETURN_IF_ERROR(Resolve(h, requested, "nvmlDeviceGetTotalEnergyConsumption",
                                &api.get_total_energy_mj));
  SOBRE_RETURN_IF_ERROR(
      Resolve(h, requested, "nvmlDeviceGetPowerUsage", &api.get_power_usage_mw));

  // Report the file that really provides NVML: the loader may have found it anywhere on its
  // search path.
  std::string path = requested;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(api.init), &info) != 0 && info.dli_fname != nullptr &&
      info.dli_fname[0] != '\0') {
    path = info.dli_fname;
  }

  const NvmlReturn rc = api.init();
  if (rc != kNvmlSuccess) {
    const char* text = api.error_string(rc);
    return UnavailableError(std::string("nvmlInit failed: ") + (text != nullptr ? text : "?"));
  }
  return std::shared_ptr<const NvmlLibrary>(new NvmlLibrary(std::move(handle), api, path));
}

std::string GpuLabel(int index, const std::string& name) {
  return "NVML gpu" + std::to_string(index) + " " + name;
}

// Energy from nvmlDeviceGetTotalEnergyConsumption (mJ since the driver loaded).
// Not thread-safe: one sampler thread owns it (see EnergyCounter).
class NvmlEnergyCounter final : public EnergyCounter {
 public:
  NvmlEnergyCounter(std::shared_ptr<const NvmlLibrary> library, NvmlDevice device, int index,
                    std::string name)
      : library_(std::move(library)),
        device_(device),
        index_(index),
        label_(GpuLabel(index, name)) {}

  std::string label() const override { return label_; }
  Component component() const override { return Component::kGpu; }
  std::string method() const override { return "NVML total-energy counter"; }
  int device_index() const override { return index_; }

  StatusOr<Joules> Sample(std::chrono::steady_clock::time_point /*now*/) override {
    unsigned long long energy_mj = 0;
    const NvmlReturn rc = library_->api().get_total_energy_mj(device_, &energy_mj);
    if (rc != kNvmlSuccess) {
      return UnavailableError(label_ + ": nvmlDeviceGetTotalEnergyConsumption: " +
                              library_->Describe(rc));
    }
    if (!last_mj_.has_value()) {
      last_mj_ = energy_mj;
      return Joules(0);
    }
    const unsigned long long previous_mj = *last_mj_;
    // The 64-bit counter does not wrap in practice; a smaller value means it restarted (driver
    // reload, GPU reset). The energy in between is unknown, so this sample is lost, and the new
    // value becomes the baseline: measuring from the old one would drop every later sample.
    last_mj_ = energy_mj;
    if (energy_mj < previous_mj) {
      return DataLossError(label_ + ": total-energy counter went backwards from " +
                           std::to_string(previous_mj) + " mJ to " +
                           std::to_string(energy_mj) + " mJ; sample dropped");
    }
    return Joules(static_cast<double>(energy_mj - previous_mj) / 1000.0);
  }

 private:
  std::shared_ptr<const NvmlLibrary> library_;
  NvmlDevice device_;
  int index_;
  std::string label_;
  std::optional<unsigned long long> last_mj_;  // Last good reading, mJ.
};

// Energy from nvmlDeviceGetPowerUsage (mW) samples, trapezoid-integrated over the sample times.
// For GPUs without a total-energy counter (before Volta).
// Not thread-safe: one sampler thread owns it (see EnergyCounter).
class NvmlPowerCounter final : public EnergyCounter {
 public:
  NvmlPowerCounter(std::shared_ptr<const NvmlLibrary> library, NvmlDevice device, int index,
                   std::string name)
      : library_(std::move(library)),
        device_(device),
        index_(index),
        label_(GpuLabel(index, name)) {}

  std::string label() const override { return label_; }
  Component component() const override { return Component::kGpu; }
  std::string method() const override {
    return "NVML power samples (mW), trapezoid-integrated";
  }
  int device_index() const override { return index_; }

  StatusOr<Joules> Sample(std::chrono::steady_clock::time_point now) override {
    if (last_.has_value() && now < last_->time) {
      return InvalidArgumentError(label_ + ": sample time went backwards");
    }
    unsigned power_mw = 0;
    const NvmlReturn rc = library_->api().get_power_usage_mw(device_, &power_mw);
    if (rc != kNvmlSuccess) {
      // The last good reading stays; the next sample integrates across the gap.
      return UnavailableError(label_ + ": nvmlDeviceGetPowerUsage: " + library_->Describe(rc));
    }
    const Reading current{now, static_cast<double>(power_mw) / 1000.0};
    if (!last_.has_value()) {
      last_ = current;
      return Joules(0);
    }
    const Seconds elapsed = current.time - last_->time;
    const Watts mean((last_->power_w + current.power_w) / 2.0);
    last_ = current;
    return EnergyOf(mean, elapsed);
  }

 private:
  struct Reading {
    std::chrono::steady_clock::time_point time;
    double power_w = 0;
  };

  std::shared_ptr<const NvmlLibrary> library_;
  NvmlDevice device_;
  int index_;
  std::string label_;
  std::optional<Reading> last_;  // Last good reading.
};

}  // namespace

NvmlSetup DiscoverNvml(const std::string& library_path) {
  NvmlSetup setup;
  setup.library = library_path.empty() ? std::string(kNvmlDefaultLibrary) : library_path;

  StatusOr<std::shared_ptr<const NvmlLibrary>> opened = NvmlLibrary::Open(library_path);
  if (!opened.ok()) {
    setup.unavailable_reason = opened.status().message();
    return setup;
  }
  // Dropping the last reference to `library` (when no counter takes one) shuts NVML down.
  std::shared_ptr<const NvmlLibrary> library = std::move(opened).value();
  setup.library = library->path();
  const NvmlApi& api = library->api();

  unsigned count = 0;
  NvmlReturn rc = api.get_count(&count);
  if (rc != kNvmlSuccess) {
    setup.unavailable_reason = "nvmlDeviceGetCount failed: " + library->Describe(rc);
    return setup;
  }
  if (count == 0) {
    setup.unavailable_reason = "no GPU";
    return setup;
  }

  for (unsigned i = 0; i < count; ++i) {
    const int index = static_cast<int>(i);
    NvmlDevice device = nullptr;
    rc = api.get_handle_by_index(i, &device);
    if (rc != kNvmlSuccess) {
      // E.g. NO_PERMISSION for a GPU hidden from this container: meter the others.
      setup.warnings.push_back("gpu" + std::to_string(i) + ": nvmlDeviceGetHandleByIndex: " +
                               library->Describe(rc) + "; not metered");
      continue;
    }
    char name_buffer[kNvmlNameBufferBytes] = {};
    rc = api.get_name(device, name_buffer, sizeof(name_buffer));
    name_buffer[sizeof(name_buffer) - 1] = '\0';
    const std::string name = rc == kNvmlSuccess ? name_buffer : "unknown GPU";
    const std::string who = GpuLabel(index, name);

    // Probe both readings once, so that a GPU that gives neither is reported now, not as an
    // error on every sample.
    unsigned long long energy_mj = 0;
    const NvmlReturn energy_rc = api.get_total_energy_mj(device, &energy_mj);
    if (energy_rc == kNvmlSuccess) {
      setup.counters.push_back(std::make_unique<NvmlEnergyCounter>(library, device, index, name));
      setup.gpus.push_back(NvmlGpuInfo{index, name, /*energy_counter=*/true});
      continue;
    }
    unsigned power_mw = 0;
    const NvmlReturn power_rc = api.get_power_usage_mw(device, &power_mw);
    if (power_rc != kNvmlSuccess) {
      setup.warnings.push_back(who + ": no total-energy counter (" + library->Describe(energy_rc) +
                               ") and no power reading (" + library->Describe(power_rc) +
                               "); not metered");
      continue;
    }
    if (energy_rc != kNvmlErrorNotSupported) {
      setup.warnings.push_back(who + ": total-energy counter failed (" +
                               library->Describe(energy_rc) + "); using power samples instead");
    }
    setup.counters.push_back(std::make_unique<NvmlPowerCounter>(library, device, index, name));
    setup.gpus.push_back(NvmlGpuInfo{index, name, /*energy_counter=*/false});
  }

  if (setup.counters.empty()) {
    setup.unavailable_reason = "no usable GPU: " + Join(setup.warnings, "; ");
  }
  return setup;
}

}  // namespace sobre::footprint
