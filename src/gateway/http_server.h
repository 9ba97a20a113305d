// HttpServer: HTTP/1.1 (and optionally TLS) on Boost.Beast with one coroutine per connection, so
// that thousands of waiting streams cost memory, not threads. It knows nothing of OpenAI: the
// gateway registers handlers for exact paths.
#ifndef SOBRE_GATEWAY_HTTP_SERVER_H_
#define SOBRE_GATEWAY_HTTP_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "core/status.h"

namespace sobre::gateway {

struct HttpServerOptions {
  std::string host = "127.0.0.1";  // Address to bind.
  uint16_t port = 8080;            // 0 picks a free port (tests); see HttpServer::port().
  int io_threads = 2;              // Threads running the io_context.
  std::string tls_cert_file;       // PEM certificate chain; TLS is on when both files are set.
  std::string tls_key_file;        // PEM private key.
  size_t max_body_bytes = 8u << 20;    // Larger bodies get 413 before they are read.
  size_t max_header_bytes = 16u << 10; // Larger headers get 431.
  std::chrono::seconds idle_timeout{60};    // Keep-alive connection with no request.
  std::chrono::seconds read_timeout{30};    // Slow client: a request must arrive within this.
  std::chrono::seconds write_timeout{30};   // A client that stops reading a response.
  size_t max_connections = 10000;      // Beyond this, new connections are closed at once.
};

struct HttpRequest {
  std::string method;                           // "GET", "POST", ...
  std::string path;                             // Target without the query string.
  std::string query;                            // After '?', may be empty.
  std::map<std::string, std::string> headers;   // Names lower-cased.
  std::string body;
  std::string remote_address;

  // Header value or empty.
  std::string_view Header(std::string_view lower_name) const;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// Writes one response. Either Send() once, or StartStream() then WriteChunk()* then EndStream().
// Each call completes when the bytes are handed to the socket (backpressure from slow clients).
// An error status means the client is gone; further calls fail fast. Used by one coroutine.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  virtual boost::asio::awaitable<Status> Send(int status, HttpHeaders headers,
                                              std::string body) = 0;
  // Starts a chunked response (e.g. text/event-stream); the headers are flushed at once.
  virtual boost::asio::awaitable<Status> StartStream(int status, HttpHeaders headers) = 0;
  virtual boost::asio::awaitable<Status> WriteChunk(std::string data) = 0;
  virtual boost::asio::awaitable<Status> EndStream() = 0;
  // True once Send() or StartStream() succeeded.
  virtual bool started() const = 0;
  // True when the server is shutting down and streams should finish (graceful shutdown).
  virtual bool shutting_down() const = 0;
};

using Handler = std::function<boost::asio::awaitable<void>(const HttpRequest&, ResponseWriter&)>;

// Thread contract: Route() before Start(); Start()/Stop() from one thread; handlers run on the
// I/O threads, concurrently.
class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Registers `handler` for `method` and exact `path`. Unknown paths get 404, a known path with
  // another method 405, both with an OpenAI-shaped error body.
  void Route(std::string method, std::string path, Handler handler);

  // Binds, listens and starts the I/O threads. Fails (e.g. address in use, bad TLS files) with a
  // message naming the address or file.
  Status Start();
  // The bound port (after Start()).
  uint16_t port() const;
  // An executor of the server's io_context, for work the handlers spawn.
  boost::asio::any_io_executor executor();

  // Graceful shutdown: stops accepting, lets in-flight requests finish until `deadline`, then
  // closes what is left and joins the threads. `before_destroy` then runs, before the io_context is
  // destroyed: release there anything holding its sockets (a backend's pooled connections).
  void Stop(std::chrono::milliseconds deadline, const std::function<void()>& before_destroy = {});

  // Number of requests being handled right now.
  size_t in_flight() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// {"error":{"message":...,"type":...,"param":...,"code":...}} — the OpenAI error body.
std::string OpenAiErrorBody(std::string_view message, std::string_view type,
                            std::string_view param, std::string_view code);

}  // namespace sobre::gateway

#endif  // SOBRE_GATEWAY_HTTP_SERVER_H_
