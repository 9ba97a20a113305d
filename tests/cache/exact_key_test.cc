// The exact cache's key (what makes two requests the same) and its caching decision.
#include "cache/cache_key.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace sobre::cache {
namespace {

boost::json::object Body(std::string_view json) { return boost::json::parse(json).as_object(); }

std::string Key(std::string_view json, std::string_view tenant = "team-a",
                std::string_view endpoint = "chat.completions") {
  return ExactCacheKey(tenant, endpoint, Body(json));
}

constexpr std::string_view kChat =
    R"({"model":"qwen","temperature":0,"messages":[{"role":"user","content":"Hi"}]})";

TEST(ExactCacheKeyTest, IsLowerCaseHexSha256) {
  const std::string key = Key(kChat);
  ASSERT_EQ(key.size(), 64u);
  EXPECT_EQ(key.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(ExactCacheKeyTest, KeyOrderWhitespaceAndNumberSpellingDoNotMatter) {
  EXPECT_EQ(Key(kChat), Key(R"( { "messages" : [ { "content":"Hi", "role":"user" } ],
                                   "temperature": 0.0, "model": "qwen" } )"));
  EXPECT_EQ(Key(R"({"model":"qwen","temperature":0.5,"max_tokens":100,"messages":[]})"),
            Key(R"({"model":"qwen","temperature":5e-1,"max_tokens":1e2,"messages":[]})"));
  EXPECT_EQ(Key(R"({"model":"qwen","temperature":-0.0,"messages":[]})"),
            Key(R"({"model":"qwen","temperature":0,"messages":[]})"));
}

TEST(ExactCacheKeyTest, StreamUserAndBookkeepingFieldsDoNotMatter) {
  const std::string streamed =
      Key(R"({"model":"qwen","temperature":0,"messages":[{"role":"user","content":"Hi"}],
              "stream":true,"stream_options":{"include_usage":true},"user":"alice",
              "metadata":{"trace":"1"},"sobre":{"cache":"on"}})");
  EXPECT_EQ(streamed, Key(kChat)) << "a streamed request is answered from the same entry";
}

TEST(ExactCacheKeyTest, EverythingThatChangesTheAnswerChangesTheKey) {
  const std::string base = Key(kChat);
  const char* variants[] = {
      R"({"model":"qwen","temperature":0.7,"messages":[{"role":"user","content":"Hi"}]})",
      R"({"model":"qwen","temperature":0,"seed":1,"messages":[{"role":"user","content":"Hi"}]})",
      R"({"model":"qwen","temperature":0,"messages":[{"role":"user","content":"Hi!"}]})",
      R"({"model":"qwen","temperature":0,"messages":[{"role":"system","content":"Hi"}]})",
      R"({"model":"llama","temperature":0,"messages":[{"role":"user","content":"Hi"}]})",
      R"({"model":"qwen","temperature":0,"n":2,"messages":[{"role":"user","content":"Hi"}]})",
      R"({"model":"qwen","temperature":0,"stop":["x"],"messages":[{"role":"user","content":"Hi"}]})",
      R"({"model":"qwen","temperature":0,"max_tokens":5,"messages":[{"role":"user","content":"Hi"}]})",
      R"({"model":"qwen","temperature":0,"tools":[],"messages":[{"role":"user","content":"Hi"}]})",
      R"({"model":"qwen","temperature":0,"response_format":{"type":"json_object"},
          "messages":[{"role":"user","content":"Hi"}]})",
      R"({"model":"qwen","temperature":0,"logit_bias":{"50256":-100},
          "messages":[{"role":"user","content":"Hi"}]})",
      R"({"model":"qwen","temperature":0,"top_k":5,"messages":[{"role":"user","content":"Hi"}]})",
  };
  for (const char* v : variants) EXPECT_NE(Key(v), base) << v;
  EXPECT_NE(Key(kChat, "team-b"), base) << "tenants never share a key";
  EXPECT_NE(Key(kChat, "team-a", "completions"), base);
  // Length prefixes: the tenant cannot bleed into the endpoint.
  EXPECT_NE(ExactCacheKey("a\n1", "x", Body("{}")), ExactCacheKey("a", "1\nx", Body("{}")));
}

