// The gateway end to end inside one process: a real HttpServer on a loopback port, the Gateway,
// scripted fake backends and an in-memory SQLite store, driven over HTTP by a Beast client.
#include "gateway/gateway.h"

#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gateway/request_footprint.h"

namespace sobre::gateway {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace json = boost::json;
using ::testing::HasSubstr;
using ::testing::Not;
using std::chrono::milliseconds;

// ---------------------------------------------------------------------------------------------
// A scripted backend.

struct Script {
  std::vector<std::string> chunks = {"Hel", "lo", "!"};  // One token each.
  Status fail_before;                // Not ok: fail before any chunk.
  int fail_after_chunks = -1;        // >= 0: fail with fail_mid after that many chunks.
  Status fail_mid = DataLossError("upstream connection reset");
  bool report_usage = true;          // False: the "upstream" sent no usage (counted by us).
  milliseconds delay{0};             // Before answering.
  std::optional<Joules> energy;      // Set: a metering (local) backend.
  int64_t prompt_tokens = 7;
};

class FakeBackend : public backend::Backend {
 public:
  FakeBackend(std::string name, Script script) : name_(std::move(name)), script_(std::move(script)) {}

  std::string name() const override { return "fake:" + name_; }
  bool is_local() const override { return script_.energy.has_value(); }

  asio::awaitable<StatusOr<backend::BackendResult>> Call(backend::BackendRequest request,
                                                         backend::StreamSink* sink) override {
    ++calls_;
    {
      std::lock_guard lock(mu_);
      last_body_ = request.body;
    }
    if (script_.delay.count() > 0) {
      asio::steady_timer timer(co_await asio::this_coro::executor, script_.delay);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (!script_.fail_before.ok()) co_return script_.fail_before;

    backend::BackendResult result;
    result.usage.prompt_tokens = script_.prompt_tokens;
    result.usage.completion_tokens = static_cast<int64_t>(script_.chunks.size());
    result.usage.reported = script_.report_usage;
    result.energy = script_.energy;
    result.total = script_.delay;
    const json::value model = request.body["model"];
    json::object usage;
    usage["prompt_tokens"] = result.usage.prompt_tokens;
    usage["completion_tokens"] = result.usage.completion_tokens;
    usage["total_tokens"] = result.usage.prompt_tokens + result.usage.completion_tokens;

    if (!request.stream) {
      std::string text;
      for (const std::string& c : script_.chunks) text += c;
      json::object body = {
          {"id", "chatcmpl-fake"}, {"object", "chat.completion"}, {"created", 1700000000},
          {"model", model},
          {"choices", json::array{json::object{
                          {"index", 0},
                          {"message", {{"role", "assistant"}, {"content", text}}},
                          {"finish_reason", "stop"}}}}};
      if (script_.report_usage) body["usage"] = usage;
      result.body = std::move(body);
      co_return result;
    }
    for (size_t i = 0; i <= script_.chunks.size(); ++i) {
      if (static_cast<int>(i) == script_.fail_after_chunks) co_return script_.fail_mid;
      json::object delta;
      if (i == 0) delta["role"] = "assistant";
      if (i < script_.chunks.size()) delta["content"] = script_.chunks[i];
      json::object chunk = {
          {"id", "chatcmpl-fake"}, {"object", "chat.completion.chunk"},
          {"created", 1700000000}, {"model", model},
          {"choices", json::array{json::object{
                          {"index", 0}, {"delta", delta},
                          {"finish_reason", i < script_.chunks.size() ? json::value(nullptr)
                                                                      : json::value("stop")}}}}};
      if (!co_await sink->OnChunk(std::move(chunk))) co_return CancelledError("client gone");
    }
    if (script_.report_usage) {
      result.usage_chunk = json::object{{"id", "chatcmpl-fake"},
                                        {"object", "chat.completion.chunk"},
                                        {"created", 1700000000},
                                        {"model", model},
                                        {"choices", json::array()},
                                        {"usage", usage}};
    }
    co_return result;
  }

  int calls() const { return calls_.load(); }
  json::object last_body() const {
    std::lock_guard lock(mu_);
    return last_body_;
  }

 private:
  const std::string name_;
  const Script script_;
  std::atomic<int> calls_{0};
  mutable std::mutex mu_;
  json::object last_body_;
};

// ---------------------------------------------------------------------------------------------
// A blocking HTTP client.

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // Lower-case names.
  std::string body;

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  json::value Json() const {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    return ec ? json::value() : v;
  }
  // The data of each SSE event, in order.
  std::vector<std::string> Events() const {
    std::vector<std::string> events;
    size_t pos = 0;
    while (pos < body.size()) {
      size_t end = body.find("\n\n", pos);
      if (end == std::string::npos) end = body.size();
      std::string event = body.substr(pos, end - pos);
      if (event.starts_with("data: ")) events.push_back(event.substr(6));
      pos = end + 2;
    }
    return events;
  }
};

Reply Request(uint16_t port, http::verb method, std::string target, std::string body = "",
              std::vector<std::pair<std::string, std::string>> headers = {}) {
  Reply reply;
  asio::io_context io;
  beast::tcp_stream stream(io);
  beast::error_code ec;
  stream.socket().connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return reply;
  http::request<http::string_body> req(method, target, 11);
  req.set(http::field::host, "127.0.0.1");
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = std::move(body);
  req.prepare_payload();
  http::write(stream, req, ec);
  if (ec) return reply;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64u << 20);
  http::read(stream, buffer, parser, ec);
  if (ec && !parser.is_header_done()) return reply;
  const auto& res = parser.get();
  reply.status = res.result_int();
  for (const auto& field : res) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    reply.headers[name] = std::string(field.value());
  }
  reply.body = res.body();
  return reply;
}

