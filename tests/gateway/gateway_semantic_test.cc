// The semantic cache through the gateway: opt-in, paraphrase hits with their header and avoided
// footprint, guards, tenants, conversation context, skips, restarts and background verification.
#include "tests/gateway/gateway_test_fixture.h"

namespace sobre::gateway {
namespace {

using namespace gateway_testing;  // NOLINT: the fixture's helpers.

// A chat body whose last user message is `question`, after `history` (JSON messages, may be
// empty), with `extra` fields.
std::string Ask(std::string_view question, std::string_view extra = "",
                std::string_view history = "") {
  std::string s = R"({"model":"small","messages":[)";
  if (!history.empty()) s += std::string(history) + ",";
  s += R"({"role":"user","content":")" + std::string(question) + "\"}]";
  if (!extra.empty()) s += "," + std::string(extra);
  return s + "}";
}

GatewayConfig SemanticConfig() {
  GatewayConfig c = TestConfig();
  c.cache.semantic.models = {"small"};
  return c;
}

TEST_F(GatewayTest, AParaphraseIsAnsweredFromTheSemanticCacheWhenTheModelOptsIn) {
  Start(SemanticConfig());
  const Reply first = Post(Ask("How do I reverse a list in Python?", R"("temperature":0.7)"));
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.Header("x-sobre-cache"), "miss");
  const double original_wh =
      first.Json().at("usage").at("footprint").at("energy_wh").to_number<double>();

  const Reply second = Post(Ask("how can i reverse a list in python", R"("temperature":0.7)"));
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(primary_->calls(), 1);
  const std::string header = second.Header("x-sobre-cache");
  ASSERT_EQ(header.rfind("semantic; similarity=", 0), 0u) << header;
  const double similarity = std::stod(header.substr(std::string("semantic; similarity=").size()));
  EXPECT_GE(similarity, 0.8);
  EXPECT_LE(similarity, 1.0);
  const json::value v = second.Json();
  EXPECT_EQ(v.at("choices").at(0).at("message").at("content").as_string(), "Hello!");
  const json::value& f = v.at("usage").at("footprint");
  EXPECT_NEAR(f.at("avoided_energy_wh").to_number<double>(), original_wh, 1e-12);
  EXPECT_LT(f.at("energy_wh").to_number<double>(), original_wh / 10);

  const auto rows = Ledger(2);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].cache_status, header);
  EXPECT_EQ(rows[1].backend, "cache:" + header);
  Reply metrics = Get("/metrics");
  for (int i = 0; i < 200 && metrics.body.find("outcome=\"semantic\"} 1\n") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    metrics = Get("/metrics");
  }
  EXPECT_THAT(metrics.body, HasSubstr("sobre_cache_requests_total{outcome=\"semantic\"} 1\n"));
  EXPECT_THAT(metrics.body, HasSubstr("sobre_cache_hit_ratio 0.5\n"));
  EXPECT_THAT(metrics.body, Not(HasSubstr("sobre_cache_avoided_energy_joules_total{kind=\"semantic\"} 0\n")));
}

TEST_F(GatewayTest, WithoutOptInParaphrasesGoToTheModel) {
  Start();  // No model or key opted in.
  ASSERT_EQ(Post(Ask("How do I reverse a list in Python?", R"("temperature":0)")).status, 200);
  const Reply r = Post(Ask("how can i reverse a list in python", R"("temperature":0)"));
  EXPECT_EQ(r.Header("x-sobre-cache"), "miss");
  // A request may opt in itself.
  const Reply opted = Post(Ask("how can I reverse a list in Python", R"("temperature":0,"sobre":{"semantic":true})"));
  EXPECT_EQ(opted.Header("x-sobre-cache"), "miss");  // Nothing was stored with a vector yet.
  const Reply again = Post(Ask("How can I reverse a list in Python?", R"("temperature":0,"sobre":{"semantic":true})"));
  EXPECT_EQ(again.Header("x-sobre-cache").rfind("semantic", 0), 0u) << again.Header("x-sobre-cache");
  EXPECT_EQ(primary_->calls(), 3);
}

TEST_F(GatewayTest, GuardsContextToolsAndOptOutKeepTheModelAnswering) {
  Start(SemanticConfig());
  ASSERT_EQ(Post(Ask("What is 3 plus 4?")).status, 200);
  EXPECT_EQ(Post(Ask("What is 3 plus 5?")).Header("x-sobre-cache"), "miss");
  // The same last message after another conversation is another scope.
  const std::string history = R"({"role":"user","content":"Tell me about Ada Lovelace"},)"
                              R"({"role":"assistant","content":"She wrote the first program."})";
  ASSERT_EQ(Post(Ask("How old was she?", "", history)).status, 200);
  const std::string other = R"({"role":"user","content":"Tell me about Marie Curie"},)"
                            R"({"role":"assistant","content":"She won two Nobel prizes."})";
  EXPECT_EQ(Post(Ask("How old was she?", "", other)).Header("x-sobre-cache"), "miss");
  EXPECT_EQ(Post(Ask("how old was she", "", history)).Header("x-sobre-cache").rfind("semantic", 0),
            0u);
  // Tools are never answered semantically; nor a request that opts out; nor no-store.
  const std::string tools =
      R"("tools":[{"type":"function","function":{"name":"f","parameters":{}}}])";
  EXPECT_NE(Post(Ask("What is 3 plus 4", tools)).Header("x-sobre-cache").rfind("semantic", 0), 0u);
  EXPECT_EQ(Post(Ask("what is 3 plus 4", R"("sobre":{"semantic":false})")).Header("x-sobre-cache"),
            "bypass");
  EXPECT_EQ(Post(Ask("what is 3 plus 4"), {{"cache-control", "no-store"}}).Header("x-sobre-cache"),
            "bypass");
  const Reply bad = Post(Ask("what is 3 plus 4", R"("sobre":{"semantic":"yes"})"));
  EXPECT_EQ(bad.status, 400) << bad.body;
}

