// GatewayConfig: what `sobre serve` runs, from a YAML file and flags, validated at start with
// errors that name the file and the line.
#ifndef SOBRE_GATEWAY_CONFIG_H_
#define SOBRE_GATEWAY_CONFIG_H_

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "gateway/http_server.h"
#include "store/store.h"

namespace sobre::gateway {

// How a model's backend energy is obtained.
enum class MeterKind {
  kNone,  // Estimated (EcoLogits), unless the backend itself reports measured energy.
  kNvml,  // Measured on this host's GPUs through NVML, shared among requests by tokens.
};

// A model clients can ask for, and where it runs.
struct ModelConfig {
  std::string name;             // What clients send as "model".
  std::string upstream;         // OpenAI-compatible base URL, e.g. http://127.0.0.1:9000/v1.
  // A GGUF file served in-process by the embedded engine instead of an upstream (exactly one of
  // upstream and path is set).
  std::string path;
  int engine_threads = 0;       // Engine worker threads; 0: all cores.
  int engine_slots = 4;         // Sequences decoded together (continuous batching).
  int engine_ctx = 2048;        // Context length per slot, tokens.
  std::string chat_template;    // Overrides the file's chat template: chatml, llama2, llama3, ...
  bool semantic_cache = false;  // Answer this model's chat requests from the semantic cache.
  std::string upstream_model;   // The model name the upstream knows; default: name.
  std::string api_key_env;      // Environment variable holding the upstream's API key, if any.
  std::optional<double> params_b;         // Total parameters, billions (remote footprint).
  std::optional<double> active_params_b;  // Active parameters for MoE; default params_b.
  std::vector<std::string> fallbacks;     // Other model names to try, in order.
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds first_byte_timeout{60000};
  std::chrono::milliseconds total_timeout{600000};
  int max_retries = 2;          // Retries on connection errors, 429 and 5xx.
  size_t pool_size = 64;        // Keep-alive connections kept per upstream.
  MeterKind meter = MeterKind::kNone;  // `meter: nvml` for an upstream on this host's GPUs.
  std::vector<int> gpus;        // NVML indices of the model's GPUs (meter: nvml); empty: all.
  int line = 0;                 // Line of the entry in the config file, for messages.
};

struct KeyConfig {
  std::string name;
  std::string key_env;          // Environment variable holding the secret.
  std::string tenant;
  bool admin = false;
  store::Limits limits;
  int line = 0;
};

// Where the gateway runs, for carbon and water.
struct SiteConfig {
  std::string zone;                       // Grid zone; empty: world average (flagged).
  std::optional<double> intensity_g_per_kwh;  // Overrides zone.
  double pue = 1.0;
  std::optional<double> wue_l_per_kwh;
};

// The `cache.semantic:` section (src/cache/semantic_cache.h). The semantic cache is opt-in: it
// serves the models with `semantic_cache: true` or listed here, the keys listed here, and requests
// that send "sobre": {"semantic": true}.
struct SemanticCacheConfig {
  std::vector<std::string> models;        // Model names opted in ("*": every model).
  std::vector<std::string> keys;          // Key names opted in.
  std::string embedder = "frugal";        // "frugal", or a configured model's /v1/embeddings.
  std::optional<double> threshold;        // Least cosine similarity; default: the embedder's.
  size_t max_entries = 100'000;           // Entries in the index.
  // Fraction of semantic hits also sent to the model in the background, and the least similarity
  // (by the embedder) between the two answers for the hit to count as right.
  double verify_fraction = 0;
  std::optional<double> verify_threshold;
  int line = 0;
};

// The `cache:` section: the exact cache of answers (src/cache/exact_cache.h).
struct CacheConfig {
  bool exact = true;                      // Use the exact cache. Default true.
  std::chrono::seconds ttl{86400};        // Lifetime of an entry from its store. Default 24 h.
  size_t max_bytes = size_t{256} << 20;   // Memory held by entries, bytes. Default 256 MiB.
  bool cache_nondeterministic = false;    // Also cache sampling requests. Default false.
  SemanticCacheConfig semantic;
};

struct GatewayConfig {
  HttpServerOptions server;
  std::string store_url = "sqlite://sobre.db";
  store::StoreOptions store;
  SiteConfig site;
  std::vector<ModelConfig> models;
  std::vector<KeyConfig> keys;
  std::string admin_key_env;              // Env var holding an admin secret, optional.
  // NVML library for `meter: nvml` models; empty: SOBRE_NVML_LIBRARY, else libnvidia-ml.so.1.
  std::string nvml_library;
  size_t max_in_flight = 1024;            // Requests handled at once, across all models.
  size_t max_queue = 4096;                // Waiting beyond that; more get 503 + retry-after.
  bool metrics_per_key = false;           // Per-key labels on /metrics (cardinality).
  CacheConfig cache;
  std::chrono::milliseconds shutdown_deadline{10000};
  std::string source;                     // Config file path, or "defaults".
};

// Reads and validates a config file (unknown keys, bad URLs, duplicate or unknown model names in
// fallbacks, bad numbers: each an error naming file:line).
StatusOr<GatewayConfig> LoadGatewayConfig(const std::string& path);
// The configuration `sobre serve` uses without a file.
GatewayConfig DefaultGatewayConfig();

}  // namespace sobre::gateway

#endif  // SOBRE_GATEWAY_CONFIG_H_