TEST(ExactCacheKeyTest, CanonicalJsonSortsNestedKeysAndNormalisesNumbers) {
  EXPECT_EQ(CanonicalJson(boost::json::parse(R"({"b":{"z":1,"a":[2.50,{"y":null,"x":true}]},
                                               "a":"\u00e9\"q"})")),
            R"({"a":"é\"q","b":{"a":[2.5,{"x":true,"y":null}],"z":1}})");
  EXPECT_EQ(CanonicalJson(boost::json::parse("[1.0, -0.0, 1e300, 0.1, 18446744073709551615]")),
            "[1,0,1e+300,0.1,18446744073709551615]");
}

// ---- Decision ----

StatusOr<CacheDecision> Decide(std::string_view json, std::string_view cache_control = "",
                               ExactCacheConfig config = {},
                               std::string_view endpoint = "chat.completions") {
  return DecideExactCaching(endpoint, Body(json), cache_control, config);
}

void ExpectDecision(const StatusOr<CacheDecision>& d, bool lookup, bool store) {
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->lookup, lookup) << d->reason;
  EXPECT_EQ(d->store, store) << d->reason;
}

TEST(ExactCacheDecisionTest, OnlyDeterministicRequestsAreCachedByDefault) {
  ExpectDecision(Decide(R"({"temperature":0})"), true, true);
  ExpectDecision(Decide(R"({"temperature":0.0})"), true, true);
  ExpectDecision(Decide(R"({"temperature":0.7,"seed":42})"), true, true);
  ExpectDecision(Decide(R"({"temperature":0.7})"), false, false);
  ExpectDecision(Decide(R"({"temperature":0.7,"seed":null})"), false, false);
  // OpenAI's default temperature is 1.
  ExpectDecision(Decide(R"({})"), false, false);
  ExpectDecision(Decide(R"({"input":"x"})", "", {}, "embeddings"), true, true);
  EXPECT_EQ(Decide(R"({"temperature":0.7})")->reason, "nondeterministic");
}

TEST(ExactCacheDecisionTest, ConfigCanCacheNondeterministicRequestsOrDisableTheCache) {
  ExactCacheConfig loose;
  loose.cache_nondeterministic = true;
  ExpectDecision(Decide(R"({"temperature":0.7})", "", loose), true, true);
  ExactCacheConfig off;
  off.enabled = false;
  ExpectDecision(Decide(R"({"temperature":0})", "", off), false, false);
  ExpectDecision(Decide(R"({"temperature":0,"sobre":{"cache":"on"}})", "", off), false, false);
}

TEST(ExactCacheDecisionTest, CacheControlNoCacheStoresWithoutLookingUpNoStoreDoesNeither) {
  ExpectDecision(Decide(R"({"temperature":0})", "no-cache"), false, true);
  ExpectDecision(Decide(R"({"temperature":0})", "No-Cache"), false, true);
  ExpectDecision(Decide(R"({"temperature":0})", "max-age=0, no-store"), false, false);
  ExpectDecision(Decide(R"({"temperature":0})", "no-cache,no-store"), false, false);
  ExpectDecision(Decide(R"({"temperature":0})", "max-age=60, private"), true, true);
  ExpectDecision(Decide(R"({"temperature":0.9})", "no-cache"), false, false);
}

TEST(ExactCacheDecisionTest, BodyExtensionTurnsCachingOnOffOrRefreshes) {
  ExpectDecision(Decide(R"({"temperature":0.7,"sobre":{"cache":"on"}})"), true, true);
  ExpectDecision(Decide(R"({"temperature":0,"sobre":{"cache":"off"}})"), false, false);
  ExpectDecision(Decide(R"({"temperature":0,"sobre":{"cache":"refresh"}})"), false, true);
  ExpectDecision(Decide(R"({"temperature":0.7,"sobre":{"cache":"refresh"}})"), false, false);
  ExpectDecision(Decide(R"({"temperature":0,"sobre":{}})"), true, true);
  ExpectDecision(Decide(R"({"temperature":0.7,"sobre":{"cache":"on"}})", "no-store"), false,
                 false);
}

TEST(ExactCacheDecisionTest, MalformedExtensionIsAnError) {
  for (const char* bad : {R"({"sobre":"on"})", R"({"sobre":{"cache":"yes"}})",
                          R"({"sobre":{"cache":true}})"}) {
    auto d = Decide(bad);
    ASSERT_FALSE(d.ok()) << bad;
    EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace sobre::cache
