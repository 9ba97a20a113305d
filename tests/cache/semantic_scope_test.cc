#include "cache/semantic_scope.h"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace sobre::cache {
namespace {

std::optional<SemanticQuery> Extract(std::string_view json) {
  return ExtractSemanticQuery(boost::json::parse(json).as_object());
}

TEST(SemanticScopeTest, TakesLastUserMessageAndHashesWhatCameBefore) {
  auto q = Extract(R"({"model":"m","messages":[{"role":"system","content":"Be brief."},
      {"role":"user","content":"Who is the CEO of Apple?"},
      {"role":"assistant","content":"Tim Cook."},
      {"role":"user","content":"How old is he?"}]})");
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->last_user_text, "How old is he?");
  EXPECT_EQ(q->context_hash.size(), 64u);
  EXPECT_EQ(q->context_hash.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(SemanticScopeTest, DifferentConversationsGiveDifferentHashes) {
  auto apple = Extract(R"({"messages":[{"role":"user","content":"Who is the CEO of Apple?"},
      {"role":"assistant","content":"Tim Cook."},{"role":"user","content":"How old is he?"}]})");
  auto openai = Extract(R"({"messages":[{"role":"user","content":"Who is the CEO of OpenAI?"},
      {"role":"assistant","content":"Sam Altman."},{"role":"user","content":"How old is he?"}]})");
  auto single = Extract(R"({"messages":[{"role":"user","content":"How old is he?"}]})");
  auto other_system = Extract(R"({"messages":[{"role":"system","content":"Answer in French."},
      {"role":"user","content":"How old is he?"}]})");
  ASSERT_TRUE(apple && openai && single && other_system);
  EXPECT_EQ(apple->last_user_text, openai->last_user_text);
  EXPECT_NE(apple->context_hash, openai->context_hash);
  EXPECT_NE(apple->context_hash, single->context_hash);
  EXPECT_NE(single->context_hash, other_system->context_hash);
}

TEST(SemanticScopeTest, SameContextSameHashWhateverKeyOrderOrSamplingFields) {
  auto a = Extract(R"({"model":"m","temperature":0,"messages":[
      {"role":"system","content":"Be brief."},{"role":"user","content":"Hi there"}]})");
  auto b = Extract(R"({"messages":[{"content":"Be brief.","role":"system"},
      {"content":"Hello!","role":"user"}],"model":"other"})");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->context_hash, b->context_hash);
  EXPECT_NE(a->last_user_text, b->last_user_text);
}

TEST(SemanticScopeTest, ResponseFormatIsPartOfTheContext) {
  auto text = Extract(R"({"messages":[{"role":"user","content":"List three colours"}]})");
  auto json = Extract(R"({"response_format":{"type":"json_object"},
      "messages":[{"role":"user","content":"List three colours"}]})");
  ASSERT_TRUE(text && json);
  EXPECT_NE(text->context_hash, json->context_hash);
}

TEST(SemanticScopeTest, JoinsTextParts) {
  auto q = Extract(R"({"messages":[{"role":"user","content":[{"type":"text","text":"Part one."},
      {"type":"text","text":"Part two."}]}]})");
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->last_user_text, "Part one.\nPart two.");
}

TEST(SemanticScopeTest, SkipsToolsImagesAudioAndSeveralChoices) {
  const char* skipped[] = {
      R"({"tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"x"}]})",
      R"({"tool_choice":"auto","messages":[{"role":"user","content":"x"}]})",
      R"({"functions":[{"name":"f"}],"messages":[{"role":"user","content":"x"}]})",
      R"({"n":2,"messages":[{"role":"user","content":"x"}]})",
      R"({"messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},
          {"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]})",
      R"({"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]},
          {"role":"assistant","content":"ok"},{"role":"user","content":"and now?"}]})",
      R"({"messages":[{"role":"system","content":"no user turn"}]})",
      R"({"messages":[{"role":"user","content":"   "}]})",
      R"({"messages":"not a list"})",
      R"({})",
  };
  for (const char* body : skipped) EXPECT_FALSE(Extract(body).has_value()) << body;
  EXPECT_TRUE(Extract(R"({"n":1,"tools":null,"messages":[{"role":"user","content":"x"}]})"));
}

TEST(SemanticScopeTest, ScopeSeparatesTenantsModelsAndContexts) {
  EXPECT_NE(SemanticScope("alice", "gpt", "h"), SemanticScope("bob", "gpt", "h"));
  EXPECT_NE(SemanticScope("alice", "gpt", "h"), SemanticScope("alice", "llama", "h"));
  EXPECT_NE(SemanticScope("alice", "gpt", "h1"), SemanticScope("alice", "gpt", "h2"));
  // Length prefixes: moving bytes between fields changes the scope.
  EXPECT_NE(SemanticScope("ab", "c", "h"), SemanticScope("a", "bc", "h"));
}

}  // namespace
}  // namespace sobre::cache
