// The engine's side of the gateway. The engine thread calls each request's CallState (a
// GenerationSink) with tokens; it detokenises, applies stop strings, queues the text and wakes the
// request's coroutine through a one-slot concurrent channel (a lost wake-up is impossible: a
// notification sent while one is pending is simply merged into it).
#include "backend/engine_backend.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <mutex>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "engine/model/hparams.h"
#include "engine/model/model.h"
#include "engine/runtime/engine.h"
#include "engine/runtime/model_adapter.h"
#include "engine/runtime/stop_matcher.h"
#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/streaming_detokenizer.h"
#include "engine/tokenizer/vocab.h"

// GCC 12 inlines Asio's coroutine-frame operator new into large coroutines and then warns that the
// frame's operator delete does not match it: a false positive (as in gateway/gateway.cc).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace sobre::backend {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using engine::FinishReason;
using engine::GenerationResult;
using engine::SampledToken;
using SteadyClock = std::chrono::steady_clock;
using Notifier = asio::experimental::concurrent_channel<void(boost::system::error_code)>;

// ---- Request parsing -------------------------------------------------------------------------

std::optional<double> Number(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (v->is_double()) return v->get_double();
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  return std::nullopt;
}

Status CheckNumber(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v != nullptr && !v->is_null() && !v->is_number()) {
    return InvalidArgumentError(std::string(key) + " must be a number");
  }
  return OkStatus();
}

struct GenerationParams {
  engine::SamplingParams sampling;
  int32_t max_tokens = 0;
  std::vector<std::string> stops;
  bool logprobs = false;
  bool include_usage = true;
};

StatusOr<GenerationParams> ParseGenerationParams(const json::object& body, bool chat) {
  GenerationParams g;
  for (const char* k : {"temperature", "top_p", "top_k", "min_p", "seed", "frequency_penalty",
                        "presence_penalty", "repetition_penalty", "max_tokens",
                        "max_completion_tokens", "n", "top_logprobs"}) {
    SOBRE_RETURN_IF_ERROR(CheckNumber(body, k));
  }
  engine::SamplingParams& s = g.sampling;
  if (auto v = Number(body, "temperature")) s.temperature = static_cast<float>(*v);
  if (auto v = Number(body, "top_p")) s.top_p = static_cast<float>(*v);
  if (auto v = Number(body, "top_k")) s.top_k = static_cast<int>(*v);
  if (auto v = Number(body, "min_p")) s.min_p = static_cast<float>(*v);
  if (auto v = Number(body, "frequency_penalty")) s.frequency_penalty = static_cast<float>(*v);
  if (auto v = Number(body, "presence_penalty")) s.presence_penalty = static_cast<float>(*v);
  if (auto v = Number(body, "repetition_penalty")) s.repetition_penalty = static_cast<float>(*v);
  if (const json::value* v = body.if_contains("seed"); v != nullptr && v->is_int64()) {
    s.seed = static_cast<uint64_t>(v->get_int64());
  } else if (v != nullptr && v->is_uint64()) {
    s.seed = v->get_uint64();
  }
  std::optional<double> max = Number(body, "max_completion_tokens");
  if (!max) max = Number(body, "max_tokens");
  if (max) {
    if (*max < 1 || *max > 1e9) return InvalidArgumentError("max_tokens must be at least 1");
    g.max_tokens = static_cast<int32_t>(*max);
  }
  if (auto n = Number(body, "n"); n && *n != 1) {
    return InvalidArgumentError("n: the embedded engine returns one choice per request (n = 1)");
  }
  if (const json::value* stop = body.if_contains("stop"); stop != nullptr && !stop->is_null()) {
    if (stop->is_string()) {
      g.stops.emplace_back(stop->get_string());
    } else if (stop->is_array()) {
      for (const json::value& e : stop->get_array()) {
        if (!e.is_string()) return InvalidArgumentError("stop must be a string or strings");
        g.stops.emplace_back(e.get_string());
      }
    } else {
      return InvalidArgumentError("stop must be a string or an array of strings");
    }
  }
  if (chat) {
    if (const json::value* lp = body.if_contains("logprobs"); lp != nullptr && lp->is_bool()) {
      g.logprobs = lp->get_bool();
    }
    if (auto top = Number(body, "top_logprobs")) {
      if (!g.logprobs) return InvalidArgumentError("top_logprobs requires logprobs: true");
      s.top_logprobs = static_cast<int>(*top);
    }
  } else if (auto lp = Number(body, "logprobs")) {
    // Legacy completions: logprobs is the number of alternatives, 0 to 5.
    if (*lp < 0 || *lp > 5) return InvalidArgumentError("logprobs must be in [0, 5]");
    g.logprobs = true;
    s.top_logprobs = static_cast<int>(*lp);
  }
  s.logprobs = g.logprobs;
  if (const json::value* so = body.if_contains("stream_options"); so && so->is_object()) {
    const json::value* iu = so->get_object().if_contains("include_usage");
    g.include_usage = iu == nullptr || !iu->is_bool() || iu->get_bool();
  }
  SOBRE_RETURN_IF_ERROR(engine::ValidateSamplingParams(s));
  return g;
}