TEST_F(GatewayTest, ASemanticEntryIsNeverSeenByAnotherTenant) {
  Start(SemanticConfig());
  const auto a = BearerOf("a", "acme");
  const auto b = BearerOf("b", "globex");
  ASSERT_EQ(Post(Ask("How do I reverse a list in Python?"), {a}).status, 200);
  EXPECT_EQ(Post(Ask("How do I reverse a list in Python?"), {b}).Header("x-sobre-cache"), "miss");
  EXPECT_EQ(Post(Ask("how can i reverse a list in python"), {b}).Header("x-sobre-cache")
                .rfind("semantic", 0), 0u);  // b's own entry now.
  EXPECT_EQ(primary_->calls(), 2);
}

TEST_F(GatewayTest, TheSemanticIndexIsRebuiltAfterARestart) {
  const std::string path = ::testing::TempDir() + "gateway_semantic_restart.db";
  std::remove(path.c_str());
  auto opened = store::OpenStore("sqlite://" + path);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  store_ = std::move(opened).value();
  Start(SemanticConfig());
  ASSERT_EQ(Post(Ask("How do I reverse a list in Python?")).Header("x-sobre-cache"), "miss");
  server_->Stop(milliseconds(2000));
  server_.reset();
  gateway_.reset();
  store_.reset();

  opened = store::OpenStore("sqlite://" + path);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  store_ = std::move(opened).value();
  Start(SemanticConfig());
  const Reply r = Post(Ask("how can i reverse a list in python"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-sobre-cache").rfind("semantic", 0), 0u) << r.Header("x-sobre-cache");
  EXPECT_EQ(primary_->calls(), 0);
  TearDown();
  store_.reset();
  std::remove(path.c_str());
}

TEST_F(GatewayTest, VerificationAsksTheModelInTheBackgroundAndRecordsTheVerdict) {
  GatewayConfig c = SemanticConfig();
  c.cache.semantic.verify_fraction = 1.0;
  Start(c);
  ASSERT_EQ(Post(Ask("How do I reverse a list in Python?")).status, 200);
  const Reply hit = Post(Ask("how can i reverse a list in python"));
  ASSERT_EQ(hit.Header("x-sobre-cache").rfind("semantic", 0), 0u);
  const auto rows = Ledger(3);
  ASSERT_EQ(rows.size(), 3u);
  const store::LedgerRow* verify = nullptr;
  for (const auto& row : rows) {
    if (row.cache_status.rfind("verify", 0) == 0) verify = &row;
  }
  ASSERT_NE(verify, nullptr);
  EXPECT_EQ(verify->cache_status, "verify; agree; similarity=1.00");  // The fake answers alike.
  EXPECT_GT(verify->energy_wh, 0);  // The verification's own cost is on the ledger.
  EXPECT_EQ(primary_->calls(), 2);
  Reply metrics = Get("/metrics");
  EXPECT_THAT(metrics.body,
              HasSubstr("sobre_cache_semantic_verifications_total{result=\"agree\"} 1\n"));
  EXPECT_THAT(metrics.body, HasSubstr("sobre_cache_semantic_false_hit_ratio 0\n"));
}

TEST_F(GatewayTest, AdminEndpointsReportAndPurgeTheCacheOfTheRunningServer) {
  Start(SemanticConfig());
  const auto ops = BearerOf("ops", "", /*admin=*/true);
  const auto as_user = BearerOf("user");

  ASSERT_EQ(Post(Ask("How do I reverse a list in Python?"), {as_user}).status, 200);
  ASSERT_EQ(Post(Ask("how can i reverse a list in python"), {as_user})
                .Header("x-sobre-cache").rfind("semantic", 0), 0u);

  EXPECT_EQ(Get("/v1/admin/cache", {as_user}).status, 403);
  const Reply stats = Get("/v1/admin/cache", {ops});
  ASSERT_EQ(stats.status, 200) << stats.body;
  const json::value s = stats.Json();
  EXPECT_EQ(s.at("entries").at("entries").to_number<int64_t>(), 1);
  EXPECT_EQ(s.at("semantic").at("indexed").to_number<int64_t>(), 1);
  EXPECT_EQ(s.at("semantic").at("hits").to_number<int64_t>(), 1);

  const Reply bad = Post(R"({"modle":"small"})", {ops}, "/v1/admin/cache/purge");
  EXPECT_EQ(bad.status, 400) << bad.body;
  const Reply purged = Post(R"({"key":"user"})", {ops}, "/v1/admin/cache/purge");
  ASSERT_EQ(purged.status, 200) << purged.body;
  EXPECT_EQ(purged.Json().at("purged").to_number<int64_t>(), 1);
  EXPECT_EQ(purged.Json().at("tenant").as_string(), "user");
  // Gone from memory and from the index: the paraphrase goes to the model again.
  EXPECT_EQ(Post(Ask("how can i reverse a list in python"), {as_user}).Header("x-sobre-cache"),
            "miss");
  EXPECT_EQ(primary_->calls(), 2);
}

}  // namespace
}  // namespace sobre::gateway
