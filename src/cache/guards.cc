#include "cache/guards.h"

#include <algorithm>
#include <iterator>
#include <set>

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

// Common English function words; negations are deliberately absent.
constexpr std::string_view kStopwords[] = {
    "a",      "about",  "after",  "all",   "also",  "am",    "an",     "and",   "any",
    "are",    "as",     "at",     "be",    "been",  "before", "being", "both",  "but",
    "by",     "can",    "could",  "did",   "do",    "does",  "doing",  "each",  "for",
    "from",   "had",    "has",    "have",  "having", "he",   "her",    "here",  "hers",
    "him",    "his",    "how",    "i",     "if",    "in",    "into",   "is",    "it",
    "its",    "just",   "me",     "might", "more",  "most",  "must",   "my",    "of",
    "on",     "or",     "our",    "ours",  "please", "shall", "she",   "should", "so",
    "some",   "such",   "than",   "that",  "the",   "their", "them",   "then",  "there",
    "these",  "they",   "this",   "those", "to",    "us",    "very",   "was",   "we",
    "were",   "what",   "when",   "where", "which", "while", "who",    "whom",  "why",
    "will",   "with",   "would",  "you",   "your",  "yours", "tell",   "give"};

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

std::string ContentForm(std::string token) {
  if (token.size() > 2 && token.compare(token.size() - 2, 2, "'s") == 0) {
    token.resize(token.size() - 2);
  }
  token = WithoutApostrophes(token);
  if (token.size() > 3 && token.back() == 's' && token[token.size() - 2] != 's') token.pop_back();
  return token;
}

std::set<std::string> ContentTokens(std::string_view text) {
  std::set<std::string> out;
  for (std::string& token : WordTokens(text)) {
    if (IsDigit(token[0]) || IsStopword(token) || IsNegationToken(token)) continue;
    if (std::find(std::begin(kNumberWords), std::end(kNumberWords), token) !=
        std::end(kNumberWords)) {
      continue;
    }
    std::string form = ContentForm(std::move(token));
    if (!form.empty() && !IsStopword(form)) out.insert(std::move(form));
  }
  return out;
}

}  // namespace

bool IsStopword(std::string_view word) {
  return std::find(std::begin(kStopwords), std::end(kStopwords), word) != std::end(kStopwords);
}

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
  bool negated_a = HasNegation(a);
  bool negated_b = HasNegation(b);
  if (negated_a != negated_b) {
    return reject(fmt::format("negation on one side only ({})", negated_a ? "first" : "second"));
  }
  std::set<std::string> content_a = ContentTokens(a);
  std::set<std::string> content_b = ContentTokens(b);
  if (!content_a.empty() || !content_b.empty()) {
    size_t common = 0;
    for (const std::string& t : content_a) common += content_b.count(t);
    double overlap = static_cast<double>(common) /
                     static_cast<double>(content_a.size() + content_b.size() - common);
    if (overlap < options.min_content_overlap) {
      return reject(fmt::format("content overlap {:.2f} < {:.2f}", overlap,
                                options.min_content_overlap));
    }
  }
  if (reason != nullptr) reason->clear();
  return true;
}

}  // namespace sobre::cache
