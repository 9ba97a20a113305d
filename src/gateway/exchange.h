// Exchange: everything the gateway learns about one request while handling it, and the pieces
// built from it — response headers, the usage.footprint object, the ledger row.
#ifndef SOBRE_GATEWAY_EXCHANGE_H_
#define SOBRE_GATEWAY_EXCHANGE_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include <string_view>

#include <boost/json/object.hpp>

#include "backend/backend.h"
#include "cache/cache_status.h"
#include "footprint/intensity.h"
#include "gateway/auth.h"
#include "gateway/errors.h"
#include "gateway/http_server.h"
#include "gateway/openai_validate.h"
#include "gateway/rate_limiter.h"
#include "gateway/request_footprint.h"
#include "store/store.h"

namespace sobre::gateway {

// Thread contract: owned by one request's coroutine.
struct Exchange {
  Operation op = Operation::kChat;
  std::chrono::steady_clock::time_point start;  // Arrival (monotonic).
  std::chrono::system_clock::time_point arrived;  // Arrival (calendar).
  std::string request_id;
  Caller caller;
  RequestInfo info;
  std::string model;           // Config name of the model asked for, once known.
  std::string answered_by;     // Config name of the model that answered (a fallback, maybe).
  std::string backend_name;    // Backend::name() of the one that answered.
  RateDecision rate;
  std::optional<store::Reservation> reservation;  // Granted reservations only.

  std::chrono::nanoseconds backend_time{0};  // Waiting on backends, all attempts.
  std::chrono::nanoseconds queue_time{0};    // Waiting for an admission slot.
  std::chrono::nanoseconds stream_cpu{0};    // Our own work inside backend calls (chunk edits).
  std::chrono::nanoseconds latency{0};       // Arrival to the last byte.
  std::optional<std::chrono::nanoseconds> ttft;  // Streams: arrival to the first chunk.
  std::chrono::nanoseconds overhead{0};      // Gateway time, set when the footprint is.

  bool produced = false;        // The backend did work that is charged.
  backend::Usage usage;         // Tokens, when produced.
  RequestFootprint footprint;   // Backend plus overhead.
  bool has_footprint = false;

  // Exact cache: the outcome once the decision is made (nullopt: the request never got that far),
  // the key, whether a 2xx answer is stored, and on a hit what the original answer cost.
  std::optional<cache::CacheStatus> cache;
  std::string cache_key;
  std::string cache_tenant;
  bool cache_store = false;
  double avoided_energy_wh = 0;
  double avoided_co2e_g = 0;
  // Semantic cache: whether the request takes part (opted in, and a chat request it can scope),
  // its scope and user text, the vector (embedded by the lookup, reused when the answer is
  // stored) and, on a hit, the entry that answered.
  bool semantic = false;
  std::string semantic_scope;
  std::string semantic_text;
  std::vector<float> semantic_vector;
  std::string semantic_entry_id;
  std::chrono::nanoseconds embed_time{0};  // Spent embedding (inside the gateway's time).

  int http_status = 0;
  std::string error_code;       // OpenAI code (or type) of the error sent; empty on success.
  HttpHeaders error_headers;    // Sent with an error response (retry-after, x-ratelimit-*).
};

// Requests processed per second are the gateway's hot path: ids are 24 random hex digits from a
// per-thread generator (no lock, no system call).
std::string NewRequestId();

// The client's x-request-id when it is a plain token of at most 128 characters, else a new one.
std::string RequestIdFor(std::string_view client_value);

// {energy_wh, co2e_g, water_ml, embodied_co2e_g, method, zone, intensity_g_per_kwh}, plus a
// "warning" when the intensity is the world average because no zone is configured.
boost::json::object FootprintJson(const RequestFootprint& f, const footprint::Intensity& intensity);

// x-sobre-energy-wh, x-sobre-co2e-g, x-sobre-water-ml, x-sobre-embodied-co2e-g, x-sobre-method,
// x-sobre-zone.
void AddFootprintHeaders(HttpHeaders& headers, const RequestFootprint& f,
                         const footprint::Intensity& intensity);

// x-ratelimit-{limit,remaining,reset}-{requests,tokens} for the limits the key has.
void AddRateLimitHeaders(HttpHeaders& headers, const RateDecision& rate);

// Milliseconds with microsecond resolution, as header text ("0.184").
std::string FormatMs(std::chrono::nanoseconds d);

// Seconds for retry-after: whole seconds, rounded up, at least 1.
std::string RetryAfterSeconds(std::chrono::milliseconds d);

// The ledger row of a finished exchange.
store::LedgerRow LedgerRowOf(const Exchange& x);

}  // namespace sobre::gateway

#endif  // SOBRE_GATEWAY_EXCHANGE_H_
