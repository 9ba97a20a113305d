// The OpenAI API on top of HttpServer. One request's life (see docs and ARCHITECTURE.md): auth ->
// parse and validate -> model -> exact cache (a hit is answered here) -> rate limit -> admission slot -> budget reservation -> backend
// (with fallbacks while nothing has been sent) -> response with usage.footprint -> settle, ledger,
// metrics. The response goes out before the settle and the ledger so that neither adds latency.
#include "gateway/gateway.h"

#include <algorithm>
#include <exception>
#include <optional>
#include <utility>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "core/logging.h"
#include "gateway/internal/gateway_impl.h"

// GCC 12 inlines Asio's coroutine-frame operator new (aligned_alloc) into large coroutines and then
// warns that the frame's class-specific operator delete (which ends in free) does not match it: a
// false positive, reported at whichever coroutine the inliner happens to pick.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace sobre::gateway {
namespace {

namespace json = boost::json;
using boost::asio::awaitable;
using internal::JsonHeaders;
using internal::ModelEntry;
using internal::NonNegative;
using std::chrono::nanoseconds;

bool HasBudget(const store::Limits& l) {
  return l.tokens_per_day || l.tokens_per_month || l.wh_per_day || l.wh_per_month ||
         l.co2e_g_per_day || l.co2e_g_per_month;
}

// "co2e_g_per_day" -> "co2e-g-per-day", for x-ratelimit-* header names.
std::string HeaderSuffix(std::string_view limit_name) {
  std::string s(limit_name);
  std::replace(s.begin(), s.end(), '_', '-');
  return s;
}

std::vector<std::string> ModelNames(const GatewayConfig& config) {
  std::vector<std::string> names;
  names.reserve(config.models.size());
  for (const ModelConfig& m : config.models) names.push_back(m.name);
  return names;
}

}  // namespace

namespace internal {

backend::Endpoint EndpointOf(Operation op) {
  switch (op) {
    case Operation::kChat: return backend::Endpoint::kChatCompletions;
    case Operation::kCompletion: return backend::Endpoint::kCompletions;
    case Operation::kEmbedding: return backend::Endpoint::kEmbeddings;
  }
  return backend::Endpoint::kChatCompletions;
}

HttpHeaders JsonHeaders() {
  HttpHeaders h;
  h.emplace_back("content-type", "application/json");
  return h;
}

std::chrono::nanoseconds NonNegative(std::chrono::nanoseconds d) {
  return std::max(d, std::chrono::nanoseconds(0));
}

void FillUsage(json::object& usage, const backend::Usage& counted, Operation op,
               json::object footprint) {
  if (!counted.reported || !usage.contains("prompt_tokens")) {
    usage["prompt_tokens"] = counted.prompt_tokens;
    if (op != Operation::kEmbedding) usage["completion_tokens"] = counted.completion_tokens;
    usage["total_tokens"] = counted.prompt_tokens + counted.completion_tokens;
  }
  usage["footprint"] = std::move(footprint);
}

void AskForStreamUsage(json::object& body) {
  body["stream"] = true;
  json::value& options = body["stream_options"];
  if (!options.is_object()) options = json::object();
  options.get_object()["include_usage"] = true;
}

void RebuildBody(const HttpRequest& req, bool stream, json::object& body) {
  body = json::object();
  // The text was parsed and validated once already; it cannot fail now.
  (void)ParseJsonObject(req.body, body);
  if (stream) AskForStreamUsage(body);
}

std::string_view CacheEndpoint(Operation op) {
  switch (op) {
    case Operation::kChat: return "chat.completions";
    case Operation::kCompletion: return "completions";
    case Operation::kEmbedding: return "embeddings";
  }
  return "chat.completions";
}

int64_t MeteredTokens(Operation op, const backend::Usage& usage) {
  return op == Operation::kEmbedding ? usage.prompt_tokens : usage.completion_tokens;
}

json::object& UsageObject(json::object& body) {
  json::value& usage = body["usage"];
  if (!usage.is_object()) usage = json::object();
  return usage.get_object();
}

}  // namespace internal

