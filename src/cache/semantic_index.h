// SemanticIndex: nearest-neighbour search over unit vectors, partitioned by scope (tenant + model
// + context hash), with a memory bound. Ids are the cache store's entry ids.
#ifndef SOBRE_CACHE_SEMANTIC_INDEX_H_
#define SOBRE_CACHE_SEMANTIC_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"

namespace sobre::cache {

struct SemanticIndexOptions {
  // Length of every vector. Default 384.
  int dims = 384;
  // Most live entries over all scopes; adding past it evicts the oldest first. Default 100,000.
  size_t max_entries = 100'000;
  // Most estimated bytes of live entries (vectors, graph links, bookkeeping, per-graph fixed
  // cost); adding past it evicts the oldest first. 0: no byte bound. Default 0.
  size_t max_bytes = 0;
  // A scope is searched by brute force until it holds this many entries, then gets its own HNSW
  // graph (and goes back to brute force below a quarter of it). Default 1024.
  size_t hnsw_min_entries = 1024;
  // HNSW parameters (hnswlib): links per node, build and search beam widths, level seed.
  size_t hnsw_m = 16;
  size_t hnsw_ef_construction = 100;
  size_t hnsw_ef_search = 64;
  uint64_t seed = 100;
  // Graph scopes store vectors as IEEE half floats: half the memory and memory traffic per
  // lookup, similarities within about 5e-4 of the float ones (flat scopes stay exact).
  // Default true.
  bool hnsw_half = true;
  // Threads that insert into graphs in AddBatch and when a scope is promoted or compacted (the
  // caller's thread is one of them). 0: one per hardware thread. Default 0.
  size_t build_threads = 0;
};

// One entry for AddBatch; the views must stay valid for the call.
struct SemanticItem {
  uint64_t id = 0;
  std::string_view scope;
  std::span<const float> vector;
};

// Called by AddBatch on its own thread between chunks, with the index lock released (so it may
// search the index): items processed so far, and in all.
using SemanticBatchProgress = std::function<void(size_t done, size_t total)>;

// Settings of one Search.
struct SemanticSearchOptions {
  // Beam width in graph scopes (more: better recall, slower); 0: the index's hnsw_ef_search.
  // Default 0.
  size_t ef = 0;
  // Search graphs with hnswlib's own searchKnn (at hnsw_ef_search, ignoring ef) instead of the
  // index's search, which walks the same graph in the same order but prefetches whole vectors:
  // the baseline for tests and benchmarks. Default false.
  bool hnswlib_search = false;
};

struct SemanticMatch {
  uint64_t id = 0;
  float similarity = 0;  // Dot product of the unit vectors: cosine similarity in [-1, 1].
};

// Design: each scope is a separate partition, created on its first Add and dropped when empty,
// so a search can never return another scope's entry (hnswlib 0.6.2 has no filtered search, and
// post-filtering a shared graph loses small scopes). Small scopes, the common case since every
// conversation context is its own scope, are flat arrays searched exactly; a scope that grows
// past hnsw_min_entries gets an hnswlib HierarchicalNSW in inner-product space (its fixed cost,
// about 2.6 MB of per-graph locks, only pays off for large scopes). Removing from a graph marks
// the node deleted and the next Add to that scope reuses the slot, so a full FIFO-evicting index
// does not grow; a graph whose deleted slots outnumber its live ones is rebuilt compactly.
//
// Eviction is FIFO over all scopes (oldest Add first). Add returns the ids it evicted so that the
// caller deletes them from the store; the caller calls Remove when the store drops an entry.
//
// Vectors are compared with a dot product chosen at run time (AVX-512, AVX2+FMA or plain C++,
// internal/dot.h), in flat scans and inside hnswlib alike; graphs hold them in half precision
// (hnsw_half). Graph lookups use hnswlib's graph and its visiting order but the index's own walk,
// which prefetches whole vectors ahead: a lookup in a large graph waits on memory, not on
// arithmetic.
//
// Thread-safe: Search runs concurrently with other Searches (shared lock); Add, AddBatch and Remove
// take the lock exclusively, and a waiting writer holds back new readers so that it is not
// starved. AddBatch releases the lock between chunks, so searches proceed during a rebuild.
class SemanticIndex {
 public:
  explicit SemanticIndex(SemanticIndexOptions options = {});
  ~SemanticIndex();
  SemanticIndex(const SemanticIndex&) = delete;
  SemanticIndex& operator=(const SemanticIndex&) = delete;

