// EngineBackend on real random-weight GGUF files (llama with the built-in ChatML byte vocabulary,
// and bert): OpenAI shapes streamed and not, exact usage, logprobs, stop strings, cancellation,
// embeddings and the errors of a model asked for what it cannot do.
#include "backend/engine_backend.h"

#include <cmath>
#include <cstring>
#include <optional>
#include <thread>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/detached.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "engine/gguf/gguf_writer.h"
#include "engine/gguf/test_model.h"
#include "engine/tokenizer/streaming_detokenizer.h"

namespace sobre::backend {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

std::string WriteModel(const std::string& arch) {
  engine::TestModelOptions o;
  o.arch = arch;
  o.weight_sigma = 0.08f;
  engine::GgufWriter w;
  EXPECT_TRUE(engine::BuildTestModel(o, w).ok());
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("sobre_engine_backend_" + arch + "_" + std::to_string(::getpid()) +
                             ".gguf")).string();
  EXPECT_TRUE(w.WriteFile(path).ok());
  return path;
}

std::unique_ptr<EngineBackend> Make(const std::string& arch) {
  EngineBackendOptions o;
  o.path = WriteModel(arch);
  o.threads = 2;
  o.slots = 3;
  o.ctx_per_slot = 256;
  o.powercap_root = "/nonexistent-powercap";  // no RAPL: the estimate is what is tested here
  auto b = CreateEngineBackend(o);
  std::filesystem::remove(o.path);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return std::move(*b);
}

class Chunks : public StreamSink {
 public:
  asio::awaitable<bool> OnChunk(json::object chunk) override {
    chunks.push_back(std::move(chunk));
    co_return cancel_after == 0 || static_cast<int>(chunks.size()) < cancel_after;
  }
  std::vector<json::object> chunks;
  int cancel_after = 0;
};

// Spawns b.Call on `io`; the result lands in `out` when io runs.
void Spawn(asio::io_context& io, Backend& b, BackendRequest r, StreamSink* sink,
           std::optional<StatusOr<BackendResult>>* out) {
  asio::co_spawn(
      io,
      [&b, r = std::move(r), sink, out]() mutable -> asio::awaitable<void> {
        out->emplace(co_await b.Call(std::move(r), sink));
      },
      asio::detached);
}

StatusOr<BackendResult> CallSync(Backend& b, BackendRequest r, StreamSink* sink = nullptr) {
  asio::io_context io;
  std::optional<StatusOr<BackendResult>> out;
  Spawn(io, b, std::move(r), sink, &out);
  io.run();
  if (!out) return InternalError("the call did not complete");
  return std::move(*out);
}

BackendRequest Chat(std::string content, int max_tokens, bool stream = false) {
  BackendRequest r;
  r.endpoint = Endpoint::kChatCompletions;
  r.request_id = "t1";
  r.stream = stream;
  r.body = json::object{{"model", "tiny"},
                        {"messages", json::array{json::object{{"role", "system"}, {"content", "Be brief."}},
                                                 json::object{{"role", "user"}, {"content", content}}}},
                        {"temperature", 0},
                        {"max_tokens", max_tokens}};
  if (stream) r.body["stream_options"] = json::object{{"include_usage", true}};
  return r;
}

std::string Content(const BackendResult& r) {
  return std::string(r.body.at("choices").at(0).at("message").at("content").as_string());
}

TEST(EngineBackendTest, ChatCompletionHasOpenAiShapeAndExactUsage) {
  auto b = Make("llama");
  EXPECT_TRUE(b->is_local());
  EXPECT_FALSE(b->energy_method().measured);
  EXPECT_NE(b->energy_method().description.find("estimated"), std::string::npos);
  auto r = CallSync(*b, Chat("Hello there", 12));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const json::object& body = r->body;
  EXPECT_EQ(body.at("object").as_string(), "chat.completion");
  EXPECT_EQ(body.at("model").as_string(), "tiny");
  EXPECT_EQ(body.at("id").as_string(), "chatcmpl-t1");
  const json::object& choice = body.at("choices").at(0).as_object();
  EXPECT_EQ(choice.at("message").at("role").as_string(), "assistant");
  const std::string finish(choice.at("finish_reason").as_string());
  EXPECT_TRUE(finish == "length" || finish == "stop") << finish;
  const json::object& usage = body.at("usage").as_object();
  EXPECT_EQ(usage.at("completion_tokens").as_int64(), r->usage.completion_tokens);
  if (finish == "length") {
    EXPECT_EQ(r->usage.completion_tokens, 12);
  }
  // ChatML around "Be brief." and "Hello there" in a byte-level vocabulary: more than the bytes
  // of the two contents, since the markers and roles add tokens.
  EXPECT_GT(r->usage.prompt_tokens, 20);
  EXPECT_EQ(usage.at("total_tokens").as_int64(), r->usage.prompt_tokens + r->usage.completion_tokens);
  EXPECT_TRUE(r->usage.reported);
  ASSERT_TRUE(r->energy.has_value());
  EXPECT_GT(r->energy->value(), 0.0);
}

