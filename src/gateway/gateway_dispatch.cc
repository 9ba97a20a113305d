// Calls to backends: the ordered fallbacks, non-streamed answers, and streams relayed chunk by chunk
// with the status held until the first chunk.
#include <optional>
#include <string>
#include <utility>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "core/logging.h"
#include "gateway/internal/gateway_impl.h"
#include "gateway/sse.h"

// GCC 12 inlines Asio's coroutine-frame operator new (aligned_alloc) into large coroutines and then
// warns that the frame's class-specific operator delete (which ends in free) does not match it: a
// false positive, reported at whichever coroutine the inliner happens to pick.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace sobre::gateway {

namespace json = boost::json;
using boost::asio::awaitable;
using internal::AskForStreamUsage;
using internal::EndpointOf;
using internal::FillUsage;
using internal::MeteredTokens;
using internal::ModelEntry;
using internal::NonNegative;
using internal::RebuildBody;
using internal::UsageObject;
using std::chrono::nanoseconds;

awaitable<void> Gateway::Impl::Dispatch(Exchange& x, const HttpRequest& req,
                                        const ModelEntry& model, json::object body,
                                        ResponseWriter& w) {
  Status last;
  const size_t n = model.candidates.size();
  for (size_t i = 0; i < n; ++i) {
    const ModelEntry& c = *model.candidates[i];
    backend::BackendRequest request;
    request.endpoint = EndpointOf(x.op);
    request.request_id = x.request_id;
    if (i > 0) RebuildBody(req, false, body);
    request.body = std::move(body);
    request.body["model"] = c.upstream_model;
    // Ends (charging nothing) when this attempt fails and the loop moves on.
    std::optional<GpuEnergyMeter::Request> metered;
    if (c.metered) metered = gpu_meter->Begin(c.config->gpus);
    const auto t0 = clock.Now();
    StatusOr<backend::BackendResult> r = co_await c.backend->Call(std::move(request), nullptr);
    const nanoseconds call_time = clock.Now() - t0;
    x.backend_time += call_time;
    if (r.ok()) {
      backend::BackendResult& result = *r;
      x.answered_by = c.config->name;
      x.backend_name = c.backend->name();
      x.produced = true;
      x.usage = result.usage;
      std::optional<Joules> energy = result.energy;
      const bool measured = metered.has_value() || !result.energy_estimated;
      if (metered.has_value()) energy = metered->Finish(MeteredTokens(x.op, result.usage));
      ComputeFootprint(x, &c, result.total > nanoseconds(0) ? result.total : call_time, energy,
                       measured);
      json::object& out = result.body;
      out["model"] = c.config->name;
      FillUsage(UsageObject(out), result.usage, x.op,
                FootprintJson(x.footprint, footprint.intensity()));
      HttpHeaders h = BaseHeaders(x, "application/json");
      h.emplace_back("x-sobre-model", c.config->name);
      h.emplace_back("x-sobre-cache", cache::HeaderValue(x.cache.value_or(cache::CacheStatus{})));
      AddFootprintHeaders(h, x.footprint, footprint.intensity());
      h.emplace_back("x-sobre-overhead-ms", FormatMs(x.overhead));
      h.emplace_back("openai-processing-ms",
                     std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        clock.Now() - x.start)
                                        .count()));
      AddRateLimitHeaders(h, x.rate);
      x.http_status = 200;
      std::string text = json::serialize(out);
      StoreAnswer(x, text);
      Status s = co_await w.Send(200, std::move(h), std::move(text));
      if (!s.ok()) {
        SOBRE_LOG(kDebug, "request {}: response not sent: {}", x.request_id, s.ToString());
        x.http_status = 499;
        x.error_code = "client_closed";
      }
      co_return;
    }
    last = r.status();
    if (!IsFallbackEligible(last.code()) || i + 1 == n) break;
    SOBRE_LOG(kWarning, "request {}: model {} failed ({}); falling back to {}", x.request_id,
              c.config->name, last.ToString(), model.candidates[i + 1]->config->name);
  }
  ApiError error = ApiErrorFromStatus(last);
  if (error.kind != ApiErrorKind::kInvalidRequest) {
    error.message = fmt::format("Model `{}`: {}", x.model, error.message);
  }
  co_await SendError(x, w, error);
}

// Receives a backend's chunks and relays them to the client. The response status is sent with the
// first chunk, so that a backend failing before it can still be replaced by a fallback.
class Gateway::Impl::Sink final : public backend::StreamSink {
 public:
  Sink(Impl& impl, Exchange& x, ResponseWriter& w) : impl_(impl), x_(x), w_(w) {}

