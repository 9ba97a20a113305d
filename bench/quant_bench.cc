// Kernel throughput against this machine's memory bandwidth, measured in the same run.
// Google Benchmark part: VecDot on an in-cache row per type and ISA (the core's compute rate, in
// bytes of weights per second). Printed summary: a streaming read-sum baseline (1 and 2 threads)
// over a buffer far larger than cache, then MatVecRows GB/s of weights for every type and ISA over
// a large matrix, as a ratio to the baseline, and MatMulRows batches of 1/2/4/8 for Q8_0 and Q4_0.
// Run: build/bench/quant_bench [--sobre_matrix_mb=512] [--sobre_quick] [google benchmark flags]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "engine/ggml_type.h"
#include "engine/quant/kernels.h"
#include "engine/quant/quant.h"

namespace sobre::engine {
namespace {

const GgmlType kTypes[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16, GgmlType::kQ8_0,
                           GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1,
                           GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K};
constexpr size_t kCols = 4096;  // row length: a 4096-wide layer, like a 7B model's

std::vector<KernelIsa> AvailableIsas() {
  std::vector<KernelIsa> isas = {KernelIsa::kReference};
  if (DetectedIsa() != KernelIsa::kReference) isas.push_back(KernelIsa::kAvx2);
  if (DetectedIsa() == KernelIsa::kAvx512) isas.push_back(KernelIsa::kAvx512);
  return isas;
}

std::vector<float> Gaussian(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist;
  std::vector<float> x(n);
  for (float& v : x) v = dist(rng);
  return x;
}

// `rows` weight rows of `type`: 64 distinct quantised rows repeated (values do not change speed).
std::vector<uint8_t> MakeMatrix(GgmlType type, size_t rows) {
  const size_t row_bytes = RowBytes(type, kCols);
  const size_t distinct = std::min<size_t>(rows, 64);
  std::vector<uint8_t> w(rows * row_bytes);
  for (size_t r = 0; r < distinct; ++r) {
    const std::vector<float> x = Gaussian(kCols, static_cast<uint32_t>(r));
    if (!QuantizeRow(type, x, std::span<uint8_t>(w.data() + r * row_bytes, row_bytes)).ok()) std::abort();
  }
  for (size_t r = distinct; r < rows; ++r) std::memcpy(&w[r * row_bytes], &w[(r % distinct) * row_bytes], row_bytes);
  return w;
}

std::vector<uint8_t> MakeActivations(GgmlType type, size_t n_cols) {
  const size_t bytes = ActivationBytes(type, kCols);
  std::vector<uint8_t> act(bytes * n_cols);
  for (size_t c = 0; c < n_cols; ++c) {
    QuantizeActivations(type, Gaussian(kCols, 1000 + static_cast<uint32_t>(c)).data(), kCols, act.data() + c * bytes);
  }
  return act;
}

// --- Google Benchmark: in-cache dot products ---------------------------------------------------

void BM_VecDotInCache(benchmark::State& state, GgmlType type, KernelIsa isa) {
  const std::vector<uint8_t> w = MakeMatrix(type, 1);
  const std::vector<uint8_t> act = MakeActivations(type, 1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(VecDot(type, kCols, w.data(), act.data(), isa));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(w.size()));
  state.SetLabel(std::string(IsaName(isa)));
}

void BM_QuantizeActivations(benchmark::State& state, GgmlType type, KernelIsa isa) {
  const std::vector<float> x = Gaussian(kCols, 5);
  std::vector<uint8_t> out(ActivationBytes(type, kCols));
  for (auto _ : state) {
    QuantizeActivations(type, x.data(), kCols, out.data(), isa);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kCols * sizeof(float)));
  state.SetLabel(std::string(IsaName(isa)));
}

// --- the printed summary ------------------------------------------------------------------------

double Seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Runs fn(thread, threads) on `threads` threads; returns the best wall time of `reps` runs.
template <typename Fn>
double BestOf(int reps, int threads, Fn fn) {
  double best = 1e30;
  for (int rep = 0; rep < reps; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(fn, t, threads);
    fn(0, threads);
    for (std::thread& th : pool) th.join();
    best = std::min(best, Seconds(std::chrono::steady_clock::now() - start));
  }
  return best;
}

// Streaming read of a buffer far larger than cache: the memory bandwidth a mat-vec can hope for.
double ReadBandwidthGbs(const std::vector<uint64_t>& buf, int threads) {
  std::vector<uint64_t> sums(threads * 8);
  const double s = BestOf(5, threads, [&](int t, int nt) {
    const size_t begin = buf.size() * t / nt, end = buf.size() * (t + 1) / nt;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = begin; i + 4 <= end; i += 4) {
      a += buf[i];
      b += buf[i + 1];
      c += buf[i + 2];
      d += buf[i + 3];
    }
    sums[t * 8] = a + b + c + d;
  });
  benchmark::DoNotOptimize(sums.data());
  return static_cast<double>(buf.size() * sizeof(uint64_t)) / s / 1e9;
}

