// The exact cache in the request pipeline: the decision and lookup before rate limits and
// dispatch, answers replayed from a hit (streamed or not), and answers stored after a miss.
#include <algorithm>
#include <cmath>
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "core/logging.h"
#include "cache/semantic_scope.h"
#include "gateway/internal/gateway_impl.h"
#include "gateway/sse.h"

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
using internal::CachedAnswer;
using internal::ModelEntry;

int64_t UnixSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// The chunks a live stream of `body` (a stored chat.completion or text_completion) would have
// carried: per choice a role chunk, one content chunk and a finish chunk (chat), or one text chunk
// and a finish chunk (completions); then the usage chunk when asked for, then [DONE].
std::vector<std::string> ReplayEvents(const Exchange& x, const json::object& body) {
  const bool chat = x.op == Operation::kChat;
  const json::value id = body.contains("id") ? body.at("id") : json::value(x.request_id);
  const int64_t created = UnixSeconds(x.arrived);
  auto event = [&](json::array choices) {
    json::object chunk;
    chunk["id"] = id;
    chunk["object"] = chat ? "chat.completion.chunk" : "text_completion";
    chunk["created"] = created;
    chunk["model"] = x.model;
    if (const json::value* fp = body.if_contains("system_fingerprint")) {
      chunk["system_fingerprint"] = *fp;
    }
    chunk["choices"] = std::move(choices);
    if (x.info.include_usage) chunk["usage"] = nullptr;
    return SseData(chunk);
  };
  auto choice = [](const json::value& index, json::value finish_reason) {
    json::object c;
    c["index"] = index;
    c["logprobs"] = nullptr;
    c["finish_reason"] = std::move(finish_reason);
    return c;
  };

  std::vector<std::string> events;
  const json::value* choices = body.if_contains("choices");
  if (choices != nullptr && choices->is_array()) {
    int64_t i = 0;
    for (const json::value& stored : choices->get_array()) {
      if (!stored.is_object()) continue;
      const json::object& ch = stored.get_object();
      const json::value index = ch.contains("index") ? ch.at("index") : json::value(i);
      ++i;
      const json::value finish =
          ch.contains("finish_reason") ? ch.at("finish_reason") : json::value("stop");
      if (chat) {
        json::object first = choice(index, nullptr);
        first["delta"] = json::object{{"role", "assistant"}, {"content", ""}};
        events.push_back(event(json::array{std::move(first)}));
        json::object delta;
        if (const json::value* m = ch.if_contains("message"); m != nullptr && m->is_object()) {
          const json::object& message = m->get_object();
          if (const json::value* c = message.if_contains("content");
              c != nullptr && c->is_string() && !c->get_string().empty()) {
            delta["content"] = *c;
          }
          if (const json::value* r = message.if_contains("refusal"); r != nullptr && r->is_string()) {
            delta["refusal"] = *r;
          }
          if (const json::value* t = message.if_contains("tool_calls");
              t != nullptr && t->is_array()) {
            json::array calls;
            int64_t k = 0;
            for (const json::value& call : t->get_array()) {
              json::object c = call.is_object() ? call.get_object() : json::object();
              c["index"] = k++;
              calls.push_back(std::move(c));
            }
            delta["tool_calls"] = std::move(calls);
          }
        }
        if (!delta.empty()) {
          json::object content = choice(index, nullptr);
          content["delta"] = std::move(delta);
          events.push_back(event(json::array{std::move(content)}));
        }
        json::object last = choice(index, finish);
        last["delta"] = json::object();
        events.push_back(event(json::array{std::move(last)}));
      } else {
        json::object text = choice(index, nullptr);
        text["text"] = ch.contains("text") ? ch.at("text") : json::value("");
        events.push_back(event(json::array{std::move(text)}));
        json::object last = choice(index, finish);
        last["text"] = "";
        events.push_back(event(json::array{std::move(last)}));
      }
    }
  }
  if (x.info.include_usage) {
    json::object chunk;
    chunk["id"] = id;
    chunk["object"] = chat ? "chat.completion.chunk" : "text_completion";
    chunk["created"] = created;
    chunk["model"] = x.model;
    chunk["choices"] = json::array();
    chunk["usage"] = body.contains("usage") ? body.at("usage") : json::value(json::object());
    events.push_back(SseData(chunk));
  }
  events.emplace_back(kSseDone);
  return events;
}

}  // namespace