// The text of a message's content: a string, or the "text" parts of an array.
StatusOr<std::string> ContentText(const json::value& content, size_t index) {
  if (content.is_string()) return std::string(content.get_string());
  if (content.is_null()) return std::string();
  if (content.is_array()) {
    std::string out;
    for (const json::value& part : content.get_array()) {
      const json::object* p = part.if_object();
      const json::value* type = p ? p->if_contains("type") : nullptr;
      if (type == nullptr || !type->is_string() || type->get_string() != "text") {
        return InvalidArgumentError("messages[" + std::to_string(index) +
                                    "].content: the embedded engine accepts text parts only");
      }
      const json::value* text = p->if_contains("text");
      if (text != nullptr && text->is_string()) out += text->get_string();
    }
    return out;
  }
  return InvalidArgumentError("messages[" + std::to_string(index) + "].content must be a string");
}

// Token ids of an OpenAI prompt/input value that is an array of integers, or nullopt.
std::optional<std::vector<int32_t>> TokenArray(const json::value& v) {
  if (!v.is_array() || v.get_array().empty()) return std::nullopt;
  std::vector<int32_t> ids;
  for (const json::value& e : v.get_array()) {
    if (e.is_int64()) {
      ids.push_back(static_cast<int32_t>(std::clamp<int64_t>(e.get_int64(), -1, INT32_MAX)));
    } else if (e.is_uint64()) {
      ids.push_back(-1);
    } else {
      return std::nullopt;
    }
  }
  return ids;
}

// ---- Response pieces -------------------------------------------------------------------------

json::array Bytes(const std::string& piece) {
  json::array a;
  for (unsigned char c : piece) a.push_back(static_cast<int64_t>(c));
  return a;
}

// What the engine thread hands to the request's coroutine.
struct Delta {
  std::string text;
  std::vector<SampledToken> tokens;  // for logprobs
};

// ---- One request in flight -------------------------------------------------------------------

class CallState final : public engine::GenerationSink, public engine::EmbeddingSink {
 public:
  CallState(const asio::any_io_executor& ex, const engine::Vocab& vocab, bool want_logprobs)
      : notifier_(ex, 1),
        detok_(vocab, engine::DecodeOptions{.remove_leading_space = false, .render_special = false}),
        want_logprobs_(want_logprobs),
        cancelled_(std::make_shared<std::atomic<bool>>(false)) {}

  Status SetStops(std::vector<std::string> stops) { return stops_.Reset(std::move(stops)); }

  bool OnToken(const SampledToken& token, bool end_of_generation) override {
    std::string text;
    bool stopped = false;
    if (!end_of_generation) {
      auto r = stops_.Push(detok_.Push(token.token));
      text.assign(r.emit);
      stopped = r.stopped;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_.text += text;
      if (want_logprobs_ && !end_of_generation) pending_.tokens.push_back(token);
    }
    Notify();
    return !stopped;
  }

