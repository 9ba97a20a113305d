// Admission control: at most N requests handled at once, M more waiting in FIFO order, the rest
// refused (503). Waiting suspends the request's coroutine; no thread ever blocks.
#ifndef SOBRE_GATEWAY_ADMISSION_H_
#define SOBRE_GATEWAY_ADMISSION_H_

#include <atomic>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>

#include <boost/asio/awaitable.hpp>

namespace sobre::gateway {

// Thread contract: thread-safe. Acquiring a free slot is one compare-and-swap; the mutex is taken
// only when the gateway is full (to queue) and when a slot is released while requests wait.
class AdmissionController {
 public:
  // A held slot; releasing it (destruction) hands it to the oldest waiter, if any. Movable.
  class Permit {
   public:
    Permit() = default;
    explicit Permit(AdmissionController* owner) : owner_(owner) {}
    Permit(Permit&& o) noexcept : owner_(o.owner_) { o.owner_ = nullptr; }
    Permit& operator=(Permit&& o) noexcept;
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit() { Release(); }
    // True when this permit holds a slot.
    explicit operator bool() const { return owner_ != nullptr; }
    void Release();

   private:
    AdmissionController* owner_ = nullptr;
  };

  // `max_in_flight` >= 1 slots; `max_queue` requests may wait for one.
  AdmissionController(size_t max_in_flight, size_t max_queue);
  ~AdmissionController();
  AdmissionController(const AdmissionController&) = delete;
  AdmissionController& operator=(const AdmissionController&) = delete;

  // A slot at once if one is free; otherwise waits in line (resuming on the caller's executor)
  // unless the line is full, in which case the returned permit is empty: answer 503.
  boost::asio::awaitable<Permit> Acquire();

  // A slot only if one is free now.
  Permit TryAcquire();

  size_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  size_t waiting() const { return waiting_.load(std::memory_order_relaxed); }
  size_t max_in_flight() const { return max_in_flight_; }
  size_t max_queue() const { return max_queue_; }

  // A queued request. Public so that admission.cc can define its handler-holding subclass.
  struct Waiter {
    virtual ~Waiter() = default;
    // Resumes the waiting coroutine on its executor with `granted`.
    virtual void Complete(bool granted) = 0;
  };

  // Used by Acquire()'s initiation: queues or completes `waiter`.
  void Enqueue(std::unique_ptr<Waiter> waiter);

 private:
  bool TryTakeSlot();
  void ReleaseSlot();

  const size_t max_in_flight_;
  const size_t max_queue_;
  std::atomic<size_t> in_flight_{0};
  std::atomic<size_t> waiting_{0};
  std::mutex mu_;
  std::deque<std::unique_ptr<Waiter>> queue_;  // Guarded by mu_.
};

}  // namespace sobre::gateway

#endif  // SOBRE_GATEWAY_ADMISSION_H_