  // Prepares for a call to `c`'s backend starting now; `metered` (may be null) is told of each
  // content chunk as a token.
  void Begin(const ModelEntry& c, GpuEnergyMeter::Request* metered) {
    answering_ = &c;
    metered_ = metered;
    call_start_ = impl_.clock.Now();
    backend_before_ = x_.backend_time;
    assembler_.Reset(impl_.WantsStreamStore(x_), x_.op == Operation::kChat);
  }

  awaitable<bool> OnChunk(json::object chunk) override {
    if (!started_) {
      if (!co_await Start(impl_.clock.Now())) co_return false;
      if (const json::value* id = chunk.if_contains("id")) id_ = *id;
      if (const json::value* created = chunk.if_contains("created")) created_ = *created;
      if (const json::value* object = chunk.if_contains("object")) object_ = *object;
    }
    // Our work on the chunk (not the socket writes) is gateway overhead inside the backend call.
    const auto t0 = impl_.clock.Now();
    assembler_.Add(chunk);
    chunk["model"] = answering_->config->name;
    if (x_.info.include_usage) {
      chunk["usage"] = nullptr;
    } else {
      chunk.erase("usage");
    }
    if (const json::value* choices = chunk.if_contains("choices");
        choices != nullptr && choices->is_array() && !choices->get_array().empty()) {
      ++content_chunks_;
      if (metered_ != nullptr) metered_->AddTokens(1);
    }
    std::string event = SseData(chunk);
    x_.stream_cpu += impl_.clock.Now() - t0;
    Status s = co_await w_.WriteChunk(std::move(event));
    if (!s.ok()) {
      client_gone_ = true;
      co_return false;
    }
    co_return true;
  }

  // Sends the status and headers. False when the client is gone.
  awaitable<bool> Start(std::chrono::steady_clock::time_point now) {
    started_ = true;
    x_.ttft = now - x_.start;
    x_.answered_by = answering_->config->name;
    x_.backend_name = answering_->backend->name();
    // Gateway time before the first chunk: what the client waited for us, not for the model.
    const nanoseconds overhead_so_far =
        NonNegative(call_start_ - x_.start - x_.queue_time - backend_before_);
    HttpHeaders h = impl_.BaseHeaders(x_, "text/event-stream");
    h.emplace_back("cache-control", "no-cache");
    h.emplace_back("x-sobre-model", answering_->config->name);
    h.emplace_back("x-sobre-cache", cache::HeaderValue(x_.cache.value_or(cache::CacheStatus{})));
    h.emplace_back("x-sobre-method", answering_->metered || answering_->backend->is_local()
                                         ? "measured"
                                         : "estimated");
    h.emplace_back("x-sobre-zone", impl_.footprint.intensity().zone);
    h.emplace_back("x-sobre-overhead-ms", FormatMs(overhead_so_far));
    AddRateLimitHeaders(h, x_.rate);
    Status s = co_await w_.StartStream(200, std::move(h));
    x_.http_status = 200;
    if (!s.ok()) {
      client_gone_ = true;
      co_return false;
    }
    co_return true;
  }

  // The final chunk: choices [] and the totals with the footprint.
  json::object UsageChunk(std::optional<json::object> upstream) const {
    json::object chunk;
    if (upstream.has_value()) chunk = std::move(*upstream);
    if (!chunk.contains("id")) chunk["id"] = id_.is_null() ? json::value(x_.request_id) : id_;
    if (!chunk.contains("object")) {
      chunk["object"] = object_.is_null() ? json::value(x_.op == Operation::kChat
                                                            ? "chat.completion.chunk"
                                                            : "text_completion")
                                          : object_;
    }
    if (!chunk.contains("created")) {
      chunk["created"] = created_.is_null()
                             ? json::value(std::chrono::duration_cast<std::chrono::seconds>(
                                               x_.arrived.time_since_epoch())
                                               .count())
                             : created_;
    }
    chunk["model"] = answering_->config->name;
    chunk["choices"] = json::array();
    FillUsage(UsageObject(chunk), x_.usage, x_.op,
              FootprintJson(x_.footprint, impl_.footprint.intensity()));
    return chunk;
  }

  // The relayed chunks as a non-streamed body (no usage) for the exact cache, if assembled.
  std::optional<json::object> Assembled() const {
    return assembler_.Build(answering_->config->name);
  }

  bool started() const { return started_; }
  bool client_gone() const { return client_gone_; }
  int64_t content_chunks() const { return content_chunks_; }

 private:
  Impl& impl_;
  Exchange& x_;
  ResponseWriter& w_;
  const ModelEntry* answering_ = nullptr;
  GpuEnergyMeter::Request* metered_ = nullptr;
  std::chrono::steady_clock::time_point call_start_{};
  nanoseconds backend_before_{0};
  bool started_ = false;
  bool client_gone_ = false;
  int64_t content_chunks_ = 0;
  json::value id_;
  json::value created_;
  json::value object_;
  internal::StreamAssembler assembler_;
};

