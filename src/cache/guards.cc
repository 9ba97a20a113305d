#include "cache/guards.h"

#include <algorithm>
#include <cctype>
#include <iterator>
#include <map>
#include <set>
#include <unordered_set>

#include <fmt/core.h>
#include <fmt/ranges.h>

namespace sobre::cache {
namespace {

constexpr std::string_view kNumberWords[] = {
    "zero",    "one",     "two",       "three",    "four",     "five",    "six",
    "seven",   "eight",   "nine",      "ten",      "eleven",   "twelve",  "thirteen",
    "fourteen", "fifteen", "sixteen",  "seventeen", "eighteen", "nineteen", "twenty"};

// Compared after apostrophes are removed ("don't" -> "dont").
constexpr std::string_view kNegations[] = {
    "aint", "cannot", "neither", "never", "no", "nobody", "none", "noone", "nor",
    "not", "nothing", "nowhere", "without", "dont", "doesnt", "isnt", "cant"};

// Common English function words; negations are deliberately absent, and so are function words
// whose opposite changes the answer ("before" / "after", "more" / "most" / "less").
constexpr std::string_view kStopwords[] = {
    "a",      "about",  "all",    "also",  "am",    "an",     "and",    "any",
    "are",    "as",     "at",     "be",    "been",  "being",  "both",   "but",
    "by",     "can",    "could",  "did",   "do",    "does",  "doing",  "each",  "for",
    "from",   "had",    "has",    "have",  "having", "he",   "her",    "here",  "hers",
    "him",    "his",    "how",    "i",     "if",    "in",    "into",   "is",    "it",
    "its",    "just",   "me",     "might", "must",  "my",    "of",
    "on",     "or",     "our",    "ours",  "please", "shall", "she",   "should", "so",
    "some",   "such",   "than",   "that",  "the",   "their", "them",   "then",  "there",
    "these",  "they",   "this",   "those", "to",    "us",    "very",   "was",   "we",
    "were",   "what",   "when",   "where", "which", "while", "who",    "whom",  "why",
    "will",   "with",   "would",  "you",   "your",  "yours", "tell",   "give"};

// Words that frame a request without changing its answer. Negations and question words are
// deliberately absent.
constexpr std::string_view kFillers[] = {
    // Greetings, thanks, hedges.
    "hi", "hello", "hey", "thanks", "thank", "thx", "cheers", "kindly", "pls", "plz",
    "wondering", "wonder", "quick", "question", "help", "need", "want", "know", "like", "much",
    "lot", "many", "advance", "appreciate", "appreciated", "sorry", "anyone", "someone", "brief",
    "briefly", "simply", "actually", "really", "exactly",
    // Request verbs.
    "explain", "describe", "list", "summarise", "summarize", "outline", "show", "define",
    "suggest", "recommend", "demonstrate",
    // Written-out percent signs: ExtractNumbers already compares them.
    "percent", "pct"};

// Question words that change what is asked; "what", "how", "which" only frame a question.
constexpr std::string_view kSpecificQuestionWords[] = {"why", "where", "when", "who"};
constexpr std::string_view kFramingQuestionWords[] = {"what", "how", "which", "whom", "whose"};

template <size_t N>
bool Contains(const std::string_view (&list)[N], std::string_view word) {
  return std::find(std::begin(list), std::end(list), word) != std::end(list);
}

bool IsAsciiAlnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Strips apostrophes: "don't" -> "dont", so both spellings compare equal.
std::string WithoutApostrophes(std::string_view word) {
  std::string out;
  for (char c : word) {
    if (c != '\'') out.push_back(c);
  }
  return out;
}

bool IsNegationToken(std::string_view token) {
  if (token.size() >= 3 && token.substr(token.size() - 3) == "n't") return true;
  std::string bare = WithoutApostrophes(token);
  return std::find(std::begin(kNegations), std::end(kNegations), bare) != std::end(kNegations);
}

// "2.50" -> "2.5", "007" -> "7", "1,000" -> "1000".
std::string NormaliseNumber(std::string digits) {
  digits.erase(std::remove(digits.begin(), digits.end(), ','), digits.end());
  size_t dot = digits.find('.');
  if (dot != std::string::npos) {
    while (!digits.empty() && digits.back() == '0') digits.pop_back();
    if (!digits.empty() && digits.back() == '.') digits.pop_back();
  }
  size_t first = 0;
  while (first + 1 < digits.size() && digits[first] == '0' && digits[first + 1] != '.') ++first;
  return digits.substr(first);
}

// A word as compared across texts: contractions and "'s" cut ("they're" -> "they",
// "France's" -> "france"), apostrophes dropped, a plural "s" stripped.
std::string ContentForm(std::string token) {
  for (std::string_view suffix : {"'s", "'m", "'re", "'ve", "'ll", "'d"}) {
    if (token.size() > suffix.size() && token.ends_with(suffix)) {
      token.resize(token.size() - suffix.size());
      break;
    }
  }
  token = WithoutApostrophes(token);
  char before_s = token.size() > 3 ? token[token.size() - 2] : 's';
  if (token.size() > 3 && token.back() == 's' && before_s != 's' && before_s != 'u' &&
      before_s != 'i') {
    token.pop_back();  // A plural; not "class", "celsius", "paris".
  }
  return token;
}

// "12", "2.5", "1,000": compared by ExtractNumbers, not as words. "3rd", "0x80070005" are words.
bool IsPureNumber(std::string_view token) {
  return std::all_of(token.begin(), token.end(),
                     [](char c) { return IsDigit(c) || c == '.' || c == ','; });
}

// Words that carry the request's meaning: not stopwords, fillers, negations or numbers.
bool IsContentToken(std::string_view token) {
  return !IsPureNumber(token) && !IsStopword(token) && !IsFillerWord(token) &&
         !IsNegationToken(token) && !Contains(kNumberWords, token);
}

std::set<std::string> ContentTokens(const std::vector<std::string>& tokens) {
  std::set<std::string> out;
  for (const std::string& token : tokens) {
    if (!IsContentToken(token)) continue;
    std::string form = ContentForm(token);
    if (!form.empty() && !IsStopword(form) && !IsFillerWord(form)) out.insert(std::move(form));
  }
  return out;
}

// Optimal string alignment distance (Levenshtein plus adjacent transpositions), in bytes.
size_t OsaDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> before(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        cur[j] = std::min(cur[j], before[j - 2] + 1);
      }
    }
    std::swap(before, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// True when `x` and `y` likely name the same thing: equal, a typo of one another, or one stem.
// The first letter must agree, so prefixes that reverse a meaning ("un", "de", "dis", "im")
// never pass as typos; words with digits must be equal.
bool AreCounterparts(std::string_view x, std::string_view y) {
  if (x == y) return true;
  if (x.empty() || y.empty() || x[0] != y[0]) return false;
  // Codes and versions ("0x80070005", "3rd", "b12") must match exactly.
  auto has_digit = [](std::string_view w) { return std::any_of(w.begin(), w.end(), IsDigit); };
  if (has_digit(x) || has_digit(y)) return false;
  size_t shorter = std::min(x.size(), y.size());
  if (shorter < 5) return false;
  size_t prefix = 0;
  while (prefix < shorter && x[prefix] == y[prefix]) ++prefix;
  if (prefix >= 6 && prefix * 4 >= shorter * 3) return true;  // "reverse" / "reversing".
  size_t distance = OsaDistance(x, y);
  return distance <= 1 || (shorter >= 8 && distance <= 2);
}

// The content tokens of `mine` with no counterpart among `theirs` (every word of the other
// text, normalised). A token written as two adjacent words there ("username" / "user name")
// has one; those two words are then added to `*covered`.
std::vector<std::string> Unmatched(const std::set<std::string>& mine,
                                   const std::vector<std::string>& theirs,
                                   const std::set<std::string>& covered_here,
                                   std::set<std::string>* covered_there) {
  // Long texts: exact matches by hash; only the rest is compared letter by letter, and past
  // kMaxFuzzy of those the text is too different for a typo to matter.
  constexpr size_t kMaxFuzzy = 64;
  std::unordered_set<std::string_view> exact(theirs.begin(), theirs.end());
  std::vector<std::string> out;
  size_t fuzzy_tried = 0;
  for (const std::string& x : mine) {
    if (covered_here.count(x) > 0 || exact.count(x) > 0) continue;
    if (++fuzzy_tried > kMaxFuzzy) {
      out.push_back(x);
      continue;
    }
    bool found = false;
    for (std::string_view y : exact) {
      size_t longer = std::max(x.size(), y.size()), shorter = std::min(x.size(), y.size());
      if (!y.empty() && y[0] == x[0] && longer - shorter <= longer / 3 + 2 && AreCounterparts(x, y)) {
        found = true;
        break;
      }
    }
    for (size_t k = 0; !found && k + 1 < theirs.size(); ++k) {
      if (theirs[k].size() + theirs[k + 1].size() == x.size() && x.starts_with(theirs[k]) &&
          x.ends_with(theirs[k + 1])) {
        found = true;
        covered_there->insert(theirs[k]);
        covered_there->insert(theirs[k + 1]);
      }
    }
    if (!found) out.push_back(x);
  }
  return out;
}

// Finds words x, z, y that appear once in each text, in the order x z y in `a` and y z x in
// `b`, with x and y content words (numbers included): a swap of roles around z. A phrase that
// moves as a block never makes such a triple. Returns "x ... z ... y" or an empty string.
std::string SwappedRoles(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::map<std::string, int> count_a, count_b;
  for (const std::string& t : a) ++count_a[t];
  for (const std::string& t : b) ++count_b[t];
  std::map<std::string, size_t> position_b;
  for (size_t k = 0; k < b.size(); ++k) position_b[b[k]] = k;
  // Words in both texts once each, in a's order, with their positions in b.
  std::vector<std::pair<const std::string*, size_t>> shared;
  for (const std::string& t : a) {
    if (count_a[t] == 1 && count_b.count(t) > 0 && count_b[t] == 1) {
      shared.emplace_back(&t, position_b[t]);
    }
  }
  // Request verbs count: "list to tuple" / "tuple to list" is a swap.
  auto is_role = [](const std::string& t) { return !IsStopword(t) && !IsNegationToken(t); };
  // For each middle word: the latest-in-b role word before it (in a's order) and the
  // earliest-in-b role word after it.
  size_t n = shared.size();
  std::vector<long> max_before(n, -1), min_after(n, static_cast<long>(b.size()));
  std::vector<size_t> argmax(n, 0), argmin(n, 0);
  for (size_t k = 1; k < n; ++k) {
    max_before[k] = max_before[k - 1];
    argmax[k] = argmax[k - 1];
    if (is_role(*shared[k - 1].first) && static_cast<long>(shared[k - 1].second) > max_before[k]) {
      max_before[k] = static_cast<long>(shared[k - 1].second);
      argmax[k] = k - 1;
    }
  }
  for (size_t k = n; k-- > 1;) {
    min_after[k - 1] = min_after[k];
    argmin[k - 1] = argmin[k];
    if (is_role(*shared[k].first) && static_cast<long>(shared[k].second) < min_after[k - 1]) {
      min_after[k - 1] = static_cast<long>(shared[k].second);
      argmin[k - 1] = k;
    }
  }
  for (size_t k = 0; k < n; ++k) {
    long middle = static_cast<long>(shared[k].second);
    if (max_before[k] > middle && middle > min_after[k]) {
      return fmt::format("{} ... {} ... {}", *shared[argmax[k]].first, *shared[k].first,
                         *shared[argmin[k]].first);
    }
  }
  return "";
}

// The "why" / "where" / "when" / "who" of a text, and whether it has any question word.
std::set<std::string> SpecificQuestionWords(const std::vector<std::string>& forms,
                                            bool* any_question_word) {
  std::set<std::string> out;
  for (const std::string& t : forms) {
    if (Contains(kSpecificQuestionWords, t)) out.insert(t);
    if (Contains(kSpecificQuestionWords, t) || Contains(kFramingQuestionWords, t)) {
      *any_question_word = true;
    }
  }
  return out;
}

// Each token in the form compared across texts: content words without "'s" and plural "s";
// function words, fillers and negations as they are (so "this" does not become "thi").
std::vector<std::string> NormalisedForms(const std::vector<std::string>& tokens) {
  std::vector<std::string> out;
  out.reserve(tokens.size());
  for (const std::string& t : tokens) {
    bool keep = IsStopword(t) || IsFillerWord(t) || IsNegationToken(t) || IsPureNumber(t);
    out.push_back(keep ? t : ContentForm(t));
  }
  return out;
}

}  // namespace

bool IsStopword(std::string_view word) { return Contains(kStopwords, word); }

bool IsFillerWord(std::string_view word) { return Contains(kFillers, word); }

std::vector<std::string> WordTokens(std::string_view text) {
  std::vector<std::string> tokens;
  std::string current;
  auto flush = [&] {
    // Apostrophes used as quotes ('word') are not part of the word.
    while (!current.empty() && current.back() == '\'') current.pop_back();
    size_t lead = 0;
    while (lead < current.size() && current[lead] == '\'') ++lead;
    if (lead < current.size()) tokens.push_back(current.substr(lead));
    current.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == 0xE2 && i + 2 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0x80 &&
        static_cast<unsigned char>(text[i + 2]) == 0x99) {  // U+2019 right single quote.
      current.push_back('\'');
      i += 2;
    } else if (IsAsciiAlnum(c)) {
      current.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
    } else if (c == '\'' || c >= 0x80) {
      current.push_back(static_cast<char>(c));
    } else if (c == '#' && !current.empty() && std::isalpha(static_cast<unsigned char>(current.back()))) {
      current.push_back('#');  // C#, F#.
    } else if (c == '+' && i + 1 < text.size() && text[i + 1] == '+' && !current.empty() &&
               std::isalpha(static_cast<unsigned char>(current.back()))) {
      current += "++";  // C++.
      ++i;
    } else if ((c == '.' || c == ',') && !current.empty() && IsDigit(current.back()) &&
               i + 1 < text.size() && IsDigit(text[i + 1])) {
      current.push_back(static_cast<char>(c));  // 2.5, 1,000 stay one token.
    } else {
      flush();
    }
  }
  flush();
  return tokens;
}

