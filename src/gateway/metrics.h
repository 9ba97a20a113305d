// Gateway metrics in the Prometheus text format: OpenTelemetry GenAI semantic-convention
// histograms under their Prometheus names (gen_ai.server.request.duration ->
// gen_ai_server_request_duration_seconds), request counts by status, and sobre's footprint
// counters by model. Recording is lock-free (atomics in per-model blocks fixed at start).
#ifndef SOBRE_GATEWAY_METRICS_H_
#define SOBRE_GATEWAY_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/cache_status.h"
#include "gateway/openai_validate.h"
#include "gateway/request_footprint.h"

namespace sobre::gateway {

// A Prometheus histogram with fixed bucket bounds. Thread contract: thread-safe, lock-free.
class Histogram {
 public:
  // `bounds` are the buckets' upper bounds, increasing; they must outlive the histogram.
  explicit Histogram(std::span<const double> bounds);
  void Observe(double value);
  // Appends the _bucket, _sum and _count lines; `labels` is "a=\"x\",b=\"y\"" or empty.
  void AppendTo(std::string& out, std::string_view name, std::string_view labels) const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::span<const double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // Not cumulative; bounds_.size() + 1.
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

// What one finished request contributes.
struct RequestObservation {
  std::string_view model;       // The config model that answered (or was asked); "" if none.
  Operation op = Operation::kChat;
  int http_status = 200;
  double duration_s = 0;                 // Arrival to last byte.
  std::optional<double> ttft_s;          // Streams: arrival to first chunk.
  std::optional<double> tpot_s;          // Streams: (duration - ttft) / (output tokens - 1).
  std::optional<int64_t> input_tokens;   // Set when the backend answered.
  std::optional<int64_t> output_tokens;
  std::optional<RequestFootprint> footprint;  // Set when the request reached a backend.
  double overhead_s = 0;                 // Gateway time outside the backend and queues.
  std::string_view key_name;             // Used only with per-key metrics.
};

// Thread contract: Record() and Render() are thread-safe. Model blocks are created in the
// constructor and never change, so recording takes no lock; the optional per-key counters take
// one mutex (off by default: per-key labels multiply series).
class GatewayMetrics {
 public:
  GatewayMetrics(const std::vector<std::string>& model_names, bool per_key);
  ~GatewayMetrics();
  GatewayMetrics(const GatewayMetrics&) = delete;
  GatewayMetrics& operator=(const GatewayMetrics&) = delete;

  void Record(const RequestObservation& obs);
  // Counts one exact-cache decision; on a hit, adds what the original answer cost (Wh, g CO2e).
  void RecordCache(cache::CacheOutcome outcome, double avoided_energy_wh, double avoided_co2e_g);
  // Counts one background verification of a semantic hit: whether the model's fresh answer agreed
  // with the cached one.
  void RecordVerification(bool agreed);

  // The whole exposition, with the admission gauges given by the caller.
  std::string Render(size_t in_flight, size_t queued) const;

  // The Content-Type of Render()'s output.
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  struct ModelBlock;
  struct KeyBlock {
    double requests = 0;
    double energy_j = 0;
    double co2e_g = 0;
    double water_l = 0;
  };

  ModelBlock& BlockOf(std::string_view model);

  std::vector<std::unique_ptr<ModelBlock>> blocks_;  // One per model, then "unknown".
  std::unordered_map<std::string_view, size_t> index_;  // Views into blocks_' names.
  Histogram overhead_;
  std::array<std::atomic<uint64_t>, 4> cache_outcomes_{};  // By CacheOutcome.
  std::array<std::atomic<double>, 4> cache_avoided_energy_j_{};  // By CacheOutcome (hits only).
  std::array<std::atomic<double>, 4> cache_avoided_co2e_g_{};
  std::atomic<uint64_t> verified_agreed_{0};
  std::atomic<uint64_t> verified_disagreed_{0};
  const bool per_key_;
  mutable std::mutex key_mu_;
  std::map<std::string, KeyBlock, std::less<>> keys_;  // Guarded by key_mu_.
};

// Escapes a Prometheus label value (backslash, double quote, newline).
std::string EscapeLabelValue(std::string_view value);

}  // namespace sobre::gateway

#endif  // SOBRE_GATEWAY_METRICS_H_