  // Adds `vector` (dims floats, unit length: not checked) under `id` in `scope`, replacing any
  // entry with that id. Returns the ids evicted to respect the bounds (never `id` itself).
  // InvalidArgument for a wrong length; ResourceExhausted when memory runs out (index unchanged
  // except for evictions already made).
  StatusOr<std::vector<uint64_t>> Add(uint64_t id, std::string_view scope,
                                      std::span<const float> vector);
  // Adds `items` as if by Add on each in order (same entries, evictions and bounds; graphs of the
  // same quality though not node for node the same), inserting into graphs on build_threads
  // threads: the way to rebuild the index from the store. Returns every id evicted, in order.
  // InvalidArgument, naming the item, when any vector has the wrong length (nothing added then);
  // ResourceExhausted when memory runs out (the items before the failing chunk stay added). Not
  // atomic: concurrent searches see a growing prefix of the batch.
  StatusOr<std::vector<uint64_t>> AddBatch(std::span<const SemanticItem> items,
                                           const SemanticBatchProgress& progress = {});
  // Removes `id`; false when it was not there.
  bool Remove(uint64_t id);
  // Up to `k` entries of `scope`, most similar first. Empty for an unknown scope or a vector of
  // the wrong length. Approximate (HNSW) in scopes past hnsw_min_entries, exact below.
  std::vector<SemanticMatch> Search(std::string_view scope, std::span<const float> vector, size_t k,
                                    const SemanticSearchOptions& search = {}) const;

  bool Contains(uint64_t id) const;
  // Live entries.
  size_t size() const;
  // Scopes holding at least one entry.
  size_t scope_count() const;
  // Estimated bytes held: vectors, graphs with their spare and deleted slots, bookkeeping.
  size_t memory_bytes() const;

 private:
  struct Scope;
  struct Entry {
    Scope* scope;
    std::list<uint64_t>::iterator age;  // Position in age_, oldest first.
  };
  // A graph insert whose bookkeeping AddBatch has done; the graph work is left for FlushLocked.
  struct Pending {
    Scope* scope;
    const SemanticItem* item;
  };

  // Each requires mu_ held exclusively.
  Status AddLocked(uint64_t id, std::string_view scope_key, std::span<const float> vector,
                   std::vector<uint64_t>& evicted);
  void EvictForOneMoreLocked(std::vector<uint64_t>& evicted);
  bool OverBoundLocked() const;
  Scope& ScopeLocked(std::string_view key);
  void DropScopeLocked(Scope& scope);
  size_t GrownCapacity(size_t current, size_t wanted) const;
  Status AddToScope(Scope& scope, uint64_t id, std::span<const float> vector);
  Status FlushLocked(std::vector<Pending>& pending);
  void RemoveLocked(uint64_t id);
  Status Promote(Scope& scope);
  Status Rebuild(Scope& scope);
  size_t LiveBytes() const;
  void Recount(Scope& scope);
  size_t Threads() const;
  size_t VectorBytes() const;

  const SemanticIndexOptions options_;
  mutable std::mutex writer_gate_;  // Held by a writer while it waits for mu_ (see .cc).
  mutable std::shared_mutex mu_;
  // Keyed by views of Scope::key, so that lookups by string_view build no string.
  std::unordered_map<std::string_view, std::unique_ptr<Scope>> scopes_;
  std::unordered_map<uint64_t, Entry> entries_;
  std::list<uint64_t> age_;
  size_t graph_count_ = 0;      // Scopes with an HNSW graph.
  size_t allocated_bytes_ = 0;  // Sum of the scopes' bytes.
};

}  // namespace sobre::cache

#endif  // SOBRE_CACHE_SEMANTIC_INDEX_H_