TEST(EngineBackendTest, StreamedChunksConcatenateToTheNonStreamedAnswer) {
  auto b = Make("llama");
  auto whole = CallSync(*b, Chat("Stream me", 16));
  ASSERT_TRUE(whole.ok());
  Chunks sink;
  auto r = CallSync(*b, Chat("Stream me", 16, true), &sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_GE(sink.chunks.size(), 3u);
  EXPECT_EQ(sink.chunks.front().at("choices").at(0).at("delta").at("role").as_string(), "assistant");
  std::string text;
  for (size_t i = 0; i < sink.chunks.size(); ++i) {
    const json::object& c = sink.chunks[i];
    EXPECT_EQ(c.at("object").as_string(), "chat.completion.chunk");
    const json::object& choice = c.at("choices").at(0).as_object();
    if (const json::value* content = choice.at("delta").as_object().if_contains("content")) {
      text += content->as_string();
    }
    EXPECT_EQ(choice.at("finish_reason").is_null(), i + 1 < sink.chunks.size());
  }
  EXPECT_EQ(text, Content(*whole));
  EXPECT_EQ(sink.chunks.back().at("choices").at(0).at("finish_reason"),
            whole->body.at("choices").at(0).at("finish_reason"));
  ASSERT_TRUE(r->usage_chunk.has_value());
  EXPECT_TRUE(r->usage_chunk->at("choices").as_array().empty());
  EXPECT_EQ(r->usage_chunk->at("usage").at("completion_tokens").as_int64(),
            whole->usage.completion_tokens);
  // The second request reused the first one's cached prompt.
  EXPECT_GT(r->usage_chunk->at("usage").at("prompt_tokens_details").at("cached_tokens").as_int64(), 0);
}

TEST(EngineBackendTest, LogprobsInOpenAiShape) {
  auto b = Make("llama");
  BackendRequest req = Chat("Logprobs", 6);
  req.body["logprobs"] = true;
  req.body["top_logprobs"] = 3;
  auto r = CallSync(*b, req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const json::array& content =
      r->body.at("choices").at(0).at("logprobs").at("content").as_array();
  ASSERT_FALSE(content.empty());
  std::string joined;
  for (const json::value& e : content) {
    const json::array& top = e.at("top_logprobs").as_array();
    ASSERT_EQ(top.size(), 3u);
    const double lp = e.at("logprob").to_number<double>();
    EXPECT_LE(lp, 0.0);
    // Greedy: the chosen token is the most likely one.
    EXPECT_EQ(top[0].at("token"), e.at("token"));
    EXPECT_DOUBLE_EQ(top[0].at("logprob").to_number<double>(), lp);
    EXPECT_GE(lp, top[1].at("logprob").to_number<double>());
    for (const json::value& byte : e.at("bytes").as_array()) joined += static_cast<char>(byte.as_int64());
  }
  // The content is the tokens' bytes, with invalid UTF-8 replaced (a random model emits some).
  EXPECT_EQ(engine::SanitizeUtf8(joined), Content(*r));
}

TEST(EngineBackendTest, StopStringCutsTheAnswerBeforeIt) {
  auto b = Make("llama");
  auto whole = CallSync(*b, Chat("Stop test", 24));
  ASSERT_TRUE(whole.ok());
  const std::string full = Content(*whole);
  ASSERT_GE(full.size(), 6u) << "the random model produced too little text for this test";
  const std::string stop = full.substr(3, 2);
  const std::string expected = full.substr(0, full.find(stop));
  for (bool stream : {false, true}) {
    BackendRequest req = Chat("Stop test", 24, stream);
    req.body["stop"] = json::array{json::string(stop), "never-matches"};
    Chunks sink;
    auto r = CallSync(*b, req, stream ? &sink : nullptr);
    ASSERT_TRUE(r.ok());
    std::string text;
    std::string finish;
    if (stream) {
      for (const auto& c : sink.chunks) {
        const json::object& choice = c.at("choices").at(0).as_object();
        if (auto* t = choice.at("delta").as_object().if_contains("content")) text += t->as_string();
        if (choice.at("finish_reason").is_string()) finish = choice.at("finish_reason").as_string();
      }
    } else {
      text = Content(*r);
      finish = r->body.at("choices").at(0).at("finish_reason").as_string();
    }
    EXPECT_EQ(text, expected) << "stream " << stream;
    EXPECT_EQ(finish, "stop");
  }
}

TEST(EngineBackendTest, CompletionsEndpoint) {
  auto b = Make("llama");
  BackendRequest req;
  req.endpoint = Endpoint::kCompletions;
  req.request_id = "c1";
  req.body = json::object{{"model", "tiny"}, {"prompt", "Once upon"}, {"max_tokens", 5},
                          {"temperature", 0}, {"logprobs", 2}};
  auto r = CallSync(*b, req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body.at("object").as_string(), "text_completion");
  EXPECT_TRUE(r->body.at("choices").at(0).at("text").is_string());
  const json::object& lp = r->body.at("choices").at(0).at("logprobs").as_object();
  EXPECT_EQ(lp.at("tokens").as_array().size(), lp.at("token_logprobs").as_array().size());
  EXPECT_EQ(r->usage.prompt_tokens, 9);  // byte-level vocabulary without BOS: one per byte
}

TEST(EngineBackendTest, ConsumerCancellationFreesTheSlot) {
  auto b = Make("llama");
  BackendRequest req = Chat("Cancel me", 200, true);
  req.body.erase("max_tokens");
  Chunks sink;
  sink.cancel_after = 3;
  auto r = CallSync(*b, req, &sink);
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled);
  for (int i = 0; i < 2000 && b->active_requests() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(b->active_requests(), 0);
}

TEST(EngineBackendTest, ConcurrentStreamsGetTheirOwnAnswers) {
  auto b = Make("llama");
  std::vector<std::string> alone;
  for (const char* q : {"one", "two two", "three three three"}) {
    auto r = CallSync(*b, Chat(q, 10));
    ASSERT_TRUE(r.ok());
    alone.push_back(Content(*r));
  }
  asio::io_context io;
  std::vector<Chunks> sinks(3);
  std::vector<std::optional<StatusOr<BackendResult>>> results(3);
  const char* qs[] = {"one", "two two", "three three three"};
  for (size_t i = 0; i < 3; ++i) Spawn(io, *b, Chat(qs[i], 10, true), &sinks[i], &results[i]);
  io.run();
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(results[i].has_value() && results[i]->ok());
    std::string text;
    for (const auto& c : sinks[i].chunks) {
      if (auto* t = c.at("choices").at(0).at("delta").as_object().if_contains("content")) {
        text += t->as_string();
      }
    }
    EXPECT_EQ(text, alone[i]) << i;
  }
}

TEST(EngineBackendTest, DecoderRefusesEmbeddingsAndBertRefusesChat) {
  auto llama = Make("llama");
  BackendRequest e;
  e.endpoint = Endpoint::kEmbeddings;
  e.body = json::object{{"model", "tiny"}, {"input", "hi"}};
  auto r = CallSync(*llama, e);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "model tiny does not support embeddings");
  auto bert = Make("bert");
  EXPECT_EQ(CallSync(*bert, Chat("hi", 3)).status().code(), StatusCode::kInvalidArgument);
}

