// Forward-pass throughput of the engine's model part on a random-weight llama of realistic width
// (n_embd 1024, 8 layers, GQA 16/4, n_ff 2816, vocab 8192): decode tokens/s at 1 and 2 threads,
// 4 sequences decoded together, a 128-token prompt, and the weight bytes streamed per second
// against a read-bandwidth baseline measured in the same run. Also counts heap allocations in the
// decode loop (operator new is replaced in this program).
//
// Counters: tok/s; weight_GB/s = weight bytes per token x tok/s; bw_ratio = weight_GB/s over
// BM_ReadBandwidth at the same thread count; allocs/tok = operator new calls per decoded token.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "engine/model/decoder.h"
#include "engine/model/model.h"
#include "engine/model/thread_pool.h"
#include "tests/engine/model/test_model_maker.h"

namespace {

std::atomic<uint64_t> g_allocations{0};

}  // namespace

// The replaced operator new allocates with malloc, so its operator delete frees with free; GCC
// cannot see that the two are paired and warns where it inlines them.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace sobre::engine {
namespace {

// Bytes read per second by `threads` threads summing a 512 MiB buffer (16x the L3 cache).
double MeasureReadBandwidth(int threads) {
  static std::map<int, double> cache;
  if (auto it = cache.find(threads); it != cache.end()) return it->second;
  const size_t words = (size_t{512} << 20) / sizeof(uint64_t);
  static std::vector<uint64_t> buffer(words, 1);
  ThreadPool pool(threads);
  std::vector<uint64_t> sums(static_cast<size_t>(threads));
  const int chunks = threads * 16;
  const size_t per = words / static_cast<size_t>(chunks);
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    pool.ParallelFor(chunks, [&](int c, int t) {
      const uint64_t* p = buffer.data() + static_cast<size_t>(c) * per;
      uint64_t a = 0, b = 0, d = 0, e = 0;
      for (size_t i = 0; i < per; i += 4) {
        a += p[i];
        b += p[i + 1];
        d += p[i + 2];
        e += p[i + 3];
      }
      sums[static_cast<size_t>(t)] += a + b + d + e;
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, static_cast<double>(per * chunks * sizeof(uint64_t)) / s);
  }
  benchmark::DoNotOptimize(sums.data());
  cache[threads] = best;
  return best;
}

const Model& BenchModel(GgmlType type) {
  static std::map<GgmlType, std::unique_ptr<Model>> models;
  auto it = models.find(type);
  if (it != models.end()) return *it->second;
  testing::TestModelSpec spec;
  spec.n_vocab = 8192;
  spec.n_embd = 1024;
  spec.n_layer = 8;
  spec.n_head = 16;
  spec.n_head_kv = 4;
  spec.n_ff = 2816;
  spec.n_ctx = 2048;
  spec.type = type;
  spec.embd_type = type;
  spec.tied = false;
  const std::string path = "/tmp/sobre_model_bench_" + std::string(TraitsOf(type).name) + ".gguf";
  Status made = testing::MakeTestModel(spec, path);
  if (!made.ok()) {
    std::fprintf(stderr, "%s\n", made.ToString().c_str());
    std::abort();
  }
  ModelOptions options;
  options.load_vocab = false;
  auto model = Model::Load(path, options);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
    std::abort();
  }
  std::remove(path.c_str());  // the mapping stays valid
  return *(models[type] = std::move(model).value());
}

GgmlType TypeArg(int64_t v) { return static_cast<GgmlType>(static_cast<uint32_t>(v)); }

void SetLabel(benchmark::State& state, GgmlType type, int threads) {
  state.SetLabel(std::string(TraitsOf(type).name) + " threads=" + std::to_string(threads));
}

