// Validation of OpenAI request bodies: types, ranges, required fields, and the numbers the
// gateway reads for budgets.
#include "gateway/openai_validate.h"

#include <gtest/gtest.h>

namespace sobre::gateway {
namespace {

struct Result {
  std::optional<ApiError> error;
  RequestInfo info;
};

Result Check(Operation op, std::string_view text) {
  Result r;
  boost::json::object body;
  r.error = ParseJsonObject(text, body);
  if (!r.error) r.error = ValidateRequest(op, body, r.info);
  return r;
}

Result Chat(std::string_view text) { return Check(Operation::kChat, text); }

// A valid chat body with `extra` fields added.
std::string ChatWith(std::string_view extra) {
  std::string s = R"({"model":"m","messages":[{"role":"user","content":"hello"}])";
  if (!extra.empty()) {
    s += ",";
    s += extra;
  }
  return s + "}";
}

void ExpectParamError(std::string_view text, std::string_view param) {
  const Result r = Chat(text);
  ASSERT_TRUE(r.error.has_value()) << text;
  EXPECT_EQ(r.error->http_status(), 400) << text;
  EXPECT_EQ(r.error->type(), "invalid_request_error");
  EXPECT_EQ(r.error->param, param) << text << ": " << r.error->message;
}

TEST(ValidateTest, AcceptsAFullOpenAiRequestAndPassesUnknownFields) {
  const Result r = Chat(R"({
    "model": "gpt-x",
    "messages": [
      {"role": "developer", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "what is in"},
                                   {"type": "image_url", "image_url": {"url": "data:x"}}]},
      {"role": "assistant", "content": null,
       "tool_calls": [{"id": "c1", "type": "function",
                       "function": {"name": "f", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "42"}
    ],
    "temperature": 0.7, "top_p": 1, "n": 2, "stop": ["a", "b"], "max_tokens": 50,
    "max_completion_tokens": 100, "stream": true, "stream_options": {"include_usage": true},
    "seed": 7, "logprobs": true, "top_logprobs": 5, "user": "u",
    "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
    "tool_choice": "auto", "parallel_tool_calls": true, "frequency_penalty": -1,
    "logit_bias": {"50256": -100}, "metadata": {"a": "b"}, "top_k": 40, "min_p": 0.1
  })");
  ASSERT_FALSE(r.error.has_value()) << r.error->message;
  EXPECT_EQ(r.info.model, "gpt-x");
  EXPECT_TRUE(r.info.stream);
  EXPECT_TRUE(r.info.include_usage);
  EXPECT_EQ(r.info.choices, 2);
  EXPECT_EQ(r.info.max_output_tokens, 100);  // max_completion_tokens wins over max_tokens.
  EXPECT_GT(r.info.prompt_tokens_estimate, 765);  // The image part alone is charged 765.
}

TEST(ValidateTest, MalformedJsonAndNonObjectsAre400WithoutParam) {
  for (std::string_view text : {"{", "", "[1,2]", "\"x\"", "{\"model\":}"}) {
    const Result r = Chat(text);
    ASSERT_TRUE(r.error.has_value()) << text;
    EXPECT_EQ(r.error->http_status(), 400);
    EXPECT_TRUE(r.error->param.empty());
  }
}

TEST(ValidateTest, MissingRequiredFieldsNameThem) {
  ExpectParamError(R"({"messages":[{"role":"user","content":"x"}]})", "model");
  ExpectParamError(R"({"model":"m"})", "messages");
  ExpectParamError(R"({"model":"m","messages":[]})", "messages");
  ExpectParamError(R"({"model":"m","messages":[{"content":"x"}]})", "messages.[0].role");
  ExpectParamError(R"({"model":"m","messages":[{"role":"user"}]})", "messages.[0].content");
  ExpectParamError(R"({"model":"m","messages":[{"role":"user","content":"x"},
                     {"role":"tool","content":"y"}]})",
                   "messages.[1].tool_call_id");
}

TEST(ValidateTest, WrongTypesNameTheParameter) {
  ExpectParamError(R"({"model":"m","messages":"hi"})", "messages");
  ExpectParamError(R"({"model":3,"messages":[{"role":"user","content":"x"}]})", "model");
  ExpectParamError(R"({"model":"m","messages":[{"role":"wizard","content":"x"}]})",
                   "messages.[0].role");
  ExpectParamError(R"({"model":"m","messages":[{"role":"user","content":5}]})",
                   "messages.[0].content");
  ExpectParamError(R"({"model":"m","messages":[{"role":"user","content":[{"text":"x"}]}]})",
                   "messages.[0].content.[0].type");
  ExpectParamError(ChatWith(R"("temperature":"hot")"), "temperature");
  ExpectParamError(ChatWith(R"("stream":"yes")"), "stream");
  ExpectParamError(ChatWith(R"("n":1.5)"), "n");
  ExpectParamError(ChatWith(R"("tools":{})"), "tools");
  ExpectParamError(ChatWith(R"("response_format":{"type":"json_schema"})"),
                   "response_format.json_schema");
}

