// End to end: the real `sobre bench cache` on small hand-made sets and on the shipped one, with
// the frugal embedder and with a backend embedder served by the fake upstream.
#include <string>

// Header-only Boost.JSON: this test links sobre_core only.
#include <boost/json/src.hpp>
#include <gtest/gtest.h>

#include "tests/backend/fake_upstream.h"
#include "tests/cli/cli_runner.h"

namespace sobre::testing {
namespace {

namespace json = boost::json;

// One exact-rewrite duplicate (similarity 1 for the frugal embedder: case and punctuation are
// ignored) and one negation whose texts are close but that the guards must veto.
constexpr char kSmallSet[] =
    "id\tcategory\tlabel\ttext_a\ttext_b\n"
    "p1\tsurface\tduplicate\tHow do I reset my password?\thow do i reset my password\n"
    "p2\tnegation\tdifferent\tIs it safe to eat raw eggs?\tIs it not safe to eat raw eggs?\n";

json::object ParseJson(const CliResult& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.out, ec);
  EXPECT_FALSE(ec) << "stdout is not JSON: " << r.out << "\nstderr: " << r.err;
  return v.is_object() ? v.as_object() : json::object{};
}

const json::object& ThresholdRow(const json::object& embedder, double threshold) {
  for (const json::value& t : embedder.at("thresholds").as_array()) {
    if (std::abs(t.at("threshold").to_number<double>() - threshold) < 1e-9) return t.as_object();
  }
  ADD_FAILURE() << "no row for threshold " << threshold;
  static const json::object kEmpty;
  return kEmpty;
}

TEST(BenchCacheCliTest, PrintsATablePerEmbedderWithTheDefaultMarked) {
  TempDir dir;
  std::string set = dir.Write("set.tsv", kSmallSet);
  CliResult r = RunSobre(dir, "bench cache --set " + set + " --thresholds 0.5,0.7");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("2 pairs, 1 duplicates, 1 different"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("embedder frugal-v2-384 (default threshold 0.90, guards on)"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\n  0.50           1   100.0%    100.0%"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n  0.70 "), std::string::npos) << r.out;
  // The default threshold is added to the list and marked.
  EXPECT_NE(r.out.find("\n* 0.90 "), std::string::npos) << "default threshold not marked:\n" << r.out;
  EXPECT_NE(r.out.find("negation       different    0 false hits"), std::string::npos) << r.out;
}

TEST(BenchCacheCliTest, JsonCountsHitsAndGuardsVetoTheNegation) {
  TempDir dir;
  std::string set = dir.Write("set.tsv", kSmallSet);
  CliResult r = RunSobre(dir, "bench cache --json --show-false --set " + set + " --thresholds 0.5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json::object o = ParseJson(r);
  EXPECT_EQ(o.at("pairs").as_int64(), 2);
  EXPECT_EQ(o.at("duplicate_pairs").as_int64(), 1);
  const json::object& e = o.at("embedders").at(0).as_object();
  EXPECT_EQ(e.at("embedder").as_string(), "frugal-v2-384");
  const json::object& row = ThresholdRow(e, 0.5);
  EXPECT_EQ(row.at("pairwise").at("hits").as_int64(), 1);
  EXPECT_EQ(row.at("pairwise").at("correct_hits").as_int64(), 1);
  EXPECT_EQ(row.at("pairwise").at("precision").to_number<double>(), 1.0);
  EXPECT_EQ(row.at("retrieval").at("hits").as_int64(), 1);
  EXPECT_TRUE(row.at("pairwise_false_hits").as_array().empty());
  // The embedder's default threshold is always evaluated, and flagged.
  bool has_default = false;
  for (const json::value& t : e.at("thresholds").as_array()) {
    if (t.at("default").as_bool()) {
      has_default = true;
      EXPECT_EQ(t.at("threshold").to_number<double>(), e.at("default_threshold").to_number<double>());
    }
  }
  EXPECT_TRUE(has_default);

  // Without guards the negated question is served the cached answer: precision falls to 1/2.
  r = RunSobre(dir, "bench cache --json --show-false --no-guards --set " + set + " --thresholds 0.5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  o = ParseJson(r);
  const json::object& unguarded = ThresholdRow(o.at("embedders").at(0).as_object(), 0.5);
  EXPECT_EQ(unguarded.at("pairwise").at("hits").as_int64(), 2);
  EXPECT_EQ(unguarded.at("pairwise").at("precision").to_number<double>(), 0.5);
  const json::array& false_hits = unguarded.at("pairwise_false_hits").as_array();
  ASSERT_EQ(false_hits.size(), 1u);
  EXPECT_EQ(false_hits[0].at("pair_id").as_string(), "p2");
  EXPECT_EQ(false_hits[0].at("query").as_string(), "Is it not safe to eat raw eggs?");
}

TEST(BenchCacheCliTest, FindsTheShippedSetAndReportsBothHalves) {
  TempDir dir;  // Not the source tree: the set is found above the binary.
  CliResult all = RunSobre(dir, "bench cache --show-false");
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_NE(all.out.find("tests/data/paraphrases/pairs.tsv (half: all)"), std::string::npos)
      << all.out;
  EXPECT_NE(all.out.find("false pairwise hits:"), std::string::npos) << all.out;
  CliResult held_out = RunSobre(dir, "bench cache --json --half held-out");
  ASSERT_EQ(held_out.exit_code, 0) << held_out.err;
  json::object o = ParseJson(held_out);
  EXPECT_EQ(o.at("half").as_string(), "held-out");
  EXPECT_GE(o.at("pairs").as_int64(), 300);
}

TEST(BenchCacheCliTest, BadFlagsAndBadSetsFailWithTheirName) {
  TempDir dir;
  std::string set = dir.Write("set.tsv", kSmallSet);
  CliResult r = RunSobre(dir, "bench cache --set " + set + " --thresholds 0.5,abc");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--thresholds: \"abc\""), std::string::npos) << r.err;
  r = RunSobre(dir, "bench cache --set " + set + " --thresholds 1.5");
  EXPECT_EQ(r.exit_code, 2);
  r = RunSobre(dir, "bench cache --set " + set + " --half odd");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--half"), std::string::npos) << r.err;
  r = RunSobre(dir, "bench cache --set " + set + " --embedder word2vec");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--embedder: \"word2vec\""), std::string::npos) << r.err;
  r = RunSobre(dir, "bench cache --set " + dir.path() + "/missing.tsv");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("missing.tsv"), std::string::npos) << r.err;
  std::string broken = dir.Write("broken.tsv", "id\tcategory\tlabel\ttext_a\ttext_b\np1\tx\tmaybe\ta\tb\n");
  r = RunSobre(dir, "bench cache --set " + broken);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("broken.tsv:2: column 3 (label)"), std::string::npos) << r.err;
}

