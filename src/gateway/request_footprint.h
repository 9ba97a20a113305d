// The footprint of one gateway request: the backend's work (measured when the backend meters it,
// else EcoLogits' model for remote APIs) plus the gateway's own CPU time, at the site's carbon
// intensity, PUE and WUE.
#ifndef SOBRE_GATEWAY_REQUEST_FOOTPRINT_H_
#define SOBRE_GATEWAY_REQUEST_FOOTPRINT_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/units.h"
#include "footprint/intensity.h"
#include "gateway/config.h"

namespace sobre::gateway {

// Power of one busy core charged for the gateway's own CPU time, W: Green Algorithms v3.0's
// "Any" CPU (12 W per core; footprint::kGreenAlgorithmsAnyCpuWPerCore). The gateway cannot read
// a per-request CPU counter (a request hops threads between awaits), so its CPU time is taken as
// the wall time it spent outside backend calls and admission queues, one core busy throughout.
inline constexpr double kGatewayWattsPerCore = 12.0;
// Parameters assumed for a model whose config gives no params_b, billions. 70 B is the size class
// of the common open-weight chat models EcoLogits was fitted on (its fit stops at 405 B); the
// estimate is flagged in the startup log.
inline constexpr double kDefaultParamsB = 70.0;
// Output tokens per choice reserved against a budget when the request sets no max_tokens /
// max_completion_tokens.
inline constexpr int64_t kDefaultReservedOutputTokens = 4096;
// Gateway CPU time reserved per request on top of the backend's upper bound, s (the measured
// overhead is well under 1 ms; this keeps the reservation an upper bound under load spikes).
inline constexpr double kReservedOverheadSeconds = 0.05;

// Energy, carbon and water of a request. Plain numbers in the units their names give.
struct RequestFootprint {
  double energy_wh = 0;        // After PUE.
  double co2e_g = 0;           // Use phase, location-based.
  double water_ml = 0;         // On-site and electricity-generation water.
  double embodied_co2e_g = 0;  // Share of hardware manufacturing.
  bool measured = false;       // True when the backend's energy was metered.

  std::string_view method() const { return measured ? "measured" : "estimated"; }
  RequestFootprint& operator+=(const RequestFootprint& o);
};

// A model's parameters as the estimator needs them, checked once.
struct ModelSize {
  double params_b = kDefaultParamsB;
  std::optional<double> active_params_b;  // <= params_b.
  bool assumed = true;                    // True when params_b came from kDefaultParamsB.
};

// The size of `model`, from params_b / active_params_b (active is capped at params).
ModelSize ModelSizeOf(const ModelConfig& model);

// Thread contract: immutable after construction; thread-safe.
class FootprintModel {
 public:
  // Resolves the site's intensity once: intensity_g_per_kwh, else the zone in `table`, else the
  // world average (flagged). An unknown zone also falls back to the world average, with a
  // warning.
  explicit FootprintModel(const SiteConfig& site,
                          const footprint::IntensityTable& table =
                              footprint::IntensityTable::Builtin());

  const footprint::Intensity& intensity() const { return intensity_; }
  // Fallbacks taken at construction, for the startup log.
  const std::vector<std::string>& warnings() const { return warnings_; }

  // The backend's share: `measured` energy (IT energy; PUE applied) when set, else
  // footprint::EstimateInference with `output_tokens` and the measured `latency`.
  StatusOr<RequestFootprint> Backend(const ModelSize& model, int64_t output_tokens,
                                     std::chrono::nanoseconds latency,
                                     std::optional<Joules> measured) const;

  // The gateway's own share: `cpu` × kGatewayWattsPerCore, PUE, intensity, site WUE.
  RequestFootprint Overhead(std::chrono::nanoseconds cpu) const;

  // An upper bound of Backend() + Overhead() for `output_tokens`: the estimate without a latency
  // cap (the modelled generation time is never shorter than the capped one) plus
  // kReservedOverheadSeconds of gateway time.
  StatusOr<RequestFootprint> UpperBound(const ModelSize& model, int64_t output_tokens) const;

 private:
  StatusOr<RequestFootprint> Estimate(const ModelSize& model, int64_t output_tokens,
                                      std::optional<double> latency_s) const;

  footprint::Intensity intensity_;
  double pue_ = 1.0;
  std::optional<double> wue_l_per_kwh_;
  std::vector<std::string> warnings_;
};

}  // namespace sobre::gateway

#endif  // SOBRE_GATEWAY_REQUEST_FOOTPRINT_H_
