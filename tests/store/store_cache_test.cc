// The Store contract for exact-cache entries (upsert per tenant and key, delete by id, load newest
// first without the expired, purge by filter), on both backends.
#include <limits>
#include <string>
#include <vector>

#include "store/store.h"
#include "tests/store/store_test_fixture.h"

namespace sobre::store::test {
namespace {

CacheEntryRecord MakeEntry(const std::string& id, const std::string& tenant,
                           const std::string& model, TimePoint created, TimePoint expires) {
  CacheEntryRecord e;
  e.id = id;
  e.key = "key-of-" + id;
  e.tenant = tenant;
  e.model = model;
  e.endpoint = "chat.completions";
  e.created = created;
  e.expires = expires;
  e.body = R"({"id":"chatcmpl-1","choices":[{"message":{"content":"héllo \"quoted\"\n"}}]})";
  e.prompt_tokens = 12;
  e.completion_tokens = 34;
  e.energy_wh = 0.0123;
  e.co2e_g = 0.00456;
  e.water_ml = 0.75;
  e.embodied_co2e_g = 0.0009;
  e.method = "measured";
  return e;
}

void ExpectSameEntry(const CacheEntryRecord& a, const CacheEntryRecord& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.tenant, b.tenant);
  EXPECT_EQ(a.model, b.model);
  EXPECT_EQ(a.endpoint, b.endpoint);
  EXPECT_EQ(a.created, b.created);
  EXPECT_EQ(a.expires, b.expires);
  EXPECT_EQ(a.body, b.body);
  EXPECT_EQ(a.prompt_tokens, b.prompt_tokens);
  EXPECT_EQ(a.completion_tokens, b.completion_tokens);
  EXPECT_EQ(a.energy_wh, b.energy_wh);
  EXPECT_EQ(a.co2e_g, b.co2e_g);
  EXPECT_EQ(a.water_ml, b.water_ml);
  EXPECT_EQ(a.embodied_co2e_g, b.embodied_co2e_g);
  EXPECT_EQ(a.method, b.method);
  EXPECT_EQ(a.semantic_scope, b.semantic_scope);
  EXPECT_EQ(a.query_text, b.query_text);
  EXPECT_EQ(a.embedder, b.embedder);
  EXPECT_EQ(a.embedding, b.embedding);  // Bit for bit, through the base64 text column.
}

std::vector<std::string> Ids(const std::vector<CacheEntryRecord>& entries) {
  std::vector<std::string> ids;
  for (const auto& e : entries) ids.push_back(e.id);
  return ids;
}

TEST_P(StoreTest, CacheEntriesLoadNewestFirstWithoutTheExpired) {
  const TimePoint t0 = Utc(2024, 10, 1) + std::chrono::microseconds(654321);
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->PutCacheEntry(MakeEntry("a", "t1", "m", t0, t0 + hours(1))).ok());
    ASSERT_TRUE(store->PutCacheEntry(MakeEntry("b", "t1", "m", t0 + seconds(2), t0 + hours(1))).ok());
    ASSERT_TRUE(store->PutCacheEntry(MakeEntry("c", "t2", "m", t0 + seconds(1), t0 + hours(1))).ok());
    ASSERT_TRUE(store->PutCacheEntry(MakeEntry("old", "t1", "m", t0, t0 + minutes(1))).ok());
  }
  auto store = Open();  // Entries survive a reopen.
  ASSERT_NE(store, nullptr);
  auto loaded = store->LoadCacheEntries(t0 + minutes(1), 100);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(Ids(*loaded), (std::vector<std::string>{"b", "c", "a"}))
      << "expires is exclusive: 'old' is dead at t0 + 1 min";
  ExpectSameEntry(loaded->back(), MakeEntry("a", "t1", "m", t0, t0 + hours(1)));
  auto two = store->LoadCacheEntries(t0, 2);
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(Ids(*two), (std::vector<std::string>{"b", "c"}));
  EXPECT_TRUE(store->LoadCacheEntries(t0, 0)->empty());
}

