// The paraphrase-set loader, the hit/precision arithmetic on a hand-made set with hand-picked
// vectors, and the calibration guard: the shipped set at the frugal embedder's default threshold.
#include "cache/evaluation.h"

#include <cmath>
#include <cstdio>
#include <string>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "cache/embedder.h"

namespace sobre::cache {
namespace {

constexpr char kHeader[] = "id\tcategory\tlabel\ttext_a\ttext_b\n";

StatusOr<std::vector<ParaphrasePair>> Parse(const std::string& body) {
  return ParseParaphraseSet(kHeader + body, "set.tsv");
}

void ExpectError(const std::string& text, const std::string& needle) {
  auto r = ParseParaphraseSet(text, "set.tsv");
  ASSERT_FALSE(r.ok()) << "accepted: " << text;
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find(needle), std::string::npos)
      << "message: " << r.status().message() << "\nexpected to contain: " << needle;
}

TEST(EvaluationTest, ParsesPairsCommentsBlankLinesAndCrlf) {
  auto r = ParseParaphraseSet(
      "\xEF\xBB\xBF# a comment before the header\r\n"
      "id\tcategory\tlabel\ttext_a\ttext_b\r\n"
      "p1\ttypo\tduplicate\tHow do I exit vim?\thow do i exti vim\r\n"
      "\n"
      "# comment\n"
      "p2\tnegation\tdifferent\tIs it safe?\tIs it not safe?",
      "set.tsv");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].id, "p1");
  EXPECT_EQ((*r)[0].category, "typo");
  EXPECT_EQ((*r)[0].label, PairLabel::kDuplicate);
  EXPECT_EQ((*r)[0].text_a, "How do I exit vim?");
  EXPECT_EQ((*r)[0].text_b, "how do i exti vim");
  EXPECT_EQ((*r)[0].line, 3);
  EXPECT_EQ((*r)[1].label, PairLabel::kDifferent);
  EXPECT_EQ((*r)[1].text_b, "Is it not safe?");
  EXPECT_EQ((*r)[1].line, 6);
}

TEST(EvaluationTest, LoaderErrorsNameLineAndColumn) {
  ExpectError("", "set.tsv: empty: no header");
  ExpectError("id\tlabel\ttext_a\ttext_b\n", "set.tsv:1: expected the header");
  ExpectError(kHeader, "set.tsv: no pairs");
  ExpectError(std::string(kHeader) + "p1\ttypo\tduplicate\ta\n", "set.tsv:2: column 5 (text_b): missing");
  ExpectError(std::string(kHeader) + "p1\ttypo\n", "set.tsv:2: column 3 (label): missing");
  ExpectError(std::string(kHeader) + "p1\ttypo\tduplicate\ta\tb\tc\n", "set.tsv:2: 6 tab-separated");
  ExpectError(std::string(kHeader) + "p1\ttypo\tsame\ta\tb\n",
              "set.tsv:2: column 3 (label): \"same\" is neither duplicate nor different");
  ExpectError(std::string(kHeader) + "p1\t\tduplicate\ta\tb\n", "set.tsv:2: column 2 (category): empty");
  ExpectError(std::string(kHeader) + "p1\ttypo\tduplicate\t  \tb\n", "set.tsv:2: column 4 (text_a): empty");
  ExpectError(std::string(kHeader) + "px\ttypo\tduplicate\ta\tb\n",
              "set.tsv:2: column 1 (id): \"px\" does not end in a digit");
  ExpectError(std::string(kHeader) + "p1\ttypo\tduplicate\ta\tb\n\np1\ttypo\tduplicate\tc\td\n",
              "set.tsv:4: column 1 (id): \"p1\" is used twice");
  ExpectError(std::string(kHeader) + "p1\ttypo\tduplicate\tsame\tsame\n",
              "set.tsv:2: column 5 (text_b): the same text as text_a");
  ExpectError(std::string(kHeader) + "p1\ttypo\tduplicate\ta\t\xC3(\n", "set.tsv:2: invalid UTF-8");
  ExpectError(std::string(kHeader) + "p1\ttypo\tduplicate\ta\t\xE0\x80\xAF\n", "invalid UTF-8");
  ExpectError(std::string(kHeader) + "p1\ttypo\tduplicate\ta\t\xED\xA0\x80\n", "invalid UTF-8");
  ExpectError(std::string(kHeader) + "p1\ttypo\tduplicate\ta\tb\xF0\x9F\x98\n", "invalid UTF-8");
}