bool Gateway::Impl::SemanticOptedIn(const Exchange& x, const cache::CacheDecision& decision) const {
  if (decision.semantic.has_value()) return *decision.semantic;
  const SemanticCacheConfig& sc = config.cache.semantic;
  for (const std::string& m : sc.models) {
    if (m == "*" || m == x.model) return true;
  }
  if (const ModelEntry* model = FindModel(x.model); model != nullptr && model->config->semantic_cache) {
    return true;
  }
  if (x.caller.key) {
    for (const std::string& k : sc.keys) {
      if (k == x.caller.key->name) return true;
    }
  }
  return false;
}

std::optional<ApiError> Gateway::Impl::DecideCache(Exchange& x, const HttpRequest& req,
                                                   const json::object& body,
                                                   std::optional<CachedAnswer>& hit) {
  const std::string_view endpoint = internal::CacheEndpoint(x.op);
  StatusOr<cache::CacheDecision> decision =
      cache::DecideExactCaching(endpoint, body, req.Header("cache-control"), exact_config);
  if (!decision.ok()) {
    return ApiError{ApiErrorKind::kInvalidRequest, decision.status().message(), "sobre"};
  }
  x.cache = cache::CacheStatus{};  // Bypass until looked up.
  if (exact_cache == nullptr) return std::nullopt;
  bool lookup = decision->lookup;
  bool store_answer = decision->store;
  // The semantic cache: opted in, allowed by the request (not no-store / "off"), and a chat
  // request whose last user message can be scoped (no tools, images or n > 1). Opting in accepts
  // shared answers, so sampling requests take part too.
  std::optional<cache::SemanticQuery> query;
  if (semantic_cache != nullptr && x.op == Operation::kChat && decision->cacheable &&
      SemanticOptedIn(x, *decision)) {
    query = cache::ExtractSemanticQuery(body);
  }
  if (query.has_value()) {
    store_answer = true;
    lookup = !decision->refresh;
  }
  if (!lookup && !store_answer) return std::nullopt;
  if (x.caller.key) {
    x.cache_tenant = x.caller.key->tenant.empty() ? x.caller.key->name : x.caller.key->tenant;
  }
  x.cache_key = cache::ExactCacheKey(x.cache_tenant, endpoint, body);
  x.cache_store = store_answer;
  if (query.has_value()) {
    x.semantic = true;
    x.semantic_scope = cache::SemanticScope(x.cache_tenant, x.model, query->context_hash);
    x.semantic_text = std::move(query->last_user_text);
  }
  if (!lookup) return std::nullopt;

  x.cache->outcome = cache::CacheOutcome::kMiss;
  std::optional<cache::ExactCacheEntry> entry =
      exact_cache->Get(x.cache_key, x.cache_tenant, clock.WallNow());
  if (!entry.has_value()) return std::nullopt;
  boost::system::error_code ec;
  json::value parsed = json::parse(entry->body, ec);
  if (ec || !parsed.is_object()) {
    SOBRE_LOG(kWarning, "request {}: cache entry {} is not a JSON object; answering afresh",
              x.request_id, entry->id);
    return std::nullopt;
  }
  x.cache->outcome = cache::CacheOutcome::kExact;
  x.semantic = false;  // Answered: nothing to embed or store.
  x.avoided_energy_wh = entry->energy_wh;
  x.avoided_co2e_g = entry->co2e_g;
  hit = CachedAnswer{std::move(parsed.get_object()), entry->created};
  return std::nullopt;
}

