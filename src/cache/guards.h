// Cheap lexical checks that veto a semantic-cache hit between two user texts whose embeddings are
// close but whose meaning differs in ways embeddings are known to miss (reference/gateway.md §3.5:
// numbers, negation, near-identical entities).
#ifndef SOBRE_CACHE_GUARDS_H_
#define SOBRE_CACHE_GUARDS_H_

#include <string>
#include <string_view>
#include <vector>

namespace sobre::cache {

struct GuardOptions {
  // Least Jaccard overlap of the two sets of content tokens (stopwords, numbers and negation
  // words removed; "'s" and a plural "s" stripped) for a hit. In [0, 1]. Default 0.5.
  double min_content_overlap = 0.5;
};

// True when a cached answer for `a` may be served for `b`. Rejects (false, with a short reason
// such as "numbers differ: {3} vs {30}" in `*reason` when `reason` is not null) when:
//   - the multisets of numbers differ (digits, decimals, percentages, "zero".."twenty");
//   - a negation ("not", "no", "never", "without", any "n't" ...) appears on one side only;
//   - the content-token overlap is below `options.min_content_overlap` (when both sides have
//     content tokens; two texts made only of stopwords pass this check).
// Thread-safe: pure function.
bool GuardsAllow(std::string_view a, std::string_view b, std::string* reason,
                 const GuardOptions& options = {});

// The numbers in `text`, normalised and sorted: "Three items at 2.50, 10%" -> {"10%", "2.5", "3"}.
std::vector<std::string> ExtractNumbers(std::string_view text);

// True when `text` contains a negation word.
bool HasNegation(std::string_view text);

// True for a common English function word ("the", "how", "what", "is" ...); `word` lower-case.
bool IsStopword(std::string_view word);

// Lower-cased word tokens of `text`: runs of ASCII letters, digits, apostrophes (’ becomes ') and
// non-ASCII bytes (so UTF-8 letters stay inside words). Also used by the frugal embedder.
std::vector<std::string> WordTokens(std::string_view text);

}  // namespace sobre::cache

#endif  // SOBRE_CACHE_GUARDS_H_
