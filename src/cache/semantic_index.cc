#include "cache/semantic_index.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <limits>
#include <mutex>
#include <new>
#include <queue>
#include <thread>
#include <unordered_map>
#include <utility>

#include <fmt/core.h>

#include "cache/internal/hnsw_glue.h"

namespace sobre::cache {
namespace {

using internal::AppendGraphVector;
using internal::BestKernel;
using internal::DotSpace;
using internal::Graph;
using internal::GraphData;
using internal::SearchGraph;

// Bookkeeping per entry: its node in entries_ and in age_ (estimates for 64-bit libstdc++).
constexpr size_t kEntryBytes = 96;
// A scope's struct, key (a hash of tenant, model and context: short) and map node.
constexpr size_t kScopeBytes = 256;
// hnswlib allocates this many mutexes per graph whatever its size.
constexpr size_t kGraphFixedBytes = Graph::max_update_element_locks * sizeof(std::mutex);
// hnswlib's label map, per node: hash node (malloc'd) and bucket.
constexpr size_t kLabelMapBytes = 40;

// Share of a reused slot's neighbours whose links are re-selected (hnswlib updatePoint).
constexpr float kReuseRelinkProbability = 0.1f;

// AddBatch takes the lock for this many items at a time, so that searches get in between.
constexpr size_t kBatchChunk = 1024;

// Estimated bytes of one graph slot, live or spare: the level-0 block (links, vector, label),
// its lock, level, upper-list pointer and visited mark, and on average 1/(M-1) of an upper-level
// link list (one node in M reaches level 1, one in M^2 level 2, ...).
size_t GraphSlotBytes(size_t vector_bytes, size_t m) {
  size_t level0 = m * 2 * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint) +
                  vector_bytes + sizeof(hnswlib::labeltype);
  size_t upper = (m * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint) + 16) /
                 std::max<size_t>(m - 1, 1);
  return level0 + sizeof(std::mutex) + sizeof(int) + sizeof(void*) + sizeof(unsigned short) + upper;
}

// Runs body(i) for each i in [0, n) on up to `threads` threads, the caller's included. The first
// exception stops the others from taking new items and comes back as a Status.
template <typename Body>
Status ParallelFor(size_t n, size_t threads, const Body& body) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  Status error;
  auto work = [&] {
    while (!failed.load(std::memory_order_relaxed)) {
      size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= n) return;
      Status status;
      try {
        body(i);
      } catch (const std::bad_alloc&) {
        status = ResourceExhaustedError("semantic index: out of memory");
      } catch (const std::exception& e) {
        status = InternalError(fmt::format("semantic index: hnswlib: {}", e.what()));
      }
      if (!status.ok()) {
        std::lock_guard lock(error_mu);
        if (error.ok()) error = std::move(status);
        failed = true;
      }
    }
  };
  {
    std::vector<std::jthread> workers;
    for (size_t t = 1; t < std::min(threads, n); ++t) {
      try {
        workers.emplace_back(work);
      } catch (const std::exception&) {
        break;  // No more threads: the ones running share the work.
      }
    }
    work();
  }
  return error;
}

// glibc's shared_mutex lets readers in while a writer waits, so steady searches could starve
// Add forever. Readers pass through writer_gate_ before taking mu_ shared; a writer holds the
// gate until it owns mu_, so new readers queue behind it.
std::shared_lock<std::shared_mutex> ReadLock(std::mutex& gate, std::shared_mutex& mu) {
  std::lock_guard pass(gate);
  return std::shared_lock(mu);
}
std::unique_lock<std::shared_mutex> WriteLock(std::mutex& gate, std::shared_mutex& mu) {
  std::lock_guard hold(gate);
  return std::unique_lock(mu);
}

}  // namespace

