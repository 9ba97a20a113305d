#include "cache/cache_key.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <vector>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace sobre::cache {
namespace {

// Request fields that shape the transport or the bookkeeping, never the answer.
constexpr std::array<std::string_view, 7> kIgnoredFields = {
    "stream", "stream_options", "user", "metadata", "store", "service_tier", "sobre"};

bool IsIgnored(std::string_view field) {
  return std::find(kIgnoredFields.begin(), kIgnoredFields.end(), field) != kIgnoredFields.end();
}

void AppendString(std::string_view s, std::string& out) {
  out += boost::json::serialize(boost::json::string_view(s.data(), s.size()));
}

// Integral doubles print as integers so that 0.0 and 0 (or 2.0 and 2) name the same request.
void AppendDouble(double d, std::string& out) {
  constexpr double kTwo63 = 9223372036854775808.0;
  if (std::isfinite(d) && d == std::trunc(d) && d > -kTwo63 && d < kTwo63) {
    out += std::to_string(static_cast<int64_t>(d));  // -0.0 becomes "0".
    return;
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d);  // Shortest round-trip form.
  out.append(buf, ec == std::errc() ? end : buf);
}

void AppendCanonical(const boost::json::value& v, std::string& out);

// `top_level`: the request body itself, whose ignored fields are left out.
void AppendObject(const boost::json::object& o, std::string& out, bool top_level) {
  std::vector<const boost::json::key_value_pair*> fields;
  fields.reserve(o.size());
  for (const auto& kv : o) {
    if (top_level && IsIgnored(kv.key())) continue;
    fields.push_back(&kv);
  }
  std::sort(fields.begin(), fields.end(),
            [](const auto* a, const auto* b) { return a->key() < b->key(); });
  out += '{';
  bool first = true;
  for (const auto* kv : fields) {
    if (!first) out += ',';
    first = false;
    AppendString(kv->key(), out);
    out += ':';
    AppendCanonical(kv->value(), out);
  }
  out += '}';
}

void AppendCanonical(const boost::json::value& v, std::string& out) {
  switch (v.kind()) {
    case boost::json::kind::null:
      out += "null";
      return;
    case boost::json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      return;
    case boost::json::kind::int64:
      out += std::to_string(v.get_int64());
      return;
    case boost::json::kind::uint64:
      out += std::to_string(v.get_uint64());
      return;
    case boost::json::kind::double_:
      AppendDouble(v.get_double(), out);
      return;
    case boost::json::kind::string:
      AppendString(v.get_string(), out);
      return;
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const boost::json::value& e : v.get_array()) {
        if (!first) out += ',';
        first = false;
        AppendCanonical(e, out);
      }
      out += ']';
      return;
    }
    case boost::json::kind::object:
      AppendObject(v.get_object(), out, false);
      return;
  }
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1) size = 0;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

// The Cache-Control directives we act on.
struct CacheControl {
  bool no_cache = false;
  bool no_store = false;
};

CacheControl ParseCacheControl(std::string_view header) {
  CacheControl cc;
  while (!header.empty()) {
    const size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    // A directive may carry "=value"; only the name matters here.
    item = item.substr(0, item.find('='));
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    std::string name(item);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (name == "no-cache") cc.no_cache = true;
    if (name == "no-store") cc.no_store = true;
  }
  return cc;
}

enum class Override { kNone, kOn, kOff, kRefresh };

StatusOr<std::optional<bool>> ParseSemanticExtension(const boost::json::object& body) {
  const boost::json::value* ext = body.if_contains("sobre");
  if (ext == nullptr || !ext->is_object()) return std::optional<bool>();
  const boost::json::value* semantic = ext->get_object().if_contains("semantic");
  if (semantic == nullptr || semantic->is_null()) return std::optional<bool>();
  if (!semantic->is_bool()) return InvalidArgumentError("'sobre.semantic' must be true or false");
  return std::optional<bool>(semantic->get_bool());
}

StatusOr<Override> ParseExtension(const boost::json::object& body) {
  const boost::json::value* ext = body.if_contains("sobre");
  if (ext == nullptr || ext->is_null()) return Override::kNone;
  if (!ext->is_object()) return InvalidArgumentError("'sobre' must be an object");
  const boost::json::value* cache = ext->get_object().if_contains("cache");
  if (cache == nullptr || cache->is_null()) return Override::kNone;
  if (cache->is_string()) {
    const auto& s = cache->get_string();
    if (s == "on") return Override::kOn;
    if (s == "off") return Override::kOff;
    if (s == "refresh") return Override::kRefresh;
  }
  return InvalidArgumentError("'sobre.cache' must be \"on\", \"off\" or \"refresh\"");
}

bool IsZero(const boost::json::value& v) {
  return (v.is_int64() && v.get_int64() == 0) || (v.is_uint64() && v.get_uint64() == 0) ||
         (v.is_double() && v.get_double() == 0);
}

}  // namespace

StatusOr<CacheDecision> DecideExactCaching(std::string_view endpoint,
                                           const boost::json::object& body,
                                           std::string_view cache_control_header,
                                           const ExactCacheConfig& config) {
  // Parse the extension first so that a bad value is reported even when the cache is off.
  SOBRE_ASSIGN_OR_RETURN(Override ext, ParseExtension(body));
  SOBRE_ASSIGN_OR_RETURN(std::optional<bool> semantic, ParseSemanticExtension(body));
  const CacheControl cc = ParseCacheControl(cache_control_header);
  CacheDecision d;
  d.semantic = semantic;
  d.refresh = ext == Override::kRefresh || cc.no_cache;
  auto decided = [&](bool lookup, bool store, std::string_view reason) {
    d.lookup = lookup;
    d.store = store;
    d.reason = reason;
    return d;
  };
  if (!config.enabled) {
    d.cacheable = false;
    return decided(false, false, "disabled");
  }
  if (cc.no_store || ext == Override::kOff) {
    d.cacheable = false;
    return decided(false, false, cc.no_store ? "no-store" : "off");
  }

  std::string_view why;
  const boost::json::value* temperature = body.if_contains("temperature");
  const boost::json::value* seed = body.if_contains("seed");
  if (endpoint == "embeddings" || (temperature != nullptr && IsZero(*temperature))) {
    why = "deterministic";
  } else if (seed != nullptr && !seed->is_null()) {
    why = "seed";
  } else if (ext == Override::kOn) {
    why = "forced";
  } else if (config.cache_nondeterministic) {
    why = "nondeterministic_allowed";
  } else {
    return decided(false, false, "nondeterministic");
  }
  if (ext == Override::kRefresh) return decided(false, true, "refresh");
  if (cc.no_cache) return decided(false, true, "no-cache");
  return decided(true, true, why);
}

std::string CanonicalJson(const boost::json::value& value) {
  std::string out;
  AppendCanonical(value, out);
  return out;
}

std::string ExactCacheKey(std::string_view tenant, std::string_view endpoint,
                          const boost::json::object& body) {
  // Length prefixes keep ("a", "b:c") and ("a:b", "c") apart; the version names the format so
  // that a change of canonical form never matches entries made by an older one.
  std::string material = "sobre-exact-v1\n";
  material += std::to_string(tenant.size()) + ":" + std::string(tenant) + "\n";
  material += std::to_string(endpoint.size()) + ":" + std::string(endpoint) + "\n";
  AppendObject(body, material, true);
  return Sha256Hex(material);
}

}  // namespace sobre::cache
