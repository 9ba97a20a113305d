// The exact cache in the request pipeline: the decision and lookup before rate limits and
// dispatch, answers replayed from a hit (streamed or not), and answers stored after a miss.
#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
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
namespace {

namespace json = boost::json;
using boost::asio::awaitable;
using internal::CachedAnswer;

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
  if (exact_cache == nullptr || (!decision->lookup && !decision->store)) return std::nullopt;
  if (x.caller.key) {
    x.cache_tenant = x.caller.key->tenant.empty() ? x.caller.key->name : x.caller.key->tenant;
  }
  x.cache_key = cache::ExactCacheKey(x.cache_tenant, endpoint, body);
  x.cache_store = decision->store;
  if (!decision->lookup) return std::nullopt;

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
  x.avoided_energy_wh = entry->energy_wh;
  x.avoided_co2e_g = entry->co2e_g;
  hit = CachedAnswer{std::move(parsed.get_object()), entry->created};
  return std::nullopt;
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
  if (!exact_cache->Put(std::move(entry), clock.WallNow()).has_value()) {
    SOBRE_LOG(kDebug, "request {}: answer of {} bytes not cached (too large)", x.request_id,
              body_text.size());
  }
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
