#include "gateway/http_server.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gateway/internal/http_response.h"
#include "tests/gateway/http_server_test_util.h"
#include "tests/gateway/http_test_client.h"

namespace sobre::gateway {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::HttpGet;
using testing::HttpPost;
using testing::HttpTestClient;
using testing::HttpTestResponse;
using Clock = std::chrono::steady_clock;
using namespace http_testing;  // NOLINT: the shared helpers.

TEST(OpenAiErrorBodyTest, HasTheFourKeysWithNullsForEmptyParamAndCode) {
  EXPECT_EQ(OpenAiErrorBody("bad \"x\"\n", "invalid_request_error", "", ""),
            R"({"error":{"message":"bad \"x\"\n","type":"invalid_request_error",)"
            R"("param":null,"code":null}})");
  EXPECT_EQ(OpenAiErrorBody("m", "t", "messages", "model_not_found"),
            R"({"error":{"message":"m","type":"t","param":"messages","code":"model_not_found"}})");
}

TEST(HttpResponseTest, RejectsHeadersThatWouldBreakTheFraming) {
  bool close = false;
  EXPECT_FALSE(internal::FormatResponseHead(200, OneHeader("X-A", "b\r\nX-Injected: 1"),
                                            internal::BodyFraming::kContentLength, 0, &close)
                   .ok());
  EXPECT_FALSE(internal::FormatResponseHead(200, OneHeader("Bad Name", "v"),
                                            internal::BodyFraming::kContentLength, 0, &close)
                   .ok());
  EXPECT_FALSE(
      internal::FormatResponseHead(42, {}, internal::BodyFraming::kContentLength, 0, &close).ok());
  StatusOr<std::string> head =
      internal::FormatResponseHead(404, {{"Content-Length", "99"}, {"X-A", "b"}},
                                   internal::BodyFraming::kContentLength, 7, &close);
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(*head, "HTTP/1.1 404 Not Found\r\nX-A: b\r\nContent-Length: 7\r\n\r\n");
}

TEST(HttpServerTest, RoutesByPathAndPassesTheRequest) {
  auto server = StartServer(TestOptions(), [](HttpServer& s) {
    s.Route("GET", "/v1/info", [](const HttpRequest& r, ResponseWriter& w) -> awaitable<void> {
      (void)co_await w.Send(200, OneHeader("X-Seen", std::string(r.Header("x-test"))),
                            r.method + " " + r.path + " " + r.query + " " + r.remote_address);
    });
    s.Route("POST", "/v1/info", [](const HttpRequest&, ResponseWriter& w) -> awaitable<void> {
      (void)co_await w.Send(201, {}, "posted");
    });
  });
  ASSERT_NE(server, nullptr);
  auto client = HttpTestClient::Connect(server->port());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Send(HttpGet("/v1/info?a=1&b=2", "X-TEST: Yes\r\n")));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "GET /v1/info a=1&b=2 127.0.0.1");
  EXPECT_EQ(response->Header("x-seen"), "Yes");
  EXPECT_EQ(response->Header("content-length"), std::to_string(response->body.size()));

  ASSERT_TRUE(client->Send(HttpPost("/v1/info", "{}")));
  response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, "posted");
}

TEST(HttpServerTest, UnknownPathGets404WithOpenAiErrorBody) {
  auto server = StartHelloServer();
  ASSERT_NE(server, nullptr);
  auto client = HttpTestClient::Connect(server->port());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Send(HttpGet("/v1/nope")));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 404);
  EXPECT_EQ(response->Header("content-type"), "application/json");
  ExpectOpenAiError(response->body, "invalid_request_error");
  EXPECT_NE(response->body.find("GET /v1/nope"), std::string::npos) << response->body;
  EXPECT_NE(response->body.find(R"("param":null,"code":null)"), std::string::npos);
}