  void OnDone(const GenerationResult& result) override {
    std::string tail;
    if (!stops_.stopped()) {
      auto r = stops_.Push(detok_.Flush());
      tail.assign(r.emit);
      if (!r.stopped) tail += stops_.Flush();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_.text += tail;
      result_ = result;
      done_ = true;
    }
    Notify();
  }

  void OnEmbedding(StatusOr<std::vector<float>> embedding, double energy_j) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      embeddings_.push_back(std::move(embedding));
      energy_j_ += energy_j;
    }
    Notify();
  }

  // Waits until something arrived (or returns at once when something is pending).
  asio::awaitable<void> Wait() {
    auto [ec] = co_await notifier_.async_receive(asio::as_tuple(asio::use_awaitable));
    (void)ec;
  }

  // Moves what arrived out; `done` tells whether the generation finished.
  Delta Take(bool* done, GenerationResult* result) {
    std::lock_guard<std::mutex> lock(mu_);
    Delta d = std::move(pending_);
    pending_ = Delta{};
    *done = done_;
    if (done_) *result = result_;
    return d;
  }

  size_t EmbeddingsReceived(std::vector<StatusOr<std::vector<float>>>* out, double* energy_j) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& e : embeddings_) out->push_back(std::move(e));
    embeddings_.clear();
    *energy_j = energy_j_;
    return out->size();
  }

  const std::shared_ptr<std::atomic<bool>>& cancelled() const { return cancelled_; }

 private:
  void Notify() { (void)notifier_.try_send(boost::system::error_code{}); }

  Notifier notifier_;
  // Engine thread only.
  engine::StreamingDetokenizer detok_;
  engine::StopMatcher stops_;
  const bool want_logprobs_;
  std::shared_ptr<std::atomic<bool>> cancelled_;

  std::mutex mu_;
  Delta pending_;           // Guarded by mu_.
  bool done_ = false;       // Guarded by mu_.
  GenerationResult result_; // Guarded by mu_.
  std::vector<StatusOr<std::vector<float>>> embeddings_;  // Guarded by mu_.
  double energy_j_ = 0;     // Guarded by mu_.
};

// ---- The backend -----------------------------------------------------------------------------

class EngineBackendImpl final : public EngineBackend {
 public:
  EngineBackendImpl(EngineBackendOptions options, std::shared_ptr<const engine::Model> model,
                    std::optional<engine::ChatTemplateKind> chat_template,
                    std::string chat_template_error, std::unique_ptr<engine::StepEnergyMeter> meter,
                    EngineEnergyMethod method)
      : options_(std::move(options)),
        model_(std::move(model)),
        chat_template_(chat_template),
        chat_template_error_(std::move(chat_template_error)),
        meter_(std::move(meter)),
        method_(std::move(method)) {}

  Status Start() {
    engine::EngineOptions eo;
    eo.batch_size = options_.batch_size;
    eo.meter = meter_.get();
    eo.end_of_generation = model_->vocab()->end_of_generation_ids();
    std::unique_ptr<engine::Decoder> decoder;
    std::unique_ptr<engine::Encoder> encoder;
    if (model_->hparams().arch == engine::Architecture::kBert) {
      SOBRE_ASSIGN_OR_RETURN(encoder, engine::MakeModelEncoder(model_, options_.threads));
    } else {
      engine::ModelDecoderOptions d;
      d.threads = options_.threads;
      d.slots = options_.slots;
      d.ctx_per_slot = options_.ctx_per_slot;
      d.batch_size = options_.batch_size;
      SOBRE_ASSIGN_OR_RETURN(decoder, engine::MakeModelDecoder(model_, d));
    }
    SOBRE_ASSIGN_OR_RETURN(engine_, engine::Engine::Create(std::move(decoder), std::move(encoder),
                                                           std::move(eo)));
    return OkStatus();
  }

