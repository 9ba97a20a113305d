// HttpServer on Boost.Beast and Asio. One io_context run by `io_threads` threads; an acceptor
// coroutine on its own strand; one coroutine per connection on the connection's strand, which
// reads requests with Beast's parser (limits, timeouts) and runs the handlers inline. Responses
// are formatted by internal/http_response so that each write is one buffer where possible (one
// TLS record per chunk).
#include "gateway/http_server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <future>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <unordered_map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "core/logging.h"
#include "gateway/internal/http_response.h"

namespace sobre::gateway {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using asio::awaitable;
using internal::BodyFraming;
using Clock = std::chrono::steady_clock;

// Every asynchronous call completes with an error_code instead of throwing.
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// Bytes prepared for the first read of a keep-alive request: a waiting connection holds this much.
constexpr size_t kIdleReadBytes = 512;
// A connection keeps up to this much read buffer between requests; more is given back.
constexpr size_t kKeptBufferBytes = 4096;
// Bodies up to this size are copied behind the head so that a response is one write.
constexpr size_t kCoalesceBytes = 16 << 10;
// After an error response that leaves a request unread (413, 431, 400), the rest of the request is
// read and dropped for this long, at most kLingerBytes, so that closing does not send an RST that
// would destroy the response in the client's receive queue.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kLingerBytes = 1 << 20;
// How long Stop() waits for the connections it closed to wind down before stopping the threads.
constexpr auto kCutGrace = std::chrono::milliseconds(200);
// Bound on a TLS close_notify exchange.
constexpr auto kTlsShutdownTime = std::chrono::seconds(1);
// Pause after a failed accept (e.g. out of descriptors) so that the loop does not spin.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(50);

HttpHeaders JsonHeaders() { return {{"Content-Type", "application/json"}}; }

// A connection as the server sees it for shutdown. Thread contract: CloseForShutdown() only on
// executor().
class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  // Closes the socket unless a request is being handled; with `force`, always.
  virtual void CloseForShutdown(bool force) = 0;
  // The connection's strand.
  virtual asio::any_io_executor strand() = 0;
};

// State shared by the acceptor, the connections and Stop(). Thread contract: `options` and
// `routes` are written before Start() and read-only after; the rest is atomic or under `mu`.
struct ServerCore {
  explicit ServerCore(HttpServerOptions o) : options(std::move(o)) {}

  void Register(const std::shared_ptr<ConnectionBase>& connection) {
    std::lock_guard lock(mu);
    live.emplace(connection.get(), connection);
    connections.fetch_add(1);
  }

  void Unregister(ConnectionBase* connection) {
    {
      std::lock_guard lock(mu);
      live.erase(connection);
      connections.fetch_sub(1);
    }
    if (shutting_down.load()) cv.notify_all();
  }

  void RequestStarted() { in_flight.fetch_add(1); }

  void RequestFinished() {
    if (in_flight.fetch_sub(1) == 1 && shutting_down.load()) {
      std::lock_guard lock(mu);
      cv.notify_all();
    }
  }

  std::vector<std::shared_ptr<ConnectionBase>> LiveConnections() {
    std::vector<std::shared_ptr<ConnectionBase>> out;
    std::lock_guard lock(mu);
    out.reserve(live.size());
    for (auto& [raw, weak] : live) {
      if (auto strong = weak.lock()) out.push_back(std::move(strong));
    }
    return out;
  }

  // Waits until `done()` or `until`; `done` must read state that changes under `mu` or is
  // followed by a notification under `mu`.
  template <typename Predicate>
  void WaitUntil(Clock::time_point until, Predicate done) {
    std::unique_lock lock(mu);
    cv.wait_until(lock, until, done);
  }

  HttpServerOptions options;
  std::unordered_map<std::string, std::map<std::string, Handler>> routes;  // path -> method.
  std::atomic<bool> shutting_down{false};
  std::atomic<size_t> in_flight{0};
  std::atomic<size_t> connections{0};

