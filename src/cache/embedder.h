// Embedders turn a user text into a unit-length vector for the semantic cache: a built-in frugal
// one that needs no model, and one that asks a backend's /v1/embeddings.
#ifndef SOBRE_CACHE_EMBEDDER_H_
#define SOBRE_CACHE_EMBEDDER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "backend/backend.h"
#include "core/status.h"

namespace sobre::cache {

// Thread contract: Embed and EmbedAsync may run concurrently (implementations below are).
class Embedder {
 public:
  virtual ~Embedder() = default;
  // Stable name, stored with cache entries: vectors from different embedders never compare.
  virtual std::string name() const = 0;
  // Length of every vector this embedder returns.
  virtual int dims() const = 0;
  // Cosine similarity at or above which a neighbour counts as the same question, calibrated for
  // this embedder (strict: guards and thresholds trade hit rate for precision).
  virtual double default_threshold() const = 0;
  // An L2-normalised vector of dims() floats, so that dot product = cosine similarity.
  // InvalidArgument when `text` has nothing to embed.
  virtual StatusOr<std::vector<float>> Embed(std::string_view text) = 0;
  // The same, for callers on an executor. Default: runs Embed inline.
  virtual boost::asio::awaitable<StatusOr<std::vector<float>>> EmbedAsync(std::string text);
};

struct FrugalEmbedderOptions {
  // Output dimensions (feature-hashing buckets). Default 384.
  int dims = 384;
  // Relative weights of the three feature families before normalisation. Words carry meaning,
  // bigrams of consecutive content words order, character 3-5-grams of content words robustness
  // to inflection and typos.
  float word_weight = 1.0f;
  float bigram_weight = 0.7f;
  float char_weight = 0.25f;
  // Weight of a stopword unigram ("the", "how") relative to other words; the built-in IDF prior.
  float stopword_weight = 0.2f;
  // Weight of a filler unigram (IsFillerWord: "hi", "thanks", "explain"). Default 0: politeness
  // and request framing do not move the vector (a text of fillers only embeds on them).
  float filler_weight = 0.0f;
  // Similarity threshold for default_threshold(), calibrated with the default guards on the
  // calibration half of tests/data/paraphrases (see its README and `sobre bench cache`).
  double threshold = 0.90;
};

// The words the frugal embedder sees: WordTokens, with contractions undone ("isn't" -> "is
// not", "what's" -> "what"), number words as digits ("three" -> "3"), numbers without group
// separators or trailing zeros ("1,000.50" -> "1000.5"), "percent" dropped (as '%' is), and a
// plural "s" stripped from words of 4+ letters. Thread-safe: pure function.
std::vector<std::string> CanonicalWords(std::string_view text);

// A model-free embedder over CanonicalWords: word unigrams (stopwords and fillers
// down-weighted), bigrams of consecutive content words, and character 3-, 4- and 5-grams of
// content words (counted in code points, over each word padded with spaces) are hashed into
// `dims` buckets with a sign bit (feature hashing), weighted, and L2-normalised.
//
// Weights: until Observe() has seen any text, a fixed prior (stopword unigrams down-weighted).
// After, each feature is also multiplied by a smoothed IDF learned from the observed texts,
// idf = ln((1 + N) / (1 + df)) + 1, with document frequencies kept in a fixed table of 2^18
// hashed counters (1 MiB; collisions only blur rare features). Vectors made before and after
// observations differ: observe a corpus first, then embed, or rebuild the index.
//
// Thread-safe: Embed and Observe may run concurrently (relaxed atomic counters).
class FrugalEmbedder final : public Embedder {
 public:
  explicit FrugalEmbedder(FrugalEmbedderOptions options = {});

  std::string name() const override;  // "frugal-v2-384"
  int dims() const override { return options_.dims; }
  double default_threshold() const override { return options_.threshold; }
  StatusOr<std::vector<float>> Embed(std::string_view text) override;

  // Counts the features of `text` as one document for the learned IDF.
  void Observe(std::string_view text);
  // Number of texts observed.
  uint64_t observed() const { return documents_.load(std::memory_order_relaxed); }

 private:
  struct Feature {
    uint64_t hash;
    float weight;  // Family weight times the prior.
  };
  std::vector<Feature> Features(std::string_view text) const;

  FrugalEmbedderOptions options_;
  std::unique_ptr<std::atomic<uint32_t>[]> document_frequency_;
  std::atomic<uint64_t> documents_{0};
};

struct BackendEmbedderOptions {
  // The model name the backend knows, sent as "model". Required.
  std::string model;
  // Expected vector length; 0 accepts the length of the first answer and then holds to it.
  int dims = 0;
  // Similarity threshold for default_threshold(). Sentence-embedding models put paraphrases
  // around 0.85-0.95 and unrelated texts well below; 0.92 is the strict end (gateway.md §7.6).
  double threshold = 0.92;
};

// Embeds through a backend's /v1/embeddings. Asynchronous only: Embed returns Unimplemented.
// Thread-safe if the backend is (Backend's contract says it is). Does not own `backend`.
class BackendEmbedder final : public Embedder {
 public:
  BackendEmbedder(backend::Backend* backend, BackendEmbedderOptions options);

  std::string name() const override;  // "backend:<backend name>:<model>"
  int dims() const override { return dims_.load(std::memory_order_relaxed); }
  double default_threshold() const override { return options_.threshold; }
  StatusOr<std::vector<float>> Embed(std::string_view text) override;
  // Errors: the backend's Status with context, DataLoss for a malformed body or a vector of the
  // wrong length, InvalidArgument for an all-zero vector or an empty text.
  boost::asio::awaitable<StatusOr<std::vector<float>>> EmbedAsync(std::string text) override;

 private:
  backend::Backend* backend_;
  BackendEmbedderOptions options_;
  std::atomic<int> dims_;
};

// Parses {"data": [{"embedding": [...]}]} (an OpenAI embeddings response) into a vector
// normalised to unit length. DataLoss when the shape is wrong, InvalidArgument when it is zero.
StatusOr<std::vector<float>> ParseEmbeddingResponse(const boost::json::object& body);

// Scales `v` to unit L2 norm; false (v unchanged) when its norm is zero or not finite.
bool NormaliseL2(std::vector<float>& v);

}  // namespace sobre::cache

#endif  // SOBRE_CACHE_EMBEDDER_H_
