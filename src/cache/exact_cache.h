// ExactCache: answers keyed by ExactCacheKey(), held in memory (LRU under a byte bound, fixed TTL)
// and written through to the Store so that a restart, or another replica, finds them again.
#ifndef SOBRE_CACHE_EXACT_CACHE_H_
#define SOBRE_CACHE_EXACT_CACHE_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <stop_token>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "store/store.h"

namespace sobre::cache {

// One cached answer: its id, key, tenant, model, endpoint, created/expires, the full non-streamed
// response body, token counts and the footprint of the call that produced it (what a hit avoids).
using ExactCacheEntry = store::CacheEntryRecord;

struct ExactCacheOptions {
  // Lifetime of an entry from its Put(); fixed (a hit does not extend it). Default 24 h.
  std::chrono::seconds ttl{std::chrono::hours(24)};
  // Bound on the memory held, as the sum of EntryBytes(); the least recently used entries are
  // evicted past it. Default 256 MiB.
  size_t max_bytes = size_t{256} << 20;
  // Answers larger than this (EntryBytes) are not cached. Default 4 MiB.
  size_t max_entry_bytes = size_t{4} << 20;
  // Most rows read from the store at start. Default 1,000,000.
  size_t load_limit = 1'000'000;
};

struct ExactCacheStats {
  size_t entries = 0;
  size_t bytes = 0;             // Sum of EntryBytes() of the entries held.
  uint64_t hits = 0;
  uint64_t misses = 0;          // Get() calls that found nothing live for the tenant.
  uint64_t evictions = 0;       // Entries dropped for the byte bound.
  uint64_t expirations = 0;     // Entries dropped because their TTL had passed.
  uint64_t store_errors = 0;    // Failed store writes (logged; the memory cache carries on).
  double avoided_energy_wh = 0; // Sum over hits of the original answer's energy.
  double avoided_co2e_g = 0;    // Sum over hits of the original answer's CO2e.
};

// Thread contract: every method is thread-safe. One mutex guards the in-memory index and is never
// held across I/O; store writes are queued, in the order of the memory changes, to a writer
// thread owned by the cache, so Get() and Put() never wait on the database.
//
// The store keeps what memory keeps: a Put() is written through (upsert on (tenant, key)), and an
// entry evicted, expired or purged from memory is deleted from the store by id (so a delete never
// removes a newer entry another replica stored under the same key). Rows beyond the byte bound at
// start are left in the store (another replica sharing it may hold them) and expire there.
class ExactCache {
 public:
  // Loads the live entries of `store` (nullptr: memory only, nothing persisted), most recently
  // created first, until the byte bound is reached; rows already expired at `now` are deleted.
  // `store` must outlive the cache. Errors: the store's, when it cannot be read.
  static StatusOr<std::unique_ptr<ExactCache>> Open(store::Store* store,
                                                    const ExactCacheOptions& options,
                                                    store::TimePoint now);
  // Applies the queued store writes, then stops the writer thread.
  ~ExactCache();
  ExactCache(const ExactCache&) = delete;
  ExactCache& operator=(const ExactCache&) = delete;

  // The live entry for `key` if it belongs to `tenant` (checked even though the tenant is part of
  // the key), counting a hit and the footprint it avoids; nullopt (a miss) otherwise. An expired
  // entry found here is dropped.
  std::optional<ExactCacheEntry> Get(std::string_view key, std::string_view tenant,
                                     store::TimePoint now);

  // Stores `entry` for (entry.tenant, entry.key), replacing any entry there, with created = now
  // and expires = now + ttl; an empty id is replaced by a new random one. Returns the id, or
  // nullopt when the entry is larger than max_entry_bytes or max_bytes (not cached).
  std::optional<std::string> Put(ExactCacheEntry entry, store::TimePoint now);

  // The live entry with store id `id` if it belongs to `tenant`, counting a hit like Get(); for
  // the semantic cache, whose index names entries by id.
  std::optional<ExactCacheEntry> GetById(std::string_view id, std::string_view tenant,
                                         store::TimePoint now);
  // True when an entry with store id `id` is held (live or not yet found expired).
  bool ContainsId(std::string_view id) const;

  // Called with the ids of entries as they leave memory for any reason (eviction, expiry,
  // replacement, purge), under the cache's lock: it must not call back into this cache. Set it
  // before sharing the cache between threads; nullptr removes it.
  using RemovalObserver = std::function<void(std::span<const std::string> ids)>;
  void SetRemovalObserver(RemovalObserver observer);

  // Copies of the entries that carry a semantic-cache embedding, oldest first, to build an index.
  std::vector<ExactCacheEntry> SemanticEntries() const;

  // Removes the entries of `tenant` and/or `model` (both nullopt: everything), from memory and
  // the store. Returns how many were removed: the store's count when there is a store (it may
  // hold entries memory does not), else memory's.
  StatusOr<int64_t> Purge(const std::optional<std::string>& tenant,
                          const std::optional<std::string>& model);

  // Waits until every store write queued before the call is applied; returns the first store
  // error since the previous Flush(), if any.
  Status Flush();

  ExactCacheStats Stats() const;

  // What an entry counts against max_bytes: its strings plus a fixed per-entry overhead.
  static size_t EntryBytes(const ExactCacheEntry& entry);

 private:
  // One store write, applied by the writer thread in queue order.
  struct Write {
    std::optional<ExactCacheEntry> put;
    std::vector<std::string> delete_ids;
    std::optional<store::CacheEntryFilter> purge;
    std::shared_ptr<std::promise<StatusOr<int64_t>>> purged;  // With `purge`: its count.
    uint64_t seq = 0;
  };
  using Lru = std::list<ExactCacheEntry>;  // Most recently used first.

  ExactCache(store::Store* store, const ExactCacheOptions& options);
  // Requires mu_. Removes `it` from memory (not from the store) and tells the observer.
  void RemoveLocked(Lru::iterator it);
  // Requires mu_. A hit on `it` (moved to the front, counted with its avoided footprint), or
  // nullopt when it has expired (then dropped from memory and the store).
  std::optional<ExactCacheEntry> TakeLocked(Lru::iterator it, store::TimePoint now);
  // Requires mu_. Adds `entry` at the front (most recently used).
  void InsertFrontLocked(ExactCacheEntry entry, std::string index_key);
  // Requires mu_ (so that the queue order is the order of memory changes).
  uint64_t EnqueueLocked(Write write);
  void WriterLoop(std::stop_token stop);
  void Apply(Write& write);

  store::Store* const store_;
  const ExactCacheOptions options_;

  mutable std::mutex mu_;
  Lru lru_;
  std::unordered_map<std::string, Lru::iterator> index_;  // tenant + '\0' + key.
  std::unordered_map<std::string, Lru::iterator> by_id_;  // Entry id.
  RemovalObserver observer_;
  size_t bytes_ = 0;
  ExactCacheStats counters_;  // Hit, miss, eviction, expiry and avoided totals.

  mutable std::mutex queue_mu_;  // Taken after mu_ when both are held.
  std::condition_variable_any queue_cv_;
  std::condition_variable applied_cv_;
  std::deque<Write> queue_;
  uint64_t queued_seq_ = 0;
  uint64_t applied_seq_ = 0;
  uint64_t store_errors_ = 0;
  Status first_error_;
  std::jthread writer_;  // Last: stopped (after draining) before the rest is destroyed.
};

}  // namespace sobre::cache

#endif  // SOBRE_CACHE_EXACT_CACHE_H_
