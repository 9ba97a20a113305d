// Semantic index benchmarks: build rate (parallel AddBatch against sequential Add), lookup latency
// (p50/p99), recall@1 against brute force, and memory (the index's estimate against measured RSS)
// at 10k and 100k entries of 384 dims, and 1M with --sobre_full (a minute or more of build per
// data set, not for CI). Two data sets: random unit vectors (Gaussian, the worst case for HNSW)
// and clustered ones (points near a few thousand centres, closer to text embeddings).
// Run: build/bench/cache_bench [--sobre_full] [google benchmark flags]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>
#include <malloc.h>

#include "cache/embedder.h"
#include "cache/internal/dot.h"
#include "cache/semantic_index.h"

namespace sobre::cache {
namespace {

constexpr int kDims = 384;
constexpr char kScope[] = "tenant/model/context";
// Noise per component of a near-duplicate query: similarity to its source about 0.93.
constexpr float kNearNoise = 0.02f;
// Clustered data: centres, and noise per component around them (similarity to the centre about
// 0.86, between two points of a cluster about 0.74, like paraphrase-free text embeddings).
constexpr size_t kClusters = 4096;
constexpr float kClusterNoise = 0.03f;
// Queries per built index for latency and recall.
constexpr size_t kQueries = 1000;
// Fresh (not near-duplicate) queries checked against brute force; fewer at 1M.
constexpr size_t kFreshQueries = 200;

enum class Data { kRandom, kClustered };

const char* DataName(Data data) { return data == Data::kRandom ? "random" : "clustered"; }

void Normalise(float* v) {
  double sum = 0;
  for (int i = 0; i < kDims; ++i) sum += static_cast<double>(v[i]) * v[i];
  float scale = static_cast<float>(1.0 / std::sqrt(sum));
  for (int i = 0; i < kDims; ++i) v[i] *= scale;
}

// n vectors of `data`, row-major, reproducible from `seed`.
std::vector<float> Generate(Data data, size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> out(n * kDims);
  if (data == Data::kRandom) {
    for (float& x : out) x = normal(rng);
    for (size_t i = 0; i < n; ++i) Normalise(out.data() + i * kDims);
    return out;
  }
  std::mt19937_64 centre_rng(7);  // The same centres for stored vectors and fresh queries.
  std::vector<float> centres(kClusters * kDims);
  for (float& x : centres) x = normal(centre_rng);
  for (size_t c = 0; c < kClusters; ++c) Normalise(centres.data() + c * kDims);
  std::uniform_int_distribution<size_t> pick(0, kClusters - 1);
  for (size_t i = 0; i < n; ++i) {
    const float* centre = centres.data() + pick(rng) * kDims;
    float* v = out.data() + i * kDims;
    for (int d = 0; d < kDims; ++d) v[d] = centre[d] + kClusterNoise * normal(rng);
    Normalise(v);
  }
  return out;
}

double ResidentMib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

// CPU time of this thread or of the whole process: unlike wall time, not inflated while other
// programs hold the cores (the 2-core VM this runs on is shared).
double CpuSeconds(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Exact top-1 id of each query over `vectors`, scanning the stored vectors once for all queries.
std::vector<uint64_t> BruteForceTop1(const std::vector<float>& vectors,
                                     const std::vector<float>& queries) {
  internal::DotFn dot = internal::DotFor(internal::BestDotKernel());
  size_t n = vectors.size() / kDims;
  size_t q = queries.size() / kDims;
  std::vector<float> best(q, -2.0f);
  std::vector<uint64_t> best_id(q, 0);
  for (size_t i = 0; i < n; ++i) {
    const float* v = vectors.data() + i * kDims;
    for (size_t j = 0; j < q; ++j) {
      float s = dot(v, queries.data() + j * kDims, kDims);
      if (s > best[j]) {
        best[j] = s;
        best_id[j] = i;
      }
    }
  }
  return best_id;
}

// One index per (size, data set), built once with AddBatch and kept for the lookups.
struct Built {
  std::unique_ptr<SemanticIndex> index;
  std::vector<float> vectors;         // Stored vector of id i at row i.
  std::vector<float> near_queries;    // kQueries stored vectors plus noise...
  std::vector<uint64_t> near_source;  // ...and the id each came from.
  std::vector<float> fresh_queries;   // Drawn like the data, not stored.
  std::vector<uint64_t> fresh_truth;  // Their exact top-1, computed on first use.
  double build_s = 0;
  double build_cpu_s = 0;  // Over all threads.
  double rss_delta_mib = 0;
};

Built& IndexOf(size_t n, Data data) {
  static std::map<std::pair<size_t, Data>, Built> built;
  Built& b = built[{n, data}];
  if (b.index != nullptr) return b;
  if (n >= 1'000'000) {
    // Each 1M index with its vectors takes about 3.5 GB: keep one at a time (the benchmarks of
    // one index run together), and hand the memory back so that RSS deltas stay meaningful.
    for (auto& [key, other] : built) {
      if (key.first >= 1'000'000 && &other != &b) other = Built{};
    }
    malloc_trim(0);
  }
  b.vectors = Generate(data, n, 42);
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0.0f, kNearNoise);
  std::uniform_int_distribution<uint64_t> pick(0, n - 1);
  b.near_queries.resize(kQueries * kDims);
  for (size_t j = 0; j < kQueries; ++j) {
    uint64_t id = pick(rng);
    b.near_source.push_back(id);
    float* q = b.near_queries.data() + j * kDims;
    for (int d = 0; d < kDims; ++d) q[d] = b.vectors[id * kDims + d] + noise(rng);
    Normalise(q);
  }
  b.fresh_queries = Generate(data, n >= 1'000'000 ? kFreshQueries / 2 : kFreshQueries, 4242);

  SemanticIndexOptions options;
  options.dims = kDims;
  options.max_entries = n;
  b.index = std::make_unique<SemanticIndex>(options);
  std::vector<SemanticItem> items(n);
  for (size_t id = 0; id < n; ++id) {
    items[id] =
        SemanticItem{id, kScope, std::span<const float>(b.vectors.data() + id * kDims, kDims)};
  }
  double rss_before = ResidentMib();
  auto start = std::chrono::steady_clock::now();
  double cpu_start = CpuSeconds(CLOCK_PROCESS_CPUTIME_ID);
  auto progress = [&](size_t done, size_t total) {
    if (n >= 1'000'000 && done % 100'000 < 1024) {
      std::fprintf(stderr, "  building %s %zu: %zu/%zu after %.0f s\n", DataName(data), n, done,
                   total, Seconds(start));
    }
  };
  if (!b.index->AddBatch(items, progress).ok()) std::abort();
  b.build_s = Seconds(start);
  b.build_cpu_s = CpuSeconds(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
  b.rss_delta_mib = ResidentMib() - rss_before;
  return b;
}

// Percentile of sorted latencies.
double At(const std::vector<double>& sorted, double q) {
  return sorted.empty() ? 0.0
                        : sorted[static_cast<size_t>(q * static_cast<double>(sorted.size() - 1))];
}

// Lookups of near-duplicates of stored vectors (a paraphrase-like perturbation, the cache's real
// use) or of fresh vectors, in one scope holding all entries: the worst case for a
// scope-partitioned index. Recall@1: the top match is the exact nearest neighbour (for
// near-duplicates, the vector the query came from).
void RunLookup(benchmark::State& state, Data data, bool fresh) {
  size_t n = static_cast<size_t>(state.range(0));
  Built& b = IndexOf(n, data);
  const std::vector<float>& queries = fresh ? b.fresh_queries : b.near_queries;
  size_t query_count = queries.size() / kDims;
  if (fresh && b.fresh_truth.empty()) b.fresh_truth = BruteForceTop1(b.vectors, b.fresh_queries);
  const std::vector<uint64_t>& truth = fresh ? b.fresh_truth : b.near_source;
  auto query = [&](size_t j) { return std::span<const float>(queries.data() + j * kDims, kDims); };

  // Untimed by Google Benchmark: recall and per-query CPU time at several beam widths, and
  // with hnswlib's own search (the baseline; same graph, same answers as ef 64).
  struct Pass {
    const char* name;
    SemanticSearchOptions search;
  };
  const Pass passes[] = {{"hnswlib", {.hnswlib_search = true}},
                         {"ef16", {.ef = 16}},
                         {"ef32", {.ef = 32}},
                         {"ef64", {.ef = 64}},
                         {"ef128", {.ef = 128}}};
  size_t found = 0;
  double hnswlib_p50 = 0;
  double own_p50 = 0;
  for (const Pass& pass : passes) {
    size_t hits = 0;
    std::vector<double> cpu;
    for (size_t j = 0; j < query_count; ++j) {
      double t0 = CpuSeconds(CLOCK_THREAD_CPUTIME_ID);
      auto top = b.index->Search(kScope, query(j), 1, pass.search);
      cpu.push_back((CpuSeconds(CLOCK_THREAD_CPUTIME_ID) - t0) * 1e6);
      hits += !top.empty() && top[0].id == truth[j];
    }
    std::sort(cpu.begin(), cpu.end());
    std::string name = pass.name;
    state.counters[name + "_recall1"] =
        static_cast<double>(hits) / static_cast<double>(query_count);
    state.counters[name + "_cpu_p50_us"] = At(cpu, 0.50);
    state.counters[name + "_cpu_p99_us"] = At(cpu, 0.99);
    if (name == "hnswlib") hnswlib_p50 = At(cpu, 0.50);
    if (name == "ef64") {
      own_p50 = At(cpu, 0.50);
      found = hits;
    }
  }
  state.counters["speedup_vs_hnswlib"] = own_p50 > 0 ? hnswlib_p50 / own_p50 : 0;
  std::vector<double> latencies_us;
  std::vector<double> cpu_us;
  size_t i = 0;
  for (auto _ : state) {
    auto start = std::chrono::steady_clock::now();
    double cpu_start = CpuSeconds(CLOCK_THREAD_CPUTIME_ID);
    auto top = b.index->Search(kScope, query(i++ % query_count), 1);
    cpu_us.push_back((CpuSeconds(CLOCK_THREAD_CPUTIME_ID) - cpu_start) * 1e6);
    latencies_us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
            .count());
    benchmark::DoNotOptimize(top);
  }
  std::sort(latencies_us.begin(), latencies_us.end());
  std::sort(cpu_us.begin(), cpu_us.end());
  state.counters["p50_us"] = At(latencies_us, 0.50);
  state.counters["p99_us"] = At(latencies_us, 0.99);
  state.counters["cpu_p50_us"] = At(cpu_us, 0.50);
  state.counters["cpu_p99_us"] = At(cpu_us, 0.99);
  state.counters["recall1"] = static_cast<double>(found) / static_cast<double>(query_count);
  state.counters["insert_per_s"] = static_cast<double>(n) / b.build_s;
  state.counters["build_s"] = b.build_s;
  state.counters["build_cpu_s"] = b.build_cpu_s;
  state.counters["est_mib"] = static_cast<double>(b.index->memory_bytes()) / (1 << 20);
  state.counters["rss_delta_mib"] = b.rss_delta_mib;
  state.SetLabel(std::string(DataName(data)) + (fresh ? " fresh" : " near-dup"));
}

void BM_SemanticLookup(benchmark::State& state) { RunLookup(state, Data::kRandom, false); }
void BM_SemanticLookupFresh(benchmark::State& state) { RunLookup(state, Data::kRandom, true); }
void BM_SemanticLookupClustered(benchmark::State& state) {
  RunLookup(state, Data::kClustered, false);
}
void BM_SemanticLookupClusteredFresh(benchmark::State& state) {
  RunLookup(state, Data::kClustered, true);
}

// The baseline for lookups: an exact scan of the same entries.
void BM_BruteForceLookup(benchmark::State& state) {
  size_t n = static_cast<size_t>(state.range(0));
  Built& b = IndexOf(n, Data::kRandom);
  internal::DotFn dot = internal::DotFor(internal::BestDotKernel());
  size_t i = 0;
  for (auto _ : state) {
    const float* q = b.near_queries.data() + (i++ % kQueries) * kDims;
    float best = -2;
    for (size_t id = 0; id < n; ++id)
      best = std::max(best, dot(q, b.vectors.data() + id * kDims, kDims));
    benchmark::DoNotOptimize(best);
  }
}

// Building an index of n random vectors from scratch: AddBatch on all hardware threads (arg 1)
// against one Add per entry (arg 0), the baseline.
void BM_SemanticBuild(benchmark::State& state) {
  size_t n = static_cast<size_t>(state.range(0));
  bool batch = state.range(1) != 0;
  std::vector<float> vectors = Generate(Data::kRandom, n, 5);
  std::vector<SemanticItem> items(n);
  for (size_t id = 0; id < n; ++id) {
    items[id] =
        SemanticItem{id, kScope, std::span<const float>(vectors.data() + id * kDims, kDims)};
  }
  for (auto _ : state) {
    SemanticIndexOptions options;
    options.dims = kDims;
    options.max_entries = n;
    SemanticIndex index(options);
    if (batch) {
      if (!index.AddBatch(items).ok()) std::abort();
    } else {
      for (const SemanticItem& item : items) {
        if (!index.Add(item.id, item.scope, item.vector).ok()) std::abort();
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
  state.SetLabel(batch ? "AddBatch" : "Add each");
}

// Steady-state insert into a full index: each Add evicts the oldest and reuses its graph slot.
void BM_SemanticInsertFull(benchmark::State& state) {
  size_t n = static_cast<size_t>(state.range(0));
  Built& b = IndexOf(n, Data::kRandom);
  std::vector<float> vs = Generate(Data::kRandom, 256, 9);
  static uint64_t next_id = 1ULL << 40;
  size_t i = 0;
  for (auto _ : state) {
    auto evicted = b.index->Add(next_id++, kScope,
                                std::span<const float>(vs.data() + (i++ % 256) * kDims, kDims));
    benchmark::DoNotOptimize(evicted);
  }
  state.SetItemsProcessed(state.iterations());
}

// The dot product kernels on 384 floats (arg: 0 plain, 1 AVX2+FMA, 2 AVX-512), from L1.
void BM_Dot384(benchmark::State& state) {
  auto kernel = static_cast<internal::DotKernel>(state.range(0));
  internal::DotFn dot = internal::DotFor(kernel);
  if (dot == nullptr) {
    state.SkipWithError("not supported by this CPU");
    return;
  }
  std::vector<float> a = Generate(Data::kRandom, 1, 1);
  std::vector<float> b = Generate(Data::kRandom, 1, 2);
  for (auto _ : state) {
    benchmark::DoNotOptimize(a.data());
    benchmark::DoNotOptimize(dot(a.data(), b.data(), kDims));
  }
  state.SetLabel(internal::DotKernelName(kernel));
}

// Frugal embedding of a typical question: the other half of a semantic lookup.
void BM_FrugalEmbed(benchmark::State& state) {
  FrugalEmbedder embedder;
  for (auto _ : state) {
    auto v = embedder.Embed("How do I convert a string to an integer in Java without exceptions?");
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_FrugalEmbed);
BENCHMARK(BM_Dot384)->Arg(0)->Arg(1)->Arg(2);

}  // namespace
}  // namespace sobre::cache

int main(int argc, char** argv) {
  bool full = false;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--sobre_full") == 0) {
      full = true;
    } else {
      args.push_back(argv[i]);
    }
  }
  using namespace sobre::cache;  // NOLINT: registration only.
  std::vector<int64_t> sizes = {10'000, 100'000};
  if (full) sizes.push_back(1'000'000);
  benchmark::RegisterBenchmark("BM_SemanticBuild", BM_SemanticBuild)
      ->Args({20'000, 0})
      ->Args({20'000, 1})
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  for (int64_t n : sizes) {
    benchmark::RegisterBenchmark("BM_SemanticLookup", BM_SemanticLookup)->Arg(n);
    benchmark::RegisterBenchmark("BM_SemanticLookupFresh", BM_SemanticLookupFresh)->Arg(n);
    benchmark::RegisterBenchmark("BM_BruteForceLookup", BM_BruteForceLookup)
        ->Arg(n)
        ->Unit(benchmark::kMillisecond);
    // Changes the random index: after its lookups.
    benchmark::RegisterBenchmark("BM_SemanticInsertFull", BM_SemanticInsertFull)->Arg(n);
    benchmark::RegisterBenchmark("BM_SemanticLookupClustered", BM_SemanticLookupClustered)->Arg(n);
    benchmark::RegisterBenchmark("BM_SemanticLookupClusteredFresh", BM_SemanticLookupClusteredFresh)
        ->Arg(n);
  }
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