TEST(HttpServerTest, KnownPathWithAnotherMethodGets405) {
  auto server = StartServer(TestOptions(), [](HttpServer& s) {
    s.Route("POST", "/v1/chat/completions", Echo);
    s.Route("PUT", "/v1/chat/completions", Echo);
  });
  ASSERT_NE(server, nullptr);
  auto client = HttpTestClient::Connect(server->port());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Send(HttpGet("/v1/chat/completions")));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 405);
  EXPECT_EQ(response->Header("allow"), "POST, PUT");
  ExpectOpenAiError(response->body, "invalid_request_error");
}

TEST(HttpServerTest, KeepAliveServesSequentialAndPipelinedRequestsOnOneConnection) {
  auto server = StartHelloServer();
  ASSERT_NE(server, nullptr);
  auto client = HttpTestClient::Connect(server->port());
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(client->Send(HttpGet("/hello")));
    auto response = client->ReadResponse();
    ASSERT_TRUE(response.has_value()) << "request " << i;
    EXPECT_EQ(response->body, "hello");
    EXPECT_EQ(response->Header("connection"), "");
  }
  // Two requests in one segment: both answered, in order.
  ASSERT_TRUE(client->Send(HttpPost("/echo", "first") + HttpPost("/echo", "second")));
  auto first = client->ReadResponse();
  auto second = client->ReadResponse();
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(first->body, "first");
  EXPECT_EQ(second->body, "second");
}

TEST(HttpServerTest, ConnectionCloseAndHttp10CloseAfterTheResponse) {
  auto server = StartHelloServer();
  ASSERT_NE(server, nullptr);
  auto client = HttpTestClient::Connect(server->port());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Send(HttpGet("/hello", "Connection: close\r\n")));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->Header("connection"), "close");
  EXPECT_TRUE(client->WaitClosed(seconds(2)));

  auto old_client = HttpTestClient::Connect(server->port());
  ASSERT_NE(old_client, nullptr);
  ASSERT_TRUE(old_client->Send("GET /hello HTTP/1.0\r\n\r\n"));
  response = old_client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "hello");
  EXPECT_TRUE(old_client->WaitClosed(seconds(2)));
}

TEST(HttpServerTest, EchoesLargeAndChunkedRequestBodies) {
  auto server = StartHelloServer();
  ASSERT_NE(server, nullptr);
  auto client = HttpTestClient::Connect(server->port());
  ASSERT_NE(client, nullptr);
  std::string big(300 * 1000, 'x');
  for (size_t i = 0; i < big.size(); i += 7) big[i] = static_cast<char>('a' + i % 26);
  ASSERT_TRUE(client->Send(HttpPost("/echo", big)));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(response->body == big) << "echo of " << big.size() << " bytes differs";

  ASSERT_TRUE(
      client->Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "hello world");
}

TEST(HttpServerTest, AnswersExpectContinueBeforeTheBodyIsSent) {
  auto server = StartHelloServer();
  ASSERT_NE(server, nullptr);
  auto client = HttpTestClient::Connect(server->port());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Send(
      "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
  auto interim = client->ReadHead(seconds(5), /*skip_interim=*/false);
  ASSERT_TRUE(interim.has_value());
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(client->Send("body"));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "body");
}