std::string ChatBody(std::string_view extra = "", std::string_view model = "small") {
  std::string s = "{\"model\":\"" + std::string(model) +
                  "\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello\"}]";
  if (!extra.empty()) s += "," + std::string(extra);
  return s + "}";
}

// ---------------------------------------------------------------------------------------------

GatewayConfig TestConfig() {
  GatewayConfig c;
  c.server.host = "127.0.0.1";
  c.server.port = 0;
  c.server.io_threads = 2;
  c.server.max_body_bytes = 64u << 10;
  c.site.zone = "FR";
  ModelConfig small;
  small.name = "small";
  small.upstream_model = "small-upstream";
  small.params_b = 8;
  small.fallbacks = {"backup"};
  ModelConfig backup;
  backup.name = "backup";
  backup.params_b = 8;
  c.models = {small, backup};
  return c;
}

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::OpenStore("sqlite::memory:");
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
  }

  void Start(GatewayConfig config = TestConfig()) {
    config_ = config;
    std::map<std::string, std::unique_ptr<backend::Backend>> backends;
    auto primary = std::make_unique<FakeBackend>("small", primary_script_);
    auto backup = std::make_unique<FakeBackend>("backup", backup_script_);
    primary_ = primary.get();
    backup_ = backup.get();
    backends["small"] = std::move(primary);
    backends["backup"] = std::move(backup);
    gateway_ = std::make_unique<Gateway>(config, *store_, std::move(backends), SystemClock());
    server_ = std::make_unique<HttpServer>(config.server);
    gateway_->RegisterRoutes(*server_);
    const Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started.ToString();
    port_ = server_->port();
  }

  void TearDown() override {
    if (server_) server_->Stop(milliseconds(2000));
    server_.reset();
    gateway_.reset();
  }

  Reply Post(std::string body, std::vector<std::pair<std::string, std::string>> headers = {},
             std::string target = "/v1/chat/completions") {
    return Request(port_, http::verb::post, std::move(target), std::move(body),
                   std::move(headers));
  }
  Reply Get(std::string target, std::vector<std::pair<std::string, std::string>> headers = {}) {
    return Request(port_, http::verb::get, std::move(target), "", std::move(headers));
  }

  std::string CreateKey(const std::string& name, store::Limits limits = {}) {
    store::NewKey key;
    key.name = name;
    key.limits = limits;
    auto created = store_->CreateKey(key);
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    return created.ok() ? created->second : "";
  }

  // The ledger once it holds `expected` rows (the gateway appends a row after the response has
  // gone out, so the client can be a little ahead), or whatever it holds after 5 s.
  std::vector<store::LedgerRow> Ledger(size_t expected) {
    std::vector<store::LedgerRow> rows;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    do {
      EXPECT_TRUE(store_->Flush().ok());
      const auto now = std::chrono::system_clock::now();
      auto read =
          store_->ReadLedger(now - std::chrono::hours(1), now + std::chrono::hours(1), 1000);
      EXPECT_TRUE(read.ok());
      if (read.ok()) rows = *read;
      if (rows.size() >= expected) break;
      std::this_thread::sleep_for(milliseconds(10));
    } while (std::chrono::steady_clock::now() < deadline);
    return rows;
  }

  Script primary_script_;
  Script backup_script_;
  FakeBackend* primary_ = nullptr;
  FakeBackend* backup_ = nullptr;
  GatewayConfig config_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
};

void ExpectFootprint(const json::value& f) {
  ASSERT_TRUE(f.is_object()) << json::serialize(f);
  for (const char* key : {"energy_wh", "co2e_g", "water_ml", "embodied_co2e_g",
                          "intensity_g_per_kwh"}) {
    ASSERT_TRUE(f.as_object().contains(key)) << key;
    EXPECT_TRUE(f.at(key).is_number()) << key;
  }
  EXPECT_GT(f.at("energy_wh").to_number<double>(), 0);
  EXPECT_GT(f.at("co2e_g").to_number<double>(), 0);
  EXPECT_EQ(f.at("zone").as_string(), "FR");
  EXPECT_EQ(f.at("method").as_string(), "estimated");
}

void ExpectErrorBody(const Reply& r, int status, std::string_view type, std::string_view code) {
  EXPECT_EQ(r.status, status) << r.body;
  const json::value v = r.Json();
  ASSERT_TRUE(v.is_object()) << r.body;
  const json::object& e = v.at("error").as_object();
  EXPECT_EQ(e.size(), 4u) << r.body;
  EXPECT_TRUE(e.at("message").is_string());
  EXPECT_EQ(e.at("type").as_string(), type) << r.body;
  if (code.empty()) {
    EXPECT_TRUE(e.at("code").is_null()) << r.body;
  } else {
    EXPECT_EQ(e.at("code").as_string(), code) << r.body;
  }
  EXPECT_FALSE(r.Header("x-request-id").empty());
}

// ---------------------------------------------------------------------------------------------

