#include "cache/embedder.h"

#include <cmath>
#include <future>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "cache/guards.h"

namespace sobre::cache {
namespace {

float Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  float dot = 0;
  for (size_t i = 0; i < a.size(); ++i) dot += a[i] * b[i];
  return dot;
}

// Paraphrases (should hit) and pairs that must not share an answer.
const std::pair<const char*, const char*> kParaphrases[] = {
    {"How do I reset my password?", "How can I reset my password?"},
    {"What is the capital of France?", "what's the capital of france"},
    {"Explain how photosynthesis works", "Can you explain how photosynthesis works?"},
    {"Best way to learn Python programming", "What is the best way to learn Python programming?"},
    {"How to convert a string to an integer in Java", "How do I convert a string to integer in Java?"},
    {"Translate 'good morning' into Spanish", "Translate good morning to Spanish"},
};
const std::pair<const char*, const char*> kUnrelated[] = {
    {"How do I reset my password?", "What is the capital of France?"},
    {"Explain how photosynthesis works", "How to convert a string to an integer in Java"},
    {"Best way to learn Python programming", "Translate 'good morning' into Spanish"},
    {"Write a haiku about autumn leaves", "How do I cancel my gym membership?"},
    {"What causes inflation?", "Recommend a good science fiction novel"},
    {"How do I reset my password?", "How do I bake sourdough bread?"},
};

TEST(SemanticEmbedderTest, DeterministicNormalisedAndSized) {
  FrugalEmbedder embedder;
  EXPECT_EQ(embedder.dims(), 384);
  EXPECT_EQ(embedder.name(), "frugal-v2-384");
  auto a = embedder.Embed("How do I reset my password?");
  auto b = FrugalEmbedder().Embed("How do I reset my password?");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  ASSERT_EQ(a->size(), 384u);
  EXPECT_NEAR(Cosine(*a, *a), 1.0f, 1e-5f);
  EXPECT_FALSE(embedder.Embed("  ?! ").ok());
  // Case and punctuation do not matter.
  auto c = embedder.Embed("HOW do i reset my password");
  ASSERT_TRUE(c.ok());
  EXPECT_NEAR(Cosine(*a, *c), 1.0f, 1e-5f);
}

TEST(SemanticEmbedderTest, ParaphrasesAreCloserThanUnrelatedAndCrossTheThreshold) {
  FrugalEmbedder embedder;
  float worst_paraphrase = 1, best_unrelated = -1;
  for (auto [x, y] : kParaphrases) {
    float s = Cosine(*embedder.Embed(x), *embedder.Embed(y));
    worst_paraphrase = std::min(worst_paraphrase, s);
    RecordProperty(std::string("paraphrase: ") + x, std::to_string(s));
  }
  for (auto [x, y] : kUnrelated) {
    best_unrelated = std::max(best_unrelated, Cosine(*embedder.Embed(x), *embedder.Embed(y)));
  }
  std::printf("frugal: worst paraphrase %.3f, best unrelated %.3f, threshold %.2f\n",
              worst_paraphrase, best_unrelated, embedder.default_threshold());
  EXPECT_GT(worst_paraphrase, best_unrelated + 0.2f);
  EXPECT_LT(best_unrelated, embedder.default_threshold());
}

TEST(SemanticEmbedderTest, CanonicalWordsUndoContractionsAndSpellNumbersOneWay) {
  EXPECT_EQ(CanonicalWords("Isn't it 1,000.50 percent? What's three; I can't, they won't"),
            (std::vector<std::string>{"is", "not", "it", "1000.5", "what", "3", "i", "can", "not",
                                      "they", "will", "not"}));
  EXPECT_EQ(CanonicalWords("dont cats purr"), (std::vector<std::string>{"do", "not", "cat", "purr"}));
  EXPECT_EQ(CanonicalWords("this is his bus"), (std::vector<std::string>{"this", "is", "his", "bus"}));
}

TEST(SemanticEmbedderTest, PolitenessContractionsAndNumberSpellingDoNotMoveTheVector) {
  FrugalEmbedder embedder;
  auto same = [&](const char* a, const char* b) {
    return Cosine(*embedder.Embed(a), *embedder.Embed(b));
  };
  EXPECT_NEAR(same("How do I reset my password?", "Hi! How do I reset my password? Thanks!"), 1.0f, 1e-5f);
  EXPECT_NEAR(same("Why is my cake not rising?", "Why isn't my cake rising?"), 1.0f, 1e-5f);
  EXPECT_NEAR(same("Give me three ideas", "give me 3 ideas"), 1.0f, 1e-5f);
  EXPECT_NEAR(same("What is 10% of 1,000?", "What is 10 percent of 1000?"), 1.0f, 1e-5f);
  // Word order still counts, through bigrams of content words.
  EXPECT_LT(same("convert celsius fahrenheit", "convert fahrenheit celsius"), 0.99f);
  // A text of fillers only still embeds.
  EXPECT_TRUE(embedder.Embed("Hi, thanks!").ok());
}

TEST(SemanticEmbedderTest, ObservedIdfDownWeightsCommonWords) {
  FrugalEmbedder plain, learned;
  for (int i = 0; i < 50; ++i) {
    learned.Observe("how do I fix my printer " + std::to_string(i));
    learned.Observe("how do I fix my laptop screen");
  }
  EXPECT_EQ(learned.observed(), 100u);
  // "how do I fix my" is everywhere in the observed texts: once it weighs less, what differs
  // (printer vs router) dominates and the pair drifts apart.
  const char* a = "how do I fix my printer";
  const char* b = "how do I fix my router";
  float before = Cosine(*plain.Embed(a), *plain.Embed(b));
  float after = Cosine(*learned.Embed(a), *learned.Embed(b));
  EXPECT_LT(after, before);
}

TEST(SemanticEmbedderTest, NonAsciiTextEmbeds) {
  FrugalEmbedder embedder;
  auto a = embedder.Embed("Où se trouve la tour Eiffel ?");
  auto b = embedder.Embed("où se trouve la Tour Eiffel");
  auto c = embedder.Embed("東京の天気はどうですか");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_GT(Cosine(*a, *b), 0.95f);
  EXPECT_LT(Cosine(*a, *c), 0.3f);
}

class FakeEmbeddingsBackend : public backend::Backend {
 public:
  std::string name() const override { return "fake"; }
  bool is_local() const override { return true; }
  boost::asio::awaitable<StatusOr<backend::BackendResult>> Call(backend::BackendRequest request,
                                                                backend::StreamSink*) override {
    last_request = request;
    if (!status.ok()) co_return status;
    backend::BackendResult result;
    result.body = boost::json::parse(body).as_object();
    co_return result;
  }
  Status status;
  std::string body = R"({"object":"list","data":[{"object":"embedding","index":0,
      "embedding":[3,4,0]}],"model":"e"})";
  backend::BackendRequest last_request;
};

