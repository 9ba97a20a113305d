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
  // Least share of the content tokens of both texts (stopwords, filler words, numbers and
  // negation words removed; "'s" and a plural "s" stripped) that have a counterpart on the other
  // side (see max_unmatched_content) for a hit. In [0, 1]. Default 0.5.
  double min_content_overlap = 0.5;
  // Most content tokens, over both sides, that have no counterpart on the other side: the same
  // form, a likely typo of a word there (same first letter, one edit for words of 5+ letters, two
  // for 8+), the same stem (a shared prefix of 5+ letters covering 70% of the shorter word), or
  // two adjacent words written as one ("user name" / "username"). A substituted content word is
  // what separates "delete a branch" from "create a branch", "Paris" from "Lyon", "mg" from "g";
  // embeddings barely see it. Negative: no limit. Default 0.
  int max_unmatched_content = 0;
  // Reject when two words trade places around a third that stays between them ("convert km to
  // miles" / "convert miles to km", "is a dolphin bigger than a shark" / the reverse), while a
  // phrase that merely moves ("in Python, how do I..." / "how do I ... in Python") passes.
  // Default on.
  bool check_roles = true;
  // Reject when the question words "why", "where", "when", "who" differ while both texts are
  // questions ("why is the train late" / "when is the train late"). Default on.
  bool check_question_words = true;
};

// True when a cached answer for `a` may be served for `b`. Rejects (false, with a short reason
// such as "numbers differ: {3} vs {30}" in `*reason` when `reason` is not null) when:
//   - the multisets of numbers differ (digits, decimals, percentages, "zero".."twenty");
//   - a negation ("not", "no", "never", "without", any "n't" ...) appears on one side only;
//   - the content-token overlap is below `options.min_content_overlap` (when both sides have
//     content tokens; two texts made only of stopwords pass this check);
//   - more content tokens than `options.max_unmatched_content` lack a counterpart;
//   - with `options.check_roles`, two words swap roles; with `options.check_question_words`, the
//     questions ask why / where / when / who differently.
// Thread-safe: pure function.
bool GuardsAllow(std::string_view a, std::string_view b, std::string* reason,
                 const GuardOptions& options = {});

// The numbers in `text`, normalised and sorted: "Three items at 2.50, 10%" -> {"10%", "2.5", "3"}.
std::vector<std::string> ExtractNumbers(std::string_view text);

// True when `text` contains a negation word.
bool HasNegation(std::string_view text);

// True for a common English function word ("the", "how", "what", "is" ...); `word` lower-case.
bool IsStopword(std::string_view word);

// True for a word that frames a request without changing its answer: greetings and thanks ("hi",
// "thanks"), hedges ("wondering", "quick") and request verbs ("explain", "describe", "list").
// `word` lower-case.
bool IsFillerWord(std::string_view word);

// Lower-cased word tokens of `text`: runs of ASCII letters, digits, apostrophes (’ becomes ') and
// non-ASCII bytes (so UTF-8 letters stay inside words); a '#' or "++" right after a word's last
// letter stays in it ("C#", "C++" are not "C"). Also used by the frugal embedder.
std::vector<std::string> WordTokens(std::string_view text);

}  // namespace sobre::cache

#endif  // SOBRE_CACHE_GUARDS_H_