awaitable<void> Gateway::Impl::LookupSemantic(Exchange& x, std::optional<CachedAnswer>& hit) {
  const auto started = clock.Now();
  std::string text = x.semantic_text;
  awaitable<StatusOr<std::vector<float>>> embedding = embedder->EmbedAsync(std::move(text));
  StatusOr<std::vector<float>> vector = co_await std::move(embedding);
  x.embed_time = clock.Now() - started;
  if (!vector.ok()) {
    SOBRE_LOG(kWarning, "request {}: semantic cache skipped: embedding failed: {}", x.request_id,
              vector.status().ToString());
    x.semantic = false;
    co_return;
  }
  x.semantic_vector = std::move(vector).value();
  // A refresh (no-cache) stores the new answer with its vector but never answers from the cache.
  if (!x.cache.has_value() || x.cache->outcome != cache::CacheOutcome::kMiss) co_return;
  std::optional<cache::SemanticHit> found = semantic_cache->Lookup(
      x.cache_tenant, x.semantic_scope, x.semantic_text, x.semantic_vector, clock.WallNow());
  if (!found.has_value()) co_return;
  boost::system::error_code ec;
  json::value parsed = json::parse(found->entry.body, ec);
  if (ec || !parsed.is_object()) co_return;
  x.cache->outcome = cache::CacheOutcome::kSemantic;
  x.cache->similarity = found->similarity;
  x.semantic_entry_id = found->entry.id;
  x.avoided_energy_wh = found->entry.energy_wh;
  x.avoided_co2e_g = found->entry.co2e_g;
  hit = CachedAnswer{std::move(parsed.get_object()), found->entry.created};
}

awaitable<void> Gateway::Impl::AnswerFromCache(Exchange& x, CachedAnswer& hit,
                                               ResponseWriter& w) {
  // Everything is built before the first write; the awaits below take named values only.
  json::object& body = hit.body;
  body["created"] = UnixSeconds(x.arrived);
  body["model"] = x.model;
  // The ledger names the cache as what answered ("cache:exact").
  x.backend_name = "cache:" + cache::HeaderValue(*x.cache);
  // The lookup's own footprint: gateway time only (no backend ran), so far.
  ComputeFootprint(x, nullptr, std::chrono::nanoseconds(0), std::nullopt);
  json::object fp = FootprintJson(x.footprint, footprint.intensity());
  fp["avoided_energy_wh"] = x.avoided_energy_wh;
  fp["avoided_co2e_g"] = x.avoided_co2e_g;
  internal::UsageObject(body)["footprint"] = std::move(fp);

  const auto age = std::chrono::duration_cast<std::chrono::seconds>(x.arrived - hit.created);
  HttpHeaders h = BaseHeaders(x, x.info.stream ? "text/event-stream" : "application/json");
  if (x.info.stream) h.emplace_back("cache-control", "no-cache");
  h.emplace_back("x-sobre-model", x.model);
  h.emplace_back("x-sobre-cache", cache::HeaderValue(*x.cache));
  h.emplace_back("x-sobre-cache-age", std::to_string(std::max<int64_t>(0, age.count())));
  AddFootprintHeaders(h, x.footprint, footprint.intensity());
  h.emplace_back("x-sobre-overhead-ms", FormatMs(x.overhead));
  h.emplace_back("openai-processing-ms",
                 std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    clock.Now() - x.start)
                                    .count()));
  x.http_status = 200;
  Status s;
  if (!x.info.stream) {
    std::string text = json::serialize(body);
    s = co_await w.Send(200, std::move(h), std::move(text));
  } else {
    std::vector<std::string> events = ReplayEvents(x, body);
    s = co_await w.StartStream(200, std::move(h));
    if (s.ok()) x.ttft = clock.Now() - x.start;
    for (std::string& e : events) {
      if (!s.ok()) break;
      s = co_await w.WriteChunk(std::move(e));
    }
    if (s.ok()) s = co_await w.EndStream();
  }
  if (!s.ok()) {
    SOBRE_LOG(kDebug, "request {}: cached response not sent: {}", x.request_id, s.ToString());
    x.http_status = 499;
    x.error_code = "client_closed";
  }
}

