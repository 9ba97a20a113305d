// UpstreamBackend against the real fake_openai_upstream binary on loopback: shapes, streaming,
// usage accounting, retries, timeouts, broken streams, cancellation, keep-alive and TLS.
#include "backend/upstream_backend.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "backend/token_count.h"
#include "tests/backend/fake_upstream.h"

namespace sobre::backend {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using sobre::testing::FakeUpstream;
using std::chrono::milliseconds;
using Result = StatusOr<BackendResult>;
using SteadyClock = std::chrono::steady_clock;

// Collects chunks; returns false (cancel) once it holds `stop_after` of them.
class CollectingSink : public StreamSink {
 public:
  explicit CollectingSink(size_t stop_after = SIZE_MAX) : stop_after_(stop_after) {}
  asio::awaitable<bool> OnChunk(json::object chunk) override {
    chunks.push_back(std::move(chunk));
    co_return chunks.size() < stop_after_;
  }
  std::string Text() const {
    std::string text;
    for (const json::object& c : chunks) AppendGeneratedText(c, &text);
    return text;
  }
  std::vector<json::object> chunks;

 private:
  size_t stop_after_;
};

BackendRequest Chat(bool stream, const std::string& behavior = "",
                    const std::string& request_id = "") {
  BackendRequest r;
  r.endpoint = Endpoint::kChatCompletions;
  r.stream = stream;
  r.request_id = request_id;
  r.body["model"] = "client-model";
  r.body["messages"] =
      json::array{json::object{{"role", "system"}, {"content", "You are terse."}},
                  json::object{{"role", "user"}, {"content", "Say hello to the whole world"}}};
  if (stream) {
    r.body["stream"] = true;
    r.body["stream_options"] = json::object{{"include_usage", true}};
  }
  if (!behavior.empty()) r.body["x_fake_behavior"] = behavior;
  return r;
}

// "token0 token1 ... token{n-1}", the fake's completion.
std::string Tokens(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += (i ? " token" : "token") + std::to_string(i);
  return s;
}

std::string ContentOf(const json::object& body) {
  return std::string(body.at("choices").at(0).at("message").at("content").as_string());
}

class UpstreamBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  void TearDown() override {
    backend_.reset();
    work_.reset();
    for (std::thread& t : threads_) t.join();
    fake_.reset();
  }

  void StartFake(const std::vector<std::string>& args = {}) {
    std::string error;
    fake_ = FakeUpstream::Start(args, &error);
    ASSERT_NE(fake_, nullptr) << error;
  }

  UpstreamOptions Options() const {
    UpstreamOptions o;
    o.base_url = fake_->base_url();
    o.backoff_base = milliseconds(10);
    o.backoff_cap = milliseconds(50);
    o.jitter_seed = 42;
    return o;
  }

  UpstreamBackend& Make(UpstreamOptions o) {
    StatusOr<std::unique_ptr<UpstreamBackend>> b = UpstreamBackend::Create(std::move(o));
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    backend_ = std::move(*b);
    return *backend_;
  }
  UpstreamBackend& Make() { return Make(Options()); }

  // Runs one call on the io_context's threads and waits for it.
  Result Run(UpstreamBackend& b, BackendRequest r, StreamSink* sink = nullptr) {
    return Spawn(b, std::move(r), sink).get();
  }