struct SemanticIndex::Scope {
  std::string key;  // The scopes_ key views it.
  // Flat mode (graph == nullptr): entry i is ids[i] with vectors[i * dims, (i + 1) * dims).
  std::vector<uint64_t> ids;
  std::vector<float> vectors;
  // Graph mode. Labels are entry ids; free_labels are labels of deleted nodes whose slots the
  // next Add may take (checked on use: a label re-added since is live again).
  std::unique_ptr<DotSpace> space;
  std::unique_ptr<Graph> graph;
  std::vector<hnswlib::labeltype> free_labels;
  size_t live = 0;
  size_t bytes = 0;  // Estimated, as counted in allocated_bytes_.
};

SemanticIndex::SemanticIndex(SemanticIndexOptions options) : options_(std::move(options)) {}

SemanticIndex::~SemanticIndex() = default;

size_t SemanticIndex::Threads() const {
  if (options_.build_threads > 0) return options_.build_threads;
  return std::max(1u, std::thread::hardware_concurrency());
}

size_t SemanticIndex::VectorBytes() const {
  return static_cast<size_t>(options_.dims) *
         (options_.hnsw_half ? sizeof(uint16_t) : sizeof(float));
}

void SemanticIndex::Recount(Scope& scope) {
  size_t bytes = kScopeBytes + scope.ids.capacity() * sizeof(uint64_t) +
                 scope.vectors.capacity() * sizeof(float);
  if (scope.graph != nullptr) {
    const Graph& g = *scope.graph;
    bytes += g.max_elements_ * GraphSlotBytes(VectorBytes(), g.M_) +
             g.label_lookup_.size() * kLabelMapBytes + kGraphFixedBytes +
             scope.free_labels.capacity() * sizeof(hnswlib::labeltype);
  }
  allocated_bytes_ = allocated_bytes_ - scope.bytes + bytes;
  scope.bytes = bytes;
}

size_t SemanticIndex::LiveBytes() const {
  // The bound is on live entries at their graph cost (the larger), so that evicting one entry
  // always lowers it; spare and deleted graph slots are reported by memory_bytes() only, and
  // kept in check by GrownCapacity.
  size_t per_entry = GraphSlotBytes(VectorBytes(), options_.hnsw_m) + kLabelMapBytes + kEntryBytes;
  return entries_.size() * per_entry + graph_count_ * kGraphFixedBytes +
         scopes_.size() * kScopeBytes;
}

bool SemanticIndex::OverBoundLocked() const {
  if (entries_.size() + 1 > std::max<size_t>(options_.max_entries, 1)) return true;
  if (options_.max_bytes == 0) return false;
  size_t per_entry = GraphSlotBytes(VectorBytes(), options_.hnsw_m) + kLabelMapBytes + kEntryBytes;
  return LiveBytes() + per_entry > options_.max_bytes;
}

size_t SemanticIndex::GrownCapacity(size_t current, size_t wanted) const {
  // Doubling keeps reallocation rare, but a graph's spare slots count against memory like live
  // ones: never grow past what the entry and byte bounds can fill.
  size_t cap = std::min(current * 2, std::max<size_t>(options_.max_entries, 1));
  if (options_.max_bytes > 0) {
    // As many slots as there could be live entries, each at its full cost, within the bound.
    // (A slot may also sit in free_labels, whose capacity can reach twice its size.)
    size_t per_entry = GraphSlotBytes(VectorBytes(), options_.hnsw_m) + kLabelMapBytes +
                       kEntryBytes + 2 * sizeof(hnswlib::labeltype);
    size_t fixed = kGraphFixedBytes + kScopeBytes;
    size_t room = options_.max_bytes > fixed ? options_.max_bytes - fixed : 0;
    cap = std::min(cap, room / per_entry);
  }
  return std::max(cap, wanted);
}

void SemanticIndex::EvictForOneMoreLocked(std::vector<uint64_t>& evicted) {
  while (!age_.empty() && OverBoundLocked()) {
    uint64_t oldest = age_.front();
    RemoveLocked(oldest);
    evicted.push_back(oldest);
  }
}