TEST(HttpServerTest, TooLargeBodyGets413BeforeTheBodyIsRead) {
  HttpServerOptions options = TestOptions();
  options.max_body_bytes = 1024;
  options.read_timeout = seconds(30);
  std::atomic<int> handled{0};
  auto server = StartServer(options, [&](HttpServer& s) {
    s.Route("POST", "/echo", [&](const HttpRequest& r, ResponseWriter& w) -> awaitable<void> {
      handled.fetch_add(1);
      (void)co_await w.Send(200, {}, r.body);
    });
  });
  ASSERT_NE(server, nullptr);

  // Exactly at the limit is fine.
  auto client = HttpTestClient::Connect(server->port());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Send(HttpPost("/echo", std::string(1024, 'a'))));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);

  // Ten megabytes announced, a few bytes sent: the answer must come without the rest, long
  // before read_timeout.
  auto big = HttpTestClient::Connect(server->port());
  ASSERT_NE(big, nullptr);
  const Clock::time_point start = Clock::now();
  ASSERT_TRUE(big->Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n" +
                        std::string(4000, 'b')));
  response = big->ReadResponse(seconds(10));
  ASSERT_TRUE(response.has_value());
  EXPECT_LT(Clock::now() - start, seconds(5));
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(response->Header("connection"), "close");
  ExpectOpenAiError(response->body, "invalid_request_error");
  EXPECT_NE(response->body.find("1024"), std::string::npos) << response->body;
  EXPECT_TRUE(big->WaitClosed(seconds(5)));

  // A chunked body that grows past the limit.
  auto chunked = HttpTestClient::Connect(server->port());
  ASSERT_NE(chunked, nullptr);
  ASSERT_TRUE(
      chunked->Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "800\r\n" +
                    std::string(0x800, 'c') + "\r\n"));
  response = chunked->ReadResponse(seconds(10));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(handled.load(), 1);
}

TEST(HttpServerTest, TooLargeHeaderGets431) {
  HttpServerOptions options = TestOptions();
  options.max_header_bytes = 1024;
  auto server = StartHelloServer(options);
  ASSERT_NE(server, nullptr);
  auto client = HttpTestClient::Connect(server->port());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Send(HttpGet("/hello", "X-Big: " + std::string(2000, 'h') + "\r\n")));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 431);
  ExpectOpenAiError(response->body, "invalid_request_error");
  EXPECT_TRUE(client->WaitClosed(seconds(5)));

  // A header under the limit still works.
  auto small = HttpTestClient::Connect(server->port());
  ASSERT_NE(small, nullptr);
  ASSERT_TRUE(small->Send(HttpGet("/hello", "X-Small: " + std::string(500, 'h') + "\r\n")));
  response = small->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
}

TEST(HttpServerTest, MalformedRequestGets400) {
  auto server = StartHelloServer();
  ASSERT_NE(server, nullptr);
  auto client = HttpTestClient::Connect(server->port());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Send("GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 400);
  ExpectOpenAiError(response->body, "invalid_request_error");
  EXPECT_TRUE(client->WaitClosed(seconds(5)));
}

TEST(HttpServerTest, SlowClientIsCutAfterReadTimeoutEvenWhileSending) {
  HttpServerOptions options = TestOptions();
  options.read_timeout = seconds(1);
  options.idle_timeout = seconds(30);
  auto server = StartHelloServer(options);
  ASSERT_NE(server, nullptr);
  auto client = HttpTestClient::Connect(server->port());
  ASSERT_NE(client, nullptr);
  const Clock::time_point start = Clock::now();
  ASSERT_TRUE(client->Send("GET /hello HTTP/1.1\r\n"));
  bool closed = false;
  // One header line every 100 ms keeps every single read short; the request never completes.
  while (!closed && Clock::now() - start < seconds(6)) {
    if (!client->Send("X-Drip: 1\r\n")) break;
    closed = client->WaitClosed(milliseconds(100));
  }
  const auto elapsed = Clock::now() - start;
  EXPECT_TRUE(closed || client->WaitClosed(seconds(1)));
  EXPECT_GE(elapsed, milliseconds(800));
  EXPECT_LT(elapsed, seconds(4));
}

TEST(HttpServerTest, IdleKeepAliveConnectionIsClosedAfterIdleTimeout) {
  HttpServerOptions options = TestOptions();
  options.idle_timeout = seconds(1);
  options.read_timeout = seconds(30);
  auto server = StartHelloServer(options);
  ASSERT_NE(server, nullptr);
  auto client = HttpTestClient::Connect(server->port());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Send(HttpGet("/hello")));
  ASSERT_TRUE(client->ReadResponse().has_value());
  const Clock::time_point start = Clock::now();
  EXPECT_TRUE(client->WaitClosed(seconds(5)));
  EXPECT_GE(Clock::now() - start, milliseconds(800));
}