  std::mutex mu;
  std::condition_variable cv;
  std::unordered_map<ConnectionBase*, std::weak_ptr<ConnectionBase>> live;  // Guarded by mu.
};

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

HttpRequest ToHttpRequest(http::request<http::string_body>&& message, const std::string& remote) {
  HttpRequest request;
  request.method = std::string(message.method_string());
  const std::string_view target = message.target();
  const size_t question = target.find('?');
  request.path = std::string(target.substr(0, question));
  if (question != std::string_view::npos) request.query = std::string(target.substr(question + 1));
  for (const auto& field : message) {
    std::string name = LowerAscii(field.name_string());
    auto [it, inserted] = request.headers.try_emplace(std::move(name), field.value());
    if (!inserted) it->second.append(", ").append(field.value());  // RFC 9110 5.3.
  }
  request.body = std::move(message.body());
  request.remote_address = remote;
  return request;
}

// True for request errors that deserve a 400 before closing (as opposed to the client leaving).
bool IsMalformedRequest(const beast::error_code& ec) {
  if (ec.category() != http::make_error_code(http::error::bad_method).category()) return false;
  return ec != http::error::end_of_stream && ec != http::error::partial_message &&
         ec != http::error::short_read;
}

// One client connection. Stream is beast::tcp_stream or ssl::stream<beast::tcp_stream>; the
// lowest layer carries the timeouts. Thread contract: everything runs on the connection's strand.
template <typename Stream>
class Connection final : public ConnectionBase {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  template <typename... StreamArgs>
  Connection(ServerCore& core, std::string remote_address, StreamArgs&&... stream_args)
      : core_(core),
        stream_(std::forward<StreamArgs>(stream_args)...),
        remote_address_(std::move(remote_address)) {}
  ~Connection() override { core_.Unregister(this); }

  // The connection's coroutine; `self` keeps the connection alive while it runs.
  static awaitable<void> Run(std::shared_ptr<Connection> self) { co_await self->Serve(); }

  void CloseForShutdown(bool force) override {
    if (force || !handling_) Lowest().close();
  }

  asio::any_io_executor strand() override { return Lowest().get_executor(); }

 private:
  class Writer;

  // Marks a request as being handled for Stop() and in_flight().
  class RequestScope {
   public:
    explicit RequestScope(Connection& c) : c_(c) {
      c_.handling_ = true;
      c_.core_.RequestStarted();
    }
    ~RequestScope() {
      c_.handling_ = false;
      c_.core_.RequestFinished();
    }
    RequestScope(const RequestScope&) = delete;
    RequestScope& operator=(const RequestScope&) = delete;

   private:
    Connection& c_;
  };

  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  awaitable<void> Serve();
  awaitable<bool> WaitForNextRequest();
  awaitable<bool> ServeRequest(Clock::time_point read_deadline);
  awaitable<void> Dispatch(const HttpRequest& request, Writer& writer);
  awaitable<void> Reject(int status, std::string message);
  awaitable<void> Linger();
  awaitable<void> Close();

  ServerCore& core_;
  Stream stream_;
  // Reused for every request on the connection; trimmed to kKeptBufferBytes between requests.
  beast::flat_buffer buffer_;
  std::string remote_address_;
  bool handling_ = false;
};

// The ResponseWriter of one request. Thread contract: used by the request's coroutine only.
template <typename Stream>
class Connection<Stream>::Writer final : public ResponseWriter {
 public:
  Writer(Connection& connection, bool client_keeps_alive, bool http10)
      : c_(connection), client_keeps_alive_(client_keeps_alive), http10_(http10) {}

  awaitable<Status> Send(int status, HttpHeaders headers, std::string body) override {
    if (Status s = CheckCanStart(); !s.ok()) co_return s;
    close_ = !client_keeps_alive_ || c_.core_.shutting_down.load();
    StatusOr<std::string> head = internal::FormatResponseHead(
        status, headers, BodyFraming::kContentLength, body.size(), &close_);
    if (!head.ok()) co_return head.status();
    started_ = true;
    finished_ = true;
    co_return co_await Write(std::move(*head), body);
  }

