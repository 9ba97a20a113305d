// hnswlib glue for SemanticIndex: an inner-product space (float or half vectors) with the
// run-time dispatched dot products of dot.h, conversions between the caller's floats and what a
// graph stores, and a search of an hnswlib graph that prefetches whole vectors. Private to
// semantic_index.cc, the one file that may include hnswlib (see hnswlib.h).
#ifndef SOBRE_CACHE_INTERNAL_HNSW_GLUE_H_
#define SOBRE_CACHE_INTERNAL_HNSW_GLUE_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <queue>
#include <span>
#include <utility>
#include <vector>

#include "cache/internal/dot.h"
#include "cache/internal/hnswlib.h"

namespace sobre::cache::internal {

using Graph = hnswlib::HierarchicalNSW<float>;

// hnswlib distance functions: 1 - dot, with the dot product inlined into each so that a distance
// costs one indirect call. The target attribute lets the SIMD kernel inline into its wrapper.
inline float DistancePlain(const void* a, const void* b, const void* dims) {
  return 1.0f - DotPlain(static_cast<const float*>(a), static_cast<const float*>(b),
                         *static_cast<const size_t*>(dims));
}
#ifdef SOBRE_DOT_X86
__attribute__((target("avx2,fma"))) inline float DistanceAvx2(const void* a, const void* b,
                                                              const void* dims) {
  return 1.0f - DotAvx2(static_cast<const float*>(a), static_cast<const float*>(b),
                        *static_cast<const size_t*>(dims));
}
__attribute__((target("avx512f"))) inline float DistanceAvx512(const void* a, const void* b,
                                                               const void* dims) {
  return 1.0f - DotAvx512(static_cast<const float*>(a), static_cast<const float*>(b),
                          *static_cast<const size_t*>(dims));
}
#endif

inline float DistanceHalfPlain(const void* a, const void* b, const void* dims) {
  return 1.0f - DotHalfPlain(static_cast<const uint16_t*>(a), static_cast<const uint16_t*>(b),
                             *static_cast<const size_t*>(dims));
}
#ifdef SOBRE_DOT_X86
__attribute__((target("avx2,fma,f16c"))) inline float DistanceHalfAvx2(const void* a, const void* b,
                                                                       const void* dims) {
  return 1.0f - DotHalfAvx2(static_cast<const uint16_t*>(a), static_cast<const uint16_t*>(b),
                            *static_cast<const size_t*>(dims));
}
__attribute__((target("avx512f"))) inline float DistanceHalfAvx512(const void* a, const void* b,
                                                                   const void* dims) {
  return 1.0f - DotHalfAvx512(static_cast<const uint16_t*>(a), static_cast<const uint16_t*>(b),
                              *static_cast<const size_t*>(dims));
}
#endif

struct Kernel {
  DotFn dot;
  hnswlib::DISTFUNC<float> distance;       // On floats.
  hnswlib::DISTFUNC<float> half_distance;  // On halves.
};

// The CPU's widest kernel, picked once.
inline const Kernel& BestKernel() {
  static const Kernel kernel = [] {
    switch (internal::BestDotKernel()) {
#ifdef SOBRE_DOT_X86
      case DotKernel::kAvx512:
        return Kernel{&DotAvx512, &DistanceAvx512, &DistanceHalfAvx512};
      case DotKernel::kAvx2:
        return Kernel{&DotAvx2, &DistanceAvx2, &DistanceHalfAvx2};
#endif
      default:
        return Kernel{&DotPlain, &DistancePlain, &DistanceHalfPlain};
    }
  }();
  return kernel;
}

// Inner-product space of unit vectors (distance 1 - cosine) in float or half precision, with the
// dispatched dot product; replaces hnswlib's InnerProductSpace, whose SIMD paths only exist when
// built with -mavx.
class DotSpace final : public hnswlib::SpaceInterface<float> {
 public:
  DotSpace(size_t dims, bool half) : dims_(dims), half_(half) {}
  size_t get_data_size() override { return dims_ * (half_ ? sizeof(uint16_t) : sizeof(float)); }
  hnswlib::DISTFUNC<float> get_dist_func() override {
    return half_ ? BestKernel().half_distance : BestKernel().distance;
  }
  void* get_dist_func_param() override { return &dims_; }

