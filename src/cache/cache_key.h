// Exact-cache policy: whether a request may be answered from, or stored in, the exact cache, and
// the key that names its answer.
#ifndef SOBRE_CACHE_CACHE_KEY_H_
#define SOBRE_CACHE_CACHE_KEY_H_

#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "core/status.h"

namespace sobre::cache {

// The exact-cache part of the configuration.
struct ExactCacheConfig {
  // Whether the exact cache is used at all. Default true.
  bool enabled = true;
  // Also cache requests that sample (temperature > 0 without a seed): every client then gets the
  // first answer. Default false: only deterministic requests are cached.
  bool cache_nondeterministic = false;
};

// What the exact cache may do for one request.
struct CacheDecision {
  bool lookup = false;  // Answer from the cache on a hit.
  bool store = false;   // Store the answer the backend gives.
  // Why, for logs and the x-sobre-cache header: "deterministic", "seed", "forced" (sobre.cache
  // "on"), "nondeterministic_allowed" (config), "refresh", "no-cache", "no-store", "off",
  // "disabled" or "nondeterministic".
  std::string_view reason;
  // The request's own say on the semantic cache, from "sobre": {"semantic": true | false};
  // nullopt when it says nothing (the model's or key's setting applies).
  std::optional<bool> semantic;
  // False when the request or the configuration ruled out caching altogether (no-store, "off",
  // disabled): the semantic cache must then neither answer nor store either.
  bool cacheable = true;
  // True when the client asked for a fresh answer (no-cache, "refresh"): store, never answer.
  bool refresh = false;
};

// Decides from the request `body`, its Cache-Control header (empty if absent) and `config`:
//   - config.enabled false: neither ("disabled").
//   - Cache-Control: no-store, or body "sobre": {"cache": "off"}: neither.
//   - Otherwise the request must be deterministic (endpoint "embeddings"; temperature == 0; or a
//     non-null seed), or config.cache_nondeterministic, or "sobre": {"cache": "on"}; if not,
//     neither ("nondeterministic").
//   - Cache-Control: no-cache, or "sobre": {"cache": "refresh"}: store without looking up (a
//     fresh answer replaces the cached one); else look up and store.
// The body extension is {"sobre": {"cache": "on" | "off" | "refresh", "semantic": true | false}};
// "sobre" must be an object, "cache", when present, one of those strings and "semantic" a
// boolean, else InvalidArgument (the gateway answers 400
// rather than silently ignoring a typo). Cache-Control directives are matched case-insensitively
// and unknown ones are ignored. `endpoint` is as in ExactCacheKey.
StatusOr<CacheDecision> DecideExactCaching(std::string_view endpoint,
                                           const boost::json::object& body,
                                           std::string_view cache_control_header,
                                           const ExactCacheConfig& config);

// The canonical JSON text of `value`: object keys sorted (by bytes) at every depth, no
// whitespace, strings escaped as Boost.JSON does, and numbers normalised so that equal values
// print alike (0, 0.0, -0.0 and 0e0 all print "0"; 1.5 and 15e-1 print "1.5").
std::string CanonicalJson(const boost::json::value& value);

// The exact-cache key of a request: lower-case hex SHA-256 of the tenant, the endpoint
// ("chat.completions", "completions", "embeddings") and the canonical JSON of `body` without the
// fields that cannot change the answer: stream, stream_options, user, metadata, store,
// service_tier and the "sobre" extension. Every other field is kept, known (model, messages,
// prompt, input, tools, tool_choice, response_format, temperature, top_p, n, seed, stop,
// max_tokens, max_completion_tokens, logprobs, top_logprobs, penalties, logit_bias, ...) or not
// (an upstream's own top_k or min_p may change the answer: a false miss is better than a false
// hit). So a streamed and a non-streamed request share a key; two tenants never do.
std::string ExactCacheKey(std::string_view tenant, std::string_view endpoint,
                          const boost::json::object& body);

}  // namespace sobre::cache

#endif  // SOBRE_CACHE_CACHE_KEY_H_