std::vector<std::string> ExtractNumbers(std::string_view text) {
  std::vector<std::string> numbers;
  std::vector<std::string> tokens = WordTokens(text);
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& token = tokens[i];
    std::string number;
    size_t end = 0;
    if (IsDigit(token[0])) {
      while (end < token.size() && (IsDigit(token[end]) || token[end] == '.' || token[end] == ',')) {
        ++end;
      }
      number = NormaliseNumber(token.substr(0, end));
    } else {
      auto it = std::find(std::begin(kNumberWords), std::end(kNumberWords), token);
      if (it == std::end(kNumberWords)) continue;
      number = std::to_string(it - std::begin(kNumberWords));
      end = token.size();
    }
    // "10 percent"; "10%" is found below in the raw text (the tokenizer drops '%').
    bool percent = i + 1 < tokens.size() && (tokens[i + 1] == "percent" || tokens[i + 1] == "pct");
    numbers.push_back(std::move(number) + (percent ? "%" : ""));
  }
  // Mark "N%" written with the sign: scan the raw text for digit runs followed by '%'.
  size_t k = 0;
  std::vector<std::string> signed_percent;
  while (k < text.size()) {
    if (!IsDigit(text[k])) {
      ++k;
      continue;
    }
    size_t start = k;
    while (k < text.size() && (IsDigit(text[k]) || ((text[k] == '.' || text[k] == ',') &&
                                                    k + 1 < text.size() && IsDigit(text[k + 1])))) {
      ++k;
    }
    size_t j = k;
    while (j < text.size() && text[j] == ' ') ++j;
    if (j < text.size() && text[j] == '%') {
      signed_percent.push_back(NormaliseNumber(std::string(text.substr(start, k - start))));
    }
  }
  for (const std::string& p : signed_percent) {
    auto it = std::find(numbers.begin(), numbers.end(), p);
    if (it != numbers.end()) *it += "%";
  }
  std::sort(numbers.begin(), numbers.end());
  return numbers;
}