  std::future<Result> Spawn(UpstreamBackend& b, BackendRequest r, StreamSink* sink = nullptr) {
    // co_spawn needs a default-constructible result; StatusOr is not.
    auto call = [&b, r = std::move(r), sink]() mutable -> asio::awaitable<std::optional<Result>> {
      co_return co_await b.Call(std::move(r), sink);
    };
    auto fut = asio::co_spawn(io_, std::move(call), asio::use_future);
    return std::async(std::launch::deferred,
                      [f = std::move(fut)]() mutable { return std::move(*f.get()); });
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::vector<std::thread> threads_;
  std::unique_ptr<FakeUpstream> fake_;
  std::unique_ptr<UpstreamBackend> backend_;
};

TEST_F(UpstreamBackendTest, ChatNonStreaming) {
  StartFake({"--tokens", "8"});
  UpstreamOptions o = Options();
  o.model = "upstream-model";
  UpstreamBackend& b = Make(o);
  Result r = Run(b, Chat(false, "", "req-1"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body.at("object").as_string(), "chat.completion");
  EXPECT_EQ(r->body.at("model").as_string(), "upstream-model");  // Options::model is sent.
  EXPECT_EQ(ContentOf(r->body), Tokens(8));
  EXPECT_TRUE(r->usage.reported);
  EXPECT_EQ(r->usage.prompt_tokens, 9);  // The fake counts words.
  EXPECT_EQ(r->usage.completion_tokens, 8);
  EXPECT_EQ(r->attempts, 1);
  EXPECT_GT(r->first_byte.count(), 0);
  EXPECT_GE(r->total, r->first_byte);
  EXPECT_FALSE(r->usage_chunk.has_value());
  EXPECT_EQ(fake_->Stat("key_requests", "req-1"), 1);  // x-request-id went upstream.
  EXPECT_EQ(b.name(), "upstream:" + fake_->base_url());
  EXPECT_FALSE(b.is_local());
}

TEST_F(UpstreamBackendTest, StreamingDeliversChunksInOrderAndReturnsUsageSeparately) {
  StartFake({"--tokens", "5"});
  UpstreamBackend& b = Make();
  CollectingSink sink;
  Result r = Run(b, Chat(true), &sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // Role chunk, 5 content chunks, the finish chunk; the usage chunk is not among them.
  ASSERT_EQ(sink.chunks.size(), 7u);
  for (const json::object& c : sink.chunks) {
    EXPECT_EQ(c.at("object").as_string(), "chat.completion.chunk");
    EXPECT_FALSE(c.at("choices").as_array().empty());
  }
  EXPECT_EQ(sink.chunks.front().at("choices").at(0).at("delta").at("role").as_string(),
            "assistant");
  EXPECT_EQ(sink.Text(), Tokens(5));
  EXPECT_EQ(sink.chunks.back().at("choices").at(0).at("finish_reason").as_string(), "stop");
  ASSERT_TRUE(r->usage_chunk.has_value());
  EXPECT_TRUE(r->usage_chunk->at("choices").as_array().empty());
  EXPECT_EQ(r->usage_chunk->at("usage").at("completion_tokens").as_int64(), 5);
  EXPECT_TRUE(r->usage.reported);
  EXPECT_EQ(r->usage.completion_tokens, 5);
  EXPECT_EQ(r->usage.prompt_tokens, 9);
  EXPECT_TRUE(r->body.empty());
  EXPECT_EQ(fake_->WaitForStat("completed_streams", 1), 1);  // Counted after its last write.
}

TEST_F(UpstreamBackendTest, OmittedUsageIsCountedBySobre) {
  StartFake({"--tokens", "6", "--omit-usage"});
  UpstreamBackend& b = Make();
  BackendRequest request = Chat(false);
  int64_t prompt = EstimatePromptTokens(Endpoint::kChatCompletions, request.body);
  Result r = Run(b, std::move(request));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->usage.reported);
  EXPECT_EQ(r->usage.prompt_tokens, prompt);
  EXPECT_EQ(r->usage.completion_tokens, EstimateTokens(Tokens(6)));

  CollectingSink sink;
  Result s = Run(b, Chat(true), &sink);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_FALSE(s->usage_chunk.has_value());
  EXPECT_FALSE(s->usage.reported);
  EXPECT_EQ(s->usage.prompt_tokens, prompt);
  EXPECT_EQ(s->usage.completion_tokens, EstimateTokens(Tokens(6)));
}

TEST_F(UpstreamBackendTest, RetriesA503ThenSucceeds) {
  StartFake();
  UpstreamBackend& b = Make();
  Result r = Run(b, Chat(false, "fail_first=1", "retry-503"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->attempts, 2);
  EXPECT_EQ(fake_->Stat("requests"), 2);
  EXPECT_EQ(fake_->Stat("injected_failures"), 1);
  EXPECT_EQ(b.stats().retries, 1u);
}

TEST_F(UpstreamBackendTest, StreamingRetriesBeforeTheFirstChunk) {
  StartFake();
  UpstreamBackend& b = Make();
  CollectingSink sink;
  Result r = Run(b, Chat(true, "fail_first=2", "retry-stream"), &sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->attempts, 3);
  EXPECT_EQ(sink.Text(), Tokens(16));
}

TEST_F(UpstreamBackendTest, HonoursRetryAfterOn429) {
  StartFake();
  UpstreamOptions o = Options();
  o.backoff_base = milliseconds(0);  // Without Retry-After the retry would be immediate.
  UpstreamBackend& b = Make(o);
  auto start = SteadyClock::now();
  Result r = Run(b, Chat(false, "fail_first=1;fail_status=429;retry_after=1", "retry-429"));
  auto elapsed = SteadyClock::now() - start;
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->attempts, 2);
  EXPECT_GE(elapsed, milliseconds(1000));
}

TEST_F(UpstreamBackendTest, PersistentRateLimitIsResourceExhausted) {
  StartFake({"--status", "429"});
  UpstreamBackend& b = Make();
  Result r = Run(b, Chat(false));
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(fake_->Stat("requests"), 3);
}

TEST_F(UpstreamBackendTest, RetryAfterBeyondTheCapFailsAtOnce) {
  StartFake({"--status", "429", "--retry-after", "60"});
  UpstreamOptions o = Options();
  o.max_retry_after = milliseconds(1000);
  UpstreamBackend& b = Make(o);
  auto start = SteadyClock::now();
  Result r = Run(b, Chat(false));
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_LT(SteadyClock::now() - start, milliseconds(1000));
  EXPECT_EQ(fake_->Stat("requests"), 1);
}

TEST_F(UpstreamBackendTest, PersistentServerErrorIsUnavailableAfterMaxRetries) {
  StartFake({"--status", "500", "--message", "GPU on fire"});
  UpstreamOptions o = Options();
  o.max_retries = 2;
  UpstreamBackend& b = Make(o);
  Result r = Run(b, Chat(false));
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("GPU on fire"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("3 attempts"), std::string::npos) << r.status().message();
  EXPECT_EQ(fake_->Stat("requests"), 3);
}

TEST_F(UpstreamBackendTest, ConnectionRefusedIsUnavailable) {
  StartFake();
  uint16_t port = fake_->port();
  fake_.reset();  // Nothing listens there any more.
  UpstreamOptions o;
  o.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  o.backoff_base = milliseconds(5);
  UpstreamBackend& b = Make(o);
  Result r = Run(b, Chat(false));
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("3 attempts"), std::string::npos) << r.status().message();
  EXPECT_EQ(b.stats().connections_opened, 0u);
}

TEST_F(UpstreamBackendTest, FirstByteTimeoutIsDeadlineExceededAndNotRetried) {
  StartFake({"--ttft-ms", "3000"});
  UpstreamOptions o = Options();
  o.first_byte_timeout = milliseconds(200);
  UpstreamBackend& b = Make(o);
  auto start = SteadyClock::now();
  Result r = Run(b, Chat(false));
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_LT(SteadyClock::now() - start, milliseconds(2000));
  // A stream whose headers arrive at once but whose first event does not is the same case.
  CollectingSink sink;
  Result s = Run(b, Chat(true), &sink);
  EXPECT_EQ(s.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(sink.chunks.empty());
  EXPECT_EQ(fake_->Stat("requests"), 2);
}

TEST_F(UpstreamBackendTest, TotalTimeoutStopsASlowStream) {
  StartFake({"--tokens", "100", "--chunk-delay-ms", "50"});
  UpstreamOptions o = Options();
  o.total_timeout = milliseconds(600);
  UpstreamBackend& b = Make(o);
  CollectingSink sink;
  auto start = SteadyClock::now();
  Result r = Run(b, Chat(true), &sink);
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_LT(SteadyClock::now() - start, milliseconds(3000));
  EXPECT_GT(sink.chunks.size(), 0u);
  EXPECT_LT(sink.chunks.size(), 100u);
}

TEST_F(UpstreamBackendTest, MidStreamCutIsDataLossAndNotRetried) {
  StartFake();
  UpstreamBackend& b = Make();
  CollectingSink sink;
  Result r = Run(b, Chat(true, "cut=4"), &sink);
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(sink.chunks.size(), 4u);  // Role chunk and three tokens, then the cut.
  EXPECT_EQ(fake_->Stat("requests"), 1);
  EXPECT_EQ(fake_->Stat("cut_streams"), 1);
}

TEST_F(UpstreamBackendTest, StreamCutBeforeAnyChunkIsRetried) {
  StartFake();
  UpstreamBackend& b = Make();
  CollectingSink sink;
  Result r = Run(b, Chat(true, "cut=0"), &sink);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(sink.chunks.empty());
  EXPECT_EQ(fake_->Stat("requests"), 3);
}

TEST_F(UpstreamBackendTest, ErrorEventMidStreamIsDataLoss) {
  StartFake();
  UpstreamBackend& b = Make();
  CollectingSink sink;
  Result r = Run(b, Chat(true, "error_after=3;message=worker died"), &sink);
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("worker died"), std::string::npos) << r.status().message();
  EXPECT_EQ(sink.chunks.size(), 3u);
  EXPECT_EQ(fake_->Stat("requests"), 1);
}

TEST_F(UpstreamBackendTest, StreamWithoutDoneIsDataLoss) {
  StartFake();
  UpstreamBackend& b = Make();
  CollectingSink sink;
  Result r = Run(b, Chat(true, "no_done"), &sink);
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(sink.Text(), Tokens(16));
}

TEST_F(UpstreamBackendTest, MalformedBodyIsDataLoss) {
  StartFake();
  UpstreamBackend& b = Make();
  Result r = Run(b, Chat(false, "malformed"));
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  CollectingSink sink;
  Result s = Run(b, Chat(true, "malformed"), &sink);
  EXPECT_EQ(s.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(fake_->Stat("requests"), 2);
}

TEST_F(UpstreamBackendTest, SinkReturningFalseCancelsTheStream) {
  StartFake({"--tokens", "1000", "--chunk-delay-ms", "5"});
  UpstreamBackend& b = Make();
  CollectingSink sink(/*stop_after=*/3);
  Result r = Run(b, Chat(true), &sink);
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled);
  EXPECT_EQ(sink.chunks.size(), 3u);
  // The connection was closed, so the upstream stops generating.
  EXPECT_EQ(fake_->WaitForStat("client_gone", 1), 1);
  EXPECT_EQ(fake_->Stat("completed_streams"), 0);
  EXPECT_EQ(b.idle_connections(), 0u);
}

TEST_F(UpstreamBackendTest, CancellingTheCallerClosesTheStream) {
  StartFake({"--tokens", "1000", "--chunk-delay-ms", "5"});
  UpstreamBackend& b = Make();
  CollectingSink sink;
  asio::cancellation_signal signal;
  auto call = [&]() -> asio::awaitable<std::optional<Result>> {
    co_return co_await b.Call(Chat(true), &sink);
  };
  auto fut =
      asio::co_spawn(io_, call, asio::bind_cancellation_slot(signal.slot(), asio::use_future));
  std::this_thread::sleep_for(milliseconds(200));
  // A signal emitted while no operation is attached to the slot (between two reads) is not
  // remembered by Asio, so emit until the call ends; on a loaded machine one may fall in a gap.
  std::atomic<int> pending{0};
  while (fut.wait_for(milliseconds(50)) != std::future_status::ready) {
    ++pending;
    asio::post(io_, [&] {
      signal.emit(asio::cancellation_type::terminal);
      --pending;
    });
  }
  while (pending.load() > 0) std::this_thread::sleep_for(milliseconds(1));  // `signal` outlives them.
  std::optional<Result> r = fut.get();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status().code(), StatusCode::kCancelled) << r->status().ToString();
  EXPECT_EQ(fake_->WaitForStat("client_gone", 1), 1);
}