  ~EngineBackendImpl() override { engine_.reset(); }  // Joins the engine before the meter goes.

  std::string name() const override { return "engine:" + options_.path; }
  bool is_local() const override { return true; }
  const EngineEnergyMethod& energy_method() const override { return method_; }
  std::string architecture() const override {
    return std::string(engine::ArchitectureName(model_->hparams().arch));
  }
  int active_requests() const override { return engine_->active_slots(); }

  asio::awaitable<StatusOr<BackendResult>> Call(BackendRequest request, StreamSink* sink) override {
    bool caller_throws = co_await asio::this_coro::throw_if_cancelled();
    co_await asio::this_coro::throw_if_cancelled(false);
    std::optional<StatusOr<BackendResult>> result;
    try {  // The boundary for exceptions from Asio, Boost.JSON allocation and the sink.
      if (request.endpoint == Endpoint::kEmbeddings) {
        result.emplace(co_await Embed(std::move(request)));
      } else {
        result.emplace(co_await Generate(std::move(request), sink));
      }
    } catch (const std::exception& e) {
      result.emplace(InternalError(std::string("engine call failed: ") + e.what()));
    }
    co_await asio::this_coro::throw_if_cancelled(caller_throws);
    co_return std::move(*result);
  }

 private:
  std::string ModelName(const json::object& body) const {
    if (const json::value* m = body.if_contains("model"); m != nullptr && m->is_string()) {
      return std::string(m->get_string());
    }
    return options_.model_name;
  }

  StatusOr<std::vector<int32_t>> Prompt(const BackendRequest& request, bool chat) const {
    const engine::Vocab& vocab = *model_->vocab();
    const json::object& body = request.body;
    if (chat) {
      if (!chat_template_) {
        return InvalidArgumentError("model " + options_.model_name + ": " + chat_template_error_);
      }
      const json::value* messages = body.if_contains("messages");
      if (messages == nullptr || !messages->is_array() || messages->get_array().empty()) {
        return InvalidArgumentError("messages must be a non-empty array");
      }
      std::vector<engine::ChatMessage> list;
      const json::array& arr = messages->get_array();
      for (size_t i = 0; i < arr.size(); ++i) {
        const json::object* m = arr[i].if_object();
        const json::value* role = m ? m->if_contains("role") : nullptr;
        if (role == nullptr || !role->is_string()) {
          return InvalidArgumentError("messages[" + std::to_string(i) + "].role is missing");
        }
        std::string r(role->get_string());
        if (r == "developer") r = "system";
        const json::value* content = m->if_contains("content");
        SOBRE_ASSIGN_OR_RETURN(std::string text,
                               content ? ContentText(*content, i) : StatusOr<std::string>(""));
        list.push_back(engine::ChatMessage{std::move(r), std::move(text)});
      }
      SOBRE_ASSIGN_OR_RETURN(engine::RenderedChat rendered,
                             engine::RenderChatParts(*chat_template_, list, true, vocab));
      return engine::EncodeChat(rendered, vocab);
    }
    const json::value* prompt = body.if_contains("prompt");
    if (prompt == nullptr) return InvalidArgumentError("prompt is required");
    if (auto ids = TokenArray(*prompt)) return *ids;
    const json::value* p = prompt;
    if (prompt->is_array()) {
      if (prompt->get_array().size() != 1) {
        return InvalidArgumentError("prompt: the embedded engine takes one prompt per request");
      }
      p = &prompt->get_array()[0];
      if (auto ids = TokenArray(*p)) return *ids;
    }
    if (!p->is_string()) return InvalidArgumentError("prompt must be a string or token ids");
    // As llama-server does for raw completions: the prompt may spell control tokens.
    return vocab.Encode(p->get_string(), {.add_special = true, .parse_special = true});
  }

