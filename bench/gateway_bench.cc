// The gateway's own cost, against the fake OpenAI upstream on loopback, measured direct and
// through `sobre serve` in the same run:
//   1. added latency per request, sequential (p50, p99), direct and via sobre interleaved;
//   2. throughput of small non-streamed requests through sobre, next to the upstream alone;
//   3. resident memory of sobre while it holds N slow concurrent streams.
// Figures are printed, not asserted: on a shared 2-core machine the client, sobre and the fake
// upstream compete for the same cores, so read them as ratios taken in one run.
//
//   gateway_bench --sobre build/src/cli/sobre --upstream build/tools/fake_openai_upstream
//                 [--requests 2000] [--seconds 5] [--connections 32] [--streams 2000]
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

extern char** environ;

namespace {

struct Child {
  pid_t pid = -1;
  int port = 0;
};

// Starts `argv`, reads its first stdout line "listening HOST:PORT", returns pid and port.
Child Spawn(std::vector<std::string> argv) {
  int fds[2];
  if (pipe(fds) != 0) std::abort();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  Child c;
  if (posix_spawn(&c.pid, args[0], &fa, nullptr, args.data(), environ) != 0) {
    std::fprintf(stderr, "cannot start %s\n", argv[0].c_str());
    std::exit(1);
  }
  close(fds[1]);
  std::string line;
  char ch;
  while (read(fds[0], &ch, 1) == 1 && ch != '\n') line += ch;
  size_t colon = line.rfind(':');
  if (line.rfind("listening", 0) != 0 || colon == std::string::npos) {
    std::fprintf(stderr, "%s did not say where it listens (got '%s')\n", argv[0].c_str(), line.c_str());
    std::exit(1);
  }
  c.port = std::atoi(line.c_str() + colon + 1);
  return c;
}

void Stop(const Child& c) {
  if (c.pid <= 0) return;
  kill(c.pid, SIGTERM);
  int status = 0;
  waitpid(c.pid, &status, 0);
  if (WIFSIGNALED(status)) {
    std::printf("warning: process %d (port %d) died of signal %d on shutdown\n", c.pid, c.port,
                WTERMSIG(status));
  }
}

long RssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      long kib;
      in >> kib;
      return kib;
    }
    in.ignore(1 << 20, '\n');
  }
  return -1;
}

const std::string kChatBody =
    R"({"model":"bench","messages":[{"role":"user","content":"Say hi"}],"max_tokens":8})";

std::string StreamBody() {
  return R"({"model":"slow","stream":true,"messages":[{"role":"user","content":"Tell a long story"}],"max_tokens":64})";
}

// One keep-alive connection issuing requests one after another.
class Conn {
 public:
  explicit Conn(int port) : sock_(io_) {
    sock_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    sock_.set_option(tcp::no_delay(true));
  }
  // Returns the request's latency in microseconds, or -1 on a non-200 answer.
  double Post(const std::string& body) {
    http::request<http::string_body> req{http::verb::post, "/v1/chat/completions", 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    auto t0 = Clock::now();
    http::write(sock_, req);
    http::response<http::string_body> res;
    http::read(sock_, buf_, res);
    double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    return res.result_int() == 200 ? us : -1;
  }

 private:
  asio::io_context io_;
  tcp::socket sock_;
  beast::flat_buffer buf_;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

// Requests per second over `seconds` with `connections` keep-alive connections (one client thread).
double Throughput(int port, int connections, double seconds, long* failures) {
  asio::io_context io;
  std::atomic<long> done{0}, failed{0};
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (int i = 0; i < connections; ++i) {
    asio::co_spawn(io, [&, port]() -> asio::awaitable<void> {
      tcp::socket sock(co_await asio::this_coro::executor);
      auto [ec] = co_await sock.async_connect(
          tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)),
          asio::as_tuple(asio::use_awaitable));
      if (ec) {
        ++failed;
        co_return;
      }
      sock.set_option(tcp::no_delay(true));
      beast::flat_buffer buf;
      while (Clock::now() < deadline) {
        http::request<http::string_body> req{http::verb::post, "/v1/chat/completions", 11};
        req.set(http::field::host, "127.0.0.1");
        req.set(http::field::content_type, "application/json");
        req.body() = kChatBody;
        req.prepare_payload();
        auto [wec, wn] = co_await http::async_write(sock, req, asio::as_tuple(asio::use_awaitable));
        http::response<http::string_body> res;
        auto [rec, rn] = co_await http::async_read(sock, buf, res, asio::as_tuple(asio::use_awaitable));
        if (wec || rec) {
          ++failed;
          co_return;
        }
        if (res.result_int() == 200) ++done; else ++failed;
      }
    }, asio::detached);
  }
  auto t0 = Clock::now();
  io.run();
  double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  *failures = failed.load();
  return static_cast<double>(done.load()) / elapsed;
}

