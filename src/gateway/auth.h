// API-key authentication: `Authorization: Bearer <secret>` looked up with
// Store::FindKeyBySecret, with lookups cached for a couple of seconds so that the hot path does
// not touch the database while a revocation still takes effect within the cache's lifetime.
#ifndef SOBRE_GATEWAY_AUTH_H_
#define SOBRE_GATEWAY_AUTH_H_

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"
#include "gateway/errors.h"
#include "store/store.h"

namespace sobre::gateway {

struct AuthOptions {
  // How long a found key (and its limits) is trusted before the store is asked again: the
  // longest a revocation or a limit change takes to apply. Default 2 s.
  std::chrono::milliseconds key_ttl{2000};
  // How long an unknown secret stays refused without asking the store (guards the database
  // against floods of bad keys). Default 1 s.
  std::chrono::milliseconds unknown_ttl{1000};
  // How long the number of keys (which decides open mode) is trusted. Default 2 s.
  std::chrono::milliseconds live_count_ttl{2000};
  // True when the config file declares keys: then the gateway never runs open.
  bool keys_declared = false;
};

// Who is calling. `key` is null in open mode (the store has never held a key).
struct Caller {
  std::shared_ptr<const store::ApiKey> key;
  bool open() const { return key == nullptr; }
};

// Thread contract: thread-safe. The cache is sharded by secret with one mutex per shard; store
// calls are made outside the locks.
class Authenticator {
 public:
  Authenticator(store::Store& store, const Clock& clock, AuthOptions options);

  // `authorization` is the header's value (may be empty). 401 invalid_api_key when a key is
  // required and missing or unknown; 500 when the store fails.
  std::optional<ApiError> Authenticate(std::string_view authorization, Caller& caller);

  // Drops every cached lookup (tests; admin changes made in this process).
  void Invalidate();

 private:
  struct Entry {
    std::shared_ptr<const store::ApiKey> key;  // Null: no live key has this secret.
    std::chrono::steady_clock::time_point fetched;
  };
  // Heterogeneous lookup: find a string_view without building a std::string.
  struct SecretHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, Entry, SecretHash, std::equal_to<>> entries;
  };
  static constexpr size_t kShards = 16;
  static constexpr size_t kMaxEntriesPerShard = 4096;

  // Whether a key is required now; error when the store cannot say.
  std::optional<ApiError> KeysRequired(bool& required);

  store::Store& store_;
  const Clock& clock_;
  const AuthOptions options_;
  std::array<Shard, kShards> shards_;
  std::mutex count_mu_;  // Serialises refreshes of the key count.
  std::atomic<int64_t> live_count_{-1};            // -1: never read.
  std::atomic<int64_t> live_count_read_ns_{0};     // Clock::Now() of the last read.
};

}  // namespace sobre::gateway

#endif  // SOBRE_GATEWAY_AUTH_H_