TEST_P(StoreTest, SemanticFieldsOfAnEntryRoundTripExactly) {
  const TimePoint t0 = Utc(2024, 10, 1);
  CacheEntryRecord e = MakeEntry("s", "t1", "m", t0, t0 + hours(1));
  e.semantic_scope = "2:t11:m" + std::string(64, 'f');
  e.query_text = "Wie alt ist er? \u00e9 \"quoted\"";
  e.embedder = "frugal-v1-384";
  for (int i = 0; i < 385; ++i) {  // Odd length: base64 padding.
    e.embedding.push_back(static_cast<float>(i) * -0.0123f + 1e-30f * static_cast<float>(i % 3));
  }
  e.embedding.push_back(std::numeric_limits<float>::denorm_min());
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->PutCacheEntry(e).ok());
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto loaded = store->LoadCacheEntries(t0, 10);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->size(), 1u);
  ExpectSameEntry(loaded->front(), e);
}

TEST_P(StoreTest, PutCacheEntryReplacesTheSameTenantAndKeyOnly) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const TimePoint t0 = Utc(2024, 10, 2);
  CacheEntryRecord first = MakeEntry("first", "t1", "m", t0, t0 + hours(1));
  first.key = "k";
  CacheEntryRecord other_tenant = MakeEntry("other", "t2", "m", t0, t0 + hours(1));
  other_tenant.key = "k";
  CacheEntryRecord second = MakeEntry("second", "t1", "m2", t0 + seconds(5), t0 + hours(2));
  second.key = "k";
  second.body = "{\"answer\":2}";
  second.energy_wh = 1.5;
  ASSERT_TRUE(store->PutCacheEntry(first).ok());
  ASSERT_TRUE(store->PutCacheEntry(other_tenant).ok());
  ASSERT_TRUE(store->PutCacheEntry(second).ok());
  auto loaded = store->LoadCacheEntries(t0, 10);
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(Ids(*loaded), (std::vector<std::string>{"second", "other"}));
  ExpectSameEntry((*loaded)[0], second);
  EXPECT_EQ(Raw("SELECT count(*) FROM cache_entries"), "2");
}

TEST_P(StoreTest, DeleteCacheEntriesByIdIgnoresUnknownIds) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const TimePoint t0 = Utc(2024, 10, 3);
  for (const char* id : {"a", "b", "c", "d\"quote"}) {
    ASSERT_TRUE(store->PutCacheEntry(MakeEntry(id, "t", "m", t0, t0 + hours(1))).ok());
  }
  const std::vector<std::string> ids = {"a", "c", "nope", "d\"quote"};
  auto deleted = store->DeleteCacheEntries(ids);
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_EQ(*deleted, 3);
  EXPECT_EQ(Ids(*store->LoadCacheEntries(t0, 10)), (std::vector<std::string>{"b"}));
  EXPECT_EQ(*store->DeleteCacheEntries({}), 0);
}

TEST_P(StoreTest, PurgeCacheEntriesByTenantModelAndExpiry) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const TimePoint t0 = Utc(2024, 10, 4);
  ASSERT_TRUE(store->PutCacheEntry(MakeEntry("t1m1", "t1", "m1", t0, t0 + hours(1))).ok());
  ASSERT_TRUE(store->PutCacheEntry(MakeEntry("t1m2", "t1", "m2", t0, t0 + hours(1))).ok());
  ASSERT_TRUE(store->PutCacheEntry(MakeEntry("t2m1", "t2", "m1", t0, t0 + hours(1))).ok());
  ASSERT_TRUE(store->PutCacheEntry(MakeEntry("t2m2", "t2", "m2", t0, t0 + minutes(5))).ok());
  ASSERT_TRUE(store->PutCacheEntry(MakeEntry("t3m1", "t3", "m1", t0, t0 + hours(1))).ok());

  CacheEntryFilter expired;
  expired.expired_at = t0 + minutes(5);
  EXPECT_EQ(*store->PurgeCacheEntries(expired), 1);
  CacheEntryFilter both;
  both.tenant = "t1";
  both.model = "m1";
  EXPECT_EQ(*store->PurgeCacheEntries(both), 1);
  CacheEntryFilter model;
  model.model = "m1";
  EXPECT_EQ(*store->PurgeCacheEntries(model), 2);
  EXPECT_EQ(Ids(*store->LoadCacheEntries(t0, 10)), (std::vector<std::string>{"t1m2"}));
  EXPECT_EQ(*store->PurgeCacheEntries(CacheEntryFilter{}), 1);
  EXPECT_TRUE(store->LoadCacheEntries(t0, 10)->empty());
}

}  // namespace
}  // namespace sobre::store::test
