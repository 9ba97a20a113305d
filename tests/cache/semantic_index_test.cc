#include "cache/semantic_index.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cache/internal/dot.h"

namespace sobre::cache {
namespace {

constexpr int kDims = 32;

std::vector<float> RandomUnit(std::mt19937& rng, int dims = kDims) {
  std::normal_distribution<float> normal;
  std::vector<float> v(static_cast<size_t>(dims));
  double sum = 0;
  for (float& x : v) {
    x = normal(rng);
    sum += x * x;
  }
  for (float& x : v) x = static_cast<float>(x / std::sqrt(sum));
  return v;
}

SemanticIndexOptions SmallOptions() {
  SemanticIndexOptions options;
  options.dims = kDims;
  options.hnsw_min_entries = 64;  // Small, so that tests exercise the graph path.
  return options;
}

TEST(SemanticIndexTest, AddSearchRemoveInAFlatScope) {
  SemanticIndex index(SmallOptions());
  std::mt19937 rng(1);
  std::vector<std::vector<float>> vs;
  for (uint64_t id = 0; id < 10; ++id) {
    vs.push_back(RandomUnit(rng));
    ASSERT_TRUE(index.Add(id, "s", vs.back()).ok());
  }
  EXPECT_EQ(index.size(), 10u);
  auto found = index.Search("s", vs[3], 3);
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found[0].id, 3u);
  EXPECT_NEAR(found[0].similarity, 1.0f, 1e-5f);
  EXPECT_GE(found[0].similarity, found[1].similarity);
  EXPECT_GE(found[1].similarity, found[2].similarity);

  EXPECT_TRUE(index.Remove(3));
  EXPECT_FALSE(index.Remove(3));
  EXPECT_FALSE(index.Contains(3));
  for (const SemanticMatch& m : index.Search("s", vs[3], 10)) EXPECT_NE(m.id, 3u);
  EXPECT_EQ(index.Search("s", vs[3], 100).size(), 9u);
  EXPECT_TRUE(index.Search("unknown", vs[3], 3).empty());
  EXPECT_TRUE(index.Search("s", std::vector<float>(5, 0.1f), 3).empty());
}

TEST(SemanticIndexTest, GraphScopeFindsEachVectorAndForgetsRemovedOnes) {
  SemanticIndex index(SmallOptions());
  std::mt19937 rng(2);
  std::vector<std::vector<float>> vs;
  for (uint64_t id = 0; id < 500; ++id) {
    vs.push_back(RandomUnit(rng));
    ASSERT_TRUE(index.Add(id, "big", vs.back()).ok());
  }
  int self_found = 0;
  for (uint64_t id = 0; id < 500; ++id) self_found += index.Search("big", vs[id], 1).at(0).id == id;
  EXPECT_GE(self_found, 495);  // HNSW is approximate; in practice all 500.
  for (uint64_t id = 0; id < 500; id += 2) ASSERT_TRUE(index.Remove(id));
  EXPECT_EQ(index.size(), 250u);
  for (uint64_t id = 0; id < 500; ++id) {
    for (const SemanticMatch& m : index.Search("big", vs[id], 5)) EXPECT_EQ(m.id % 2, 1u);
  }
}

TEST(SemanticIndexTest, NeverReturnsAnotherScopesEntries) {
  SemanticIndex index(SmallOptions());
  std::mt19937 rng(3);
  std::vector<std::vector<float>> vs;
  // "a" becomes a graph, "b" stays flat, "c" holds one entry; identical vectors in each.
  for (uint64_t id = 0; id < 200; ++id) {
    vs.push_back(RandomUnit(rng));
    ASSERT_TRUE(index.Add(id, "a", vs.back()).ok());
    if (id < 20) {
      ASSERT_TRUE(index.Add(1000 + id, "b", vs.back()).ok());
    }
  }
  ASSERT_TRUE(index.Add(5000, "c", vs[7]).ok());
  EXPECT_EQ(index.scope_count(), 3u);
  for (uint64_t id = 0; id < 200; ++id) {
    for (const SemanticMatch& m : index.Search("a", vs[id], 10)) EXPECT_LT(m.id, 1000u);
    for (const SemanticMatch& m : index.Search("b", vs[id], 10)) {
      EXPECT_TRUE(m.id >= 1000 && m.id < 1020) << m.id;
    }
    auto c = index.Search("c", vs[id], 10);
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].id, 5000u);
  }
}