Gateway::Impl::Impl(const GatewayConfig& cfg, store::Store& st,
                    std::map<std::string, std::unique_ptr<backend::Backend>> bks,
                    const Clock& clk, std::unique_ptr<GpuEnergyMeter> meter)
    : config(cfg),
      store(st),
      backends(std::move(bks)),
      clock(clk),
      gpu_meter(std::move(meter)),
      footprint(cfg.site),
      auth(st, clk, AuthOptions{.keys_declared = !cfg.keys.empty()}),
      rate_limiter(clk),
      admission(cfg.max_in_flight, cfg.max_queue),
      metrics(ModelNames(cfg), cfg.metrics_per_key),
      exact_config{.enabled = cfg.cache.exact,
                   .cache_nondeterministic = cfg.cache.cache_nondeterministic} {
  if (cfg.cache.exact) {
    cache::ExactCacheOptions options;
    options.ttl = cfg.cache.ttl;
    options.max_bytes = cfg.cache.max_bytes;
    StatusOr<std::unique_ptr<cache::ExactCache>> opened =
        cache::ExactCache::Open(&store, options, clock.WallNow());
    if (opened.ok()) {
      exact_cache = std::move(opened).value();
    } else {
      cache_open_status = opened.status().WithContext("opening the exact cache");
      SOBRE_LOG(kError, "{}; running without it", cache_open_status.ToString());
    }
  }
  if (exact_cache != nullptr) OpenSemanticCache();
  for (const std::string& w : footprint.warnings()) SOBRE_LOG(kWarning, "footprint: {}", w);
  models.reserve(config.models.size());
  for (const ModelConfig& m : config.models) {
    if (model_index.count(m.name) != 0) continue;
    ModelEntry e;
    e.config = &m;
    auto it = backends.find(m.name);
    e.backend = it == backends.end() ? nullptr : it->second.get();
    e.upstream_model = m.upstream_model.empty() ? m.name : m.upstream_model;
    e.size = ModelSizeOf(m);
    if (m.meter == MeterKind::kNvml) {
      e.metered = gpu_meter != nullptr && gpu_meter->Holds(m.gpus);
      if (!e.metered) {
        SOBRE_LOG(kWarning, "model {}: meter: nvml but its GPUs are not metered; footprints are "
                  "estimated", m.name);
      }
    }
    if (e.size.assumed && m.path.empty()) {  // Engine models report their own energy.
      SOBRE_LOG(kWarning, "model {}: no params_b configured; footprints assume {} B parameters",
                m.name, kDefaultParamsB);
    }
    if (e.backend == nullptr) SOBRE_LOG(kWarning, "model {}: no backend given", m.name);
    models.push_back(std::move(e));
    model_index.emplace(models.back().config->name, models.size() - 1);
  }
  for (ModelEntry& e : models) {
    std::vector<std::string_view> names{e.config->name};
    for (const std::string& f : e.config->fallbacks) names.push_back(f);
    e.bound_size = e.size;
    for (std::string_view name : names) {
      auto it = model_index.find(name);
      if (it == model_index.end()) {
        SOBRE_LOG(kWarning, "model {}: fallback {} is not a configured model", e.config->name,
                  name);
        continue;
      }
      const ModelEntry* c = &models[it->second];
      if (c->backend == nullptr ||
          std::find(e.candidates.begin(), e.candidates.end(), c) != e.candidates.end()) {
        continue;
      }
      e.candidates.push_back(c);
      const ModelSize& s = c->size;
      if (s.active_params_b.value_or(s.params_b) >
          e.bound_size.active_params_b.value_or(e.bound_size.params_b)) {
        e.bound_size = s;
      }
    }
  }

  const int64_t created = std::chrono::duration_cast<std::chrono::seconds>(
                              clock.WallNow().time_since_epoch())
                              .count();
  json::array data;
  for (const ModelEntry& e : models) {
    json::object m;
    m.emplace("id", e.config->name);
    m.emplace("object", "model");
    m.emplace("created", created);
    m.emplace("owned_by", "sobre");
    model_bodies.push_back(json::serialize(m));
    data.push_back(std::move(m));
  }
  json::object list;
  list.emplace("object", "list");
  list.emplace("data", std::move(data));
  models_list_body = json::serialize(list);
}

const ModelEntry* Gateway::Impl::FindModel(std::string_view name) const {
  auto it = model_index.find(name);
  return it == model_index.end() ? nullptr : &models[it->second];
}

