// The gateway end to end inside one process: a real HttpServer on a loopback port, the Gateway,
// scripted fake backends and an in-memory SQLite store, driven over HTTP by a Beast client.
#include "tests/gateway/gateway_test_fixture.h"

namespace sobre::gateway {
namespace {

using namespace gateway_testing;  // NOLINT: the fixture's helpers.

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

TEST_F(GatewayTest, ABackendsOwnEnergyEstimateIsUsedButLabelledEstimated) {
  primary_script_.energy = Joules(36);  // 0.01 Wh, from the engine's CPU power model.
  primary_script_.energy_estimated = true;
  Start();
  const Reply r = Post(ChatBody());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-sobre-method"), "estimated");
  const json::value f = r.Json().at("usage").at("footprint");
  EXPECT_EQ(f.at("method").as_string(), "estimated");
  EXPECT_GE(f.at("energy_wh").to_number<double>(), 0.01);  // The backend's figure, not EcoLogits'.
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

}  // namespace
}  // namespace sobre::gateway