TEST(BenchCacheCliTest, EvaluatesABackendEmbedderThroughEmbeddings) {
  std::string error;
  auto fake = FakeUpstream::Start({"--dims", "64"}, &error);
  ASSERT_NE(fake, nullptr) << error;
  TempDir dir;
  std::string set = dir.Write("set.tsv", kSmallSet);
  std::string spec = fake->base_url() + ":fake-embed";
  CliResult r = RunSobre(dir, "bench cache --json --embedder frugal --embedder " + spec +
                                  " --set " + set + " --thresholds 0.5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json::object o = ParseJson(r);
  const json::array& embedders = o.at("embedders").as_array();
  ASSERT_EQ(embedders.size(), 2u);
  EXPECT_EQ(embedders[1].at("embedder").as_string(), "backend:upstream:" + fake->base_url() + ":fake-embed");
  EXPECT_EQ(embedders[1].at("default_threshold").to_number<double>(), 0.92);
  // The fake gives each distinct text its own pseudo-random vector: four texts, four calls, and
  // in 64 dimensions no two of them are anywhere near 0.5.
  EXPECT_EQ(fake->Stat("embeddings"), 4);
  EXPECT_EQ(ThresholdRow(embedders[1].as_object(), 0.5).at("pairwise").at("hits").as_int64(), 0);

  // An unreachable server is a failure that names the embedder, not a crash.
  fake.reset();
  r = RunSobre(dir, "bench cache --embedder " + spec + " --set " + set);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("embedding with backend:upstream:"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sobre::testing
