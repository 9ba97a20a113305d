#include "cache/semantic_index.h"

#include <algorithm>
#include <exception>
#include <mutex>
#include <new>
#include <utility>

#include <fmt/core.h>

#include "cache/internal/hnswlib.h"

namespace sobre::cache {
namespace {

using Graph = hnswlib::HierarchicalNSW<float>;

// Bookkeeping per entry: its node in entries_ and in age_ (estimates for 64-bit libstdc++).
constexpr size_t kEntryBytes = 96;
// A scope's struct, key and map node.
constexpr size_t kScopeBytes = 256;
// hnswlib allocates this many mutexes per graph whatever its size.
constexpr size_t kGraphFixedBytes = Graph::max_update_element_locks * sizeof(std::mutex);

// Share of a reused slot's neighbours whose links are re-selected (hnswlib updatePoint).
constexpr float kReuseRelinkProbability = 0.1f;

// Dot product with independent partial sums so that the compiler can vectorise it.
float Dot(const float* a, const float* b, size_t n) {
  float sum[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (size_t j = 0; j < 8; ++j) sum[j] += a[i + j] * b[i + j];
  }
  float total = 0;
  for (; i < n; ++i) total += a[i] * b[i];
  for (float s : sum) total += s;
  return total;
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
  // Flat mode (graph == nullptr): entry i is ids[i] with vectors[i * dims, (i + 1) * dims).
  std::vector<uint64_t> ids;
  std::vector<float> vectors;
  // Graph mode. Labels are entry ids; free_labels are labels of deleted nodes whose slots the
  // next Add may take (checked on use: a label re-added since is live again).
  std::unique_ptr<hnswlib::InnerProductSpace> space;
  std::unique_ptr<Graph> graph;
  std::vector<hnswlib::labeltype> free_labels;
  size_t live = 0;
  size_t bytes = 0;  // Estimated, as counted in allocated_bytes_.
};

SemanticIndex::SemanticIndex(SemanticIndexOptions options) : options_(std::move(options)) {}

SemanticIndex::~SemanticIndex() = default;

void SemanticIndex::Recount(Scope& scope) {
  size_t bytes = kScopeBytes + scope.ids.capacity() * sizeof(uint64_t) +
                 scope.vectors.capacity() * sizeof(float);
  if (scope.graph != nullptr) {
    const Graph& g = *scope.graph;
    // Level-0 block per slot, plus the per-slot lock, level, upper-list pointer and visited mark;
    // upper levels hold about 1/(M-1) of the nodes' link lists; the label map a node each.
    bytes += g.max_elements_ * (g.size_data_per_element_ + sizeof(std::mutex) + sizeof(int) +
                                sizeof(void*) + sizeof(unsigned short)) +
             g.cur_element_count * g.size_links_per_element_ / std::max<size_t>(g.M_ - 1, 1) +
             g.label_lookup_.size() * 40 + kGraphFixedBytes +
             scope.free_labels.capacity() * sizeof(hnswlib::labeltype);
  }
  allocated_bytes_ = allocated_bytes_ - scope.bytes + bytes;
  scope.bytes = bytes;
}

size_t SemanticIndex::LiveBytes() const {
  // The bound is on live entries at their graph cost (the larger), so that evicting one entry
  // always lowers it; spare and deleted graph slots are reported by memory_bytes() only.
  size_t per_entry = (options_.hnsw_m * 2 * sizeof(hnswlib::tableint) + sizeof(uint32_t)) +
                     static_cast<size_t>(options_.dims) * sizeof(float) +
                     sizeof(hnswlib::labeltype) + sizeof(std::mutex) + 40 + kEntryBytes;
  return entries_.size() * per_entry + graph_count_ * kGraphFixedBytes +
         scopes_.size() * kScopeBytes;
}

StatusOr<std::vector<uint64_t>> SemanticIndex::Add(uint64_t id, std::string_view scope_key,
                                                   std::span<const float> vector) {
  if (vector.size() != static_cast<size_t>(options_.dims)) {
    return InvalidArgumentError(
        fmt::format("semantic index: vector of {} floats, expected {}", vector.size(), options_.dims));
  }
  auto lock = WriteLock(writer_gate_, mu_);
  RemoveLocked(id);
  std::vector<uint64_t> evicted;
  size_t per_entry_probe = 0;
  auto over_bound = [&] {
    if (entries_.size() + 1 > std::max<size_t>(options_.max_entries, 1)) return true;
    if (options_.max_bytes == 0) return false;
    // The cost of one more entry: what LiveBytes would add.
    if (per_entry_probe == 0) {
      size_t before = LiveBytes();
      entries_.emplace(id, Entry{nullptr, age_.end()});
      per_entry_probe = LiveBytes() - before;
      entries_.erase(id);
    }
    return LiveBytes() + per_entry_probe > options_.max_bytes;
  };
  while (!age_.empty() && over_bound()) {
    uint64_t oldest = age_.front();
    RemoveLocked(oldest);
    evicted.push_back(oldest);
  }

  auto [it, inserted] = scopes_.try_emplace(std::string(scope_key));
  if (inserted) it->second = std::make_unique<Scope>();
  Scope& scope = *it->second;
  Status status = AddToScope(scope, id, vector);
  if (!status.ok()) {
    if (scope.live == 0) {
      if (scope.graph != nullptr) --graph_count_;
      allocated_bytes_ -= scope.bytes;
      scopes_.erase(it);
    }
    return status;
  }
  age_.push_back(id);
  entries_.emplace(id, Entry{&scope, std::prev(age_.end())});
  return evicted;
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
        g.updatePoint(vector.data(), internal, kReuseRelinkProbability);
        ++scope.live;
        Recount(scope);
        return OkStatus();
      }
      if (g.label_lookup_.find(label) == g.label_lookup_.end() &&
          g.cur_element_count >= g.max_elements_) {
        size_t grown = std::max(g.max_elements_ + 1,
                                std::min(g.max_elements_ * 2, options_.max_entries));
        g.resizeIndex(grown);
      }
    }
    g.addPoint(vector.data(), label);
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
  auto space = std::make_unique<hnswlib::InnerProductSpace>(dims);
  auto graph = std::make_unique<Graph>(space.get(), std::max<size_t>(scope.ids.size() * 2, 64),
                                       options_.hnsw_m, options_.hnsw_ef_construction,
                                       options_.seed);
  graph->setEf(options_.hnsw_ef_search);
  for (size_t i = 0; i < scope.ids.size(); ++i) {
    graph->addPoint(scope.vectors.data() + i * dims, scope.ids[i]);
  }
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
    const float* data = reinterpret_cast<const float*>(g.getDataByInternalId(i));
    vectors.insert(vectors.end(), data, data + dims);
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
    size_t pos = static_cast<size_t>(std::find(scope.ids.begin(), scope.ids.end(), id) - scope.ids.begin());
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
    if (scope.live > 0 && (scope.live < options_.hnsw_min_entries / 4 ||
                           (deleted > scope.live && deleted >= 64))) {
      try {
        // On failure the old graph stays, correct but not compact.
        (void)Rebuild(scope);
      } catch (const std::exception&) {
      }
    }
  }
  if (scope.live == 0) {
    if (scope.graph != nullptr) --graph_count_;
    allocated_bytes_ -= scope.bytes;
    for (auto s = scopes_.begin(); s != scopes_.end(); ++s) {
      if (s->second.get() == &scope) {
        scopes_.erase(s);
        break;
      }
    }
    return;
  }
  Recount(scope);
}

