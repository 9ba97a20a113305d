// Shared by the in-process gateway tests: a scripted fake backend, a blocking HTTP client and the
// GatewayTest fixture (a real HttpServer on a loopback port, the Gateway, an in-memory store).
#ifndef SOBRE_TESTS_GATEWAY_GATEWAY_TEST_FIXTURE_H_
#define SOBRE_TESTS_GATEWAY_GATEWAY_TEST_FIXTURE_H_

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

namespace sobre::gateway::gateway_testing {

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
  bool energy_estimated = false;     // With energy: the backend's own estimate (engine, no RAPL).
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
    result.energy_estimated = script_.energy_estimated;
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

inline Reply Request(uint16_t port, http::verb method, std::string target, std::string body = "",
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

inline std::string ChatBody(std::string_view extra = "", std::string_view model = "small") {
  std::string s = "{\"model\":\"" + std::string(model) +
                  "\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello\"}]";
  if (!extra.empty()) s += "," + std::string(extra);
  return s + "}";
}

// ---------------------------------------------------------------------------------------------

inline GatewayConfig TestConfig() {
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

  std::string CreateKey(const std::string& name, store::Limits limits = {},
                        const std::string& tenant = "", bool admin = false) {
    store::NewKey key;
    key.name = name;
    key.limits = limits;
    key.tenant = tenant;
    key.admin = admin;
    auto created = store_->CreateKey(key);
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    return created.ok() ? created->second : "";
  }

  // The authorization header of a new key of `tenant`.
  std::pair<std::string, std::string> BearerOf(const std::string& name,
                                               const std::string& tenant = "",
                                               bool admin = false) {
    return {"authorization", "Bearer " + CreateKey(name, {}, tenant, admin)};
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

inline void ExpectFootprint(const json::value& f) {
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

inline void ExpectErrorBody(const Reply& r, int status, std::string_view type, std::string_view code) {
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

}  // namespace sobre::gateway::gateway_testing

#endif  // SOBRE_TESTS_GATEWAY_GATEWAY_TEST_FIXTURE_H_