TEST(SemanticIndexTest, ReAddingAnIdMovesIt) {
  SemanticIndex index(SmallOptions());
  std::mt19937 rng(4);
  auto v = RandomUnit(rng);
  ASSERT_TRUE(index.Add(1, "x", v).ok());
  ASSERT_TRUE(index.Add(1, "y", v).ok());
  EXPECT_EQ(index.size(), 1u);
  EXPECT_TRUE(index.Search("x", v, 1).empty());
  EXPECT_EQ(index.Search("y", v, 1).at(0).id, 1u);
  EXPECT_EQ(index.scope_count(), 1u);
}

TEST(SemanticIndexTest, RejectsWrongLength) {
  SemanticIndex index(SmallOptions());
  EXPECT_EQ(index.Add(1, "s", std::vector<float>(3, 0.5f)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(index.size(), 0u);
}

TEST(SemanticIndexTest, EvictsOldestFirstWhenFullAndReportsIt) {
  SemanticIndexOptions options = SmallOptions();
  options.max_entries = 100;
  SemanticIndex index(options);
  std::mt19937 rng(5);
  std::vector<uint64_t> evicted;
  std::vector<std::vector<float>> vs;
  for (uint64_t id = 0; id < 130; ++id) {
    vs.push_back(RandomUnit(rng));
    auto result = index.Add(id, id % 3 == 0 ? "graph-or-flat" : "other", vs.back());
    ASSERT_TRUE(result.ok());
    evicted.insert(evicted.end(), result->begin(), result->end());
  }
  EXPECT_EQ(index.size(), 100u);
  std::vector<uint64_t> expected;
  for (uint64_t id = 0; id < 30; ++id) expected.push_back(id);
  EXPECT_EQ(evicted, expected);
  for (uint64_t id = 0; id < 130; ++id) EXPECT_EQ(index.Contains(id), id >= 30) << id;
  for (const SemanticMatch& m : index.Search("other", vs[1], 200)) EXPECT_GE(m.id, 30u);
}

TEST(SemanticIndexTest, FifoChurnInAGraphDoesNotGrowMemory) {
  SemanticIndexOptions options = SmallOptions();
  options.max_entries = 300;
  SemanticIndex index(options);
  std::mt19937 rng(6);
  for (uint64_t id = 0; id < 300; ++id) ASSERT_TRUE(index.Add(id, "s", RandomUnit(rng)).ok());
  size_t full = index.memory_bytes();
  std::vector<float> last;
  for (uint64_t id = 300; id < 1500; ++id) {
    last = RandomUnit(rng);
    auto result = index.Add(id, "s", last);
    ASSERT_TRUE(result.ok());
    ASSERT_EQ(result->size(), 1u);
    EXPECT_EQ(result->at(0), id - 300);
  }
  EXPECT_EQ(index.size(), 300u);
  // Slots are reused: no growth beyond the free-slot list's few bytes.
  EXPECT_LE(index.memory_bytes(), full + 1024);
  EXPECT_EQ(index.Search("s", last, 1).at(0).id, 1499u);  // Reused slots are searchable.
}

TEST(SemanticIndexTest, ByteBoundEvicts) {
  SemanticIndexOptions options = SmallOptions();
  options.hnsw_min_entries = 1'000'000;  // Flat only: no per-graph fixed cost.
  options.max_bytes = 64 * 1024;
  SemanticIndex index(options);
  std::mt19937 rng(7);
  size_t evicted = 0;
  for (uint64_t id = 0; id < 2000; ++id) {
    auto result = index.Add(id, "s" + std::to_string(id % 7), RandomUnit(rng));
    ASSERT_TRUE(result.ok());
    evicted += result->size();
  }
  EXPECT_GT(evicted, 0u);
  EXPECT_EQ(index.size() + evicted, 2000u);
  EXPECT_LE(index.memory_bytes(), options.max_bytes);
}

TEST(SemanticIndexTest, ShrunkGraphScopeStaysCorrect) {
  SemanticIndex index(SmallOptions());
  std::mt19937 rng(8);
  std::vector<std::vector<float>> vs;
  for (uint64_t id = 0; id < 200; ++id) {
    vs.push_back(RandomUnit(rng));
    ASSERT_TRUE(index.Add(id, "s", vs.back()).ok());
  }
  size_t big = index.memory_bytes();
  for (uint64_t id = 0; id < 195; ++id) ASSERT_TRUE(index.Remove(id));  // Rebuilt, then flat.
  EXPECT_LT(index.memory_bytes(), big / 10);
  for (uint64_t id = 195; id < 200; ++id) EXPECT_EQ(index.Search("s", vs[id], 1).at(0).id, id);
  for (uint64_t id = 195; id < 200; ++id) ASSERT_TRUE(index.Remove(id));
  EXPECT_EQ(index.scope_count(), 0u);
  EXPECT_EQ(index.size(), 0u);
}

TEST(SemanticIndexTest, SearchesRunWhileAdding) {
  SemanticIndexOptions options = SmallOptions();
  options.max_entries = 400;
  SemanticIndex index(options);
  std::mt19937 seed_rng(9);
  auto probe = RandomUnit(seed_rng);
  std::atomic<bool> done{false};
  std::vector<std::jthread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!done.load()) {
        for (const SemanticMatch& m : index.Search("s", probe, 5)) ASSERT_LT(m.id, 2000u);
      }
    });
  }
  std::mt19937 rng(10);
  for (uint64_t id = 0; id < 2000; ++id) ASSERT_TRUE(index.Add(id, "s", RandomUnit(rng)).ok());
  done = true;
  readers.clear();
  EXPECT_EQ(index.size(), 400u);
}