  awaitable<Status> StartStream(int status, HttpHeaders headers) override {
    if (Status s = CheckCanStart(); !s.ok()) co_return s;
    close_ = !client_keeps_alive_ || c_.core_.shutting_down.load();
    const BodyFraming framing = http10_ ? BodyFraming::kUntilClose : BodyFraming::kChunked;
    StatusOr<std::string> head = internal::FormatResponseHead(status, headers, framing, 0, &close_);
    if (!head.ok()) co_return head.status();
    started_ = true;
    streaming_ = true;
    co_return co_await Write(std::move(*head), {});
  }

  awaitable<Status> WriteChunk(std::string data) override {
    if (failed_) co_return Gone();
    if (!streaming_ || finished_) {
      co_return FailedPreconditionError("WriteChunk() outside StartStream()/EndStream()");
    }
    if (data.empty()) co_return OkStatus();  // An empty chunk would end the body.
    if (http10_) co_return co_await Write(std::move(data), {});
    scratch_.clear();
    internal::AppendChunk(data, scratch_);
    co_return co_await Write(std::move(scratch_), {});
  }

  awaitable<Status> EndStream() override {
    if (failed_) co_return Gone();
    if (!streaming_ || finished_) {
      co_return FailedPreconditionError("EndStream() without StartStream(), or twice");
    }
    finished_ = true;
    if (http10_) co_return OkStatus();  // The close ends the body.
    co_return co_await Write(std::string(internal::kLastChunk), {});
  }

  bool started() const override { return started_; }
  bool shutting_down() const override { return c_.core_.shutting_down.load(); }

  bool finished() const { return finished_; }
  // A stream the handler left unfinished after throwing: the client must see it cut.
  void Abandon() { failed_ = true; }
  // Whether the connection can carry another request after this response.
  bool KeepAlive() const { return started_ && finished_ && !failed_ && !close_; }

 private:
  Status CheckCanStart() const {
    if (failed_) return Gone();
    if (started_) return FailedPreconditionError("response already started");
    return OkStatus();
  }

  static Status Gone() { return UnavailableError("client connection is closed"); }

  // Writes `head` then `tail`; small tails are copied behind the head for a single write.
  awaitable<Status> Write(std::string head, std::string_view tail) {
    if (!tail.empty() && tail.size() <= kCoalesceBytes) {
      head.append(tail);
      tail = {};
    }
    c_.Lowest().expires_after(c_.core_.options.write_timeout);
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(tail)};
    auto [ec, written] = co_await asio::async_write(c_.stream_, buffers, kNoThrow);
    scratch_ = std::move(head);  // Its capacity serves the next chunk of a stream.
    if (ec) {
      failed_ = true;
      if (ec == beast::error::timeout) {
        co_return DeadlineExceededError("client did not read the response within " +
                                        std::to_string(c_.core_.options.write_timeout.count()) +
                                        " s");
      }
      co_return UnavailableError("writing the response: " + ec.message());
    }
    co_return OkStatus();
  }

  Connection& c_;
  const bool client_keeps_alive_;
  const bool http10_;
  bool started_ = false;
  bool streaming_ = false;
  bool finished_ = false;
  bool failed_ = false;
  bool close_ = false;
  std::string scratch_;  // Chunk frames are built here, reusing its capacity.
};

template <typename Stream>
awaitable<void> Connection<Stream>::Serve() {
  const HttpServerOptions& options = core_.options;
  // The first request, TLS handshake included, must arrive within read_timeout of the accept.
  Clock::time_point read_deadline = Clock::now() + options.read_timeout;
  if constexpr (kTls) {
    Lowest().expires_at(read_deadline);
    auto [ec] = co_await stream_.async_handshake(ssl::stream_base::server, kNoThrow);
    if (ec) {
      Lowest().close();
      co_return;
    }
  }
  bool first = true;
  while (!core_.shutting_down.load()) {
    if (!first) {
      if (buffer_.size() == 0 && !co_await WaitForNextRequest()) break;
      read_deadline = Clock::now() + options.read_timeout;
    }
    first = false;
    if (!co_await ServeRequest(read_deadline)) break;
    if (buffer_.size() == 0 && buffer_.capacity() > kKeptBufferBytes) buffer_.shrink_to_fit();
  }
  co_await Close();
}