// Opens `n` streaming requests through sobre and returns how many got their first bytes, holding
// them all open until `measure` has run.
int HoldStreams(int port, int n, const std::function<void()>& measure) {
  asio::io_context io;
  std::atomic<int> started{0};
  std::vector<std::unique_ptr<tcp::socket>> socks;
  for (int i = 0; i < n; ++i) {
    auto sock = std::make_unique<tcp::socket>(io);
    tcp::socket* s = sock.get();
    socks.push_back(std::move(sock));
    asio::co_spawn(io, [&, s, port]() -> asio::awaitable<void> {
      auto [ec] = co_await s->async_connect(
          tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)),
          asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      http::request<http::string_body> req{http::verb::post, "/v1/chat/completions", 11};
      req.set(http::field::host, "127.0.0.1");
      req.set(http::field::content_type, "application/json");
      req.body() = StreamBody();
      req.prepare_payload();
      auto [wec, wn] = co_await http::async_write(*s, req, asio::as_tuple(asio::use_awaitable));
      if (wec) co_return;
      char first[256];
      auto [rec, rn] = co_await s->async_read_some(asio::buffer(first), asio::as_tuple(asio::use_awaitable));
      if (!rec && rn > 0) ++started;
    }, asio::detached);
  }
  std::thread runner([&] { io.run(); });
  auto until = Clock::now() + std::chrono::seconds(60);
  while (started.load() < n && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  measure();
  // Close the sockets on the I/O thread (sockets are not thread-safe); the pending reads then end
  // and run() returns by itself.
  asio::post(io, [&socks] {
    for (auto& s : socks) {
      boost::system::error_code ec;
      s->close(ec);
    }
  });
  runner.join();
  return started.load();
}

std::string Arg(int argc, char** argv, const char* name, const char* fallback) {
  std::string prefix = std::string("--") + name;
  for (int i = 1; i + 1 < argc; ++i) {
    if (prefix == argv[i]) return argv[i + 1];
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  std::string sobre = Arg(argc, argv, "sobre", "build/src/cli/sobre");
  std::string upstream = Arg(argc, argv, "upstream", "build/tools/fake_openai_upstream");
  int requests = std::atoi(Arg(argc, argv, "requests", "2000").c_str());
  double seconds = std::atof(Arg(argc, argv, "seconds", "5").c_str());
  int connections = std::atoi(Arg(argc, argv, "connections", "32").c_str());
  int streams = std::atoi(Arg(argc, argv, "streams", "2000").c_str());
  signal(SIGPIPE, SIG_IGN);
  rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  char dir_tmpl[] = "/tmp/sobre_gateway_bench_XXXXXX";
  std::string dir = mkdtemp(dir_tmpl);
  Child fast = Spawn({upstream, "--port", "0", "--tokens", "8", "--threads", "1"});
  Child slow = Spawn({upstream, "--port", "0", "--tokens", "64", "--chunk-delay-ms", "1000",
                      "--threads", "1"});
  std::string config = dir + "/sobre.yaml";
  std::ofstream(config) << "store: sqlite://" << dir << "/bench.db\n"
                        << "site: { zone: FR }\n"
                        << "limits: { max_in_flight: 100000, max_queue: 100000, max_connections: 100000 }\n"
                        << "models:\n"
                        << "  - { name: bench, upstream: http://127.0.0.1:" << fast.port << "/v1, params_b: 0.5 }\n"
                        << "  - { name: slow, upstream: http://127.0.0.1:" << slow.port << "/v1, params_b: 0.5 }\n";
  Child gw = Spawn({sobre, "serve", "--config", config, "--listen", "127.0.0.1:0"});
  std::printf("fake upstream on :%d, slow upstream on :%d, sobre on :%d\n", fast.port, slow.port, gw.port);

  // 1. Sequential added latency, interleaved.
  Conn direct(fast.port), via(gw.port);
  for (int i = 0; i < 100; ++i) {  // Warm-up.
    direct.Post(kChatBody);
    via.Post(kChatBody);
  }
  std::vector<double> d, v;
  for (int i = 0; i < requests; ++i) {
    d.push_back(direct.Post(kChatBody));
    v.push_back(via.Post(kChatBody));
  }
  long bad = std::count(v.begin(), v.end(), -1.0) + std::count(d.begin(), d.end(), -1.0);
  double d50 = Percentile(d, 0.5), d99 = Percentile(d, 0.99);
  double v50 = Percentile(v, 0.5), v99 = Percentile(v, 0.99);
  std::printf("\n1. sequential, %d requests each, interleaved (%ld failed)\n", requests, bad);
  std::printf("   direct      p50 %8.1f us   p99 %8.1f us\n", d50, d99);
  std::printf("   via sobre   p50 %8.1f us   p99 %8.1f us\n", v50, v99);
  std::printf("   added       p50 %8.3f ms   p99 %8.3f ms   (goal: p50 <= 0.3 ms, p99 <= 1 ms)\n",
              (v50 - d50) / 1000, (v99 - d99) / 1000);

  // 2. Throughput.
  long fail_direct = 0, fail_via = 0;
  double rps_direct = Throughput(fast.port, connections, seconds, &fail_direct);
  double rps_via = Throughput(gw.port, connections, seconds, &fail_via);
  std::printf("\n2. throughput, %d keep-alive connections for %.0f s, client + sobre + upstream on %u cores\n",
              connections, seconds, std::thread::hardware_concurrency());
  std::printf("   upstream alone  %9.0f req/s (%ld failed)\n", rps_direct, fail_direct);
  std::printf("   via sobre       %9.0f req/s (%ld failed), %.2f x the upstream alone (goal: >= 10,000 req/s)\n",
              rps_via, fail_via, rps_via / rps_direct);

  // 3. Memory with many slow streams.
  long rss_before = RssKiB(gw.pid), rss_during = 0;
  // Point the streams at the slow model.
  int held = HoldStreams(gw.port, streams, [&] { rss_during = RssKiB(gw.pid); });
  std::printf("\n3. %d concurrent slow streams requested, %d held open at once\n", streams, held);
  std::printf("   sobre resident memory: %.1f MB idle, %.1f MB holding them (goal: < 500 MB)\n",
              rss_before / 1024.0, rss_during / 1024.0);

  Stop(gw);
  Stop(fast);
  Stop(slow);
  std::system(("rm -rf " + dir).c_str());
  return 0;
}
