// Gateway::Impl, shared by the files that implement the gateway: gateway.cc (set-up, the checks
// before dispatch, settle/ledger/metrics, routes) and gateway_dispatch.cc (calls to backends,
// fallbacks, streaming).
#ifndef SOBRE_GATEWAY_INTERNAL_GATEWAY_IMPL_H_
#define SOBRE_GATEWAY_INTERNAL_GATEWAY_IMPL_H_

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include "backend/backend.h"
#include "cache/cache_key.h"
#include "cache/embedder.h"
#include "cache/exact_cache.h"
#include "cache/semantic_cache.h"
#include "core/clock.h"
#include "gateway/admission.h"
#include "gateway/auth.h"
#include "gateway/config.h"
#include "gateway/errors.h"
#include "gateway/exchange.h"
#include "gateway/gateway.h"
#include "gateway/gpu_meter.h"
#include "gateway/http_server.h"
#include "gateway/metrics.h"
#include "gateway/openai_validate.h"
#include "gateway/rate_limiter.h"
#include "gateway/request_footprint.h"
#include "store/store.h"

namespace sobre::gateway {
namespace internal {

struct ModelEntry {
  const ModelConfig* config = nullptr;
  backend::Backend* backend = nullptr;   // Null when no backend was given for the model.
  std::string upstream_model;            // The name the backend knows.
  bool metered = false;                  // Energy measured by Impl::gpu_meter (meter: nvml).
  ModelSize size;
  ModelSize bound_size;                  // The largest of the candidates, for reservations.
  std::vector<const ModelEntry*> candidates;  // This model, then its fallbacks, with backends.
};

backend::Endpoint EndpointOf(Operation op);
HttpHeaders JsonHeaders();
std::chrono::nanoseconds NonNegative(std::chrono::nanoseconds d);
// Sets usage's token counts when the backend counted them itself (the upstream sent none), and
// adds the footprint.
void FillUsage(boost::json::object& usage, const backend::Usage& counted, Operation op,
               boost::json::object footprint);
// body["usage"] as an object (created if absent).
boost::json::object& UsageObject(boost::json::object& body);
// Streams ask every backend for usage, whatever the client asked: the ledger and budgets need it.
void AskForStreamUsage(boost::json::object& body);
// The body for a fallback, parsed again from the request: the previous attempt consumed its copy,
// and re-parsing on this rare path is cheaper than copying every request's body up front.
void RebuildBody(const HttpRequest& req, bool stream, boost::json::object& body);
// The exact cache's name of an operation: "chat.completions", "completions", "embeddings".
std::string_view CacheEndpoint(Operation op);

// An exact-cache hit: the stored response and when it was stored.
struct CachedAnswer {
  boost::json::object body;
  store::TimePoint created;
};

// The tokens a metered request is weighed by: output tokens, or input tokens for embeddings.
int64_t MeteredTokens(Operation op, const backend::Usage& usage);

// Assembles a streamed chat or text completion, chunk by chunk, into the body the same request
// would have had non-streamed, for the exact cache: per choice index the concatenated content
// (chat) or text (completions) and the finish_reason. Gives up (ok() false) on what it does not
// assemble: tool calls, function calls, refusals and logprobs; such streams are not stored.
class StreamAssembler {
 public:
  // Starts afresh (a fallback's attempt): `active` false ignores every chunk.
  void Reset(bool active, bool chat);
  // One relayed chunk, as the backend sent it.
  void Add(const boost::json::object& chunk);
  // The chat.completion / text_completion body, without usage; nullopt when it gave up, saw no
  // chunk or a choice has no finish_reason.
  std::optional<boost::json::object> Build(std::string_view model) const;

 private:
  struct Choice {
    int64_t index = 0;
    std::string text;
    bool has_text = false;
    boost::json::value finish_reason;
  };
  bool active_ = false;
  bool chat_ = true;
  bool ok_ = true;
  bool seen_ = false;
  boost::json::value id_;
  boost::json::value created_;
  boost::json::value system_fingerprint_;
  std::vector<Choice> choices_;  // In order of first appearance; a few at most.
};

}  // namespace internal

// Thread contract: immutable after construction apart from its thread-safe members (auth cache,
// rate limiter, admission, metrics, draining flag); one Exchange per request coroutine.
struct Gateway::Impl {
  Impl(const GatewayConfig& cfg, store::Store& st,
       std::map<std::string, std::unique_ptr<backend::Backend>> bks, const Clock& clk,
       std::unique_ptr<GpuEnergyMeter> meter);

  class Sink;