// Waits up to idle_timeout for the first bytes of the next request on a kept-alive connection.
template <typename Stream>
awaitable<bool> Connection<Stream>::WaitForNextRequest() {
  Lowest().expires_after(core_.options.idle_timeout);
  auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(kIdleReadBytes), kNoThrow);
  if (ec) co_return false;
  buffer_.commit(n);
  co_return true;
}

// Reads one request (all of it by `read_deadline`), handles it and writes the response. Returns
// whether the connection may carry another request.
template <typename Stream>
awaitable<bool> Connection<Stream>::ServeRequest(Clock::time_point read_deadline) {
  const HttpServerOptions& options = core_.options;
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(
      std::min<size_t>(options.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
  // With a Content-Length the parser fails at the end of the header, before any body is read.
  parser.body_limit(options.max_body_bytes);

  Lowest().expires_at(read_deadline);
  beast::error_code ec;
  std::tie(ec, std::ignore) = co_await http::async_read_header(stream_, buffer_, parser, kNoThrow);
  if (!ec && !parser.is_done()) {
    if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      Lowest().expires_after(options.write_timeout);
      auto [write_ec, n] = co_await asio::async_write(stream_, asio::buffer(kContinue), kNoThrow);
      if (write_ec) co_return false;
      Lowest().expires_at(read_deadline);
    }
    std::tie(ec, std::ignore) = co_await http::async_read(stream_, buffer_, parser, kNoThrow);
  }
  if (ec) {
    if (ec == http::error::body_limit) {
      co_await Reject(413, "Request body too large: the limit is " +
                               std::to_string(options.max_body_bytes) + " bytes.");
    } else if (ec == http::error::header_limit) {
      co_await Reject(431, "Request header fields too large: the limit is " +
                               std::to_string(options.max_header_bytes) + " bytes.");
    } else if (IsMalformedRequest(ec)) {
      co_await Reject(400, "Malformed HTTP request: " + ec.message() + ".");
    }
    // Otherwise the client left or was too slow: nothing to say to it.
    co_return false;
  }

  // HTTP/1.0 keep-alive is not offered: one request per connection for such old clients.
  const bool http10 = parser.get().version() < 11;
  const bool keep_alive = parser.get().keep_alive() && !http10;
  const HttpRequest request = ToHttpRequest(parser.release(), remote_address_);
  RequestScope scope(*this);
  Writer writer(*this, keep_alive, http10);
  co_await Dispatch(request, writer);
  co_return writer.KeepAlive();
}

template <typename Stream>
awaitable<void> Connection<Stream>::Dispatch(const HttpRequest& request, Writer& writer) {
  const std::string what = request.method + " " + request.path;
  auto route = core_.routes.find(request.path);
  if (route == core_.routes.end()) {
    (void)co_await writer.Send(
        404, JsonHeaders(),
        OpenAiErrorBody("Invalid URL (" + what + ")", "invalid_request_error", "", ""));
    co_return;
  }
  auto handler = route->second.find(request.method);
  if (handler == route->second.end()) {
    std::string allow;
    for (const auto& [method, unused] : route->second) {
      if (!allow.empty()) allow += ", ";
      allow += method;
    }
    HttpHeaders headers = JsonHeaders();
    headers.emplace_back("Allow", std::move(allow));
    (void)co_await writer.Send(
        405, std::move(headers),
        OpenAiErrorBody("Invalid method for URL (" + what + ")", "invalid_request_error", "", ""));
    co_return;
  }

  // The boundary where a handler's exception stops: the client gets a 500 (or a cut stream).
  bool threw = false;
  try {
    co_await handler->second(request, writer);
  } catch (const std::exception& e) {
    threw = true;
    SOBRE_LOG(kError, "handler for {} threw: {}", what, e.what());
  } catch (...) {
    threw = true;
    SOBRE_LOG(kError, "handler for {} threw a non-standard exception", what);
  }
  if (!writer.started()) {
    if (!threw) SOBRE_LOG(kError, "handler for {} returned without a response", what);
    (void)co_await writer.Send(500, JsonHeaders(),
                               OpenAiErrorBody("The server had an error while processing your "
                                               "request.",
                                               "server_error", "", ""));
  } else if (!writer.finished()) {
    if (threw) {
      writer.Abandon();
    } else {
      (void)co_await writer.EndStream();
    }
  }
}

// Answers a request that will not be read to the end, then closes the connection.
template <typename Stream>
awaitable<void> Connection<Stream>::Reject(int status, std::string message) {
  Writer writer(*this, /*client_keeps_alive=*/false, /*http10=*/false);
  const Status sent =
      co_await writer.Send(status, JsonHeaders(),
                           OpenAiErrorBody(message, "invalid_request_error", "", ""));
  if (sent.ok()) co_await Linger();
}

template <typename Stream>
awaitable<void> Connection<Stream>::Linger() {
  if constexpr (kTls) {
    co_return;  // A TLS close_notify follows in Close(); there is no half-close to linger on.
  } else {
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    Lowest().expires_after(std::min<Clock::duration>(core_.options.read_timeout, kLingerTime));
    size_t dropped = 0;
    while (dropped < kLingerBytes) {
      auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(kIdleReadBytes), kNoThrow);
      if (ec) break;
      dropped += n;
    }
  }
}