  json::value LogprobsJson(const std::vector<SampledToken>& tokens, bool chat,
                           size_t* text_offset) const {
    const engine::Vocab& vocab = *model_->vocab();
    if (chat) {
      json::array content;
      for (const SampledToken& t : tokens) {
        const std::string piece = vocab.TokenToPiece(t.token);
        json::array top;
        for (int i = 0; i < t.n_top; ++i) {
          const std::string alt = vocab.TokenToPiece(t.top[static_cast<size_t>(i)].token);
          top.push_back(json::object{{"token", engine::SanitizeUtf8(alt)},
                                     {"logprob", t.top[static_cast<size_t>(i)].logprob},
                                     {"bytes", Bytes(alt)}});
        }
        content.push_back(json::object{{"token", engine::SanitizeUtf8(piece)},
                                       {"logprob", t.logprob},
                                       {"bytes", Bytes(piece)},
                                       {"top_logprobs", std::move(top)}});
      }
      return json::object{{"content", std::move(content)}, {"refusal", nullptr}};
    }
    json::array toks, lps, tops, offsets;
    for (const SampledToken& t : tokens) {
      const std::string piece = vocab.TokenToPiece(t.token);
      toks.push_back(json::string(engine::SanitizeUtf8(piece)));
      lps.push_back(t.logprob);
      json::object top;
      for (int i = 0; i < t.n_top; ++i) {
        top[engine::SanitizeUtf8(vocab.TokenToPiece(t.top[static_cast<size_t>(i)].token))] =
            t.top[static_cast<size_t>(i)].logprob;
      }
      tops.push_back(std::move(top));
      offsets.push_back(static_cast<int64_t>(*text_offset));
      *text_offset += piece.size();
    }
    return json::object{{"tokens", std::move(toks)},
                        {"token_logprobs", std::move(lps)},
                        {"top_logprobs", std::move(tops)},
                        {"text_offset", std::move(offsets)}};
  }

