// Response pieces built from an Exchange.
#include "gateway/exchange.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>

#include <fmt/format.h>

namespace sobre::gateway {
namespace {

// splitmix64: a tiny, fast generator; request ids need uniqueness, not secrecy.
uint64_t NextRandom() {
  thread_local uint64_t state = [] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
           std::hash<std::thread::id>()(std::this_thread::get_id());
  }();
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::string Number(double v) { return fmt::format("{:.6g}", v); }

double Ms(std::chrono::nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

std::string NewRequestId() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "req_";
  id.resize(4 + 24);
  uint64_t a = NextRandom();
  uint64_t b = NextRandom();
  for (size_t i = 0; i < 16; ++i) id[4 + i] = kHex[(a >> (i * 4)) & 0xf];
  for (size_t i = 0; i < 8; ++i) id[20 + i] = kHex[(b >> (i * 4)) & 0xf];
  return id;
}

std::string RequestIdFor(std::string_view client_value) {
  if (client_value.empty() || client_value.size() > 128) return NewRequestId();
  for (char c : client_value) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return NewRequestId();
  }
  return std::string(client_value);
}

boost::json::object FootprintJson(const RequestFootprint& f,
                                  const footprint::Intensity& intensity) {
  boost::json::object o;
  o.reserve(8);
  o.emplace("energy_wh", f.energy_wh);
  o.emplace("co2e_g", f.co2e_g);
  o.emplace("water_ml", f.water_ml);
  o.emplace("embodied_co2e_g", f.embodied_co2e_g);
  o.emplace("method", f.method());
  o.emplace("zone", intensity.zone);
  o.emplace("intensity_g_per_kwh", intensity.g_per_kwh);
  if (intensity.is_world_fallback) {
    o.emplace("warning", "no grid zone configured for this site: world-average intensity used");
  }
  return o;
}

void AddFootprintHeaders(HttpHeaders& headers, const RequestFootprint& f,
                         const footprint::Intensity& intensity) {
  headers.emplace_back("x-sobre-energy-wh", Number(f.energy_wh));
  headers.emplace_back("x-sobre-co2e-g", Number(f.co2e_g));
  headers.emplace_back("x-sobre-water-ml", Number(f.water_ml));
  headers.emplace_back("x-sobre-embodied-co2e-g", Number(f.embodied_co2e_g));
  headers.emplace_back("x-sobre-method", std::string(f.method()));
  headers.emplace_back("x-sobre-zone", intensity.zone);
}

void AddRateLimitHeaders(HttpHeaders& headers, const RateDecision& rate) {
  if (rate.requests.has_value()) {
    headers.emplace_back("x-ratelimit-limit-requests", std::to_string(rate.requests->limit));
    headers.emplace_back("x-ratelimit-remaining-requests",
                         std::to_string(rate.requests->remaining));
    headers.emplace_back("x-ratelimit-reset-requests", FormatResetDuration(rate.requests->reset));
  }
  if (rate.tokens.has_value()) {
    headers.emplace_back("x-ratelimit-limit-tokens", std::to_string(rate.tokens->limit));
    headers.emplace_back("x-ratelimit-remaining-tokens", std::to_string(rate.tokens->remaining));
    headers.emplace_back("x-ratelimit-reset-tokens", FormatResetDuration(rate.tokens->reset));
  }
}

std::string FormatMs(std::chrono::nanoseconds d) { return fmt::format("{:.3f}", Ms(d)); }

std::string RetryAfterSeconds(std::chrono::milliseconds d) {
  const int64_t s = std::max<int64_t>(1, (d.count() + 999) / 1000);
  return std::to_string(s);
}

store::LedgerRow LedgerRowOf(const Exchange& x) {
  store::LedgerRow row;
  row.time = x.arrived;
  row.request_id = x.request_id;
  if (x.caller.key) {
    row.key_name = x.caller.key->name;
    row.tenant = x.caller.key->tenant.empty() ? x.caller.key->name : x.caller.key->tenant;
  }
  row.model = x.model.empty() ? x.info.model : x.model;
  row.backend = x.backend_name;
  row.endpoint = std::string(LedgerEndpoint(x.op));
  if (x.produced) {
    row.prompt_tokens = x.usage.prompt_tokens;
    row.completion_tokens = x.usage.completion_tokens;
  }
  row.latency_ms = Ms(x.latency);
  row.ttft_ms = x.ttft.has_value() ? Ms(*x.ttft) : 0.0;
  row.overhead_ms = Ms(x.overhead);
  row.energy_wh = x.footprint.energy_wh;
  row.co2e_g = x.footprint.co2e_g;
  row.water_ml = x.footprint.water_ml;
  row.embodied_co2e_g = x.footprint.embodied_co2e_g;
  row.method = std::string(x.footprint.method());
  row.cache_status = cache::HeaderValue(x.cache.value_or(cache::CacheStatus{}));
  row.http_status = x.http_status;
  row.error_code = x.error_code;
  row.avoided_energy_wh = x.avoided_energy_wh;
  row.avoided_co2e_g = x.avoided_co2e_g;
  return row;
}

}  // namespace sobre::gateway
