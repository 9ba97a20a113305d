// Store: everything sobre keeps — API keys, budgets, the per-request ledger. One interface, two
// implementations with the same schema and migrations: SQLite (embedded default, one process) and
// PostgreSQL (shared by several gateway replicas).
#ifndef SOBRE_STORE_STORE_H_
#define SOBRE_STORE_STORE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sobre::store {

using TimePoint = std::chrono::system_clock::time_point;

// Limits of one key. Unset means unlimited. Days and months are UTC calendar periods.
struct Limits {
  std::optional<int64_t> tokens_per_day;
  std::optional<int64_t> tokens_per_month;
  std::optional<double> wh_per_day;
  std::optional<double> wh_per_month;
  std::optional<double> co2e_g_per_day;
  std::optional<double> co2e_g_per_month;
  // Rate limits, enforced in the gateway process (not stored usage).
  std::optional<int64_t> requests_per_minute;
  std::optional<int64_t> tokens_per_minute;
};

struct ApiKey {
  int64_t id = 0;
  std::string name;        // Unique, chosen by the operator ("dev", "team-a").
  std::string tenant;      // Namespace for cache entries and reports; defaults to name.
  std::string prefix;      // First characters of the secret, to recognise it in listings.
  bool admin = false;      // May call admin endpoints.
  bool revoked = false;
  Limits limits;
  TimePoint created;
};

// What a new key should be.
struct NewKey {
  std::string name;
  std::string tenant;  // Empty: same as name.
  bool admin = false;
  Limits limits;
};

// An amount charged against budgets.
struct Cost {
  int64_t tokens = 0;
  double wh = 0;
  double co2e_g = 0;
};

// The outcome of Reserve().
struct Reservation {
  bool granted = false;
  int64_t id = 0;             // When granted: pass to Settle().
  // When denied: which limit, its value, what is used and reserved in the current period, and
  // how long until that period ends (for retry-after).
  std::string limit_name;     // "co2e_g_per_day", "tokens_per_month", ...
  double limit = 0;
  double used = 0;
  std::chrono::seconds retry_after{0};
};

// One row per request handled by the gateway.
struct LedgerRow {
  TimePoint time;              // When the request arrived.
  std::string request_id;
  std::string key_name;        // Empty for unauthenticated (open) mode.
  std::string tenant;
  std::string model;           // The name the client asked for.
  std::string backend;         // Backend::name() of the one that answered, or "" if none.
  std::string endpoint;        // "chat.completions", "completions", "embeddings".
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  double latency_ms = 0;
  double ttft_ms = 0;          // 0 when not streamed.
  double overhead_ms = 0;      // Time spent in sobre itself.
  double energy_wh = 0;
  double co2e_g = 0;
  double water_ml = 0;
  double embodied_co2e_g = 0;
  std::string method;          // "measured" or "estimated".
  std::string cache_status;    // cache::HeaderValue(): "exact", "miss", "bypass", "semantic; ...".
  int http_status = 0;         // What the client got.
  std::string error_code;      // OpenAI error code when not 2xx.
  // On a cache hit: the footprint of the original answer, which this request did not spend.
  double avoided_energy_wh = 0;
  double avoided_co2e_g = 0;
};

// One exact-cache entry as persisted (cache/exact_cache.h gives its meaning). Unique per
// (tenant, key); `id` and the timestamps let replicas sharing a database tell entries apart.
struct CacheEntryRecord {
  std::string id;          // Unique across replicas: 32 random hex characters.
  std::string key;         // cache::ExactCacheKey(): lower-case hex SHA-256.
  std::string tenant;
  std::string model;       // The name the client asked for.
  std::string endpoint;    // "chat.completions", "completions", "embeddings".
  TimePoint created;       // Microsecond precision once stored.
  TimePoint expires;       // The entry is dead at and after this time.
  std::string body;        // The full non-streamed OpenAI response, JSON text.
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  // The footprint of the original (answering) call: what a hit avoids.
  double energy_wh = 0;
  double co2e_g = 0;
  double water_ml = 0;
  double embodied_co2e_g = 0;
  std::string method;      // "measured" or "estimated".
  // Semantic cache (empty when the entry is exact-only): the index scope (cache/semantic_scope.h),
  // the user text the guards compare, the embedder's name and the unit vector it gave.
  std::string semantic_scope;
  std::string query_text;
  std::string embedder;
  std::vector<float> embedding;
};

