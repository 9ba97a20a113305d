#include "cache/embedder.h"

#include <cmath>
#include <unordered_set>
#include <utility>

#include <boost/json/array.hpp>
#include <fmt/core.h>

#include "cache/guards.h"

namespace sobre::cache {
namespace {

constexpr int kDocumentFrequencyBits = 18;
constexpr uint64_t kDocumentFrequencyMask = (uint64_t{1} << kDocumentFrequencyBits) - 1;

// FNV-1a over a one-byte family tag and the feature text, then a 64-bit avalanche step so that
// the low bits (the bucket) and the top bit (the sign) are independent.
uint64_t HashFeature(char family, std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  auto mix_byte = [&h](unsigned char c) {
    h ^= c;
    h *= 0x100000001b3ULL;
  };
  mix_byte(static_cast<unsigned char>(family));
  for (char c : text) mix_byte(static_cast<unsigned char>(c));
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

// Byte offsets where each code point of `s` starts (UTF-8 continuation bytes are 10xxxxxx), plus
// s.size() at the end.
std::vector<size_t> CodePointStarts(std::string_view s) {
  std::vector<size_t> starts;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) starts.push_back(i);
  }
  starts.push_back(s.size());
  return starts;
}

}  // namespace

boost::asio::awaitable<StatusOr<std::vector<float>>> Embedder::EmbedAsync(std::string text) {
  co_return Embed(text);
}

bool NormaliseL2(std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  if (!(sum > 0) || !std::isfinite(sum)) return false;
  float scale = static_cast<float>(1.0 / std::sqrt(sum));
  for (float& x : v) x *= scale;
  return true;
}

FrugalEmbedder::FrugalEmbedder(FrugalEmbedderOptions options)
    : options_(std::move(options)),
      document_frequency_(new std::atomic<uint32_t>[size_t{1} << kDocumentFrequencyBits]) {
  for (size_t i = 0; i <= kDocumentFrequencyMask; ++i) document_frequency_[i].store(0);
  if (options_.dims <= 0) options_.dims = 384;
}

std::string FrugalEmbedder::name() const { return fmt::format("frugal-v1-{}", options_.dims); }

std::vector<FrugalEmbedder::Feature> FrugalEmbedder::Features(std::string_view text) const {
  std::vector<std::string> words = WordTokens(text);
  std::vector<Feature> features;
  features.reserve(words.size() * 16);
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    float prior = IsStopword(word) ? options_.stopword_weight : 1.0f;
    features.push_back({HashFeature('w', word), options_.word_weight * prior});
    if (i + 1 < words.size()) {
      std::string bigram = word + ' ' + words[i + 1];
      float bigram_prior = prior < 1.0f && IsStopword(words[i + 1]) ? options_.stopword_weight : 1.0f;
      features.push_back({HashFeature('b', bigram), options_.bigram_weight * bigram_prior});
    }
    std::string padded = ' ' + word + ' ';
    std::vector<size_t> starts = CodePointStarts(padded);
    size_t code_points = starts.size() - 1;
    for (size_t n = 3; n <= 5; ++n) {
      for (size_t first = 0; first + n <= code_points; ++first) {
        std::string_view gram(padded.data() + starts[first], starts[first + n] - starts[first]);
        features.push_back({HashFeature('c', gram), options_.char_weight * prior});
      }
    }
  }
  return features;
}

