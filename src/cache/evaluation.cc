#include "cache/evaluation.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <functional>
#include <memory>
#include <unordered_set>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <fmt/core.h>

#include "cache/semantic_index.h"
#include "core/file.h"

namespace sobre::cache {
namespace {

constexpr std::string_view kColumns[] = {"id", "category", "label", "text_a", "text_b"};
constexpr std::string_view kScope = "evaluation";

// Byte offset of the first invalid UTF-8 sequence in `s`, or npos. Overlong forms, surrogates
// and code points past U+10FFFF are invalid.
size_t FirstInvalidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t length = 0;
    uint32_t code_point = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      length = 2;
      code_point = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3;
      code_point = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4;
      code_point = c & 0x07;
    } else {
      return i;
    }
    if (i + length > s.size()) return i;
    for (size_t k = 1; k < length; ++k) {
      unsigned char next = static_cast<unsigned char>(s[i + k]);
      if ((next & 0xC0) != 0x80) return i;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    static constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < kSmallest[length] || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return i;
    }
    i += length;
  }
  return std::string_view::npos;
}

std::vector<std::string_view> SplitTabs(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    size_t tab = line.find('\t', start);
    if (tab == std::string_view::npos) {
      fields.push_back(line.substr(start));
      return fields;
    }
    fields.push_back(line.substr(start, tab - start));
    start = tab + 1;
  }
}

// The number an id ends in ("p0042" -> 42), or -1 when it does not end in a digit. Only the
// parity matters, so the last digit is enough.
int LastDigit(std::string_view id) {
  if (id.empty() || id.back() < '0' || id.back() > '9') return -1;
  return id.back() - '0';
}

float Dot(const std::vector<float>& a, const std::vector<float>& b) {
  float sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

// Shared by the embedding workers; they all run on one io_context thread.
struct EmbedState {
  std::vector<const std::string*> texts;
  std::vector<const std::string*> pair_ids;
  std::vector<std::vector<float>> vectors;
  size_t next = 0;
  Status error;
};

boost::asio::awaitable<void> EmbedWorker(Embedder& embedder, std::shared_ptr<EmbedState> state) {
  while (state->error.ok() && state->next < state->texts.size()) {
    size_t i = state->next++;
    StatusOr<std::vector<float>> v = co_await embedder.EmbedAsync(*state->texts[i]);
    if (!v.ok()) {
      if (state->error.ok()) {
        state->error = v.status().WithContext(
            fmt::format("pair {}: embedding \"{}\"", *state->pair_ids[i], *state->texts[i]));
      }
      co_return;
    }
    state->vectors[i] = std::move(*v);
  }
}

}  // namespace

