// The Store contract for budgets, on both backends: reserve/settle per UTC day and month,
// denials, and concurrent reservations from threads, Store objects and processes.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <atomic>
#include <cmath>
#include <set>
#include <thread>
#include <vector>

#include "store/store.h"
#include "tests/store/store_test_fixture.h"

extern char** environ;

namespace sobre::store::test {
namespace {

// ---- Budgets ----

TEST_P(StoreTest, ReservationsCountUntilSettledWithTheActualCost) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Limits limits;
  limits.tokens_per_day = 1000;
  ApiKey key = MakeKey(*store, "k", limits);
  const TimePoint now = Utc(2024, 3, 10, 12);

  auto r1 = store->Reserve(key, {600, 0.5, 0.2}, now);
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  ASSERT_TRUE(r1->granted);
  auto usage = store->Usage(key, now);
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(usage->first.tokens, 0) << "a reservation is not usage yet";

  auto r2 = store->Reserve(key, {500, 0, 0}, now);
  ASSERT_TRUE(r2.ok());
  EXPECT_FALSE(r2->granted);
  EXPECT_EQ(r2->limit_name, "tokens_per_day");
  EXPECT_EQ(r2->limit, 1000);
  EXPECT_EQ(r2->used, 600);

  ASSERT_TRUE(store->Settle(r1->id, {300, 0.25, 0.1}).ok());
  usage = store->Usage(key, now);
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(usage->first.tokens, 300);
  EXPECT_DOUBLE_EQ(usage->first.wh, 0.25);
  EXPECT_DOUBLE_EQ(usage->first.co2e_g, 0.1);
  EXPECT_EQ(usage->second.tokens, 300);
  EXPECT_DOUBLE_EQ(usage->second.wh, 0.25);

  auto r3 = store->Reserve(key, {500, 0, 0}, now);
  ASSERT_TRUE(r3.ok());
  EXPECT_TRUE(r3->granted) << "600 reserved became 300 used: 300 + 500 fits 1000";
  EXPECT_NE(r3->id, r1->id);
}

TEST_P(StoreTest, DenialNamesTheLimitAndWhenItResets) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Limits limits;
  limits.co2e_g_per_day = 5;
  limits.wh_per_month = 10;
  ApiKey key = MakeKey(*store, "k", limits);
  const TimePoint now = Utc(2024, 3, 10, 18);

  auto day = store->Reserve(key, {1, 1, 6}, now);
  ASSERT_TRUE(day.ok());
  EXPECT_FALSE(day->granted);
  EXPECT_EQ(day->limit_name, "co2e_g_per_day");
  EXPECT_EQ(day->limit, 5);
  EXPECT_EQ(day->used, 0);
  EXPECT_EQ(day->retry_after, hours(6));

  auto month = store->Reserve(key, {1, 11, 1}, now);
  ASSERT_TRUE(month.ok());
  EXPECT_FALSE(month->granted);
  EXPECT_EQ(month->limit_name, "wh_per_month");
  EXPECT_EQ(month->retry_after, Utc(2024, 4, 1) - now);

  // Both exceeded: the monthly limit is the one that says when a retry can succeed.
  auto both = store->Reserve(key, {1, 11, 6}, now + seconds(30));
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->limit_name, "wh_per_month");

  auto fits = store->Reserve(key, {1, 10, 5}, now);
  ASSERT_TRUE(fits.ok());
  EXPECT_TRUE(fits->granted) << "limits are inclusive";
  auto usage = store->Usage(key, now);
  EXPECT_EQ(usage->first.tokens, 0) << "denials charge nothing";
}

TEST_P(StoreTest, DaysAndMonthsAreUtcCalendarPeriods) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Limits limits;
  limits.tokens_per_day = 80;
  limits.tokens_per_month = 100;
  ApiKey key = MakeKey(*store, "k", limits);
  const TimePoint jan31 = Utc(2024, 1, 31, 23, 59, 59);
  const TimePoint feb1 = Utc(2024, 2, 1);

  auto a = store->Reserve(key, {70, 0, 0}, jan31);
  ASSERT_TRUE(a.ok() && a->granted);
  ASSERT_TRUE(store->Settle(a->id, {70, 0, 0}).ok());
  // Reserved in January, settled after midnight: still charged to January 31.
  auto b = store->Reserve(key, {10, 0, 0}, jan31);
  ASSERT_TRUE(b.ok() && b->granted);

  auto c = store->Reserve(key, {70, 0, 0}, feb1);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->granted) << "a new day and a new month";
  ASSERT_TRUE(store->Settle(b->id, {10, 0, 0}).ok());
  ASSERT_TRUE(store->Settle(c->id, {70, 0, 0}).ok());

  auto jan_usage = store->Usage(key, jan31);
  ASSERT_TRUE(jan_usage.ok());
  EXPECT_EQ(jan_usage->first.tokens, 80);
  EXPECT_EQ(jan_usage->second.tokens, 80);
  auto feb_usage = store->Usage(key, feb1 + hours(5));
  ASSERT_TRUE(feb_usage.ok());
  EXPECT_EQ(feb_usage->first.tokens, 70);
  EXPECT_EQ(feb_usage->second.tokens, 70);

  // The next day of February: the day is fresh but the month is not.
  const TimePoint feb2 = Utc(2024, 2, 2, 9);
  auto d = store->Reserve(key, {40, 0, 0}, feb2);
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->granted);
  EXPECT_EQ(d->limit_name, "tokens_per_month");
  EXPECT_EQ(d->used, 70);
  EXPECT_EQ(d->retry_after, Utc(2024, 3, 1) - feb2);
  EXPECT_EQ(store->Usage(key, feb2)->first.tokens, 0);
}

