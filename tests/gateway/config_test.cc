#include "gateway/config.h"

#include <fstream>

#include <gtest/gtest.h>

#include "tests/cli/cli_runner.h"

namespace sobre::gateway {
namespace {

StatusOr<GatewayConfig> LoadText(const std::string& text) {
  static sobre::testing::TempDir dir;
  std::string path = dir.Write("sobre.yaml", text);
  return LoadGatewayConfig(path);
}

TEST(GatewayConfigTest, TheIssueExampleLoads) {
  auto c = LoadText(R"(listen: 127.0.0.1:8080
store: sqlite:///var/lib/sobre/sobre.db      # or postgres://user@host/db
site: { zone: FR, pue: 1.2, wue_l_per_kwh: 0.5 }
models:
  - name: small                                # the name clients send
    upstream: http://127.0.0.1:9000/v1         # OpenAI-compatible base URL
    upstream_model: qwen2.5-0.5b-instruct
    api_key_env: UPSTREAM_KEY                  # optional
    params_b: 0.5                              # for estimating remote footprints
    fallbacks: [medium]
  - name: medium
    upstream: https://api.example.com/v1
    params_b: 7
keys:                                          # optional; also `sobre keys create`
  - { name: dev, key_env: SOBRE_DEV_KEY, budget: { co2e_g_per_day: 50 } }
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server.host, "127.0.0.1");
  EXPECT_EQ(c->server.port, 8080);
  EXPECT_EQ(c->store_url, "sqlite:///var/lib/sobre/sobre.db");
  EXPECT_EQ(c->site.zone, "FR");
  EXPECT_DOUBLE_EQ(c->site.pue, 1.2);
  EXPECT_DOUBLE_EQ(*c->site.wue_l_per_kwh, 0.5);
  ASSERT_EQ(c->models.size(), 2u);
  EXPECT_EQ(c->models[0].upstream_model, "qwen2.5-0.5b-instruct");
  EXPECT_EQ(c->models[0].fallbacks, std::vector<std::string>{"medium"});
  EXPECT_EQ(c->models[1].upstream_model, "medium");  // Defaults to the name.
  ASSERT_EQ(c->keys.size(), 1u);
  EXPECT_DOUBLE_EQ(*c->keys[0].limits.co2e_g_per_day, 50);
  EXPECT_FALSE(c->keys[0].limits.tokens_per_day.has_value());
}

TEST(GatewayConfigTest, EmptyFileIsTheDefaults) {
  auto c = LoadText("");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->models.empty());
  EXPECT_EQ(c->server.port, 8080);
}

struct BadCase {
  const char* yaml;
  const char* expect;  // Substring of the error, with the line.
};

TEST(GatewayConfigTest, ErrorsNameFileLineAndSetting) {
  const BadCase cases[] = {
      {"listen: 127.0.0.1\n", ":1: (top level): listen: expected HOST:PORT"},
      {"listen: localhost:99999\n", "port from 0 to 65535"},
      {"site:\n  zone: FR\n  peu: 1.2\n", ":3: site.peu: unknown setting (did you mean: pue"},
      {"site: { pue: 0.7 }\n", "site.pue: must be between 1 and 5"},
      {"site: { zone: Atlantis }\n", "site.zone: unknown"},
      {"models:\n  - name: a\n    upstream: ftp://x\n", ":3: models[0].upstream: expected an http://"},
      {"models:\n  - name: a\n    upstream: http://x/v1\n    fallbacks: [b]\n", "fallback 'b' is not a declared model"},
      {"models:\n  - name: a\n    upstream: http://x/v1\n  - name: a\n    upstream: http://y/v1\n", ":4: models[1]: model 'a' is declared twice"},
      {"models:\n  - upstream: http://x/v1\n", "every model needs a name"},
      {"keys:\n  - { name: dev }\n", "needs key_env"},
      {"keys:\n  - { name: dev, key_env: K, budget: { co2e_per_day: 5 } }\n", "keys[0].budget.co2e_per_day: unknown setting"},
      {"keys:\n  - { name: dev, key_env: K, budget: { tokens_per_day: -5 } }\n", "tokens_per_day: must be between"},
      {"models: [1, 2\n", "sobre.yaml:"},
      {"tls: { cert: a.pem }\n", "give both cert and key"},
      {"storre: x\n", "unknown setting (did you mean: store"},
      {"models:\n  - name: a\n    upstream: http://x/v1\n    meter: rapl\n", ":4: models[0].meter: expected nvml or none, got 'rapl'"},
      {"models:\n  - name: a\n    upstream: http://x/v1\n    gpus: [0]\n", ":4: models[0].gpus: gpus is only used with meter: nvml"},
      {"models:\n  - name: a\n    upstream: http://x/v1\n    meter: nvml\n    gpus: [0, x]\n", ":5: models[0].gpus: expected a GPU index from 0 to 1023"},
      {"models:\n  - name: a\n    upstream: http://x/v1\n    meter: nvml\n    gpus: [1, 1]\n", "models[0].gpus: GPU 1 is listed twice"},
      {"models:\n  - name: a\n    upstream: http://x/v1\n    meter: nvml\n    gpus: 0\n", "models[0].gpus: expected a list of GPU indices"},
      {"cache:\n  exact: maybe\n", ":2: cache.exact: expected true or false"},
      {"cache:\n  ttl_s: 0\n", ":2: cache.ttl_s: must be between 1"},
      {"cache: { max_byte: 5 }\n", "cache.max_byte: unknown setting (did you mean: max_bytes"},
  };
  for (const BadCase& c : cases) {
    auto r = LoadText(c.yaml);
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos)
        << "yaml:\n" << c.yaml << "error: " << r.status().message();
    EXPECT_NE(r.status().message().find("sobre.yaml:"), std::string::npos) << r.status().message();
  }
}