template <typename Stream>
awaitable<void> Connection<Stream>::Close() {
  if constexpr (kTls) {
    if (Lowest().socket().is_open()) {
      Lowest().expires_after(kTlsShutdownTime);
      auto [ec] = co_await stream_.async_shutdown(kNoThrow);
    }
  }
  Lowest().close();
}

template <typename Stream, typename... StreamArgs>
void SpawnConnection(ServerCore& core, tcp::socket socket, StreamArgs&... stream_args) {
  beast::error_code ec;
  const tcp::endpoint remote = socket.remote_endpoint(ec);
  std::string remote_address = ec ? std::string() : remote.address().to_string();
  asio::any_io_executor strand = socket.get_executor();
  auto connection = std::make_shared<Connection<Stream>>(core, std::move(remote_address),
                                                         std::move(socket), stream_args...);
  core.Register(connection);
  asio::co_spawn(strand, Connection<Stream>::Run(std::move(connection)),
                 [](std::exception_ptr e) {
                   if (!e) return;
                   // Only Beast/Asio internals (e.g. bad_alloc) can get here.
                   try {
                     std::rethrow_exception(e);
                   } catch (const std::exception& ex) {
                     SOBRE_LOG(kError, "HTTP connection failed: {}", ex.what());
                   } catch (...) {
                     SOBRE_LOG(kError, "HTTP connection failed");
                   }
                 });
}

awaitable<void> AcceptLoop(ServerCore& core, tcp::acceptor& acceptor, asio::io_context& ioc,
                           ssl::context* tls) {
  for (;;) {
    asio::any_io_executor strand = asio::make_strand(ioc);
    auto [ec, socket] = co_await acceptor.async_accept(strand, kNoThrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      SOBRE_LOG(kWarning, "HTTP accept failed: {}", ec.message());
      asio::steady_timer pause(co_await asio::this_coro::executor, kAcceptRetryDelay);
      (void)co_await pause.async_wait(kNoThrow);
      continue;
    }
    if (core.shutting_down.load() || core.connections.load() >= core.options.max_connections) {
      socket.close(ec);
      continue;
    }
    // SSE chunks are small and must leave at once.
    socket.set_option(tcp::no_delay(true), ec);
    if (tls != nullptr) {
      SpawnConnection<ssl::stream<beast::tcp_stream>>(core, std::move(socket), *tls);
    } else {
      SpawnConnection<beast::tcp_stream>(core, std::move(socket));
    }
  }
}