  asio::awaitable<StatusOr<BackendResult>> Generate(BackendRequest request, StreamSink* sink) {
    const SteadyClock::time_point start = SteadyClock::now();
    const bool chat = request.endpoint == Endpoint::kChatCompletions;
    if (model_->hparams().arch == engine::Architecture::kBert) {
      co_return InvalidArgumentError("model " + ModelName(request.body) +
                                     " computes embeddings only; it cannot generate text");
    }
    if (request.stream && sink == nullptr) co_return InvalidArgumentError("stream without a sink");
    StatusOr<GenerationParams> params = ParseGenerationParams(request.body, chat);
    if (!params.ok()) co_return params.status();
    StatusOr<std::vector<int32_t>> prompt = Prompt(request, chat);
    if (!prompt.ok()) co_return prompt.status();
    if (prompt->size() >= static_cast<size_t>(engine_->n_ctx())) {
      co_return InvalidArgumentError("the prompt has " + std::to_string(prompt->size()) +
                                     " tokens; this model's context holds " +
                                     std::to_string(engine_->n_ctx()) + " per request");
    }
    const int32_t n_prompt = static_cast<int32_t>(prompt->size());

    auto state = std::make_shared<CallState>(co_await asio::this_coro::executor,
                                             *model_->vocab(), params->logprobs);
    if (Status st = state->SetStops(params->stops); !st.ok()) co_return st;
    engine::GenerationRequest gen;
    gen.prompt = std::move(*prompt);
    gen.sampling = params->sampling;
    gen.max_tokens = params->max_tokens;
    gen.sink = state.get();
    gen.cancelled = state->cancelled();
    gen.owner = state;  // Alive until OnDone, even if this coroutine is abandoned.
    if (Status st = engine_->Submit(std::move(gen)); !st.ok()) co_return st;

    const std::string id = (chat ? "chatcmpl-" : "cmpl-") + request.request_id;
    const int64_t created = static_cast<int64_t>(std::time(nullptr));
    const std::string model = ModelName(request.body);
    const char* object = chat ? "chat.completion.chunk" : "text_completion";
    auto chunk = [&](json::object choice) {
      return json::object{{"id", id},
                          {"object", object},
                          {"created", created},
                          {"model", model},
                          {"system_fingerprint", "sobre-engine"},
                          {"choices", json::array{std::move(choice)}}};
    };

    BackendResult out;
    std::string text;
    std::vector<SampledToken> all_tokens;
    size_t text_offset = 0;
    bool delivered = false;
    bool done = false;
    GenerationResult result;
    if (request.stream && chat) {
      json::object c{{"index", 0},
                     {"delta", json::object{{"role", "assistant"}, {"content", ""}}},
                     {"logprobs", nullptr},
                     {"finish_reason", nullptr}};
      out.first_byte = SteadyClock::now() - start;
      delivered = true;
      if (!co_await sink->OnChunk(chunk(std::move(c)))) {
        state->cancelled()->store(true);
        co_return CancelledError("the stream's consumer cancelled it");
      }
    }
    while (!done) {
      co_await state->Wait();
      if ((co_await asio::this_coro::cancellation_state).cancelled() !=
          asio::cancellation_type::none) {
        state->cancelled()->store(true);
        co_return CancelledError("engine call cancelled");
      }
      Delta d = state->Take(&done, &result);
      if (!request.stream) {
        text += d.text;
        all_tokens.insert(all_tokens.end(), d.tokens.begin(), d.tokens.end());
        continue;
      }
      if (d.text.empty() && d.tokens.empty()) continue;
      json::object c{{"index", 0}};
      if (chat) {
        c["delta"] = json::object{{"content", engine::SanitizeUtf8(d.text)}};
      } else {
        c["text"] = engine::SanitizeUtf8(d.text);
      }
      c["logprobs"] = params->logprobs ? LogprobsJson(d.tokens, chat, &text_offset) : nullptr;
      c["finish_reason"] = nullptr;
      if (!delivered) out.first_byte = SteadyClock::now() - start;
      delivered = true;
      if (!co_await sink->OnChunk(chunk(std::move(c)))) {
        state->cancelled()->store(true);
        co_return CancelledError("the stream's consumer cancelled it");
      }
    }
    if (result.finish == FinishReason::kError) {
      Status st = result.status.WithContext("engine");
      co_return delivered ? DataLossError(st.message()) : InternalError(st.message());
    }
    if (result.finish == FinishReason::kCancelled) {
      co_return CancelledError("the engine stopped before the request finished");
    }
    const char* finish = result.finish == FinishReason::kLength ? "length" : "stop";
    json::object usage{{"prompt_tokens", n_prompt},
                       {"completion_tokens", result.completion_tokens},
                       {"total_tokens", n_prompt + result.completion_tokens},
                       {"prompt_tokens_details",
                        json::object{{"cached_tokens", result.cached_tokens}}}};
    out.usage.prompt_tokens = n_prompt;
    out.usage.completion_tokens = result.completion_tokens;
    out.usage.reported = true;
    out.energy = Joules(result.energy_j);
    out.energy_estimated = !method_.measured;
    if (request.stream) {
      json::object c{{"index", 0}};
      if (chat) {
        c["delta"] = json::object{};
      } else {
        c["text"] = "";
      }
      c["logprobs"] = nullptr;
      c["finish_reason"] = finish;
      if (!delivered) out.first_byte = SteadyClock::now() - start;
      if (!co_await sink->OnChunk(chunk(std::move(c)))) {
        co_return CancelledError("the stream's consumer cancelled it");
      }
      json::object u = chunk(json::object{});
      u["choices"] = json::array{};
      u["usage"] = std::move(usage);
      if (params->include_usage) out.usage_chunk = std::move(u);
    } else {
      json::object choice{{"index", 0}};
      const std::string clean = engine::SanitizeUtf8(text);
      if (chat) {
        choice["message"] =
            json::object{{"role", "assistant"}, {"content", clean}, {"refusal", nullptr}};
      } else {
        choice["text"] = clean;
      }
      choice["logprobs"] = params->logprobs ? LogprobsJson(all_tokens, chat, &text_offset)
                                            : json::value(nullptr);
      choice["finish_reason"] = finish;
      out.body = json::object{{"id", id},
                              {"object", chat ? "chat.completion" : "text_completion"},
                              {"created", created},
                              {"model", model},
                              {"choices", json::array{std::move(choice)}},
                              {"usage", std::move(usage)},
                              {"system_fingerprint", "sobre-engine"}};
      out.first_byte = result.first_token;
    }
    out.total = SteadyClock::now() - start;
    co_return out;
  }

