// ConnectionPool: idle keep-alive connections to one upstream, reused most-recent first.
#ifndef SOBRE_BACKEND_INTERNAL_CONNECTION_POOL_H_
#define SOBRE_BACKEND_INTERNAL_CONNECTION_POOL_H_

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "backend/internal/connection.h"

namespace sobre::backend::internal {

// Thread-safe. Connections are closed outside the lock. Destroy the pool before the io_context
// its connections run on.
class ConnectionPool {
 public:
  // Keeps at most `max_idle` connections, each for at most `max_idle_time`.
  ConnectionPool(size_t max_idle, std::chrono::steady_clock::duration max_idle_time)
      : max_idle_(max_idle), max_idle_time_(max_idle_time) {}

  // An idle connection served by `context` that still looks open, or null. Drops the dead and
  // expired ones it meets on the way.
  std::unique_ptr<Connection> Take(boost::asio::execution_context* context);

  // Offers a connection whose last response completed cleanly and allowed keep-alive.
  void Put(std::unique_ptr<Connection> conn);

  size_t idle() const;
  // Drops every idle connection.
  void Clear();

 private:
  struct Idle {
    std::unique_ptr<Connection> conn;
    std::chrono::steady_clock::time_point since;
  };

  const size_t max_idle_;
  const std::chrono::steady_clock::duration max_idle_time_;
  mutable std::mutex mu_;
  std::vector<Idle> idle_;  // Oldest first.
};

}  // namespace sobre::backend::internal

#endif  // SOBRE_BACKEND_INTERNAL_CONNECTION_POOL_H_