void RunIoThread(asio::io_context& ioc) {
  // Handlers should not throw; if one does, log it and keep serving.
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& e) {
      SOBRE_LOG(kError, "HTTP I/O thread: {}", e.what());
    } catch (...) {
      SOBRE_LOG(kError, "HTTP I/O thread: non-standard exception");
    }
  }
}

StatusOr<std::unique_ptr<ssl::context>> LoadTls(const HttpServerOptions& options) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  beast::error_code ec;
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                           ssl::context::single_dh_use,
                       ec);
  if (ec) return InternalError("configuring TLS: " + ec.message());
  // Idle TLS connections give their OpenSSL record buffers back.
  SSL_CTX_set_mode(context->native_handle(), SSL_MODE_RELEASE_BUFFERS);
  context->use_certificate_chain_file(options.tls_cert_file, ec);
  if (ec) {
    return InvalidArgumentError("loading TLS certificate " + options.tls_cert_file + ": " +
                                ec.message());
  }
  context->use_private_key_file(options.tls_key_file, ssl::context::pem, ec);
  if (ec) {
    return InvalidArgumentError("loading TLS key " + options.tls_key_file + ": " + ec.message());
  }
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    return InvalidArgumentError("TLS key " + options.tls_key_file +
                                " does not match certificate " + options.tls_cert_file);
  }
  return context;
}

StatusOr<tcp::endpoint> ResolveListenAddress(const HttpServerOptions& options,
                                             asio::io_context& ioc) {
  beast::error_code ec;
  const asio::ip::address address = asio::ip::make_address(options.host, ec);
  if (!ec) return tcp::endpoint(address, options.port);
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(options.host, std::to_string(options.port),
                                  tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    return InvalidArgumentError("listen address '" + options.host +
                                "': " + (ec ? ec.message() : "no address"));
  }
  return results.begin()->endpoint();
}

}  // namespace

std::string_view HttpRequest::Header(std::string_view lower_name) const {
  auto it = headers.find(std::string(lower_name));
  return it == headers.end() ? std::string_view() : std::string_view(it->second);
}

std::string OpenAiErrorBody(std::string_view message, std::string_view type,
                            std::string_view param, std::string_view code) {
  namespace json = boost::json;
  auto optional_string = [](std::string_view s) {
    return s.empty() ? json::value(nullptr) : json::value(json::string(s));
  };
  json::object error;
  error["message"] = json::string(message);
  error["type"] = json::string(type);
  error["param"] = optional_string(param);
  error["code"] = optional_string(code);
  json::object body;
  body["error"] = std::move(error);
  return json::serialize(body);
}

struct HttpServer::Impl {
  explicit Impl(HttpServerOptions options) : core(std::move(options)) {}

  // Declaration order matters for destruction: the io_context (and with it any coroutine still
  // suspended) goes before the TLS context and the core they refer to; Stop() also resets it.
  ServerCore core;
  std::unique_ptr<ssl::context> tls;
  std::unique_ptr<asio::io_context> ioc;
  std::optional<asio::strand<asio::io_context::executor_type>> accept_strand;
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::jthread> threads;
  uint16_t port = 0;
  bool started = false;
  bool running = false;
};

