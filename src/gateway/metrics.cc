// Metrics. Bucket bounds are the OpenTelemetry GenAI semantic conventions' advisory boundaries, so
// that dashboards built for other GenAI servers (Envoy AI gateway, vLLM) read ours unchanged.
#include "gateway/metrics.h"

#include <algorithm>

#include <fmt/format.h>

namespace sobre::gateway {
namespace {

constexpr std::array<double, 14> kDurationBounds = {0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64,
                                                    1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92};
constexpr std::array<double, 16> kTtftBounds = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                                0.25,  0.5,   0.75, 1.0,  2.5,  5.0,  7.5,  10.0};
constexpr std::array<double, 13> kTpotBounds = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,
                                                0.3,  0.4,   0.5,  0.75,  1.0, 2.5};
constexpr std::array<double, 14> kTokenBounds = {1,     4,      16,      64,      256,
                                                 1024,  4096,   16384,   65536,   262144,
                                                 1048576, 4194304, 16777216, 67108864};
constexpr std::array<double, 10> kOverheadBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                    0.005,  0.01,    0.025,  0.05,  0.1};

// HTTP statuses counted separately; anything else is counted as "other".
constexpr std::array<int, 14> kStatuses = {200, 400, 401, 403, 404, 409, 413,
                                           429, 499, 500, 502, 503, 504, 0};
constexpr size_t kOps = 3;

size_t StatusIndex(int status) {
  for (size_t i = 0; i + 1 < kStatuses.size(); ++i) {
    if (kStatuses[i] == status) return i;
  }
  return kStatuses.size() - 1;
}

void AddDouble(std::atomic<double>& a, double v) { a.fetch_add(v, std::memory_order_relaxed); }

// Shortest text that reads back as the same double ("0.1", "1e-05", "+Inf").
std::string Num(double v) { return fmt::format("{}", v); }

void Header(std::string& out, std::string_view name, std::string_view type,
            std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  const size_t i = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  AddDouble(sum_, value);
  count_.fetch_add(1, std::memory_order_relaxed);
}

void Histogram::AppendTo(std::string& out, std::string_view name,
                         std::string_view labels) const {
  const std::string_view sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    fmt::format_to(std::back_inserter(out), "{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep,
                   Num(bounds_[i]), cumulative);
  }
  cumulative += buckets_[bounds_.size()].load(std::memory_order_relaxed);
  fmt::format_to(std::back_inserter(out), "{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep,
                 cumulative);
  const std::string braces = labels.empty() ? "" : fmt::format("{{{}}}", labels);
  fmt::format_to(std::back_inserter(out), "{}_sum{} {}\n{}_count{} {}\n", name, braces,
                 Num(sum_.load(std::memory_order_relaxed)), name, braces, cumulative);
}

struct GatewayMetrics::ModelBlock {
  explicit ModelBlock(std::string model_name) : name(std::move(model_name)) {}

  struct PerOp {
    Histogram duration{kDurationBounds};
    Histogram ttft{kTtftBounds};
    Histogram tpot{kTpotBounds};
    Histogram input_tokens{kTokenBounds};
    Histogram output_tokens{kTokenBounds};
    std::array<std::atomic<uint64_t>, kStatuses.size()> requests{};
  };

  std::string name;
  std::array<PerOp, kOps> ops;
  std::atomic<double> energy_j{0};
  std::atomic<double> co2e_g{0};
  std::atomic<double> embodied_co2e_g{0};
  std::atomic<double> water_l{0};
};

GatewayMetrics::GatewayMetrics(const std::vector<std::string>& model_names, bool per_key)
    : overhead_(kOverheadBounds), per_key_(per_key) {
  for (const std::string& name : model_names) {
    if (index_.count(name) != 0) continue;
    blocks_.push_back(std::make_unique<ModelBlock>(name));
    index_.emplace(blocks_.back()->name, blocks_.size() - 1);
  }
  // Requests naming no configured model share one block, so that clients cannot create series.
  blocks_.push_back(std::make_unique<ModelBlock>("unknown"));
}

GatewayMetrics::~GatewayMetrics() = default;

GatewayMetrics::ModelBlock& GatewayMetrics::BlockOf(std::string_view model) {
  auto it = index_.find(model);
  return it == index_.end() ? *blocks_.back() : *blocks_[it->second];
}