SemanticIndex::Scope& SemanticIndex::ScopeLocked(std::string_view key) {
  auto it = scopes_.find(key);
  if (it != scopes_.end()) return *it->second;
  auto scope = std::make_unique<Scope>();
  scope->key = std::string(key);
  std::string_view view = scope->key;
  return *scopes_.emplace(view, std::move(scope)).first->second;
}

void SemanticIndex::DropScopeLocked(Scope& scope) {
  if (scope.graph != nullptr) --graph_count_;
  allocated_bytes_ -= scope.bytes;
  // Find first: the key the map compares with lives in the scope that erase destroys.
  auto it = scopes_.find(std::string_view(scope.key));
  if (it != scopes_.end()) scopes_.erase(it);
}

StatusOr<std::vector<uint64_t>> SemanticIndex::Add(uint64_t id, std::string_view scope_key,
                                                   std::span<const float> vector) {
  if (vector.size() != static_cast<size_t>(options_.dims)) {
    return InvalidArgumentError(fmt::format("semantic index: vector of {} floats, expected {}",
                                            vector.size(), options_.dims));
  }
  auto lock = WriteLock(writer_gate_, mu_);
  std::vector<uint64_t> evicted;
  SOBRE_RETURN_IF_ERROR(AddLocked(id, scope_key, vector, evicted));
  return evicted;
}

Status SemanticIndex::AddLocked(uint64_t id, std::string_view scope_key,
                                std::span<const float> vector, std::vector<uint64_t>& evicted) {
  RemoveLocked(id);
  EvictForOneMoreLocked(evicted);
  Scope& scope = ScopeLocked(scope_key);
  Status status = AddToScope(scope, id, vector);
  if (!status.ok()) {
    if (scope.live == 0) DropScopeLocked(scope);
    return status;
  }
  age_.push_back(id);
  entries_.emplace(id, Entry{&scope, std::prev(age_.end())});
  return OkStatus();
}

StatusOr<std::vector<uint64_t>> SemanticIndex::AddBatch(std::span<const SemanticItem> items,
                                                        const SemanticBatchProgress& progress) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].vector.size() != static_cast<size_t>(options_.dims)) {
      return InvalidArgumentError(
          fmt::format("semantic index: batch item {} (id {}): vector of {} floats, expected {}", i,
                      items[i].id, items[i].vector.size(), options_.dims));
    }
  }
  std::vector<uint64_t> evicted;
  std::vector<Pending> pending;
  for (size_t begin = 0; begin < items.size(); begin += kBatchChunk) {
    size_t end = std::min(items.size(), begin + kBatchChunk);
    {
      auto lock = WriteLock(writer_gate_, mu_);
      for (size_t i = begin; i < end; ++i) {
        const SemanticItem& item = items[i];
        // The common case of a rebuild: a new id for a scope that already has a graph, with no
        // slot to reuse and no eviction due. Its bookkeeping is done now, in order, which is all
        // that later items' eviction decisions depend on; the graph insert waits for the flush.
        auto scope = scopes_.find(item.scope);
        if (scope != scopes_.end() && scope->second->graph != nullptr &&
            scope->second->free_labels.empty() && entries_.count(item.id) == 0 &&
            !OverBoundLocked()) {
          Scope& s = *scope->second;
          age_.push_back(item.id);
          entries_.emplace(item.id, Entry{&s, std::prev(age_.end())});
          ++s.live;
          pending.push_back(Pending{&s, &item});
          continue;
        }
        // Anything else may remove or relabel graph nodes: the pending inserts go in first.
        SOBRE_RETURN_IF_ERROR(FlushLocked(pending));
        SOBRE_RETURN_IF_ERROR(AddLocked(item.id, item.scope, item.vector, evicted));
      }
      SOBRE_RETURN_IF_ERROR(FlushLocked(pending));
    }
    if (progress) progress(end, items.size());
  }
  return evicted;
}

