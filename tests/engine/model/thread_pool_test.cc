// ThreadPool: every chunk runs exactly once, thread indices stay in range and are never shared by
// two chunks at once, and many back-to-back loops (the forward pass's pattern) complete.
#include "engine/model/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace sobre::engine {
namespace {

TEST(ThreadPoolTest, RunsEveryChunkExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int n : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> runs(static_cast<size_t>(n));
      pool.ParallelFor(n, [&](int chunk, int thread) {
        ASSERT_GE(thread, 0);
        ASSERT_LT(thread, threads);
        runs[static_cast<size_t>(chunk)].fetch_add(1);
      });
      for (int c = 0; c < n; ++c) EXPECT_EQ(runs[static_cast<size_t>(c)].load(), 1) << c;
    }
  }
}

TEST(ThreadPoolTest, AThreadIndexIsNeverInTwoChunksAtOnce) {
  ThreadPool pool(4);
  std::vector<std::atomic<int>> inside(4);
  std::atomic<int> overlaps{0};
  for (int round = 0; round < 200; ++round) {
    pool.ParallelFor(64, [&](int, int thread) {
      if (inside[static_cast<size_t>(thread)].fetch_add(1) != 0) overlaps.fetch_add(1);
      volatile int spin = 0;
      for (int i = 0; i < 100; ++i) spin = spin + i;
      inside[static_cast<size_t>(thread)].fetch_sub(1);
    });
  }
  EXPECT_EQ(overlaps.load(), 0);
}

TEST(ThreadPoolTest, ManyShortLoopsAndSleepingWorkersComplete) {
  // spin_iterations 0: workers go to sleep after every loop, exercising the futex wake-up path.
  for (int spin : {0, 1 << 14}) {
    ThreadPool pool(3, spin);
    long long total = 0;
    std::vector<long long> partial(3);
    for (int round = 0; round < 1000; ++round) {
      for (long long& p : partial) p = 0;
      pool.ParallelFor(5, [&](int chunk, int thread) { partial[static_cast<size_t>(thread)] += chunk; });
      for (long long p : partial) total += p;
    }
    EXPECT_EQ(total, 1000LL * (0 + 1 + 2 + 3 + 4)) << "spin " << spin;
  }
}

}  // namespace
}  // namespace sobre::engine
