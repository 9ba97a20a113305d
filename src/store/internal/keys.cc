#include "store/internal/keys.h"

#include <algorithm>
#include <cmath>

namespace sobre::store::internal {
namespace {

constexpr std::string_view kGeneratedPrefix = "sk-sobre-";
constexpr size_t kMaxNameBytes = 200;
constexpr size_t kMaxSecretBytes = 1024;

Status CheckLimit(const std::string& key_name, const char* limit_name,
                  const std::optional<double>& v) {
  if (v && (!std::isfinite(*v) || *v < 0)) {
    return InvalidArgumentError("key '" + key_name + "': " + limit_name +
                                " must be a finite number >= 0");
  }
  return OkStatus();
}

Status CheckLimit(const std::string& key_name, const char* limit_name,
                  const std::optional<int64_t>& v) {
  if (v && *v < 0) {
    return InvalidArgumentError("key '" + key_name + "': " + limit_name + " must be >= 0");
  }
  return OkStatus();
}

}  // namespace

Status ValidateNewKey(const NewKey& key) {
  if (key.name.empty()) return InvalidArgumentError("a key needs a name");
  if (key.name.size() > kMaxNameBytes || key.tenant.size() > kMaxNameBytes) {
    return InvalidArgumentError("key '" + key.name.substr(0, 40) +
                                "...': name or tenant longer than " +
                                std::to_string(kMaxNameBytes) + " bytes");
  }
  const Limits& l = key.limits;
  SOBRE_RETURN_IF_ERROR(CheckLimit(key.name, "tokens_per_day", l.tokens_per_day));
  SOBRE_RETURN_IF_ERROR(CheckLimit(key.name, "tokens_per_month", l.tokens_per_month));
  SOBRE_RETURN_IF_ERROR(CheckLimit(key.name, "wh_per_day", l.wh_per_day));
  SOBRE_RETURN_IF_ERROR(CheckLimit(key.name, "wh_per_month", l.wh_per_month));
  SOBRE_RETURN_IF_ERROR(CheckLimit(key.name, "co2e_g_per_day", l.co2e_g_per_day));
  SOBRE_RETURN_IF_ERROR(CheckLimit(key.name, "co2e_g_per_month", l.co2e_g_per_month));
  SOBRE_RETURN_IF_ERROR(CheckLimit(key.name, "requests_per_minute", l.requests_per_minute));
  SOBRE_RETURN_IF_ERROR(CheckLimit(key.name, "tokens_per_minute", l.tokens_per_minute));
  return OkStatus();
}

Status ValidateSecret(std::string_view secret) {
  if (secret.empty()) return InvalidArgumentError("a key's secret must not be empty");
  if (secret.size() > kMaxSecretBytes) {
    return InvalidArgumentError("a key's secret must be at most " +
                                std::to_string(kMaxSecretBytes) + " bytes");
  }
  return OkStatus();
}

std::string TenantOf(const NewKey& key) { return key.tenant.empty() ? key.name : key.tenant; }

std::string SecretPrefix(std::string_view secret) {
  if (secret.size() >= kGeneratedPrefix.size() + 16 && secret.starts_with(kGeneratedPrefix)) {
    return std::string(secret.substr(0, kGeneratedPrefix.size() + 4));
  }
  return std::string(secret.substr(0, std::min<size_t>(4, secret.size() / 4)));
}

}  // namespace sobre::store::internal
