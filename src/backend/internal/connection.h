// Connection: one HTTP/1.1 transport to an upstream, plain TCP or TLS, with deadlines. Keeps the
// Asio/Beast/OpenSSL stream templates in connection.cc.
#ifndef SOBRE_BACKEND_INTERNAL_CONNECTION_H_
#define SOBRE_BACKEND_INTERNAL_CONNECTION_H_

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include "core/status.h"

namespace boost::asio {
class execution_context;
namespace ssl {
class context;
}  // namespace ssl
}  // namespace boost::asio

namespace sobre::backend::internal {

using Deadline = std::chrono::steady_clock::time_point;

// Where to connect.
struct Origin {
  bool tls = false;
  std::string host;  // Name or address, without IPv6 brackets.
  std::string port;  // Decimal.
};

struct IoResult {
  boost::system::error_code ec;  // beast::error::timeout when the deadline passed; eof at a close.
  size_t bytes = 0;
};

// One open connection. Each operation runs on the connection's own strand and is bounded by its
// `deadline`, after which the connection is closed and the operation fails with a timeout.
// The strand wraps the executor of the call that opened the connection; later users only need
// the same execution context (see ConnectionPool::Take).
// Thread contract: one operation at a time, from any thread (the pool hands a connection to one
// caller at a time); destroying it with no operation pending is safe from any thread.
class Connection {
 public:
  virtual ~Connection() = default;
  virtual boost::asio::awaitable<IoResult> ReadSome(std::span<char> buffer, Deadline deadline) = 0;
  // Writes `head` then `body` entirely.
  virtual boost::asio::awaitable<boost::system::error_code> WriteAll(std::string_view head,
                                                                     std::string_view body,
                                                                     Deadline deadline) = 0;
  // Closes the socket at once (no TLS close_notify: the peer sees a reset or EOF).
  virtual void Close() = 0;
  // Cheap check made before reuse: false when the peer closed the connection (or sent bytes
  // nobody asked for) while it sat idle.
  virtual bool LooksReusable() = 0;
  // The execution context whose reactor serves this connection.
  virtual boost::asio::execution_context* context() const = 0;
};

// Resolves and connects to `origin` on `executor`, then does the TLS handshake when origin.tls
// (`tls` must then be non-null; it carries the verification settings; `verify_host` checks the
// certificate's names against origin.host). Errors: DeadlineExceeded past `deadline`, Unavailable
// for resolution, connection and handshake failures.
boost::asio::awaitable<StatusOr<std::unique_ptr<Connection>>> Connect(
    boost::asio::any_io_executor executor, const Origin& origin, boost::asio::ssl::context* tls,
    bool verify_host, Deadline deadline);

}  // namespace sobre::backend::internal

#endif  // SOBRE_BACKEND_INTERNAL_CONNECTION_H_