TEST(EvaluationTest, LoadNamesAMissingFile) {
  auto r = LoadParaphraseSet("/nonexistent/pairs.tsv");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/pairs.tsv"), std::string::npos);
}

TEST(EvaluationTest, HalvesSplitByTheParityOfTheIdsLastDigit) {
  auto r = Parse("p1\tx\tduplicate\ta\tb\np2\tx\tduplicate\tc\td\np13\tx\tdifferent\te\tf\n"
                 "p20\tx\tdifferent\tg\th\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto ids = [](const std::vector<ParaphrasePair>& pairs) {
    std::string out;
    for (const auto& p : pairs) out += p.id + " ";
    return out;
  };
  EXPECT_EQ(ids(SelectHalf(*r, SetHalf::kCalibration)), "p1 p13 ");
  EXPECT_EQ(ids(SelectHalf(*r, SetHalf::kHeldOut)), "p2 p20 ");
  EXPECT_EQ(ids(SelectHalf(*r, SetHalf::kAll)), "p1 p2 p13 p20 ");
}

TEST(EvaluationTest, WilsonLowerBoundMatchesTheFormula) {
  // Expected values computed separately in Python from
  // (p + z^2/2n - z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), z = 1.959964.
  EXPECT_NEAR(WilsonLowerBound95(10, 10), 0.7225, 1e-4);
  EXPECT_NEAR(WilsonLowerBound95(99, 100), 0.9455, 1e-4);
  EXPECT_NEAR(WilsonLowerBound95(50, 100), 0.4038, 1e-4);
  EXPECT_EQ(WilsonLowerBound95(0, 0), 0.0);
  EXPECT_EQ(WilsonLowerBound95(0, 5), 0.0);
}

// Unit vectors at a chosen angle from e1, so similarities are known exactly.
std::vector<float> At(double similarity_to_e1, int plane = 1) {
  std::vector<float> v(4, 0.0f);
  v[0] = static_cast<float>(similarity_to_e1);
  v[static_cast<size_t>(plane)] = static_cast<float>(std::sqrt(1 - similarity_to_e1 * similarity_to_e1));
  return v;
}