void Gateway::Impl::StoreAnswer(const Exchange& x, const std::string& body_text) {
  if (exact_cache == nullptr || !x.cache_store || x.cache_key.empty()) return;
  cache::ExactCacheEntry entry;
  entry.key = x.cache_key;
  entry.tenant = x.cache_tenant;
  entry.model = x.model;
  entry.endpoint = std::string(internal::CacheEndpoint(x.op));
  entry.body = body_text;
  entry.prompt_tokens = x.usage.prompt_tokens;
  entry.completion_tokens = x.usage.completion_tokens;
  entry.energy_wh = x.footprint.energy_wh;
  entry.co2e_g = x.footprint.co2e_g;
  entry.water_ml = x.footprint.water_ml;
  entry.embodied_co2e_g = x.footprint.embodied_co2e_g;
  entry.method = std::string(x.footprint.method());
  const bool semantic = x.semantic && semantic_cache != nullptr && !x.semantic_vector.empty();
  cache::ExactCacheEntry indexed;  // What the semantic index needs of the entry.
  if (semantic) {
    entry.semantic_scope = x.semantic_scope;
    entry.query_text = x.semantic_text;
    entry.embedder = embedder->name();
    entry.embedding = x.semantic_vector;
    indexed.semantic_scope = entry.semantic_scope;
    indexed.query_text = entry.query_text;
    indexed.embedding = entry.embedding;
  }
  std::optional<std::string> id = exact_cache->Put(std::move(entry), clock.WallNow());
  if (!id.has_value()) {
    SOBRE_LOG(kDebug, "request {}: answer of {} bytes not cached (too large)", x.request_id,
              body_text.size());
    return;
  }
  if (semantic) {
    indexed.id = *id;
    if (Status s = semantic_cache->Add(indexed); !s.ok()) {
      SOBRE_LOG(kWarning, "request {}: answer not added to the semantic index: {}", x.request_id,
                s.ToString());
    }
  }
}

namespace {

// The text of the first choice of a chat.completion body ("" when there is none).
std::string AnswerText(const json::object& body) {
  const json::value* choices = body.if_contains("choices");
  if (choices == nullptr || !choices->is_array() || choices->get_array().empty()) return "";
  const json::value& first = choices->get_array()[0];
  if (!first.is_object()) return "";
  const json::value* message = first.get_object().if_contains("message");
  if (message == nullptr || !message->is_object()) return "";
  const json::value* content = message->get_object().if_contains("content");
  if (content == nullptr || !content->is_string()) return "";
  return std::string(content->get_string());
}

}  // namespace

void Gateway::Impl::MaybeVerify(const Exchange& x, const HttpRequest& req, const CachedAnswer& hit,
                                boost::asio::any_io_executor executor) {
  const double fraction = config.cache.semantic.verify_fraction;
  if (fraction <= 0 || draining.load()) return;
  // Every hit whose running count crosses a multiple of 1/fraction is verified: exactly the
  // configured share, spread evenly, no randomness in tests.
  const uint64_t n = semantic_hits_seen.fetch_add(1) + 1;
  if (std::floor(static_cast<double>(n) * fraction) ==
      std::floor(static_cast<double>(n - 1) * fraction)) {
    return;
  }
  const ModelEntry* model = FindModel(x.model);
  if (model == nullptr || model->candidates.empty()) return;
  json::object body;
  internal::RebuildBody(req, false, body);
  Exchange v;
  v.op = x.op;
  v.start = clock.Now();
  v.arrived = clock.WallNow();
  v.request_id = x.request_id + "-verify";
  v.caller = x.caller;
  v.info = x.info;
  v.info.stream = false;
  v.model = x.model;
  v.cache = x.cache;
  verifications_in_flight.fetch_add(1);
  boost::asio::co_spawn(executor, Verify(std::move(v), std::move(body), AnswerText(hit.body)),
                        boost::asio::detached);
}

