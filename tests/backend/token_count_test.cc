#include "backend/token_count.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace sobre::backend {
namespace {

boost::json::object Obj(const char* text) { return boost::json::parse(text).as_object(); }

TEST(TokenCountTest, EstimateIsCeilOfBytesOverFour) {
  EXPECT_EQ(EstimateTokens(""), 0);
  EXPECT_EQ(EstimateTokens("a"), 1);
  EXPECT_EQ(EstimateTokens("abcd"), 1);
  EXPECT_EQ(EstimateTokens("abcde"), 2);
  EXPECT_EQ(EstimateTokens(std::string(400, 'x')), 100);
}

TEST(TokenCountTest, ChatPromptCountsTextOfEveryMessage) {
  auto body = Obj(R"({"model": "m", "messages": [
      {"role": "system", "content": "abcd"},
      {"role": "user", "content": [{"type": "text", "text": "efgh"},
                                    {"type": "image_url", "image_url": {"url": "http://x/y.png"}}]},
      {"role": "assistant", "content": null,
       "tool_calls": [{"id": "c", "type": "function",
                       "function": {"name": "f", "arguments": "{}"}}]}]})");
  // "abcd\nefgh\nf\n{}" is 14 bytes.
  EXPECT_EQ(EstimatePromptTokens(Endpoint::kChatCompletions, body), 4);
}

TEST(TokenCountTest, TokenArraysAreCountedExactly) {
  EXPECT_EQ(EstimatePromptTokens(Endpoint::kCompletions, Obj(R"({"prompt": [1, 2, 3]})")), 3);
  EXPECT_EQ(EstimatePromptTokens(Endpoint::kEmbeddings, Obj(R"({"input": [[1, 2], [3, 4, 5]]})")),
            5);
  EXPECT_EQ(EstimatePromptTokens(Endpoint::kEmbeddings, Obj(R"({"input": ["abcd", "efgh"]})")),
            3);  // "abcd\nefgh": 9 bytes.
}

TEST(TokenCountTest, MissingPromptIsZero) {
  EXPECT_EQ(EstimatePromptTokens(Endpoint::kChatCompletions, Obj(R"({"model": "m"})")), 0);
}

TEST(TokenCountTest, GeneratedTextFromResponsesAndChunks) {
  std::string text;
  AppendGeneratedText(
      Obj(R"({"choices": [{"message": {"role": "assistant", "content": "Hello"}}]})"), &text);
  AppendGeneratedText(Obj(R"({"choices": [{"delta": {"content": " world"}}]})"), &text);
  AppendGeneratedText(Obj(R"({"choices": [{"text": "!", "index": 0}]})"), &text);
  AppendGeneratedText(Obj(R"({"choices": [], "usage": {"prompt_tokens": 1}})"), &text);
  AppendGeneratedText(
      Obj(R"({"choices": [{"delta": {"tool_calls": [{"function": {"arguments": "{}"}}]}}]})"),
      &text);
  EXPECT_EQ(text, "Hello world!{}");
}

}  // namespace
}  // namespace sobre::backend
