// Admission control: slots, the FIFO queue, refusal when the queue is full, and hand-over of
// released slots, on real Asio executors.
#include "gateway/admission.h"

#include <atomic>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

namespace sobre::gateway {
namespace {

namespace asio = boost::asio;
using Permit = AdmissionController::Permit;

// Runs `io` until nothing is ready to run.
void Drain(asio::io_context& io) {
  io.restart();
  io.poll();
}

TEST(AdmissionTest, QueueFullIsRefusedAndAReleasedSlotGoesToTheWaiter) {
  asio::io_context io;
  AdmissionController admission(/*max_in_flight=*/2, /*max_queue=*/1);
  Permit a = admission.TryAcquire();
  Permit b = admission.TryAcquire();
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_FALSE(admission.TryAcquire());

  Permit c;
  bool c_done = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    c = co_await admission.Acquire();
    c_done = true;
  }, asio::detached);
  Drain(io);
  EXPECT_FALSE(c_done);
  EXPECT_EQ(admission.waiting(), 1u);

  bool d_done = false;
  bool d_granted = true;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    Permit d = co_await admission.Acquire();
    d_granted = static_cast<bool>(d);
    d_done = true;
  }, asio::detached);
  Drain(io);
  EXPECT_TRUE(d_done);
  EXPECT_FALSE(d_granted);  // Two in flight, one waiting: the fourth gets 503.

  a.Release();
  Drain(io);
  EXPECT_TRUE(c_done);
  EXPECT_TRUE(c);
  EXPECT_EQ(admission.in_flight(), 2u);  // Handed over, not released and retaken.
  EXPECT_EQ(admission.waiting(), 0u);
  b.Release();
  c.Release();
  EXPECT_EQ(admission.in_flight(), 0u);
}

TEST(AdmissionTest, WaitersAreServedInArrivalOrderAheadOfNewcomers) {
  asio::io_context io;
  AdmissionController admission(1, 10);
  Permit held = admission.TryAcquire();
  ASSERT_TRUE(held);
  std::vector<int> order;
  std::vector<Permit> permits(3);
  for (int i = 0; i < 3; ++i) {
    asio::co_spawn(io, [&, i]() -> asio::awaitable<void> {
      permits[i] = co_await admission.Acquire();
      order.push_back(i);
    }, asio::detached);
  }
  Drain(io);
  EXPECT_TRUE(order.empty());
  held.Release();
  // While waiters exist a newcomer does not jump the queue.
  EXPECT_FALSE(admission.TryAcquire());
  Drain(io);
  ASSERT_EQ(order, std::vector<int>({0}));
  permits[0].Release();
  Drain(io);
  permits[1].Release();
  Drain(io);
  EXPECT_EQ(order, std::vector<int>({0, 1, 2}));
}

TEST(AdmissionTest, NeverMoreThanTheLimitInFlightAcrossThreads) {
  asio::io_context io;
  constexpr size_t kLimit = 3;
  constexpr int kRequests = 400;
  AdmissionController admission(kLimit, kRequests);
  std::atomic<int> inside{0};
  std::atomic<int> max_inside{0};
  std::atomic<int> done{0};
  std::atomic<int> refused{0};
  for (int i = 0; i < kRequests; ++i) {
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      Permit p = co_await admission.Acquire();
      if (!p) {
        ++refused;
        co_return;
      }
      const int now = ++inside;
      int seen = max_inside.load();
      while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
      }
      asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::microseconds(50));
      co_await t.async_wait(asio::use_awaitable);
      --inside;
      ++done;
    }, asio::detached);
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&] { io.run(); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(refused.load(), 0);
  EXPECT_EQ(done.load(), kRequests);
  EXPECT_LE(max_inside.load(), static_cast<int>(kLimit));
  EXPECT_EQ(admission.in_flight(), 0u);
  EXPECT_EQ(admission.waiting(), 0u);
}

}  // namespace
}  // namespace sobre::gateway
