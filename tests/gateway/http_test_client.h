// A blocking HTTP/1.1 client on raw loopback sockets for the HttpServer tests: it sends exactly
// the bytes a test writes and parses responses (Content-Length and chunked) with timeouts, so
// that tests can play slow, pipelining or misbehaving clients.
#ifndef SOBRE_TESTS_GATEWAY_HTTP_TEST_CLIENT_H_
#define SOBRE_TESTS_GATEWAY_HTTP_TEST_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sobre::gateway::testing {

struct HttpTestResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // Lower-cased names.
  std::string body;                            // De-chunked.
  std::vector<std::string> chunks;             // The chunks of a chunked body, in order.

  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// One connection to 127.0.0.1. Thread contract: one thread at a time.
class HttpTestClient {
 public:
  // Connects to 127.0.0.1:port; nullptr on failure. `receive_buffer_bytes` > 0 sets SO_RCVBUF
  // before connecting (to make a non-reading client fill up quickly).
  static std::unique_ptr<HttpTestClient> Connect(uint16_t port, int receive_buffer_bytes = 0);
  ~HttpTestClient();
  HttpTestClient(const HttpTestClient&) = delete;
  HttpTestClient& operator=(const HttpTestClient&) = delete;

  // Sends all of `bytes`; false if the connection failed.
  bool Send(std::string_view bytes);

  // Reads a whole response. nullopt on timeout or if the connection ends first.
  std::optional<HttpTestResponse> ReadResponse(
      std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Reads the status line and headers only; then ReadChunk() for a chunked body. Interim (1xx)
  // responses are skipped unless `skip_interim` is false.
  std::optional<HttpTestResponse> ReadHead(
      std::chrono::milliseconds timeout = std::chrono::seconds(5), bool skip_interim = true);
  // Reads the next chunk of a chunked body: its data, "" for the last chunk, nullopt on timeout
  // or end of connection.
  std::optional<std::string> ReadChunk(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // True when the server closes the connection (EOF or reset) within `timeout`; data that
  // arrives before is discarded.
  bool WaitClosed(std::chrono::milliseconds timeout);

  // Bytes received but not consumed by the reads above.
  const std::string& pending() const { return buffer_; }

 private:
  explicit HttpTestClient(int fd) : fd_(fd) {}
  // Reads more into buffer_; false on EOF, error or `deadline`.
  bool Fill(std::chrono::steady_clock::time_point deadline);
  // Reads until buffer_ holds a line ending in CRLF (or `n` bytes) and removes it.
  std::optional<std::string> TakeLine(std::chrono::steady_clock::time_point deadline);
  std::optional<std::string> TakeBytes(size_t n, std::chrono::steady_clock::time_point deadline);

  int fd_;
  std::string buffer_;
};

// "GET /path HTTP/1.1" with a Host header and any `extra_headers` ("Name: value\r\n" lines).
std::string HttpGet(std::string_view path, std::string_view extra_headers = "");
// A POST with a Content-Length body.
std::string HttpPost(std::string_view path, std::string_view body,
                     std::string_view extra_headers = "");

// Runs a shell command; returns its exit status and standard output.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult RunCommand(const std::string& command);

// Resident set size of this process, bytes; 0 if unknown.
size_t ResidentBytes();
// Threads in this process.
int ThreadCount();

}  // namespace sobre::gateway::testing

#endif  // SOBRE_TESTS_GATEWAY_HTTP_TEST_CLIENT_H_
