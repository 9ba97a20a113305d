// Authentication. Secrets are cached in memory as received (they arrive in every request
// anyway); the store keeps only their hashes.
#include "gateway/auth.h"

#include <functional>

#include <fmt/format.h>

#include "core/strings.h"

namespace sobre::gateway {
namespace {

ApiError InvalidKey(std::string message) {
  return ApiError{ApiErrorKind::kInvalidApiKey, std::move(message), ""};
}

// "sk-sobre-ab***wxyz", as OpenAI prints keys it refuses.
std::string Masked(std::string_view secret) {
  if (secret.size() <= 12) return "***";
  return fmt::format("{}***{}", secret.substr(0, 8), secret.substr(secret.size() - 4));
}

int64_t Nanos(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

Authenticator::Authenticator(store::Store& store, const Clock& clock, AuthOptions options)
    : store_(store), clock_(clock), options_(options) {}

void Authenticator::Invalidate() {
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    shard.entries.clear();
  }
  live_count_.store(-1);
}

std::optional<ApiError> Authenticator::KeysRequired(bool& required) {
  if (options_.keys_declared) {
    required = true;
    return std::nullopt;
  }
  const int64_t now = Nanos(clock_.Now());
  const int64_t ttl = std::chrono::nanoseconds(options_.live_count_ttl).count();
  int64_t count = live_count_.load();
  if (count < 0 || now - live_count_read_ns_.load() >= ttl) {
    // One caller refreshes; the others keep using the previous value if there is one.
    std::unique_lock lock(count_mu_, std::defer_lock);
    if (count < 0) {
      lock.lock();
    } else {
      (void)lock.try_lock();
    }
    if (lock.owns_lock()) {
      count = live_count_.load();
      if (count < 0 || Nanos(clock_.Now()) - live_count_read_ns_.load() >= ttl) {
        // Every key counts, revoked ones too: revoking the last key must lock the gateway, not
        // reopen it. Open access is only for a store that has never held a key.
        StatusOr<int64_t> keys = store_.CountAllKeys();
        if (!keys.ok()) {
          if (count < 0) {
            return ApiError{ApiErrorKind::kInternal,
                            "cannot read API keys: " + keys.status().message(), ""};
          }
        } else {
          count = *keys;
          live_count_read_ns_.store(Nanos(clock_.Now()));
          live_count_.store(count);
        }
      }
    }
  }
  required = count > 0;
  return std::nullopt;
}

std::optional<ApiError> Authenticator::Authenticate(std::string_view authorization,
                                                    Caller& caller) {
  caller.key.reset();
  bool required = true;
  if (std::optional<ApiError> error = KeysRequired(required)) return error;
  if (!required) return std::nullopt;

  std::string_view value = Trim(authorization);
  constexpr std::string_view kBearer = "bearer ";
  if (value.size() < kBearer.size() || !EqualsIgnoreCase(value.substr(0, kBearer.size()), kBearer)) {
    return InvalidKey(
        "You didn't provide an API key. You need to provide your API key in an Authorization "
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).");
  }
  const std::string_view secret = Trim(value.substr(kBearer.size()));
  if (secret.empty()) {
    return InvalidKey(
        "You didn't provide an API key. You need to provide your API key in an Authorization "
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).");
  }

  Shard& shard = shards_[SecretHash()(secret) % kShards];
  const auto now = clock_.Now();
  {
    std::lock_guard lock(shard.mu);
    auto it = shard.entries.find(secret);
    if (it != shard.entries.end()) {
      const auto ttl = it->second.key ? options_.key_ttl : options_.unknown_ttl;
      if (now - it->second.fetched < ttl) {
        if (!it->second.key) {
          return InvalidKey(fmt::format("Incorrect API key provided: {}.", Masked(secret)));
        }
        caller.key = it->second.key;
        return std::nullopt;
      }
    }
  }

  StatusOr<std::optional<store::ApiKey>> found = store_.FindKeyBySecret(secret);
  if (!found.ok()) {
    return ApiError{ApiErrorKind::kInternal,
                    "cannot look up the API key: " + found.status().message(), ""};
  }
  Entry entry;
  entry.fetched = now;
  if (found->has_value() && !(*found)->revoked) {
    entry.key = std::make_shared<const store::ApiKey>(std::move(**found));
  }
  {
    std::lock_guard lock(shard.mu);
    if (shard.entries.size() >= kMaxEntriesPerShard) {
      std::erase_if(shard.entries, [&](const auto& e) {
        return now - e.second.fetched >= options_.key_ttl;
      });
      if (shard.entries.size() >= kMaxEntriesPerShard) shard.entries.clear();
    }
    shard.entries[std::string(secret)] = entry;
  }
  if (!entry.key) return InvalidKey(fmt::format("Incorrect API key provided: {}.", Masked(secret)));
  caller.key = std::move(entry.key);
  return std::nullopt;
}

}  // namespace sobre::gateway
