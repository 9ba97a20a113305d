// Starting a child command and waiting for it while relaying signals: the part of
// `sobre measure` that behaves like `time` or `timeout`.
#ifndef SOBRE_CORE_SUBPROCESS_H_
#define SOBRE_CORE_SUBPROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/units.h"

namespace sobre {

// How a child ended.
struct ChildExit {
  int exit_code = 0;               // The code a shell would report: status, or 128 + signal.
  std::optional<int> signal;       // Set when the child was killed by a signal.
  Seconds cpu_time{0};             // User + system time of the child and the children it reaped.
};

// Runs argv[0] (searched in PATH) with the caller's environment, then waits for it. SIGINT and
// SIGTERM sent to this process by another process are forwarded to the child; those typed at the
// terminal already reach the child through its process group and are not sent twice. `on_tick`
// runs about every `tick` while waiting (progress displays). Blocks the calling thread; SIGINT,
// SIGTERM and SIGCHLD must be blocked in every other thread (see BlockRelayedSignals).
// Returns NotFound / PermissionDenied when the command cannot be started.
StatusOr<ChildExit> RunChild(const std::vector<std::string>& argv,
                             const std::function<void(pid_t)>& on_start,
                             const std::function<void()>& on_tick,
                             std::chrono::milliseconds tick);

// Blocks SIGINT, SIGTERM and SIGCHLD in the calling thread; call before starting other threads so
// that they inherit the mask and RunChild alone receives these signals.
void BlockRelayedSignals();

}  // namespace sobre

#endif  // SOBRE_CORE_SUBPROCESS_H_
