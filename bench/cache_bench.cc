// Semantic index benchmarks: insert rate, lookup latency (p50/p99) and memory at 10k and 100k
// entries of 384 dims (and 1M with --sobre_full: minutes of build, not for CI).
// Run: build/bench/cache_bench [--sobre_full] [google benchmark flags]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "cache/embedder.h"
#include "cache/semantic_index.h"

namespace sobre::cache {
namespace {

constexpr int kDims = 384;

std::vector<float> RandomUnit(std::mt19937& rng) {
  std::normal_distribution<float> normal;
  std::vector<float> v(kDims);
  for (float& x : v) x = normal(rng);
  NormaliseL2(v);
  return v;
}

double ResidentMib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

// One index per size, built once (its build is the insert measurement) and kept for lookups.
struct Built {
  std::unique_ptr<SemanticIndex> index;
  std::vector<std::vector<float>> sample;  // Some of the stored vectors, to query near them.
  double insert_per_s = 0;
  double rss_delta_mib = 0;
};

Built& IndexOfSize(size_t n) {
  static std::map<size_t, Built> built;
  Built& b = built[n];
  if (b.index != nullptr) return b;
  SemanticIndexOptions options;
  options.dims = kDims;
  options.max_entries = n;
  b.index = std::make_unique<SemanticIndex>(options);
  std::mt19937 rng(42);
  double rss_before = ResidentMib();
  auto start = std::chrono::steady_clock::now();
  for (size_t id = 0; id < n; ++id) {
    std::vector<float> v = RandomUnit(rng);
    if (id % (n / 1000) == 0) b.sample.push_back(v);
    if (!b.index->Add(id, "tenant/model/context", v).ok()) std::abort();
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  b.insert_per_s = static_cast<double>(n) / seconds;
  b.rss_delta_mib = ResidentMib() - rss_before;
  return b;
}

// Lookups of vectors near stored ones (a paraphrase-like perturbation), one scope holding all
// entries: the worst case for a scope-partitioned index.
void BM_SemanticLookup(benchmark::State& state) {
  size_t n = static_cast<size_t>(state.range(0));
  Built& b = IndexOfSize(n);
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0.0f, 0.02f);
  std::vector<std::vector<float>> queries;
  for (const auto& s : b.sample) {
    std::vector<float> q = s;
    for (float& x : q) x += noise(rng);
    NormaliseL2(q);
    queries.push_back(std::move(q));
  }
  std::vector<double> latencies_us;
  size_t i = 0;
  for (auto _ : state) {
    auto start = std::chrono::steady_clock::now();
    auto found = b.index->Search("tenant/model/context", queries[i++ % queries.size()], 1);
    latencies_us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
    benchmark::DoNotOptimize(found);
  }
  std::sort(latencies_us.begin(), latencies_us.end());
  auto at = [&](double q) {
    return latencies_us.empty() ? 0.0 : latencies_us[static_cast<size_t>(q * (latencies_us.size() - 1))];
  };
  state.counters["p50_us"] = at(0.50);
  state.counters["p99_us"] = at(0.99);
  state.counters["insert_per_s"] = b.insert_per_s;
  state.counters["index_mib"] = static_cast<double>(b.index->memory_bytes()) / (1 << 20);
  state.counters["rss_delta_mib"] = b.rss_delta_mib;
  state.counters["rss_mib"] = ResidentMib();
}

// Steady-state insert into a full index: each Add evicts the oldest and reuses its graph slot.
void BM_SemanticInsertFull(benchmark::State& state) {
  size_t n = static_cast<size_t>(state.range(0));
  Built& b = IndexOfSize(n);
  std::mt19937 rng(9);
  std::vector<std::vector<float>> vs;
  for (int k = 0; k < 256; ++k) vs.push_back(RandomUnit(rng));
  static uint64_t next_id = 1ULL << 40;
  size_t i = 0;
  for (auto _ : state) {
    auto evicted = b.index->Add(next_id++, "tenant/model/context", vs[i++ % vs.size()]);
    benchmark::DoNotOptimize(evicted);
  }
  state.SetItemsProcessed(state.iterations());
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
  std::vector<int64_t> sizes = {10'000, 100'000};
  if (full) sizes.push_back(1'000'000);
  for (int64_t n : sizes) {
    benchmark::RegisterBenchmark("BM_SemanticLookup", sobre::cache::BM_SemanticLookup)->Arg(n);
    benchmark::RegisterBenchmark("BM_SemanticInsertFull", sobre::cache::BM_SemanticInsertFull)
        ->Arg(n);
  }
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
