// The async semaphore behind admission control. A waiter is the coroutine's completion handler,
// kept in a FIFO; a released slot goes straight to the oldest waiter (no decrement/increment
// window in which a newcomer could overtake it), and the handler is resumed by posting it to
// its own executor.
#include "gateway/admission.h"

#include <algorithm>
#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sobre::gateway {
namespace {

template <typename Handler>
class HandlerWaiter final : public AdmissionController::Waiter {
 public:
  explicit HandlerWaiter(Handler handler) : handler_(std::move(handler)) {}
  void Complete(bool granted) override {
    auto executor = boost::asio::get_associated_executor(handler_);
    boost::asio::post(executor, [handler = std::move(handler_), granted]() mutable {
      std::move(handler)(granted);
    });
  }

 private:
  Handler handler_;
};

}  // namespace

AdmissionController::Permit& AdmissionController::Permit::operator=(Permit&& o) noexcept {
  if (this != &o) {
    Release();
    owner_ = std::exchange(o.owner_, nullptr);
  }
  return *this;
}

void AdmissionController::Permit::Release() {
  if (owner_ != nullptr) std::exchange(owner_, nullptr)->ReleaseSlot();
}

AdmissionController::AdmissionController(size_t max_in_flight, size_t max_queue)
    : max_in_flight_(std::max<size_t>(1, max_in_flight)), max_queue_(max_queue) {}

// Waiters still queued (only at shutdown, once the I/O threads are gone) are destroyed with
// their coroutines; they hold no slot.
AdmissionController::~AdmissionController() = default;

bool AdmissionController::TryTakeSlot() {
  size_t current = in_flight_.load();
  while (current < max_in_flight_) {
    if (in_flight_.compare_exchange_weak(current, current + 1)) return true;
  }
  return false;
}

AdmissionController::Permit AdmissionController::TryAcquire() {
  // Newcomers take the fast path only when nobody waits, so that waiters are served in order.
  if (waiting_.load() == 0 && TryTakeSlot()) return Permit(this);
  return Permit();
}

boost::asio::awaitable<AdmissionController::Permit> AdmissionController::Acquire() {
  if (Permit p = TryAcquire()) co_return p;
  const bool granted =
      co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(bool)>(
          [this](auto handler) {
            using H = decltype(handler);
            Enqueue(std::make_unique<HandlerWaiter<H>>(std::move(handler)));
          },
          boost::asio::use_awaitable);
  co_return granted ? Permit(this) : Permit();
}

void AdmissionController::Enqueue(std::unique_ptr<Waiter> waiter) {
  std::lock_guard lock(mu_);
  if (queue_.empty() && TryTakeSlot()) {
    waiter->Complete(true);
    return;
  }
  if (queue_.size() >= max_queue_) {
    waiter->Complete(false);
    return;
  }
  queue_.push_back(std::move(waiter));
  waiting_.fetch_add(1);
  // A slot released between the failed TryTakeSlot() above and the increment was not handed to
  // us (the releaser saw no waiter): take it now. Both sides use sequentially consistent
  // operations, so at least one of them sees the other.
  while (!queue_.empty() && TryTakeSlot()) {
    std::unique_ptr<Waiter> next = std::move(queue_.front());
    queue_.pop_front();
    waiting_.fetch_sub(1);
    next->Complete(true);
  }
}

void AdmissionController::ReleaseSlot() {
  if (waiting_.load() > 0) {
    std::lock_guard lock(mu_);
    if (!queue_.empty()) {
      // Hand the slot over: in_flight_ stays the same.
      std::unique_ptr<Waiter> next = std::move(queue_.front());
      queue_.pop_front();
      waiting_.fetch_sub(1);
      next->Complete(true);
      return;
    }
  }
  in_flight_.fetch_sub(1);
  if (waiting_.load() > 0) {
    std::lock_guard lock(mu_);
    while (!queue_.empty() && TryTakeSlot()) {
      std::unique_ptr<Waiter> next = std::move(queue_.front());
      queue_.pop_front();
      waiting_.fetch_sub(1);
      next->Complete(true);
    }
  }
}

}  // namespace sobre::gateway