// Decodes one token per step for `n_seq` sequences after a 16-token prompt each.
void DecodeSteps(benchmark::State& state, int n_seq) {
  const GgmlType type = TypeArg(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  const Model& model = BenchModel(type);
  ThreadPool pool(threads);
  KvCacheOptions options;
  options.n_seq = n_seq;
  options.n_ctx = 1024;
  options.max_batch = 64;
  auto ctx = DecoderContext::Create(model, options, pool);
  if (!ctx.ok()) {
    state.SkipWithError(ctx.status().ToString().c_str());
    return;
  }
  const int n_vocab = model.hparams().n_vocab;
  std::vector<float> logits(static_cast<size_t>(n_seq) * n_vocab);
  std::vector<BatchToken> batch;
  for (int s = 0; s < n_seq; ++s) {
    for (int i = 0; i < 16; ++i) batch.push_back({(i * 31 + s) % n_vocab, i, s, i == 15});
  }
  if (!(*ctx)->Decode(batch, logits).ok()) state.SkipWithError("prompt failed");
  uint64_t tokens = 0;
  const uint64_t allocs_before = g_allocations.load();
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if ((*ctx)->SequenceLength(0) >= options.n_ctx - 1) {  // keep the context bounded
      for (int s = 0; s < n_seq; ++s) (void)(*ctx)->CopyPrefix(s, s, 16);
    }
    batch.clear();
    for (int s = 0; s < n_seq; ++s) {
      batch.push_back({static_cast<int32_t>((tokens + s) % n_vocab), (*ctx)->SequenceLength(s), s,
                       true});
    }
    if (!(*ctx)->Decode(batch, logits).ok()) state.SkipWithError("decode failed");
    tokens += static_cast<uint64_t>(n_seq);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const uint64_t allocs = g_allocations.load() - allocs_before;
  const double bytes_per_step = static_cast<double>(model.weight_bytes_per_token());
  const double steps = static_cast<double>(state.iterations());
  const double weight_bps = bytes_per_step * steps / seconds;
  const double read_bps = MeasureReadBandwidth(threads);
  state.counters["tok/s"] = static_cast<double>(tokens) / seconds;
  state.counters["weight_GB/s"] = weight_bps / 1e9;
  state.counters["read_bw_GB/s"] = read_bps / 1e9;
  state.counters["bw_ratio"] = weight_bps / read_bps;
  state.counters["allocs/tok"] = static_cast<double>(allocs) / static_cast<double>(tokens);
  state.counters["weight_MB/step"] = bytes_per_step / 1e6;
  SetLabel(state, type, threads);
}

void BM_Decode(benchmark::State& state) { DecodeSteps(state, 1); }
void BM_DecodeBatch4(benchmark::State& state) { DecodeSteps(state, 4); }

void BM_Prompt128(benchmark::State& state) {
  const GgmlType type = TypeArg(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  const Model& model = BenchModel(type);
  ThreadPool pool(threads);
  KvCacheOptions options;
  options.n_seq = 1;
  options.n_ctx = 256;
  options.max_batch = 128;
  auto ctx = DecoderContext::Create(model, options, pool);
  if (!ctx.ok()) {
    state.SkipWithError(ctx.status().ToString().c_str());
    return;
  }
  std::vector<float> logits(static_cast<size_t>(model.hparams().n_vocab));
  std::vector<BatchToken> batch;
  for (int i = 0; i < 128; ++i) batch.push_back({(i * 17) % model.hparams().n_vocab, i, 0, i == 127});
  for (auto _ : state) {
    (*ctx)->ClearSequence(0);
    if (!(*ctx)->Decode(batch, logits).ok()) state.SkipWithError("prompt failed");
  }
  state.counters["tok/s"] = benchmark::Counter(128.0 * static_cast<double>(state.iterations()),
                                               benchmark::Counter::kIsRate);
  SetLabel(state, type, threads);
}

void BM_ReadBandwidth(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  double bw = 0;
  for (auto _ : state) bw = MeasureReadBandwidth(threads);
  state.counters["read_bw_GB/s"] = bw / 1e9;
}

void TypeThreadArgs(benchmark::internal::Benchmark* b) {
  for (GgmlType t : {GgmlType::kQ8_0, GgmlType::kQ4_0}) {
    for (int threads : {1, 2}) b->Args({static_cast<int64_t>(t), threads});
  }
}

BENCHMARK(BM_ReadBandwidth)->Arg(1)->Arg(2)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Decode)->Apply(TypeThreadArgs)->MinTime(2.0)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeBatch4)->Apply(TypeThreadArgs)->MinTime(2.0)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Prompt128)->Apply(TypeThreadArgs)->MinTime(2.0)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sobre::engine

BENCHMARK_MAIN();