TEST_F(GatewayTest, ChatCompletionCarriesUsageFootprintAndHeaders) {
  Start();
  const Reply r = Post(ChatBody(R"("temperature":0.2,"top_k":40,"tools":[{"type":"function",)"
                                R"("function":{"name":"f","parameters":{}}}])"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("content-type"), "application/json");
  const json::value v = r.Json();
  EXPECT_EQ(v.at("object").as_string(), "chat.completion");
  EXPECT_EQ(v.at("model").as_string(), "small");
  EXPECT_EQ(v.at("choices").at(0).at("message").at("content").as_string(), "Hello!");
  const json::value& usage = v.at("usage");
  EXPECT_EQ(usage.at("prompt_tokens").as_int64(), 7);
  EXPECT_EQ(usage.at("completion_tokens").as_int64(), 3);
  EXPECT_EQ(usage.at("total_tokens").as_int64(), 10);
  ExpectFootprint(usage.at("footprint"));

  EXPECT_THAT(r.Header("x-request-id"), ::testing::StartsWith("req_"));
  EXPECT_EQ(r.Header("x-sobre-method"), "estimated");
  EXPECT_EQ(r.Header("x-sobre-model"), "small");
  EXPECT_EQ(r.Header("x-sobre-cache"), "bypass");  // Samples: not cacheable.
  EXPECT_DOUBLE_EQ(std::stod(r.Header("x-sobre-energy-wh")),
                   std::stod(fmt::format("{:.6g}", usage.at("footprint").at("energy_wh")
                                                           .to_number<double>())));
  EXPECT_GT(std::stod(r.Header("x-sobre-co2e-g")), 0);
  EXPECT_GE(std::stod(r.Header("x-sobre-overhead-ms")), 0);

  // The backend got the upstream's model name and every field it does not interpret.
  const json::object sent = primary_->last_body();
  EXPECT_EQ(sent.at("model").as_string(), "small-upstream");
  EXPECT_EQ(sent.at("top_k").as_int64(), 40);
  EXPECT_TRUE(sent.at("tools").is_array());
  EXPECT_EQ(backup_->calls(), 0);
}

TEST_F(GatewayTest, StreamWithIncludeUsageFollowsOpenAiSemantics) {
  Start();
  const Reply r = Post(ChatBody(R"("stream":true,"stream_options":{"include_usage":true})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.Header("content-type"), HasSubstr("text/event-stream"));
  const std::vector<std::string> events = r.Events();
  ASSERT_GE(events.size(), 3u) << r.body;
  EXPECT_EQ(events.back(), "[DONE]");
  // Every chunk but the last carries "usage": null and at least one choice.
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    const json::value chunk = json::parse(events[i]);
    ASSERT_TRUE(chunk.as_object().contains("usage")) << events[i];
    EXPECT_TRUE(chunk.at("usage").is_null()) << events[i];
    EXPECT_EQ(chunk.at("object").as_string(), "chat.completion.chunk");
    EXPECT_EQ(chunk.at("model").as_string(), "small");
    EXPECT_FALSE(chunk.at("choices").as_array().empty());
    EXPECT_EQ(chunk.at("id").as_string(), "chatcmpl-fake");
  }
  const json::value last = json::parse(events[events.size() - 2]);
  EXPECT_TRUE(last.at("choices").as_array().empty()) << events[events.size() - 2];
  EXPECT_EQ(last.at("usage").at("completion_tokens").as_int64(), 3);
  EXPECT_EQ(last.at("usage").at("total_tokens").as_int64(), 10);
  ExpectFootprint(last.at("usage").at("footprint"));
  EXPECT_EQ(events.size(), 6u);  // Three content chunks, the finish chunk, usage, [DONE].
}

TEST_F(GatewayTest, StreamWithoutIncludeUsageHasNoUsageButTheBackendIsAskedForIt) {
  Start();
  const Reply r = Post(ChatBody(R"("stream":true)"));
  ASSERT_EQ(r.status, 200) << r.body;
  const std::vector<std::string> events = r.Events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]");
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const json::value chunk = json::parse(events[i]);
    EXPECT_FALSE(chunk.as_object().contains("usage")) << events[i];
    EXPECT_FALSE(chunk.at("choices").as_array().empty()) << events[i];
  }
  const json::object sent = primary_->last_body();
  EXPECT_TRUE(sent.at("stream").as_bool());
  EXPECT_TRUE(sent.at("stream_options").at("include_usage").as_bool());
  // The footprint still reaches the ledger.
  const auto rows = Ledger(1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_GT(rows[0].energy_wh, 0);
  EXPECT_EQ(rows[0].completion_tokens, 3);
  EXPECT_GT(rows[0].ttft_ms, 0);
}

TEST_F(GatewayTest, UsageCountedByTheBackendWhenTheUpstreamOmitsIt) {
  primary_script_.report_usage = false;
  Start();
  const Reply plain = Post(ChatBody());
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_EQ(plain.Json().at("usage").at("completion_tokens").as_int64(), 3);
  EXPECT_EQ(plain.Json().at("usage").at("prompt_tokens").as_int64(), 7);

  const Reply streamed = Post(ChatBody(R"("stream":true,"stream_options":{"include_usage":true})"));
  ASSERT_EQ(streamed.status, 200);
  const auto events = streamed.Events();
  ASSERT_GE(events.size(), 2u);
  const json::value last = json::parse(events[events.size() - 2]);
  EXPECT_TRUE(last.at("choices").as_array().empty());
  EXPECT_EQ(last.at("usage").at("completion_tokens").as_int64(), 3);
  EXPECT_EQ(last.at("id").as_string(), "chatcmpl-fake");
  EXPECT_EQ(last.at("object").as_string(), "chat.completion.chunk");
}

TEST_F(GatewayTest, FallsBackWhenThePrimaryFailsBeforeItsFirstChunk) {
  primary_script_.fail_before = UnavailableError("connection refused");
  Start();
  const Reply plain = Post(ChatBody());
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_EQ(plain.Header("x-sobre-model"), "backup");
  EXPECT_EQ(plain.Json().at("model").as_string(), "backup");

  const Reply streamed = Post(ChatBody(R"("stream":true,"stream_options":{"include_usage":true})"));
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  EXPECT_EQ(streamed.Header("x-sobre-model"), "backup");
  EXPECT_EQ(streamed.Events().back(), "[DONE]");
  EXPECT_EQ(primary_->calls(), 2);
  EXPECT_EQ(backup_->calls(), 2);
  EXPECT_EQ(backup_->last_body().at("model").as_string(), "backup");

  const auto rows = Ledger(2);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].model, "small");
  EXPECT_EQ(rows[0].backend, "fake:backup");
}

