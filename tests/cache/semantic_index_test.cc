#include "cache/semantic_index.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace sobre::cache