StatusOr<std::vector<float>> FrugalEmbedder::Embed(std::string_view text) {
  std::vector<Feature> features = Features(text);
  if (features.empty()) return InvalidArgumentError("nothing to embed: the text has no words");
  uint64_t documents = documents_.load(std::memory_order_relaxed);
  std::vector<float> v(static_cast<size_t>(options_.dims), 0.0f);
  for (const Feature& f : features) {
    float weight = f.weight;
    if (documents > 0) {
      uint32_t df = document_frequency_[f.hash & kDocumentFrequencyMask].load(std::memory_order_relaxed);
      weight *= static_cast<float>(
          std::log((1.0 + static_cast<double>(documents)) / (1.0 + df)) + 1.0);
    }
    size_t bucket = static_cast<size_t>((f.hash >> 20) % static_cast<uint64_t>(options_.dims));
    v[bucket] += (f.hash >> 63) != 0 ? -weight : weight;
  }
  // Signed hashing can cancel every feature out (in practice only for one- or two-feature texts).
  if (!NormaliseL2(v)) return InvalidArgumentError("nothing to embed: the features cancel out");
  return v;
}

void FrugalEmbedder::Observe(std::string_view text) {
  std::unordered_set<uint64_t> seen;
  for (const Feature& f : Features(text)) {
    uint64_t slot = f.hash & kDocumentFrequencyMask;
    if (seen.insert(slot).second) {
      document_frequency_[slot].fetch_add(1, std::memory_order_relaxed);
    }
  }
  documents_.fetch_add(1, std::memory_order_relaxed);
}

StatusOr<std::vector<float>> ParseEmbeddingResponse(const boost::json::object& body) {
  const boost::json::value* data = body.if_contains("data");
  if (data == nullptr || !data->is_array() || data->as_array().empty() ||
      !data->as_array()[0].is_object()) {
    return DataLossError("embeddings response without data[0]");
  }
  const boost::json::value* embedding = data->as_array()[0].as_object().if_contains("embedding");
  if (embedding == nullptr || !embedding->is_array() || embedding->as_array().empty()) {
    return DataLossError("embeddings response without data[0].embedding as a list of numbers");
  }
  std::vector<float> v;
  v.reserve(embedding->as_array().size());
  for (const boost::json::value& x : embedding->as_array()) {
    if (x.is_double()) {
      v.push_back(static_cast<float>(x.get_double()));
    } else if (x.is_int64()) {
      v.push_back(static_cast<float>(x.get_int64()));
    } else if (x.is_uint64()) {
      v.push_back(static_cast<float>(x.get_uint64()));
    } else {
      // "encoding_format": "base64" answers land here; we never ask for it.
      return DataLossError("embeddings response: data[0].embedding holds a non-number");
    }
  }
  if (!NormaliseL2(v)) return InvalidArgumentError("embeddings response: zero or non-finite vector");
  return v;
}

BackendEmbedder::BackendEmbedder(backend::Backend* backend, BackendEmbedderOptions options)
    : backend_(backend), options_(std::move(options)), dims_(options_.dims) {}

std::string BackendEmbedder::name() const {
  return fmt::format("backend:{}:{}", backend_->name(), options_.model);
}

StatusOr<std::vector<float>> BackendEmbedder::Embed(std::string_view) {
  return UnimplementedError("a backend embedder is asynchronous: use EmbedAsync");
}

boost::asio::awaitable<StatusOr<std::vector<float>>> BackendEmbedder::EmbedAsync(std::string text) {
  if (text.empty()) co_return InvalidArgumentError("nothing to embed: empty text");
  backend::BackendRequest request;
  request.endpoint = backend::Endpoint::kEmbeddings;
  request.body["model"] = options_.model;
  request.body["input"] = text;
  StatusOr<backend::BackendResult> result = co_await backend_->Call(std::move(request), nullptr);
  if (!result.ok()) co_return result.status().WithContext("embedding with " + name());
  StatusOr<std::vector<float>> v = ParseEmbeddingResponse(result->body);
  if (!v.ok()) co_return v.status().WithContext("embedding with " + name());
  int got = static_cast<int>(v->size());
  int expected = 0;
  // The first answer fixes the length when none was configured.
  if (!dims_.compare_exchange_strong(expected, got) && expected != got) {
    co_return DataLossError(fmt::format("embedding with {}: {} dimensions, expected {}", name(),
                                        got, expected));
  }
  co_return v;
}

}  // namespace sobre::cache