TEST(ValidateTest, RangesFollowTheSpec) {
  ExpectParamError(ChatWith(R"("temperature":2.5)"), "temperature");
  ExpectParamError(ChatWith(R"("temperature":-0.1)"), "temperature");
  ExpectParamError(ChatWith(R"("top_p":1.5)"), "top_p");
  ExpectParamError(ChatWith(R"("n":0)"), "n");
  ExpectParamError(ChatWith(R"("max_tokens":0)"), "max_tokens");
  ExpectParamError(ChatWith(R"("logprobs":true,"top_logprobs":21)"), "top_logprobs");
  ExpectParamError(ChatWith(R"("top_logprobs":2)"), "top_logprobs");  // Needs logprobs.
  ExpectParamError(ChatWith(R"("stop":["a","b","c","d","e"])"), "stop");
  ExpectParamError(ChatWith(R"("stop":[1])"), "stop.[0]");
  ExpectParamError(ChatWith(R"("presence_penalty":3)"), "presence_penalty");
  ExpectParamError(ChatWith(R"("stream_options":{"include_usage":true})"), "stream_options");

  EXPECT_FALSE(Chat(ChatWith(R"("temperature":2,"top_p":0,"n":1,"stop":"x")")).error);
  EXPECT_FALSE(Chat(ChatWith(R"("temperature":null,"stop":null,"n":2.0)")).error);
  EXPECT_FALSE(Chat(ChatWith(R"("logprobs":true,"top_logprobs":20)")).error);
  EXPECT_FALSE(Chat(ChatWith(R"("stop":["a","b","c","d"])")).error);
}

TEST(ValidateTest, UsesMaxTokensWhenMaxCompletionTokensIsAbsent) {
  const Result r = Chat(ChatWith(R"("max_tokens":12)"));
  ASSERT_FALSE(r.error);
  EXPECT_EQ(r.info.max_output_tokens, 12);
  EXPECT_FALSE(Chat(ChatWith("")).info.max_output_tokens.has_value());
}

TEST(ValidateTest, LegacyCompletions) {
  const Result ok = Check(Operation::kCompletion,
                          R"({"model":"m","prompt":["a b c",[1,2,3]],"best_of":3,"n":2})");
  ASSERT_FALSE(ok.error) << ok.error->message;
  EXPECT_EQ(ok.info.choices, 3);                // best_of generates more than n.
  EXPECT_EQ(ok.info.max_output_tokens, 16);     // OpenAI's default for completions.
  const Result missing = Check(Operation::kCompletion, R"({"model":"m"})");
  ASSERT_TRUE(missing.error);
  EXPECT_EQ(missing.error->param, "prompt");
}

TEST(ValidateTest, Embeddings) {
  const Result ok = Check(Operation::kEmbedding,
                          R"({"model":"e","input":["one","two"],"encoding_format":"float"})");
  ASSERT_FALSE(ok.error) << ok.error->message;
  EXPECT_EQ(ok.info.max_output_tokens, 0);
  EXPECT_GT(ok.info.prompt_tokens_estimate, 0);
  const Result bad = Check(Operation::kEmbedding, R"({"model":"e","input":[{}]})");
  ASSERT_TRUE(bad.error);
  EXPECT_EQ(bad.error->param, "input.[0]");
  const Result format =
      Check(Operation::kEmbedding, R"({"model":"e","input":"x","encoding_format":"int8"})");
  ASSERT_TRUE(format.error);
  EXPECT_EQ(format.error->param, "encoding_format");
}

TEST(ValidateTest, PromptEstimateOverCountsEnglish) {
  // ~4 bytes per token in English; the estimate charges one per 3 bytes plus framing.
  const std::string text(400, 'a');
  const Result r = Chat(R"({"model":"m","messages":[{"role":"user","content":")" + text + "\"}]}");
  ASSERT_FALSE(r.error);
  EXPECT_GE(r.info.prompt_tokens_estimate, 100);
  EXPECT_EQ(EstimateTextTokens(""), 0);
  EXPECT_EQ(EstimateTextTokens("abc"), 1);
  EXPECT_EQ(EstimateTextTokens("abcd"), 2);
}

}  // namespace
}  // namespace sobre::gateway