TEST_F(GatewayTest, RequestErrorsFromTheUpstreamAreNotRetriedElsewhere) {
  primary_script_.fail_before = InvalidArgumentError("'foo' is not a valid tool type");
  Start();
  const Reply r = Post(ChatBody());
  ExpectErrorBody(r, 400, "invalid_request_error", "");
  EXPECT_THAT(r.Json().at("error").at("message").as_string().c_str(), HasSubstr("valid tool"));
  EXPECT_EQ(backup_->calls(), 0);
}

TEST_F(GatewayTest, EveryCandidateTimingOutIs504) {
  primary_script_.fail_before = DeadlineExceededError("first byte timeout");
  backup_script_.fail_before = DeadlineExceededError("first byte timeout");
  Start();
  ExpectErrorBody(Post(ChatBody(R"("stream":true)")), 504, "server_error", "upstream_timeout");
  ExpectErrorBody(Post(ChatBody()), 504, "server_error", "upstream_timeout");
  EXPECT_EQ(backup_->calls(), 2);
}

TEST_F(GatewayTest, AStreamThatDiesMidwayEndsWithAnErrorEventAndNoDone) {
  primary_script_.fail_after_chunks = 2;
  Start();
  const Reply r = Post(ChatBody(R"("stream":true,"stream_options":{"include_usage":true})"));
  ASSERT_EQ(r.status, 200);
  const auto events = r.Events();
  ASSERT_EQ(events.size(), 3u) << r.body;
  EXPECT_EQ(json::parse(events[0]).at("choices").at(0).at("delta").at("content").as_string(),
            "Hel");
  const json::value error = json::parse(events[2]);
  ASSERT_TRUE(error.as_object().contains("error")) << events[2];
  EXPECT_EQ(error.at("error").at("code").as_string(), "upstream_error");
  EXPECT_EQ(error.at("error").as_object().size(), 4u);
  EXPECT_THAT(r.body, Not(HasSubstr("[DONE]")));
  EXPECT_EQ(backup_->calls(), 0);  // Too late for a fallback: chunks were sent.

  const auto rows = Ledger(1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].error_code, "upstream_error");
  EXPECT_EQ(rows[0].completion_tokens, 2);  // Charged for what was relayed.
}

TEST_F(GatewayTest, ClientErrorsHaveOpenAiBodiesAndStatuses) {
  const std::string secret = CreateKey("dev");
  Start();
  const std::pair<std::string, std::string> auth{"authorization", "Bearer " + secret};
  ExpectErrorBody(Post(ChatBody()), 401, "invalid_request_error", "invalid_api_key");
  ExpectErrorBody(Post(ChatBody(), {{"authorization", "Bearer sk-sobre-nope"}}), 401,
                  "invalid_request_error", "invalid_api_key");
  ExpectErrorBody(Get("/v1/models"), 401, "invalid_request_error", "invalid_api_key");

  const Reply unknown = Post(ChatBody("", "gpt-9"), {auth});
  ExpectErrorBody(unknown, 404, "invalid_request_error", "model_not_found");
  EXPECT_EQ(unknown.Json().at("error").at("param").as_string(), "model");

  ExpectErrorBody(Post("{not json", {auth}), 400, "invalid_request_error", "");
  const Reply wrong = Post(R"({"model":"small","messages":"hi"})", {auth});
  ExpectErrorBody(wrong, 400, "invalid_request_error", "");
  EXPECT_EQ(wrong.Json().at("error").at("param").as_string(), "messages");
  const Reply range = Post(ChatBody(R"("temperature":3)"), {auth});
  EXPECT_EQ(range.Json().at("error").at("param").as_string(), "temperature");
  const Reply missing = Post(R"({"model":"small"})", {auth});
  EXPECT_EQ(missing.Json().at("error").at("param").as_string(), "messages");

  const std::string huge = ChatBody(std::string(R"("user":")") + std::string(100000, 'x') + "\"");
  const Reply too_large = Post(huge, {auth});
  EXPECT_EQ(too_large.status, 413) << too_large.body;
  EXPECT_EQ(too_large.Json().at("error").at("type").as_string(), "invalid_request_error");

  EXPECT_EQ(Post(ChatBody(), {auth}).status, 200);
  EXPECT_EQ(primary_->calls(), 1);  // No invalid request reached a backend.

  const auto rows = Ledger(8);
  std::map<int, int> by_status;
  for (const auto& row : rows) ++by_status[row.http_status];
  EXPECT_EQ(by_status[401], 2);
  EXPECT_EQ(by_status[404], 1);
  EXPECT_EQ(by_status[400], 4);
  EXPECT_EQ(by_status[200], 1);
  for (const auto& row : rows) {
    if (row.http_status == 404) {
      EXPECT_EQ(row.error_code, "model_not_found");
    }
    if (row.http_status == 200) {
      EXPECT_EQ(row.key_name, "dev");
    }
  }
}