TEST(HttpServerTest, StreamsChunksInOrderAndFlushesEachAtOnce) {
  std::atomic<bool> client_saw_first{false};
  std::atomic<bool> released_by_client{false};
  auto server = StartServer(TestOptions(), [&](HttpServer& s) {
    s.Route("GET", "/stream", [&](const HttpRequest&, ResponseWriter& w) -> awaitable<void> {
      if (!(co_await w.StartStream(200, OneHeader("Content-Type", "text/event-stream"))).ok())
        co_return;
      (void)co_await w.WriteChunk("data: 1\n\n");
      // The rest waits until the client has seen the first event (or 5 s, which fails the test).
      const Clock::time_point give_up = Clock::now() + seconds(5);
      while (!client_saw_first.load() && Clock::now() < give_up) co_await SleepFor(milliseconds(5));
      released_by_client.store(client_saw_first.load());
      for (int i = 2; i <= 5; ++i) {
        (void)co_await w.WriteChunk("data: " + std::to_string(i) + "\n\n");
      }
      (void)co_await w.WriteChunk("data: [DONE]\n\n");
      (void)co_await w.EndStream();
    });
  });
  ASSERT_NE(server, nullptr);
  auto client = HttpTestClient::Connect(server->port());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Send(HttpGet("/stream")));
  auto head = client->ReadHead();
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->Header("transfer-encoding"), "chunked");
  EXPECT_EQ(head->Header("content-type"), "text/event-stream");
  auto first = client->ReadChunk(seconds(3));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, "data: 1\n\n");
  client_saw_first.store(true);
  std::vector<std::string> rest;
  for (;;) {
    auto chunk = client->ReadChunk();
    ASSERT_TRUE(chunk.has_value());
    if (chunk->empty()) break;
    rest.push_back(*chunk);
  }
  EXPECT_EQ(rest, (std::vector<std::string>{"data: 2\n\n", "data: 3\n\n", "data: 4\n\n",
                                            "data: 5\n\n", "data: [DONE]\n\n"}));
  EXPECT_TRUE(released_by_client.load()) << "the first chunk was held back";
  // The connection stays usable after a stream.
  ASSERT_TRUE(client->Send(HttpGet("/stream")));
  client_saw_first.store(true);
  auto again = client->ReadResponse();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->chunks.size(), 6u);
}

TEST(HttpServerTest, WriteToAClientThatStopsReadingTimesOut) {
  HttpServerOptions options = TestOptions();
  options.write_timeout = seconds(1);
  std::promise<std::pair<Status, int>> outcome;
  auto server = StartServer(options, [&](HttpServer& s) {
    s.Route("GET", "/flood", [&](const HttpRequest&, ResponseWriter& w) -> awaitable<void> {
      Status status = co_await w.StartStream(200, OneHeader("Content-Type", "text/event-stream"));
      int chunks = 0;
      const std::string event = "data: " + std::string(64 * 1024, 'f') + "\n\n";
      // 1 GB would take far longer than the test allows if writes did not wait for the socket.
      while (status.ok() && chunks < 16 * 1024) {
        status = co_await w.WriteChunk(event);
        if (status.ok()) ++chunks;
      }
      Status again = co_await w.WriteChunk("late");
      EXPECT_FALSE(again.ok());
      outcome.set_value({status, chunks});
    });
  });
  ASSERT_NE(server, nullptr);
  auto client = HttpTestClient::Connect(server->port(), /*receive_buffer_bytes=*/4096);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Send(HttpGet("/flood")));
  auto result = outcome.get_future();
  ASSERT_EQ(result.wait_for(seconds(20)), std::future_status::ready);
  auto [status, chunks] = result.get();
  EXPECT_EQ(status.code(), StatusCode::kDeadlineExceeded) << status.ToString();
  EXPECT_LT(chunks, 16 * 1024);
  EXPECT_TRUE(client->WaitClosed(seconds(5)));
}