// Which cache entries PurgeCacheEntries() removes: those matching every field that is set.
struct CacheEntryFilter {
  std::optional<std::string> tenant;
  std::optional<std::string> model;
  std::optional<TimePoint> expired_at;  // Entries with expires <= this.
};

struct StoreOptions {
  // Ledger rows are committed in groups: at most this long after Append() (a crash loses at most
  // the rows of this window). Default 200 ms.
  std::chrono::milliseconds ledger_flush_interval{200};
  // A group is committed early once it holds this many rows. Default 512.
  size_t ledger_max_batch = 512;
};

// Thread contract: every method is thread-safe. Reserve/Settle/key calls block on the database;
// Append() never blocks on it (one writer thread per store commits the ledger).
class Store {
 public:
  virtual ~Store() = default;

  // Keys. Secrets are never stored: only their SHA-256. CreateKey returns the secret once.
  virtual StatusOr<std::pair<ApiKey, std::string>> CreateKey(const NewKey& key) = 0;
  // Creates or updates key `key.name` with the given secret (keys declared in the config file).
  virtual StatusOr<ApiKey> UpsertKey(const NewKey& key, std::string_view secret) = 0;
  // nullopt when no live key has this secret (unknown or revoked).
  virtual StatusOr<std::optional<ApiKey>> FindKeyBySecret(std::string_view secret) = 0;
  virtual StatusOr<std::vector<ApiKey>> ListKeys() = 0;
  // NotFound if no key has that name.
  virtual Status RevokeKey(std::string_view name) = 0;
  // Number of live keys (the gateway requires keys once there is one).
  virtual StatusOr<int64_t> CountLiveKeys() = 0;
  // Number of keys ever created, revoked ones included: the gateway runs open only while it is 0,
  // so that revoking the last key locks it rather than reopening it.
  virtual StatusOr<int64_t> CountAllKeys() = 0;

  // Budgets. Atomically checks that usage + reservations + `upper_bound` stays within every daily
  // and monthly limit of `key` for the periods containing `now`, and if so reserves it; across
  // threads and, for PostgreSQL, across processes, concurrent reservations never overspend.
  virtual StatusOr<Reservation> Reserve(const ApiKey& key, const Cost& upper_bound,
                                        TimePoint now) = 0;
  // Replaces the reservation by the actual cost (which may exceed it: the work is done).
  virtual Status Settle(int64_t reservation_id, const Cost& actual) = 0;
  // Usage charged so far in the periods containing `now`: {day, month}.
  virtual StatusOr<std::pair<Cost, Cost>> Usage(const ApiKey& key, TimePoint now) = 0;

  // Ledger. Append queues the row for the writer thread; Flush() returns once every row queued
  // before it is committed.
  virtual void Append(LedgerRow row) = 0;
  virtual Status Flush() = 0;
  // Rows with from <= time < to, oldest first, at most `limit`.
  virtual StatusOr<std::vector<LedgerRow>> ReadLedger(TimePoint from, TimePoint to,
                                                      size_t limit) = 0;

  // Exact-cache entries. PutCacheEntry inserts `entry`, or replaces every field of the entry with
  // the same (tenant, key).
  virtual Status PutCacheEntry(const CacheEntryRecord& entry) = 0;
  // Deletes the entries with these ids (unknown ids are ignored); returns how many were deleted.
  virtual StatusOr<int64_t> DeleteCacheEntries(std::span<const std::string> ids) = 0;
  // Entries with expires > now, most recently created first, at most `limit`.
  virtual StatusOr<std::vector<CacheEntryRecord>> LoadCacheEntries(TimePoint now,
                                                                   size_t limit) = 0;
  // Deletes the entries matching `filter` (an empty filter deletes all); returns how many.
  virtual StatusOr<int64_t> PurgeCacheEntries(const CacheEntryFilter& filter) = 0;
};

// Opens (creating and migrating as needed) the store named by `url`:
//   sqlite:///var/lib/sobre/sobre.db    sqlite://relative/path.db    sqlite::memory:
//   postgres://user[:password]@host[:port]/db  or  postgresql://...  (libpq URIs)
StatusOr<std::unique_ptr<Store>> OpenStore(std::string_view url, const StoreOptions& options = {});

// The secret format: "sk-sobre-" followed by 32 random base62 characters.
std::string GenerateSecret();
// Lower-case hex SHA-256 of `secret`.
std::string HashSecret(std::string_view secret);

}  // namespace sobre::store

#endif  // SOBRE_STORE_STORE_H_