HttpHeaders Gateway::Impl::BaseHeaders(const Exchange& x, std::string_view content_type) const {
  HttpHeaders h;
  h.reserve(20);
  h.emplace_back("content-type", std::string(content_type));
  h.emplace_back("x-request-id", x.request_id);
  return h;
}

awaitable<void> Gateway::Impl::SendError(Exchange& x, ResponseWriter& w, const ApiError& error) {
  x.http_status = error.http_status();
  x.error_code = std::string(error.code().empty() ? error.type() : error.code());
  if (error.kind == ApiErrorKind::kClientClosed || w.started()) co_return;
  HttpHeaders h = BaseHeaders(x, "application/json");
  for (auto& header : x.error_headers) h.push_back(std::move(header));
  std::string text = ApiErrorBody(error);
  Status s = co_await w.Send(x.http_status, std::move(h), std::move(text));
  if (!s.ok()) SOBRE_LOG(kDebug, "request {}: error response not sent: {}", x.request_id, s.ToString());
}

void Gateway::Impl::ComputeFootprint(Exchange& x, const ModelEntry* answered,
                                     nanoseconds backend_latency, std::optional<Joules> energy,
                                     bool energy_measured) {
  x.overhead =
      NonNegative(clock.Now() - x.start - x.backend_time - x.queue_time) + x.stream_cpu;
  RequestFootprint f;
  if (answered != nullptr && x.produced) {
    StatusOr<RequestFootprint> b = footprint.Backend(answered->size, x.usage.completion_tokens,
                                                     backend_latency, energy);
    if (b.ok()) {
      f = *b;
      if (energy.has_value() && !energy_measured) f.measured = false;
    } else {
      SOBRE_LOG(kWarning, "request {}: footprint of model {}: {}", x.request_id,
                answered->config->name, b.status().ToString());
    }
  }
  f += footprint.Overhead(x.overhead);
  x.footprint = f;
  x.has_footprint = true;
}

void Gateway::Impl::Finish(Exchange& x) {
  x.latency = clock.Now() - x.start;
  if (!x.has_footprint) ComputeFootprint(x, nullptr, nanoseconds(0), std::nullopt);
  const int64_t actual_tokens =
      x.produced ? x.usage.prompt_tokens + x.usage.completion_tokens : 0;
  if (x.reservation.has_value()) {
    store::Cost actual;
    if (x.produced) {
      actual.tokens = actual_tokens;
      actual.wh = x.footprint.energy_wh;
      actual.co2e_g = x.footprint.co2e_g;
    }
    Status s = store.Settle(x.reservation->id, actual);
    if (!s.ok()) {
      SOBRE_LOG(kError, "request {}: settling reservation {}: {}", x.request_id,
                x.reservation->id, s.ToString());
    }
  }
  if (x.caller.key && x.rate.allowed && x.rate.tokens.has_value()) {
    rate_limiter.Adjust(x.caller.key->id, x.caller.key->limits,
                        actual_tokens - x.rate.tokens_charged);
  }
  store.Append(LedgerRowOf(x));

  RequestObservation obs;
  obs.model = x.answered_by.empty() ? std::string_view(x.model) : std::string_view(x.answered_by);
  obs.op = x.op;
  obs.http_status = x.http_status;
  obs.duration_s = std::chrono::duration<double>(x.latency).count();
  if (x.ttft.has_value()) {
    obs.ttft_s = std::chrono::duration<double>(*x.ttft).count();
    if (x.produced && x.usage.completion_tokens > 1) {
      obs.tpot_s = std::chrono::duration<double>(x.latency - *x.ttft).count() /
                   static_cast<double>(x.usage.completion_tokens - 1);
    }
  }
  if (x.produced) {
    obs.input_tokens = x.usage.prompt_tokens;
    obs.output_tokens = x.usage.completion_tokens;
  }
  if (!x.model.empty()) obs.footprint = x.footprint;
  obs.overhead_s = std::chrono::duration<double>(x.overhead).count();
  if (x.caller.key) obs.key_name = x.caller.key->name;
  metrics.Record(obs);
  if (x.cache.has_value()) {
    metrics.RecordCache(x.cache->outcome, x.avoided_energy_wh, x.avoided_co2e_g);
  }
}