TEST(EvaluationTest, CountsHitsAndPrecisionPairwiseAndInRetrieval) {
  // Four pairs with hand-set similarities; guards are off so that only the vectors decide.
  //   p1 duplicate  sim 0.95       p2 duplicate  sim 0.80
  //   p3 different  sim 0.90       p4 different  sim 0.50
  auto pairs = Parse(
      "p1\tdup\tduplicate\tA\tA2\n"
      "p2\tdup\tduplicate\tB\tB2\n"
      "p3\tneg\tdifferent\tC\tC2\n"
      "p4\tneg\tdifferent\tD\tD2\n");
  ASSERT_TRUE(pairs.ok()) << pairs.status().ToString();
  // Each pair lives in its own plane pair so that retrieval finds its own partner first:
  // text_a = e_k, text_b at the chosen similarity towards another axis.
  auto axis = [](int k) {
    std::vector<float> v(8, 0.0f);
    v[static_cast<size_t>(k)] = 1.0f;
    return v;
  };
  auto towards = [](int k, int other, double s) {
    std::vector<float> v(8, 0.0f);
    v[static_cast<size_t>(k)] = static_cast<float>(s);
    v[static_cast<size_t>(other)] = static_cast<float>(std::sqrt(1 - s * s));
    return v;
  };
  TextEmbeddings embeddings = {
      {"A", axis(0)}, {"A2", towards(0, 4, 0.95)}, {"B", axis(1)}, {"B2", towards(1, 5, 0.80)},
      {"C", axis(2)}, {"C2", towards(2, 6, 0.90)}, {"D", axis(3)}, {"D2", towards(3, 7, 0.50)},
  };
  EvaluationOptions options;
  options.use_guards = false;
  options.thresholds = {0.85, 0.7, 0.97, 0.7};
  auto e = EvaluatePairs(*pairs, embeddings, "hand", 0.85, options);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->pairs, 4u);
  EXPECT_EQ(e->duplicate_pairs, 2u);
  EXPECT_EQ(e->indexed_texts, 4u);
  ASSERT_EQ(e->thresholds.size(), 3u);  // Sorted, the repeated 0.7 dropped.

  const ThresholdEvaluation& low = e->thresholds[0];  // 0.70: p1, p2, p3 hit.
  EXPECT_DOUBLE_EQ(low.threshold, 0.7);
  EXPECT_EQ(low.pairwise.hits, 3u);
  EXPECT_EQ(low.pairwise.correct_hits, 2u);
  EXPECT_DOUBLE_EQ(low.pairwise.hit_rate(), 1.0);
  EXPECT_DOUBLE_EQ(low.pairwise.precision(), 2.0 / 3.0);
  ASSERT_EQ(low.pairwise_false_hits.size(), 1u);
  EXPECT_EQ(low.pairwise_false_hits[0].pair_id, "p3");
  EXPECT_EQ(low.pairwise_false_hits[0].cached, "C");
  EXPECT_NEAR(low.pairwise_false_hits[0].similarity, 0.90, 1e-6);
  EXPECT_EQ(low.pairwise_by_category.at("dup").correct_hits, 2u);
  EXPECT_EQ(low.pairwise_by_category.at("neg").hits, 1u);
  // Retrieval gives the same here: each text_b's nearest text_a is its own.
  EXPECT_EQ(low.retrieval.hits, 3u);
  EXPECT_EQ(low.retrieval.correct_hits, 2u);
  EXPECT_EQ(low.retrieval.duplicates, 2u);

  const ThresholdEvaluation& mid = e->thresholds[1];  // 0.85: p1 and p3 hit.
  EXPECT_EQ(mid.pairwise.hits, 2u);
  EXPECT_EQ(mid.pairwise.correct_hits, 1u);
  EXPECT_DOUBLE_EQ(mid.pairwise.hit_rate(), 0.5);
  EXPECT_DOUBLE_EQ(mid.pairwise.precision(), 0.5);

  const ThresholdEvaluation& high = e->thresholds[2];  // 0.97: nothing hits.
  EXPECT_EQ(high.pairwise.hits, 0u);
  EXPECT_DOUBLE_EQ(high.pairwise.precision(), 1.0);
  EXPECT_EQ(high.pairwise.precision_lower_95(), 0.0);
}

TEST(EvaluationTest, RetrievalCountsTheWrongNeighbourAsAFalseHit) {
  // B2 is a paraphrase of B, but A sits closer to it than B does: pairwise p2 hits, retrieval
  // serves A's answer for it, which is wrong.
  auto pairs = Parse("p1\tdup\tduplicate\tA\tA2\np2\tdup\tduplicate\tB\tB2\n");
  ASSERT_TRUE(pairs.ok());
  TextEmbeddings embeddings = {{"A", At(1.0)}, {"A2", At(0.99)}, {"B", At(0.9, 2)},
                               {"B2", At(0.95, 3)}};
  EvaluationOptions options;
  options.use_guards = false;
  options.thresholds = {0.5};
  auto e = EvaluatePairs(*pairs, embeddings, "hand", 0.5, options);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const ThresholdEvaluation& t = e->thresholds[0];
  EXPECT_EQ(t.pairwise.correct_hits, 2u);
  EXPECT_EQ(t.retrieval.hits, 2u);
  EXPECT_EQ(t.retrieval.correct_hits, 1u);
  ASSERT_EQ(t.retrieval_false_hits.size(), 1u);
  EXPECT_EQ(t.retrieval_false_hits[0].pair_id, "p2");
  EXPECT_EQ(t.retrieval_false_hits[0].cached, "A");
}

