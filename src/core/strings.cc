#include "core/strings.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace sobre {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ToLower(a) == ToLower(b);
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

StatusOr<double> ParseDouble(std::string_view s) {
  std::string_view t = Trim(s);
  if (t.empty()) return InvalidArgumentError("expected a number, got an empty value");
  // std::from_chars for double is available in GCC 11+; it rejects leading '+', so skip one.
  std::string_view digits = t;
  if (digits.front() == '+') digits.remove_prefix(1);
  double value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || !std::isfinite(value)) {
    return InvalidArgumentError("expected a number, got '" + std::string(t) + "'");
  }
  return value;
}

StatusOr<int64_t> ParseInt64(std::string_view s) {
  std::string_view t = Trim(s);
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  if (t.empty() || ec != std::errc() || ptr != t.data() + t.size()) {
    return InvalidArgumentError("expected an integer, got '" + std::string(t) + "'");
  }
  return value;
}

StatusOr<uint64_t> ParseUint64(std::string_view s) {
  std::string_view t = Trim(s);
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  if (t.empty() || ec != std::errc() || ptr != t.data() + t.size()) {
    return InvalidArgumentError("expected a non-negative integer, got '" + std::string(t) + "'");
  }
  return value;
}

std::string NormalizeName(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  return out;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::vector<std::string> ClosestNames(std::string_view query,
                                      const std::vector<std::string>& candidates, size_t n) {
  std::string q = NormalizeName(query);
  std::vector<std::pair<long, const std::string*>> scored;
  scored.reserve(candidates.size());
  for (const std::string& c : candidates) {
    std::string nc = NormalizeName(c);
    // Edit distance, less a bonus for a shared prefix ("a100sxm9" is nearer "a100sxm480gb" than
    // "a10"), and a candidate that contains the whole query ranks first.
    size_t prefix = 0;
    while (prefix < q.size() && prefix < nc.size() && q[prefix] == nc[prefix]) ++prefix;
    long score = static_cast<long>(EditDistance(q, nc)) - 2 * static_cast<long>(prefix);
    if (!q.empty() && nc.find(q) != std::string::npos) {
      score -= 1000;
    }
    scored.emplace_back(score, &c);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (size_t i = 0; i < scored.size() && i < n; ++i) out.push_back(*scored[i].second);
  return out;
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

}  // namespace sobre