  asio::awaitable<StatusOr<BackendResult>> Embed(BackendRequest request) {
    const SteadyClock::time_point start = SteadyClock::now();
    const std::string model = ModelName(request.body);
    if (model_->hparams().arch != engine::Architecture::kBert) {
      co_return InvalidArgumentError("model " + model + " does not support embeddings");
    }
    const json::object& body = request.body;
    bool base64 = false;
    if (const json::value* f = body.if_contains("encoding_format"); f && f->is_string()) {
      if (f->get_string() == "base64") {
        base64 = true;
      } else if (f->get_string() != "float") {
        co_return InvalidArgumentError("encoding_format must be \"float\" or \"base64\"");
      }
    }
    const json::value* input = body.if_contains("input");
    if (input == nullptr) co_return InvalidArgumentError("input is required");
    std::vector<std::vector<int32_t>> inputs;
    const engine::Vocab& vocab = *model_->vocab();
    auto add = [&](const json::value& v) -> Status {
      if (auto ids = TokenArray(v)) {
        inputs.push_back(std::move(*ids));
      } else if (v.is_string()) {
        inputs.push_back(vocab.Encode(v.get_string(), {.add_special = true, .parse_special = false}));
      } else {
        return InvalidArgumentError("input must be a string, strings, or token ids");
      }
      return OkStatus();
    };
    if (input->is_array() && !input->get_array().empty() && !TokenArray(*input)) {
      for (const json::value& v : input->get_array()) {
        if (Status st = add(v); !st.ok()) co_return st;
      }
    } else if (Status st = add(*input); !st.ok()) {
      co_return st;
    }
    auto state = std::make_shared<CallState>(co_await asio::this_coro::executor, vocab, false);
    int64_t prompt_tokens = 0;
    size_t submitted = 0;
    Status failed;
    for (const auto& ids : inputs) {
      if (Status st = engine_->SubmitEmbedding(ids, state.get(), state); !st.ok()) {
        failed = st.WithContext("input " + std::to_string(submitted));
        break;
      }
      ++submitted;
      prompt_tokens += static_cast<int64_t>(ids.size());
    }
    std::vector<StatusOr<std::vector<float>>> vectors;
    double energy_j = 0;
    while (state->EmbeddingsReceived(&vectors, &energy_j) < submitted) co_await state->Wait();
    if (!failed.ok()) co_return failed;
    json::array data;
    for (size_t i = 0; i < vectors.size(); ++i) {
      if (!vectors[i].ok()) co_return vectors[i].status().WithContext("input " + std::to_string(i));
      json::object e{{"object", "embedding"}, {"index", static_cast<int64_t>(i)}};
      if (base64) {
        e["embedding"] = Base64OfFloats(*vectors[i]);
      } else {
        json::array a;
        for (float f : *vectors[i]) a.push_back(static_cast<double>(f));
        e["embedding"] = std::move(a);
      }
      data.push_back(std::move(e));
    }
    BackendResult out;
    out.body = json::object{{"object", "list"},
                            {"data", std::move(data)},
                            {"model", model},
                            {"usage", json::object{{"prompt_tokens", prompt_tokens},
                                                   {"total_tokens", prompt_tokens}}}};
    out.usage.prompt_tokens = prompt_tokens;
    out.usage.reported = true;
    out.energy = Joules(energy_j);
    out.energy_estimated = !method_.measured;
    out.total = out.first_byte = SteadyClock::now() - start;
    co_return out;
  }

