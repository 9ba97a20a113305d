#include "cache/cache_status.h"

#include <fmt/core.h>

namespace sobre::cache {

std::string HeaderValue(const CacheStatus& status) {
  switch (status.outcome) {
    case CacheOutcome::kMiss: return "miss";
    case CacheOutcome::kExact: return "exact";
    case CacheOutcome::kSemantic: return fmt::format("semantic; similarity={:.2f}", status.similarity);
    case CacheOutcome::kBypass: return "bypass";
  }
  return "bypass";
}

}  // namespace sobre::cache