awaitable<void> Gateway::Impl::DispatchStream(Exchange& x, const HttpRequest& req,
                                              const ModelEntry& model, json::object body,
                                              ResponseWriter& w) {
  AskForStreamUsage(body);

  Sink sink(*this, x, w);
  Status last;
  const size_t n = model.candidates.size();
  for (size_t i = 0; i < n; ++i) {
    const ModelEntry& c = *model.candidates[i];
    backend::BackendRequest request;
    request.endpoint = EndpointOf(x.op);
    request.stream = true;
    request.request_id = x.request_id;
    if (i > 0) RebuildBody(req, true, body);
    request.body = std::move(body);
    request.body["model"] = c.upstream_model;
    std::optional<GpuEnergyMeter::Request> metered;
    if (c.metered) metered = gpu_meter->Begin(c.config->gpus);
    sink.Begin(c, metered.has_value() ? &*metered : nullptr);
    const auto t0 = clock.Now();
    StatusOr<backend::BackendResult> r = co_await c.backend->Call(std::move(request), &sink);
    const nanoseconds call_time = clock.Now() - t0;
    x.backend_time += call_time;

    if (sink.client_gone() || (sink.started() && !r.ok())) {
      // Whatever was generated is charged: the backend's count if it finished, else one token
      // per chunk relayed.
      x.produced = true;
      if (r.ok()) {
        x.usage = r->usage;
      } else {
        x.usage.prompt_tokens = x.info.prompt_tokens_estimate;
        x.usage.completion_tokens = sink.content_chunks();
      }
      std::optional<Joules> energy = r.ok() ? r->energy : std::nullopt;
      const bool measured = metered.has_value() || !r.ok() || !r->energy_estimated;
      if (metered.has_value()) energy = metered->Finish(MeteredTokens(x.op, x.usage));
      ComputeFootprint(x, &c, call_time, energy, measured);
      if (sink.client_gone()) {
        x.http_status = 499;
        x.error_code = "client_closed";
        co_return;
      }
      // The upstream broke mid-stream: an error event and no [DONE], so that the client cannot
      // take the cut answer for a whole one.
      ApiError error = ApiErrorFromStatus(r.status());
      error.message = fmt::format("Model `{}`: the stream broke: {}", x.model, error.message);
      x.error_code = std::string(error.code().empty() ? error.type() : error.code());
      std::string event = SseError(error);
      Status s = co_await w.WriteChunk(std::move(event));
      if (s.ok()) s = co_await w.EndStream();
      co_return;
    }
    if (r.ok()) {
      backend::BackendResult& result = *r;
      if (!sink.started() && !co_await sink.Start(clock.Now())) {
        x.http_status = 499;
        x.error_code = "client_closed";
        co_return;
      }
      x.produced = true;
      x.usage = result.usage;
      std::optional<Joules> energy = result.energy;
      const bool measured = metered.has_value() || !result.energy_estimated;
      if (metered.has_value()) energy = metered->Finish(MeteredTokens(x.op, result.usage));
      ComputeFootprint(x, &c, result.total > nanoseconds(0) ? result.total : call_time, energy,
                       measured);
      // A clean, finished stream is stored as the equivalent non-streamed answer.
      if (std::optional<json::object> assembled = sink.Assembled()) {
        json::object& usage = UsageObject(*assembled);
        if (result.usage_chunk.has_value()) {
          if (const json::value* u = result.usage_chunk->if_contains("usage");
              u != nullptr && u->is_object()) {
            usage = u->get_object();
          }
        }
        FillUsage(usage, result.usage, x.op, FootprintJson(x.footprint, footprint.intensity()));
        StoreAnswer(x, json::serialize(*assembled));
      }
      Status s;
      if (x.info.include_usage) {
        std::string usage_event = SseData(sink.UsageChunk(std::move(result.usage_chunk)));
        s = co_await w.WriteChunk(std::move(usage_event));
      }
      if (s.ok()) {
        std::string done(kSseDone);
        s = co_await w.WriteChunk(std::move(done));
      }
      if (s.ok()) s = co_await w.EndStream();
      if (!s.ok()) {
        SOBRE_LOG(kDebug, "request {}: end of stream not sent: {}", x.request_id, s.ToString());
      }
      co_return;
    }
    last = r.status();
    if (!IsFallbackEligible(last.code()) || i + 1 == n) break;
    SOBRE_LOG(kWarning, "request {}: model {} failed before its first chunk ({}); falling back "
              "to {}",
              x.request_id, c.config->name, last.ToString(), model.candidates[i + 1]->config->name);
  }
  ApiError error = ApiErrorFromStatus(last);
  if (error.kind != ApiErrorKind::kInvalidRequest) {
    error.message = fmt::format("Model `{}`: {}", x.model, error.message);
  }
  co_await SendError(x, w, error);
}

}  // namespace sobre::gateway