// --- Dot product kernels -------------------------------------------------------------------

double ReferenceDot(const float* a, const float* b, size_t n, double* magnitude) {
  double sum = 0;
  *magnitude = 0;
  for (size_t i = 0; i < n; ++i) {
    sum += static_cast<double>(a[i]) * b[i];
    *magnitude += std::abs(static_cast<double>(a[i]) * b[i]);
  }
  return sum;
}

TEST(DotKernelTest, EveryKernelMatchesADoublePrecisionReference) {
  using internal::DotKernel;
  std::mt19937 rng(20);
  std::normal_distribution<float> normal;
  std::vector<float> a(1200), b(1200);
  for (float& x : a) x = normal(rng);
  for (float& x : b) x = normal(rng);
  int kernels_run = 0;
  for (DotKernel kernel : {DotKernel::kPlain, DotKernel::kAvx2, DotKernel::kAvx512}) {
    internal::DotFn dot = internal::DotFor(kernel);
    if (dot == nullptr) continue;  // This CPU lacks it; the plain kernel always runs.
    ++kernels_run;
    // Every length up to 130 (all tails of 8, 16, 32 and 64 wide loops), the embedders' sizes,
    // and odd offsets so that no load is aligned.
    std::vector<size_t> lengths;
    for (size_t n = 0; n <= 130; ++n) lengths.push_back(n);
    for (size_t n : {255, 256, 384, 385, 768, 1024, 1100}) lengths.push_back(n);
    for (size_t n : lengths) {
      for (size_t offset : {0, 1, 3}) {
        double magnitude = 0;
        double want = ReferenceDot(a.data() + offset, b.data() + 2 * offset, n, &magnitude);
        float got = dot(a.data() + offset, b.data() + 2 * offset, n);
        EXPECT_NEAR(got, want, 1e-5 * magnitude + 1e-6)
            << internal::DotKernelName(kernel) << " n=" << n << " offset=" << offset;
      }
    }
  }
  EXPECT_GE(kernels_run, 1);
  EXPECT_NE(internal::DotFor(internal::BestDotKernel()), nullptr);
}