awaitable<void> Gateway::Impl::HandleInference(Operation op, const HttpRequest& req,
                                               ResponseWriter& w) {
  Exchange x;
  x.op = op;
  x.start = clock.Now();
  x.arrived = clock.WallNow();
  x.request_id = RequestIdFor(req.Header("x-request-id"));
  bool failed = false;
  // The one boundary where exceptions from libraries (Boost.JSON allocation, Asio) stop.
  try {
    co_await Pipeline(x, req, w);
  } catch (const std::exception& e) {
    failed = true;
    SOBRE_LOG(kError, "request {}: {}", x.request_id, e.what());
  } catch (...) {
    failed = true;
    SOBRE_LOG(kError, "request {}: unknown exception", x.request_id);
  }
  if (failed) {
    ApiError error{ApiErrorKind::kInternal, "The server had an error while processing your "
                                            "request.", ""};
    if (!w.started()) {
      co_await SendError(x, w, error);
    } else {
      x.http_status = x.http_status == 0 ? 200 : x.http_status;
      x.error_code = "server_error";
    }
  }
  Finish(x);
}

std::optional<ApiError> Gateway::Impl::Check(Exchange& x, const HttpRequest& req,
                                             json::object& body, const ModelEntry*& model) {
  if (std::optional<ApiError> e = auth.Authenticate(req.Header("authorization"), x.caller)) {
    return e;
  }
  if (req.body.size() > config.server.max_body_bytes) {
    return ApiError{ApiErrorKind::kRequestTooLarge,
                    fmt::format("Request body of {} bytes exceeds the limit of {} bytes.",
                                req.body.size(), config.server.max_body_bytes),
                    ""};
  }
  if (std::optional<ApiError> e = ParseJsonObject(req.body, body)) return e;
  if (std::optional<ApiError> e = ValidateRequest(x.op, body, x.info)) return e;
  model = FindModel(x.info.model);
  if (model == nullptr) {
    return ApiError{ApiErrorKind::kModelNotFound,
                    fmt::format("The model `{}` does not exist or you do not have access to it.",
                                x.info.model),
                    "model"};
  }
  x.model = model->config->name;
  if (model->candidates.empty()) {
    return ApiError{ApiErrorKind::kUpstreamUnavailable,
                    fmt::format("Model `{}` has no backend.", x.model), ""};
  }
  return std::nullopt;
}

std::optional<ApiError> Gateway::Impl::RateLimit(Exchange& x) {
  if (!x.caller.key) return std::nullopt;
  const int64_t output_cap = x.op == Operation::kEmbedding
                                 ? 0
                                 : x.info.max_output_tokens.value_or(0) * x.info.choices;
  x.rate = rate_limiter.Admit(x.caller.key->id, x.caller.key->limits,
                              x.info.prompt_tokens_estimate + output_cap);
  if (x.rate.allowed) return std::nullopt;
  const bool by_tokens = x.rate.refused_by == "tokens";
  const RateLimitState& state = by_tokens ? *x.rate.tokens : *x.rate.requests;
  x.error_headers.emplace_back("retry-after", RetryAfterSeconds(x.rate.retry_after));
  AddRateLimitHeaders(x.error_headers, x.rate);
  return ApiError{by_tokens ? ApiErrorKind::kRateLimitTokens : ApiErrorKind::kRateLimitRequests,
                  fmt::format("Rate limit reached for key {} on {} per min: limit {}, remaining "
                              "{}. Please try again in {}.",
                              x.caller.key->name, by_tokens ? "tokens" : "requests", state.limit,
                              state.remaining, FormatResetDuration(x.rate.retry_after)),
                  ""};
}