TEST(EngineBackendTest, BertEmbeddingsAreNormalisedFloatOrBase64) {
  auto b = Make("bert");
  BackendRequest e;
  e.endpoint = Endpoint::kEmbeddings;
  e.body = json::object{{"model", "emb"}, {"input", json::array{"hello world", "other text"}}};
  auto r = CallSync(*b, e);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const json::array& data = r->body.at("data").as_array();
  ASSERT_EQ(data.size(), 2u);
  std::vector<float> first;
  for (const json::value& x : data[0].at("embedding").as_array()) first.push_back(static_cast<float>(x.to_number<double>()));
  double norm = 0;
  for (float x : first) norm += double(x) * x;
  EXPECT_NEAR(norm, 1.0, 1e-4);
  EXPECT_EQ(data[1].at("index").as_int64(), 1);
  EXPECT_GT(r->usage.prompt_tokens, 4);
  ASSERT_TRUE(r->energy.has_value());

  e.body["encoding_format"] = "base64";
  e.body["input"] = "hello world";
  auto r64 = CallSync(*b, e);
  ASSERT_TRUE(r64.ok());
  const std::string b64(r64->body.at("data").at(0).at("embedding").as_string());
  // Decode independently and compare with the float answer.
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : 63;
  };
  std::string bytes;
  for (size_t i = 0; i + 3 < b64.size(); i += 4) {
    uint32_t n = (val(b64[i]) << 18) | (val(b64[i + 1]) << 12);
    if (b64[i + 2] != '=') n |= val(b64[i + 2]) << 6;
    if (b64[i + 3] != '=') n |= val(b64[i + 3]);
    bytes += static_cast<char>(n >> 16);
    if (b64[i + 2] != '=') bytes += static_cast<char>((n >> 8) & 255);
    if (b64[i + 3] != '=') bytes += static_cast<char>(n & 255);
  }
  ASSERT_EQ(bytes.size(), first.size() * 4);
  std::vector<float> decoded(first.size());
  std::memcpy(decoded.data(), bytes.data(), bytes.size());
  for (size_t i = 0; i < first.size(); ++i) EXPECT_NEAR(decoded[i], first[i], 1e-6);
}

TEST(EngineBackendTest, BadOptionsAndFilesAreClearErrors) {
  EngineBackendOptions o;
  o.path = "/nonexistent/model.gguf";
  auto r = CreateEngineBackend(o);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/model.gguf"), std::string::npos);
  o.path = WriteModel("llama");
  o.chat_template = "jinja-magic";
  r = CreateEngineBackend(o);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("chat_template"), std::string::npos);
  std::filesystem::remove(o.path);
}

}  // namespace
}  // namespace sobre::backend