TEST_F(UpstreamBackendTest, KeepAliveConnectionsAreReused) {
  StartFake({"--tokens", "3"});
  UpstreamBackend& b = Make();
  for (int i = 0; i < 20; ++i) {
    Result r = Run(b, Chat(false));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    CollectingSink sink;
    Result s = Run(b, Chat(true), &sink);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
  }
  EXPECT_EQ(fake_->Stat("requests"), 40);
  EXPECT_EQ(fake_->Stat("connections"), 1);
  EXPECT_EQ(b.stats().connections_opened, 1u);
  EXPECT_EQ(b.stats().connections_reused, 39u);
  EXPECT_EQ(b.idle_connections(), 1u);
}

TEST_F(UpstreamBackendTest, ConnectionClosedByTheServerIsNotReused) {
  StartFake({"--close"});
  UpstreamBackend& b = Make();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Run(b, Chat(false)).ok());
  EXPECT_EQ(b.stats().connections_opened, 3u);
  EXPECT_EQ(b.stats().connections_reused, 0u);
}

TEST_F(UpstreamBackendTest, StalePooledConnectionIsReplacedTransparently) {
  StartFake();
  UpstreamBackend& b = Make();
  ASSERT_TRUE(Run(b, Chat(false)).ok());
  // The server closes the reused connection without answering, as one that timed it out
  // while the request was on its way would.
  Result r = Run(b, Chat(false, "drop_reused"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->attempts, 1);
  EXPECT_EQ(fake_->Stat("dropped"), 1);
  EXPECT_EQ(b.stats().connections_opened, 2u);
  EXPECT_EQ(b.stats().retries, 0u);
}

TEST_F(UpstreamBackendTest, IdleConnectionClosedByTheServerIsDroppedBeforeUse) {
  StartFake({"--idle-timeout-ms", "100"});
  UpstreamBackend& b = Make();
  ASSERT_TRUE(Run(b, Chat(false)).ok());
  std::this_thread::sleep_for(milliseconds(400));
  Result r = Run(b, Chat(false));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->attempts, 1);
  EXPECT_EQ(b.stats().connections_opened, 2u);
  EXPECT_EQ(b.stats().connections_reused, 0u);
  EXPECT_EQ(fake_->Stat("dropped"), 0);
}