  // gateway.cc: a request from arrival to its last byte, then settle, ledger and metrics.
  boost::asio::awaitable<void> HandleInference(Operation op, const HttpRequest& req,
                                               ResponseWriter& w);
  // Checks (auth, body, model, rate limit), admission, reservation, then dispatch.
  boost::asio::awaitable<void> Pipeline(Exchange& x, const HttpRequest& req, ResponseWriter& w);
  // The checks before admission; an error to send, or nullopt with `body` and `model` set.
  std::optional<ApiError> Check(Exchange& x, const HttpRequest& req, boost::json::object& body,
                                const internal::ModelEntry*& model);
  // The key's per-minute rate limits (after the cache: a hit is not limited).
  std::optional<ApiError> RateLimit(Exchange& x);
  // Reserves the request's upper-bound cost when the key has budgets.
  std::optional<ApiError> ReserveBudget(Exchange& x, const internal::ModelEntry& model);
  // Sends `error` with x.error_headers unless a response has started; records it in `x`.
  boost::asio::awaitable<void> SendError(Exchange& x, ResponseWriter& w, const ApiError& error);
  boost::asio::awaitable<void> HandleModels(const HttpRequest& req, ResponseWriter& w,
                                            const std::string* body);
  boost::asio::awaitable<void> HandleHealth(ResponseWriter& w);
  boost::asio::awaitable<void> HandleReady(ResponseWriter& w);
  boost::asio::awaitable<void> HandleMetrics(ResponseWriter& w);
  // gateway_admin.cc: the cache's admin endpoints (admin keys only, unless the server is open).
  std::optional<ApiError> CheckAdmin(Exchange& x, const HttpRequest& req);
  boost::json::object CacheStatsJson() const;
  boost::asio::awaitable<void> HandleAdminCache(const HttpRequest& req, ResponseWriter& w);
  boost::asio::awaitable<void> HandleAdminCachePurge(const HttpRequest& req, ResponseWriter& w);
  // Sets x.overhead and x.footprint: the answering backend's share (if it produced anything)
  // plus the gateway's. `energy`, when set, is a meter reading, or the backend's own estimate
  // when `energy_measured` is false (the footprint then says "estimated").
  void ComputeFootprint(Exchange& x, const internal::ModelEntry* answered,
                        std::chrono::nanoseconds backend_latency, std::optional<Joules> energy,
                        bool energy_measured = true);
  // Settles the reservation, corrects the token bucket, appends the ledger row, records metrics.
  void Finish(Exchange& x);

  // gateway_cache.cc: opens the semantic cache over the exact cache (logs and runs without it on
  // failure).
  void OpenSemanticCache();
  // gateway_cache.cc: decides the exact cache's part (sets x.cache and friends) and looks the
  // request up; an error for a bad "sobre" extension, or nullopt with `hit` set on a hit.
  std::optional<ApiError> DecideCache(Exchange& x, const HttpRequest& req,
                                      const boost::json::object& body,
                                      std::optional<internal::CachedAnswer>& hit);
  // Answers from a hit, streamed or not, as a live answer would look; no backend is called.
  boost::asio::awaitable<void> AnswerFromCache(Exchange& x, internal::CachedAnswer& hit,
                                               ResponseWriter& w);
  // After an exact miss: embeds the request's last user message and looks it up in the semantic
  // cache when x.semantic; sets `hit` and x.cache on a hit.
  boost::asio::awaitable<void> LookupSemantic(Exchange& x, std::optional<internal::CachedAnswer>& hit);
  // Whether the semantic cache serves this request's model / key / body (before scoping).
  bool SemanticOptedIn(const Exchange& x, const cache::CacheDecision& decision) const;
  // On a semantic hit, maybe (verify_fraction) asks the model in the background and compares its
  // answer with the cached one: metric, ledger row and log.
  void MaybeVerify(const Exchange& x, const HttpRequest& req, const internal::CachedAnswer& hit,
                   boost::asio::any_io_executor executor);
  boost::asio::awaitable<void> Verify(Exchange x, boost::json::object body,
                                      std::string cached_text);
  // Stores `body_text`, a 2xx non-streamed answer, when x.cache_store says so.
  void StoreAnswer(const Exchange& x, const std::string& body_text);
  // True when a streamed miss should be assembled for StoreAnswer (chat or text completions).
  bool WantsStreamStore(const Exchange& x) const;

  // gateway_dispatch.cc: the model's candidates in order, falling back on fallback-eligible
  // errors while nothing has been sent to the client.
  boost::asio::awaitable<void> Dispatch(Exchange& x, const HttpRequest& req,
                                        const internal::ModelEntry& model,
                                        boost::json::object body, ResponseWriter& w);
  boost::asio::awaitable<void> DispatchStream(Exchange& x, const HttpRequest& req,
                                              const internal::ModelEntry& model,
                                              boost::json::object body, ResponseWriter& w);
  HttpHeaders BaseHeaders(const Exchange& x, std::string_view content_type) const;
  const internal::ModelEntry* FindModel(std::string_view name) const;

  const GatewayConfig config;
  store::Store& store;
  const std::map<std::string, std::unique_ptr<backend::Backend>> backends;
  const Clock& clock;
  const std::unique_ptr<GpuEnergyMeter> gpu_meter;  // Null when no model has meter: nvml.
  FootprintModel footprint;
  Authenticator auth;
  RateLimiter rate_limiter;
  AdmissionController admission;
  GatewayMetrics metrics;
  std::vector<internal::ModelEntry> models;
  std::unordered_map<std::string_view, size_t> model_index;
  std::string models_list_body;                  // GET /v1/models, built once.
  std::vector<std::string> model_bodies;         // GET /v1/models/{id}, by model index.
  std::atomic<bool> draining{false};
  const cache::ExactCacheConfig exact_config;
  std::unique_ptr<cache::ExactCache> exact_cache;  // Null when disabled or not opened.
  Status cache_open_status;                        // Why exact_cache could not be opened.
  // Semantic cache: null unless some model or key opted in and the exact cache is open.
  std::unique_ptr<cache::Embedder> embedder;
  std::unique_ptr<cache::SemanticCache> semantic_cache;
  double verify_threshold = 0;                     // Answer similarity counted as agreement.
  std::atomic<uint64_t> semantic_hits_seen{0};     // For verify_fraction sampling.
  std::atomic<int> verifications_in_flight{0};
};

}  // namespace sobre::gateway

#endif  // SOBRE_GATEWAY_INTERNAL_GATEWAY_IMPL_H_