TEST(GatewayConfigTest, MeteredModelsNameTheirGpusAndTheNvmlLibrary) {
  auto c = LoadText(R"(nvml_library: /opt/nvidia/libnvidia-ml.so.1
models:
  - { name: local, upstream: http://127.0.0.1:9000/v1, meter: nvml, gpus: [0, 2] }
  - { name: all, upstream: http://127.0.0.1:9001/v1, meter: nvml }
  - { name: remote, upstream: https://api.example.com/v1, meter: none }
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->nvml_library, "/opt/nvidia/libnvidia-ml.so.1");
  ASSERT_EQ(c->models.size(), 3u);
  EXPECT_EQ(c->models[0].meter, MeterKind::kNvml);
  EXPECT_EQ(c->models[0].gpus, (std::vector<int>{0, 2}));
  EXPECT_EQ(c->models[1].meter, MeterKind::kNvml);
  EXPECT_TRUE(c->models[1].gpus.empty());  // Every GPU NVML reports.
  EXPECT_EQ(c->models[2].meter, MeterKind::kNone);
  EXPECT_TRUE(LoadText("").value().nvml_library.empty());
}

TEST(GatewayConfigTest, TheCacheSectionHasDefaultsAndOverrides) {
  const GatewayConfig defaults = LoadText("").value();
  EXPECT_TRUE(defaults.cache.exact);
  EXPECT_EQ(defaults.cache.ttl, std::chrono::seconds(86400));
  EXPECT_EQ(defaults.cache.max_bytes, size_t{268435456});
  EXPECT_FALSE(defaults.cache.cache_nondeterministic);
  auto c = LoadText("cache: { exact: false, ttl_s: 60, max_bytes: 1024, cache_nondeterministic: true }\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->cache.exact);
  EXPECT_EQ(c->cache.ttl, std::chrono::seconds(60));
  EXPECT_EQ(c->cache.max_bytes, 1024u);
  EXPECT_TRUE(c->cache.cache_nondeterministic);
}

TEST(GatewayConfigTest, TheSemanticCacheSectionAndEngineModels) {
  auto c = LoadText(R"(models:
  - { name: small, upstream: http://127.0.0.1:9000/v1, semantic_cache: true }
  - { name: local, path: /models/qwen.gguf, threads: 2, slots: 8, context: 4096,
      chat_template: chatml }
  - { name: embed, path: /models/minilm.gguf }
cache:
  semantic:
    models: [local]
    keys: support
    embedder: embed
    threshold: 0.9
    max_entries: 5000
    verify_fraction: 0.1
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->models[0].semantic_cache);
  EXPECT_EQ(c->models[1].path, "/models/qwen.gguf");
  EXPECT_EQ(c->models[1].engine_threads, 2);
  EXPECT_EQ(c->models[1].engine_slots, 8);
  EXPECT_EQ(c->models[1].engine_ctx, 4096);
  EXPECT_EQ(c->models[1].chat_template, "chatml");
  const SemanticCacheConfig& sc = c->cache.semantic;
  EXPECT_EQ(sc.models, std::vector<std::string>{"local"});
  EXPECT_EQ(sc.keys, std::vector<std::string>{"support"});
  EXPECT_EQ(sc.embedder, "embed");
  EXPECT_DOUBLE_EQ(*sc.threshold, 0.9);
  EXPECT_EQ(sc.max_entries, 5000u);
  EXPECT_DOUBLE_EQ(sc.verify_fraction, 0.1);

  auto both = LoadText("models:\n  - { name: m, upstream: http://x/v1, path: /m.gguf }\n");
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find("either an upstream URL or a path"), std::string::npos);
  auto unknown = LoadText("models:\n  - { name: m, upstream: http://x/v1 }\n"
                          "cache: { semantic: { models: [nope] } }\n");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("'nope' is not a declared model"), std::string::npos)
      << unknown.status().message();
  auto typo = LoadText("cache: { semantic: { treshold: 0.9 } }\n");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("did you mean: threshold"), std::string::npos)
      << typo.status().message();
  auto engine_option_on_upstream =
      LoadText("models:\n  - { name: m, upstream: http://x/v1, slots: 4 }\n");
  EXPECT_FALSE(engine_option_on_upstream.ok());
}

TEST(GatewayConfigTest, MissingFileIsAnError) {
  auto r = LoadGatewayConfig("/nonexistent/sobre.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/sobre.yaml"), std::string::npos);
}

}  // namespace
}  // namespace sobre::gateway