awaitable<void> Gateway::Impl::Verify(Exchange x, json::object body, std::string cached_text) {
  const ModelEntry* model = FindModel(x.model);
  const ModelEntry* answering = model->candidates.front();
  backend::BackendRequest request;
  request.endpoint = backend::Endpoint::kChatCompletions;
  body["model"] = answering->upstream_model;
  body.erase("stream");
  body.erase("stream_options");
  body.erase("sobre");
  request.body = std::move(body);
  request.request_id = x.request_id;
  awaitable<StatusOr<backend::BackendResult>> call =
      answering->backend->Call(std::move(request), nullptr);
  StatusOr<backend::BackendResult> result = co_await std::move(call);
  x.backend_name = "verify:" + answering->backend->name();
  x.answered_by = answering->config->name;
  std::string verdict;
  if (!result.ok()) {
    verdict = "verify; error";
    x.http_status = 502;
    x.error_code = "verification_failed";
    SOBRE_LOG(kWarning, "request {}: verification call failed: {}", x.request_id,
              result.status().ToString());
  } else {
    x.produced = true;
    x.usage = result->usage;
    x.http_status = 200;
    if (!result->usage.reported) {
      // Counts come from the body's usage when the backend reported it.
    }
    ComputeFootprint(x, answering, result->total, result->energy, !result->energy_estimated);
    const std::string fresh = AnswerText(result->body);
    double similarity = fresh == cached_text ? 1.0 : 0.0;
    if (similarity < 1.0 && !fresh.empty() && !cached_text.empty()) {
      awaitable<StatusOr<std::vector<float>>> fresh_call = embedder->EmbedAsync(fresh);
      StatusOr<std::vector<float>> a = co_await std::move(fresh_call);
      awaitable<StatusOr<std::vector<float>>> cached_call = embedder->EmbedAsync(cached_text);
      StatusOr<std::vector<float>> b = co_await std::move(cached_call);
      if (a.ok() && b.ok() && a->size() == b->size()) {
        similarity = 0;
        for (size_t i = 0; i < a->size(); ++i) similarity += (*a)[i] * (*b)[i];
      }
    }
    const bool agreed = similarity >= verify_threshold;
    metrics.RecordVerification(agreed);
    verdict = fmt::format("verify; {}; similarity={:.2f}", agreed ? "agree" : "disagree",
                          similarity);
    if (!agreed) {
      SOBRE_LOG(kWarning, "request {}: semantic hit (similarity {:.2f}) disagrees with the "
                "model's fresh answer (answer similarity {:.2f} < {:.2f})", x.request_id,
                x.cache.has_value() ? x.cache->similarity : 0.0, similarity, verify_threshold);
    }
  }
  x.latency = clock.Now() - x.start;
  store::LedgerRow row = LedgerRowOf(x);
  row.cache_status = verdict;
  store.Append(std::move(row));
  verifications_in_flight.fetch_sub(1);
}

void Gateway::Impl::OpenSemanticCache() {
  const SemanticCacheConfig& sc = config.cache.semantic;
  if (sc.embedder == "frugal") {
    embedder = std::make_unique<cache::FrugalEmbedder>();
  } else {
    auto it = backends.find(sc.embedder);
    if (it == backends.end()) {
      SOBRE_LOG(kError, "semantic cache: embedder model {} has no backend; running without the "
                "semantic cache", sc.embedder);
      return;
    }
    const ModelConfig* m = nullptr;
    for (const ModelConfig& candidate : config.models) {
      if (candidate.name == sc.embedder) m = &candidate;
    }
    cache::BackendEmbedderOptions options;
    options.model = m != nullptr && !m->upstream_model.empty() ? m->upstream_model : sc.embedder;
    embedder = std::make_unique<cache::BackendEmbedder>(it->second.get(), options);
  }
  cache::SemanticCacheOptions options;
  options.threshold = sc.threshold.value_or(0);
  options.max_entries = sc.max_entries;
  StatusOr<std::unique_ptr<cache::SemanticCache>> opened =
      cache::SemanticCache::Open(exact_cache.get(), embedder.get(), options);
  if (!opened.ok()) {
    SOBRE_LOG(kError, "semantic cache: {}; running without it", opened.status().ToString());
    embedder.reset();
    return;
  }
  semantic_cache = std::move(opened).value();
  // Two right answers to the same question are worded differently: agreement is a looser
  // similarity than the lookup's (half-way between the lookup threshold and 0).
  verify_threshold = sc.verify_threshold.value_or(semantic_cache->threshold() / 2);
}

bool Gateway::Impl::WantsStreamStore(const Exchange& x) const {
  return exact_cache != nullptr && x.cache_store && !x.cache_key.empty() &&
         (x.op == Operation::kChat || x.op == Operation::kCompletion);
}