StatusOr<std::vector<ParaphrasePair>> ParseParaphraseSet(std::string_view text,
                                                         std::string_view source) {
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::vector<ParaphrasePair> pairs;
  std::unordered_set<std::string> ids;
  bool header_seen = false;
  int line_number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto error = [&](size_t column, std::string_view what) {
      if (column == 0) return InvalidArgumentError(fmt::format("{}:{}: {}", source, line_number, what));
      return InvalidArgumentError(fmt::format("{}:{}: column {} ({}): {}", source, line_number,
                                              column, kColumns[column - 1], what));
    };
    if (size_t bad = FirstInvalidUtf8(line); bad != std::string_view::npos) {
      return error(0, fmt::format("invalid UTF-8 at byte {} of the line", bad + 1));
    }
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string_view> fields = SplitTabs(line);
    if (!header_seen) {
      bool header_ok = fields.size() == std::size(kColumns);
      for (size_t k = 0; header_ok && k < fields.size(); ++k) header_ok = fields[k] == kColumns[k];
      if (!header_ok) {
        return error(0, "expected the header \"id\\tcategory\\tlabel\\ttext_a\\ttext_b\"");
      }
      header_seen = true;
      continue;
    }
    if (fields.size() < std::size(kColumns)) {
      return error(fields.size() + 1, fmt::format("missing: the line has {} tab-separated "
                                                  "fields, expected 5", fields.size()));
    }
    if (fields.size() > std::size(kColumns)) {
      return error(0, fmt::format("{} tab-separated fields, expected 5 (a tab inside a text?)",
                                  fields.size()));
    }
    for (size_t k = 0; k < fields.size(); ++k) {
      if (fields[k].find_first_not_of(" ") == std::string_view::npos) return error(k + 1, "empty");
    }
    ParaphrasePair pair;
    pair.id = std::string(fields[0]);
    if (LastDigit(pair.id) < 0) return error(1, "\"" + pair.id + "\" does not end in a digit");
    if (!ids.insert(pair.id).second) return error(1, "\"" + pair.id + "\" is used twice");
    pair.category = std::string(fields[1]);
    if (fields[2] == "duplicate") {
      pair.label = PairLabel::kDuplicate;
    } else if (fields[2] == "different") {
      pair.label = PairLabel::kDifferent;
    } else {
      return error(3, "\"" + std::string(fields[2]) + "\" is neither duplicate nor different");
    }
    pair.text_a = std::string(fields[3]);
    pair.text_b = std::string(fields[4]);
    if (pair.text_a == pair.text_b) return error(5, "the same text as text_a");
    pair.line = line_number;
    pairs.push_back(std::move(pair));
  }
  if (!header_seen) return InvalidArgumentError(fmt::format("{}: empty: no header", source));
  if (pairs.empty()) return InvalidArgumentError(fmt::format("{}: no pairs after the header", source));
  return pairs;
}

StatusOr<std::vector<ParaphrasePair>> LoadParaphraseSet(const std::string& path) {
  StatusOr<std::string> text = ReadFile(path, size_t{16} << 20);
  if (!text.ok()) return text.status().WithContext("paraphrase set " + path);
  return ParseParaphraseSet(*text, path);
}

std::string_view SetHalfName(SetHalf half) {
  switch (half) {
    case SetHalf::kAll:
      return "all";
    case SetHalf::kCalibration:
      return "calibration";
    case SetHalf::kHeldOut:
      return "held-out";
  }
  return "all";
}

std::vector<ParaphrasePair> SelectHalf(const std::vector<ParaphrasePair>& pairs, SetHalf half) {
  std::vector<ParaphrasePair> out;
  for (const ParaphrasePair& p : pairs) {
    int digit = LastDigit(p.id);
    bool odd = digit >= 0 && digit % 2 == 1;
    if (half == SetHalf::kAll || (half == SetHalf::kCalibration && odd) ||
        (half == SetHalf::kHeldOut && !odd)) {
      out.push_back(p);
    }
  }
  return out;
}

StatusOr<TextEmbeddings> EmbedPairTexts(Embedder& embedder, const std::vector<ParaphrasePair>& pairs,
                                        boost::asio::io_context& io, int concurrency) {
  auto state = std::make_shared<EmbedState>();
  std::unordered_set<std::string_view> seen;
  for (const ParaphrasePair& p : pairs) {
    for (const std::string* text : {&p.text_a, &p.text_b}) {
      if (seen.insert(*text).second) {
        state->texts.push_back(text);
        state->pair_ids.push_back(&p.id);
      }
    }
  }
  state->vectors.resize(state->texts.size());
  int workers = std::clamp(concurrency, 1, 64);
  for (int w = 0; w < workers; ++w) {
    boost::asio::co_spawn(io, EmbedWorker(embedder, state), [state](std::exception_ptr e) {
      if (e && state->error.ok()) state->error = InternalError("embedding worker threw");
    });
  }
  io.restart();
  io.run();
  if (!state->error.ok()) return state->error;
  TextEmbeddings embeddings;
  for (size_t i = 0; i < state->texts.size(); ++i) {
    embeddings.emplace(*state->texts[i], std::move(state->vectors[i]));
  }
  return embeddings;
}

double HitCounts::hit_rate() const {
  return duplicates == 0 ? 0.0 : static_cast<double>(correct_hits) / static_cast<double>(duplicates);
}