  static std::string Base64OfFloats(const std::vector<float>& v) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string bytes(v.size() * sizeof(float), '\0');
    std::memcpy(bytes.data(), v.data(), bytes.size());  // little-endian float32, as OpenAI's
    std::string out;
    for (size_t i = 0; i < bytes.size(); i += 3) {
      uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
      if (i + 1 < bytes.size()) n |= static_cast<uint8_t>(bytes[i + 1]) << 8;
      if (i + 2 < bytes.size()) n |= static_cast<uint8_t>(bytes[i + 2]);
      out += kAlphabet[(n >> 18) & 63];
      out += kAlphabet[(n >> 12) & 63];
      out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
      out += i + 2 < bytes.size() ? kAlphabet[n & 63] : '=';
    }
    return out;
  }

  EngineBackendOptions options_;
  std::shared_ptr<const engine::Model> model_;
  std::optional<engine::ChatTemplateKind> chat_template_;
  std::string chat_template_error_;
  std::unique_ptr<engine::StepEnergyMeter> meter_;
  EngineEnergyMethod method_;
  std::unique_ptr<engine::Engine> engine_;  // Last: stopped first, while the states still live.
};

}  // namespace

StatusOr<std::unique_ptr<EngineBackend>> CreateEngineBackend(EngineBackendOptions options) {
  if (options.path.empty()) return InvalidArgumentError("engine backend: no model path");
  if (options.slots <= 0 || options.batch_size <= 0 || options.threads < 0 ||
      options.ctx_per_slot < 0) {
    return InvalidArgumentError("engine backend: slots and batch_size must be positive, threads "
                                "and ctx_per_slot not negative");
  }
  if (options.model_name.empty()) {
    options.model_name = std::filesystem::path(options.path).stem().string();
  }
  std::optional<engine::ChatTemplateKind> kind;
  if (!options.chat_template.empty()) {
    StatusOr<engine::ChatTemplateKind> k = engine::ParseChatTemplateName(options.chat_template);
    if (!k.ok()) return k.status().WithContext("chat_template");
    kind = *k;
  }
  StatusOr<std::unique_ptr<engine::Model>> loaded = engine::Model::Load(options.path);
  if (!loaded.ok()) return loaded.status().WithContext("loading " + options.path);
  std::shared_ptr<const engine::Model> model = std::move(*loaded);
  if (model->vocab() == nullptr) {
    return InvalidArgumentError(options.path + ": the file has no tokenizer.* vocabulary");
  }
  std::string template_error;
  if (!kind && model->hparams().arch != engine::Architecture::kBert) {
    StatusOr<engine::ChatTemplateKind> k =
        engine::DetectChatTemplate(model->vocab()->data().chat_template);
    if (k.ok()) {
      kind = *k;
    } else {
      template_error = "no known chat template in the file (" + k.status().message() +
                       "); set chat_template to chatml, llama2, llama3, mistral or zephyr";
    }
  }
  auto [meter, method] = MakeStepEnergyMeter(options.powercap_root, options.cpu_tdp_w);
  auto backend = std::make_unique<EngineBackendImpl>(options, std::move(model), kind,
                                                     std::move(template_error), std::move(meter),
                                                     std::move(method));
  SOBRE_RETURN_IF_ERROR(backend->Start().WithContext(options.path));
  return std::unique_ptr<EngineBackend>(std::move(backend));
}

StatusOr<std::unique_ptr<Backend>> MakeEngineBackend(EngineBackendOptions options) {
  StatusOr<std::unique_ptr<EngineBackend>> b = CreateEngineBackend(std::move(options));
  if (!b.ok()) return b.status();
  return std::unique_ptr<Backend>(std::move(*b));
}

}  // namespace sobre::backend
