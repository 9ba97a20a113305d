// How a request was answered with respect to the caches, as the x-sobre-cache header and the
// ledger's cache_status column say it.
#ifndef SOBRE_CACHE_CACHE_STATUS_H_
#define SOBRE_CACHE_CACHE_STATUS_H_

#include <string>

namespace sobre::cache {

enum class CacheOutcome {
  kMiss,      // Looked up, not found: the model answered.
  kExact,     // Answered from the exact cache.
  kSemantic,  // Answered from the semantic cache.
  kBypass,    // Not looked up (not cacheable, or the client said no-cache).
};

struct CacheStatus {
  CacheOutcome outcome = CacheOutcome::kBypass;
  double similarity = 0;  // For kSemantic: cosine similarity of the match, in [0, 1].
};

// "exact", "semantic; similarity=0.97", "miss" or "bypass": the x-sobre-cache header value.
std::string HeaderValue(const CacheStatus& status);

}  // namespace sobre::cache

#endif  // SOBRE_CACHE_CACHE_STATUS_H_