void GatewayMetrics::Record(const RequestObservation& obs) {
  ModelBlock& block = BlockOf(obs.model);
  ModelBlock::PerOp& op = block.ops[static_cast<size_t>(obs.op)];
  op.requests[StatusIndex(obs.http_status)].fetch_add(1, std::memory_order_relaxed);
  if (obs.footprint.has_value()) {
    op.duration.Observe(obs.duration_s);
    overhead_.Observe(obs.overhead_s);
    AddDouble(block.energy_j, obs.footprint->energy_wh * 3600.0);
    AddDouble(block.co2e_g, obs.footprint->co2e_g);
    AddDouble(block.embodied_co2e_g, obs.footprint->embodied_co2e_g);
    AddDouble(block.water_l, obs.footprint->water_ml / 1000.0);
  }
  if (obs.ttft_s.has_value()) op.ttft.Observe(*obs.ttft_s);
  if (obs.tpot_s.has_value()) op.tpot.Observe(*obs.tpot_s);
  if (obs.input_tokens.has_value()) op.input_tokens.Observe(static_cast<double>(*obs.input_tokens));
  if (obs.output_tokens.has_value() && obs.op != Operation::kEmbedding) {
    op.output_tokens.Observe(static_cast<double>(*obs.output_tokens));
  }
  if (per_key_) {
    std::lock_guard lock(key_mu_);
    auto it = keys_.find(obs.key_name);
    if (it == keys_.end()) it = keys_.emplace(std::string(obs.key_name), KeyBlock{}).first;
    KeyBlock& k = it->second;
    k.requests += 1;
    if (obs.footprint.has_value()) {
      k.energy_j += obs.footprint->energy_wh * 3600.0;
      k.co2e_g += obs.footprint->co2e_g;
      k.water_l += obs.footprint->water_ml / 1000.0;
    }
  }
}