TEST(DotKernelTest, KernelsReadNothingPastTheVectors) {
  // Vectors that end where a PROT_NONE page begins: any read past their end faults.
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* mem = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  char* base = static_cast<char*>(mem);
  ASSERT_EQ(mprotect(base + page, page, PROT_NONE), 0);
  float* a_end = reinterpret_cast<float*>(base + page);
  for (size_t i = 1; i <= 64; ++i) a_end[-static_cast<std::ptrdiff_t>(i)] = 1.0f;
  for (auto kernel :
       {internal::DotKernel::kPlain, internal::DotKernel::kAvx2, internal::DotKernel::kAvx512}) {
    internal::DotFn dot = internal::DotFor(kernel);
    if (dot == nullptr) continue;
    for (size_t n = 0; n <= 63; ++n) {
      const float* v = a_end - n;
      EXPECT_EQ(dot(v, v, n), static_cast<float>(n)) << internal::DotKernelName(kernel);
    }
  }
  munmap(mem, 2 * page);
}

// --- AddBatch ------------------------------------------------------------------------------

struct BatchData {
  std::vector<std::vector<float>> vectors;
  std::vector<std::string> scopes;
  std::vector<SemanticItem> items;
};

// `n` items over a big scope (a graph), two middling ones and many single-entry ones, with a
// few ids repeated later (a re-add moves the entry).
BatchData MakeBatch(size_t n, uint32_t seed) {
  BatchData d;
  std::mt19937 rng(seed);
  d.vectors.reserve(n);
  d.scopes.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    d.vectors.push_back(RandomUnit(rng));
    if (i % 10 < 6) {
      d.scopes.push_back("big");
    } else if (i % 10 < 8) {
      d.scopes.push_back(i % 2 == 0 ? "mid-a" : "mid-b");
    } else {
      d.scopes.push_back("tiny-" + std::to_string(i));
    }
  }
  for (size_t i = 0; i < n; ++i) {
    uint64_t id = (i % 97 == 96) ? i - 50 : i;  // Every 97th item re-adds an earlier id.
    d.items.push_back(SemanticItem{id, d.scopes[i], d.vectors[i]});
  }
  return d;
}

