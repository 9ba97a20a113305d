// Runs the real fake_openai_upstream binary on port 0 for the duration of a test, and reads its
// /fake/stats counters over loopback.
#ifndef SOBRE_TESTS_BACKEND_FAKE_UPSTREAM_H_
#define SOBRE_TESTS_BACKEND_FAKE_UPSTREAM_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>

extern char** environ;

namespace sobre::testing {

class FakeUpstream {
 public:
  // Starts FAKE_UPSTREAM with `args` (plus --port 0) and waits for its "listening" line. Returns
  // null and sets *error when it does not start within 10 s.
  static std::unique_ptr<FakeUpstream> Start(const std::vector<std::string>& args,
                                             std::string* error) {
    int out[2];
    if (::pipe(out) != 0) {
      *error = "pipe failed";
      return nullptr;
    }
    std::vector<std::string> argv_strings = {FAKE_UPSTREAM, "--port", "0"};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    if (rc != 0) {
      ::close(out[0]);
      *error = "cannot start " + argv_strings[0];
      return nullptr;
    }
    auto fake = std::unique_ptr<FakeUpstream>(new FakeUpstream(pid));
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out[0], POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      ssize_t n = ::read(out[0], buf, sizeof(buf));
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    ::close(out[0]);
    size_t colon = line.rfind(':');
    if (line.rfind("listening ", 0) != 0 || colon == std::string::npos) {
      *error = "fake upstream did not start: '" + line + "'";
      return nullptr;
    }
    fake->port_ = static_cast<uint16_t>(std::atoi(line.c_str() + colon + 1));
    return fake;
  }

  // SIGTERM, then SIGKILL if it has not exited within 5 s.
  ~FakeUpstream() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 500; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }

  uint16_t port() const { return port_; }
  std::string base_url(const std::string& scheme = "http",
                       const std::string& host = "127.0.0.1") const {
    return scheme + "://" + host + ":" + std::to_string(port_) + "/v1";
  }

  // GET /fake/stats (with ?key=K when `key` is set); an empty object when it cannot be read.
  boost::json::object Stats(const std::string& key = "") const {
    std::string body = Get("/fake/stats" + (key.empty() ? "" : "?key=" + key));
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(body, ec);
    if (ec || !v.is_object()) return {};
    return v.get_object();
  }

  int64_t Stat(const std::string& name, const std::string& key = "") const {
    boost::json::object stats = Stats(key);
    const boost::json::value* v = stats.if_contains(name);
    if (v == nullptr) return -1;
    return v->is_int64() ? v->get_int64() : static_cast<int64_t>(v->get_uint64());
  }

  // Polls Stat(name) until it reaches `at_least` or `timeout` passes; returns the last value.
  int64_t WaitForStat(const std::string& name, int64_t at_least,
                      std::chrono::milliseconds timeout = std::chrono::seconds(5)) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int64_t v = Stat(name);
    while (v < at_least && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      v = Stat(name);
    }
    return v;
  }

 private:
  explicit FakeUpstream(pid_t pid) : pid_(pid) {}

  // A blocking HTTP/1.1 GET with Connection: close; returns the body or "".
  std::string Get(const std::string& target) const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return "";
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string response;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      std::string request =
          "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
      if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
        char buf[4096];
        ssize_t n;
        while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) response.append(buf, n);
      }
    }
    ::close(fd);
    size_t body = response.find("\r\n\r\n");
    return body == std::string::npos ? "" : response.substr(body + 4);
  }

  pid_t pid_;
  uint16_t port_ = 0;
};

}  // namespace sobre::testing

#endif  // SOBRE_TESTS_BACKEND_FAKE_UPSTREAM_H_
