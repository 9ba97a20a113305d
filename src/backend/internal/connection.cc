#include "backend/internal/connection.h"

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <type_traits>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "core/strings.h"

namespace sobre::backend::internal {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Strand = asio::strand<asio::any_io_executor>;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// Every operation, and the timer inside beast::tcp_stream that enforces its deadline, runs on the
// connection's strand: the caller's coroutine may sit on a multi-threaded io_context, and Beast's
// timeout handler must never race the operation it cancels. Each operation therefore runs as a
// short child coroutine spawned on the strand.
template <typename Stream>
class StreamConnection final : public Connection {
 public:
  template <typename... Args>
  explicit StreamConnection(Strand strand, Args&&... args)
      : strand_(strand), stream_(strand, std::forward<Args>(args)...) {}

  Stream& stream() { return stream_; }
  const Strand& strand() const { return strand_; }

  asio::awaitable<IoResult> ReadSome(std::span<char> buffer, Deadline deadline) override {
    co_return co_await asio::co_spawn(strand_, DoRead(buffer, deadline), asio::use_awaitable);
  }

  asio::awaitable<error_code> WriteAll(std::string_view head, std::string_view body,
                                       Deadline deadline) override {
    co_return co_await asio::co_spawn(strand_, DoWrite(head, body, deadline), asio::use_awaitable);
  }

  void Close() override { beast::get_lowest_layer(stream_).close(); }

  bool LooksReusable() override {
    auto& socket = beast::get_lowest_layer(stream_).socket();
    if (!socket.is_open()) return false;
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      if (SSL_pending(stream_.native_handle()) > 0) return false;
    }
    // An idle keep-alive connection has nothing to read: EOF means the server closed it, bytes
    // mean it sent something unexpected (for TLS, typically a close_notify).
    char byte;
    ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  asio::execution_context* context() const override {
    return &asio::query(strand_.get_inner_executor(), asio::execution::context);
  }

 private:
  asio::awaitable<IoResult> DoRead(std::span<char> buffer, Deadline deadline) {
    beast::get_lowest_layer(stream_).expires_at(deadline);
    auto [ec, n] =
        co_await stream_.async_read_some(asio::buffer(buffer.data(), buffer.size()), kNoThrow);
    // A TLS peer that closes without close_notify is, for HTTP/1.1 framing, a plain EOF.
    if (ec == ssl::error::stream_truncated) ec = asio::error::eof;
    co_return IoResult{ec, n};
  }

  asio::awaitable<error_code> DoWrite(std::string_view head, std::string_view body,
                                      Deadline deadline) {
    beast::get_lowest_layer(stream_).expires_at(deadline);
    std::array<asio::const_buffer, 2> buffers = {asio::buffer(head.data(), head.size()),
                                                 asio::buffer(body.data(), body.size())};
    auto [ec, n] = co_await asio::async_write(stream_, buffers, kNoThrow);
    (void)n;
    co_return ec;
  }

