// ExactCache: LRU under a byte bound, TTL on an injected clock, tenant isolation, write-through
// persistence across a restart, purge, and the hit / avoided-footprint statistics.
#include "cache/exact_cache.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <thread>

#include "core/clock.h"

namespace sobre::cache {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/sobre_exact_cache_test_XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

ExactCacheEntry Answer(std::string key, std::string tenant = "team-a",
                       std::string model = "qwen", size_t body_bytes = 100) {
  ExactCacheEntry e;
  e.key = std::move(key);
  e.tenant = std::move(tenant);
  e.model = std::move(model);
  e.endpoint = "chat.completions";
  e.body = std::string(body_bytes, 'x');
  e.prompt_tokens = 10;
  e.completion_tokens = 20;
  e.energy_wh = 0.5;
  e.co2e_g = 0.25;
  e.water_ml = 1;
  e.embodied_co2e_g = 0.01;
  e.method = "measured";
  return e;
}

// What one Answer(key) counts against the bound once Put() has given it its 32-character id.
size_t StoredBytes(std::string key) {
  ExactCacheEntry e = Answer(std::move(key));
  e.id = std::string(32, '0');
  return ExactCache::EntryBytes(e);
}

class ExactCacheTest : public ::testing::Test {
 protected:
  std::unique_ptr<ExactCache> OpenCache(store::Store* store, ExactCacheOptions options = {}) {
    auto cache = ExactCache::Open(store, options, clock_.WallNow());
    EXPECT_TRUE(cache.ok()) << cache.status().ToString();
    return cache.ok() ? std::move(cache).value() : nullptr;
  }
  std::unique_ptr<store::Store> OpenStore() {
    auto store = store::OpenStore("sqlite://" + dir_.path() + "/sobre.db");
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }
  store::TimePoint Now() const { return clock_.WallNow(); }

  FakeClock clock_{std::chrono::sys_days(std::chrono::year(2024) / 11 / 5)};
  TempDir dir_;
};

TEST_F(ExactCacheTest, ReturnsWhatWasPutWithItsFootprintAndTimes) {
  auto cache = OpenCache(nullptr);
  ASSERT_NE(cache, nullptr);
  EXPECT_FALSE(cache->Get("k", "team-a", Now()).has_value());
  auto id = cache->Put(Answer("k"), Now());
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->size(), 32u);
  auto hit = cache->Get("k", "team-a", Now());
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->id, *id);
  EXPECT_EQ(hit->body, std::string(100, 'x'));
  EXPECT_EQ(hit->energy_wh, 0.5);
  EXPECT_EQ(hit->method, "measured");
  EXPECT_EQ(hit->created, Now());
  EXPECT_EQ(hit->expires, Now() + hours(24));
}

TEST_F(ExactCacheTest, AKeyNeverSeesAnotherTenantsEntry) {
  auto cache = OpenCache(nullptr);
  ASSERT_NE(cache, nullptr);
  ASSERT_TRUE(cache->Put(Answer("same-key", "team-a"), Now()));
  EXPECT_FALSE(cache->Get("same-key", "team-b", Now()).has_value());
  EXPECT_FALSE(cache->Get("same-key", "", Now()).has_value());
  EXPECT_TRUE(cache->Get("same-key", "team-a", Now()).has_value());
  // A second tenant's entry under the same key does not replace the first.
  ExactCacheEntry b = Answer("same-key", "team-b");
  b.body = "b's answer";
  ASSERT_TRUE(cache->Put(b, Now()));
  EXPECT_EQ(cache->Get("same-key", "team-a", Now())->body, std::string(100, 'x'));
  EXPECT_EQ(cache->Get("same-key", "team-b", Now())->body, "b's answer");
}

TEST_F(ExactCacheTest, ExpiresAfterTheTtlOnTheInjectedClock) {
  ExactCacheOptions options;
  options.ttl = minutes(10);
  auto cache = OpenCache(nullptr, options);
  ASSERT_NE(cache, nullptr);
  ASSERT_TRUE(cache->Put(Answer("k"), Now()));
  clock_.Advance(minutes(10) - seconds(1));
  EXPECT_TRUE(cache->Get("k", "team-a", Now()).has_value()) << "a hit does not extend the TTL";
  clock_.Advance(seconds(1));
  EXPECT_FALSE(cache->Get("k", "team-a", Now()).has_value());
  const ExactCacheStats stats = cache->Stats();
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_EQ(stats.bytes, 0u);
  EXPECT_EQ(stats.expirations, 1u);
}