TEST(SemanticIndexBatchTest, AddBatchEqualsSequentialAdds) {
  for (size_t threads : {1, 2, 4}) {
    SemanticIndexOptions options = SmallOptions();
    options.max_entries = 900;  // The batch evicts part of itself.
    options.build_threads = threads;
    BatchData d = MakeBatch(1500, 21);
    SemanticIndex sequential(options);
    SemanticIndex batched(options);
    std::vector<uint64_t> evicted_sequential;
    for (const SemanticItem& item : d.items) {
      auto result = sequential.Add(item.id, item.scope, item.vector);
      ASSERT_TRUE(result.ok());
      evicted_sequential.insert(evicted_sequential.end(), result->begin(), result->end());
    }
    auto evicted_batched = batched.AddBatch(d.items);
    ASSERT_TRUE(evicted_batched.ok()) << evicted_batched.status().ToString();
    EXPECT_EQ(*evicted_batched, evicted_sequential) << threads << " threads";
    EXPECT_EQ(batched.size(), sequential.size());
    EXPECT_EQ(batched.scope_count(), sequential.scope_count());
    for (const SemanticItem& item : d.items) {
      ASSERT_EQ(batched.Contains(item.id), sequential.Contains(item.id)) << item.id;
    }
    // Flat scopes are exact: the same answers. The graph scope is approximate: every live entry
    // must find itself in both.
    for (size_t i = 0; i < d.items.size(); ++i) {
      const SemanticItem& item = d.items[i];
      auto want = sequential.Search(item.scope, item.vector, 3);
      auto got = batched.Search(item.scope, item.vector, 3);
      if (item.scope == "big") {
        bool live = sequential.Contains(item.id) && !want.empty() &&
                    want[0].id == item.id;  // Not moved by a later re-add.
        if (live) {
          ASSERT_FALSE(got.empty());
          EXPECT_EQ(got[0].id, item.id) << threads << " threads";
          EXPECT_NEAR(got[0].similarity, 1.0f, 1e-3f);  // Graphs hold halves.
        }
        continue;
      }
      ASSERT_EQ(got.size(), want.size()) << item.scope;
      for (size_t j = 0; j < got.size(); ++j) {
        EXPECT_EQ(got[j].id, want[j].id) << item.scope;
        EXPECT_FLOAT_EQ(got[j].similarity, want[j].similarity);
      }
    }
    // Both keep evicting oldest-first afterwards, in step.
    std::mt19937 rng(22);
    for (uint64_t id = 5000; id < 5100; ++id) {
      auto v = RandomUnit(rng);
      auto a = sequential.Add(id, "big", v);
      auto b = batched.Add(id, "big", v);
      ASSERT_TRUE(a.ok() && b.ok());
      EXPECT_EQ(*a, *b);
    }
  }
}

TEST(SemanticIndexBatchTest, RejectsAWrongLengthNamingTheItemAndAddsNothing) {
  SemanticIndex index(SmallOptions());
  BatchData d = MakeBatch(20, 23);
  std::vector<float> short_vector(kDims - 1, 0.1f);
  d.items[7].vector = short_vector;
  auto result = index.AddBatch(d.items);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("item 7 (id 7)"), std::string::npos)
      << result.status().message();
  EXPECT_EQ(index.size(), 0u);
}

TEST(SemanticIndexBatchTest, ReportsProgressWithTheLockReleased) {
  SemanticIndexOptions options = SmallOptions();
  options.build_threads = 2;
  SemanticIndex index(options);
  std::mt19937 rng(24);
  std::vector<std::vector<float>> vectors;
  std::vector<SemanticItem> items;
  for (uint64_t id = 0; id < 3000; ++id) vectors.push_back(RandomUnit(rng));
  for (uint64_t id = 0; id < 3000; ++id) items.push_back({id, "s", vectors[id]});
  std::vector<size_t> reported;
  auto result = index.AddBatch(items, [&](size_t done, size_t total) {
    EXPECT_EQ(total, 3000u);
    // Callable into the index: proves the lock is free, and the prefix is fully in.
    EXPECT_EQ(index.size(), done);
    auto top = index.Search("s", vectors[done - 1], 1);
    EXPECT_FALSE(top.empty());
    reported.push_back(done);
  });
  ASSERT_TRUE(result.ok());
  ASSERT_FALSE(reported.empty());
  EXPECT_TRUE(std::is_sorted(reported.begin(), reported.end()));
  EXPECT_EQ(reported.back(), 3000u);
  int self_found = 0;
  for (uint64_t id = 0; id < 3000; ++id)
    self_found += index.Search("s", vectors[id], 1).at(0).id == id;
  EXPECT_GE(self_found, 2990);  // HNSW is approximate; in practice all.
}

