// Helpers shared by the HTTP server tests: handlers, options, starting a server, checking an
// OpenAI error body, temp dirs and waiting.
#ifndef SOBRE_TESTS_GATEWAY_HTTP_SERVER_TEST_UTIL_H_
#define SOBRE_TESTS_GATEWAY_HTTP_SERVER_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "gateway/http_server.h"

namespace sobre::gateway::http_testing {

namespace asio = boost::asio;
using asio::awaitable;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;
// One header. (GCC 12 rejects a braced HttpHeaders inside a co_await expression: "array used as
// initializer"; a plain function call is fine.)
inline HttpHeaders OneHeader(std::string name, std::string value) {
  HttpHeaders headers;
  headers.emplace_back(std::move(name), std::move(value));
  return headers;
}

inline awaitable<void> SleepFor(Clock::duration duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  (void)co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

inline awaitable<void> Hello(const HttpRequest&, ResponseWriter& writer) {
  (void)co_await writer.Send(200, OneHeader("Content-Type", "text/plain"), "hello");
}

inline awaitable<void> Echo(const HttpRequest& request, ResponseWriter& writer) {
  (void)co_await writer.Send(200, OneHeader("Content-Type", "application/octet-stream"),
                             request.body);
}

inline HttpServerOptions TestOptions() {
  HttpServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.io_threads = 2;
  return options;
}

// Starts a server with `routes` registered; fails the test if it does not start.
inline std::unique_ptr<HttpServer> StartServer(HttpServerOptions options,
                                        const std::function<void(HttpServer&)>& routes) {
  auto server = std::make_unique<HttpServer>(std::move(options));
  routes(*server);
  const Status started = server->Start();
  EXPECT_TRUE(started.ok()) << started.ToString();
  if (!started.ok()) return nullptr;
  EXPECT_NE(server->port(), 0);
  return server;
}

inline std::unique_ptr<HttpServer> StartHelloServer(HttpServerOptions options = TestOptions()) {
  return StartServer(std::move(options), [](HttpServer& s) {
    s.Route("GET", "/hello", Hello);
    s.Route("POST", "/echo", Echo);
  });
}

// Checks that `body` is exactly the OpenAI error shape.
inline void ExpectOpenAiError(const std::string& body, std::string_view type) {
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(body, ec);
  ASSERT_FALSE(ec) << body;
  ASSERT_TRUE(parsed.is_object()) << body;
  ASSERT_EQ(parsed.as_object().size(), 1u) << body;
  const boost::json::value* error = parsed.as_object().if_contains("error");
  ASSERT_NE(error, nullptr) << body;
  ASSERT_TRUE(error->is_object()) << body;
  const auto& fields = error->as_object();
  EXPECT_EQ(fields.size(), 4u) << body;
  ASSERT_TRUE(fields.contains("message") && fields.at("message").is_string()) << body;
  EXPECT_FALSE(fields.at("message").as_string().empty()) << body;
  ASSERT_TRUE(fields.contains("type") && fields.at("type").is_string()) << body;
  EXPECT_EQ(fields.at("type").as_string(), type) << body;
  ASSERT_TRUE(fields.contains("param")) << body;
  ASSERT_TRUE(fields.contains("code")) << body;
}

// A fresh directory under the test temp dir.
inline std::string MakeTempDir() {
  std::string pattern = ::testing::TempDir() + "sobre_http_XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) return "";
  return pattern;
}

// Waits until `done()` or five seconds.
template <typename Predicate>
inline bool Eventually(Predicate done) {
  const Clock::time_point give_up = Clock::now() + seconds(5);
  while (!done()) {
    if (Clock::now() > give_up) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

}  // namespace sobre::gateway::http_testing

#endif  // SOBRE_TESTS_GATEWAY_HTTP_SERVER_TEST_UTIL_H_
