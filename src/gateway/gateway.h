// Gateway: the OpenAI-compatible API on top of HttpServer — validation, auth, budgets and rate
// limits, admission control, routing to backends with fallbacks, streaming, the footprint of every
// request, the ledger and /metrics.
#ifndef SOBRE_GATEWAY_GATEWAY_H_
#define SOBRE_GATEWAY_GATEWAY_H_

#include <map>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "core/clock.h"
#include "gateway/config.h"
#include "gateway/gpu_meter.h"
#include "gateway/http_server.h"
#include "store/store.h"

namespace sobre::gateway {

// Thread contract: construct and RegisterRoutes() on one thread before the server starts; the
// handlers then run concurrently on the server's I/O threads.
class Gateway {
 public:
  // `backends` holds one backend per entry of config.models, keyed by the model's name.
  // `store` must outlive the gateway. `gpu_meter` measures the models with `meter: nvml` (it
  // must hold their GPUs); without one, those models are estimated, with a warning.
  Gateway(const GatewayConfig& config, store::Store& store,
          std::map<std::string, std::unique_ptr<backend::Backend>> backends, const Clock& clock,
          std::unique_ptr<GpuEnergyMeter> gpu_meter = nullptr);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Routes: POST /v1/chat/completions, /v1/completions, /v1/embeddings; GET /v1/models,
  // /v1/models/{id} is optional; GET /healthz, /readyz, /metrics.
  void RegisterRoutes(HttpServer& server);

  // Not ok when the exact cache (config.cache.exact) could not be opened from the store: the
  // gateway then runs without it, and `sobre serve` refuses to start.
  Status status() const;

  // Marks the gateway not ready (/readyz 503) ahead of a shutdown.
  void SetDraining();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sobre::gateway

#endif  // SOBRE_GATEWAY_GATEWAY_H_
