// SemanticCache: answers for requests that mean the same as an earlier one. Entries live in the
// ExactCache (memory + store); this keeps the HNSW index over their embeddings, scoped by tenant,
// model and conversation context, and the guards that veto near misses.
#ifndef SOBRE_CACHE_SEMANTIC_CACHE_H_
#define SOBRE_CACHE_SEMANTIC_CACHE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cache/embedder.h"
#include "cache/exact_cache.h"
#include "cache/guards.h"
#include "cache/semantic_index.h"
#include "core/status.h"

namespace sobre::cache {

struct SemanticCacheOptions {
  // Least cosine similarity for a hit; 0 takes the embedder's calibrated default_threshold().
  double threshold = 0;
  // Most entries in the index (the oldest leave it first; they stay exact-cache entries).
  // Default 100,000.
  size_t max_entries = 100'000;
  // Most estimated bytes of the index; 0: no bound. Default 0.
  size_t max_bytes = 0;
  // Neighbours above the threshold tried, most similar first, until one passes the guards.
  // Default 4.
  size_t candidates = 4;
  GuardOptions guards;
};

struct SemanticHit {
  ExactCacheEntry entry;
  double similarity = 0;
};

struct SemanticCacheStats {
  size_t entries = 0;          // In the index.
  size_t index_bytes = 0;      // SemanticIndex::memory_bytes().
  uint64_t lookups = 0;
  uint64_t hits = 0;
  uint64_t guard_vetoes = 0;   // Neighbours above the threshold refused by a guard.
  uint64_t stale = 0;          // Index entries whose exact-cache entry had gone (then dropped).
};

// Thread contract: every method is thread-safe. The index has its own reader/writer lock; the
// id maps are guarded by a mutex never held while calling the exact cache.
class SemanticCache {
 public:
  // Indexes every entry of `exact` made by `embedder` (same name and dimensions) and registers as
  // its removal observer, so that entries evicted, expired or purged there leave the index too.
  // `exact` and `embedder` must outlive the cache.
  static StatusOr<std::unique_ptr<SemanticCache>> Open(ExactCache* exact, Embedder* embedder,
                                                       const SemanticCacheOptions& options);
  // Unregisters from the exact cache.
  ~SemanticCache();
  SemanticCache(const SemanticCache&) = delete;
  SemanticCache& operator=(const SemanticCache&) = delete;

  Embedder& embedder() const { return *embedder_; }
  double threshold() const { return threshold_; }

  // The most similar entry of `scope` (for `tenant`) whose similarity to `vector` reaches the
  // threshold and whose stored user text passes the guards against `text`; nullopt otherwise.
  // A hit is counted by the exact cache (hits and avoided footprint) too.
  std::optional<SemanticHit> Lookup(std::string_view tenant, std::string_view scope,
                                    std::string_view text, std::span<const float> vector,
                                    store::TimePoint now);

  // Indexes the exact-cache entry `entry_id` (already Put there, with its semantic fields set).
  // A no-op when the entry has left the exact cache meanwhile.
  Status Add(const ExactCacheEntry& entry);

  SemanticCacheStats Stats() const;

 private:
  SemanticCache(ExactCache* exact, Embedder* embedder, const SemanticCacheOptions& options);
  // Called by the exact cache (under its lock) for entries leaving it.
  void OnRemoved(std::span<const std::string> ids);
  // Index id of entry `entry_id`, allocating one; requires mu_.
  uint64_t IndexIdLocked(const std::string& entry_id);
  void ForgetLocked(uint64_t index_id);

  ExactCache* const exact_;
  Embedder* const embedder_;
  const SemanticCacheOptions options_;
  const double threshold_;
  SemanticIndex index_;

  mutable std::mutex mu_;
  struct Meta {
    std::string entry_id;
    std::string text;  // The stored user text, for the guards.
  };
  std::unordered_map<std::string, uint64_t> by_entry_;
  std::unordered_map<uint64_t, Meta> by_index_;
  uint64_t next_index_id_ = 1;

  std::atomic<uint64_t> lookups_{0};
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> guard_vetoes_{0};
  std::atomic<uint64_t> stale_{0};
};

}  // namespace sobre::cache

#endif  // SOBRE_CACHE_SEMANTIC_CACHE_H_