TEST_F(GatewayTest, ConcurrentBurstNeverOverspendsTheCarbonBudget) {
  primary_script_.chunks.assign(20, "tok");
  primary_script_.delay = milliseconds(100);
  const FootprintModel model(TestConfig().site);
  ModelConfig size_config;
  size_config.params_b = 8;
  const auto bound = model.UpperBound(ModelSizeOf(size_config), 20);
  ASSERT_TRUE(bound.ok());
  store::Limits limits;
  limits.co2e_g_per_day = bound->co2e_g * 10.5;
  limits.tokens_per_day = 100000;
  const std::string secret = CreateKey("burst", limits);
  Start();

  constexpr int kRequests = 30;
  std::vector<Reply> replies(kRequests);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRequests; ++i) {
    threads.emplace_back([&, i] {
      replies[i] = Post(ChatBody(R"("max_tokens":20)"), {{"authorization", "Bearer " + secret}});
    });
  }
  for (auto& t : threads) t.join();

  int ok = 0;
  int denied = 0;
  double charged = 0;
  for (const Reply& r : replies) {
    if (r.status == 200) {
      ++ok;
      charged += r.Json().at("usage").at("footprint").at("co2e_g").to_number<double>();
    } else {
      ++denied;
      ExpectErrorBody(r, 429, "insufficient_quota", "insufficient_quota");
      EXPECT_FALSE(r.Header("retry-after").empty());
      EXPECT_FALSE(r.Header("x-ratelimit-limit-co2e-g-per-day").empty());
      EXPECT_FALSE(r.Header("x-ratelimit-remaining-co2e-g-per-day").empty());
    }
  }
  EXPECT_GE(ok, 10);
  EXPECT_GE(denied, 1);
  // Budgets are settled after the response goes out, and before the ledger row is appended.
  EXPECT_EQ(Ledger(kRequests).size(), static_cast<size_t>(kRequests));
  auto usage = store_->Usage(store_->FindKeyBySecret(secret)->value(),
                             std::chrono::system_clock::now());
  ASSERT_TRUE(usage.ok()) << usage.status().ToString();
  EXPECT_LE(usage->first.co2e_g, *limits.co2e_g_per_day);
  EXPECT_NEAR(usage->first.co2e_g, charged, 1e-9);
  EXPECT_EQ(usage->first.tokens, ok * 27);  // 7 prompt + 20 completion each.
}

TEST_F(GatewayTest, RateLimitedKeysGet429WithOpenAiHeaders) {
  store::Limits limits;
  limits.requests_per_minute = 2;
  const std::string secret = CreateKey("slow", limits);
  Start();
  const std::pair<std::string, std::string> auth{"authorization", "Bearer " + secret};
  const Reply first = Post(ChatBody(), {auth});
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.Header("x-ratelimit-limit-requests"), "2");
  EXPECT_EQ(first.Header("x-ratelimit-remaining-requests"), "1");
  ASSERT_EQ(Post(ChatBody(), {auth}).status, 200);
  const Reply third = Post(ChatBody(), {auth});
  ExpectErrorBody(third, 429, "requests", "rate_limit_exceeded");
  EXPECT_EQ(third.Header("x-ratelimit-limit-requests"), "2");
  EXPECT_EQ(third.Header("x-ratelimit-remaining-requests"), "0");
  EXPECT_FALSE(third.Header("x-ratelimit-reset-requests").empty());
  const int retry_after = std::stoi(third.Header("retry-after"));
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 30);
  EXPECT_EQ(primary_->calls(), 2);
}

TEST_F(GatewayTest, BeyondTheAdmissionQueueRequestsGet503) {
  primary_script_.delay = milliseconds(500);
  GatewayConfig config = TestConfig();
  config.max_in_flight = 1;
  config.max_queue = 0;
  Start(config);
  Reply slow;
  std::thread t([&] { slow = Post(ChatBody()); });
  // Let the first request take the only slot.
  for (int i = 0; i < 100 && primary_->calls() == 0; ++i) std::this_thread::sleep_for(milliseconds(5));
  const Reply refused = Post(ChatBody());
  t.join();
  EXPECT_EQ(slow.status, 200);
  ExpectErrorBody(refused, 503, "server_error", "server_overloaded");
  EXPECT_EQ(refused.Header("retry-after"), "1");
}