TEST(SemanticIndexBatchTest, SearchesRunDuringAddBatch) {
  SemanticIndexOptions options = SmallOptions();
  options.build_threads = 2;
  options.max_entries = 2500;
  SemanticIndex index(options);
  std::mt19937 rng(25);
  std::vector<std::vector<float>> vectors;
  std::vector<SemanticItem> items;
  for (uint64_t id = 0; id < 6000; ++id) vectors.push_back(RandomUnit(rng));
  for (uint64_t id = 0; id < 6000; ++id) items.push_back({id, "s", vectors[id]});
  std::atomic<bool> done{false};
  std::atomic<size_t> searches{0};
  std::vector<std::jthread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      size_t i = static_cast<size_t>(t);
      while (!done.load()) {
        for (const SemanticMatch& m : index.Search("s", vectors[i++ % 6000], 5)) {
          ASSERT_LT(m.id, 6000u);
          ASSERT_LE(m.similarity, 1.002f);  // Graphs hold halves.
        }
        ++searches;
      }
    });
  }
  auto evicted = index.AddBatch(items);
  done = true;
  readers.clear();
  ASSERT_TRUE(evicted.ok());
  EXPECT_EQ(evicted->size(), 3500u);
  EXPECT_EQ(index.size(), 2500u);
  EXPECT_GT(searches.load(), 0u);
  for (uint64_t id = 3500; id < 6000; id += 7)
    EXPECT_EQ(index.Search("s", vectors[id], 1).at(0).id, id);
}

TEST(SemanticIndexTest, ByteBoundHoldsForGraphsWithTheirSpareSlots) {
  SemanticIndexOptions options = SmallOptions();
  options.max_entries = 1'000'000;
  options.max_bytes = 4 << 20;  // Room for the graph's fixed 2.6 MB and a few thousand entries.
  SemanticIndex index(options);
  std::mt19937 rng(26);
  size_t evicted = 0;
  size_t most = 0;
  for (uint64_t id = 0; id < 8000; ++id) {
    auto result = index.Add(id, "s", RandomUnit(rng));
    ASSERT_TRUE(result.ok());
    evicted += result->size();
    ASSERT_LE(index.memory_bytes(), options.max_bytes) << "after " << id;
    most = std::max(most, index.size());
  }
  EXPECT_GT(evicted, 0u);
  EXPECT_GT(most, 1000u);  // The bound is used, not just respected.
}

// --- Half precision ------------------------------------------------------------------------

TEST(HalfTest, ConvertsKnownValuesAsIeeeBinary16) {
  using internal::FloatToHalf;
  using internal::HalfToFloat;
  // Encodings from the IEEE 754 binary16 layout: sign, 5 exponent bits (bias 15), 10 mantissa.
  EXPECT_EQ(FloatToHalf(0.0f), 0x0000);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(0.5f), 0x3800);
  EXPECT_EQ(FloatToHalf(0.1f), 0x2e66);
  EXPECT_EQ(FloatToHalf(1.0f / 3), 0x3555);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);  // Largest half.
  EXPECT_EQ(FloatToHalf(65519.0f), 0x7bff);  // Rounds down to it...
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);  // ...or, from the tie up, to infinity.
  EXPECT_EQ(FloatToHalf(1e9f), 0x7c00);
  EXPECT_EQ(FloatToHalf(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::quiet_NaN()) & 0x7c00, 0x7c00);
  EXPECT_NE(FloatToHalf(std::numeric_limits<float>::quiet_NaN()) & 0x03ff, 0);
  EXPECT_EQ(FloatToHalf(0x1p-14f), 0x0400);  // Smallest normal.
  EXPECT_EQ(FloatToHalf(0x1p-24f), 0x0001);  // Smallest subnormal.
  EXPECT_EQ(FloatToHalf(0x1p-25f), 0x0000);  // Tie: to even, zero.
  EXPECT_EQ(FloatToHalf(0x1.8p-25f), 0x0001);
  EXPECT_EQ(FloatToHalf(0x3p-24f), 0x0003);
  EXPECT_EQ(FloatToHalf(0x2.8p-24f), 0x0002);       // Tie between 2 and 3 units: to even.
  EXPECT_EQ(FloatToHalf(0x3.8p-24f), 0x0004);       // Tie between 3 and 4 units: to even.
  EXPECT_EQ(FloatToHalf(1.0f + 0x1p-11f), 0x3c00);  // Tie: to even (down).
  EXPECT_EQ(FloatToHalf(1.0f + 0x3p-11f), 0x3c02);  // Tie: to even (up).
  EXPECT_EQ(HalfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xc000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x0001), 0x1p-24f);
  EXPECT_EQ(HalfToFloat(0x8001), -0x1p-24f);
  EXPECT_EQ(HalfToFloat(0x7bff), 65504.0f);
  EXPECT_TRUE(std::isinf(HalfToFloat(0x7c00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7e00)));
}

