// The ledger's group-commit writer, driven through a fake commit function.
#include "store/internal/ledger_writer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace sobre::store::internal {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;

// Records committed batches; fails the next `failures` commits. Thread-safe.
struct FakeDatabase {
  std::mutex mu;
  std::vector<std::vector<std::string>> batches;
  int failures = 0;
  std::chrono::microseconds delay{0};  // How long each commit takes.

  LedgerWriter::CommitFn Commit() {
    return [this](std::span<const LedgerRow> rows) -> Status {
      std::this_thread::sleep_for(delay);
      std::lock_guard lock(mu);
      if (failures > 0) {
        --failures;
        return UnavailableError("database is down");
      }
      std::vector<std::string> ids;
      for (const LedgerRow& r : rows) ids.push_back(r.request_id);
      batches.push_back(std::move(ids));
      return OkStatus();
    };
  }
  std::vector<std::string> All() {
    std::lock_guard lock(mu);
    std::vector<std::string> all;
    for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
    return all;
  }
  size_t BatchCount() {
    std::lock_guard lock(mu);
    return batches.size();
  }
};

LedgerRow Row(int i) {
  LedgerRow r;
  r.request_id = std::to_string(i);
  return r;
}

std::vector<std::string> Ids(int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back(std::to_string(i));
  return ids;
}

TEST(LedgerWriterTest, GroupsRowsIntoBatchesOfAtMostMaxBatch) {
  FakeDatabase db;
  StoreOptions options;
  options.ledger_flush_interval = hours(1);
  options.ledger_max_batch = 100;
  auto writer = LedgerWriter::Start(db.Commit(), options, "test");
  ASSERT_TRUE(writer.ok());
  for (int i = 0; i < 250; ++i) (*writer)->Append(Row(i));
  ASSERT_TRUE((*writer)->Flush().ok());
  EXPECT_EQ(db.All(), Ids(250));
  std::lock_guard lock(db.mu);
  ASSERT_GE(db.batches.size(), 3u);
  for (const auto& b : db.batches) EXPECT_LE(b.size(), 100u);
}

TEST(LedgerWriterTest, FlushWithNothingQueuedReturnsAtOnce) {
  FakeDatabase db;
  StoreOptions options;
  options.ledger_flush_interval = hours(1);
  auto writer = LedgerWriter::Start(db.Commit(), options, "test");
  ASSERT_TRUE(writer.ok());
  EXPECT_TRUE((*writer)->Flush().ok());
  EXPECT_EQ(db.BatchCount(), 0u);
}

TEST(LedgerWriterTest, AFailedCommitIsReportedByFlushAndRetriedInOrder) {
  FakeDatabase db;
  db.failures = 2;
  StoreOptions options;
  options.ledger_flush_interval = milliseconds(20);
  auto writer = LedgerWriter::Start(db.Commit(), options, "ledger of test");
  ASSERT_TRUE(writer.ok());
  for (int i = 0; i < 5; ++i) (*writer)->Append(Row(i));
  Status first = (*writer)->Flush();
  EXPECT_EQ(first.code(), StatusCode::kUnavailable);
  EXPECT_NE(first.message().find("ledger of test"), std::string::npos) << first.message();
  for (int i = 5; i < 8; ++i) (*writer)->Append(Row(i));
  // The rows stay queued: once the database is back everything arrives, in order.
  Status later;
  for (int attempt = 0; attempt < 10; ++attempt) {
    later = (*writer)->Flush();
    if (later.ok()) break;
  }
  EXPECT_TRUE(later.ok()) << later.ToString();
  EXPECT_EQ(db.All(), Ids(8));
}

TEST(LedgerWriterTest, DestructionCommitsWhatIsQueued) {
  FakeDatabase db;
  db.delay = std::chrono::microseconds(500);  // Rows are still queued when the writer stops.
  {
    StoreOptions options;
    options.ledger_flush_interval = hours(1);
    options.ledger_max_batch = 10;
    auto writer = LedgerWriter::Start(db.Commit(), options, "test");
    ASSERT_TRUE(writer.ok());
    std::vector<std::jthread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 250; ++i) (*writer)->Append(Row(t * 250 + i));
      });
    }
  }
  std::vector<std::string> all = db.All();
  EXPECT_EQ(all.size(), 1000u);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::unique(all.begin(), all.end()), all.end());
}

TEST(LedgerWriterTest, ConcurrentFlushesEachSeeTheirOwnRows) {
  FakeDatabase db;
  StoreOptions options;
  options.ledger_flush_interval = hours(1);
  options.ledger_max_batch = 7;
  auto writer = LedgerWriter::Start(db.Commit(), options, "test");
  ASSERT_TRUE(writer.ok());
  std::atomic<int> bad{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 20; ++i) {
          std::string id = std::to_string(t * 100 + i);
          LedgerRow r;
          r.request_id = id;
          (*writer)->Append(r);
          if (!(*writer)->Flush().ok()) ++bad;
          auto all = db.All();
          if (std::find(all.begin(), all.end(), id) == all.end()) ++bad;
        }
      });
    }
  }
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(db.All().size(), 160u);
}

}  // namespace
}  // namespace sobre::store::internal
