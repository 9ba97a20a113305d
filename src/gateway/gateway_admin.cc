// Admin endpoints of the answer cache: GET /v1/admin/cache (statistics) and
// POST /v1/admin/cache/purge ({"key": NAME, "tenant": T, "model": M}, all optional; {} purges
// everything). They act on the running server's memory and on the store, which `sobre cache purge`
// alone cannot do for a server that holds entries in memory.
#include <optional>
#include <string>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "core/logging.h"
#include "gateway/internal/gateway_impl.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // See gateway_cache.cc.
#endif

namespace sobre::gateway {
namespace {

namespace json = boost::json;
using boost::asio::awaitable;

}  // namespace

std::optional<ApiError> Gateway::Impl::CheckAdmin(Exchange& x, const HttpRequest& req) {
  if (std::optional<ApiError> e = auth.Authenticate(req.Header("authorization"), x.caller)) {
    return e;
  }
  // Open mode (no key was ever created) has no admins to tell apart: everything is allowed, as
  // for the rest of the API.
  if (x.caller.key && !x.caller.key->admin) {
    return ApiError{ApiErrorKind::kPermissionDenied,
                    "Key " + x.caller.key->name + " is not an admin key.", ""};
  }
  return std::nullopt;
}

json::object Gateway::Impl::CacheStatsJson() const {
  json::object out;
  if (exact_cache == nullptr) {
    out["enabled"] = false;
    if (!cache_open_status.ok()) out["error"] = cache_open_status.ToString();
    return out;
  }
  const cache::ExactCacheStats e = exact_cache->Stats();
  out["enabled"] = true;
  json::object exact;
  exact["entries"] = e.entries;
  exact["bytes"] = e.bytes;
  exact["hits"] = e.hits;
  exact["misses"] = e.misses;
  exact["evictions"] = e.evictions;
  exact["expirations"] = e.expirations;
  exact["store_errors"] = e.store_errors;
  exact["avoided_energy_wh"] = e.avoided_energy_wh;
  exact["avoided_co2e_g"] = e.avoided_co2e_g;
  out["entries"] = std::move(exact);
  if (semantic_cache != nullptr) {
    const cache::SemanticCacheStats s = semantic_cache->Stats();
    json::object sem;
    sem["embedder"] = embedder->name();
    sem["threshold"] = semantic_cache->threshold();
    sem["indexed"] = s.entries;
    sem["index_bytes"] = s.index_bytes;
    sem["lookups"] = s.lookups;
    sem["hits"] = s.hits;
    sem["guard_vetoes"] = s.guard_vetoes;
    sem["verify_fraction"] = config.cache.semantic.verify_fraction;
    out["semantic"] = std::move(sem);
  }
  out["note"] = "hits and avoided totals count since this server started (exact and semantic "
                "hits both read entries here); the ledger keeps them per request";
  return out;
}

awaitable<void> Gateway::Impl::HandleAdminCache(const HttpRequest& req, ResponseWriter& w) {
  Exchange x;
  x.request_id = RequestIdFor(req.Header("x-request-id"));
  if (std::optional<ApiError> e = CheckAdmin(x, req)) {
    co_await SendError(x, w, *e);
    co_return;
  }
  HttpHeaders h = BaseHeaders(x, "application/json");
  std::string text = json::serialize(CacheStatsJson());
  Status s = co_await w.Send(200, std::move(h), std::move(text));
  (void)s;
}

awaitable<void> Gateway::Impl::HandleAdminCachePurge(const HttpRequest& req, ResponseWriter& w) {
  Exchange x;
  x.request_id = RequestIdFor(req.Header("x-request-id"));
  std::optional<ApiError> error = CheckAdmin(x, req);
  std::optional<std::string> tenant;
  std::optional<std::string> model;
  if (!error.has_value()) {
    boost::system::error_code ec;
    json::value parsed = json::parse(req.body.empty() ? std::string_view("{}") : req.body, ec);
    const json::object* body = ec ? nullptr : parsed.if_object();
    if (body == nullptr) {
      error = ApiError{ApiErrorKind::kInvalidRequest,
                       "The body must be a JSON object such as {\"model\": \"m\"}.", ""};
    } else {
      for (const auto& [name, value] : *body) {
        if (name != "key" && name != "tenant" && name != "model") {
          error = ApiError{ApiErrorKind::kInvalidRequest,
                           fmt::format("Unknown field '{}': expected key, tenant or model.",
                                       std::string_view(name)),
                           std::string(name)};
          break;
        }
        if (!value.is_string() || value.get_string().empty()) {
          error = ApiError{ApiErrorKind::kInvalidRequest,
                           fmt::format("'{}' must be a non-empty string.", std::string_view(name)),
                           std::string(name)};
          break;
        }
      }
      if (!error.has_value()) {
        if (const json::value* m = body->if_contains("model")) model = std::string(m->get_string());
        if (const json::value* t = body->if_contains("tenant")) {
          tenant = std::string(t->get_string());
        }
        if (const json::value* k = body->if_contains("key")) {
          // A key's entries are its tenant's (the tenant defaults to the key's name).
          StatusOr<std::vector<store::ApiKey>> keys = store.ListKeys();
          std::optional<std::string> found;
          if (keys.ok()) {
            for (const store::ApiKey& key : *keys) {
              if (key.name == k->get_string()) found = key.tenant.empty() ? key.name : key.tenant;
            }
          }
          if (!found.has_value()) {
            error = ApiError{ApiErrorKind::kInvalidRequest,
                             fmt::format("No key named '{}'.", std::string_view(k->get_string())),
                             "key"};
          } else if (tenant.has_value() && *tenant != *found) {
            error = ApiError{ApiErrorKind::kInvalidRequest,
                             "'key' and 'tenant' name different tenants.", "tenant"};
          } else {
            tenant = found;
          }
        }
      }
    }
  }
  if (!error.has_value() && exact_cache == nullptr) {
    error = ApiError{ApiErrorKind::kInvalidRequest, "The cache is disabled on this server.", ""};
  }
  if (error.has_value()) {
    co_await SendError(x, w, *error);
    co_return;
  }
  // Purge blocks until the store has applied it: a few milliseconds on an admin path.
  StatusOr<int64_t> purged = exact_cache->Purge(tenant, model);
  if (!purged.ok()) {
    SOBRE_LOG(kError, "cache purge failed: {}", purged.status().ToString());
    ApiError failed{ApiErrorKind::kInternal, "Purging the cache failed: " + purged.status().message(),
                    ""};
    co_await SendError(x, w, failed);
    co_return;
  }
  SOBRE_LOG(kInfo, "cache purge (tenant {}, model {}): {} entries", tenant.value_or("*"),
            model.value_or("*"), *purged);
  json::object out;
  out["purged"] = *purged;
  out["tenant"] = tenant ? json::value(*tenant) : json::value(nullptr);
  out["model"] = model ? json::value(*model) : json::value(nullptr);
  HttpHeaders h = BaseHeaders(x, "application/json");
  std::string text = json::serialize(out);
  Status s = co_await w.Send(200, std::move(h), std::move(text));
  (void)s;
}

}  // namespace sobre::gateway
