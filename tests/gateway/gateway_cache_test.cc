// The exact cache through the gateway: repeats, streamed replays, bypass rules, tenants, restarts.
#include "tests/gateway/gateway_test_fixture.h"

namespace sobre::gateway {
namespace {

using namespace gateway_testing;  // NOLINT: the fixture's helpers.

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
  EXPECT_THAT(metrics.body, HasSubstr("sobre_cache_avoided_energy_joules_total{kind=\"exact\"} "));
  EXPECT_THAT(metrics.body,
              Not(HasSubstr("sobre_cache_avoided_energy_joules_total{kind=\"exact\"} 0\n")));
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
  const auto a = BearerOf("a", "acme");
  const auto b = BearerOf("b", "globex");
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