TEST_F(GatewayTest, LedgerRowsDescribeEachRequest) {
  Start();
  const Reply r = Post(ChatBody(), {{"x-request-id", "my-trace-1"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("x-request-id"), "my-trace-1");
  const auto rows = Ledger(1);
  ASSERT_EQ(rows.size(), 1u);
  const store::LedgerRow& row = rows[0];
  EXPECT_EQ(row.request_id, "my-trace-1");
  EXPECT_EQ(row.model, "small");
  EXPECT_EQ(row.backend, "fake:small");
  EXPECT_EQ(row.endpoint, "chat.completions");
  EXPECT_EQ(row.prompt_tokens, 7);
  EXPECT_EQ(row.completion_tokens, 3);
  EXPECT_EQ(row.method, "estimated");
  EXPECT_EQ(row.cache_status, "bypass");
  EXPECT_EQ(row.http_status, 200);
  EXPECT_TRUE(row.error_code.empty());
  EXPECT_GT(row.latency_ms, 0);
  EXPECT_GE(row.overhead_ms, 0);
  EXPECT_LE(row.overhead_ms, row.latency_ms);
  const json::value f = r.Json().at("usage").at("footprint");
  EXPECT_NEAR(row.energy_wh, f.at("energy_wh").to_number<double>(), 1e-12);
  EXPECT_NEAR(row.co2e_g, f.at("co2e_g").to_number<double>(), 1e-12);
  EXPECT_NEAR(row.water_ml, f.at("water_ml").to_number<double>(), 1e-12);
  EXPECT_NEAR(row.embodied_co2e_g, f.at("embodied_co2e_g").to_number<double>(), 1e-12);
}

TEST_F(GatewayTest, MeteredBackendsReportMeasuredEnergy) {
  primary_script_.energy = Joules(36);  // 0.01 Wh.
  Start();
  const Reply r = Post(ChatBody());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-sobre-method"), "measured");
  const json::value f = r.Json().at("usage").at("footprint");
  EXPECT_EQ(f.at("method").as_string(), "measured");
  // 0.01 Wh from the backend (PUE 1) plus a little gateway time.
  EXPECT_GE(f.at("energy_wh").to_number<double>(), 0.01);
  EXPECT_LT(f.at("energy_wh").to_number<double>(), 0.0101);
}

TEST_F(GatewayTest, ModelsHealthReadinessAndMetrics) {
  Start();
  const Reply models = Get("/v1/models");
  ASSERT_EQ(models.status, 200);
  const json::value list = models.Json();
  EXPECT_EQ(list.at("object").as_string(), "list");
  ASSERT_EQ(list.at("data").as_array().size(), 2u);
  EXPECT_EQ(list.at("data").at(0).at("id").as_string(), "small");
  EXPECT_EQ(list.at("data").at(0).at("object").as_string(), "model");
  EXPECT_EQ(list.at("data").at(0).at("owned_by").as_string(), "sobre");
  EXPECT_TRUE(list.at("data").at(0).at("created").is_int64());
  EXPECT_EQ(Get("/v1/models/backup").Json().at("id").as_string(), "backup");

  EXPECT_EQ(Get("/healthz").status, 200);
  EXPECT_EQ(Get("/readyz").status, 200);
  gateway_->SetDraining();
  EXPECT_EQ(Get("/readyz").status, 503);

  ASSERT_EQ(Post(ChatBody(R"("stream":true)")).status, 200);
  // Metrics are recorded after the response is sent: poll briefly for the request to show.
  const std::string counted =
      "gen_ai_server_request_duration_seconds_count{gen_ai_operation_name=\"chat\","
      "gen_ai_request_model=\"small\"} 1";
  Reply metrics = Get("/metrics");
  for (int i = 0; i < 200 && metrics.body.find(counted) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    metrics = Get("/metrics");
  }
  ASSERT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.Header("content-type"), HasSubstr("text/plain"));
  EXPECT_THAT(metrics.body, HasSubstr("gen_ai_server_request_duration_seconds_count{"
                                      "gen_ai_operation_name=\"chat\",gen_ai_request_model="
                                      "\"small\"} 1"));
  EXPECT_THAT(metrics.body, HasSubstr("gen_ai_server_time_to_first_token_seconds_bucket{"));
  EXPECT_THAT(metrics.body, HasSubstr("gen_ai_server_time_per_output_token_seconds_count{"));
  EXPECT_THAT(metrics.body, HasSubstr("gen_ai_token_type=\"output\""));
  EXPECT_THAT(metrics.body, HasSubstr("sobre_energy_joules_total{model=\"small\"} "));
  EXPECT_THAT(metrics.body, Not(HasSubstr("sobre_energy_joules_total{model=\"small\"} 0\n")));
  EXPECT_THAT(metrics.body, HasSubstr("sobre_co2e_grams_total{model=\"small\"}"));
  EXPECT_THAT(metrics.body, HasSubstr("sobre_water_litres_total{model=\"small\"}"));
}

TEST_F(GatewayTest, LegacyCompletionsAndEmbeddingsGoThroughTheSamePipeline) {
  Start();
  const Reply completion =
      Post(R"({"model":"small","prompt":"Say hello","max_tokens":5})", {}, "/v1/completions");
  ASSERT_EQ(completion.status, 200) << completion.body;
  ExpectFootprint(completion.Json().at("usage").at("footprint"));
  const Reply embedding = Post(R"({"model":"small","input":"hello"})", {}, "/v1/embeddings");
  ASSERT_EQ(embedding.status, 200) << embedding.body;
  EXPECT_TRUE(embedding.Json().at("usage").at("footprint").is_object());
  const auto rows = Ledger(2);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].endpoint, "completions");
  EXPECT_EQ(rows[1].endpoint, "embeddings");
}