namespace internal {

void StreamAssembler::Reset(bool active, bool chat) {
  active_ = active;
  chat_ = chat;
  ok_ = true;
  seen_ = false;
  id_ = nullptr;
  created_ = nullptr;
  system_fingerprint_ = nullptr;
  choices_.clear();
}

void StreamAssembler::Add(const json::object& chunk) {
  if (!active_ || !ok_) return;
  if (!seen_) {
    seen_ = true;
    if (const json::value* id = chunk.if_contains("id")) id_ = *id;
    if (const json::value* created = chunk.if_contains("created")) created_ = *created;
  }
  if (system_fingerprint_.is_null()) {
    if (const json::value* fp = chunk.if_contains("system_fingerprint")) system_fingerprint_ = *fp;
  }
  const json::value* choices = chunk.if_contains("choices");
  if (choices == nullptr || !choices->is_array()) return;
  for (const json::value& v : choices->get_array()) {
    const json::object* c = v.if_object();
    const json::value* index = c != nullptr ? c->if_contains("index") : nullptr;
    if (index == nullptr || !index->is_int64()) {
      ok_ = false;
      return;
    }
    if (const json::value* lp = c->if_contains("logprobs"); lp != nullptr && !lp->is_null()) {
      ok_ = false;  // Logprobs are not assembled.
      return;
    }
    Choice* choice = nullptr;
    for (Choice& known : choices_) {
      if (known.index == index->get_int64()) choice = &known;
    }
    if (choice == nullptr) {
      choice = &choices_.emplace_back();
      choice->index = index->get_int64();
    }
    const json::value* piece = nullptr;
    if (chat_) {
      const json::value* d = c->if_contains("delta");
      if (d != nullptr && d->is_object()) {
        const json::object& delta = d->get_object();
        for (const char* unsupported : {"tool_calls", "function_call", "refusal"}) {
          if (const json::value* u = delta.if_contains(unsupported); u != nullptr && !u->is_null()) {
            ok_ = false;
            return;
          }
        }
        piece = delta.if_contains("content");
      }
    } else {
      piece = c->if_contains("text");
    }
    if (piece != nullptr && piece->is_string()) {
      choice->text.append(piece->get_string().data(), piece->get_string().size());
      choice->has_text = true;
    } else if (piece != nullptr && !piece->is_null()) {
      ok_ = false;
      return;
    }
    if (const json::value* f = c->if_contains("finish_reason"); f != nullptr && !f->is_null()) {
      choice->finish_reason = *f;
    }
  }
}

std::optional<json::object> StreamAssembler::Build(std::string_view model) const {
  if (!active_ || !ok_ || !seen_ || choices_.empty()) return std::nullopt;
  std::vector<const Choice*> ordered;
  ordered.reserve(choices_.size());
  for (const Choice& c : choices_) {
    if (c.finish_reason.is_null()) return std::nullopt;  // Not a finished answer.
    ordered.push_back(&c);
  }
  std::sort(ordered.begin(), ordered.end(),
            [](const Choice* a, const Choice* b) { return a->index < b->index; });
  json::array choices;
  choices.reserve(ordered.size());
  for (const Choice* c : ordered) {
    json::object out;
    out["index"] = c->index;
    if (chat_) {
      json::object message;
      message["role"] = "assistant";
      if (c->has_text) {
        message["content"] = c->text;
      } else {
        message["content"] = nullptr;
      }
      out["message"] = std::move(message);
    } else {
      out["text"] = c->text;
    }
    out["logprobs"] = nullptr;
    out["finish_reason"] = c->finish_reason;
    choices.push_back(std::move(out));
  }
  json::object body;
  body["id"] = id_;
  body["object"] = chat_ ? "chat.completion" : "text_completion";
  body["created"] = created_;
  body["model"] = model;
  if (!system_fingerprint_.is_null()) body["system_fingerprint"] = system_fingerprint_;
  body["choices"] = std::move(choices);
  return body;
}

}  // namespace internal

}  // namespace sobre::gateway