StatusOr<std::vector<float>> RunEmbed(Embedder& embedder, std::string text) {
  boost::asio::io_context io;
  // co_spawn needs a default-constructible result: carry the StatusOr in an optional.
  auto future = boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<std::optional<StatusOr<std::vector<float>>>> {
        co_return co_await embedder.EmbedAsync(std::move(text));
      },
      boost::asio::use_future);
  io.run();
  return *future.get();
}

TEST(SemanticEmbedderTest, BackendEmbedderCallsEmbeddingsAndNormalises) {
  FakeEmbeddingsBackend fake;
  BackendEmbedder embedder(&fake, {.model = "nomic-embed-text"});
  EXPECT_EQ(embedder.name(), "backend:fake:nomic-embed-text");
  auto v = RunEmbed(embedder, "hello");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(fake.last_request.endpoint, backend::Endpoint::kEmbeddings);
  EXPECT_EQ(fake.last_request.body.at("model").as_string(), "nomic-embed-text");
  EXPECT_EQ(fake.last_request.body.at("input").as_string(), "hello");
  EXPECT_EQ(*v, (std::vector<float>{0.6f, 0.8f, 0.0f}));
  EXPECT_EQ(embedder.dims(), 3);
  EXPECT_EQ(embedder.Embed("sync").status().code(), StatusCode::kUnimplemented);

  fake.body = R"({"data":[{"embedding":[1,0]}]})";  // Length changed: the model changed.
  EXPECT_EQ(RunEmbed(embedder, "hello").status().code(), StatusCode::kDataLoss);
  fake.body = R"({"data":[]})";
  EXPECT_EQ(RunEmbed(embedder, "hello").status().code(), StatusCode::kDataLoss);
  fake.body = R"({"data":[{"embedding":[0,0,0]}]})";
  EXPECT_EQ(RunEmbed(embedder, "hello").status().code(), StatusCode::kInvalidArgument);
  fake.status = UnavailableError("connection refused");
  auto failed = RunEmbed(embedder, "hello");
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(failed.status().message().find("embedding with backend:fake"), std::string::npos);
}

TEST(SemanticEmbedderTest, FrugalEmbedAsyncMatchesEmbed) {
  FrugalEmbedder embedder;
  auto v = RunEmbed(embedder, "hello world");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, *embedder.Embed("hello world"));
}

}  // namespace
}  // namespace sobre::cache