std::vector<SemanticMatch> SemanticIndex::Search(std::string_view scope_key,
                                                 std::span<const float> vector, size_t k) const {
  std::vector<SemanticMatch> matches;
  if (k == 0 || vector.size() != static_cast<size_t>(options_.dims)) return matches;
  auto lock = ReadLock(writer_gate_, mu_);
  auto it = scopes_.find(std::string(scope_key));
  if (it == scopes_.end()) return matches;
  const Scope& scope = *it->second;
  if (scope.graph == nullptr) {
    size_t dims = vector.size();
    matches.reserve(scope.ids.size());
    for (size_t i = 0; i < scope.ids.size(); ++i) {
      matches.push_back({scope.ids[i], Dot(vector.data(), scope.vectors.data() + i * dims, dims)});
    }
    size_t keep = std::min(k, matches.size());
    std::partial_sort(matches.begin(), matches.begin() + static_cast<std::ptrdiff_t>(keep),
                      matches.end(), [](const SemanticMatch& a, const SemanticMatch& b) {
                        return a.similarity > b.similarity;
                      });
    matches.resize(keep);
    return matches;
  }
  try {
    auto found = scope.graph->searchKnn(vector.data(), k);
    matches.resize(found.size());
    // searchKnn yields the farthest first; inner-product distance is 1 - dot.
    for (size_t i = found.size(); i-- > 0; found.pop()) {
      matches[i] = {static_cast<uint64_t>(found.top().second), 1.0f - found.top().first};
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
