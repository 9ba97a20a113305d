// Evaluation of the semantic cache on a labelled paraphrase set (tests/data/paraphrases): how many
// true duplicates an embedder + guards would serve from the cache (hit rate), and how many of the
// answers it serves are right (precision of hits), at several similarity thresholds.
#ifndef SOBRE_CACHE_EVALUATION_H_
#define SOBRE_CACHE_EVALUATION_H_

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "cache/embedder.h"
#include "cache/guards.h"
#include "core/status.h"

namespace sobre::cache {

enum class PairLabel {
  kDuplicate,  // One cached answer serves both texts.
  kDifferent,  // Serving one text's answer for the other is a false hit.
};

// One labelled pair of user texts.
struct ParaphrasePair {
  std::string id;        // "p0042": unique, ends in a number that picks the half (SetHalf).
  std::string category;  // "typo", "negation", ...: what the pair tests.
  PairLabel label = PairLabel::kDuplicate;
  std::string text_a;    // The text whose answer is cached.
  std::string text_b;    // The text that asks.
  int line = 0;          // 1-based line in the file it was read from.
};

// Parses a paraphrase set: UTF-8 text, tab-separated, first line exactly the header
// "id<TAB>category<TAB>label<TAB>text_a<TAB>text_b", then one pair per line; blank lines and
// lines starting with '#' are skipped; CRLF is accepted. InvalidArgument naming
// "<source>:<line>: column <n> (<name>)" for a wrong header, a missing or extra column, an empty
// field, an unknown label (duplicate|different), an id not ending in a digit or seen before, or
// text_a equal to text_b; also for invalid UTF-8 or a set with no pairs.
StatusOr<std::vector<ParaphrasePair>> ParseParaphraseSet(std::string_view text,
                                                         std::string_view source);

// Reads and parses the set at `path` (at most 16 MiB). NotFound when it cannot be opened.
StatusOr<std::vector<ParaphrasePair>> LoadParaphraseSet(const std::string& path);

// The halves used to keep calibration honest: pairs whose id ends in an odd number calibrate,
// pairs whose id ends in an even number are held out.
enum class SetHalf { kAll, kCalibration, kHeldOut };

// "all", "calibration", "held-out".
std::string_view SetHalfName(SetHalf half);

// The pairs of `pairs` in `half`, in their order.
std::vector<ParaphrasePair> SelectHalf(const std::vector<ParaphrasePair>& pairs, SetHalf half);

// Unit vectors by text.
using TextEmbeddings = std::unordered_map<std::string, std::vector<float>>;

// Embeds every distinct text of `pairs` with `embedder` (EmbedAsync, up to `concurrency` at
// once), running `io` on the calling thread until done (it must have no other work); the caller
// owns `io` so that a backend's pooled connections can be released before it is destroyed. The
// first failure is returned with the text's pair id. The other functions here are pure and
// thread-safe.
StatusOr<TextEmbeddings> EmbedPairTexts(Embedder& embedder, const std::vector<ParaphrasePair>& pairs,
                                        boost::asio::io_context& io, int concurrency = 8);

// Hits counted for one way of asking (pairwise or retrieval) at one threshold.
struct HitCounts {
  // Queries that have a right answer to find, hit rate's denominator: pairwise, the pairs
  // labelled duplicate; retrieval, the queries whose own text or a duplicate of it is indexed.
  size_t duplicates = 0;
  size_t hits = 0;          // Queries answered from the cache.
  size_t correct_hits = 0;  // Hits that served an answer labelled as a duplicate of the query.

  // correct_hits / duplicates; 0 when there are no duplicates.
  double hit_rate() const;
  // correct_hits / hits; 1 when there are no hits (nothing wrong was served).
  double precision() const;
  // Lower end of the 95% Wilson score interval of the precision; 0 when there are no hits.
  double precision_lower_95() const;
};

// A hit that served a wrong answer.
struct FalseHit {
  std::string pair_id;      // The pair whose text_b asked.
  std::string category;     // That pair's category.
  std::string query;        // text_b.
  std::string cached;       // The text whose answer was served.
  double similarity = 0;    // Cosine similarity of the two.
};

// The outcome at one threshold.
struct ThresholdEvaluation {
  double threshold = 0;
  // Each pair on its own: hit when similarity(text_a, text_b) >= threshold and the guards allow;
  // correct when the pair is labelled duplicate.
  HitCounts pairwise;
  // Every distinct text_a in one index scope, each text_b asks for its nearest neighbour: hit
  // when that neighbour is at or above the threshold and the guards allow; correct when the
  // neighbour is the same text or a duplicate of the query by the set's labels, taken as an
  // equivalence (a ~ b and b ~ c make a ~ c).
  HitCounts retrieval;
  // Pairwise counts per category (for a "different" category every hit is false).
  std::map<std::string, HitCounts> pairwise_by_category;
  std::vector<FalseHit> pairwise_false_hits;
  std::vector<FalseHit> retrieval_false_hits;
};

struct EvaluationOptions {
  // Similarity thresholds to evaluate, each in [-1, 1]. Default 0.70 to 0.95 by 0.05.
  std::vector<double> thresholds = {0.70, 0.75, 0.80, 0.85, 0.90, 0.95};
  // Apply GuardsAllow with these options to every candidate hit. Default on, default options.
  bool use_guards = true;
  GuardOptions guards;
};

// The evaluation of one embedder on one set.
struct EmbedderEvaluation {
  std::string embedder;          // Embedder::name().
  double default_threshold = 0;  // Embedder::default_threshold().
  size_t pairs = 0;
  size_t duplicate_pairs = 0;
  size_t indexed_texts = 0;      // Distinct text_a in the retrieval index.
  std::vector<ThresholdEvaluation> thresholds;  // Ascending.
};

// Evaluates `embeddings` (which must hold every text of `pairs`) at each threshold (sorted
// ascending, repeats dropped). Retrieval hits are judged by the duplicate labels of `labels`
// (e.g. the whole set when `pairs` is one half of it; null: `pairs`). InvalidArgument for an
// empty set, a threshold outside [-1, 1], or a text without an embedding or with one of another
// length than the others.
StatusOr<EmbedderEvaluation> EvaluatePairs(const std::vector<ParaphrasePair>& pairs,
                                           const TextEmbeddings& embeddings,
                                           std::string embedder_name, double default_threshold,
                                           const EvaluationOptions& options = {},
                                           const std::vector<ParaphrasePair>* labels = nullptr);

// Lower end of the 95% Wilson score interval for `successes` out of `trials`; 0 when trials is 0.
double WilsonLowerBound95(size_t successes, size_t trials);

}  // namespace sobre::cache

#endif  // SOBRE_CACHE_EVALUATION_H_
