// Request footprints. EstimateInference is given the site's intensity as a number (resolved once
// here) so that a request costs no table lookup, only the model's arithmetic.
#include "gateway/request_footprint.h"

#include <algorithm>

#include <fmt/format.h>

#include "footprint/estimate.h"

namespace sobre::gateway {
namespace {

constexpr double kMinLatencySeconds = 1e-6;  // EstimateInference requires a positive latency.

}  // namespace

RequestFootprint& RequestFootprint::operator+=(const RequestFootprint& o) {
  energy_wh += o.energy_wh;
  co2e_g += o.co2e_g;
  water_ml += o.water_ml;
  embodied_co2e_g += o.embodied_co2e_g;
  measured = measured || o.measured;
  return *this;
}

ModelSize ModelSizeOf(const ModelConfig& model) {
  ModelSize size;
  if (model.params_b.has_value() && *model.params_b > 0) {
    size.params_b = *model.params_b;
    size.assumed = false;
  }
  if (model.active_params_b.has_value() && *model.active_params_b > 0) {
    size.active_params_b = std::min(*model.active_params_b, size.params_b);
  }
  return size;
}

FootprintModel::FootprintModel(const SiteConfig& site, const footprint::IntensityTable& table)
    : pue_(std::clamp(site.pue, 1.0, 5.0)), wue_l_per_kwh_(site.wue_l_per_kwh) {
  if (site.pue != pue_) {
    warnings_.push_back(fmt::format("site PUE {} is outside [1, 5]; {} used", site.pue, pue_));
  }
  std::optional<double> given;
  if (site.intensity_g_per_kwh) given = std::clamp(*site.intensity_g_per_kwh, 0.0, 3000.0);
  StatusOr<footprint::Intensity> found = footprint::ResolveIntensity(
      given, "site intensity_g_per_kwh in the gateway config", site.zone, table);
  if (found.ok()) {
    intensity_ = std::move(found).value();
    if (intensity_.is_world_fallback) {
      warnings_.push_back("no site zone or intensity configured: world average intensity used");
    }
    return;
  }
  // The config loader already rejects unknown zones; a table without the zone still serves.
  warnings_.push_back(fmt::format("site zone: {}; world average used", found.status().message()));
  intensity_ = table.World();
}

StatusOr<RequestFootprint> FootprintModel::Estimate(const ModelSize& model, int64_t output_tokens,
                                                    std::optional<double> latency_s) const {
  footprint::InferenceOptions options;
  options.total_params_b = model.params_b;
  options.active_params_b = model.active_params_b;
  options.output_tokens = static_cast<double>(std::max<int64_t>(0, output_tokens));
  if (latency_s.has_value()) options.latency_s = std::max(*latency_s, kMinLatencySeconds);
  options.pue = pue_;
  if (wue_l_per_kwh_.has_value()) options.wue_onsite_l_per_kwh = *wue_l_per_kwh_;
  options.intensity.g_per_kwh = intensity_.g_per_kwh;
  options.intensity.intensity_source = intensity_.source;
  SOBRE_ASSIGN_OR_RETURN(footprint::InferenceEstimate e, footprint::EstimateInference(options));
  RequestFootprint f;
  f.energy_wh = e.energy.value();
  f.co2e_g = e.usage_co2e.value();
  f.water_ml = e.water.value() * 1000.0;
  f.embodied_co2e_g = e.embodied_co2e.value();
  return f;
}

StatusOr<RequestFootprint> FootprintModel::Backend(const ModelSize& model, int64_t output_tokens,
                                                   std::chrono::nanoseconds latency,
                                                   std::optional<Joules> measured) const {
  if (measured.has_value()) {
    RequestFootprint f;
    const double it_kwh = ToKilowattHours(*measured).value();
    f.energy_wh = it_kwh * 1000.0 * pue_;
    f.co2e_g = it_kwh * pue_ * intensity_.g_per_kwh;
    f.water_ml = wue_l_per_kwh_.has_value() ? it_kwh * *wue_l_per_kwh_ * 1000.0 : 0.0;
    f.measured = true;
    return f;
  }
  return Estimate(model, output_tokens, std::chrono::duration<double>(latency).count());
}

RequestFootprint FootprintModel::Overhead(std::chrono::nanoseconds cpu) const {
  RequestFootprint f;
  const double cpu_s = std::max(0.0, std::chrono::duration<double>(cpu).count());
  const double it_kwh = ToKilowattHours(EnergyOf(Watts(kGatewayWattsPerCore), Seconds(cpu_s)))
                            .value();
  f.energy_wh = it_kwh * 1000.0 * pue_;
  f.co2e_g = it_kwh * pue_ * intensity_.g_per_kwh;
  f.water_ml = wue_l_per_kwh_.has_value() ? it_kwh * *wue_l_per_kwh_ * 1000.0 : 0.0;
  return f;
}

StatusOr<RequestFootprint> FootprintModel::UpperBound(const ModelSize& model,
                                                      int64_t output_tokens) const {
  SOBRE_ASSIGN_OR_RETURN(RequestFootprint f, Estimate(model, output_tokens, std::nullopt));
  f += Overhead(std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(kReservedOverheadSeconds)));
  return f;
}

}  // namespace sobre::gateway
