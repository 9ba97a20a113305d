// Why holding back the longest suffix that is a prefix of a stop string is enough: any later
// occurrence of a stop string that began in already emitted text would have made that text's tail
// a prefix of the stop string, so it would have been held. Hence every match lies in pending_.
#include "engine/runtime/stop_matcher.h"

#include <algorithm>
#include <utility>

namespace sobre::engine {

Status StopMatcher::Reset(std::vector<std::string> stops) {
  if (stops.size() > kMaxStopStrings) {
    return InvalidArgumentError("stop: at most 4 sequences are allowed, got " +
                                std::to_string(stops.size()));
  }
  for (size_t i = 0; i < stops.size(); ++i) {
    if (stops[i].empty()) {
      return InvalidArgumentError("stop[" + std::to_string(i) + "] is an empty string");
    }
  }
  stops_ = std::move(stops);
  pending_.clear();
  out_.clear();
  stopped_ = false;
  return OkStatus();
}

StopMatcher::Result StopMatcher::Push(std::string_view text) {
  out_.clear();
  if (stopped_) return Result{out_, true};
  // Only the part that may contain a new match needs searching: the held text plus the new text.
  pending_.append(text);
  size_t earliest = std::string::npos;
  for (const std::string& s : stops_) {
    const size_t pos = pending_.find(s);
    if (pos < earliest) earliest = pos;
  }
  if (earliest != std::string::npos) {
    out_.assign(pending_, 0, earliest);
    pending_.clear();
    stopped_ = true;
    return Result{out_, true};
  }
  size_t hold = 0;
  for (const std::string& s : stops_) {
    const size_t max_len = std::min(s.size() - 1, pending_.size());
    for (size_t len = max_len; len > hold; --len) {
      if (std::string_view(pending_).substr(pending_.size() - len) ==
          std::string_view(s).substr(0, len)) {
        hold = len;
        break;
      }
    }
  }
  out_.assign(pending_, 0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return Result{out_, false};
}

std::string_view StopMatcher::Flush() {
  out_.clear();
  if (!stopped_) out_.swap(pending_);
  pending_.clear();
  return out_;
}

}  // namespace sobre::engine