TEST_P(StoreTest, SettlingMoreThanReservedChargesTheActualCost) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Limits limits;
  limits.wh_per_day = 60;
  ApiKey key = MakeKey(*store, "k", limits);
  const TimePoint now = Utc(2025, 6, 1, 8);
  auto r = store->Reserve(key, {10, 10, 1}, now);
  ASSERT_TRUE(r.ok() && r->granted);
  ASSERT_TRUE(store->Settle(r->id, {50, 50, 5}).ok());
  auto usage = store->Usage(key, now);
  EXPECT_EQ(usage->first.tokens, 50);
  EXPECT_DOUBLE_EQ(usage->first.wh, 50);
  EXPECT_DOUBLE_EQ(usage->second.co2e_g, 5);
  auto next = store->Reserve(key, {1, 20, 0}, now);
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->granted);
  EXPECT_EQ(next->limit_name, "wh_per_day");
  EXPECT_DOUBLE_EQ(next->used, 50);
  // And the overrun leaves no negative reservation behind: 10 Wh still fits exactly.
  auto exact = store->Reserve(key, {1, 10, 0}, now);
  ASSERT_TRUE(exact.ok());
  EXPECT_TRUE(exact->granted);
}

TEST_P(StoreTest, ReservationsSettleOnceAndBadInputIsRefused) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ApiKey key = MakeKey(*store, "k");
  const TimePoint now = Utc(2024, 7, 1);
  auto r = store->Reserve(key, {1, 1, 1}, now);
  ASSERT_TRUE(r.ok() && r->granted) << "no limits: always granted";
  ASSERT_TRUE(store->Settle(r->id, {2, 2, 2}).ok());
  EXPECT_EQ(store->Settle(r->id, {2, 2, 2}).code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Settle(987654, {}).code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Usage(key, now)->first.tokens, 2) << "usage of unlimited keys is tracked";

  EXPECT_EQ(store->Reserve(key, {-1, 0, 0}, now).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Reserve(key, {0, std::nan(""), 0}, now).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Settle(1, {0, 0, -0.5}).code(), StatusCode::kInvalidArgument);
  ApiKey ghost = key;
  ghost.id = 424242;
  EXPECT_EQ(store->Reserve(ghost, {1, 0, 0}, now).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store->RevokeKey("k").ok());
  EXPECT_EQ(store->Reserve(key, {1, 0, 0}, now).status().code(), StatusCode::kPermissionDenied);
}

// 16 threads x 20 reservations, half of them through a second Store on the same database,
// against limits that allow exactly 100 reservations: exactly 100 are granted.
TEST_P(StoreTest, ConcurrentReservationsNeverOverspend) {
  auto a = Open();
  auto b = Open();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  Limits tokens;
  tokens.tokens_per_day = 100;
  Limits co2e;
  co2e.co2e_g_per_month = 10.0;  // 100 x 0.1 g, summed in doubles.
  ApiKey by_tokens = MakeKey(*a, "tokens", tokens);
  ApiKey by_co2e = MakeKey(*a, "co2e", co2e);
  const TimePoint now = Utc(2024, 11, 5, 10);

  for (const ApiKey& key : {by_tokens, by_co2e}) {
    std::atomic<int> granted{0}, errors{0};
    std::vector<int64_t> ids[16];
    {
      std::vector<std::jthread> threads;
      for (int t = 0; t < 16; ++t) {
        threads.emplace_back([&, t] {
          Store& store = t % 2 ? *a : *b;
          for (int i = 0; i < 20; ++i) {
            auto r = store.Reserve(key, {1, 0.01, 0.1}, now);
            if (!r.ok()) {
              ++errors;
              ADD_FAILURE() << r.status().ToString();
            } else if (r->granted) {
              ++granted;
              ids[t].push_back(r->id);
            }
          }
        });
      }
    }
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(granted.load(), 100) << key.name;
    std::set<int64_t> distinct;
    for (auto& v : ids) distinct.insert(v.begin(), v.end());
    EXPECT_EQ(distinct.size(), 100u) << "reservation ids are unique";
    for (int64_t id : distinct) ASSERT_TRUE(a->Settle(id, {1, 0.01, 0.1}).ok());
    auto usage = b->Usage(key, now);
    ASSERT_TRUE(usage.ok());
    EXPECT_EQ(usage->first.tokens, 100);
    EXPECT_NEAR(usage->second.co2e_g, 10.0, 1e-9);
  }
}

