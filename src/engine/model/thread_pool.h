// ThreadPool: persistent workers that split one loop of chunks among themselves and the caller.
// The forward passes cut every matrix product into chunks of output rows and hand them out here.
#ifndef SOBRE_ENGINE_MODEL_THREAD_POOL_H_
#define SOBRE_ENGINE_MODEL_THREAD_POOL_H_

#include <atomic>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <vector>

namespace sobre::engine {

// A fixed set of threads that run ParallelFor loops. Chunks are handed out through one atomic
// counter, so faster threads take more; the calling thread runs chunks too. A call allocates
// nothing. Thread contract: ParallelFor must be called by one thread at a time (the engine
// thread) and not from inside a chunk; construction and destruction on that same thread.
class ThreadPool {
 public:
  // `n_threads` counts the caller: n_threads - 1 workers are started. 0 means the number of
  // hardware threads. Workers spin for about `spin_iterations` pause instructions after each job
  // before sleeping on a futex (low latency between the many small jobs of a forward pass).
  explicit ThreadPool(int n_threads = 0, int spin_iterations = 1 << 14);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Threads taking part in a loop, the caller included (at least 1).
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(chunk, thread) for every chunk in [0, n_chunks) and returns when all have run.
  // `thread` is in [0, size()): 0 is the caller; a thread index never runs two chunks at once,
  // so it can select per-thread scratch memory. `fn` must not throw.
  template <typename Fn>
  void ParallelFor(int n_chunks, Fn&& fn) {
    Run(n_chunks, &fn, [](void* ctx, int chunk, int thread) {
      (*static_cast<std::remove_reference_t<Fn>*>(ctx))(chunk, thread);
    });
  }

 private:
  using Trampoline = void (*)(void* ctx, int chunk, int thread);

  void Run(int n_chunks, void* ctx, Trampoline call);
  void RunChunks(int thread);
  void WorkerLoop(int thread);

  const int spin_iterations_;
  std::vector<std::jthread> workers_;
  // The current job; written by the caller before `generation_` is bumped (release), read by the
  // workers after they see the new generation (acquire).
  void* job_ctx_ = nullptr;
  Trampoline job_call_ = nullptr;
  int job_chunks_ = 0;
  std::atomic<int> next_chunk_{0};
  std::atomic<int> busy_workers_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_MODEL_THREAD_POOL_H_
