// Linux powercap RAPL reader: finds the RAPL domains under /sys/class/powercap, decides which
// ones can be summed without counting any energy twice, and reads them as EnergyCounters.
#ifndef SOBRE_FOOTPRINT_RAPL_H_
#define SOBRE_FOOTPRINT_RAPL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/units.h"
#include "footprint/energy_counter.h"

namespace sobre::footprint {

// One RAPL domain seen during discovery, counted or not, and why. Plain data; thread-compatible.
struct RaplDomainInfo {
  // Directory name: "intel-rapl:0", "intel-rapl:0:2", "intel-rapl-mmio:0".
  std::string zone;
  // Contents of `name`: "package-0", "dram", "psys", "core", "uncore", "package-0-die-1"...
  std::string name;
  // Package index when known: N of "package-N", inherited by subzones; -1 otherwise.
  int socket = -1;
  // Under the intel-rapl-mmio tree.
  bool mmio = false;
  // Counted: it has one counter in RaplSetup::counters.
  bool selected = false;
  // Why selected or not: "selected", "nested in package-0 (counted there)",
  // "duplicate of intel-rapl:0 (same domain under intel-rapl-mmio)",
  // "psys contains package and dram: not added", "energy_uj unreadable: ...".
  std::string reason;
  // The zone directory as found under the powercap root.
  std::string path;
  // Where energy_uj wraps, in µJ; 0 when unknown.
  uint64_t max_energy_range_uj = 0;
};

// What DiscoverRapl found. Move-only because of the counters; thread-compatible.
struct RaplSetup {
  std::vector<std::unique_ptr<EnergyCounter>> counters;  // one per selected domain
  std::vector<RaplDomainInfo> domains;                   // every domain seen, selected or not
  std::string unavailable_reason;  // non-empty exactly when counters is empty
};

// Scans `powercap_root` (normally /sys/class/powercap; entries there are symlinks, which are
// followed) for intel-rapl and intel-rapl-mmio zones and returns one counter per domain to count:
// package (or package-X-die-Y) and dram per socket, psys only when no package is counted, never
// core/uncore, and a domain seen under both intel-rapl and intel-rapl-mmio once: the intel-rapl
// one, unless only the mmio one is readable. Counters are Component::kCpu (package, die),
// kDram (dram) or kPlatform (psys); device_index() is the socket, or -1 when the domain belongs to
// no single socket (psys). Counters keep energy_uj open and pread it on each Sample(). Never
// fails: problems are reported in the domains' reasons and in unavailable_reason.
RaplSetup DiscoverRapl(const std::string& powercap_root);

// Energy in µJ between two readings of a counter that wraps after `max_energy_range_uj`:
// current - previous, or (max - previous) + current when the reading went backwards. With an
// unknown range (0), or a previous reading above the range, a backwards reading is DataLoss.
StatusOr<uint64_t> RaplDeltaUj(uint64_t previous_uj, uint64_t current_uj,
                               uint64_t max_energy_range_uj);

// The shortest time any selected domain with a known range takes to wrap at `max_power`
// (max_energy_range_uj / max_power). The sampler keeps its period below it so that at most one
// wrap happens between samples. nullopt when no selected domain has a known range or
// max_power is not positive.
std::optional<Seconds> ShortestWrapPeriod(const RaplSetup& setup, Watts max_power);

}  // namespace sobre::footprint

#endif  // SOBRE_FOOTPRINT_RAPL_H_
