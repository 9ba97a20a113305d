// ThreadPool: a generation counter wakes the workers, an atomic counter hands out chunks and a
// second one tells the caller when every worker is done.
#include "engine/model/thread_pool.h"

#include <algorithm>

namespace sobre::engine {
namespace {

// One step of a spin-wait. Every 64th step yields the core: on an oversubscribed machine the
// thread being waited for may be the one that needs it.
inline void CpuRelax(int spin) {
  if ((spin & 63) == 63) {
    std::this_thread::yield();
    return;
  }
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

ThreadPool::ThreadPool(int n_threads, int spin_iterations)
    : spin_iterations_(std::max(0, spin_iterations)) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  workers_.reserve(static_cast<size_t>(n_threads - 1));
  for (int t = 1; t < n_threads; ++t) {
    workers_.emplace_back([this, t] { WorkerLoop(t); });
  }
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  workers_.clear();  // joins
}

void ThreadPool::RunChunks(int thread) {
  for (;;) {
    const int chunk = next_chunk_.fetch_add(1, std::memory_order_relaxed);
    if (chunk >= job_chunks_) return;
    job_call_(job_ctx_, chunk, thread);
  }
}

void ThreadPool::Run(int n_chunks, void* ctx, Trampoline call) {
  if (n_chunks <= 0) return;
  if (workers_.empty() || n_chunks == 1) {
    for (int c = 0; c < n_chunks; ++c) call(ctx, c, 0);
    return;
  }
  job_ctx_ = ctx;
  job_call_ = call;
  job_chunks_ = n_chunks;
  next_chunk_.store(0, std::memory_order_relaxed);
  busy_workers_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  RunChunks(0);
  // Wait for the workers: they may still be inside their last chunk.
  int spins = 0;
  for (;;) {
    const int busy = busy_workers_.load(std::memory_order_acquire);
    if (busy == 0) break;
    if (spins < spin_iterations_) {
      CpuRelax(spins++);
    } else {
      busy_workers_.wait(busy, std::memory_order_acquire);
    }
  }
}

void ThreadPool::WorkerLoop(int thread) {
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    uint64_t gen;
    while ((gen = generation_.load(std::memory_order_acquire)) == seen) {
      if (spins < spin_iterations_) {
        CpuRelax(spins++);
      } else {
        generation_.wait(seen, std::memory_order_acquire);
      }
    }
    seen = gen;
    if (stop_.load(std::memory_order_relaxed)) return;
    RunChunks(thread);
    if (busy_workers_.fetch_sub(1, std::memory_order_acq_rel) == 1) busy_workers_.notify_one();
  }
}

}  // namespace sobre::engine