std::optional<ApiError> Gateway::Impl::ReserveBudget(Exchange& x, const ModelEntry& model) {
  if (!x.caller.key || !HasBudget(x.caller.key->limits)) return std::nullopt;
  const int64_t reserved_output =
      x.op == Operation::kEmbedding
          ? 0
          : x.info.max_output_tokens.value_or(kDefaultReservedOutputTokens) * x.info.choices;
  store::Cost bound;
  bound.tokens = x.info.prompt_tokens_estimate + reserved_output;
  StatusOr<RequestFootprint> f = footprint.UpperBound(model.bound_size, reserved_output);
  if (f.ok()) {
    bound.wh = f->energy_wh;
    bound.co2e_g = f->co2e_g;
  } else {
    SOBRE_LOG(kWarning, "request {}: footprint bound: {}", x.request_id, f.status().ToString());
  }
  StatusOr<store::Reservation> r = store.Reserve(*x.caller.key, bound, x.arrived);
  if (!r.ok() && (r.status().code() == StatusCode::kPermissionDenied ||
                  r.status().code() == StatusCode::kNotFound)) {
    // Revoked or deleted since the key was cached.
    return ApiError{ApiErrorKind::kInvalidApiKey, "The API key was revoked or deleted.", ""};
  }
  if (!r.ok()) {
    SOBRE_LOG(kError, "request {}: reserving budget: {}", x.request_id, r.status().ToString());
    return ApiError{ApiErrorKind::kInternal,
                    "The server could not check your budget; please retry.", ""};
  }
  if (r->granted) {
    x.reservation = *r;
    return std::nullopt;
  }
  const std::string suffix = HeaderSuffix(r->limit_name);
  const auto reset = std::chrono::duration_cast<std::chrono::milliseconds>(r->retry_after);
  x.error_headers.emplace_back("retry-after", RetryAfterSeconds(reset));
  x.error_headers.emplace_back("x-ratelimit-limit-" + suffix, fmt::format("{}", r->limit));
  x.error_headers.emplace_back("x-ratelimit-remaining-" + suffix,
                               fmt::format("{}", std::max(0.0, r->limit - r->used)));
  x.error_headers.emplace_back("x-ratelimit-reset-" + suffix, FormatResetDuration(reset));
  AddRateLimitHeaders(x.error_headers, x.rate);
  return ApiError{ApiErrorKind::kInsufficientQuota,
                  fmt::format("You exceeded your current quota: budget {} of key {} is {} and {} "
                              "is used or reserved; this request reserves up to {} tokens ({} "
                              "prompt + {} output: set max_tokens to reserve less). It resets in "
                              "{}.",
                              r->limit_name, x.caller.key->name, r->limit, r->used, bound.tokens,
                              x.info.prompt_tokens_estimate, reserved_output,
                              FormatResetDuration(reset)),
                  ""};
}

awaitable<void> Gateway::Impl::Pipeline(Exchange& x, const HttpRequest& req, ResponseWriter& w) {
  // The checks are plain functions; this coroutine only awaits named values, never a temporary
  // with a destructor (GCC 12 miscompiles some of those inside co_await expressions).
  json::object body;
  const ModelEntry* model = nullptr;
  std::optional<ApiError> error = Check(x, req, body, model);
  std::optional<internal::CachedAnswer> hit;
  if (!error.has_value()) error = DecideCache(x, req, body, hit);
  if (!error.has_value() && !hit.has_value() && x.semantic) co_await LookupSemantic(x, hit);
  if (!error.has_value() && hit.has_value()) {
    co_await AnswerFromCache(x, *hit, w);
    if (x.cache.has_value() && x.cache->outcome == cache::CacheOutcome::kSemantic) {
      boost::asio::any_io_executor executor = co_await boost::asio::this_coro::executor;
      MaybeVerify(x, req, *hit, executor);
    }
    co_return;
  }
  if (!error.has_value()) error = RateLimit(x);
  AdmissionController::Permit permit;
  if (!error.has_value()) {
    const auto queued_at = clock.Now();
    permit = co_await admission.Acquire();
    x.queue_time = clock.Now() - queued_at;
    if (!permit) {
      x.error_headers.emplace_back("retry-after", "1");
      error = ApiError{ApiErrorKind::kOverloaded,
                       "The server is overloaded; please retry after a short wait.", ""};
    } else {
      error = ReserveBudget(x, *model);
    }
  }
  if (error.has_value()) {
    co_await SendError(x, w, *error);
    co_return;
  }
  if (x.info.stream) {
    co_await DispatchStream(x, req, *model, std::move(body), w);
  } else {
    co_await Dispatch(x, req, *model, std::move(body), w);
  }
}

