#include "cache/embedder.h"

#include <algorithm>
#include <cmath>
#include <iterator>
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

// Spellings that mean the same word, as the frugal embedder compares them.
struct Respelling {
  std::string_view from;
  std::string_view to;      // Empty: dropped.
  std::string_view extra;   // A second word emitted after `to` ("not").
};
constexpr Respelling kRespellings[] = {
    {"cannot", "can", "not"}, {"cant", "can", "not"},     {"dont", "do", "not"},
    {"doesnt", "does", "not"}, {"didnt", "did", "not"},   {"isnt", "is", "not"},
    {"arent", "are", "not"},  {"wasnt", "was", "not"},    {"werent", "were", "not"},
    {"havent", "have", "not"}, {"hasnt", "has", "not"},   {"wouldnt", "would", "not"},
    {"shouldnt", "should", "not"}, {"couldnt", "could", "not"}, {"whats", "what", ""},
    {"thats", "that", ""},    {"im", "i", ""},            {"ive", "i", ""},
    {"youre", "you", ""},     {"percent", "", ""},        {"pct", "", ""},
};
constexpr std::string_view kNumberWords[] = {
    "zero",    "one",     "two",       "three",    "four",     "five",    "six",
    "seven",   "eight",   "nine",      "ten",      "eleven",   "twelve",  "thirteen",
    "fourteen", "fifteen", "sixteen",  "seventeen", "eighteen", "nineteen", "twenty"};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::vector<std::string> CanonicalWords(std::string_view text) {
  std::vector<std::string> out;
  for (std::string word : WordTokens(text)) {
    // Contractions: "isn't" -> "is not", "won't" -> "will not", "what's" -> "what".
    if (word.size() > 3 && word.ends_with("n't")) {
      word.resize(word.size() - 3);
      if (word == "ca") word = "can";
      if (word == "wo") word = "will";
      if (word == "sha") word = "shall";
      out.push_back(std::move(word));
      out.emplace_back("not");
      continue;
    }
    for (std::string_view suffix : {"'s", "'m", "'re", "'ve", "'ll", "'d"}) {
      if (word.size() > suffix.size() && word.ends_with(suffix)) {
        word.resize(word.size() - suffix.size());
        break;
      }
    }
    std::erase(word, '\'');
    if (word.empty()) continue;
    if (IsDigit(word[0])) {
      // "1,000" -> "1000", "2.50" -> "2.5".
      std::erase(word, ',');
      if (word.find('.') != std::string::npos) {
        while (word.back() == '0') word.pop_back();
        if (word.back() == '.') word.pop_back();
      }
      out.push_back(std::move(word));
      continue;
    }
    auto number = std::find(std::begin(kNumberWords), std::end(kNumberWords), word);
    if (number != std::end(kNumberWords)) {
      out.push_back(std::to_string(number - std::begin(kNumberWords)));
      continue;
    }
    const Respelling* respelling = nullptr;
    for (const Respelling& r : kRespellings) {
      if (r.from == word) respelling = &r;
    }
    if (respelling != nullptr) {
      if (!respelling->to.empty()) out.emplace_back(respelling->to);
      if (!respelling->extra.empty()) out.emplace_back(respelling->extra);
      continue;
    }
    // A plural "s" (not "ss", "us", "is": "class", "celsius", "paris"; not short words).
    if (word.size() > 3 && word.back() == 's' && word[word.size() - 2] != 's' &&
        word[word.size() - 2] != 'u' && word[word.size() - 2] != 'i' && !IsStopword(word)) {
      word.pop_back();
    }
    out.push_back(std::move(word));
  }
  return out;
}

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

std::string FrugalEmbedder::name() const { return fmt::format("frugal-v2-{}", options_.dims); }

std::vector<FrugalEmbedder::Feature> FrugalEmbedder::Features(std::string_view text) const {
  std::vector<std::string> words = CanonicalWords(text);
  std::vector<Feature> features;
  features.reserve(words.size() * 16);
  // Content words (not stopwords, not fillers), in order: their bigrams skip the function words
  // between them, so "how do I reset" and "how can I reset" share "... reset password".
  std::vector<const std::string*> content;
  for (const std::string& word : words) {
    bool stopword = IsStopword(word);
    bool filler = !stopword && IsFillerWord(word);
    float prior = stopword ? options_.stopword_weight : filler ? options_.filler_weight : 1.0f;
    if (prior > 0) features.push_back({HashFeature('w', word), options_.word_weight * prior});
    // A negation counts as a word but stays out of the bigram chain, wherever it stands
    // ("is not rising" / "isn't rising"); the guards compare negations exactly.
    if (stopword || filler || HasNegation(word)) continue;
    content.push_back(&word);
    std::string padded = ' ' + word + ' ';
    std::vector<size_t> starts = CodePointStarts(padded);
    size_t code_points = starts.size() - 1;
    for (size_t n = 3; n <= 5; ++n) {
      for (size_t first = 0; first + n <= code_points; ++first) {
        std::string_view gram(padded.data() + starts[first], starts[first + n] - starts[first]);
        features.push_back({HashFeature('c', gram), options_.char_weight});
      }
    }
  }
  for (size_t i = 0; i + 1 < content.size(); ++i) {
    features.push_back({HashFeature('b', *content[i] + ' ' + *content[i + 1]), options_.bigram_weight});
  }
  // A text made only of function words and fillers ("hi, thanks!") still embeds, on those.
  if (content.empty() && options_.filler_weight <= 0) {
    for (const std::string& word : words) {
      if (IsFillerWord(word)) {
        features.push_back({HashFeature('w', word), options_.word_weight * options_.stopword_weight});
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