double HitCounts::precision() const {
  return hits == 0 ? 1.0 : static_cast<double>(correct_hits) / static_cast<double>(hits);
}

double HitCounts::precision_lower_95() const { return WilsonLowerBound95(correct_hits, hits); }

double WilsonLowerBound95(size_t successes, size_t trials) {
  if (trials == 0) return 0.0;
  constexpr double z = 1.959963984540054;  // Two-sided 95% normal quantile.
  double n = static_cast<double>(trials);
  double p = static_cast<double>(successes) / n;
  double centre = p + z * z / (2 * n);
  double spread = z * std::sqrt(p * (1 - p) / n + z * z / (4 * n * n));
  return std::max(0.0, (centre - spread) / (1 + z * z / n));
}

StatusOr<EmbedderEvaluation> EvaluatePairs(const std::vector<ParaphrasePair>& pairs,
                                           const TextEmbeddings& embeddings,
                                           std::string embedder_name, double default_threshold,
                                           const EvaluationOptions& options,
                                           const std::vector<ParaphrasePair>* labels) {
  if (pairs.empty()) return InvalidArgumentError("evaluation: no pairs");
  std::vector<double> thresholds = options.thresholds;
  for (double t : thresholds) {
    if (!(t >= -1.0 && t <= 1.0)) {
      return InvalidArgumentError(fmt::format("evaluation: threshold {} is outside [-1, 1]", t));
    }
  }
  std::sort(thresholds.begin(), thresholds.end());
  thresholds.erase(std::unique(thresholds.begin(), thresholds.end()), thresholds.end());
  if (thresholds.empty()) return InvalidArgumentError("evaluation: no thresholds");

  size_t dims = 0;
  auto vector_of = [&](const ParaphrasePair& p, const std::string& text)
      -> StatusOr<const std::vector<float>*> {
    auto it = embeddings.find(text);
    if (it == embeddings.end()) {
      return InvalidArgumentError(fmt::format("evaluation: pair {}: no embedding for \"{}\"", p.id, text));
    }
    if (dims == 0) dims = it->second.size();
    if (it->second.empty() || it->second.size() != dims) {
      return InvalidArgumentError(fmt::format(
          "evaluation: pair {}: embedding of \"{}\" has {} dimensions, others {}", p.id, text,
          it->second.size(), dims));
    }
    return &it->second;
  };

  EmbedderEvaluation result;
  result.embedder = std::move(embedder_name);
  result.default_threshold = default_threshold;
  result.pairs = pairs.size();
  // Duplicate labels are an equivalence: texts joined by "duplicate" pairs, directly or through
  // other texts, ask the same question (union-find over the texts).
  std::unordered_map<std::string_view, std::string_view> parent;
  std::function<std::string_view(std::string_view)> find = [&](std::string_view t) {
    auto it = parent.find(t);
    if (it == parent.end() || it->second == t) return t;
    std::string_view root = find(it->second);
    parent[t] = root;
    return root;
  };
  for (const ParaphrasePair& p : pairs) result.duplicate_pairs += p.label == PairLabel::kDuplicate;
  for (const ParaphrasePair& p : labels != nullptr ? *labels : pairs) {
    if (p.label != PairLabel::kDuplicate) continue;
    parent.try_emplace(p.text_a, p.text_a);
    parent.try_emplace(p.text_b, p.text_b);
    std::string_view root_a = find(p.text_a);
    std::string_view root_b = find(p.text_b);
    if (root_a != root_b) parent[root_a] = root_b;
  }
  auto is_duplicate = [&](const std::string& a, const std::string& b) {
    return a == b || (parent.count(a) > 0 && parent.count(b) > 0 && find(a) == find(b));
  };

  // Pairwise: one similarity and one guard verdict per pair, shared by every threshold.
  struct Scored {
    float similarity = 0;
    bool allowed = false;
  };
  std::vector<Scored> pairwise(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    SOBRE_ASSIGN_OR_RETURN(const std::vector<float>* a, vector_of(pairs[i], pairs[i].text_a));
    SOBRE_ASSIGN_OR_RETURN(const std::vector<float>* b, vector_of(pairs[i], pairs[i].text_b));
    pairwise[i].similarity = Dot(*a, *b);
    pairwise[i].allowed =
        !options.use_guards || GuardsAllow(pairs[i].text_a, pairs[i].text_b, nullptr, options.guards);
  }

  // Retrieval: every distinct text_a in one scope; each text_b gets its nearest neighbour.
  std::vector<const std::string*> indexed;
  std::unordered_map<std::string_view, uint64_t> index_ids;
  for (const ParaphrasePair& p : pairs) {
    if (index_ids.emplace(p.text_a, indexed.size()).second) indexed.push_back(&p.text_a);
  }
  result.indexed_texts = indexed.size();
  SemanticIndexOptions index_options;
  index_options.dims = static_cast<int>(dims);
  index_options.max_entries = indexed.size() + 1;
  SemanticIndex index(index_options);
  for (uint64_t id = 0; id < indexed.size(); ++id) {
    const std::vector<float>& v = embeddings.at(*indexed[id]);
    StatusOr<std::vector<uint64_t>> evicted = index.Add(id, kScope, v);
    if (!evicted.ok()) return evicted.status().WithContext("evaluation: building the index");
  }
  struct Retrieved {
    const std::string* cached = nullptr;
    float similarity = 0;
    bool allowed = false;
    bool answerable = false;  // The index holds the query or one of its labelled duplicates.
  };
  // Texts indexed, and the roots of their duplicate classes: a query whose class holds an
  // indexed text has a right answer to find.
  std::unordered_set<std::string_view> answerable_roots;
  for (const std::string* text : indexed) {
    answerable_roots.insert(*text);
    if (parent.count(*text) > 0) answerable_roots.insert(find(*text));
  }
  std::vector<Retrieved> retrieved(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    retrieved[i].answerable = answerable_roots.count(pairs[i].text_b) > 0 ||
                              (parent.count(pairs[i].text_b) > 0 &&
                               answerable_roots.count(find(pairs[i].text_b)) > 0);
    std::vector<SemanticMatch> top = index.Search(kScope, embeddings.at(pairs[i].text_b), 1);
    if (top.empty() || top[0].id >= indexed.size()) continue;
    retrieved[i].cached = indexed[top[0].id];
    retrieved[i].similarity = top[0].similarity;
    retrieved[i].allowed = !options.use_guards ||
                           GuardsAllow(*retrieved[i].cached, pairs[i].text_b, nullptr, options.guards);
  }

  for (double t : thresholds) {
    ThresholdEvaluation e;
    e.threshold = t;
    for (size_t i = 0; i < pairs.size(); ++i) {
      const ParaphrasePair& p = pairs[i];
      bool duplicate = p.label == PairLabel::kDuplicate;
      HitCounts& category = e.pairwise_by_category[p.category];
      if (duplicate) {
        ++e.pairwise.duplicates;
        ++category.duplicates;
      }
      if (retrieved[i].answerable) ++e.retrieval.duplicates;
      if (pairwise[i].allowed && pairwise[i].similarity >= t) {
        ++e.pairwise.hits;
        ++category.hits;
        if (duplicate) {
          ++e.pairwise.correct_hits;
          ++category.correct_hits;
        } else {
          e.pairwise_false_hits.push_back(
              {p.id, p.category, p.text_b, p.text_a, pairwise[i].similarity});
        }
      }
      const Retrieved& r = retrieved[i];
      if (r.cached != nullptr && r.allowed && r.similarity >= t) {
        ++e.retrieval.hits;
        if (is_duplicate(*r.cached, p.text_b)) {
          ++e.retrieval.correct_hits;
        } else {
          e.retrieval_false_hits.push_back({p.id, p.category, p.text_b, *r.cached, r.similarity});
        }
      }
    }
    result.thresholds.push_back(std::move(e));
  }
  return result;
}

}  // namespace sobre::cache
