#include "backend/internal/connection_pool.h"

#include <algorithm>
#include <utility>

namespace sobre::backend::internal {

std::unique_ptr<Connection> ConnectionPool::Take(boost::asio::execution_context* context) {
  auto now = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<Connection>> dropped;  // Closed after the lock is released.
  std::unique_ptr<Connection> found;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      // Expired ones are the oldest, at the front.
      auto fresh = std::find_if(idle_.begin(), idle_.end(),
                                [&](const Idle& i) { return now - i.since < max_idle_time_; });
      for (auto it = idle_.begin(); it != fresh; ++it) dropped.push_back(std::move(it->conn));
      idle_.erase(idle_.begin(), fresh);
      // The most recently used connection on the caller's context: the likeliest to be alive.
      auto match = std::find_if(idle_.rbegin(), idle_.rend(),
                                [&](const Idle& i) { return i.conn->context() == context; });
      if (match == idle_.rend()) break;
      found = std::move(match->conn);
      idle_.erase(std::next(match).base());
    }
    if (found->LooksReusable()) break;
    dropped.push_back(std::move(found));
  }
  dropped.clear();
  return found;
}

void ConnectionPool::Put(std::unique_ptr<Connection> conn) {
  std::unique_ptr<Connection> evicted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (max_idle_ == 0) {
      evicted = std::move(conn);
    } else {
      if (idle_.size() >= max_idle_) {
        evicted = std::move(idle_.front().conn);
        idle_.erase(idle_.begin());
      }
      idle_.push_back(Idle{std::move(conn), std::chrono::steady_clock::now()});
    }
  }
}

void ConnectionPool::Clear() {
  std::vector<Idle> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    dropped.swap(idle_);
  }
  // Destroyed here, outside the lock.
}

size_t ConnectionPool::idle() const {
  std::lock_guard<std::mutex> lock(mu_);
  return idle_.size();
}

}  // namespace sobre::backend::internal