Status SemanticIndex::FlushLocked(std::vector<Pending>& pending) {
  if (pending.empty()) return OkStatus();
  std::unordered_map<Scope*, size_t> added;
  for (const Pending& p : pending) ++added[p.scope];
  Status status;
  try {
    // hnswlib's resize is not safe against concurrent inserts: grow every graph first.
    for (auto& [scope, count] : added) {
      Graph& g = *scope->graph;
      size_t wanted = g.cur_element_count + count;
      if (wanted > g.max_elements_) g.resizeIndex(GrownCapacity(g.max_elements_, wanted));
    }
  } catch (const std::bad_alloc&) {
    status = ResourceExhaustedError("semantic index: out of memory");
  } catch (const std::exception& e) {
    status = InternalError(fmt::format("semantic index: hnswlib: {}", e.what()));
  }
  // hnswlib's addPoint is safe to run concurrently for distinct labels, which pending holds.
  std::vector<char> inserted(pending.size(), 0);
  if (status.ok()) {
    status = ParallelFor(pending.size(), Threads(), [&](size_t i) {
      std::vector<uint16_t> buffer;
      pending[i].scope->graph->addPoint(
          GraphData(pending[i].item->vector, options_.hnsw_half, buffer), pending[i].item->id);
      inserted[i] = 1;
    });
  }
  if (!status.ok()) {
    // Undo the bookkeeping of what did not go in; a node that half went in is marked deleted,
    // so that no search returns an id the index does not hold.
    for (size_t i = pending.size(); i-- > 0;) {
      if (inserted[i]) continue;
      Scope& scope = *pending[i].scope;
      uint64_t id = pending[i].item->id;
      auto entry = entries_.find(id);
      if (entry == entries_.end()) continue;
      age_.erase(entry->second.age);
      entries_.erase(entry);
      --scope.live;
      auto slot = scope.graph->label_lookup_.find(id);
      if (slot != scope.graph->label_lookup_.end() && !scope.graph->isMarkedDeleted(slot->second)) {
        scope.graph->markDeletedInternal(slot->second);
        scope.free_labels.push_back(id);
      }
    }
  }
  for (auto& [scope, count] : added) {
    if (scope->live == 0) {
      DropScopeLocked(*scope);
    } else {
      Recount(*scope);
    }
  }
  pending.clear();
  return status;
}

Status SemanticIndex::AddToScope(Scope& scope, uint64_t id, std::span<const float> vector) {
  try {
    if (scope.graph == nullptr) {
      scope.ids.push_back(id);
      scope.vectors.insert(scope.vectors.end(), vector.begin(), vector.end());
      ++scope.live;
      if (scope.live >= std::max<size_t>(options_.hnsw_min_entries, 1)) {
        SOBRE_RETURN_IF_ERROR(Promote(scope));
      }
      Recount(scope);
      return OkStatus();
    }
    Graph& g = *scope.graph;
    hnswlib::labeltype label = id;
    auto existing = g.label_lookup_.find(label);
    if (existing == g.label_lookup_.end()) {
      // Take a deleted node's slot when there is one: relabel it, and addPoint then updates it.
      while (!scope.free_labels.empty()) {
        hnswlib::labeltype old = scope.free_labels.back();
        scope.free_labels.pop_back();
        auto slot = g.label_lookup_.find(old);
        if (slot == g.label_lookup_.end() || !g.isMarkedDeleted(slot->second)) continue;
        hnswlib::tableint internal = slot->second;
        g.label_lookup_.erase(slot);
        g.label_lookup_[label] = internal;
        g.setExternalLabel(internal, label);
        // addPoint would re-select every neighbour's links (probability 1.0), about 13 times the
        // cost of an insert at 384 dims; re-linking a sample keeps the graph navigable.
        g.unmarkDeletedInternal(internal);
        std::vector<uint16_t> buffer;
        g.updatePoint(GraphData(vector, options_.hnsw_half, buffer), internal,
                      kReuseRelinkProbability);
        ++scope.live;
        Recount(scope);
        return OkStatus();
      }
      if (g.cur_element_count >= g.max_elements_) {
        g.resizeIndex(GrownCapacity(g.max_elements_, g.max_elements_ + 1));
      }
    }
    try {
      std::vector<uint16_t> buffer;
      g.addPoint(GraphData(vector, options_.hnsw_half, buffer), label);
    } catch (...) {
      // A node that half went in must not be found by searches.
      auto slot = g.label_lookup_.find(label);
      if (slot != g.label_lookup_.end() && !g.isMarkedDeleted(slot->second)) {
        g.markDeletedInternal(slot->second);
        scope.free_labels.push_back(label);
      }
      throw;
    }
    ++scope.live;
    Recount(scope);
    return OkStatus();
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError("semantic index: out of memory");
  } catch (const std::exception& e) {
    return InternalError(fmt::format("semantic index: hnswlib: {}", e.what()));
  }
}