TEST(HalfTest, EveryHalfRoundTripsAndFloatsRoundToTheNearest) {
  using internal::FloatToHalf;
  using internal::HalfToFloat;
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = HalfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToHalf(f), h) << std::hex << h;
  }
  // A float lies between two consecutive halves; the nearer one is chosen.
  std::mt19937 rng(27);
  std::uniform_real_distribution<float> uniform(-70000.0f, 70000.0f);
  std::normal_distribution<float> small(0.0f, 0.05f);
  for (int i = 0; i < 200000; ++i) {
    float f = i % 2 == 0 ? uniform(rng) : small(rng);
    uint16_t h = FloatToHalf(f);
    float rounded = HalfToFloat(h);
    if (std::isinf(rounded)) {
      ASSERT_GE(std::abs(f), 65520.0f);
      continue;
    }
    uint16_t up = static_cast<uint16_t>(h + 1);
    uint16_t down = static_cast<uint16_t>(h - 1);
    for (uint16_t other : {up, down}) {
      float neighbour = HalfToFloat(other);
      if (std::isnan(neighbour) || (other & 0x7fff) == 0x7fff) continue;
      if (((other ^ h) & 0x8000) != 0) continue;  // Wrapped across the sign.
      ASSERT_LE(std::abs(static_cast<double>(rounded) - f),
                std::abs(static_cast<double>(neighbour) - f))
          << f;
    }
  }
}

#ifdef SOBRE_DOT_X86
__attribute__((target("f16c"))) uint16_t HardwareHalf(float f) {
  return static_cast<uint16_t>(
      _mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(f), _MM_FROUND_TO_NEAREST_INT), 0));
}

TEST(HalfTest, MatchesTheCpusOwnConversion) {
  if (!__builtin_cpu_supports("f16c")) GTEST_SKIP() << "no F16C";
  std::mt19937 rng(28);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 1'000'000; ++i) {
    float f = std::bit_cast<float>(bits(rng));
    if (std::isnan(f)) continue;
    ASSERT_EQ(internal::FloatToHalf(f), HardwareHalf(f)) << std::hexfloat << f;
  }
}
#endif

TEST(HalfTest, HalfDotKernelsMatchAReferenceOnTheRoundedValues) {
  using internal::DotKernel;
  std::mt19937 rng(29);
  std::normal_distribution<float> normal;
  std::vector<uint16_t> a(1200), b(1200);
  for (uint16_t& x : a) x = internal::FloatToHalf(normal(rng));
  for (uint16_t& x : b) x = internal::FloatToHalf(normal(rng));
  int kernels_run = 0;
  for (DotKernel kernel : {DotKernel::kPlain, DotKernel::kAvx2, DotKernel::kAvx512}) {
    internal::DotHalfFn dot = internal::DotHalfFor(kernel);
    if (dot == nullptr) continue;
    ++kernels_run;
    for (size_t n : {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100, 384, 385, 1100}) {
      for (size_t offset : {0, 1, 3}) {
        double want = 0;
        double magnitude = 0;
        for (size_t i = 0; i < n; ++i) {
          double p = static_cast<double>(internal::HalfToFloat(a[offset + i])) *
                     internal::HalfToFloat(b[2 * offset + i]);
          want += p;
          magnitude += std::abs(p);
        }
        EXPECT_NEAR(dot(a.data() + offset, b.data() + 2 * offset, n), want, 1e-5 * magnitude + 1e-6)
            << internal::DotKernelName(kernel) << " n=" << n;
      }
    }
  }
  EXPECT_GE(kernels_run, 1);
}

