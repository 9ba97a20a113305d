// Small string helpers: trimming, splitting, strict number parsing, fuzzy matching of names.
#ifndef SOBRE_CORE_STRINGS_H_
#define SOBRE_CORE_STRINGS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sobre {

std::string_view Trim(std::string_view s);
std::vector<std::string_view> Split(std::string_view s, char sep);
std::string ToLower(std::string_view s);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
bool StartsWith(std::string_view s, std::string_view prefix);

// Parses the whole of `s` (after trimming) as a finite double; "12abc", "", "nan" are errors.
StatusOr<double> ParseDouble(std::string_view s);
// Parses the whole of `s` as a base-10 integer.
StatusOr<int64_t> ParseInt64(std::string_view s);
StatusOr<uint64_t> ParseUint64(std::string_view s);

// Lower-cases and keeps only letters and digits: "A100-SXM4 80GB" -> "a100sxm480gb".
std::string NormalizeName(std::string_view s);

// Levenshtein distance, for "did you mean" lists.
size_t EditDistance(std::string_view a, std::string_view b);

// The up-to-`n` candidates closest to `query` (normalised names; substring matches first).
std::vector<std::string> ClosestNames(std::string_view query,
                                      const std::vector<std::string>& candidates, size_t n);

// Joins with `sep`.
std::string Join(const std::vector<std::string>& parts, std::string_view sep);

}  // namespace sobre

#endif  // SOBRE_CORE_STRINGS_H_