Status SemanticIndex::Promote(Scope& scope) {
  size_t dims = static_cast<size_t>(options_.dims);
  size_t n = scope.ids.size();
  const bool half = options_.hnsw_half;
  auto space = std::make_unique<DotSpace>(dims, half);
  auto graph =
      std::make_unique<Graph>(space.get(), GrownCapacity(std::max<size_t>(n, 32), n),
                              options_.hnsw_m, options_.hnsw_ef_construction, options_.seed);
  graph->setEf(options_.hnsw_ef_search);
  auto insert = [&](size_t i) {
    std::vector<uint16_t> buffer;
    graph->addPoint(
        GraphData(std::span<const float>(scope.vectors.data() + i * dims, dims), half, buffer),
        scope.ids[i]);
  };
  // The first node alone: hnswlib sets its entry point on the first insert.
  if (n > 0) insert(0);
  SOBRE_RETURN_IF_ERROR(
      ParallelFor(n > 0 ? n - 1 : 0, Threads(), [&](size_t i) { insert(i + 1); }));
  scope.space = std::move(space);
  scope.graph = std::move(graph);
  scope.free_labels.clear();
  std::vector<uint64_t>().swap(scope.ids);
  std::vector<float>().swap(scope.vectors);
  ++graph_count_;
  return OkStatus();
}

// Compacts a graph scope: back to flat when small, else a fresh graph without deleted nodes.
Status SemanticIndex::Rebuild(Scope& scope) {
  size_t dims = static_cast<size_t>(options_.dims);
  Graph& g = *scope.graph;
  std::vector<uint64_t> ids;
  std::vector<float> vectors;
  ids.reserve(scope.live);
  vectors.reserve(scope.live * dims);
  for (hnswlib::tableint i = 0; i < g.cur_element_count; ++i) {
    if (g.isMarkedDeleted(i)) continue;
    ids.push_back(g.getExternalLabel(i));
    AppendGraphVector(g, i, dims, options_.hnsw_half, vectors);
  }
  Scope rebuilt;
  rebuilt.ids = std::move(ids);
  rebuilt.vectors = std::move(vectors);
  rebuilt.live = rebuilt.ids.size();
  if (rebuilt.live >= options_.hnsw_min_entries / 4) {
    SOBRE_RETURN_IF_ERROR(Promote(rebuilt));  // Counts the new graph; the old one goes below.
  }
  --graph_count_;
  scope.ids = std::move(rebuilt.ids);
  scope.vectors = std::move(rebuilt.vectors);
  scope.graph = std::move(rebuilt.graph);  // Before space: the graph points into it.
  scope.space = std::move(rebuilt.space);
  scope.free_labels.clear();
  scope.live = rebuilt.live;
  Recount(scope);
  return OkStatus();
}

bool SemanticIndex::Remove(uint64_t id) {
  auto lock = WriteLock(writer_gate_, mu_);
  if (entries_.find(id) == entries_.end()) return false;
  RemoveLocked(id);
  return true;
}

