// The Store contract for the ledger (group commit, ordering, nothing lost at shutdown) and for
// migrations, on both backends.
#include <algorithm>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "store/store.h"
#include "tests/store/store_test_fixture.h"

namespace sobre::store::test {
namespace {

// ---- Ledger ----

TEST_P(StoreTest, LedgerReadsBackInTimeOrderWithinTheRange) {
  StoreOptions options;
  options.ledger_max_batch = 64;
  auto store = Open(options);
  ASSERT_NE(store, nullptr);
  const TimePoint t0 = Utc(2024, 9, 1) + std::chrono::microseconds(123456);
  std::vector<int> order(1000);
  for (int i = 0; i < 1000; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(42));
  for (int i : order) store->Append(MakeRow(i, t0 + seconds(i)));
  ASSERT_TRUE(store->Flush().ok());

  auto all = store->ReadLedger(t0, t0 + seconds(1000), 5000);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 1000u);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ((*all)[i].request_id, "req-" + std::to_string(i));
  ExpectSameRow((*all)[5], MakeRow(5, t0 + seconds(5)));
  ExpectSameRow((*all)[8], MakeRow(8, t0 + seconds(8)));  // With avoided figures.
  ExpectSameRow((*all)[998], MakeRow(998, t0 + seconds(998)));

  auto window = store->ReadLedger(t0 + seconds(10), t0 + seconds(20), 100);
  ASSERT_TRUE(window.ok());
  ASSERT_EQ(window->size(), 10u) << "from is inclusive, to exclusive";
  EXPECT_EQ(window->front().request_id, "req-10");
  EXPECT_EQ(window->back().request_id, "req-19");
  auto limited = store->ReadLedger(t0, t0 + seconds(1000), 3);
  ASSERT_TRUE(limited.ok());
  ASSERT_EQ(limited->size(), 3u);
  EXPECT_EQ(limited->back().request_id, "req-2");
  EXPECT_TRUE(store->ReadLedger(t0, t0 + seconds(1000), 0)->empty());
}

TEST_P(StoreTest, LedgerRowsWithTheSameTimeKeepAppendOrder) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const TimePoint t = Utc(2024, 9, 2);
  for (int i = 0; i < 50; ++i) store->Append(MakeRow(i, t));
  ASSERT_TRUE(store->Flush().ok());
  auto rows = store->ReadLedger(t, t + seconds(1), 100);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ((*rows)[i].request_id, "req-" + std::to_string(i));
}

TEST_P(StoreTest, LedgerCommitsAfterTheIntervalWithoutFlush) {
  StoreOptions options;
  options.ledger_flush_interval = milliseconds(50);
  auto store = Open(options);
  ASSERT_NE(store, nullptr);
  const TimePoint t = Utc(2024, 9, 3);
  store->Append(MakeRow(1, t));
  bool seen = false;
  for (int i = 0; i < 100 && !seen; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
    seen = store->ReadLedger(t, t + seconds(1), 10)->size() == 1;
  }
  EXPECT_TRUE(seen) << "the writer commits on its own within the interval";
}

TEST_P(StoreTest, LedgerCommitsAFullBatchEarlyAndTheRestOnFlush) {
  StoreOptions options;
  options.ledger_flush_interval = hours(1);
  options.ledger_max_batch = 10;
  auto store = Open(options);
  ASSERT_NE(store, nullptr);
  const TimePoint t = Utc(2024, 9, 4);
  for (int i = 0; i < 11; ++i) store->Append(MakeRow(i, t + seconds(i)));
  size_t seen = 0;
  for (int i = 0; i < 100 && seen < 10; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
    seen = store->ReadLedger(t, t + hours(1), 100)->size();
  }
  EXPECT_EQ(seen, 10u) << "a full batch is committed without waiting an hour";
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(store->ReadLedger(t, t + hours(1), 100)->size(), 10u) << "the 11th waits";
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(store->ReadLedger(t, t + hours(1), 100)->size(), 11u);
}

TEST_P(StoreTest, NothingAppendedIsLostWhenTheStoreIsDestroyed) {
  const TimePoint t = Utc(2024, 9, 5);
  {
    StoreOptions options;
    options.ledger_flush_interval = hours(1);
    auto store = Open(options);
    ASSERT_NE(store, nullptr);
    std::vector<std::jthread> threads;
    for (int th = 0; th < 4; ++th) {
      threads.emplace_back([&, th] {
        for (int i = 0; i < 500; ++i) store->Append(MakeRow(th * 500 + i, t + seconds(i)));
      });
    }
  }
  auto reopened = Open();
  ASSERT_NE(reopened, nullptr);
  auto rows = reopened->ReadLedger(t, t + hours(1), 10000);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 2000u);
  std::set<std::string> ids;
  for (const LedgerRow& r : *rows) ids.insert(r.request_id);
  EXPECT_EQ(ids.size(), 2000u);
}

// ---- Migrations ----

TEST_P(StoreTest, MigrationsRunOnceAndReopeningKeepsEverything) {
  std::string secret;
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    NewKey spec;
    spec.name = "kept";
    auto created = store->CreateKey(spec);
    ASSERT_TRUE(created.ok());
    secret = created->second;
  }
  for (int i = 0; i < 2; ++i) {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    auto found = store->FindKeyBySecret(secret);
    ASSERT_TRUE(found.ok() && found->has_value());
    EXPECT_EQ(*store->CountLiveKeys(), 1);
  }
  EXPECT_EQ(Raw("SELECT count(*) FROM schema_migrations"), "3");
  EXPECT_EQ(Raw("SELECT max(version) FROM schema_migrations"), "3");
}

TEST_P(StoreTest, ADatabaseFromANewerSobreIsRefusedUntouched) {
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    NewKey spec;
    spec.name = "kept";
    ASSERT_TRUE(store->CreateKey(spec).ok());
  }
  Raw("INSERT INTO schema_migrations (version, name, applied_us) VALUES (99, 'future', 0)");
  auto refused = OpenStore(url_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("newer"), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(Raw("SELECT count(*) FROM api_keys"), "1");
}

}  // namespace
}  // namespace sobre::store::test