TEST_F(UpstreamBackendTest, ConcurrentCallsShareThePool) {
  StartFake({"--tokens", "20", "--chunk-delay-ms", "2"});
  UpstreamOptions o = Options();
  o.pool_size = 4;
  UpstreamBackend& b = Make(o);
  constexpr int kCalls = 16;
  std::vector<CollectingSink> sinks(kCalls);
  std::vector<std::future<Result>> calls;
  for (int round = 0; round < 2; ++round) {
    calls.clear();
    for (int i = 0; i < kCalls; ++i) {
      sinks[i].chunks.clear();
      calls.push_back(Spawn(b, Chat(i % 2 == 0), i % 2 == 0 ? &sinks[i] : nullptr));
    }
    for (int i = 0; i < kCalls; ++i) {
      Result r = calls[i].get();
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      if (i % 2 == 0) {
        EXPECT_EQ(sinks[i].Text(), Tokens(20));
      } else {
        EXPECT_EQ(ContentOf(r->body), Tokens(20));
      }
    }
    EXPECT_LE(b.idle_connections(), 4u);
  }
  EXPECT_EQ(fake_->Stat("requests"), 2 * kCalls);
  EXPECT_LE(fake_->Stat("connections"), 2 * kCalls - 4);  // The second round reused some.
  EXPECT_GE(b.stats().connections_reused, 4u);
}