  Strand strand_;
  Stream stream_;
};

Status ConnectError(const Origin& origin, std::string_view what, const error_code& ec) {
  std::string message =
      std::string(what) + " " + origin.host + ":" + origin.port + ": " + ec.message();
  if (ec == beast::error::timeout) return DeadlineExceededError(std::move(message));
  if (ec == asio::error::operation_aborted) return CancelledError(std::move(message));
  return UnavailableError(std::move(message));
}

// Resolves on the strand; a timer on the same strand cancels the lookup at the deadline.
asio::awaitable<StatusOr<tcp::resolver::results_type>> Resolve(Strand strand, const Origin& origin,
                                                               Deadline deadline) {
  error_code ec;
  asio::ip::address address = asio::ip::make_address(origin.host, ec);
  if (!ec) {
    StatusOr<uint64_t> port = ParseUint64(origin.port);
    if (!port.ok() || *port > 65535) co_return InvalidArgumentError("bad port " + origin.port);
    co_return tcp::resolver::results_type::create(
        tcp::endpoint(address, static_cast<uint16_t>(*port)), origin.host, origin.port);
  }
  auto resolver = std::make_shared<tcp::resolver>(strand);
  auto timer = std::make_shared<asio::steady_timer>(strand, deadline);
  timer->async_wait([resolver, timer](error_code timer_ec) {
    if (!timer_ec) resolver->cancel();
  });
  auto [resolve_ec, results] = co_await resolver->async_resolve(origin.host, origin.port, kNoThrow);
  bool timed_out = timer->cancel() == 0 && std::chrono::steady_clock::now() >= deadline;
  if (timed_out) {
    co_return DeadlineExceededError("resolving " + origin.host + ": timed out");
  }
  if (resolve_ec) co_return ConnectError(origin, "resolving", resolve_ec);
  co_return results;
}

template <typename Stream>
asio::awaitable<Status> ConnectTcp(StreamConnection<Stream>& conn, const Origin& origin,
                                   Deadline deadline) {
  StatusOr<tcp::resolver::results_type> endpoints =
      co_await Resolve(conn.strand(), origin, deadline);
  if (!endpoints.ok()) co_return endpoints.status();
  beast::tcp_stream& tcp_stream = beast::get_lowest_layer(conn.stream());
  tcp_stream.expires_at(deadline);
  auto [ec, endpoint] = co_await tcp_stream.async_connect(*endpoints, kNoThrow);
  (void)endpoint;
  if (ec) co_return ConnectError(origin, "connecting to", ec);
  error_code ignored;
  tcp_stream.socket().set_option(tcp::no_delay(true), ignored);
  co_return OkStatus();
}

// co_spawn needs a default-constructible result, which StatusOr is not.
struct Connected {
  Status status;
  std::unique_ptr<Connection> conn;
};

asio::awaitable<Connected> ConnectOnStrand(Strand strand, Origin origin, ssl::context* tls,
                                           bool verify_host, Deadline deadline) {
  if (!origin.tls) {
    auto conn = std::make_unique<StreamConnection<PlainStream>>(strand);
    Status status = co_await ConnectTcp(*conn, origin, deadline);
    if (!status.ok()) co_return Connected{status, nullptr};
    co_return Connected{OkStatus(), std::move(conn)};
  }
  if (tls == nullptr) {
    co_return Connected{InternalError("https upstream without a TLS context"), nullptr};
  }
  auto conn = std::make_unique<StreamConnection<TlsStream>>(strand, *tls);
  TlsStream& stream = conn->stream();
  error_code ec;
  asio::ip::make_address(origin.host, ec);
  if (ec) {
    // SNI: hosted APIs behind shared front ends pick the certificate by name.
    if (SSL_set_tlsext_host_name(stream.native_handle(), origin.host.c_str()) != 1) {
      co_return Connected{UnavailableError("TLS: cannot set server name " + origin.host), nullptr};
    }
  }
  ec.clear();
  if (verify_host) {
    stream.set_verify_callback(ssl::host_name_verification(origin.host), ec);
    if (ec) {
      co_return Connected{InternalError("TLS: cannot verify host names: " + ec.message()), nullptr};
    }
  }
  Status status = co_await ConnectTcp(*conn, origin, deadline);
  if (!status.ok()) co_return Connected{status, nullptr};
  beast::get_lowest_layer(stream).expires_at(deadline);
  auto [handshake_ec] = co_await stream.async_handshake(ssl::stream_base::client, kNoThrow);
  if (handshake_ec) {
    co_return Connected{ConnectError(origin, "TLS handshake with", handshake_ec), nullptr};
  }
  co_return Connected{OkStatus(), std::move(conn)};
}

}  // namespace

asio::awaitable<StatusOr<std::unique_ptr<Connection>>> Connect(asio::any_io_executor executor,
                                                               const Origin& origin,
                                                               ssl::context* tls, bool verify_host,
                                                               Deadline deadline) {
  Strand strand = asio::make_strand(executor);
  Connected connected = co_await asio::co_spawn(
      strand, ConnectOnStrand(strand, origin, tls, verify_host, deadline), asio::use_awaitable);
  if (!connected.status.ok()) co_return connected.status;
  co_return std::move(connected.conn);
}

}  // namespace sobre::backend::internal