// GB/s of weights through MatVecRows (n_cols = 1) or MatMulRows (n_cols > 1).
double MatrixGbs(GgmlType type, const std::vector<uint8_t>& w, const std::vector<uint8_t>& act, size_t n_cols,
                 KernelIsa isa, int threads, int reps) {
  const size_t rows = w.size() / RowBytes(type, kCols);
  std::vector<float> y(rows * n_cols);
  const size_t act_bytes = ActivationBytes(type, kCols);
  const double s = BestOf(reps, threads, [&](int t, int nt) {
    const size_t begin = rows * t / nt, end = rows * (t + 1) / nt;
    if (n_cols == 1) {
      MatVecRows(type, w.data(), kCols, begin, end, act.data(), y.data(), isa);
    } else {
      MatMulRows(type, w.data(), kCols, begin, end, act.data(), act_bytes, n_cols, y.data(), rows, isa);
    }
  });
  benchmark::DoNotOptimize(y.data());
  return static_cast<double>(w.size()) / s / 1e9;
}

void PrintSummary(size_t matrix_mb, bool quick) {
  const size_t buffer_bytes = matrix_mb << 20;
  std::vector<uint64_t> buf(buffer_bytes / sizeof(uint64_t));
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = i;
  const double bw[3] = {0, ReadBandwidthGbs(buf, 1), ReadBandwidthGbs(buf, 2)};
  buf = {};
  std::printf("\n== quant_bench summary (detected ISA %s; matrices of %zu MiB, rows of %zu values) ==\n",
              std::string(IsaName(DetectedIsa())).c_str(), matrix_mb, kCols);
  std::printf("baseline streaming read: 1 thread %.1f GB/s, 2 threads %.1f GB/s\n\n", bw[1], bw[2]);
  std::printf("MatVecRows (batch 1), GB/s of weights and ratio to the read baseline:\n");
  std::printf("%-6s %-10s %10s %7s %10s %7s\n", "type", "isa", "1 thread", "ratio", "2 threads", "ratio");
  for (GgmlType type : kTypes) {
    const size_t rows = std::max<size_t>(64, buffer_bytes / RowBytes(type, kCols));
    const std::vector<uint8_t> w = MakeMatrix(type, rows);
    const std::vector<uint8_t> act = MakeActivations(type, 8);
    for (KernelIsa isa : AvailableIsas()) {
      const int reps = (isa == KernelIsa::kReference || quick) ? 1 : 3;
      const double g1 = MatrixGbs(type, w, act, 1, isa, 1, reps);
      const double g2 = MatrixGbs(type, w, act, 1, isa, 2, reps);
      std::printf("%-6s %-10s %10.2f %6.0f%% %10.2f %6.0f%%\n", std::string(TraitsOf(type).name).c_str(),
                  std::string(IsaName(isa)).c_str(), g1, 100 * g1 / bw[1], g2, 100 * g2 / bw[2]);
      std::fflush(stdout);
    }
  }
  std::printf("\nMatMulRows batches (best ISA %s), weight GB/s and GB/s x columns (aggregate):\n",
              std::string(IsaName(BestIsa())).c_str());
  std::printf("%-6s %5s %12s %12s %12s %12s\n", "type", "batch", "1t weights", "1t aggr.", "2t weights", "2t aggr.");
  for (GgmlType type : {GgmlType::kQ8_0, GgmlType::kQ4_0}) {
    const std::vector<uint8_t> w = MakeMatrix(type, buffer_bytes / RowBytes(type, kCols));
    const std::vector<uint8_t> act = MakeActivations(type, 8);
    for (size_t batch : {1, 2, 4, 8}) {
      const int reps = quick ? 1 : 3;
      const double g1 = MatrixGbs(type, w, act, batch, BestIsa(), 1, reps);
      const double g2 = MatrixGbs(type, w, act, batch, BestIsa(), 2, reps);
      std::printf("%-6s %5zu %12.2f %12.2f %12.2f %12.2f\n", std::string(TraitsOf(type).name).c_str(), batch, g1,
                  g1 * static_cast<double>(batch), g2, g2 * static_cast<double>(batch));
      std::fflush(stdout);
    }
  }
}

}  // namespace
}  // namespace sobre::engine

int main(int argc, char** argv) {
  using namespace sobre::engine;
  size_t matrix_mb = 512;
  bool quick = false;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--sobre_matrix_mb=", 18) == 0) {
      matrix_mb = std::strtoul(argv[i] + 18, nullptr, 10);
    } else if (std::strcmp(argv[i], "--sobre_quick") == 0) {
      quick = true;
      matrix_mb = 16;
    } else {
      rest.push_back(argv[i]);
    }
  }
  for (GgmlType type : kTypes) {
    for (KernelIsa isa : AvailableIsas()) {
      const std::string name = "BM_VecDotInCache/" + std::string(TraitsOf(type).name) + "/" + std::string(IsaName(isa));
      benchmark::RegisterBenchmark(name.c_str(), BM_VecDotInCache, type, isa);
    }
  }
  for (GgmlType type : {GgmlType::kQ8_0, GgmlType::kQ4_K}) {
    for (KernelIsa isa : AvailableIsas()) {
      const std::string name = "BM_QuantizeActivations/" + std::string(TraitsOf(ActivationTypeFor(type)).name) + "/" +
                               std::string(IsaName(isa));
      benchmark::RegisterBenchmark(name.c_str(), BM_QuantizeActivations, type, isa);
    }
  }
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  PrintSummary(matrix_mb, quick);
  return 0;
}