// ---------------------------------------------------------------------------------------------
// The exact cache.

TEST_F(GatewayTest, ADeterministicRepeatIsAnsweredFromTheExactCache) {
  Start();
  const Reply first = Post(ChatBody(R"("temperature":0)"));
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.Header("x-sobre-cache"), "miss");
  const double original_wh =
      first.Json().at("usage").at("footprint").at("energy_wh").to_number<double>();

  const Reply second = Post(ChatBody(R"("temperature":0)"));
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.Header("x-sobre-cache"), "exact");
  EXPECT_FALSE(second.Header("x-sobre-cache-age").empty());
  EXPECT_EQ(primary_->calls(), 1);
  const json::value v = second.Json();
  EXPECT_EQ(v.at("choices").at(0).at("message").at("content").as_string(), "Hello!");
  EXPECT_EQ(v.at("usage").at("completion_tokens").as_int64(), 3);
  const json::value& f = v.at("usage").at("footprint");
  EXPECT_NEAR(f.at("avoided_energy_wh").to_number<double>(), original_wh, 1e-12);
  EXPECT_GT(f.at("avoided_co2e_g").to_number<double>(), 0);
  // The hit's own footprint is the gateway's lookup: far below the answer it replaces.
  EXPECT_LT(f.at("energy_wh").to_number<double>(), original_wh / 10);
  EXPECT_EQ(f.at("method").as_string(), "estimated");
  EXPECT_DOUBLE_EQ(std::stod(second.Header("x-sobre-energy-wh")),
                   std::stod(fmt::format("{:.6g}", f.at("energy_wh").to_number<double>())));

  const auto rows = Ledger(2);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].cache_status, "miss");
  EXPECT_EQ(rows[1].cache_status, "exact");
  EXPECT_EQ(rows[1].backend, "cache:exact");
  EXPECT_NE(rows[0].backend, "cache:exact");
  EXPECT_LT(rows[1].energy_wh, rows[0].energy_wh);
  Reply metrics = Get("/metrics");
  for (int i = 0; i < 200 && metrics.body.find("outcome=\"exact\"} 1\n") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // Recorded after the response.
    metrics = Get("/metrics");
  }
  EXPECT_THAT(metrics.body, HasSubstr("sobre_cache_requests_total{outcome=\"exact\"} 1\n"));
  EXPECT_THAT(metrics.body, HasSubstr("sobre_cache_requests_total{outcome=\"miss\"} 1\n"));
  EXPECT_THAT(metrics.body, Not(HasSubstr("sobre_cache_avoided_energy_joules_total 0\n")));
}