TEST(HttpServerTest, HandlerThatSendsNothingOrThrowsGets500) {
  std::atomic<int> bad_header_code{-1};
  auto server = StartServer(TestOptions(), [&](HttpServer& s) {
    s.Route("GET", "/silent",
            [](const HttpRequest&, ResponseWriter&) -> awaitable<void> { co_return; });
    s.Route("GET", "/throws", [](const HttpRequest&, ResponseWriter&) -> awaitable<void> {
      co_await SleepFor(milliseconds(1));
      throw std::runtime_error("boom");
    });
    s.Route("GET", "/bad-header", [&](const HttpRequest&, ResponseWriter& w) -> awaitable<void> {
      Status sent = co_await w.Send(200, OneHeader("X-A", "1\r\nX-Injected: 1"), "no");
      bad_header_code.store(static_cast<int>(sent.code()));
    });
    s.Route("GET", "/hello", Hello);
  });
  ASSERT_NE(server, nullptr);
  auto client = HttpTestClient::Connect(server->port());
  ASSERT_NE(client, nullptr);
  for (const char* path : {"/silent", "/throws", "/bad-header"}) {
    ASSERT_TRUE(client->Send(HttpGet(path)));
    auto response = client->ReadResponse();
    ASSERT_TRUE(response.has_value()) << path;
    EXPECT_EQ(response->status, 500) << path;
    EXPECT_EQ(response->Header("x-injected"), "") << path;
    ExpectOpenAiError(response->body, "server_error");
  }
  EXPECT_EQ(bad_header_code.load(), static_cast<int>(StatusCode::kInvalidArgument));
  // The connection survived all three.
  ASSERT_TRUE(client->Send(HttpGet("/hello")));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "hello");
}