TEST_P(StoreTest, SecondStoreSeesTheSameKeysAndBudgets) {
  auto a = Open();
  auto b = Open();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  Limits limits;
  limits.tokens_per_month = 100;
  NewKey spec;
  spec.name = "shared";
  spec.limits = limits;
  auto created = a->CreateKey(spec);
  ASSERT_TRUE(created.ok());
  auto found = b->FindKeyBySecret(created->second);
  ASSERT_TRUE(found.ok() && found->has_value());
  const ApiKey key = **found;
  const TimePoint now = Utc(2024, 2, 29, 23);

  auto r = a->Reserve(key, {60, 0, 0}, now);
  ASSERT_TRUE(r.ok() && r->granted);
  auto denied = b->Reserve(key, {60, 0, 0}, now);
  ASSERT_TRUE(denied.ok());
  EXPECT_FALSE(denied->granted) << "b sees a's outstanding reservation";
  EXPECT_EQ(denied->used, 60);
  ASSERT_TRUE(b->Settle(r->id, {20, 0, 0}).ok()) << "either store settles";
  EXPECT_EQ(a->Usage(key, now)->second.tokens, 20);
  EXPECT_TRUE(b->Reserve(key, {80, 0, 0}, now)->granted);
  ASSERT_TRUE(b->RevokeKey("shared").ok());
  EXPECT_FALSE(a->FindKeyBySecret(created->second)->has_value());
}

// Runs as a child process of CrossProcessReservationsNeverOverspend (disabled otherwise).
TEST(StoreChildProcess, DISABLED_ReserveBurst) {
  const char* url = std::getenv("SOBRE_STORE_CHILD_URL");
  const char* secret = std::getenv("SOBRE_STORE_CHILD_SECRET");
  const char* out = std::getenv("SOBRE_STORE_CHILD_OUT");
  if (url == nullptr || secret == nullptr || out == nullptr) GTEST_SKIP() << "child only";
  auto store = OpenStore(url);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto key = (*store)->FindKeyBySecret(secret);
  ASSERT_TRUE(key.ok() && key->has_value());
  int granted = 0;
  for (int i = 0; i < 100; ++i) {
    auto r = (*store)->Reserve(**key, {1, 0, 0}, Utc(2024, 5, 5, 12));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    granted += r->granted ? 1 : 0;
  }
  std::ofstream(out) << granted;
}

TEST_P(StoreTest, CrossProcessReservationsNeverOverspend) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  NewKey spec;
  spec.name = "burst";
  spec.limits.tokens_per_day = 150;
  auto created = store->CreateKey(spec);
  ASSERT_TRUE(created.ok());

  std::vector<pid_t> children;
  std::vector<std::string> outs;
  for (int c = 0; c < 2; ++c) {
    outs.push_back(dir_.path() + "/child" + std::to_string(c));
    std::vector<std::string> env_strings = {"SOBRE_STORE_CHILD_URL=" + url_,
                                            "SOBRE_STORE_CHILD_SECRET=" + created->second,
                                            "SOBRE_STORE_CHILD_OUT=" + outs.back()};
    std::vector<char*> envp;
    for (std::string& s : env_strings) envp.push_back(s.data());
    for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
    envp.push_back(nullptr);
    std::string exe = "/proc/self/exe";
    std::string filter = "--gtest_filter=StoreChildProcess.DISABLED_ReserveBurst";
    std::string disabled = "--gtest_also_run_disabled_tests";
    char* argv[] = {exe.data(), filter.data(), disabled.data(), nullptr};
    posix_spawn_file_actions_t quiet;  // The child's gtest banner would clutter this test's log.
    posix_spawn_file_actions_init(&quiet);
    posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    int rc = ::posix_spawn(&pid, exe.c_str(), &quiet, nullptr, argv, envp.data());
    posix_spawn_file_actions_destroy(&quiet);
    ASSERT_EQ(rc, 0);
    children.push_back(pid);
  }
  int granted_here = 0;
  for (int i = 0; i < 100; ++i) {
    auto r = store->Reserve(created->first, {1, 0, 0}, Utc(2024, 5, 5, 12));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    granted_here += r->granted ? 1 : 0;
  }
  int total = granted_here;
  for (size_t c = 0; c < children.size(); ++c) {
    int status = 0;
    ASSERT_EQ(::waitpid(children[c], &status, 0), children[c]);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child " << c << " failed";
    std::string count = ReadAll(outs[c]);
    ASSERT_FALSE(count.empty()) << "child " << c << " reported nothing";
    total += std::stoi(count);
  }
  EXPECT_EQ(total, 150) << "300 attempts from 3 processes against a limit of 150";
}

}  // namespace
}  // namespace sobre::store::test