void SemanticIndex::RemoveLocked(uint64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  Scope& scope = *it->second.scope;
  age_.erase(it->second.age);
  entries_.erase(it);
  --scope.live;
  if (scope.graph == nullptr) {
    size_t dims = static_cast<size_t>(options_.dims);
    size_t pos =
        static_cast<size_t>(std::find(scope.ids.begin(), scope.ids.end(), id) - scope.ids.begin());
    size_t last = scope.ids.size() - 1;
    if (pos != last) {
      scope.ids[pos] = scope.ids[last];
      std::copy_n(scope.vectors.begin() + static_cast<std::ptrdiff_t>(last * dims), dims,
                  scope.vectors.begin() + static_cast<std::ptrdiff_t>(pos * dims));
    }
    scope.ids.pop_back();
    scope.vectors.resize(last * dims);
  } else {
    // Labels of this graph are only ever our live ids, so markDelete cannot throw here.
    scope.graph->markDelete(id);
    scope.free_labels.push_back(id);
    size_t deleted = scope.graph->num_deleted_;
    if (scope.live > 0 &&
        (scope.live < options_.hnsw_min_entries / 4 || (deleted > scope.live && deleted >= 64))) {
      try {
        // On failure the old graph stays, correct but not compact.
        (void)Rebuild(scope);
      } catch (const std::exception&) {
      }
    }
  }
  if (scope.live == 0) {
    DropScopeLocked(scope);
    return;
  }
  Recount(scope);
}

std::vector<SemanticMatch> SemanticIndex::Search(std::string_view scope_key,
                                                 std::span<const float> vector, size_t k,
                                                 const SemanticSearchOptions& search) const {
  std::vector<SemanticMatch> matches;
  if (k == 0 || vector.size() != static_cast<size_t>(options_.dims)) return matches;
  auto lock = ReadLock(writer_gate_, mu_);
  auto it = scopes_.find(scope_key);
  if (it == scopes_.end()) return matches;
  const Scope& scope = *it->second;
  if (scope.graph == nullptr) {
    size_t dims = vector.size();
    internal::DotFn dot = BestKernel().dot;
    matches.reserve(scope.ids.size());
    for (size_t i = 0; i < scope.ids.size(); ++i) {
      matches.push_back({scope.ids[i], dot(vector.data(), scope.vectors.data() + i * dims, dims)});
    }
    size_t keep = std::min(k, matches.size());
    std::partial_sort(
        matches.begin(), matches.begin() + static_cast<std::ptrdiff_t>(keep), matches.end(),
        [](const SemanticMatch& a, const SemanticMatch& b) { return a.similarity > b.similarity; });
    matches.resize(keep);
    return matches;
  }
  std::vector<uint16_t> buffer;
  const void* query = GraphData(vector, options_.hnsw_half, buffer);
  try {
    if (search.hnswlib_search) {
      auto found = scope.graph->searchKnn(query, k);
      matches.resize(found.size());
      // searchKnn yields the farthest first; inner-product distance is 1 - dot.
      for (size_t i = found.size(); i-- > 0; found.pop()) {
        matches[i] = {static_cast<uint64_t>(found.top().second), 1.0f - found.top().first};
      }
      return matches;
    }
    size_t ef = search.ef > 0 ? search.ef : options_.hnsw_ef_search;
    for (const auto& [distance, label] : SearchGraph(*scope.graph, query, k, ef)) {
      matches.push_back({static_cast<uint64_t>(label), 1.0f - distance});
    }
  } catch (const std::exception&) {
    matches.clear();  // hnswlib only throws on corruption; a miss is the safe answer.
  }
  return matches;
}

bool SemanticIndex::Contains(uint64_t id) const {
  auto lock = ReadLock(writer_gate_, mu_);
  return entries_.count(id) > 0;
}

size_t SemanticIndex::size() const {
  auto lock = ReadLock(writer_gate_, mu_);
  return entries_.size();
}

size_t SemanticIndex::scope_count() const {
  auto lock = ReadLock(writer_gate_, mu_);
  return scopes_.size();
}

size_t SemanticIndex::memory_bytes() const {
  auto lock = ReadLock(writer_gate_, mu_);
  return allocated_bytes_ + entries_.size() * kEntryBytes;
}

}  // namespace sobre::cache