TEST(HttpServerTest, ServesConcurrentRequestsFromSeveralThreads) {
  std::atomic<int> current{0};
  std::atomic<int> most{0};
  auto server = StartServer(TestOptions(), [&](HttpServer& s) {
    s.Route("POST", "/work", [&](const HttpRequest& r, ResponseWriter& w) -> awaitable<void> {
      const int now = current.fetch_add(1) + 1;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
      co_await SleepFor(milliseconds(20));
      current.fetch_sub(1);
      (void)co_await w.Send(200, {}, "done:" + r.body);
    });
  });
  ASSERT_NE(server, nullptr);
  constexpr int kThreads = 8;
  constexpr int kRequests = 10;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto client = HttpTestClient::Connect(server->port());
      if (client == nullptr) return;
      for (int i = 0; i < kRequests; ++i) {
        const std::string body = std::to_string(t) + "-" + std::to_string(i);
        if (!client->Send(HttpPost("/work", body))) return;
        auto response = client->ReadResponse();
        if (response && response->status == 200 && response->body == "done:" + body) {
          good.fetch_add(1);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(good.load(), kThreads * kRequests);
  EXPECT_GE(most.load(), 2) << "requests were not handled concurrently";
  // The count drops just after the last response is written.
  EXPECT_TRUE(Eventually([&] { return server->in_flight() == 0; })) << server->in_flight();
}

TEST(HttpServerTest, StopFinishesInFlightRequestsAndCutsThoseThatOutliveTheDeadline) {
  std::atomic<bool> stuck_finished{false};
  auto server = StartServer(TestOptions(), [&](HttpServer& s) {
    s.Route("GET", "/hello", Hello);
    s.Route("GET", "/slow", [](const HttpRequest&, ResponseWriter& w) -> awaitable<void> {
      co_await SleepFor(milliseconds(300));
      (void)co_await w.Send(200, {}, "slow done");
    });
    s.Route("GET", "/stuck", [&](const HttpRequest&, ResponseWriter& w) -> awaitable<void> {
      co_await SleepFor(seconds(30));
      stuck_finished.store(true);
      (void)co_await w.Send(200, {}, "too late");
    });
  });
  ASSERT_NE(server, nullptr);
  const uint16_t port = server->port();
  auto idle = HttpTestClient::Connect(port);
  ASSERT_NE(idle, nullptr);
  ASSERT_TRUE(idle->Send(HttpGet("/hello")));
  ASSERT_TRUE(idle->ReadResponse().has_value());
  auto slow = HttpTestClient::Connect(port);
  auto stuck = HttpTestClient::Connect(port);
  ASSERT_NE(slow, nullptr);
  ASSERT_NE(stuck, nullptr);
  ASSERT_TRUE(slow->Send(HttpGet("/slow")));
  ASSERT_TRUE(stuck->Send(HttpGet("/stuck")));
  ASSERT_TRUE(Eventually([&] { return server->in_flight() == 2; })) << server->in_flight();

  const Clock::time_point start = Clock::now();
  server->Stop(milliseconds(1000));
  const auto took = Clock::now() - start;
  EXPECT_GE(took, milliseconds(900)) << "Stop did not wait for the stuck request";
  EXPECT_LT(took, milliseconds(2500));
  EXPECT_EQ(server->in_flight(), 0u);

  auto response = slow->ReadResponse();
  ASSERT_TRUE(response.has_value()) << "the in-flight request was not allowed to finish";
  EXPECT_EQ(response->body, "slow done");
  EXPECT_EQ(response->Header("connection"), "close");
  EXPECT_FALSE(stuck->ReadResponse(seconds(2)).has_value());
  EXPECT_FALSE(stuck_finished.load());
  EXPECT_TRUE(idle->WaitClosed(seconds(1)));
  auto late = HttpTestClient::Connect(port);
  if (late != nullptr) {
    EXPECT_TRUE(late->Send(HttpGet("/hello")));
    EXPECT_FALSE(late->ReadResponse(seconds(1)).has_value());
  }
}

TEST(HttpServerTest, StopLetsStreamsThatWatchShuttingDownEndCleanly) {
  std::atomic<int> events{0};
  auto server = StartServer(TestOptions(), [&](HttpServer& s) {
    s.Route("GET", "/events", [&](const HttpRequest&, ResponseWriter& w) -> awaitable<void> {
      if (!(co_await w.StartStream(200, OneHeader("Content-Type", "text/event-stream"))).ok())
        co_return;
      while (!w.shutting_down()) {
        if (!(co_await w.WriteChunk("data: tick\n\n")).ok()) co_return;
        events.fetch_add(1);
        co_await SleepFor(milliseconds(10));
      }
      (void)co_await w.WriteChunk("data: bye\n\n");
      (void)co_await w.EndStream();
    });
  });
  ASSERT_NE(server, nullptr);
  auto client = HttpTestClient::Connect(server->port());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Send(HttpGet("/events")));
  ASSERT_TRUE(client->ReadHead().has_value());
  ASSERT_TRUE(Eventually([&] { return events.load() >= 3; }));
  Clock::duration took{};
  std::thread stopper([&] {
    const Clock::time_point start = Clock::now();
    server->Stop(seconds(10));
    took = Clock::now() - start;
  });
  std::string last;
  for (;;) {
    auto chunk = client->ReadChunk();
    if (!chunk.has_value() || chunk->empty()) {
      EXPECT_TRUE(chunk.has_value()) << "stream cut instead of ended";
      break;
    }
    last = *chunk;
  }
  stopper.join();
  EXPECT_EQ(last, "data: bye\n\n");
  EXPECT_LT(took, seconds(3));
}

TEST(HttpServerTest, ClosesConnectionsBeyondMaxConnections) {
  HttpServerOptions options = TestOptions();
  options.max_connections = 2;
  auto server = StartHelloServer(options);
  ASSERT_NE(server, nullptr);
  std::vector<std::unique_ptr<HttpTestClient>> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(HttpTestClient::Connect(server->port()));
    ASSERT_NE(held.back(), nullptr);
    ASSERT_TRUE(held.back()->Send(HttpGet("/hello")));
    ASSERT_TRUE(held.back()->ReadResponse().has_value());
  }
  auto extra = HttpTestClient::Connect(server->port());
  ASSERT_NE(extra, nullptr);
  EXPECT_TRUE(extra->WaitClosed(seconds(2)));
  held.clear();
  // Once the others are gone there is room again.
  EXPECT_TRUE(Eventually([&] {
    auto client = HttpTestClient::Connect(server->port());
    if (client == nullptr || !client->Send(HttpGet("/hello"))) return false;
    return client->ReadResponse(milliseconds(500)).has_value();
  }));
}

