// Stop strings matched on generated text across token boundaries: text that could still grow into
// a stop string is held back, and neither the stop string nor anything after it is ever emitted.
#ifndef SOBRE_ENGINE_RUNTIME_STOP_MATCHER_H_
#define SOBRE_ENGINE_RUNTIME_STOP_MATCHER_H_

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sobre::engine {

// OpenAI accepts up to 4 stop sequences.
inline constexpr size_t kMaxStopStrings = 4;

// Thread contract: thread-compatible (one owner per request).
class StopMatcher {
 public:
  // Starts a request with `stops` (at most kMaxStopStrings non-empty strings). InvalidArgument
  // naming the entry otherwise.
  Status Reset(std::vector<std::string> stops);

  // Result of Push(): text that is now safe to emit, and whether a stop string was reached.
  // `emit` stays valid until the next call on this matcher.
  struct Result {
    std::string_view emit;
    bool stopped = false;
  };

  // Appends `text` (complete UTF-8) to the generated text. Returns what can be emitted now: all of
  // it except a suffix that is a proper prefix of some stop string; on a match, the text before
  // the earliest stop string and stopped = true (the matcher then ignores further input).
  Result Push(std::string_view text);

  // End of generation without a stop: returns the held-back text (valid until the next call).
  std::string_view Flush();

  // Bytes currently held back.
  size_t held() const { return pending_.size(); }
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  std::string out_;
  bool stopped_ = false;
};

}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_RUNTIME_STOP_MATCHER_H_