TEST_F(ExactCacheTest, EvictsTheLeastRecentlyUsedPastTheByteBound) {
  const size_t one = StoredBytes("k0");
  ExactCacheOptions options;
  options.max_bytes = 3 * one;
  auto cache = OpenCache(nullptr, options);
  ASSERT_NE(cache, nullptr);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(cache->Put(Answer("k" + std::to_string(i)), Now()));
  ASSERT_TRUE(cache->Get("k0", "team-a", Now()));  // k1 is now the least recently used.
  ASSERT_TRUE(cache->Put(Answer("k3"), Now()));
  EXPECT_FALSE(cache->Get("k1", "team-a", Now()).has_value());
  for (const char* k : {"k0", "k2", "k3"}) EXPECT_TRUE(cache->Get(k, "team-a", Now())) << k;
  EXPECT_EQ(cache->Stats().evictions, 1u);
  EXPECT_EQ(cache->Stats().bytes, 3 * one);

  // One large answer pushes out as many as it needs; one larger than the bound is refused.
  ASSERT_TRUE(cache->Put(Answer("big", "team-a", "qwen", 100 + 2 * one - 64), Now()));
  EXPECT_EQ(cache->Stats().entries, 1u);
  EXPECT_LE(cache->Stats().bytes, 3 * one);
  EXPECT_FALSE(cache->Put(Answer("huge", "team-a", "qwen", 3 * one), Now()).has_value());
  EXPECT_TRUE(cache->Get("big", "team-a", Now()));
}

TEST_F(ExactCacheTest, ReplacingAnEntryKeepsOneCopy) {
  auto cache = OpenCache(nullptr);
  ASSERT_NE(cache, nullptr);
  ASSERT_TRUE(cache->Put(Answer("k"), Now()));
  ExactCacheEntry fresh = Answer("k");
  fresh.body = "fresh";
  ASSERT_TRUE(cache->Put(fresh, Now()));
  EXPECT_EQ(cache->Stats().entries, 1u);
  EXPECT_EQ(cache->Stats().bytes, ExactCache::EntryBytes(*cache->Get("k", "team-a", Now())));
  EXPECT_EQ(cache->Get("k", "team-a", Now())->body, "fresh");
}

TEST_F(ExactCacheTest, StatsCountHitsMissesAndTheFootprintAvoided) {
  auto cache = OpenCache(nullptr);
  ASSERT_NE(cache, nullptr);
  ExactCacheEntry a = Answer("a");
  a.energy_wh = 2.0;
  a.co2e_g = 0.8;
  ASSERT_TRUE(cache->Put(a, Now()));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(cache->Get("a", "team-a", Now()));
  EXPECT_FALSE(cache->Get("b", "team-a", Now()));
  EXPECT_FALSE(cache->Get("a", "team-b", Now()));
  const ExactCacheStats stats = cache->Stats();
  EXPECT_EQ(stats.hits, 3u);
  EXPECT_EQ(stats.misses, 2u);
  EXPECT_DOUBLE_EQ(stats.avoided_energy_wh, 6.0);
  EXPECT_DOUBLE_EQ(stats.avoided_co2e_g, 2.4);
  EXPECT_EQ(stats.entries, 1u);
}

TEST_F(ExactCacheTest, SurvivesARestartOnTheSameStore) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id;
  {
    auto cache = OpenCache(store.get());
    ASSERT_NE(cache, nullptr);
    id = cache->Put(Answer("kept"), Now()).value();
    ASSERT_TRUE(cache->Put(Answer("other", "team-b"), Now()));
    ASSERT_TRUE(cache->Flush().ok());
  }
  store.reset();
  store = OpenStore();  // A new process: nothing in memory.
  ASSERT_NE(store, nullptr);
  clock_.Advance(hours(1));
  auto cache = OpenCache(store.get());
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(cache->Stats().entries, 2u);
  auto hit = cache->Get("kept", "team-a", Now());
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->id, id);
  EXPECT_EQ(hit->energy_wh, 0.5);
  EXPECT_EQ(hit->body, std::string(100, 'x'));
  EXPECT_FALSE(cache->Get("kept", "team-b", Now()));
}