HttpServer::HttpServer(HttpServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpServer::~HttpServer() { Stop(std::chrono::milliseconds(0)); }

void HttpServer::Route(std::string method, std::string path, Handler handler) {
  impl_->core.routes[std::move(path)][std::move(method)] = std::move(handler);
}

Status HttpServer::Start() {
  Impl& s = *impl_;
  const HttpServerOptions& options = s.core.options;
  if (s.started) return FailedPreconditionError("HttpServer::Start() called twice");
  if (options.io_threads < 1) {
    return InvalidArgumentError("io_threads must be at least 1, not " +
                                std::to_string(options.io_threads));
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return InvalidArgumentError("TLS needs both tls_cert_file and tls_key_file");
  }
  if (!options.tls_cert_file.empty()) {
    SOBRE_ASSIGN_OR_RETURN(s.tls, LoadTls(options));
  }

  s.ioc = std::make_unique<asio::io_context>(options.io_threads);
  StatusOr<tcp::endpoint> endpoint = ResolveListenAddress(options, *s.ioc);
  if (!endpoint.ok()) {
    s.ioc.reset();
    return endpoint.status();
  }
  s.accept_strand.emplace(asio::make_strand(*s.ioc));
  s.acceptor.emplace(*s.accept_strand);
  tcp::acceptor& acceptor = *s.acceptor;
  beast::error_code ec;
  auto fail = [&](std::string_view step) {
    const std::string where = options.host + ":" + std::to_string(options.port);
    s.acceptor.reset();
    s.accept_strand.reset();
    s.ioc.reset();
    return UnavailableError(std::string(step) + " " + where + ": " + ec.message());
  };
  acceptor.open(endpoint->protocol(), ec);
  if (ec) return fail("opening a socket for");
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("setting SO_REUSEADDR on");
  acceptor.bind(*endpoint, ec);
  if (ec) return fail("binding");
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listening on");
  s.port = acceptor.local_endpoint(ec).port();

  asio::co_spawn(*s.accept_strand, AcceptLoop(s.core, acceptor, *s.ioc, s.tls.get()),
                 [](std::exception_ptr e) {
                   if (e) SOBRE_LOG(kError, "HTTP accept loop ended by an exception");
                 });
  s.work.emplace(s.ioc->get_executor());
  for (int i = 0; i < options.io_threads; ++i) {
    s.threads.emplace_back([ioc = s.ioc.get()] { RunIoThread(*ioc); });
  }
  s.started = true;
  s.running = true;
  return OkStatus();
}

uint16_t HttpServer::port() const { return impl_->port; }

boost::asio::any_io_executor HttpServer::executor() {
  if (!impl_->ioc) return {};
  return impl_->ioc->get_executor();
}

void HttpServer::Stop(std::chrono::milliseconds deadline, const std::function<void()>& before_destroy) {
  Impl& s = *impl_;
  if (!s.running) return;
  s.running = false;
  const Clock::time_point until = Clock::now() + deadline;
  s.core.shutting_down.store(true);

  // Stop accepting. The acceptor belongs to its strand.
  std::promise<void> acceptor_closed;
  asio::post(*s.accept_strand, [&s, &acceptor_closed] {
    beast::error_code ignored;
    s.acceptor->close(ignored);
    acceptor_closed.set_value();
  });
  acceptor_closed.get_future().wait();

  // Connections waiting for a request close now; those handling one finish it, then close.
  for (auto& connection : s.core.LiveConnections()) {
    asio::post(connection->strand(), [connection] { connection->CloseForShutdown(false); });
  }
  s.core.WaitUntil(until, [&s] { return s.core.in_flight.load() == 0; });

  // Past the deadline: cut what is left.
  for (auto& connection : s.core.LiveConnections()) {
    asio::post(connection->strand(), [connection] { connection->CloseForShutdown(true); });
  }
  s.core.WaitUntil(Clock::now() + kCutGrace, [&s] { return s.core.connections.load() == 0; });

  s.work.reset();
  s.ioc->stop();
  s.threads.clear();  // Joins.
  s.acceptor.reset();
  s.accept_strand.reset();
  // Sockets that outlive the threads but belong to this io_context (a backend's pooled upstream
  // connections) must go before it does.
  if (before_destroy) before_destroy();
  // Destroys the coroutines of handlers that outlived the deadline while the core still exists.
  s.ioc.reset();
}

size_t HttpServer::in_flight() const { return impl_->core.in_flight.load(); }

}  // namespace sobre::gateway
