// Raw-socket HTTP/1.1 client for the HttpServer tests.
#include "tests/gateway/http_test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace sobre::gateway::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::unique_ptr<HttpTestClient> HttpTestClient::Connect(uint16_t port, int receive_buffer_bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  if (receive_buffer_bytes > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes, sizeof(receive_buffer_bytes));
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return nullptr;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return std::unique_ptr<HttpTestClient>(new HttpTestClient(fd));
}

HttpTestClient::~HttpTestClient() { ::close(fd_); }

bool HttpTestClient::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool HttpTestClient::Fill(Clock::time_point deadline) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    char data[16384];
    const ssize_t n = ::recv(fd_, data, sizeof(data), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buffer_.append(data, static_cast<size_t>(n));
    return true;
  }
}

std::optional<std::string> HttpTestClient::TakeLine(Clock::time_point deadline) {
  for (;;) {
    const size_t end = buffer_.find("\r\n");
    if (end != std::string::npos) {
      std::string line = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      return line;
    }
    if (!Fill(deadline)) return std::nullopt;
  }
}

std::optional<std::string> HttpTestClient::TakeBytes(size_t n, Clock::time_point deadline) {
  while (buffer_.size() < n) {
    if (!Fill(deadline)) return std::nullopt;
  }
  std::string out = buffer_.substr(0, n);
  buffer_.erase(0, n);
  return out;
}

std::optional<HttpTestResponse> HttpTestClient::ReadHead(std::chrono::milliseconds timeout,
                                                         bool skip_interim) {
  const Clock::time_point deadline = Clock::now() + timeout;
  HttpTestResponse response;
  for (;;) {
    std::optional<std::string> status_line = TakeLine(deadline);
    if (!status_line) return std::nullopt;
    // "HTTP/1.1 200 OK"
    if (status_line->size() < 12 || status_line->compare(0, 5, "HTTP/") != 0) return std::nullopt;
    response.status = std::atoi(status_line->c_str() + 9);
    response.headers.clear();
    for (;;) {
      std::optional<std::string> line = TakeLine(deadline);
      if (!line) return std::nullopt;
      if (line->empty()) break;
      const size_t colon = line->find(':');
      if (colon == std::string::npos) return std::nullopt;
      response.headers[Lower(line->substr(0, colon))] =
          std::string(TrimSpaces(std::string_view(*line).substr(colon + 1)));
    }
    if (response.status >= 200 || !skip_interim) return response;
  }
}

std::optional<std::string> HttpTestClient::ReadChunk(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  std::optional<std::string> size_line = TakeLine(deadline);
  if (!size_line) return std::nullopt;
  const size_t size = std::strtoul(size_line->c_str(), nullptr, 16);
  if (size == 0) {
    // Trailers, then the blank line.
    for (;;) {
      std::optional<std::string> line = TakeLine(deadline);
      if (!line) return std::nullopt;
      if (line->empty()) return std::string();
    }
  }
  std::optional<std::string> data = TakeBytes(size + 2, deadline);
  if (!data || data->compare(size, 2, "\r\n") != 0) return std::nullopt;
  data->resize(size);
  return data;
}

std::optional<HttpTestResponse> HttpTestClient::ReadResponse(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  std::optional<HttpTestResponse> response = ReadHead(timeout);
  if (!response) return std::nullopt;
  if (Lower(response->Header("transfer-encoding")) == "chunked") {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                              Clock::now());
      std::optional<std::string> chunk = ReadChunk(left);
      if (!chunk) return std::nullopt;
      if (chunk->empty()) break;
      response->body += *chunk;
      response->chunks.push_back(std::move(*chunk));
    }
    return response;
  }
  const std::string length = response->Header("content-length");
  if (length.empty()) {
    // Delimited by the close.
    while (Fill(deadline)) {
    }
    response->body = std::move(buffer_);
    buffer_.clear();
    return response;
  }
  std::optional<std::string> body = TakeBytes(std::strtoul(length.c_str(), nullptr, 10), deadline);
  if (!body) return std::nullopt;
  response->body = std::move(*body);
  return response;
}

bool HttpTestClient::WaitClosed(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    char data[16384];
    const ssize_t n = ::recv(fd_, data, sizeof(data), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
  }
}

std::string HttpGet(std::string_view path, std::string_view extra_headers) {
  std::string out = "GET ";
  out.append(path).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n").append(extra_headers).append("\r\n");
  return out;
}

std::string HttpPost(std::string_view path, std::string_view body,
                     std::string_view extra_headers) {
  std::string out = "POST ";
  out.append(path)
      .append(" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n")
      .append("Content-Length: ")
      .append(std::to_string(body.size()))
      .append("\r\n")
      .append(extra_headers)
      .append("\r\n")
      .append(body);
  return out;
}

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char data[4096];
  size_t n;
  while ((n = std::fread(data, 1, sizeof(data), pipe)) > 0) result.output.append(data, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

size_t ResidentBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

int ThreadCount() {
  int n = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator("/proc/self/task")) {
    ++n;
  }
  return n;
}

}  // namespace sobre::gateway::testing