TEST_F(ExactCacheTest, ExpiredAndEvictedEntriesLeaveTheStoreToo) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const size_t one = StoredBytes("k0");
  ExactCacheOptions options;
  options.max_bytes = 2 * one;
  options.ttl = minutes(10);
  {
    auto cache = OpenCache(store.get(), options);
    ASSERT_NE(cache, nullptr);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(cache->Put(Answer("k" + std::to_string(i)), Now()));
    ASSERT_TRUE(cache->Flush().ok());
    EXPECT_EQ(store->LoadCacheEntries(Now(), 10)->size(), 2u) << "k0 was evicted";
    clock_.Advance(minutes(5));
    ASSERT_TRUE(cache->Put(Answer("late"), Now()));  // Evicts k1.
    clock_.Advance(minutes(5));
    EXPECT_FALSE(cache->Get("k2", "team-a", Now())) << "expired";
    ASSERT_TRUE(cache->Flush().ok());
    auto rows = store->LoadCacheEntries(Now() - hours(1), 10);
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ(rows->front().key, "late");
  }
  // Restarted after "late" expired too: nothing is loaded and the row is deleted.
  clock_.Advance(minutes(10));
  auto cache = OpenCache(store.get(), options);
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(cache->Stats().entries, 0u);
  EXPECT_TRUE(store->LoadCacheEntries(Now() - hours(1), 10)->empty());
}

TEST_F(ExactCacheTest, LoadsTheMostRecentEntriesUpToTheBound) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const size_t one = StoredBytes("k0");
  {
    auto cache = OpenCache(store.get());
    ASSERT_NE(cache, nullptr);
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE(cache->Put(Answer("k" + std::to_string(i)), Now()));
      clock_.Advance(seconds(1));
    }
  }  // The destructor applies the queued writes.
  ExactCacheOptions small;
  small.max_bytes = 2 * one + one / 2;
  auto cache = OpenCache(store.get(), small);
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(cache->Stats().entries, 2u);
  EXPECT_TRUE(cache->Get("k3", "team-a", Now()));
  EXPECT_TRUE(cache->Get("k2", "team-a", Now()));
  EXPECT_FALSE(cache->Get("k1", "team-a", Now()));
}

TEST_F(ExactCacheTest, PurgeByTenantOrModelFromMemoryAndStore) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto cache = OpenCache(store.get());
  ASSERT_NE(cache, nullptr);
  ASSERT_TRUE(cache->Put(Answer("1", "team-a", "qwen"), Now()));
  ASSERT_TRUE(cache->Put(Answer("2", "team-a", "llama"), Now()));
  ASSERT_TRUE(cache->Put(Answer("3", "team-b", "qwen"), Now()));
  ASSERT_TRUE(cache->Put(Answer("4", "team-b", "llama"), Now()));
  auto purged = cache->Purge(std::string("team-a"), std::string("qwen"));
  ASSERT_TRUE(purged.ok()) << purged.status().ToString();
  EXPECT_EQ(*purged, 1);
  EXPECT_FALSE(cache->Get("1", "team-a", Now()));
  EXPECT_EQ(*cache->Purge(std::nullopt, std::string("llama")), 2);
  EXPECT_EQ(cache->Stats().entries, 1u);
  EXPECT_EQ(*cache->Purge(std::string("team-b"), std::nullopt), 1);
  EXPECT_EQ(cache->Stats().entries, 0u);
  EXPECT_TRUE(store->LoadCacheEntries(Now(), 10)->empty());

  auto memory_only = OpenCache(nullptr);
  ASSERT_TRUE(memory_only->Put(Answer("1"), Now()));
  EXPECT_EQ(*memory_only->Purge(std::nullopt, std::nullopt), 1);
}

TEST_F(ExactCacheTest, ConcurrentGetsAndPutsStayWithinTheBound) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const size_t one = StoredBytes("k00");
  ExactCacheOptions options;
  options.max_bytes = 20 * one;
  auto cache = OpenCache(store.get(), options);
  ASSERT_NE(cache, nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string key = "k" + std::to_string((t * 7 + i) % 50);
        if (!cache->Get(key, "team-a", Now())) cache->Put(Answer(key), Now());
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(cache->Flush().ok());
  const ExactCacheStats stats = cache->Stats();
  EXPECT_LE(stats.bytes, options.max_bytes);
  EXPECT_EQ(stats.hits + stats.misses, 800u);
  EXPECT_EQ(store->LoadCacheEntries(Now(), 100)->size(), stats.entries)
      << "the store keeps what memory keeps";
}

}  // namespace
}  // namespace sobre::cache