// A generous bound (about 4.5 KiB are measured) that a buffer of a few pages per connection
// would break; sanitizers add their own shadow memory.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr double kMaxBytesPerIdleConnection = 64 * 1024;
#else
constexpr double kMaxBytesPerIdleConnection = 16 * 1024;
#endif

TEST(HttpServerTest, HoldsAThousandIdleConnectionsWithoutAThreadEach) {
  constexpr int kConnections = 1000;
  auto server = StartHelloServer();
  ASSERT_NE(server, nullptr);
  const int threads_before = testing::ThreadCount();
  const size_t rss_before = testing::ResidentBytes();
  std::vector<std::unique_ptr<HttpTestClient>> clients;
  clients.reserve(kConnections);
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(HttpTestClient::Connect(server->port()));
    ASSERT_NE(clients.back(), nullptr) << "connection " << i;
  }
  // Every connection has been served once and now waits, kept alive, for its next request.
  for (int i = 0; i < kConnections; ++i) {
    ASSERT_TRUE(clients[i]->Send(HttpGet("/hello"))) << i;
    auto response = clients[i]->ReadResponse();
    ASSERT_TRUE(response.has_value()) << "connection " << i;
    ASSERT_EQ(response->status, 200);
  }
  const size_t rss_after = testing::ResidentBytes();
  EXPECT_EQ(testing::ThreadCount(), threads_before);
  const double per_connection =
      (static_cast<double>(rss_after) - static_cast<double>(rss_before)) / kConnections;
  std::printf(
      "RSS %zu KiB before, %zu KiB with %d idle connections: %.0f bytes each "
      "(server and test client together)\n",
      rss_before / 1024, rss_after / 1024, kConnections, per_connection);
  EXPECT_LT(per_connection, kMaxBytesPerIdleConnection);

  // A newcomer is served while they wait, and all of them are still alive.
  auto newcomer = HttpTestClient::Connect(server->port());
  ASSERT_NE(newcomer, nullptr);
  ASSERT_TRUE(newcomer->Send(HttpGet("/hello")));
  ASSERT_TRUE(newcomer->ReadResponse().has_value());
  for (int i = 0; i < kConnections; ++i) {
    ASSERT_TRUE(clients[i]->Send(HttpGet("/hello"))) << i;
    auto response = clients[i]->ReadResponse();
    ASSERT_TRUE(response.has_value()) << "connection " << i << " was dropped";
  }
  server->Stop(seconds(1));
}

TEST(HttpServerTest, StartFailsWhenThePortIsTaken) {
  auto first = StartHelloServer();
  ASSERT_NE(first, nullptr);
  HttpServerOptions options = TestOptions();
  options.port = first->port();
  HttpServer second(options);
  const Status started = second.Start();
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.message().find("127.0.0.1:" + std::to_string(first->port())), std::string::npos)
      << started.ToString();
}

}  // namespace
}  // namespace sobre::gateway