bool HasNegation(std::string_view text) {
  for (const std::string& token : WordTokens(text)) {
    if (IsNegationToken(token)) return true;
  }
  return false;
}

bool GuardsAllow(std::string_view a, std::string_view b, std::string* reason,
                 const GuardOptions& options) {
  auto reject = [reason](std::string why) {
    if (reason != nullptr) *reason = std::move(why);
    return false;
  };
  std::vector<std::string> numbers_a = ExtractNumbers(a);
  std::vector<std::string> numbers_b = ExtractNumbers(b);
  if (numbers_a != numbers_b) {
    return reject(fmt::format("numbers differ: {{{}}} vs {{{}}}", fmt::join(numbers_a, ", "),
                              fmt::join(numbers_b, ", ")));
  }
  std::vector<std::string> tokens_a = WordTokens(a);
  std::vector<std::string> tokens_b = WordTokens(b);
  auto negated = [](const std::vector<std::string>& tokens) {
    return std::any_of(tokens.begin(), tokens.end(), IsNegationToken);
  };
  bool negated_a = negated(tokens_a);
  bool negated_b = negated(tokens_b);
  if (negated_a != negated_b) {
    return reject(fmt::format("negation on one side only ({})", negated_a ? "first" : "second"));
  }
  std::vector<std::string> forms_a = NormalisedForms(tokens_a);
  std::vector<std::string> forms_b = NormalisedForms(tokens_b);
  if (options.check_question_words) {
    bool question_a = false, question_b = false;
    std::set<std::string> asks_a = SpecificQuestionWords(forms_a, &question_a);
    std::set<std::string> asks_b = SpecificQuestionWords(forms_b, &question_b);
    if (question_a && question_b && asks_a != asks_b) {
      return reject(fmt::format("question words differ: {{{}}} vs {{{}}}", fmt::join(asks_a, ", "),
                                fmt::join(asks_b, ", ")));
    }
  }
  std::set<std::string> content_a = ContentTokens(tokens_a);
  std::set<std::string> content_b = ContentTokens(tokens_b);
  std::set<std::string> covered_a, covered_b;
  std::vector<std::string> unmatched_a = Unmatched(content_a, forms_b, covered_a, &covered_b);
  std::vector<std::string> unmatched_b = Unmatched(content_b, forms_a, covered_b, &covered_a);
  size_t total = content_a.size() + content_b.size();
  if (total == 0) {
    // Nothing but function words and fillers on both sides ("hi" / "thanks"): only the same
    // words say the same thing.
    std::set<std::string> words_a(forms_a.begin(), forms_a.end());
    std::set<std::string> words_b(forms_b.begin(), forms_b.end());
    if (words_a != words_b) return reject("no content words, and the words differ");
  }
  size_t unmatched = unmatched_a.size() + unmatched_b.size();
  if (total > 0) {
    double overlap = static_cast<double>(total - unmatched) / static_cast<double>(total);
    if (overlap < options.min_content_overlap) {
      return reject(fmt::format("content overlap {:.2f} < {:.2f}", overlap,
                                options.min_content_overlap));
    }
  }
  if (options.max_unmatched_content >= 0 &&
      unmatched > static_cast<size_t>(options.max_unmatched_content)) {
    return reject(fmt::format("content differs: {{{}}} vs {{{}}}", fmt::join(unmatched_a, ", "),
                              fmt::join(unmatched_b, ", ")));
  }
  if (options.check_roles) {
    std::string swapped = SwappedRoles(forms_a, forms_b);
    if (!swapped.empty()) return reject("roles swapped around: " + swapped);
  }
  if (reason != nullptr) reason->clear();
  return true;
}

}  // namespace sobre::cache