std::string GatewayMetrics::Render(size_t in_flight, size_t queued) const {
  std::string out;
  out.reserve(16384 * blocks_.size());
  auto labels = [](const ModelBlock& b, size_t op) {
    return fmt::format("gen_ai_operation_name=\"{}\",gen_ai_request_model=\"{}\"",
                       OperationName(static_cast<Operation>(op)), EscapeLabelValue(b.name));
  };
  // Series that never saw a request are left out, except the footprint counters of configured
  // models (a zero there is information).
  auto histogram_family = [&](std::string_view name, std::string_view help,
                              Histogram ModelBlock::PerOp::*member) {
    Header(out, name, "histogram", help);
    for (const auto& b : blocks_) {
      for (size_t op = 0; op < kOps; ++op) {
        const Histogram& h = b->ops[op].*member;
        if (h.count() > 0) h.AppendTo(out, name, labels(*b, op));
      }
    }
  };
  histogram_family("gen_ai_server_request_duration_seconds",
                   "Time from the request's arrival to its last response byte.",
                   &ModelBlock::PerOp::duration);
  histogram_family("gen_ai_server_time_to_first_token_seconds",
                   "Streams: time from the request's arrival to the first chunk.",
                   &ModelBlock::PerOp::ttft);
  histogram_family("gen_ai_server_time_per_output_token_seconds",
                   "Streams: time per output token after the first.",
                   &ModelBlock::PerOp::tpot);

  Header(out, "gen_ai_client_token_usage", "histogram",
         "Tokens per request, by gen_ai_token_type (input, output).");
  for (const auto& b : blocks_) {
    for (size_t op = 0; op < kOps; ++op) {
      const std::string l = labels(*b, op);
      if (b->ops[op].input_tokens.count() > 0) {
        b->ops[op].input_tokens.AppendTo(out, "gen_ai_client_token_usage",
                                         l + ",gen_ai_token_type=\"input\"");
      }
      if (b->ops[op].output_tokens.count() > 0) {
        b->ops[op].output_tokens.AppendTo(out, "gen_ai_client_token_usage",
                                          l + ",gen_ai_token_type=\"output\"");
      }
    }
  }

  Header(out, "sobre_requests_total", "counter", "Requests answered, by HTTP status.");
  for (const auto& b : blocks_) {
    for (size_t op = 0; op < kOps; ++op) {
      for (size_t s = 0; s < kStatuses.size(); ++s) {
        const uint64_t n = b->ops[op].requests[s].load(std::memory_order_relaxed);
        if (n == 0) continue;
        const std::string code = kStatuses[s] == 0 ? "other" : std::to_string(kStatuses[s]);
        fmt::format_to(std::back_inserter(out), "sobre_requests_total{{{},http_status=\"{}\"}} {}\n",
                       labels(*b, op), code, n);
      }
    }
  }

  auto counter_family = [&](std::string_view name, std::string_view help,
                            std::atomic<double> ModelBlock::*member) {
    Header(out, name, "counter", help);
    for (size_t i = 0; i + 1 < blocks_.size(); ++i) {
      const ModelBlock& b = *blocks_[i];
      fmt::format_to(std::back_inserter(out), "{}{{model=\"{}\"}} {}\n", name,
                     EscapeLabelValue(b.name), Num((b.*member).load(std::memory_order_relaxed)));
    }
  };
  counter_family("sobre_energy_joules_total",
                 "Energy of the requests (backend plus gateway, after PUE), J.",
                 &ModelBlock::energy_j);
  counter_family("sobre_co2e_grams_total", "Use-phase carbon of the requests, location-based, g.",
                 &ModelBlock::co2e_g);
  counter_family("sobre_embodied_co2e_grams_total",
                 "Hardware manufacturing carbon charged to the requests, g.",
                 &ModelBlock::embodied_co2e_g);
  counter_family("sobre_water_litres_total", "Water consumed for the requests, L.",
                 &ModelBlock::water_l);

  if (per_key_) {
    std::lock_guard lock(key_mu_);
    Header(out, "sobre_key_requests_total", "counter", "Requests by API key.");
    for (const auto& [name, k] : keys_) {
      fmt::format_to(std::back_inserter(out), "sobre_key_requests_total{{key=\"{}\"}} {}\n",
                     EscapeLabelValue(name), Num(k.requests));
    }
    Header(out, "sobre_key_energy_joules_total", "counter", "Energy by API key, J.");
    for (const auto& [name, k] : keys_) {
      fmt::format_to(std::back_inserter(out), "sobre_key_energy_joules_total{{key=\"{}\"}} {}\n",
                     EscapeLabelValue(name), Num(k.energy_j));
    }
    Header(out, "sobre_key_co2e_grams_total", "counter", "Use-phase carbon by API key, g.");
    for (const auto& [name, k] : keys_) {
      fmt::format_to(std::back_inserter(out), "sobre_key_co2e_grams_total{{key=\"{}\"}} {}\n",
                     EscapeLabelValue(name), Num(k.co2e_g));
    }
    Header(out, "sobre_key_water_litres_total", "counter", "Water by API key, L.");
    for (const auto& [name, k] : keys_) {
      fmt::format_to(std::back_inserter(out), "sobre_key_water_litres_total{{key=\"{}\"}} {}\n",
                     EscapeLabelValue(name), Num(k.water_l));
    }
  }

  auto outcome_label = [](cache::CacheOutcome o) {
    switch (o) {
      case cache::CacheOutcome::kExact: return "exact";
      case cache::CacheOutcome::kSemantic: return "semantic";
      case cache::CacheOutcome::kMiss: return "miss";
      case cache::CacheOutcome::kBypass: return "bypass";
    }
    return "bypass";
  };
  constexpr cache::CacheOutcome kOutcomes[] = {cache::CacheOutcome::kExact,
                                               cache::CacheOutcome::kSemantic,
                                               cache::CacheOutcome::kMiss,
                                               cache::CacheOutcome::kBypass};
  constexpr cache::CacheOutcome kHits[] = {cache::CacheOutcome::kExact,
                                           cache::CacheOutcome::kSemantic};
  Header(out, "sobre_cache_requests_total", "counter",
         "Cache decisions: exact or semantic (answered from the cache), miss (looked up, the model "
         "answered), bypass (not looked up).");
  uint64_t hits = 0;
  uint64_t looked_up = 0;
  for (cache::CacheOutcome o : kOutcomes) {
    const uint64_t n = cache_outcomes_[static_cast<size_t>(o)].load(std::memory_order_relaxed);
    if (o != cache::CacheOutcome::kBypass) looked_up += n;
    if (o == cache::CacheOutcome::kExact || o == cache::CacheOutcome::kSemantic) hits += n;
    fmt::format_to(std::back_inserter(out), "sobre_cache_requests_total{{outcome=\"{}\"}} {}\n",
                   outcome_label(o), n);
  }
  Header(out, "sobre_cache_hit_ratio", "gauge",
         "Hits (exact + semantic) over requests looked up in the cache, since start.");
  fmt::format_to(std::back_inserter(out), "sobre_cache_hit_ratio {}\n",
                 Num(looked_up == 0 ? 0.0 : static_cast<double>(hits) / looked_up));
  Header(out, "sobre_cache_avoided_energy_joules_total", "counter",
         "Energy the cached answers' original calls used, summed over cache hits by kind, J.");
  for (cache::CacheOutcome o : kHits) {
    fmt::format_to(std::back_inserter(out),
                   "sobre_cache_avoided_energy_joules_total{{kind=\"{}\"}} {}\n", outcome_label(o),
                   Num(cache_avoided_energy_j_[static_cast<size_t>(o)].load(
                       std::memory_order_relaxed)));
  }
  Header(out, "sobre_cache_avoided_co2e_grams_total", "counter",
         "Use-phase carbon the cached answers' original calls emitted, summed over hits by kind, "
         "g.");
  for (cache::CacheOutcome o : kHits) {
    fmt::format_to(std::back_inserter(out),
                   "sobre_cache_avoided_co2e_grams_total{{kind=\"{}\"}} {}\n", outcome_label(o),
                   Num(cache_avoided_co2e_g_[static_cast<size_t>(o)].load(
                       std::memory_order_relaxed)));
  }
  const uint64_t agreed = verified_agreed_.load(std::memory_order_relaxed);
  const uint64_t disagreed = verified_disagreed_.load(std::memory_order_relaxed);
  Header(out, "sobre_cache_semantic_verifications_total", "counter",
         "Semantic hits also answered by the model in the background: agree (same answer), "
         "disagree (a measured false hit).");
  fmt::format_to(std::back_inserter(out),
                 "sobre_cache_semantic_verifications_total{{result=\"agree\"}} {}\n"
                 "sobre_cache_semantic_verifications_total{{result=\"disagree\"}} {}\n",
                 agreed, disagreed);
  Header(out, "sobre_cache_semantic_false_hit_ratio", "gauge",
         "Measured false-hit rate of the semantic cache: disagreeing verifications over all.");
  fmt::format_to(std::back_inserter(out), "sobre_cache_semantic_false_hit_ratio {}\n",
                 Num(agreed + disagreed == 0
                         ? 0.0
                         : static_cast<double>(disagreed) / static_cast<double>(agreed + disagreed)));

  Header(out, "sobre_gateway_overhead_seconds", "histogram",
         "Time each request spent in the gateway itself (outside backends and queues).");
  if (overhead_.count() > 0) overhead_.AppendTo(out, "sobre_gateway_overhead_seconds", "");
  Header(out, "sobre_requests_in_flight", "gauge", "Requests holding an admission slot.");
  fmt::format_to(std::back_inserter(out), "sobre_requests_in_flight {}\n", in_flight);
  Header(out, "sobre_requests_queued", "gauge", "Requests waiting for an admission slot.");
  fmt::format_to(std::back_inserter(out), "sobre_requests_queued {}\n", queued);
  return out;
}

void GatewayMetrics::RecordCache(cache::CacheOutcome outcome, double avoided_energy_wh,
                                 double avoided_co2e_g) {
  const size_t i = static_cast<size_t>(outcome);
  cache_outcomes_[i].fetch_add(1, std::memory_order_relaxed);
  if (avoided_energy_wh > 0) {
    cache_avoided_energy_j_[i].fetch_add(avoided_energy_wh * 3600.0, std::memory_order_relaxed);
  }
  if (avoided_co2e_g > 0) cache_avoided_co2e_g_[i].fetch_add(avoided_co2e_g, std::memory_order_relaxed);
}

void GatewayMetrics::RecordVerification(bool agreed) {
  (agreed ? verified_agreed_ : verified_disagreed_).fetch_add(1, std::memory_order_relaxed);
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace sobre::gateway