 private:
  size_t dims_;
  bool half_;
};

// What a graph stores for `vector`: the floats themselves, or their halves put in `buffer`.
inline const void* GraphData(std::span<const float> vector, bool half,
                             std::vector<uint16_t>& buffer) {
  if (!half) return vector.data();
  buffer.resize(vector.size());
  for (size_t i = 0; i < vector.size(); ++i) buffer[i] = internal::FloatToHalf(vector[i]);
  return buffer.data();
}

// Appends the floats of graph node `node` to `out`.
inline void AppendGraphVector(const Graph& g, hnswlib::tableint node, size_t dims, bool half,
                              std::vector<float>& out) {
  const char* data = g.getDataByInternalId(node);
  if (!half) {
    const float* v = reinterpret_cast<const float*>(data);
    out.insert(out.end(), v, v + dims);
    return;
  }
  const uint16_t* v = reinterpret_cast<const uint16_t*>(data);
  for (size_t i = 0; i < dims; ++i) out.push_back(internal::HalfToFloat(v[i]));
}

inline void Prefetch(const void* p) { __builtin_prefetch(p, 0, 3); }

inline void PrefetchBytes(const char* p, size_t bytes) {
  for (size_t offset = 0; offset < bytes; offset += 64) Prefetch(p + offset);
}

// Whole vectors are prefetched this many neighbours ahead of the one being compared: enough to
// cover a memory latency with a distance computation each, few enough for the line fill buffers.
constexpr size_t kPrefetchAhead = 3;

using DistNode = std::pair<float, hnswlib::tableint>;
using NodeQueue = std::priority_queue<DistNode, std::vector<DistNode>, Graph::CompareByFirst>;

// hnswlib 0.6.2's searchKnn over the same graph with the same visiting order, so the same
// results (the tests compare them), but: whole vectors are prefetched a few neighbours ahead
// where hnswlib prefetches their first cache line only (a 384-dim vector spans 24 lines, 12 in
// half precision, and a lookup in a large graph is bound by memory latency); the visited marks
// of a node's neighbours are prefetched together; ef is per call; and hnswlib's shared metric
// counters, atomics that every concurrent search writes, are left alone. Closest first.
inline std::vector<std::pair<float, hnswlib::labeltype>> SearchGraph(const Graph& g,
                                                                     const void* query, size_t k,
                                                                     size_t ef) {
  std::vector<std::pair<float, hnswlib::labeltype>> out;
  if (g.cur_element_count == 0 || k == 0) return out;
  ef = std::max(ef, k);
  const hnswlib::DISTFUNC<float> distance = g.fstdistfunc_;
  const void* param = g.dist_func_param_;
  const size_t vector_bytes = g.data_size_;

  // Greedy descent through the upper levels.
  hnswlib::tableint current = g.enterpoint_node_;
  float current_distance = distance(query, g.getDataByInternalId(current), param);
  for (int level = g.maxlevel_; level > 0; --level) {
    bool changed = true;
    while (changed) {
      changed = false;
      hnswlib::linklistsizeint* list = g.get_linklist(current, level);
      size_t size = g.getListCount(list);
      const hnswlib::tableint* links = reinterpret_cast<const hnswlib::tableint*>(list + 1);
      for (size_t j = 0; j < std::min(size, kPrefetchAhead); ++j) {
        PrefetchBytes(g.getDataByInternalId(links[j]), vector_bytes);
      }
      for (size_t j = 0; j < size; ++j) {
        if (j + kPrefetchAhead < size) {
          PrefetchBytes(g.getDataByInternalId(links[j + kPrefetchAhead]), vector_bytes);
        }
        float d = distance(query, g.getDataByInternalId(links[j]), param);
        if (d < current_distance) {
          current_distance = d;
          current = links[j];
          changed = true;
        }
      }
    }
  }

  // Beam search of width ef on level 0 (hnswlib's searchBaseLayerST).
  const bool deletions = g.num_deleted_ != 0;
  hnswlib::VisitedList* visited_list = g.visited_list_pool_->getFreeVisitedList();
  hnswlib::vl_type* visited = visited_list->mass;
  const hnswlib::vl_type tag = visited_list->curV;
  NodeQueue top;         // The best ef so far; top() is the farthest of them.
  NodeQueue candidates;  // Negated distances: top() is the nearest unexpanded.
  float lower_bound;
  if (!deletions || !g.isMarkedDeleted(current)) {
    float d = distance(query, g.getDataByInternalId(current), param);
    lower_bound = d;
    top.emplace(d, current);
    candidates.emplace(-d, current);
  } else {
    lower_bound = std::numeric_limits<float>::max();
    candidates.emplace(-lower_bound, current);
  }
  visited[current] = tag;
  std::vector<hnswlib::tableint> fresh(g.maxM0_);
  while (!candidates.empty()) {
    DistNode nearest = candidates.top();
    if (-nearest.first > lower_bound && (top.size() == ef || !deletions)) break;
    candidates.pop();
    hnswlib::linklistsizeint* list = g.get_linklist0(nearest.second);
    size_t size = std::min<size_t>(g.getListCount(list), fresh.size());
    const hnswlib::tableint* links = reinterpret_cast<const hnswlib::tableint*>(list + 1);
    for (size_t j = 0; j < size; ++j) Prefetch(visited + links[j]);
    size_t count = 0;
    for (size_t j = 0; j < size; ++j) {
      if (visited[links[j]] == tag) continue;
      visited[links[j]] = tag;
      fresh[count++] = links[j];
    }
    for (size_t j = 0; j < std::min(count, kPrefetchAhead); ++j) {
      PrefetchBytes(g.getDataByInternalId(fresh[j]), vector_bytes);
    }
    for (size_t j = 0; j < count; ++j) {
      if (j + kPrefetchAhead < count) {
        PrefetchBytes(g.getDataByInternalId(fresh[j + kPrefetchAhead]), vector_bytes);
      }
      hnswlib::tableint node = fresh[j];
      float d = distance(query, g.getDataByInternalId(node), param);
      if (top.size() < ef || lower_bound > d) {
        candidates.emplace(-d, node);
        Prefetch(g.get_linklist0(candidates.top().second));
        if (!deletions || !g.isMarkedDeleted(node)) top.emplace(d, node);
        if (top.size() > ef) top.pop();
        if (!top.empty()) lower_bound = top.top().first;
      }
    }
  }
  g.visited_list_pool_->releaseVisitedList(visited_list);

  while (top.size() > k) top.pop();
  out.reserve(top.size());
  for (; !top.empty(); top.pop()) {
    out.emplace_back(top.top().first, g.getExternalLabel(top.top().second));
  }
  // Ties in distance ordered by label, as hnswlib's result queue orders them.
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace sobre::cache::internal

#endif  // SOBRE_CACHE_INTERNAL_HNSW_GLUE_H_
