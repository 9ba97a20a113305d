// Discovery of RAPL domains under powercap and the counter that reads one domain's energy_uj.
#include "footprint/rapl.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <map>
#include <string_view>
#include <utility>

#include "core/file.h"
#include "core/strings.h"

namespace sobre::footprint {
namespace {

constexpr std::string_view kMsrType = "intel-rapl";
constexpr std::string_view kMmioType = "intel-rapl-mmio";
constexpr double kJoulesPerMicrojoule = 1e-6;

// The parts of a zone directory name: "intel-rapl-mmio:0" -> {mmio, [0]},
// "intel-rapl:0:2" -> {msr, [0, 2]}.
struct ZoneName {
  bool mmio = false;
  std::vector<uint64_t> indices;
};

std::optional<ZoneName> ParseZoneName(std::string_view entry) {
  ZoneName parsed;
  std::string_view rest;
  // Test the longer prefix first: "intel-rapl-mmio:" also starts with "intel-rapl".
  if (StartsWith(entry, std::string(kMmioType) + ":")) {
    parsed.mmio = true;
    rest = entry.substr(kMmioType.size() + 1);
  } else if (StartsWith(entry, std::string(kMsrType) + ":")) {
    rest = entry.substr(kMsrType.size() + 1);
  } else {
    return std::nullopt;
  }
  for (std::string_view part : Split(rest, ':')) {
    if (part.empty() ||
        !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    StatusOr<uint64_t> index = ParseUint64(part);
    if (!index.ok()) return std::nullopt;
    parsed.indices.push_back(*index);
  }
  return parsed;
}

struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};
using UniqueDir = std::unique_ptr<DIR, DirCloser>;

// Entry names of `dir` without "." and ".."; empty when it cannot be listed.
std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  UniqueDir handle(::opendir(dir.c_str()));
  if (handle == nullptr) return names;
  while (const dirent* entry = ::readdir(handle.get())) {
    std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  return names;
}

// stat(), not lstat(): the entries of /sys/class/powercap are symlinks to the device directories.
bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Collects zone directories below `dir` into `found` (zone name -> path; the first path seen
// wins). Handles both the flat /sys/class/powercap layout (every zone a symlink at the top) and
// the nested device layout (subzones inside their parent), which a copied tree may have. Only
// subzones of `parent_zone` are followed below a zone, so symlink cycles cannot recurse.
void CollectZones(const std::string& dir, std::string_view parent_zone, bool at_root,
                  std::map<std::string, std::string>* found) {
  for (const std::string& entry : ListDir(dir)) {
    const std::string path = dir + "/" + entry;
    if (at_root && (entry == kMsrType || entry == kMmioType)) {
      // A control-type directory: no energy_uj of its own, but its zones may sit inside it.
      if (IsDirectory(path)) CollectZones(path, "", /*at_root=*/false, found);
      continue;
    }
    if (!ParseZoneName(entry).has_value()) continue;
    if (!parent_zone.empty() && !StartsWith(entry, std::string(parent_zone) + ":")) continue;
    if (!IsDirectory(path)) continue;
    found->emplace(entry, path);
    CollectZones(path, entry, /*at_root=*/false, found);
  }
}

enum class Kind { kPackage, kDram, kPsys, kNested, kUnknown };

bool IsCountableKind(Kind kind) {
  return kind == Kind::kPackage || kind == Kind::kDram || kind == Kind::kPsys;
}

// Socket index of "package-N" or "package-N-die-M"; nullopt for any other name.
std::optional<int> PackageSocket(std::string_view name) {
  constexpr std::string_view kPrefix = "package-";
  constexpr std::string_view kDie = "-die-";
  if (!StartsWith(name, kPrefix)) return std::nullopt;
  std::string_view rest = name.substr(kPrefix.size());
  size_t die = rest.find(kDie);
  std::string_view socket = rest.substr(0, die);
  if (die != std::string_view::npos) {
    std::string_view die_index = rest.substr(die + kDie.size());
    if (die_index.empty() || !ParseUint64(die_index).ok()) return std::nullopt;
  }
  if (socket.empty() ||
      !std::all_of(socket.begin(), socket.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  StatusOr<uint64_t> index = ParseUint64(socket);
  if (!index.ok() || *index > 1u << 20) return std::nullopt;
  return static_cast<int>(*index);
}

// Reads and parses energy_uj through an fd kept open by the caller.
StatusOr<uint64_t> ReadEnergyUj(int fd, const std::string& path) {
  SOBRE_ASSIGN_OR_RETURN(std::string text, PreadSmall(fd, path));
  StatusOr<uint64_t> value = ParseUint64(text);
  if (!value.ok()) return value.status().WithContext("parsing " + path);
  return value;
}

// One zone while discovery decides about it.
struct Zone {
  RaplDomainInfo info;
  std::vector<uint64_t> indices;
  std::string parent;  // zone name of the parent, "" for a top-level zone
  Kind kind = Kind::kUnknown;
  // Identifies the domain across the intel-rapl and intel-rapl-mmio trees: the chain of names
  // from the top-level zone, "package-0" or "package-0/dram".
  std::string key;
  bool has_name = false;
  Status read_status;  // of the probe read of energy_uj; only countable zones are probed
  UniqueFd energy_fd;  // open energy_uj when read_status is ok
  bool excluded = false;  // decided against; info.reason says why
};

std::string UnreadableReason(const Status& status) {
  std::string reason = "energy_uj unreadable: " + status.message();
  if (status.code() == StatusCode::kPermissionDenied) {
    reason += " (root-only since CVE-2020-8694)";
  }
  return reason;
}

// Reads one RAPL domain's energy_uj, handling the counter's wrap-around.
// Not thread-safe: one sampler thread owns each counter.
class RaplCounter final : public EnergyCounter {
 public:
  RaplCounter(UniqueFd energy_fd, std::string energy_path, std::string label,
              Component component, int socket, uint64_t max_energy_range_uj)
      : energy_fd_(std::move(energy_fd)),
        energy_path_(std::move(energy_path)),
        label_(std::move(label)),
        component_(component),
        socket_(socket),
        max_energy_range_uj_(max_energy_range_uj) {}

  std::string label() const override { return label_; }
  Component component() const override { return component_; }
  std::string method() const override { return "RAPL energy_uj counter (powercap)"; }
  int device_index() const override { return socket_; }

  StatusOr<Joules> Sample(std::chrono::steady_clock::time_point /*now*/) override {
    StatusOr<uint64_t> current_uj = ReadEnergyUj(energy_fd_.get(), energy_path_);
    if (!current_uj.ok()) return current_uj.status().WithContext(label_);
    if (!last_uj_.has_value()) {
      last_uj_ = *current_uj;
      return Joules(0);
    }
    StatusOr<uint64_t> delta_uj = RaplDeltaUj(*last_uj_, *current_uj, max_energy_range_uj_);
    // The reading is good even when the delta cannot be known (a backwards step with no range):
    // measuring from it loses this one interval, whereas keeping the old baseline would fail
    // every sample until the counter climbed back past it.
    last_uj_ = *current_uj;
    if (!delta_uj.ok()) return delta_uj.status().WithContext(label_);
    return Joules(static_cast<double>(*delta_uj) * kJoulesPerMicrojoule);
  }

 private:
  UniqueFd energy_fd_;
  std::string energy_path_;
  std::string label_;
  Component component_;
  int socket_;
  uint64_t max_energy_range_uj_;
  std::optional<uint64_t> last_uj_;
};

std::string CounterLabel(const RaplDomainInfo& info) {
  std::string label = "RAPL " + info.name;
  if (info.socket >= 0) label += " (socket " + std::to_string(info.socket) + ")";
  return label;
}

Component ComponentOf(Kind kind) {
  switch (kind) {
    case Kind::kDram: return Component::kDram;
    case Kind::kPsys: return Component::kPlatform;
    default: return Component::kCpu;
  }
}

// Reads name and max_energy_range_uj, classifies the zone and finds its socket. `by_zone` holds
// the zones already loaded; parents sort before their subzones, so a parent is always there.
void LoadZone(const std::map<std::string, size_t>& by_zone, const std::vector<Zone>& loaded,
              Zone* zone) {
  RaplDomainInfo& info = zone->info;
  StatusOr<std::string> name = ReadFile(info.path + "/name", 4096);
  if (name.ok()) {
    info.name = std::string(Trim(*name));
    zone->has_name = !info.name.empty();
  }
  if (StatusOr<std::string> range = ReadFile(info.path + "/max_energy_range_uj", 4096);
      range.ok()) {
    StatusOr<uint64_t> value = ParseUint64(*range);
    if (value.ok()) info.max_energy_range_uj = *value;
  }

  const Zone* parent = nullptr;
  if (!zone->parent.empty()) {
    auto it = by_zone.find(zone->parent);
    if (it != by_zone.end()) parent = &loaded[it->second];
  }
  zone->key = parent != nullptr ? parent->key + "/" + info.name : info.name;

  std::optional<int> package_socket = PackageSocket(info.name);
  if (!zone->has_name) {
    zone->kind = Kind::kUnknown;
  } else if (info.name == "dram") {
    // dram is a subzone directory of its package, but its energy is not part of the package's.
    zone->kind = Kind::kDram;
  } else if (parent != nullptr && parent->kind == Kind::kPackage) {
    zone->kind = Kind::kNested;
  } else if (package_socket.has_value()) {
    zone->kind = Kind::kPackage;
  } else if (info.name == "psys") {
    zone->kind = Kind::kPsys;
  } else if (info.name == "core" || info.name == "uncore") {
    zone->kind = Kind::kNested;
  } else {
    zone->kind = Kind::kUnknown;
  }
  if (package_socket.has_value() && zone->kind == Kind::kPackage) {
    info.socket = *package_socket;
  } else if (parent != nullptr) {
    info.socket = parent->info.socket;
  }
}

void ProbeEnergy(Zone* zone) {
  const std::string path = zone->info.path + "/energy_uj";
  StatusOr<UniqueFd> fd = OpenReadOnly(path);
  if (!fd.ok()) {
    zone->read_status = fd.status();
    return;
  }
  StatusOr<uint64_t> value = ReadEnergyUj(fd->get(), path);
  if (!value.ok()) {
    zone->read_status = value.status();
    return;
  }
  zone->energy_fd = std::move(*fd);
  zone->read_status = OkStatus();
}

bool ZoneOrder(const Zone& a, const Zone& b) {
  if (a.info.mmio != b.info.mmio) return !a.info.mmio;
  return a.indices < b.indices;
}

}  // namespace

StatusOr<uint64_t> RaplDeltaUj(uint64_t previous_uj, uint64_t current_uj,
                               uint64_t max_energy_range_uj) {
  if (current_uj >= previous_uj) return current_uj - previous_uj;
  if (max_energy_range_uj == 0) {
    return DataLossError("energy_uj went backwards (" + std::to_string(previous_uj) + " -> " +
                         std::to_string(current_uj) +
                         " uJ) and max_energy_range_uj is unknown; sample dropped");
  }
  if (previous_uj > max_energy_range_uj) {
    return DataLossError("energy_uj went backwards from " + std::to_string(previous_uj) +
                         " uJ, above max_energy_range_uj " +
                         std::to_string(max_energy_range_uj) + "; sample dropped");
  }
  return (max_energy_range_uj - previous_uj) + current_uj;
}

RaplSetup DiscoverRapl(const std::string& powercap_root) {
  RaplSetup setup;
  if (!IsDirectory(powercap_root)) {
    setup.unavailable_reason = "no powercap tree at " + powercap_root;
    return setup;
  }

  std::map<std::string, std::string> found;
  CollectZones(powercap_root, "", /*at_root=*/true, &found);
  std::vector<Zone> zones;
  zones.reserve(found.size());
  for (auto& [zone_name, path] : found) {
    std::optional<ZoneName> parsed = ParseZoneName(zone_name);
    Zone zone;
    zone.info.zone = zone_name;
    zone.info.path = path;
    zone.info.mmio = parsed->mmio;
    zone.indices = parsed->indices;
    if (zone.indices.size() > 1) zone.parent = zone_name.substr(0, zone_name.rfind(':'));
    zones.push_back(std::move(zone));
  }
  if (zones.empty()) {
    setup.unavailable_reason = "no RAPL domain found under " + powercap_root;
    return setup;
  }
  std::sort(zones.begin(), zones.end(), ZoneOrder);

  std::map<std::string, size_t> by_zone;
  for (size_t i = 0; i < zones.size(); ++i) {
    LoadZone(by_zone, zones, &zones[i]);
    by_zone.emplace(zones[i].info.zone, i);
    if (IsCountableKind(zones[i].kind)) ProbeEnergy(&zones[i]);
  }

  // The same domain under intel-rapl and intel-rapl-mmio: count the intel-rapl one, which every
  // RAPL machine has and which carries the subzones, unless only the mmio one can be read.
  std::map<std::string, size_t> msr_by_key;
  for (size_t i = 0; i < zones.size(); ++i) {
    if (!zones[i].info.mmio && IsCountableKind(zones[i].kind)) msr_by_key.emplace(zones[i].key, i);
  }
  for (Zone& mmio : zones) {
    if (!mmio.info.mmio || !IsCountableKind(mmio.kind)) continue;
    auto it = msr_by_key.find(mmio.key);
    if (it == msr_by_key.end()) continue;
    Zone& msr = zones[it->second];
    if (msr.read_status.ok() || !mmio.read_status.ok()) {
      mmio.excluded = true;
      mmio.info.reason =
          "duplicate of " + msr.info.zone + " (same domain under " + std::string(kMmioType) + ")";
    } else {
      msr.excluded = true;
      msr.info.reason =
          UnreadableReason(msr.read_status) + "; counted through " + mmio.info.zone + " instead";
    }
  }

  auto usable = [](const Zone& z) { return !z.excluded && z.read_status.ok(); };
  bool package_counted = std::any_of(zones.begin(), zones.end(), [&](const Zone& z) {
    return z.kind == Kind::kPackage && usable(z);
  });
  bool psys_counted = false;
  for (Zone& zone : zones) {
    if (zone.kind != Kind::kPsys || !usable(zone)) continue;
    if (package_counted) {
      zone.excluded = true;
      zone.info.reason = "psys contains package and dram: not added";
    } else {
      psys_counted = true;
    }
  }

  // Zones sort before their subzones, so a parent's decision is known when its children's
  // reasons are written.
  for (Zone& zone : zones) {
    RaplDomainInfo& info = zone.info;
    if (zone.excluded) continue;  // The reason was written when it was excluded.
    if (!zone.has_name) {
      info.reason = "no readable name file: not counted";
    } else if (zone.kind == Kind::kNested) {
      auto it = by_zone.find(zone.parent);
      if (it == by_zone.end()) {
        info.reason = "part of its package domain: never counted on its own";
      } else if (zones[it->second].info.selected) {
        info.reason = "nested in " + zones[it->second].info.name + " (counted there)";
      } else {
        info.reason = "nested in " + zones[it->second].info.name + " (never counted on its own)";
      }
    } else if (zone.kind == Kind::kUnknown) {
      info.reason = "unrecognised domain name: not counted";
    } else if (!zone.read_status.ok()) {
      info.reason = UnreadableReason(zone.read_status);
    } else if (zone.kind == Kind::kDram && psys_counted) {
      info.reason = "contained in psys (counted there)";
    } else {
      info.selected = true;
      info.reason = "selected";
      setup.counters.push_back(std::make_unique<RaplCounter>(
          std::move(zone.energy_fd), info.path + "/energy_uj", CounterLabel(info),
          ComponentOf(zone.kind), info.socket, info.max_energy_range_uj));
    }
  }
  for (Zone& zone : zones) setup.domains.push_back(std::move(zone.info));

  if (setup.counters.empty()) {
    const Zone* first_unreadable = nullptr;
    for (const Zone& zone : zones) {
      if (IsCountableKind(zone.kind) && !zone.read_status.ok()) {
        first_unreadable = &zone;
        break;
      }
    }
    if (first_unreadable != nullptr) {
      // Discovery selects any readable countable domain, so no counter here means every
      // countable domain failed its read.
      setup.unavailable_reason =
          "every energy_uj is unreadable (root-only since CVE-2020-8694; run as root or "
          "`sudo chmod a+r " +
          powercap_root + "/intel-rapl*/energy_uj`): " + first_unreadable->read_status.message();
    } else {
      setup.unavailable_reason =
          "no countable RAPL domain (package, dram or psys) under " + powercap_root;
    }
  }
  return setup;
}

std::optional<Seconds> ShortestWrapPeriod(const RaplSetup& setup, Watts max_power) {
  if (!(max_power.value() > 0)) return std::nullopt;
  std::optional<Seconds> shortest;
  for (const RaplDomainInfo& domain : setup.domains) {
    if (!domain.selected || domain.max_energy_range_uj == 0) continue;
    Joules range(static_cast<double>(domain.max_energy_range_uj) * kJoulesPerMicrojoule);
    Seconds period(range.value() / max_power.value());
    if (!shortest.has_value() || period < *shortest) shortest = period;
  }
  return shortest;
}

}  // namespace sobre::footprint