awaitable<void> Gateway::Impl::HandleModels(const HttpRequest& req, ResponseWriter& w,
                                            const std::string* body) {
  Exchange x;
  x.request_id = RequestIdFor(req.Header("x-request-id"));
  if (std::optional<ApiError> e = auth.Authenticate(req.Header("authorization"), x.caller)) {
    co_await SendError(x, w, *e);
    co_return;
  }
  HttpHeaders h = BaseHeaders(x, "application/json");
  std::string text = *body;
  Status s = co_await w.Send(200, std::move(h), std::move(text));
  (void)s;  // The client went away; nothing to undo.
}

awaitable<void> Gateway::Impl::HandleHealth(ResponseWriter& w) {
  HttpHeaders h = JsonHeaders();
  std::string text = R"({"status":"ok"})";
  Status s = co_await w.Send(200, std::move(h), std::move(text));
  (void)s;
}

awaitable<void> Gateway::Impl::HandleReady(ResponseWriter& w) {
  const bool is_draining = draining.load();
  HttpHeaders h = JsonHeaders();
  std::string text = is_draining ? R"({"status":"draining"})" : R"({"status":"ready"})";
  Status s = co_await w.Send(is_draining ? 503 : 200, std::move(h), std::move(text));
  (void)s;
}

awaitable<void> Gateway::Impl::HandleMetrics(ResponseWriter& w) {
  std::string text = metrics.Render(admission.in_flight(), admission.waiting());
  if (gpu_meter != nullptr) text += gpu_meter->RenderMetrics();
  HttpHeaders h;
  h.emplace_back("content-type", std::string(GatewayMetrics::kContentType));
  Status s = co_await w.Send(200, std::move(h), std::move(text));
  (void)s;
}

Gateway::Gateway(const GatewayConfig& config, store::Store& store,
                 std::map<std::string, std::unique_ptr<backend::Backend>> backends,
                 const Clock& clock, std::unique_ptr<GpuEnergyMeter> gpu_meter)
    : impl_(std::make_unique<Impl>(config, store, std::move(backends), clock,
                                   std::move(gpu_meter))) {}

Gateway::~Gateway() = default;

Status Gateway::status() const { return impl_->cache_open_status; }

void Gateway::SetDraining() { impl_->draining.store(true); }

void Gateway::RegisterRoutes(HttpServer& server) {
  Impl* impl = impl_.get();
  auto inference = [impl](Operation op) {
    return [impl, op](const HttpRequest& req, ResponseWriter& w) {
      return impl->HandleInference(op, req, w);
    };
  };
  server.Route("POST", "/v1/chat/completions", inference(Operation::kChat));
  server.Route("POST", "/v1/completions", inference(Operation::kCompletion));
  server.Route("POST", "/v1/embeddings", inference(Operation::kEmbedding));
  server.Route("GET", "/v1/models", [impl](const HttpRequest& req, ResponseWriter& w) {
    return impl->HandleModels(req, w, &impl->models_list_body);
  });
  for (size_t i = 0; i < impl->models.size(); ++i) {
    const std::string* body = &impl->model_bodies[i];
    server.Route("GET", "/v1/models/" + impl->models[i].config->name,
                 [impl, body](const HttpRequest& req, ResponseWriter& w) {
                   return impl->HandleModels(req, w, body);
                 });
  }
  server.Route("GET", "/healthz", [impl](const HttpRequest&, ResponseWriter& w) {
    return impl->HandleHealth(w);
  });
  // Route handlers are plain lambdas returning a member coroutine: a capturing lambda that is
  // itself a coroutine would leave its frame pointing into whichever copy of the std::function
  // the server called.
  server.Route("GET", "/readyz", [impl](const HttpRequest&, ResponseWriter& w) {
    return impl->HandleReady(w);
  });
  server.Route("GET", "/metrics", [impl](const HttpRequest&, ResponseWriter& w) {
    return impl->HandleMetrics(w);
  });
  server.Route("GET", "/v1/admin/cache", [impl](const HttpRequest& req, ResponseWriter& w) {
    return impl->HandleAdminCache(req, w);
  });
  server.Route("POST", "/v1/admin/cache/purge", [impl](const HttpRequest& req, ResponseWriter& w) {
    return impl->HandleAdminCachePurge(req, w);
  });
}

}  // namespace sobre::gateway