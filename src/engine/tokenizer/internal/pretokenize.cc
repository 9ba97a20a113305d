// Scanners equivalent to the pre-tokenizer regular expressions (reference §4.3). Each one walks
// code points left to right and applies the alternatives of its pattern in order, resolving the
// greedy/backtracking cases (`\s+(?!\S)`, `\s*[\r\n]+`) by looking at the whitespace run's end.
#include "engine/tokenizer/internal/pretokenize.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "engine/tokenizer/internal/unicode.h"

namespace sobre::engine::tokenizer_internal {
namespace {

enum Kind : uint8_t { kLetter, kNumber, kSpace, kOther };

struct Text {
  std::vector<CodePoint> cps;
  std::vector<uint8_t> kind;
  std::vector<uint8_t> punct;  // \p{P} or one of $+<=>^`| (the default pre's first pass)

  uint32_t cpt(size_t i) const { return cps[i].cpt; }
};

Text Analyse(std::string_view s) {
  Text t;
  t.cps = DecodeUtf8(s);
  t.kind.resize(t.cps.size());
  t.punct.resize(t.cps.size());
  for (size_t i = 0; i < t.cps.size(); ++i) {
    const uint32_t c = t.cps[i].cpt;
    const CharClass k = Classify(c);
    t.kind[i] = k.letter ? kLetter : k.number ? kNumber : k.whitespace ? kSpace : kOther;
    t.punct[i] = k.punctuation || c == '$' || c == '+' || c == '<' || c == '=' || c == '>' ||
                 c == '^' || c == '`' || c == '|';
  }
  return t;
}

using Range = std::pair<size_t, size_t>;  // code point indices [first, second)

size_t RunOf(const Text& t, size_t i, size_t e, uint8_t kind) {
  while (i < e && t.kind[i] == kind) ++i;
  return i;
}

uint32_t Lower(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// Length of a contraction ('s 't 're 've 'm 'll 'd) at i, or 0.
size_t Contraction(const Text& t, size_t i, size_t e, bool ignore_case) {
  if (t.cpt(i) != '\'' || i + 1 >= e) return 0;
  auto at = [&](size_t k) { return ignore_case ? Lower(t.cpt(k)) : t.cpt(k); };
  const uint32_t c1 = at(i + 1);
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
  if (i + 2 < e) {
    const uint32_t c2 = at(i + 2);
    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
  }
  return 0;
}

// `\s+(?!\S)|\s+` at a whitespace code point i: the run, less its last code point when a
// non-space follows and the run is longer than one.
size_t WhitespaceEnd(const Text& t, size_t i, size_t e) {
  const size_t k = RunOf(t, i, e, kSpace);
  if (k == e || k - i == 1) return k;
  return k - 1;
}

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
void SplitGpt2(const Text& t, size_t b, size_t e, std::vector<Range>& out) {
  size_t i = b;
  while (i < e) {
    size_t end = i + 1;
    if (size_t n = Contraction(t, i, e, /*ignore_case=*/false)) {
      end = i + n;
    } else if (t.cpt(i) == ' ' && i + 1 < e && t.kind[i + 1] != kSpace) {
      end = RunOf(t, i + 1, e, t.kind[i + 1]);
    } else if (t.kind[i] != kSpace) {
      end = RunOf(t, i, e, t.kind[i]);
    } else {
      end = WhitespaceEnd(t, i, e);
    }
    out.emplace_back(i, end);
    i = end;
  }
}

bool IsCrLf(uint32_t c) { return c == '\r' || c == '\n'; }

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}|
//  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
void SplitLlama3(const Text& t, size_t b, size_t e, size_t max_digits, std::vector<Range>& out) {
  size_t i = b;
  while (i < e) {
    size_t end = i + 1;
    const uint8_t k = t.kind[i];
    if (size_t n = Contraction(t, i, e, /*ignore_case=*/true)) {
      end = i + n;
    } else if (k != kLetter && k != kNumber && !IsCrLf(t.cpt(i)) && i + 1 < e &&
               t.kind[i + 1] == kLetter) {
      end = RunOf(t, i + 1, e, kLetter);
    } else if (k == kLetter) {
      end = RunOf(t, i, e, kLetter);
    } else if (k == kNumber) {
      end = RunOf(t, i, std::min(e, i + max_digits), kNumber);  // bounded: no rescans
    } else if ((t.cpt(i) == ' ' && i + 1 < e && t.kind[i + 1] == kOther) || k == kOther) {
      end = RunOf(t, t.cpt(i) == ' ' ? i + 1 : i, e, kOther);
      while (end < e && IsCrLf(t.cpt(end))) ++end;
    } else {  // whitespace
      const size_t run_end = RunOf(t, i, e, kSpace);
      size_t last_crlf = run_end;
      for (size_t p = run_end; p > i; --p) {
        if (IsCrLf(t.cpt(p - 1))) {
          last_crlf = p - 1;
          break;
        }
      }
      end = last_crlf < run_end ? last_crlf + 1 : WhitespaceEnd(t, i, e);
    }
    out.emplace_back(i, end);
    i = end;
  }
}

// Splits [b, e) around the matches `match(i, e)` returns (the end of a match starting at i, or i
// when none starts there); the text between matches becomes pieces of its own.
template <typename Match>
void SplitAround(size_t b, size_t e, Match match, std::vector<Range>& out) {
  size_t gap = b, i = b;
  while (i < e) {
    const size_t m = match(i, e);
    if (m == i) {
      ++i;
      continue;
    }
    if (gap < i) out.emplace_back(gap, i);
    out.emplace_back(i, m);
    i = gap = m;
  }
  if (gap < e) out.emplace_back(gap, e);
}

std::vector<Range> Split(PreTokenizer kind, const Text& t) {
  const size_t n = t.cps.size();
  std::vector<Range> out;
  out.reserve(n / 3 + 1);
  switch (kind) {
    case PreTokenizer::kGpt2:
      SplitGpt2(t, 0, n, out);
      return out;
    case PreTokenizer::kLlama3:
      SplitLlama3(t, 0, n, 3, out);
      return out;
    case PreTokenizer::kQwen2:
      SplitLlama3(t, 0, n, 1, out);
      return out;
    case PreTokenizer::kSmollm: {
      std::vector<Range> digits;
      SplitAround(0, n, [&](size_t i, size_t) { return t.kind[i] == kNumber ? i + 1 : i; }, digits);
      for (const Range& r : digits) SplitGpt2(t, r.first, r.second, out);
      return out;
    }
    case PreTokenizer::kDefault: {
      std::vector<Range> a, c;
      SplitAround(0, n, [&](size_t i, size_t e) {
        while (i < e && t.punct[i]) ++i;
        return i;
      }, a);
      for (const Range& r : a) SplitGpt2(t, r.first, r.second, c);
      a.clear();
      for (const Range& r : c) {
        SplitAround(r.first, r.second, [&](size_t i, size_t e) { return RunOf(t, i, e, kNumber); }, a);
      }
      auto ascii_digit = [&](size_t i) { return t.cpt(i) >= '0' && t.cpt(i) <= '9'; };
      for (const Range& r : a) {
        SplitAround(r.first, r.second, [&](size_t i, size_t e) {
          return (i + 3 <= e && ascii_digit(i) && ascii_digit(i + 1) && ascii_digit(i + 2)) ? i + 3 : i;
        }, out);
      }
      return out;
    }
  }
  return out;
}

}  // namespace

std::optional<PreTokenizer> PreTokenizerFromName(std::string_view name) {
  if (name == "default") return PreTokenizer::kDefault;
  if (name == "gpt-2") return PreTokenizer::kGpt2;
  if (name == "llama-bpe" || name == "llama3" || name == "llama-v3" || name == "falcon3" ||
      name == "pixtral") {
    return PreTokenizer::kLlama3;
  }
  if (name == "qwen2" || name == "deepseek-r1-qwen" || name == "megrez") return PreTokenizer::kQwen2;
  if (name == "smollm" || name == "starcoder" || name == "refact" || name == "command-r" ||
      name == "codeshell" || name == "exaone") {
    return PreTokenizer::kSmollm;
  }
  return std::nullopt;
}

std::vector<std::string_view> PreTokenize(PreTokenizer kind, std::string_view text) {
  const Text t = Analyse(text);
  const std::vector<Range> ranges = Split(kind, t);
  std::vector<std::string_view> pieces;
  pieces.reserve(ranges.size());
  for (const Range& r : ranges) {
    if (r.first >= r.second) continue;
    const size_t begin = t.cps[r.first].offset;
    const size_t end = t.cps[r.second - 1].offset + t.cps[r.second - 1].bytes;
    pieces.push_back(text.substr(begin, end - begin));
  }
  return pieces;
}

}  // namespace sobre::engine::tokenizer_internal