TEST_F(UpstreamBackendTest, UpstreamBadRequestKeepsItsMessage) {
  StartFake();
  UpstreamBackend& b = Make();
  BackendRequest request = Chat(false);
  request.body.erase("messages");
  Result r = Run(b, std::move(request));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "Missing required parameter: 'messages'.");
  EXPECT_EQ(fake_->Stat("requests"), 1);  // Not retried.

  Result s = Run(b, Chat(false, "status=422;message=temperature too high"));
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.status().message(), "temperature too high");
}

TEST_F(UpstreamBackendTest, UpstreamNotFoundAndAuthErrors) {
  StartFake({"--api-key", "sk-right"});
  UpstreamOptions o = Options();
  o.api_key = "sk-wrong";
  UpstreamBackend& wrong = Make(o);
  Result r = Run(wrong, Chat(false));
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("Incorrect API key"), std::string::npos);

  o.api_key = "sk-right";
  UpstreamBackend& right = Make(o);
  EXPECT_TRUE(Run(right, Chat(false)).ok());
  Result n = Run(right, Chat(false, "status=404;message=The model `x` does not exist"));
  EXPECT_EQ(n.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(n.status().message(), "The model `x` does not exist");
  EXPECT_EQ(fake_->Stat("requests"), 3);
}

TEST_F(UpstreamBackendTest, Embeddings) {
  StartFake({"--dims", "16"});
  UpstreamBackend& b = Make();
  BackendRequest r;
  r.endpoint = Endpoint::kEmbeddings;
  r.body["model"] = "embedder";
  r.body["input"] = json::array{"the quick brown fox", "jumps"};
  Result res = Run(b, std::move(r));
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  const json::array& data = res->body.at("data").as_array();
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(data[0].at("embedding").as_array().size(), 16u);
  EXPECT_TRUE(res->usage.reported);
  EXPECT_EQ(res->usage.prompt_tokens, 5);
  EXPECT_EQ(res->usage.completion_tokens, 0);
  EXPECT_EQ(fake_->Stat("embeddings"), 1);
}