// --- Graph search --------------------------------------------------------------------------

// The index's prefetching walk must give exactly hnswlib's answers: same graph, same order.
TEST(SemanticIndexSearchTest, OwnGraphWalkEqualsHnswlibSearch) {
  for (bool half : {true, false}) {
    SemanticIndexOptions options = SmallOptions();
    options.hnsw_half = half;
    SemanticIndex index(options);
    std::mt19937 rng(30);
    std::vector<std::vector<float>> vs;
    for (uint64_t id = 0; id < 3000; ++id) {
      vs.push_back(RandomUnit(rng));
      ASSERT_TRUE(index.Add(id, "s", vs.back()).ok());
    }
    for (int round = 0; round < 2; ++round) {
      for (int q = 0; q < 300; ++q) {
        auto query = q % 2 == 0 ? RandomUnit(rng) : vs[static_cast<size_t>(q) * 7 % 3000];
        for (size_t k : {1, 4, 70}) {
          auto own = index.Search("s", query, k);
          auto reference = index.Search("s", query, k, {.hnswlib_search = true});
          ASSERT_EQ(own.size(), reference.size()) << k;
          for (size_t i = 0; i < own.size(); ++i) {
            EXPECT_EQ(own[i].id, reference[i].id) << "half=" << half << " k=" << k;
            EXPECT_EQ(own[i].similarity, reference[i].similarity);
          }
        }
      }
      // Then with deleted nodes, which the walk passes through but never returns.
      if (round == 0) {
        for (uint64_t id = 0; id < 3000; id += 3) ASSERT_TRUE(index.Remove(id));
      }
    }
  }
}

TEST(SemanticIndexSearchTest, WiderBeamFindsAtLeastAsMuch) {
  SemanticIndexOptions options = SmallOptions();
  options.hnsw_ef_search = 8;
  SemanticIndex index(options);
  std::mt19937 rng(31);
  std::vector<std::vector<float>> vs;
  for (uint64_t id = 0; id < 3000; ++id) {
    vs.push_back(RandomUnit(rng));
    ASSERT_TRUE(index.Add(id, "s", vs.back()).ok());
  }
  int narrow = 0;
  int wide = 0;
  for (int q = 0; q < 300; ++q) {
    auto query = RandomUnit(rng);
    // Exact answer by brute force over the same half-rounded similarities is not needed: the
    // best similarity found can only grow with the beam.
    float a = index.Search("s", query, 1).at(0).similarity;
    float b = index.Search("s", query, 1, {.ef = 200}).at(0).similarity;
    EXPECT_GE(b, a);
    narrow += a >= b;
    wide += b > a;
  }
  EXPECT_GT(wide, 0);  // ef 8 in 32 dimensions misses some: the option has an effect.
}

TEST(SemanticIndexSearchTest, HalfPrecisionGraphsKeepSimilaritiesClose) {
  SemanticIndex index(SmallOptions());  // Half precision by default.
  std::mt19937 rng(32);
  std::vector<std::vector<float>> vs;
  for (uint64_t id = 0; id < 500; ++id) {
    vs.push_back(RandomUnit(rng));
    ASSERT_TRUE(index.Add(id, "s", vs.back()).ok());
  }
  for (int q = 0; q < 200; ++q) {
    auto query = RandomUnit(rng);
    for (const SemanticMatch& m : index.Search("s", query, 5)) {
      double exact = 0;
      for (int d = 0; d < kDims; ++d) exact += static_cast<double>(query[d]) * vs[m.id][d];
      EXPECT_NEAR(m.similarity, exact, 1e-3);
    }
  }
}

}  // namespace
}  // namespace sobre::cache