TEST_F(GatewayTest, AStreamedRepeatReplaysTheCachedAnswerAsSse) {
  Start();
  ASSERT_EQ(Post(ChatBody(R"("temperature":0)")).status, 200);
  const Reply r = Post(ChatBody(R"("temperature":0,"stream":true,)"
                                R"("stream_options":{"include_usage":true})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(primary_->calls(), 1);
  EXPECT_THAT(r.Header("content-type"), HasSubstr("text/event-stream"));
  EXPECT_EQ(r.Header("x-sobre-cache"), "exact");
  const std::vector<std::string> events = r.Events();
  ASSERT_GE(events.size(), 4u) << r.body;
  EXPECT_EQ(events.back(), "[DONE]");
  std::string content;
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    const json::value chunk = json::parse(events[i]);
    EXPECT_EQ(chunk.at("object").as_string(), "chat.completion.chunk");
    EXPECT_TRUE(chunk.at("usage").is_null()) << events[i];
    const json::value& choice = chunk.at("choices").at(0);
    if (i == 0) {
      EXPECT_EQ(choice.at("delta").at("role").as_string(), "assistant");
    }
    if (const json::value* c = choice.at("delta").as_object().if_contains("content")) {
      content += c->as_string();
    }
  }
  EXPECT_EQ(content, "Hello!");
  const json::value finish = json::parse(events[events.size() - 3]);
  EXPECT_EQ(finish.at("choices").at(0).at("finish_reason").as_string(), "stop");
  const json::value usage = json::parse(events[events.size() - 2]);
  EXPECT_TRUE(usage.at("choices").as_array().empty());
  EXPECT_EQ(usage.at("usage").at("total_tokens").as_int64(), 10);
  EXPECT_GT(usage.at("usage").at("footprint").at("avoided_energy_wh").to_number<double>(), 0);
}

TEST_F(GatewayTest, AStreamedMissIsStoredAsTheNonStreamedAnswer) {
  Start();
  const Reply streamed = Post(ChatBody(R"("temperature":0,"stream":true)"));
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  EXPECT_EQ(streamed.Header("x-sobre-cache"), "miss");
  ASSERT_FALSE(streamed.Events().empty());
  EXPECT_EQ(streamed.Events().back(), "[DONE]");

  const Reply r = Post(ChatBody(R"("temperature":0)"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-sobre-cache"), "exact");
  EXPECT_EQ(primary_->calls(), 1);
  const json::value v = r.Json();
  EXPECT_EQ(v.at("object").as_string(), "chat.completion");
  EXPECT_EQ(v.at("id").as_string(), "chatcmpl-fake");
  const json::value& choice = v.at("choices").at(0);
  EXPECT_EQ(choice.at("index").as_int64(), 0);
  EXPECT_EQ(choice.at("message").at("role").as_string(), "assistant");
  EXPECT_EQ(choice.at("message").at("content").as_string(), "Hello!");
  EXPECT_EQ(choice.at("finish_reason").as_string(), "stop");
  EXPECT_EQ(v.at("usage").at("completion_tokens").as_int64(), 3);
  EXPECT_EQ(v.at("usage").at("total_tokens").as_int64(), 10);
  EXPECT_GT(v.at("usage").at("footprint").at("avoided_energy_wh").to_number<double>(), 0);

  // And a streamed repeat replays it.
  const Reply again = Post(ChatBody(R"("temperature":0,"stream":true)"));
  EXPECT_EQ(again.Header("x-sobre-cache"), "exact");
  EXPECT_EQ(primary_->calls(), 1);
}

TEST_F(GatewayTest, AStreamedLegacyCompletionMissIsStoredToo) {
  Start();
  const std::string body = R"({"model":"small","prompt":"Say hello","temperature":0)";
  const Reply streamed = Post(body + R"(,"stream":true})", {}, "/v1/completions");
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  EXPECT_EQ(streamed.Header("x-sobre-cache"), "miss");
  const Reply r = Post(body + "}", {}, "/v1/completions");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-sobre-cache"), "exact");
  EXPECT_EQ(primary_->calls(), 1);
  EXPECT_EQ(r.Json().at("object").as_string(), "text_completion");
}

TEST_F(GatewayTest, AStreamThatDiesMidwayIsNotStored) {
  primary_script_.fail_after_chunks = 2;
  Start();
  const Reply cut = Post(ChatBody(R"("temperature":0,"stream":true)"));
  ASSERT_EQ(cut.status, 200);
  EXPECT_EQ(cut.Header("x-sobre-cache"), "miss");
  EXPECT_THAT(cut.body, Not(HasSubstr("[DONE]")));
  const Reply again = Post(ChatBody(R"("temperature":0,"stream":true)"));
  EXPECT_EQ(again.Header("x-sobre-cache"), "miss");
  EXPECT_EQ(primary_->calls(), 2);
}

TEST_F(GatewayTest, SamplingRequestsAndNoCacheAreNotServedFromTheCache) {
  Start();
  ASSERT_EQ(Post(ChatBody(R"("temperature":0.7)")).status, 200);
  const Reply sampled = Post(ChatBody(R"("temperature":0.7)"));
  EXPECT_EQ(sampled.Header("x-sobre-cache"), "bypass");
  EXPECT_EQ(primary_->calls(), 2);

  ASSERT_EQ(Post(ChatBody(R"("temperature":0)")).status, 200);
  const Reply refreshed = Post(ChatBody(R"("temperature":0)"), {{"cache-control", "no-cache"}});
  EXPECT_NE(refreshed.Header("x-sobre-cache"), "exact");
  EXPECT_EQ(primary_->calls(), 4);

  const Reply typo = Post(ChatBody(R"("temperature":0,"sobre":{"cache":"maybe"})"));
  EXPECT_EQ(typo.status, 400) << typo.body;
  EXPECT_EQ(typo.Json().at("error").at("param").as_string(), "sobre");
}

TEST_F(GatewayTest, TenantsDoNotShareCacheEntries) {
  Start();
  auto key_of = [&](const std::string& name, const std::string& tenant) {
    store::NewKey key;
    key.name = name;
    key.tenant = tenant;
    auto created = store_->CreateKey(key);
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    return std::pair<std::string, std::string>("authorization", "Bearer " + created->second);
  };
  const auto a = key_of("a", "acme");
  const auto b = key_of("b", "globex");
  ASSERT_EQ(Post(ChatBody(R"("temperature":0)"), {a}).status, 200);
  const Reply other = Post(ChatBody(R"("temperature":0)"), {b});
  ASSERT_EQ(other.status, 200) << other.body;
  EXPECT_EQ(other.Header("x-sobre-cache"), "miss");
  EXPECT_EQ(Post(ChatBody(R"("temperature":0)"), {a}).Header("x-sobre-cache"), "exact");
  EXPECT_EQ(primary_->calls(), 2);
}

TEST_F(GatewayTest, TheExactCacheSurvivesARestart) {
  const std::string path = ::testing::TempDir() + "gateway_cache_restart.db";
  std::remove(path.c_str());
  auto opened = store::OpenStore("sqlite://" + path);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  store_ = std::move(opened).value();
  Start();
  ASSERT_EQ(Post(ChatBody(R"("temperature":0)")).Header("x-sobre-cache"), "miss");
  server_->Stop(milliseconds(2000));
  server_.reset();
  gateway_.reset();  // Applies the cache's queued store writes.
  store_.reset();

  opened = store::OpenStore("sqlite://" + path);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  store_ = std::move(opened).value();
  Start();
  const Reply r = Post(ChatBody(R"("temperature":0)"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-sobre-cache"), "exact");
  EXPECT_EQ(primary_->calls(), 0);
  TearDown();
  store_.reset();
  std::remove(path.c_str());
}

}  // namespace
}  // namespace sobre::gateway