TEST(EvaluationTest, GuardsVetoHits) {
  auto pairs = Parse("p1\tnumber\tdifferent\tCancel within 3 days\tCancel within 30 days\n");
  ASSERT_TRUE(pairs.ok());
  TextEmbeddings embeddings = {{"Cancel within 3 days", At(1.0)},
                               {"Cancel within 30 days", At(0.99)}};
  EvaluationOptions options;
  options.thresholds = {0.9};
  auto guarded = EvaluatePairs(*pairs, embeddings, "hand", 0.9, options);
  ASSERT_TRUE(guarded.ok());
  EXPECT_EQ(guarded->thresholds[0].pairwise.hits, 0u);
  EXPECT_EQ(guarded->thresholds[0].retrieval.hits, 0u);
  options.use_guards = false;
  auto unguarded = EvaluatePairs(*pairs, embeddings, "hand", 0.9, options);
  ASSERT_TRUE(unguarded.ok());
  EXPECT_EQ(unguarded->thresholds[0].pairwise.hits, 1u);
  EXPECT_EQ(unguarded->thresholds[0].retrieval.hits, 1u);
  EXPECT_EQ(unguarded->thresholds[0].retrieval.duplicates, 0u);
}

TEST(EvaluationTest, RejectsMissingOrInconsistentEmbeddingsAndBadThresholds) {
  auto pairs = Parse("p1\tdup\tduplicate\tA\tA2\n");
  ASSERT_TRUE(pairs.ok());
  EvaluationOptions options;
  auto missing = EvaluatePairs(*pairs, {{"A", At(1.0)}}, "hand", 0.9, options);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("p1: no embedding for \"A2\""), std::string::npos)
      << missing.status().message();
  auto ragged = EvaluatePairs(*pairs, {{"A", At(1.0)}, {"A2", {1.0f, 0.0f}}}, "hand", 0.9, options);
  ASSERT_FALSE(ragged.ok());
  EXPECT_NE(ragged.status().message().find("2 dimensions"), std::string::npos);
  options.thresholds = {1.5};
  EXPECT_FALSE(EvaluatePairs(*pairs, {{"A", At(1.0)}, {"A2", At(0.9)}}, "hand", 0.9, options).ok());
  EXPECT_FALSE(EvaluatePairs({}, {}, "hand", 0.9, {}).ok());
}

// The calibration guard: the frugal embedder with the default guards keeps its promise of
// precision of hits >= 99% at its default threshold on the held-out half of the shipped set,
// pairwise and in retrieval. Fails when the embedder, the guards, the threshold or the set change
// in a way that lets wrong answers through.
TEST(EvaluationTest, ShippedSetHeldOutHalfMeetsThePrecisionGoalWithTheFrugalEmbedder) {
  auto all = LoadParaphraseSet(std::string(SOBRE_SOURCE_DIR) + "/tests/data/paraphrases/pairs.tsv");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_GE(all->size(), 600u);
  std::vector<ParaphrasePair> held_out = SelectHalf(*all, SetHalf::kHeldOut);
  FrugalEmbedder embedder;
  boost::asio::io_context io;
  auto embeddings = EmbedPairTexts(embedder, held_out, io);
  ASSERT_TRUE(embeddings.ok()) << embeddings.status().ToString();
  EvaluationOptions options;
  options.thresholds = {embedder.default_threshold()};
  auto e = EvaluatePairs(held_out, *embeddings, embedder.name(), embedder.default_threshold(),
                         options, &*all);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const ThresholdEvaluation& t = e->thresholds[0];
  std::printf("held-out, %zu pairs, threshold %.2f: pairwise %zu hits, hit rate %.3f, precision "
              "%.4f; retrieval %zu hits, hit rate %.3f, precision %.4f\n",
              held_out.size(), t.threshold, t.pairwise.hits, t.pairwise.hit_rate(),
              t.pairwise.precision(), t.retrieval.hits, t.retrieval.hit_rate(),
              t.retrieval.precision());
  for (const FalseHit& f : t.pairwise_false_hits) {
    std::printf("  false hit %s (%s, %.3f): \"%s\" served \"%s\"\n", f.pair_id.c_str(),
                f.category.c_str(), f.similarity, f.query.c_str(), f.cached.c_str());
  }
  EXPECT_GE(t.pairwise.precision(), 0.99);
  EXPECT_GE(t.retrieval.precision(), 0.99);
  // A cache that never hits is trivially precise: it must still serve a useful share.
  EXPECT_GE(t.pairwise.hit_rate(), 0.30);
  EXPECT_GE(t.retrieval.hit_rate(), 0.30);
}

}  // namespace
}  // namespace sobre::cache
