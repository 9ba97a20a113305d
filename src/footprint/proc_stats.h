// Reading /proc: machine CPU time, the CPU time of a process tree, the CPU model and memory size.
// The root is overridable (SOBRE_PROC_ROOT) so tests can use a fake tree.
#ifndef SOBRE_FOOTPRINT_PROC_STATS_H_
#define SOBRE_FOOTPRINT_PROC_STATS_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "core/status.h"
#include "core/units.h"

namespace sobre::footprint {

// Machine-wide CPU time from the first line of /proc/stat, in clock ticks.
struct SystemCpuTimes {
  uint64_t busy_ticks = 0;   // user + nice + system + irq + softirq + steal.
  uint64_t total_ticks = 0;  // busy + idle + iowait.
  int logical_cpus = 0;      // Number of "cpuN" lines.
};

// What /proc says about the machine's CPUs and memory.
struct MachineInfo {
  std::string cpu_model;    // "model name" of the first processor; empty if absent.
  int logical_cpus = 0;     // processor entries.
  int sockets = 0;          // distinct "physical id" values (1 when the field is absent).
  double mem_total_gb = 0;  // MemTotal, in GB (10^9 bytes).
};

// Stateless readers of a /proc tree. Thread-safe.
class ProcReader {
 public:
  explicit ProcReader(std::string proc_root = "/proc") : root_(std::move(proc_root)) {}

  StatusOr<SystemCpuTimes> ReadSystemCpu() const;
  StatusOr<MachineInfo> ReadMachineInfo() const;
  const std::string& root() const { return root_; }

  // Clock ticks per second (sysconf(_SC_CLK_TCK)), used to turn ticks into seconds.
  static double TicksPerSecond();

 private:
  std::string root_;
};

// One /proc/<pid>/stat line, parsed.
struct ProcStat {
  pid_t pid = 0;
  pid_t ppid = 0;
  uint64_t utime_ticks = 0;
  uint64_t stime_ticks = 0;
  uint64_t start_ticks = 0;  // Start time since boot: tells a reused pid from the original.
};

// Parses the text of /proc/<pid>/stat (the command name may hold spaces and parentheses).
StatusOr<ProcStat> ParseProcStat(std::string_view text);

// Follows the CPU time of a process and all its descendants across samples. A process that exits
// keeps the time it had at its last sample; Update() rescans /proc. Not thread-safe: owned by the
// sampler thread.
class ProcessTreeTracker {
 public:
  ProcessTreeTracker(const ProcReader& reader, pid_t root_pid) : reader_(reader), root_(root_pid) {}

  // Rescans /proc for the tree's live members and records their CPU time.
  Status Update();
  // User + system CPU time of every member seen so far.
  Seconds cpu_time() const;
  // Number of distinct processes seen so far.
  size_t processes_seen() const { return last_ticks_.size(); }

 private:
  const ProcReader& reader_;
  pid_t root_;
  // (pid, start time) -> last utime + stime, in ticks.
  std::map<std::pair<pid_t, uint64_t>, uint64_t> last_ticks_;
};

}  // namespace sobre::footprint

#endif  // SOBRE_FOOTPRINT_PROC_STATS_H_