TEST_F(UpstreamBackendTest, CompletionsNonStreamingAndStreaming) {
  StartFake({"--tokens", "4"});
  UpstreamBackend& b = Make();
  BackendRequest r;
  r.endpoint = Endpoint::kCompletions;
  r.body["model"] = "m";
  r.body["prompt"] = "Once upon a time";
  r.body["max_tokens"] = 3;
  Result res = Run(b, r);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->body.at("object").as_string(), "text_completion");
  EXPECT_EQ(res->body.at("choices").at(0).at("text").as_string(), Tokens(3));
  EXPECT_EQ(res->usage.prompt_tokens, 4);
  EXPECT_EQ(res->usage.completion_tokens, 3);

  r.stream = true;
  r.body["stream_options"] = json::object{{"include_usage", true}};
  CollectingSink sink;
  Result s = Run(b, r, &sink);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(sink.chunks.front().at("object").as_string(), "text_completion");
  EXPECT_EQ(sink.Text(), Tokens(3));
  ASSERT_TRUE(s->usage_chunk.has_value());
  EXPECT_EQ(s->usage.completion_tokens, 3);
  EXPECT_EQ(fake_->Stat("completions"), 2);
}

TEST_F(UpstreamBackendTest, StreamingWithoutASinkIsRefused) {
  StartFake();
  UpstreamBackend& b = Make();
  EXPECT_EQ(Run(b, Chat(true)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(fake_->Stat("requests"), 0);
}

TEST_F(UpstreamBackendTest, NonStreamingRequestNeverAsksForAStream) {
  StartFake();
  UpstreamBackend& b = Make();
  BackendRequest r = Chat(true);
  r.stream = false;  // The body says stream, the request does not: the request wins.
  Result res = Run(b, std::move(r));
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(ContentOf(res->body), Tokens(16));
}

TEST_F(UpstreamBackendTest, BadOptionsAreRejected) {
  for (const char* url : {"ftp://127.0.0.1/v1", "not a url", "http:///v1", "http://h:0/v1",
                          "http://user:pw@127.0.0.1/v1"}) {
    UpstreamOptions o;
    o.base_url = url;
    EXPECT_EQ(UpstreamBackend::Create(o).status().code(), StatusCode::kInvalidArgument) << url;
  }
  UpstreamOptions o;
  o.base_url = "https://127.0.0.1:1/v1";
  o.tls_ca_file = "/nonexistent/ca.pem";
  EXPECT_EQ(UpstreamBackend::Create(o).status().code(), StatusCode::kInvalidArgument);
  o.tls_ca_file.clear();
  o.extra_headers = {{"X-Evil", "a\r\nInjected: 1"}};
  EXPECT_EQ(UpstreamBackend::Create(o).status().code(), StatusCode::kInvalidArgument);
}

class UpstreamBackendTlsTest : public UpstreamBackendTest {
 protected:
  void SetUp() override {
    UpstreamBackendTest::SetUp();
    char path[] = "/tmp/sobre_fake_ca_XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::close(fd);
    cert_path_ = path;
    StartFake({"--tls-cert-out", cert_path_, "--tokens", "4"});
  }
  void TearDown() override {
    UpstreamBackendTest::TearDown();
    std::remove(cert_path_.c_str());
  }
  std::string cert_path_;
};

TEST_F(UpstreamBackendTlsTest, VerifiesTheServerWithTheGivenCa) {
  for (const char* host : {"127.0.0.1", "localhost"}) {
    UpstreamOptions o = Options();
    o.base_url = fake_->base_url("https", host);
    o.tls_ca_file = cert_path_;
    UpstreamBackend& b = Make(o);
    Result r = Run(b, Chat(false));
    ASSERT_TRUE(r.ok()) << host << ": " << r.status().ToString();
    EXPECT_EQ(ContentOf(r->body), Tokens(4));
    CollectingSink sink;
    Result s = Run(b, Chat(true), &sink);
    ASSERT_TRUE(s.ok()) << host << ": " << s.status().ToString();
    EXPECT_EQ(sink.Text(), Tokens(4));
    EXPECT_EQ(b.stats().connections_opened, 1u);  // TLS connections are pooled too.
  }
}

TEST_F(UpstreamBackendTlsTest, RejectsAnUntrustedCertificate) {
  UpstreamOptions o = Options();
  o.base_url = fake_->base_url("https");
  o.max_retries = 0;
  UpstreamBackend& b = Make(o);  // The system store does not know the fake's certificate.
  Result r = Run(b, Chat(false));
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("certificate verify failed"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(b.stats().connections_opened, 0u);  // The handshake failed: no request went out.
  EXPECT_EQ(b.stats().requests_sent, 0u);

  o.tls_verify = false;
  UpstreamBackend& insecure = Make(o);
  EXPECT_TRUE(Run(insecure, Chat(false)).ok());
}

}  // namespace
}  // namespace sobre::backend
